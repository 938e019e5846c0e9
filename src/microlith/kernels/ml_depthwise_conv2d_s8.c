/* microlith kernel library: depthwise 2-D convolution, int8
 * (see ml_depthwise_conv2d_s8.h).
 *
 * Write order (microlith/plan/overlap.py relies on it to plan the output
 * over the dying input, starting `lead` bytes below it): output pixels in
 * raster order (batch, output row, output column), every channel of a pixel
 * written while that pixel is computed, and only that pixel's input window
 * read for it (the channel blocks and the depth-multiplier loop all stay
 * inside one pixel). Any new path must keep this order (no channel-outer
 * loops, no reversed rows), and input/output must never be declared
 * `restrict`: they may overlap. The exceptions, ml_depthwise_conv2d_s8_3x3's
 * DSP paths, take two neighbouring pixels channel group by channel group,
 * or (the ring path, rows 5 pixels wide) a whole output row channel by
 * channel once the row's input rows are copied into scratch; why the lead
 * still holds is explained there.
 */
#include "ml_depthwise_conv2d_s8.h"

#include <string.h>

#include "ml_common.h"
#include "ml_mve_s8.h"

/* ml_depthwise_conv2d_s8_3x3's ring path applies (see the header and the
 * DSP path below): rows 5 pixels wide, stride 1, one padding column each
 * side, the full int8 output range. */
static inline int dw3_ring5(const ml_conv_params_t *p) {
  return p->in_w == 5 && p->out_w == 5 && p->stride_w == 1 && p->pad_left == 1 &&
         p->act_min <= -128 && p->act_max >= 127;
}

/* (Helium cores, ML_MVE_S8_ENABLED, take ml_mve_depthwise_conv2d_s8 instead.) */
#if defined(__ARM_FEATURE_DSP) && !defined(ML_PORTABLE) && !defined(ML_MVE_S8_ENABLED)
#define ML_DEPTHWISE_CONV2D_S8_USE_DSP 1
#include <arm_acle.h>
#endif

static inline int8_t finish(int32_t acc, int32_t mult, int32_t shift, const ml_conv_params_t *p) {
  return (int8_t)ml_clamp_i32(ml_mul_by_qmult(acc, mult, shift) + p->output_offset,
                              p->act_min, p->act_max);
}

/* Output channels [c0, c0 + n) of one output pixel, for depth multiplier 1:
 * input, weights and output are then contiguous along the channels. Called
 * with constant n (16, 8, 4 or 1), so every loop over j has a fixed length
 * that compilers vectorize once the call is specialized. The sums of
 * (x + offset) * w are taken as x * w + offset * (sum of w over the taps
 * inside the input): equal in int32 arithmetic, and int8 x int8 products
 * vectorize where int32 ones do not. */
ML_ALWAYS_INLINE void block(const ml_conv_params_t *p, const int8_t *in_b, const int8_t *filter,
                  const int32_t *bias, const int32_t *mult,
                  const int32_t *shift, int8_t *output, int32_t base_y, int32_t base_x,
                  const int32_t taps[4], int32_t c0, const int32_t n) {
  const int32_t in_w = p->in_w, in_c = p->in_c, out_c = p->out_c, k_w = p->k_w;
  const int32_t offset = p->input_offset;
  int32_t acc[16], wsum[16];
  int32_t j, fy, fx;
  for (j = 0; j < n; ++j) acc[j] = wsum[j] = 0;
  for (fy = taps[0]; fy < taps[1]; ++fy) {
    const int32_t iy = base_y + fy * p->dil_h;
    for (fx = taps[2]; fx < taps[3]; ++fx) {
      const int8_t *x = in_b + ((size_t)iy * in_w + (base_x + fx * p->dil_w)) * in_c + c0;
      const int8_t *w = filter + ((size_t)fy * k_w + fx) * out_c + c0;
      for (j = 0; j < n; ++j) {
        acc[j] += (int32_t)x[j] * w[j];
        wsum[j] += w[j];
      }
    }
  }
  for (j = 0; j < n; ++j) acc[j] += offset * wsum[j];
  for (j = 0; j < n; ++j) {
    const int32_t c = c0 + j;
    if (bias) acc[j] += bias[c];
    output[c] = finish(acc[j], mult[c], shift[c], p);
  }
}

/* -- DSP path (cores with the Armv7E-M DSP extension), depth multiplier 1 --
 *
 * Same order as above: pixel by pixel, four channels at a time, each
 * block's outputs written once its sums are done. A 32-bit load brings four
 * channels of one tap; SXTAB16 widens them to two int16 pairs with the input
 * offset added (x + offset fits 16 bits), SXTB16 the weights, and four
 * 16x16 multiply-accumulates (SMLABB/SMLATT) add them to the four channels'
 * int32 sums: exactly TFLM's terms. Rescaling as in ml_conv2d_s8's DSP path
 * (rescale_fast) when the whole layer qualifies, else the portable one.
 */
#ifdef ML_DEPTHWISE_CONV2D_S8_USE_DSP
/* The assembly needs up to 12 registers: never a frame pointer here. */
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC push_options
#pragma GCC optimize("omit-frame-pointer")
#endif

/* See ml_conv2d_s8.c: TFLM's rescale plus output offset of a sum a, given
 * 2a, for -22 <= shift <= -1, mult >= 0, |a| < 2^29; ra = 2^(e-1) + zp 2^e,
 * e = -shift. */
static inline int32_t rescale_fast(int32_t a2, int32_t mult, int32_t ra, int32_t e) {
  int32_t t;
  __asm__("smmlar %0, %1, %2, %3" : "=r"(t) : "r"(a2), "r"(mult), "r"(ra));
  return (t + (a2 >> 31)) >> e;
}

/* One tap of four channels: x (input) and w (weights) words. */
#define ML_DW_TAP(xv, wv)                                                                       \
  do {                                                                                          \
    const uint32_t X_ = (xv), W_ = (wv);                                                        \
    const int32_t xe_ = __sxtab16(offs, X_), xo_ = ml_sxtab16_ror8(offs, X_);                      \
    const int32_t we_ = __sxtb16(W_), wo_ = ml_sxtb16_ror8(W_);                                    \
    a0 = __smlabb(xe_, we_, a0);                                                                \
    a2 = __smlatt(xe_, we_, a2);                                                                \
    a1 = __smlabb(xo_, wo_, a1);                                                                \
    a3 = __smlatt(xo_, wo_, a3);                                                                \
  } while (0)

#if defined(__OPTIMIZE__)
/* The same in assembly, for the taps at xp/wp + off (off: "", ", %[cc]" or
 * ", %[cc], lsl #1": the next taps of a row with dilation 1). */
#define ML_DW_ASM_TAP(off)                                                                      \
  "ldr %[X], [%[xp]" off "]\n\t"                                                                \
  "ldr %[W], [%[wp]" off "]\n\t"                                                                \
  "sxtab16 %[xe], %[offs], %[X]\n\t"                                                            \
  "sxtab16 %[X], %[offs], %[X], ror #8\n\t"                                                     \
  "sxtb16 %[we], %[W]\n\t"                                                                      \
  "sxtb16 %[W], %[W], ror #8\n\t"                                                               \
  "smlabb %[a0], %[xe], %[we], %[a0]\n\t"                                                       \
  "smlatt %[a2], %[xe], %[we], %[a2]\n\t"                                                       \
  "smlabb %[a1], %[X], %[W], %[a1]\n\t"                                                         \
  "smlatt %[a3], %[X], %[W], %[a3]\n\t"
#define ML_DW_ASM_ROW2 ML_DW_ASM_TAP("") ML_DW_ASM_TAP(", %[cc]")
#define ML_DW_ASM_ROW3 ML_DW_ASM_ROW2 ML_DW_ASM_TAP(", %[cc], lsl #1")
#define ML_DW_OUTS                                                                              \
  [a0] "+r"(a0), [a1] "+r"(a1), [a2] "+r"(a2), [a3] "+r"(a3), [X] "=&r"(t0), [W] "=&r"(t1),   \
      [xe] "=&r"(t2), [we] "=&r"(t3)
#define ML_DW_ROW(TAPS)                                                                         \
  __asm__(TAPS : ML_DW_OUTS : [xp] "r"(xr), [wp] "r"(wr), [cc] "r"(c_n), [offs] "r"(offs)     \
          : "memory")
#endif

/* Copies of the loops for constant flags, for speed; at -Os one copy. */
#if defined(__OPTIMIZE_SIZE__)
#define ML_DW_SPECIALIZE 0
#else
#define ML_DW_SPECIALIZE 1
#endif

/* The pixels, in raster order; fast: rescale_fast for every channel; full:
 * no clamp beyond int8. */
