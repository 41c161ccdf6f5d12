/* gemma.h: Gemma 2 / Gemma 3 weights and the forward pass over a backend.
 *
 * A gemma_model holds the uploaded weights of one GGUF file on one backend.
 * A gemma_session is one token stream on that model: the KV cache (which lives
 * in the backend, so one session per model at a time), the position n_past,
 * and the logits of the last evaluated token.
 *
 *     gemma_model_load(&m, gguf, be, NULL, NULL, &err);
 *     gemma_session_create(&s, m, 4096, 0, &err);
 *     gemma_eval(s, prompt, n, GEMMA_WANT_LOGITS, &err);   // prefill
 *     tok = sample(gemma_logits(s));
 *     gemma_eval(s, &tok, 1, GEMMA_WANT_LOGITS, &err);     // decode
 *     gemma_rewind(s, n, &err);                            // back to position n
 *
 * Prefilling many tokens at once and decoding them one at a time give the same
 * logits: every row is computed by the same ops whatever the batch.
 */
#ifndef GC_GEMMA_H
#define GC_GEMMA_H

#include <stddef.h>
#include <stdint.h>

#include "model/backend.h"
#include "base/err.h"
#include "model/gguf.h"

typedef struct gemma_model gemma_model;
typedef struct gemma_session gemma_session;

/* Reads the hyperparameters, checks every tensor's presence, shape and type,
 * and uploads the weights through be. g and be must outlive the model (the
 * CPU backend reads weights from g's mapping). progress may be NULL. */
int gemma_model_load(gemma_model **out, const gguf_file *g, backend *be,
                     be_progress_fn progress, void *user, gc_err *err);
void gemma_model_free(gemma_model *m);    /* accepts NULL; frees no backend */

int gemma_n_vocab(const gemma_model *m);
int gemma_n_ctx_train(const gemma_model *m);   /* the model's context_length */
const char *gemma_arch(const gemma_model *m);  /* "gemma2", "gemma3" */
/* The window of the sliding-window layers (a query sees that many positions
 * back, itself included); 0 when every layer is global. */
int gemma_sliding_window(const gemma_model *m);

/* The KV cache of a sliding-window layer is a ring of R slots (backend.h):
 *
 *     R = min(n_ctx, window + n_batch - 1 + rewind_keep)
 *
 * window + n_batch - 1: a prefill step of n_batch rows needs the window before
 * each of its rows; rewind_keep more slots keep the window before any point
 * up to rewind_keep + n_batch tokens back, so regenerating a reply or editing
 * the last message (a rewind that short) reuses the cache. The default
 * keep, GEMMA_REWIND_KEEP, is about two replies long and costs little next to
 * the global layers, which keep n_ctx slots (Gemma 3 270M at n_ctx 32768:
 * 15 sliding layers of R = 1599 slots, 3 global ones of 32768). */
#define GEMMA_REWIND_KEEP 1024

typedef struct gemma_session_opts {
    int n_ctx;          /* positions in the KV cache, 1..n_ctx_train (0 = min(n_ctx_train, 4096)) */
    int n_batch;        /* tokens per forward step in a prefill (0 = 64) */
    int rewind_keep;    /* the ring's slots beyond window + n_batch - 1 (0 = GEMMA_REWIND_KEEP) */
    bool full_kv;       /* every layer keeps n_ctx slots (no ring; tests compare against it) */
} gemma_session_opts;

int gemma_session_open(gemma_session **out, gemma_model *m, const gemma_session_opts *o, gc_err *err);
/* gemma_session_open with only n_ctx and n_batch given. */
int gemma_session_create(gemma_session **out, gemma_model *m, int n_ctx, int n_batch, gc_err *err);
void gemma_session_free(gemma_session *s);  /* accepts NULL */

int gemma_n_ctx(const gemma_session *s);
int gemma_n_past(const gemma_session *s);  /* tokens in the cache */
int gemma_ring_slots(const gemma_session *s);  /* R of the sliding layers (n_ctx without a ring) */

/* What a session with options o on the model in g would hold, before loading
 * it (the fit check, bench's kv_mib). KV bytes = kv_slots * kv_values_per_slot
 * * the backend's kv_value_bytes. */
