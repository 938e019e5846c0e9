/* microlith kernel library: depthwise 2-D convolution, int8 activations and weights.
 *
 * Bit-exact with TFLite Micro's reference_integer_ops::DepthwiseConvPerChannel:
 * int32 accumulation of (input + input_offset) * weight, + bias, per-channel
 * MultiplyByQuantizedMultiplier, + output_offset, clamp.
 * Output channel c = i * depth_multiplier + m reads input channel i.
 */
#ifndef ML_DEPTHWISE_CONV2D_S8_H
#define ML_DEPTHWISE_CONV2D_S8_H

#include <stddef.h>
#include <stdint.h>

#include "ml_conv_params.h"

#ifdef __cplusplus
extern "C" {
#endif

/* bias may be NULL. */
void ml_depthwise_conv2d_s8(const ml_conv_params_t *p, const int8_t *input, const int8_t *filter,
                             const int32_t *bias, const int32_t *mult, const int32_t *shift,
                             int8_t *output);

/* The same for 3x3 kernels, depth multiplier 1, dilation 1, channels a
 * multiple of 4 up to 256, horizontal stride 1 or 2, every channel's
 * multiplier >= 0 and shift in [-22, -1], the input zero point inside int8
 * and |bias| < 2^29 - 9 * 2^14 (the lowering, microlith/ops/conv.py, calls it
 * only then). filter: the layer's int8 weights [3][3][channels] as TFLite
 * stores them; bias: the folded bias, the channel's bias + input_offset *
 * the sum of its 9 weights (never NULL); rq: per channel c, three int32
 * rq[3c] = multiplier, rq[3c + 1] = e = -shift - 1 (0..21) and
 * rq[3c + 2] = (2 * output_offset + 1) * 2^e, the rounding constant of the
 * DSP rescale (every path reads the multiplier and shift from here). scratch:
 * ml_depthwise_conv2d_s8_3x3_scratch_size(p) bytes, word aligned, where
 * cores with the Armv7E-M DSP extension expand the weights into int16 pairs
 * for a faster path; other cores do not touch it. */
#define ML_DW3_SCRATCH_PER_CHANNEL 28
/* Layers whose input and output rows are 5 pixels wide (stride 1, one
 * padding column each side) with the full int8 output range take, in builds
 * at -O2/-O3 on DSP cores, a ring of three input rows widened to int16 plus
 * per-channel records instead: ML_DW3_RING_PER_CHANNEL bytes a channel
 * (reserved at -Os too, where the ring is off). Built with ML_PORTABLE (no
 * DSP or vector path), the scratch size is 0. */
#define ML_DW3_RING_PER_CHANNEL 88
size_t ml_depthwise_conv2d_s8_3x3_scratch_size(const ml_conv_params_t *p);
void ml_depthwise_conv2d_s8_3x3(const ml_conv_params_t *p, const int8_t *input,
                                const int8_t *filter, const int32_t *bias, const int32_t *rq,
                                int8_t *output, void *scratch);

#ifdef __cplusplus
}
#endif
#endif /* ML_DEPTHWISE_CONV2D_S8_H */
