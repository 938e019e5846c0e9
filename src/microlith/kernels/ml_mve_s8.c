/* microlith kernel library: int8 matrix kernels for Helium (see ml_mve_s8.h).
 *
 * Dot products: 16 int8 products a VMLADAVA (vmladavaq_s8) into a 32-bit
 * scalar sum, which wraps as int32 addition does, so the sums are the
 * portable path's (int32 addition in another order). The last 1-15 values
 * are loaded tail-predicated (vctp8q: lanes past the end read as zero and
 * touch no memory).
 *
 * Rescaling, four values at a time, exactly ml_mul_by_qmult:
 * - the left shift (shift > 0) wraps like the portable (uint32) << left:
 *   VSHL by a positive amount;
 * - SaturatingRoundingDoublingHighMul is VQRDMULH: (2ab + 2^31) >> 32
 *   rounds halves up and saturates the one overflow (INT32_MIN squared),
 *   and gemmlowp's nudge (1 - 2^30 below zero, then truncation towards zero)
 *   is that same floor;
 * - RoundingDivideByPOT rounds halves away from zero, VRSHR (VRSHL by a
 *   negative amount) rounds them up: for x < 0 and e > 0, rounding x - 1
 *   up gives q + (r > 2^(e-1)) with x = q 2^e + r, 0 <= r < 2^e, which is
 *   RoundingDivideByPOT; x - 1 saturates (VQADD) so INT32_MIN stays
 *   INT32_MIN, whose r is 0 either way; nothing is subtracted when e = 0.
 * Then + output offset (wrapping, as the portable int32 addition does in
 * practice) and the clamp.
 */
#include "ml_mve_s8.h"

#ifdef ML_MVE_S8_ENABLED
#include <arm_mve.h>

#include "ml_common.h"

/* ml_mul_by_qmult(acc, mult, shift) + offset, clamped to [lo, hi], per lane. */
static inline int32x4_t requant4(int32x4_t acc, int32x4_t mult, int32x4_t shift,
                                 int32_t offset, int32x4_t lo, int32x4_t hi) {
  const int32x4_t zero = vdupq_n_s32(0);
  const int32x4_t right = vminq_s32(shift, zero); /* -e, e >= 0 */
  int32x4_t x = vshlq_s32(acc, vmaxq_s32(shift, zero));
  x = vqrdmulhq_s32(x, mult);
  /* -1 where x < 0 and e > 0 */
  x = vqaddq_s32(x, vandq_s32(vshrq_n_s32(x, 31), vshrq_n_s32(right, 31)));
  x = vrshlq_s32(x, right);
  x = vaddq_n_s32(x, offset);
  return vminq_s32(vmaxq_s32(x, lo), hi);
}

/* The same with one multiplier and shift for the four lanes. */
static inline int32x4_t requant4_n(int32x4_t acc, int32_t mult, int32_t shift, int32_t offset,
                                   int32x4_t lo, int32x4_t hi) {
  int32x4_t x = vqrdmulhq_n_s32(vshlq_r_s32(acc, shift > 0 ? shift : 0), mult);
  if (shift < 0) x = vrshlq_n_s32(vqaddq_s32(x, vshrq_n_s32(x, 31)), shift);
  return vminq_s32(vmaxq_s32(vaddq_n_s32(x, offset), lo), hi);
}

/* -- fully connected ----------------------------------------------------------
 *
 * Four output rows at a time: each 16-byte load of the input serves the four
 * weight rows; the four sums are rescaled together and stored as four bytes.
 */

