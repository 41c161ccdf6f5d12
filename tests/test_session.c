/* test_session.c: the chat session (app/session.c) on a generated model,
 * CPU backend: incremental prefill equals a from-scratch prefill, /regen and
 * /undo rewind correctly, context overflow drops old exchanges but keeps the
 * transcript, a message longer than the context is refused, and a saved
 * conversation loads back to the same messages and the same next reply. */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "app/session.h"
#include "model/chat_template.h"
#include "model/gemma.h"
#include "model/gguf.h"
#include "tests/test.h"
#include "tests/testfs.h"

static gguf_file *g;
static tok_vocab *vocab;
static backend *be;
static gemma_model *model;
/* A second copy of the model on its own backend: reference runs need a KV
 * cache of their own while the session under test keeps its one. */
static backend *be2;
static gemma_model *model2;
static tmpl_gemma tmpl;

static const char *PERSONA = "You are a careful test persona.";

/* Collects a reply's streamed text and counts notices. */
typedef struct sink {
    char text[8192];
    size_t n;
    int calls, notices, stop_after;
    char last_notice[512];
} sink;

static int on_token(void *user, const char *t, size_t len)
{
    sink *k = user;
    if (k->n + len < sizeof k->text) {
        memcpy(k->text + k->n, t, len);
        k->n += len;
        k->text[k->n] = 0;
    }
    k->calls++;
    return k->stop_after && k->calls >= k->stop_after;
}

static void on_notice(void *user, const char *t)
{
    sink *k = user;
    k->notices++;
    snprintf(k->last_notice, sizeof k->last_notice, "%s", t);
}

static cfg_sampling greedy(void)
{
    cfg_sampling s = { .temperature = 0, .top_k = 0, .top_p = 1, .min_p = 0, .repeat_penalty = 1,
                       .repeat_last_n = 64, .seed = 1 };
    return s;
}

static sess *open_sess(int n_ctx, int max_tokens, sink *k)
{
    sess_params p = { .n_ctx = n_ctx, .max_tokens = max_tokens, .sampling = greedy() };
    sess *s = NULL;
    gc_err err = {0};
    CHECK(sess_create(&s, model, vocab, &p, &err) == 0, "%s", err.msg);
    if (!s) return NULL;
    sess_io io = { .on_token = on_token, .on_notice = on_notice, .user = k };
    sess_set_io(s, &io);
    CHECK(sess_set_persona(s, "tester", PERSONA, &err) == 0, "%s", err.msg);
    return s;
}

/* Logits of the last token of ids, prefilled from scratch in one call. */
static float *scratch_logits(const int32_t *ids, size_t n, int n_ctx)
{
    gemma_session *gs = NULL;
    gc_err err = {0};
    float *out = NULL;
    CHECK(gemma_session_create(&gs, model2, n_ctx, 0, &err) == 0, "%s", err.msg);
    if (!gs) return NULL;
    if (gemma_eval(gs, ids, (int)n, GEMMA_WANT_LOGITS, &err) == 0) {
        out = malloc(gemma_n_vocab(model) * sizeof *out);
        memcpy(out, gemma_logits(gs), gemma_n_vocab(model) * sizeof *out);
    } else {
        CHECK(0, "scratch prefill: %s", err.msg);
    }
    gemma_session_free(gs);
    return out;
}

/* Greedy decoding from scratch: n tokens after prompt[0..np), into out. */
static void scratch_greedy(const int32_t *prompt, size_t np, int n, int32_t *out)
{
    gemma_session *gs = NULL;
    gc_err err = {0};
    CHECK(gemma_session_create(&gs, model2, 512, 0, &err) == 0, "%s", err.msg);
    if (!gs) return;
    int rc = gemma_eval(gs, prompt, (int)np, GEMMA_WANT_ARGMAX, &err);
    for (int i = 0; i < n && rc == 0; i++) {
        out[i] = gemma_argmax(gs);
        if (i + 1 < n) rc = gemma_eval(gs, &out[i], 1, GEMMA_WANT_ARGMAX, &err);
    }
    CHECK(rc == 0, "scratch greedy: %s", err.msg);
    gemma_session_free(gs);
}

static size_t lcp(const int32_t *a, size_t na, const int32_t *b, size_t nb)
{
    size_t i = 0;
    while (i < na && i < nb && a[i] == b[i]) i++;
    return i;
}

static int argmax(const float *x, int n)
{
    int b = 0;
    for (int i = 1; i < n; i++)
        if (x[i] > x[b]) b = i;
    return b;
}

/* Tokens of a later user turn as the template builds it. */
static size_t turn_tokens(const char *text)
{
    tok_ids t = {0};
    gc_err err;
    tmpl_add_turn(&tmpl, &t, TMPL_USER, NULL, text, &err);
    tmpl_add_gen_prompt(&tmpl, &t, &err);
    size_t n = t.n;
    tok_ids_free(&t);
    return n;
}

/* Turn 2 prefills only what the cache lacks: its own tokens, the two that
 * closed turn 1's reply, and the tail of that reply where the model's tokens
 * differ from the template's tokenization of its text (often, on a random
 * test model); its logits equal a from-scratch prefill of the whole stream. */
