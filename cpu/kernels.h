/* kernels.h: the native CPU backend's matrix kernels and how one is chosen.
 *
 * A weight matrix W is [n_rows][n_in] in its GGUF type, read straight from the
 * file mapping, or for Q8_0 at the avx512 and amx levels repacked at load into
 * groups of 16 rows (cpu_layout, cpu/repack.h). A product is computed against
 * activations that were first converted, once per product, to the format the
 * weight type asks for (cpu_act): 8-bit blocks for quantized weights (integer
 * dot products, f32 block scales), plain f32 rows for F32/F16/BF16 weights,
 * and bf16 rows for the prefill kernels of the amx level
 * (cpu_prefill_kernel_for), which a product of many activation rows uses
 * instead.
 *
 * Kernels come in families: one family = one instruction-set level x one group
 * of weight types, in its own source file (cpu/k_<isa>_<group>.c) compiled with
 * that level's flags. cpu/kernels.c is the one place that picks a family; no
 * kernel tests the CPU's features itself.
 */
#ifndef GC_CPU_KERNELS_H
#define GC_CPU_KERNELS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Instruction-set levels, lowest first. Each level implies the ones below. */
typedef enum cpu_isa {
    CPU_ISA_PORTABLE,   /* plain C, any CPU */
    CPU_ISA_AVX2,       /* AVX2 + FMA + F16C */
    CPU_ISA_AVX512,     /* AVX-512 F/BW/VL/DQ + VNNI (vpdpbusd), on top of AVX2 */
    CPU_ISA_AMX,        /* AMX-TILE + AMX-BF16 tile products and AVX512-BF16, on top of AVX-512
                           (the OS must grant the tile state: cpu/isa.c asks for it) */
    CPU_ISA_COUNT
} cpu_isa;

/* Activation formats. */
typedef enum cpu_act {
    CPU_ACT_F32,        /* float[n] */
    CPU_ACT_Q8_32,      /* cpu_q8_32[n / 32]: for Q8_0 Q4_0 Q4_1 Q5_0 Q5_1 weights */
    CPU_ACT_Q8_K,       /* cpu_q8_k[n / 256]: for Q4_K Q5_K Q6_K weights */
    CPU_ACT_BF16,       /* uint16_t[n], bf16 rounded to nearest even: the AMX prefill kernels */
    CPU_ACT_COUNT
} cpu_act;

/* Weight layouts a kernel reads. */
typedef enum cpu_layout {
    CPU_LAYOUT_FILE,    /* the GGUF rows as stored, read in place from the mapping */
    CPU_LAYOUT_R16,     /* Q8_0 rows interleaved in groups of 16 (cpu/repack.h), made at load */
    CPU_LAYOUT_COUNT
} cpu_layout;

/* 32 activations: x[i] ~= d * q[i]; d = max|x| / 127 (0 for an all-zero block),
 * q[i] = x[i] / d rounded to nearest; s = d * sum(q) (for weights with a
 * per-block offset: Q4_0's -8, Q4_1/Q5_1's min). */
typedef struct cpu_q8_32 {
    float d;
    float s;
    int8_t q[32];
} cpu_q8_32;

/* 256 activations: x[i] ~= d * q[i], d and q as above; bsum[j] = sum of
 * q[16 j .. 16 j + 15] (for the K-quants' per-sub-block mins). */
typedef struct cpu_q8_k {
    float d;
    int8_t q[256];
    int16_t bsum[16];
} cpu_q8_k;

/* Bytes of one activation row of n values (n a multiple of the format's block). */
size_t cpu_act_row_bytes(cpu_act act, int n);

/* Converts one row of n floats to format act. For CPU_ACT_F32 it copies;
 * CPU_ACT_BF16 needs n to be a multiple of 32.
 * dst needs float (4-byte) alignment, no more. */
typedef void (*cpu_quantize_fn)(const float *x, void *dst, int n);

