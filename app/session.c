/* session.c: a chat conversation over one token stream in the KV cache (see session.h). */
#include "app/session.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "base/buf.h"
#include "base/clock.h"
#include "model/chat_template.h"
#include "model/sampler.h"

/* Tokens evaluated per gemma_eval call during a prefill, so that progress
 * can be reported, and the prefill stopped, between calls. */
#define PREFILL_CHUNK 64

/* One user message and the model's reply to it. */
typedef struct sess_ex {
    char *user;                 /* as typed */
    char *reply;                /* as kept in the stream (trimmed); NULL while pending */
    size_t tr_first;            /* its first transcript message (an overflow notice before it) */
    size_t tr_user;             /* its user message in the transcript */
    size_t off_user;            /* stream offset of its user turn (when in the context) */
    size_t off_model;           /* stream offset of its model turn (when in the context) */
} sess_ex;

struct sess {
    gemma_model *m;
    gemma_session *g;
    const tok_vocab *v;
    tmpl_gemma t;
    smp_sampler *smp;
    sess_params p;
    sess_io io;
    char *persona_name;         /* never NULL */
    char *persona;              /* instruction; never NULL, "" = none */
    persona_exchange *shots;    /* [n_shots] the persona's example exchanges (trimmed) */
    size_t n_shots;
    char **stops;               /* [n_stops] stop strings */
    size_t n_stops;
    tr_transcript *tr;
    sess_ex *ex;                /* [n_ex] every exchange, oldest first */
    size_t n_ex, cap_ex;
    size_t first;               /* exchanges [first, n_ex) are in the context */
    tok_ids toks;               /* the stream: what the context should hold */
    tok_ids kv;                 /* what the KV cache holds: kv.n == gemma_n_past */
    bool have_logits;           /* gemma_logits is for toks' last token */
    sess_stats last;
    long long prefilled;        /* tokens evaluated by prefills in this session (sess_n_prefilled) */
};

static char *dup_str(const char *s)
{
    return strdup(s ? s : "");
}

static bool is_space(char c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v';
}

/* A malloc'd copy of s without ASCII whitespace at either end: the text the
 * chat template puts into the stream. */
static char *trimmed(const char *s, size_t n)
{
    while (n && is_space(*s)) { s++; n--; }
    while (n && is_space(s[n - 1])) n--;
    char *r = malloc(n + 1);
    if (!r) return NULL;
    memcpy(r, s, n);
    r[n] = 0;
    return r;
}

static void free_shots(persona_exchange *x, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        free(x[i].user);
        free(x[i].model);
    }
    free(x);
}

/* Trimmed copies of ex[0..n) into *out (NULL when n is 0). */
static int copy_shots(const persona_exchange *ex, size_t n, persona_exchange **out, gc_err *err)
{
    *out = NULL;
    if (!n) return 0;
    persona_exchange *x = calloc(n, sizeof *x);
    if (!x) return gc_errf(err, "out of memory");
    for (size_t i = 0; i < n; i++) {
        const char *u = ex[i].user ? ex[i].user : "", *m = ex[i].model ? ex[i].model : "";
        x[i].user = trimmed(u, strlen(u));
        x[i].model = trimmed(m, strlen(m));
        if (!x[i].user || !x[i].model) {
            free_shots(x, n);
            return gc_errf(err, "out of memory");
        }
    }
    *out = x;
    return 0;
}

static void free_stops(char **st, size_t n)
{
    for (size_t i = 0; i < n; i++) free(st[i]);
    free(st);
}

static void notice(sess *s, const char *text)
{
    tr_add(s->tr, TR_NOTICE, text, -1, -1, NULL);
    if (s->io.on_notice) s->io.on_notice(s->io.user, text);
}

/* ------------------------------------------------------------ setup */

static int make_sampler(sess *s, const cfg_sampling *c, gc_err *err)
{
    if (c->seed < 0) return gc_errf(err, "sampling seed %lld: must be resolved to 0 or more", c->seed);
    smp_params sp = {
        .temp = c->temperature, .top_k = c->top_k, .top_p = c->top_p, .min_p = c->min_p,
        .repeat_penalty = c->repeat_penalty,
        .repeat_last_n = c->repeat_last_n < 0 ? gemma_n_ctx(s->g) : c->repeat_last_n,
        .seed = (uint64_t)c->seed,
    };
    smp_sampler *n = NULL;
    if (smp_create(&n, &sp, gemma_n_vocab(s->m), err)) return -1;
    smp_destroy(s->smp);
    s->smp = n;
    s->p.sampling = *c;
    return 0;
}

int sess_create(sess **out, gemma_model *m, const tok_vocab *v, const sess_params *p, gc_err *err)
{
    *out = NULL;
    sess *s = calloc(1, sizeof *s);
    if (!s) return gc_errf(err, "out of memory");
    s->m = m;
    s->v = v;
    s->p = *p;
    s->persona_name = dup_str("");
    s->persona = dup_str("");
    if (!s->persona_name || !s->persona) { gc_errf(err, "out of memory"); goto fail; }
    if (tmpl_init(&s->t, v, err) || gemma_session_create(&s->g, m, p->n_ctx, p->n_batch, err) ||
        make_sampler(s, &p->sampling, err) || tr_create(&s->tr, err))
        goto fail;
    tr_set_sampling(s->tr, &s->p.sampling);
    *out = s;
    return 0;
fail:
    sess_destroy(s);
    return -1;
}

static void free_exchanges(sess_ex *ex, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        free(ex[i].user);
        free(ex[i].reply);
    }
    free(ex);
}

void sess_destroy(sess *s)
{
    if (!s) return;
    free_exchanges(s->ex, s->n_ex);
    tok_ids_free(&s->toks);
    tok_ids_free(&s->kv);
    tr_free(s->tr);
    smp_destroy(s->smp);
    gemma_session_free(s->g);
    free(s->persona_name);
    free(s->persona);
    free_shots(s->shots, s->n_shots);
    free_stops(s->stops, s->n_stops);
    free(s);
}

void sess_set_io(sess *s, const sess_io *io)
{
    if (io) s->io = *io;
    else memset(&s->io, 0, sizeof s->io);
}

/* ------------------------------------------------------------ the stream */

/* Appends src[0..n) to dst. */
static int ids_append(tok_ids *dst, const int32_t *src, size_t n, gc_err *err)
{
    for (size_t i = 0; i < n; i++)
        if (tok_ids_push(dst, src[i], err)) return -1;
    return 0;
}