static void test_two_turns(void)
{
    sink k = {0};
    gc_err err = {0};
    sess *s = open_sess(512, 12, &k);
    if (!s) return;
    sess_stats st1, st2;
    size_t np, n1, n2;
    CHECK(sess_add_user(s, "Hello there, how is the weather today?", &st1, &err) == 0, "%s", err.msg);
    CHECK(st1.prompt_tokens == sess_n_used(s), "turn 1 prefills the whole prompt: %d of %d",
          st1.prompt_tokens, sess_n_used(s));
    const int32_t *p = sess_tokens(s, &np);
    int32_t prompt1[512];
    memcpy(prompt1, p, np * sizeof *p);
    CHECK(sess_generate(s, &st1, &err) == 0, "%s", err.msg);
    CHECK(st1.gen_tokens == 12 && st1.end == SESS_END_LIMIT, "turn 1: %d tokens, %s", st1.gen_tokens,
          sess_end_name(st1.end));
    CHECK(k.n > 0 && strlen(sess_transcript(s)->msgs[1].text) > 0, "reply text streamed and recorded");
    /* The reply is what greedy decoding from scratch gives. */
    int32_t gen[12] = {0}, cache1[600];
    scratch_greedy(prompt1, np, 12, gen);
    /* The cache holds the prompt and every generated token but the last
     * (cut by max_tokens before it was evaluated). */
    memcpy(cache1, prompt1, np * sizeof *prompt1);
    memcpy(cache1 + np, gen, 11 * sizeof *gen);
    size_t n_cache1 = np + 11;
    CHECK(sess_n_cached(s) == (int)n_cache1, "cache %d tokens, expected %zu", sess_n_cached(s), n_cache1);
    p = sess_tokens(s, &n1);
    int32_t stream1[600];
    memcpy(stream1, p, n1 * sizeof *p);

    const char *t2 = "And what about tomorrow?";
    CHECK(sess_add_user(s, t2, &st2, &err) == 0, "%s", err.msg);
    size_t own = turn_tokens(t2);
    p = sess_tokens(s, &n2);
    CHECK(n2 == n1 + own && memcmp(p, stream1, n1 * sizeof *p) == 0, "stream grew by the turn's %zu tokens", own);
    size_t keep = lcp(cache1, n_cache1, p, n2);
    CHECK(st2.prompt_tokens == (int)(n2 - keep), "turn 2 prefilled %d tokens, expected %zu", st2.prompt_tokens,
          n2 - keep);
    /* Nothing before turn 1's reply is evaluated again. */
    CHECK(keep >= np && st2.prompt_tokens <= (int)(n2 - np), "kept %zu >= prompt %zu; %d <= %zu", keep, np,
          st2.prompt_tokens, n2 - np);
    CHECK(sess_n_cached(s) == sess_n_used(s), "everything cached after the prefill");
    CHECK(sess_n_prefilled(s) == st1.prompt_tokens + st2.prompt_tokens,
          "the session counts %lld tokens prefilled, the two turns %d + %d", sess_n_prefilled(s), st1.prompt_tokens,
          st2.prompt_tokens);

    int nv = gemma_n_vocab(model);
    float *inc = malloc(nv * sizeof *inc);
    CHECK(sess_logits(s) != NULL, "logits after add_user");
    if (sess_logits(s)) memcpy(inc, sess_logits(s), nv * sizeof *inc);
    /* The stream is the template's rendering of the conversation's texts. */
    tr_transcript *tr = sess_transcript(s);
    tmpl_msg msgs[3] = { { TMPL_USER, tr->msgs[0].text }, { TMPL_MODEL, tr->msgs[1].text }, { TMPL_USER, t2 } };
    tok_ids r = {0};
    CHECK(tmpl_render(&tmpl, msgs, 3, PERSONA, true, &r, &err) == 0, "%s", err.msg);
    CHECK(r.n == n2 && memcmp(r.ids, p, n2 * sizeof *p) == 0, "stream = tmpl_render of the texts (%zu vs %zu)",
          r.n, n2);
    tok_ids_free(&r);

    float *ref = scratch_logits(p, n2, 512);
    if (ref) {
        double e = test_rel_l2(inc, ref, nv);
        CHECK(e < 1e-6, "incremental vs from-scratch logits: rel L2 %g", e);
        CHECK(argmax(inc, nv) == argmax(ref, nv), "same argmax");
    }
    free(ref);
    free(inc);
    sess_destroy(s);
}

/* /regen under greedy sampling gives the same reply from a 1-token prefill;
 * /undo rewinds the stream and the transcript. */
static void test_regen_undo(void)
{
    sink k = {0};
    gc_err err = {0};
    sess *s = open_sess(512, 10, &k);
    if (!s) return;
    sess_stats st;
    CHECK(sess_send(s, "Tell me a story about a cat.", &st, &err) == 0, "%s", err.msg);
    size_t n1;
    const int32_t *p = sess_tokens(s, &n1);
    int32_t *after1 = malloc(n1 * sizeof *after1);
    memcpy(after1, p, n1 * sizeof *after1);
    CHECK(sess_send(s, "Make it shorter.", &st, &err) == 0, "%s", err.msg);
    int prompt2 = st.prompt_tokens;
    tr_transcript *tr = sess_transcript(s);
    CHECK(tr->n_msgs == 4, "4 messages, got %zu", tr->n_msgs);
    char reply2[4096];
    snprintf(reply2, sizeof reply2, "%s", tr->msgs[3].text);
    size_t n2;
    p = sess_tokens(s, &n2);
    int32_t *after2 = malloc(n2 * sizeof *after2);
    memcpy(after2, p, n2 * sizeof *after2);

    k.n = 0;
    CHECK(sess_regen(s, &st, &err) == 0, "%s", err.msg);
    CHECK(st.prompt_tokens == 1, "regen re-evaluates only the last prompt token, got %d", st.prompt_tokens);
    tr = sess_transcript(s);
    CHECK(tr->n_msgs == 4 && tr->msgs[3].role == TR_MODEL, "regen replaces the reply (%zu messages)", tr->n_msgs);
    CHECK_STR(tr->msgs[3].text, reply2);
    p = sess_tokens(s, &n2);
    CHECK(memcmp(p, after2, n2 * sizeof *p) == 0, "greedy regen: same stream");

    CHECK(sess_undo(s, &err) == 0, "%s", err.msg);
    tr = sess_transcript(s);
    CHECK(tr->n_msgs == 2, "undo leaves 2 messages, got %zu", tr->n_msgs);
    CHECK(sess_n_exchanges(s) == 1, "one exchange left");
    p = sess_tokens(s, &n2);
    CHECK(n2 == n1 && memcmp(p, after1, n1 * sizeof *p) == 0, "undo: the stream after exchange 1 (%zu vs %zu)", n2, n1);
    /* The cache still holds the undone turn: sending it again reuses it. */
    CHECK(sess_send(s, "Make it shorter.", &st, &err) == 0, "%s", err.msg);
    CHECK(st.prompt_tokens == 1 && prompt2 > 1, "the same turn again evaluates 1 token (was %d), got %d", prompt2,
          st.prompt_tokens);
    CHECK_STR(sess_transcript(s)->msgs[3].text, reply2);
    /* A different turn after an undo: the rewound cache gives scratch logits. */
    CHECK(sess_undo(s, &err) == 0, "%s", err.msg);
    CHECK(sess_add_user(s, "Something else entirely.", &st, &err) == 0, "%s", err.msg);
    {
        int nv = gemma_n_vocab(model);
        const int32_t *ids = sess_tokens(s, &n2);
        float *ref = scratch_logits(ids, n2, 512);
        if (ref && sess_logits(s)) CHECK(test_rel_l2(sess_logits(s), ref, nv) < 1e-6, "after undo: scratch logits");
        free(ref);
    }
    CHECK(sess_generate(s, &st, &err) == 0, "%s", err.msg);

    CHECK(sess_undo(s, &err) == 0 && sess_undo(s, &err) == 0, "%s", err.msg);
    CHECK(sess_n_used(s) == 1, "back to <bos> alone: %d", sess_n_used(s));
    CHECK(sess_undo(s, &err) != 0, "nothing left to undo");
    CHECK_CONTAINS(err.msg, "nothing to undo");
    CHECK(sess_transcript(s)->n_msgs == 0, "empty transcript");
    CHECK(sess_regen(s, &st, &err) != 0, "nothing to regenerate");
    /* The first turn again: the persona is back in it. */
    CHECK(sess_send(s, "Tell me a story about a cat.", &st, &err) == 0, "%s", err.msg);
    p = sess_tokens(s, &n2);
    CHECK(n2 == n1 && memcmp(p, after1, n1 * sizeof *p) == 0, "after undoing all: the same first exchange");

    /* A reply stopped by the token callback keeps its text so far. */
    k.n = 0;
    k.calls = 0;
    k.stop_after = 3;
    CHECK(sess_send(s, "Once more.", &st, &err) == 0, "%s", err.msg);
    CHECK(st.end == SESS_END_CANCEL && st.gen_tokens == 3, "stopped after 3 tokens: %s, %d", sess_end_name(st.end),
          st.gen_tokens);
    k.stop_after = 0;
    CHECK(sess_send(s, "Go on.", &st, &err) == 0, "the session keeps working after a stop: %s", err.msg);
    sess_destroy(s);
    free(after1);
    free(after2);
}

