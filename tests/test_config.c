/* test_config.c: config.yaml layering and overrides, the repo config.yaml
 * documenting every key with its default, and broken configs giving errors
 * (or unknown keys warnings) that name file:line. */
#include <stdarg.h>

#include "app/config.h"
#include "app/paths.h"
#include "tests/test.h"
#include "tests/testfs.h"

#define DATA "tests/data/config"

static char tmproot[4096];

static void put_file(const char *path, const char *text)
{
    CHECK(tfs_write(path, text, strlen(text)) == 0, "write %s", path);
}

/* Keeps tests away from the real ~/.config and the environment. */
static void clean_env(void)
{
    static const char *vars[] = { "GEMMA_CHAT_MODEL", "GEMMA_CHAT_BACKEND", "GEMMA_CHAT_DEVICE", "GEMMA_CHAT_CONTEXT",
                                  "GEMMA_CHAT_PERSONA", "GEMMA_CHAT_SEED", "NO_COLOR", "GEMMA_CHAT_SHARE_DIR" };
    for (size_t i = 0; i < sizeof vars / sizeof vars[0]; i++) unsetenv(vars[i]);
    char p[4200];
    snprintf(p, sizeof p, "%s/xdg-config", tmproot);
    setenv("XDG_CONFIG_HOME", p, 1);
    snprintf(p, sizeof p, "%s/xdg-data", tmproot);
    setenv("XDG_DATA_HOME", p, 1);
}

/* The shipped config.yaml sets every key, to exactly the built-in default,
 * without a single warning. */
static void test_repo_config_documents_defaults(void)
{
    cfg_config def, c;
    cfg_defaults(&def);
    cfg_defaults(&c);
    tfs_warnings w = { 0 };
    gc_err err = {0};
    CHECK(cfg_load_file(&c, "config.yaml", CFG_SRC_SHARE, tfs_collect, &w, &err) == 0, "%s", err.msg);
    CHECK(w.n == 0, "config.yaml gives %d warnings, first: %s", w.n, w.msg[0]);
    CHECK(cfg_key_count() >= 20, "only %d keys", cfg_key_count());
    for (int i = 0; i < cfg_key_count(); i++) {
        const char *k = cfg_key_name(i);
        char a[256], b[256];
        cfg_format_value(&def, i, a, sizeof a);
        cfg_format_value(&c, i, b, sizeof b);
        CHECK(cfg_origin(&c, k) == CFG_SRC_SHARE, "config.yaml does not set '%s'", k);
        CHECK(!strcmp(a, b), "config.yaml sets '%s' to %s, the built-in default is %s", k, b, a);
    }
    /* The documented environment overrides are the ones implemented. */
    size_t len;
    char *text = tfs_read("config.yaml", &len);
    CHECK(text != NULL, "read config.yaml");
    static const char *env[] = { "GEMMA_CHAT_MODEL", "GEMMA_CHAT_BACKEND", "GEMMA_CHAT_DEVICE", "GEMMA_CHAT_CONTEXT",
                                 "GEMMA_CHAT_PERSONA", "GEMMA_CHAT_SEED", "NO_COLOR", "GEMMA_CHAT_SHARE_DIR" };
    for (size_t i = 0; text && i < sizeof env / sizeof env[0]; i++) CHECK_CONTAINS(text, env[i]);
    free(text);
}

static void test_defaults(void)
{
    cfg_config c;
    cfg_defaults(&c);
    CHECK(c.backend == CFG_BACKEND_AUTO, "backend");
    CHECK_STR(c.persona, "assistant");
    CHECK_STR(c.device, "auto");
    CHECK(c.context == 0 && c.max_tokens == 512, "context %d max_tokens %d", c.context, c.max_tokens);
    CHECK(c.sampling.seed == -1 && c.sampling.top_k == 64, "sampling");
    CHECK(c.autosave && c.colors == CFG_AUTO, "autosave/colors");
    for (int i = 0; i < cfg_key_count(); i++) CHECK(c.origin[i] == CFG_SRC_DEFAULT, "origin %d", i);
}