/* The sums of x against the rows w0..w3 (n values each) added to a[0..3]. */
static inline void dot_rows4(const int8_t *x, const int8_t *w0, const int8_t *w1,
                             const int8_t *w2, const int8_t *w3, int32_t n, int32_t a[4]) {
  int32_t a0 = a[0], a1 = a[1], a2 = a[2], a3 = a[3], i;
  for (i = n >> 4; i > 0; --i) {
    const int8x16_t xv = vldrbq_s8(x);
    a0 = vmladavaq_s8(a0, xv, vldrbq_s8(w0));
    a1 = vmladavaq_s8(a1, xv, vldrbq_s8(w1));
    a2 = vmladavaq_s8(a2, xv, vldrbq_s8(w2));
    a3 = vmladavaq_s8(a3, xv, vldrbq_s8(w3));
    x += 16, w0 += 16, w1 += 16, w2 += 16, w3 += 16;
  }
  if (n & 15) {
    const mve_pred16_t pr = vctp8q((uint32_t)(n & 15));
    const int8x16_t xv = vldrbq_z_s8(x, pr);
    a0 = vmladavaq_s8(a0, xv, vldrbq_z_s8(w0, pr));
    a1 = vmladavaq_s8(a1, xv, vldrbq_z_s8(w1, pr));
    a2 = vmladavaq_s8(a2, xv, vldrbq_z_s8(w2, pr));
    a3 = vmladavaq_s8(a3, xv, vldrbq_z_s8(w3, pr));
  }
  a[0] = a0, a[1] = a1, a[2] = a2, a[3] = a3;
}

/* sum of n int8 values, in int32. */
static inline int32_t sum_s8(const int8_t *x, int32_t n) {
  int32_t s = 0, i = 0;
  for (; i + 16 <= n; i += 16) s = vaddvaq_s8(s, vldrbq_s8(x + i));
  if (i < n) s = vaddvaq_s8(s, vldrbq_z_s8(x + i, vctp8q((uint32_t)(n - i))));
  return s;
}

int ml_mve_fully_connected_s8(const ml_fc_params_t *p, const int8_t *input,
                              const int8_t *filter, const int32_t *folded_bias,
                              const int32_t *mult, const int32_t *shift, int8_t *output) {
  const int32_t n = p->in_features, n_out = p->out_features, w_off = p->filter_offset;
  const int per_channel = p->per_channel != 0;
  const int32x4_t lo = vdupq_n_s32(p->act_min), hi = vdupq_n_s32(p->act_max);
  int32_t b, o;
  for (b = 0; b < p->batches; ++b) {
    const int8_t *x = input + (size_t)b * n;
    /* as the portable path: w_off * sum(x) is the one input-dependent
     * offset term, the others are in the folded bias */
    const int32_t x_term = w_off != 0 ? sum_s8(x, n) * w_off : 0;
    int8_t *out = output + (size_t)b * n_out;
    for (o = 0; o < n_out; o += 4) {
      const int32_t rows = n_out - o < 4 ? n_out - o : 4;
      const mve_pred16_t p32 = vctp32q((uint32_t)rows);
      const int8_t *w0 = filter + (size_t)o * n;
      /* rows past the last one repeat it; their results are not stored */
      const int8_t *w1 = rows > 1 ? w0 + n : w0, *w2 = rows > 2 ? w0 + 2 * n : w0;
      const int8_t *w3 = rows > 3 ? w0 + 3 * n : w0;
      int32_t a[4] = {x_term, x_term, x_term, x_term};
      int32x4_t acc, m, s;
      dot_rows4(x, w0, w1, w2, w3, n, a);
      acc = vaddq_s32(vldrwq_s32(a), vldrwq_z_s32(folded_bias + o, p32));
      if (per_channel) {
        m = vldrwq_z_s32(mult + o, p32);
        s = vldrwq_z_s32(shift + o, p32);
      } else {
        m = vdupq_n_s32(mult[0]);
        s = vdupq_n_s32(shift[0]);
      }
      vstrbq_p_s32(out + o, requant4(acc, m, s, p->output_offset, lo, hi), p32);
    }
  }
  return 1;
}