/* The persona text for a user turn: on the first turn of the context,
 * unless the persona's example exchanges carry it. */
static const char *turn_persona(const sess *s, bool first_turn)
{
    return first_turn && !s->n_shots ? s->persona : NULL;
}

/* Starts a fresh stream in out: <bos>, then the persona's example
 * exchanges (the instruction in the first one's user turn). */
static int begin_stream(sess *s, tok_ids *out, gc_err *err)
{
    out->n = 0;
    if (tmpl_begin(&s->t, out, err)) return -1;
    for (size_t i = 0; i < s->n_shots; i++)
        if (tmpl_add_turn(&s->t, out, TMPL_USER, i == 0 ? s->persona : NULL, s->shots[i].user, err) ||
            tmpl_add_turn(&s->t, out, TMPL_MODEL, NULL, s->shots[i].model, err))
            return -1;
    return 0;
}

/* A reply of the conversation as a model turn: its text, then the first
 * stop string when there are stop strings, as the persona's examples show
 * it, so that the model keeps seeing where its replies end. */
static int reply_turn(sess *s, tok_ids *out, const char *reply, gc_err *err)
{
    if (!s->n_stops) return tmpl_add_turn(&s->t, out, TMPL_MODEL, NULL, reply, err);
    size_t a = strlen(reply), b = strlen(s->stops[0]);
    char *t = malloc(a + b + 1);
    if (!t) return gc_errf(err, "out of memory");
    memcpy(t, reply, a);
    memcpy(t + a, s->stops[0], b + 1);
    int rc = tmpl_add_turn(&s->t, out, TMPL_MODEL, NULL, t, err);
    free(t);
    return rc;
}

/* Renders exchanges [from, to) into out as a fresh stream (persona on the
 * first user turn). With offsets, records each exchange's offsets. */
static int render(sess *s, size_t from, size_t to, tok_ids *out, bool offsets, gc_err *err)
{
    if (begin_stream(s, out, err)) return -1;
    for (size_t i = from; i < to; i++) {
        sess_ex *e = &s->ex[i];
        size_t u = out->n;
        if (tmpl_add_turn(&s->t, out, TMPL_USER, turn_persona(s, i == from), e->user, err)) return -1;
        size_t mo = out->n;
        if (e->reply && reply_turn(s, out, e->reply, err)) return -1;
        if (offsets) { e->off_user = u; e->off_model = mo; }
    }
    return 0;
}

/* Makes the KV cache hold the whole stream and the logits of its last token
 * available: keeps the longest common prefix of cache and stream, evaluates
 * the rest (at least the last token, for its logits). Returns the number of
 * tokens evaluated in *n_eval. Stopped between chunks (cancel flag, progress
 * callback) it fails with "stopped"; what was evaluated stays in the cache
 * and a later prefill of the same tokens reuses it. */
static int prefill(sess *s, int *n_eval, double *secs, gc_err *err)
{
    size_t n = s->toks.n, keep = 0;
    while (keep < n && keep < s->kv.n && s->kv.ids[keep] == s->toks.ids[keep]) keep++;
    if (n == 0) return gc_errf(err, "nothing to evaluate");
    if (keep == n) keep--;
    if ((int)n > gemma_n_ctx(s->g))
        return gc_errf(err, "%zu tokens do not fit the context of %d", n, gemma_n_ctx(s->g));
    s->have_logits = false;
    if (gemma_rewind(s->g, (int)keep, err)) return -1;
    s->kv.n = keep = (size_t)gemma_n_past(s->g);   /* a rewind may go further back (gemma.h) */
    double t0 = gc_now_s();
    size_t total = n - keep;
    bool stop = false;
    while (s->kv.n < n) {
        if (stop || (s->io.cancel && *s->io.cancel))
            return gc_errf(err, "stopped while reading the prompt (%zu of %zu tokens)", s->kv.n - keep, total);
        size_t k = n - s->kv.n < PREFILL_CHUNK ? n - s->kv.n : PREFILL_CHUNK;
        /* The argmax too: greedy decoding reads it instead of the logits. */
        unsigned want = s->kv.n + k == n ? GEMMA_WANT_LOGITS | GEMMA_WANT_ARGMAX : 0;
        if (gemma_eval(s->g, s->toks.ids + s->kv.n, (int)k, want, err)) return -1;
        if (ids_append(&s->kv, s->toks.ids + s->kv.n, k, err)) return -1;
        stop = s->io.on_progress && s->io.on_progress(s->io.user, (int)(s->kv.n - keep), (int)total);
    }
    *secs = gc_now_s() - t0;
    *n_eval = (int)total;
    s->prefilled += (long long)total;
    s->have_logits = true;
    return 0;
}

/* How many tokens of the stream, from the first one that differs, the
 * cache lacks. */
static size_t missing(const sess *s)
{
    size_t keep = 0;
    while (keep < s->toks.n && keep < s->kv.n && s->kv.ids[keep] == s->toks.ids[keep]) keep++;
    return s->toks.n - keep;
}

int sess_n_missing(const sess *s) { return (int)missing(s); }

int sess_catch_up(sess *s, int max, gc_err *err)
{
    size_t n = s->toks.n, keep = n - missing(s);
    if (keep == n) return 0;
    if ((int)n > gemma_n_ctx(s->g))
        return gc_errf(err, "%zu tokens do not fit the context of %d", n, gemma_n_ctx(s->g));
    if (keep < s->kv.n) {
        if (gemma_rewind(s->g, (int)keep, err)) return -1;
        s->kv.n = keep = (size_t)gemma_n_past(s->g);   /* a rewind may go further back (gemma.h) */
    }
    s->have_logits = false;
    size_t k = n - keep;
    if (max > 0 && (size_t)max < k) k = (size_t)max;
    double t0 = gc_now_s();
    for (size_t done = 0; done < k;) {
        size_t c = k - done < PREFILL_CHUNK ? k - done : PREFILL_CHUNK;
        if (gemma_eval(s->g, s->toks.ids + s->kv.n, (int)c, 0, err)) return -1;
        if (ids_append(&s->kv, s->toks.ids + s->kv.n, c, err)) return -1;
        done += c;
    }
    s->prefilled += (long long)k;
    /* Its figures count as the last turn's prefill (the status bar's speed). */
    s->last.prompt_tokens += (int)k;
    s->last.prefill_s += gc_now_s() - t0;
    s->last.prefill_tok_s = s->last.prefill_s > 0 ? s->last.prompt_tokens / s->last.prefill_s : 0;
    return (int)(n - s->kv.n);
}