ML_ALWAYS_INLINE void dw_pixels(const ml_conv_params_t *p, const int8_t *input,
                                const int8_t *filter, const int32_t *bias, const int32_t *mult,
                                const int32_t *shift, int8_t *output, const int fast,
                                const int full) {
  const int32_t in_h = p->in_h, in_w = p->in_w, c_n = p->in_c, k_h = p->k_h, k_w = p->k_w;
  const int32_t dil_h = p->dil_h, dil_w = p->dil_w, zp21 = 2 * p->output_offset + 1;
  const int32_t lo = p->act_min, hi = p->act_max, offset = p->input_offset;
  const int32_t offs = (int32_t)(((uint32_t)offset & 0xFFFFu) | ((uint32_t)offset << 16));
  const int32_t row = in_w * c_n;
  int32_t b, oy, ox, c;
  for (b = 0; b < p->batches; ++b) {
    const int8_t *in_b = input + (size_t)b * in_h * row;
    for (oy = 0; oy < p->out_h; ++oy) {
      const int32_t base_y = oy * p->stride_h - p->pad_top;
      int32_t fy0, fy1;
      ml_conv_taps(base_y, dil_h, k_h, in_h, &fy0, &fy1);
      for (ox = 0; ox < p->out_w; ++ox, output += c_n) {
        const int32_t base_x = ox * p->stride_w - p->pad_left;
        int32_t fx0, fx1, nx, win3;
        const int8_t *x0, *w0; /* the window's first valid tap, channel 0 */
        ml_conv_taps(base_x, dil_w, k_w, in_w, &fx0, &fx1);
        if (fy1 <= fy0 || fx1 <= fx0) { /* no tap inside the input */
          for (c = 0; c < c_n; ++c) output[c] = finish(bias ? bias[c] : 0, mult[c], shift[c], p);
          continue;
        }
        nx = fx1 - fx0;
        /* 3x3 windows (dilation 1) clipped to 2 or 3 rows and columns:
         * 10 * rows + columns, else 0 */
        win3 = k_w == 3 && dil_w == 1 && dil_h == 1 && nx >= 2 && fy1 - fy0 >= 2 &&
                       fy1 - fy0 <= 3
                   ? 10 * (fy1 - fy0) + nx
                   : 0;
        (void)win3; /* (only the assembly looks at it) */
        x0 = in_b + (size_t)(base_y + fy0 * dil_h) * row + (size_t)(base_x + fx0 * dil_w) * c_n;
        w0 = filter + (size_t)(fy0 * k_w + fx0) * c_n;
        for (c = 0; c + 4 <= c_n; c += 4) {
          int32_t a0, a1, a2, a3, fy, fx;
          const int8_t *xr = x0 + c, *wr = w0 + c;
          if (bias) {
            a0 = bias[c], a1 = bias[c + 1], a2 = bias[c + 2], a3 = bias[c + 3];
          } else {
            a0 = a1 = a2 = a3 = 0;
          }
#if defined(__OPTIMIZE__)
          if (win3) {
            /* a 3x3 window, clipped to 2 or 3 rows and columns (a statement
             * a row: 12 registers, which compilers find even with a frame
             * pointer) */
            uint32_t t0, t1, t2, t3;
            const int32_t wrow = 3 * c_n;
#define ML_DW_WINDOW(ROW)                                                                       \
  do {                                                                                          \
    ML_DW_ROW(ROW);                                                                             \
    xr += row, wr += wrow;                                                                      \
    ML_DW_ROW(ROW);                                                                             \
    if (win3 > 30) {                                                                            \
      xr += row, wr += wrow;                                                                    \
      ML_DW_ROW(ROW);                                                                           \
    }                                                                                           \
  } while (0)
            if (win3 == 33 || win3 == 23)
              ML_DW_WINDOW(ML_DW_ASM_ROW3);
            else
              ML_DW_WINDOW(ML_DW_ASM_ROW2);
#undef ML_DW_WINDOW
          } else if (dil_w == 1 && nx <= 3) { /* rows of up to three taps */
            uint32_t t0, t1, t2, t3;
            for (fy = fy0; fy < fy1; ++fy, xr += dil_h * row, wr += k_w * c_n) {
              if (nx == 3)
                ML_DW_ROW(ML_DW_ASM_ROW3);
              else if (nx == 2)
                ML_DW_ROW(ML_DW_ASM_TAP("") ML_DW_ASM_TAP(", %[cc]"));
              else
                ML_DW_ROW(ML_DW_ASM_TAP(""));
            }
          } else
#endif
          {
            for (fy = fy0; fy < fy1; ++fy, xr += dil_h * row, wr += k_w * c_n) {
              const int8_t *xt = xr, *wt = wr;
              for (fx = fx0; fx < fx1; ++fx, xt += dil_w * c_n, wt += c_n)
                ML_DW_TAP(ml_ld32(xt), ml_ld32(wt));
            }
          }
          if (fast) {
#define ML_DW_OUT(j, a)                                                                         \
  do {                                                                                          \
    const int32_t s_ = shift[c + j], ra_ = zp21 * (1 << (-s_ - 1));                             \
    int32_t v_ = __ssat(rescale_fast(2 * (a), mult[c + j], ra_, -s_), 8);                       \
    if (!full) v_ = ml_clamp_i32(v_, lo, hi);                                                   \
    output[c + j] = (int8_t)v_;                                                                 \
  } while (0)
            ML_DW_OUT(0, a0);
            ML_DW_OUT(1, a1);
            ML_DW_OUT(2, a2);
            ML_DW_OUT(3, a3);
#undef ML_DW_OUT
          } else {
            output[c] = finish(a0, mult[c], shift[c], p);
            output[c + 1] = finish(a1, mult[c + 1], shift[c + 1], p);
            output[c + 2] = finish(a2, mult[c + 2], shift[c + 2], p);
            output[c + 3] = finish(a3, mult[c + 3], shift[c + 3], p);
          }
        }
        for (; c < c_n; ++c) { /* the last channels, one at a time */
          int32_t acc = bias ? bias[c] : 0, fy, fx;
          const int8_t *xr = x0 + c, *wr = w0 + c;
          for (fy = fy0; fy < fy1; ++fy, xr += dil_h * row, wr += k_w * c_n) {
            const int8_t *xt = xr, *wt = wr;
            for (fx = fx0; fx < fx1; ++fx, xt += dil_w * c_n, wt += c_n)
              acc += ((int32_t)xt[0] + offset) * wt[0];
          }
          output[c] = finish(acc, mult[c], shift[c], p);
        }
      }
    }
  }
}

/* One input channel, depth multiplier = output channels (person_detect's
 * first layer: in effect a convolution with one input channel), up to
 * ML_DW_C1_TAPS taps: pixel by pixel in raster order, the window's valid
 * taps (x + offset, duplicated into both int16 halves) gathered first, then
 * per four output channels one word of weights per tap (SXTB16 into the
 * even and odd channels) and four 16x16 multiply-accumulates; the same
 * int32 sums as the portable loop, then its rescale (or rescale_fast when
 * fast). */
#define ML_DW_C1_TAPS 25
ML_ALWAYS_INLINE void dw_c1_pixels(const ml_conv_params_t *p, const int8_t *input,
                                   const int8_t *filter, const int32_t *bias,
                                   const int32_t *mult, const int32_t *shift, int8_t *output,
                                   const int fast, const int full) {
  const int32_t in_h = p->in_h, in_w = p->in_w, c_n = p->out_c, k_w = p->k_w;
  const int32_t zp21 = 2 * p->output_offset + 1, lo = p->act_min, hi = p->act_max;
  int32_t b, oy, ox, c;
  for (b = 0; b < p->batches; ++b) {
    const int8_t *in_b = input + (size_t)b * in_h * in_w;
    for (oy = 0; oy < p->out_h; ++oy) {
      const int32_t base_y = oy * p->stride_h - p->pad_top;
      int32_t fy0, fy1;
      ml_conv_taps(base_y, p->dil_h, p->k_h, in_h, &fy0, &fy1);
      for (ox = 0; ox < p->out_w; ++ox, output += c_n) {
        const int32_t base_x = ox * p->stride_w - p->pad_left;
        int32_t xs[ML_DW_C1_TAPS];
        const int8_t *ws[ML_DW_C1_TAPS];
        int32_t fx0, fx1, fy, fx, n = 0, t;
        ml_conv_taps(base_x, p->dil_w, k_w, in_w, &fx0, &fx1);
        for (fy = fy0; fy < fy1; ++fy) {
          const int8_t *xr = in_b + (size_t)(base_y + fy * p->dil_h) * in_w;
          for (fx = fx0; fx < fx1; ++fx, ++n) {
            const uint32_t v = (uint32_t)(xr[base_x + fx * p->dil_w] + p->input_offset);
            xs[n] = (int32_t)((v & 0xFFFFu) | (v << 16));
            ws[n] = filter + (size_t)(fy * k_w + fx) * c_n;
          }
        }
#define ML_DW_C1_OUT(j, a)                                                                      \
  do {                                                                                          \
    const int32_t s_ = shift[c + j];                                                            \
    if (fast) {                                                                                 \
      int32_t v_ = __ssat(rescale_fast(2 * (a), mult[c + j], zp21 * (1 << (-s_ - 1)), -s_), 8); \
      if (!full) v_ = ml_clamp_i32(v_, lo, hi);                                                 \
      output[c + j] = (int8_t)v_;                                                               \
    } else {                                                                                    \
      output[c + j] = finish((a), mult[c + j], s_, p);                                          \
    }                                                                                           \
  } while (0)
        for (c = 0; c + 4 <= c_n; c += 4) {
          int32_t a0 = 0, a1 = 0, a2 = 0, a3 = 0;
          if (bias) a0 = bias[c], a1 = bias[c + 1], a2 = bias[c + 2], a3 = bias[c + 3];
          for (t = 0; t < n; ++t) {
            const uint32_t w = ml_ld32(ws[t] + c);
            const int32_t x = xs[t], we = __sxtb16(w), wo = ml_sxtb16_ror8(w);
            a0 = __smlabb(x, we, a0);
            a2 = __smlatt(x, we, a2);
            a1 = __smlabb(x, wo, a1);
            a3 = __smlatt(x, wo, a3);
          }
          ML_DW_C1_OUT(0, a0);
          ML_DW_C1_OUT(1, a1);
          ML_DW_C1_OUT(2, a2);
          ML_DW_C1_OUT(3, a3);
        }
        for (; c < c_n; ++c) { /* the last channels, one at a time */
          int32_t a = bias ? bias[c] : 0;
          for (t = 0; t < n; ++t) a += (int16_t)xs[t] * ws[t][c];
          ML_DW_C1_OUT(0, a);
        }
#undef ML_DW_C1_OUT
      }
    }
  }
}

