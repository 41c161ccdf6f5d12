/* gemma.c: Gemma 2 / Gemma 3 weights and the forward pass, written once over
 * model/backend.h (formulas: ../shared/GEMMA.md sections 3 and 4). */
#include "model/gemma.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "model/hparams.h"

/* One layer's weights, indexed by hp_layer_tensor (q/k norms: gemma3 only). */
typedef struct gemma_layer {
    be_tensor *t[HP_N_LAYER_TENSORS];
} gemma_layer;

struct gemma_model {
    backend *be;
    const gguf_file *g;       /* the weights' file (the backend's kv_value_bytes reads it) */
    hp_model hp;
    be_tensor *tok_embd;      /* [n_vocab][n_embd] */
    be_tensor *output;        /* [n_vocab][n_embd]: tok_embd unless output.weight exists */
    be_tensor *output_norm;   /* [n_embd] */
    gemma_layer *layers;      /* [n_layer] */
    bool has_session;         /* the backend holds one KV cache */
};

struct gemma_session {
    gemma_model *m;
    int n_ctx, n_batch, n_past;
    int ring;                 /* slots of a sliding layer's ring (n_ctx: no ring) */
    int ring_lo;              /* the sliding layers hold every position in ring_lo .. n_past - 1 */
    /* Activations for one step of up to n_batch rows. */
    be_tensor *x;             /* [n_batch][n_embd] residual stream */
    be_tensor *h;             /* [n_batch][n_embd] normed input of a block */
    be_tensor *q, *att;       /* [n_batch][n_head][head_dim] */
    be_tensor *k, *v;         /* [n_batch][n_kv_head][head_dim] */
    be_tensor *o;             /* [n_batch][n_embd] block output before its post-norm */
    be_tensor *f;             /* [n_batch][n_ff] */
    int n_out_rows;           /* rows the output head handles per step */
    be_tensor *xl;            /* [n_out_rows][n_embd] rows picked for the output head */
    be_tensor *logits;        /* [n_out_rows][n_vocab] */
    float *host_logits;       /* [n_vocab] */
    int32_t argmax;
    bool have_logits;
};

/* ------------------------------------------------------------ weights */

typedef struct loader {
    const gguf_file *g;
    backend *be;
    be_progress_fn progress;
    void *user;
    uint64_t done, total;
} loader;

static int upload(loader *ld, const gguf_tensor *t, be_tensor **out, gc_err *err)
{
    if (ld->be->weight(ld->be, t, out, err)) return gc_err_prefix(err, "%s", ld->g->path);
    ld->done += t->n_bytes;
    if (ld->progress) ld->progress(ld->user, ld->done, ld->total);
    return 0;
}

int gemma_model_load(gemma_model **out, const gguf_file *g, backend *be,
                     be_progress_fn progress, void *user, gc_err *err)
{
    *out = NULL;
    gemma_model *m = calloc(1, sizeof *m);
    if (!m) return gc_errf(err, "out of memory");
    m->be = be;
    m->g = g;
    /* hp_check_tensors has checked presence, shapes and types of everything below. */
    if (hp_load(&m->hp, g, err) || hp_check_tensors(&m->hp, g, err)) goto fail;
    const hp_model *hp = &m->hp;
    m->layers = calloc(hp->n_layer, sizeof *m->layers);
    if (!m->layers) { gc_errf(err, "out of memory"); goto fail; }

    loader ld = { .g = g, .be = be, .progress = progress, .user = user };
    for (uint64_t i = 0; i < g->n_tensors; i++) ld.total += g->tensors[i].n_bytes;
    const gguf_tensor *embd = gguf_find_tensor(g, "token_embd.weight"), *out_t = hp_output_tensor(hp, g);
    if (upload(&ld, embd, &m->tok_embd, err) ||
        upload(&ld, gguf_find_tensor(g, "output_norm.weight"), &m->output_norm, err)) goto fail;
    m->output = m->tok_embd;
    if (out_t != embd && upload(&ld, out_t, &m->output, err)) goto fail;
    for (uint32_t il = 0; il < hp->n_layer; il++)
        for (int w = 0; w < HP_N_LAYER_TENSORS; w++) {
            const gguf_tensor *t = hp_find_layer_tensor(g, il, (hp_layer_tensor)w);
            if (!t) continue;   /* optional and absent (checked above) */
            if (upload(&ld, t, &m->layers[il].t[w], err)) goto fail;
        }
    *out = m;
    return 0;
fail:
    gemma_model_free(m);
    return -1;
}