/* -- conv2d ---------------------------------------------------------------------
 *
 * ML_MVE_CONV_PIXELS consecutive output pixels (raster order) at a time:
 * their windows are copied into scratch as int8 rows of k values in the
 * weights' order [k_h][k_w][in_c] (padding as the input zero point, which
 * adds nothing once the bias is folded), all of them before any output of
 * the group is written; then each output channel's weight row runs over the
 * four rows (each 16-byte weight load serves four VMLADAVA), and the four
 * sums are rescaled together and scattered to the pixels' outputs.
 */

/* n bytes from src to dst, and n bytes of the value v at dst, 16 a turn
 * (the last turn tail-predicated): no library call for the short runs of
 * a window. */
static inline void copy_bytes(int8_t *dst, const int8_t *src, int32_t n) {
  for (; n > 0; n -= 16, dst += 16, src += 16) {
    const mve_pred16_t pr = vctp8q((uint32_t)n);
    vstrbq_p_s8(dst, vldrbq_z_s8(src, pr), pr);
  }
}

static inline void fill_bytes(int8_t *dst, int8_t v, int32_t n) {
  const int8x16_t vv = vdupq_n_s8(v);
  for (; n > 0; n -= 16, dst += 16) vstrbq_p_s8(dst, vv, vctp8q((uint32_t)n));
}

/* The window of the output pixel at (base_y, base_x) into dst (k bytes). */
static void gather_window(const ml_conv_params_t *p, const int8_t *in_b, int32_t base_y,
                          int32_t base_x, int8_t *dst) {
  const int32_t in_h = p->in_h, in_w = p->in_w, in_c = p->in_c, k_w = p->k_w;
  const int32_t dil_h = p->dil_h, dil_w = p->dil_w, run = k_w * in_c;
  const int8_t pad = (int8_t)(-p->input_offset);
  int32_t fy, fx, fx0, fx1;
  ml_conv_taps(base_x, dil_w, k_w, in_w, &fx0, &fx1);
  for (fy = 0; fy < p->k_h; ++fy, dst += run) {
    const int32_t iy = base_y + fy * dil_h;
    const int8_t *row = in_b + (size_t)iy * in_w * in_c;
    if (iy < 0 || iy >= in_h) {
      fill_bytes(dst, pad, run);
    } else if (dil_w == 1) {
      fill_bytes(dst, pad, fx0 * in_c);
      copy_bytes(dst + fx0 * in_c, row + (size_t)(base_x + fx0) * in_c, (fx1 - fx0) * in_c);
      fill_bytes(dst + fx1 * in_c, pad, (k_w - fx1) * in_c);
    } else {
      for (fx = 0; fx < k_w; ++fx) {
        if (fx < fx0 || fx >= fx1)
          fill_bytes(dst + fx * in_c, pad, in_c);
        else
          copy_bytes(dst + fx * in_c, row + (size_t)(base_x + fx * dil_w) * in_c, in_c);
      }
    }
  }
}

/* Every output channel of a group of n (1..4) pixels whose windows are the
 * rows of k values at win, win + k, ...: the sums of a weight row against
 * the four rows (each 16-byte weight load serves four VMLADAVA), rescaled
 * together and scattered to the pixels' outputs (out_c bytes apart). */
