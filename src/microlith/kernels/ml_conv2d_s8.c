/* microlith kernel library: 2-D convolution, int8 (see ml_conv2d_s8.h).
 *
 * Write order (microlith/plan/overlap.py relies on it to plan the output
 * over the dying input, starting `lead` bytes below it): output pixels in
 * raster order (batch, output row, output column), every channel of a pixel
 * written while that pixel is computed, and only that pixel's input window
 * read for it (the window is gathered into scratch first; the 1x1 path
 * reads each pixel's channels in place, in the same order). Any new path
 * must keep this order (no channel-outer loops, no reversed rows), and
 * input/output must never be declared `restrict`: they may overlap. The one
 * allowed tile is the DSP path's: a run of consecutive pixels whose windows
 * are all copied into scratch before any of their outputs is written (then
 * in any order among them), which reads earlier than raster order and
 * writes nothing sooner, so the same lead holds. Its last group may also
 * write the outputs of a few pixels before it again, the same bytes as
 * already there (nothing in between writes), which changes no memory.
 */
#include "ml_conv2d_s8.h"

#include <string.h>

#include "ml_common.h"
#include "ml_mve_s8.h"

/* (Helium cores, ML_MVE_S8_ENABLED, take ml_mve_conv2d_s8 instead.) */
#if defined(__ARM_FEATURE_DSP) && !defined(ML_PORTABLE) && !defined(ML_MVE_S8_ENABLED)
#define ML_CONV2D_S8_USE_DSP 1
#include <arm_acle.h>
#endif

size_t ml_conv2d_s8_scratch_size(const ml_conv_params_t *p) {
  const int32_t groups = p->groups > 1 ? p->groups : 1;
  const size_t k = (size_t)p->k_h * (size_t)p->k_w * (size_t)(p->in_c / groups);
  const size_t k4 = (k + 3u) & ~(size_t)3;
#ifdef ML_PORTABLE
  /* the portable path only (the project's kernel set says so): one int8
   * window, none for 1x1 */
  (void)k4;
  return ml_conv_is_pointwise(p) ? 0u : k;
#else
  /* The larger of the two paths' needs, whatever this build uses (the
   * planner does not know the core): the DSP path's 16 bytes of rescaling
   * constants per output channel, int16 columns of ML_CONV2D_S8_DSP_PIXELS
   * windows, ML_CONV2D_S8_DSP_BLOCK bytes of loop constants, one int8
   * window (none for 1x1) and, when k % 4 != 0, a zero-padded copy of the
   * last weight rows (k4 + 4 bytes); that covers the portable path's one
   * int8 window (none for 1x1). */
  return (size_t)16 * (size_t)p->out_c + (size_t)2 * ML_CONV2D_S8_DSP_PIXELS * k4 +
         ML_CONV2D_S8_DSP_BLOCK + (ml_conv_is_pointwise(p) ? 0u : k4) +
         ((k & 3u) != 0 ? k4 + 4u : 0u);
#endif
}

static inline int8_t requant(int32_t acc, int32_t mult, int32_t shift,
                             const ml_conv_params_t *p) {
  return (int8_t)ml_clamp_i32(ml_mul_by_qmult(acc, mult, shift) + p->output_offset, p->act_min,
                              p->act_max);
}

/* -- DSP path (cores with the Armv7E-M DSP extension) -------------------------
 *
 * Output pixels are taken ML_CONV2D_S8_DSP_PIXELS at a time, in raster
 * order. Their windows are first widened to int16 into scratch ("columns"),
 * all of them before any output of the group is written; then each output
 * channel's weight row runs over the group's columns with SMLAD (two 16-bit
 * products per instruction), every 32-bit load of four weights widened once
 * (SXTB16) for all the pixels of the group. The group's outputs are written
 * channel by channel. That keeps the promise above: every input byte the
 * group reads is read before any of its outputs is written, and each pixel's
 * outputs still only cover input that no later pixel reads, so the planner's
 * `lead` (microlith/plan/overlap.py) holds unchanged.
 *
 * Columns: window values x0..x3 at positions 4q..4q+3 (a "quad"; the last
 * one zero-filled) of pixel i of an n-pixel group are the two words
 * (x0, x2) and (x1, x3) at word 2 (q n + i): SXTB16 splits a word of four
 * weights into the same pairs, so each SMLAD multiplies matching values.
 * They hold 2x: the sums are 2 (x . w), exact in int32 for k < 2^16.
 *
 * Rescaling, per channel: when its shift is in [-22, -1], its multiplier is
 * not negative and |bias| + k 2^14 < 2^29 (so |bias + x . w| < 2^29), the
 * accumulators start at 2 bias and TFLM's rescale plus the output offset is
 * exactly (SMMLAR(2 acc, mult, 2^(e-1) + zp 2^e) - (acc < 0)) >> e, e =
 * -shift (rescale_fast). With shift in [-31, -23] (nearly dead channels)
 * the output offset is added after the shift instead (rescale_deep). Any
 * other channel starts at 0 and takes the rescale of x . w + bias (int32
 * wraparound as there) in C (requant_sums), unless its output is the same
 * for every input (const_channel): then it is stored without a dot product.
 *
 * At -O2 a full group (six pixels, no clamp beyond int8) runs its runs of
 * rescale_fast channels in one assembly loop (run_channels_*: dot product
 * from 2 bias on, rescale and six stores per channel, 14 registers, other
 * loop constants in a block of scratch after the columns); the other
 * channels go one at a time (run_channel_one: rescale_deep, or the sums
 * for requant_sums). The last group of fewer than six pixels is the six
 * that end with the last pixel, reusing the columns the previous group
 * left (see conv_dsp). Weight rows whose last quad would read past the
 * weights (k % 4 != 0) have a zero-padded copy in scratch. Windows inside
 * the input are copied without per-row checks, six of one output row at a
 * time when all six are inside (3 rows of 9 bytes, the 3x3 RGB first
 * layers, quad by quad); windows whose rows are one quad each (KWS's 10x4
 * taps of one channel) take one word load a row, padding shifted in.
 * -Os keeps one compact copy of each loop.
 */
#ifdef ML_CONV2D_S8_USE_DSP
/* The inline assembly needs up to 13 registers: never a frame pointer here
 * (the channel loop's 14 are in naked functions of their own). */
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC push_options
#pragma GCC optimize("omit-frame-pointer")
#endif

#define ML_DSP_PIX ML_CONV2D_S8_DSP_PIXELS
/* A flag on the table's e of the last channel of a run of the channel loop
 * (fast_group); the shifts by e read its low byte only. */
#define ML_RUN_LAST 256

/* Copies of the loops for constant flags, for speed; at -Os one copy. */
#if defined(__OPTIMIZE_SIZE__)
#define ML_DSP_SPECIALIZE 0
#else
#define ML_DSP_SPECIALIZE 1
#endif
/* The assembly channel loop (fast_group), at -O2 and the like only. */
#if defined(__OPTIMIZE__) && !defined(__OPTIMIZE_SIZE__)
#define ML_DSP_CHANNEL_LOOP 1
#else
#define ML_DSP_CHANNEL_LOOP 0
#endif

/* requant of n sums a[i] / 2 + b (doubled sums; int32 wraparound as
 * there), outputs oc bytes apart; faster where the multiplier is not
 * negative and 1 <= e <= 31, e = -shift (TFLite's int8 layers):
 * SaturatingRoundingDoublingHighMul(x, m) is v = floor((x m + 2^30) / 2^31)
 * for every x when m >= 0 (its nudge, 1 - 2^30 below zero, then truncation
 * towards zero, is this floor; it saturates only for m = INT32_MIN), and
 * RoundingDivideByPOT(v, e) is floor((v + 2^(e-1) - (v < 0)) / 2^e), where
 * (v < 0) may be (x < 0): if x < 0 and v = 0 both give 0. The two floors
 * make one: floor((x m + 2^30 + 2^(30+e) - (x < 0) 2^31) / 2^(31+e)), exact
 * in int64 (below 2^62 + 2^61), taken as the high word shifted by e - 1. */