/* The room a new turn leaves free for its reply when deciding what to drop. */
int sess_reply_reserve(const sess *s)
{
    int n_ctx = gemma_n_ctx(s->g), r = n_ctx / 4;
    if (s->p.max_tokens > 0 && s->p.max_tokens < r) r = s->p.max_tokens;
    return r < 1 ? 1 : r;
}

/* ------------------------------------------------------------ conversation */

static int new_conversation(sess *s, gc_err *err)
{
    tr_transcript *tr = NULL;
    if (tr_create(&tr, err) || tr_set_persona(tr, s->persona_name, s->persona, err)) {
        tr_free(tr);
        return -1;
    }
    tr_set_sampling(tr, &s->p.sampling);
    /* The model fields carry over: it is the same model. */
    if (tr_set_model(tr, s->tr->model_name, s->tr->model_arch, s->tr->model_file, s->tr->model_size, err)) {
        tr_free(tr);
        return -1;
    }
    tr_free(s->tr);
    s->tr = tr;
    free_exchanges(s->ex, s->n_ex);
    s->ex = NULL;
    s->n_ex = s->cap_ex = s->first = 0;
    s->toks.n = 0;
    /* A persona's example exchanges are the stream already: a front end
     * can read them before the first message (or take them from a snapshot,
     * app/resume.h). Without them the stream starts with the first message. */
    gc_err ignore;
    if (s->n_shots && begin_stream(s, &s->toks, &ignore)) s->toks.n = 0;
    s->have_logits = false;
    memset(&s->last, 0, sizeof s->last);
    return 0;
}

/* The message a persona must leave room for: a short first question, and a
 * reply (sess_reply_reserve). */
#define FIT_PROBE "Hello there, how are you today?"

static int user_turn(sess *s, bool first_turn, const char *text, tok_ids *out, gc_err *err);
static bool pending(const sess *s);

/* Tokens of a fresh stream with the current persona instruction and its
 * first n example exchanges, then FIT_PROBE and the generation prompt. */
static int persona_cost(sess *s, size_t n, size_t *out, gc_err *err)
{
    size_t keep = s->n_shots;
    s->n_shots = n;
    tok_ids tmp = {0};
    int rc = begin_stream(s, &tmp, err) || user_turn(s, true, FIT_PROBE, &tmp, err) ? -1 : 0;
    s->n_shots = keep;
    *out = tmp.n;
    tok_ids_free(&tmp);
    return rc;
}

/* Makes the persona fit the context: its example exchanges are optional, so
 * the last ones go (freed) until the rest leaves room for a short message
 * and a reply; when the instruction alone does not, an error naming the
 * persona and the sizes. */
static int fit_persona(sess *s, gc_err *err)
{
    if (!s->persona[0] && !s->n_shots) return 0;   /* no persona: nothing to fit (a message may still be too long) */
    int n_ctx = gemma_n_ctx(s->g), room = n_ctx - sess_reply_reserve(s);
    size_t cost = 0;
    for (;;) {
        if (persona_cost(s, s->n_shots, &cost, err)) return -1;
        if ((int)cost <= room || !s->n_shots) break;
        s->n_shots--;
        free(s->shots[s->n_shots].user);
        free(s->shots[s->n_shots].model);
        if (!s->n_shots) { free(s->shots); s->shots = NULL; }
    }
    if ((int)cost > room)
        return gc_errf(err, "persona '%s' does not fit the context: its instruction and a short message take %zu "
                       "tokens, and a context of %d tokens leaves %d once %d are kept for a reply (raise --ctx, or "
                       "use another persona or --persona none)", s->persona_name, cost, n_ctx, room < 0 ? 0 : room,
                       n_ctx - room);
    return 0;
}

int sess_set_persona_ex(sess *s, const char *name, const char *instruction, const persona_exchange *ex,
                        size_t n_ex, gc_err *err)
{
    persona_exchange *x;
    if (copy_shots(ex, n_ex, &x, err)) return -1;
    char *n = dup_str(name), *i = trimmed(instruction ? instruction : "", instruction ? strlen(instruction) : 0);
    if (!n || !i) { free(n); free(i); free_shots(x, n_ex); return gc_errf(err, "out of memory"); }
    char *on = s->persona_name, *oi = s->persona;
    persona_exchange *ox = s->shots;
    size_t onx = s->n_shots;
    s->persona_name = n;
    s->persona = i;
    s->shots = x;
    s->n_shots = n_ex;
    if (fit_persona(s, err) || new_conversation(s, err)) {
        free_shots(s->shots, s->n_shots);
        s->persona_name = on;
        s->persona = oi;
        s->shots = ox;
        s->n_shots = onx;
        free(n);
        free(i);
        return -1;
    }
    free(on);
    free(oi);
    free_shots(ox, onx);
    return 0;
}

int sess_set_persona(sess *s, const char *name, const char *instruction, gc_err *err)
{
    return sess_set_persona_ex(s, name, instruction, NULL, 0, err);
}

/* Renders the exchanges from `first` on, dropping the oldest until the rest
 * leaves room for a reply; *dropped gets how many left. */
static int place_exchanges(sess *s, size_t *dropped, gc_err *err)
{
    int n_ctx = gemma_n_ctx(s->g), reserve = sess_reply_reserve(s);
    size_t from = s->first;
    for (; from < s->n_ex; from++) {
        if (render(s, from, s->n_ex, &s->toks, true, err)) return -1;
        if ((int)s->toks.n + reserve <= n_ctx) break;
    }
    *dropped = from - s->first;
    s->first = from;
    if (render(s, from, s->n_ex, &s->toks, true, err)) return -1;
    s->have_logits = false;
    return 0;
}

