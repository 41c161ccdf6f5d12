/* test_cpu_kernels.c: every matrix kernel and activation quantizer of the
 * native CPU backend (cpu/kernels.h), at every instruction-set level this CPU
 * runs, against the scalar reference dequantizers (model/quant.c).
 *
 * Generic on purpose: it walks the families (the extern cpu_fam_* symbols,
 * reached directly so each level is tested even where a higher one would be
 * chosen) and every kernel each lists, so a new kernel is covered without an
 * edit here. What it needs per weight type is only how to make valid random
 * blocks (make_row); a type it cannot make fails loudly.
 *
 * A kernel's result is compared with a double-precision product of the
 * dequantized weights and the dequantized activations the kernel itself was
 * given (d * q for the 8-bit formats), so the only error allowed is the
 * kernel's own float rounding: relative L2 <= 3e-5 (f32 sums of up to 2304
 * products: ~sqrt(2304) 2^-24 = 3e-6 per output, several times that where
 * an output partly cancels; a wrong index or scale is off by 1e-3 or far
 * more). For a kernel that multiplies weights rounded to bf16, the reference
 * rounds them too. Shapes are chosen not to be multiples of any tile, strides
 * are padded with junk the kernel must not read, and the output's padding
 * holds guard values it must not write.
 */
#include <math.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cpu/isa.h"
#include "cpu/kernels.h"
#include "cpu/repack.h"
#include "model/host_backend.h"
#include "model/quant.h"
#include "tests/test.h"

static const cpu_kernel_family *const all_fams[] = {
    &cpu_fam_portable_q32, &cpu_fam_portable_kq, &cpu_fam_portable_float,
    &cpu_fam_avx2_q32,     &cpu_fam_avx2_kq,     &cpu_fam_avx2_float,   &cpu_fam_avx2_deq,
    &cpu_fam_avx512_q32,   &cpu_fam_avx512_kq,   &cpu_fam_avx512_float,
    &cpu_fam_amx_bf16,
};
enum { N_FAMS = sizeof all_fams / sizeof all_fams[0] };

static cpu_isa cpu_level;

static const char *act_name(cpu_act a)
{
    return a == CPU_ACT_F32 ? "f32" : a == CPU_ACT_Q8_32 ? "q8_32" : a == CPU_ACT_Q8_K ? "q8_k"
         : a == CPU_ACT_BF16 ? "bf16" : "?";
}

static void *xmalloc(size_t n)
{
    void *p = malloc(n ? n : 1);
    if (!p) { fprintf(stderr, "out of memory\n"); exit(1); }
    return p;
}

static void rand_bytes(uint8_t *p, size_t n)
{
    for (size_t i = 0; i < n; i++) p[i] = (uint8_t)(test_rand_u64() >> 32);
}

static void put_u16(uint8_t *p, uint16_t v) { p[0] = (uint8_t)v; p[1] = (uint8_t)(v >> 8); }

/* Byte offsets of the f16 scales in a block of each quantized type; the other
 * bytes of these blocks are valid whatever they hold. -1 ends a list. */
static const int *f16_fields(uint32_t type)
{
    static const int at0[] = { 0, -1 }, at02[] = { 0, 2, -1 }, q6k[] = { 208, -1 };
    switch (type) {
    case GT_Q8_0: case GT_Q4_0: case GT_Q5_0: return at0;
    case GT_Q4_1: case GT_Q5_1: case GT_Q4_K: case GT_Q5_K: return at02;
    case GT_Q6_K: return q6k;
    default: return NULL;
    }
}

/* One row of n_in random values of `type` at p. Returns 0, -1 for a type the
 * test cannot make. Scales are finite and modest (|d| <= 0.05), floats in [-1, 1). */
static int make_row(uint32_t type, uint8_t *p, int n_in)
{
    switch (type) {
    case GT_F32:
        for (int i = 0; i < n_in; i++) { float f = test_rand_f(); memcpy(p + 4 * i, &f, 4); }
        return 0;
    case GT_F16:
        for (int i = 0; i < n_in; i++) put_u16(p + 2 * i, quant_f32_to_f16(test_rand_f()));
        return 0;
    case GT_BF16:
        for (int i = 0; i < n_in; i++) {
            float f = test_rand_f();
            uint32_t u;
            memcpy(&u, &f, 4);
            put_u16(p + 2 * i, (uint16_t)(u >> 16));
        }
        return 0;
    }
    const int *f16 = f16_fields(type);
    const quant_info *qi = quant_type_info(type);
    if (!f16 || !qi) return -1;
    for (int b = 0; b < n_in / (int)qi->block_elems; b++) {
        uint8_t *blk = p + (size_t)b * qi->block_bytes;
        rand_bytes(blk, qi->block_bytes);
        for (int i = 0; f16[i] >= 0; i++) put_u16(blk + f16[i], quant_f32_to_f16(0.05f * test_rand_f()));
    }
    return 0;
}

/* Row j of the activations: uniform, with big outliers in some rows, one
 * all-zero row and, where there are several blocks, one all-zero block. */
static void make_x(float *x, int n, int j, int n_x)
{
    for (int i = 0; i < n; i++) x[i] = test_rand_f();
    if (j % 3 == 1)
        for (int t = 0; t < 3; t++) x[test_rand_u64() % (uint64_t)n] *= 300.0f;
    if (n_x > 1 && j == n_x / 2) memset(x, 0, (size_t)n * sizeof *x);
    if (n >= 64 && j == 0) memset(x + 32, 0, 32 * sizeof *x);
}

/* The values an activation row in format act stands for (what the kernel was
 * really given). */