/* defaults < share < user < -c < env < flags, key by key. */
static void test_layering(void)
{
    clean_env();
    char share[4200], xdg[4200], userdir[4300], user[4400], extra[4300], p[4400];
    snprintf(share, sizeof share, "%s/share", tmproot);
    snprintf(xdg, sizeof xdg, "%s/xdg-config", tmproot);
    snprintf(userdir, sizeof userdir, "%s/gemma-chat", xdg);
    gc_err err = {0};
    CHECK(paths_mkdir_p(share, 0700, &err) == 0, "%s", err.msg);
    CHECK(paths_mkdir_p(userdir, 0700, &err) == 0, "%s", err.msg);
    snprintf(p, sizeof p, "%s/config.yaml", share);
    put_file(p, "model: models/m.gguf\ncontext: 1000\nsampling:\n  top_k: 10\n  min_p: 0.1\n");
    snprintf(user, sizeof user, "%s/config.yaml", userdir);
    put_file(user, "backend: cpu\nsampling:\n  top_k: 20\n  top_p: 0.5\nunknown_thing: 1\n");
    snprintf(extra, sizeof extra, "%s/extra.yaml", tmproot);
    put_file(extra, "sampling:\n  top_k: 30\npersona: coder\ncolors:\n  user: white on blue\n");
    setenv("GEMMA_CHAT_PERSONA", "teacher", 1);
    setenv("GEMMA_CHAT_CONTEXT", "2048", 1);

    cfg_config c;
    tfs_warnings w = { 0 };
    CHECK(cfg_load(&c, share, NULL, extra, tfs_collect, &w, &err) == 0, "%s", err.msg);
    char want_model[4400];
    snprintf(want_model, sizeof want_model, "%s/models/m.gguf", share);
    CHECK_STR(c.model, want_model);                      /* relative to the share file */
    CHECK(cfg_origin(&c, "model") == CFG_SRC_SHARE, "model origin");
    CHECK(c.backend == CFG_BACKEND_CPU && cfg_origin(&c, "backend") == CFG_SRC_USER, "backend from user file");
    CHECK(c.sampling.top_k == 30 && cfg_origin(&c, "sampling.top_k") == CFG_SRC_FILE, "top_k %d", c.sampling.top_k);
    CHECK_NEAR(c.sampling.top_p, 0.5, 1e-7);
    CHECK_NEAR(c.sampling.min_p, 0.1, 1e-7);
    CHECK(c.context == 2048 && cfg_origin(&c, "context") == CFG_SRC_ENV, "context %d", c.context);
    CHECK_STR(c.persona, "teacher");
    CHECK(c.color_user.fg == 7 && c.color_user.bg == 4 && c.color_user.attr == 0, "color");
    CHECK(cfg_origin(&c, "sampling.temperature") == CFG_SRC_DEFAULT, "untouched key keeps default origin");
    CHECK(w.n == 1, "%d warnings", w.n);
    if (w.n >= 1) CHECK(tfs_names_location(w.msg[0], user, 5, "unknown key 'unknown_thing'"), "%s", w.msg[0]);

    /* Flags win over everything. */
    CHECK(cfg_set(&c, "sampling.top_k", "50", CFG_SRC_FLAG, "--top-k", &err) == 0, "%s", err.msg);
    CHECK(cfg_set(&c, "persona", "pirate", CFG_SRC_FLAG, "--persona", &err) == 0, "%s", err.msg);
    CHECK(cfg_set(&c, "model", "rel.gguf", CFG_SRC_FLAG, "-m", &err) == 0, "%s", err.msg);
    CHECK(c.sampling.top_k == 50 && cfg_origin(&c, "sampling.top_k") == CFG_SRC_FLAG, "flag top_k");
    CHECK_STR(c.persona, "pirate");
    CHECK_STR(c.model, "rel.gguf");                      /* flags: relative to the working directory */

    /* NO_COLOR turns colors off; GEMMA_CHAT_SEED sets the seed. */
    setenv("NO_COLOR", "1", 1);
    setenv("GEMMA_CHAT_SEED", "77", 1);
    CHECK(cfg_apply_env(&c, &err) == 0, "%s", err.msg);
    CHECK(c.colors == CFG_OFF && cfg_origin(&c, "colors.enabled") == CFG_SRC_ENV, "NO_COLOR");
    CHECK(c.sampling.seed == 77, "GEMMA_CHAT_SEED");
    clean_env();
}