int sess_set_instruction(sess *s, const char *instruction, gc_err *err)
{
    if (pending(s)) return gc_errf(err, "the last message has no reply yet");
    char *i = trimmed(instruction, strlen(instruction));
    if (!i) return gc_errf(err, "out of memory");
    char *old = s->persona;
    size_t old_first = s->first, dropped = 0;
    s->persona = i;
    /* A longer instruction may not fit beside the persona's examples: the
     * check drops examples; one that cannot fit at all is refused. */
    if (fit_persona(s, err) || place_exchanges(s, &dropped, err) ||
        tr_set_persona(s->tr, s->persona_name, s->persona, err)) {
        s->persona = old;
        free(i);
        s->first = old_first;
        gc_err ignore;
        if (s->first < s->n_ex) render(s, s->first, s->n_ex, &s->toks, true, &ignore);
        else begin_stream(s, &s->toks, &ignore);
        s->have_logits = false;
        return -1;
    }
    free(old);
    if (dropped) {
        char msg[256];
        snprintf(msg, sizeof msg, "The new instruction takes more room: the %zu oldest exchange%s left the context "
                 "(the transcript keeps every message).", dropped, dropped == 1 ? "" : "s");
        notice(s, msg);
    }
    return 0;
}

const char *sess_instruction(const sess *s) { return s->persona; }

int sess_set_stops(sess *s, char *const *stops, size_t n, gc_err *err)
{
    char **st = n ? calloc(n, sizeof *st) : NULL;
    if (n && !st) return gc_errf(err, "out of memory");
    for (size_t i = 0; i < n; i++) {
        if (!stops[i] || !stops[i][0]) {
            free_stops(st, n);
            return gc_errf(err, "stop string %zu is empty", i + 1);
        }
        if (!(st[i] = strdup(stops[i]))) {
            free_stops(st, n);
            return gc_errf(err, "out of memory");
        }
    }
    free_stops(s->stops, s->n_stops);
    s->stops = st;
    s->n_stops = n;
    return 0;
}

int sess_stop_scan(char *const *stops, size_t n_stops, const char *text, size_t old_n, size_t n, size_t *cut,
                   size_t *safe)
{
    size_t best = n + 1, hold = n;
    for (size_t k = 0; k < n_stops; k++) {
        size_t len = strlen(stops[k]);
        if (!len) continue;
        /* A whole occurrence ending after old_n. */
        size_t p = old_n >= len ? old_n - len + 1 : 0;
        for (; p + len <= n && p < best; p++)
            if (!memcmp(text + p, stops[k], len)) { best = p; break; }
        /* The earliest suffix of text that is a proper prefix of the stop. */
        for (p = n >= len ? n - len + 1 : 0; p < n && p < hold; p++)
            if (!memcmp(text + p, stops[k], n - p)) { hold = p; break; }
    }
    if (best <= n) {
        *cut = best;
        return 1;
    }
    *safe = hold;
    return 0;
}

int sess_clear(sess *s, gc_err *err)
{
    return new_conversation(s, err);
}

int sess_set_sampling(sess *s, const cfg_sampling *sp, gc_err *err)
{
    if (make_sampler(s, sp, err)) return -1;
    tr_set_sampling(s->tr, sp);
    return 0;
}

void sess_set_max_tokens(sess *s, int max_tokens)
{
    s->p.max_tokens = max_tokens;
}

static bool pending(const sess *s)
{
    return s->n_ex && !s->ex[s->n_ex - 1].reply;
}

/* The tokens of a new user turn `text` plus the generation prompt, appended
 * to out; the persona goes in when it is the first turn of the context. */
static int user_turn(sess *s, bool first_turn, const char *text, tok_ids *out, gc_err *err)
{
    if (tmpl_add_turn(&s->t, out, TMPL_USER, turn_persona(s, first_turn), text, err) ||
        tmpl_add_gen_prompt(&s->t, out, err))
        return -1;
    return 0;
}

/* Which exchanges stay in the context when `text` is added: the first index
 * kept (n_ex: none). Fails when the message cannot fit even alone. */
static int fit_turn(sess *s, const char *text, size_t *from, gc_err *err)
{
    int n_ctx = gemma_n_ctx(s->g), reserve = sess_reply_reserve(s);
    tok_ids tmp = {0};
    int rc = -1;
    if (begin_stream(s, &tmp, err) || user_turn(s, true, text, &tmp, err)) goto done;
    if ((int)tmp.n >= n_ctx) {
        gc_errf(err, "message too long: it takes %zu tokens with the chat markers%s, and the context holds "
                "%d (shorten it or raise --ctx)", tmp.n, s->persona[0] || s->n_shots ? " and the persona" : "", n_ctx);
        goto done;
    }
    /* The common case: the turn fits after the current context. */
    tmp.n = 0;
    if (user_turn(s, s->first == s->n_ex, text, &tmp, err)) goto done;
    size_t k = s->first;
    if (s->toks.n > 0 && (int)(s->toks.n + tmp.n) + reserve > n_ctx) {
        /* Drop one more exchange at a time until the rest and the turn fit. */
        for (k++; k < s->n_ex; k++) {
            if (render(s, k, s->n_ex, &tmp, false, err) || user_turn(s, false, text, &tmp, err)) goto done;
            if ((int)tmp.n + reserve <= n_ctx) break;
        }
    }
    *from = k;
    rc = 0;
done:
    tok_ids_free(&tmp);
    return rc;
}

static int push_exchange(sess *s, gc_err *err)
{
    if (GC_GROW(s->ex, s->cap_ex, s->n_ex + 1)) return gc_errf(err, "out of memory");
    memset(&s->ex[s->n_ex], 0, sizeof s->ex[s->n_ex]);
    s->n_ex++;
    return 0;
}

