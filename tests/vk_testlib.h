/* vk_testlib.h: helpers shared by the Vulkan tests (tests/test_vk_*.c).
 *
 * Every Vulkan test runs with the Khronos validation layer and fails on any
 * message it reports. On a machine without any Vulkan device a test that needs
 * one is skipped (VT_NEED_DEVICE() first in main(): exit 77), except under
 * CI=true, where it fails: CI has lavapipe.
 */
#ifndef GC_VK_TESTLIB_H
#define GC_VK_TESTLIB_H

#include <stdlib.h>

#include "model/backend.h"
#include "model/quant.h"
#include "tests/test.h"
#include "vk/vk_backend.h"
#include "vk/vk_device.h"

/* Options for a test backend: validation on (unless GC_VK_TEST_NO_VALIDATION=1,
 * for GPU machines without the layer installed: tools/vk_gpu_check.sh), and a
 * pipeline cache in the suite's cache directory ($GC_TEST_CACHE, shared by
 * both builds: tests/run.sh), else in the build dir. */
static inline vk_backend_opts vt_opts(void)
{
    static char path[512];
    vk_backend_opts o;
    vk_backend_opts_init(&o);
    const char *nv = getenv("GC_VK_TEST_NO_VALIDATION");
    o.validation = !(nv && !strcmp(nv, "1"));
    const char *c = getenv("GC_TEST_CACHE"), *b = getenv("B");
    if (c && *c) snprintf(path, sizeof path, "%s/test-vk-pipelines.bin", c);
    else snprintf(path, sizeof path, "%s/test-vk-pipelines.bin", b ? b : "build");
    o.cache_path = path;
    return o;
}

/* Whether the loader finds at least one Vulkan device (no validation layer:
 * this only counts devices). */
static inline bool vt_have_device(void)
{
    vk_instance *vi = NULL;
    gc_err err = {0};
    if (vk_instance_create(&vi, false, &err)) {
        printf("no Vulkan instance: %s\n", err.msg);
        return false;
    }
    bool any = vi->n_phys > 0;
    vk_instance_destroy(vi);
    return any;
}

/* First in main() of a test that needs a device: skip without one (fail
 * under CI=true). */
#define VT_NEED_DEVICE() do { \
    if (!vt_have_device()) \
        return test_skip_all_ci("the Vulkan device tests", "no Vulkan device: install mesa-vulkan-drivers (lavapipe)"); \
} while (0)

static inline backend *vt_backend(const vk_backend_opts *o)
{
    backend *be = NULL;
    gc_err err = {0};
    int rc = vk_backend_create(o, &be, &err);
    CHECK(rc == 0 && be, "vk_backend_create: %s", err.msg);
    return be;
}

static inline backend *vt_cpu(void)
{
    backend *be = NULL;
    gc_err err = {0};
    CHECK(ref_backend_create(&be, &err) == 0, "ref_backend_create: %s", err.msg);
    return be;
}

/* A weight of any type from host data (which must outlive the backends). */
static inline be_tensor *vt_weight(backend *be, const char *name, uint32_t type, uint64_t n_in, uint64_t n_out,
                                   int n_dims, const void *data)
{
    uint64_t rb = 0;
    gc_err err = {0};
    quant_row_bytes(type, n_in, &rb, &err);
    gguf_tensor g = { .name = { name, strlen(name) }, .n_dims = (uint32_t)n_dims, .ne = { n_in, n_out, 1, 1 },
                      .type = type, .n_bytes = rb * n_out, .data = data };
    be_tensor *t = NULL;
    CHECK(be->weight(be, &g, &t, &err) == 0, "weight %s: %s", name, err.msg);
    return t;
}

/* An activation of n floats holding init (NULL: zeros). The interface has no
 * host upload, so the values come in as a one-row F32 table, embedded at
 * scale 1 (exact). */
static inline be_tensor *vt_act(backend *be, uint64_t n, const float *init)
{
    be_tensor *t = NULL;
    gc_err err = {0};
    CHECK(be->activation(be, n, "act", &t, &err) == 0, "activation: %s", err.msg);
    if (t && init) {
        be_tensor *w = vt_weight(be, "init", GT_F32, n, 1, 2, init);
        int32_t tok = 0;
        CHECK(be->begin_step(be, &err) == 0, "%s", err.msg);
        be->embed(be, t, w, &tok, 1, (int)n, 1.0f);
        CHECK(be->end_step(be, &err) == 0, "init: %s", err.msg);
    }
    return t;
}

static inline void vt_fetch(backend *be, be_tensor *t, uint64_t n, float *host)
{
    gc_err err = {0};
    CHECK(be->begin_step(be, &err) == 0, "%s", err.msg);
    be->read(be, t, 0, n, host);
    CHECK(be->end_step(be, &err) == 0, "read: %s", err.msg);
}

static inline void vt_rand(float *x, size_t n, float amp)
{
    for (size_t i = 0; i < n; i++) x[i] = amp * test_rand_f();
}

static inline uint64_t vt_next_bits(void *user)
{
    (void)user;
    return test_rand_u64();
}

/* Random but well-formed weight data (quant_random_blocks) from the test's
 * seed, malloc'd. */
static inline void *vt_rand_weight(uint32_t type, uint64_t n_in, uint64_t n_out)
{
    uint64_t rb = 0;
    gc_err err = {0};
    if (quant_row_bytes(type, n_in, &rb, &err)) return NULL;
    void *d = malloc(rb * n_out);
    if (d && quant_random_blocks(type, n_in * n_out, vt_next_bits, NULL, d)) {
        free(d);
        return NULL;
    }
    return d;
}

static inline void vt_no_validation_messages(void)
{
    CHECK(vk_validation_messages() == 0, "%llu validation messages (printed above)",
          (unsigned long long)vk_validation_messages());
}

#endif
