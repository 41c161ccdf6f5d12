/* test_transcript.c: transcript save/load round trips, strict loading of
 * broken files (file:line in every error), atomic saves under injected and
 * real failures, name validation, Markdown export neutralization. */
#include <errno.h>
#include <sched.h>
#include <sys/mount.h>
#include <sys/wait.h>

#include "app/paths.h"
#include "app/transcript.h"
#include "base/fault.h"
#include "tests/test.h"
#include "tests/testfs.h"

#define DATA "tests/data/transcript"

static char tmproot[4096];

static const char *tricky[] = {
    "plain",
    "two\nlines",
    "trailing newline\n",
    "two trailing newlines\n\n",
    "\n",
    "\n\n\n",
    "\nleading newline",
    "  leading spaces\nsecond",
    "\tleading tab",
    "trailing spaces   ",
    "trailing spaces on a line   \nnext",
    "a line of spaces\n     \nend",
    "ends with spaces after newline\n   ",
    "key: value",
    "- looks like a list",
    "# looks like a comment",
    "---",
    "---\n...\n--- x",
    "'single' and \"double\" quotes",
    "\"",
    "backslash \\n not a newline",
    "emoji 😀🏴‍☠️ and accents éàü and CJK 漢字",
    "control \x1b[31mred\x1b[0m bell\x07 backspace\x08",
    "carriage\r\nreturn",
    "form\ffeed and vertical\vtab and DEL\x7f",
    "C1 \xc2\x9b control and NEL \xc2\x85 and LS \xe2\x80\xa8 and PS \xe2\x80\xa9",
    "BOM \xef\xbb\xbf inside",
    "nonchar \xef\xbf\xbe",
    "{flow: [style]}",
    "@at `backtick` %percent &anchor *alias !tag |pipe >gt",
    "null",
    "true",
    "123",
    "~",
    " ",
    "x\n\ty\n  \tz",
    "very long line " "0123456789012345678901234567890123456789012345678901234567890123456789"
    "0123456789012345678901234567890123456789012345678901234567890123456789",
};
#define N_TRICKY (sizeof tricky / sizeof tricky[0])

static tr_transcript *sample(void)
{
    tr_transcript *t;
    gc_err err = {0};
    CHECK(tr_create(&t, &err) == 0, "%s", err.msg);
    CHECK(tr_set_model(t, "Gemma 3 270M", "gemma3", "gemma-3-270m-q4_k_m.gguf", 253102496, &err) == 0, "%s", err.msg);
    CHECK(tr_set_persona(t, "pirate", "You are a pirate.\n  Speak like one: arr!\n", &err) == 0, "%s", err.msg);
    cfg_sampling s = { .temperature = 0.7f, .top_k = 40, .top_p = 0.95f, .min_p = 0.05f, .repeat_penalty = 1.1f,
                       .repeat_last_n = -1, .seed = 1234567890123ll };
    tr_set_sampling(t, &s);
    t->created = 1764168060;  /* 2025-11-26T14:41:00Z */
    for (size_t i = 0; i < N_TRICKY; i++) {
        tr_role role = i % 3 == 0 ? TR_USER : i % 3 == 1 ? TR_MODEL : TR_NOTICE;
        CHECK(tr_add(t, role, tricky[i], role == TR_MODEL ? (long long)i * 7 : -1, role == TR_MODEL ? 12.345 + (double)i : -1,
                     &err) == 0, "%s", err.msg);
    }
    return t;
}

