/* microlith kernel library: 2-D convolution, int8 activations and weights.
 *
 * Bit-exact with TFLite Micro's reference_integer_ops::ConvPerChannel: int32
 * sums of (input + input_offset) * weight over the window (padding
 * contributes nothing), + bias, per-channel MultiplyByQuantizedMultiplier,
 * + output_offset, clamp. Grouped convolutions (groups > 1) as TFLM.
 *
 * Each output pixel's window is gathered into scratch (padding filled with
 * the input zero point, which contributes nothing) and multiplied with the
 * weight rows as plain int8 dot products; the input_offset terms are folded
 * into the bias beforehand. 1x1 convolutions with stride 1 and no padding
 * read the input directly.
 *
 * On cores with the DSP extension (__ARM_FEATURE_DSP, unless ML_PORTABLE is
 * defined) a faster path with the same results computes
 * ML_CONV2D_S8_DSP_PIXELS output pixels at a time from their windows
 * widened to int16 in scratch (groups == 1; grouped convolutions take the
 * portable path). There, output channels whose output is provably the same
 * for every input (a huge bias and a tiny scale: see const_channel) store
 * that output without a dot product.
 */
#ifndef ML_CONV2D_S8_H
#define ML_CONV2D_S8_H

#include <stddef.h>
#include <stdint.h>

#include "ml_conv_params.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Output pixels the DSP path computes together. */
#define ML_CONV2D_S8_DSP_PIXELS 6
/* Bytes of loop constants the DSP path keeps in scratch. */
#define ML_CONV2D_S8_DSP_BLOCK 64

/* Bytes of scratch ml_conv2d_s8 needs for these parameters, on any core:
 * with k = k_h * k_w * in_c / groups rounded up to a multiple of 4,
 * 16 * out_c + 2 * ML_CONV2D_S8_DSP_PIXELS * k + ML_CONV2D_S8_DSP_BLOCK, plus k
 * unless the convolution is 1x1 with stride 1 and no padding, plus k + 4
 * when k_h * k_w * in_c / groups is not a multiple of 4. With ML_PORTABLE
 * (the portable path only): k_h * k_w * in_c / groups, none for that 1x1. */
size_t ml_conv2d_s8_scratch_size(const ml_conv_params_t *p);

/* folded_bias[c] = bias[c] + input_offset * (sum of output channel c's
 * weights), in int32 arithmetic (never NULL; all zero bias if the model has
 * none). mult/shift: one entry per output channel. */
void ml_conv2d_s8(const ml_conv_params_t *p, const int8_t *input, const int8_t *filter,
                  const int32_t *folded_bias, const int32_t *mult, const int32_t *shift,
                  int8_t *output, void *scratch);

#ifdef __cplusplus
}
#endif
#endif /* ML_CONV2D_S8_H */