int sess_add_user(sess *s, const char *text, sess_stats *st, gc_err *err)
{
    sess_stats local = {0};
    if (!st) st = &local;
    memset(st, 0, sizeof *st);
    if (pending(s)) return gc_errf(err, "the last message has no reply yet");
    /* The transcript's copy (invalid UTF-8 repaired) is the text the stream
     * carries, so that a saved conversation renders to the same tokens. */
    size_t tr_n = tr_len(s->tr), old_first = s->first, old_toks = s->toks.n, from;
    if (tr_add(s->tr, TR_USER, text, -1, -1, err)) return -1;
    char *copy = dup_str(tr_msg(s->tr, tr_n)->text);
    if (!copy) { gc_errf(err, "out of memory"); goto fail; }
    if (fit_turn(s, copy, &from, err) || push_exchange(s, err)) goto fail;
    sess_ex *e = &s->ex[s->n_ex - 1];
    e->user = copy;
    copy = NULL;
    e->tr_first = e->tr_user = tr_n;
    if (from != s->first || s->toks.n == 0) {
        /* Dropped exchanges, or an empty context: render afresh. */
        if (render(s, from, s->n_ex - 1, &s->toks, true, err)) goto undo;
        s->first = from;
    }
    e->off_user = s->toks.n;
    if (tmpl_add_turn(&s->t, &s->toks, TMPL_USER, turn_persona(s, s->first == s->n_ex - 1), e->user, err))
        goto undo;
    e->off_model = s->toks.n;
    if (tmpl_add_gen_prompt(&s->t, &s->toks, err)) goto undo;
    if (prefill(s, &st->prompt_tokens, &st->prefill_s, err)) goto undo;
    st->prefill_tok_s = st->prefill_s > 0 ? st->prompt_tokens / st->prefill_s : 0;
    st->dropped = (int)(from - old_first);
    if (st->dropped) {
        char msg[256];
        snprintf(msg, sizeof msg,
                 "Context full: the %d oldest exchange%s left the context (the persona stays; the transcript "
                 "keeps every message).", st->dropped, st->dropped == 1 ? "" : "s");
        notice(s, msg);
    }
    s->last = *st;
    return 0;
undo:
    /* Back to the conversation as it was; the cache is reconciled by the next prefill. */
    free(e->user);
    s->n_ex--;
    if (s->first != old_first) {
        s->first = old_first;
        gc_err ignore;
        if (s->first < s->n_ex) render(s, s->first, s->n_ex, &s->toks, true, &ignore);
        else s->toks.n = 0;
    } else {
        s->toks.n = old_toks;
    }
    s->have_logits = false;
fail:
    free(copy);
    tr_truncate(s->tr, tr_n);
    return -1;
}

/* Appends text to a growing buffer. */
static int buf_add(char **buf, size_t *n, size_t *cap, const char *text, size_t len, gc_err *err)
{
    if (gc_grow(buf, cap, *n + len + 1, 1)) return gc_errf(err, "out of memory");
    memcpy(*buf + *n, text, len);
    *n += len;
    (*buf)[*n] = 0;
    return 0;
}

/* The sampling loop. Tokens go into the stream and, once evaluated, the
 * cache; the last sampled token may stay unevaluated (the next prefill
 * picks it up). */
static int decode(sess *s, sess_stats *st, char **text, size_t *text_n, gc_err *err)
{
    tok_stream ts;
    if (tok_stream_init(&ts, s->v, err)) return -1;
    size_t cap = 0;
    int rc = 0, n_ctx = gemma_n_ctx(s->g);
    const cfg_sampling *c = &s->p.sampling;
    /* Greedy without a penalty needs only the backend's argmax, not the logits. */
    bool fast = c->temperature <= 0 && c->repeat_penalty == 1.0f;
    smp_reset(s->smp);
    for (size_t i = 0; i < s->toks.n; i++) smp_accept(s->smp, s->toks.ids[i]);
    st->end = SESS_END_STOP;
    double t0 = gc_now_s(), cb_s = 0;
    size_t shown = 0;           /* bytes of *text passed to on_token */
    bool stopped = false;       /* a stop string occurred: *text is cut there */
    for (;;) {
        if (s->io.cancel && *s->io.cancel) { st->end = SESS_END_CANCEL; break; }
        if (s->p.max_tokens > 0 && st->gen_tokens >= s->p.max_tokens) { st->end = SESS_END_LIMIT; break; }
        if ((int)s->toks.n >= n_ctx) { st->end = SESS_END_CONTEXT; break; }
        int32_t id = fast ? gemma_argmax(s->g) : smp_sample(s->smp, gemma_logits(s->g));
        if (tmpl_is_stop(&s->t, id)) break;
        smp_accept(s->smp, id);
        if (tok_ids_push(&s->toks, id, err)) { rc = -1; break; }
        s->have_logits = false;
        st->gen_tokens++;
        size_t len, old_n = *text_n;
        const char *piece = tok_stream_push(&ts, id, &len);
        if (len && buf_add(text, text_n, &cap, piece, len, err)) { rc = -1; break; }
        size_t upto = s->n_stops ? shown : *text_n;   /* nothing new to show without a piece */
        if (s->n_stops && len) {
            size_t cut = 0, safe = *text_n;
            if (sess_stop_scan(s->stops, s->n_stops, *text, old_n, *text_n, &cut, &safe)) {
                stopped = true;
                upto = cut < shown ? shown : cut;
            } else {
                upto = safe < shown ? shown : safe;
            }
        }
        if (s->io.on_token) {
            double t1 = gc_now_s();
            int stop = s->io.on_token(s->io.user, *text ? *text + shown : "", upto - shown);
            cb_s += gc_now_s() - t1;
            shown = upto;
            if (stop && !stopped) { st->end = SESS_END_CANCEL; break; }
        }
        shown = upto;
        if (stopped) {
            *text_n = upto;
            (*text)[upto] = 0;
            break;
        }
        if (s->io.cancel && *s->io.cancel) { st->end = SESS_END_CANCEL; break; }
        if (s->p.max_tokens > 0 && st->gen_tokens >= s->p.max_tokens) { st->end = SESS_END_LIMIT; break; }
        if ((int)s->toks.n >= n_ctx) { st->end = SESS_END_CONTEXT; break; }
        if (gemma_eval(s->g, &id, 1, fast ? GEMMA_WANT_ARGMAX : GEMMA_WANT_LOGITS, err)) {
            /* The cache may be anywhere now: forget it. */
            s->kv.n = 0;
            rc = -1;
            break;
        }
        if (tok_ids_push(&s->kv, id, err)) { rc = -1; break; }
    }
    size_t len;
    const char *rest = stopped ? "" : tok_stream_flush(&ts, &len);
    if (stopped) len = 0;
    if (rc == 0 && len && buf_add(text, text_n, &cap, rest, len, err)) rc = -1;
    /* Text held back for a stop string that did not come, and the rest. */
    if (rc == 0 && *text_n > shown && s->io.on_token) s->io.on_token(s->io.user, *text + shown, *text_n - shown);
    tok_stream_free(&ts);
    st->decode_s = gc_now_s() - t0 - cb_s;
    st->decode_tok_s = st->gen_tokens && st->decode_s > 0 ? st->gen_tokens / st->decode_s : 0;
    if (rc == 0 && !*text) *text = dup_str("");
    if (rc == 0 && !*text) rc = gc_errf(err, "out of memory");
    return rc;
}

/* After a reply: the stream renders the reply's text again, which can take
 * more tokens than were generated (invalid UTF-8 becomes U+FFFD, and the stop
 * string and <end_of_turn> follow), so it may pass the context. Then the
 * oldest exchanges leave it now, as the next message would make them, so
 * that the stream, and the context meter that shows it, stays within the
 * context. The last exchange itself leaves when it alone does not fit. */