/* A long scripted conversation on a small context keeps working, drops old
 * exchanges with a notice, keeps every message in the transcript, and its
 * cache still matches a from-scratch prefill. A message longer than the
 * context is refused and changes nothing. */
static void test_overflow(void)
{
    sink k = {0};
    gc_err err = {0};
    const int n_ctx = 160;
    sess *s = open_sess(n_ctx, 16, &k);
    if (!s) return;
    const int turns = 14;
    int dropped = 0;
    char text[128];
    for (int i = 0; i < turns; i++) {
        snprintf(text, sizeof text, "Message number %d: tell me about the sea and ships.", i);
        sess_stats st;
        k.n = 0;
        int rc = sess_send(s, text, &st, &err);
        CHECK(rc == 0, "turn %d: %s", i, err.msg);
        if (rc) break;
        dropped += st.dropped;
        CHECK(sess_n_used(s) <= n_ctx, "turn %d: stream %d within the context", i, sess_n_used(s));
        CHECK(sess_n_cached(s) <= n_ctx, "turn %d: cache %d within the context", i, sess_n_cached(s));
    }
    CHECK(dropped > 0 && k.notices > 0, "old exchanges were dropped (%d) with a notice (%d)", dropped, k.notices);
    CHECK_CONTAINS(k.last_notice, "left the context");
    CHECK(sess_n_exchanges(s) == turns, "all %d exchanges known", sess_n_exchanges(s));
    CHECK(sess_n_in_context(s) < turns && sess_n_in_context(s) >= 1, "%d in context", sess_n_in_context(s));
    tr_transcript *tr = sess_transcript(s);
    int users = 0, models = 0, notices = 0;
    for (size_t i = 0; i < tr->n_msgs; i++) {
        if (tr->msgs[i].role == TR_USER) {
            snprintf(text, sizeof text, "Message number %d: tell me about the sea and ships.", users);
            CHECK_STR(tr->msgs[i].text, text);
            users++;
        }
        models += tr->msgs[i].role == TR_MODEL;
        notices += tr->msgs[i].role == TR_NOTICE;
    }
    CHECK(users == turns && models == turns, "transcript keeps every message: %d user, %d model", users, models);
    CHECK(notices == k.notices, "notices recorded: %d of %d", notices, k.notices);

    /* Refused: one message longer than the context. */
    char long_msg[4096] = "";
    for (int i = 0; i < 100; i++) strcat(long_msg, "words and more words ");
    size_t before_msgs = tr->n_msgs, before_used = (size_t)sess_n_used(s);
    sess_stats st;
    CHECK(sess_send(s, long_msg, &st, &err) != 0, "a message longer than the context is refused");
    CHECK_CONTAINS(err.msg, "message too long");
    CHECK_CONTAINS(err.msg, "context holds 160");
    CHECK(sess_transcript(s)->n_msgs == before_msgs && (size_t)sess_n_used(s) == before_used,
          "a refused message changes nothing");

    /* The cache after all the dropping equals a fresh prefill. */
    CHECK(sess_add_user(s, "Last question?", &st, &err) == 0, "%s", err.msg);
    int nv = gemma_n_vocab(model);
    size_t n;
    const int32_t *ids = sess_tokens(s, &n);
    int32_t *copy = malloc(n * sizeof *copy);
    memcpy(copy, ids, n * sizeof *copy);
    float *inc = malloc(nv * sizeof *inc);
    if (sess_logits(s)) memcpy(inc, sess_logits(s), nv * sizeof *inc);
    CHECK(copy[0] == tmpl.bos, "the stream starts with <bos>");
    sess_destroy(s);
    float *ref = scratch_logits(copy, n, n_ctx);
    if (ref) CHECK(test_rel_l2(inc, ref, nv) < 1e-6, "after overflow, incremental == scratch: %g",
                   test_rel_l2(inc, ref, nv));
    free(ref);
    free(inc);
    free(copy);
}

/* Issue 23 item 5: with no persona, no reply limit and a 128-token
 * context, replies fill the context; their stream (what the meter shows)
 * never passes it, and the conversation goes on. */
static void test_meter_limit(void)
{
    sink k = {0};
    gc_err err = {0};
    const int n_ctx = 128;
    sess_params p = { .n_ctx = n_ctx, .max_tokens = -1, .sampling = greedy() };
    p.sampling.temperature = 1;     /* varied replies, some of them long */
    sess *s = NULL;
    CHECK(sess_create(&s, model, vocab, &p, &err) == 0, "%s", err.msg);
    if (!s) return;
    sess_io io = { .on_token = on_token, .on_notice = on_notice, .user = &k };
    sess_set_io(s, &io);
    int over = 0;
    for (int i = 0; i < 15; i++) {
        char text[64];
        snprintf(text, sizeof text, "Tell me about ships number %d", i + 1);
        k.n = 0;
        int rc = sess_send(s, text, NULL, &err);
        CHECK(rc == 0, "turn %d: %s", i, err.msg);
        if (rc) break;
        if (sess_n_used(s) > n_ctx) over++;
        CHECK(sess_n_used(s) <= n_ctx, "turn %d: %d of %d tokens", i, sess_n_used(s), n_ctx);
    }
    CHECK(over == 0, "%d turns past the context", over);
    /* Issue 23 item 12: token counts are on replies only. */
    tr_transcript *tr = sess_transcript(s);
    for (size_t i = 0; i < tr->n_msgs; i++)
        if (tr->msgs[i].role == TR_USER)
            CHECK(tr->msgs[i].tokens < 0 && tr->msgs[i].tok_s < 0, "user message %zu has tokens %lld", i,
                  tr->msgs[i].tokens);
    /* /regen of a reply whose exchange left the context works. */
    CHECK(sess_regen(s, NULL, &err) == 0, "regen: %s", err.msg);
    CHECK(sess_n_used(s) <= n_ctx, "after regen: %d", sess_n_used(s));
    sess_destroy(s);
}