static void requant_sums(const int32_t *a, int32_t n, int32_t b, int32_t m, int32_t s,
                         const ml_conv_params_t *p, int8_t *o, int32_t oc) {
  int32_t i;
  if (ML_DSP_SPECIALIZE && m >= 0 && s <= -1 && s >= -31) {
    const int32_t e1 = -s - 1, zp = p->output_offset, lo = p->act_min, hi = p->act_max;
    const int64_t cp = ((int64_t)1 << 30) + ((int64_t)1 << (31 + e1));
    const int64_t cn = cp - ((int64_t)1 << 31);
    for (i = 0; i < n; ++i, o += oc) {
      const int32_t x = (int32_t)((uint32_t)(a[i] >> 1) + (uint32_t)b);
      const int32_t v = (int32_t)(((int64_t)x * m + (x < 0 ? cn : cp)) >> 32) >> e1;
      *o = (int8_t)ml_clamp_i32(v + zp, lo, hi);
    }
    return;
  }
  for (i = 0; i < n; ++i, o += oc)
    *o = requant((int32_t)((uint32_t)(a[i] >> 1) + (uint32_t)b), m, s, p);
}

/* The first n (< 4) bytes at p as a word, zero above. */
static inline uint32_t ld_partial(const int8_t *p, int32_t n) {
  uint32_t v = 0;
  int32_t j;
  for (j = 0; j < n; ++j) v |= (uint32_t)(uint8_t)p[j] << (8 * j);
  return v;
}

/* n bytes from src to dst, and n bytes of the pattern pad4 (four equal
 * bytes) at dst, four at a time (unaligned words are fine here). */
static inline void copy(int8_t *dst, const int8_t *src, int32_t n) {
  for (; n >= 4; n -= 4, dst += 4, src += 4) {
    const uint32_t v = ml_ld32(src);
    memcpy(dst, &v, 4);
  }
  for (; n > 0; --n) *dst++ = *src++;
}

static inline void fill(int8_t *dst, int32_t n, uint32_t pad4) {
  for (; n >= 4; n -= 4, dst += 4) memcpy(dst, &pad4, 4);
  for (; n > 0; --n) *dst++ = (int8_t)pad4;
}

/* One quad of a column from a word of four int8, doubled if dbl. */
ML_ALWAYS_INLINE void put_quad(uint32_t v, uint32_t *col, const int dbl) {
  int32_t e = __sxtb16(v), o = ml_sxtb16_ror8(v);
  if (dbl) {
    e = __sadd16(e, e);
    o = __sadd16(o, o);
  }
  col[0] = (uint32_t)e;
  col[1] = (uint32_t)o;
}

/* n int8 values at src as consecutive quads of a column (`stride` words
 * apart), the last one zero-filled; returns where the next quad goes. */
ML_ALWAYS_INLINE uint32_t *to_column(const int8_t *src, int32_t n, uint32_t *col,
                                     int32_t stride, const int dbl) {
  const int8_t *const end = src + (n & ~3);
  for (; src != end; src += 4, col += stride) put_quad(ml_ld32(src), col, dbl);
  if (n & 3) {
    put_quad(ld_partial(src, n & 3), col, dbl);
    col += stride;
  }
  return col;
}

/* The columns of ML_DSP_PIX consecutive pixels of a pointwise convolution
 * (k bytes each from src on), doubled, quad by quad: the column words in
 * the order they are stored. */
ML_ALWAYS_INLINE void pointwise_columns(const int8_t *src, int32_t k, uint32_t *col) {
  const int8_t *const end = src + (k & ~3);
  const size_t k2 = (size_t)2 * k, k3 = (size_t)3 * k;
  for (; src != end; src += 4, col += 2 * ML_DSP_PIX) {
    const int8_t *const s3 = src + k3;
    put_quad(ml_ld32(src), col, 1);
    put_quad(ml_ld32(src + k), col + 2, 1);
    put_quad(ml_ld32(src + k2), col + 4, 1);
    put_quad(ml_ld32(s3), col + 6, 1);
    put_quad(ml_ld32(s3 + k), col + 8, 1);
    put_quad(ml_ld32(s3 + k2), col + 10, 1);
  }
  if (k & 3) {
    int32_t i;
    for (i = 0; i < ML_DSP_PIX; ++i, src += k, col += 2)
      put_quad(ld_partial(src, k & 3), col, 1);
  }
}

/* The same for windows of 3 rows of 9 bytes (k = 27: 3x3 taps of 3
 * channels, the RGB first layers of VWW and IC), its 7 quads assembled
 * from loads inside the rows (the last one zero above its 3 values). */
static inline uint32_t ld16(const int8_t *p) {
  uint16_t v;
  memcpy(&v, p, 2);
  return v;
}

ML_ALWAYS_INLINE void window27_to_column(const int8_t *r0, size_t step, uint32_t *col,
                                         int32_t stride) {
  const int8_t *const r1 = r0 + step, *const r2 = r1 + step;
  put_quad(ml_ld32(r0), col, 1);
  put_quad(ml_ld32(r0 + 4), col + stride, 1);
  put_quad((uint32_t)(uint8_t)r0[8] | ml_ld32(r1) << 8, col + 2 * stride, 1);
  put_quad(ml_ld32(r1 + 3), col + 3 * stride, 1);
  put_quad(ld16(r1 + 7) | ld16(r2) << 16, col + 4 * stride, 1);
  put_quad(ml_ld32(r2 + 2), col + 5 * stride, 1);
  put_quad(ld16(r2 + 6) | (uint32_t)(uint8_t)r2[8] << 16, col + 6 * stride, 1);
}

/* The window of an output pixel that lies inside the input (no padding,
 * dil_w == 1) as a column: `rows` runs of `run` bytes, `step` bytes apart
 * from src. run % 4 != 0: copied into patch first (whose bytes k..k4 are
 * zero), all rows but the last as whole words when run >= 3 (each
 * overwriting at most the start of the next row: nothing beyond k). */
ML_ALWAYS_INLINE void inside_to_column(const int8_t *src, int32_t run, int32_t rows,
                                       size_t step, uint32_t *col, int32_t stride,
                                       int8_t *patch, const int dbl) {
  if ((run & 3) == 0) {
    for (; rows > 0; --rows, src += step) col = to_column(src, run, col, stride, dbl);
  } else {
    const int32_t k4 = (rows * run + 3) & ~3;
    int8_t *dst = patch;
    if (run >= 3) {
      const int32_t words = (run + 3) >> 2;
      for (; rows > 1; --rows, src += step, dst += run) {
        int32_t j;
        for (j = 0; j < words; ++j) {
          const uint32_t v = ml_ld32(src + 4 * j);
          memcpy(dst + 4 * j, &v, 4);
        }
      }
    }
    for (; rows > 0; --rows, src += step, dst += run) copy(dst, src, run);
    to_column(patch, k4, col, stride, dbl);
  }
}

/* The window of the output pixel at (base_y, base_x) (groups == 1) as a
 * column, in the weights' order [k_h][k_w][in_c]; padding is the input zero
 * point (pad_quad: a column word of it, as stored), which adds nothing once
 * the bias is folded. in_c % 4 == 0: straight from the input, no quad
 * straddles two taps. Else gathered into patch (k bytes) first. */