static void check_same(const tr_transcript *a, const tr_transcript *b)
{
    CHECK(a->created == b->created, "created %lld vs %lld", a->created, b->created);
    CHECK(a->updated == b->updated, "updated %lld vs %lld", a->updated, b->updated);
    CHECK_STR(a->model_name, b->model_name);
    CHECK_STR(a->model_arch, b->model_arch);
    CHECK_STR(a->model_file, b->model_file);
    CHECK(a->model_size == b->model_size, "size");
    CHECK_STR(a->persona_name, b->persona_name);
    CHECK_STR(a->persona_instruction, b->persona_instruction);
    CHECK(a->has_sampling == b->has_sampling, "has_sampling");
    CHECK(!memcmp(&a->sampling, &b->sampling, sizeof a->sampling) || !a->has_sampling, "sampling differs");
    CHECK(a->n_msgs == b->n_msgs, "%zu vs %zu messages", a->n_msgs, b->n_msgs);
    for (size_t i = 0; i < a->n_msgs && i < b->n_msgs; i++) {
        const tr_message *x = &a->msgs[i], *y = &b->msgs[i];
        CHECK(x->role == y->role, "message %zu role", i);
        CHECK(!strcmp(x->text, y->text), "message %zu text differs: saved [%s] loaded [%s]", i, x->text, y->text);
        CHECK(x->tokens == y->tokens, "message %zu tokens %lld vs %lld", i, x->tokens, y->tokens);
        CHECK(x->tok_s == y->tok_s, "message %zu tok_s %.17g vs %.17g", i, x->tok_s, y->tok_s);
        CHECK(x->time == y->time, "message %zu time", i);
        CHECK(x->parent == y->parent, "message %zu parent %lld vs %lld", i, x->parent, y->parent);
    }
    CHECK(tr_len(a) == tr_len(b), "current branch of %zu vs %zu messages", tr_len(a), tr_len(b));
    for (size_t i = 0; i < tr_len(a) && i < tr_len(b); i++)
        CHECK(a->path[i] == b->path[i], "current branch message %zu: %zu vs %zu", i, a->path[i], b->path[i]);
}

static void test_roundtrip_tricky(void)
{
    tr_transcript *t = sample(), *u = NULL;
    gc_err err = {0};
    char path[4200];
    snprintf(path, sizeof path, "%s/rt.yaml", tmproot);
    CHECK(tr_save(t, path, &err) == 0, "%s", err.msg);
    CHECK(tr_load(path, &u, &err) == 0, "%s", err.msg);
    if (u) check_same(t, u);
    /* Writing what was read gives the same bytes: the format is stable. */
    char *y1 = NULL, *y2 = NULL;
    size_t l1 = 0, l2 = 0;
    CHECK(tr_to_yaml(t, &y1, &l1, &err) == 0, "%s", err.msg);
    if (u) CHECK(tr_to_yaml(u, &y2, &l2, &err) == 0, "%s", err.msg);
    CHECK(y1 && y2 && l1 == l2 && !memcmp(y1, y2, l1), "re-serialized YAML differs");
    /* Readable where it can be: plain text goes in a literal block. */
    CHECK_CONTAINS(y1, "    text: |-\n      two\n      lines\n");
    CHECK_CONTAINS(y1, "    text: |2-\n        leading spaces\n      second\n");
    CHECK_CONTAINS(y1, "\\e[31mred\\e[0m bell\\x07");
    free(y1);
    free(y2);
    tr_free(t);
    tr_free(u);
}

/* The texts of t's current branch, joined by '|'. */
static void branch_texts(const tr_transcript *t, char *buf, size_t n)
{
    buf[0] = 0;
    for (size_t i = 0; i < tr_len(t); i++)
        snprintf(buf + strlen(buf), n - strlen(buf), "%s%s", i ? "|" : "", tr_msg(t, i)->text);
}

/* Branches: fork keeps every message, truncate deletes only what no other
 * branch goes through, set_branch switches; version 2 round-trips the tree. */
