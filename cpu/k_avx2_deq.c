/* k_avx2_deq.c: the avx2 level's prefill kernels for the quantized weight
 * types (products of at least MIN_X activation rows; see cpu/kernels.h):
 * each panel of 16 weight rows is dequantized to f32 once, with the
 * reference dequantizer's operations (model/quant.c: the same values the
 * reference multiplies), and every activation row, in f32, passes over it
 * through the level's F32 kernel. The avx512 level, which has no prefill
 * kernels of its own for these types, uses these too.
 *
 * Why: at this level an 8-bit product (vpmaddubsw + vpmaddwd) with the two
 * activation terms the decode kernels carry does ~48 useful GOP/s on one
 * core, while the F32 kernel's FMAs do ~93 (docs/cpu.md, "Prefill below the
 * amx level"); the dequantization is paid once per panel and shared by all
 * the activation rows. The result is as exact as the F32 kernel: no rounding
 * of activations at all.
 */
#include "cpu/kernels.h"
#include "cpu/k_tiles.h"
#include "cpu/kq_common.h"

#include <immintrin.h>
#include <stdalign.h>
#include <string.h>

#include "model/quant.h"

enum {
    PR = 16,          /* weight rows per panel */
    PK = 2048,        /* values per panel row: the panel (128 KiB) stays in L2 */
    PX = 256,         /* activation rows per pass over a panel chunk (the scratch's size) */
    MIN_X = 16,
};

typedef struct deq_scratch {
    alignas(64) float panel[PR * PK];
    alignas(64) float part[PX * PR];    /* one chunk's products, added to the output */
} deq_scratch;

static _Thread_local deq_scratch scratch;

/* ---- rows dequantized: the reference's operations, eight lanes at a time
 * (Q8_0, Q4_K, Q6_K: the types of Q4_K_M files and the real model's
 * products); the other types through model/quant.c itself ---- */

/* 8 bytes at p, signed / unsigned, as f32. */
static inline __m128i ld8(const uint8_t *p) { return _mm_loadl_epi64((const __m128i *)(const void *)p); }
static inline __m256 f8_i8(const uint8_t *p) { return _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(ld8(p))); }
static inline __m256 f8_u8(const uint8_t *p) { return _mm256_cvtepi32_ps(_mm256_cvtepu8_epi32(ld8(p))); }
static inline float f16_at(const uint8_t *p) { return quant_f16_to_f32((uint16_t)(p[0] | (p[1] << 8))); }

static void deq_q8_0(const uint8_t *b, float *y)     /* q d */
{
    const __m256 d = _mm256_set1_ps(f16_at(b));
    for (int j = 0; j < 32; j += 8) _mm256_storeu_ps(y + j, _mm256_mul_ps(f8_i8(b + 2 + j), d));
}

static void deq_q4_k(const uint8_t *b, float *y)     /* sub-block i: d sc[i] q - dmin m[i] */
{
    uint8_t sm[16], q[32];
    kq_unpack_scales(b + 4, sm);
    const float d = f16_at(b), dmin = f16_at(b + 2);
    for (int i = 0; i < 8; i++) {
        const __m256 d1 = _mm256_set1_ps(d * (float)sm[i]), m1 = _mm256_set1_ps(dmin * (float)sm[8 + i]);
        __m256i v = _mm256_loadu_si256((const __m256i *)(const void *)(b + 16 + 32 * (i / 2)));
        if (i & 1) v = _mm256_srli_epi16(v, 4);
        _mm256_storeu_si256((__m256i *)(void *)q, _mm256_and_si256(v, _mm256_set1_epi8(15)));
        for (int l = 0; l < 32; l += 8)
            _mm256_storeu_ps(y + 32 * i + l, _mm256_sub_ps(_mm256_mul_ps(d1, f8_u8(q + l)), m1));
    }
}

static void deq_q6_k(const uint8_t *b, float *y)     /* (d sc[j]) (q - 32), a scale per 16 values */
{
    const float d = f16_at(b + 208);
    const __m256i m4 = _mm256_set1_epi8(15), m3 = _mm256_set1_epi8(3), e = _mm256_set1_epi8(32);
    for (int h = 0; h < 2; h++) {
        const uint8_t *l8 = b + 64 * h;
        const __m256i a = _mm256_loadu_si256((const __m256i *)(const void *)l8);
        const __m256i c = _mm256_loadu_si256((const __m256i *)(const void *)(l8 + 32));
        const __m256i qh = _mm256_loadu_si256((const __m256i *)(const void *)(b + 128 + 32 * h));
        /* values 32 k + l: low 4 bits from a / c (nibble k / 2), top 2 from qh (bits 2 k) */
        const __m256i lo[4] = { _mm256_and_si256(a, m4), _mm256_and_si256(c, m4),
                                _mm256_and_si256(_mm256_srli_epi16(a, 4), m4),
                                _mm256_and_si256(_mm256_srli_epi16(c, 4), m4) };
        const __m256i hi[4] = { _mm256_and_si256(qh, m3), _mm256_and_si256(_mm256_srli_epi16(qh, 2), m3),
                                _mm256_and_si256(_mm256_srli_epi16(qh, 4), m3),
                                _mm256_and_si256(_mm256_srli_epi16(qh, 6), m3) };
        for (int k = 0; k < 4; k++) {        /* values 32 k .. 32 k + 31 of this half */
            uint8_t q[32];
            _mm256_storeu_si256((__m256i *)(void *)q,
                                _mm256_sub_epi8(_mm256_or_si256(lo[k], _mm256_slli_epi16(hi[k], 4)), e));
            for (int l = 0; l < 32; l += 8) {
                const __m256 ds = _mm256_set1_ps(d * (float)(int8_t)b[192 + 8 * h + 2 * k + l / 16]);
                _mm256_storeu_ps(y + 128 * h + 32 * k + l, _mm256_mul_ps(ds, f8_i8(q + l)));
            }
        }
    }
}

