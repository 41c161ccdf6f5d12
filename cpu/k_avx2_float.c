/* k_avx2_float.c: AVX2 + FMA kernels for the float weight types (F32, F16
 * through F16C's vcvtph2ps, BF16 by a 16-bit shift) against f32 activations
 * (see cpu/kernels.h). The CPU_ACT_F32 "quantizer" is a copy: the portable
 * level's serves every level.
 *
 * A tile of TR weight rows x up to TC activation rows: 8 weights of each row
 * are converted once and multiplied into TC accumulators, eight lanes each,
 * summed once per output. n_in need not be a multiple of 8: the last values
 * are done in scalar code (n_in is any length for these types).
 */
#include "cpu/kernels.h"
#include "cpu/k_avx2_util.h"
#include "cpu/k_tiles.h"

#include <immintrin.h>
#include <math.h>
#include <string.h>

#include "model/quant.h"


/* 8 weights from p as f32, and one (the scalar tail). */
typedef __m256 (*ld8_fn)(const uint8_t *p);
typedef float (*ld1_fn)(const uint8_t *p);

K_INLINE __m256 ld8_f32(const uint8_t *p) { return _mm256_loadu_ps((const float *)p); }
K_INLINE __m256 ld8_f16(const uint8_t *p) { return _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)p)); }
K_INLINE __m256 ld8_bf16(const uint8_t *p)
{
    __m256i v = _mm256_cvtepu16_epi32(_mm_loadu_si128((const __m128i *)p));
    return _mm256_castsi256_ps(_mm256_slli_epi32(v, 16));
}
K_INLINE float ld1_f32(const uint8_t *p) { float f; memcpy(&f, p, 4); return f; }
K_INLINE float ld1_f16(const uint8_t *p) { return k_ld_f16(p); }
K_INLINE float ld1_bf16(const uint8_t *p) { uint16_t h; memcpy(&h, p, 2); return quant_bf16_to_f32(h); }

enum { TR1 = 4, TR = 4, TC = 3, TRM = K_MAX(TR, TR1) };

K_INLINE void tile(ld8_fn ld8, ld1_fn ld1, size_t esize, int nr, int nx, int n_in,
                   const uint8_t *w, size_t w_stride, const uint8_t *xa, size_t xa_stride,
                   float *out, size_t out_stride)
{
    __m256 acc[TRM][TC];
    K_UNROLL for (int r = 0; r < nr; r++)
        K_UNROLL for (int c = 0; c < nx; c++) acc[r][c] = _mm256_setzero_ps();
    int k = 0;
    for (; k + 8 <= n_in; k += 8) {
        __m256 wv[TRM];
        K_UNROLL for (int r = 0; r < nr; r++) wv[r] = ld8(w + r * w_stride + (size_t)k * esize);
        K_UNROLL for (int c = 0; c < nx; c++) {
            __m256 xv = _mm256_loadu_ps((const float *)(xa + c * xa_stride + (size_t)k * sizeof(float)));
            K_UNROLL for (int r = 0; r < nr; r++) acc[r][c] = _mm256_fmadd_ps(wv[r], xv, acc[r][c]);
        }
    }
    K_UNROLL for (int c = 0; c < nx; c++)
        K_UNROLL for (int r = 0; r < nr; r++) {
            float s = k_hsum8(acc[r][c]);
            const uint8_t *x = xa + c * xa_stride;      /* rows need no alignment */
            for (int t = k; t < n_in; t++)
                s += ld1(w + r * w_stride + (size_t)t * esize) * ld1_f32(x + (size_t)t * sizeof(float));
            out[c * out_stride + r] = s;
        }
}

K_DEFINE_GEMM(gemm_f32, TR1, TR, TC, tile, ld8_f32, ld1_f32, 4)
K_DEFINE_GEMM(gemm_f16, TR1, TR, TC, tile, ld8_f16, ld1_f16, 2)
K_DEFINE_GEMM(gemm_bf16, TR1, TR, TC, tile, ld8_bf16, ld1_bf16, 2)

static const cpu_matmul_kernel kernels[] = {
    { GT_F32, CPU_ACT_F32, gemm_f32 },
    { GT_F16, CPU_ACT_F32, gemm_f16 },
    { GT_BF16, CPU_ACT_F32, gemm_bf16 },
};

