/* microlith kernel: quantized ADD / SUB, int8_t. See ml_add_s8.h.
 *
 * A fast path computes TFLite Micro's arithmetic exactly with a few
 * instructions per element when the parameters are the ones TFLM's Prepare
 * makes (left_shift 20, the input with the larger scale rescaled by exactly
 * 1/2, multipliers not negative, right shifts); any other parameters take
 * the general body of ml_loops.h. Both are portable C (ml_smmlar is one
 * instruction on cores with the DSP extension).
 *
 * Why it is exact. Let X = (a + offset) 2^20 with int8 a and |offset| <= 128,
 * so |X| <= 255 * 2^20 < 2^28, and m in [0, 2^31), e = -shift in [1, 31]:
 *
 * - ml_srdhm(X, m) never saturates: that needs X = m = INT32_MIN, and
 *   m >= 0. Its value, (X m + nudge) / 2^31 truncated towards zero with a
 *   nudge of 2^30 (X m >= 0) or 1 - 2^30 (below zero), is in both cases
 *   floor((X m + 2^30) / 2^31) = SMMLAR(2X, m, 0) (2X fits: |2X| < 2^29).
 * - ml_rdbpot(y, e) adds 1 to y >> e when the remainder exceeds
 *   2^(e-1) - 1 + (y < 0): that is floor((y + 2^(e-1) - (y < 0)) / 2^e).
 *   SMMLAR(2X, m, 2^(e-1)) is y + 2^(e-1), and y < 0 only if X < 0; when
 *   X < 0 but y = 0 the extra -1 leaves floor((2^(e-1) - 1) / 2^e) = 0. So
 *   x = (SMMLAR(2X, m, 2^(e-1)) + (2X >> 31)) >> e (arithmetic shifts).
 * - m = 2^30 and shift 0 (the larger-scale input: 0.5 exactly) give
 *   y = X / 2 exactly (X is even), no rounding: x = (a + offset) 2^19.
 * - The sum S = x1 +/- x2 has |S| < 2^29: it neither wraps (as TFLM's int32
 *   sum does not) nor makes 2S overflow, and the output rescale is the same
 *   step with S (|S| < 2^29 < 2^30) and the output zero point folded in:
 *   SMMLAR(2S, m_out, 2^(e-1) + zp 2^e) is zp 2^e + y + 2^(e-1), whose
 *   floor division by 2^e adds exactly zp (when it fits in int32: checked).
 * tests/test_dsp_conv.py checks every pair of int8 inputs against the
 * reference, for the fast and the general path.
 */
#include "ml_add_s8.h"

#include "ml_common.h"
#include "ml_loops.h"

#if defined(__ARM_FEATURE_DSP) && !defined(ML_PORTABLE)
#include <arm_acle.h>
#define ML_ADD_SAT8(v) __ssat((v), 8)
#else
#define ML_ADD_SAT8(v) ml_clamp_i32((v), -128, 127)
#endif

/* The constants of the fast path. u: the input rescaled by 1/2 (0 or 1);
 * cu = 2 offset_u 2^20, so 2 x_u = a_u 2^20 + cu; co = 2^21 offset_o, the
 * other input's 2X = a_o 2^21 + co (both: cu = 2^20 offset, co = 2^20
 * offset; see add_fast_setup). */
typedef struct {
  int32_t u, both, cu, co, mo, ro, eo, mout, rout, eout, lo, hi;
} ml_add_fast_t;

/* 1 and the constants when the fast path applies; 0 if not. */
static int add_fast_setup(const ml_add_s8_params_t *p, ml_add_fast_t *f) {
  const int32_t unit = 1 << 30;
  const int u1 = p->in1_mult == unit && p->in1_shift == 0;
  const int u2 = p->in2_mult == unit && p->in2_shift == 0;
  int64_t rout;
  int32_t mo, so, oo, ou;
  if (p->left_shift != 20 || !(u1 || u2)) return 0;
  f->u = u1 ? 0 : 1;
  f->both = u1 && u2;
  mo = u1 ? p->in2_mult : p->in1_mult;
  so = u1 ? p->in2_shift : p->in1_shift;
  oo = u1 ? p->in2_offset : p->in1_offset;
  ou = u1 ? p->in1_offset : p->in2_offset;
  if (!f->both && (mo < 0 || so > -1 || so < -31)) return 0;
  if (p->out_mult < 0 || p->out_shift > -1 || p->out_shift < -31) return 0;
  rout = ((int64_t)1 << (-p->out_shift - 1)) + (int64_t)p->out_offset * ((int64_t)1 << -p->out_shift);
  if (rout > ML_INT32_MAX || rout < ML_INT32_MIN) return 0;
  f->cu = ou * (1 << 20);
  f->co = oo * (f->both ? (1 << 20) : (1 << 21));
  f->mo = mo;
  f->eo = f->both ? 0 : -so;
  f->ro = f->both ? 0 : (int32_t)1 << (-so - 1);
  f->mout = p->out_mult;
  f->rout = (int32_t)rout;
  f->eout = -p->out_shift;
  f->lo = p->act_min;
  f->hi = p->act_max;
  return 1;
}

