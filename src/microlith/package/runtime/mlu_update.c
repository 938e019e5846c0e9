/* microlith update runtime: the update blob verifier (see mlu_update.h for the
 * layout and docs/update-format.md for the rationale). Every read of the blob
 * is bounds-checked against len before it happens; the payload is written only
 * after the header, the signature and (encrypted blobs) the tag all hold. */
#include "mlu_update.h"

#include "mlu_chacha20poly1305.h"
#include "mlu_crypto_common.h"
#include "mlu_ed25519.h"

#define MLU_OFF_MAGIC 0u
#define MLU_OFF_FORMAT 4u
#define MLU_OFF_HEADER_BYTES 6u
#define MLU_OFF_CIPHER 8u
#define MLU_OFF_SCHEME 9u
#define MLU_OFF_RESERVED0 10u
#define MLU_OFF_VERSION 12u
#define MLU_OFF_TARGET 16u
#define MLU_OFF_ABI 20u
#define MLU_OFF_ARENA 24u
#define MLU_OFF_PAYLOAD 28u
#define MLU_OFF_SCHEMA 32u
#define MLU_OFF_NONCE 64u
#define MLU_OFF_RESERVED1 76u

static uint32_t mlu_update_load16(const uint8_t *p) {
  return (uint32_t)p[0] | ((uint32_t)p[1] << 8);
}

/* 1 when the n bytes are equal (public data: no constant-time need). */
static int mlu_update_same(const uint8_t *a, const uint8_t *b, size_t n) {
  size_t i;
  for (i = 0; i < n; ++i) {
    if (a[i] != b[i]) return 0;
  }
  return 1;
}

int mlu_update_read_header(const uint8_t *blob, size_t len, mlu_update_header *h) {
  static const uint8_t magic[4] = {0x4d, 0x4c, 0x55, 0x50}; /* "MLUP" */
  uint32_t nonzero = 0u, nonce_nonzero = 0u;
  size_t i;
  if (blob == NULL || h == NULL) return MLU_UPDATE_ERR_ARGUMENT;
  if (len < MLU_UPDATE_HEADER_BYTES) return MLU_UPDATE_ERR_TRUNCATED;
  if (!mlu_update_same(blob + MLU_OFF_MAGIC, magic, 4u)) return MLU_UPDATE_ERR_MAGIC;
  h->format_version = mlu_update_load16(blob + MLU_OFF_FORMAT);
  if (h->format_version != MLU_UPDATE_FORMAT_VERSION) return MLU_UPDATE_ERR_FORMAT_VERSION;
  h->header_bytes = mlu_update_load16(blob + MLU_OFF_HEADER_BYTES);
  h->cipher = blob[MLU_OFF_CIPHER];
  h->signature_scheme = blob[MLU_OFF_SCHEME];
  h->model_version = mlu_load32_le(blob + MLU_OFF_VERSION);
  h->target_id = mlu_load32_le(blob + MLU_OFF_TARGET);
  h->abi_version = mlu_load32_le(blob + MLU_OFF_ABI);
  h->arena_bytes = mlu_load32_le(blob + MLU_OFF_ARENA);
  h->payload_bytes = mlu_load32_le(blob + MLU_OFF_PAYLOAD);
  h->schema_hash = blob + MLU_OFF_SCHEMA;
  h->nonce = blob + MLU_OFF_NONCE;
  for (i = 0; i < 2u; ++i) nonzero |= blob[MLU_OFF_RESERVED0 + i];
  for (i = 0; i < 4u; ++i) nonzero |= blob[MLU_OFF_RESERVED1 + i];
  for (i = 0; i < 12u; ++i) nonce_nonzero |= blob[MLU_OFF_NONCE + i];
  if (h->header_bytes != MLU_UPDATE_HEADER_BYTES || nonzero != 0u ||
      h->signature_scheme != MLU_UPDATE_SIGNATURE_ED25519 ||
      h->cipher > MLU_UPDATE_CIPHER_CHACHA20_POLY1305 ||
      (h->cipher == MLU_UPDATE_CIPHER_NONE && nonce_nonzero != 0u)) {
    return MLU_UPDATE_ERR_HEADER;
  }
  h->total_bytes = (uint64_t)MLU_UPDATE_HEADER_BYTES + h->payload_bytes +
                   (h->cipher ? MLU_UPDATE_TAG_BYTES : 0u) + MLU_UPDATE_SIGNATURE_BYTES;
  return MLU_UPDATE_OK;
}

/* Run the payload through ChaCha20-Poly1305; with write == NULL only check
 * the tag (the plaintext goes to a stack buffer and is wiped). */