static float dot(const float *a, const float *b, int n)
{
    __m256 s0 = _mm256_setzero_ps(), s1 = _mm256_setzero_ps();
    int i = 0;
    for (; i + 16 <= n; i += 16) {
        s0 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i), _mm256_loadu_ps(b + i), s0);
        s1 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i + 8), _mm256_loadu_ps(b + i + 8), s1);
    }
    for (; i + 8 <= n; i += 8) s0 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i), _mm256_loadu_ps(b + i), s0);
    __m256 s = _mm256_add_ps(s0, s1);
    __m128 h = _mm_add_ps(_mm256_castps256_ps128(s), _mm256_extractf128_ps(s, 1));
    h = _mm_add_ps(h, _mm_movehl_ps(h, h));
    h = _mm_add_ss(h, _mm_movehdup_ps(h));
    float r = _mm_cvtss_f32(h);
    for (; i < n; i++) r += a[i] * b[i];
    return r;
}

static void axpy(float a, const float *x, float *y, int n)
{
    __m256 va = _mm256_set1_ps(a);
    int i = 0;
    for (; i + 8 <= n; i += 8)
        _mm256_storeu_ps(y + i, _mm256_fmadd_ps(va, _mm256_loadu_ps(x + i), _mm256_loadu_ps(y + i)));
    for (; i < n; i++) y[i] += a * x[i];
}

/* e^t for t in [-87, 88] (clamped there): t = k ln2 + f with |f| <= ln2/2,
 * e^f by its Taylor polynomial to f^6 (relative error ~2e-7), times 2^k
 * built in the exponent bits. */
static inline __m256 exp_ps(__m256 t)
{
    t = _mm256_min_ps(_mm256_max_ps(t, _mm256_set1_ps(-87.0f)), _mm256_set1_ps(88.0f));
    __m256 k = _mm256_round_ps(_mm256_mul_ps(t, _mm256_set1_ps(1.44269504088896341f)),
                               _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    __m256 f = _mm256_fnmadd_ps(k, _mm256_set1_ps(0.693145751953125f), t);
    f = _mm256_fnmadd_ps(k, _mm256_set1_ps(1.428606765330187e-06f), f);
    __m256 p = _mm256_set1_ps(1.0f / 720);
    p = _mm256_fmadd_ps(p, f, _mm256_set1_ps(1.0f / 120));
    p = _mm256_fmadd_ps(p, f, _mm256_set1_ps(1.0f / 24));
    p = _mm256_fmadd_ps(p, f, _mm256_set1_ps(1.0f / 6));
    p = _mm256_fmadd_ps(p, f, _mm256_set1_ps(0.5f));
    p = _mm256_fmadd_ps(p, f, _mm256_set1_ps(1.0f));
    p = _mm256_fmadd_ps(p, f, _mm256_set1_ps(1.0f));
    __m256i e = _mm256_slli_epi32(_mm256_add_epi32(_mm256_cvtps_epi32(k), _mm256_set1_epi32(127)), 23);
    return _mm256_mul_ps(p, _mm256_castsi256_ps(e));
}

/* GeGLU as in the AVX-512 family: gelu_tanh(x) = x / (1 + e^(-2v)). */
static void geglu(float *g, const float *u, int n)
{
    const __m256 c2 = _mm256_set1_ps(-2.0f * 0.79788456080286535588f), c3 = _mm256_set1_ps(0.044715f);
    const __m256 one = _mm256_set1_ps(1.0f);
    int i = 0;
    for (; i + 8 <= n; i += 8) {
        __m256 x = _mm256_loadu_ps(g + i);
        __m256 v = _mm256_mul_ps(c2, _mm256_fmadd_ps(_mm256_mul_ps(c3, x), _mm256_mul_ps(x, x), x));
        __m256 y = _mm256_div_ps(x, _mm256_add_ps(one, exp_ps(v)));
        _mm256_storeu_ps(g + i, _mm256_mul_ps(y, _mm256_loadu_ps(u + i)));
    }
    for (; i < n; i++) {
        float x = g[i];
        g[i] = x / (1.0f + expf(-2.0f * 0.79788456080286535588f * (x + 0.044715f * x * x * x))) * u[i];
    }
}

const cpu_kernel_family cpu_fam_avx2_float = {
    .name = "avx2 float",
    .isa = CPU_ISA_AVX2,
    .dot = dot,
    .axpy = axpy,
    .geglu = geglu,
    .kernels = kernels,
    .n_kernels = sizeof kernels / sizeof kernels[0],
};