void gemma_model_free(gemma_model *m)
{
    /* Tensors belong to the backend, which frees them in its destroy. */
    if (!m) return;
    free(m->layers);
    free(m);
}

int gemma_n_vocab(const gemma_model *m) { return (int)m->hp.n_vocab; }
int gemma_n_ctx_train(const gemma_model *m) { return (int)m->hp.n_ctx_train; }
const char *gemma_arch(const gemma_model *m) { return m->hp.arch_name; }

int gemma_sliding_window(const gemma_model *m)
{
    for (uint32_t il = 0; il < m->hp.n_layer; il++)
        if (m->hp.is_sliding[il]) return (int)m->hp.window;
    return 0;
}

/* ------------------------------------------------------------ session */

/* The options with their defaults filled in and checked. */
static int session_opts(const hp_model *hp, const gemma_session_opts *in, gemma_session_opts *o, gc_err *err)
{
    int ctx_train = (int)hp->n_ctx_train;
    *o = *in;
    if (o->n_ctx == 0) o->n_ctx = ctx_train < 4096 ? ctx_train : 4096;
    if (o->n_ctx < 1 || o->n_ctx > ctx_train)
        return gc_errf(err, "context size %d: must be 1..%d (the model's context_length)", o->n_ctx, ctx_train);
    if (o->n_batch == 0) o->n_batch = 64;
    if (o->n_batch < 1 || o->n_batch > 4096) return gc_errf(err, "batch size %d: must be 1..4096", o->n_batch);
    if (o->rewind_keep == 0) o->rewind_keep = GEMMA_REWIND_KEEP;
    if (o->rewind_keep < 0) return gc_errf(err, "rewind keep %d: must be >= 0", o->rewind_keep);
    return 0;
}

/* R (gemma.h), for checked options. */
static int ring_slots(const hp_model *hp, const gemma_session_opts *o)
{
    int64_t r = (int64_t)hp->window + o->n_batch - 1 + o->rewind_keep;
    return o->full_kv || r >= o->n_ctx ? o->n_ctx : (int)r;
}

/* Rows the output head takes per step: all-position logits go through it in
 * groups small enough that [rows][n_vocab] stays near 64 MiB even for a 262k
 * vocabulary. */
static int out_rows(const hp_model *hp, int n_batch)
{
    uint64_t rows = (64u << 20) / 4 / hp->n_vocab;
    return rows < 1 ? 1 : rows > (uint64_t)n_batch ? n_batch : (int)rows;
}

/* The activations of a session, in floats (gemma_session_open makes them). */
static uint64_t activation_floats(const hp_model *hp, int n_batch)
{
    uint64_t B = (uint64_t)n_batch, E = hp->n_embd, R = (uint64_t)out_rows(hp, n_batch);
    uint64_t Q = (uint64_t)hp->n_head * hp->head_dim, KV = (uint64_t)hp->n_head_kv * hp->head_dim;
    return B * (3 * E + 2 * Q + 2 * KV + hp->n_ff) + R * (E + hp->n_vocab);
}

int gemma_mem_estimate(const gguf_file *g, const gemma_session_opts *in, gemma_mem *out, gc_err *err)
{
    memset(out, 0, sizeof *out);
    hp_model hp;
    gemma_session_opts o;
    if (hp_load(&hp, g, err) || session_opts(&hp, in, &o, err)) return -1;
    int ring = ring_slots(&hp, &o);
    for (uint32_t il = 0; il < hp.n_layer; il++) out->kv_slots += (uint64_t)(hp.is_sliding[il] ? ring : o.n_ctx);
    out->kv_values_per_slot = 2ull * hp.n_head_kv * hp.head_dim;
    out->scratch_bytes = (activation_floats(&hp, o.n_batch) + hp.n_vocab) * sizeof(float);
    out->n_ctx = o.n_ctx;
    out->n_ctx_train = (int)hp.n_ctx_train;
    out->ring = ring;
    return 0;
}

int gemma_session_create(gemma_session **out, gemma_model *m, int n_ctx, int n_batch, gc_err *err)
{
    gemma_session_opts o = { .n_ctx = n_ctx, .n_batch = n_batch };
    return gemma_session_open(out, m, &o, err);
}

