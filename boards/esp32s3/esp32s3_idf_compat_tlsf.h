/* tlsf_find_containing_block for heap/tlsf commits that lack it (see
 * esp32s3_idf_compat.cmake): the used block whose payload [ptr, ptr + size)
 * holds p, found by walking the pool. Force-included into the heap
 * component only. */
#ifndef LLM_IDF_COMPAT_TLSF_H
#define LLM_IDF_COMPAT_TLSF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "tlsf.h"

typedef struct {
    uintptr_t p;
    void *found;
} llm_compat_tlsf_find;

static inline bool llm_compat_tlsf_walker(void *ptr, size_t size, int used, void *user) {
    llm_compat_tlsf_find *f = (llm_compat_tlsf_find *)user;
    const uintptr_t b = (uintptr_t)ptr;
    if (used && f->p >= b && f->p < b + size) {
        f->found = ptr;
        return false; /* stop walking */
    }
    return true;
}

static inline void *tlsf_find_containing_block(pool_t pool, void *ptr) {
    llm_compat_tlsf_find f = {(uintptr_t)ptr, NULL};
    tlsf_walk_pool(pool, llm_compat_tlsf_walker, &f);
    return f.found;
}

#endif /* LLM_IDF_COMPAT_TLSF_H */