ML_ALWAYS_INLINE void conv_group(const ml_conv_params_t *p, const int8_t *win, int32_t k,
                                 int32_t n, const int8_t *filter, const int32_t *bias,
                                 const int32_t *mult, const int32_t *shift, int8_t *out,
                                 const int full) {
  const int32_t out_c = p->out_c, zp = p->output_offset;
  const int32x4_t lo = vdupq_n_s32(p->act_min), hi = vdupq_n_s32(p->act_max);
  const mve_pred16_t p32 = vctp32q((uint32_t)n);
  const uint32x4_t offsets = vmulq_n_u32(vidupq_n_u32(0, 1), (uint32_t)out_c);
  const int32_t body = k & ~15, rest = k - body;
  const mve_pred16_t tail = vctp8q((uint32_t)rest);
  /* rows past the n-th repeat the first; their results are not stored */
  const int8_t *x0 = win, *x1 = n > 1 ? win + k : win, *x2 = n > 2 ? win + 2 * k : win;
  const int8_t *x3 = n > 3 ? win + 3 * k : win;
  const int8_t *w = filter;
  int32_t c;
  for (c = 0; c < out_c; ++c, w += k) {
    const int8_t *wp = w, *p0 = x0, *p1 = x1, *p2 = x2, *p3 = x3;
    int32_t a0 = bias[c], a1 = a0, a2 = a0, a3 = a0, i;
    int32x4_t acc;
    for (i = body >> 4; i > 0; --i) {
      const int8x16_t wv = vldrbq_s8(wp);
      a0 = vmladavaq_s8(a0, vldrbq_s8(p0), wv);
      a1 = vmladavaq_s8(a1, vldrbq_s8(p1), wv);
      a2 = vmladavaq_s8(a2, vldrbq_s8(p2), wv);
      a3 = vmladavaq_s8(a3, vldrbq_s8(p3), wv);
      wp += 16, p0 += 16, p1 += 16, p2 += 16, p3 += 16;
    }
    if (rest) {
      const int8x16_t wv = vldrbq_z_s8(wp, tail);
      a0 = vmladavaq_s8(a0, vldrbq_z_s8(p0, tail), wv);
      a1 = vmladavaq_s8(a1, vldrbq_z_s8(p1, tail), wv);
      a2 = vmladavaq_s8(a2, vldrbq_z_s8(p2, tail), wv);
      a3 = vmladavaq_s8(a3, vldrbq_z_s8(p3, tail), wv);
    }
    acc = vsetq_lane_s32(a0, vdupq_n_s32(a1), 0);
    acc = vsetq_lane_s32(a2, acc, 2);
    acc = vsetq_lane_s32(a3, acc, 3);
    acc = requant4_n(acc, mult[c], shift[c], zp, lo, hi);
    if (full)
      vstrbq_scatter_offset_s32(out + c, offsets, acc);
    else
      vstrbq_scatter_offset_p_s32(out + c, offsets, acc, p32);
  }
}

/* The same for k <= 16: each pixel's window is one vector, loaded once for
 * all the channels. */
ML_ALWAYS_INLINE void conv_group_short(const ml_conv_params_t *p, const int8_t *win,
                                       int32_t k, int32_t n, const int8_t *filter,
                                       const int32_t *bias, const int32_t *mult,
                                       const int32_t *shift, int8_t *out, const int full) {
  const int32_t out_c = p->out_c, zp = p->output_offset;
  const int32x4_t lo = vdupq_n_s32(p->act_min), hi = vdupq_n_s32(p->act_max);
  const mve_pred16_t p32 = vctp32q((uint32_t)n), tail = vctp8q((uint32_t)k);
  const uint32x4_t offsets = vmulq_n_u32(vidupq_n_u32(0, 1), (uint32_t)out_c);
  const int8x16_t v0 = vldrbq_z_s8(win, tail);
  const int8x16_t v1 = n > 1 ? vldrbq_z_s8(win + k, tail) : v0;
  const int8x16_t v2 = n > 2 ? vldrbq_z_s8(win + 2 * k, tail) : v0;
  const int8x16_t v3 = n > 3 ? vldrbq_z_s8(win + 3 * k, tail) : v0;
  const int8_t *w = filter;
  int32_t c;
  for (c = 0; c < out_c; ++c, w += k) {
    const int8x16_t wv = vldrbq_z_s8(w, tail);
    const int32_t b = bias[c];
    int32x4_t acc = vsetq_lane_s32(vmladavaq_s8(b, v0, wv),
                                   vdupq_n_s32(vmladavaq_s8(b, v1, wv)), 0);
    acc = vsetq_lane_s32(vmladavaq_s8(b, v2, wv), acc, 2);
    acc = vsetq_lane_s32(vmladavaq_s8(b, v3, wv), acc, 3);
    acc = requant4_n(acc, mult[c], shift[c], zp, lo, hi);
    if (full)
      vstrbq_scatter_offset_s32(out + c, offsets, acc);
    else
      vstrbq_scatter_offset_p_s32(out + c, offsets, acc, p32);
  }
}