/* One output element from the unit-side input value au and the other ao
 * (SUB: sign -1 if the unit side is subtracted, +1 if the other is). */
ML_ALWAYS_INLINE int32_t add_one(int32_t au, int32_t ao, const ml_add_fast_t *f,
                                 const int sub_u, const int sub_o, const int both,
                                 const int full) {
  const int32_t tu = (int32_t)((uint32_t)au << 20) + f->cu; /* 2 x_u */
  int32_t to, s2, v;
  if (both) {
    to = (int32_t)((uint32_t)ao << 20) + f->co; /* 2 x_o */
  } else {
    const int32_t x2 = (int32_t)((uint32_t)ao << 21) + f->co; /* 2X */
    to = 2 * ((ml_smmlar(x2, f->mo, f->ro) + (x2 >> 31)) >> f->eo);
  }
  s2 = sub_u ? to - tu : (sub_o ? tu - to : tu + to);
  v = (ml_smmlar(s2, f->mout, f->rout) + (s2 >> 31)) >> f->eout;
  return full ? ML_ADD_SAT8(v) : ml_clamp_i32(v, f->lo, f->hi);
}

/* Copies of the loops for constant flags, for speed; at -Os fewer. */
#if defined(__OPTIMIZE_SIZE__)
#define ML_ADD_SPECIALIZE 0
#else
#define ML_ADD_SPECIALIZE 1
#endif

#define ML_ADD_FAST_LOOP(SUB_U, SUB_O, BOTH, FULL)                                               \
  do {                                                                                          \
    if (dense) {                                                                                \
      const int8_t *pu = f.u ? in2 : in1, *po = f.u ? in1 : in2;                                \
      const int8_t *const end = pu + count;                                                     \
      while (pu != end) *out++ = (int8_t)add_one(*pu++, *po++, &f, SUB_U, SUB_O, BOTH, FULL);   \
    } else {                                                                                    \
      ML_BROADCAST_LOOP(int32_t, in1, in2, geom, {                                              \
        *out++ = (int8_t)add_one(f.u ? b_ : a_, f.u ? a_ : b_, &f, SUB_U, SUB_O, BOTH, FULL);   \
      });                                                                                       \
    }                                                                                           \
  } while (0)

/* The fast path for ADD (sub 0) or SUB (sub 1); 0 if it does not apply. */
ML_ALWAYS_INLINE int add_fast(const int8_t *in1, const int8_t *in2, int8_t *out,
                              const ml_add_s8_params_t *p, const int32_t *geom, const int sub) {
  ml_add_fast_t f;
  /* one dense run of `count` elements when the loop nest is a single axis
   * with both strides 1 */
  const int dense = geom[0] == 1 && geom[2] == 1 && geom[3] == 1;
  const int32_t count = geom[1];
  int full;
  if (!add_fast_setup(p, &f)) return 0;
  full = f.lo <= -128 && f.hi >= 127;
  if (!ML_ADD_SPECIALIZE) {
    ML_ADD_FAST_LOOP(sub && f.u == 1, sub && f.u == 0, f.both, 0);
  } else if (sub && f.u == 0) { /* in1 - in2, in1 the unit side */
    if (f.both) ML_ADD_FAST_LOOP(0, 1, 1, 0);
    else ML_ADD_FAST_LOOP(0, 1, 0, 0);
  } else if (sub) {
    if (f.both) ML_ADD_FAST_LOOP(1, 0, 1, 0);
    else ML_ADD_FAST_LOOP(1, 0, 0, 0);
  } else if (f.both) {
    if (full) ML_ADD_FAST_LOOP(0, 0, 1, 1);
    else ML_ADD_FAST_LOOP(0, 0, 1, 0);
  } else {
    if (full) ML_ADD_FAST_LOOP(0, 0, 0, 1);
    else ML_ADD_FAST_LOOP(0, 0, 0, 0);
  }
  return 1;
}

void ml_add_s8(const int8_t *in1, const int8_t *in2, int8_t *out, const ml_add_s8_params_t *p,
               const int32_t *geom) {
  if (add_fast(in1, in2, out, p, geom, 0)) return;
  ML_ADD_Q_BODY(int8_t, +);
}

void ml_sub_s8(const int8_t *in1, const int8_t *in2, int8_t *out, const ml_add_s8_params_t *p,
               const int32_t *geom) {
  if (add_fast(in1, in2, out, p, geom, 1)) return;
  ML_ADD_Q_BODY(int8_t, -);
}
