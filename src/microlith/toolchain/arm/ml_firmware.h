/* microlith Cortex-M firmware support (startup, semihosting, stack
 * measurement), shared by every emulated board. */
#ifndef ML_FIRMWARE_H
#define ML_FIRMWARE_H

#include <stddef.h>
#include <stdint.h>

/* Exit codes the host understands (microlith.emulate.qemu). */
#define ML_EXIT_OK 0
#define ML_EXIT_INVOKE_FAILED 2
#define ML_EXIT_FAULT 13

/* Arm semihosting (BKPT 0xAB), as QEMU implements it with
 * -semihosting-config enable=on. */
/* Write a NUL-terminated string to the host console (SYS_WRITE0). */
void ml_semihost_write0(const char *text);
/* Stop the emulator with an exit code (SYS_EXIT_EXTENDED with
 * ADP_Stopped_ApplicationExit): QEMU exits with `code`. Never returns. */
void ml_semihost_exit(int code) __attribute__((noreturn));

/* Fill the unused part of the stack region (below the caller's frame) with a
 * pattern; ml_stack_peak_bytes() then gives the deepest stack use since,
 * counted from the top of the stack region. */
#define ML_STACK_PAINT 0xA5C3E1F7u
void ml_stack_paint(void);
uint32_t ml_stack_peak_bytes(void);

#endif /* ML_FIRMWARE_H */
