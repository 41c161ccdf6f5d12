/* k_avx512_float.c: AVX-512 kernels for the float weight types (F32, F16
 * through vcvtph2ps, BF16 by a 16-bit shift) against f32 activations (see
 * cpu/kernels.h; the CPU_ACT_F32 copy is the portable level's).
 *
 * 16 weights per register and 32 registers: tiles of TR weight rows x TC
 * activation rows. The last n_in % 16 values go through the same code with
 * masked loads (masked-off lanes read nothing and load 0), so any n_in works.
 */
#include "cpu/kernels.h"
#include "cpu/k_avx2_util.h"
#include "cpu/k_tiles.h"

#include <immintrin.h>
#include <math.h>

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

enum { TR1 = 4, TR2 = 6, TR = 6, TC = 4, TRM = K_MAX(TR, TR1) };

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

K_DEFINE_GEMM(gemm_f32, TR1, TR2, TR, TC, tile, ld_f32, 4)
K_DEFINE_GEMM(gemm_f16, TR1, TR2, TR, TC, tile, ld_f16, 2)
K_DEFINE_GEMM(gemm_bf16, TR1, TR2, TR, TC, tile, ld_bf16, 2)

static const cpu_matmul_kernel kernels[] = {
    { .type = GT_F32, .act = CPU_ACT_F32, .gemm = gemm_f32 },
    { .type = GT_F16, .act = CPU_ACT_F32, .gemm = gemm_f16 },
    { .type = GT_BF16, .act = CPU_ACT_F32, .gemm = gemm_bf16 },
};

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

K_INLINE __mmask16 tail_mask(int left) { return left >= 16 ? 0xffff : left > 0 ? (__mmask16)((1u << left) - 1) : 0; }

/* tanh y = sign(y) (1 - e) / (1 + e), e = e^(-2|y|) in (0, 1]: no overflow. */
K_INLINE __m512 tanh_ps(__m512 y)
{
    const __m512 one = _mm512_set1_ps(1.0f);
    __m512 a = _mm512_abs_ps(y);
    __m512 e = exp_ps(_mm512_mul_ps(a, _mm512_set1_ps(-2.0f)));
    __m512 t = _mm512_div_ps(_mm512_sub_ps(one, e), _mm512_add_ps(one, e));
    return _mm512_castsi512_ps(_mm512_or_si512(_mm512_castps_si512(t),
                                               _mm512_and_si512(_mm512_castps_si512(y),
                                                                _mm512_set1_epi32((int)0x80000000u))));
}

static void softmax(float *s, int n, float scale, float cap)
{
    const __m512 vs = _mm512_set1_ps(scale), vc = _mm512_set1_ps(cap), vic = _mm512_set1_ps(cap > 0 ? 1.0f / cap : 0);
    __m512 mx = _mm512_set1_ps(-INFINITY);
    for (int i = 0; i < n; i += 16) {
        __mmask16 m = tail_mask(n - i);
        __m512 c = _mm512_mul_ps(vs, _mm512_maskz_loadu_ps(m, s + i));
        if (cap > 0) c = _mm512_mul_ps(vc, tanh_ps(_mm512_mul_ps(c, vic)));
        _mm512_mask_storeu_ps(s + i, m, c);
        mx = _mm512_mask_max_ps(mx, m, mx, c);
    }
    __m512 vm = _mm512_set1_ps(_mm512_reduce_max_ps(mx)), sum = _mm512_setzero_ps();
    for (int i = 0; i < n; i += 16) {
        __mmask16 m = tail_mask(n - i);
        __m512 e = exp_ps(_mm512_sub_ps(_mm512_maskz_loadu_ps(m, s + i), vm));
        _mm512_mask_storeu_ps(s + i, m, e);
        sum = _mm512_mask_add_ps(sum, m, sum, e);
    }
    __m512 inv = _mm512_set1_ps(1.0f / _mm512_reduce_add_ps(sum));
    for (int i = 0; i < n; i += 16) {
        __mmask16 m = tail_mask(n - i);
        _mm512_mask_storeu_ps(s + i, m, _mm512_mul_ps(inv, _mm512_maskz_loadu_ps(m, s + i)));
    }
}

