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

enum { TR1 = 4, TR2 = 4, TR = 4, TC = 3, TRM = K_MAX(TR, TR1) };

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

K_DEFINE_GEMM(gemm_f32, TR1, TR2, TR, TC, tile, ld8_f32, ld1_f32, 4)
K_DEFINE_GEMM(gemm_f16, TR1, TR2, TR, TC, tile, ld8_f16, ld1_f16, 2)
K_DEFINE_GEMM(gemm_bf16, TR1, TR2, TR, TC, tile, ld8_bf16, ld1_bf16, 2)

static const cpu_matmul_kernel kernels[] = {
    { .type = GT_F32, .act = CPU_ACT_F32, .gemm = gemm_f32 },
    { .type = GT_F16, .act = CPU_ACT_F32, .gemm = gemm_f16 },
    { .type = GT_BF16, .act = CPU_ACT_F32, .gemm = gemm_bf16 },
};

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

/* tanh y = sign(y) (1 - e) / (1 + e), e = e^(-2|y|) in (0, 1]: no overflow. */
static inline __m256 tanh_ps(__m256 y)
{
    const __m256 one = _mm256_set1_ps(1.0f), sign = _mm256_set1_ps(-0.0f);
    __m256 e = exp_ps(_mm256_mul_ps(_mm256_andnot_ps(sign, y), _mm256_set1_ps(-2.0f)));
    __m256 t = _mm256_div_ps(_mm256_sub_ps(one, e), _mm256_add_ps(one, e));
    return _mm256_or_ps(t, _mm256_and_ps(sign, y));
}

static inline float hsum(__m256 s)
{
    __m128 h = _mm_add_ps(_mm256_castps256_ps128(s), _mm256_extractf128_ps(s, 1));
    h = _mm_add_ps(h, _mm_movehl_ps(h, h));
    return _mm_cvtss_f32(_mm_add_ss(h, _mm_movehdup_ps(h)));
}

static inline float hmax(__m256 s)
{
    __m128 h = _mm_max_ps(_mm256_castps256_ps128(s), _mm256_extractf128_ps(s, 1));
    h = _mm_max_ps(h, _mm_movehl_ps(h, h));
    return _mm_cvtss_f32(_mm_max_ss(h, _mm_movehdup_ps(h)));
}

/* The capped, scaled score of one value (the tail) as the vector loop computes it. */
static inline float capped1(float x, float scale, float cap)
{
    __m256 c = _mm256_set1_ps(scale * x);
    if (cap > 0) c = _mm256_mul_ps(_mm256_set1_ps(cap), tanh_ps(_mm256_mul_ps(c, _mm256_set1_ps(1.0f / cap))));
    return _mm256_cvtss_f32(c);
}

static void softmax(float *s, int n, float scale, float cap)
{
    const __m256 vs = _mm256_set1_ps(scale), vc = _mm256_set1_ps(cap), vic = _mm256_set1_ps(cap > 0 ? 1.0f / cap : 0);
    __m256 mx = _mm256_set1_ps(-INFINITY);
    int i = 0;
    for (; i + 8 <= n; i += 8) {
        __m256 c = _mm256_mul_ps(vs, _mm256_loadu_ps(s + i));
        if (cap > 0) c = _mm256_mul_ps(vc, tanh_ps(_mm256_mul_ps(c, vic)));
        _mm256_storeu_ps(s + i, c);
        mx = _mm256_max_ps(mx, c);
    }
    float m = hmax(mx);
    for (int k = i; k < n; k++) {
        s[k] = capped1(s[k], scale, cap);
        if (s[k] > m) m = s[k];
    }
    __m256 vm = _mm256_set1_ps(m), sum = _mm256_setzero_ps();
    for (i = 0; i + 8 <= n; i += 8) {
        __m256 e = exp_ps(_mm256_sub_ps(_mm256_loadu_ps(s + i), vm));
        _mm256_storeu_ps(s + i, e);
        sum = _mm256_add_ps(sum, e);
    }
    float tot = hsum(sum);
    for (int k = i; k < n; k++) tot += s[k] = _mm256_cvtss_f32(exp_ps(_mm256_set1_ps(s[k] - m)));
    __m256 inv = _mm256_set1_ps(1.0f / tot);
    for (i = 0; i + 8 <= n; i += 8) _mm256_storeu_ps(s + i, _mm256_mul_ps(inv, _mm256_loadu_ps(s + i)));
    for (; i < n; i++) s[i] *= 1.0f / tot;
}

