/* test_slash.c: what the two front ends share through app/slash.h and
 * app/backends.h, without a screen:
 *  - slash_parse: a command from the first non-blank "/", "//text" sends
 *    "/text", blank lines are nothing;
 *  - slash_completions: the command names for the first word, the argument's
 *    words after it (the /set keys; persona names with "none" among them;
 *    saved transcripts without ".yaml"); nothing for other commands;
 *  - slash_input on a chat opened on a generated model (CPU backend): a
 *    "//" line reaches the transcript as a message starting with "/", a
 *    command does not, /quit ends the chat;
 *  - backends_choose_fallback: when Vulkan gives way to the CPU backend. */
#include <stdlib.h>
#include <string.h>

#include "app/backends.h"
#include "app/chat.h"
#include "app/slash.h"
#include "tests/test.h"
#include "tests/testfs.h"
#include "vk/vk_backend.h"

static void check_parse(const char *line, slash_kind want, const char *want_text)
{
    const char *text = NULL;
    slash_kind k = slash_parse(line, &text);
    CHECK(k == want, "'%s': kind %d, want %d", line, (int)k, (int)want);
    if (want != SLASH_BLANK) CHECK_STR(text, want_text);
}

static void test_parse(void)
{
    check_parse("/help", SLASH_COMMAND, "/help");
    check_parse("  \t/save keep", SLASH_COMMAND, "/save keep");
    check_parse("/", SLASH_COMMAND, "/");
    check_parse("//etc/passwd is a file", SLASH_MESSAGE, "/etc/passwd is a file");
    check_parse("  //x", SLASH_MESSAGE, "/x");
    check_parse("//", SLASH_MESSAGE, "/");
    check_parse("hello /help", SLASH_MESSAGE, "hello /help");
    check_parse("  indented", SLASH_MESSAGE, "  indented");     /* a message keeps its own spaces */
    check_parse("", SLASH_BLANK, NULL);
    check_parse(" \t\r\n", SLASH_BLANK, NULL);
}

/* Whether words[0..n) holds w. */
static bool has_word(char **words, int n, const char *w)
{
    for (int i = 0; i < n; i++)
        if (!strcmp(words[i], w)) return true;
    return false;
}

static void test_complete_static(void)
{
    char **w = NULL;
    int n = -1;
    CHECK(slash_completions(NULL, "/", 0, &w, &n) == 0, "command names");
    CHECK(n == slash_count(), "%d command names, want %d", n, slash_count());
    if (n > 0) CHECK_STR(w[0], slash_cmds[0].name);
    CHECK(has_word(w, n, "/load") && has_word(w, n, "/quit"), "the names hold /load and /quit");
    chat_free_names(w, n);

    CHECK(slash_completions(NULL, "/set te", 5, &w, &n) == 0, "/set keys");
    int keys = 0;
    while (slash_set_keys[keys]) keys++;
    CHECK(n == keys && n > 0, "%d /set keys, want %d", n, keys);
    if (n > 0) CHECK_STR(w[0], "temperature");
    CHECK(has_word(w, n, "max_tokens"), "the /set keys hold max_tokens");
    chat_free_names(w, n);

    CHECK(slash_completions(NULL, "/export notes", 8, &w, &n) == 0 && n == 0, "/export: %d words, want 0", n);
    chat_free_names(w, n);
    CHECK(slash_completions(NULL, "/nope x", 6, &w, &n) == 0 && n == 0, "unknown command: %d words, want 0", n);
    chat_free_names(w, n);

    CHECK(slash_find("/save", 5) && !strcmp(slash_find("/save", 5)->name, "/save"), "slash_find /save");
    CHECK(slash_find("/save keep", 5) != NULL, "slash_find reads only the word");
    CHECK(slash_find("/sav", 4) == NULL, "slash_find wants the whole name");
}

/* --- a chat on the generated model --- */

typedef struct sink {
    int notices, errors, resets;
    char last_error[1024];
} sink;

static void on_notice(void *u, const char *text) { (void)text; ((sink *)u)->notices++; }
static void on_reset(void *u) { ((sink *)u)->resets++; }

static void on_error(void *u, const char *text)
{
    sink *k = u;
    k->errors++;
    snprintf(k->last_error, sizeof k->last_error, "%s", text);
}

static void write_file(const char *dir, const char *name, const char *text)
{
    char path[1024];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    CHECK(tfs_write(path, text, strlen(text)) == 0, "cannot write %s", path);
}

