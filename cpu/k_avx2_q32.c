/* k_avx2_q32.c: AVX2 kernels for the 32-value-block weight types (Q8_0 Q4_0
 * Q4_1 Q5_0 Q5_1) and the CPU_ACT_Q8_32 quantizer (see cpu/kernels.h; the
 * plain-C statement of the same arithmetic is cpu/k_portable_q32.c).
 *
 * One weight block becomes one register of 32 bytes. Signed types use the
 * sign trick, since vpmaddubsw multiplies unsigned by signed bytes:
 * |a| * sign(b, a) = a * b, with a the operand that can be -128 (whose
 * negation would wrap): Q8_0's weights (a = w), while Q4_0 / Q5_0 with their
 * -8 / -16 folded in stay within -16..15 and take a = x, the activations being
 * -127..127. Q4_1 / Q5_1 are unsigned already and add their min as m_w * s_x. The
 * eight int32 lanes of a block's products are converted to f32 and scaled by
 * d_w * d_x into f32 accumulator lanes; the lanes are summed once per output.
 *
 * A tile of TR weight rows x up to TC activation rows keeps TR * TC
 * accumulators: each weight block is decoded once per tile, each activation
 * block loaded once per TR rows. Decode (one activation row) streams TR weight
 * rows at once, which is what keeps the memory system busy.
 */
#include "cpu/kernels.h"
#include "cpu/k_avx2_util.h"
#include "cpu/k_tiles.h"

#include <immintrin.h>
#include <string.h>

#include "model/quant.h"


/* ---- the activation quantizer ---- */

/* Same arithmetic as the portable level (d = amax / 127, q = x * (127 / amax)
 * rounded to nearest even by vcvtps2dq), so the results are identical. One
 * block of the 32 values v to y; d and the values q (int32) stay for a
 * residual. */
K_INLINE void q8_32_block(const __m256 v[4], uint8_t *y, __m256 *dv, __m256i q[4])
{
    const __m256 absmask = _mm256_castsi256_ps(_mm256_set1_epi32(0x7fffffff));
    __m256 mx = _mm256_setzero_ps();
    for (int i = 0; i < 4; i++) mx = _mm256_max_ps(mx, _mm256_and_ps(v[i], absmask));
    __m128 m4 = _mm_max_ps(_mm256_castps256_ps128(mx), _mm256_extractf128_ps(mx, 1));
    m4 = _mm_max_ps(m4, _mm_movehl_ps(m4, m4));
    m4 = _mm_max_ss(m4, _mm_movehdup_ps(m4));
    float amax = _mm_cvtss_f32(m4);
    float d = amax / 127.0f, id = amax > 0 ? 127.0f / amax : 0.0f;
    __m256 vid = _mm256_set1_ps(id);
    for (int i = 0; i < 4; i++) q[i] = _mm256_cvtps_epi32(_mm256_mul_ps(v[i], vid));
    __m256i s4 = _mm256_add_epi32(_mm256_add_epi32(q[0], q[1]), _mm256_add_epi32(q[2], q[3]));
    __m128i s = _mm_add_epi32(_mm256_castsi256_si128(s4), _mm256_extracti128_si256(s4, 1));
    s = _mm_add_epi32(s, _mm_shuffle_epi32(s, 0x4e));
    s = _mm_add_epi32(s, _mm_shuffle_epi32(s, 0xb1));
    int sum = _mm_cvtsi128_si32(s);
    /* packs works within 128-bit lanes: the permute restores the order. */
    __m256i p = _mm256_packs_epi16(_mm256_packs_epi32(q[0], q[1]), _mm256_packs_epi32(q[2], q[3]));
    p = _mm256_permutevar8x32_epi32(p, _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7));
    float ds[2] = { d, d * (float)sum };
    memcpy(y + offsetof(cpu_q8_32, d), &ds[0], sizeof(float));
    memcpy(y + offsetof(cpu_q8_32, s), &ds[1], sizeof(float));
    _mm256_storeu_si256((__m256i *)(y + offsetof(cpu_q8_32, q)), p);
    *dv = _mm256_set1_ps(d);
}

static void quantize_q8_32(const float *x, void *dst, int n)
{
    uint8_t *y = dst;
    for (int b = 0; b < n / 32; b++, x += 32, y += sizeof(cpu_q8_32)) {
        __m256 v[4], d;
        __m256i q[4];
        for (int i = 0; i < 4; i++) v[i] = _mm256_loadu_ps(x + 8 * i);
        q8_32_block(v, y, &d, q);
    }
}