static void dequant_act(cpu_act act, const uint8_t *src, int n, double *y)
{
    if (act == CPU_ACT_F32) {
        for (int i = 0; i < n; i++) { float f; memcpy(&f, src + 4 * i, 4); y[i] = f; }
    } else if (act == CPU_ACT_BF16) {
        for (int i = 0; i < n; i++) y[i] = quant_bf16_to_f32((uint16_t)(src[2 * i] | (src[2 * i + 1] << 8)));
    } else if (act == CPU_ACT_Q8_32) {
        for (int b = 0; b < n / 32; b++) {
            cpu_q8_32 blk;
            memcpy(&blk, src + b * sizeof blk, sizeof blk);
            for (int i = 0; i < 32; i++) y[32 * b + i] = (double)blk.d * blk.q[i];
        }
    } else {
        for (int b = 0; b < n / 256; b++) {
            cpu_q8_k blk;
            memcpy(&blk, src + b * sizeof blk, sizeof blk);
            for (int i = 0; i < 256; i++) y[256 * b + i] = (double)blk.d * blk.q[i];
        }
    }
}

/* x rounded to bf16 in place, by the portable level's quantizer. */
static void round_bf16(float *x, int n)
{
    uint16_t *b = xmalloc((size_t)n * sizeof *b);
    cpu_quantizer_for(CPU_ACT_BF16, CPU_ISA_PORTABLE)(x, b, n);
    for (int i = 0; i < n; i++) x[i] = quant_bf16_to_f32(b[i]);
    free(b);
}

#define GUARD (-7777.25f)

static void check_gemm(const cpu_kernel_family *fam, const cpu_matmul_kernel *k, int n_in,
                       int n_rows, int n_x)
{
    const quant_info *qi = quant_type_info(k->type);
    size_t row_bytes = (size_t)(n_in / qi->block_elems) * qi->block_bytes;
    size_t w_stride = row_bytes + 5;                   /* odd: rows unaligned */
    /* An R16 kernel reads whole groups of 16 rows: the matrix has them, the
     * rows past n_rows included (their outputs must not be written). */
    bool r16 = k->layout == CPU_LAYOUT_R16;
    int n_w = r16 ? (n_rows + CPU_R16_ROWS - 1) / CPU_R16_ROWS * CPU_R16_ROWS : n_rows;
    size_t act_bytes = cpu_act_row_bytes(k->act, n_in);
    size_t xa_stride = act_bytes + 12;
    size_t out_stride = (size_t)n_rows + 3;
    cpu_quantize_fn quantize = cpu_quantizer_for(k->act, fam->isa);

    /* Exactly sized buffers, so ASan sees a read past the last row. */
    uint8_t *w = xmalloc((size_t)(n_w - 1) * w_stride + row_bytes);
    uint8_t *wp = r16 ? xmalloc((size_t)n_w * row_bytes) : NULL;   /* w repacked */
    uint8_t *xa = xmalloc((size_t)(n_x - 1) * xa_stride + act_bytes);
    size_t out_n = (size_t)(n_x - 1) * out_stride + (size_t)n_rows + 2;
    float *out = xmalloc(out_n * sizeof *out);
    float *x = xmalloc((size_t)n_in * sizeof *x);
    float *wf = xmalloc((size_t)n_w * n_in * sizeof *wf);
    double *xd = xmalloc((size_t)n_x * n_in * sizeof *xd);
    float *got = xmalloc((size_t)n_rows * n_x * sizeof *got);
    float *want = xmalloc((size_t)n_rows * n_x * sizeof *want);
    float *absw = xmalloc((size_t)n_rows * n_x * sizeof *absw);

    /* Padding bytes are random: a kernel that reads them gets a wrong (or NaN) result. */
    rand_bytes(w, (size_t)(n_w - 1) * w_stride + row_bytes);
    rand_bytes(xa, (size_t)(n_x - 1) * xa_stride + act_bytes);
    int made = 0;
    for (int r = 0; r < n_w; r++) {
        made |= make_row(k->type, w + r * w_stride, n_in);
        if (made) break;
        quant_dequant_row(k->type, w + r * w_stride, wf + (size_t)r * n_in, (uint64_t)n_in);
        if (k->bf16_weights) round_bf16(wf + (size_t)r * n_in, n_in);
    }
    CHECK(!made, "%s: the test cannot make %s weights", fam->name, quant_type_name(k->type));
    CHECK(quantize, "%s: no %s quantizer at level %s", fam->name, act_name(k->act), cpu_isa_name(fam->isa));
    if (made || !quantize) goto done;
    for (int j = 0; j < n_x; j++) {
        make_x(x, n_in, j, n_x);
        quantize(x, xa + j * xa_stride, n_in);
        dequant_act(k->act, xa + j * xa_stride, n_in, xd + (size_t)j * n_in);
    }
    for (size_t i = 0; i < out_n; i++) out[i] = GUARD;

    if (r16) {
        cpu_r16_pack(w, w_stride, wp, n_in, n_w / CPU_R16_ROWS);
        k->gemm(n_in, n_rows, n_x, wp, row_bytes, xa, xa_stride, out, out_stride);
    } else {
        k->gemm(n_in, n_rows, n_x, w, w_stride, xa, xa_stride, out, out_stride);
    }

    int guards_ok = 1;
    for (int j = 0; j < n_x; j++) {
        for (int r = 0; r < n_rows; r++) {
            double s = 0, sa = 0;
            for (int i = 0; i < n_in; i++) {
                double p = (double)wf[(size_t)r * n_in + i] * xd[(size_t)j * n_in + i];
                s += p;
                sa += fabs(p);
            }
            want[(size_t)j * n_rows + r] = (float)s;
            absw[(size_t)j * n_rows + r] = (float)sa;
            got[(size_t)j * n_rows + r] = out[j * out_stride + r];
        }
        size_t pad_end = j == n_x - 1 ? out_n : (size_t)(j + 1) * out_stride;
        for (size_t i = j * out_stride + (size_t)n_rows; i < pad_end; i++) guards_ok &= out[i] == GUARD;
    }
    /* Relative to the result, or where a few outputs cancel (a sum much
     * smaller than its terms), to a tenth of the sum of |terms|, which is
     * what float rounding scales with. */
    size_t n_out = (size_t)n_rows * n_x;
    double err = test_rel_l2(got, want, n_out), scale = 0, wn = 0;
    for (size_t i = 0; i < n_out; i++) { scale += (double)absw[i] * absw[i]; wn += (double)want[i] * want[i]; }
    double den = fmax(sqrt(wn), 0.1 * sqrt(scale));
    double rel = den > 0 ? err * sqrt(wn) / den : err;
    CHECK(rel <= 3e-5, "%s %s n_in=%d n_rows=%d n_x=%d: rel L2 error %.3g (%.3g of the result)", fam->name,
          quant_type_name(k->type), n_in, n_rows, n_x, rel, err);
    CHECK(guards_ok, "%s %s n_in=%d n_rows=%d n_x=%d: wrote outside the output rows", fam->name,
          quant_type_name(k->type), n_in, n_rows, n_x);
done:
    free(w); free(wp); free(xa); free(out); free(x); free(wf); free(xd); free(got); free(want); free(absw);
}