/* NX outputs x 8 NZ columns from c0 in NZ x NX registers. */
K_INLINE void wsum_tile(int nx, int nz, int n_t, int c0, const float *p, size_t p_stride, const float *v,
                        size_t v_stride, float *out, size_t out_stride)
{
    __m256 acc[4][4];
    K_UNROLL for (int x = 0; x < nx; x++)
        K_UNROLL for (int z = 0; z < nz; z++) acc[x][z] = _mm256_loadu_ps(out + x * out_stride + c0 + 8 * z);
    for (int t = 0; t < n_t; t++) {
        __m256 vv[4];
        K_UNROLL for (int z = 0; z < nz; z++) vv[z] = _mm256_loadu_ps(v + t * v_stride + c0 + 8 * z);
        K_UNROLL for (int x = 0; x < nx; x++) {
            __m256 a = _mm256_broadcast_ss(p + x * p_stride + t);
            K_UNROLL for (int z = 0; z < nz; z++) acc[x][z] = _mm256_fmadd_ps(a, vv[z], acc[x][z]);
        }
    }
    K_UNROLL for (int x = 0; x < nx; x++)
        K_UNROLL for (int z = 0; z < nz; z++) _mm256_storeu_ps(out + x * out_stride + c0 + 8 * z, acc[x][z]);
}

/* All n_x outputs for columns c0 .. c0 + 8 nz - 1. */
K_INLINE void wsum_cols(int nz, int n_x, int n_t, int c0, const float *p, size_t p_stride, const float *v,
                        size_t v_stride, float *out, size_t out_stride)
{
    int x = 0;
    for (; x + 3 <= n_x; x += 3)
        wsum_tile(3, nz, n_t, c0, p + x * p_stride, p_stride, v, v_stride, out + x * out_stride, out_stride);
    const float *px = p + x * p_stride;
    float *ox = out + x * out_stride;
    if (n_x - x == 2) wsum_tile(2, nz, n_t, c0, px, p_stride, v, v_stride, ox, out_stride);
    if (n_x - x == 1) wsum_tile(1, nz, n_t, c0, px, p_stride, v, v_stride, ox, out_stride);
}