static void dw_c1(const ml_conv_params_t *p, const int8_t *input, const int8_t *filter,
                  const int32_t *bias, const int32_t *mult, const int32_t *shift,
                  int8_t *output, const int fast, const int full) {
  if (ML_DW_SPECIALIZE && fast && full)
    dw_c1_pixels(p, input, filter, bias, mult, shift, output, 1, 1);
  else if (ML_DW_SPECIALIZE && fast)
    dw_c1_pixels(p, input, filter, bias, mult, shift, output, 1, 0);
  else
    dw_c1_pixels(p, input, filter, bias, mult, shift, output, fast, full);
}

/* Returns 0 (having written nothing) when this path does not apply. */
static int dw_dsp(const ml_conv_params_t *p, const int8_t *input, const int8_t *filter,
                  const int32_t *bias, const int32_t *mult, const int32_t *shift,
                  int8_t *output) {
  const int32_t taps = p->k_h * p->k_w;
  int32_t c;
  int fast = taps < (1 << 13), full, c1;
  c1 = p->in_c == 1 && p->depth_multiplier == p->out_c && taps <= ML_DW_C1_TAPS;
  if (!c1 && (p->depth_multiplier > 1 || p->out_c != p->in_c)) return 0;
  /* |x + offset| <= 255 and |w| <= 128: a tap adds less than 2^15 */
  for (c = 0; fast && c < p->out_c; ++c) {
    const int32_t bc = bias ? bias[c] : 0, limit = (1 << 29) - taps * (1 << 15);
    fast = mult[c] >= 0 && shift[c] <= -1 && shift[c] >= -22 && bc < limit && bc > -limit;
  }
  full = p->act_min <= -128 && p->act_max >= 127;
  if (c1) {
    dw_c1(p, input, filter, bias, mult, shift, output, fast, full);
    return 1;
  }
  if (ML_DW_SPECIALIZE && fast && full)
    dw_pixels(p, input, filter, bias, mult, shift, output, 1, 1);
  else if (ML_DW_SPECIALIZE && fast)
    dw_pixels(p, input, filter, bias, mult, shift, output, 1, 0);
  else
    dw_pixels(p, input, filter, bias, mult, shift, output, fast, full);
  return 1;
}
#undef ML_DW_TAP

/* -- 3x3, depth multiplier 1, dilation 1, channels a multiple of 4 --------
 *
 * ml_depthwise_conv2d_s8_3x3 (see the header). The layer's constants stay
 * nearly as compact as the original model's (int8 weights, int32 folded
 * bias, and a rescaling triple per channel: 4 bytes more than a multiplier
 * and a shift, for one LDRD and one LDR a channel); each call first expands
 * the weights into int16 tap pairs in scratch (dw3_expand, 28 bytes per
 * channel with the doubled biases), and the rescale reads the triples from
 * flash.
 * Output pixels go in tiles of two neighbours of one output row
 * (one at the end of an odd row); inside a tile, channel group by channel
 * group (4 channels), each group's outputs of both pixels written once the
 * group's sums are done. The planner's lead still holds: it is at least
 * (q + 1) * C - first[q] for every pixel q (C channels, first[q] the
 * offset of its window's top-left input byte), so output byte k of pixel
 * q + 1 lies at or below input byte first[q] + k, and pixel q reads
 * channel c only at first[q] + c or above. Writing channels <= k of pixel
 * q + 1 after pixel q's channels <= k were read therefore overwrites
 * nothing pixel q (or a later pixel) still reads. A third pixel could land
 * a whole pixel higher: tiles stay two pixels wide.
 *
 * Padding: taps outside the input read a column of the input zero point
 * (x + input_offset = 0, so they add nothing), which makes every tile the
 * same code; the input offset's share is in the folded bias (bias +
 * input_offset * the sum of all 9 weights), which is right because every
 * tap, padded or not, is then summed as x * w.
 *
 * Per pass (channels 0 and 2 of the group: the even bytes, SXTB16; then 1
 * and 3: the odd bytes, SXTB16 ROR 8), per kernel row, for the columns
 * A B C D of two stride-1 pixels: pixel 0 = A w0 + [B C].[w1 w2], pixel 1 =
 * [B C].[w0 w1] + D w2, the pair [B C] built once (PKHBT/PKHTB) for two
 * SMLADs. Weights are expanded doubled, so the sums are 2x TFLM's, which is
 * what the rescale (as rescale_fast, SMMLAR with the rounding and output
 * offset folded in) takes. */
#define ML_DW3_ZP 256 /* the widest layer: channels <= this (a zero-point column) */
#define DW3_PASS_WORDS 14 /* scratch words per pass: see dw3_expand */

static inline uint32_t dw3_pkhbt(uint32_t lo, uint32_t hi) { /* [lo.b, hi.b] */
  return (lo & 0xFFFFu) | (hi << 16);
}
static inline uint32_t dw3_pkhtb(uint32_t hi, uint32_t lo) { /* [lo.t, hi.t] */
  return (hi & 0xFFFF0000u) | (lo >> 16);
}

/* rescale_fast of a doubled sum a2 with multiplier m, e = -shift - 1 and
 * r = (2 * output_offset + 1) << e, then the clamp. */
static inline int32_t dw3_rescale(int32_t a2, int32_t m, int32_t e, int32_t r, const int full,
                                  int32_t lo, int32_t hi) {
  int32_t t, v;
  __asm__("smmlar %0, %1, %2, %3" : "=r"(t) : "r"(a2), "r"(m), "r"(r));
  t = (t + (a2 >> 31)) >> e;
  v = __ssat(t >> 1, 8);
  if (!full) v = ml_clamp_i32(v, lo, hi);
  return v;
}

#if defined(__OPTIMIZE__)
/* The sums of one pass in assembly: 13 registers (no LDM: the compiler
 * picks the registers, whose order LDM would impose). X: the SXTB16 operand
 * suffix of the pass ("" or ", ror #8"; for ROW2 and FIRST2, EVEN or ODD);
 * cp walks the column pointers, pk
 * the pass's DW3_PASS_WORDS words in scratch (its bias pair, then the
 * weights). */
/* The 4 input words of one kernel row of a stride-1 pair, channels go to
 * go + 3 of columns A B C D: the first pass (GET4_EVEN) through the column
 * pointers, also stashing them in the 12 words after the 12 pointers (at
 * cp + 32 once cp has passed the row's pointers), for the second pass
 * (GET4_ODD, cp starting at that stash), which then reads the words the
 * first one read. */
#define ML_DW3_GET4_EVEN                                                                        \
  "ldrd %[A], %[B], [%[cp]], #8\n\t"                                                             \
  "ldrd %[C], %[D], [%[cp]], #8\n\t"                                                             \
  "ldr %[A], [%[A], %[go]]\n\t"                                                                 \
  "ldr %[B], [%[B], %[go]]\n\t"                                                                 \
  "ldr %[C], [%[C], %[go]]\n\t"                                                                 \
  "ldr %[D], [%[D], %[go]]\n\t"                                                                 \
  "strd %[A], %[B], [%[cp], #32]\n\t"                                                           \
  "strd %[C], %[D], [%[cp], #40]\n\t"
#define ML_DW3_GET4_ODD                                                                         \
  "ldrd %[A], %[B], [%[cp]], #8\n\t"                                                             \
  "ldrd %[C], %[D], [%[cp]], #8\n\t"
#define ML_DW3_STASH 12 /* the stash's offset in the column pointers, in words */
#define ML_DW3_LOAD4(X)                                                                         \
  ML_DW3_GET4_##X                                                                               \
  "sxtb16 %[A], %[A]" ML_DW3_ROR_##X "\n\t"                                                     \
  "sxtb16 %[B], %[B]" ML_DW3_ROR_##X "\n\t"                                                     \
  "sxtb16 %[C], %[C]" ML_DW3_ROR_##X "\n\t"                                                     \
  "sxtb16 %[D], %[D]" ML_DW3_ROR_##X "\n\t"                                                     \
  "pkhbt %[P], %[B], %[C], lsl #16\n\t"                                                         \
  "pkhtb %[B], %[C], %[B], asr #16\n\t"                                                         \
  "ldrd %[W], %[C], [%[pk]], #8\n\t"
/* two stride-1 pixels, one kernel row; the first row starts the sums of
 * pixel 1 from pixel 0's (the bias) */
#define ML_DW3_ROW2(X)                                                                          \
  ML_DW3_LOAD4(X)                                                                               \
  "smlad %[a1], %[P], %[W], %[a1]\n\t"                                                          \
  "smlabb %[a0], %[A], %[W], %[a0]\n\t"                                                         \
  "smlad %[b1], %[B], %[C], %[b1]\n\t"                                                          \
  "smlatb %[b0], %[A], %[C], %[b0]\n\t"                                                         \
  "ldrd %[W], %[C], [%[pk]], #8\n\t"                                                            \
  "smlad %[a0], %[P], %[W], %[a0]\n\t"                                                          \
  "smlabt %[a1], %[D], %[W], %[a1]\n\t"                                                         \
  "smlad %[b0], %[B], %[C], %[b0]\n\t"                                                          \
  "smlatt %[b1], %[D], %[C], %[b1]\n\t"