int gemma_session_open(gemma_session **out, gemma_model *m, const gemma_session_opts *in, gc_err *err)
{
    *out = NULL;
    const hp_model *hp = &m->hp;
    if (m->has_session) return gc_errf(err, "the model already has a session (one KV cache per backend)");
    gemma_session_opts o;
    if (session_opts(hp, in, &o, err)) return -1;
    int n_ctx = o.n_ctx, n_batch = o.n_batch, ring = ring_slots(hp, &o);
    int *slots = malloc(hp->n_layer * sizeof *slots);
    if (!slots) return gc_errf(err, "out of memory");
    for (uint32_t il = 0; il < hp->n_layer; il++) slots[il] = hp->is_sliding[il] ? ring : n_ctx;
    gemma_session *s = calloc(1, sizeof *s);
    if (!s) { free(slots); return gc_errf(err, "out of memory"); }
    s->m = m;
    s->n_ctx = n_ctx;
    s->n_batch = n_batch;
    s->ring = ring;
    s->n_out_rows = out_rows(hp, n_batch);
    backend *be = m->be;
    /* activation_floats counts what these take */
    uint64_t B = (uint64_t)n_batch, E = hp->n_embd;
    uint64_t Q = (uint64_t)hp->n_head * hp->head_dim, KV = (uint64_t)hp->n_head_kv * hp->head_dim;
    if (be->activation(be, B * E, "x", &s->x, err) ||
        be->activation(be, B * E, "h", &s->h, err) ||
        be->activation(be, B * Q, "q", &s->q, err) ||
        be->activation(be, B * Q, "att", &s->att, err) ||
        be->activation(be, B * KV, "k", &s->k, err) ||
        be->activation(be, B * KV, "v", &s->v, err) ||
        be->activation(be, B * E, "o", &s->o, err) ||
        be->activation(be, B * hp->n_ff, "f", &s->f, err) ||
        be->activation(be, (uint64_t)s->n_out_rows * E, "xl", &s->xl, err) ||
        be->activation(be, (uint64_t)s->n_out_rows * hp->n_vocab, "logits", &s->logits, err) ||
        be->kv_cache(be, (int)hp->n_layer, n_ctx, slots, (int)hp->n_head_kv, (int)hp->head_dim, err)) {
        free(slots);
        free(s);
        return -1;
    }
    free(slots);
    s->host_logits = malloc((size_t)hp->n_vocab * sizeof *s->host_logits);
    if (!s->host_logits) { free(s); return gc_errf(err, "out of memory for %u logits", hp->n_vocab); }
    m->has_session = true;
    *out = s;
    return 0;
}

void gemma_session_free(gemma_session *s)
{
    /* Activations belong to the backend and stay until it is destroyed. */
    if (!s) return;
    s->m->has_session = false;
    free(s->host_logits);
    free(s);
}

int gemma_n_ctx(const gemma_session *s) { return s->n_ctx; }
int gemma_n_past(const gemma_session *s) { return s->n_past; }
int gemma_ring_slots(const gemma_session *s) { return s->ring; }
const float *gemma_logits(const gemma_session *s) { return s->have_logits ? s->host_logits : NULL; }
int32_t gemma_argmax(const gemma_session *s) { return s->argmax; }

/* The first position a token at pos sees on a sliding layer. */
static int window_start(const gemma_session *s, int pos)
{
    int64_t w = (int64_t)pos - s->m->hp.window + 1;
    return w > 0 ? (int)w : 0;
}

int gemma_rewind(gemma_session *s, int n_past, gc_err *err)
{
    if (n_past < 0 || n_past > s->n_past)
        return gc_errf(err, "rewind to %d: must be 0..%d (tokens in the cache)", n_past, s->n_past);
    /* The next step's first row needs the window before n_past in the rings. */
    if (s->ring_lo > window_start(s, n_past)) n_past = 0;
    if (n_past == 0) s->ring_lo = 0;
    s->n_past = n_past;
    s->have_logits = false;
    return 0;
}

/* ------------------------------------------------------------ forward pass */