ML_ALWAYS_INLINE void window_to_column(const ml_conv_params_t *p, const int8_t *in_b,
                                       int32_t base_y, int32_t base_x, uint32_t *col,
                                       int32_t stride, uint32_t pad_quad, int8_t *patch,
                                       const int dbl) {
  const int32_t in_h = p->in_h, in_w = p->in_w, in_c = p->in_c, k_w = p->k_w;
  const int32_t dil_w = p->dil_w;
  int32_t fy, fx, fx0, fx1, j;
  ml_conv_taps(base_x, dil_w, k_w, in_w, &fx0, &fx1);
  if ((in_c & 3) == 0) {
    const int32_t cq = in_c >> 2;
    for (fy = 0; fy < p->k_h; ++fy) {
      const int32_t iy = base_y + fy * p->dil_h;
      const int8_t *row = in_b + (size_t)iy * in_w * in_c;
      if (iy < 0 || iy >= in_h) {
        for (j = k_w * cq; j > 0; --j, col += stride) col[0] = col[1] = pad_quad;
        continue;
      }
      for (j = fx0 * cq; j > 0; --j, col += stride) col[0] = col[1] = pad_quad;
      if (dil_w == 1) {
        col = to_column(row + (size_t)(base_x + fx0) * in_c, (fx1 - fx0) * in_c, col, stride,
                        dbl);
      } else {
        for (fx = fx0; fx < fx1; ++fx)
          col = to_column(row + (size_t)(base_x + fx * dil_w) * in_c, in_c, col, stride, dbl);
      }
      for (j = (k_w - fx1) * cq; j > 0; --j, col += stride) col[0] = col[1] = pad_quad;
    }
  } else if (ML_DSP_SPECIALIZE && dil_w == 1 && ((k_w * in_c) & 3) == 0) {
    /* rows of whole quads (KWS: 1 channel, 4 taps): straight from the
     * input where a row lies inside it, else through patch */
    const int32_t run = k_w * in_c, left = fx0 * in_c, right = (k_w - fx1) * in_c;
    const uint32_t pad4 = 0x01010101u * (uint8_t)(int8_t)(-p->input_offset);
    for (fy = 0; fy < p->k_h; ++fy) {
      const int32_t iy = base_y + fy * p->dil_h;
      const int8_t *row = in_b + (size_t)iy * in_w * in_c;
      if (iy < 0 || iy >= in_h) {
        for (j = run >> 2; j > 0; --j, col += stride) col[0] = col[1] = pad_quad;
      } else if (left == 0 && right == 0) {
        col = to_column(row + (size_t)base_x * in_c, run, col, stride, dbl);
      } else {
        fill(patch, left, pad4);
        copy(patch + left, row + (size_t)(base_x + fx0) * in_c, run - left - right);
        fill(patch + run - right, right, pad4);
        col = to_column(patch, run, col, stride, dbl);
      }
    }
  } else {
    /* gathered into patch, whose bytes k..k4 are zero (conv_dsp) */
    const int8_t pad = (int8_t)(-p->input_offset);
    const uint32_t pad4 = 0x01010101u * (uint8_t)pad;
    const int32_t run = k_w * in_c, left = fx0 * in_c, right = (k_w - fx1) * in_c;
    const int32_t k = p->k_h * run;
    int8_t *dst = patch;
    if (ML_DSP_SPECIALIZE && dil_w == 1 && left == 0 && right == 0 && base_y >= 0 &&
        base_y + (p->k_h - 1) * p->dil_h < in_h) { /* inside: copies only */
      const int8_t *src = in_b + ((size_t)base_y * in_w + (size_t)base_x) * in_c;
      const size_t step = (size_t)p->dil_h * in_w * in_c;
      for (fy = 0; fy < p->k_h; ++fy, dst += run, src += step) copy(dst, src, run);
    } else {
      for (fy = 0; fy < p->k_h; ++fy, dst += run) {
        const int32_t iy = base_y + fy * p->dil_h;
        const int8_t *row = in_b + (size_t)iy * in_w * in_c;
        if (iy < 0 || iy >= in_h) {
          fill(dst, run, pad4);
        } else if (dil_w == 1) {
          fill(dst, left, pad4);
          copy(dst + left, row + (size_t)(base_x + fx0) * in_c, run - left - right);
          fill(dst + run - right, right, pad4);
        } else {
          for (fx = 0; fx < k_w; ++fx) {
            if (fx < fx0 || fx >= fx1)
              fill(dst + fx * in_c, in_c, pad4);
            else
              copy(dst + fx * in_c, row + (size_t)(base_x + fx * dil_w) * in_c, in_c);
          }
        }
      }
    }
    to_column(patch, (k + 3) & ~3, col, stride, dbl);
  }
}

/* Rows from src on, `step` bytes apart, one word each (SHIFT: moved by sh
 * and joined with gap), as put_quad(v, col, 1) quads of a six-pixel group's
 * column (48 bytes apart) from col up to stop (> col). */
#define ML_QUAD_ROWS(SHIFT)                                                                     \
  __asm__ volatile("1:\n\t"                                                                     \
                   "ldr %[v], [%[s]]\n\t"                                                       \
                   "add %[s], %[s], %[st]\n\t" SHIFT                                            \
                   "sxtb16 %[e], %[v]\n\t"                                                      \
                   "sxtb16 %[o], %[v], ror #8\n\t"                                              \
                   "sadd16 %[e], %[e], %[e]\n\t"                                                \
                   "sadd16 %[o], %[o], %[o]\n\t"                                                \
                   "strd %[e], %[o], [%[c]], #48\n\t"                                           \
                   "cmp %[c], %[stop]\n\t"                                                      \
                   "bne 1b\n\t"                                                                 \
                   : [v] "=&r"(v), [e] "=&r"(e), [o] "=&r"(o), [c] "+r"(col), [s] "+r"(src)     \
                   : [st] "r"(step), [stop] "r"(stop), [sh] "r"(sh), [gap] "r"(gap)             \
                   : "memory", "cc")
typedef char ml_quad_rows_need_six_pixels[ML_DSP_PIX == 6 ? 1 : -1];

/* The window of the output pixel at (base_y, base_x) as a column of a
 * six-pixel group when each of its rows is one quad (k_w in_c == 4 with
 * in_c % 4 != 0: KWS's first layer, 4 taps of 1 channel; dil_w == 1), an
 * input row holds at least 4 bytes and the window hangs over at most one
 * side of the input, by fewer than 4 bytes (left, right: the caller
 * checks): one word load a row, shifted in from the row's start or end
 * over the side, the gap filled with the zero point (pad4: four bytes of
 * it); rows outside the input are pad_quad. */
ML_ALWAYS_INLINE void quad_rows_to_column(const ml_conv_params_t *p, const int8_t *in_b,
                                          int32_t base_y, int32_t left, int32_t right,
                                          int32_t base_x, uint32_t *col, uint32_t pad_quad,
                                          uint32_t pad4) {
  const int32_t rb = p->in_w * p->in_c, k_h = p->k_h;
  const size_t step = (size_t)p->dil_h * (size_t)rb;
  int32_t fy, fy0, fy1;
  const int8_t *src;
  uint32_t *stop;
  ml_conv_taps(base_y, p->dil_h, k_h, p->in_h, &fy0, &fy1);
  for (fy = fy0; fy > 0; --fy, col += 2 * ML_DSP_PIX) col[0] = col[1] = pad_quad;
  src = in_b + (size_t)(base_y + fy0 * p->dil_h) * (size_t)rb;
  stop = col + 2 * ML_DSP_PIX * (fy1 - fy0);
  if (col != stop) {
    uint32_t v, e, o, sh = 0, gap = 0;
    if (left > 0) {
      sh = 8 * (uint32_t)left;
      gap = pad4 >> (32 - sh);
      ML_QUAD_ROWS("lsl %[v], %[v], %[sh]\n\torr %[v], %[v], %[gap]\n\t");
    } else if (right > 0) {
      sh = 8 * (uint32_t)right;
      gap = pad4 << (32 - sh);
      src += rb - 4;
      ML_QUAD_ROWS("lsr %[v], %[v], %[sh]\n\torr %[v], %[v], %[gap]\n\t");
    } else {
      src += base_x * p->in_c;
      ML_QUAD_ROWS("");
    }
  }
  for (fy = k_h - fy1; fy > 0; --fy, col += 2 * ML_DSP_PIX) col[0] = col[1] = pad_quad;
}
#undef ML_QUAD_ROWS

/* The SMLAD loop: quads of the weight row at w against the columns of an
 * n-pixel group at x, accumulators a0..a(n-1). */
#define ML_DSP_W                                                                                \
  "ldr %[w], [%[wp]], #4\n\t"                                                                   \
  "sxtb16 %[we], %[w]\n\t"                                                                      \
  "sxtb16 %[w], %[w], ror #8\n\t"
#define ML_DSP_PX(a)                                                                            \
  "ldrd %[xa], %[xb], [%[xp]], #8\n\t"                                                          \
  "smlad %[" #a "], %[we], %[xa], %[" #a "]\n\t"                                                \
  "smlad %[" #a "], %[w], %[xb], %[" #a "]\n\t"
#define ML_DSP_STEP1 ML_DSP_W ML_DSP_PX(a0)
#define ML_DSP_STEP2 ML_DSP_STEP1 ML_DSP_PX(a1)
#define ML_DSP_STEP3 ML_DSP_STEP2 ML_DSP_PX(a2)
#define ML_DSP_STEP4 ML_DSP_STEP3 ML_DSP_PX(a3)
#define ML_DSP_STEP5 ML_DSP_STEP4 ML_DSP_PX(a4)
#define ML_DSP_STEP6 ML_DSP_STEP5 ML_DSP_PX(a5)
#define ML_DSP_OPS1                                                                             \
  [wp] "+r"(wp), [xp] "+r"(x), [w] "=&r"(t0), [we] "=&r"(t1), [xa] "=&r"(t2), [xb] "=&r"(t3),   \
      [a0] "+r"(a0)
#define ML_DSP_OPS2 ML_DSP_OPS1, [a1] "+r"(a1)
#define ML_DSP_OPS3 ML_DSP_OPS2, [a2] "+r"(a2)
#define ML_DSP_OPS4 ML_DSP_OPS3, [a3] "+r"(a3)
#define ML_DSP_OPS5 ML_DSP_OPS4, [a4] "+r"(a4)
#define ML_DSP_OPS6 ML_DSP_OPS5, [a5] "+r"(a5)
/* The quads of the weight row from wp up to end, two a turn (entering the
 * loop at its second half when their number is odd). */
