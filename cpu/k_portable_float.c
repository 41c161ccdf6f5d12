/* k_portable_float.c: plain-C kernels for the float weight types (F32 F16
 * BF16) against f32 activations, the CPU_ACT_F32 "quantizer" (a copy) and
 * the CPU_ACT_BF16 one;
 * see cpu/kernels.h. For CPUs without AVX2.
 *
 * A tile of TR weight rows x TC activation rows: each weight value is
 * converted to f32 once per tile and used TC times.
 */
#include "cpu/kernels.h"
#include "cpu/k_tiles.h"

#include <math.h>
#include <string.h>

#include "model/host_backend.h"
#include "model/quant.h"

static void quantize_f32(const float *x, void *dst, int n)
{
    memcpy(dst, x, (size_t)n * sizeof(float));
}

/* f32 -> bf16, rounded to nearest even (NaNs stay NaNs), as AVX512-BF16's
 * vcvtne2ps2bf16 does. */
static void quantize_bf16(const float *x, void *dst, int n)
{
    uint16_t *y = dst;
    for (int i = 0; i < n; i++) {
        uint32_t u;
        memcpy(&u, &x[i], 4);
        if ((u & 0x7fffffffu) > 0x7f800000u) y[i] = (uint16_t)((u >> 16) | 0x40);
        else y[i] = (uint16_t)((u + 0x7fffu + ((u >> 16) & 1)) >> 16);
    }
}

static inline float ld_f32(const uint8_t *p)
{
    float f;
    memcpy(&f, p, 4);
    return f;
}
static inline float ld_f16(const uint8_t *p) { return quant_f16_to_f32((uint16_t)(p[0] | (p[1] << 8))); }
static inline float ld_bf16(const uint8_t *p) { return quant_bf16_to_f32((uint16_t)(p[0] | (p[1] << 8))); }

typedef float (*ld_fn)(const uint8_t *p);

enum { TR1 = 4, TR2 = 4, TR = 4, TC = 4, TRM = K_MAX(TR, TR1), CHUNK = 64 };

/* Weights are converted CHUNK values at a time into a small f32 buffer per
 * row, so the conversion (slow for F16 in plain C) happens once per tile. */
K_INLINE void tile(ld_fn ld, size_t esize, int nr, int nx, int n_in, const uint8_t *w,
                   size_t w_stride, const uint8_t *xa, size_t xa_stride, float *out,
                   size_t out_stride)
{
    float acc[TRM][TC] = { { 0 } };
    float wf[TRM][CHUNK];
    for (int k0 = 0; k0 < n_in; k0 += CHUNK) {
        int nk = n_in - k0 < CHUNK ? n_in - k0 : CHUNK;
        int n8 = (nk + 7) & ~7;     /* zero-padded to whole groups of 8 lanes */
        for (int r = 0; r < nr; r++) {
            for (int k = 0; k < nk; k++) wf[r][k] = ld(w + r * w_stride + (size_t)(k0 + k) * esize);
            for (int k = nk; k < n8; k++) wf[r][k] = 0;
        }
        for (int c = 0; c < nx; c++) {
            float xf[CHUNK] = { 0 };
            memcpy(xf, xa + c * xa_stride + (size_t)k0 * sizeof(float), (size_t)nk * sizeof(float));
            for (int r = 0; r < nr; r++) {
                /* Eight independent sums: a float reduction the compiler may
                 * not reorder, written so that it can run in vector lanes. */
                float s[8] = { 0 };
                for (int k = 0; k < n8; k += 8)
                    for (int l = 0; l < 8; l++) s[l] += wf[r][k + l] * xf[k + l];
                acc[r][c] += ((s[0] + s[1]) + (s[2] + s[3])) + ((s[4] + s[5]) + (s[6] + s[7]));
            }
        }
    }
    for (int c = 0; c < nx; c++)
        for (int r = 0; r < nr; r++) out[c * out_stride + r] = acc[r][c];
}