static void test_gemm(void)
{
    /* n_x from 16 up: the prefill paths (AMX tiles of 16 activation rows). */
    static const int rows[] = { 1, 3, 17, 67 }, xs[] = { 1, 2, 3, 4, 5, 6, 7, 13, 16, 21, 35 };
    int skipped[CPU_ISA_COUNT] = { 0 };
    for (int f = 0; f < N_FAMS; f++) {
        const cpu_kernel_family *fam = all_fams[f];
        if (fam->isa > cpu_level) {
            if (!skipped[fam->isa]++) {
                if (fam->isa > cpu_isa_detect())
                    printf("SKIP: %s kernels (this CPU has no %s)\n", cpu_isa_name(fam->isa), cpu_isa_name(fam->isa));
                else
                    printf("SKIP: %s kernels (GEMMA_CHAT_CPU_ISA=%s)\n", cpu_isa_name(fam->isa), cpu_isa_name(cpu_level));
            }
            continue;
        }
        for (int k = 0; k < fam->n_kernels; k++) {
            const cpu_matmul_kernel *kn = &fam->kernels[k];
            const quant_info *qi = quant_type_info(kn->type);
            CHECK(qi && qi->supported, "%s lists a kernel for unsupported type %u", fam->name, kn->type);
            if (!qi || !qi->supported) continue;
            int be = (int)qi->block_elems;
            /* One block, several blocks, and for the float types lengths that
             * are no multiple of any vector width, for the quantized types rows
             * longer than a kernel's chunk of repacked blocks. */
            int n_ins[3] = { be == 1 ? 32 : be, be == 1 ? 229 : be <= 32 ? 32 * 7 : be * 3,
                             be == 1 ? 7 : be <= 32 ? 32 * 67 : be * 9 };
            for (int a = 0; a < 3 && n_ins[a]; a++)
                for (size_t r = 0; r < sizeof rows / sizeof *rows; r++) {
                    for (size_t j = 0; j < sizeof xs / sizeof *xs; j++)
                        if (xs[j] >= kn->min_x) check_gemm(fam, kn, n_ins[a], rows[r], xs[j]);
                    /* a prefill kernel's several passes over the activation rows */
                    if (kn->min_x > 1) check_gemm(fam, kn, n_ins[a], rows[r], 300);
                }
        }
    }
}

/* ---- quantizers: every level's against the portable one ---- */

/* Each level's 8-bit blocks against the portable level's (ref), and against
 * x itself: round to nearest puts every value within half a step of x; over a
 * row without outliers that is also a small relative error. */
static void check_q8_32(const char *name, const float *x, const uint8_t *got, const uint8_t *ref, int n,
                        int outliers)
{
    double num = 0, den = 0;
    int bad_d = 0, bad_q = 0, bad_s = 0, bad_zero = 0, far = 0;
    for (int b = 0; b < n / 32; b++) {
        cpu_q8_32 g, r;
        memcpy(&g, got + b * sizeof g, sizeof g);
        memcpy(&r, ref + b * sizeof r, sizeof r);
        bad_d += !(fabsf(g.d - r.d) <= 1e-6f * fabsf(r.d));
        int sum = 0, zero = 1;
        for (int i = 0; i < 32; i++) {
            bad_q += abs(g.q[i] - r.q[i]) > 1;
            sum += g.q[i];
            zero &= x[32 * b + i] == 0;
            double e = (double)g.d * g.q[i] - x[32 * b + i];
            far += fabs(e) > 0.50001 * g.d;
            num += e * e;
            den += (double)x[32 * b + i] * x[32 * b + i];
        }
        bad_s += !(fabs(g.s - (double)g.d * sum) <= 1e-6 * fabs((double)g.d * sum) + 1e-30);
        if (zero) bad_zero += g.d != 0 || g.s != 0;
    }
    CHECK(!bad_d && !bad_q && !bad_s && !bad_zero, "%s q8_32: %d blocks' d, %d q, %d s differ; %d zero blocks not zero",
          name, bad_d, bad_q, bad_s, bad_zero);
    CHECK(!far, "%s q8_32: %d values further than half a step from x", name, far);
    double rel = den > 0 ? sqrt(num / den) : sqrt(num);
    CHECK(outliers || rel <= 1e-2, "%s q8_32: quantization error %.3g", name, rel);
}

