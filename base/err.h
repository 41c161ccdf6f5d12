/* err.h: the one error convention of gemma-chat.
 *
 * A function that can fail returns int (0 = ok, nonzero = failed) and, on failure,
 * fills a gc_err with a message that names the file / field / value at fault.
 * The caller decides where the message goes (stderr, the status bar). Only
 * app/main.c exits the process.
 *
 *     gc_err err = {0};
 *     if (gguf_open(&g, path, &err)) { fprintf(stderr, "%s\n", err.msg); ... }
 */
#ifndef GC_ERR_H
#define GC_ERR_H

#include <stdarg.h>

typedef struct gc_err {
    char msg[1024];
} gc_err;

/* Formats into err->msg (err may be NULL) and returns -1, so that
 * `return gc_errf(err, "...")` reports and fails in one line. */
int gc_errf(gc_err *err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Prefixes an existing message: "context: old message". Returns -1. */
int gc_err_prefix(gc_err *err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#endif