#define ML_DSP_RUN(STEP, OPS)                                                                   \
  __asm__ volatile("subs %[w], %[end], %[wp]\n\t"                                               \
                   "beq 3f\n\t"                                                                 \
                   "tst %[w], #4\n\t"                                                           \
                   "bne 2f\n\t"                                                                 \
                   "1:\n\t" STEP "2:\n\t" STEP "cmp %[wp], %[end]\n\t"                          \
                   "bne 1b\n\t"                                                                 \
                   "3:\n\t"                                                                     \
                   : OPS                                                                        \
                   : [end] "r"(end)                                                             \
                   : "memory", "cc")

/* a[i] += (kq quads of the weights at wp) . (column i), i < n: in C. */
ML_ALWAYS_INLINE void dot_columns_c(const int8_t *wp, const uint32_t *x, int32_t kq, int32_t n,
                                    int32_t a[ML_DSP_PIX]) {
  int32_t q, i;
  for (q = 0; q < kq; ++q, wp += 4) {
    const uint32_t v = ml_ld32(wp);
    const int32_t we = __sxtb16(v), wo = ml_sxtb16_ror8(v);
    for (i = 0; i < n; ++i, x += 2) {
      a[i] = __smlad(we, (int32_t)x[0], a[i]);
      a[i] = __smlad(wo, (int32_t)x[1], a[i]);
    }
  }
}

/* The same; for n <= 4 with the assembly loop, whose 11 registers
 * compilers find even with a frame pointer and little optimization
 * (full_group runs six pixels, 13 registers, with the frame pointer off). */
ML_ALWAYS_INLINE void dot_columns(const int8_t *wp, const uint32_t *x, int32_t kq, int32_t n,
                                  int32_t a[ML_DSP_PIX]) {
#if defined(__OPTIMIZE__)
  const int8_t *const end = wp + 4 * kq;
  uint32_t t0, t1, t2, t3;
  int32_t a0 = a[0], a1 = a[1], a2 = a[2], a3 = a[3];
  switch (n) {
    case 4: ML_DSP_RUN(ML_DSP_STEP4, ML_DSP_OPS4); break;
    case 3: ML_DSP_RUN(ML_DSP_STEP3, ML_DSP_OPS3); break;
    case 2: ML_DSP_RUN(ML_DSP_STEP2, ML_DSP_OPS2); break;
    case 1: ML_DSP_RUN(ML_DSP_STEP1, ML_DSP_OPS1); break;
    default: dot_columns_c(wp, x, kq, n, a); return;
  }
  a[0] = a0, a[1] = a1, a[2] = a2, a[3] = a3;
#else
  dot_columns_c(wp, x, kq, n, a);
#endif
}

/* TFLM's rescale of a sum a plus the output offset, given 2a, for -22 <=
 * shift <= -1, mult >= 0 and |a| < 2^29, with ra = 2^(e-1) + zp 2^e and
 * e = -shift: SMMLAR(2a, mult, ra) = ra + (a mult + 2^30) >> 31, which is
 * SaturatingRoundingDoublingHighMul(a, mult) (never saturating here; its
 * rounding towards zero of negative halves is this floor); then
 * RoundingDivideByPOT: + 2^(e-1), - 1 if negative, floor-shifted by e (its
 * sign is a's, or it is 0, when the -1 changes nothing). */
static inline int32_t rescale_fast(int32_t a2, int32_t mult, int32_t ra, int32_t e) {
  int32_t t;
  __asm__("smmlar %0, %1, %2, %3" : "=r"(t) : "r"(a2), "r"(mult), "r"(ra));
  return (t + (a2 >> 31)) >> e;
}

/* The same for -31 <= shift <= -23, where zp 2^e does not fit in int32:
 * ra = 2^(e-1), the output offset added after the shift. */
static inline int32_t rescale_deep(int32_t a2, int32_t mult, int32_t ra, int32_t e, int32_t zp) {
  return __ssat(((ml_smmlar(a2, mult, ra) + (a2 >> 31)) >> e) + zp, 8);
}

/* The per-channel parameters of rescale_fast, or 0 if channel c does not
 * qualify (see above; never with columns that are not doubled). */
ML_ALWAYS_INLINE int fast_channel(int32_t b, int32_t m, int32_t s, int32_t limit, int32_t zp,
                                  int32_t *ra) {
  if (m < 0 || s > -1 || s < -22 || b >= limit || b <= -limit) return 0;
  *ra = (1 << (-s - 1)) + zp * (1 << -s);
  return 1;
}

/* Whether channel c gives the same output for every input (then *v is
 * it): every sum x . w of int8 values lies within +-2^14 k, and TFLM's
 * rescale (then + zp, clamp) is monotone in its int32 sum when mult >= 0
 * and nothing shifts left, so one output at both ends of bias +- 2^14 k
 * (inside int32: no wraparound) is that output everywhere. Channels with a
 * huge bias and a tiny scale are like that (most of VWW's deeper ones);
 * their dot products are skipped. */
static int const_channel(int32_t b, int32_t m, int32_t s, int32_t k, const ml_conv_params_t *p,
                         int32_t *v) {
  const int64_t t = (int64_t)k << 14;
  int32_t lo;
  if (m < 0 || s > 0 || (int64_t)b - t < ML_INT32_MIN || (int64_t)b + t > ML_INT32_MAX) return 0;
  lo = requant((int32_t)((int64_t)b - t), m, s, p);
  if (lo != requant((int32_t)((int64_t)b + t), m, s, p)) return 0;
  *v = lo;
  return 1;
}

/* The weight rows that may run on over their last quad (k % 4 != 0)
 * without reading past the weights; the others (at most 3) have a
 * zero-padded copy in scratch ("tail"). */
static inline int32_t over_rows(int32_t k, int32_t out_c) {
  const int32_t over = (k & 3) == 0 ? out_c : out_c - (((k + 3) & ~3) - 1) / k;
  return over > 0 ? over : 0;
}

/* The parameter ra of rescale_deep, or 0 if channel c does not qualify
 * (mult < 0, shift outside [-31, -23] or |bias| too large, as above). */
ML_ALWAYS_INLINE int deep_channel(int32_t b, int32_t m, int32_t s, int32_t limit, int32_t *ra) {
  if (m < 0 || s > -23 || s < -31 || b >= limit || b <= -limit) return 0;
  *ra = 1 << (-s - 1);
  return 1;
}

/* Output channel c of an n-pixel group, any case: outputs at out + c, one
 * pixel every out_c bytes. */
static void one_channel(const ml_conv_params_t *p, const int8_t *filter, const int32_t *bias,
                        const int32_t *mult, const int32_t *shift, const int32_t *table,
                        const uint32_t *col, int32_t k, int32_t n, int32_t nstore, int8_t *out,
                        int dbl, int32_t c) {
  const int32_t out_c = p->out_c, kq = k >> 2, kq4 = (k + 3) >> 2;
  /* rows that may run on over the zero-filled last quad (reading into the
   * next row) */
  const int32_t over = (k & 3) == 0 ? out_c : out_c - (4 * kq4 - 1) / k;
  const int32_t limit = dbl ? (1 << 29) - k * (1 << 14) : 0;
  const int32_t b = bias[c], m = mult[c], s = shift[c];
  const int8_t *w = filter + (size_t)c * k;
  const uint32_t *x = col;
  int32_t a[ML_DSP_PIX], ra = 0, i;
  const int fast = dbl && fast_channel(b, m, s, limit, p->output_offset, &ra);
  int8_t *o = out + c;
  if (dbl && table[4 * c + 3] == 0 && table[4 * c] == 1) { /* const_channel */
    for (i = 0; i < nstore; ++i, o += out_c) *o = (int8_t)table[4 * c + 1];
    return;
  }
  for (i = 0; i < ML_DSP_PIX; ++i) a[i] = fast ? 2 * b : 0;
  if (c < over) {
    dot_columns(w, x, kq4, n, a);
  } else {
    dot_columns(w, x, kq, n, a);
    if (k & 3) { /* the last quad without reading past the weights */
      const uint32_t v = ld_partial(w + 4 * kq, k & 3);
      const int32_t we = __sxtb16(v), wo = ml_sxtb16_ror8(v);
      x += 2 * kq * n;
      for (i = 0; i < n; ++i, x += 2) {
        a[i] = __smlad(we, (int32_t)x[0], a[i]);
        a[i] = __smlad(wo, (int32_t)x[1], a[i]);
      }
    }
  }
  if (!fast && dbl) {
    requant_sums(a, nstore, b, m, s, p, o, out_c);
    return;
  }
  for (i = 0; i < nstore; ++i, o += out_c) {
    if (fast) {
      *o = (int8_t)ml_clamp_i32(__ssat(rescale_fast(a[i], m, ra, -s), 8), p->act_min,
                                p->act_max);
    } else {
      const int32_t dot = dbl ? a[i] >> 1 : a[i];
      *o = requant((int32_t)((uint32_t)dot + (uint32_t)b), m, s, p);
    }
  }
}