static void wsum(int n_x, int n_t, int n, const float *p, size_t p_stride, const float *v, size_t v_stride,
                 float *out, size_t out_stride)
{
    int c0 = 0;
    for (; c0 + 32 <= n; c0 += 32) wsum_cols(4, n_x, n_t, c0, p, p_stride, v, v_stride, out, out_stride);
    for (; c0 + 8 <= n; c0 += 8) wsum_cols(1, n_x, n_t, c0, p, p_stride, v, v_stride, out, out_stride);
    for (; c0 < n; c0++)   /* the last n % 8 columns */
        for (int x = 0; x < n_x; x++)
            for (int t = 0; t < n_t; t++) out[x * out_stride + c0] += p[x * p_stride + t] * v[t * v_stride + c0];
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

/* As the AVX-512 level's: the sum of squares in double, exact squares. */
static void rmsnorm(float *y, const float *x, const float *w, int n, float eps, bool add)
{
    __m256d s0 = _mm256_setzero_pd(), s1 = _mm256_setzero_pd();
    int i = 0;
    for (; i + 8 <= n; i += 8) {
        __m256d lo = _mm256_cvtps_pd(_mm_loadu_ps(x + i)), hi = _mm256_cvtps_pd(_mm_loadu_ps(x + i + 4));
        s0 = _mm256_fmadd_pd(lo, lo, s0);
        s1 = _mm256_fmadd_pd(hi, hi, s1);
    }
    double q[4];
    _mm256_storeu_pd(q, _mm256_add_pd(s0, s1));
    double sum = (q[0] + q[1]) + (q[2] + q[3]);
    for (; i < n; i++) sum += (double)x[i] * x[i];
    float kf = (float)(1.0 / sqrt(sum / n + eps));
    const __m256 k = _mm256_set1_ps(kf);
    int j = 0;
    for (; j + 8 <= n; j += 8) {
        __m256 v = _mm256_mul_ps(_mm256_mul_ps(_mm256_loadu_ps(x + j), k), _mm256_loadu_ps(w + j));
        if (add) v = _mm256_add_ps(_mm256_loadu_ps(y + j), v);
        _mm256_storeu_ps(y + j, v);
    }
    for (; j < n; j++) {
        float v = x[j] * kf * w[j];
        y[j] = add ? y[j] + v : v;
    }
}

/* As the AVX-512 level's: four accumulators of 8 lanes, a strict > per lane;
 * the last n % 8 values in one more (scalar) lane. */
static uint64_t argmax(const float *s, uint64_t n)
{
    enum { A = 4 };
    const __m256i lane = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
    __m256 best[A];
    __m256i at[A];
    for (int a = 0; a < A; a++) {
        best[a] = _mm256_set1_ps(-INFINITY);
        at[a] = _mm256_set1_epi32(-1);
    }
    int32_t i = 0, nn = (int32_t)n;
    for (; i + 8 * A <= nn; i += 8 * A)
        K_UNROLL for (int a = 0; a < A; a++) {
            __m256 v = _mm256_loadu_ps(s + i + 8 * a);
            __m256 m = _mm256_cmp_ps(v, best[a], _CMP_GT_OQ);
            best[a] = _mm256_blendv_ps(best[a], v, m);
            at[a] = _mm256_castps_si256(_mm256_blendv_ps(
                _mm256_castsi256_ps(at[a]),
                _mm256_castsi256_ps(_mm256_add_epi32(lane, _mm256_set1_epi32(i + 8 * a))), m));
        }
    for (; i + 8 <= nn; i += 8) {
        __m256 v = _mm256_loadu_ps(s + i);
        __m256 m = _mm256_cmp_ps(v, best[0], _CMP_GT_OQ);
        best[0] = _mm256_blendv_ps(best[0], v, m);
        at[0] = _mm256_castps_si256(_mm256_blendv_ps(
            _mm256_castsi256_ps(at[0]), _mm256_castsi256_ps(_mm256_add_epi32(lane, _mm256_set1_epi32(i))), m));
    }
    float val[8 * A + 1] = { 0 };
    int32_t idx[8 * A + 1] = { 0 };
    for (int a = 0; a < A; a++) {
        _mm256_storeu_ps(val + 8 * a, best[a]);
        _mm256_storeu_si256((__m256i *)(void *)(idx + 8 * a), at[a]);
    }
    val[8 * A] = -INFINITY;
    idx[8 * A] = -1;
    for (; i < nn; i++)
        if (s[i] > val[8 * A]) {
            val[8 * A] = s[i];
            idx[8 * A] = i;
        }
    return k_argmax_lanes(val, idx, 8 * A + 1, s, n);
}

static uint64_t first_at_least(const float *s, uint64_t n, float x)
{
    const __m256 xv = _mm256_set1_ps(x);
    uint64_t i = 0;
    for (; i + 32 <= n; i += 32) {
        uint32_t m = 0;
        K_UNROLL for (int a = 0; a < 4; a++)
            m |= (uint32_t)_mm256_movemask_ps(_mm256_cmp_ps(_mm256_loadu_ps(s + i + 8 * a), xv, _CMP_GE_OQ))
                 << (8 * a);
        if (m) return i + (uint64_t)__builtin_ctz(m);
    }
    for (; i < n; i++)
        if (s[i] >= x) return i;
    return n;
}

/* hb_rope_rotate in 4 doubles at a time (the same floats: no fused
 * multiply-add); the last half % 4 pairs in scalar code. */
static void rope(float *v, int n, int half, const double *c, const double *s)
{
    for (int h = 0; h < n; h++, v += 2 * half) {
        int i = 0;
        for (; i + 4 <= half; i += 4) {
            __m256d a = _mm256_cvtps_pd(_mm_loadu_ps(v + i)), b = _mm256_cvtps_pd(_mm_loadu_ps(v + half + i));
            __m256d cv = _mm256_loadu_pd(c + i), sv = _mm256_loadu_pd(s + i);
            __m256d x = _mm256_sub_pd(_mm256_mul_pd(a, cv), _mm256_mul_pd(b, sv));
            __m256d y = _mm256_add_pd(_mm256_mul_pd(a, sv), _mm256_mul_pd(b, cv));
            _mm_storeu_ps(v + i, _mm256_cvtpd_ps(x));
            _mm_storeu_ps(v + half + i, _mm256_cvtpd_ps(y));
        }
        for (; i < half; i++) {
            double a = v[i], b = v[i + half];
            v[i] = (float)(a * c[i] - b * s[i]);
            v[i + half] = (float)(a * s[i] + b * c[i]);
        }
    }
}

const cpu_kernel_family cpu_fam_avx2_float = {
    .name = "avx2 float",
    .isa = CPU_ISA_AVX2,
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
