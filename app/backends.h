/* backends.h: the one place that turns a backend name into a backend.
 * Every command that runs the model (chat, -p, logits, bench) goes through
 * backends_create, so adding a backend is one entry in app/backends.c. */
#ifndef GC_BACKENDS_H
#define GC_BACKENDS_H

#include <stdbool.h>

#include "model/backend.h"
#include "base/err.h"
#include "model/gemma.h"
#include "model/gguf.h"
#include "vk/vk_device.h"
#include "vk/vk_selfcheck.h"

/* name: "vulkan", "cpu" (native), "ref" (the plain-C reference); NULL or
 * "auto" = the default: Vulkan on a GPU, else the native CPU backend (with a
 * notice on stderr naming its instruction set and threads: see
 * backends_choose_fallback). device: a device
 * choice for backends that have several (NULL = their default; ignored by the
 * CPU backends; with "auto" it asks for that Vulkan device). model: the file about to be loaded, or NULL; the Vulkan
 * backend uses it to refuse, before any upload, weights that do not fit the
 * device. An unknown name fails with the list of known ones. */
int backends_create(const char *name, const char *device, const gguf_file *model, backend **out, gc_err *err);

/* Threads of the native CPU backends created from now on (0 = one per CPU;
 * more than the CPUs counts as one per CPU). */
void backends_set_threads(int n);

/* "vulkan|cpu|ref" style list of the known names, for usage text. */
const char *backends_names(void);

/* A model file loaded on a backend: what every command that runs the model holds. */
typedef struct backends_model {
    gguf_file *file;       /* mapped; the CPU backend reads weights from it */
    backend *be;
    gemma_model *model;
} backends_model;

/* Opens path, creates the backend and uploads the weights (progress may be
 * NULL). On failure everything is released and err names the file or flag. */
int backends_load(backends_model *bm, const char *path, const char *backend_name, const char *device,
                  be_progress_fn progress, void *user, gc_err *err);
/* Releases in reverse order; accepts a zeroed or half-loaded struct. Sessions
 * on the model must be freed first. */
void backends_unload(backends_model *bm);
/* The same, but the file stays open. */
void backends_unload_weights(backends_model *bm);

/* When Vulkan gives way to the CPU backend: the one place that decides it.
 * name: the backend asked for; rc: what creating it (failed == NULL),
 * its self-check (BACKENDS_SELFCHECK_FAILED; failed: the backend) or
 * uploading the weights to it (failed: the backend) returned; allowed: the
 * caller lets a failing Vulkan fall back (the chat does when Vulkan was not
 * asked for by name through a flag or the environment: backends_req). */
#define BACKENDS_SELFCHECK_FAILED 3   /* an rc: the device gives wrong results (vk/vk_selfcheck.h) */
typedef enum backends_fallback {
    BACKENDS_FALLBACK_NONE,     /* no fallback: rc stands (or there was no failure) */
    BACKENDS_FALLBACK_NO_GPU,   /* "auto" found no GPU: the CPU backend is the default, said on stderr */
    BACKENDS_FALLBACK_FAILED,   /* Vulkan cannot start, cannot take the weights (out of device memory;
                                 * not a lost device) or failed its self-check while only the default
                                 * (or allowed): the CPU backend, with a warning saying why */
    BACKENDS_FALLBACK_FORCED,   /* the self-check failed but Vulkan was asked for by name: it is used,
                                 * with the warning */
} backends_fallback;
backends_fallback backends_choose_fallback(const char *name, int rc, const backend *failed, bool allowed);

/* What backends_start starts. */
typedef struct backends_req {
    const char *name;           /* as backends_create takes it */
    const char *device;
    bool cpu_fallback;          /* BACKENDS_FALLBACK_FAILED is allowed */
    int *n_ctx;                 /* non-NULL: fit_check (app/fit.h) before the upload, *n_ctx in and out */
    be_progress_fn progress;    /* the upload; may be NULL */
    void *progress_user;
    void (*warn)(void *user, const char *msg);  /* the fallback's warning ("WHY; using the CPU backend") */
    void *warn_user;
} backends_req;

/* The self-check of Vulkan device `index` (capabilities c): the verdict a
 * stamp in dir (the cache directory; NULL = none) holds for this device,
 * driver and build, unless `fresh`; else the check runs now
 * (vk_selfcheck_device, on_case as there) and, when dir is given, its
 * verdict is stamped (atomically; never under an injected selfcheck fault).
 * The faults of base/fault.h are held meanwhile. Returns 0 (res: the
 * verdict) or -1 when the check could not run (err). */
int backends_selfcheck(int index, const vk_caps *c, const char *dir, bool fresh, vk_selfcheck_case_fn on_case,
                       void *user, vk_selfcheck_result *res, gc_err *err);

/* Creates the backend for bm->file (open; bm->be and bm->model NULL) and
 * uploads its weights, falling back to the CPU backend as
 * backends_choose_fallback says. A Vulkan backend first passes the
 * self-check (backends_selfcheck; GEMMA_CHAT_SELFCHECK=0 skips it): a
 * failure is a warning naming the kernel, then the CPU backend, or the
 * device anyway when Vulkan was asked for by name. Warnings go to r->warn,
 * else to stderr. On failure err says why and bm is left for
 * backends_unload: the backend that failed stays, so that the caller can
 * tell a lost device. */
int backends_start(backends_model *bm, const backends_req *r, gc_err *err);

#endif
