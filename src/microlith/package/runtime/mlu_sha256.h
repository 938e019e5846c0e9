/* microlith update runtime: SHA-256 (FIPS 180-4). Portable C99, no dynamic
 * memory, byte-order independent. */
#ifndef MLU_SHA256_H
#define MLU_SHA256_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct {
  uint32_t h[8];
  uint64_t len; /* bytes absorbed so far */
  uint8_t buf[64];
  size_t fill; /* bytes waiting in buf */
} mlu_sha256_ctx;

void mlu_sha256_init(mlu_sha256_ctx *c);
void mlu_sha256_update(mlu_sha256_ctx *c, const uint8_t *p, size_t n);
void mlu_sha256_final(mlu_sha256_ctx *c, uint8_t out[32]);
void mlu_sha256(const uint8_t *p, size_t n, uint8_t out[32]);

#ifdef __cplusplus
}
#endif

#endif /* MLU_SHA256_H */