int ml_mve_conv2d_s8(const ml_conv_params_t *p, const int8_t *input, const int8_t *filter,
                     const int32_t *folded_bias, const int32_t *mult, const int32_t *shift,
                     int8_t *output, void *scratch) {
  const int32_t in_h = p->in_h, in_w = p->in_w, in_c = p->in_c, out_c = p->out_c;
  const int32_t out_h = p->out_h, out_w = p->out_w;
  const int32_t k = p->k_h * p->k_w * in_c;
  const int32_t pixels = p->batches * out_h * out_w;
  const int pointwise = ml_conv_is_pointwise(p);
  int8_t *win = (int8_t *)scratch;
  int32_t r0, b = 0, oy = 0, ox = 0;
  if (p->groups > 1) return 0;
  for (r0 = 0; r0 < pixels; r0 += ML_MVE_CONV_PIXELS) {
    const int32_t n = pixels - r0 < ML_MVE_CONV_PIXELS ? pixels - r0 : ML_MVE_CONV_PIXELS;
    int8_t *out = output + (size_t)r0 * out_c;
    int32_t i;
    /* every window of the group, before any output of it */
    if (pointwise) {
      copy_bytes(win, input + (size_t)r0 * in_c, n * in_c);
    } else {
      for (i = 0; i < n; ++i) {
        gather_window(p, input + (size_t)b * in_h * in_w * in_c,
                      oy * p->stride_h - p->pad_top, ox * p->stride_w - p->pad_left,
                      win + (size_t)i * k);
        if (++ox == out_w) {
          ox = 0;
          if (++oy == out_h) oy = 0, ++b;
        }
      }
    }
    if (k <= 16 && n == ML_MVE_CONV_PIXELS)
      conv_group_short(p, win, k, n, filter, folded_bias, mult, shift, out, 1);
    else if (k <= 16)
      conv_group_short(p, win, k, n, filter, folded_bias, mult, shift, out, 0);
    else if (n == ML_MVE_CONV_PIXELS)
      conv_group(p, win, k, n, filter, folded_bias, mult, shift, out, 1);
    else
      conv_group(p, win, k, n, filter, folded_bias, mult, shift, out, 0);
  }
  return 1;
}

/* -- depthwise conv2d (depth multiplier 1) --------------------------------------
 *
 * Pixel by pixel in raster order, eight channels at a time (input, weights
 * and output are contiguous along the channels): per tap inside the input a
 * widening load of eight inputs and eight weights to int16 (VLDRB.S16),
 * the input offset added (x + offset lies in [-255, 255]), and VMULLB/VMULLT,
 * the exact int32 products of the even and the odd channels, added to two
 * accumulators; taps outside the input add nothing. The last 1-7 channels
 * are tail-predicated. The even and odd results are interleaved back
 * (VMOVNT) and stored as eight bytes.
 *
 * A folded bias (bias + input_offset * the sum of all the channel's taps)
 * is unfolded first, once per call, into the caller's scratch: the same
 * int32 value as the plain bias.
 */

/* Channels c.. of one pixel: the sums over rows x cols taps from x (the
 * first tap inside the input, channel c) and w (its weights); st: the
 * steps from tap to tap along a row and from row to row, in the input
 * (st[0], st[1]) and the weights (st[2], st[3]). pr: the tail's lanes
 * (when tail). Specialized for constant cols and tail. */