static void test_tree(void)
{
    tr_transcript *t = NULL, *u = NULL;
    gc_err err = {0};
    char got[256];
    CHECK(tr_create(&t, &err) == 0, "%s", err.msg);
    if (!t) return;
    t->created = 1764168060;
    tr_add(t, TR_USER, "u1", -1, -1, &err);
    tr_add(t, TR_MODEL, "r1", 3, 1.5, &err);
    tr_add(t, TR_USER, "u2", -1, -1, &err);
    tr_add(t, TR_MODEL, "r2", 4, 2.5, &err);
    CHECK(tr_n_branches(t) == 1 && tr_len(t) == 4 && t->n_msgs == 4, "one branch of 4");
    CHECK(tr_fork(t, 2, &err) == 0, "%s", err.msg);
    CHECK(t->n_msgs == 4 && tr_len(t) == 2, "fork keeps every message: %zu, branch %zu", t->n_msgs, tr_len(t));
    tr_add(t, TR_USER, "u2b", -1, -1, &err);
    tr_add(t, TR_MODEL, "r2b", -1, -1, &err);
    CHECK(tr_n_branches(t) == 2, "two branches, got %zu", tr_n_branches(t));
    CHECK(t->msgs[4].parent == 1, "the new message follows r1: parent %lld", t->msgs[4].parent);
    branch_texts(t, got, sizeof got);
    CHECK_STR(got, "u1|r1|u2b|r2b");
    CHECK(tr_fork(t, 9, &err) != 0, "fork past the end refused");

    char path[4200], *y1 = NULL, *y2 = NULL;
    size_t l1 = 0, l2 = 0;
    snprintf(path, sizeof path, "%s/tree.yaml", tmproot);
    CHECK(tr_save(t, path, &err) == 0, "%s", err.msg);
    CHECK(tr_load(path, &u, &err) == 0, "%s", err.msg);
    if (u) check_same(t, u);
    CHECK(tr_to_yaml(t, &y1, &l1, &err) == 0, "%s", err.msg);
    if (u) CHECK(tr_to_yaml(u, &y2, &l2, &err) == 0, "%s", err.msg);
    CHECK(y1 && y2 && l1 == l2 && !memcmp(y1, y2, l1), "re-serialized tree differs");
    CHECK_CONTAINS(y1, "version: 2\ncurrent: 6\n");
    CHECK_CONTAINS(y1, "  - id: 5\n    parent: 2\n    role: user\n    text: |-\n      u2b\n");
    CHECK_CONTAINS(y1, "  - id: 1\n    role: user\n");
    free(y1);
    free(y2);

    /* Export writes the branch on screen. */
    char *md = NULL;
    size_t ml = 0;
    CHECK(tr_to_markdown(t, &md, &ml, &err) == 0, "%s", err.msg);
    CHECK(md && strstr(md, "u2b") && !strstr(md, "u2\n"), "markdown holds the current branch only: %s", md);
    free(md);

    CHECK(tr_set_branch(t, tr_branch_leaf(t, 0), &err) == 0, "%s", err.msg);
    branch_texts(t, got, sizeof got);
    CHECK_STR(got, "u1|r1|u2|r2");
    /* Undo on this branch deletes u2 and r2 (nothing else goes through them), not r1. */
    tr_truncate(t, 2);
    CHECK(t->n_msgs == 4 && tr_n_branches(t) == 1, "%zu messages, %zu branches left", t->n_msgs, tr_n_branches(t));
    branch_texts(t, got, sizeof got);
    CHECK_STR(got, "u1|r1");
    CHECK(t->msgs[2].parent == 1 && t->msgs[3].parent == 2, "renumbered parents %lld %lld", t->msgs[2].parent,
          t->msgs[3].parent);
    tr_truncate(t, 0);
    CHECK(t->n_msgs == 4 && tr_len(t) == 0, "r1 and u1 stay: another branch goes through them");
    tr_free(t);
    tr_free(u);

    /* A version 2 sample: current picks the branch. */
    CHECK(tr_load(DATA "/good-tree.yaml", &t, &err) == 0, "%s", err.msg);
    if (!t) return;
    branch_texts(t, got, sizeof got);
    CHECK_STR(got, "Hello|Hi|Tell me a story");
    CHECK(tr_n_branches(t) == 2, "2 branches");
    tr_free(t);
}