/* NX outputs x 64 columns from c0 (masked past n) in 4 x NX registers. */
K_INLINE void wsum_tile(int nx, int n_t, int c0, int n, const float *p, size_t p_stride, const float *v,
                        size_t v_stride, float *out, size_t out_stride)
{
    __mmask16 m[4];
    __m512 acc[4][4];
    K_UNROLL for (int z = 0; z < 4; z++) m[z] = tail_mask(n - c0 - 16 * z);
    K_UNROLL for (int x = 0; x < nx; x++)
        K_UNROLL for (int z = 0; z < 4; z++)
            acc[x][z] = _mm512_maskz_loadu_ps(m[z], out + x * out_stride + c0 + 16 * z);
    for (int t = 0; t < n_t; t++) {
        __m512 vv[4];
        K_UNROLL for (int z = 0; z < 4; z++) vv[z] = _mm512_maskz_loadu_ps(m[z], v + t * v_stride + c0 + 16 * z);
        K_UNROLL for (int x = 0; x < nx; x++) {
            __m512 a = _mm512_set1_ps(p[x * p_stride + t]);
            K_UNROLL for (int z = 0; z < 4; z++) acc[x][z] = _mm512_fmadd_ps(a, vv[z], acc[x][z]);
        }
    }
    K_UNROLL for (int x = 0; x < nx; x++)
        K_UNROLL for (int z = 0; z < 4; z++) _mm512_mask_storeu_ps(out + x * out_stride + c0 + 16 * z, m[z], acc[x][z]);
}

static void wsum(int n_x, int n_t, int n, const float *p, size_t p_stride, const float *v, size_t v_stride,
                 float *out, size_t out_stride)
{
    for (int c0 = 0; c0 < n; c0 += 64) {
        int x = 0;
        for (; x + 4 <= n_x; x += 4)
            wsum_tile(4, n_t, c0, n, p + x * p_stride, p_stride, v, v_stride, out + x * out_stride, out_stride);
        const float *px = p + x * p_stride;
        float *ox = out + x * out_stride;
        switch (n_x - x) {
        case 0: break;
        case 1: wsum_tile(1, n_t, c0, n, px, p_stride, v, v_stride, ox, out_stride); break;
        case 2: wsum_tile(2, n_t, c0, n, px, p_stride, v, v_stride, ox, out_stride); break;
        default: wsum_tile(3, n_t, c0, n, px, p_stride, v, v_stride, ox, out_stride); break;
        }
    }
}

/* GeGLU: gelu_tanh(x) = 0.5 x (1 + tanh(v)) = x / (1 + e^(-2v)), v = sqrt(2/pi) (x + 0.044715 x^3);
 * the second form needs one exponential and no tanh. */
static void geglu(float *g, const float *u, int n)
{
    const __m512 c2 = _mm512_set1_ps(-2.0f * 0.79788456080286535588f), c3 = _mm512_set1_ps(0.044715f);
    const __m512 one = _mm512_set1_ps(1.0f);
    for (int i = 0; i < n; i += 16) {
        __mmask16 m = tail_mask(n - i);
        __m512 x = _mm512_maskz_loadu_ps(m, g + i);
        __m512 v = _mm512_mul_ps(c2, _mm512_fmadd_ps(_mm512_mul_ps(c3, x), _mm512_mul_ps(x, x), x));
        __m512 y = _mm512_div_ps(x, _mm512_add_ps(one, exp_ps(v)));
        _mm512_mask_storeu_ps(g + i, m, _mm512_mul_ps(y, _mm512_maskz_loadu_ps(m, u + i)));
    }
}

/* The sum of squares in double: each f32 square is exact there, so only the
 * order of the additions differs from the portable level. */
static void rmsnorm(float *y, const float *x, const float *w, int n, float eps, bool add)
{
    __m512d s0 = _mm512_setzero_pd(), s1 = _mm512_setzero_pd();
    for (int i = 0; i < n; i += 16) {
        __m512 v = _mm512_maskz_loadu_ps(tail_mask(n - i), x + i);
        __m512d lo = _mm512_cvtps_pd(_mm512_castps512_ps256(v));
        __m512d hi = _mm512_cvtps_pd(_mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(v), 1)));
        s0 = _mm512_fmadd_pd(lo, lo, s0);
        s1 = _mm512_fmadd_pd(hi, hi, s1);
    }
    double sum = _mm512_reduce_add_pd(_mm512_add_pd(s0, s1));
    const __m512 k = _mm512_set1_ps((float)(1.0 / sqrt(sum / n + eps)));
    for (int i = 0; i < n; i += 16) {
        __mmask16 m = tail_mask(n - i);
        __m512 v = _mm512_mul_ps(_mm512_mul_ps(_mm512_maskz_loadu_ps(m, x + i), k), _mm512_maskz_loadu_ps(m, w + i));
        if (add) v = _mm512_add_ps(_mm512_maskz_loadu_ps(m, y + i), v);
        _mm512_mask_storeu_ps(y + i, m, v);
    }
}

