/* matvec_bench: times one weight matrix-vector product on the Vulkan backend,
 * the kernel decode spends most of its time in. Used to compare shader
 * variants back to back (docs/bench-results.md); not a test.
 *
 *   build/matvec_bench TYPE N_IN N_OUT [CALLS [ROWS [COPIES [GEGLU]]]]
 *
 * TYPE is a ggml type id (8 Q8_0, 6 Q5_0, 12 Q4_K, 14 Q6_K, ...). The weight
 * is random; COPIES > 1 uploads that many copies and cycles through them, so
 * that the weights come from memory instead of the CPU caches, as in a real
 * decode step. GEGLU 1 times the fused gate/up product (two weights of the
 * shape, gelu(gate) * up). Prints the best of 5 steps of CALLS products each.
 * Built by `make matvec-bench`; it reuses the Vulkan tests' helpers
 * (validation off). */
#include <stdio.h>
#include <time.h>

#include "base/clock.h"
#include "tests/vk_testlib.h"

int main(int argc, char **argv)
{
    if (argc < 4) {
        fprintf(stderr, "usage: %s TYPE N_IN N_OUT [CALLS [ROWS [COPIES [GEGLU]]]]\n", argv[0]);
        return 2;
    }
    uint32_t type = (uint32_t)atoi(argv[1]);
    uint64_t n_in = strtoull(argv[2], NULL, 10), n_out = strtoull(argv[3], NULL, 10);
    int calls = argc > 4 ? atoi(argv[4]) : 10, rows = argc > 5 ? atoi(argv[5]) : 1;
    int copies = argc > 6 ? atoi(argv[6]) : 1;
    bool geglu = argc > 7 && atoi(argv[7]) != 0;
    if (calls < 1 || rows < 1 || copies < 1 || copies > 64 || !quant_type_supported(type)) {
        fprintf(stderr, "%s: bad arguments (CALLS, ROWS >= 1; COPIES 1..64; a supported type)\n", argv[0]);
        return 2;
    }
    vk_backend_opts o = vt_opts();
    o.validation = false;
    backend *vk = vt_backend(&o);
    void *wd = vt_rand_weight(type, n_in, n_out);
    be_tensor *w[64];
    for (int c = 0; c < copies; c++) w[c] = vt_weight(vk, "w", type, n_in, n_out, 2, wd);
    be_tensor *up = geglu ? vt_weight(vk, "up", type, n_in, n_out, 2, wd) : NULL;
    float *x = malloc((size_t)rows * n_in * sizeof *x);
    vt_rand(x, (size_t)rows * n_in, 1);
    be_tensor *src = vt_act(vk, (uint64_t)rows * n_in, x), *dst = vt_act(vk, (uint64_t)rows * n_out, NULL);
    gc_err e = {0};
    double best = 1e30;
    for (int it = 0; it < 5; it++) {
        double t0 = gc_now_s();
        if (vk->begin_step(vk, &e)) break;
        for (int i = 0; i < calls; i++) {
            if (geglu) vk->matmul_geglu(vk, dst, w[i % copies], up, src, rows, (int)n_in, (int)n_out);
            else vk->matmul(vk, dst, w[i % copies], src, rows, (int)n_in, (int)n_out);
        }
        if (vk->end_step(vk, &e)) { fprintf(stderr, "%s\n", e.msg); return 1; }
        double dt = (gc_now_s() - t0) / calls;
        if (dt < best) best = dt;
    }
    printf("%s%s %llux%llu rows %d copies %d: %.3f ms/call %.2f Gweights/s\n", quant_type_name(type), geglu ? " geglu" : "",
           (unsigned long long)n_out, (unsigned long long)n_in, rows, copies, best * 1e3,
           (double)n_in * n_out * rows * (geglu ? 2 : 1) / best * 1e-9);
    free(x);
    free(wd);
    vk->destroy(vk);
    return test_failures ? 1 : 0;
}
