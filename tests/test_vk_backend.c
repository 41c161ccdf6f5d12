/* test_vk_backend: the Vulkan backend's machinery around the kernels, with
 * the validation layer on: tables split across buffers (a tiny
 * maxStorageBufferRange forced through a test hook), uploads through the
 * staging buffer, barriers only between dependent dispatches, the pipeline
 * cache file, KV slots to and from the host, misuse and fault reports (out of memory, device loss), the
 * model-does-not-fit check, and device enumeration. */
#include <math.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/fault.h"
#include "tests/vk_testlib.h"
#include "vk/vk_pipe.h"

/* W @ x and an embedding through a backend whose buffers may hold only 8 KiB:
 * every table is split into many pieces; results must match the CPU. */
static void split_case(bool staging)
{
    vk_backend_opts o = vt_opts();
    o.hooks.max_storage_range = 8192;
    o.hooks.force_staging = staging;
    backend *v = vt_backend(&o), *c = vt_cpu();
    if (!v || !c) return;
    const struct { uint32_t type; uint64_t n_in, n_out; } ws[] = {
        { GT_F32, 64, 200 }, { GT_Q8_0, 256, 100 }, { GT_Q6_K, 256, 90 }, { GT_Q4_1, 320, 150 },
        { GT_Q5_0, 96, 300 },   /* tiled in 64-row tiles (3 units: one lane per row), 3 pieces */
    };
    for (int i = 0; i < 5; i++) {
        void *wd = vt_rand_weight(ws[i].type, ws[i].n_in, ws[i].n_out);
        be_tensor *wv = vt_weight(v, "w", ws[i].type, ws[i].n_in, ws[i].n_out, 2, wd);
        be_tensor *wc = vt_weight(c, "w", ws[i].type, ws[i].n_in, ws[i].n_out, 2, wd);
        for (int rows = 1; rows <= 5; rows += 4) {   /* matrix-vector, then tiled kernel */
            uint64_t ni = rows * ws[i].n_in, no = rows * ws[i].n_out;
            float *x = malloc(ni * 4), *a = malloc(no * 4), *b = malloc(no * 4);
            vt_rand(x, ni, 1);
            be_tensor *xv = vt_act(v, ni, x), *xc = vt_act(c, ni, x), *dv = vt_act(v, no, NULL), *dc = vt_act(c, no, NULL);
            gc_err e = {0};
            CHECK(v->begin_step(v, &e) == 0 && c->begin_step(c, &e) == 0, "%s", e.msg);
            v->matmul(v, dv, wv, xv, rows, (int)ws[i].n_in, (int)ws[i].n_out);
            c->matmul(c, dc, wc, xc, rows, (int)ws[i].n_in, (int)ws[i].n_out);
            v->read(v, dv, 0, no, b);
            c->read(c, dc, 0, no, a);
            CHECK(v->end_step(v, &e) == 0, "split matmul: %s", e.msg);
            CHECK(c->end_step(c, &e) == 0, "%s", e.msg);
            double err = test_rel_l2(b, a, no);
            CHECK(err <= 2e-5, "split %s matmul rows %d (staging %d): rel err %.3g", quant_type_name(ws[i].type),
                  rows, staging, err);
            free(x); free(a); free(b);
        }
        /* rows from the first, a middle and the last piece */
        int32_t toks[3] = { (int32_t)ws[i].n_out - 1, 0, (int32_t)ws[i].n_out / 2 };
        uint64_t n = 3 * ws[i].n_in;
        float *a = malloc(n * 4), *b = malloc(n * 4);
        be_tensor *dv = vt_act(v, n, NULL), *dc = vt_act(c, n, NULL);
        gc_err e = {0};
        CHECK(v->begin_step(v, &e) == 0 && c->begin_step(c, &e) == 0, "%s", e.msg);
        v->embed(v, dv, wv, toks, 3, (int)ws[i].n_in, 0.5f);
        c->embed(c, dc, wc, toks, 3, (int)ws[i].n_in, 0.5f);
        v->read(v, dv, 0, n, b);
        c->read(c, dc, 0, n, a);
        CHECK(v->end_step(v, &e) == 0, "split embed: %s", e.msg);
        CHECK(c->end_step(c, &e) == 0, "%s", e.msg);
        double err = test_rel_l2(b, a, n);
        CHECK(err <= 1e-6, "split %s embed: rel err %.3g", quant_type_name(ws[i].type), err);
        free(a); free(b); free(wd);
    }
    vk_backend_stats st;
    vk_backend_stats_get(v, &st);
    CHECK(st.max_pieces >= 5, "tables were split into at most %u pieces", st.max_pieces);
    /* an activation beyond the (forced) buffer range is refused by name */
    be_tensor *big = NULL;
    gc_err e = {0};
    CHECK(v->activation(v, 4096, "logits", &big, &e) != 0, "oversized activation accepted");
    CHECK_CONTAINS(e.msg, "logits");
    CHECK_CONTAINS(e.msg, "maxStorageBufferRange");

    /* KV slots round-trip through kv_write and kv_read; the 8 KiB range makes
     * kv_read take several steps (a group of slots that fits the arena each). */
    enum { CTX = 40, ROW = 2 * 32 };
    CHECK(v->kv_cache(v, 2, CTX, NULL, 2, 32, &e) == 0, "%s", e.msg);
    size_t bytes = (size_t)CTX * ROW * 4;   /* enough for f32 or f16 values */
    uint8_t *k = malloc(bytes), *vv = malloc(bytes), *rk = malloc(bytes), *rv = malloc(bytes);
    for (size_t i = 0; i < bytes; i++) { k[i] = (uint8_t)(i * 7 + 1); vv[i] = (uint8_t)(i * 13 + 5); }
    vk_backend_stats_get(v, &st);
    int vb = st.kv_f16 ? 2 : 4;
    uint64_t steps0 = st.steps;
    CHECK(v->kv_write(v, 1, 3, CTX - 3, k, vv, &e) == 0, "kv_write: %s", e.msg);
    CHECK(v->kv_read(v, 1, 3, CTX - 3, rk, rv, &e) == 0, "kv_read: %s", e.msg);
    size_t n = (size_t)(CTX - 3) * ROW * (size_t)vb;
    CHECK(!memcmp(k, rk, n) && !memcmp(vv, rv, n), "KV slots do not read back as written (%s)",
          staging ? "staging" : "mapped");
    vk_backend_stats_get(v, &st);
    CHECK(st.steps - steps0 >= 2, "kv_read of %zu bytes in %llu steps", 2 * n, (unsigned long long)(st.steps - steps0));
    CHECK(v->kv_read(v, 1, 30, 11, rk, rv, &e) != 0, "slots 30..40 of 40 accepted");
    CHECK_CONTAINS(e.msg, "outside its 40 slots");
    CHECK(v->begin_step(v, &e) == 0, "%s", e.msg);
    CHECK(v->kv_write(v, 0, 0, 1, k, vv, &e) != 0, "kv_write inside a step accepted");
    CHECK_CONTAINS(e.msg, "inside a step");
    CHECK(v->end_step(v, &e) == 0, "%s", e.msg);
    free(k); free(vv); free(rk); free(rv);
    v->destroy(v);
    c->destroy(c);
    vt_no_validation_messages();
}