/* The two-term conversion of an 8-bit format (CPU_ACT_Q8_32, CPU_ACT_Q8_K):
 * dst gets x as the one-term converter writes it, dst2 the residual
 * r[i] = x[i] - d q[i] (x minus the value dst holds for it, in f32: one
 * product, one difference) converted the same way: together they hold x to
 * about 16 bits (cpu/cpu_backend.c, two-term products). */
typedef void (*cpu_quantize2_fn)(const float *x, void *dst, void *dst2, int n);

/* out[j * out_stride + i] = sum_k W[i][k] * X[j][k] for i < n_rows, j < n_x.
 *   w:  row 0 of W; row i at w + i * w_stride (bytes). Rows need no alignment.
 *       In the R16 layout w is the first row of a group, and rows are read in
 *       whole groups of 16 (the matrix holds them) while only the first
 *       n_rows outputs are written.
 *   xa: activation row 0 in the kernel's format; row j at xa + j * xa_stride (bytes),
 *       each row aligned for float (4 bytes) and no more.
 *   n_in: values per row, a multiple of the weight type's block.
 * Any n_rows >= 1 and n_x >= the kernel's min_x; a kernel blocks rows and activation rows in
 * registers internally (each weight block is decoded once per tile of
 * activation rows), and never reads or writes outside these ranges. */
typedef void (*cpu_gemm_fn)(int n_in, int n_rows, int n_x, const uint8_t *w, size_t w_stride,
                            const uint8_t *xa, size_t xa_stride, float *out, size_t out_stride);

typedef struct cpu_matmul_kernel {
    uint32_t type;            /* ggml weight type (model/quant.h) */
    cpu_act act;              /* the activation format gemm reads */
    cpu_gemm_fn gemm;
    cpu_layout layout;        /* of the weights it reads */
    int min_x;                /* > 1: a prefill kernel, for products of at least min_x activation
                                 rows (cpu_prefill_kernel_for); 0: any product */
    bool bf16_weights;        /* it multiplies each weight as decoded in f32 and rounded to bf16
                                 (nearest even: 2^-8 relative at most); false: exactly */
} cpu_matmul_kernel;

/* Attention scores, in place: s[i] = e^(c[i] - max c) / sum_j e^(c[j] - max c)
 * for i < n (n >= 1), c[i] = cap tanh(scale s[i] / cap), or scale s[i] where
 * cap is 0. The SIMD levels compute tanh and e^x by polynomial (relative
 * error ~2e-7 of e^x, ~1e-7 absolute of tanh). */
typedef void (*cpu_softmax_fn)(float *s, int n, float scale, float cap);

/* Weighted sums of rows (attention's probabilities times V), added to out:
 * out[x * out_stride + c] += sum_t p[x * p_stride + t] * v[t * v_stride + c]
 * for x < n_x, t < n_t, c < n. Strides count floats. Each V row is read once
 * for all n_x outputs, which stay in registers across t. */
typedef void (*cpu_wsum_fn)(int n_x, int n_t, int n, const float *p, size_t p_stride, const float *v,
                            size_t v_stride, float *out, size_t out_stride);

/* One row of RMSNorm: y[i] = x[i] * k * w[i] with k = 1 / sqrt(mean(x^2) + eps),
 * the mean summed in double, k rounded to f32, x[i] * k * w[i] in f32 in that
 * order; with add, y[i] += that instead. y may be x. */
typedef void (*cpu_rmsnorm_fn)(float *y, const float *x, const float *w, int n, float eps, bool add);

/* The lowest index of the largest of s[0..n), NaNs passed over; 0 where all
 * are NaN (1 <= n < 2^31). */
typedef uint64_t (*cpu_argmax_fn)(const float *s, uint64_t n);

/* The lowest i < n with s[i] >= x, or n where there is none. */
typedef uint64_t (*cpu_first_at_least_fn)(const float *s, uint64_t n, float x);

