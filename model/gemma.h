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

#include <stdint.h>

#include "model/backend.h"
#include "model/err.h"
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

/* n_ctx: positions in the KV cache, 1..n_ctx_train (0 = min(n_ctx_train, 4096)).
 * n_batch: tokens per forward step in a prefill (0 = 64). */
int gemma_session_create(gemma_session **out, gemma_model *m, int n_ctx, int n_batch, gc_err *err);
void gemma_session_free(gemma_session *s);  /* accepts NULL */

int gemma_n_ctx(const gemma_session *s);
int gemma_n_past(const gemma_session *s);  /* tokens in the cache */

enum {
    GEMMA_WANT_LOGITS = 1,   /* read the last token's logits to the host: gemma_logits */
    GEMMA_WANT_ARGMAX = 2,   /* the last token's argmax, computed by the backend: gemma_argmax */
};

/* Evaluates tokens[0..n) at positions n_past.. (in steps of n_batch) and
 * advances n_past by n. On failure n_past is unchanged. */
int gemma_eval(gemma_session *s, const int32_t *tokens, int n, unsigned want, gc_err *err);
/* The same, writing the logits of every position: out [n][n_vocab]. */
int gemma_eval_all(gemma_session *s, const int32_t *tokens, int n, float *out, gc_err *err);

/* Logits [n_vocab] of the last token of the last successful gemma_eval with
 * GEMMA_WANT_LOGITS (final soft-cap applied); valid until the next eval. */
const float *gemma_logits(const gemma_session *s);
int32_t gemma_argmax(const gemma_session *s);

/* Forgets positions >= n_past (0 <= n_past <= current). The cache entries are
 * simply overwritten by later evals. */
int gemma_rewind(gemma_session *s, int n_past, gc_err *err);

/* Runs the forward pass the ways a chat does (a prefill step of 8 rows with
 * logits and argmax, then a decode step with the argmax alone) on throwaway
 * tokens and forgets them again: n_past is unchanged. A backend whose kernels
 * are not compiled yet (backend.kernels_cold) compiles them now instead of
 * during the first reply. progress (may be NULL) gets (steps done, 2). Does
 * nothing when fewer than 2 positions are free. */
int gemma_warmup(gemma_session *s, be_progress_fn progress, void *user, gc_err *err);

#endif
