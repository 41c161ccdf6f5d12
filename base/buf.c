/* buf.c: growing arrays and byte buffers (see buf.h). */
#include "base/buf.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int gc_grow(void *arr_ptr, size_t *cap, size_t need, size_t elem)
{
    if (need <= *cap) return 0;
    size_t c = *cap ? *cap : 16;
    while (c < need) {
        if (c > SIZE_MAX / 2) return -1;
        c *= 2;
    }
    if (elem && c > SIZE_MAX / elem) return -1;
    void *old;
    memcpy(&old, arr_ptr, sizeof old);
    void *p = realloc(old, c * elem);
    if (!p) return -1;
    memcpy(arr_ptr, &p, sizeof p);
    *cap = c;
    return 0;
}

int gc_buf_add(gc_buf *b, const void *s, size_t n)
{
    if (b->oom || n > SIZE_MAX - b->n - 1 || gc_grow(&b->p, &b->cap, b->n + n + 1, 1)) {
        b->oom = 1;
        return -1;
    }
    if (n) memcpy(b->p + b->n, s, n);
    b->n += n;
    b->p[b->n] = 0;
    return 0;
}

int gc_buf_vprintf(gc_buf *b, const char *fmt, va_list ap)
{
    va_list again;
    va_copy(again, ap);
    int k = vsnprintf(NULL, 0, fmt, ap);
    if (b->oom || k < 0 || (size_t)k > SIZE_MAX - b->n - 1 || gc_grow(&b->p, &b->cap, b->n + (size_t)k + 1, 1)) {
        va_end(again);
        b->oom = 1;
        return -1;
    }
    vsnprintf(b->p + b->n, (size_t)k + 1, fmt, again);
    va_end(again);
    b->n += (size_t)k;
    return 0;
}

int gc_buf_puts(gc_buf *b, const char *s) { return gc_buf_add(b, s, strlen(s)); }

int gc_buf_printf(gc_buf *b, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int rc = gc_buf_vprintf(b, fmt, ap);
    va_end(ap);
    return rc;
}

char *gc_buf_take(gc_buf *b, size_t *len)
{
    if (b->oom) {
        gc_buf_free(b);
        if (len) *len = 0;
        return NULL;
    }
    char *p = b->p ? b->p : calloc(1, 1);
    if (len) *len = p ? b->n : 0;
    b->p = NULL;
    b->n = b->cap = 0;
    b->oom = 0;
    return p;
}

void gc_buf_free(gc_buf *b)
{
    free(b->p);
    b->p = NULL;
    b->n = b->cap = 0;
    b->oom = 0;
}