/* Random texts built from the pieces YAML is touchy about. */
static void test_roundtrip_random(void)
{
    static const char *pieces[] = { "a", "Z", " ", "  ", "\t", "\n", "\n\n", ":", ": ", "#", " #", "-", "- ", "---",
                                    "...", "'", "\"", "\\", "|", ">", "&", "*", "!", "%", "@", "`", "{", "}", "[",
                                    "]", ",", "?", "~", "null", "é", "😀", "\xe2\x80\xa8", "\xc2\x85", "\x1b",
                                    "\r", "\x7f", "\x01", "\xef\xbb\xbf", "0", "1.5", "\xc2\xa0", "漢" };
    const size_t np = sizeof pieces / sizeof pieces[0];
    test_seed_from_env();
    tr_transcript *t;
    gc_err err = {0};
    CHECK(tr_create(&t, &err) == 0, "%s", err.msg);
    char buf[512];
    for (int i = 0; i < 3000; i++) {
        size_t len = 0;
        int n = (int)(test_rand_u64() % 24);
        buf[0] = 0;
        for (int j = 0; j < n; j++) {
            const char *p = pieces[test_rand_u64() % np];
            size_t k = strlen(p);
            if (len + k + 1 >= sizeof buf) break;
            memcpy(buf + len, p, k + 1);
            len += k;
        }
        CHECK(tr_add(t, TR_MODEL, buf, -1, -1, &err) == 0, "%s", err.msg);
    }
    char *y;
    size_t yl;
    tr_transcript *u = NULL;
    CHECK(tr_to_yaml(t, &y, &yl, &err) == 0, "%s", err.msg);
    CHECK(tr_load_buf("random.yaml", y, yl, &u, &err) == 0, "%s", err.msg);
    if (u) check_same(t, u);
    free(y);
    tr_free(t);
    tr_free(u);
}

static void test_invalid_utf8_repaired(void)
{
    tr_transcript *t;
    gc_err err = {0};
    CHECK(tr_create(&t, &err) == 0, "%s", err.msg);
    CHECK(tr_add(t, TR_MODEL, "bad \xff\xfe byte \xe2\x82 cut", -1, -1, &err) == 0, "%s", err.msg);
    CHECK_STR(t->msgs[0].text, "bad \xef\xbf\xbd\xef\xbf\xbd byte \xef\xbf\xbd\xef\xbf\xbd cut");
    tr_truncate(t, 0);
    CHECK(t->n_msgs == 0, "truncate");
    tr_free(t);
}

static int load_sample(const char *path, tfs_warnings *w, gc_err *err)
{
    (void)w;
    tr_transcript *t = NULL;
    int rc = tr_load(path, &t, err);
    CHECK((rc == 0) == (t != NULL), "%s: result and object disagree", path);
    tr_free(t);
    return rc;
}

static void test_good_samples(void)
{
    tfs_check_samples(DATA, "good-", 5, load_sample);
    tr_transcript *t = NULL;
    gc_err err = {0};
    CHECK(tr_load(DATA "/good-full.yaml", &t, &err) == 0, "%s", err.msg);
    if (!t) return;
    CHECK(t->n_msgs == 4, "%zu messages", t->n_msgs);
    CHECK(t->updated == 1764165733, "offset +01:00 converted to UTC: %lld", t->updated);
    CHECK_STR(t->msgs[1].text, "Arr, I be Captain Gemma, matey!\n  - an indented line: with a colon\n"
                               "# not a comment\n---\n");
    CHECK_STR(t->msgs[2].text, "Escape \x1b[31mred\x1b[0m and a bell \x07 and CR\r");
    CHECK_STR(t->msgs[3].text, " leading space and trailing blank lines\n\n\n");
    CHECK(t->msgs[1].tokens == 42 && t->msgs[1].tok_s == 31.5, "tokens/tok_s");
    CHECK(t->msgs[0].tokens == -1 && t->msgs[0].tok_s < 0, "unknown tokens stay unknown");
    CHECK(t->sampling.seed == 1234 && t->sampling.top_k == 64, "sampling");
    CHECK_STR(t->persona_name, "pirate");
    tr_free(t);
}

static void test_bad_samples(void)
{
    tfs_check_samples(DATA, "bad-", 41, load_sample);
}

/* Over the size limit: a sparse file; the error names the file and a line. */
static void test_oversized(void)
{
    char path[4200];
    snprintf(path, sizeof path, "%s/huge.yaml", tmproot);
    FILE *f = fopen(path, "wb");
    CHECK(f != NULL, "create %s", path);
    if (!f) return;
    fputs("format: gemma-chat-transcript\nversion: 1\n", f);
    fclose(f);
    CHECK(truncate(path, (off_t)TR_MAX_FILE_BYTES + 100) == 0, "truncate");
    tr_transcript *t = NULL;
    gc_err err = {0};
    CHECK(tr_load(path, &t, &err) != 0, "oversized file loaded");
    CHECK(tfs_names_location(err.msg, path, 3, "larger than"), "%s", err.msg);
    unlink(path);
    tr_free(t);
}

