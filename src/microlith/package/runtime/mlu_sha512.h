/* microlith update runtime: SHA-512 (FIPS 180-4). Portable C99, no dynamic
 * memory, byte-order independent. Ed25519 (RFC 8032) hashes with it. */
#ifndef MLU_SHA512_H
#define MLU_SHA512_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct {
  uint64_t h[8];
  uint64_t len; /* bytes absorbed so far */
  uint8_t buf[128];
  size_t fill; /* bytes waiting in buf */
} mlu_sha512_ctx;

void mlu_sha512_init(mlu_sha512_ctx *c);
void mlu_sha512_update(mlu_sha512_ctx *c, const uint8_t *p, size_t n);
void mlu_sha512_final(mlu_sha512_ctx *c, uint8_t out[64]);
void mlu_sha512(const uint8_t *p, size_t n, uint8_t out[64]);

#ifdef __cplusplus
}
#endif

#endif /* MLU_SHA512_H */