static void test_split_tables(void) { split_case(false); }
static void test_split_tables_staging(void) { split_case(true); }

/* Staging uploads and zero-filled activations on a device-local path. */
static void test_staging(void)
{
    vk_backend_opts o = vt_opts();
    o.hooks.force_staging = true;
    backend *v = vt_backend(&o);
    if (!v) return;
    vk_backend_stats st;
    vk_backend_stats_get(v, &st);
    CHECK(!st.unified_memory, "staging forced");
    be_tensor *z = vt_act(v, 1000, NULL);
    float out[1000];
    for (int i = 0; i < 1000; i++) out[i] = 1.0f;
    vt_fetch(v, z, 1000, out);
    int nz = 0;
    for (int i = 0; i < 1000; i++) nz += out[i] != 0.0f;
    CHECK(nz == 0, "%d values of a fresh activation are not zero", nz);
    float x[300];
    vt_rand(x, 300, 5);
    be_tensor *t = vt_act(v, 300, x);
    vt_fetch(v, t, 300, out);
    CHECK(memcmp(out, x, sizeof x) == 0, "upload through staging then read back");
    v->destroy(v);
    vt_no_validation_messages();
}

/* Independent dispatches get no barrier between them; a dependent one does. */
static void test_barriers(void)
{
    vk_backend_opts o = vt_opts();
    backend *v = vt_backend(&o);
    if (!v) return;
    float wd[64 * 64], xd[64], nd[64];
    vt_rand(wd, 64 * 64, 1);
    vt_rand(xd, 64, 1);
    for (int i = 0; i < 64; i++) nd[i] = 1.0f;
    be_tensor *w1 = vt_weight(v, "w1", GT_F32, 64, 64, 2, wd), *w2 = vt_weight(v, "w2", GT_F32, 64, 64, 2, wd);
    be_tensor *norm = vt_weight(v, "norm", GT_F32, 64, 1, 1, nd);
    be_tensor *x = vt_act(v, 64, xd), *d1 = vt_act(v, 64, NULL), *d2 = vt_act(v, 64, NULL), *d3 = vt_act(v, 64, NULL);
    gc_err e = {0};
    CHECK(v->begin_step(v, &e) == 0, "%s", e.msg);
    v->matmul(v, d1, w1, x, 1, 64, 64);         /* reads x */
    v->matmul(v, d2, w2, x, 1, 64, 64);         /* independent: no barrier */
    v->rmsnorm(v, d1, d1, norm, 1, 64, 1e-6f);  /* reads d1 written above: barrier */
    v->matmul(v, d3, w1, d2, 1, 64, 64);        /* d2 was written before that barrier: none */
    CHECK(v->end_step(v, &e) == 0, "%s", e.msg);
    vk_backend_stats st;
    vk_backend_stats_get(v, &st);
    CHECK(st.last_dispatches == 4, "dispatches %llu", (unsigned long long)st.last_dispatches);
    CHECK(st.last_barriers == 2, "barriers %llu (step start + one read-after-write)", (unsigned long long)st.last_barriers);
    float out1[64], out3[64], ref3[64];
    vt_fetch(v, d1, 64, out1);
    vt_fetch(v, d3, 64, out3);
    double ss = 0;
    for (int i = 0; i < 64; i++) ss += (double)out1[i] * out1[i];
    CHECK_NEAR(ss / 64, 1.0, 1e-4);   /* d1 is normalized: it saw the product */
    /* d3 = W (W x) */
    float wx[64];
    for (int r = 0; r < 64; r++) { double s = 0; for (int k = 0; k < 64; k++) s += (double)wd[r * 64 + k] * xd[k]; wx[r] = (float)s; }
    for (int r = 0; r < 64; r++) { double s = 0; for (int k = 0; k < 64; k++) s += (double)wd[r * 64 + k] * wx[k]; ref3[r] = (float)s; }
    CHECK(test_rel_l2(out3, ref3, 64) <= 1e-5, "dependent matmul after independent ones");
    v->destroy(v);
    vt_no_validation_messages();
}