static void fit_stream(sess *s, sess_stats *st)
{
    int n_ctx = gemma_n_ctx(s->g);
    size_t old_first = s->first;
    gc_err ignore;
    while ((int)s->toks.n > n_ctx && s->first < s->n_ex) {
        s->first++;
        if (render(s, s->first, s->n_ex, &s->toks, true, &ignore)) break;
    }
    if (s->first == old_first) return;
    s->have_logits = false;
    st->dropped = (int)(s->first - old_first);
    char msg[256];
    snprintf(msg, sizeof msg,
             "Context full: the %d oldest exchange%s left the context (the persona stays; the transcript "
             "keeps every message).", st->dropped, st->dropped == 1 ? "" : "s");
    notice(s, msg);
}

int sess_generate(sess *s, sess_stats *st, gc_err *err)
{
    sess_stats local = s->last;
    if (!st) st = &local;
    if (!pending(s)) return gc_errf(err, "there is no message to reply to");
    if (!s->have_logits) {
        if (prefill(s, &st->prompt_tokens, &st->prefill_s, err)) return -1;
        st->prefill_tok_s = st->prefill_s > 0 ? st->prompt_tokens / st->prefill_s : 0;
    }
    st->gen_tokens = 0;
    sess_ex *e = &s->ex[s->n_ex - 1];
    size_t gen_start = s->toks.n;
    char *raw = NULL;
    size_t raw_n = 0;
    if (decode(s, st, &raw, &raw_n, err)) {
        free(raw);
        s->toks.n = gen_start;
        s->have_logits = false;
        return -1;
    }
    /* Keep the reply as the template renders its text, so that the stream
     * equals a fresh rendering of the conversation (see session.h); the
     * transcript repairs invalid UTF-8, so its copy is what the stream carries. */
    char *text = trimmed(raw, raw_n);
    free(raw);
    size_t tr_n = tr_len(s->tr);
    int rc = !text ? gc_errf(err, "out of memory") : tr_add(s->tr, TR_MODEL, text, st->gen_tokens, st->decode_tok_s, err);
    free(text);
    if (rc) {
        s->toks.n = gen_start;
        s->have_logits = false;
        return -1;
    }
    s->toks.n = e->off_model;
    s->have_logits = false;
    if (!(e->reply = dup_str(tr_msg(s->tr, tr_n)->text)) ||
        reply_turn(s, &s->toks, e->reply, err)) {
        if (!e->reply) gc_errf(err, "out of memory");
        free(e->reply);
        e->reply = NULL;
        tr_truncate(s->tr, tr_n);
        s->toks.n = e->off_model;
        tmpl_add_gen_prompt(&s->t, &s->toks, NULL);
        return -1;
    }
    fit_stream(s, st);
    s->last = *st;
    return 0;
}

int sess_send(sess *s, const char *text, sess_stats *st, gc_err *err)
{
    sess_stats local;
    if (!st) st = &local;
    if (sess_add_user(s, text, st, err)) return -1;
    if (sess_generate(s, st, err)) {
        /* Leave no half exchange behind: the message was not answered. */
        gc_err ignore;
        sess_undo(s, &ignore);
        return -1;
    }
    return 0;
}

/* Puts reply `old` back as the last exchange's reply (after a failed regen). */
static void restore_reply(sess *s, sess_ex *e, char *old, bool transcript)
{
    gc_err ignore;
    e->reply = old;
    s->toks.n = e->off_model;
    reply_turn(s, &s->toks, old, &ignore);
    if (transcript) tr_add(s->tr, TR_MODEL, old, -1, -1, &ignore);
    s->have_logits = false;
}

int sess_regen(sess *s, sess_stats *st, gc_err *err)
{
    sess_stats local;
    if (!st) st = &local;
    memset(st, 0, sizeof *st);
    if (!s->n_ex) return gc_errf(err, "there is no reply to regenerate");
    sess_ex *e = &s->ex[s->n_ex - 1];
    if (!e->reply) return gc_errf(err, "the last message has no reply to regenerate");
    char *old = e->reply;
    e->reply = NULL;
    if (s->n_ex - 1 < s->first) {
        /* The exchange left the context (its reply alone did not fit): its
         * user turn comes back for the new reply. */
        s->first = s->n_ex - 1;
        if (render(s, s->first, s->n_ex, &s->toks, true, err)) {
            restore_reply(s, e, old, false);
            return -1;
        }
    }
    s->toks.n = e->off_model;
    s->have_logits = false;
    if (tmpl_add_gen_prompt(&s->t, &s->toks, err)) {
        restore_reply(s, e, old, false);
        return -1;
    }
    /* The old reply and whatever followed it leave the transcript (a failure
     * puts its text back). */
    tr_truncate(s->tr, e->tr_user + 1);
    if (sess_generate(s, st, err)) {
        restore_reply(s, e, old, true);
        return -1;
    }
    free(old);
    return 0;
}

int sess_undo(sess *s, gc_err *err)
{
    if (!s->n_ex) return gc_errf(err, "there is nothing to undo");
    sess_ex *e = &s->ex[s->n_ex - 1];
    size_t idx = s->n_ex - 1;
    if (idx >= s->first) s->toks.n = e->off_user;   /* keeps <bos> when it was the first turn */
    tr_truncate(s->tr, e->tr_first);
    free(e->user);
    free(e->reply);
    s->n_ex--;
    if (s->first > s->n_ex) s->first = s->n_ex;
    s->have_logits = false;
    return 0;
}

/* ------------------------------------------------------------ branches */

static int build_exchanges(const tr_transcript *tr, sess_ex **out, size_t *out_n, size_t *out_cap, gc_err *err);

/* The exchanges again from the transcript's current branch, the newest
 * that fit put in the stream; nothing is evaluated: the next prefill keeps
 * what the cache shares with the new stream (the part before the fork). */
static int rebuild_from_branch(sess *s, gc_err *err)
{
    sess_ex *ex;
    size_t n, cap, dropped;
    if (build_exchanges(s->tr, &ex, &n, &cap, err)) return -1;
    free_exchanges(s->ex, s->n_ex);
    s->ex = ex;
    s->n_ex = n;
    s->cap_ex = cap;
    s->first = 0;
    return place_exchanges(s, &dropped, err);
}

