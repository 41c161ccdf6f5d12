/* test_paths.c: XDG directories and their defaults, mkdir -p with mode
 * 0700, the share-directory lookup order, safe names, atomic writes. */
#include "app/paths.h"
#include "base/fault.h"
#include "tests/test.h"
#include "tests/testfs.h"

static char tmproot[4096];

static void test_user_dirs(void)
{
    char buf[PATHS_MAX];
    gc_err err = {0};
    setenv("HOME", "/home/u", 1);
    unsetenv("XDG_CONFIG_HOME");
    unsetenv("XDG_DATA_HOME");
    unsetenv("XDG_STATE_HOME");
    unsetenv("XDG_CACHE_HOME");
    CHECK(paths_user_dir(PATHS_CONFIG, buf, sizeof buf, &err) == 0, "%s", err.msg);
    CHECK_STR(buf, "/home/u/.config/gemma-chat");
    paths_user_dir(PATHS_DATA, buf, sizeof buf, &err);
    CHECK_STR(buf, "/home/u/.local/share/gemma-chat");
    paths_user_dir(PATHS_STATE, buf, sizeof buf, &err);
    CHECK_STR(buf, "/home/u/.local/state/gemma-chat");
    paths_user_dir(PATHS_CACHE, buf, sizeof buf, &err);
    CHECK_STR(buf, "/home/u/.cache/gemma-chat");
    setenv("XDG_DATA_HOME", "/x/data", 1);
    paths_user_dir(PATHS_DATA, buf, sizeof buf, &err);
    CHECK_STR(buf, "/x/data/gemma-chat");
    /* The XDG spec: a relative value is invalid and ignored. */
    setenv("XDG_CONFIG_HOME", "relative/dir", 1);
    paths_user_dir(PATHS_CONFIG, buf, sizeof buf, &err);
    CHECK_STR(buf, "/home/u/.config/gemma-chat");
    unsetenv("XDG_CONFIG_HOME");
    unsetenv("XDG_DATA_HOME");

    CHECK(paths_expand("~/m.gguf", NULL, buf, sizeof buf, &err) == 0, "%s", err.msg);
    CHECK_STR(buf, "/home/u/m.gguf");
    paths_expand("m.gguf", "/etc/gc", buf, sizeof buf, &err);
    CHECK_STR(buf, "/etc/gc/m.gguf");
    paths_expand("/abs/m.gguf", "/etc/gc", buf, sizeof buf, &err);
    CHECK_STR(buf, "/abs/m.gguf");
    paths_expand("~user/m", NULL, buf, sizeof buf, &err);
    CHECK_STR(buf, "~user/m");
}

/* Issue 23 item 7: an over-long path is named by its start, not by the
 * format string ("for '%s/%s'"). */
static void test_join_too_long(void)
{
    char buf[64], dir[200];
    memset(dir, 'd', sizeof dir - 1);
    dir[sizeof dir - 1] = 0;
    gc_err err = {0};
    CHECK(paths_join(buf, sizeof buf, &err, "%s/%s", dir, "x.yaml") == -1, "too long is an error");
    CHECK(!strstr(err.msg, "%s"), "no raw format in: %s", err.msg);
    CHECK_CONTAINS(err.msg, "path too long (206 bytes, at most 63)");
    CHECK_CONTAINS(err.msg, "'dddddddddd");
    CHECK(buf[0] == 0, "buf emptied");
}

static void test_mkdir(void)
{
    char dir[4200], file[4300], below[4400];
    gc_err err = {0};
    snprintf(dir, sizeof dir, "%s/a/b//c", tmproot);
    CHECK(paths_mkdir_p(dir, 0700, &err) == 0, "%s", err.msg);
    struct stat st;
    snprintf(file, sizeof file, "%s/a/b", tmproot);
    CHECK(stat(file, &st) == 0 && S_ISDIR(st.st_mode) && (st.st_mode & 0777) == 0700, "mode %o", st.st_mode & 0777);
    CHECK(paths_mkdir_p(dir, 0700, &err) == 0, "existing: %s", err.msg);
    snprintf(file, sizeof file, "%s/plain", tmproot);
    tfs_write(file, "x", 1);
    snprintf(below, sizeof below, "%s/sub", file);
    CHECK(paths_mkdir_p(below, 0700, &err) != 0, "mkdir below a file");
    CHECK_CONTAINS(err.msg, "is not a directory");
    CHECK_CONTAINS(err.msg, file);

    setenv("XDG_STATE_HOME", tmproot, 1);
    char got[PATHS_MAX];
    CHECK(paths_ensure_user_dir(PATHS_STATE, NULL, got, sizeof got, &err) == 0, "%s", err.msg);
    CHECK(paths_is_dir(got), "%s", got);
    unsetenv("XDG_STATE_HOME");
}