static void test_names(void)
{
    static const char *bad[] = { "", "..", "../x", "a/b", "/abs", "x/..", "a..b", ".hidden", "-rf", "tab\there",
                                 "esc\x1b[2J", "nl\n", "bad\xff", "back\\slash", "c1\xc2\x9b" };
    gc_err err;
    char buf[4200];
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        CHECK(tr_check_name(bad[i], &err) != 0, "name %zu accepted", i);
        CHECK(tr_path("/tmp/t", bad[i], ".yaml", buf, sizeof buf, &err) != 0, "path %zu built", i);
    }
    char longname[300];
    memset(longname, 'a', 250);
    longname[250] = 0;
    CHECK(tr_check_name(longname, &err) != 0, "250-byte name accepted");
    CHECK(tr_path("/d", "my chat", ".yaml", buf, sizeof buf, &err) == 0, "%s", err.msg);
    CHECK_STR(buf, "/d/my chat.yaml");
    CHECK(tr_path("/d", "x.yaml", ".yaml", buf, sizeof buf, &err) == 0, "%s", err.msg);
    CHECK_STR(buf, "/d/x.yaml");
    CHECK(tr_path("/d", "notes.md", ".md", buf, sizeof buf, &err) == 0, "%s", err.msg);
    CHECK_STR(buf, "/d/notes.md");
    CHECK(tr_path("/d", "café😀", ".md", buf, sizeof buf, &err) == 0, "%s", err.msg);
    CHECK_STR(buf, "/d/café😀.md");
    CHECK(tr_check_name("../etc", &err) != 0 && strstr(err.msg, ".."), "%s", err.msg);
}

static void test_default_name(void)
{
    char dir[4200], name[256], path[4600];
    snprintf(dir, sizeof dir, "%s/names", tmproot);
    mkdir(dir, 0700);
    gc_err err = {0};
    time_t t = 1764168060;
    CHECK(tr_default_name(dir, t, name, sizeof name, &err) == 0, "%s", err.msg);
    int Y, M, D, h, m, s;
    char tail[16] = "";
    CHECK(sscanf(name, "%4d-%2d-%2d_%2d-%2d-%2d%15s", &Y, &M, &D, &h, &m, &s, tail) == 7 && !strcmp(tail, ".yaml"),
          "default name '%s'", name);
    snprintf(path, sizeof path, "%s/%s", dir, name);
    tfs_write(path, "x", 1);
    char second[256];
    CHECK(tr_default_name(dir, t, second, sizeof second, &err) == 0, "%s", err.msg);
    CHECK(strcmp(name, second) && strstr(second, "-2.yaml"), "second name '%s'", second);
    CHECK(tr_check_name(second, &err) == 0, "%s", err.msg);
}

static void test_time(void)
{
    long long v;
    char b[32];
    CHECK(tr_parse_time("2025-11-26T14:41:00Z", &v) == 0 && v == 1764168060, "%lld", v);
    tr_format_time(v, b);
    CHECK_STR(b, "2025-11-26T14:41:00Z");
    CHECK(tr_parse_time("2025-11-26T15:41:00.123+01:00", &v) == 0 && v == 1764168060, "%lld", v);
    CHECK(tr_parse_time("2025-11-26T14:11:00-00:30", &v) == 0 && v == 1764168060, "%lld", v);
    static const char *bad[] = { "", "2025-11-26", "2025-11-26T14:41:00", "2025-13-01T00:00:00Z",
                                 "2025-11-26T24:00:00Z", "2025-11-26T14:41:00Zjunk", "1969-12-31T23:59:59Z",
                                 "20x5-11-26T14:41:00Z", "2025-11-26T14:41:00+1:00" };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) CHECK(tr_parse_time(bad[i], &v) != 0, "'%s' parsed", bad[i]);
}