/* Misuse fails the step with a message naming the tensor; the backend stays usable. */
static void test_misuse(void)
{
    vk_backend_opts o = vt_opts();
    backend *v = vt_backend(&o);
    if (!v) return;
    float wd[32 * 8];
    vt_rand(wd, 32 * 8, 1);
    be_tensor *w = vt_weight(v, "blk.0.attn_q.weight", GT_F32, 32, 8, 2, wd);
    be_tensor *x = vt_act(v, 32, NULL), *d = vt_act(v, 8, NULL);
    gc_err e = {0};
    CHECK(v->begin_step(v, &e) == 0, "%s", e.msg);
    v->matmul(v, d, w, x, 1, 64, 8);
    CHECK(v->end_step(v, &e) != 0, "wrong n_in accepted");
    CHECK_CONTAINS(e.msg, "blk.0.attn_q.weight");
    int32_t tok = 9;
    CHECK(v->begin_step(v, &e) == 0, "%s", e.msg);
    v->embed(v, x, w, &tok, 1, 32, 1.0f);
    CHECK(v->end_step(v, &e) != 0, "token out of range accepted");
    CHECK_CONTAINS(e.msg, "token 9");
    be_tensor *kk = vt_act(v, 32, NULL), *vv = vt_act(v, 32, NULL);
    CHECK(v->begin_step(v, &e) == 0, "%s", e.msg);
    v->qk_rope_store(v, 0, x, kk, vv, NULL, NULL, 1, 1, 0, 10000.0f, 1.0f, 1e-6f);
    CHECK(v->end_step(v, &e) != 0, "qk_rope_store without a cache accepted");
    CHECK_CONTAINS(e.msg, "kv_cache");
    v->matmul(v, d, w, x, 1, 32, 8);
    CHECK(v->begin_step(v, &e) == 0, "%s", e.msg);
    CHECK(v->end_step(v, &e) == 0, "a good step after misuse: %s", e.msg);
    /* unsupported weight type */
    uint8_t q2k[84] = {0};
    gguf_tensor g = { .name = { "q2", 2 }, .n_dims = 2, .ne = { 256, 1, 1, 1 }, .type = GT_Q2_K, .n_bytes = 84, .data = q2k };
    be_tensor *t = NULL;
    CHECK(v->weight(v, &g, &t, &e) != 0, "Q2_K accepted");
    CHECK_CONTAINS(e.msg, "Q2_K");
    v->destroy(v);
    vt_no_validation_messages();
}

