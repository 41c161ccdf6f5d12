#include "base/err.h"

#include <stdio.h>
#include <string.h>

int gc_errf(gc_err *err, const char *fmt, ...)
{
    if (!err) return -1;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err->msg, sizeof err->msg, fmt, ap);
    va_end(ap);
    return -1;
}

int gc_err_prefix(gc_err *err, const char *fmt, ...)
{
    if (!err) return -1;
    char prefix[512], old[sizeof err->msg];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(prefix, sizeof prefix, fmt, ap);
    va_end(ap);
    memcpy(old, err->msg, sizeof old);
    old[sizeof old - 1] = 0;
    /* Truncation is fine for a message; compose by hand so the compiler
     * does not flag the deliberate cut. */
    size_t n = strlen(prefix), cap = sizeof err->msg - 1;
    if (n > cap) n = cap;
    memcpy(err->msg, prefix, n);
    size_t k = n;
    if (k + 2 <= cap) { err->msg[k++] = ':'; err->msg[k++] = ' '; }
    size_t m = strlen(old);
    if (m > cap - k) m = cap - k;
    memcpy(err->msg + k, old, m);
    err->msg[k + m] = 0;
    return -1;
}