/* RoPE's rotation, bit for bit hb_rope_rotate's (model/host_backend.h). */
typedef void (*cpu_rope_fn)(float *v, int n, int half, const double *c, const double *s);

/* A family: the kernels of one ISA level for some weight types, and the
 * quantizers of that level (NULL where the family has none of a format). */
typedef struct cpu_kernel_family {
    const char *name;                     /* "avx2 q32" */
    cpu_isa isa;
    const cpu_matmul_kernel *kernels;     /* [n_kernels] */
    int n_kernels;
    cpu_quantize_fn quantize[CPU_ACT_COUNT];
    cpu_quantize2_fn quantize2[CPU_ACT_COUNT];
    /* f32 vector helpers of the level (attention, GeGLU, the norms and the
     * argmax of a step), NULL where the family has none: */
    cpu_softmax_fn softmax;
    cpu_wsum_fn wsum;
    void (*geglu)(float *g, const float *u, int n);                /* g[i] = gelu_tanh(g[i]) * u[i] */
    cpu_rmsnorm_fn rmsnorm;
    cpu_argmax_fn argmax;
    cpu_first_at_least_fn first_at_least;
    cpu_rope_fn rope;
} cpu_kernel_family;

/* The best f32 vector helpers at level isa or below (never NULL: the
 * portable float family has them all). */
typedef struct cpu_vec_ops {
    cpu_softmax_fn softmax;
    cpu_wsum_fn wsum;
    void (*geglu)(float *g, const float *u, int n);
    cpu_rmsnorm_fn rmsnorm;
    cpu_argmax_fn argmax;
    cpu_first_at_least_fn first_at_least;
    cpu_rope_fn rope;
} cpu_vec_ops;
cpu_vec_ops cpu_vec_for(cpu_isa isa);

/* The families (defined in cpu/k_*.c, listed in cpu/kernels.c). */
extern const cpu_kernel_family cpu_fam_portable_q32, cpu_fam_portable_kq, cpu_fam_portable_float;
extern const cpu_kernel_family cpu_fam_avx2_q32, cpu_fam_avx2_kq, cpu_fam_avx2_float, cpu_fam_avx2_deq;
extern const cpu_kernel_family cpu_fam_avx512_q32, cpu_fam_avx512_kq, cpu_fam_avx512_float;
extern const cpu_kernel_family cpu_fam_amx_bf16;

/* The layout weights of `type` are best kept in at level isa: the one of the
 * best kernel at that level or below (CPU_LAYOUT_FILE where it has none). */
cpu_layout cpu_layout_for(uint32_t type, cpu_isa isa);
/* The best kernel for weight type `type` in `layout` at level isa or below
 * that takes any number of activation rows (NULL: no such kernel). The
 * quantizer returned is of the same level as or lower than the kernel, for
 * the kernel's format; *level (may be NULL) gets the kernel's own level. */
const cpu_matmul_kernel *cpu_kernel_for(uint32_t type, cpu_layout layout, cpu_isa isa, cpu_quantize_fn *quantize,
                                        cpu_isa *level);
/* The prefill kernel (min_x > 1) for `type` in `layout` at level isa or
 * below, or NULL where there is none: a product of at least its min_x
 * activation rows uses it instead of cpu_kernel_for's. */
const cpu_matmul_kernel *cpu_prefill_kernel_for(uint32_t type, cpu_layout layout, cpu_isa isa);

/* The best quantizer of format act at level isa or below (never NULL: the
 * portable families have every format), and the best two-term one (never
 * NULL for the 8-bit formats, NULL for the others). */
cpu_quantize_fn cpu_quantizer_for(cpu_act act, cpu_isa isa);
cpu_quantize2_fn cpu_quantizer2_for(cpu_act act, cpu_isa isa);

const char *cpu_isa_name(cpu_isa isa);   /* "portable", "avx2", "avx512", "amx" */

#endif