#define ML_DW3_ROR_EVEN ""
#define ML_DW3_ROR_ODD ", ror #8"
#define ML_DW3_FIRST2(X)                                                                        \
  "ldrd %[a0], %[b0], [%[pk]], #8\n\t" ML_DW3_LOAD4(X)                                          \
  "smlad %[a1], %[P], %[W], %[a0]\n\t"                                                          \
  "smlabb %[a0], %[A], %[W], %[a0]\n\t"                                                         \
  "smlad %[b1], %[B], %[C], %[b0]\n\t"                                                          \
  "smlatb %[b0], %[A], %[C], %[b0]\n\t"                                                         \
  "ldrd %[W], %[C], [%[pk]], #8\n\t"                                                            \
  "smlad %[a0], %[P], %[W], %[a0]\n\t"                                                          \
  "smlabt %[a1], %[D], %[W], %[a1]\n\t"                                                         \
  "smlad %[b0], %[B], %[C], %[b0]\n\t"                                                          \
  "smlatt %[b1], %[D], %[C], %[b1]\n\t"
/* the bias pair, for one pixel; for two (stride 2) */
#define ML_DW3_BIAS1 "ldrd %[a0], %[b0], [%[pk]], #8\n\t"
#define ML_DW3_BIAS2 ML_DW3_BIAS1 "mov %[a1], %[a0]\n\tmov %[b1], %[b0]\n\t"
/* one pixel (any stride), one kernel row: three columns */
#define ML_DW3_ROW1(X)                                                                          \
  "ldrd %[A], %[B], [%[cp]], #8\n\t"                                                             \
  "ldr %[C], [%[cp]], #4\n\t"                                                                    \
  "ldr %[A], [%[A], %[go]]\n\t"                                                                 \
  "ldr %[B], [%[B], %[go]]\n\t"                                                                 \
  "ldr %[C], [%[C], %[go]]\n\t"                                                                 \
  "sxtb16 %[A], %[A]" X "\n\t"                                                                  \
  "sxtb16 %[B], %[B]" X "\n\t"                                                                  \
  "sxtb16 %[C], %[C]" X "\n\t"                                                                  \
  "ldrd %[W], %[D], [%[pk]], #8\n\t"                                                            \
  "smlabb %[a0], %[A], %[W], %[a0]\n\t"                                                         \
  "smlatb %[b0], %[A], %[D], %[b0]\n\t"                                                         \
  "smlabt %[a0], %[B], %[W], %[a0]\n\t"                                                         \
  "smlatt %[b0], %[B], %[D], %[b0]\n\t"                                                         \
  "ldrd %[W], %[D], [%[pk]], #8\n\t"                                                            \
  "smlabt %[a0], %[C], %[W], %[a0]\n\t"                                                         \
  "smlatt %[b0], %[C], %[D], %[b0]\n\t"
/* two stride-2 pixels, one kernel row: columns A B C for pixel 0, C D E
 * for pixel 1 (D and E loaded into A and B once those are done) */
#define ML_DW3_ROWS2(X)                                                                         \
  "ldrd %[A], %[B], [%[cp]], #8\n\t"                                                             \
  "ldr %[C], [%[cp]], #4\n\t"                                                                    \
  "ldr %[A], [%[A], %[go]]\n\t"                                                                 \
  "ldr %[B], [%[B], %[go]]\n\t"                                                                 \
  "ldr %[C], [%[C], %[go]]\n\t"                                                                 \
  "sxtb16 %[A], %[A]" X "\n\t"                                                                  \
  "sxtb16 %[B], %[B]" X "\n\t"                                                                  \
  "sxtb16 %[C], %[C]" X "\n\t"                                                                  \
  "ldrd %[W], %[D], [%[pk]]\n\t"                                                                \
  "smlabb %[a0], %[A], %[W], %[a0]\n\t"                                                         \
  "smlatb %[b0], %[A], %[D], %[b0]\n\t"                                                         \
  "smlabt %[a0], %[B], %[W], %[a0]\n\t"                                                         \
  "smlatt %[b0], %[B], %[D], %[b0]\n\t"                                                         \
  "smlabb %[a1], %[C], %[W], %[a1]\n\t"                                                         \
  "smlatb %[b1], %[C], %[D], %[b1]\n\t"                                                         \
  "ldrd %[A], %[B], [%[cp]], #8\n\t"                                                             \
  "ldr %[A], [%[A], %[go]]\n\t"                                                                 \
  "ldr %[B], [%[B], %[go]]\n\t"                                                                 \
  "sxtb16 %[A], %[A]" X "\n\t"                                                                  \
  "sxtb16 %[B], %[B]" X "\n\t"                                                                  \
  "smlabt %[a1], %[A], %[W], %[a1]\n\t"                                                         \
  "smlatt %[b1], %[A], %[D], %[b1]\n\t"                                                         \
  "ldrd %[W], %[D], [%[pk], #8]\n\t"                                                            \
  "smlabt %[a0], %[C], %[W], %[a0]\n\t"                                                         \
  "smlatt %[b0], %[C], %[D], %[b0]\n\t"                                                         \
  "smlabt %[a1], %[B], %[W], %[a1]\n\t"                                                         \
  "smlatt %[b1], %[B], %[D], %[b1]\n\t"                                                         \
  "add %[pk], %[pk], #16\n\t"
#define ML_DW3_ASM(BODY)                                                                        \
  __asm__(BODY                                                                                  \
          : [a0] "=&r"(a0), [b0] "=&r"(b0), [a1] "=&r"(a1), [b1] "=&r"(b1), [cp] "+&r"(cp),   \
            [pk] "+&r"(pk), [A] "=&r"(t0), [B] "=&r"(t1), [C] "=&r"(t2), [D] "=&r"(t3),        \
            [P] "=&r"(t4), [W] "=&r"(t5)                                                       \
          : [go] "r"(go)                                                                       \
          : "memory")
#endif

/* The outputs of one pass: channel 0 (sums a0, pixel 0, and a1, pixel 1,
 * when npix is 2) at o[0] and o[o1], channel 2 (b0, b1) at o[2] and
 * o[o1 + 2], with their rescaling triples (see the header) at rq[0..2] and
 * rq[6..8]. One copy at -Os. */
#if defined(__OPTIMIZE_SIZE__)
static __attribute__((noinline)) void
#else
ML_ALWAYS_INLINE void
#endif
dw3_store(int32_t a0, int32_t a1, int32_t b0, int32_t b1, const int32_t *rq, int8_t *o,
          int32_t o1, int npix, int full, int32_t lo, int32_t hi) {
  const int32_t ma = rq[0], ea = rq[1], ra = rq[2], mb = rq[6], eb = rq[7], rb = rq[8];
  o[0] = (int8_t)dw3_rescale(a0, ma, ea, ra, full, lo, hi);
  o[2] = (int8_t)dw3_rescale(b0, mb, eb, rb, full, lo, hi);
  if (npix == 2) {
    o[o1] = (int8_t)dw3_rescale(a1, ma, ea, ra, full, lo, hi);
    o[o1 + 2] = (int8_t)dw3_rescale(b1, mb, eb, rb, full, lo, hi);
  }
}

/* The layer's rescaling: its per-channel triples (multiplier, -shift - 1,
 * rounding constant) and the clamp. */
typedef struct {
  const int32_t *rq;
  int32_t lo, hi;
} dw3_rq_t;

#if defined(__OPTIMIZE__)
/* dw3_rescale (full int8 range) of the pass's sums into its output bytes:
 * channel go + K0 (a0, pixel 0, at o0[K0]; a1, pixel 1, at o0[o1 + K0]),
 * then channel go + K2 (b0, b1). */
#define ML_DW3_RQ1(S)                                                                           \
  "smmlar %[T], %[" S "], %[M], %[R]\n\t"                                                     \
  "add %[T], %[T], %[" S "], asr #31\n\t"                                                     \
  "asr %[T], %[T], %[E]\n\t"                                                                  \
  "ssat %[T], #8, %[T], asr #1\n\t"
#define ML_DW3_Q(K) /* M, E = -shift - 1 and R of channel go + K */                      \
  "ldrd %[M], %[E], [%[qp], #12 * " K "]\n\tldr %[R], [%[qp], #12 * " K " + 8]\n\t"
#define ML_DW3_OUT1(K, S0, S1) /* channel go + K: sums S0 (pixel 0), S1 (pixel 1) */         \
  do {                                                                                          \
    uint32_t t_, m_, e_, r_;                                                                    \
    if (npix == 2)                                                                              \
      __asm__ volatile(ML_DW3_Q(K) ML_DW3_RQ1("s") "strb %[T], [%[o], #" K "]\n\t"            \
                       ML_DW3_RQ1("s1") "strb %[T], [%[p], #" K "]\n\t"                       \
                       : [T] "=&r"(t_), [M] "=&r"(m_), [E] "=&r"(e_), [R] "=&r"(r_)            \
                       : [s] "r"(S0), [s1] "r"(S1), [qp] "r"(rq), [o] "r"(o0),                \
                         [p] "r"(o0 + o1)                                                       \
                       : "memory");                                                            \
    else                                                                                        \
      __asm__ volatile(ML_DW3_Q(K) ML_DW3_RQ1("s") "strb %[T], [%[o], #" K "]\n\t"            \
                       : [T] "=&r"(t_), [M] "=&r"(m_), [E] "=&r"(e_), [R] "=&r"(r_)            \
                       : [s] "r"(S0), [qp] "r"(rq), [o] "r"(o0)                               \
                       : "memory");                                                            \
  } while (0)
#define ML_DW3_OUTS(K0, K2)                                                                     \
  do {                                                                                          \
    ML_DW3_OUT1(K0, a0, a1);                                                                    \
    ML_DW3_OUT1(K2, b0, b1);                                                                    \
  } while (0)
#endif

