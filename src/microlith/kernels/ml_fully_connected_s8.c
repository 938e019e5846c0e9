/* microlith kernel library: fully-connected, int8 (see ml_fully_connected_s8.h). */
#include "ml_fully_connected_s8.h"

#include <string.h>

#include "ml_common.h"
#include "ml_mve_s8.h"

/* Helium (ml_mve_s8.c) where there is MVE, else the DSP path where there
 * are DSP instructions (Cortex-M55 has both), else the portable path. */
#if defined(__ARM_FEATURE_DSP) && !defined(ML_PORTABLE) && !defined(ML_MVE_S8_ENABLED)
#define ML_FULLY_CONNECTED_S8_USE_DSP 1
#include <arm_acle.h>
#endif

static inline int8_t fc_finish(const ml_fc_params_t *p, int32_t acc, int32_t o,
                               const int32_t *mult, const int32_t *shift) {
  const int32_t k = p->per_channel ? o : 0;
  return (int8_t)ml_clamp_i32(ml_mul_by_qmult(acc, mult[k], shift[k]) + p->output_offset,
                              p->act_min, p->act_max);
}

/* -- DSP path (cores with the Armv7E-M DSP extension) ------------------------
 *
 * Three output rows at a time: each 32-bit load of four inputs is widened
 * once (SXTB16 into the pairs (x0, x2) and (x1, x3)) for the three rows,
 * each 32-bit load of four weights the same way, and SMLAD adds two products
 * at once. The sums are the portable path's (int32 addition in another
 * order); the rest is unchanged.
 */
#ifdef ML_FULLY_CONNECTED_S8_USE_DSP
/* x . w of n int8 values, four at a time, the last 0-3 one by one. */
static int32_t dot_dsp(const int8_t *x, const int8_t *w, int32_t n) {
  int32_t acc = 0, i;
  for (i = 0; i + 4 <= n; i += 4) {
    const uint32_t xv = ml_ld32(x + i), wv = ml_ld32(w + i);
    acc = __smlad(__sxtb16(xv), __sxtb16(wv), acc);
    acc = __smlad(ml_sxtb16_ror8(xv), ml_sxtb16_ror8(wv), acc);
  }
  for (; i < n; ++i) acc += (int32_t)x[i] * w[i];
  return acc;
}

/* One quad of the input against the rows at w, w + n, w + 2n. */
#define ML_FC_ROW(a, addr)                                                                      \
  "ldr %[w], " addr "\n\t"                                                                      \
  "sxtb16 %[we], %[w]\n\t"                                                                      \
  "sxtb16 %[w], %[w], ror #8\n\t"                                                               \
  "smlad %[" #a "], %[we], %[xe], %[" #a "]\n\t"                                                \
  "smlad %[" #a "], %[w], %[xo], %[" #a "]\n\t"
/* (the first row last: its load moves wp on) */
#define ML_FC_QUAD                                                                              \
  "ldr %[xo], [%[xp]], #4\n\t"                                                                  \
  "sxtb16 %[xe], %[xo]\n\t"                                                                     \
  "sxtb16 %[xo], %[xo], ror #8\n\t" ML_FC_ROW(r1, "[%[wp], %[n]]")                              \
      ML_FC_ROW(r2, "[%[wp], %[n], lsl #1]") ML_FC_ROW(r0, "[%[wp]], #4")