static void test_markdown(void)
{
    tr_transcript *t;
    gc_err err = {0};
    CHECK(tr_create(&t, &err) == 0, "%s", err.msg);
    tr_set_model(t, "Gemma \x1b]0;pwned\x07", "gemma3", "m.gguf", 10, &err);
    tr_set_persona(t, "pirate", "", &err);
    tr_add(t, TR_USER, "Who are you? **bold** `code`", -1, -1, &err);
    tr_add(t, TR_MODEL, "Arr\x1b[2J\x1b[31m red\r overwrite \xc2\x9b""31m C1 \x7f\x08\nline2\ttab", 42, 31.5, &err);
    tr_add(t, TR_NOTICE, "Dropped 2 old exchanges.", -1, -1, &err);
    char *md;
    size_t len;
    CHECK(tr_to_markdown(t, &md, &len, &err) == 0, "%s", err.msg);
    CHECK(!memchr(md, 0x1b, len) && !memchr(md, '\r', len) && !memchr(md, 0x07, len) && !memchr(md, 0x7f, len) &&
          !memchr(md, 0x08, len), "raw control characters in Markdown");
    CHECK(!strstr(md, "\xc2\x9b"), "C1 CSI in Markdown");
    CHECK_CONTAINS(md, "## User\n\nWho are you? **bold** `code`\n");
    CHECK_CONTAINS(md, "## Model\n\nArr\xe2\x90\x9b[2J\xe2\x90\x9b[31m red\xe2\x90\x8d overwrite \xef\xbf\xbd""31m C1 "
                       "\xe2\x90\xa1\xe2\x90\x88\nline2\ttab\n");
    CHECK_CONTAINS(md, "*42 tokens, 31.5 tok/s*");
    CHECK_CONTAINS(md, "## Notice\n\nDropped 2 old exchanges.\n");
    CHECK_CONTAINS(md, "- Model: Gemma \xe2\x90\x9b]0;pwned\xe2\x90\x87 (m.gguf)");
    CHECK_CONTAINS(md, "- Persona: pirate");
    char path[4200];
    snprintf(path, sizeof path, "%s/chat.md", tmproot);
    CHECK(tr_export_markdown(t, path, &err) == 0, "%s", err.msg);
    size_t flen;
    char *file = tfs_read(path, &flen);
    CHECK(file && flen == len && !memcmp(file, md, len), "exported file differs from tr_to_markdown");
    free(file);
    free(md);
    tr_free(t);
}

/* --- atomic saves --- */

/* Saves `t` over an existing file in dir, with `fault` (base/fault.h's
 * syntax; NULL: the environment's) armed; checks the save fails naming the
 * path, the old file is byte-identical, and nothing else is left in dir. */
static void expect_failed_save(const char *dir, tr_transcript *t, const char *fault, const char *what)
{
    char path[4200];
    snprintf(path, sizeof path, "%s/chat.yaml", dir);
    const char old[] = "format: gemma-chat-transcript\n# the previous save\n";
    CHECK(tfs_write(path, old, sizeof old - 1) == 0, "%s: write old file", what);
    if (fault) gc_fault_set(fault);
    gc_err err = {0};
    int rc = tr_save(t, path, &err);
    if (fault) gc_fault_set(NULL);
    CHECK(rc != 0, "%s: save succeeded", what);
    CHECK_CONTAINS(err.msg, path);
    CHECK_CONTAINS(err.msg, "unchanged");
    size_t len = 0;
    char *now = tfs_read(path, &len);
    CHECK(now && len == sizeof old - 1 && !memcmp(now, old, len), "%s: previous file changed", what);
    free(now);
    char other[256];
    int n = tfs_count_entries(dir, "chat.yaml", other, sizeof other);
    CHECK(n == 1, "%s: %d entries left in %s (e.g. %s)", what, n, dir, other);
}

static tr_transcript *big_transcript(void)
{
    tr_transcript *t = sample();
    char line[1024];
    memset(line, 'x', sizeof line - 1);
    line[sizeof line - 1] = 0;
    gc_err err;
    for (int i = 0; i < 300; i++) tr_add(t, TR_MODEL, line, 100, 10.0, &err);
    return t;   /* over 300 KB: several write chunks */
}

