/* microlith update runtime: the ChaCha20-Poly1305 AEAD (RFC 8439), streaming
 * so that plaintext can go to flash in chunks. Portable C99, no dynamic
 * memory, constant-time in the key and the data. */
#ifndef MLU_CHACHA20POLY1305_H
#define MLU_CHACHA20POLY1305_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct {
  uint32_t r[5], h[5]; /* key r (clamped) and accumulator, 26-bit limbs */
  uint32_t s[4];       /* the key half added at the end */
  uint8_t buf[16];     /* a partial block */
  size_t fill;
} mlu_poly1305_ctx;

typedef struct {
  uint32_t key[8], nonce[3], counter; /* ChaCha20 (RFC 8439 2.3) */
  uint8_t stream[64];                 /* keystream of the current block */
  size_t used;                        /* bytes of stream already used (64: none left) */
  mlu_poly1305_ctx mac;
  uint64_t aad_len, text_len;
} mlu_aead_ctx;

/* Start an AEAD operation (RFC 8439 2.8) with a 256-bit key, a 96-bit nonce
 * (never reuse one with the same key) and the additional authenticated data. */
void mlu_aead_init(mlu_aead_ctx *c, const uint8_t key[32], const uint8_t nonce[12],
                   const uint8_t *aad, size_t aad_len);
/* Decrypt the next n bytes (any n; in may equal out). */
void mlu_aead_decrypt_update(mlu_aead_ctx *c, const uint8_t *in, uint8_t *out, size_t n);
/* 1 when the tag authenticates the aad and all ciphertext, else 0 (constant-time
 * compare). Plaintext already written must not be trusted before it returns 1.
 * Wipes the context. */
int mlu_aead_decrypt_final(mlu_aead_ctx *c, const uint8_t tag[16]);
/* Encrypt the next n bytes (any n; in may equal out). */
void mlu_aead_encrypt_update(mlu_aead_ctx *c, const uint8_t *in, uint8_t *out, size_t n);
/* Write the 16-byte tag; wipes the context. */
void mlu_aead_encrypt_final(mlu_aead_ctx *c, uint8_t tag[16]);

/* The building blocks (RFC 8439 2.3 and 2.5), exposed for tests. */
void mlu_chacha20_block(const uint32_t key[8], uint32_t counter, const uint32_t nonce[3],
                        uint8_t out[64]);
void mlu_poly1305_init(mlu_poly1305_ctx *p, const uint8_t key[32]);
void mlu_poly1305_update(mlu_poly1305_ctx *p, const uint8_t *m, size_t n);
void mlu_poly1305_final(mlu_poly1305_ctx *p, uint8_t tag[16]);

#ifdef __cplusplus
}
#endif

#endif /* MLU_CHACHA20POLY1305_H */
