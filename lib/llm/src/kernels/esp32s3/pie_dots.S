/* Int8 dot products of one query against many cache rows on the ESP32-S3
 * PIE, for the int8-KV attention's scores (contract in s3_pie.h):
 * out[j] = sum over nb 16-byte vectors b of q[b] . k[j * step + b], j < n.
 *
 * ACCX (40 bits) is zeroed per row and takes 16 int8 x int8 products per
 * step; |sum| <= nb * 16 * 128 * 128, exact, and its low 32 bits are the
 * row's dot (nb <= 17 here: far inside int32). ACCX adds exactly (no
 * saturation). With one vector per row (head sizes up to 16 that fit one
 * aligned block, stories260K's 8) the query stays in q1 and each row is a
 * load with the stride's post-increment, a multiply-accumulate, a read of
 * ACCX and a store.
 *
 * Registers: a2 out (advances), a3 row start, a4 q, a5 rows left, a6 nb,
 * a7 step, a8 k pointer, a9 q pointer, a10 a row's dot. */
#include "s3_pie.h"

#if LLM_S3_PIE

    .text
    .align 4
    .global llm_s3_pie_dots_s8
    .type llm_s3_pie_dots_s8, @function
llm_s3_pie_dots_s8:
    entry   a1, 32
    beqi    a6, 1, .Ldots_one
.Ldots_row:                          /* nb >= 2 */
    mov     a8, a3
    mov     a9, a4
    ee.zero.accx
    loopnez a6, .Ldots_row_end
    ee.vld.128.ip q0, a8, 16
    ee.vld.128.ip q1, a9, 16
    ee.vmulas.s8.accx q0, q1
.Ldots_row_end:
    rur.accx_0 a10
    s32i    a10, a2, 0
    addi    a2, a2, 4
    add     a3, a3, a7
    addi    a5, a5, -1
    bnez    a5, .Ldots_row
    retw
.Ldots_one:                          /* nb == 1: q held in q1 */
    ee.vld.128.ip q1, a4, 0
    loopnez a5, .Ldots_one_end
    ee.zero.accx
    ee.vld.128.xp q0, a3, a7
    ee.vmulas.s8.accx q0, q1
    rur.accx_0 a10
    s32i    a10, a2, 0
    addi    a2, a2, 4
.Ldots_one_end:
    retw
    .size llm_s3_pie_dots_s8, . - llm_s3_pie_dots_s8

#endif /* LLM_S3_PIE */

/* Elsewhere this file is empty; a Linux linker still wants to be told its
 * (absent) code needs no executable stack. */
#if defined(__linux__) && defined(__ELF__)
    .section .note.GNU-stack,"",%progbits
#endif
