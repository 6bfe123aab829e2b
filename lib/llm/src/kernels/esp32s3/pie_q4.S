/* q4 group sums on the ESP32-S3 PIE (contract in s3_pie.h):
 * isum[r * ng + g] = dot(codes of w row r group g, xq group g).
 *
 * A 16-byte llm_q4x32 unit (q0) holds codes 0..15 in its low nibbles and
 * 16..31 in its high nibbles. q3 = q0 & 0x0F.. gives codes 0..15 as int8;
 * q4 = (q0 >> 4 in each 32-bit lane, SAR = 4) & 0x0F.. gives codes 16..31
 * (the bits shifted in from the next byte, or the sign, are masked off).
 * Codes 0..15 are non-negative int8, so the signed int8 multiply-accumulate
 * into ACCX (40 bits, exact: |sum| <= 256 * 15 * 128) is the dot product.
 *
 * Per unit: mask, shift, mask, then two multiply-accumulates (q3 * x lo,
 * q4 * x hi) fused with the loads of x hi (q2) and the next unit (q0), and
 * one load of the next x lo (q1): 6 instructions per 32 codes. Loads run one
 * unit ahead across the groups of a row; the row's last unit is peeled so
 * nothing past the row or xq is read.
 *
 * Registers: a2 isum (advances), a3 row start, a4 xq, a5 rows left, a6 ng,
 * a7 stride, a8 w pointer, a9 x pointer, a10 loop count, a11 a sum;
 * q7 the 0x0F mask. */
#include "s3_pie.h"

#if LLM_S3_PIE

    /* q3, q4 = the codes of unit q0; q3 * q1 accumulated, q2 = x hi loaded. */
    .macro q4_lo
    ee.andq   q3, q0, q7
    ee.vsr.32 q4, q0
    ee.andq   q4, q4, q7
    ee.vmulas.s8.accx.ld.ip q2, a9, 16, q3, q1
    .endm

    /* q4 * q2 accumulated; the next unit and x lo loaded. */
    .macro q4_hi_next
    ee.vmulas.s8.accx.ld.ip q0, a8, 16, q4, q2
    ee.vld.128.ip q1, a9, 16
    .endm

    /* q7 = 0x0F in every byte; SAR = 4; a10 = a6 / 2 ^ shift - 1. */
    .macro q4_setup shift
    entry   a1, 32
    movi    a8, 0x0F
    slli    a9, a8, 8
    or      a8, a8, a9
    slli    a9, a8, 16
    or      a8, a8, a9
    ee.movi.32.q q7, a8, 0
    ee.movi.32.q q7, a8, 1
    ee.movi.32.q q7, a8, 2
    ee.movi.32.q q7, a8, 3
    ssai    4
    srli    a10, a6, \shift
    addi    a10, a10, -1
    .endm

    .macro q4_row_start
    mov     a8, a3
    mov     a9, a4
    ee.vld.128.ip q0, a8, 16
    ee.vld.128.ip q1, a9, 16
    .endm

    .macro q4_row_end name
    add     a3, a3, a7
    addi    a5, a5, -1
    bnez    a5, .L\name\()_row
    retw
    .size \name, . - \name
    .endm

    /* gs >= 32: name the entry point, k = gs / 32 units per group. */
    .macro q4_kernel name, k
    .text
    .align 4
    .global \name
    .type \name, @function
\name:
    q4_setup 0
.L\name\()_row:
    q4_row_start
    loopnez a10, .L\name\()_last      /* groups 0 .. ng - 2 */
    ee.zero.accx
    .rept \k
    q4_lo
    q4_hi_next
    .endr
    rur.accx_0 a11
    s32i    a11, a2, 0
    addi    a2, a2, 4
.L\name\()_last:                     /* group ng - 1: no loads past its last unit */
    ee.zero.accx
    .rept \k - 1
    q4_lo
    q4_hi_next
    .endr
    q4_lo
    ee.vmulas.s8.accx q4, q2
    rur.accx_0 a11
    s32i    a11, a2, 0
    addi    a2, a2, 4
    q4_row_end \name
    .endm

    /* gs 16: each unit is two groups, low nibbles (x lo) then high (x hi). */
    .text
    .align 4
    .global llm_s3_pie_q4_g16
    .type llm_s3_pie_q4_g16, @function
llm_s3_pie_q4_g16:
    q4_setup 1
.Lllm_s3_pie_q4_g16_row:
    q4_row_start
    loopnez a10, .Lq4_g16_last        /* units 0 .. ng / 2 - 2 */
    ee.zero.accx
    q4_lo
    rur.accx_0 a11
    s32i    a11, a2, 0
    ee.zero.accx
    q4_hi_next
    rur.accx_0 a11
    s32i    a11, a2, 4
    addi    a2, a2, 8
.Lq4_g16_last:                       /* the last unit: no loads past it */
    ee.zero.accx
    q4_lo
    rur.accx_0 a11
    s32i    a11, a2, 0
    ee.zero.accx
    ee.vmulas.s8.accx q4, q2
    rur.accx_0 a11
    s32i    a11, a2, 4
    addi    a2, a2, 8
    q4_row_end llm_s3_pie_q4_g16

    q4_kernel llm_s3_pie_q4_g32, 1
    q4_kernel llm_s3_pie_q4_g64, 2
    q4_kernel llm_s3_pie_q4_g128, 4
    q4_kernel llm_s3_pie_q4_g256, 8

#endif /* LLM_S3_PIE */

/* Elsewhere this file is empty; a Linux linker still wants to be told its
 * (absent) code needs no executable stack. */
#if defined(__linux__) && defined(__ELF__)
    .section .note.GNU-stack,"",%progbits
#endif