ML_ALWAYS_INLINE void dw_taps8(const int8_t *x, const int8_t *w, const int32_t st[4],
                               int32_t rows, const int32_t cols, int16_t off, mve_pred16_t pr,
                               int32x4_t *even, int32x4_t *odd, const int tail) {
  int32x4_t ae = *even, ao = *odd;
  int32_t fy, fx;
  for (fy = 0; fy < rows; ++fy, x += st[1], w += st[3]) {
    const int8_t *xp = x, *wp = w;
    for (fx = 0; fx < cols; ++fx, xp += st[0], wp += st[2]) {
      const int16x8_t xv = vaddq_n_s16(tail ? vldrbq_z_s16(xp, pr) : vldrbq_s16(xp), off);
      const int16x8_t wv = tail ? vldrbq_z_s16(wp, pr) : vldrbq_s16(wp);
      ae = vaddq_s32(ae, vmullbq_int_s16(xv, wv));
      ao = vaddq_s32(ao, vmulltq_int_s16(xv, wv));
    }
  }
  *even = ae, *odd = ao;
}

/* Eight channels (n < 8 of them when tail) of one pixel: bias, the taps
 * (as dw_taps8), the rescale of the even and the odd channels (their
 * constants gathered two words apart) and the store. */
ML_ALWAYS_INLINE void dw_block8(const ml_conv_params_t *p, const int8_t *x, const int8_t *w,
                                const int32_t st[4], int32_t rows, const int32_t cols,
                                const int32_t *bias, const int32_t *mult, const int32_t *shift,
                                int8_t *out, int32_t n, const int tail) {
  const uint32x4_t idx = vidupq_n_u32(0, 2);
  const int32x4_t lo = vdupq_n_s32(p->act_min), hi = vdupq_n_s32(p->act_max);
  const int16_t off = (int16_t)p->input_offset;
  const int32_t zp = p->output_offset;
  const mve_pred16_t pr = vctp16q((uint32_t)n);
  const mve_pred16_t pe = vctp32q((uint32_t)((n + 1) >> 1)), po = vctp32q((uint32_t)(n >> 1));
  int32x4_t ae = vdupq_n_s32(0), ao = ae, re, ro;
  if (bias) {
    ae = tail ? vldrwq_gather_shifted_offset_z_s32(bias, idx, pe)
              : vldrwq_gather_shifted_offset_s32(bias, idx);
    ao = tail ? vldrwq_gather_shifted_offset_z_s32(bias + 1, idx, po)
              : vldrwq_gather_shifted_offset_s32(bias + 1, idx);
  }
  dw_taps8(x, w, st, rows, cols, off, pr, &ae, &ao, tail);
  if (tail) {
    re = requant4(ae, vldrwq_gather_shifted_offset_z_s32(mult, idx, pe),
                  vldrwq_gather_shifted_offset_z_s32(shift, idx, pe), zp, lo, hi);
    ro = requant4(ao, vldrwq_gather_shifted_offset_z_s32(mult + 1, idx, po),
                  vldrwq_gather_shifted_offset_z_s32(shift + 1, idx, po), zp, lo, hi);
    vstrbq_p_s16(out, vmovntq_s32(vreinterpretq_s16_s32(re), ro), pr);
  } else {
    re = requant4(ae, vldrwq_gather_shifted_offset_s32(mult, idx),
                  vldrwq_gather_shifted_offset_s32(shift, idx), zp, lo, hi);
    ro = requant4(ao, vldrwq_gather_shifted_offset_s32(mult + 1, idx),
                  vldrwq_gather_shifted_offset_s32(shift + 1, idx), zp, lo, hi);
    vstrbq_s16(out, vmovntq_s32(vreinterpretq_s16_s32(re), ro));
  }
}

