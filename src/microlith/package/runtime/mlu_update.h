/* microlith update runtime: verify a signed (optionally encrypted) model-only
 * update blob and install its constant image into a weight slot.
 *
 * Blob layout (docs/update-format.md; all integers little-endian):
 *
 *   offset  size  field
 *        0     4  magic "MLUP"
 *        4     2  format version (1)
 *        6     2  header bytes (80)
 *        8     1  cipher: 0 none, 1 ChaCha20-Poly1305 (RFC 8439)
 *        9     1  signature scheme: 1 Ed25519 (RFC 8032, pure)
 *       10     2  reserved, 0
 *       12     4  model version (anti-rollback: must exceed the installed one)
 *       16     4  target id
 *       20     4  runtime ABI version
 *       24     4  arena bytes
 *       28     4  payload bytes (the constant image's length)
 *       32    32  schema hash (SHA-256 of the I/O schema, image layout and calls)
 *       64    12  nonce (cipher 1; zero for cipher 0)
 *       76     4  reserved, 0
 *       80     P  payload: the constant image, or its ciphertext (the header is the AAD)
 *     80+P    16  Poly1305 tag (cipher 1 only)
 *        .    64  Ed25519 signature over every byte before it
 *
 * Checks run in the order of the error codes below and stop at the first
 * failure; nothing is written to the slot before every check, the signature
 * and (cipher 1) the authentication tag hold. Portable C99, no dynamic memory,
 * no global mutable state; the blob must be readable memory (RAM or
 * memory-mapped flash). */
#ifndef MLU_UPDATE_H
#define MLU_UPDATE_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define MLU_UPDATE_FORMAT_VERSION 1u
#define MLU_UPDATE_HEADER_BYTES 80u
#define MLU_UPDATE_TAG_BYTES 16u
#define MLU_UPDATE_SIGNATURE_BYTES 64u
#define MLU_UPDATE_CIPHER_NONE 0u
#define MLU_UPDATE_CIPHER_CHACHA20_POLY1305 1u
#define MLU_UPDATE_SIGNATURE_ED25519 1u
/* Bytes handed to the write callback at a time (and the decryption buffer on
 * the stack); a flash driver may want its page size here. */
#ifndef MLU_UPDATE_CHUNK
#define MLU_UPDATE_CHUNK 256u
#endif

/* Result codes, one per failure, in the order the checks run. */
typedef enum {
  MLU_UPDATE_OK = 0,
  MLU_UPDATE_ERR_ARGUMENT = 1,       /* a NULL pointer or a model description without keys */
  MLU_UPDATE_ERR_TRUNCATED = 2,      /* shorter than the header, or than the header says */
  MLU_UPDATE_ERR_MAGIC = 3,          /* not "MLUP": not an update blob */
  MLU_UPDATE_ERR_FORMAT_VERSION = 4, /* a format version this verifier does not know */
  MLU_UPDATE_ERR_HEADER = 5,         /* header bytes, scheme, cipher, reserved or nonce invalid */
  MLU_UPDATE_ERR_TARGET = 6,         /* built for another target */
  MLU_UPDATE_ERR_ABI = 7,            /* built for another runtime ABI version */
  MLU_UPDATE_ERR_SCHEMA = 8,         /* another architecture: I/O, layout or calls differ */
  MLU_UPDATE_ERR_ARENA = 9,          /* needs another arena size */
  MLU_UPDATE_ERR_LENGTH = 10,        /* payload is not this model's image size, or extra bytes */
  MLU_UPDATE_ERR_CIPHER = 11,        /* encrypted but the device has no key, or plain but the
                                        device accepts only encrypted updates */
  MLU_UPDATE_ERR_ROLLBACK = 12,      /* model version not above the installed one */
  MLU_UPDATE_ERR_SIGNATURE = 13,     /* the signature does not verify with the public key */
  MLU_UPDATE_ERR_DECRYPT = 14,       /* the AEAD tag does not verify (wrong key) */
  MLU_UPDATE_ERR_WRITE = 15          /* the write callback failed */
} mlu_update_status;

/* Write n bytes of the image at offset into the weight slot; 0 on success. */
typedef int (*mlu_update_write_fn)(void *ctx, uint32_t offset, const uint8_t *p, size_t n);

/* What the device knows about the compiled model (the generated model_update.c
 * fills one in). */
typedef struct {
  uint32_t target_id;
  uint32_t abi_version;
  uint32_t arena_bytes;
  uint32_t image_bytes;
  const uint8_t *schema_hash; /* 32 bytes */
  const uint8_t *public_key;  /* 32 bytes, Ed25519 */
  const uint8_t *aead_key;    /* 32 bytes, or NULL: then only plain updates are
                                 accepted; with a key, only encrypted ones */
} mlu_update_model;

/* The header fields of a blob. */
typedef struct {
  uint32_t format_version, header_bytes;
  uint32_t cipher, signature_scheme;
  uint32_t model_version, target_id, abi_version, arena_bytes, payload_bytes;
  const uint8_t *schema_hash; /* 32 bytes inside the blob */
  const uint8_t *nonce;       /* 12 bytes inside the blob */
  uint64_t total_bytes;       /* header + payload + tag + signature */
} mlu_update_header;

/* Read and check the header alone (TRUNCATED below 80 bytes, MAGIC,
 * FORMAT_VERSION, HEADER); trusts nothing: the signature is not checked. */
int mlu_update_read_header(const uint8_t *blob, size_t len, mlu_update_header *h);

/* Every check, signature included (and the tag, for an encrypted blob);
 * writes nothing. h may be NULL. */
int mlu_update_check(const mlu_update_model *m, const uint8_t *blob, size_t len,
                     uint32_t installed_version, mlu_update_header *h);

/* mlu_update_check(), then the image goes through write() in chunks of at most
 * MLU_UPDATE_CHUNK bytes, in order, decrypted when the blob is encrypted. On
 * MLU_UPDATE_OK *new_version (if not NULL) is the blob's model version; on any
 * error the slot content must not be used. */
int mlu_update_install(const mlu_update_model *m, const uint8_t *blob, size_t len,
                       uint32_t installed_version, mlu_update_write_fn write, void *ctx,
                       uint32_t *new_version);

/* A short English name of a result code ("signature", "rollback", ...). */
const char *mlu_update_strerror(int code);

#ifdef __cplusplus
}
#endif

#endif /* MLU_UPDATE_H */