/* Four accumulators of 16 lanes, each lane keeping the largest value it saw
 * and where it saw it first: a strict > never takes a NaN or a later equal. */
static uint64_t argmax(const float *s, uint64_t n)
{
    enum { A = 4 };
    const __m512i lane = _mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15);
    __m512 best[A];
    __m512i at[A];
    for (int a = 0; a < A; a++) {
        best[a] = _mm512_set1_ps(-INFINITY);
        at[a] = _mm512_set1_epi32(-1);
    }
    int32_t i = 0, nn = (int32_t)n;
    for (; i + 16 * A <= nn; i += 16 * A)
        K_UNROLL for (int a = 0; a < A; a++) {
            __m512 v = _mm512_loadu_ps(s + i + 16 * a);
            __mmask16 m = _mm512_cmp_ps_mask(v, best[a], _CMP_GT_OQ);
            best[a] = _mm512_mask_mov_ps(best[a], m, v);
            at[a] = _mm512_mask_mov_epi32(at[a], m, _mm512_add_epi32(lane, _mm512_set1_epi32(i + 16 * a)));
        }
    for (; i < nn; i += 16) {   /* masked-off lanes load -inf, which never wins */
        __m512 v = _mm512_mask_loadu_ps(_mm512_set1_ps(-INFINITY), tail_mask(nn - i), s + i);
        __mmask16 m = _mm512_cmp_ps_mask(v, best[0], _CMP_GT_OQ);
        best[0] = _mm512_mask_mov_ps(best[0], m, v);
        at[0] = _mm512_mask_mov_epi32(at[0], m, _mm512_add_epi32(lane, _mm512_set1_epi32(i)));
    }
    float val[16 * A];
    int32_t idx[16 * A];
    for (int a = 0; a < A; a++) {
        _mm512_storeu_ps(val + 16 * a, best[a]);
        _mm512_storeu_si512(idx + 16 * a, at[a]);
    }
    return k_argmax_lanes(val, idx, 16 * A, s, n);
}

static uint64_t first_at_least(const float *s, uint64_t n, float x)
{
    const __m512 xv = _mm512_set1_ps(x);
    uint64_t i = 0;
    for (; i + 64 <= n; i += 64) {
        uint64_t m = 0;
        K_UNROLL for (int a = 0; a < 4; a++)
            m |= (uint64_t)_mm512_cmp_ps_mask(_mm512_loadu_ps(s + i + 16 * a), xv, _CMP_GE_OQ) << (16 * a);
        if (m) return i + (uint64_t)__builtin_ctzll(m);
    }
    for (; i < n; i += 16) {
        __mmask16 t = tail_mask((int)(n - i));
        __mmask16 m = _mm512_mask_cmp_ps_mask(t, _mm512_maskz_loadu_ps(t, s + i), xv, _CMP_GE_OQ);
        if (m) return i + (uint64_t)__builtin_ctz(m);
    }
    return n;
}

/* hb_rope_rotate in 8 doubles at a time: the same products and sums, each
 * rounded once (no fused multiply-add), so the same floats. */
static void rope(float *v, int n, int half, const double *c, const double *s)
{
    for (int h = 0; h < n; h++, v += 2 * half)
        for (int i = 0; i < half; i += 8) {
            __mmask8 m = (__mmask8)tail_mask(half - i);
            __m512d a = _mm512_cvtps_pd(_mm256_maskz_loadu_ps(m, v + i));
            __m512d b = _mm512_cvtps_pd(_mm256_maskz_loadu_ps(m, v + half + i));
            __m512d cv = _mm512_maskz_loadu_pd(m, c + i), sv = _mm512_maskz_loadu_pd(m, s + i);
            __m512d x = _mm512_sub_pd(_mm512_mul_pd(a, cv), _mm512_mul_pd(b, sv));
            __m512d y = _mm512_add_pd(_mm512_mul_pd(a, sv), _mm512_mul_pd(b, cv));
            _mm256_mask_storeu_ps(v + i, m, _mm512_cvtpd_ps(x));
            _mm256_mask_storeu_ps(v + half + i, m, _mm512_cvtpd_ps(y));
        }
}

const cpu_kernel_family cpu_fam_avx512_float = {
    .name = "avx512 float",
    .isa = CPU_ISA_AVX512,
    .softmax = softmax,
    .wsum = wsum,
    .geglu = geglu,
    .rmsnorm = rmsnorm,
    .argmax = argmax,
    .first_at_least = first_at_least,
    .rope = rope,
    .kernels = kernels,
    .n_kernels = sizeof kernels / sizeof kernels[0],
};