static void test_chat(void)
{
    const char *models = getenv("MODELS") ? getenv("MODELS") : "build/models";
    char tmp[512], dir[1024], model[1024];
    CHECK(tfs_mkdtemp(tmp, sizeof tmp, "slash") == 0, "mkdtemp");
    setenv("HOME", tmp, 1);
    setenv("XDG_CONFIG_HOME", tmp, 1);
    setenv("XDG_DATA_HOME", tmp, 1);
    setenv("XDG_STATE_HOME", tmp, 1);
    setenv("XDG_CACHE_HOME", tmp, 1);
    snprintf(dir, sizeof dir, "%s/gemma-chat", tmp);
    mkdir(dir, 0700);
    snprintf(dir, sizeof dir, "%s/gemma-chat/prompts", tmp);
    mkdir(dir, 0700);
    write_file(dir, "zz-tester.yaml", "description: a test persona\ninstruction: Be brief.\n");
    snprintf(dir, sizeof dir, "%s/gemma-chat/transcripts", tmp);
    mkdir(dir, 0700);

    cfg_config cfg;
    cfg_defaults(&cfg);
    snprintf(model, sizeof model, "%s/g3-default.gguf", models);
    snprintf(cfg.model, sizeof cfg.model, "%s", model);
    snprintf(cfg.persona, sizeof cfg.persona, "%s", CHAT_NO_PERSONA);
    cfg.backend = CFG_BACKEND_CPU;
    cfg.threads = 1;
    cfg.context = 512;
    cfg.max_tokens = 4;
    cfg.sampling.seed = 7;
    cfg.autosave = false;
    cfg.snapshots_mib = 0;

    chat *c = NULL;
    gc_err err = { 0 };
    int rc = chat_open(&c, &cfg, NULL, NULL, NULL, NULL, &err);
    CHECK(rc == 0, "chat_open %s: %s", model, err.msg);
    if (rc) {
        chat_close(c);
        tfs_rmtree(tmp);
        return;
    }
    sink k = { 0 };
    chat_fe fe = { .user = &k, .notice = on_notice, .error = on_error, .reset = on_reset };
    chat_set_fe(c, &fe);

    /* Persona names: the user's file, and "none" (no file of that name). */
    char **w = NULL;
    int n = 0;
    CHECK(slash_completions(c, "/persona z", 9, &w, &n) == 0, "persona names");
    CHECK(has_word(w, n, "zz-tester") && has_word(w, n, CHAT_NO_PERSONA), "%d persona names lack zz-tester or none",
          n);
    for (int i = 1; i < n; i++) CHECK(strcmp(w[i - 1], w[i]) < 0, "persona names sorted: %s, %s", w[i - 1], w[i]);
    chat_free_names(w, n);
    persona_entry *list = NULL;
    size_t ln = 0;
    CHECK(chat_personas(c, &list, &ln, &err) == 0, "%s", err.msg);
    CHECK(ln > 0 && !strcmp(list[ln - 1].name, CHAT_NO_PERSONA), "chat_personas ends with none");
    free(list);

    /* Transcript names: the saved files, without .yaml; other files are not listed. */
    write_file(dir, "trip-notes.yaml", "x");
    write_file(dir, "readme.txt", "x");
    CHECK(slash_completions(c, "/load t", 6, &w, &n) == 0, "transcript names");
    CHECK(n == 1 && has_word(w, n, "trip-notes"), "%d transcript names, want trip-notes alone", n);
    chat_free_names(w, n);
    CHECK(slash_completions(c, "/save ", 6, &w, &n) == 0 && n == 1, "/save completes transcript names too");
    chat_free_names(w, n);

    /* "//" sends a message that starts with "/"; a command is not a message. */
    const tr_transcript *tr = chat_transcript(c);
    CHECK(slash_input(c, "/set top_k 5") == 0 && k.errors == 0, "/set top_k 5: %s", k.last_error);
    CHECK(chat_sampling(c)->top_k == 5, "top_k %d after /set top_k 5", chat_sampling(c)->top_k);
    CHECK(tr_len(tr) == 0, "a command left %zu messages", tr_len(tr));
    CHECK(slash_input(c, "//etc is a dir") == 0, "a // message");
    CHECK(tr_len(tr) >= 1 && tr_msg(tr, 0)->role == TR_USER && !strcmp(tr_msg(tr, 0)->text, "/etc is a dir"),
          "the message sent is '%s'", tr_len(tr) ? tr_msg(tr, 0)->text : "(none)");
    CHECK(slash_input(c, "   ") == 0 && tr_len(tr) == 2, "a blank line sends nothing (%zu messages)", tr_len(tr));
    int errors = k.errors;
    CHECK(slash_input(c, "/nope") == 0 && k.errors == errors + 1, "an unknown command is an error");
    CHECK_CONTAINS(k.last_error, "unknown command '/nope'");
    CHECK(!chat_quitting(c), "not quitting yet");
    CHECK(slash_input(c, "/quit") == 1 && chat_quitting(c), "/quit ends the chat");
    chat_close(c);
    tfs_rmtree(tmp);
}