static void test_share_dir(void)
{
    char tree[4200], bin[4300], share[4300], p[4400], got[PATHS_MAX];
    gc_err err = {0};
    unsetenv("GEMMA_CHAT_SHARE_DIR");
    /* Installed layout: PREFIX/bin and PREFIX/share/gemma-chat/prompts. */
    snprintf(tree, sizeof tree, "%s/prefix", tmproot);
    snprintf(bin, sizeof bin, "%s/bin", tree);
    snprintf(share, sizeof share, "%s/share/gemma-chat", tree);
    snprintf(p, sizeof p, "%s/prompts", share);
    paths_mkdir_p(bin, 0700, &err);
    paths_mkdir_p(p, 0700, &err);
    CHECK(paths_share_dir_from(bin, got, sizeof got, &err) == 0, "%s", err.msg);
    CHECK_STR(got, share);
    /* Source tree: prompts/ next to the binary wins. */
    snprintf(p, sizeof p, "%s/prompts", bin);
    paths_mkdir_p(p, 0700, &err);
    CHECK(paths_share_dir_from(bin, got, sizeof got, &err) == 0, "%s", err.msg);
    CHECK_STR(got, bin);
    /* The environment wins over both, and must hold prompts/. */
    setenv("GEMMA_CHAT_SHARE_DIR", share, 1);
    CHECK(paths_share_dir_from(bin, got, sizeof got, &err) == 0, "%s", err.msg);
    CHECK_STR(got, share);
    setenv("GEMMA_CHAT_SHARE_DIR", tmproot, 1);
    CHECK(paths_share_dir_from(bin, got, sizeof got, &err) != 0, "share dir without prompts/ accepted");
    CHECK_CONTAINS(err.msg, "GEMMA_CHAT_SHARE_DIR");
    unsetenv("GEMMA_CHAT_SHARE_DIR");
    /* Tests run in the repo root, which holds prompts/: a binary there uses it. */
    CHECK(paths_share_dir_from(".", got, sizeof got, &err) == 0, "%s", err.msg);
}

static void test_names(void)
{
    gc_err err = {0};
    CHECK(paths_check_name("pirate", "persona name", &err) == 0, "%s", err.msg);
    CHECK(paths_check_name("my chat 2025-01-01", "name", &err) == 0, "%s", err.msg);
    CHECK(paths_check_name("a..b", "name", &err) != 0, "'..' inside");
    CHECK(paths_check_name("a/b", "thing name", &err) != 0 && strstr(err.msg, "thing name"), "%s", err.msg);
    CHECK(paths_check_name("\xc2\x85", "name", &err) != 0, "C1 control accepted");
    CHECK(paths_check_name("\xe2\x80", "name", &err) != 0, "cut UTF-8 accepted");
}

static void test_atomic_basic(void)
{
    char path[4200];
    gc_err err = {0};
    snprintf(path, sizeof path, "%s/new.txt", tmproot);
    CHECK(paths_write_atomic(path, "hello", 5, 0600, &err) == 0, "%s", err.msg);
    size_t len;
    char *s = tfs_read(path, &len);
    CHECK(s && len == 5 && !memcmp(s, "hello", 5), "content");
    free(s);
    struct stat st;
    CHECK(stat(path, &st) == 0 && (st.st_mode & 0777) == 0600, "mode %o", st.st_mode & 0777);
    CHECK(paths_write_atomic(path, "", 0, 0644, &err) == 0, "%s", err.msg);
    CHECK(stat(path, &st) == 0 && st.st_size == 0 && (st.st_mode & 0777) == 0644, "empty rewrite");
    char missing[4300];
    snprintf(missing, sizeof missing, "%s/no/such/dir/x", tmproot);
    CHECK(paths_write_atomic(missing, "x", 1, 0600, &err) != 0, "write into a missing dir");
    CHECK_CONTAINS(err.msg, missing);
    /* Into a directory path: the rename fails, nothing is left behind. */
    char dir[4300];
    snprintf(dir, sizeof dir, "%s/isdir", tmproot);
    mkdir(dir, 0700);
    char keep[4400];
    snprintf(keep, sizeof keep, "%s/inside", dir);
    tfs_write(keep, "k", 1);
    CHECK(paths_write_atomic(dir, "x", 1, 0600, &err) != 0, "replaced a directory");
    CHECK(paths_is_dir(dir) && tfs_count_entries(dir, NULL, NULL, 0) == 1, "directory damaged");
}

/* Several pieces make one file, in order; a write failing in the second
 * piece leaves the previous file as it was. */
static void test_atomic_parts(void)
{
    char path[4200];
    gc_err err = {0};
    snprintf(path, sizeof path, "%s/parts.bin", tmproot);
    const paths_part parts[] = { { "head", 4 }, { "", 0 }, { "body-", 5 }, { "tail", 4 } };
    CHECK(paths_write_atomic_parts(path, parts, 4, 0600, &err) == 0, "%s", err.msg);
    size_t len;
    char *s = tfs_read(path, &len);
    CHECK(s && len == 13 && !memcmp(s, "headbody-tail", 13), "content %.*s", s ? (int)len : 0, s ? s : "");
    free(s);
    int entries = tfs_count_entries(tmproot, NULL, NULL, 0);
    CHECK(gc_fault_set("write:2") == 0, "fault spec");
    CHECK(paths_write_atomic_parts(path, parts, 4, 0600, &err) < 0, "the second write's failure is reported");
    CHECK_CONTAINS(err.msg, "unchanged");
    gc_fault_set("");
    s = tfs_read(path, &len);
    CHECK(s && len == 13 && !memcmp(s, "headbody-tail", 13), "the old file changed");
    free(s);
    CHECK(tfs_count_entries(tmproot, NULL, NULL, 0) == entries, "a temporary file was left behind");
}

int main(void)
{
    if (tfs_mkdtemp(tmproot, sizeof tmproot, "paths")) { perror("mkdtemp"); return 1; }
    TEST_RUN(test_user_dirs);
    TEST_RUN(test_join_too_long);
    TEST_RUN(test_mkdir);
    TEST_RUN(test_share_dir);
    TEST_RUN(test_names);
    TEST_RUN(test_atomic_basic);
    TEST_RUN(test_atomic_parts);
    tfs_rmtree(tmproot);
    return test_summary();
}
