/* testfs.h: file helpers shared by the data-file tests (config, persona,
 * transcript): temporary directories, whole-file reads, directory listings,
 * and the "# expect: LINE: text" convention of the sample corpora.
 *
 * A broken sample under tests/data/<area>/bad-*.yaml starts with the line
 *     # expect: LINE: TEXT
 * meaning: loading it must fail with a message that contains "PATH:LINE:"
 * (just "PATH:" when LINE is 0) and TEXT. warn-*.yaml files use
 * "# expect-warning: LINE: TEXT" the same way for warnings.
 */
#ifndef GC_TESTFS_H
#define GC_TESTFS_H

#include <dirent.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/err.h"
#include "tests/test.h"

/* A fresh directory under $TMPDIR (or /tmp); path in buf. */
static inline int tfs_mkdtemp(char *buf, size_t n, const char *tag)
{
    const char *t = getenv("TMPDIR");
    snprintf(buf, n, "%s/gc-%s-XXXXXX", t && t[0] ? t : "/tmp", tag);
    return mkdtemp(buf) ? 0 : -1;
}

/* Whole file, malloc'ed and NUL-terminated; NULL when unreadable. */
static inline char *tfs_read(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    size_t cap = 4096, n = 0;
    char *p = malloc(cap);
    size_t k;
    while (p && (k = fread(p + n, 1, cap - n - 1, f)) > 0) {
        n += k;
        if (n + 1 == cap) { char *q = realloc(p, cap *= 2); if (!q) { free(p); p = NULL; } else p = q; }
    }
    fclose(f);
    if (!p) return NULL;
    p[n] = 0;
    if (len) *len = n;
    return p;
}

static inline int tfs_write(const char *path, const void *data, size_t len)
{
    FILE *f = fopen(path, "wb");
    if (!f) return -1;
    size_t k = fwrite(data, 1, len, f);
    return fclose(f) == 0 && k == len ? 0 : -1;
}

/* Number of entries in dir other than . and ..; the first other than
 * `except` is copied to other (for "no temp file left" checks). */
static inline int tfs_count_entries(const char *dir, const char *except, char *other, size_t n)
{
    DIR *d = opendir(dir);
    if (!d) return -1;
    int count = 0;
    if (other && n) other[0] = 0;
    struct dirent *e;
    while ((e = readdir(d))) {
        if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, "..")) continue;
        count++;
        if (other && n && !other[0] && (!except || strcmp(e->d_name, except))) snprintf(other, n, "%s", e->d_name);
    }
    closedir(d);
    return count;
}

/* rm -rf for a test's own temporary tree (no symlink following needed). */
static inline void tfs_rmtree(const char *path)
{
    DIR *d = opendir(path);
    if (d) {
        struct dirent *e;
        while ((e = readdir(d))) {
            if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, "..")) continue;
            char p[8192];
            if (snprintf(p, sizeof p, "%s/%s", path, e->d_name) >= (int)sizeof p) continue;
            struct stat st;
            if (lstat(p, &st) == 0 && S_ISDIR(st.st_mode)) tfs_rmtree(p);
            else unlink(p);
        }
        closedir(d);
    }
    rmdir(path);
}

/* Reads the "# expect: LINE: TEXT" (or expect-warning) header of a sample.
 * Returns 0 and fills line/text when present. */
static inline int tfs_expectation(const char *path, const char *tag, int *line, char *text, size_t n)
{
    FILE *f = fopen(path, "rb");
    if (!f) return -1;
    char buf[512];
    int rc = -1;
    char prefix[64];
    snprintf(prefix, sizeof prefix, "# %s: ", tag);
    if (fgets(buf, sizeof buf, f) && !strncmp(buf, prefix, strlen(prefix))) {
        char *p = buf + strlen(prefix);
        *line = atoi(p);
        char *colon = strchr(p, ':');
        if (colon) {
            colon++;
            while (*colon == ' ') colon++;
            colon[strcspn(colon, "\r\n")] = 0;
            snprintf(text, n, "%s", colon);
            rc = 0;
        }
    }
    fclose(f);
    return rc;
}