int ml_mve_depthwise_conv2d_s8(const ml_conv_params_t *p, const int8_t *input,
                               const int8_t *filter, const int32_t *bias, const int32_t *mult,
                               const int32_t *shift, int8_t *output, const int32_t *rq,
                               int32_t *work) {
  const int32_t in_h = p->in_h, in_w = p->in_w, in_c = p->in_c, out_c = p->out_c;
  const int32_t k_h = p->k_h, k_w = p->k_w, dil_h = p->dil_h, dil_w = p->dil_w;
  const int32_t st[4] = {dil_w * in_c, dil_h * in_w * in_c, in_c, k_w * in_c};
  int32_t b, oy, ox, c;
  if (p->depth_multiplier > 1 || in_c != out_c) return 0;
  if (rq) { /* the 3x3 kernel's arguments, unpacked into work */
    const int32_t taps = k_h * k_w;
    const uint32x4_t idx3 = vmulq_n_u32(vidupq_n_u32(0, 1), 3);
    int32_t *plain = work, *m = work + out_c, *s = work + 2 * out_c;
    for (c = 0; c < out_c; c += 4) {
      const mve_pred16_t pr = vctp32q((uint32_t)(out_c - c));
      int32x4_t sum = vdupq_n_s32(0);
      int32_t t;
      /* bias - input_offset * (sum of the channel's taps), in int32 */
      for (t = 0; t < taps; ++t)
        sum = vaddq_s32(sum, vldrbq_z_s32(filter + (size_t)t * out_c + c, pr));
      vstrwq_p_s32(plain + c,
                   vsubq_s32(vldrwq_z_s32(bias + c, pr), vmulq_n_s32(sum, p->input_offset)),
                   pr);
      /* rq[3c] = multiplier, rq[3c + 1] = -shift - 1 */
      vstrwq_p_s32(m + c, vldrwq_gather_shifted_offset_z_s32(rq + 3 * c, idx3, pr), pr);
      vstrwq_p_s32(s + c, vmvnq_s32(vldrwq_gather_shifted_offset_z_s32(rq + 3 * c + 1, idx3, pr)),
                   pr);
    }
    bias = plain, mult = m, shift = s;
  }
  for (b = 0; b < p->batches; ++b) {
    const int8_t *in_b = input + (size_t)b * in_h * in_w * in_c;
    for (oy = 0; oy < p->out_h; ++oy) {
      const int32_t base_y = oy * p->stride_h - p->pad_top;
      int32_t fy0, fy1;
      ml_conv_taps(base_y, dil_h, k_h, in_h, &fy0, &fy1);
      for (ox = 0; ox < p->out_w; ++ox, output += out_c) {
        const int32_t base_x = ox * p->stride_w - p->pad_left;
        int32_t fx0, fx1, rows, cols;
        const int8_t *x0, *w0;
        ml_conv_taps(base_x, dil_w, k_w, in_w, &fx0, &fx1);
        rows = fy1 - fy0, cols = fx1 - fx0;
        x0 = in_b + ((size_t)(base_y + fy0 * dil_h) * in_w + (base_x + fx0 * dil_w)) * in_c;
        w0 = filter + ((size_t)fy0 * k_w + fx0) * out_c;
        for (c = 0; c + 8 <= out_c; c += 8) {
          if (cols == 3) /* 3x3 kernels away from the left and right edges */
            dw_block8(p, x0 + c, w0 + c, st, rows, 3, bias ? bias + c : NULL, mult + c,
                      shift + c, output + c, 8, 0);
          else
            dw_block8(p, x0 + c, w0 + c, st, rows, cols, bias ? bias + c : NULL, mult + c,
                      shift + c, output + c, 8, 0);
        }
        if (c < out_c)
          dw_block8(p, x0 + c, w0 + c, st, rows, cols, bias ? bias + c : NULL, mult + c,
                    shift + c, output + c, out_c - c, 1);
      }
    }
  }
  return 1;
}

#else
/* Without MVE there is nothing here (ISO C wants a declaration). */
typedef int ml_mve_s8_unused_t;
#endif /* ML_MVE_S8_ENABLED */
