/* Row cuts and the mat-vec driver of the ESP32-S3 kernels (s3_rows.h). */
#include "s3_rows.h"

#include <stddef.h>

llm_s3_cut llm_s3_row_cut(const void *w, const void *x, uint32_t n, uint32_t elem_size,
                          uint32_t lanes) {
    llm_s3_cut c = {0, 0, n};
    const uintptr_t aw = (uintptr_t)w, ax = (uintptr_t)x;
    /* Only a common misalignment can be skipped with one head. */
    if (((aw - ax) & 15u) != 0 || elem_size == 0 || (aw % elem_size) != 0) return c;
    const uint32_t head = (uint32_t)(((16u - (aw & 15u)) & 15u) / elem_size);
    if (head >= n) return c;
    const uint32_t body = (n - head) / lanes * lanes;
    if (body == 0) return c;
    c.head = head;
    c.body = body;
    c.tail = n - head - body;
    return c;
}

void llm_s3_matvec_f32_with(float *out, const float *w, const float *x, uint32_t d, uint32_t n,
                            llm_s3_dot_f32_fn dot) {
    for (uint32_t i = 0; i < d; i++) {
        const float *row = w + (size_t)i * n;
        const llm_s3_cut c = llm_s3_row_cut(row, x, n, sizeof(float), 4);
        float s = 0.0f;
        if (c.body > 0) dot(row + c.head, x + c.head, &s, (int)c.body);
        for (uint32_t j = 0; j < c.head; j++) s += row[j] * x[j];
        for (uint32_t j = c.head + c.body; j < n; j++) s += row[j] * x[j];
        out[i] = s;
    }
}
