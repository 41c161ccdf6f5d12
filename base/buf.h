/* buf.h: growing arrays and byte buffers, the one way.
 *
 * gc_grow makes room in a malloc'd array whose capacity doubles (checked
 * for overflow): every "if (n == cap) { cap *= 2; realloc ... }" of the
 * code base is a call of it.
 *
 *     item *v = NULL; size_t n = 0, cap = 0;
 *     if (GC_GROW(v, cap, n + 1)) return gc_errf(err, "out of memory");
 *     v[n++] = x;
 *
 * gc_buf is a NUL-terminated byte string that grows as text is appended
 * (replies as they stream, rendered documents). A zeroed gc_buf is empty
 * and valid; b.p is NULL until the first append. Out of memory is sticky
 * (b.oom): a writer appends piece after piece and checks once at the end.
 */
#ifndef GC_BASE_BUF_H
#define GC_BASE_BUF_H

#include <stdarg.h>
#include <stddef.h>

/* Room for at least need elements of elem bytes in the array *arr_ptr (a T **)
 * of capacity *cap (elements; grows by doubling, from 16). Returns 0, or -1
 * when out of memory or the size would overflow (the array is untouched). */
int gc_grow(void *arr_ptr, size_t *cap, size_t need, size_t elem);
#define GC_GROW(arr, cap, need) gc_grow(&(arr), &(cap), (need), sizeof *(arr))

typedef struct gc_buf {
    char *p;        /* NUL-terminated once anything was appended */
    size_t n, cap;  /* bytes in use (without the NUL), bytes allocated */
    int oom;        /* an append ran out of memory: every later one does nothing */
} gc_buf;

/* Appends s[n] (then a NUL). 0, or -1 out of memory (b unchanged but for
 * oom). */
int gc_buf_add(gc_buf *b, const void *s, size_t n);
/* Appends the string s. */
int gc_buf_puts(gc_buf *b, const char *s);
/* Appends printf-style text. */
int gc_buf_printf(gc_buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
int gc_buf_vprintf(gc_buf *b, const char *fmt, va_list ap);
/* Hands the text over (malloc'd; "" when empty) and leaves b empty. NULL
 * when out of memory, now or in an earlier append (the text is freed). */
char *gc_buf_take(gc_buf *b, size_t *len);
void gc_buf_free(gc_buf *b);

#endif