/* All output channels of a full group (ML_DSP_PIX pixels, doubled columns):
 * the common case, with the accumulators in registers; table: per channel
 * {2 bias, mult, ra, e} for rescale_fast, e = 0 where it does not apply.
 * full: no clamp beyond int8. */
ML_ALWAYS_INLINE void full_group(const ml_conv_params_t *p, const int8_t *filter,
                                 const int8_t *tail, const int32_t *bias, const int32_t *shift,
                                 const int32_t *table,
                                 const uint32_t *col, int32_t k, int8_t *out, const int32_t n,
                                 const int full) {
  const int32_t out_c = p->out_c, kq4 = (k + 3) >> 2, over = over_rows(k, out_c);
  const int32_t lo = p->act_min, hi = p->act_max;
  const int8_t *w = filter;
  int8_t *o0 = out;
  int32_t c = 0, stop = over;
again: /* channels up to over from the weights, then the rest from tail */
  for (; c < stop; ++c, table += 4, w += k, ++o0) {
    const int8_t *wp = w, *const end = w + 4 * kq4;
    const uint32_t *x = col;
    uint32_t t0, t1, t2, t3;
    int32_t a0, a1, a2, a3, a4, a5, m, ra, e;
    int8_t *o = o0;
    if (table[3] == 0 && table[0] == 1) { /* const_channel: its output, n times */
      int32_t i;
      for (i = 0; i < n; ++i, o += out_c) *o = (int8_t)table[1];
      continue;
    }
    a0 = a1 = a2 = a3 = a4 = a5 = table[0];
#if defined(__OPTIMIZE__)
    ML_DSP_RUN(ML_DSP_STEP6, ML_DSP_OPS6);
#else
    {
      int32_t a[ML_DSP_PIX];
      (void)end, (void)t0, (void)t1, (void)t2, (void)t3;
      a[0] = a[1] = a[2] = a[3] = a[4] = a[5] = a0;
      dot_columns_c(wp, x, kq4, ML_DSP_PIX, a);
      a0 = a[0], a1 = a[1], a2 = a[2], a3 = a[3], a4 = a[4], a5 = a[5];
    }
#endif
    /* read after the dot product (the assembly's memory clobber keeps them
     * there): not held, and spilled, across it */
    m = table[1], ra = table[2], e = table[3]; /* (ra: of rescale_fast channels) */
    if (ML_DSP_CHANNEL_LOOP && e > 0) e &= ML_RUN_LAST - 1;
    if (e == 0) { /* 2 (x . w): the portable rescale */
      const int32_t a[ML_DSP_PIX] = {a0, a1, a2, a3, a4, a5};
      requant_sums(a, n, bias[c], m, shift[c], p, o, out_c);
      continue;
    }
    if (ML_DSP_SPECIALIZE && e < 0) { /* rescale_deep (never at -Os: see conv_dsp) */
      const int32_t a[ML_DSP_PIX] = {a0, a1, a2, a3, a4, a5};
      int32_t i;
      for (i = 0; i < n; ++i, o += out_c)
        *o = (int8_t)ml_clamp_i32(rescale_deep(a[i], m, 1 << (-e - 1), -e, p->output_offset),
                                  lo, hi);
      continue;
    }
#if defined(__OPTIMIZE__)
    if (full && n == ML_DSP_PIX) { /* rescale_fast and store, six times */
      int32_t v;
#define ML_DSP_RQ(a)                                                                            \
  "smmlar %[v], %[" #a "], %[m], %[ra]\n\t"                                                     \
  "add %[v], %[v], %[" #a "], asr #31\n\t"                                                      \
  "asr %[v], %[v], %[e]\n\t"                                                                    \
  "ssat %[v], #8, %[v]\n\t"
#define ML_DSP_RQ3(x, y, z)                                                                     \
  __asm__ volatile(ML_DSP_RQ(x) "strb %[v], [%[o]]\n\t" ML_DSP_RQ(y)                           \
                   "strb %[v], [%[o], %[oc]]\n\t"                                               \
                   "add %[o], %[o], %[oc], lsl #1\n\t" ML_DSP_RQ(z) "strb %[v], [%[o]]\n\t"    \
                   "add %[o], %[o], %[oc]\n\t"                                                  \
                   : [v] "=&r"(v), [o] "+r"(o)                                                  \
                   : [x] "r"(x), [y] "r"(y), [z] "r"(z), [m] "r"(m), [ra] "r"(ra), [e] "r"(e), \
                     [oc] "r"(out_c)                                                            \
                   : "memory")
      /* three at a time: 9 registers, found at any optimization level */
      ML_DSP_RQ3(a0, a1, a2);
      ML_DSP_RQ3(a3, a4, a5);
#undef ML_DSP_RQ3
#undef ML_DSP_RQ
      continue;
    }
#endif
#define ML_DSP_OUT(a, i)                                                                        \
  do {                                                                                          \
    int32_t v = __ssat(rescale_fast(a, m, ra, e), 8);                                           \
    if (!full) v = ml_clamp_i32(v, lo, hi);                                                     \
    if (i < n) *o = (int8_t)v;                                                                  \
    o += out_c;                                                                                 \
  } while (0)
    ML_DSP_OUT(a0, 0);
    ML_DSP_OUT(a1, 1);
    ML_DSP_OUT(a2, 2);
    ML_DSP_OUT(a3, 3);
    ML_DSP_OUT(a4, 4);
    ML_DSP_OUT(a5, 5);
#undef ML_DSP_OUT
  }
  if (c < out_c) {
    w = tail, stop = out_c;
    goto again;
  }
}

#if ML_DSP_CHANNEL_LOOP
/* The loop constants of run_channels, at the end of the columns (the SMLAD
 * loop leaves its column pointer there, which is also where it stops):
 * byte offsets. */
#define ML_BLK_COL 0   /* the columns */
#define ML_BLK_DELTA 8 /* k - 4 kq4: from where a row's dot product stops to the next row */
#define ML_BLK_OUT 12  /* out - (table >> 4) - 1: + (a table entry's end >> 4) is its output */
#define ML_BLK_OC 16   /* out_c: from one pixel's output to the next */
#define ML_BLK_WP 28   /* the weight pointer, kept while rescale_deep runs */
#define ML_BLK_ACC 32  /* the six sums of a channel that stopped the loop */
#define ML_BLK_ZP 56   /* the output offset, for rescale_deep */
/* run_channels is written for fixed registers, in functions of their own
 * without a frame (naked: their own push and pop), so that all 14 are free
 * at any optimization level, frame pointer or not: r0 blk (then the
 * columns), r1 the weights, r2 the table entry, r3/r4 a word of weights
 * split by SXTB16 (then mult, ra), r5/r6 two column words (then e, the
 * output pointer), r7 where the columns end (blk; then each output), r8-r12
 * and lr the six sums. */
#define ML_RUN_W                                                                                \
  "ldr r3, [r1], #4\n\t"                                                                        \
  "sxtb16 r4, r3\n\t"                                                                           \
  "sxtb16 r3, r3, ror #8\n\t"
#define ML_RUN_PX(a)                                                                            \
  "ldrd r5, r6, [r0], #8\n\t"                                                                   \
  "smlad " a ", r4, r5, " a "\n\t"                                                              \
  "smlad " a ", r3, r6, " a "\n\t"
/* the first quad: the sums start at 2 bias, loaded into lr (the last sum) */
#define ML_RUN_PXB(a)                                                                           \
  "ldrd r5, r6, [r0], #8\n\t"                                                                   \
  "smlad " a ", r4, r5, lr\n\t"                                                                 \
  "smlad " a ", r3, r6, " a "\n\t"
#define ML_RUN_STEP                                                                             \
  ML_RUN_W ML_RUN_PX("r8") ML_RUN_PX("r9") ML_RUN_PX("r10") ML_RUN_PX("r11") ML_RUN_PX("r12")   \
      ML_RUN_PX("lr")