static void check_q8_k(const char *name, const float *x, const uint8_t *got, const uint8_t *ref, int n,
                       int outliers)
{
    double num = 0, den = 0;
    int bad_d = 0, bad_q = 0, bad_sum = 0, far = 0;
    for (int b = 0; b < n / 256; b++) {
        cpu_q8_k g, r;
        memcpy(&g, got + b * sizeof g, sizeof g);
        memcpy(&r, ref + b * sizeof r, sizeof r);
        bad_d += !(fabsf(g.d - r.d) <= 1e-6f * fabsf(r.d));
        for (int j = 0; j < 16; j++) {
            int sum = 0;
            for (int i = 16 * j; i < 16 * j + 16; i++) {
                bad_q += abs(g.q[i] - r.q[i]) > 1;
                sum += g.q[i];
                double e = (double)g.d * g.q[i] - x[256 * b + i];
                far += fabs(e) > 0.50001 * g.d;
                num += e * e;
                den += (double)x[256 * b + i] * x[256 * b + i];
            }
            bad_sum += g.bsum[j] != sum;
        }
    }
    CHECK(!bad_d && !bad_q && !bad_sum, "%s q8_k: %d blocks' d, %d q, %d bsum differ", name, bad_d, bad_q, bad_sum);
    CHECK(!far, "%s q8_k: %d values further than half a step from x", name, far);
    double rel = den > 0 ? sqrt(num / den) : sqrt(num);
    CHECK(outliers || rel <= 1e-2, "%s q8_k: quantization error %.3g", name, rel);
}

/* bf16: every level's bits the portable level's, each value within 2^-8 of x. */
static void check_bf16(const char *name, const float *x, const uint8_t *got, const uint8_t *ref, int n)
{
    int differ = 0, far = 0;
    for (int i = 0; i < n; i++) {
        uint16_t g = (uint16_t)(got[2 * i] | (got[2 * i + 1] << 8));
        differ += g != (uint16_t)(ref[2 * i] | (ref[2 * i + 1] << 8));
        far += !(fabsf(quant_bf16_to_f32(g) - x[i]) <= 0x1p-8f * fabsf(x[i]));
    }
    CHECK(!differ, "%s bf16: %d values differ from the portable rounding", name, differ);
    CHECK(!far, "%s bf16: %d values further than 2^-8 from x", name, far);
}

static void test_quantizers(void)
{
    enum { N = 256 * 4 };
    float *x = xmalloc(N * sizeof *x);
    for (int rep = 0; rep < 4; rep++) {
        make_x(x, N, rep, 4);       /* rep 1: outliers; rep 2: all zero; rep 0: a zero block */
        if (rep == 3)               /* ties: halves of a block's step */
            for (int i = 0; i < 32; i++) x[i] = i == 0 ? 127.0f : (float)(i % 7) - 3.5f;
        for (int a = 0; a < CPU_ACT_COUNT; a++) {
            cpu_act act = (cpu_act)a;
            /* A format no family quantizes yet is not checked here; test_chooser
             * requires one for every format a kernel reads. */
            cpu_quantize_fn ref_fn = cpu_quantizer_for(act, CPU_ISA_PORTABLE);
            if (!ref_fn) continue;
            size_t bytes = cpu_act_row_bytes(act, N);
            uint8_t *ref = xmalloc(bytes), *got = xmalloc(bytes + 4);
            ref_fn(x, ref, N);
            for (int f = 0; f < N_FAMS; f++) {
                const cpu_kernel_family *fam = all_fams[f];
                if (fam->isa > cpu_level || !fam->quantize[act]) continue;
                /* Exactly sized and only 4-byte aligned, as a row inside a strided buffer may be. */
                uint8_t *dst = got + 4;
                memset(got, 0x55, bytes + 4);
                fam->quantize[act](x, dst, N);
                CHECK(got[0] == 0x55 && got[3] == 0x55, "%s %s: wrote before its row", fam->name, act_name(act));
                if (act == CPU_ACT_F32) CHECK(!memcmp(dst, x, bytes), "%s: f32 copy differs", fam->name);
                else if (act == CPU_ACT_Q8_32) check_q8_32(fam->name, x, dst, ref, N, rep == 1 || rep == 3);
                else if (act == CPU_ACT_BF16) check_bf16(fam->name, x, dst, ref, N);
                else check_q8_k(fam->name, x, dst, ref, N, rep == 1 || rep == 3);
            }
            free(ref);
            free(got);
        }
    }
    free(x);
}

/* r[i] = x[i] - d q[i] in f32, from the 8-bit row q (the two-term residual). */
static void residual_of(cpu_act act, const float *x, const uint8_t *q, float *r, int n)
{
    int bl = act == CPU_ACT_Q8_32 ? 32 : 256;
    size_t bb = act == CPU_ACT_Q8_32 ? sizeof(cpu_q8_32) : sizeof(cpu_q8_k);
    for (int b = 0; b < n / bl; b++) {
        float d;
        memcpy(&d, q + b * bb, sizeof d);   /* d comes first in both formats */
        const int8_t *qs = (const int8_t *)(q + b * bb + (act == CPU_ACT_Q8_32 ? offsetof(cpu_q8_32, q)
                                                                               : offsetof(cpu_q8_k, q)));
        for (int i = 0; i < bl; i++) r[bl * b + i] = x[bl * b + i] - d * qs[i];
    }
}