/* Two terms in one pass: the residual x - d q (a product and a difference,
 * as the portable level rounds them) comes from the registers. */
static void quantize2_q8_32(const float *x, void *dst, void *dst2, int n)
{
    uint8_t *y = dst, *y2 = dst2;
    for (int b = 0; b < n / 32; b++, x += 32, y += sizeof(cpu_q8_32), y2 += sizeof(cpu_q8_32)) {
        __m256 v[4], r[4], d;
        __m256i q[4];
        for (int i = 0; i < 4; i++) v[i] = _mm256_loadu_ps(x + 8 * i);
        q8_32_block(v, y, &d, q);
        for (int i = 0; i < 4; i++) r[i] = _mm256_sub_ps(v[i], _mm256_mul_ps(d, _mm256_cvtepi32_ps(q[i])));
        q8_32_block(r, y2, &d, q);
    }
}

/* ---- weight block decoders: 32 bytes, scale, min ---- */

/* The 32 bits of qh -> 0xff in byte j where bit j is set, else 0. */
K_INLINE __m256i bits_to_bytes(const uint8_t *qh)
{
    uint32_t u;
    memcpy(&u, qh, 4);
    const __m256i shuf = _mm256_set_epi64x(0x0303030303030303, 0x0202020202020202, 0x0101010101010101, 0);
    __m256i v = _mm256_shuffle_epi8(_mm256_set1_epi32((int)u), shuf);
    v = _mm256_or_si256(v, _mm256_set1_epi64x(0x7fbfdfeff7fbfdfe));
    return _mm256_cmpeq_epi8(v, _mm256_set1_epi64x(-1));
}

typedef void (*dec_fn)(const uint8_t *b, __m256i *q, float *d, float *m);

K_INLINE void dec_q8_0(const uint8_t *b, __m256i *q, float *d, float *m)
{
    *d = k_ld_f16(b);
    *m = 0;
    *q = _mm256_loadu_si256((const __m256i *)(b + 2));
}

K_INLINE void dec_q4_0(const uint8_t *b, __m256i *q, float *d, float *m)
{
    *d = k_ld_f16(b);
    *m = 0;
    *q = _mm256_sub_epi8(k_nibbles32(b + 2), _mm256_set1_epi8(8));
}

K_INLINE void dec_q4_1(const uint8_t *b, __m256i *q, float *d, float *m)
{
    *d = k_ld_f16(b);
    *m = k_ld_f16(b + 2);
    *q = k_nibbles32(b + 4);
}

/* nibble | (0xf0 where the fifth bit is clear) is nibble + 16 * bit - 16 as
 * a signed byte. */
K_INLINE void dec_q5_0(const uint8_t *b, __m256i *q, float *d, float *m)
{
    *d = k_ld_f16(b);
    *m = 0;
    __m256i hi = _mm256_andnot_si256(bits_to_bytes(b + 2), _mm256_set1_epi8((char)0xf0));
    *q = _mm256_or_si256(k_nibbles32(b + 6), hi);
}

K_INLINE void dec_q5_1(const uint8_t *b, __m256i *q, float *d, float *m)
{
    *d = k_ld_f16(b);
    *m = k_ld_f16(b + 2);
    __m256i hi = _mm256_and_si256(bits_to_bytes(b + 4), _mm256_set1_epi8(0x10));
    *q = _mm256_or_si256(k_nibbles32(b + 8), hi);
}

/* ---- the tiled product ---- */

enum { TR1 = 4, TR2 = 2, TR = 2, TC = 4, TRM = K_MAX(TR, TR1) };  /* tiles: K_DEFINE_GEMM */

/* How a type's weight bytes multiply (see the top of the file). */
enum kind { SIGNED_ABS_X, SIGNED_ABS_W, UNSIGNED_MIN };