/* One transformer block over n rows at positions pos0.. (GEMMA.md 3.2-3.3). */
static void block(gemma_session *s, int il, int n, int pos0)
{
    const hp_model *hp = &s->m->hp;
    be_tensor *const *w = s->m->layers[il].t;
    backend *be = s->m->be;
    int E = (int)hp->n_embd, F = (int)hp->n_ff, D = (int)hp->head_dim, H = (int)hp->n_head, HKV = (int)hp->n_head_kv;
    float eps = hp->eps, base = hp_rope_base_of(hp, il), pscale = hp_rope_scale_of(hp, il);

    /* s->h holds this block's normed input: the previous block's last op
     * (or layers(), for block 0) wrote it. */
    be->matmul(be, s->q, w[HP_ATTN_Q], s->h, n, E, H * D);
    be->matmul(be, s->k, w[HP_ATTN_K], s->h, n, E, HKV * D);
    be->matmul(be, s->v, w[HP_ATTN_V], s->h, n, E, HKV * D);
    /* gemma3 norms each q and k head on its own before RoPE; then k, v to the cache */
    be->qk_rope_store(be, il, s->q, s->k, s->v, hp->has_qk_norm ? w[HP_ATTN_Q_NORM] : NULL,
                      hp->has_qk_norm ? w[HP_ATTN_K_NORM] : NULL, n, H, pos0, base, pscale, eps);
    be_attn_params ap = { .n_head = H, .n_kv_head = HKV, .head_dim = D, .scale = hp->query_scale,
                          .softcap = hp->attn_softcap, .window = hp->is_sliding[il] ? (int)hp->window : 0 };
    be->attention(be, s->att, s->q, il, n, pos0, &ap);
    be->matmul(be, s->o, w[HP_ATTN_OUTPUT], s->att, n, H * D, E);
    be->add_rmsnorm_norm(be, s->x, s->o, w[HP_POST_ATTN_NORM], s->h, w[HP_FFN_NORM], n, E, eps);

    be->matmul_geglu(be, s->f, w[HP_FFN_GATE], w[HP_FFN_UP], s->h, n, E, F);
    be->matmul(be, s->o, w[HP_FFN_DOWN], s->f, n, F, E);
    /* the residual, then the next block's input norm (the output norm after the last block) */
    const be_tensor *next = il + 1 < (int)hp->n_layer ? s->m->layers[il + 1].t[HP_ATTN_NORM] : s->m->output_norm;
    be->add_rmsnorm_norm(be, s->x, s->o, w[HP_POST_FFW_NORM], s->h, next, n, E, eps);
}

static void layers(gemma_session *s, const int32_t *tokens, int n, int pos0)
{
    const hp_model *hp = &s->m->hp;
    backend *be = s->m->be;
    /* sqrtf(n_embd) in f32, as llama.cpp does (HF rounds it to bf16). */
    be->embed(be, s->x, s->m->tok_embd, tokens, n, (int)hp->n_embd, hp->embd_scale);
    be->rmsnorm(be, s->h, s->x, s->m->layers[0].t[HP_ATTN_NORM], n, (int)hp->n_embd, hp->eps);
    for (int il = 0; il < (int)hp->n_layer; il++) block(s, il, n, pos0);
}

/* Logits of rows [first, first + n) of the residual stream into s->logits[0..n).
 * s->h holds the output-normed rows (the last block's fused norm wrote them). */
static void head(gemma_session *s, int first, int n, bool cap)
{
    const hp_model *hp = &s->m->hp;
    backend *be = s->m->be;
    uint64_t E = hp->n_embd, V = hp->n_vocab;
    be_tensor *in = s->h;
    if (first > 0) {
        be->copy(be, s->xl, 0, s->h, first * E, n * E);
        in = s->xl;
    }
    be->matmul(be, s->logits, s->m->output, in, n, (int)E, (int)V);
    if (cap && hp->final_softcap > 0) be->softcap(be, s->logits, n * V, hp->final_softcap);
}

static int check_tokens(const gemma_session *s, const int32_t *tokens, int n, gc_err *err)
{
    if (n < 1) return gc_errf(err, "nothing to evaluate (%d tokens)", n);
    if (s->ring_lo > window_start(s, s->n_past))
        return gc_errf(err, "the sliding-window cache lost the window before position %d (a failed step wrote "
                       "over it): rewind first", s->n_past);
    if (n > s->n_ctx - s->n_past)
        return gc_errf(err, "context full: %d tokens in the cache + %d new > context size %d",
                       s->n_past, n, s->n_ctx);
    for (int i = 0; i < n; i++)
        if (tokens[i] < 0 || (uint32_t)tokens[i] >= s->m->hp.n_vocab)
            return gc_errf(err, "token id %d (at %d) is outside the vocabulary (0..%u)", tokens[i], i,
                           s->m->hp.n_vocab - 1);
    return 0;
}

