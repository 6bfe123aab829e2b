/* q8 group sums on the ESP32-S3 PIE (contract in s3_pie.h):
 * isum[r * ng + g] = dot(w row r group g, xq group g), gs int8 codes each.
 *
 * Per group: ACCX (40 bits) is zeroed, then gs / 16 steps of 16 int8 x int8
 * products each (|sum| <= 256 * 128 * 128 = 2^22, exact), and its low 32
 * bits are the group's sum. ACCX adds exactly (no saturation). Each step is
 * two instructions: the multiply-accumulate of (q0 = w, q1 = x) fused with
 * the load of the next x into q1 (the old q1 is read first), then the load
 * of the next w into q0. Loads run one step ahead across groups of a row;
 * the row's last group is peeled so nothing past the row or xq is read.
 *
 * Registers: a2 isum (advances), a3 row start, a4 xq, a5 rows left, a6 ng,
 * a7 stride, a8 w pointer, a9 x pointer, a10 ng - 1, a11 a group's sum. */
#include "s3_pie.h"

#if LLM_S3_PIE

    .macro q8_step
    ee.vmulas.s8.accx.ld.ip q1, a9, 16, q0, q1
    ee.vld.128.ip           q0, a8, 16
    .endm

    /* name: the entry point; k: gs / 16 vectors per group. */
    .macro q8_kernel name, k
    .text
    .align 4
    .global \name
    .type \name, @function
\name:
    entry   a1, 32
    addi    a10, a6, -1
.L\name\()_row:
    mov     a8, a3
    mov     a9, a4
    ee.vld.128.ip q0, a8, 16
    ee.vld.128.ip q1, a9, 16
    loopnez a10, .L\name\()_last      /* groups 0 .. ng - 2 */
    ee.zero.accx
    .rept \k
    q8_step
    .endr
    rur.accx_0 a11
    s32i    a11, a2, 0
    addi    a2, a2, 4
.L\name\()_last:                     /* group ng - 1: no loads ahead */
    ee.zero.accx
    .rept \k - 1
    q8_step
    .endr
    ee.vmulas.s8.accx q0, q1
    rur.accx_0 a11
    s32i    a11, a2, 0
    addi    a2, a2, 4
    add     a3, a3, a7
    addi    a5, a5, -1
    bnez    a5, .L\name\()_row
    retw
    .size \name, . - \name
    .endm

    q8_kernel llm_s3_pie_q8_g16, 1
    q8_kernel llm_s3_pie_q8_g32, 2
    q8_kernel llm_s3_pie_q8_g64, 4
    q8_kernel llm_s3_pie_q8_g128, 8
    q8_kernel llm_s3_pie_q8_g256, 16

#endif /* LLM_S3_PIE */

/* Elsewhere this file is empty; a Linux linker still wants to be told its
 * (absent) code needs no executable stack. */
#if defined(__linux__) && defined(__ELF__)
    .section .note.GNU-stack,"",%progbits
#endif