#define ML_RUN_BIAS                                                                             \
  ML_RUN_W ML_RUN_PXB("r8") ML_RUN_PXB("r9") ML_RUN_PXB("r10") ML_RUN_PXB("r11")                \
      ML_RUN_PXB("r12") ML_RUN_PX("lr")
/* rescale_fast (mult r3, ra r4, e r5) of sum a into r7; rescale_deep with
 * zp in r1 */
#define ML_RUN_RQX(a)                                                                           \
  "smmlar r7, " a ", r3, r4\n\t"                                                                \
  "add r7, r7, " a ", asr #31\n\t"                                                              \
  "asr r7, r7, r5\n\t"                                                                          \
  "ssat r7, #8, r7\n\t"
#define ML_RUN_RQD(a)                                                                           \
  "smmlar r7, " a ", r3, r4\n\t"                                                                \
  "add r7, r7, " a ", asr #31\n\t"                                                              \
  "asr r7, r7, r5\n\t"                                                                          \
  "add r7, r7, r1\n\t"                                                                          \
  "ssat r7, #8, r7\n\t"
/* The six outputs of a channel: rescaled by RQ, stored out_c (r8, from
 * blk) bytes apart from r6 on (four at r6 + out_c 2^j, two after one step
 * of out_c). Nothing here sets the flags. */
#define ML_RUN_STORE6(RQ)                                                                       \
  RQ("r8") "strb r7, [r6]\n\t"                                                                  \
  "ldr r8, [r0, #16]\n\t"                                                                       \
  RQ("r9") "strb r7, [r6, r8]\n\t"                                                              \
  RQ("r10") "strb r7, [r6, r8, lsl #1]\n\t"                                                     \
  RQ("r12") "strb r7, [r6, r8, lsl #2]\n\t"                                                     \
  "add r6, r6, r8\n\t"                                                                          \
  RQ("r11") "strb r7, [r6, r8, lsl #1]\n\t"                                                     \
  RQ("lr") "strb r7, [r6, r8, lsl #2]\n\t"

/* Channels of a full group (six pixels, doubled columns, no clamp beyond
 * int8) with their weight rows from wp on, from the table entry tp on, dot
 * product, rescale_fast and stores in one assembly loop, up to the channel
 * whose e has ML_RUN_LAST (the shift reads only e's low byte); returns the
 * table entry after the last channel done. ENTRY runs after the first
 * quad, LOOP runs the rest up to the end of the columns (blk), DELTA moves
 * wp on to the next row. The other channels but const_channel's run one at
 * a time (CHECK, ONE): rescale_deep (e < 0), or (e == 0) stop after the dot
 * product, leaving the sums at blk[ACC] and returning the channel's entry. */
#define ML_RUN_FUNCTION(name, ENTRY, LOOP, DELTA, CHECK, ONE)                                   \
  __attribute__((naked, noinline)) static int32_t *name(                                       \
      uint32_t *blk __attribute__((unused)), const int8_t *wp __attribute__((unused)),          \
      int32_t *tp __attribute__((unused))) {                                                    \
    __asm__ volatile("push {r4-r11, lr}\n\t"                                                    \
                     "1:\n\t"                                                                   \
                     "ldr lr, [r2], #16\n\t"                                                    \
                     "mov r7, r0\n\t"                                                           \
                     "ldr r0, [r0]\n\t" ML_RUN_BIAS ENTRY LOOP DELTA                            \
                     "ldr r5, [r2, #-4]\n\t" CHECK                                              \
                     "ldrd r3, r4, [r2, #-12]\n\t"                                              \
                     "ldr r6, [r0, #12]\n\t"                                                    \
                     "add r6, r6, r2, lsr #4\n\t" ML_RUN_STORE6(ML_RUN_RQX) ONE                 \
                     "mov r0, r2\n\t"                                                           \
                     "pop {r4-r11, pc}\n\t");                                                   \
  }
/* runs: the flags of the tst last until the branch back (nothing between sets them) */
#define ML_RUN_TEST "tst r5, #256\n\t"
#define ML_RUN_NEXT "beq 1b\n\t"
#define ML_RUN_CHECK                                                                            \
  "cmp r5, #0\n\t"                                                                              \
  "ble 7f\n\t"
#define ML_RUN_ONE                                                                              \
  "b 9f\n\t"                                                                                    \
  "7:\n\t" /* e == 0: out; rescale_deep: e = -table[3], ra = 2^(e-1), zp from blk */            \
  "beq 8f\n\t"                                                                                  \
  "rsb r5, r5, #0\n\t"                                                                          \
  "ldr r3, [r2, #-12]\n\t"                                                                      \
  "mov r4, #1\n\t"                                                                              \
  "sub r6, r5, #1\n\t"                                                                          \
  "lsl r4, r4, r6\n\t"                                                                          \
  "str r1, [r0, #28]\n\t"                                                                       \
  "ldr r1, [r0, #56]\n\t"                                                                       \
  "ldr r6, [r0, #12]\n\t"                                                                       \
  "add r6, r6, r2, lsr #4\n\t" ML_RUN_STORE6(ML_RUN_RQD)                                        \
  "ldr r1, [r0, #28]\n\t"                                                                       \
  "b 9f\n\t"                                                                                    \
  "8:\n\t"                                                                                      \
  "sub r2, r2, #16\n\t"                                                                         \
  "strd r8, r9, [r0, #32]\n\t"                                                                  \
  "strd r10, r11, [r0, #40]\n\t"                                                                \
  "strd r12, lr, [r0, #48]\n\t"                                                                 \
  "9:\n\t"
/* The quads after the first: four a turn when their number is a multiple
 * of 4 after one or three more (run_quads 2 or 4); else two a turn,
 * entered at the second half when odd, none when none are left, and wp
 * moved on by k - 4 kq4 after them (the general case, run_quads 0). */
#define ML_RUN_LOOP4                                                                            \
  "2:\n\t" ML_RUN_STEP ML_RUN_STEP ML_RUN_STEP ML_RUN_STEP                                      \
  "cmp r0, r7\n\t"                                                                              \
  "bne 2b\n\t"
#define ML_RUN_ENTRY2                                                                           \
  "subs r3, r7, r0\n\t"                                                                         \
  "beq 4f\n\t"                                                                                  \
  "tst r3, #16\n\t"                                                                             \
  "bne 3f\n\t"
#define ML_RUN_LOOP2                                                                            \
  "2:\n\t" ML_RUN_STEP "3:\n\t" ML_RUN_STEP                                                     \
  "cmp r0, r7\n\t"                                                                              \
  "bne 2b\n\t"                                                                                  \
  "4:\n\t"
#define ML_RUN_DELTA                                                                            \
  "ldr r3, [r0, #8]\n\t"                                                                        \
  "add r1, r1, r3\n\t"

ML_RUN_FUNCTION(run_channels_q2, ML_RUN_STEP, ML_RUN_LOOP4, "", ML_RUN_TEST, ML_RUN_NEXT)
ML_RUN_FUNCTION(run_channels_q4, ML_RUN_STEP ML_RUN_STEP ML_RUN_STEP, ML_RUN_LOOP4, "",
                ML_RUN_TEST, ML_RUN_NEXT)
ML_RUN_FUNCTION(run_channels_q0, ML_RUN_ENTRY2, ML_RUN_LOOP2, ML_RUN_DELTA, ML_RUN_TEST,
                ML_RUN_NEXT)
ML_RUN_FUNCTION(run_channel_one, ML_RUN_ENTRY2, ML_RUN_LOOP2, ML_RUN_DELTA, ML_RUN_CHECK,
                ML_RUN_ONE)
#undef ML_RUN_FUNCTION
#undef ML_RUN_TEST
#undef ML_RUN_NEXT
#undef ML_RUN_CHECK
#undef ML_RUN_ONE
#undef ML_RUN_LOOP4
#undef ML_RUN_ENTRY2
#undef ML_RUN_LOOP2
#undef ML_RUN_DELTA
#undef ML_RUN_STORE6
#undef ML_RUN_BIAS
#undef ML_RUN_STEP
#undef ML_RUN_PXB
#undef ML_RUN_PX
#undef ML_RUN_W
#undef ML_RUN_RQX
#undef ML_RUN_RQD

/* How the channel loop runs the quads of a row of k weights: 2 (one more
 * quad, then four a turn), 4 (three more, then four a turn) or 0 (the
 * general case). */
static inline int run_quads(int32_t k) {
  const int32_t kq4 = (k + 3) >> 2;
  if ((k & 3) != 0) return 0;
  if ((kq4 & 3) == 2 && kq4 >= 6) return 2;
  if ((kq4 & 3) == 0 && kq4 >= 8) return 4;
  return 0;
}

