/* backends.c: backend name -> backend (see backends.h). */
#include "app/backends.h"

#include <string.h>

typedef struct backend_entry {
    const char *name;
    int (*create)(const char *device, backend **out, gc_err *err);
} backend_entry;

static int create_cpu(const char *device, backend **out, gc_err *err)
{
    (void)device;
    return cpu_backend_create(out, err);
}

static const backend_entry entries[] = {
    { "cpu", create_cpu },
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

int backends_create(const char *name, const char *device, backend **out, gc_err *err)
{
    *out = NULL;
    for (size_t i = 0; i < sizeof entries / sizeof *entries; i++)
        if (!strcmp(name, entries[i].name)) return entries[i].create(device, out, err);
    return gc_errf(err, "--backend %s: unknown backend (known: %s)", name, backends_names());
}

int backends_load(backends_model *bm, const char *path, const char *backend_name, const char *device,
                  be_progress_fn progress, void *user, gc_err *err)
{
    memset(bm, 0, sizeof *bm);
    if (gguf_open(&bm->file, path, err) || backends_create(backend_name, device, &bm->be, err) ||
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
