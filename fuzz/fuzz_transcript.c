/* fuzz_transcript.c: libFuzzer harness for the transcript reader and writer
 * (app/transcript.c over app/ydoc.c and libyaml).
 *
 * The input is a transcript file. Properties:
 *   - a refused file leaves *out NULL and a message naming the file;
 *   - an accepted file saves (tr_to_yaml) to text that loads again, into the
 *     same transcript: every field and every message identical; saving that
 *     gives the very same bytes (the format is a fixed point after one save);
 *   - every message text is valid UTF-8 without NUL;
 *   - the Markdown export holds no control characters but newline and tab,
 *     no DEL, no C1 controls and only valid UTF-8: whatever a transcript
 *     holds, an exported file cannot drive a terminal.
 */
#include "fuzz/fuzz_common.h"

#include "app/transcript.h"

#define FT_NAME "fuzz.yaml"

static void fx_same_str(const char *a, const char *b, const char *what)
{
    FUZZ_CHECK(a && b && !strcmp(a, b), "%s differs after a save and load", what);
}

static void fx_same(const tr_transcript *a, const tr_transcript *b)
{
    FUZZ_CHECK(a->created == b->created && a->updated == b->updated, "times differ: %lld/%lld vs %lld/%lld",
               a->created, a->updated, b->created, b->updated);
    fx_same_str(a->model_name, b->model_name, "model.name");
    fx_same_str(a->model_arch, b->model_arch, "model.arch");
    fx_same_str(a->model_file, b->model_file, "model.file");
    FUZZ_CHECK(a->model_size == b->model_size, "model.size %lld vs %lld", a->model_size, b->model_size);
    fx_same_str(a->persona_name, b->persona_name, "persona.name");
    fx_same_str(a->persona_instruction, b->persona_instruction, "persona.instruction");
    FUZZ_CHECK(a->has_sampling == b->has_sampling, "sampling presence differs");
    if (a->has_sampling) {
        const cfg_sampling *x = &a->sampling, *y = &b->sampling;
        FUZZ_CHECK(x->temperature == y->temperature && x->top_k == y->top_k && x->top_p == y->top_p &&
                   x->min_p == y->min_p && x->repeat_penalty == y->repeat_penalty &&
                   x->repeat_last_n == y->repeat_last_n && x->seed == y->seed, "sampling differs");
    }
    FUZZ_CHECK(a->n_msgs == b->n_msgs, "%zu messages became %zu", a->n_msgs, b->n_msgs);
    for (size_t i = 0; i < a->n_msgs; i++) {
        const tr_message *m = &a->msgs[i], *n = &b->msgs[i];
        FUZZ_CHECK(m->role == n->role, "message %zu role differs", i);
        FUZZ_CHECK(!strcmp(m->text, n->text), "message %zu text differs (%zu vs %zu bytes)", i, strlen(m->text),
                   strlen(n->text));
        FUZZ_CHECK(m->tokens == n->tokens && m->time == n->time, "message %zu tokens/time differ", i);
        FUZZ_CHECK(m->tok_s == n->tok_s, "message %zu tok_s %.17g vs %.17g", i, m->tok_s, n->tok_s);
        FUZZ_CHECK(m->parent == n->parent && m->parent < (long long)i, "message %zu parent %lld became %lld", i,
                   m->parent, n->parent);
    }
    FUZZ_CHECK(tr_len(a) == tr_len(b), "current branch of %zu messages became %zu", tr_len(a), tr_len(b));
    for (size_t i = 0; i < tr_len(a) && i < tr_len(b); i++)
        FUZZ_CHECK(a->path[i] == b->path[i], "current branch message %zu differs", i);
}

static void fx_check_markdown(const char *md, size_t len)
{
    FUZZ_CHECK(strlen(md) == len, "markdown holds a NUL");
    FUZZ_CHECK(fuzz_valid_utf8(md, len), "markdown is not valid UTF-8 at byte %zu", utf8_invalid_at(md, len));
    for (size_t i = 0; i < len;) {
        uint32_t cp;
        int k = utf8_decode(md + i, len - i, &cp);
        FUZZ_CHECK(k > 0, "decode");
        FUZZ_CHECK(cp == '\n' || cp == '\t' || (cp >= 0x20 && cp != 0x7F && !(cp >= 0x80 && cp < 0xA0)),
                   "markdown byte %zu is control character U+%04X", i, (unsigned)cp);
        i += (size_t)k;
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    tr_transcript *t = (tr_transcript *)1, *t2 = NULL;
    gc_err err = {{0}};
    if (tr_load_buf(FT_NAME, (const char *)data, size, &t, &err)) {
        FUZZ_CHECK(t == NULL, "a refused file left *out set");
        FUZZ_CHECK(!strncmp(err.msg, FT_NAME ":", strlen(FT_NAME) + 1), "error does not name the file: '%s'",
                   err.msg);
        return 0;
    }
    for (size_t i = 0; i < t->n_msgs; i++) {
        const char *s = t->msgs[i].text;
        FUZZ_CHECK(s && fuzz_valid_utf8(s, strlen(s)), "message %zu text is not valid UTF-8", i);
    }
    char *y1, *y2;
    size_t l1, l2;
    FUZZ_CHECK(tr_to_yaml(t, &y1, &l1, &err) == 0, "save failed: %s", err.msg);
    FUZZ_CHECK(strlen(y1) == l1, "saved text holds a NUL");
    if (tr_load_buf(FT_NAME, y1, l1, &t2, &err)) {
        fprintf(stderr, "---- saved text ----\n%s\n----\n", y1);
        FUZZ_CHECK(0, "the saved transcript does not load: %s", err.msg);
    }
    fx_same(t, t2);
    FUZZ_CHECK(tr_to_yaml(t2, &y2, &l2, &err) == 0, "second save failed: %s", err.msg);
    FUZZ_CHECK(l1 == l2 && !memcmp(y1, y2, l1), "saving a reloaded transcript gives different bytes");

    char *md;
    size_t ml;
    FUZZ_CHECK(tr_to_markdown(t, &md, &ml, &err) == 0, "markdown failed: %s", err.msg);
    fx_check_markdown(md, ml);

    free(md);
    free(y1);
    free(y2);
    tr_free(t2);
    tr_free(t);
    return 0;
}
