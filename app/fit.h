/* fit.h: the fit check before a model is loaded: its weights, KV cache and
 * scratch (backend.h's sizes, model/gemma.h's gemma_mem_estimate) against the
 * memory the backend can use (backend.h memory_budget; tests set it with
 * base/fault.h's mem:N). */
#ifndef GC_FIT_H
#define GC_FIT_H

#include "model/backend.h"
#include "base/err.h"
#include "model/gguf.h"

/* *n_ctx: the context asked for; beyond the model's trained length it counts
 * as that length; 0 = the trained length where it fits, else the largest that
 * fits but at least min(4096, trained length). n_batch as gemma_session_open
 * takes it. On success *n_ctx is the context to open the session with. On
 * failure err names each size (`model needs X MiB weights + Y MiB KV (ctx N) +
 * Z MiB scratch; the device has W MiB`) and, when only the KV cache is too
 * big, the largest --ctx that fits. */
int fit_check(backend *be, const gguf_file *g, int n_batch, int *n_ctx, gc_err *err);

#endif
