/*
 * Heap for newlib's malloc: the HEAP region of the linker script. Replaces
 * librdimon's weak _sbrk, which grows from the end of .bss towards the stack.
 */
#include <errno.h>
#include <stddef.h>
#include <stdint.h>

#include "board.h"

extern uint8_t __heap_start__[], __heap_end__[];

static uint8_t *heap_top = __heap_start__;

void *_sbrk(ptrdiff_t incr);

void *_sbrk(ptrdiff_t incr) {
    uint8_t *old = heap_top;
    if (incr > __heap_end__ - heap_top || incr < __heap_start__ - heap_top) {
        errno = ENOMEM;
        return (void *)-1;
    }
    heap_top += incr;
    return old;
}

size_t board_heap_used(void) {
    return (size_t)(heap_top - __heap_start__);
}