static void test_faults(void)
{
    /* out of memory while uploading: a clear error naming the tensor, clean teardown */
    vk_backend_opts o = vt_opts();
    backend *v = vt_backend(&o);
    if (!v) return;
    gc_fault_set("alloc:3");            /* the third buffer from now */
    float wd[64 * 64];
    vt_rand(wd, 64 * 64, 1);
    gc_err e = {0};
    int failed_at = -1;
    for (int i = 0; i < 10 && failed_at < 0; i++) {
        char name[32];
        snprintf(name, sizeof name, "blk.%d.ffn_up.weight", i);
        gguf_tensor g = { .name = { name, strlen(name) }, .n_dims = 2, .ne = { 64, 64, 1, 1 }, .type = GT_F32,
                          .n_bytes = sizeof wd, .data = wd };
        be_tensor *t;
        if (v->weight(v, &g, &t, &e)) failed_at = i;
    }
    gc_fault_set("");
    CHECK(failed_at >= 0, "injected out-of-memory never happened");
    CHECK_CONTAINS(e.msg, "VK_ERROR_OUT_OF_DEVICE_MEMORY");
    CHECK_CONTAINS(e.msg, "ffn_up");
    v->destroy(v);

    /* device loss at step 2: that step and every later one fail, no hang */
    o = vt_opts();
    v = vt_backend(&o);
    if (!v) return;
    gc_fault_set("lost:2");
    be_tensor *x = vt_act(v, 16, NULL);   /* step 1 (nothing recorded, it still counts) */
    (void)x;
    CHECK(v->begin_step(v, &e) == 0, "%s", e.msg);
    CHECK(v->end_step(v, &e) == 0, "step 1: %s", e.msg);
    CHECK(v->begin_step(v, &e) == 0, "%s", e.msg);
    CHECK(v->end_step(v, &e) != 0, "step 2 should report device loss");
    CHECK_CONTAINS(e.msg, "VK_ERROR_DEVICE_LOST");
    CHECK(v->begin_step(v, &e) != 0, "a step after device loss started");
    CHECK_CONTAINS(e.msg, "lost");
    v->destroy(v);

    /* the same through the environment (what app-level tests use) */
    setenv("GEMMA_CHAT_FAULT", "lost:1", 1);
    gc_fault_set(NULL);
    o = vt_opts();
    v = vt_backend(&o);
    if (!v) { unsetenv("GEMMA_CHAT_FAULT"); return; }
    CHECK(v->begin_step(v, &e) == 0, "%s", e.msg);
    CHECK(v->end_step(v, &e) != 0, "GEMMA_CHAT_FAULT=lost:1 had no effect");
    unsetenv("GEMMA_CHAT_FAULT");
    gc_fault_set(NULL);
    v->destroy(v);
    vt_no_validation_messages();
}

/* A model larger than the device memory is refused before any upload, with sizes. */
static void test_fit(void)
{
    gguf_tensor ts[2] = {
        { .name = { "token_embd.weight", 17 }, .n_dims = 2, .ne = { 1024, 2048, 1, 1 }, .type = GT_F32 },
        { .name = { "output_norm.weight", 18 }, .n_dims = 1, .ne = { 1024, 1, 1, 1 }, .type = GT_F32 },
    };
    gguf_file g = { .path = "big.gguf", .n_tensors = 2, .tensors = ts };
    uint64_t bytes;
    gc_err e = {0};
    CHECK(vk_model_weight_bytes(&g, &bytes, &e) == 0, "%s", e.msg);
    CHECK(bytes == 1024ull * 2048 * 4 + 1024 * 4, "weight bytes %llu", (unsigned long long)bytes);
    vk_backend_opts o = vt_opts();
    o.model = &g;
    gc_fault_set("mem:4");
    backend *v = NULL;
    CHECK(vk_backend_create(&o, &v, &e) != 0 && !v, "an 8 MiB model fit in 4 MiB");
    CHECK_CONTAINS(e.msg, "big.gguf");
    CHECK_CONTAINS(e.msg, "8 MiB");
    CHECK_CONTAINS(e.msg, "4 MiB");
    gc_fault_set("mem:64");
    v = vt_backend(&o);
    gc_fault_set("");
    if (v) v->destroy(v);
    vt_no_validation_messages();
}