typedef struct gemma_mem {
    uint64_t kv_slots;            /* cache slots of all layers together */
    uint64_t kv_values_per_slot;  /* K and V: 2 * n_kv_head * head_dim */
    uint64_t scratch_bytes;       /* the session's activations and host logits */
    int n_ctx;                    /* o->n_ctx with its default filled in */
    int n_ctx_train;
    int ring;                     /* R of the sliding layers */
} gemma_mem;
int gemma_mem_estimate(const gguf_file *g, const gemma_session_opts *o, gemma_mem *out, gc_err *err);

enum {
    GEMMA_WANT_LOGITS = 1,   /* read the last token's logits to the host: gemma_logits */
    GEMMA_WANT_ARGMAX = 2,   /* the last token's argmax, computed by the backend: gemma_argmax */
};

/* Evaluates tokens[0..n) at positions n_past.. (in steps of n_batch) and
 * advances n_past by n. On failure n_past is unchanged; when the steps that did
 * run wrote over the window before it in the rings, the next eval fails until
 * a gemma_rewind (which then goes to 0). */
int gemma_eval(gemma_session *s, const int32_t *tokens, int n, unsigned want, gc_err *err);
/* The same, writing the logits of every position: out [n][n_vocab]. */
int gemma_eval_all(gemma_session *s, const int32_t *tokens, int n, float *out, gc_err *err);

/* Logits [n_vocab] of the last token of the last successful gemma_eval with
 * GEMMA_WANT_LOGITS (final soft-cap applied); valid until the next eval. */
const float *gemma_logits(const gemma_session *s);
int32_t gemma_argmax(const gemma_session *s);

/* Forgets positions >= n_past (0 <= n_past <= current). The cache entries are
 * simply overwritten by later evals. When the sliding layers' rings no longer
 * hold the window before n_past (a rewind further back than R - window + 1
 * from the furthest position written), the session goes back to 0 instead (a
 * full re-prefill: a sliding layer's K/V depend on the earlier layers'
 * windows, so recomputing the last window alone would not be exact). Read
 * gemma_n_past() after a rewind. */
int gemma_rewind(gemma_session *s, int n_past, gc_err *err);

/* The session's state as one blob (malloc'd, *len bytes): a header and the K
 * and V of the slots in use of every layer. Only what a restore needs: a
 * session at n_past 100 saves ~100 positions per layer, not n_ctx. Layout
 * (u32 fields little-endian):
 *
 *     0   "GCKV"            magic
 *     4   version           1
 *     8   n_layer
 *     12  n_ctx
 *     16  n_kv_head
 *     20  head_dim
 *     24  value_bytes       bytes per K/V value: 4 (f32) or 2 (IEEE f16), the backend's
 *     28  n_past
 *     32  ring_lo           the sliding layers hold positions ring_lo .. n_past - 1
 *     36  slots[n_layer]    each layer's slots (backend.h: position p in slot p % slots)
 *     then per layer l: K of positions lo .. n_past - 1, then V of the same, each
 *     position [n_kv_head][head_dim] values, where lo = ring_lo on a sliding
 *     layer and 0 on a global one.
 *
 * Fails (nothing allocated) when the backend cannot read its cache or the
 * session lost its window (a failed eval: rewind first). */
int gemma_state_save(gemma_session *s, void **out, size_t *len, gc_err *err);
/* Replaces the session's state with a blob gemma_state_save made. The header
 * must match this session's shape exactly (n_layer, n_ctx, slots, heads,
 * head_dim, value bytes) and the length must add up: anything else is an
 * error naming what differs, and the session is unchanged. After it,
 * gemma_n_past is the saved one and the next eval continues exactly as the
 * saved session would have, rewinds included (the logits of the last token
 * are NOT in the blob: the caller re-evaluates the last token, or rewinds by
 * one and evaluates it, to get them). A backend failure while writing the
 * cache (after the checks) leaves the session empty (n_past 0). */
int gemma_state_load(gemma_session *s, const void *blob, size_t len, gc_err *err);

/* Runs the forward pass the ways a chat does (a prefill step of 8 rows with
 * logits and argmax, then a decode step with the argmax alone) on throwaway
 * tokens and forgets them again: n_past is unchanged. A backend whose kernels
 * are not compiled yet (backend.kernels_cold) compiles them now instead of
 * during the first reply. progress (may be NULL) gets (steps done, 2). Does
 * nothing when fewer than 2 positions are free. */
int gemma_warmup(gemma_session *s, be_progress_fn progress, void *user, gc_err *err);

#endif