static int mlu_update_decrypt(const mlu_update_model *m, const uint8_t *blob,
                              const mlu_update_header *h, mlu_update_write_fn write,
                              void *ctx) {
  mlu_aead_ctx aead;
  uint8_t buf[MLU_UPDATE_CHUNK];
  const uint8_t *payload = blob + MLU_UPDATE_HEADER_BYTES;
  uint32_t pos = 0u;
  int ok;
  mlu_aead_init(&aead, m->aead_key, h->nonce, blob, MLU_UPDATE_HEADER_BYTES);
  while (pos < h->payload_bytes) {
    uint32_t n = h->payload_bytes - pos;
    if (n > MLU_UPDATE_CHUNK) n = MLU_UPDATE_CHUNK;
    mlu_aead_decrypt_update(&aead, payload + pos, buf, n);
    if (write != NULL && write(ctx, pos, buf, n) != 0) {
      mlu_wipe(&aead, sizeof(aead));
      mlu_wipe(buf, sizeof(buf));
      return MLU_UPDATE_ERR_WRITE;
    }
    pos += n;
  }
  ok = mlu_aead_decrypt_final(&aead, payload + h->payload_bytes);
  mlu_wipe(buf, sizeof(buf));
  return ok == 1 ? MLU_UPDATE_OK : MLU_UPDATE_ERR_DECRYPT;
}

int mlu_update_check(const mlu_update_model *m, const uint8_t *blob, size_t len,
                     uint32_t installed_version, mlu_update_header *out) {
  mlu_update_header h;
  size_t signed_bytes;
  int rc;
  if (m == NULL || m->schema_hash == NULL || m->public_key == NULL) {
    return MLU_UPDATE_ERR_ARGUMENT;
  }
  rc = mlu_update_read_header(blob, len, &h);
  if (rc != MLU_UPDATE_OK) return rc;
  if (h.target_id != m->target_id) return MLU_UPDATE_ERR_TARGET;
  if (h.abi_version != m->abi_version) return MLU_UPDATE_ERR_ABI;
  if (!mlu_update_same(h.schema_hash, m->schema_hash, 32u)) return MLU_UPDATE_ERR_SCHEMA;
  if (h.arena_bytes != m->arena_bytes) return MLU_UPDATE_ERR_ARENA;
  if (h.payload_bytes != m->image_bytes) return MLU_UPDATE_ERR_LENGTH;
  if ((uint64_t)len < h.total_bytes) return MLU_UPDATE_ERR_TRUNCATED;
  if ((uint64_t)len > h.total_bytes) return MLU_UPDATE_ERR_LENGTH;
  if ((h.cipher == MLU_UPDATE_CIPHER_CHACHA20_POLY1305) != (m->aead_key != NULL)) {
    return MLU_UPDATE_ERR_CIPHER;
  }
  if (h.model_version <= installed_version) return MLU_UPDATE_ERR_ROLLBACK;
  signed_bytes = len - MLU_UPDATE_SIGNATURE_BYTES;
  if (mlu_ed25519_verify(blob + signed_bytes, blob, signed_bytes, m->public_key) != 1) {
    return MLU_UPDATE_ERR_SIGNATURE;
  }
  if (h.cipher == MLU_UPDATE_CIPHER_CHACHA20_POLY1305) {
    rc = mlu_update_decrypt(m, blob, &h, NULL, NULL);
    if (rc != MLU_UPDATE_OK) return rc;
  }
  if (out != NULL) *out = h;
  return MLU_UPDATE_OK;
}

int mlu_update_install(const mlu_update_model *m, const uint8_t *blob, size_t len,
                       uint32_t installed_version, mlu_update_write_fn write, void *ctx,
                       uint32_t *new_version) {
  mlu_update_header h;
  uint32_t pos = 0u;
  int rc;
  if (write == NULL) return MLU_UPDATE_ERR_ARGUMENT;
  rc = mlu_update_check(m, blob, len, installed_version, &h);
  if (rc != MLU_UPDATE_OK) return rc;
  if (h.cipher == MLU_UPDATE_CIPHER_CHACHA20_POLY1305) {
    rc = mlu_update_decrypt(m, blob, &h, write, ctx);
    if (rc != MLU_UPDATE_OK) return rc;
  } else {
    while (pos < h.payload_bytes) {
      uint32_t n = h.payload_bytes - pos;
      if (n > MLU_UPDATE_CHUNK) n = MLU_UPDATE_CHUNK;
      if (write(ctx, pos, blob + MLU_UPDATE_HEADER_BYTES + pos, n) != 0) {
        return MLU_UPDATE_ERR_WRITE;
      }
      pos += n;
    }
  }
  if (new_version != NULL) *new_version = h.model_version;
  return MLU_UPDATE_OK;
}

const char *mlu_update_strerror(int code) {
  static const char *const names[] = {
      "ok",      "argument", "truncated", "magic",     "format version", "header",
      "target",  "abi",      "schema",    "arena",     "length",         "cipher",
      "rollback", "signature", "decrypt", "write"};
  if (code < 0 || code >= (int)(sizeof(names) / sizeof(names[0]))) return "unknown";
  return names[code];
}