/* All output channels of a full group, as full_group(..., ML_DSP_PIX, 1):
 * runs of rescale_fast channels in run_channels, the others (chained from
 * first_special on at table[4 c + 2]) one at a time. */
static void fast_group(const ml_conv_params_t *p, const int8_t *filter, const int8_t *tail,
                       const int32_t *bias, const int32_t *mult, const int32_t *shift,
                       int32_t *table, uint32_t *col, int32_t k, int8_t *out,
                       int32_t first_special) {
  const int32_t out_c = p->out_c, kq4 = (k + 3) >> 2, over = over_rows(k, out_c);
  uint32_t *blk = col + 2 * ML_DSP_PIX * kq4;
  const int quads = run_quads(k);
  int32_t c = 0, stop = over, ns = first_special; /* the next special channel */
  blk[0] = (uint32_t)(uintptr_t)col;
  blk[2] = (uint32_t)(k - 4 * kq4);
  blk[3] = (uint32_t)(uintptr_t)out - ((uint32_t)(uintptr_t)table >> 4) - 1u;
  blk[4] = (uint32_t)out_c;
  blk[ML_BLK_ZP / 4] = (uint32_t)p->output_offset;
  for (;;) {
    while (c < stop) {
      const int8_t *wp = c < over ? filter + (size_t)c * k : tail + (size_t)(c - over) * k;
      int32_t *tp = table + 4 * c;
      if (__builtin_expect(c == ns, 0)) {
        ns = tp[2];
        if (tp[0] == 1 && tp[3] == 0) { /* const_channel: its output, six times */
          int8_t *o = out + c;
          const int8_t v = (int8_t)tp[1];
          o[0] = v, o[out_c] = v, o[2 * out_c] = v, o[3 * out_c] = v, o[4 * out_c] = v;
          o[5 * out_c] = v;
        } else {
          if (run_channel_one(blk, wp, tp) == tp) /* 2 (x . w) at blk[ACC] */
            requant_sums((const int32_t *)(blk + ML_BLK_ACC / 4), ML_DSP_PIX, bias[c], mult[c],
                         shift[c], p, out + c, out_c);
        }
        ++c;
        continue;
      }
      {
        const int32_t end = ns < stop ? ns : stop; /* its e has ML_RUN_LAST (conv_dsp) */
        if (quads == 2)
          run_channels_q2(blk, wp, tp);
        else if (quads == 4)
          run_channels_q4(blk, wp, tp);
        else
          run_channels_q0(blk, wp, tp);
        c = end;
      }
    }
    if (stop == out_c) break;
    stop = out_c;
  }
}
#endif /* ML_DSP_CHANNEL_LOOP */

/* Returns 0 (having written nothing) when this path does not apply. */
static int conv_dsp(const ml_conv_params_t *p, const int8_t *input, const int8_t *filter,
                    const int32_t *bias, const int32_t *mult, const int32_t *shift,
                    int8_t *output, void *scratch) {
  const int32_t in_h = p->in_h, in_w = p->in_w, in_c = p->in_c, out_c = p->out_c;
  const int32_t out_h = p->out_h, out_w = p->out_w;
  const int32_t k = p->k_h * p->k_w * in_c, k4 = (k + 3) & ~3;
  const int32_t pixels = p->batches * out_h * out_w;
  const int pointwise = ml_conv_is_pointwise(p);
  const int full = p->act_min <= -128 && p->act_max >= 127;
  const int dbl = k < (1 << 15);
  const int32_t pad2 = -p->input_offset * (dbl ? 2 : 1);
  const uint32_t pad_quad = ((uint32_t)pad2 & 0xFFFFu) | ((uint32_t)pad2 << 16);
  int32_t *table = (int32_t *)scratch;
  uint32_t *col = (uint32_t *)(table + 4 * out_c);
  int8_t *patch = (int8_t *)col + (size_t)2 * ML_DSP_PIX * k4 + ML_CONV2D_S8_DSP_BLOCK;
  int8_t *tail = patch + (pointwise ? 0 : k4);
  /* windows inside the input: from (y, x) with y <= y_last, x <= x_last */
  const int32_t y_last = in_h - 1 - (p->k_h - 1) * p->dil_h, x_last = in_w - p->k_w;
  const int32_t run = p->k_w * in_c;
  const size_t step = (size_t)p->dil_h * in_w * in_c;
  /* quad_rows_to_column applies (where the window hangs over < 4 bytes) */
  const int quad_rows = run == 4 && (in_c & 3) != 0 && p->dil_w == 1 && in_w * in_c >= 4;
  const uint32_t pad4 = 0x01010101u * (uint8_t)(int8_t)(-p->input_offset);
  int32_t r0, b = 0, oy = 0, ox = 0, first_special = out_c;
  if (p->groups > 1 || ((uintptr_t)scratch & 3u) != 0) return 0;
  if (k & 3) { /* the last rows, zero-padded, for full_group */
    const int32_t over = over_rows(k, out_c), nb = (out_c - over) * k;
    memcpy(tail, filter + (size_t)over * k, (size_t)nb);
    memset(tail + nb, 0, (size_t)(k4 + 4 - nb));
  }
  if (!pointwise) memset(patch + k, 0, (size_t)(k4 - k));
  if (dbl) { /* the per-channel constants of rescale_fast, once */
    const int32_t limit = (1 << 29) - k * (1 << 14);
    int32_t c, ra, *t = table, *last = NULL;
    for (c = 0; c < out_c; ++c, t += 4) {
      t[1] = mult[c];
      t[3] = fast_channel(bias[c], mult[c], shift[c], limit, p->output_offset, &t[2]) ? -shift[c]
            : ML_DSP_SPECIALIZE && deep_channel(bias[c], mult[c], shift[c], limit, &ra) ? shift[c]
                                                                                   : 0;
      t[0] = t[3] ? 2 * bias[c] : 0; /* else the bias is added to x . w afterwards */
      if (t[3] == 0 && const_channel(bias[c], mult[c], shift[c], k, p, &t[1]))
        t[0] = 1; /* {1, output, next, 0} */
      if (t[3] <= 0) { /* not rescale_fast: t[2] chains them for fast_group */
        if (ML_DSP_CHANNEL_LOOP && c > 0 && t[-1] > 0) t[-1] |= ML_RUN_LAST;
        if (last != NULL)
          last[2] = c;
        else
          first_special = c;
        last = t;
      }
    }
    if (last != NULL) last[2] = out_c;
#if ML_DSP_CHANNEL_LOOP
    { /* the last rescale_fast channel of each run of fast_group's: before a
       * special one (above), the last one, the last one of the weights */
      const int32_t over = over_rows(k, out_c);
      if (table[4 * out_c - 1] > 0) table[4 * out_c - 1] |= ML_RUN_LAST;
      if (over > 0 && table[4 * over - 1] > 0) table[4 * over - 1] |= ML_RUN_LAST;
    }
#endif
  }
  for (r0 = 0; r0 < pixels;) {
    /* six pixels, or what is left: four or five in columns for six (the
     * others zero), fewer on their own (see dot_columns) */
    const int32_t n = pixels - r0 >= ML_DSP_PIX ? ML_DSP_PIX : pixels - r0;
    /* a last group of fewer than six pixels after full ones, in the channel
     * loop: the six pixels that end with the last one, the columns of the
     * `back` ones the previous group computed moved to the front (it left
     * them at n..5); their outputs are written again with the same bytes,
     * which changes nothing (nothing has written there since) */
    const int32_t back =
        ML_DSP_CHANNEL_LOOP && dbl && full && n < ML_DSP_PIX && r0 >= ML_DSP_PIX
            ? ML_DSP_PIX - n
            : 0;
    const int32_t cols = dbl && (n >= 4 || back) ? ML_DSP_PIX : n;
    int8_t *out = output + (size_t)(r0 - back) * out_c;
    uint32_t *const c0 = col + 2 * back; /* the new pixels' columns */
    int32_t i, q;
    if (back) { /* word by word, forwards: each word is read before it is overwritten */
      uint32_t *d = col, *const d_end = col + 2 * ML_DSP_PIX * (k4 >> 2);
      for (; d != d_end; d += 2 * ML_DSP_PIX)
        for (i = 0; i < 2 * back; ++i) d[i] = d[i + 2 * n];
    }
    for (i = n + back; i < cols; ++i)
      for (q = 0; q < (k4 >> 2); ++q) col[2 * (q * cols + i)] = col[2 * (q * cols + i) + 1] = 0;
    /* every window of the group, before any output of it */
    i = 0;
    if (ML_DSP_SPECIALIZE && pointwise && dbl && n == ML_DSP_PIX) {
      pointwise_columns(input + (size_t)r0 * in_c, k, col);
      i = n;
    } else if (ML_DSP_SPECIALIZE && !pointwise && dbl && n == ML_DSP_PIX && p->dil_w == 1 &&
               ox + ML_DSP_PIX <= out_w) {
      /* six windows of one output row, all inside the input: no checks */
      const int32_t by = oy * p->stride_h - p->pad_top, bx = ox * p->stride_w - p->pad_left;
      if (by >= 0 && by <= y_last && bx >= 0 && bx + (ML_DSP_PIX - 1) * p->stride_w <= x_last) {
        const int8_t *src = input + (((size_t)b * in_h + (size_t)by) * in_w + (size_t)bx) * in_c;
        const size_t sx = (size_t)p->stride_w * in_c;
        if (run == 9 && p->k_h == 3) {
          for (; i < ML_DSP_PIX; ++i, src += sx)
            window27_to_column(src, step, col + 2 * i, 2 * ML_DSP_PIX);
        } else {
          for (; i < ML_DSP_PIX; ++i, src += sx)
            inside_to_column(src, run, p->k_h, step, col + 2 * i, 2 * ML_DSP_PIX, patch, 1);
        }
        ox += ML_DSP_PIX;
        if (ox == out_w) {
          ox = 0;
          if (++oy == out_h) oy = 0, ++b;
        }
      }
    }
    for (; i < n; ++i) {
      if (pointwise) {
        const int8_t *src = input + (size_t)(r0 + i) * in_c;
        if (ML_DSP_SPECIALIZE && dbl)
          to_column(src, k, c0 + 2 * i, 2 * cols, 1);
        else
          to_column(src, k, c0 + 2 * i, 2 * cols, dbl);
      } else {
        const int8_t *in_b = input + (size_t)b * in_h * in_w * in_c;
        const int32_t by = oy * p->stride_h - p->pad_top, bx = ox * p->stride_w - p->pad_left;
        const int32_t left = -bx * in_c, right = (bx + p->k_w - in_w) * in_c;
        if (ML_DSP_SPECIALIZE && quad_rows && dbl && cols == ML_DSP_PIX && left < 4 &&
            right < 4) {
          quad_rows_to_column(p, in_b, by, left, right, bx, c0 + 2 * i, pad_quad, pad4);
        } else if (ML_DSP_SPECIALIZE && p->dil_w == 1 && by >= 0 && by <= y_last && bx >= 0 &&
                   bx <= x_last) {
          const int8_t *src = in_b + ((size_t)by * in_w + (size_t)bx) * in_c;
          if (ML_DSP_SPECIALIZE && dbl && run == 9 && p->k_h == 3)
            window27_to_column(src, step, c0 + 2 * i, 2 * cols);
          else if (ML_DSP_SPECIALIZE && dbl)
            inside_to_column(src, run, p->k_h, step, c0 + 2 * i, 2 * cols, patch, 1);
          else
            inside_to_column(src, run, p->k_h, step, c0 + 2 * i, 2 * cols, patch, dbl);
        } else if (ML_DSP_SPECIALIZE && dbl)
          window_to_column(p, in_b, by, bx, c0 + 2 * i, 2 * cols, pad_quad, patch, 1);
        else
          window_to_column(p, in_b, by, bx, c0 + 2 * i, 2 * cols, pad_quad, patch, dbl);
        if (++ox == out_w) {
          ox = 0;
          if (++oy == out_h) oy = 0, ++b;
        }
      }
    }
    if (ML_DSP_CHANNEL_LOOP && (n == ML_DSP_PIX || back) && dbl && full) {
#if ML_DSP_CHANNEL_LOOP
      fast_group(p, filter, tail, bias, mult, shift, table, col, k, out, first_special);
#else
      (void)first_special; /* full_group and one_channel find them in the table */
#endif
    } else if (ML_DSP_SPECIALIZE && n == ML_DSP_PIX && dbl && full) {
      full_group(p, filter, tail, bias, shift, table, col, k, out, ML_DSP_PIX, 1);
    } else if (cols == ML_DSP_PIX && dbl) {
      full_group(p, filter, tail, bias, shift, table, col, k, out, n, full);
    } else {
      int32_t c;
      for (c = 0; c < out_c; ++c)
        one_channel(p, filter, bias, mult, shift, table, col, k, n, n, out, dbl, c);
    }
    r0 += n;
  }
  return 1;
}
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC pop_options
#endif
#endif /* ML_CONV2D_S8_USE_DSP */

