/* How parallel work is split among workers: the one rule every
 * parallel_for hook (POSIX threads, the ESP32-S3's second core) follows, so
 * a port only decides how many workers there are. */
#include "llm_internal.h"

/* Balanced contiguous split: the first n % n_workers workers take one item
 * more. Worker w starts after w full shares plus one extra item for each of
 * the min(w, n % n_workers) larger shares before it. n_workers 0 is taken
 * as 1, so a misconfigured port still covers every item once. */
void llm_parallel_range(uint32_t n, uint32_t n_workers, uint32_t w, uint32_t *begin,
                        uint32_t *end) {
    if (n_workers == 0) n_workers = 1;
    uint32_t b = n, e = n; /* workers past the last get an empty range */
    if (w < n_workers) {
        const uint32_t share = n / n_workers, extra = n % n_workers;
        b = w * share + (w < extra ? w : extra);
        e = b + share + (w < extra ? 1u : 0u);
    }
    if (begin) *begin = b;
    if (end) *end = e;
}