/* nr x nx (compile-time constants after inlining) outputs over n_in / 32 blocks. */
K_INLINE void tile(dec_fn dec, enum kind kind, size_t bbytes, int nr, int nx, int n_in,
                   const uint8_t *w, size_t w_stride, const uint8_t *xa, size_t xa_stride,
                   float *out, size_t out_stride)
{
    int nb = n_in / 32;
    const __m256i ones = _mm256_set1_epi16(1);
    __m256 acc[TRM][TC];
    K_UNROLL for (int r = 0; r < nr; r++)
        K_UNROLL for (int c = 0; c < nx; c++) acc[r][c] = _mm256_setzero_ps();
    for (int b = 0; b < nb; b++) {
        __m256i wq[TRM];
        __m256 dw[TRM], mw[TRM];
        K_UNROLL for (int r = 0; r < nr; r++) {
            float d, m;
            k_prefetch_next(w + r * w_stride + b * bbytes, (size_t)nr, w_stride, bbytes);
            dec(w + r * w_stride + b * bbytes, &wq[r], &d, &m);
            dw[r] = _mm256_set1_ps(d);
            mw[r] = _mm256_set1_ps(m);
        }
        K_UNROLL for (int c = 0; c < nx; c++) {
            const uint8_t *xb = xa + c * xa_stride + b * sizeof(cpu_q8_32);
            float ds[2];
            memcpy(ds, xb, sizeof ds);                  /* d, s */
            __m256i xq = _mm256_loadu_si256((const __m256i *)(xb + offsetof(cpu_q8_32, q)));
            __m256 dx = _mm256_set1_ps(ds[0]);
            /* The min term lands in each of the 8 lanes: s / 8 (exact) per lane. */
            __m256 sx = _mm256_set1_ps(ds[1] * 0.125f);
            __m256i ax = _mm256_abs_epi8(xq);
            K_UNROLL for (int r = 0; r < nr; r++) {
                __m256i p16 = kind == UNSIGNED_MIN ? _mm256_maddubs_epi16(wq[r], xq)
                            : kind == SIGNED_ABS_X ? _mm256_maddubs_epi16(ax, _mm256_sign_epi8(wq[r], xq))
                            : _mm256_maddubs_epi16(_mm256_abs_epi8(wq[r]), _mm256_sign_epi8(xq, wq[r]));
                __m256 p = _mm256_cvtepi32_ps(_mm256_madd_epi16(p16, ones));
                acc[r][c] = _mm256_fmadd_ps(p, _mm256_mul_ps(dw[r], dx), acc[r][c]);
                if (kind == UNSIGNED_MIN) acc[r][c] = _mm256_fmadd_ps(mw[r], sx, acc[r][c]);
            }
        }
    }
    K_UNROLL for (int c = 0; c < nx; c++)
        K_UNROLL for (int r = 0; r < nr; r++) out[c * out_stride + r] = k_hsum8(acc[r][c]);
}

/* Full tiles, then the activation rows left over, then the weight rows left
 * over one at a time; every call of tile() has constant nr and nx. */
K_DEFINE_GEMM(gemm_q8_0, TR1, TR2, TR, TC, tile, dec_q8_0, SIGNED_ABS_W, 34)
K_DEFINE_GEMM(gemm_q4_0, TR1, TR2, TR, TC, tile, dec_q4_0, SIGNED_ABS_X, 18)
K_DEFINE_GEMM(gemm_q4_1, TR1, TR2, TR, TC, tile, dec_q4_1, UNSIGNED_MIN, 20)
K_DEFINE_GEMM(gemm_q5_0, TR1, TR2, TR, TC, tile, dec_q5_0, SIGNED_ABS_X, 22)
K_DEFINE_GEMM(gemm_q5_1, TR1, TR2, TR, TC, tile, dec_q5_1, UNSIGNED_MIN, 24)

static const cpu_matmul_kernel kernels[] = {
    { .type = GT_Q8_0, .act = CPU_ACT_Q8_32, .gemm = gemm_q8_0 },
    { .type = GT_Q4_0, .act = CPU_ACT_Q8_32, .gemm = gemm_q4_0 },
    { .type = GT_Q4_1, .act = CPU_ACT_Q8_32, .gemm = gemm_q4_1 },
    { .type = GT_Q5_0, .act = CPU_ACT_Q8_32, .gemm = gemm_q5_0 },
    { .type = GT_Q5_1, .act = CPU_ACT_Q8_32, .gemm = gemm_q5_1 },
};

const cpu_kernel_family cpu_fam_avx2_q32 = {
    .name = "avx2 q32",
    .isa = CPU_ISA_AVX2,
    .kernels = kernels,
    .n_kernels = sizeof kernels / sizeof kernels[0],
    .quantize = { [CPU_ACT_Q8_32] = quantize_q8_32 },
    .quantize2 = { [CPU_ACT_Q8_32] = quantize2_q8_32 },
};