static void test_injected_failures(void)
{
    char dir[4200];
    snprintf(dir, sizeof dir, "%s/atomic", tmproot);
    mkdir(dir, 0700);
    tr_transcript *t = big_transcript();
    expect_failed_save(dir, t, "write:1", "first write");
    expect_failed_save(dir, t, "write:3", "third write");
    expect_failed_save(dir, t, "fsync:1", "fsync");
    expect_failed_save(dir, t, "rename:1", "rename");

    /* A directory sync failure happens after the rename: the new file is
     * complete, and the error says it may not be durable. */
    char path[4300];
    snprintf(path, sizeof path, "%s/chat.yaml", dir);
    gc_err err = {0};
    gc_fault_set("dirsync:1");
    t->updated -= 5;   /* the last save was seconds ago: the file and t get the new time */
    CHECK(tr_save(t, path, &err) == 1, "dirsync failure not reported as 'saved, not synced'");
    gc_fault_set(NULL);
    CHECK_CONTAINS(err.msg, "sync its directory");
    tr_transcript *u = NULL;
    CHECK(tr_load(path, &u, &err) == 0, "%s", err.msg);
    if (u) check_same(t, u);
    tr_free(u);

    /* And a clean save after all that works and leaves one file. */
    CHECK(tr_save(t, path, &err) == 0, "%s", err.msg);
    CHECK(tfs_count_entries(dir, NULL, NULL, 0) == 1, "stray files");
    tr_free(t);
}

/* GEMMA_CHAT_FAULT, as script tests set it: read at the first question after
 * gc_fault_set(NULL) (the last call of the tests before), in a child so
 * that this process's environment stays clean. */
static void test_env_fault(void)
{
    char dir[4200];
    snprintf(dir, sizeof dir, "%s/envfault", tmproot);
    mkdir(dir, 0700);
    fflush(NULL);
    pid_t pid = fork();
    if (pid == 0) {
        setenv("GEMMA_CHAT_FAULT", "fsync:1", 1);
        tr_transcript *t = sample();
        expect_failed_save(dir, t, "none:0", "GEMMA_CHAT_FAULT=fsync:1");
        tr_free(t);
        _exit(test_failures ? 1 : 0);
    }
    int st = 0;
    waitpid(pid, &st, 0);
    CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0, "GEMMA_CHAT_FAULT child failed (status %d)", st);
}

static void test_unwritable_dir(void)
{
    char dir[4200], path[4300];
    snprintf(dir, sizeof dir, "%s/ro", tmproot);
    mkdir(dir, 0755);
    snprintf(path, sizeof path, "%s/chat.yaml", dir);
    const char old[] = "old contents\n";
    tfs_write(path, old, sizeof old - 1);
    chmod(path, 0644);
    /* Root ignores permission bits: check as an unprivileged user instead. */
    chmod(tmproot, 0755);
    chmod(dir, 0555);
    fflush(NULL);
    pid_t pid = fork();
    if (pid == 0) {
        if (geteuid() == 0 && (setgid(65534) != 0 || setuid(65534) != 0)) _exit(3);
        tr_transcript *t = sample();
        gc_err err = {0};
        int rc = tr_save(t, path, &err);
        tr_free(t);
        if (rc == 0) _exit(1);
        if (!strstr(err.msg, path) || !strstr(err.msg, "Permission denied")) {
            fprintf(stderr, "unexpected message: %s\n", err.msg);
            _exit(2);
        }
        _exit(0);
    }
    int st = 0;
    waitpid(pid, &st, 0);
    CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0, "save into a read-only directory: child status %d", st);
    chmod(dir, 0700);
    chmod(tmproot, 0700);
    size_t len = 0;
    char *now = tfs_read(path, &len);
    CHECK(now && len == sizeof old - 1 && !memcmp(now, old, len), "previous file changed");
    free(now);
    CHECK(tfs_count_entries(dir, NULL, NULL, 0) == 1, "stray files in read-only dir");
}

/* A real full disk: a 64 KiB tmpfs in a private mount namespace (so nothing
 * leaks if the test dies), holding a small old transcript; saving a 300 KB
 * one must fail with ENOSPC and keep the old file. Needs root (or
 * CAP_SYS_ADMIN); skipped with a printed reason where mounting is not allowed. */
