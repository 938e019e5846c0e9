/* microlith kernel: 2-D pooling, int8_t. See ml_pool2d_s8.h.
 *
 * Write order (microlith/plan/overlap.py relies on it to plan the output
 * over the dying input, starting `lead` bytes below it): output pixels in
 * raster order (batch, output row, output column), every channel of a pixel
 * written while that pixel is computed, and only that pixel's input window
 * read for it. Any new path must keep this order (no channel-outer loops,
 * no tiles of several pixels, no reversed rows), and input/output must
 * never be declared `restrict`: they may overlap.
 *
 * The average pool's DSP path (cores with the DSP extension, ARMv7E-M and
 * ARMv8-M mainline, Helium cores included; not at -Os, where the portable
 * loop is kept for size) sums a block of 16 (then 4) channels of the
 * window at once: SXTAB16 adds the even and the odd bytes of each loaded
 * word to two registers of packed 16-bit sums. A window of at most 256
 * elements cannot leave int16 (256 * -128 = -32768), so the sums are exact;
 * windows of more elements and the last 1-3 channels take int32 sums channel
 * by channel. Each output pixel is still computed alone, in raster order;
 * the channels of a block are written after the block's window is read,
 * which only reads earlier than the portable loop, never later: the overlap
 * planning holds. No scratch; the division is the portable one, bit for bit.
 */
#include "ml_pool2d_s8.h"

#include "ml_loops.h"

#if defined(__ARM_FEATURE_DSP) && !defined(ML_PORTABLE) && defined(__GNUC__) && \
    !defined(__OPTIMIZE_SIZE__)
#define ML_AVG_POOL_S8_DSP 1
#include <arm_acle.h>
#endif

static void ml_pool2d_s8(const int8_t *in, int8_t *out, const ml_pool2d_s8_params_t *p,
                          int avg) {
  ML_POOL2D_Q_BODY(int8_t, INT8_MIN)
}

void ml_max_pool2d_s8(const int8_t *in, int8_t *out, const ml_pool2d_s8_params_t *p) {
  ml_pool2d_s8(in, out, p, 0);
}

#ifdef ML_AVG_POOL_S8_DSP

/* The portable average of one window sum, before the clamp: TFLM's
 * (sum + count/2) / count for sum > 0, else (sum - count/2) / count, with C's
 * truncating division, is the rounded average of |sum| given sum's sign. */
ML_ALWAYS_INLINE int32_t ml_avg_s8_q(int32_t sum, uint32_t count, uint32_t half) {
  const uint32_t neg = sum < 0 ? 0xFFFFFFFFu : 0u;
  const uint32_t q = (((uint32_t)sum ^ neg) - neg + half) / count;
  return (int32_t)((q ^ neg) - neg);
}

/* The averages of packed sums s[0..words) (s[2k] holds channels 4k and
 * 4k + 2 in its low and high halfword, s[2k + 1] channels 4k + 1 and 4k + 3),
 * clamped four at a time to the packed bytes lo4 <= hi4 (SSUB8 sets a GE
 * flag per byte, SEL picks by it), stored at o. An average lies in int8, so
 * the byte clamp is the int32 clamp. */
static void ml_avg_s8_put(int8_t *o, const int32_t *s, int32_t words, uint32_t count,
                          uint32_t half, uint32_t lo4, uint32_t hi4) {
  int32_t k;
  for (k = 0; k < words; k += 2, o += 4) {
    const uint32_t q0 = (uint32_t)ml_avg_s8_q((int16_t)s[k], count, half);
    const uint32_t q1 = (uint32_t)ml_avg_s8_q((int16_t)s[k + 1], count, half);
    const uint32_t q2 = (uint32_t)ml_avg_s8_q(s[k] >> 16, count, half);
    const uint32_t q3 = (uint32_t)ml_avg_s8_q(s[k + 1] >> 16, count, half);
    uint32_t v = (q0 & 0xFFu) | (q1 & 0xFFu) << 8 | (q2 & 0xFFu) << 16 | q3 << 24, t;
    __asm__("ssub8 %[t], %[v], %[lo]\n\t"
            "sel %[v], %[v], %[lo]\n\t"
            "ssub8 %[t], %[hi], %[v]\n\t"
            "sel %[v], %[v], %[hi]"
            : [v] "+&r"(v), [t] "=&r"(t)
            : [lo] "r"(lo4), [hi] "r"(hi4)
            : "cc");
    __builtin_memcpy(o, &v, 4);
  }
}

