/* vk_selfcheck.h: the per-device self-check of the Vulkan backend.
 *
 * Wrong output on some GPU and driver pairs is the most reported Vulkan
 * problem of other engines; the self-check turns that silent garbage into a
 * message naming the kernel. It runs a list of cases, each one op of
 * model/backend.h on small random inputs, on the backend checked and on the
 * reference backend (model/ref_backend.c) with the same inputs, and compares
 * the results. The shapes reach every kernel variant the Vulkan backend
 * chooses: every weight type at 1, 2 and 40 input rows (matrix-vector and
 * matrix-matrix products), fused GeGLU, an output count no workgroup tile
 * divides; attention at head_dim 64, 128 and 256 with grouped KV heads, for a
 * prefill and a decode step, globally and with a soft-cap and a sliding
 * window over a ring cache, before and after quantized weights (the KV cache
 * of an F32 model and of a quantized one); RMSNorm, the fused residual norm,
 * the fused QK norm, RoPE and cache store with and without per-head norms,
 * embed of every type, argmax (one and two stages, plain and soft-capped),
 * soft-cap and copy.
 *
 * The check sees the backend only through backend.h, so it knows nothing of
 * the kernels: a new variant is covered by giving a case the shape that
 * reaches it. A case passes when, in every row of its output (a product's
 * row, a head's vector), the relative L2 error against the reference stays
 * within the case's bound (NaN or inf never passes), or, for argmax, when
 * both give the same index. The bounds (vk_selfcheck.c) allow what f32 math
 * in another order and an f16 KV cache give, and catch one wrong value in a
 * row.
 *
 * When it runs: the app (app/backends.c) runs it the first time a device,
 * driver and gemma-chat build meet, and keeps the verdict in a stamp beside
 * the pipeline cache (vk_selfcheck_stamp_path); `gemma-chat devices --check`
 * runs it on demand.
 *
 * Fault injection (base/fault.h): GEMMA_CHAT_FAULT=selfcheck:TEXT spoils the
 * checked backend's result of every case whose name contains TEXT, as a
 * wrong kernel would (tests; case names hold no ',', so any can be named).
 * The other points count here as anywhere: app/backends.c holds them.
 */
#ifndef GC_VK_SELFCHECK_H
#define GC_VK_SELFCHECK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/err.h"
#include "model/backend.h"
#include "vk/vk_backend.h"
#include "vk/vk_device.h"

#define VK_SELFCHECK_NAME_MAX 96

typedef struct vk_selfcheck_result {
    int n_cases;                         /* cases run */
    int n_failed;
    char failed[VK_SELFCHECK_NAME_MAX];  /* the first failing case, which names its kernel ("" if none) */
    char detail[256];                    /* what was wrong with it */
    double seconds;                      /* the whole check (0 for a verdict read from a stamp) */
} vk_selfcheck_result;

/* Called after each case: its name, whether it passed, and why not. */
typedef void (*vk_selfcheck_case_fn)(void *user, const char *name, bool ok, const char *detail);

/* Runs every case on be (any backend.h backend; the app's is a Vulkan backend
 * of the check's own, since the cases leave their tensors and KV caches on
 * it). on_case may be NULL. Returns 0 when the check ran (res holds the
 * verdict), -1 when it could not (err: no reference backend, host memory). */
int vk_selfcheck_run(backend *be, vk_selfcheck_case_fn on_case, void *user, vk_selfcheck_result *res,
                     gc_err *err);

/* The check of Vulkan device `index`: a backend with options o (its device
 * set to index; model, progress, notice and pipeline cache left out: the
 * check's kernels are compiled for it alone), vk_selfcheck_run, destroy.
 * Returns as vk_selfcheck_run; -1 also when the backend cannot be made. */
int vk_selfcheck_device(const vk_backend_opts *o, int index, vk_selfcheck_case_fn on_case, void *user,
                        vk_selfcheck_result *res, gc_err *err);

/* "the Vulkan self-check failed on DEVICE: CASE (DETAIL)": the one message
 * of a failed verdict, for the app's notices. */
void vk_selfcheck_message(const vk_selfcheck_result *res, const char *device, char *out, size_t n);

/* ---- the stamp: a verdict remembered per device, driver and build ----
 * DIR/selfcheck-VVVV-DDDD.txt, beside vk_pipe_cache_path's file. Its text:
 *     gemma-chat vulkan self-check 1
 *     key VVVV DDDD UUID BUILD DRIVER
 *     ok | failed CASE<TAB>DETAIL
 * with UUID the device's pipelineCacheUUID (which drivers change with their
 * version) in hex, BUILD vk_pipe_build_hash() in hex and DRIVER the driver's
 * name and version (vk_caps.driver). A stamp whose key differs (another
 * driver, another build) is not this device's verdict. */
void vk_selfcheck_stamp_path(const char *dir, const vk_caps *c, char *out, size_t n);
/* The stamp's text for verdict res ("" when it does not fit in n). */
void vk_selfcheck_stamp_format(const vk_caps *c, uint64_t build, const vk_selfcheck_result *res, char *out,
                               size_t n);
/* true when text is a stamp of device c, its driver and build: res then has
 * the verdict (n_failed 0, or 1 with failed and detail; n_cases 0). false for
 * anything else (another key, a damaged file); res is then untouched. */
bool vk_selfcheck_stamp_parse(const vk_caps *c, uint64_t build, const char *text, vk_selfcheck_result *res);

#endif