static void test_missing_files(void)
{
    clean_env();
    cfg_config c;
    gc_err err = {0};
    char nowhere[4200], missing[4300];
    snprintf(nowhere, sizeof nowhere, "%s/no-share", tmproot);
    /* No share file, no user file: just the defaults. */
    CHECK(cfg_load(&c, nowhere, NULL, NULL, NULL, NULL, &err) == 0, "%s", err.msg);
    CHECK(c.context == 0, "defaults");
    /* A missing -c file is an error naming it. */
    snprintf(missing, sizeof missing, "%s/missing.yaml", tmproot);
    CHECK(cfg_load(&c, nowhere, NULL, missing, NULL, NULL, &err) != 0, "missing -c accepted");
    CHECK_CONTAINS(err.msg, missing);
    /* A directory is not a config file. */
    CHECK(cfg_load(&c, nowhere, NULL, tmproot, NULL, NULL, &err) != 0, "directory accepted");
    CHECK_CONTAINS(err.msg, "not a regular file");
}

static void test_env_and_flag_errors(void)
{
    clean_env();
    cfg_config c;
    gc_err err = {0};
    cfg_defaults(&c);
    setenv("GEMMA_CHAT_CONTEXT", "lots", 1);
    CHECK(cfg_apply_env(&c, &err) != 0, "bad env accepted");
    CHECK_CONTAINS(err.msg, "GEMMA_CHAT_CONTEXT");
    CHECK_CONTAINS(err.msg, "'lots'");
    setenv("GEMMA_CHAT_CONTEXT", "", 1);          /* empty = unset */
    setenv("GEMMA_CHAT_BACKEND", "metal", 1);
    CHECK(cfg_apply_env(&c, &err) != 0, "bad backend accepted");
    CHECK_CONTAINS(err.msg, "GEMMA_CHAT_BACKEND: 'backend' must be auto, vulkan, cpu or ref, got 'metal'");
    clean_env();

    cfg_config before = c;
    CHECK(cfg_set(&c, "sampling.temperature", "-1", CFG_SRC_FLAG, "--temp", &err) != 0, "negative temperature");
    CHECK_CONTAINS(err.msg, "--temp: 'sampling.temperature' must be a number in [0, 10], got '-1'");
    CHECK(cfg_set(&c, "sampling.top_k", "1e3", CFG_SRC_FLAG, "--top-k", &err) != 0, "float top_k");
    CHECK(cfg_set(&c, "context", "8", CFG_SRC_FLAG, "--ctx", &err) != 0, "tiny context");
    CHECK(cfg_set(&c, "persona", "a/b", CFG_SRC_FLAG, "--persona", &err) != 0, "persona with slash");
    CHECK(cfg_set(&c, "nope", "1", CFG_SRC_FLAG, "--nope", &err) != 0, "unknown key");
    CHECK_CONTAINS(err.msg, "unknown setting 'nope'");
    CHECK(!memcmp(&before, &c, sizeof c), "failed sets changed the config");
    CHECK(cfg_set(&c, "sampling.temperature", "0", CFG_SRC_FLAG, "--temp", &err) == 0, "%s", err.msg);
    CHECK(cfg_set(&c, "sampling.seed", "9223372036854775807", CFG_SRC_FLAG, "--seed", &err) == 0, "%s", err.msg);
    CHECK(c.sampling.seed == 9223372036854775807ll, "max seed");
    CHECK(cfg_set(&c, "sampling.seed", "9223372036854775808", CFG_SRC_FLAG, "--seed", &err) != 0, "seed overflow");
    CHECK(cfg_set(&c, "colors.enabled", "no", CFG_SRC_FLAG, "--no-color", &err) == 0 && c.colors == CFG_OFF, "%s", err.msg);
    CHECK(cfg_set(&c, "backend", "CPU", CFG_SRC_FLAG, "--backend", &err) == 0 && c.backend == CFG_BACKEND_CPU, "%s", err.msg);
}

