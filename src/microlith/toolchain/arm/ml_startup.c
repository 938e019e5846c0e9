/* microlith Cortex-M firmware: vector table, reset handler and fault
 * reporting. No vendor code: the reset handler enables the FPU where the
 * build has one, copies .data from flash, zeroes .bss and calls main(); main's
 * return value becomes the emulator's exit code (semihosting). Any fault
 * prints "@ml-fault ..." and exits with ML_EXIT_FAULT. */
#include <stdint.h>

#include "ml_firmware.h"

/* From the linker script (ml_sections.ld). */
extern uint32_t __data_load__[], __data_start__[], __data_end__[];
extern uint32_t __bss_start__[], __bss_end__[];
extern uint32_t __stack_start[], __stack_end[];

int main(void);
void Reset_Handler(void);
void ml_fault_entry(void);
void ml_fault_report(const uint32_t *frame, uint32_t exc_return);

#define ML_REG(addr) (*(volatile uint32_t *)(addr))
#define ML_SCB_VTOR 0xE000ED08u
#define ML_SCB_CCR 0xE000ED14u
#define ML_SCB_CPACR 0xE000ED88u
#define ML_CCR_UNALIGN_TRP (1u << 3)
#define ML_CCR_DIV_0_TRP (1u << 4)

#if defined(__ARM_ARCH_6M__) || defined(__ARM_ARCH_8M_BASE__)
#define ML_MAIN_EXTENSION 0
#else
#define ML_MAIN_EXTENSION 1
#endif

typedef void (*ml_vector_t)(void);

/* Exceptions 1..15; no interrupt is ever enabled. */
__attribute__((section(".vectors"), used))
const ml_vector_t ml_vector_table[16] = {
  (ml_vector_t)__stack_end, /* initial MSP: the top of the stack region */
  Reset_Handler,
  ml_fault_entry, /* NMI */
  ml_fault_entry, /* HardFault */
  ml_fault_entry, /* MemManage */
  ml_fault_entry, /* BusFault */
  ml_fault_entry, /* UsageFault */
  ml_fault_entry, /* SecureFault (v8-M) */
  0, 0, 0,
  ml_fault_entry, /* SVCall */
  ml_fault_entry, /* DebugMonitor */
  0,
  ml_fault_entry, /* PendSV */
  ml_fault_entry, /* SysTick */
};

void Reset_Handler(void) {
  uint32_t *src, *dst;
  int rc;
#if defined(__ARM_FP) || defined(__ARM_FEATURE_MVE)
  /* CP10/CP11 full access before any floating-point instruction. */
  ML_REG(ML_SCB_CPACR) |= (0xFu << 20);
  __asm__ volatile("dsb\n\tisb" ::: "memory");
#endif
#if ML_MAIN_EXTENSION
  /* Exceptions use this image's vector table even when a bootloader (MCUboot)
   * started it from a slot away from address 0. */
  ML_REG(ML_SCB_VTOR) = (uint32_t)ml_vector_table;
  /* Integer division by zero faults (as it traps on the host). */
  ML_REG(ML_SCB_CCR) |= ML_CCR_DIV_0_TRP;
#else
  /* Thumb-1-only code: enforce the M0/M0+ alignment rules even when it runs
   * on a core that would allow unaligned access (on ARMv6-M the bit is RES1
   * and already set). */
  if ((ML_REG(ML_SCB_CCR) & ML_CCR_UNALIGN_TRP) == 0u) {
    ML_REG(ML_SCB_CCR) |= ML_CCR_UNALIGN_TRP;
  }
#endif
  for (src = __data_load__, dst = __data_start__; dst < __data_end__;) {
    *dst++ = *src++;
  }
  for (dst = __bss_start__; dst < __bss_end__;) {
    *dst++ = 0u;
  }
  __asm__ volatile("dsb\n\tisb" ::: "memory");
  rc = main();
  ml_semihost_exit(rc);
}

/* Every exception lands here: pass the stacked frame and EXC_RETURN on. */
__attribute__((naked)) void ml_fault_entry(void) {
  __asm__ volatile(
      "movs r0, #4\n\t"
      "mov r1, lr\n\t"
      "tst r0, r1\n\t"
      "beq 1f\n\t"
      "mrs r0, psp\n\t"
      "b 2f\n"
      "1:\n\t"
      "mrs r0, msp\n"
      "2:\n\t"
      "ldr r2, =ml_fault_report\n\t"
      "bx r2\n\t"
      ".ltorg\n");
}

static char *ml_put_hex(char *p, const char *label, uint32_t value) {
  static const char digits[] = "0123456789abcdef";
  int shift;
  while (*label) *p++ = *label++;
  for (shift = 28; shift >= 0; shift -= 4) *p++ = digits[(value >> shift) & 0xFu];
  return p;
}

void ml_fault_report(const uint32_t *frame, uint32_t exc_return) {
  char line[160];
  char *p = line;
  uint32_t ipsr;
  __asm__ volatile("mrs %0, ipsr" : "=r"(ipsr));
  p = ml_put_hex(p, "@ml-fault exception=", ipsr & 0x1FFu);
  p = ml_put_hex(p, " pc=", frame[6]);
  p = ml_put_hex(p, " lr=", frame[5]);
  p = ml_put_hex(p, " sp=", (uint32_t)(uintptr_t)frame);
  p = ml_put_hex(p, " exc_return=", exc_return);
#if ML_MAIN_EXTENSION
  p = ml_put_hex(p, " cfsr=", ML_REG(0xE000ED28u));
  p = ml_put_hex(p, " hfsr=", ML_REG(0xE000ED2Cu));
  p = ml_put_hex(p, " mmfar=", ML_REG(0xE000ED34u));
  p = ml_put_hex(p, " bfar=", ML_REG(0xE000ED38u));
#endif
  *p++ = '\n';
  *p = '\0';
  ml_semihost_write0(line);
  ml_semihost_exit(ML_EXIT_FAULT);
}

/* Stack measurement: fill the free part of the stack region with a pattern;
 * later, the lowest overwritten word gives the peak depth (ML_STACK_PAINT is
 * in ml_firmware.h: the harness repaints with it before each invoke). */

void ml_stack_paint(void) {
  uint32_t *sp;
  uint32_t *p;
  __asm__ volatile("mov %0, sp" : "=r"(sp));
  for (p = __stack_start; p < sp - 16;) {
    *p++ = ML_STACK_PAINT;
  }
}

uint32_t ml_stack_peak_bytes(void) {
  const uint32_t *p = __stack_start;
  while (p < __stack_end && *p == ML_STACK_PAINT) ++p;
  return (uint32_t)((uintptr_t)__stack_end - (uintptr_t)p);
}
