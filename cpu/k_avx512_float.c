/* k_avx512_float.c: AVX-512 kernels for the float weight types (F32, F16
 * through vcvtph2ps, BF16 by a 16-bit shift) against f32 activations (see
 * cpu/kernels.h; the CPU_ACT_F32 copy is the portable level's).
 *
 * 16 weights per register and 32 registers: tiles of TR weight rows x TC
 * activation rows. The last n_in % 16 values go through the same code with
 * masked loads (masked-off lanes read nothing and load 0), so any n_in works.
 */
#include "cpu/kernels.h"
#include "cpu/k_tiles.h"

#include <immintrin.h>

#include "model/quant.h"

/* 16 weights (those of mask) from p as f32. */
typedef __m512 (*ld_fn)(const uint8_t *p, __mmask16 mask);

K_INLINE __m512 ld_f32(const uint8_t *p, __mmask16 mask) { return _mm512_maskz_loadu_ps(mask, p); }
K_INLINE __m512 ld_f16(const uint8_t *p, __mmask16 mask)
{
    return _mm512_cvtph_ps(_mm256_maskz_loadu_epi16(mask, p));
}
K_INLINE __m512 ld_bf16(const uint8_t *p, __mmask16 mask)
{
    __m512i v = _mm512_cvtepu16_epi32(_mm256_maskz_loadu_epi16(mask, p));
    return _mm512_castsi512_ps(_mm512_slli_epi32(v, 16));
}

enum { TR1 = 4, TR = 6, TC = 4, TRM = K_MAX(TR, TR1) };

/* One k step of 16 (or, with mask, fewer) values for the whole tile. */
K_INLINE void step(ld_fn ld, size_t esize, int nr, int nx, int k, __mmask16 mask, const uint8_t *w,
                   size_t w_stride, const uint8_t *xa, size_t xa_stride, __m512 acc[TRM][TC])
{
    __m512 wv[TRM];
    K_UNROLL for (int r = 0; r < nr; r++) wv[r] = ld(w + r * w_stride + (size_t)k * esize, mask);
    K_UNROLL for (int c = 0; c < nx; c++) {
        __m512 xv = _mm512_maskz_loadu_ps(mask, xa + c * xa_stride + (size_t)k * sizeof(float));
        K_UNROLL for (int r = 0; r < nr; r++) acc[r][c] = _mm512_fmadd_ps(wv[r], xv, acc[r][c]);
    }
}

K_INLINE void tile(ld_fn ld, size_t esize, int nr, int nx, int n_in, const uint8_t *w,
                   size_t w_stride, const uint8_t *xa, size_t xa_stride, float *out,
                   size_t out_stride)
{
    __m512 acc[TRM][TC];
    K_UNROLL for (int r = 0; r < nr; r++)
        K_UNROLL for (int c = 0; c < nx; c++) acc[r][c] = _mm512_setzero_ps();
    int k = 0;
    for (; k + 16 <= n_in; k += 16) step(ld, esize, nr, nx, k, 0xffff, w, w_stride, xa, xa_stride, acc);
    if (k < n_in)
        step(ld, esize, nr, nx, k, (__mmask16)((1u << (n_in - k)) - 1), w, w_stride, xa, xa_stride, acc);
    K_UNROLL for (int c = 0; c < nx; c++)
        K_UNROLL for (int r = 0; r < nr; r++) out[c * out_stride + r] = _mm512_reduce_add_ps(acc[r][c]);
}

K_DEFINE_GEMM(gemm_f32, TR1, TR, TC, tile, ld_f32, 4)
K_DEFINE_GEMM(gemm_f16, TR1, TR, TC, tile, ld_f16, 2)
K_DEFINE_GEMM(gemm_bf16, TR1, TR, TC, tile, ld_bf16, 2)

static const cpu_matmul_kernel kernels[] = {
    { GT_F32, CPU_ACT_F32, gemm_f32 },
    { GT_F16, CPU_ACT_F32, gemm_f16 },
    { GT_BF16, CPU_ACT_F32, gemm_bf16 },
};