/* One pass (odd: channels 1 and 3 of the group, else 0 and 2) of one
 * channel group (first channel go) of a tile of npix pixels, pk at the
 * pass's DW3_PASS_WORDS words in scratch; cols[r * ncols + k]: kernel row
 * r, tile column k (channel 0 of the input pixel, or the zero-point
 * column). */
ML_ALWAYS_INLINE const int32_t *dw3_pass(const int8_t *const *cols, int32_t ncols, int32_t go,
                                         const int32_t *pk, int8_t *o0, const int32_t o1,
                                         const int odd, const int npix, const int s2,
                                         const int full, const dw3_rq_t *q) {
  const int32_t *rq = q->rq + 3 * go;
  const int32_t lo = q->lo, hi = q->hi;
  int32_t a0, b0, a1 = 0, b1 = 0;
#if defined(__OPTIMIZE__)
  {
    const int8_t *const *cp = cols;
    uint32_t t0, t1, t2, t3, t4, t5;
    (void)ncols;
    if (npix == 2 && !s2) {
      if (odd) {
        cp += ML_DW3_STASH;
        ML_DW3_ASM(ML_DW3_FIRST2(ODD) ML_DW3_ROW2(ODD) ML_DW3_ROW2(ODD));
      } else {
        ML_DW3_ASM(ML_DW3_FIRST2(EVEN) ML_DW3_ROW2(EVEN) ML_DW3_ROW2(EVEN));
      }
    } else if (npix == 2) {
      if (odd)
        ML_DW3_ASM(ML_DW3_BIAS2 ML_DW3_ROWS2(", ror #8") ML_DW3_ROWS2(", ror #8")
                       ML_DW3_ROWS2(", ror #8"));
      else
        ML_DW3_ASM(ML_DW3_BIAS2 ML_DW3_ROWS2("") ML_DW3_ROWS2("") ML_DW3_ROWS2(""));
    } else {
      if (odd)
        ML_DW3_ASM(ML_DW3_BIAS1 ML_DW3_ROW1(", ror #8") ML_DW3_ROW1(", ror #8")
                       ML_DW3_ROW1(", ror #8"));
      else
        ML_DW3_ASM(ML_DW3_BIAS1 ML_DW3_ROW1("") ML_DW3_ROW1("") ML_DW3_ROW1(""));
    }
  }
#else
  {
    const int32_t *wr = pk + 2;
    int32_t r;
    a0 = a1 = pk[0], b0 = b1 = pk[1];
    pk += DW3_PASS_WORDS;
    for (r = 0; r < 3; ++r, wr += 4, cols += ncols) {
      const int32_t w01a = wr[0], w01b = wr[1], w12a = wr[2], w12b = wr[3];
#define ML_DW3_X(k) \
  (uint32_t)(odd ? ml_sxtb16_ror8(ml_ld32(cols[k] + go)) : __sxtb16(ml_ld32(cols[k] + go)))
      const uint32_t xa = ML_DW3_X(0), xb = ML_DW3_X(1), xc = ML_DW3_X(2);
      if (npix == 2 && !s2) {
        const uint32_t xd = ML_DW3_X(3);
        const int32_t pa = (int32_t)dw3_pkhbt(xb, xc), pb = (int32_t)dw3_pkhtb(xc, xb);
        a0 = __smlabb((int32_t)xa, w01a, a0);
        b0 = __smlatb((int32_t)xa, w01b, b0);
        a0 = __smlad(pa, w12a, a0);
        b0 = __smlad(pb, w12b, b0);
        a1 = __smlad(pa, w01a, a1);
        b1 = __smlad(pb, w01b, b1);
        a1 = __smlabt((int32_t)xd, w12a, a1);
        b1 = __smlatt((int32_t)xd, w12b, b1);
      } else {
        a0 = __smlabb((int32_t)xa, w01a, a0);
        b0 = __smlatb((int32_t)xa, w01b, b0);
        a0 = __smlabt((int32_t)xb, w01a, a0);
        b0 = __smlatt((int32_t)xb, w01b, b0);
        a0 = __smlabt((int32_t)xc, w12a, a0);
        b0 = __smlatt((int32_t)xc, w12b, b0);
        if (npix == 2) {
          const int32_t xd = (int32_t)ML_DW3_X(3), xe = (int32_t)ML_DW3_X(4);
          a1 = __smlabb((int32_t)xc, w01a, a1);
          b1 = __smlatb((int32_t)xc, w01b, b1);
          a1 = __smlabt(xd, w01a, a1);
          b1 = __smlatt(xd, w01b, b1);
          a1 = __smlabt(xe, w12a, a1);
          b1 = __smlatt(xe, w12b, b1);
        }
      }
#undef ML_DW3_X
    }
  }
#endif
#if defined(__OPTIMIZE__) && !defined(__OPTIMIZE_SIZE__)
  if (full) {
    if (odd)
      ML_DW3_OUTS("1", "3");
    else
      ML_DW3_OUTS("0", "2");
    return pk;
  }
#endif
  dw3_store(a0, a1, b0, b1, rq + 3 * odd, o0 + odd, o1, npix, full, lo, hi);
  return pk; /* the next pass's words */
}

ML_ALWAYS_INLINE void dw3_tile(const int8_t *const *cols, int32_t c_n, const int32_t *packed,
                               int8_t *out, const int npix, const int s2, const int full,
                               const dw3_rq_t *q) {
  const int32_t ncols = npix == 2 ? (s2 ? 5 : 4) : 3;
  int32_t go;
  for (go = 0; go < c_n; go += 4, out += 4) {
    packed = dw3_pass(cols, ncols, go, packed, out, c_n, 0, npix, s2, full, q);
    packed = dw3_pass(cols, ncols, go, packed, out, c_n, 1, npix, s2, full, q);
  }
}

/* The column pointers of one tile (see dw3_pass), then the tile. */
ML_ALWAYS_INLINE void dw3_tile_at(const ml_conv_params_t *p, const int8_t *in_b, int32_t iy0,
                                  int32_t ix0, const int32_t *packed, int8_t *out,
                                  const int8_t *zp, const int npix, const int s2, const int full,
                                  const dw3_rq_t *q) {
  const int32_t ncols = npix == 2 ? (s2 ? 5 : 4) : 3, c_n = p->in_c, in_w = p->in_w;
  const int edge = ix0 < 0 || ix0 + ncols > in_w;
  const int8_t *cols[24]; /* up to 15 pointers; stride 1, 2 pixels: 12, then a stash */
  int32_t r, k;
  for (r = 0; r < 3; ++r) {
    const int32_t iy = iy0 + r;
    const int8_t **cr = cols + r * ncols;
    const int8_t *x = in_b + ((size_t)iy * in_w + ix0) * c_n;
    if (iy < 0 || iy >= p->in_h) {
      for (k = 0; k < ncols; ++k) cr[k] = zp;
    } else if (!edge) {
      for (k = 0; k < ncols; ++k, x += c_n) cr[k] = x;
    } else {
      for (k = 0; k < ncols; ++k, x += c_n) cr[k] = ix0 + k >= 0 && ix0 + k < in_w ? x : zp;
    }
  }
  dw3_tile(cols, c_n, packed, out, npix, s2, full, q);
}

ML_ALWAYS_INLINE void dw3_rows(const ml_conv_params_t *p, const int8_t *input,
                               const int32_t *packed, int8_t *output, const int8_t *zp,
                               const int s2, const int full, const dw3_rq_t *q) {
  const int32_t c_n = p->in_c, out_w = p->out_w, sw = p->stride_w;
  const size_t image = (size_t)p->in_h * p->in_w * c_n;
  int32_t b, oy, ox;
  for (b = 0; b < p->batches; ++b) {
    const int8_t *in_b = input + (size_t)b * image;
    for (oy = 0; oy < p->out_h; ++oy) {
      const int32_t iy0 = oy * p->stride_h - p->pad_top;
      for (ox = 0; ox + 2 <= out_w; ox += 2, output += 2 * c_n)
        dw3_tile_at(p, in_b, iy0, ox * sw - p->pad_left, packed, output, zp, 2, s2, full, q);
      if (ox < out_w) { /* an odd row's last pixel */
        dw3_tile_at(p, in_b, iy0, ox * sw - p->pad_left, packed, output, zp, 1, 0, full, q);
        output += c_n;
      }
    }
  }
}

/* The words the passes read, into scratch: per group of 4 channels, for
 * channels (0, 2), then (1, 3), DW3_PASS_WORDS each: their folded biases,
 * doubled, then per kernel row w01 of both channels and w12 of both, where
 * w01 = 2 w[row][0] | 2 w[row][1] << 16 and w12 = 2 w[row][1] | 2 w[row][2] << 16
 * (int16 halves). A 32-bit load brings one tap of the group's 4 channels;
 * SXTB16 (ROR 8) splits it into channels (0, 2) (or (1, 3)), SADD16 doubles
 * them and PKHBT/PKHTB pair two taps of one channel. */
