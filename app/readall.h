/* readall.h: a whole file or stream into memory, for commands that take text
 * or ids from a file or stdin. */
#ifndef GC_READALL_H
#define GC_READALL_H

#include <stddef.h>
#include <stdio.h>

#include "model/err.h"

/* Reads f to its end into a malloc'd, NUL-terminated buffer (*out, length
 * *len when len is not NULL). name is used in messages ("stdin", a path). */
int readall(FILE *f, const char *name, char **out, size_t *len, gc_err *err);
/* The same for the file at path (the error names it and why it failed). */
int readall_path(const char *path, char **out, size_t *len, gc_err *err);

#endif