static void test_fallback(void)
{
    backend vk = { .name = "vulkan" }, lost = { .name = "vulkan", .lost = true }, cpu = { .name = "cpu" };
    CHECK(backends_choose_fallback("auto", 0, NULL, true) == BACKENDS_FALLBACK_NONE, "no failure, no fallback");
    CHECK(backends_choose_fallback("auto", VK_BACKEND_NO_DEVICE, NULL, false) == BACKENDS_FALLBACK_NO_GPU,
          "auto without a GPU: the CPU backend");
    CHECK(backends_choose_fallback(NULL, VK_BACKEND_NO_DEVICE, NULL, false) == BACKENDS_FALLBACK_NO_GPU,
          "the default without a GPU: the CPU backend");
    CHECK(backends_choose_fallback("vulkan", VK_BACKEND_NO_DEVICE, NULL, false) == BACKENDS_FALLBACK_NONE,
          "--backend vulkan without a device is an error");
    CHECK(backends_choose_fallback("vulkan", VK_BACKEND_NO_DEVICE, NULL, true) == BACKENDS_FALLBACK_FAILED,
          "vulkan from a config file without a device: the CPU backend");
    CHECK(backends_choose_fallback("auto", -1, NULL, false) == BACKENDS_FALLBACK_NONE,
          "a failing GPU, fallback not allowed: the error");
    CHECK(backends_choose_fallback("auto", -1, NULL, true) == BACKENDS_FALLBACK_FAILED,
          "a failing GPU, fallback allowed: the CPU backend");
    CHECK(backends_choose_fallback("vulkan", -1, &vk, true) == BACKENDS_FALLBACK_FAILED,
          "an upload out of device memory: the CPU backend");
    CHECK(backends_choose_fallback("vulkan", -1, &lost, true) == BACKENDS_FALLBACK_NONE,
          "a device lost while uploading: the error");
    CHECK(backends_choose_fallback("auto", -1, &cpu, true) == BACKENDS_FALLBACK_NONE,
          "the CPU backend failing: nothing to fall back to");
    CHECK(backends_choose_fallback("cpu", -1, NULL, true) == BACKENDS_FALLBACK_NONE, "--backend cpu: no fallback");
    CHECK(backends_choose_fallback("ref", -1, NULL, true) == BACKENDS_FALLBACK_NONE, "--backend ref: no fallback");
    /* A failed self-check (vk/vk_selfcheck.h): the CPU backend unless Vulkan was asked for by name. */
    int sc = BACKENDS_SELFCHECK_FAILED;
    CHECK(backends_choose_fallback(NULL, sc, &vk, false) == BACKENDS_FALLBACK_FAILED,
          "the default on a GPU that fails its self-check: the CPU backend");
    CHECK(backends_choose_fallback("auto", sc, &vk, false) == BACKENDS_FALLBACK_FAILED, "auto: the CPU backend");
    CHECK(backends_choose_fallback("vulkan", sc, &vk, true) == BACKENDS_FALLBACK_FAILED,
          "vulkan from a config file: the CPU backend");
    CHECK(backends_choose_fallback("vulkan", sc, &vk, false) == BACKENDS_FALLBACK_FORCED,
          "--backend vulkan: the device anyway");
    CHECK(backends_choose_fallback("cpu", sc, &cpu, true) == BACKENDS_FALLBACK_NONE, "--backend cpu: no self-check");
}

int main(void)
{
    TEST_RUN(test_parse);
    TEST_RUN(test_complete_static);
    TEST_RUN(test_fallback);
    TEST_RUN(test_chat);
    return test_summary();
}