/* Sorted list of files in dir whose names start with prefix and end in
 * suffix; returns the count (at most max), names in names[i][256]. */
static inline int tfs_list(const char *dir, const char *prefix, const char *suffix, char (*names)[256], int max)
{
    DIR *d = opendir(dir);
    if (!d) return 0;
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)) && n < max) {
        size_t l = strlen(e->d_name), ls = strlen(suffix);
        if (strncmp(e->d_name, prefix, strlen(prefix)) || l < ls || strcmp(e->d_name + l - ls, suffix)) continue;
        snprintf(names[n++], 256, "%s", e->d_name);
    }
    closedir(d);
    for (int i = 1; i < n; i++)
        for (int j = i; j > 0 && strcmp(names[j - 1], names[j]) > 0; j--) {
            char t[256];
            memcpy(t, names[j], 256);
            memcpy(names[j], names[j - 1], 256);
            memcpy(names[j - 1], t, 256);
        }
    return n;
}

/* Checks that msg names "path:line:" (or "path:" for line 0) and contains text. */
static inline int tfs_names_location(const char *msg, const char *path, int line, const char *text)
{
    char loc[4200];
    int k = line > 0 ? snprintf(loc, sizeof loc, "%s:%d:", path, line) : snprintf(loc, sizeof loc, "%s:", path);
    if (k < 0 || k >= (int)sizeof loc) return 0;
    return strstr(msg, loc) && strstr(msg, text);
}

/* Warnings collected from a loader's callback. */
typedef struct tfs_warnings {
    int n;
    char msg[8][600];
} tfs_warnings;

static inline void tfs_collect(void *ctx, const char *msg)
{
    tfs_warnings *w = ctx;
    if (w->n < 8) snprintf(w->msg[w->n], sizeof w->msg[0], "%s", msg);
    w->n++;
}

/* Loads one sample file; returns 0 on success. */
typedef int (*tfs_load_fn)(const char *path, tfs_warnings *w, gc_err *err);

/* Runs `load` on every DIR/PREFIX*.yaml (at least min_count of them):
 * "good-" files must load without warnings, "warn-" files must load with
 * exactly the one warning of their "# expect-warning:" line, "bad-" files
 * must fail with the location and text of their "# expect:" line. */
static inline void tfs_check_samples(const char *dir, const char *prefix, int min_count, tfs_load_fn load)
{
    static char names[256][256];
    int n = tfs_list(dir, prefix, ".yaml", names, 256);
    CHECK(n >= min_count, "%s/%s*.yaml: %d samples, want at least %d", dir, prefix, n, min_count);
    bool bad = !strcmp(prefix, "bad-"), warn = !strcmp(prefix, "warn-");
    for (int i = 0; i < n; i++) {
        char path[600], text[256];
        int line = -1;
        if (snprintf(path, sizeof path, "%s/%s", dir, names[i]) >= (int)sizeof path) continue;
        if (bad || warn)
            CHECK(tfs_expectation(path, bad ? "expect" : "expect-warning", &line, text, sizeof text) == 0,
                  "%s has no expectation line", path);
        tfs_warnings w = { 0 };
        gc_err err = { { 0 } };
        int rc = load(path, &w, &err);
        if (bad) {
            CHECK(rc != 0, "%s loaded but must fail", path);
            CHECK(tfs_names_location(err.msg, path, line, text), "%s: want line %d and '%s' in: %s", path, line,
                  text, err.msg);
        } else {
            CHECK(rc == 0, "%s: %s", path, err.msg);
            CHECK(w.n == (warn ? 1 : 0), "%s: %d warnings: %s", path, w.n, w.n ? w.msg[0] : "");
            if (warn && w.n)
                CHECK(tfs_names_location(w.msg[0], path, line, text), "%s: want line %d and '%s' in: %s", path,
                      line, text, w.msg[0]);
        }
    }
}

#endif