/* Loads a sample over the defaults; a failed load must change nothing. */
static int load_sample(const char *path, tfs_warnings *w, gc_err *err)
{
    cfg_config c, before;
    cfg_defaults(&c);
    before = c;
    int rc = cfg_load_file(&c, path, CFG_SRC_FILE, tfs_collect, w, err);
    if (rc) CHECK(!memcmp(&c, &before, sizeof c), "%s: a failed load changed the config", path);
    return rc;
}

static void test_good_samples(void)
{
    tfs_check_samples(DATA, "good-", 7, load_sample);
    cfg_config c;
    cfg_defaults(&c);
    gc_err err = {0};
    CHECK(cfg_load_file(&c, DATA "/good-colors-off.yaml", CFG_SRC_FILE, NULL, NULL, &err) == 0, "%s", err.msg);
    CHECK(c.colors == CFG_OFF, "colors: false");
    cfg_defaults(&c);
    CHECK(cfg_load_file(&c, DATA "/good-flow.yaml", CFG_SRC_FILE, NULL, NULL, &err) == 0, "%s", err.msg);
    CHECK(c.backend == CFG_BACKEND_CPU && c.sampling.top_k == 0 && c.sampling.seed == 42, "flow style");
    cfg_defaults(&c);
    CHECK(cfg_load_file(&c, DATA "/good-special-values.yaml", CFG_SRC_FILE, NULL, NULL, &err) == 0, "%s", err.msg);
    CHECK(c.context == 0 && c.max_tokens == -1 && c.sampling.repeat_last_n == -1, "special values");
    cfg_defaults(&c);
    setenv("HOME", "/home/tester", 1);
    CHECK(cfg_load_file(&c, DATA "/good-minimal.yaml", CFG_SRC_FILE, NULL, NULL, &err) == 0, "%s", err.msg);
    CHECK_STR(c.model, "/home/tester/models/gemma-3-270m-q4_k_m.gguf");
}

static void test_warning_samples(void)
{
    tfs_check_samples(DATA, "warn-", 4, load_sample);
    /* Known keys next to an unknown one still apply. */
    cfg_config c;
    cfg_defaults(&c);
    gc_err err = {0};
    CHECK(cfg_load_file(&c, DATA "/warn-unknown-key.yaml", CFG_SRC_FILE, NULL, NULL, &err) == 0, "%s", err.msg);
    CHECK(c.context == 2048, "context next to an unknown key: %d", c.context);
}

static void test_bad_samples(void)
{
    tfs_check_samples(DATA, "bad-", 30, load_sample);
}

/* Over 1 MiB: refused, naming the line where the limit falls. */
static void test_oversized(void)
{
    char path[4200];
    snprintf(path, sizeof path, "%s/big.yaml", tmproot);
    FILE *f = fopen(path, "wb");
    CHECK(f != NULL, "create");
    if (!f) return;
    char line[101];
    memset(line, '#', 99);
    line[99] = '\n';
    line[100] = 0;
    for (int i = 0; i < 11000; i++) fputs(line, f);   /* 1.1 MB of 100-byte comment lines */
    fclose(f);
    cfg_config c;
    cfg_defaults(&c);
    gc_err err = {0};
    CHECK(cfg_load_file(&c, path, CFG_SRC_FILE, NULL, NULL, &err) != 0, "1.1 MB config accepted");
    int want = (int)(CFG_MAX_CONFIG_BYTES / 100) + 1;
    CHECK(tfs_names_location(err.msg, path, want, "larger than the 1048576-byte limit"), "%s", err.msg);
    unlink(path);
}