static void dw3_expand(const int8_t *filter, const int32_t *bias, int32_t c_n, int32_t *pk) {
  int32_t g, r, lane;
  for (g = 0; g < c_n; g += 4, pk += 2 * DW3_PASS_WORDS) {
    for (lane = 0; lane < 2; ++lane) {
      pk[lane * DW3_PASS_WORDS] = 2 * bias[g + lane];
      pk[lane * DW3_PASS_WORDS + 1] = 2 * bias[g + lane + 2];
    }
    for (r = 0; r < 3; ++r) {
      const int8_t *w = filter + 3 * r * c_n + g;
      const uint32_t v0 = ml_ld32(w), v1 = ml_ld32(w + c_n), v2 = ml_ld32(w + 2 * c_n);
      for (lane = 0; lane < 2; ++lane) {
        const uint32_t t0 = (uint32_t)(lane ? ml_sxtb16_ror8(v0) : __sxtb16(v0));
        const uint32_t t1 = (uint32_t)(lane ? ml_sxtb16_ror8(v1) : __sxtb16(v1));
        const uint32_t t2 = (uint32_t)(lane ? ml_sxtb16_ror8(v2) : __sxtb16(v2));
        const uint32_t d0 = __sadd16(t0, t0), d1 = __sadd16(t1, t1), d2 = __sadd16(t2, t2);
        int32_t *o = pk + lane * DW3_PASS_WORDS + 2 + 4 * r;
        o[0] = (int32_t)dw3_pkhbt(d0, d1); /* w01, channel lane */
        o[1] = (int32_t)dw3_pkhtb(d1, d0); /* w01, channel lane + 2 */
        o[2] = (int32_t)dw3_pkhbt(d1, d2); /* w12 */
        o[3] = (int32_t)dw3_pkhtb(d2, d1);
      }
    }
  }
}

static void dw3_dsp(const ml_conv_params_t *p, const int8_t *input, const int8_t *filter,
                    const int32_t *bias, const int32_t *rq, int8_t *output, int32_t *packed) {
  int8_t zp[ML_DW3_ZP];
  const int full = p->act_min <= -128 && p->act_max >= 127;
  dw3_rq_t q;
  q.rq = rq, q.lo = p->act_min, q.hi = p->act_max;
  dw3_expand(filter, bias, p->in_c, packed);
  memset(zp, -p->input_offset, (size_t)p->in_c);
  if (ML_DW_SPECIALIZE && p->stride_w == 1 && full)
    dw3_rows(p, input, packed, output, zp, 0, 1, &q);
  else if (ML_DW_SPECIALIZE && p->stride_w == 1)
    dw3_rows(p, input, packed, output, zp, 0, 0, &q);
  else if (ML_DW_SPECIALIZE && full)
    dw3_rows(p, input, packed, output, zp, 1, 1, &q);
  else
    dw3_rows(p, input, packed, output, zp, p->stride_w != 1, full, &q);
}

/* (GCC only: the loops take all 14 registers, r7 too, which needs the
 * omit-frame-pointer pragma above) */
#if defined(__OPTIMIZE__) && !defined(__OPTIMIZE_SIZE__) && defined(__GNUC__) && \
    !defined(__clang__)
#define ML_DW3_USE_RING 1 /* (at -Os and -O0, the tiles above only) */
/* -- 3x3, rows 5 pixels wide: a ring of three int16 input rows ------------
 *
 * Where dw3_ring5() holds (input and output rows 5 pixels wide, stride 1,
 * one padding column each side, the full int8 output range: KWS's layers),
 * the DSP path keeps the three input rows of the current output row in
 * scratch, widened once to int16 (each input byte widened once, not once
 * per use): ring slot s holds input row iy with iy mod 3 = s, per channel
 * three words of int16 pairs, (x0, x1), (x2, x3) and (x4, x3), channel c's
 * slot s at word 9 c + 3 s (input rows outside the input hold the zero
 * point). Each output row is then computed channel by channel, the five
 * pixels at once, in one assembly loop (dw3r_row): per kernel row one LDRD
 * of the weight pairs U = (w0, w1), V = (w1, w2), one LDRD and one LDR of
 * the three data words and 8 multiply-accumulates for 13 products:
 *   pixel 0: (x0, x1).V                  SMLAD
 *   pixel 1: (x0, x1).U + x2 w2          SMLAD, SMLABT
 *   pixel 2: x1 w0 + (x2, x3).V          SMLATB, SMLAD
 *   pixel 3: (x2, x3).U + x4 w2          SMLAD, SMLABT
 *   pixel 4: (x4, x3).(w1, w0)           SMLADX
 * Pixels 0 and 4 skip their padding column: it holds the zero point in
 * every row, so its share, zp * (w00 + w10 + w20) or zp * (w02 + w12 + w22),
 * goes into those pixels' own biases. Then dw3_rescale's arithmetic and the
 * stores. The per-channel constants sit in one record in scratch
 * (dw3r_expand), read with LDM: 88 bytes a channel with the ring.
 * Instructions per channel and output row (45 MACs): 24 multiply-
 * accumulates, 6 data and 3 weight/bias loads, 1 LDM of the rescaling
 * words, 20 to rescale five sums, 5 stores, 0.5 of loop (four channels a
 * pass): 59.5; widening an input row into the ring (dw3r_fill) adds 9.5
 * a channel.
 *
 * Write order and the planner's lead (plan/overlap.py). Rows enter the
 * ring in increasing order, each at most once per batch, and all input rows
 * of output row r (iy0 .. iy0 + 2, iy0 = r * stride_h - pad_top) are in it
 * before any output of row r is written. A row leaves the ring only when row
 * iy + 3 (or a later one of its slot) is copied, for a window starting after
 * iy, and windows only move down: no later output row needs it again. So
 * after row r's copies, the only input bytes that must survive in memory
 * are those of rows still to be copied, all >= R = iy0 of row r + 1
 * (rows between two windows, when stride_h > 3, are never copied), clipped
 * to the input. The lead is at least (q + 1) * C - needed[q] for every
 * pixel q, needed[q] the smallest top-left window offset (clipped to the
 * input) of the pixels q and later; for q the last pixel of row r, pixel
 * q + 1 is row r + 1's first, whose window starts at column 0 (clipped) of
 * row R (clipped). So every output byte of rows <= r, whatever order they
 * are written in, lies below the first byte of input row R, and no byte of
 * a row still to be copied is overwritten: writing row r channel by channel
 * is as safe as writing it in raster order (test_dsp_depthwise.py checks it
 * on the tightest plan).
 */
#define DW3R_REC 13 /* words per channel of dw3r_expand's record */

static inline int32_t dw3r_slot(int32_t iy) { return ((iy % 3) + 3) % 3; }

/* Per channel c, DW3R_REC words: the doubled folded bias of pixel 0 (with
 * its padding column's share zp * (w00 + w10 + w20)), of pixels 1-3, of
 * pixel 4 (zp * (w02 + w12 + w22)); per kernel row U = (2 w0, 2 w1) and
 * V = (2 w1, 2 w2) as int16 pairs (doubled: see dw3_rescale); the rescaling
 * triple (multiplier, e | 256 on the last channel: the loop's end, which the
 * shift ignores, rounding constant); 3 C. */
static __attribute__((noinline)) void dw3r_expand(const ml_conv_params_t *p,
                                                  const int8_t *filter, const int32_t *bias,
                                                  const int32_t *rq, int32_t *rec) {
  const int32_t c_n = p->in_c;
  uint32_t argv[8];
  register uint32_t *args __asm__("r0") = argv;
  argv[0] = (uint32_t)(uintptr_t)filter, argv[1] = (uint32_t)c_n, argv[2] = (uint32_t)(3 * c_n);
  argv[3] = (uint32_t)(uintptr_t)bias, argv[4] = (uint32_t)(uintptr_t)rq;
  argv[5] = (uint32_t)(uintptr_t)rec, argv[6] = (uint32_t)(uintptr_t)(bias + c_n);
  argv[7] = (uint32_t)-p->input_offset;
  /* r0: the channel's tap (0, 0), r1 C, r2 3 C, r3 bias, r4 rq, r5 rec, r6
   * the bias's end, r7 zp; r11 the doubled taps of column 0 summed, r10
   * column 2's */
  __asm__ volatile("ldm r0, {r0, r1, r2, r3, r4, r5, r6, r7}\n\t"
                   "1:\n\t"
                   "add r8, r0, r1, lsl #2\n\t" /* tap (1, 1) */
                   "ldrsb r9, [r0, r1]\n\t"
                   "ldrsb r10, [r0, r1, lsl #1]\n\t"
                   "ldrsb r11, [r0]\n\t"
                   "lsl r9, r9, #1\n\t"
                   "lsl r11, r11, #1\n\t"
                   "pkhbt r12, r11, r9, lsl #16\n\t"
                   "pkhbt r9, r9, r10, lsl #17\n\t"
                   "strd r12, r9, [r5, #12]\n\t"
                   "ldrsb r9, [r8]\n\t"
                   "ldrsb r12, [r8, r1]\n\t"
                   "ldrsb lr, [r0, r2]\n\t"
                   "lsl r9, r9, #1\n\t"
                   "lsl lr, lr, #1\n\t"
                   "add r11, r11, lr\n\t"
                   "add r10, r10, r12\n\t"
                   "pkhbt lr, lr, r9, lsl #16\n\t"
                   "pkhbt r9, r9, r12, lsl #17\n\t"
                   "strd lr, r9, [r5, #20]\n\t"
                   "ldrsb r9, [r8, r2]\n\t"
                   "ldrsb r12, [r0, r1, lsl #3]\n\t"
                   "ldrsb lr, [r0, r2, lsl #1]\n\t"
                   "lsl r9, r9, #1\n\t"
                   "lsl lr, lr, #1\n\t"
                   "add r11, r11, lr\n\t"
                   "add r10, r10, r12\n\t"
                   "pkhbt lr, lr, r9, lsl #16\n\t"
                   "pkhbt r9, r9, r12, lsl #17\n\t"
                   "strd lr, r9, [r5, #28]\n\t"
                   "ldr r9, [r3], #4\n\t"
                   "lsl r9, r9, #1\n\t"
                   "mla r11, r7, r11, r9\n\t"
                   "lsl r10, r10, #1\n\t"
                   "mla r10, r7, r10, r9\n\t"
                   "str r11, [r5]\n\t"
                   "strd r9, r10, [r5, #4]\n\t"
                   "ldm r4!, {r9, r10, r11}\n\t"
                   "strd r9, r10, [r5, #36]\n\t"
                   "strd r11, r2, [r5, #44]\n\t"
                   "add r5, r5, #52\n\t"
                   "add r0, r0, #1\n\t"
                   "cmp r3, r6\n\t"
                   "bne 1b\n\t"
                   : "+r"(args)
                   :
                   : "r1", "r2", "r3", "r4", "r5", "r6", "r7", "r8", "r9", "r10", "r11", "r12",
                     "lr", "cc", "memory");
  rec[DW3R_REC * (c_n - 1) + 10] |= 256; /* the last channel's e: the loop's end */
}