static float dot(const float *a, const float *b, int n)
{
    __m512 s0 = _mm512_setzero_ps(), s1 = _mm512_setzero_ps();
    int i = 0;
    for (; i + 32 <= n; i += 32) {
        s0 = _mm512_fmadd_ps(_mm512_loadu_ps(a + i), _mm512_loadu_ps(b + i), s0);
        s1 = _mm512_fmadd_ps(_mm512_loadu_ps(a + i + 16), _mm512_loadu_ps(b + i + 16), s1);
    }
    for (; i < n; i += 16) {   /* the tail under a mask */
        __mmask16 m = n - i >= 16 ? 0xffff : (__mmask16)((1u << (n - i)) - 1);
        s0 = _mm512_fmadd_ps(_mm512_maskz_loadu_ps(m, a + i), _mm512_maskz_loadu_ps(m, b + i), s0);
    }
    return _mm512_reduce_add_ps(_mm512_add_ps(s0, s1));
}

static void axpy(float a, const float *x, float *y, int n)
{
    __m512 va = _mm512_set1_ps(a);
    for (int i = 0; i < n; i += 16) {
        __mmask16 m = n - i >= 16 ? 0xffff : (__mmask16)((1u << (n - i)) - 1);
        __m512 v = _mm512_fmadd_ps(va, _mm512_maskz_loadu_ps(m, x + i), _mm512_maskz_loadu_ps(m, y + i));
        _mm512_mask_storeu_ps(y + i, m, v);
    }
}

/* e^t for t in [-87, 88] (clamped there): t = k ln2 + f with |f| <= ln2/2,
 * e^f by its Taylor polynomial to f^6 (relative error ~2e-7), times 2^k. */
static inline __m512 exp_ps(__m512 t)
{
    t = _mm512_min_ps(_mm512_max_ps(t, _mm512_set1_ps(-87.0f)), _mm512_set1_ps(88.0f));
    __m512 k = _mm512_roundscale_ps(_mm512_mul_ps(t, _mm512_set1_ps(1.44269504088896341f)),
                                    _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    __m512 f = _mm512_fnmadd_ps(k, _mm512_set1_ps(0.693145751953125f), t);   /* ln2, high part (exact in k) */
    f = _mm512_fnmadd_ps(k, _mm512_set1_ps(1.428606765330187e-06f), f);      /* ln2, low part */
    __m512 p = _mm512_set1_ps(1.0f / 720);
    p = _mm512_fmadd_ps(p, f, _mm512_set1_ps(1.0f / 120));
    p = _mm512_fmadd_ps(p, f, _mm512_set1_ps(1.0f / 24));
    p = _mm512_fmadd_ps(p, f, _mm512_set1_ps(1.0f / 6));
    p = _mm512_fmadd_ps(p, f, _mm512_set1_ps(0.5f));
    p = _mm512_fmadd_ps(p, f, _mm512_set1_ps(1.0f));
    p = _mm512_fmadd_ps(p, f, _mm512_set1_ps(1.0f));
    return _mm512_scalef_ps(p, k);
}

/* GeGLU: gelu_tanh(x) = 0.5 x (1 + tanh(v)) = x / (1 + e^(-2v)), v = sqrt(2/pi) (x + 0.044715 x^3);
 * the second form needs one exponential and no tanh. */
static void geglu(float *g, const float *u, int n)
{
    const __m512 c2 = _mm512_set1_ps(-2.0f * 0.79788456080286535588f), c3 = _mm512_set1_ps(0.044715f);
    const __m512 one = _mm512_set1_ps(1.0f);
    for (int i = 0; i < n; i += 16) {
        __mmask16 m = n - i >= 16 ? 0xffff : (__mmask16)((1u << (n - i)) - 1);
        __m512 x = _mm512_maskz_loadu_ps(m, g + i);
        __m512 v = _mm512_mul_ps(c2, _mm512_fmadd_ps(_mm512_mul_ps(c3, x), _mm512_mul_ps(x, x), x));
        __m512 y = _mm512_div_ps(x, _mm512_add_ps(one, exp_ps(v)));
        _mm512_mask_storeu_ps(g + i, m, _mm512_mul_ps(y, _mm512_maskz_loadu_ps(m, u + i)));
    }
}

const cpu_kernel_family cpu_fam_avx512_float = {
    .name = "avx512 float",
    .isa = CPU_ISA_AVX512,
    .dot = dot,
    .axpy = axpy,
    .geglu = geglu,
    .kernels = kernels,
    .n_kernels = sizeof kernels / sizeof kernels[0],
};
