/* file.c: input files (see file.h). */
#include "base/file.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static const char *sep(const char *what) { return what[0] ? " " : ""; }

static int not_regular(const char *path, const char *what, mode_t m, gc_err *err)
{
    const char *kind = S_ISDIR(m) ? "a directory" : S_ISFIFO(m) ? "a FIFO"
                     : S_ISCHR(m) || S_ISBLK(m) ? "a device" : S_ISSOCK(m) ? "a socket" : "not a file";
    return gc_errf(err, "%s%s%s: not a regular file (%s)", what, sep(what), path, kind);
}

static int open_failed(const char *path, const char *what, int e, gc_err *err)
{
    if (e == ENOENT) return gc_errf(err, "%s%s%s: no such file", what, sep(what), path);
    return gc_errf(err, "%s%s%s: cannot open: %s", what, sep(what), path, strerror(e));
}

int file_check_input(const char *path, const char *what, gc_err *err)
{
    struct stat st;
    if (stat(path, &st) != 0) return open_failed(path, what, errno, err);
    return S_ISREG(st.st_mode) ? 0 : not_regular(path, what, st.st_mode, err);
}

int file_open_input(const char *path, const char *what, struct stat *st, gc_err *err)
{
    if (file_check_input(path, what, err)) return -1;
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
    if (fd < 0) return open_failed(path, what, errno, err), -1;
    if (fstat(fd, st) != 0 || !S_ISREG(st->st_mode)) {
        int e = errno;
        mode_t m = st->st_mode;
        close(fd);
        return S_ISREG(m) ? open_failed(path, what, e, err) : not_regular(path, what, m, err);
    }
    return fd;
}

/* Grows *buf to hold at least need bytes; cap doubles. */
static int grow(char **buf, size_t *cap, size_t need)
{
    if (need <= *cap) return 0;
    size_t c = *cap ? *cap : 4096;
    while (c < need) {
        if (c > ((size_t)-1) / 2) return -1;
        c *= 2;
    }
    char *nb = realloc(*buf, c);
    if (!nb) return -1;
    *buf = nb;
    *cap = c;
    return 0;
}

/* The one read loop: next(src, dst, n) reads up to n bytes (0 at the end,
 * -1 on an error with errno set). */
typedef long (*read_fn)(void *src, char *dst, size_t n);

static int read_all(read_fn next, void *src, const char *name, size_t max, char **out, size_t *len, gc_err *err)
{
    char *buf = NULL;
    size_t n = 0, cap = 0, limit = max ? max + 1 : (size_t)-1 - 1;
    while (n < limit) {
        if (grow(&buf, &cap, n + (n < 65536 ? 4096 : n / 2) + 1)) {
            free(buf);
            return gc_errf(err, "%s: out of memory", name);
        }
        size_t want = cap - n - 1 < limit - n ? cap - n - 1 : limit - n;
        long k = next(src, buf + n, want);
        if (k < 0) {
            int e = errno;
            free(buf);
            return gc_errf(err, "%s: cannot read: %s", name, strerror(e));
        }
        if (k == 0) break;
        n += (size_t)k;
    }
    if (!buf && !(buf = malloc(1))) return gc_errf(err, "%s: out of memory", name);
    buf[n] = 0;
    *out = buf;
    if (len) *len = n;
    return 0;
}

static long read_fd(void *src, char *dst, size_t n)
{
    for (;;) {
        ssize_t k = read(*(int *)src, dst, n);
        if (k >= 0 || errno != EINTR) return (long)k;
    }
}

static long read_stream(void *src, char *dst, size_t n)
{
    size_t k = fread(dst, 1, n, (FILE *)src);
    if (k == 0 && ferror((FILE *)src)) {
        if (!errno) errno = EIO;
        return -1;
    }
    return (long)k;
}

int file_read_fd(int fd, const char *name, size_t max, char **out, size_t *len, gc_err *err)
{
    return read_all(read_fd, &fd, name, max, out, len, err);
}

int file_read_stream(FILE *f, const char *name, size_t max, char **out, size_t *len, gc_err *err)
{
    return read_all(read_stream, f, name, max, out, len, err);
}

int file_read_path(const char *path, const char *what, size_t max, char **out, size_t *len, gc_err *err)
{
    struct stat st;
    int fd = file_open_input(path, what, &st, err);
    if (fd < 0) return -1;
    int rc = file_read_fd(fd, path, max, out, len, err);
    close(fd);
    return rc;
}