/* Rows o..o+2 of x . w (x: n values, n >= 4), as 3 sums. */
static void dot3(const int8_t *x, const int8_t *w, int32_t n, int32_t acc[3]) {
  const int32_t nq = n >> 2;
  int32_t a0 = 0, a1 = 0, a2 = 0, i;
#if defined(__OPTIMIZE__)
  const int8_t *xp = x, *wp = w;
  const int8_t *const end = x + 4 * nq;
  uint32_t t0, t1, t2, t3;
  /* one quad if their number is odd, then two a turn (11 registers) */
  __asm__ volatile("sub %[w], %[end], %[xp]\n\t"
                   "tst %[w], #4\n\t"
                   "beq 1f\n\t" ML_FC_QUAD
                   "1:\n\t"
                   "cmp %[xp], %[end]\n\t"
                   "beq 3f\n\t"
                   "2:\n\t" ML_FC_QUAD ML_FC_QUAD
                   "cmp %[xp], %[end]\n\t"
                   "bne 2b\n\t"
                   "3:\n\t"
                   : [r0] "+r"(a0), [r1] "+r"(a1), [r2] "+r"(a2), [xp] "+r"(xp), [wp] "+r"(wp),
                     [w] "=&r"(t0), [we] "=&r"(t1), [xe] "=&r"(t2), [xo] "=&r"(t3)
                   : [n] "r"(n), [end] "r"(end)
                   : "memory", "cc");
#else
  for (i = 0; i < nq; ++i) {
    const uint32_t xv = ml_ld32(x + 4 * i);
    const int32_t xe = __sxtb16(xv), xo = ml_sxtb16_ror8(xv);
    uint32_t v = ml_ld32(w + 4 * i);
    a0 = __smlad(__sxtb16(v), xe, a0);
    a0 = __smlad(ml_sxtb16_ror8(v), xo, a0);
    v = ml_ld32(w + n + 4 * i);
    a1 = __smlad(__sxtb16(v), xe, a1);
    a1 = __smlad(ml_sxtb16_ror8(v), xo, a1);
    v = ml_ld32(w + 2 * n + 4 * i);
    a2 = __smlad(__sxtb16(v), xe, a2);
    a2 = __smlad(ml_sxtb16_ror8(v), xo, a2);
  }
#endif
  for (i = 4 * nq; i < n; ++i) {
    a0 += (int32_t)x[i] * w[i];
    a1 += (int32_t)x[i] * w[n + i];
    a2 += (int32_t)x[i] * w[2 * n + i];
  }
  acc[0] = a0, acc[1] = a1, acc[2] = a2;
}
#endif /* ML_FULLY_CONNECTED_S8_USE_DSP */

void ml_fully_connected_s8(const ml_fc_params_t *p, const int8_t *input, const int8_t *filter,
                           const int32_t *folded_bias, const int32_t *mult,
                           const int32_t *shift, int8_t *output) {
#ifdef ML_MVE_S8_ENABLED
  (void)ml_mve_fully_connected_s8(p, input, filter, folded_bias, mult, shift, output);
#else
  const int32_t n = p->in_features, n_out = p->out_features, w_off = p->filter_offset;
  int32_t b, o, i;
  for (b = 0; b < p->batches; ++b) {
    const int8_t *x = input + (size_t)b * n;
    /* sum (w + w_off)(x + x_off) = x.w + w_off sum(x) + [x_off (sum(w) + n w_off)],
     * the bracket being folded into the bias. */
    int32_t x_term = 0;
    if (w_off != 0) {
      for (i = 0; i < n; ++i) x_term += x[i];
      x_term *= w_off;
    }
    o = 0;
#ifdef ML_FULLY_CONNECTED_S8_USE_DSP
    if (n >= 4) {
      for (; o + 3 <= n_out; o += 3) {
        int32_t acc[3], j;
        dot3(x, filter + (size_t)o * n, n, acc);
        for (j = 0; j < 3; ++j)
          *output++ = fc_finish(p, acc[j] + x_term + folded_bias[o + j], o + j, mult, shift);
      }
    }
    for (; o < n_out; ++o) {
      const int32_t acc = dot_dsp(x, filter + (size_t)o * n, n) + x_term + folded_bias[o];
      *output++ = fc_finish(p, acc, o, mult, shift);
    }
#else
    for (; o < n_out; ++o) {
      const int32_t acc = ml_dot_s8(x, filter + (size_t)o * n, n) + x_term + folded_bias[o];
      *output++ = fc_finish(p, acc, o, mult, shift);
    }
#endif
  }
#endif /* ML_MVE_S8_ENABLED */
}