/* Ends a step; a failure is prefixed with the positions it covered. */
static int finish_step(gemma_session *s, int pos0, int n, gc_err *err)
{
    if (s->m->be->end_step(s->m->be, err))
        return gc_err_prefix(err, "forward step at positions %d..%d", pos0, pos0 + n - 1);
    return 0;
}

/* Evaluates tokens in steps of n_batch rows. With all, every row's logits
 * go there ([n][n_vocab]); otherwise `want` picks what the last row gives. */
/* Positions up to hi were written: the rings lost those before hi - R. */
static void ring_written(gemma_session *s, int hi)
{
    if (hi - s->ring > s->ring_lo) s->ring_lo = hi - s->ring;
}

static int eval(gemma_session *s, const int32_t *tokens, int n, unsigned want, float *all, gc_err *err)
{
    if (check_tokens(s, tokens, n, err)) return -1;
    backend *be = s->m->be;
    size_t V = s->m->hp.n_vocab;
    int start = s->n_past, hi = start;   /* hi: positions written up to (failed steps too) */
    s->have_logits = false;
    for (int done = 0; done < n;) {
        int b = n - done < s->n_batch ? n - done : s->n_batch;
        int pos0 = start + done;
        if (be->begin_step(be, err)) goto fail;
        hi = pos0 + b;
        layers(s, tokens + done, b, pos0);
        if (!all && done + b == n && want) {
            /* The argmax alone: the soft-cap is folded into it (no capped logits written). */
            float fcap = s->m->hp.final_softcap;
            bool fold = !(want & GEMMA_WANT_LOGITS) && fcap > 0;
            head(s, b - 1, 1, !fold);
            if (want & GEMMA_WANT_LOGITS) be->read(be, s->logits, 0, V, s->host_logits);
            if (fold) be->argmax_softcap(be, s->logits, 0, V, fcap, &s->argmax);
            else if (want & GEMMA_WANT_ARGMAX) be->argmax(be, s->logits, 0, V, &s->argmax);
        }
        if (finish_step(s, pos0, b, err)) goto fail;
        /* All rows: one step per group, since a read copies at end_step and
         * s->logits must not be reused within a step. */
        for (int r = 0; all && r < b; r += s->n_out_rows) {
            int g = b - r < s->n_out_rows ? b - r : s->n_out_rows;
            if (be->begin_step(be, err)) goto fail;
            head(s, r, g, true);
            be->read(be, s->logits, 0, g * V, all + (done + r) * V);
            if (finish_step(s, pos0 + r, g, err)) goto fail;
        }
        done += b;
    }
    s->n_past = start + n;
    ring_written(s, s->n_past);
    if (all) memcpy(s->host_logits, all + (size_t)(n - 1) * V, V * sizeof(float));
    s->have_logits = all || (want & GEMMA_WANT_LOGITS);
    return 0;
fail:
    /* n_past stays; the rings may have lost the window before it (check_tokens). */
    ring_written(s, hi);
    return -1;
}

int gemma_eval(gemma_session *s, const int32_t *tokens, int n, unsigned want, gc_err *err)
{
    return eval(s, tokens, n, want, NULL, err);
}

int gemma_eval_all(gemma_session *s, const int32_t *tokens, int n, float *out, gc_err *err)
{
    return eval(s, tokens, n, 0, out, err);
}

int gemma_warmup(gemma_session *s, be_progress_fn progress, void *user, gc_err *err)
{
    int n0 = s->n_past, room = s->n_ctx - n0;
    if (room < 2) return 0;
    int32_t toks[8];
    int n = room - 1 < 8 ? room - 1 : 8;
    for (int i = 0; i < n; i++) toks[i] = (int32_t)((uint32_t)i % s->m->hp.n_vocab);
    if (progress) progress(user, 0, 2);
    int rc = eval(s, toks, n, GEMMA_WANT_LOGITS | GEMMA_WANT_ARGMAX, NULL, err);
    if (!rc && progress) progress(user, 1, 2);
    if (!rc) rc = eval(s, toks, 1, GEMMA_WANT_ARGMAX, NULL, err);
    if (!rc && progress) progress(user, 2, 2);
    if (rc) {
        s->n_past = n0;   /* a failed eval leaves n_past as it was: undo the first one's */
        s->have_logits = false;
        return gc_err_prefix(err, "warm-up");
    }
    return gemma_rewind(s, n0, err);
}

/* ------------------------------------------------------------ state */