/* The current branch's last message (index in msgs), or -1 when empty. */
static long long branch_tip(const tr_transcript *t)
{
    return tr_len(t) ? (long long)t->path[tr_len(t) - 1] : -1;
}

/* Back to the branch that ended at tip (after a failed edit or switch). */
static void restore_branch(sess *s, long long tip)
{
    gc_err ignore;
    if (tip >= 0) tr_set_branch(s->tr, (size_t)tip, &ignore);
    else tr_fork(s->tr, 0, &ignore);
    rebuild_from_branch(s, &ignore);
}

int sess_edit(sess *s, size_t n, const char *text, sess_stats *st, gc_err *err)
{
    if (pending(s)) return gc_errf(err, "the last message has no reply yet");
    if (!s->n_ex) return gc_errf(err, "there is no message to edit yet");
    if (n == 0) n = s->n_ex;
    if (n > s->n_ex)
        return gc_errf(err, "there is no message %zu to edit (you have sent %zu)", n, s->n_ex);
    long long tip = branch_tip(s->tr);
    if (tr_fork(s->tr, s->ex[n - 1].tr_first, err) || rebuild_from_branch(s, err) ||
        sess_add_user(s, text, st, err)) {
        restore_branch(s, tip);
        return -1;
    }
    return 0;
}

int sess_branches(sess *s, sess_branch **out, size_t *n_out, gc_err *err)
{
    const tr_transcript *t = s->tr;
    size_t n = tr_n_branches(t);
    *out = NULL;
    *n_out = 0;
    sess_branch *b = calloc(n ? n : 1, sizeof *b);
    size_t *leaves = calloc(t->n_msgs ? t->n_msgs : 1, sizeof *leaves), *path = calloc(t->n_msgs ? t->n_msgs : 1,
                                                                                       sizeof *path);
    if (!b || !leaves || !path) {
        free(b);
        free(leaves);
        free(path);
        return gc_errf(err, "out of memory");
    }
    /* Branches through each message (children come after their parents). */
    for (size_t i = t->n_msgs; i-- > 0;) {
        if (!leaves[i]) leaves[i] = 1;
        if (t->msgs[i].parent >= 0) leaves[t->msgs[i].parent] += leaves[i];
    }
    long long tip = branch_tip(t);
    for (size_t k = 0; k < n; k++) {
        size_t leaf = tr_branch_leaf(t, k), depth = 0;
        for (long long i = (long long)leaf; i >= 0; i = t->msgs[i].parent) path[depth++] = (size_t)i;
        /* Where it forks: its first message no other branch goes through. */
        size_t users = 0, at = 0;
        for (size_t j = depth; j-- > 0;) {
            users += t->msgs[path[j]].role == TR_USER;
            if (leaves[path[j]] == 1) { at = path[j]; break; }
        }
        b[k].leaf = leaf;
        b[k].n_msgs = depth;
        b[k].user_msg = users ? users : 1;
        b[k].current = (long long)leaf == tip;
        tr_first_words(t->msgs[at].text, b[k].words, sizeof b[k].words);
    }
    free(leaves);
    free(path);
    *out = b;
    *n_out = n;
    return 0;
}

/* Makes the branch ending at msgs[leaf] current. */
static int switch_to(sess *s, size_t leaf, gc_err *err)
{
    if (pending(s)) return gc_errf(err, "the last message has no reply yet");
    long long tip = branch_tip(s->tr);
    if (tr_set_branch(s->tr, leaf, err) || rebuild_from_branch(s, err)) {
        restore_branch(s, tip);
        return -1;
    }
    memset(&s->last, 0, sizeof s->last);
    return 0;
}

int sess_set_branch(sess *s, size_t k, gc_err *err)
{
    size_t n = tr_n_branches(s->tr);
    if (k < 1 || k > n) return gc_errf(err, "there is no branch %zu (the conversation has %zu)", k, n);
    return switch_to(s, tr_branch_leaf(s->tr, k - 1), err);
}

/* The current branch's last fork: the deepest message with siblings. */
static bool last_fork(const tr_transcript *t, size_t *pos)
{
    size_t k;
    for (size_t i = tr_len(t); i-- > 0;)
        if (tr_siblings(t, i, &k) > 1) { *pos = i; return true; }
    return false;
}

int sess_switch_sibling(sess *s, int d, gc_err *err)
{
    size_t pos;
    if (!last_fork(s->tr, &pos)) return gc_errf(err, "this conversation has one branch");
    size_t next = tr_sibling(s->tr, pos, d);
    if (next == s->tr->path[pos]) return 0;
    return switch_to(s, tr_newest_leaf(s->tr, next), err);
}

int sess_load(sess *s, tr_transcript *tr, gc_err *err)
{
    return sess_load_ex(s, tr, NULL, 0, s->stops, s->n_stops, err);
}

/* The exchanges of tr's current branch: a user message and the model
 * message after it (a last unanswered message gets an empty reply). */
static int build_exchanges(const tr_transcript *tr, sess_ex **out, size_t *out_n, size_t *out_cap, gc_err *err)
{
    sess_ex *ex = NULL;
    size_t n_ex = 0, cap = 0;
    for (size_t i = 0; i < tr_len(tr); i++) {
        const tr_message *m = tr_msg(tr, i);
        if (m->role == TR_NOTICE) continue;
        if (m->role == TR_MODEL) {
            if (!n_ex || ex[n_ex - 1].reply) {
                free_exchanges(ex, n_ex);
                return gc_errf(err, "transcript message %zu: a model reply that does not follow a user message",
                               i + 1);
            }
            if (!(ex[n_ex - 1].reply = trimmed(m->text, strlen(m->text)))) goto oom;
            continue;
        }
        if (n_ex && !ex[n_ex - 1].reply && !(ex[n_ex - 1].reply = dup_str(""))) goto oom;
        if (GC_GROW(ex, cap, n_ex + 1)) goto oom;
        memset(&ex[n_ex], 0, sizeof *ex);
        ex[n_ex].tr_first = ex[n_ex].tr_user = i;
        n_ex++;
        if (!(ex[n_ex - 1].user = dup_str(m->text))) goto oom;
    }
    if (n_ex && !ex[n_ex - 1].reply && !(ex[n_ex - 1].reply = dup_str(""))) goto oom;
    *out = ex;
    *out_n = n_ex;
    *out_cap = cap;
    return 0;
oom:
    free_exchanges(ex, n_ex);
    return gc_errf(err, "out of memory");
}

