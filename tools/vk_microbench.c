/* vk_microbench.c: kernel throughput of the Vulkan backend on the chosen
 * device, one line per case: weight bandwidth of the matrix-vector product
 * (what decode speed follows) per weight type, and GFLOP/s of the tiled
 * product (prefill). Not a test: numbers only.
 *
 *   cc -O2 -std=c11 -D_GNU_SOURCE -I. -Ibuild -o build/vk_microbench tools/vk_microbench.c \
 *      build/libgc.a -lvulkan -lm
 *   build/vk_microbench [--device N] [--size N_IN N_OUT]
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "model/quant.h"
#include "vk/vk_backend.h"

static double now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec + 1e-9 * t.tv_nsec;
}

static uint64_t rng = 88172645463325252ull;
static uint32_t rnd(void) { rng ^= rng << 13; rng ^= rng >> 7; rng ^= rng << 17; return (uint32_t)rng; }

/* Well-formed random blocks: random quants, small positive f16 scales. */
static void *rand_weight(uint32_t type, uint64_t n_in, uint64_t n_out, uint64_t *bytes)
{
    gc_err e = {0};
    uint64_t rb;
    if (quant_row_bytes(type, n_in, &rb, &e)) return NULL;
    *bytes = rb * n_out;
    uint8_t *d = malloc(*bytes);
    if (!d) return NULL;
    const quant_info *qi = quant_type_info(type);
    if (qi->block_elems == 1) {
        for (uint64_t i = 0; i < n_in * n_out; i++) {
            float f = (float)(rnd() % 2001) / 1000.0f - 1.0f;
            if (type == GT_F32) memcpy(d + 4 * i, &f, 4);
            else { uint16_t h = quant_f32_to_f16(f); memcpy(d + 2 * i, &h, 2); }
        }
        return d;
    }
    for (uint64_t i = 0; i < *bytes; i++) d[i] = (uint8_t)rnd();
    uint16_t s = quant_f32_to_f16(0.01f);
    for (uint64_t b = 0; b < *bytes / qi->block_bytes; b++) {
        uint8_t *blk = d + b * qi->block_bytes;
        if (type == GT_Q6_K) memcpy(blk + 208, &s, 2);
        else { memcpy(blk, &s, 2); if (type == GT_Q4_1 || type == GT_Q5_1 || type == GT_Q4_K || type == GT_Q5_K) memcpy(blk + 2, &s, 2); }
    }
    return d;
}

/* Runs `it` products of `rows` input rows in one step; returns seconds per product. */
static double run(backend *be, be_tensor *w, be_tensor *x, be_tensor *y, int rows, int n_in, int n_out, int it)
{
    gc_err e = {0};
    if (be->begin_step(be, &e)) { fprintf(stderr, "%s\n", e.msg); return -1; }
    be->matmul(be, y, w, x, rows, n_in, n_out);   /* warm-up: pipeline build */
    if (be->end_step(be, &e)) { fprintf(stderr, "%s\n", e.msg); return -1; }
    double t0 = now();
    if (be->begin_step(be, &e)) return -1;
    for (int i = 0; i < it; i++) be->matmul(be, y, w, x, rows, n_in, n_out);
    if (be->end_step(be, &e)) { fprintf(stderr, "%s\n", e.msg); return -1; }
    return (now() - t0) / it;
}

int main(int argc, char **argv)
{
    vk_backend_opts o;
    vk_backend_opts_init(&o);
    int n_in = 4096, n_out = 4096;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--device") && i + 1 < argc) o.device = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--size") && i + 2 < argc) { n_in = atoi(argv[++i]); n_out = atoi(argv[++i]); }
        else { fprintf(stderr, "usage: vk_microbench [--device N] [--size N_IN N_OUT]\n"); return 2; }
    }
    backend *be = NULL;
    gc_err e = {0};
    if (vk_backend_create(&o, &be, &e)) { fprintf(stderr, "%s\n", e.msg); return 1; }
    printf("device: %s\n", be->device_name);
    const uint32_t types[] = { GT_F16, GT_Q8_0, GT_Q4_0, GT_Q5_0, GT_Q4_K, GT_Q5_K, GT_Q6_K };
    const int prefill = 512;
    be_tensor *x = NULL, *y = NULL;
    if (be->activation(be, (uint64_t)prefill * n_in, "x", &x, &e) ||
        be->activation(be, (uint64_t)prefill * n_out, "y", &y, &e)) {
        fprintf(stderr, "%s\n", e.msg);
        be->destroy(be);
        return 1;
    }
    int rc = 0;
    for (size_t t = 0; t < sizeof types / sizeof *types; t++) {
        uint64_t bytes;
        void *wd = rand_weight(types[t], n_in, n_out, &bytes);
        if (!wd) continue;
        gguf_tensor g = { .name = { "w", 1 }, .n_dims = 2, .ne = { (uint64_t)n_in, (uint64_t)n_out, 1, 1 },
                          .type = types[t], .n_bytes = bytes, .data = wd };
        be_tensor *w = NULL;
        if (be->weight(be, &g, &w, &e)) { fprintf(stderr, "%s\n", e.msg); free(wd); rc = 1; continue; }
        double tv = run(be, w, x, y, 1, n_in, n_out, 20);
        double tm = run(be, w, x, y, prefill, n_in, n_out, 2);
        if (tv > 0 && tm > 0)
            printf("%-5s %dx%d  matvec %8.3f ms  %7.1f GB/s   matmat(%d rows) %8.2f ms  %8.1f GFLOP/s\n",
                   quant_type_name(types[t]), n_out, n_in, tv * 1e3, bytes / tv / 1e9, prefill, tm * 1e3,
                   2.0 * n_in * n_out * prefill / tm / 1e9);
        else rc = 1;
        free(wd);
    }
    be->destroy(be);
    return rc;
}
