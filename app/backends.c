/* backends.c: backend name -> backend (see backends.h). */
#include "app/backends.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "app/fit.h"
#include "app/paths.h"
#include "base/fault.h"
#include "base/file.h"
#include "cpu/cpu_backend.h"
#include "cpu/pool.h"
#include "vk/vk_backend.h"
#include "vk/vk_pipe.h"

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

/* The user's cache directory, created; false without one (no home). */
static bool cache_dir(char *buf, size_t n)
{
    gc_err ignored;
    return paths_ensure_user_dir(PATHS_CACHE, NULL, buf, n, &ignored) == 0;
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
    char dir[PATHS_MAX];
    if (cache_dir(dir, sizeof dir)) o.cache_dir = dir;
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

/* name -> backend, with no fallback. */
static int create(const char *name, const char *device, const gguf_file *model, backend **out, gc_err *err)
{
    *out = NULL;
    if (!name || !strcmp(name, "auto")) {
        /* A GPU (discrete, integrated or virtual) runs Vulkan; without one the
         * native CPU backend beats a CPU Vulkan driver such as lavapipe. */
        return device ? create_vulkan(device, model, out, err) : create_vulkan_opts(NULL, model, true, out, err);
    }
    for (size_t i = 0; i < sizeof entries / sizeof *entries; i++)
        if (!strcmp(name, entries[i].name)) return entries[i].create(device, model, out, err);
    return gc_errf(err, "--backend %s: unknown backend (known: %s)", name, backends_names());
}

backends_fallback backends_choose_fallback(const char *name, int rc, const backend *failed, bool allowed)
{
    bool by_default = !name || !strcmp(name, "auto");
    if (!rc || !(by_default || !strcmp(name, "vulkan"))) return BACKENDS_FALLBACK_NONE;
    if (!failed && rc == VK_BACKEND_NO_DEVICE && by_default) return BACKENDS_FALLBACK_NO_GPU;
    /* Wrong results: the CPU backend, unless Vulkan was asked for by name. */
    if (rc == BACKENDS_SELFCHECK_FAILED) return by_default || allowed ? BACKENDS_FALLBACK_FAILED : BACKENDS_FALLBACK_FORCED;
    /* A lost device during the upload is not a shortage the CPU can make up for. */
    if (!allowed || (failed && (failed->lost || strcmp(failed->name, "vulkan")))) return BACKENDS_FALLBACK_NONE;
    return BACKENDS_FALLBACK_FAILED;
}

int backends_create(const char *name, const char *device, const gguf_file *model, backend **out, gc_err *err)
{
    int rc = create(name, device, model, out, err);
    if (backends_choose_fallback(name, rc, NULL, false) != BACKENDS_FALLBACK_NO_GPU) return rc ? -1 : 0;
    char why[sizeof err->msg];
    snprintf(why, sizeof why, "%s", err->msg);
    if (create_cpu(NULL, model, out, err)) return -1;
    fprintf(stderr, "gemma-chat: %s; using the CPU backend: %s\n", why, (*out)->device_name);
    return 0;
}

int backends_selfcheck(int index, const vk_caps *c, const char *dir, bool fresh, vk_selfcheck_case_fn on_case,
                       void *user, vk_selfcheck_result *res, gc_err *err)
{
    uint64_t build = vk_pipe_build_hash();
    char path[PATHS_MAX] = "";
    /* An injected wrong result is a test's, not the device's: no stamp. */
    if (dir && dir[0] && !gc_fault_text(GC_FAULT_SELFCHECK)) vk_selfcheck_stamp_path(dir, c, path, sizeof path);
    char *text;
    gc_err ignored;
    if (!fresh && path[0] && file_read_path(path, "", 4096, &text, NULL, &ignored) == 0) {
        bool known = vk_selfcheck_stamp_parse(c, build, text, res);
        free(text);
        if (known) return 0;
    }
    vk_backend_opts o;
    vk_backend_opts_init(&o);
    /* The faults a test arms are for the model's backend and files. */
    gc_fault_hold(true);
    int rc = vk_selfcheck_device(&o, index, on_case, user, res, err);
    if (!rc && path[0]) {
        char stamp[2048];
        vk_selfcheck_stamp_format(c, build, res, stamp, sizeof stamp);
        /* Without the stamp the check runs again next time: nothing is lost. */
        if (stamp[0]) paths_write_atomic(path, stamp, strlen(stamp), 0644, &ignored);
    }
    gc_fault_hold(false);
    return rc;
}

__attribute__((format(printf, 2, 3)))
static void req_warn(const backends_req *r, const char *fmt, ...)
{
    char msg[1200];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    if (r->warn) r->warn(r->warn_user, msg);
    else fprintf(stderr, "gemma-chat: %s\n", msg);
}

/* The self-check's verdict on the Vulkan backend be (vk/vk_selfcheck.h):
 * 0 to go on with it, or BACKENDS_SELFCHECK_FAILED (err says which kernel)
 * where backends_choose_fallback says the CPU backend takes over. A check
 * that cannot run (out of device memory) lets the device go on, with a
 * warning. */
static int selfcheck_gate(backend *be, const backends_req *r, const char *name, gc_err *err)
{
    const char *env = getenv("GEMMA_CHAT_SELFCHECK");
    if (strcmp(be->name, "vulkan") || (env && !strcmp(env, "0"))) return 0;
    int index;
    const vk_caps *c = vk_backend_device(be, &index);
    char dir[PATHS_MAX];
    vk_selfcheck_result res;
    gc_err cerr = {0};
    if (backends_selfcheck(index, c, cache_dir(dir, sizeof dir) ? dir : NULL, false, NULL, NULL, &res, &cerr)) {
        req_warn(r, "the Vulkan self-check could not run: %s", cerr.msg);
        return 0;
    }
    if (!res.n_failed) return 0;
    vk_selfcheck_message(&res, be->device_name, err->msg, sizeof err->msg);
    if (backends_choose_fallback(name, BACKENDS_SELFCHECK_FAILED, be, r->cpu_fallback) != BACKENDS_FALLBACK_FORCED)
        return BACKENDS_SELFCHECK_FAILED;
    req_warn(r, "%s; using the device anyway (Vulkan was asked for by name)", err->msg);
    return 0;
}

int backends_start(backends_model *bm, const backends_req *r, gc_err *err)
{
    const char *name = r->name;
    for (;;) {
        int rc = backends_create(name, r->device, bm->file, &bm->be, err);
        if (!rc) rc = selfcheck_gate(bm->be, r, name, err);
        /* Too big for this device: a smaller --ctx is the remedy, not another backend. */
        if (!rc && r->n_ctx && fit_check(bm->be, bm->file, 0, r->n_ctx, err)) return -1;
        if (!rc) rc = gemma_model_load(&bm->model, bm->file, bm->be, r->progress, r->progress_user, err);
        if (!rc) return 0;
        if (backends_choose_fallback(name, rc, bm->be, r->cpu_fallback) != BACKENDS_FALLBACK_FAILED) return -1;
        backends_unload_weights(bm);
        req_warn(r, "%s; using the CPU backend", err->msg);
        name = "cpu";
    }
}

int backends_load(backends_model *bm, const char *path, const char *backend_name, const char *device,
                  be_progress_fn progress, void *user, gc_err *err)
{
    memset(bm, 0, sizeof *bm);
    backends_req r = { .name = backend_name, .device = device, .progress = progress, .progress_user = user };
    if (gguf_open(&bm->file, path, err) || backends_start(bm, &r, err)) {
        backends_unload(bm);
        return -1;
    }
    return 0;
}

void backends_unload_weights(backends_model *bm)
{
    gemma_model_free(bm->model);
    if (bm->be) bm->be->destroy(bm->be);
    bm->model = NULL;
    bm->be = NULL;
}

void backends_unload(backends_model *bm)
{
    backends_unload_weights(bm);
    gguf_close(bm->file);
    memset(bm, 0, sizeof *bm);
}