void ml_conv2d_s8(const ml_conv_params_t *p, const int8_t *input, const int8_t *filter,
                  const int32_t *folded_bias, const int32_t *mult, const int32_t *shift,
                  int8_t *output, void *scratch) {
  const int32_t in_h = p->in_h, in_w = p->in_w, in_c = p->in_c, out_c = p->out_c;
  const int32_t k_h = p->k_h, k_w = p->k_w, dil_h = p->dil_h, dil_w = p->dil_w;
  const int32_t groups = p->groups > 1 ? p->groups : 1;
  const int32_t cin_g = in_c / groups, per_group = out_c / groups;
  const int32_t k = k_h * k_w * cin_g; /* weights per output channel */
  /* (pad + input_offset) * w == 0: padding filled with the zero point adds nothing */
  const int8_t pad = (int8_t)(-p->input_offset);
  int8_t *patch = (int8_t *)scratch;
  int32_t b, oy, ox, g, co, fy, fx;

#ifdef ML_MVE_S8_ENABLED
  if (ml_mve_conv2d_s8(p, input, filter, folded_bias, mult, shift, output, scratch)) return;
#endif
#ifdef ML_CONV2D_S8_USE_DSP
  if (conv_dsp(p, input, filter, folded_bias, mult, shift, output, scratch)) return;
#endif
  if (ml_conv_is_pointwise(p)) {
    const int32_t rows = p->batches * in_h * in_w;
    int32_t r;
    for (r = 0; r < rows; ++r) {
      const int8_t *x = input + (size_t)r * in_c;
      for (co = 0; co < out_c; ++co) {
        const int32_t acc = ml_dot_s8(x, filter + (size_t)co * in_c, in_c) + folded_bias[co];
        *output++ = requant(acc, mult[co], shift[co], p);
      }
    }
    return;
  }
  for (b = 0; b < p->batches; ++b) {
    const int8_t *in_b = input + (size_t)b * in_h * in_w * in_c;
    for (oy = 0; oy < p->out_h; ++oy) {
      const int32_t base_y = oy * p->stride_h - p->pad_top;
      for (ox = 0; ox < p->out_w; ++ox) {
        const int32_t base_x = ox * p->stride_w - p->pad_left;
        int32_t fx0, fx1;
        ml_conv_taps(base_x, dil_w, k_w, in_w, &fx0, &fx1);
        for (g = 0; g < groups; ++g) {
          int8_t *dst = patch;
          /* the window of group g, [k_h][k_w][cin_g], as the weights are laid out */
          for (fy = 0; fy < k_h; ++fy) {
            const int32_t iy = base_y + fy * dil_h;
            const int8_t *row;
            if (iy < 0 || iy >= in_h) {
              memset(dst, pad, (size_t)k_w * cin_g);
              dst += k_w * cin_g;
              continue;
            }
            row = in_b + (size_t)iy * in_w * in_c + (size_t)g * cin_g;
            if (dil_w == 1 && groups == 1) {
              memset(dst, pad, (size_t)fx0 * in_c);
              memcpy(dst + fx0 * in_c, row + (size_t)(base_x + fx0) * in_c,
                     (size_t)(fx1 - fx0) * in_c);
              memset(dst + fx1 * in_c, pad, (size_t)(k_w - fx1) * in_c);
              dst += k_w * in_c;
              continue;
            }
            for (fx = 0; fx < k_w; ++fx, dst += cin_g) {
              if (fx < fx0 || fx >= fx1)
                memset(dst, pad, (size_t)cin_g);
              else
                memcpy(dst, row + (size_t)(base_x + fx * dil_w) * in_c, (size_t)cin_g);
            }
          }
          for (co = g * per_group; co < (g + 1) * per_group; ++co) {
            const int32_t acc = ml_dot_s8(patch, filter + (size_t)co * k, k) + folded_bias[co];
            output[co] = requant(acc, mult[co], shift[co], p);
          }
        }
        output += out_c;
      }
    }
  }
}