/* Every level's two-term converter: its first row as the one-term portable
 * converter writes it, its second the portable conversion of the residual
 * x - (the first row's values) taken in f32, at the separate place given
 * (guard bytes around both untouched); the two rows together hold x to
 * within half a step of the second. */
static void test_quantizers2(void)
{
    enum { N = 256 * 4 };
    float *x = xmalloc(N * sizeof *x), *r = xmalloc(N * sizeof *r);
    const cpu_act acts[] = { CPU_ACT_Q8_32, CPU_ACT_Q8_K };
    for (int rep = 0; rep < 4; rep++) {
        make_x(x, N, rep, 4);
        if (rep == 3)
            for (int i = 0; i < 32; i++) x[i] = i == 0 ? 127.0f : (float)(i % 7) - 3.5f;
        for (int a = 0; a < 2; a++) {
            cpu_act act = acts[a];
            size_t bytes = cpu_act_row_bytes(act, N);
            uint8_t *ref = xmalloc(bytes), *ref2 = xmalloc(bytes), *got = xmalloc(bytes + 8),
                    *got2 = xmalloc(bytes + 8);
            cpu_quantizer_for(act, CPU_ISA_PORTABLE)(x, ref, N);
            residual_of(act, x, ref, r, N);
            cpu_quantizer_for(act, CPU_ISA_PORTABLE)(r, ref2, N);
            CHECK(cpu_quantizer2_for(act, cpu_level), "no two-term %s converter at %s", act_name(act),
                  cpu_isa_name(cpu_level));
            for (int f = 0; f < N_FAMS; f++) {
                const cpu_kernel_family *fam = all_fams[f];
                if (fam->isa > cpu_level || !fam->quantize2[act]) continue;
                memset(got, 0x55, bytes + 8);
                memset(got2, 0x55, bytes + 8);
                fam->quantize2[act](x, got + 4, got2 + 4, N);
                CHECK(got[3] == 0x55 && got[bytes + 4] == 0x55 && got2[3] == 0x55 && got2[bytes + 4] == 0x55,
                      "%s %s two terms: wrote outside its rows", fam->name, act_name(act));
                CHECK(!memcmp(got + 4, ref, bytes), "%s %s two terms: the first row is not the portable one",
                      fam->name, act_name(act));
                CHECK(!memcmp(got2 + 4, ref2, bytes), "%s %s two terms: the second row is not the portable "
                      "conversion of the residual", fam->name, act_name(act));
                double y1[N], y2[N];
                dequant_act(act, got + 4, N, y1);
                dequant_act(act, got2 + 4, N, y2);
                int far = 0;
                for (int b = 0, bl = act == CPU_ACT_Q8_32 ? 32 : 256; b < N / bl; b++) {
                    float d2;
                    memcpy(&d2, got2 + 4 + (size_t)b * (bytes / (N / bl)), sizeof d2);
                    /* plus the f32 rounding of d q in the residual (a step that small arises where
                     * d q holds x almost exactly) */
                    for (int i = bl * b; i < bl * (b + 1); i++) {
                        far += fabs(y1[i] + y2[i] - x[i]) > 0.50001 * d2 + 0x1p-24 * fabs(y1[i]);
                    }
                }
                CHECK(!far, "%s %s two terms: %d values further from x than half the second row's step", fam->name,
                      act_name(act), far);
            }
            free(ref);
            free(ref2);
            free(got);
            free(got2);
        }
    }
    free(x);
    free(r);
}

/* ---- the R16 layout ---- */

/* Every row of a repacked matrix dequantizes bit for bit as its file row
 * does, and the layout keeps each group where its rows were. */
static void test_r16_layout(void)
{
    static const int n_ins[] = { 32, 96, 2048 };
    for (size_t a = 0; a < sizeof n_ins / sizeof *n_ins; a++) {
        int n_in = n_ins[a], groups = 3, rows = groups * CPU_R16_ROWS;
        size_t row_bytes = (size_t)n_in / 32 * 34;
        CHECK(CPU_R16_BLOCK == CPU_R16_ROWS * 34, "R16 block of %d bytes", CPU_R16_BLOCK);
        uint8_t *w = xmalloc((size_t)rows * row_bytes), *wp = xmalloc((size_t)rows * row_bytes);
        float *want = xmalloc((size_t)n_in * sizeof *want), *got = xmalloc((size_t)n_in * sizeof *got);
        for (int r = 0; r < rows; r++) make_row(GT_Q8_0, w + r * row_bytes, n_in);
        cpu_r16_pack(w, row_bytes, wp, n_in, groups);
        int bad = 0;
        for (int r = 0; r < rows; r++) {
            quant_dequant_row(GT_Q8_0, w + r * row_bytes, want, (uint64_t)n_in);
            cpu_r16_dequant_row(wp, row_bytes, (uint64_t)r, n_in, got);
            bad += memcmp(want, got, (size_t)n_in * sizeof *got) != 0;
        }
        CHECK(bad == 0, "R16 n_in %d: %d of %d rows dequantize differently", n_in, bad, rows);
        free(w); free(wp); free(want); free(got);
    }
}

/* ---- the chooser ---- */

/* The kernel of the highest level <= want that has type, among prefill
 * kernels (min_x > 1) or the others, in layout (any: CPU_LAYOUT_COUNT): the
 * first a family lists. */
