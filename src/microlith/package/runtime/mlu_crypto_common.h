/* microlith update runtime: helpers shared by the crypto modules.
 *
 * Portable C99: every multi-byte value is loaded and stored byte by byte, so
 * the code is independent of the host's byte order and never performs an
 * unaligned access (Cortex-M0/M0+ fault on one). No dynamic memory, no
 * stdio, no global mutable state. */
#ifndef MLU_CRYPTO_COMMON_H
#define MLU_CRYPTO_COMMON_H

#include <stddef.h>
#include <stdint.h>

static inline uint32_t mlu_load32_le(const uint8_t *p) {
  return (uint32_t)p[0] | ((uint32_t)p[1] << 8) | ((uint32_t)p[2] << 16) |
         ((uint32_t)p[3] << 24);
}

static inline uint32_t mlu_load32_be(const uint8_t *p) {
  return ((uint32_t)p[0] << 24) | ((uint32_t)p[1] << 16) | ((uint32_t)p[2] << 8) |
         (uint32_t)p[3];
}

static inline uint64_t mlu_load64_be(const uint8_t *p) {
  return ((uint64_t)mlu_load32_be(p) << 32) | (uint64_t)mlu_load32_be(p + 4);
}

static inline void mlu_store32_le(uint8_t *p, uint32_t v) {
  p[0] = (uint8_t)v;
  p[1] = (uint8_t)(v >> 8);
  p[2] = (uint8_t)(v >> 16);
  p[3] = (uint8_t)(v >> 24);
}

static inline void mlu_store32_be(uint8_t *p, uint32_t v) {
  p[0] = (uint8_t)(v >> 24);
  p[1] = (uint8_t)(v >> 16);
  p[2] = (uint8_t)(v >> 8);
  p[3] = (uint8_t)v;
}

static inline void mlu_store64_le(uint8_t *p, uint64_t v) {
  mlu_store32_le(p, (uint32_t)v);
  mlu_store32_le(p + 4, (uint32_t)(v >> 32));
}

static inline void mlu_store64_be(uint8_t *p, uint64_t v) {
  mlu_store32_be(p, (uint32_t)(v >> 32));
  mlu_store32_be(p + 4, (uint32_t)v);
}

/* Overwrite secret state; the volatile pointer keeps the compiler from
 * dropping the stores as dead. */
static inline void mlu_wipe(void *p, size_t n) {
  volatile uint8_t *v = (volatile uint8_t *)p;
  while (n--) {
    *v++ = 0u;
  }
}

/* 1 when the n bytes at a and b are equal, else 0; the time depends only on n. */
static inline int mlu_ct_equal(const uint8_t *a, const uint8_t *b, size_t n) {
  uint32_t diff = 0u;
  size_t i;
  for (i = 0; i < n; ++i) {
    diff |= (uint32_t)(a[i] ^ b[i]);
  }
  return (int)(1u & ((diff - 1u) >> 8));
}

#endif /* MLU_CRYPTO_COMMON_H */