K_DEFINE_GEMM(gemm_f32, TR1, TR2, TR, TC, tile, ld_f32, 4)
K_DEFINE_GEMM(gemm_f16, TR1, TR2, TR, TC, tile, ld_f16, 2)
K_DEFINE_GEMM(gemm_bf16, TR1, TR2, TR, TC, tile, ld_bf16, 2)

static const cpu_matmul_kernel kernels[] = {
    { .type = GT_F32, .act = CPU_ACT_F32, .gemm = gemm_f32 },
    { .type = GT_F16, .act = CPU_ACT_F32, .gemm = gemm_f16 },
    { .type = GT_BF16, .act = CPU_ACT_F32, .gemm = gemm_bf16 },
};

static void softmax(float *s, int n, float scale, float cap)
{
    float mx = -INFINITY;
    for (int i = 0; i < n; i++) {
        float c = scale * s[i];
        if (cap > 0) c = cap * tanhf(c / cap);
        s[i] = c;
        if (c > mx) mx = c;
    }
    float sum = 0;
    for (int i = 0; i < n; i++) sum += s[i] = expf(s[i] - mx);
    float inv = 1.0f / sum;
    for (int i = 0; i < n; i++) s[i] *= inv;
}

static void wsum(int n_x, int n_t, int n, const float *p, size_t p_stride, const float *v, size_t v_stride,
                 float *out, size_t out_stride)
{
    for (int x = 0; x < n_x; x++)
        for (int t = 0; t < n_t; t++) {
            float a = p[x * p_stride + t];
            const float *vt = v + t * v_stride;
            float *o = out + x * out_stride;
            for (int c = 0; c < n; c++) o[c] += a * vt[c];
        }
}

/* GeGLU with the tanh form of GELU (GEMMA.md), 0.5 x (1 + tanh(v)) with
 * v = sqrt(2/pi) (x + 0.044715 x^3), computed as x / (1 + e^(-2v)): the
 * same value, without 1 + tanh cancelling to nothing for negative x. */
static void geglu(float *g, const float *u, int n)
{
    const float c2 = -2.0f * 0.79788456080286535588f;
    for (int i = 0; i < n; i++) {
        float x = g[i];
        g[i] = x / (1.0f + expf(c2 * (x + 0.044715f * x * x * x))) * u[i];
    }
}

/* The sum of squares in double over four accumulators (independent adds). */
static void rmsnorm(float *y, const float *x, const float *w, int n, float eps, bool add)
{
    double s0 = 0, s1 = 0, s2 = 0, s3 = 0;
    int i = 0;
    for (; i + 4 <= n; i += 4) {
        s0 += (double)x[i] * x[i];
        s1 += (double)x[i + 1] * x[i + 1];
        s2 += (double)x[i + 2] * x[i + 2];
        s3 += (double)x[i + 3] * x[i + 3];
    }
    for (; i < n; i++) s0 += (double)x[i] * x[i];
    float k = (float)(1.0 / sqrt(((s0 + s1) + (s2 + s3)) / n + eps));
    for (int j = 0; j < n; j++) {
        float v = x[j] * k * w[j];
        y[j] = add ? y[j] + v : v;
    }
}

static uint64_t first_at_least(const float *s, uint64_t n, float x)
{
    for (uint64_t i = 0; i < n; i++)
        if (s[i] >= x) return i;
    return n;
}

const cpu_kernel_family cpu_fam_portable_float = {
    .name = "portable float",
    .isa = CPU_ISA_PORTABLE,
    .softmax = softmax,
    .wsum = wsum,
    .geglu = geglu,
    .rmsnorm = rmsnorm,
    .argmax = hb_argmax_plain,   /* the reference's loop: the semantics every level keeps */
    .first_at_least = first_at_least,
    .rope = hb_rope_rotate,
    .kernels = kernels,
    .n_kernels = sizeof kernels / sizeof kernels[0],
    .quantize = { [CPU_ACT_F32] = quantize_f32, [CPU_ACT_BF16] = quantize_bf16 },
};