static const cpu_matmul_kernel *expected_kernel(uint32_t type, int layout, int want, int prefill, int *level)
{
    const cpu_matmul_kernel *exp = NULL;
    *level = -1;
    for (int g = 0; g < N_FAMS; g++) {
        const cpu_kernel_family *fam = all_fams[g];
        if ((int)fam->isa > want || (int)fam->isa <= *level) continue;
        for (int j = 0; j < fam->n_kernels; j++) {
            const cpu_matmul_kernel *k = &fam->kernels[j];
            if (k->type == type && (k->min_x > 1) == prefill && (layout == CPU_LAYOUT_COUNT || (int)k->layout == layout)) {
                exp = k;
                *level = fam->isa;
                break;
            }
        }
    }
    return exp;
}

static void test_chooser(void)
{
    for (int f = 0; f < N_FAMS; f++)
        for (int k = 0; k < all_fams[f]->n_kernels; k++) {
            uint32_t type = all_fams[f]->kernels[k].type;
            for (int want = 0; want < CPU_ISA_COUNT; want++) {
                int best_level;
                const cpu_matmul_kernel *best = expected_kernel(type, CPU_LAYOUT_COUNT, want, 0, &best_level);
                CHECK(cpu_layout_for(type, (cpu_isa)want) == (best ? best->layout : CPU_LAYOUT_FILE),
                      "cpu_layout_for(%s, %s)", quant_type_name(type), cpu_isa_name((cpu_isa)want));
                for (int layout = 0; layout < CPU_LAYOUT_COUNT; layout++)
                for (int prefill = 0; prefill < 2; prefill++) {
                    int exp_level;
                    const cpu_matmul_kernel *exp = expected_kernel(type, layout, want, prefill, &exp_level);
                    if (prefill) {
                        CHECK(cpu_prefill_kernel_for(type, (cpu_layout)layout, (cpu_isa)want) == exp,
                              "cpu_prefill_kernel_for(%s, layout %d, %s)", quant_type_name(type), layout,
                              cpu_isa_name((cpu_isa)want));
                        continue;
                    }
                    cpu_quantize_fn q = NULL;
                    cpu_isa level = CPU_ISA_COUNT;
                    const cpu_matmul_kernel *got = cpu_kernel_for(type, (cpu_layout)layout, (cpu_isa)want, &q, &level);
                    CHECK(got == exp && (!exp || (int)level == exp_level), "cpu_kernel_for(%s, %s): level %s, want %s",
                          quant_type_name(type), cpu_isa_name((cpu_isa)want), cpu_isa_name(level),
                          cpu_isa_name((cpu_isa)exp_level));
                    if (exp) CHECK(q && q == cpu_quantizer_for(exp->act, (cpu_isa)exp_level),
                                   "cpu_kernel_for(%s, %s): quantizer", quant_type_name(type),
                                   cpu_isa_name((cpu_isa)want));
                }
            }
        }
    for (int want = 0; want < CPU_ISA_COUNT; want++) {
        CHECK(!cpu_kernel_for(GT_Q2_K, CPU_LAYOUT_FILE, (cpu_isa)want, NULL, NULL), "a kernel for Q2_K");
        CHECK(!cpu_kernel_for(GT_COUNT + 5, CPU_LAYOUT_FILE, (cpu_isa)want, NULL, NULL), "a kernel for an unknown type");
        /* Every type has a kernel in the file's layout (matrices that cannot be repacked). */
        for (int f = 0; f < N_FAMS; f++)
            for (int k = 0; k < all_fams[f]->n_kernels; k++)
                if ((int)all_fams[f]->isa <= want)
                    CHECK(cpu_kernel_for(all_fams[f]->kernels[k].type, CPU_LAYOUT_FILE, (cpu_isa)want, NULL, NULL),
                          "no %s kernel in the file layout at %s", quant_type_name(all_fams[f]->kernels[k].type),
                          cpu_isa_name((cpu_isa)want));
        for (int f = 0; f < N_FAMS; f++)
            for (int k = 0; k < all_fams[f]->n_kernels; k++)
                CHECK(cpu_quantizer_for(all_fams[f]->kernels[k].act, (cpu_isa)want), "no %s quantizer at %s",
                      act_name(all_fams[f]->kernels[k].act), cpu_isa_name((cpu_isa)want));
    }
    /* The real Gemma 3 270M's types have a portable kernel. */
    static const uint32_t needed[] = { GT_F32, GT_Q8_0, GT_Q5_0 };
    for (size_t i = 0; i < sizeof needed / sizeof *needed; i++)
        CHECK(cpu_kernel_for(needed[i], CPU_LAYOUT_FILE, CPU_ISA_PORTABLE, NULL, NULL), "no portable %s kernel",
              quant_type_name(needed[i]));
}

/* Every family's f32 vector helpers (attention, GeGLU) against double, on
 * lengths that leave every tail, with guards after the outputs that none may
 * touch. Softmax with and without a cap (scores up to +-40 with scale 0.5:
 * the cap 8 bends them hard); wsum for 1..5 outputs (every tile shape) adds
 * to what out holds. GeGLU's inputs reach +-12, where 1 + tanh cancels. */