static int stop_progress(void *user, int done, int total)
{
    int *calls = user;
    (*calls)++;
    return done < total;    /* stop after the first chunk */
}

/* A prefill stopped between chunks fails, changes nothing in the
 * conversation, and its work stays in the cache for the next try. */
static void test_stop_prefill(void)
{
    sink k = {0};
    gc_err err = {0};
    sess *s = open_sess(512, 4, &k);
    if (!s) return;
    int calls = 0;
    sess_io io = { .on_progress = stop_progress, .user = &calls };
    sess_set_io(s, &io);
    const char *text = "A long message that takes well over one chunk of sixty-four tokens to read, because it "
                       "goes on and on about lighthouses, ships, harbours, storms and the sea at night.";
    sess_stats st;
    CHECK(sess_add_user(s, text, &st, &err) != 0, "a stopped prefill fails");
    CHECK_CONTAINS(err.msg, "stopped");
    CHECK(calls == 1, "stopped after the first chunk (%d calls)", calls);
    CHECK(sess_n_exchanges(s) == 0 && sess_transcript(s)->n_msgs == 0, "nothing added");
    int cached = sess_n_cached(s);
    CHECK(cached == 64, "the first chunk stays in the cache: %d", cached);
    sess_set_io(s, NULL);
    CHECK(sess_add_user(s, text, &st, &err) == 0, "%s", err.msg);
    CHECK(st.prompt_tokens == sess_n_used(s) - cached, "the retry reuses the cache: %d of %d evaluated",
          st.prompt_tokens, sess_n_used(s));
    /* The cancel flag stops a prefill too. */
    volatile sig_atomic_t cancel = 1;
    io = (sess_io){ .cancel = &cancel };
    sess_set_io(s, &io);
    CHECK(sess_generate(s, &st, &err) == 0 && st.end == SESS_END_CANCEL && st.gen_tokens == 0,
          "the cancel flag stops a reply before its first token");
    CHECK(sess_add_user(s, text, &st, &err) != 0, "the cancel flag stops a prefill");
    sess_destroy(s);
}

/* Save -> load -> the same messages, and under greedy sampling the same next reply. */
static void test_save_load(void)
{
    char dir[512], path[600];
    CHECK(tfs_mkdtemp(dir, sizeof dir, "sess") == 0, "mkdtemp");
    snprintf(path, sizeof path, "%s/conv.yaml", dir);
    sink k = {0};
    gc_err err = {0};
    sess *s = open_sess(512, 12, &k);
    if (!s) return;
    sess_stats st;
    CHECK(sess_send(s, "What is a lighthouse?", &st, &err) == 0, "%s", err.msg);
    CHECK(sess_send(s, "Why is it tall?", &st, &err) == 0, "%s", err.msg);
    CHECK(tr_save(sess_transcript(s), path, &err) == 0, "%s", err.msg);
    size_t n_saved;
    const int32_t *p = sess_tokens(s, &n_saved);
    int32_t *saved = malloc(n_saved * sizeof *saved);
    memcpy(saved, p, n_saved * sizeof *saved);
    CHECK(sess_send(s, "Who keeps it?", &st, &err) == 0, "%s", err.msg);
    char next[4096];
    snprintf(next, sizeof next, "%s", sess_transcript(s)->msgs[5].text);
    sess_destroy(s);

    s = open_sess(512, 12, &k);
    if (!s) return;
    CHECK(sess_set_persona(s, "other", "Another persona entirely.", &err) == 0, "%s", err.msg);
    tr_transcript *tr = NULL;
    CHECK(tr_load(path, &tr, &err) == 0, "%s", err.msg);
    if (tr) {
        CHECK(sess_load(s, tr, &err) == 0, "%s", err.msg);
        tr_transcript *t = sess_transcript(s);
        CHECK(t->n_msgs == 4, "4 messages loaded, got %zu", t->n_msgs);
        static const char *texts[] = { "What is a lighthouse?", NULL, "Why is it tall?", NULL };
        for (size_t i = 0; i < t->n_msgs && i < 4; i++) {
            CHECK(t->msgs[i].role == (i % 2 ? TR_MODEL : TR_USER), "message %zu role", i);
            if (texts[i]) CHECK_STR(t->msgs[i].text, texts[i]);
        }
        CHECK_STR(sess_persona_name(s), "tester");
        size_t n;
        p = sess_tokens(s, &n);
        CHECK(n == n_saved && memcmp(p, saved, n * sizeof *p) == 0, "loaded stream = saved stream (%zu vs %zu)", n,
              n_saved);
        /* The load evaluates nothing (the front end shows the conversation
         * first); sess_catch_up fills the cache a chunk at a time. */
        int left = sess_n_missing(s);
        CHECK(left > 64, "the load left the prefill for later: %d missing", left);
        int steps = 0;
        while (left > 0 && steps++ < 1000) {
            int r = sess_catch_up(s, 64, &err);
            CHECK(r >= 0 && r < left, "sess_catch_up: %d left after %d (%s)", r, left, r < 0 ? err.msg : "");
            if (r < 0) break;
            CHECK(sess_n_cached(s) + r == (int)n, "progress: %d cached + %d left of %zu", sess_n_cached(s), r, n);
            left = r;
        }
        CHECK(steps > 1, "caught up in %d steps of 64 tokens", steps);
        CHECK(sess_n_cached(s) == (int)n, "caught up: %d cached", sess_n_cached(s));
        CHECK(sess_last_stats(s)->prompt_tokens > 0, "the catch-up counts as a prefill");
        /* After a load the cache holds the whole rendered conversation: the
         * next turn prefills exactly its own tokens. */
        CHECK(sess_add_user(s, "Who keeps it?", &st, &err) == 0, "%s", err.msg);
        CHECK(st.prompt_tokens == (int)turn_tokens("Who keeps it?"), "after a load, %d tokens prefilled, own %zu",
              st.prompt_tokens, turn_tokens("Who keeps it?"));
        CHECK(sess_generate(s, &st, &err) == 0, "%s", err.msg);
        CHECK(sess_transcript(s)->n_msgs == 6, "6 messages");
        if (sess_transcript(s)->n_msgs == 6) CHECK_STR(sess_transcript(s)->msgs[5].text, next);
    }
    /* A transcript whose model message has no user message before it is refused. */
    tr_transcript *bad = NULL;
    CHECK(tr_create(&bad, &err) == 0, "%s", err.msg);
    tr_add(bad, TR_MODEL, "I speak first", -1, -1, &err);
    CHECK(sess_load(s, bad, &err) != 0, "model message first is refused");
    CHECK_CONTAINS(err.msg, "message 1");
    CHECK(sess_transcript(s)->n_msgs == 6, "the session is unchanged");
    tr_free(bad);
    sess_destroy(s);
    free(saved);
    unlink(path);
    rmdir(dir);
}


