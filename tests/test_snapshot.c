/* test_snapshot.c: the KV snapshot cache (app/snapshot.h): the longest
 * shared prefix wins, nothing damaged or foreign is trusted, least recently
 * used files go first when the size bound is reached. */
#include <fcntl.h>
#include <sys/stat.h>

#include "app/snapshot.h"
#include "tests/test.h"
#include "tests/testfs.h"

static char tmproot[4096];

static void fill(int32_t *t, size_t n, int32_t base)
{
    for (size_t i = 0; i < n; i++) t[i] = base + (int32_t)i;
}

/* The one snapshot file in dir whose name is not `except` (NULL: any). */
static int snap_file(const char *dir, const char *except, char *out, size_t n)
{
    DIR *d = opendir(dir);
    struct dirent *de;
    int found = -1;
    while (d && (de = readdir(d))) {
        if (!strstr(de->d_name, ".snap") || (except && strstr(except, de->d_name))) continue;
        snprintf(out, n, "%s/%s", dir, de->d_name);
        found = 0;
    }
    if (d) closedir(d);
    return found;
}

static void set_mtime(const char *path, long sec)
{
    struct timespec ts[2] = { { sec, 0 }, { sec, 0 } };
    utimensat(AT_FDCWD, path, ts, 0);
}

static void test_longest_prefix(void)
{
    char dir[4200];
    snprintf(dir, sizeof dir, "%s/prefix", tmproot);
    snap_cache c;
    gc_err err = {0};
    CHECK(snap_open(&c, dir, "model A", 1 << 20, &err) == 0, "%s", err.msg);
    int32_t a[40], b[40];
    fill(a, 40, 100);
    memcpy(b, a, sizeof b);
    b[30] = 7;                              /* b shares 30 tokens with a */
    CHECK(snap_store(&c, a, 10, "state10", 8, &err) == 0, "%s", err.msg);
    CHECK(snap_store(&c, a, 25, "state25", 8, &err) == 0, "%s", err.msg);
    CHECK(snap_store(&c, b, 40, "stateB40", 9, &err) == 0, "%s", err.msg);

    snap_hit h;
    CHECK(snap_find(&c, a, 40, 1, &h) == 1, "a hit");
    CHECK(h.common == 30 && h.n_toks == 40 && h.state_len == 9, "common %zu n %zu", h.common, h.n_toks);
    CHECK(h.state && memcmp(h.state, "stateB40", 9) == 0, "state of b");
    CHECK(h.toks && h.toks[30] == 7, "b's tokens");
    snap_hit_free(&h);

    CHECK(snap_find(&c, a, 20, 1, &h) == 1 && h.common == 20 && h.n_toks == 25, "a[0..20): 25's has the least beyond it");
    snap_hit_free(&h);
    /* Nothing shares the first token; min_common is honoured. */
    int32_t other[5] = { 1, 2, 3, 4, 5 };
    CHECK(snap_find(&c, other, 5, 1, &h) == 0, "no hit for an unrelated stream");
    CHECK(snap_find(&c, a, 40, 31, &h) == 0, "none shares 31");

    /* Another identity sees none of them. */
    snap_cache c2;
    CHECK(snap_open(&c2, dir, "model B", 1 << 20, &err) == 0, "%s", err.msg);
    CHECK(snap_find(&c2, a, 40, 1, &h) == 0, "foreign identity");
    snap_close(&c2);
    CHECK(snap_dir_bytes(dir) > 0, "files kept for their own identity");
    snap_close(&c);
}

static void test_damaged_files_are_ignored(void)
{
    char dir[4200], path[4400];
    snprintf(dir, sizeof dir, "%s/damage", tmproot);
    snap_cache c;
    gc_err err = {0};
    CHECK(snap_open(&c, dir, "model A", 1 << 20, &err) == 0, "%s", err.msg);
    int32_t t[16];
    fill(t, 16, 5);
    char state[1000];
    for (int i = 0; i < 1000; i++) state[i] = (char)(i * 7);
    snap_hit h;

    for (int kind = 0; kind < 4; kind++) {
        CHECK(snap_store(&c, t, 16, state, sizeof state, &err) == 0, "%s", err.msg);
        CHECK(snap_file(dir, NULL, path, sizeof path) == 0, "the file");
        size_t len = 0;
        char *f = tfs_read(path, &len);
        CHECK(f && len == 48 + 7 + 64 + 1000, "size %zu", len);
        if (!f) return;
        const char *what;
        if (kind == 0) { f[len - 1] ^= 1; what = "a flipped state bit"; }
        else if (kind == 1) { len -= 100; what = "a truncated file"; }
        else if (kind == 2) { f[48 + 7 + 4] ^= 1; what = "a changed token"; }
        else { f[8] = 2; what = "a newer version"; }
        CHECK(tfs_write(path, f, len) == 0, "write");
        free(f);
        CHECK(snap_find(&c, t, 16, 1, &h) == 0, "%s must be ignored", what);
        /* A changed token may still be a valid-looking prefix; the checksum catches it. */
        CHECK(access(path, F_OK) != 0, "%s is removed", what);
    }
    /* Intact, it is found. */
    CHECK(snap_store(&c, t, 16, state, sizeof state, &err) == 0, "%s", err.msg);
    CHECK(snap_find(&c, t, 16, 1, &h) == 1 && h.state_len == 1000 && memcmp(h.state, state, 1000) == 0, "intact");
    snap_hit_free(&h);
    snap_close(&c);
}