static void test_vec(void)
{
    enum { N = 300, NX = 5 };
    float a[N], b[N], y[N + 4], want[N];
    static float vm[N * N];
    static double wsum_want[NX * N];
    for (int i = 0; i < N; i++) { a[i] = test_rand_f(); b[i] = test_rand_f(); }
    for (int i = 0; i < N * N; i++) vm[i] = test_rand_f();
    const int lens[] = { 1, 7, 8, 15, 16, 17, 31, 33, 64, 256, 299 };
    for (int f = 0; f < N_FAMS; f++) {
        const cpu_kernel_family *fam = all_fams[f];
        if (fam->isa > cpu_level || !fam->softmax) continue;
        for (size_t li = 0; li < sizeof lens / sizeof *lens; li++) {
            int n = lens[li];
            for (int ci = 0; ci < 2; ci++) {
                double cap = ci ? 8.0 : 0.0, mx = -INFINITY, sum = 0, c[N];
                for (int i = 0; i < n; i++) {
                    c[i] = 0.5 * 40.0 * a[i];
                    if (cap > 0) c[i] = cap * tanh(c[i] / cap);
                    if (c[i] > mx) mx = c[i];
                }
                for (int i = 0; i < n; i++) sum += exp(c[i] - mx);
                for (int i = 0; i < N + 4; i++) y[i] = i >= n ? 12345.0f : 40.0f * a[i];
                for (int i = 0; i < n; i++) want[i] = (float)(exp(c[i] - mx) / sum);
                fam->softmax(y, n, 0.5f, (float)cap);
                CHECK(test_rel_l2(y, want, (size_t)n) <= 1e-5, "%s softmax n %d cap %g: rel %g", fam->name, n, cap,
                      test_rel_l2(y, want, (size_t)n));
                int guard = 1;
                for (int i = n; i < N + 4; i++) guard &= y[i] == 12345.0f;
                CHECK(guard, "%s softmax n %d wrote past the end", fam->name, n);
            }
            /* n_x outputs of n columns over 37 rows of V (row stride N), p rows of stride 41. */
            for (int nx = 1; nx <= NX; nx++) {
                enum { T = 37, PS = 41, OS = N + 1 };
                float p[NX * PS], o[NX * OS + 4];
                for (int i = 0; i < NX * PS; i++) p[i] = test_rand_f();
                for (int i = 0; i < NX * OS + 4; i++) o[i] = i < nx * OS && i % OS < n ? b[i % OS] : 12345.0f;
                for (int x = 0; x < nx; x++)
                    for (int cc = 0; cc < n; cc++) {
                        double d = b[cc];
                        for (int t = 0; t < T; t++) d += (double)p[x * PS + t] * vm[t * N + cc];
                        wsum_want[x * N + cc] = d;
                    }
                fam->wsum(nx, T, n, p, PS, vm, N, o, OS);
                int close = 1, guard = 1;
                for (int x = 0; x < nx; x++)
                    for (int cc = 0; cc < OS; cc++) {
                        float g = o[x * OS + cc];
                        if (cc < n) {
                            double w = wsum_want[x * N + cc];
                            close &= fabs(g - w) <= 1e-5 * (1 + fabs(w));
                        } else {
                            guard &= g == 12345.0f;
                        }
                    }
                for (int i = nx * OS; i < NX * OS + 4; i++) guard &= o[i] == 12345.0f;
                CHECK(close, "%s wsum n_x %d n %d: a value off", fam->name, nx, n);
                CHECK(guard, "%s wsum n_x %d n %d wrote outside its outputs", fam->name, nx, n);
            }
            if (!fam->geglu) continue;
            int guard;
            for (int i = 0; i < N + 4; i++) y[i] = i >= n ? 12345.0f : 12.0f * a[i];
            for (int i = 0; i < n; i++) {
                double x = y[i], t = tanh(0.79788456080286535588 * (x + 0.044715 * x * x * x));
                want[i] = (float)(0.5 * x * (1.0 + t) * b[i]);
            }
            fam->geglu(y, b, n);
            /* Per value, relative, with a floor at 1e-7 of |x u|: for very negative x the
             * exponent -2v is large and its f32 rounding alone moves e^(-2v) by ~1e-5
             * relative, on values 1e-9 or less of x u (as libm's tanhf form does). */
            int close = 1;
            for (int i = 0; i < n; i++) {
                double xu = fabs(12.0 * a[i] * b[i]);
                close &= !isnan(y[i]) && fabs(y[i] - want[i]) <= 2e-6 * fabs(want[i]) + 1e-7 * xu;
            }
            CHECK(close, "%s geglu n %d: a value off by more than 2e-6 relative", fam->name, n);
            guard = 1;
            for (int i = n; i < N + 4; i++) guard &= y[i] == 12345.0f;
            CHECK(guard, "%s geglu n %d wrote past the end", fam->name, n);
        }
    }
    cpu_vec_ops v = cpu_vec_for(cpu_level);
    CHECK(v.softmax && v.wsum && v.geglu, "no vector helpers at %s", cpu_isa_name(cpu_level));
}

/* The plain statements of cpu_argmax_fn and cpu_first_at_least_fn. */
static uint64_t argmax_want(const float *s, uint64_t n)
{
    uint64_t best = 0;
    for (uint64_t i = 1; i < n; i++)
        if (s[i] > s[best] || (isnan(s[best]) && !isnan(s[i]))) best = i;
    return best;
}

static uint64_t first_at_least_want(const float *s, uint64_t n, float x)
{
    uint64_t i = 0;
    while (i < n && !(s[i] >= x)) i++;
    return i;
}

/* The helpers of a step's serial ops at every level: rmsnorm against double
 * (in place and not, with add; guards after y), argmax and first_at_least
 * against the plain loops, on lengths that leave every tail, with the
 * maximum in the tail, ties across lanes and accumulators, NaNs (first,
 * everywhere, all) and -inf (all, and mixed with NaN); RoPE's rotation. */