/* The stream as text, control tokens by name (<bos>, <start_of_turn> ...). */
static char *stream_text(sess *s)
{
    size_t n;
    const int32_t *ids = sess_tokens(s, &n);
    size_t cap = 64, len = 0;
    char *out = malloc(cap);
    out[0] = 0;
    for (size_t i = 0; i < n; i++) {
        size_t pl;
        const char *piece = tok_piece(vocab, ids[i], &pl);
        if (ids[i] == tmpl.start_of_turn) { piece = "<start_of_turn>"; pl = strlen(piece); }
        else if (ids[i] == tmpl.end_of_turn) { piece = "<end_of_turn>"; pl = strlen(piece); }
        else if (ids[i] == tmpl.bos) { piece = "<bos>"; pl = strlen(piece); }
        while (len + pl + 1 > cap) cap *= 2;
        out = realloc(out, cap);
        memcpy(out + len, piece, pl);
        len += pl;
        out[len] = 0;
    }
    return out;
}

static const persona_exchange SHOTS[] = {
    { "Who are you?", "Ahoy! I be Captain Test.\nArr!" },
    { "  Where is your ship?\n", "In the bay. [END]" },
};

/* A persona's example exchanges come first, as real turns carrying the
 * instruction; they are not messages, survive /undo and a clear, and a
 * loaded transcript renders the same stream when given them again. */
static void test_exchanges(void)
{
    sink k = {0};
    gc_err err = {0};
    sess *s = open_sess(512, 6, &k);
    if (!s) return;
    CHECK(sess_set_persona_ex(s, "pirate", "  Talk like a pirate.\n", SHOTS, 2, &err) == 0, "%s", err.msg);
    CHECK(sess_n_persona_exchanges(s) == 2, "2 example exchanges");
    sess_stats st;
    CHECK(sess_add_user(s, "Hello", &st, &err) == 0, "%s", err.msg);
    const char *want =
        "<bos><start_of_turn>user\nTalk like a pirate.\n\nWho are you?<end_of_turn>\n"
        "<start_of_turn>model\nAhoy! I be Captain Test.\nArr!<end_of_turn>\n"
        "<start_of_turn>user\nWhere is your ship?<end_of_turn>\n"
        "<start_of_turn>model\nIn the bay. [END]<end_of_turn>\n"
        "<start_of_turn>user\nHello<end_of_turn>\n"
        "<start_of_turn>model\n";
    char *got = stream_text(s);
    CHECK_STR(got, want);
    free(got);
    CHECK(st.prompt_tokens == sess_n_used(s), "the whole prompt prefilled: %d of %d", st.prompt_tokens,
          sess_n_used(s));
    /* The same tokens as tmpl_render of the examples followed by the message. */
    tmpl_msg msgs[5] = { { TMPL_USER, SHOTS[0].user }, { TMPL_MODEL, SHOTS[0].model }, { TMPL_USER, SHOTS[1].user },
                         { TMPL_MODEL, SHOTS[1].model }, { TMPL_USER, "Hello" } };
    tok_ids r = {0};
    CHECK(tmpl_render(&tmpl, msgs, 5, "Talk like a pirate.", true, &r, &err) == 0, "%s", err.msg);
    size_t n;
    const int32_t *p = sess_tokens(s, &n);
    CHECK(r.n == n && memcmp(r.ids, p, n * sizeof *p) == 0, "stream = tmpl_render (%zu vs %zu)", r.n, n);
    tok_ids_free(&r);
    CHECK(sess_generate(s, &st, &err) == 0, "%s", err.msg);
    tr_transcript *tr = sess_transcript(s);
    CHECK(tr->n_msgs == 2, "only the conversation is in the transcript: %zu messages", tr->n_msgs);
    if (tr->n_msgs == 2) CHECK_STR(tr->msgs[0].text, "Hello");
    CHECK_STR(tr->persona_name, "pirate");
    CHECK_STR(tr->persona_instruction, "Talk like a pirate.");
    CHECK(sess_n_exchanges(s) == 1, "1 exchange of the conversation");

    /* Save, load with the examples: the same stream; without them the
     * instruction goes to the first message instead. */
    p = sess_tokens(s, &n);
    int32_t *before = malloc(n * sizeof *before);
    memcpy(before, p, n * sizeof *p);
    size_t n_before = n;
    char dir[512], path[600];
    CHECK(tfs_mkdtemp(dir, sizeof dir, "sessx") == 0, "mkdtemp");
    snprintf(path, sizeof path, "%s/conv.yaml", dir);
    CHECK(tr_save(tr, path, &err) == 0, "%s", err.msg);
    char *saved = tfs_read(path, NULL);
    CHECK(saved && !strstr(saved, "Who are you?") && !strstr(saved, "Captain Test"),
          "the examples are not saved in the transcript");
    free(saved);
    tr_transcript *t2 = NULL;
    CHECK(tr_load(path, &t2, &err) == 0, "%s", err.msg);
    if (t2) {
        CHECK(sess_load_ex(s, t2, SHOTS, 2, NULL, 0, &err) == 0, "%s", err.msg);
        p = sess_tokens(s, &n);
        CHECK(n == n_before && memcmp(p, before, n * sizeof *p) == 0, "loaded with the examples: same stream");
        CHECK(sess_transcript(s)->n_msgs == 2, "2 messages after the load");
    }
    CHECK(tr_load(path, &t2, &err) == 0, "%s", err.msg);
    if (t2) {
        CHECK(sess_load(s, t2, &err) == 0, "%s", err.msg);
        CHECK(sess_n_persona_exchanges(s) == 0, "loaded without examples");
        got = stream_text(s);
        const char *head = "<bos><start_of_turn>user\nTalk like a pirate.\n\nHello<end_of_turn>\n";
        CHECK(!strncmp(got, head, strlen(head)),
              "without examples the instruction is in the first message: %s", got);
        free(got);
    }
    unlink(path);
    rmdir(dir);
    free(before);

    /* Undo and clear keep the examples: the stream goes back to them. */
    CHECK(sess_set_persona_ex(s, "pirate", "Talk like a pirate.", SHOTS, 2, &err) == 0, "%s", err.msg);
    CHECK(sess_send(s, "Hi", &st, &err) == 0, "%s", err.msg);
    CHECK(sess_undo(s, &err) == 0, "%s", err.msg);
    CHECK(sess_send(s, "Hello", &st, &err) == 0, "%s", err.msg);
    CHECK(sess_clear(s, &err) == 0, "%s", err.msg);
    CHECK(sess_add_user(s, "Hello", &st, &err) == 0, "%s", err.msg);
    got = stream_text(s);
    CHECK_STR(got, want);
    free(got);
    sess_destroy(s);
}