static void test_lru_eviction(void)
{
    char dir[4200], first[4400], second[4400];
    snprintf(dir, sizeof dir, "%s/lru", tmproot);
    snap_cache c;
    gc_err err = {0};
    /* Room for two files of 48 + 1 + 4*4 + 1000 bytes, not three. */
    CHECK(snap_open(&c, dir, "m", 2200, &err) == 0, "%s", err.msg);
    char state[1000] = {0};
    int32_t t1[4] = { 1, 1, 1, 1 }, t2[4] = { 2, 2, 2, 2 }, t3[4] = { 3, 3, 3, 3 };
    CHECK(snap_store(&c, t1, 4, state, sizeof state, &err) == 0, "%s", err.msg);
    CHECK(snap_file(dir, NULL, first, sizeof first) == 0, "first");
    set_mtime(first, 1000);
    CHECK(snap_store(&c, t2, 4, state, sizeof state, &err) == 0, "%s", err.msg);
    CHECK(snap_file(dir, first, second, sizeof second) == 0, "second");
    set_mtime(second, 2000);
    /* Using the first renews it: the second is now the least recently used. */
    snap_hit h;
    CHECK(snap_find(&c, t1, 4, 1, &h) == 1, "hit on the first");
    snap_hit_free(&h);
    CHECK(snap_store(&c, t3, 4, state, sizeof state, &err) == 0, "%s", err.msg);
    CHECK(access(first, F_OK) == 0, "the recently used one stays");
    CHECK(access(second, F_OK) != 0, "the least recently used one goes");
    CHECK(snap_find(&c, t3, 4, 1, &h) == 1, "the new one is there");
    snap_hit_free(&h);
    CHECK(snap_dir_bytes(dir) <= 2200, "within the bound: %llu", (unsigned long long)snap_dir_bytes(dir));
    /* A state larger than the whole bound is not stored. */
    static char big[4000];
    int32_t t4[1] = { 4 };
    CHECK(snap_store(&c, t4, 1, big, sizeof big, &err) == 0, "%s", err.msg);
    CHECK(snap_find(&c, t4, 1, 1, &h) == 0, "too big to keep");
    snap_close(&c);
}

static void test_file_identity(void)
{
    char path[4200], a[PATHS_MAX], b[PATHS_MAX];
    gc_err err = {0};
    snprintf(path, sizeof path, "%s/model.gguf", tmproot);
    CHECK(tfs_write(path, "abc", 3) == 0, "write");
    set_mtime(path, 5000);
    CHECK(snap_file_identity(path, a, sizeof a, &err) == 0, "%s", err.msg);
    CHECK(tfs_write(path, "abd", 3) == 0, "rewrite");   /* same size, new content */
    CHECK(snap_file_identity(path, b, sizeof b, &err) == 0, "%s", err.msg);
    CHECK(strcmp(a, b) != 0, "a rewritten file changes identity: %s", b);
    CHECK_CONTAINS(a, "size=3");
    snprintf(path, sizeof path, "%s/missing.gguf", tmproot);
    CHECK(snap_file_identity(path, a, sizeof a, &err) != 0, "missing file");
    CHECK_CONTAINS(err.msg, "missing.gguf");
}

int main(void)
{
    if (tfs_mkdtemp(tmproot, sizeof tmproot, "snapshot")) { perror("mkdtemp"); return 1; }
    TEST_RUN(test_longest_prefix);
    TEST_RUN(test_damaged_files_are_ignored);
    TEST_RUN(test_lru_eviction);
    TEST_RUN(test_file_identity);
    char cmd[4200];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmproot);
    if (system(cmd)) return 1;
    return test_summary();
}
