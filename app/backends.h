/* backends.h: the one place that turns a backend name into a backend.
 * Every command that runs the model (chat, -p, logits, bench) goes through
 * backends_create, so adding a backend is one entry in app/backends.c. */
#ifndef GC_BACKENDS_H
#define GC_BACKENDS_H

#include "model/backend.h"
#include "base/err.h"
#include "model/gemma.h"
#include "model/gguf.h"

/* name: "vulkan", "cpu" (native), "ref" (the plain-C reference); NULL or
 * "auto" = the default: Vulkan on a GPU, else the native CPU backend (with a
 * notice on stderr naming its instruction set and threads). device: a device
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

#endif
