/* snapshot.c: the KV snapshot cache (see snapshot.h). */
#include "app/snapshot.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/buf.h"
#include "base/hash.h"

static const char SNAP_MAGIC[8] = { 'G', 'C', 'S', 'N', 'A', 'P', '\r', '\n' };

typedef struct snap_header {
    char magic[8];
    uint32_t version, reserved;
    uint64_t identity_len, n_tokens, state_len, checksum;
} snap_header;

#define SNAP_EXT ".snap"

int snap_open(snap_cache *c, const char *dir, const char *identity, uint64_t limit_bytes, gc_err *err)
{
    memset(c, 0, sizeof *c);
    if (snprintf(c->dir, sizeof c->dir, "%s", dir) >= (int)sizeof c->dir)
        return gc_errf(err, "snapshot directory path too long: %s", dir);
    if (paths_mkdir_p(c->dir, 0700, err)) return -1;
    c->identity = strdup(identity);
    if (!c->identity) return gc_errf(err, "out of memory");
    c->id_hash = gc_hash(identity, strlen(identity));
    c->limit = limit_bytes;
    return 0;
}

void snap_close(snap_cache *c)
{
    free(c->identity);
    c->identity = NULL;
}

static int snap_path(const snap_cache *c, const int32_t *toks, size_t n, char *buf, size_t len, gc_err *err)
{
    return paths_join(buf, len, err, "%s/%016" PRIx64 "-%016" PRIx64 SNAP_EXT, c->dir, c->id_hash,
                      gc_hash(toks, n * sizeof *toks));
}

static bool is_snap_name(const char *name)
{
    size_t n = strlen(name), e = strlen(SNAP_EXT);
    return n == 33 + e && name[0] != '.' && strcmp(name + n - e, SNAP_EXT) == 0;
}

/* Snapshot files of dir with their sizes and mtimes. */
typedef struct snap_entry {
    char name[64];
    uint64_t size;
    struct timespec mtime;
} snap_entry;

static int list_dir(const char *dir, snap_entry **out, size_t *n_out)
{
    *out = NULL;
    *n_out = 0;
    DIR *d = opendir(dir);
    if (!d) return -1;
    snap_entry *v = NULL;
    size_t n = 0, cap = 0;
    struct dirent *de;
    while ((de = readdir(d))) {
        if (!is_snap_name(de->d_name)) continue;
        struct stat st;
        if (fstatat(dirfd(d), de->d_name, &st, AT_SYMLINK_NOFOLLOW) || !S_ISREG(st.st_mode)) continue;
        if (GC_GROW(v, cap, n + 1)) break;
        memcpy(v[n].name, de->d_name, strlen(de->d_name) + 1);   /* is_snap_name: 38 bytes */
        v[n].size = (uint64_t)st.st_size;
        v[n].mtime = st.st_mtim;
        n++;
    }
    closedir(d);
    *out = v;
    *n_out = n;
    return 0;
}

uint64_t snap_dir_bytes(const char *dir)
{
    snap_entry *v;
    size_t n;
    uint64_t total = 0;
    if (list_dir(dir, &v, &n)) return 0;
    for (size_t i = 0; i < n; i++) total += v[i].size;
    free(v);
    return total;
}

static int older_first(const void *a, const void *b)
{
    const struct timespec *x = &((const snap_entry *)a)->mtime, *y = &((const snap_entry *)b)->mtime;
    if (x->tv_sec != y->tv_sec) return x->tv_sec < y->tv_sec ? -1 : 1;
    return (x->tv_nsec > y->tv_nsec) - (x->tv_nsec < y->tv_nsec);
}

/* Removes the least recently used files until the total is within limit. */
static void evict(const snap_cache *c)
{
    snap_entry *v;
    size_t n;
    if (list_dir(c->dir, &v, &n)) return;
    uint64_t total = 0;
    for (size_t i = 0; i < n; i++) total += v[i].size;
    if (n) qsort(v, n, sizeof *v, older_first);
    for (size_t i = 0; i < n && total > c->limit; i++) {
        char p[PATHS_MAX];
        if (snprintf(p, sizeof p, "%s/%s", c->dir, v[i].name) >= (int)sizeof p) continue;
        if (unlink(p) == 0) total -= v[i].size;
    }
    free(v);
}

/* The checksum of a file's body: its three parts hashed in turn. */
static uint64_t body_checksum(const char *id, size_t id_len, const int32_t *toks, size_t n, const void *state,
                              size_t len)
{
    uint64_t h = gc_hash_update(GC_HASH_SEED, id, id_len);
    h = gc_hash_update(h, toks, n * sizeof *toks);
    return gc_hash_final(gc_hash_update(h, state, len));
}

int snap_store(snap_cache *c, const int32_t *toks, size_t n, const void *state, size_t len, gc_err *err)
{
    if (n == 0) return gc_errf(err, "snapshot of an empty stream");
    size_t id_len = strlen(c->identity), body = id_len + n * sizeof *toks + len;
    if (sizeof(snap_header) + body > c->limit) return 0;
    char path[PATHS_MAX];
    if (snap_path(c, toks, n, path, sizeof path, err)) return -1;
    snap_header h = { .version = SNAP_VERSION, .identity_len = id_len, .n_tokens = n, .state_len = len,
                      .checksum = body_checksum(c->identity, id_len, toks, n, state, len) };
    memcpy(h.magic, SNAP_MAGIC, sizeof h.magic);
    const paths_part parts[] = { { &h, sizeof h }, { c->identity, id_len }, { toks, n * sizeof *toks },
                                 { state, len } };
    int rc = paths_write_atomic_parts(path, parts, 4, 0600, err);
    if (rc < 0) return -1;
    evict(c);
    return 0;
}