/* The blob's layout: gemma.h. */
#define STATE_MAGIC "GCKV"
#define STATE_VERSION 1u
enum { ST_MAGIC, ST_VERSION, ST_N_LAYER, ST_N_CTX, ST_N_KV_HEAD, ST_HEAD_DIM, ST_VALUE_BYTES, ST_N_PAST, ST_RING_LO,
       ST_FIXED };   /* u32 fields before slots[n_layer] */

static void put_u32(uint8_t *p, uint32_t v)
{
    for (int i = 0; i < 4; i++) p[i] = (uint8_t)(v >> (8 * i));
}

static uint32_t get_u32(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

/* The session's cache shape as the blob states it. */
typedef struct state_shape {
    uint32_t f[ST_FIXED];
    size_t header, slot_bytes;   /* bytes of the header and of one slot's K (or V) */
} state_shape;

static int layer_slots(const gemma_session *s, int il) { return s->m->hp.is_sliding[il] ? s->ring : s->n_ctx; }
/* The first position layer il keeps: the sliding layers' ring holds ring_lo.. */
static int layer_lo(const gemma_session *s, int il, int ring_lo) { return s->m->hp.is_sliding[il] ? ring_lo : 0; }

static state_shape session_shape(const gemma_session *s)
{
    const hp_model *hp = &s->m->hp;
    state_shape sh = { .f = { 0, STATE_VERSION, hp->n_layer, (uint32_t)s->n_ctx, hp->n_head_kv, hp->head_dim,
                              (uint32_t)s->m->be->kv_value_bytes(s->m->be, s->m->g), (uint32_t)s->n_past,
                              (uint32_t)s->ring_lo } };
    memcpy(&sh.f[ST_MAGIC], STATE_MAGIC, 4);
    sh.header = 4 * (ST_FIXED + (size_t)hp->n_layer);
    sh.slot_bytes = (size_t)hp->n_head_kv * hp->head_dim * sh.f[ST_VALUE_BYTES];
    return sh;
}

/* Bytes of the blob of a session with this shape at n_past / ring_lo. */
static size_t state_bytes(const gemma_session *s, const state_shape *sh, int n_past, int ring_lo)
{
    size_t n = sh->header;
    for (int il = 0; il < (int)s->m->hp.n_layer; il++)
        n += 2 * (size_t)(n_past - layer_lo(s, il, ring_lo)) * sh->slot_bytes;
    return n;
}

/* Copies positions lo .. lo + n - 1 of layer il between the cache and k, v
 * ([n] slots each): one or two runs of slots, as the ring wraps. With write,
 * k and v are only read (gemma_state_load passes its const blob). */
static int copy_positions(gemma_session *s, int il, int lo, int n, uint8_t *k, uint8_t *v, const state_shape *sh,
                          bool write, gc_err *err)
{
    backend *be = s->m->be;
    int slots = layer_slots(s, il);
    for (int done = 0; done < n;) {
        int slot = (lo + done) % slots, run = n - done < slots - slot ? n - done : slots - slot;
        uint8_t *kp = k + (size_t)done * sh->slot_bytes, *vp = v + (size_t)done * sh->slot_bytes;
        int rc = write ? be->kv_write(be, il, slot, run, kp, vp, err) : be->kv_read(be, il, slot, run, kp, vp, err);
        if (rc) return gc_err_prefix(err, "layer %d", il);
        done += run;
    }
    return 0;
}

int gemma_state_save(gemma_session *s, void **out, size_t *len, gc_err *err)
{
    *out = NULL;
    *len = 0;
    backend *be = s->m->be;
    if (!be->kv_read) return gc_errf(err, "state save: the %s backend cannot read its KV cache", be->name);
    if (s->ring_lo > window_start(s, s->n_past))
        return gc_errf(err, "state save: the sliding-window cache lost the window before position %d (a failed step "
                       "wrote over it): rewind first", s->n_past);
    state_shape sh = session_shape(s);
    size_t n = state_bytes(s, &sh, s->n_past, s->ring_lo);
    uint8_t *blob = malloc(n);
    if (!blob) return gc_errf(err, "state save: out of memory for %zu bytes", n);
    for (int i = 0; i < ST_FIXED; i++) put_u32(blob + 4 * i, sh.f[i]);
    memcpy(blob, STATE_MAGIC, 4);
    uint8_t *p = blob + 4 * ST_FIXED;
    for (int il = 0; il < (int)s->m->hp.n_layer; il++, p += 4) put_u32(p, (uint32_t)layer_slots(s, il));
    for (int il = 0; il < (int)s->m->hp.n_layer; il++) {
        int lo = layer_lo(s, il, s->ring_lo), cnt = s->n_past - lo;
        uint8_t *k = p, *v = p + (size_t)cnt * sh.slot_bytes;
        if (copy_positions(s, il, lo, cnt, k, v, &sh, false, err)) {
            free(blob);
            return gc_err_prefix(err, "state save");
        }
        p = v + (size_t)cnt * sh.slot_bytes;
    }
    *out = blob;
    *len = n;
    return 0;
}

/* The blob fits this session (shape, bookkeeping, length), or an error naming
 * what differs. */
static int state_check(const gemma_session *s, const uint8_t *b, size_t len, const state_shape *sh,
                       int *n_past, int *ring_lo, gc_err *err)
{
    static const char *names[ST_FIXED] = { [ST_N_LAYER] = "n_layer", "n_ctx", "n_kv_head", "head_dim",
                                           "bytes per K/V value" };
    if (len < 4 * ST_FIXED) return gc_errf(err, "%zu bytes, shorter than a header", len);
    if (memcmp(b, STATE_MAGIC, 4)) return gc_errf(err, "not a KV state (no %s magic)", STATE_MAGIC);
    if (get_u32(b + 4 * ST_VERSION) != STATE_VERSION)
        return gc_errf(err, "format version %u, this build reads %u", get_u32(b + 4 * ST_VERSION), STATE_VERSION);
    for (int i = ST_N_LAYER; i < ST_N_PAST; i++)
        if (get_u32(b + 4 * i) != sh->f[i])
            return gc_errf(err, "%s %u, this session has %u", names[i], get_u32(b + 4 * i), sh->f[i]);
    if (len < sh->header) return gc_errf(err, "%zu bytes, shorter than its header (%zu)", len, sh->header);
    for (int il = 0; il < (int)s->m->hp.n_layer; il++) {
        uint32_t v = get_u32(b + 4 * (ST_FIXED + (size_t)il));
        if (v != (uint32_t)layer_slots(s, il))
            return gc_errf(err, "layer %d has %u slots, in this session %d", il, v, layer_slots(s, il));
    }
    uint32_t np = get_u32(b + 4 * ST_N_PAST), lo = get_u32(b + 4 * ST_RING_LO);
    if (np > (uint32_t)s->n_ctx || lo > np || (int)np - (int)lo > s->ring)
        return gc_errf(err, "n_past %u, ring_lo %u do not fit n_ctx %d and a ring of %d slots", np, lo, s->n_ctx,
                       s->ring);
    *n_past = (int)np;
    *ring_lo = (int)lo;
    if (*ring_lo > window_start(s, *n_past))
        return gc_errf(err, "ring_lo %d: the ring lacks the window before position %d", *ring_lo, *n_past);
    size_t need = state_bytes(s, sh, *n_past, *ring_lo);
    if (len != need)
        return gc_errf(err, "%zu bytes, its header needs %zu (%s)", len, need, len < need ? "truncated" : "extra bytes");
    return 0;
}

int gemma_state_load(gemma_session *s, const void *blob, size_t len, gc_err *err)
{
    backend *be = s->m->be;
    if (!be->kv_write) return gc_errf(err, "state load: the %s backend cannot write its KV cache", be->name);
    state_shape sh = session_shape(s);
    int n_past = 0, ring_lo = 0;
    if (state_check(s, blob, len, &sh, &n_past, &ring_lo, err)) return gc_err_prefix(err, "KV state");
    /* From here the cache changes: a failure leaves the session empty. */
    s->n_past = s->ring_lo = 0;
    s->have_logits = false;
    const uint8_t *p = (const uint8_t *)blob + sh.header;
    for (int il = 0; il < (int)s->m->hp.n_layer; il++) {
        int lo = layer_lo(s, il, ring_lo), cnt = n_past - lo;
        uint8_t *k = (uint8_t *)p, *v = k + (size_t)cnt * sh.slot_bytes;
        if (copy_positions(s, il, lo, cnt, k, v, &sh, true, err))
            return gc_err_prefix(err, "state load (the session is now empty)");
        p = v + (size_t)cnt * sh.slot_bytes;
    }
    s->n_past = n_past;
    s->ring_lo = ring_lo;
    return 0;
}
