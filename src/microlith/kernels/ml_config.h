/* microlith kernel library: build configuration.
 *
 * A generated project replaces this file with its own: for a core without
 * DSP or vector extensions it defines ML_PORTABLE, which keeps every kernel
 * on its portable C path (the plan's scratch then covers that path only).
 * This default leaves the choice to the compiler's target macros
 * (__ARM_FEATURE_DSP, __ARM_FEATURE_MVE).
 */
#ifndef ML_CONFIG_H
#define ML_CONFIG_H
#endif /* ML_CONFIG_H */
