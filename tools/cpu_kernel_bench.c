/* cpu_kernel_bench: times the native CPU backend's matrix kernels (cpu/kernels.h)
 * one thread, every level this CPU runs, for the decode shape (one activation
 * row: GB/s of weights streamed) and a prefill shape (64 activation rows:
 * GOP/s, one multiply-add = 2 ops). Not a test; run it alone on the machine.
 *
 *   build/cpu_kernel_bench [TYPE [N_IN N_ROWS [N_X]]]
 *
 * TYPE is a type name (Q8_0, F32, ...) or "all" (default: the 270M's types on
 * 2048x640, then Q8_0 on the 262144 x 640 token embedding, which streams from
 * memory). Built by `make cpu-kernel-bench`.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "base/clock.h"
#include "cpu/isa.h"
#include "cpu/kernels.h"
#include "cpu/repack.h"
#include "model/quant.h"

static const cpu_kernel_family *const fams[] = {
    &cpu_fam_portable_q32, &cpu_fam_portable_kq, &cpu_fam_portable_float,
    &cpu_fam_avx2_q32,     &cpu_fam_avx2_kq,     &cpu_fam_avx2_float,   &cpu_fam_avx2_deq,
    &cpu_fam_avx512_q32,   &cpu_fam_avx512_kq,   &cpu_fam_avx512_float,
    &cpu_fam_amx_bf16,
};

/* Valid random blocks: random bytes with small f16 scales where the types keep them. */
static void fill_weights(uint32_t type, uint8_t *w, size_t bytes)
{
    uint64_t s = 88172645463325252ull;
    for (size_t i = 0; i < bytes; i++) {
        s ^= s << 13; s ^= s >> 7; s ^= s << 17;
        w[i] = (uint8_t)(s >> 24);
    }
    const quant_info *qi = quant_type_info(type);
    if (type == GT_F32 || type == GT_F16 || type == GT_BF16) {
        /* Normal floats of magnitude 0.25..1 (random bits would give
         * subnormals, which cost the FPU microcode assists). */
        size_t step = qi->block_bytes;
        for (size_t i = step - 1; i < bytes; i += step) w[i] = (uint8_t)((w[i] & 0x80) | 0x3e);
        return;
    }
    int off = type == GT_Q6_K ? 208 : 0;
    for (size_t b = 0; b + qi->block_bytes <= bytes; b += qi->block_bytes) {
        w[b + off] = 0x00; w[b + off + 1] = 0x20;            /* d = 2^-7 */
        if (type != GT_Q6_K && type != GT_Q8_0 && type != GT_Q4_0 && type != GT_Q5_0) {
            w[b + 2] = 0x00; w[b + 3] = 0x20;
        }
    }
}

static void bench(const cpu_kernel_family *fam, const cpu_matmul_kernel *k, int n_in, int n_rows, int n_x)
{
    const quant_info *qi = quant_type_info(k->type);
    if (n_in % (int)qi->block_elems) return;
    size_t row = (size_t)(n_in / qi->block_elems) * qi->block_bytes;
    size_t xrow = cpu_act_row_bytes(k->act, n_in);
    uint8_t *w = malloc(row * n_rows), *xa = malloc(xrow * n_x);
    float *x = malloc(sizeof(float) * n_in), *out = malloc(sizeof(float) * (size_t)n_rows * n_x);
    if (!w || !xa || !x || !out) { fprintf(stderr, "out of memory\n"); exit(1); }
    fill_weights(k->type, w, row * n_rows);
    if (k->layout == CPU_LAYOUT_R16) {   /* the same blocks, repacked as the backend does */
        if (n_rows % CPU_R16_ROWS) { free(w); free(xa); free(x); free(out); return; }
        uint8_t *p = malloc(row * n_rows);
        if (!p) { fprintf(stderr, "out of memory\n"); exit(1); }
        cpu_r16_pack(w, row, p, n_in, n_rows / CPU_R16_ROWS);
        free(w);
        w = p;
    }
    for (int i = 0; i < n_in; i++) x[i] = (float)((i * 7919) % 1000) / 500.0f - 1.0f;
    cpu_quantize_fn q = cpu_quantizer_for(k->act, fam->isa);
    for (int j = 0; j < n_x; j++) q(x, xa + j * xrow, n_in);
    k->gemm(n_in, n_rows, n_x, w, row, xa, xrow, out, n_rows);    /* warm up */
    double best = 1e30, t_end = gc_now_s() + 0.4;
    int calls = 0;
    while (gc_now_s() < t_end || calls < 3) {
        double t0 = gc_now_s();
        k->gemm(n_in, n_rows, n_x, w, row, xa, xrow, out, n_rows);
        double t = gc_now_s() - t0;
        if (t < best) best = t;
        calls++;
    }
    if (n_x == 1)
        printf("%-14s %-5s %-4s %6d x %-5d n_x=%-3d %8.1f us  %7.1f GB/s\n", fam->name, qi->name, k->layout == CPU_LAYOUT_R16 ? "r16" : "", n_rows, n_in,
               n_x, best * 1e6, (double)row * n_rows / best * 1e-9);
    else
        printf("%-14s %-5s %-4s %6d x %-5d n_x=%-3d %8.1f us  %7.1f GOP/s\n", fam->name, qi->name, k->layout == CPU_LAYOUT_R16 ? "r16" : "", n_rows, n_in,
               n_x, best * 1e6, 2.0 * n_in * n_rows * n_x / best * 1e-9);
    fflush(stdout);
    free(w); free(xa); free(x); free(out);
}

static void bench_type(const char *name, int n_in, int n_rows, const int *n_xs, int n_n_x)
{
    cpu_isa top = cpu_isa_detect();
    for (size_t f = 0; f < sizeof fams / sizeof *fams; f++) {
        if (fams[f]->isa > top) continue;
        for (int k = 0; k < fams[f]->n_kernels; k++) {
            const cpu_matmul_kernel *kn = &fams[f]->kernels[k];
            if (strcmp(name, "all") && strcmp(name, quant_type_name(kn->type))) continue;
            for (int i = 0; i < n_n_x; i++)
                if (n_xs[i] >= kn->min_x) bench(fams[f], kn, n_in, n_rows, n_xs[i]);
        }
    }
}

int main(int argc, char **argv)
{
    static const int both[] = { 1, 64 }, decode[] = { 1 };
    if (argc > 1) {
        int n_in = argc > 3 ? atoi(argv[2]) : 640, n_rows = argc > 3 ? atoi(argv[3]) : 2048;
        int n_x = argc > 4 ? atoi(argv[4]) : 0;
        if (n_in < 1 || n_rows < 1 || n_x < 0) {
            fprintf(stderr, "usage: %s [TYPE|all [N_IN N_ROWS [N_X]]]\n", argv[0]);
            return 2;
        }
        if (n_x) bench_type(argv[1], n_in, n_rows, &n_x, 1);
        else bench_type(argv[1], n_in, n_rows, both, 2);
        return 0;
    }
    static const char *const types[] = { "Q8_0", "Q5_0", "F32", "F16", "BF16", "Q4_0", "Q4_1", "Q5_1" };
    for (size_t t = 0; t < sizeof types / sizeof *types; t++) bench_type(types[t], 640, 2048, both, 2);
    bench_type("Q8_0", 640, 262144, decode, 1);
    return 0;
}