int sess_load_ex(sess *s, tr_transcript *tr, const persona_exchange *shots, size_t n_shots, char *const *stops,
                 size_t n_stops, gc_err *err)
{
    /* Build the new conversation aside, then swap it in. */
    persona_exchange *nx;
    if (copy_shots(shots, n_shots, &nx, err)) return -1;
    /* The stop strings: set now (they shape the rendering), put back on failure. */
    char **o_stops = s->stops;
    size_t o_nstops = s->n_stops;
    s->stops = NULL;
    s->n_stops = 0;
    if (sess_set_stops(s, stops, n_stops, err)) {
        s->stops = o_stops;
        s->n_stops = o_nstops;
        free_shots(nx, n_shots);
        return -1;
    }
    sess_ex *ex = NULL;
    size_t n_ex = 0, cap = 0;
    if (build_exchanges(tr, &ex, &n_ex, &cap, err)) {
        free_shots(nx, n_shots);
        free_stops(s->stops, s->n_stops);
        s->stops = o_stops;
        s->n_stops = o_nstops;
        return -1;
    }
    char *pn = dup_str(tr->persona_name);
    char *pi = trimmed(tr->persona_instruction, strlen(tr->persona_instruction));
    if (!pn || !pi) { free(pn); free(pi); goto oom; }

    /* Swap, keeping the old state to restore on failure. */
    sess_ex *o_ex = s->ex;
    size_t o_n = s->n_ex, o_cap = s->cap_ex, o_first = s->first;
    char *o_pn = s->persona_name, *o_pi = s->persona;
    tr_transcript *o_tr = s->tr;
    persona_exchange *o_x = s->shots;
    size_t o_nx = s->n_shots;
    s->shots = nx;
    s->n_shots = n_shots;
    s->ex = ex;
    s->n_ex = n_ex;
    s->cap_ex = cap;
    s->persona_name = pn;
    s->persona = pi;
    s->tr = tr;
    if (fit_persona(s, err)) goto restore;

    /* The newest exchanges that fit with room for a reply. No prefill here:
     * a long conversation takes seconds to evaluate, and the front end shows
     * it first (sess_catch_up, or the next turn). */
    int n_ctx = gemma_n_ctx(s->g);
    size_t from = 0;
    s->first = 0;
    if (place_exchanges(s, &from, err)) goto restore;
    memset(&s->last, 0, sizeof s->last);
    if (from) {
        char msg[256];
        snprintf(msg, sizeof msg, "The %zu oldest exchange%s of this transcript did not fit the context of %d "
                 "tokens and left it (they stay in the transcript).", from, from == 1 ? "" : "s", n_ctx);
        notice(s, msg);
    }
    free_exchanges(o_ex, o_n);
    free(o_pn);
    free(o_pi);
    free_shots(o_x, o_nx);
    free_stops(o_stops, o_nstops);
    tr_free(o_tr);
    return 0;
restore:
    free_exchanges(s->ex, s->n_ex);
    free(s->persona_name);
    free(s->persona);
    s->ex = o_ex;
    s->n_ex = o_n;
    s->cap_ex = o_cap;
    s->first = o_first;
    s->persona_name = o_pn;
    s->persona = o_pi;
    s->tr = o_tr;
    free_shots(s->shots, s->n_shots);
    s->shots = o_x;
    s->n_shots = o_nx;
    free_stops(s->stops, s->n_stops);
    s->stops = o_stops;
    s->n_stops = o_nstops;
    {
        gc_err ignore;
        if (s->first < s->n_ex) render(s, s->first, s->n_ex, &s->toks, true, &ignore);
        else s->toks.n = 0;
    }
    s->have_logits = false;
    return -1;
oom:
    free_exchanges(ex, n_ex);
    free_shots(nx, n_shots);
    free_stops(s->stops, s->n_stops);
    s->stops = o_stops;
    s->n_stops = o_nstops;
    return gc_errf(err, "out of memory");
}

/* ------------------------------------------------------------ state */

tr_transcript *sess_transcript(sess *s) { return s->tr; }
const char *sess_persona_name(const sess *s) { return s->persona_name; }
size_t sess_n_persona_exchanges(const sess *s) { return s->n_shots; }
int sess_n_ctx(const sess *s) { return gemma_n_ctx(s->g); }
int sess_window(const sess *s) { return gemma_sliding_window(s->m); }
int sess_n_used(const sess *s) { return (int)s->toks.n; }
int sess_n_cached(const sess *s) { return (int)s->kv.n; }
int sess_n_exchanges(const sess *s) { return (int)s->n_ex; }
long long sess_n_prefilled(const sess *s) { return s->prefilled; }
int sess_n_in_context(const sess *s) { return (int)(s->n_ex - s->first); }
const sess_stats *sess_last_stats(const sess *s) { return &s->last; }
const cfg_sampling *sess_sampling(const sess *s) { return &s->p.sampling; }
int sess_max_tokens(const sess *s) { return s->p.max_tokens; }
gemma_session *sess_engine(sess *s) { return s->g; }

const int32_t *sess_tokens(const sess *s, size_t *n)
{
    *n = s->toks.n;
    return s->toks.ids;
}

const int32_t *sess_cached_tokens(const sess *s, size_t *n)
{
    *n = s->kv.n;
    return s->kv.ids;
}

int sess_restore_cache(sess *s, const int32_t *toks, size_t n, const void *state, size_t len, gc_err *err)
{
    tok_ids ids = { 0 };
    if (ids_append(&ids, toks, n, err)) return -1;
    if (gemma_state_load(s->g, state, len, err)) {
        tok_ids_free(&ids);
        return -1;
    }
    tok_ids_free(&s->kv);
    s->kv = ids;
    s->have_logits = false;
    int held = gemma_n_past(s->g);
    if ((size_t)held != n) {
        /* A state of another length than its tokens: trust neither. */
        s->kv.n = 0;
        gemma_rewind(s->g, 0, err);
        return gc_errf(err, "a KV state of %d positions for %zu tokens", held, n);
    }
    return 0;
}

const float *sess_logits(const sess *s)
{
    return s->have_logits ? gemma_logits(s->g) : NULL;
}

const char *sess_end_name(sess_end e)
{
    switch (e) {
    case SESS_END_STOP: return "end of turn";
    case SESS_END_LIMIT: return "max_tokens reached";
    case SESS_END_CONTEXT: return "context full";
    case SESS_END_CANCEL: return "stopped";
    }
    return "?";
}