/* Context overflow drops conversation exchanges, never the examples. */
static void test_exchanges_overflow(void)
{
    sink k = {0};
    gc_err err = {0};
    sess *s = open_sess(160, 8, &k);
    if (!s) return;
    CHECK(sess_set_persona_ex(s, "pirate", "Talk like a pirate.", SHOTS, 2, &err) == 0, "%s", err.msg);
    sess_stats st;
    int dropped = 0;
    for (int i = 0; i < 8; i++) {
        CHECK(sess_send(s, "Tell me one more thing about the sea and the ships on it.", &st, &err) == 0, "%s",
              err.msg);
        dropped += st.dropped;
    }
    CHECK(dropped > 0, "some exchanges left the context");
    char *got = stream_text(s);
    const char *head = "<bos><start_of_turn>user\nTalk like a pirate.\n\nWho are you?<end_of_turn>\n"
                       "<start_of_turn>model\nAhoy! I be Captain Test.\nArr!<end_of_turn>\n";
    CHECK(!strncmp(got, head, strlen(head)),
          "the examples stay first: %.120s", got);
    free(got);
    CHECK(sess_n_used(s) <= 160, "within the context: %d", sess_n_used(s));
    sess_destroy(s);
}

/* sess_stop_scan: a whole stop string, one split across pieces, text held
 * back while it could start a stop string, multi-byte characters. */
static void test_stop_scan(void)
{
    char *stops[] = { "[END]", "\nuser", "¡Fin!" };
    /* Feed pieces one at a time like decode() does. */
    struct { const char *pieces[6]; int stop_at; const char *shown; } cases[] = {
        { { "Ahoy", "!", " [END]" }, 2, "Ahoy! " },
        { { "Ahoy", " [E", "ND] more" }, 2, "Ahoy " },          /* split across two tokens */
        { { "Ahoy", "\n", "us", "er" }, 3, "Ahoy" },
        { { "Ahoy", "\n", "us", "ed" }, -1, "Ahoy\nused" },     /* held back, then let go */
        { { "Año", " ¡", "Fin", "!" }, 3, "Año " },              /* multi-byte pieces */
        { { "ñ", "¡", "Fi", "esta" }, -1, "ñ¡Fiesta" },
        { { "x[EN", "D]" }, 1, "x" },
    };
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        char text[256] = "";
        size_t n = 0, shown = 0;
        char out[256] = "";
        int stopped_at = -1;
        for (int i = 0; i < 6 && cases[c].pieces[i]; i++) {
            size_t old = n, len = strlen(cases[c].pieces[i]);
            memcpy(text + n, cases[c].pieces[i], len);
            n += len;
            text[n] = 0;
            size_t cut = 99, safe = 99;
            int hit = sess_stop_scan(stops, 3, text, old, n, &cut, &safe);
            size_t upto = hit ? cut : safe;
            CHECK(upto >= shown && upto <= n, "case %zu piece %d: %zu", c, i, upto);
            /* Never inside a UTF-8 character. */
            CHECK(upto == n || ((unsigned char)text[upto] & 0xC0) != 0x80, "case %zu: cut in a character", c);
            strncat(out, text + shown, upto - shown);
            shown = upto;
            if (hit) { stopped_at = i; n = cut; text[n] = 0; break; }
        }
        if (stopped_at < 0) strncat(out, text + shown, n - shown);
        CHECK(stopped_at == cases[c].stop_at, "case %zu: stopped at piece %d, want %d", c, stopped_at,
              cases[c].stop_at);
        CHECK_STR(out, cases[c].shown);
        CHECK_STR(text, stopped_at >= 0 ? cases[c].shown : text);
    }
    size_t cut = 0, safe = 0;
    CHECK(sess_stop_scan(stops, 0, "abc", 0, 3, &cut, &safe) == 0 && safe == 3, "no stops: all shown");
    /* The earliest occurrence wins, also over a longer stop string. */
    char *two[] = { "user", "\n" };
    CHECK(sess_stop_scan(two, 2, "hi\nuser", 0, 7, &cut, &safe) == 1 && cut == 2, "earliest: %zu", cut);
}

/* A stop string in a real reply: the reply ends there (end of turn, not
 * max_tokens), the stop text is neither shown nor kept, and what was
 * shown is exactly what was kept. */