static bool read_full(int fd, void *dst, size_t n, off_t off)
{
    unsigned char *d = dst;
    while (n) {
        ssize_t r = pread(fd, d, n, off);
        if (r < 0 && errno == EINTR) continue;
        if (r <= 0) return false;
        d += r;
        n -= (size_t)r;
        off += r;
    }
    return true;
}

/* Reads a file's header, identity and tokens; false when it is not a
 * snapshot of this identity whose sizes add up to the file's. */
static bool read_head(const snap_cache *c, int fd, snap_header *h, int32_t **toks)
{
    struct stat st;
    *toks = NULL;
    if (fstat(fd, &st) || !S_ISREG(st.st_mode) || (uint64_t)st.st_size < sizeof *h) return false;
    if (!read_full(fd, h, sizeof *h, 0)) return false;
    uint64_t id_len = strlen(c->identity), left = (uint64_t)st.st_size - sizeof *h;
    if (memcmp(h->magic, SNAP_MAGIC, sizeof h->magic) || h->version != SNAP_VERSION || h->identity_len != id_len)
        return false;
    if (h->n_tokens == 0 || h->n_tokens > (left - id_len) / sizeof(int32_t) ||
        h->state_len != left - id_len - h->n_tokens * sizeof(int32_t))
        return false;
    char *id = malloc(id_len + 1);
    *toks = malloc(h->n_tokens * sizeof(int32_t));
    bool ok = id && *toks && read_full(fd, id, id_len, sizeof *h) && memcmp(id, c->identity, id_len) == 0 &&
              read_full(fd, *toks, h->n_tokens * sizeof(int32_t), (off_t)(sizeof *h + id_len));
    free(id);
    if (!ok) { free(*toks); *toks = NULL; }
    return ok;
}

/* Reads the state and checks the checksum. */
static bool read_state(const snap_cache *c, int fd, const snap_header *h, const int32_t *toks, void **state)
{
    size_t id_len = strlen(c->identity);
    *state = malloc(h->state_len ? h->state_len : 1);
    if (!*state || !read_full(fd, *state, h->state_len, (off_t)(sizeof *h + id_len + h->n_tokens * sizeof(int32_t)))) {
        free(*state);
        *state = NULL;
        return false;
    }
    bool ok = body_checksum(c->identity, id_len, toks, h->n_tokens, *state, h->state_len) == h->checksum;
    if (!ok) { free(*state); *state = NULL; }
    return ok;
}

int snap_find(snap_cache *c, const int32_t *toks, size_t n, size_t min_common, snap_hit *hit)
{
    memset(hit, 0, sizeof *hit);
    snap_entry *v;
    size_t nv;
    if (list_dir(c->dir, &v, &nv)) return 0;
    char want[17];
    snprintf(want, sizeof want, "%016" PRIx64, c->id_hash);
    /* Newest first, so that full ties go to the most recent. */
    if (nv) qsort(v, nv, sizeof *v, older_first);
    char best[PATHS_MAX] = "";
    size_t best_common = 0, best_extra = 0;
    for (size_t i = nv; i-- > 0;) {
        if (strncmp(v[i].name, want, 16) != 0) continue;
        char p[PATHS_MAX];
        if (snprintf(p, sizeof p, "%s/%s", c->dir, v[i].name) >= (int)sizeof p) continue;
        int fd = open(p, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
        if (fd < 0) continue;
        snap_header h;
        int32_t *t;
        if (read_head(c, fd, &h, &t)) {
            size_t k = 0;
            while (k < n && k < h.n_tokens && t[k] == toks[k]) k++;
            size_t extra = h.n_tokens - k;
            if (k >= min_common && (k > best_common || (k == best_common && extra < best_extra))) {
                best_common = k;
                best_extra = extra;
                snprintf(best, sizeof best, "%s", p);
            }
            free(t);
        } else {
            unlink(p);      /* not a snapshot of ours that any identity could read */
        }
        close(fd);
    }
    free(v);
    if (!best[0]) return 0;
    int fd = open(best, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    if (fd < 0) return 0;
    snap_header h;
    bool ok = read_head(c, fd, &h, &hit->toks) && read_state(c, fd, &h, hit->toks, &hit->state);
    close(fd);
    if (!ok) {
        unlink(best);
        snap_hit_free(hit);
        return 0;
    }
    hit->state_len = h.state_len;
    hit->n_toks = h.n_tokens;
    hit->common = best_common;
    utimensat(AT_FDCWD, best, NULL, 0);     /* used now: last in line for eviction */
    return 1;
}

void snap_hit_free(snap_hit *h)
{
    free(h->state);
    free(h->toks);
    memset(h, 0, sizeof *h);
}

int snap_file_identity(const char *path, char *buf, size_t n, gc_err *err)
{
    struct stat st;
    char real[PATHS_MAX];
    if (!realpath(path, real)) return gc_errf(err, "%s: %s", path, strerror(errno));
    if (stat(real, &st)) return gc_errf(err, "%s: %s", real, strerror(errno));
    return paths_join(buf, n, err, "%s size=%lld mtime=%lld.%09ld ino=%llu dev=%llu", real,
                      (long long)st.st_size, (long long)st.st_mtim.tv_sec, st.st_mtim.tv_nsec,
                      (unsigned long long)st.st_ino, (unsigned long long)st.st_dev);
}
