/* microlith kernel library: int8 matrix kernels for the M-profile vector
 * extension (Helium, MVE: Cortex-M55, M85).
 *
 * The Helium paths of ml_fully_connected_s8, ml_conv2d_s8 and
 * ml_depthwise_conv2d_s8(_3x3): they take the same arguments and compute
 * exactly the same bytes as the portable paths (int32 sums, the same folded
 * bias, TFLM's MultiplyByQuantizedMultiplier with its roundings, output
 * offset, clamp). Those kernels call these first when ML_MVE_S8_ENABLED
 * (__ARM_FEATURE_MVE, integer MVE, and not ML_PORTABLE) and then leave
 * their DSP paths out; without MVE ml_mve_s8.c compiles to nothing.
 *
 * ml_mve_conv2d_s8 needs ML_MVE_CONV_PIXELS * k bytes of the conv2d scratch
 * (k = k_h * k_w * in_c), which ml_conv2d_s8_scratch_size() covers.
 */
#ifndef ML_MVE_S8_H
#define ML_MVE_S8_H

#include <stdint.h>

#include "ml_common.h"
#include "ml_conv_params.h"
#include "ml_fc_params.h"

#ifdef __cplusplus
extern "C" {
#endif

#if defined(__ARM_FEATURE_MVE) && !defined(ML_PORTABLE)
#define ML_MVE_S8_ENABLED 1
#endif

/* Output pixels ml_mve_conv2d_s8 computes together. */
#define ML_MVE_CONV_PIXELS 4

/* ml_fully_connected_s8 (see ml_fully_connected_s8.h); returns 1. */
int ml_mve_fully_connected_s8(const ml_fc_params_t *p, const int8_t *input,
                              const int8_t *filter, const int32_t *folded_bias,
                              const int32_t *mult, const int32_t *shift, int8_t *output);

/* ml_conv2d_s8 (see ml_conv2d_s8.h); returns 1, or 0 having written nothing
 * when this path does not apply (grouped convolutions). Keeps ml_conv2d_s8's
 * write order: runs of ML_MVE_CONV_PIXELS consecutive output pixels whose
 * windows are all copied into scratch before any of their outputs is
 * written. */
int ml_mve_conv2d_s8(const ml_conv_params_t *p, const int8_t *input, const int8_t *filter,
                     const int32_t *folded_bias, const int32_t *mult, const int32_t *shift,
                     int8_t *output, void *scratch);

/* ml_depthwise_conv2d_s8 (rq and work NULL; bias may be NULL) and
 * ml_depthwise_conv2d_s8_3x3 (bias: the folded bias it takes; rq: its
 * rescale triples, see ml_depthwise_conv2d_s8.h; mult and shift unused;
 * work: 3 * out_c words of its scratch, which receive the plain bias, the
 * multipliers and the shifts), for depth multiplier 1; returns 1, or 0
 * having written nothing for other depth multipliers. Keeps their write
 * order: pixel by pixel in raster order, all channels of a pixel at once. */
int ml_mve_depthwise_conv2d_s8(const ml_conv_params_t *p, const int8_t *input,
                               const int8_t *filter, const int32_t *bias, const int32_t *mult,
                               const int32_t *shift, int8_t *output, const int32_t *rq,
                               int32_t *work);

#ifdef __cplusplus
}
#endif
#endif /* ML_MVE_S8_H */
