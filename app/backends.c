/* backends.c: backend name -> backend (see backends.h). */
#include "app/backends.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "app/paths.h"
#include "cpu/cpu_backend.h"
#include "cpu/pool.h"
#include "vk/vk_backend.h"

/* model: the file about to be loaded, when known (the Vulkan backend checks
 * that its weights fit the device before anything is uploaded). */
typedef struct backend_entry {
    const char *name;
    int (*create)(const char *device, const gguf_file *model, backend **out, gc_err *err);
} backend_entry;

static int cpu_threads;   /* backends_set_threads; 0 = one per CPU */

void backends_set_threads(int n) { cpu_threads = n; }

static int create_cpu(const char *device, const gguf_file *model, backend **out, gc_err *err)
{
    (void)device;
    (void)model;
    cpu_backend_opts o;
    cpu_backend_opts_init(&o);
    /* Never more threads than CPUs: a spinning thread without a core of its
     * own stalls every step it takes part in. */
    o.threads = cpu_threads < cpu_pool_cpus() ? cpu_threads : cpu_pool_cpus();
    return cpu_backend_create(&o, out, err);
}

static int create_ref(const char *device, const gguf_file *model, backend **out, gc_err *err)
{
    (void)device;
    (void)model;
    return ref_backend_create(out, err);
}

static int create_vulkan_opts(const char *device, const gguf_file *model, bool gpu_only, backend **out,
                              gc_err *err)
{
    vk_backend_opts o;
    vk_backend_opts_init(&o);
    o.gpu_only = gpu_only;
    if (device) {
        char *end;
        long v = strtol(device, &end, 10);
        if (!*device || *end || v < 0 || v > 1000)
            return gc_errf(err, "--device '%s': expected a device index (see `gemma-chat devices`)", device);
        o.device = (int)v;
    }
    o.model = model;
    /* Compiled kernels are kept in the user's cache directory; without one
     * (no home) they are compiled at every start. */
    char cache_dir[PATHS_MAX];
    gc_err ignored;
    if (paths_ensure_user_dir(PATHS_CACHE, NULL, cache_dir, sizeof cache_dir, &ignored) == 0) o.cache_dir = cache_dir;
    return vk_backend_create(&o, out, err);
}

static int create_vulkan(const char *device, const gguf_file *model, backend **out, gc_err *err)
{
    return create_vulkan_opts(device, model, false, out, err);
}

static const backend_entry entries[] = {
    { "vulkan", create_vulkan },
    { "cpu", create_cpu },
    { "ref", create_ref },
};

const char *backends_names(void)
{
    static char names[128];
    if (!names[0])
        for (size_t i = 0; i < sizeof entries / sizeof *entries; i++) {
            if (i) strncat(names, "|", sizeof names - strlen(names) - 1);
            strncat(names, entries[i].name, sizeof names - strlen(names) - 1);
        }
    return names;
}

static int create(const char *name, const char *device, const gguf_file *model, backend **out, gc_err *err)
{
    *out = NULL;
    if (!name || !strcmp(name, "auto")) {
        /* A GPU (discrete, integrated or virtual) runs Vulkan; without one the
         * native CPU backend beats a CPU Vulkan driver such as lavapipe. */
        int rc = device ? create_vulkan(device, model, out, err) : create_vulkan_opts(NULL, model, true, out, err);
        if (rc != VK_BACKEND_NO_DEVICE) return rc;
        char why[sizeof err->msg];
        snprintf(why, sizeof why, "%s", err->msg);
        if (create_cpu(NULL, model, out, err)) return -1;
        fprintf(stderr, "gemma-chat: %s; using the CPU backend: %s\n", why, (*out)->device_name);
        return 0;
    }
    for (size_t i = 0; i < sizeof entries / sizeof *entries; i++)
        if (!strcmp(name, entries[i].name)) return entries[i].create(device, model, out, err);
    return gc_errf(err, "--backend %s: unknown backend (known: %s)", name, backends_names());
}

int backends_create(const char *name, const char *device, const gguf_file *model, backend **out, gc_err *err)
{
    return create(name, device, model, out, err);
}

int backends_load(backends_model *bm, const char *path, const char *backend_name, const char *device,
                  be_progress_fn progress, void *user, gc_err *err)
{
    memset(bm, 0, sizeof *bm);
    if (gguf_open(&bm->file, path, err) || create(backend_name, device, bm->file, &bm->be, err) ||
        gemma_model_load(&bm->model, bm->file, bm->be, progress, user, err)) {
        backends_unload(bm);
        return -1;
    }
    return 0;
}

void backends_unload(backends_model *bm)
{
    gemma_model_free(bm->model);
    if (bm->be) bm->be->destroy(bm->be);
    gguf_close(bm->file);
    memset(bm, 0, sizeof *bm);
}