static void test_stop_reply(void)
{
    sink k = {0};
    gc_err err = {0};
    sess *s = open_sess(512, 16, &k);
    if (!s) return;
    sess_stats st;
    CHECK(sess_add_user(s, "Say something long.", &st, &err) == 0, "%s", err.msg);
    size_t np;
    const int32_t *p = sess_tokens(s, &np);
    int32_t *prompt = malloc(np * sizeof *prompt);
    memcpy(prompt, p, np * sizeof *p);
    int32_t gen[16] = {0};
    scratch_greedy(prompt, np, 16, gen);
    free(prompt);
    sess_destroy(s);
    /* The reply's text, and a stop string made of the last character of one
     * token and the first of the next (both non-empty, not spaces). */
    char raw[1024] = "";
    size_t off[17] = {0};
    for (int i = 0; i < 16; i++) {
        size_t pl;
        const char *piece = tok_piece(vocab, gen[i], &pl);
        strncat(raw, piece, pl);
        off[i + 1] = strlen(raw);
    }
    char stop[32] = "";
    for (int i = 2; i < 15 && !stop[0]; i++) {
        if (off[i] == off[i - 1] || off[i + 1] == off[i]) continue;
        size_t a = off[i] - 1;
        while (a > off[i - 1] && ((unsigned char)raw[a] & 0xC0) == 0x80) a--;
        size_t b = off[i] + 1;
        while (b < off[i + 1] && ((unsigned char)raw[b] & 0xC0) == 0x80) b++;
        if (raw[a] == ' ' || raw[off[i]] == ' ' || b - a >= sizeof stop) continue;
        memcpy(stop, raw + a, b - a);
        stop[b - a] = 0;
    }
    CHECK(stop[0], "found two tokens to split a stop string over in: %s", raw);
    if (!stop[0]) return;
    printf("stop string '%s' (split over two tokens) in the reply '%s'\n", stop, raw);
    const char *at = strstr(raw, stop);
    size_t cut = (size_t)(at - raw), n;

    k = (sink){0};
    s = open_sess(512, 16, &k);
    if (!s) return;
    char *stops[] = { stop };
    CHECK(sess_set_stops(s, stops, 1, &err) == 0, "%s", err.msg);
    CHECK(sess_send(s, "Say something long.", &st, &err) == 0, "%s", err.msg);
    CHECK(st.end == SESS_END_STOP, "ended by the stop string, got %s", sess_end_name(st.end));
    CHECK(k.n == cut && !memcmp(k.text, raw, cut), "shown '%s', want the %zu bytes before '%s' in '%s'", k.text, cut,
          stop, raw);
    char want[1024];
    snprintf(want, sizeof want, "%.*s", (int)cut, raw);
    char *w = want;
    while (*w == ' ' || *w == '\n') w++;
    size_t wl = strlen(w);
    while (wl && (w[wl - 1] == ' ' || w[wl - 1] == '\n')) w[--wl] = 0;
    CHECK_STR(sess_transcript(s)->msgs[1].text, w);
    /* In the stream the reply is followed by the first stop string, inside its turn. */
    char tail[1100];
    snprintf(tail, sizeof tail, "%s%s<end_of_turn>\n", w, stop);
    char *st_text = stream_text(s);
    size_t tl = strlen(tail), sl = strlen(st_text);
    CHECK(sl >= tl && !strcmp(st_text + sl - tl, tail), "the stream ends in '%s': %s", tail, st_text);
    free(st_text);
    /* A loaded transcript renders the same stream (the stop string is the session's, not saved). */
    size_t n0;
    const int32_t *p0 = sess_tokens(s, &n0);
    int32_t *before = malloc(n0 * sizeof *before);
    memcpy(before, p0, n0 * sizeof *p0);
    char dir[512], path[600];
    CHECK(tfs_mkdtemp(dir, sizeof dir, "sessstop") == 0, "mkdtemp");
    snprintf(path, sizeof path, "%s/conv.yaml", dir);
    CHECK(tr_save(sess_transcript(s), path, &err) == 0, "%s", err.msg);
    tr_transcript *tr = NULL;
    CHECK(tr_load(path, &tr, &err) == 0, "%s", err.msg);
    if (tr) {
        CHECK(sess_load(s, tr, &err) == 0, "%s", err.msg);
        p0 = sess_tokens(s, &n);
        CHECK(n == n0 && !memcmp(p0, before, n * sizeof *p0), "same stream after a load (%zu vs %zu)", n, n0);
    }
    free(before);
    unlink(path);
    rmdir(dir);
    char *empty[] = { "" };
    CHECK(sess_set_stops(s, empty, 1, &err) != 0, "an empty stop string is refused");
    sess_destroy(s);
}

/* sess_set_instruction: the stream is what a fresh rendering with the new
 * instruction gives (as a load of the transcript renders it), the transcript
 * keeps it, and it is refused while a message waits for its reply. */
static void test_set_instruction(void)
{
    sink k = {0};
    gc_err err = {0};
    sess *s = open_sess(512, 6, &k);
    if (!s) return;
    CHECK(sess_send(s, "Hello there, how is the weather today?", NULL, &err) == 0, "%s", err.msg);
    CHECK(sess_set_instruction(s, "  Speak like a sailor.\n", &err) == 0, "%s", err.msg);
    CHECK_STR(sess_instruction(s), "Speak like a sailor.");
    CHECK_STR(sess_transcript(s)->persona_instruction, "Speak like a sailor.");
    CHECK_STR(sess_persona_name(s), "tester");
    tr_transcript *tr = sess_transcript(s);
    const char *u = tr->msgs[0].text, *r = tr->msgs[1].text;
    tmpl_msg msgs[2] = { { TMPL_USER, u }, { TMPL_MODEL, r } };
    tok_ids want = {0};
    CHECK(tmpl_render(&tmpl, msgs, 2, "Speak like a sailor.", false, &want, &err) == 0, "%s", err.msg);
    size_t n;
    const int32_t *ids = sess_tokens(s, &n);
    CHECK(n == want.n && !memcmp(ids, want.ids, n * sizeof *ids), "stream %zu tokens, a fresh rendering %zu", n,
          want.n);
    tok_ids_free(&want);
    sess_stats st;
    CHECK(sess_send(s, "And tomorrow?", &st, &err) == 0, "%s", err.msg);
    CHECK(st.prompt_tokens > 0, "the next turn prefills the new instruction's stream");
    CHECK(sess_add_user(s, "Pending?", NULL, &err) == 0, "%s", err.msg);
    CHECK(sess_set_instruction(s, "Other.", &err) != 0 && strstr(err.msg, "no reply yet"), "refused while pending: %s",
          err.msg);
    CHECK_STR(sess_instruction(s), "Speak like a sailor.");
    sess_destroy(s);
}

/* /edit forks: the old branch stays in the transcript (and the saved YAML),
 * the cache is reused up to the fork (only the new turn's tokens are
 * prefilled), the reply equals a fresh conversation's with the edited text
 * (greedy), and switching branches renders the other branch again. */
