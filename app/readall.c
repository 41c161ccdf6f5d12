/* readall.c: see readall.h. */
#include "app/readall.h"

#include "app/paths.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

int readall(FILE *f, const char *name, char **out, size_t *len, gc_err *err)
{
    size_t cap = 4096, n = 0;
    char *buf = malloc(cap);
    while (buf) {
        n += fread(buf + n, 1, cap - n - 1, f);
        if (n < cap - 1) break;
        char *nb = realloc(buf, cap * 2);
        if (!nb) { free(buf); buf = NULL; break; }
        buf = nb;
        cap *= 2;
    }
    if (!buf) return gc_errf(err, "%s: out of memory", name);
    if (ferror(f)) { free(buf); return gc_errf(err, "%s: read error", name); }
    buf[n] = 0;
    *out = buf;
    if (len) *len = n;
    return 0;
}

int readall_path(const char *path, char **out, size_t *len, gc_err *err)
{
    if (paths_check_input(path, "", err)) return -1;
    FILE *f = fopen(path, "rb");
    if (!f) return gc_errf(err, "%s: %s", path, strerror(errno));
    int rc = readall(f, path, out, len, err);
    fclose(f);
    return rc;
}