/* The pipeline cache is written at destroy, read back, and a corrupt file
 * or one from another gemma-chat build is replaced rather than trusted; the
 * backend says its kernels are cold exactly when no usable file was there. */
static void test_pipeline_cache(void)
{
    char dir[] = "/tmp/gc-vk-cacheXXXXXX";
    CHECK(mkdtemp(dir) != NULL, "mkdtemp");
    char path[256];
    snprintf(path, sizeof path, "%s/sub/pipelines.bin", dir);
    vk_backend_opts o = vt_opts();
    o.cache_path = path;
    for (int round = 0; round < 4; round++) {
        if (round == 2) {   /* garbage in the cache file */
            FILE *f = fopen(path, "wb");
            if (f) { fputs("not a pipeline cache at all, not even close......", f); fclose(f); }
        }
        if (round == 3) {   /* another build: one bit of the build hash flipped */
            FILE *f = fopen(path, "r+b");
            int c = f && fseek(f, 8, SEEK_SET) == 0 ? fgetc(f) : EOF;
            CHECK(c != EOF && fseek(f, 8, SEEK_SET) == 0 && fputc(c ^ 1, f) != EOF, "flip the build hash");
            if (f) fclose(f);
        }
        backend *v = vt_backend(&o);
        if (!v) return;
        CHECK(v->kernels_cold == (round != 1), "round %d: kernels_cold %d", round, v->kernels_cold);
        be_tensor *t = vt_act(v, 64, NULL);
        gc_err e = {0};
        CHECK(v->begin_step(v, &e) == 0, "%s", e.msg);
        v->softcap(v, t, 64, 30.0f);
        CHECK(v->end_step(v, &e) == 0, "round %d: %s", round, e.msg);
        v->destroy(v);
        struct stat sb;
        CHECK(stat(path, &sb) == 0 && sb.st_size >= 32, "round %d: cache file written (%s)", round, path);
        FILE *f = fopen(path, "rb");
        uint32_t h[6] = {0};   /* ours: magic, version, build hash; then the driver's length and version */
        if (f) { CHECK(fread(h, 4, 6, f) == 6, "read header"); fclose(f); }
        uint64_t build = vk_pipe_build_hash();
        CHECK(h[0] == 0x43504347u && h[1] == 1 && !memcmp(&h[2], &build, 8), "round %d: our header %x %u", round,
              h[0], h[1]);
        CHECK(h[4] == 32 && h[5] == VK_PIPELINE_CACHE_HEADER_VERSION_ONE, "round %d: header %u %u", round, h[4], h[5]);
    }
    unlink(path);
    snprintf(path, sizeof path, "%s/sub", dir);
    rmdir(path);
    rmdir(dir);
    vt_no_validation_messages();
}

/* At least one device (main() has skipped, or failed under CI=true, without one). */
static void test_devices(void)
{
    vk_instance *vi = NULL;
    gc_err e = {0};
    vk_backend_opts o = vt_opts();
    CHECK(vk_instance_create(&vi, o.validation, &e) == 0, "%s", e.msg);
    if (!vi) return;
    CHECK(vi->n_phys >= 1, "no Vulkan device: install mesa-vulkan-drivers (lavapipe)");
    int idx = -1;
    CHECK(vk_device_pick(vi, -1, &idx, &e) == 0 && idx >= 0, "%s", e.msg);
    for (uint32_t i = 0; i < vi->n_phys; i++) {
        const vk_caps *c = &vi->caps[i];
        CHECK(c->name[0] != 0, "device %u has a name", i);
        CHECK(c->max_storage_range >= 1u << 27 || c->type != VK_PHYSICAL_DEVICE_TYPE_CPU, "lavapipe range");
        if (vk_device_rank(c->type) > vk_device_rank(vi->caps[idx].type))
            CHECK(0, "device %u (%s) outranks the pick %d", i, c->name, idx);
    }
    CHECK(vk_device_pick(vi, (int)vi->n_phys, &idx, &e) != 0, "--device past the end accepted");
    CHECK_CONTAINS(e.msg, "--device");
    vk_instance_destroy(vi);
    vt_no_validation_messages();
}

int main(void)
{
    VT_NEED_DEVICE();
    test_seed_from_env();
    TEST_RUN(test_devices);
    TEST_RUN(test_split_tables);
    TEST_RUN(test_split_tables_staging);
    TEST_RUN(test_staging);
    TEST_RUN(test_barriers);
    TEST_RUN(test_misuse);
    TEST_RUN(test_faults);
    TEST_RUN(test_fit);
    TEST_RUN(test_pipeline_cache);
    return test_summary();
}