/* Input row `row` (5 pixels) into the ring words d (channel 0 of its slot),
 * four channels a pass in assembly (registers fixed, as in dw3r_row): r0-r4
 * a word of each column, sign-extended to int16 pairs (SXTB16: channels 0
 * and 2, then ROR 8: 1 and 3) and paired by column (PKHBT/PKHTB) into r5-r9;
 * r10 the row, r11 C, r12 d, lr the row's end. */
static __attribute__((noinline)) void dw3r_fill(const int8_t *row, int32_t c_n, uint32_t *d) {
  uint32_t argv[4];
  register uint32_t *args __asm__("r0") = argv;
  argv[0] = (uint32_t)(uintptr_t)row, argv[1] = (uint32_t)c_n;
  argv[2] = (uint32_t)(uintptr_t)d, argv[3] = (uint32_t)(uintptr_t)(row + c_n);
  __asm__ volatile("ldm r0, {r10, r11, r12, lr}\n\t"
                   "1:\n\t"
                   "ldr r1, [r10, r11]\n\t"
                   "ldr r2, [r10, r11, lsl #1]\n\t"
                   "ldr r4, [r10, r11, lsl #2]\n\t"
                   "add r5, r10, r11, lsl #1\n\t"
                   "ldr r3, [r5, r11]\n\t"
                   "ldr r0, [r10], #4\n\t"
                   "sxtb16 r5, r0\n\t"
                   "sxtb16 r6, r1\n\t"
                   "pkhbt r7, r5, r6, lsl #16\n\t" /* channel 0: (x0, x1) */
                   "pkhtb r5, r6, r5, asr #16\n\t" /* channel 2 */
                   "sxtb16 r6, r2\n\t"
                   "sxtb16 r8, r3\n\t"
                   "pkhbt r9, r6, r8, lsl #16\n\t" /* channel 0: (x2, x3) */
                   "pkhtb r6, r8, r6, asr #16\n\t"
                   "strd r5, r6, [r12, #72]\n\t"
                   "sxtb16 r5, r4\n\t"
                   "pkhbt r6, r5, r8, lsl #16\n\t" /* channel 0: (x4, x3) */
                   "pkhtb r5, r8, r5, asr #16\n\t"
                   "str r6, [r12, #8]\n\t"
                   "str r5, [r12, #80]\n\t"
                   "sxtb16 r0, r0, ror #8\n\t"
                   "sxtb16 r1, r1, ror #8\n\t"
                   "pkhbt r5, r0, r1, lsl #16\n\t" /* channel 1 */
                   "pkhtb r0, r1, r0, asr #16\n\t" /* channel 3 */
                   "sxtb16 r2, r2, ror #8\n\t"
                   "sxtb16 r3, r3, ror #8\n\t"
                   "pkhbt r6, r2, r3, lsl #16\n\t"
                   "pkhtb r2, r3, r2, asr #16\n\t"
                   "strd r5, r6, [r12, #36]\n\t"
                   "strd r0, r2, [r12, #108]\n\t"
                   "sxtb16 r4, r4, ror #8\n\t"
                   "pkhbt r5, r4, r3, lsl #16\n\t"
                   "pkhtb r4, r3, r4, asr #16\n\t"
                   "str r5, [r12, #44]\n\t"
                   "str r4, [r12, #116]\n\t"
                   "strd r7, r9, [r12], #144\n\t"
                   "cmp r10, lr\n\t"
                   "bne 1b\n\t"
                   : "+r"(args)
                   :
                   : "r1", "r2", "r3", "r4", "r5", "r6", "r7", "r8", "r9", "r10", "r11", "r12",
                     "lr", "cc", "memory");
}

/* A row outside the input: the zero point zz (both halves) into slot d. */
static __attribute__((noinline)) void dw3r_zero(uint32_t *d, int32_t c_n, uint32_t zz) {
  uint32_t *const end = d + 9 * c_n;
  for (; d < end; d += 9) d[0] = zz, d[1] = zz, d[2] = zz;
}

/* The loop over a row's channels (four a pass), registers fixed: r0-r4 the
 * five pixels' sums, r5/r6 U/V (then multiplier and e), r7-r9 the data
 * words (then the rounding constant, a temporary and 3 C), r10 the ring at
 * the channel, r11 the records, r12 the output, lr C. Kernel row k's words
 * are at r10 + 12 slot(iy0 + k); the row in slot 0 is loaded last-with-
 * writeback (r10 += 36: the next channel), rows after it 36 bytes lower. */
#define DW3R_LDN(S) "ldrd r7, r8, [r10, #" S "]\n\tldr r9, [r10, #" S "+8]\n\t"
#define DW3R_LDW(S) "ldr r9, [r10, #8]\n\tldrd r7, r8, [r10], #36\n\t"
#define DW3R_LDA(S) "ldrd r7, r8, [r10, #" S "-36]\n\tldr r9, [r10, #" S "-28]\n\t"
#define DW3R_FIRST(LD)                                                                          \
  "ldm r11!, {r0, r1, r4, r5, r6}\n\t" LD                                                       \
  "smlatb r2, r7, r5, r1\n\t"                                                                   \
  "smlad r3, r8, r5, r1\n\t"                                                                    \
  "smlad r0, r7, r6, r0\n\t"                                                                    \
  "smlad r1, r7, r5, r1\n\t"                                                                    \
  "smlabt r1, r8, r6, r1\n\t"                                                                   \
  "smlad r2, r8, r6, r2\n\t"                                                                    \
  "smlabt r3, r9, r6, r3\n\t"                                                                   \
  "smladx r4, r9, r5, r4\n\t"
#define DW3R_NEXT(LD)                                                                           \
  "ldrd r5, r6, [r11], #8\n\t" LD                                                               \
  "smlad r0, r7, r6, r0\n\t"                                                                    \
  "smlad r1, r7, r5, r1\n\t"                                                                    \
  "smlabt r1, r8, r6, r1\n\t"                                                                   \
  "smlatb r2, r7, r5, r2\n\t"                                                                   \
  "smlad r2, r8, r6, r2\n\t"                                                                    \
  "smlad r3, r8, r5, r3\n\t"                                                                    \
  "smlabt r3, r9, r6, r3\n\t"                                                                   \
  "smladx r4, r9, r5, r4\n\t"
#define DW3R_RQ(A)                                                                              \
  "smmlar r8, " A ", r5, r7\n\t"                                                                \
  "add " A ", r8, " A ", asr #31\n\t"                                                           \
  "asr " A ", " A ", r6\n\t"                                                                    \
  "ssat " A ", #8, " A ", asr #1\n\t"
#define DW3R_CHANNEL(L0, L1, L2)                                                                \
  DW3R_FIRST(L0) DW3R_NEXT(L1) DW3R_NEXT(L2)                                                    \
  "ldm r11!, {r5, r6, r7, r9}\n\t" DW3R_RQ("r0") DW3R_RQ("r1") DW3R_RQ("r2") DW3R_RQ("r3")      \
  DW3R_RQ("r4")                                                                                 \
  "strb r1, [r12, lr]\n\t"                                                                      \
  "strb r2, [r12, lr, lsl #1]\n\t"                                                              \
  "strb r3, [r12, r9]\n\t"                                                                      \
  "strb r4, [r12, lr, lsl #2]\n\t"                                                              \
  "strb r0, [r12], #1\n\t"
#define DW3R_LOOP(L0, L1, L2)                                                                   \
  __asm__ volatile("ldm r0, {r10, r11, r12, lr}\n\t"                                            \
                   "1:\n\t" DW3R_CHANNEL(L0, L1, L2) DW3R_CHANNEL(L0, L1, L2)                   \
                       DW3R_CHANNEL(L0, L1, L2) DW3R_CHANNEL(L0, L1, L2)                        \
                   "tst r6, #256\n\t"                                                            \
                   "beq 1b\n\t"                                                                  \
                   : "+r"(args)                                                                  \
                   :                                                                             \
                   : "r1", "r2", "r3", "r4", "r5", "r6", "r7", "r8", "r9", "r10", "r11", "r12",  \
                     "lr", "cc", "memory")

/* One output row: argv = {ring (channel 0), records, output row, C}; s0 the
 * slot of the window's first input row. */
static __attribute__((noinline)) void dw3r_row(uint32_t *argv, int32_t s0) {
  register uint32_t *args __asm__("r0") = argv;
  if (s0 == 0)
    DW3R_LOOP(DW3R_LDW("0"), DW3R_LDA("12"), DW3R_LDA("24"));
  else if (s0 == 1)
    DW3R_LOOP(DW3R_LDN("12"), DW3R_LDN("24"), DW3R_LDW("0"));
  else
    DW3R_LOOP(DW3R_LDN("24"), DW3R_LDW("0"), DW3R_LDA("12"));
}
#undef DW3R_LOOP
#undef DW3R_CHANNEL
#undef DW3R_RQ
#undef DW3R_NEXT
#undef DW3R_FIRST
#undef DW3R_LDA
#undef DW3R_LDW
#undef DW3R_LDN

