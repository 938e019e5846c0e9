/* microlith kernel library: shared fixed-point arithmetic.
 *
 * The integer arithmetic of the TFLite quantization specification, computed
 * the way TFLite Micro's reference kernels compute it, so that every kernel
 * built on these is bit-exact with TFLM. Mirrors microlith/ops/qmath.py.
 * C99, no allocation, no I/O, no global state.
 */
#ifndef ML_COMMON_H
#define ML_COMMON_H

#include <stddef.h>
#include <stdint.h>

#include "ml_config.h"

#ifdef __cplusplus
extern "C" {
#endif

/* For small helpers that must be specialized at every call site (constant
 * loop lengths) to be fast; a plain inline hint elsewhere. */
#if defined(__GNUC__) || defined(__clang__)
#define ML_ALWAYS_INLINE static inline __attribute__((always_inline))
#else
#define ML_ALWAYS_INLINE static inline
#endif

#define ML_INT32_MIN ((int32_t)(-2147483647 - 1))
#define ML_INT32_MAX ((int32_t)2147483647)

static inline int32_t ml_min_i32(int32_t a, int32_t b) { return a < b ? a : b; }
static inline int32_t ml_max_i32(int32_t a, int32_t b) { return a > b ? a : b; }
static inline int32_t ml_clamp_i32(int32_t x, int32_t lo, int32_t hi) {
  return x < lo ? lo : (x > hi ? hi : x);
}

/* (a * b * 2) >> 32 with rounding, saturating the single overflow case. */
static inline int32_t ml_srdhm(int32_t a, int32_t b) {
  int64_t ab, nudge;
  if (a == ML_INT32_MIN && b == ML_INT32_MIN) return ML_INT32_MAX;
  ab = (int64_t)a * (int64_t)b;
  nudge = ab >= 0 ? ((int64_t)1 << 30) : (1 - ((int64_t)1 << 30));
  return (int32_t)((ab + nudge) / ((int64_t)1 << 31));
}

/* x / 2^exponent, rounded to nearest with ties away from zero. */
static inline int32_t ml_rdbpot(int32_t x, int exponent) {
  const int32_t mask = (int32_t)(((int64_t)1 << exponent) - 1);
  const int32_t remainder = x & mask;
  const int32_t threshold = (mask >> 1) + (x < 0 ? 1 : 0);
  return (x >> exponent) + (remainder > threshold ? 1 : 0);
}

/* TFLite MultiplyByQuantizedMultiplier: x * multiplier * 2^(shift - 31). */
static inline int32_t ml_mul_by_qmult(int32_t x, int32_t multiplier, int32_t shift) {
  const int left = shift > 0 ? (int)shift : 0;
  const int right = shift > 0 ? 0 : (int)-shift;
  return ml_rdbpot(ml_srdhm((int32_t)((uint32_t)x << left), multiplier), right);
}

/* TFLite MultiplyByQuantizedMultiplier for an int64 accumulator (16x8 kernels
 * with 64-bit bias): the multiplier is reduced to 16 bits and applied with a
 * single rounding shift by 15 - shift. Mirrors
 * qmath.multiply_by_quantized_multiplier_int64. */
static inline int32_t ml_mul_by_qmult_i64(int64_t x, int32_t multiplier, int32_t shift) {
  const int64_t reduced =
      multiplier < 0x7FFF0000 ? (int64_t)((multiplier + (1 << 15)) >> 16) : (int64_t)0x7FFF;
  const int total_shift = 15 - (int)shift;
  const int64_t rounding = (int64_t)1 << (total_shift - 1);
  return (int32_t)((x * reduced + rounding) >> total_shift);
}

/* Dot products of the matrix kernels. The main loops run fixed blocks of 16
 * elements, which compilers vectorize even at -O2 (and unroll on cores
 * without SIMD); the tail runs element by element. */

/* sum x[i] * w[i] of int8 vectors, in int32. */
static inline int32_t ml_dot_s8(const int8_t *x, const int8_t *w, int32_t n) {
  int32_t acc = 0, i = 0, j;
  for (; i + 16 <= n; i += 16) {
    int32_t part = 0;
    for (j = 0; j < 16; ++j) part += (int32_t)x[i + j] * w[i + j];
    acc += part;
  }
  for (; i < n; ++i) acc += (int32_t)x[i] * w[i];
  return acc;
}

/* sum (x[i] + x_offset) * w[i] of int8 vectors, in int32 (as x.w plus
 * x_offset times the sum of w: the same value in int32 arithmetic). */
static inline int32_t ml_dot_offset_s8(const int8_t *x, const int8_t *w, int32_t n,
                                       int32_t x_offset) {
  int32_t acc = 0, wsum = 0, i = 0, j;
  for (; i + 16 <= n; i += 16) {
    int32_t part = 0, psum = 0;
    for (j = 0; j < 16; ++j) {
      part += (int32_t)x[i + j] * w[i + j];
      psum += w[i + j];
    }
    acc += part;
    wsum += psum;
  }
  for (; i < n; ++i) {
    acc += (int32_t)x[i] * w[i];
    wsum += w[i];
  }
  return acc + x_offset * wsum;
}

/* sum x[i] * (w[i] + w_offset), int16 x int8, exactly in int64: a block's
 * partial sum (16 products below 2^23) cannot overflow int32. */
static inline int64_t ml_dot_s16_i64(const int16_t *x, const int8_t *w, int32_t n,
                                     int32_t w_offset) {
  int64_t acc = 0;
  int32_t i = 0, j;
  for (; i + 16 <= n; i += 16) {
    int32_t part = 0;
    for (j = 0; j < 16; ++j) part += (int32_t)x[i + j] * ((int32_t)w[i + j] + w_offset);
    acc += part;
  }
  for (; i < n; ++i) acc += (int32_t)x[i] * ((int32_t)w[i] + w_offset);
  return acc;
}

/* The same sum in a 32-bit accumulator that wraps (TFLM's int32-bias 16x8
 * path accumulates in int32; unsigned arithmetic makes the wrap defined). */
static inline uint32_t ml_dot_s16_u32(const int16_t *x, const int8_t *w, int32_t n,
                                      int32_t w_offset) {
  uint32_t acc = 0;
  int32_t i = 0, j;
  for (; i + 16 <= n; i += 16) {
    uint32_t part = 0;
    for (j = 0; j < 16; ++j)
      part += (uint32_t)((int32_t)x[i + j] * ((int32_t)w[i + j] + w_offset));
    acc += part;
  }
  for (; i < n; ++i) acc += (uint32_t)((int32_t)x[i] * ((int32_t)w[i] + w_offset));
  return acc;
}

/* acc + ((a * b + 2^31) >> 32) in int32 (wrapping; the 64-bit product is
 * exact): the Armv7E-M SMMLAR instruction, one instruction on cores with the
 * DSP extension. For a >= 0 or b >= 0 and no overflow it gives exact
 * fixed-point rescales: SMMLAR(2x, m, 0) = floor((x m + 2^30) / 2^31), which
 * is ml_srdhm(x, m) whenever 2x fits in int32 and not both are INT32_MIN
 * (srdhm's nudge of 2^30, or 1 - 2^30 below zero, then truncation towards
 * zero is that floor; see ml_add_s8.c). */
static inline int32_t ml_smmlar(int32_t a, int32_t b, int32_t acc) {
#if defined(__ARM_FEATURE_DSP) && !defined(ML_PORTABLE) && defined(__GNUC__)
  int32_t r;
  __asm__("smmlar %0, %1, %2, %3" : "=r"(r) : "r"(a), "r"(b), "r"(acc));
  return r;
#else
  const int64_t high = ((int64_t)a * (int64_t)b + ((int64_t)1 << 31)) >> 32;
  return (int32_t)((uint32_t)acc + (uint32_t)high);
#endif
}

/* Four int8 at p as one word in memory order (one LDR on cores that load
 * unaligned words; the builtin keeps this header free of <string.h>; the
 * fallback for other compilers assumes a little-endian core). */
static inline uint32_t ml_ld32(const int8_t *p) {
#if defined(__GNUC__)
  uint32_t v;
  __builtin_memcpy(&v, p, 4);
  return v;
#else
  const uint8_t *b = (const uint8_t *)p;
  return (uint32_t)b[0] | (uint32_t)b[1] << 8 | (uint32_t)b[2] << 16 | (uint32_t)b[3] << 24;
#endif
}

#if defined(__ARM_FEATURE_DSP) && !defined(ML_PORTABLE) && defined(__GNUC__)
/* (x1, x3) of a word of four int8, sign-extended to halfwords (x0, x2 is
 * __sxtb16). */
static inline int32_t ml_sxtb16_ror8(uint32_t v) {
  int32_t r;
  __asm__("sxtb16 %0, %1, ror #8" : "=r"(r) : "r"(v));
  return r;
}

/* a + (x1, x3) of a word of four int8, halfword by halfword. */
static inline int32_t ml_sxtab16_ror8(int32_t a, uint32_t v) {
  int32_t r;
  __asm__("sxtab16 %0, %1, %2, ror #8" : "=r"(r) : "r"(a), "r"(v));
  return r;
}
#endif

static inline float ml_dot_f32(const float *x, const float *w, int32_t n) {
  float acc = 0.0f;
  int32_t i;
  for (i = 0; i < n; ++i) acc += x[i] * w[i];
  return acc;
}

static inline float ml_clamp_f32(float x, float lo, float hi) {
  return x < lo ? lo : (x > hi ? hi : x);
}

#ifdef __cplusplus
}
#endif
#endif /* ML_COMMON_H */
