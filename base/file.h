/* file.h: opening and reading input files, the one way.
 *
 * Inputs (models, config, personas, transcripts, text for the tools) must be
 * regular files: a FIFO would block the open until a writer comes, a device
 * could be read forever. file_open_input checks before opening (stat) and
 * again on the descriptor (fstat, against a race), and every message starts
 * with "WHAT PATH: " (just "PATH: " when what is ""), then one of
 *     no such file / cannot open: REASON /
 *     not a regular file (a directory | a FIFO | a device | a socket)
 */
#ifndef GC_BASE_FILE_H
#define GC_BASE_FILE_H

#include <stddef.h>
#include <stdio.h>
#include <sys/stat.h>

#include "base/err.h"

/* 0 when path is a regular file, else the message above (nothing opened). */
int file_check_input(const char *path, const char *what, gc_err *err);

/* Opens path read-only (close-on-exec, non-blocking) as an input file; *st
 * gets its fstat. Returns the descriptor, or -1 with err set. */
int file_open_input(const char *path, const char *what, struct stat *st, gc_err *err);

/* Reads fd to its end into a malloc'd, NUL-terminated buffer (*out, *len
 * bytes without the NUL; len may be NULL). max > 0 stops after max + 1
 * bytes (*len == max + 1 then tells the caller it is too big, and where).
 * name is used in messages. */
int file_read_fd(int fd, const char *name, size_t max, char **out, size_t *len, gc_err *err);

/* The same for a stream (stdin). */
int file_read_stream(FILE *f, const char *name, size_t max, char **out, size_t *len, gc_err *err);

/* file_open_input + file_read_fd, with max as there. */
int file_read_path(const char *path, const char *what, size_t max, char **out, size_t *len, gc_err *err);

#endif