/* cfg_format_value gives YAML that reads back as the same value. Strings
 * holding C1 controls, DEL or YAML line breaks (U+0085, U+2028) used to be
 * written raw, which a YAML stream refuses or reads differently (found by
 * fuzz_config; input in fuzz/regressions/config/). */
static void test_format_reloads(void)
{
    static const struct { const char *key, *value, *want; } cases[] = {
        { "device", "t\xc2\x8f" "cripts", "\"t\\x8Fcripts\"" },
        { "device", "a\xc2\x9b" "31m \"q\" \\ \xe2\x80\xa8 \xc2\x85 \xef\xbb\xbf \xc3\xa9",
          "\"a\\x9B31m \\\"q\\\" \\\\ \\u2028 \\x85 \\uFEFF \xc3\xa9\"" },
        { "model", "/m/a\x7f b.gguf", "\"/m/a\\x7F b.gguf\"" },
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        cfg_config c, r;
        cfg_defaults(&c);
        gc_err err = {0};
        CHECK(cfg_set(&c, cases[i].key, cases[i].value, CFG_SRC_FLAG, "test", &err) == 0, "%s", err.msg);
        int ki = -1;
        for (int k = 0; k < cfg_key_count(); k++)
            if (!strcmp(cfg_key_name(k), cases[i].key)) ki = k;
        char val[1024], yaml[1100], again[1024];
        cfg_format_value(&c, ki, val, sizeof val);
        CHECK_STR(val, cases[i].want);
        snprintf(yaml, sizeof yaml, "%s: %s\n", cases[i].key, val);
        cfg_defaults(&r);
        CHECK(cfg_load_buf(&r, "/t/c.yaml", yaml, strlen(yaml), CFG_SRC_FILE, NULL, NULL, &err) == 0, "%s: %s",
              yaml, err.msg);
        cfg_format_value(&r, ki, again, sizeof again);
        CHECK_STR(again, val);
    }
}

static void test_transcripts_dir(void)
{
    clean_env();
    cfg_config c;
    cfg_defaults(&c);
    char dir[4200], want[4300];
    gc_err err = {0};
    CHECK(cfg_transcripts_dir(&c, dir, sizeof dir, &err) == 0, "%s", err.msg);
    snprintf(want, sizeof want, "%s/xdg-data/gemma-chat/transcripts", tmproot);
    CHECK_STR(dir, want);
    struct stat st;
    CHECK(stat(dir, &st) == 0 && S_ISDIR(st.st_mode) && (st.st_mode & 0777) == 0700, "mode %o", st.st_mode & 0777);
    if (snprintf(c.transcripts_dir, sizeof c.transcripts_dir, "%s/custom/deep", tmproot) >= PATHS_MAX) return;
    CHECK(cfg_transcripts_dir(&c, dir, sizeof dir, &err) == 0, "%s", err.msg);
    CHECK(paths_is_dir(c.transcripts_dir), "custom dir created");
}

int main(void)
{
    if (tfs_mkdtemp(tmproot, sizeof tmproot, "config")) { perror("mkdtemp"); return 1; }
    TEST_RUN(test_defaults);
    TEST_RUN(test_repo_config_documents_defaults);
    TEST_RUN(test_layering);
    TEST_RUN(test_missing_files);
    TEST_RUN(test_env_and_flag_errors);
    TEST_RUN(test_good_samples);
    TEST_RUN(test_warning_samples);
    TEST_RUN(test_bad_samples);
    TEST_RUN(test_oversized);
    TEST_RUN(test_format_reloads);
    TEST_RUN(test_transcripts_dir);
    tfs_rmtree(tmproot);
    return test_summary();
}