static void test_edit_branch(void)
{
    char dir[512], path[600];
    CHECK(tfs_mkdtemp(dir, sizeof dir, "edit") == 0, "mkdtemp");
    snprintf(path, sizeof path, "%s/tree.yaml", dir);
    sink k = {0};
    gc_err err = {0};
    sess_stats st;
    /* The reference: the edited conversation from scratch. */
    sess *s = open_sess(512, 8, &k);
    if (!s) return;
    CHECK(sess_send(s, "What is a lighthouse?", &st, &err) == 0, "%s", err.msg);
    CHECK(sess_send(s, "Why is it white?", &st, &err) == 0, "%s", err.msg);
    char want[4096];
    snprintf(want, sizeof want, "%s", tr_msg(sess_transcript(s), 3)->text);
    sess_destroy(s);

    s = open_sess(512, 8, &k);
    if (!s) return;
    CHECK(sess_send(s, "What is a lighthouse?", &st, &err) == 0, "%s", err.msg);
    size_t n1;
    const int32_t *p = sess_tokens(s, &n1);
    int32_t *after1 = malloc(n1 * sizeof *after1);
    memcpy(after1, p, n1 * sizeof *after1);
    CHECK(sess_send(s, "Why is it tall?", &st, &err) == 0, "%s", err.msg);
    CHECK(sess_send(s, "Who keeps it?", &st, &err) == 0, "%s", err.msg);
    size_t n_old = (size_t)sess_n_used(s);
    CHECK(sess_edit(s, 9, "x", &st, &err) != 0 && strstr(err.msg, "no message 9"), "edit 9 refused: %s", err.msg);
    CHECK(tr_len(sess_transcript(s)) == 6 && sess_n_exchanges(s) == 3, "a refused edit changes nothing");

    long long before = sess_n_prefilled(s);
    const char *edited = "Why is it white?";
    CHECK(sess_edit(s, 2, edited, &st, &err) == 0 && sess_generate(s, &st, &err) == 0, "%s", err.msg);
    tr_transcript *tr = sess_transcript(s);
    CHECK(tr->n_msgs == 8 && tr_len(tr) == 4 && tr_n_branches(tr) == 2, "%zu messages, branch of %zu, %zu branches",
          tr->n_msgs, tr_len(tr), tr_n_branches(tr));
    if (tr_len(tr) == 4) {
        CHECK_STR(tr_msg(tr, 2)->text, edited);
        CHECK_STR(tr_msg(tr, 3)->text, want);
    }
    /* KV reuse: the fork's own turn at most, never the first exchange again. */
    size_t own = turn_tokens(edited);
    CHECK(st.prompt_tokens >= 1 && st.prompt_tokens <= (int)own, "the edit prefilled %d tokens (its turn: %zu)",
          st.prompt_tokens, own);
    CHECK(sess_n_prefilled(s) - before == st.prompt_tokens, "counted %lld, the turn %d",
          sess_n_prefilled(s) - before, st.prompt_tokens);
    CHECK(st.prompt_tokens < (int)n1, "less than the first exchange (%zu tokens)", n1);
    size_t n_now;
    p = sess_tokens(s, &n_now);
    CHECK(n_now > n1 && memcmp(p, after1, n1 * sizeof *p) == 0, "the stream starts as before the fork");

    sess_branch *b = NULL;
    size_t nb = 0;
    CHECK(sess_branches(s, &b, &nb, &err) == 0 && nb == 2, "%zu branches: %s", nb, err.msg);
    if (nb == 2) {
        CHECK(b[0].user_msg == 2 && !b[0].current && b[0].n_msgs == 6, "branch 1: message %zu, %zu messages",
              b[0].user_msg, b[0].n_msgs);
        CHECK_STR(b[0].words, "Why is it tall?");
        CHECK(b[1].user_msg == 2 && b[1].current && b[1].n_msgs == 4, "branch 2: message %zu", b[1].user_msg);
        CHECK_STR(b[1].words, edited);
    }
    free(b);

    CHECK(tr_save(tr, path, &err) == 0, "%s", err.msg);
    size_t yl = 0;
    char *y = tfs_read(path, &yl);
    CHECK(y && strstr(y, "Why is it tall?") && strstr(y, "Who keeps it?") && strstr(y, edited) &&
          strstr(y, "version: 2\ncurrent: 8\n"), "both branches in the YAML:\n%s", y ? y : "");
    free(y);

    /* Back to branch 1: the stream renders it; the cache keeps the shared first exchange. */
    CHECK(sess_set_branch(s, 3, &err) != 0, "no branch 3");
    CHECK(sess_set_branch(s, 1, &err) == 0, "%s", err.msg);
    CHECK(tr_len(tr) == 6 && sess_n_exchanges(s) == 3 && (size_t)sess_n_used(s) == n_old,
          "branch 1 again: %zu messages, %d tokens (was %zu)", tr_len(tr), sess_n_used(s), n_old);
    CHECK(sess_n_missing(s) < sess_n_used(s) - (int)n1 + 1, "the cache keeps the first exchange: %d missing",
          sess_n_missing(s));
    /* The key's switch: the next sibling at the last fork. */
    CHECK(sess_switch_sibling(s, +1, &err) == 0 && tr_len(tr) == 4, "next sibling: %s", err.msg);
    CHECK(sess_switch_sibling(s, +1, &err) == 0 && tr_len(tr) == 4, "no sibling after the last");
    CHECK(sess_switch_sibling(s, -1, &err) == 0 && tr_len(tr) == 6, "previous sibling");
    sess_destroy(s);

    /* The tree loads back with its current branch. */
    tr_transcript *t = NULL;
    CHECK(tr_load(path, &t, &err) == 0, "%s", err.msg);
    s = open_sess(512, 8, &k);
    if (s && t) {
        CHECK(sess_load(s, t, &err) == 0, "%s", err.msg);
        CHECK(sess_n_exchanges(s) == 2 && tr_n_branches(sess_transcript(s)) == 2, "loaded: %d exchanges",
              sess_n_exchanges(s));
    }
    sess_destroy(s);
    free(after1);
    tfs_rmtree(dir);
}

int main(void)
{
    const char *models = getenv("MODELS") ? getenv("MODELS") : "build/models";
    char path[1024];
    snprintf(path, sizeof path, "%s/g3-default.gguf", models);
    gc_err err = {0};
    if (gguf_open(&g, path, &err) || tok_from_gguf(&vocab, g, &err) || tmpl_init(&tmpl, vocab, &err) ||
        ref_backend_create(&be, &err) || gemma_model_load(&model, g, be, NULL, NULL, &err) ||
        ref_backend_create(&be2, &err) || gemma_model_load(&model2, g, be2, NULL, NULL, &err)) {
        fprintf(stderr, "setup: %s\n", err.msg);
        return 1;
    }
    TEST_RUN(test_two_turns);
    TEST_RUN(test_regen_undo);
    TEST_RUN(test_overflow);
    TEST_RUN(test_meter_limit);
    TEST_RUN(test_save_load);
    TEST_RUN(test_stop_prefill);
    TEST_RUN(test_exchanges);
    TEST_RUN(test_exchanges_overflow);
    TEST_RUN(test_stop_scan);
    TEST_RUN(test_stop_reply);
    TEST_RUN(test_set_instruction);
    TEST_RUN(test_edit_branch);
    gemma_model_free(model);
    be->destroy(be);
    gemma_model_free(model2);
    be2->destroy(be2);
    tok_destroy(vocab);
    gguf_close(g);
    return test_summary();
}