void ml_avg_pool2d_s8(const int8_t *in, int8_t *out, const ml_pool2d_s8_params_t *p) {
  const int32_t channels = p->channels, lo = p->act_min, hi = p->act_max;
  /* the packed clamp needs bounds that are bytes, in order (always, from a
   * fused activation); else every channel takes the int32 path */
  const int packed = -128 <= lo && lo <= hi && hi <= 127;
  const uint32_t lo4 = ((uint32_t)lo & 0xFFu) * 0x01010101u;
  const uint32_t hi4 = ((uint32_t)hi & 0xFFu) * 0x01010101u;
  const size_t row_step = (size_t)p->width * (size_t)channels;
  int32_t b, oy, ox, c;
  for (b = 0; b < p->batches; ++b) {
    for (oy = 0; oy < p->out_height; ++oy) {
      const int32_t y0 = oy * p->stride_height - p->pad_top;
      const int32_t fy0 = y0 < 0 ? -y0 : 0;
      const int32_t fy1 = p->filter_height < p->height - y0 ? p->filter_height : p->height - y0;
      for (ox = 0; ox < p->out_width; ++ox) {
        const int32_t x0 = ox * p->stride_width - p->pad_left;
        const int32_t fx0 = x0 < 0 ? -x0 : 0;
        const int32_t fx1 = p->filter_width < p->width - x0 ? p->filter_width : p->width - x0;
        int32_t rows = fy1 - fy0, cols = fx1 - fx0;
        const int32_t count = rows > 0 && cols > 0 ? rows * cols : 0;
        const int32_t half = count / 2;
        int32_t s[8];
        const int8_t *win = count == 0 ? in
            : in + (((size_t)b * (size_t)p->height + (size_t)(y0 + fy0)) * (size_t)p->width +
                    (size_t)(x0 + fx0)) * (size_t)channels;
        int32_t r;
        if (cols == p->width) { /* whole rows: one contiguous run of pixels */
          cols *= rows;
          rows = 1;
        }
        c = 0;
        if (count > 0 && count <= 256 && packed) {
          const size_t run = (size_t)cols * (size_t)channels;
          for (; c + 16 <= channels; c += 16) {
            int32_t a0 = 0, a1 = 0, a2 = 0, a3 = 0, a4 = 0, a5 = 0, a6 = 0, a7 = 0;
            for (r = 0; r < rows; ++r) {
              const int8_t *q = win + (size_t)r * row_step + c;
              const int8_t *const end = q + run;
              do {
                const uint32_t w0 = ml_ld32(q), w1 = ml_ld32(q + 4);
                const uint32_t w2 = ml_ld32(q + 8), w3 = ml_ld32(q + 12);
                a0 = __sxtab16(a0, w0);
                a1 = ml_sxtab16_ror8(a1, w0);
                a2 = __sxtab16(a2, w1);
                a3 = ml_sxtab16_ror8(a3, w1);
                a4 = __sxtab16(a4, w2);
                a5 = ml_sxtab16_ror8(a5, w2);
                a6 = __sxtab16(a6, w3);
                a7 = ml_sxtab16_ror8(a7, w3);
                q += channels;
              } while (q != end);
            }
            s[0] = a0, s[1] = a1, s[2] = a2, s[3] = a3;
            s[4] = a4, s[5] = a5, s[6] = a6, s[7] = a7;
            ml_avg_s8_put(out + c, s, 8, (uint32_t)count, (uint32_t)half, lo4, hi4);
          }
          for (; c + 4 <= channels; c += 4) {
            int32_t a0 = 0, a1 = 0;
            for (r = 0; r < rows; ++r) {
              const int8_t *q = win + (size_t)r * row_step + c;
              const int8_t *const end = q + run;
              do {
                const uint32_t w0 = ml_ld32(q);
                a0 = __sxtab16(a0, w0);
                a1 = ml_sxtab16_ror8(a1, w0);
                q += channels;
              } while (q != end);
            }
            s[0] = a0, s[1] = a1;
            ml_avg_s8_put(out + c, s, 2, (uint32_t)count, (uint32_t)half, lo4, hi4);
          }
        }
        for (; c < channels; ++c) { /* int32 sums: the last channels, large windows */
          int32_t acc = 0, i;
          for (r = 0; r < rows; ++r) {
            const int8_t *q = win + (size_t)r * row_step + c;
            for (i = 0; i < cols; ++i) acc += q[(size_t)i * (size_t)channels];
          }
          acc = count == 0 ? 0 : ml_avg_s8_q(acc, (uint32_t)count, (uint32_t)half);
          out[c] = (int8_t)ml_clamp_i32(acc, lo, hi);
        }
        out += channels;
      }
    }
  }
}

#else /* the portable loop */

void ml_avg_pool2d_s8(const int8_t *in, int8_t *out, const ml_pool2d_s8_params_t *p) {
  ml_pool2d_s8(in, out, p, 1);
}

#endif /* ML_AVG_POOL_S8_DSP */