/* n values (a multiple of the type's block) of one row. */
static void deq_row(uint32_t type, const uint8_t *src, float *dst, int n)
{
    void (*blk)(const uint8_t *, float *) = type == GT_Q8_0 ? deq_q8_0 : type == GT_Q4_K ? deq_q4_k
                                          : type == GT_Q6_K ? deq_q6_k : NULL;
    if (!blk) { quant_dequant_row(type, src, dst, (uint64_t)n); return; }
    const quant_info *qi = quant_type_info(type);
    for (int b = 0; b < n / (int)qi->block_elems; b++)
        blk(src + (size_t)b * qi->block_bytes, dst + (size_t)b * qi->block_elems);
}

/* The avx2 float family's F32 kernel. */
static cpu_gemm_fn f32_gemm(void)
{
    for (int k = 0; k < cpu_fam_avx2_float.n_kernels; k++)
        if (cpu_fam_avx2_float.kernels[k].type == GT_F32) return cpu_fam_avx2_float.kernels[k].gemm;
    return NULL;
}

/* The product (cpu_gemm_fn) of `type` weights: panels of PR rows x PK values
 * dequantized, every activation row passed over each (PX at a time). */
static void deq_gemm(uint32_t type, K_GEMM_PARAMS)
{
    deq_scratch *s = &scratch;
    const quant_info *qi = quant_type_info(type);
    const int be = (int)qi->block_elems, kc_max = PK / be * be;
    const cpu_gemm_fn gemm = f32_gemm();
    for (int r0 = 0; r0 < n_rows; r0 += PR) {
        const int nr = n_rows - r0 < PR ? n_rows - r0 : PR;
        for (int k0 = 0; k0 < n_in; k0 += kc_max) {
            const int kc = n_in - k0 < kc_max ? n_in - k0 : kc_max;
            for (int i = 0; i < nr; i++)
                deq_row(type, w + (size_t)(r0 + i) * w_stride + (size_t)(k0 / be) * qi->block_bytes,
                        s->panel + (size_t)i * kc, kc);
            for (int x0 = 0; x0 < n_x; x0 += PX) {
                const int nx = n_x - x0 < PX ? n_x - x0 : PX;
                const uint8_t *xs = xa + (size_t)x0 * xa_stride + (size_t)k0 * sizeof(float);
                float *o = out + (size_t)x0 * out_stride + r0;
                if (k0 == 0) {
                    gemm(kc, nr, nx, (const uint8_t *)s->panel, (size_t)kc * sizeof(float), xs, xa_stride, o,
                         out_stride);
                    continue;
                }
                gemm(kc, nr, nx, (const uint8_t *)s->panel, (size_t)kc * sizeof(float), xs, xa_stride, s->part,
                     PR);
                for (int x = 0; x < nx; x++)
                    for (int i = 0; i < nr; i++) o[(size_t)x * out_stride + i] += s->part[x * PR + i];
            }
        }
    }
}

#define DEQ_GEMM(name, type) \
    static void name(K_GEMM_PARAMS) { deq_gemm(type, n_in, n_rows, n_x, w, w_stride, xa, xa_stride, out, out_stride); }
DEQ_GEMM(gemm_q8_0, GT_Q8_0)
DEQ_GEMM(gemm_q4_0, GT_Q4_0)
DEQ_GEMM(gemm_q4_1, GT_Q4_1)
DEQ_GEMM(gemm_q5_0, GT_Q5_0)
DEQ_GEMM(gemm_q5_1, GT_Q5_1)
DEQ_GEMM(gemm_q4_k, GT_Q4_K)
DEQ_GEMM(gemm_q5_k, GT_Q5_K)
DEQ_GEMM(gemm_q6_k, GT_Q6_K)

#define PREFILL(t, fn) { .type = t, .act = CPU_ACT_F32, .gemm = fn, .min_x = MIN_X }
static const cpu_matmul_kernel kernels[] = {
    PREFILL(GT_Q8_0, gemm_q8_0), PREFILL(GT_Q4_0, gemm_q4_0), PREFILL(GT_Q4_1, gemm_q4_1),
    PREFILL(GT_Q5_0, gemm_q5_0), PREFILL(GT_Q5_1, gemm_q5_1), PREFILL(GT_Q4_K, gemm_q4_k),
    PREFILL(GT_Q5_K, gemm_q5_k), PREFILL(GT_Q6_K, gemm_q6_k),
};

const cpu_kernel_family cpu_fam_avx2_deq = {
    .name = "avx2 deq",
    .isa = CPU_ISA_AVX2,
    .kernels = kernels,
    .n_kernels = sizeof kernels / sizeof kernels[0],
};