static void test_full_disk(void)
{
    char dir[4200];
    snprintf(dir, sizeof dir, "%s/full", tmproot);
    mkdir(dir, 0700);
    fflush(NULL);
    pid_t pid = fork();
    if (pid == 0) {
        if (unshare(CLONE_NEWNS) != 0) { fprintf(stderr, "unshare: %s\n", strerror(errno)); _exit(77); }
        if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) != 0) { fprintf(stderr, "mount private: %s\n", strerror(errno)); _exit(77); }
        if (mount("tmpfs", dir, "tmpfs", 0, "size=64k,mode=0700") != 0) { fprintf(stderr, "mount tmpfs: %s\n", strerror(errno)); _exit(77); }
        tr_transcript *small = sample(), *t = big_transcript();
        char path[4300];
        snprintf(path, sizeof path, "%s/chat.yaml", dir);
        gc_err err = {0};
        if (tr_save(small, path, &err)) { fprintf(stderr, "small save: %s\n", err.msg); _exit(1); }
        size_t l0;
        char *before = tfs_read(path, &l0);
        int rc = tr_save(t, path, &err);
        size_t l1;
        char *after = tfs_read(path, &l1);
        int ok = rc != 0 && strstr(err.msg, "No space left on device") && strstr(err.msg, path) && before && after &&
                 l0 == l1 && !memcmp(before, after, l0) && tfs_count_entries(dir, NULL, NULL, 0) == 1;
        if (!ok) fprintf(stderr, "full disk: rc %d, message: %s\n", rc, err.msg);
        umount(dir);
        _exit(ok ? 0 : 1);
    }
    int st = 0;
    waitpid(pid, &st, 0);
    if (WIFEXITED(st) && WEXITSTATUS(st) == 77) {
        test_skip("test_full_disk (a real full tmpfs)", "cannot mount a tmpfs here: needs root or CAP_SYS_ADMIN; "
                  "the injected ENOSPC tests still ran");
        return;
    }
    CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0, "full-disk child status %d", st);
}

/* Issue 23 item 12: tokens and tok_s belong to replies; a user message
 * carrying them (an older file) is written and exported without them. */
static void test_tokens_on_replies_only(void)
{
    tr_transcript *t = NULL;
    gc_err err = {0};
    CHECK(tr_create(&t, &err) == 0, "%s", err.msg);
    if (!t) return;
    CHECK(tr_add(t, TR_USER, "Question", 13, 501.25, &err) == 0, "%s", err.msg);
    CHECK(tr_add(t, TR_MODEL, "Answer", 12, 31.5, &err) == 0, "%s", err.msg);
    char *y = NULL, *md = NULL;
    size_t n;
    CHECK(tr_to_yaml(t, &y, &n, &err) == 0, "%s", err.msg);
    CHECK(tr_to_markdown(t, &md, &n, &err) == 0, "%s", err.msg);
    if (y) {
        const char *u = strstr(y, "Question"), *m = strstr(y, "role: model");
        CHECK(u && m && !memmem(u, (size_t)(m - u), "tokens", 6), "tokens on the user message: %s", y);
        CHECK_CONTAINS(y, "    tokens: 12\n    tok_s: 31.5\n");
    }
    if (md) {
        CHECK(!strstr(md, "13 tokens"), "user message tokens exported: %s", md);
        CHECK_CONTAINS(md, "*12 tokens, 31.5 tok/s*");
    }
    free(y);
    free(md);
    tr_free(t);
}

int main(void)
{
    if (tfs_mkdtemp(tmproot, sizeof tmproot, "transcript")) { perror("mkdtemp"); return 1; }
    TEST_RUN(test_env_fault);
    TEST_RUN(test_tokens_on_replies_only);
    TEST_RUN(test_roundtrip_tricky);
    TEST_RUN(test_roundtrip_random);
    TEST_RUN(test_invalid_utf8_repaired);
    TEST_RUN(test_good_samples);
    TEST_RUN(test_bad_samples);
    TEST_RUN(test_tree);
    TEST_RUN(test_oversized);
    TEST_RUN(test_names);
    TEST_RUN(test_default_name);
    TEST_RUN(test_time);
    TEST_RUN(test_markdown);
    TEST_RUN(test_injected_failures);
    TEST_RUN(test_unwritable_dir);
    TEST_RUN(test_full_disk);
    tfs_rmtree(tmproot);
    return test_summary();
}