static void test_vec_step(void)
{
    enum { N = 1200 };
    static float a[N], w[N], y[N + 4], s[N];
    for (int i = 0; i < N; i++) { a[i] = 3 * test_rand_f(); w[i] = test_rand_f(); }
    const int lens[] = { 1, 5, 8, 15, 16, 17, 31, 33, 63, 64, 65, 127, 128, 129, 300, 1152, 1199 };
    for (int f = 0; f < N_FAMS; f++) {
        const cpu_kernel_family *fam = all_fams[f];
        if (fam->isa > cpu_level || !fam->rmsnorm) continue;
        CHECK(fam->argmax && fam->first_at_least, "%s: rmsnorm without argmax helpers", fam->name);
        if (!fam->argmax || !fam->first_at_least) continue;
        for (size_t li = 0; li < sizeof lens / sizeof *lens; li++) {
            int n = lens[li];
            for (int mode = 0; mode < 3; mode++) {   /* y = norm, y = x (in place), y += norm */
                double ss = 0;
                for (int i = 0; i < n; i++) ss += (double)a[i] * a[i];
                double k = 1 / sqrt(ss / n + 1e-6);
                for (int i = 0; i < N + 4; i++) y[i] = i < n ? (mode == 1 ? a[i] : w[(i + 7) % N]) : 12345.0f;
                double want[N];
                for (int i = 0; i < n; i++) want[i] = (mode == 2 ? y[i] : 0) + a[i] * k * w[i];
                fam->rmsnorm(y, mode == 1 ? y : a, w, n, 1e-6f, mode == 2);
                int close = 1, guard = 1;
                for (int i = 0; i < n; i++) close &= fabs(y[i] - want[i]) <= 1e-6 * (fabs(want[i]) + fabs(a[i] * k * w[i]));
                for (int i = n; i < N + 4; i++) guard &= y[i] == 12345.0f;
                CHECK(close, "%s rmsnorm n %d mode %d: a value off", fam->name, n, mode);
                CHECK(guard, "%s rmsnorm n %d wrote past the end", fam->name, n);
            }
            for (int c = 0; c < 9; c++) {
                for (int i = 0; i < n; i++) s[i] = c == 6 ? -INFINITY : c == 7 ? NAN : 40 * test_rand_f();
                if (c == 1) s[n - 1] = 1000;                            /* the maximum in the tail */
                if (c == 2) for (int i = 0; i < n; i += 5) s[i] = 500;  /* ties in many lanes */
                if (c == 3) { s[0] = NAN; if (n > 3) s[n / 2] = NAN; }
                if (c == 4) for (int i = 0; i < n; i++) s[i] = (float)(i % 3);   /* ties everywhere */
                if (c == 5) s[n / 3] = INFINITY;
                if (c == 8) for (int i = 0; i < n; i++) s[i] = i % 2 ? -INFINITY : NAN;
                uint64_t got = fam->argmax(s, (uint64_t)n), want = argmax_want(s, (uint64_t)n);
                CHECK(got == want, "%s argmax n %d case %d: %llu, want %llu", fam->name, n, c,
                      (unsigned long long)got, (unsigned long long)want);
                float thr[3] = { s[want], 20.0f, 1e9f };
                for (int t = 0; t < 3; t++) {
                    uint64_t g = fam->first_at_least(s, (uint64_t)n, thr[t]), e = first_at_least_want(s, (uint64_t)n, thr[t]);
                    CHECK(g == e, "%s first_at_least n %d case %d x %g: %llu, want %llu", fam->name, n, c, thr[t],
                          (unsigned long long)g, (unsigned long long)e);
                }
            }
        }
    }
    /* RoPE's rotation: hb_rope_rotate's floats exactly, for half widths that
     * leave every tail, three vectors at a time, nothing written past them. */
    const int halves[] = { 1, 3, 4, 5, 8, 20, 64, 128 };
    for (int f = 0; f < N_FAMS; f++) {
        const cpu_kernel_family *fam = all_fams[f];
        if (fam->isa > cpu_level || !fam->rope) continue;
        for (size_t hi = 0; hi < sizeof halves / sizeof *halves; hi++) {
            int half = halves[hi];
            double c[128], sn[128];
            for (int i = 0; i < half; i++) {
                double th = 3 * test_rand_f() + i;
                c[i] = cos(th);
                sn[i] = sin(th);
            }
            float got[3 * 256 + 4], want[3 * 256 + 4];
            for (int i = 0; i < 3 * 256 + 4; i++) got[i] = want[i] = i < 6 * half ? 4 * test_rand_f() : 12345.0f;
            fam->rope(got, 3, half, c, sn);
            hb_rope_rotate(want, 3, half, c, sn);
            CHECK(!memcmp(got, want, sizeof got), "%s rope half %d: not hb_rope_rotate's floats", fam->name, half);
        }
    }
    cpu_vec_ops v = cpu_vec_for(cpu_level);
    CHECK(v.rmsnorm && v.argmax && v.first_at_least && v.rope, "no step helpers at %s", cpu_isa_name(cpu_level));
}

int main(void)
{
    test_seed_from_env();
    /* GEMMA_CHAT_CPU_ISA lowers the levels tested, as it lowers the
     * backend's: a way to see this CPU behave like an older one. */
    const char *why = NULL;
    if (cpu_isa_choose(&cpu_level, &why)) {
        fprintf(stderr, "%s\n", why);
        return 2;
    }
    fprintf(stderr, "cpu level: %s (detected %s)\n", cpu_isa_name(cpu_level), cpu_isa_name(cpu_isa_detect()));
    TEST_RUN(test_r16_layout);
    TEST_RUN(test_chooser);
    TEST_RUN(test_quantizers);
    TEST_RUN(test_quantizers2);
    TEST_RUN(test_gemm);
    TEST_RUN(test_vec);
    TEST_RUN(test_vec_step);
    return test_summary();
}