static void dw3r_dsp(const ml_conv_params_t *p, const int8_t *input, const int8_t *filter,
                     const int32_t *bias, const int32_t *rq, int8_t *output, int32_t *scratch) {
  const int32_t c_n = p->in_c, row_bytes = 5 * c_n, zp = -p->input_offset;
  const uint32_t zz = ((uint32_t)zp & 0xFFFFu) | ((uint32_t)zp << 16);
  const size_t image = (size_t)p->in_h * (size_t)row_bytes;
  uint32_t *ring = (uint32_t *)(scratch + DW3R_REC * c_n), argv[4];
  int32_t n, oy, iy;
  dw3r_expand(p, filter, bias, rq, scratch);
  for (n = 0; n < p->batches; ++n) {
    const int8_t *in_b = input + (size_t)n * image;
    int32_t next = -p->pad_top; /* the first input row not in the ring */
    for (oy = 0; oy < p->out_h; ++oy, output += row_bytes) {
      const int32_t iy0 = oy * p->stride_h - p->pad_top;
      for (iy = next > iy0 ? next : iy0; iy < iy0 + 3; ++iy) {
        uint32_t *d = ring + 3 * dw3r_slot(iy);
        if (iy < 0 || iy >= p->in_h)
          dw3r_zero(d, c_n, zz);
        else
          dw3r_fill(in_b + (size_t)iy * (size_t)row_bytes, c_n, d);
      }
      next = iy0 + 3;
      argv[0] = (uint32_t)(uintptr_t)ring, argv[1] = (uint32_t)(uintptr_t)scratch;
      argv[2] = (uint32_t)(uintptr_t)output, argv[3] = (uint32_t)c_n;
      dw3r_row(argv, dw3r_slot(iy0));
    }
  }
}
#endif /* ML_DW3_USE_RING */
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC pop_options
#endif
#endif /* ML_DEPTHWISE_CONV2D_S8_USE_DSP */

void ml_depthwise_conv2d_s8(const ml_conv_params_t *p, const int8_t *input, const int8_t *filter,
                             const int32_t *bias, const int32_t *mult, const int32_t *shift,
                             int8_t *output) {
  const int32_t in_h = p->in_h, in_w = p->in_w, in_c = p->in_c, out_c = p->out_c;
  const int32_t k_w = p->k_w, dil_h = p->dil_h, dil_w = p->dil_w;
  const int32_t dm = p->depth_multiplier > 1 ? p->depth_multiplier : 1;
  const int32_t offset = p->input_offset;
  int32_t b, oy, ox;
#ifdef ML_MVE_S8_ENABLED
  if (ml_mve_depthwise_conv2d_s8(p, input, filter, bias, mult, shift, output, NULL, NULL)) return;
#endif
#ifdef ML_DEPTHWISE_CONV2D_S8_USE_DSP
  if (dw_dsp(p, input, filter, bias, mult, shift, output)) return;
#endif
  for (b = 0; b < p->batches; ++b) {
    const int8_t *in_b = input + (size_t)b * in_h * in_w * in_c;
    for (oy = 0; oy < p->out_h; ++oy) {
      const int32_t base_y = oy * p->stride_h - p->pad_top;
      int32_t taps[4]; /* valid rows [taps[0], taps[1]), columns [taps[2], taps[3]) */
      ml_conv_taps(base_y, dil_h, p->k_h, in_h, &taps[0], &taps[1]);
      for (ox = 0; ox < p->out_w; ++ox) {
        const int32_t base_x = ox * p->stride_w - p->pad_left;
        ml_conv_taps(base_x, dil_w, k_w, in_w, &taps[2], &taps[3]);
#ifndef ML_DEPTHWISE_CONV2D_S8_USE_DSP /* (there, dw_dsp takes depth multiplier 1) */
        if (dm == 1) {
          int32_t c0 = 0;
          for (; c0 + 16 <= out_c; c0 += 16)
            block(p, in_b, filter, bias, mult, shift, output, base_y, base_x, taps, c0, 16);
          if (c0 + 8 <= out_c) {
            block(p, in_b, filter, bias, mult, shift, output, base_y, base_x, taps, c0, 8);
            c0 += 8;
          }
          if (c0 + 4 <= out_c) {
            block(p, in_b, filter, bias, mult, shift, output, base_y, base_x, taps, c0, 4);
            c0 += 4;
          }
          for (; c0 < out_c; ++c0)
            block(p, in_b, filter, bias, mult, shift, output, base_y, base_x, taps, c0, 1);
        } else
#endif
        {
          /* output channel c = ci * dm + m reads input channel ci */
          int32_t ci, m, fy, fx;
          for (ci = 0; ci < in_c; ++ci) {
            for (m = 0; m < dm; ++m) {
              const int32_t c = ci * dm + m;
              int32_t acc = 0;
              for (fy = taps[0]; fy < taps[1]; ++fy) {
                const int32_t iy = base_y + fy * dil_h;
                for (fx = taps[2]; fx < taps[3]; ++fx) {
                  const int8_t *x = in_b + ((size_t)iy * in_w + (base_x + fx * dil_w)) * in_c + ci;
                  const int8_t *w = filter + ((size_t)fy * k_w + fx) * out_c + c;
                  acc += ((int32_t)x[0] + offset) * w[0];
                }
              }
              if (bias) acc += bias[c];
              output[c] = finish(acc, mult[c], shift[c], p);
            }
          }
        }
        output += out_c;
      }
    }
  }
}

size_t ml_depthwise_conv2d_s8_3x3_scratch_size(const ml_conv_params_t *p) {
#ifdef ML_PORTABLE
  (void)p; /* the portable path takes none */
  return 0;
#else
  /* the DSP path's expanded weights and biases (or the ring and its records)
   * whatever optimization level this build uses; Helium's fit in them */
  return (size_t)(dw3_ring5(p) ? ML_DW3_RING_PER_CHANNEL : ML_DW3_SCRATCH_PER_CHANNEL) *
         (size_t)p->in_c;
#endif
}

/* Portable: output channels [c0, c0 + n) of one output pixel (n constant, as
 * in block()), from the folded bias: a tap outside the input reads the input
 * zero point, whose x + input_offset is 0. */
ML_ALWAYS_INLINE void dw3_block(const ml_conv_params_t *p, const int8_t *in_b,
                                const int8_t *filter, const int32_t *bias, const int32_t *rq,
                                int8_t *output, int32_t base_y, int32_t base_x, int32_t c0,
                                const int32_t n) {
  const int32_t in_w = p->in_w, c_n = p->in_c, zp = -p->input_offset;
  int32_t acc[16], j, fy, fx;
  for (j = 0; j < n; ++j) acc[j] = bias[c0 + j];
  for (fy = 0; fy < 3; ++fy) {
    const int32_t iy = base_y + fy;
    for (fx = 0; fx < 3; ++fx) {
      const int32_t ix = base_x + fx;
      const int8_t *w = filter + (fy * 3 + fx) * c_n + c0;
      if (iy >= 0 && iy < p->in_h && ix >= 0 && ix < in_w) {
        const int8_t *x = in_b + ((size_t)iy * in_w + ix) * c_n + c0;
        for (j = 0; j < n; ++j) acc[j] += (int32_t)x[j] * w[j];
      } else {
        for (j = 0; j < n; ++j) acc[j] += zp * w[j];
      }
    }
  }
  for (j = 0; j < n; ++j)
    output[c0 + j] = finish(acc[j], rq[3 * (c0 + j)], ~rq[3 * (c0 + j) + 1], p);
}

void ml_depthwise_conv2d_s8_3x3(const ml_conv_params_t *p, const int8_t *input,
                                const int8_t *filter, const int32_t *bias, const int32_t *rq,
                                int8_t *output, void *scratch) {
#ifdef ML_MVE_S8_ENABLED
  if (ml_mve_depthwise_conv2d_s8(p, input, filter, bias, NULL, NULL, output, rq,
                                 (int32_t *)scratch))
    return;
#endif
#ifdef ML_DEPTHWISE_CONV2D_S8_USE_DSP
#ifdef ML_DW3_USE_RING
  if (dw3_ring5(p)) {
    dw3r_dsp(p, input, filter, bias, rq, output, (int32_t *)scratch);
    return;
  }
#endif
  dw3_dsp(p, input, filter, bias, rq, output, (int32_t *)scratch);
#else
  const int32_t c_n = p->in_c;
  int32_t b, oy, ox;
  (void)scratch;
  for (b = 0; b < p->batches; ++b) {
    const int8_t *in_b = input + (size_t)b * p->in_h * p->in_w * c_n;
    for (oy = 0; oy < p->out_h; ++oy) {
      const int32_t base_y = oy * p->stride_h - p->pad_top;
      for (ox = 0; ox < p->out_w; ++ox, output += c_n) {
        const int32_t base_x = ox * p->stride_w - p->pad_left;
        int32_t c0 = 0;
        for (; c0 + 16 <= c_n; c0 += 16)
          dw3_block(p, in_b, filter, bias, rq, output, base_y, base_x, c0, 16);
        if (c0 + 8 <= c_n) {
          dw3_block(p, in_b, filter, bias, rq, output, base_y, base_x, c0, 8);
          c0 += 8;
        }
        if (c0 + 4 <= c_n)
          dw3_block(p, in_b, filter, bias, rq, output, base_y, base_x, c0, 4);
      }
    }
  }
#endif
}
