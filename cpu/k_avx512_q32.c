/* k_avx512_q32.c: AVX-512 VNNI kernels for the 32-value-block weight types
 * (Q8_0 Q4_0 Q4_1 Q5_0 Q5_1); see cpu/kernels.h, and cpu/k_portable_q32.c for
 * the plain-C statement of the arithmetic. The activations come from the
 * AVX2 level's quantizer (the same blocks; nothing to gain here).
 *
 * vpdpbusd multiplies unsigned weight bytes by signed activation bytes and
 * adds groups of four into int32 lanes, with no int16 saturation step, so
 * every weight is made unsigned: Q4_0 / Q5_0 keep their raw nibbles (0..15,
 * 0..31) and Q8_0 flips its sign bit (w + 128). The offset (8, 16, 128) is
 * taken back in the integer domain: the accumulator of each block starts at
 * -offset * sum(x) lanes, computed once per activation block and shared by the
 * tile's weight rows. Q4_1 / Q5_1 add their min as m_w * s_x instead.
 *
 * One block is one 256-bit register (blocks are 34/22/18 bytes apart, so a
 * 512-bit register would have to be assembled from two loads per row); the
 * level's gain is vpdpbusd (one instruction for vpmaddubsw + vpmaddwd, no
 * sign trick), the mask registers (the fifth bits of Q5 in two instructions),
 * and 32 vector registers: tiles of 4 weight rows x 4 activation rows.
 */
#include "cpu/kernels.h"
#include "cpu/k_avx2_util.h"
#include "cpu/k_tiles.h"

#include <immintrin.h>
#include <string.h>

#include "model/quant.h"

/* ---- weight block decoders: 32 unsigned bytes, scale, min ---- */

/* 8 lanes of the f16 at p. */
K_INLINE __m256 bcast_f16(const uint8_t *p)
{
    uint16_t h;
    memcpy(&h, p, 2);
    return _mm256_cvtph_ps(_mm_set1_epi16((short)h));
}

/* nibbles + 16 where bit j of the 32-bit qh is set. */
K_INLINE __m256i fifth_bits(__m256i q, const uint8_t *qh)
{
    uint32_t u;
    memcpy(&u, qh, 4);
    return _mm256_mask_add_epi8(q, (__mmask32)u, q, _mm256_set1_epi8(16));
}

typedef void (*dec_fn)(const uint8_t *b, __m256i *q, __m256 *d, __m256 *m);

K_INLINE void dec_q8_0(const uint8_t *b, __m256i *q, __m256 *d, __m256 *m)
{
    *d = bcast_f16(b);
    *m = _mm256_setzero_ps();
    *q = _mm256_xor_si256(_mm256_loadu_si256((const __m256i *)(b + 2)), _mm256_set1_epi8((char)0x80));
}

K_INLINE void dec_q4_0(const uint8_t *b, __m256i *q, __m256 *d, __m256 *m)
{
    *d = bcast_f16(b);
    *m = _mm256_setzero_ps();
    *q = k_nibbles32(b + 2);
}

K_INLINE void dec_q4_1(const uint8_t *b, __m256i *q, __m256 *d, __m256 *m)
{
    *d = bcast_f16(b);
    *m = bcast_f16(b + 2);
    *q = k_nibbles32(b + 4);
}

K_INLINE void dec_q5_0(const uint8_t *b, __m256i *q, __m256 *d, __m256 *m)
{
    *d = bcast_f16(b);
    *m = _mm256_setzero_ps();
    *q = fifth_bits(k_nibbles32(b + 6), b + 2);
}

K_INLINE void dec_q5_1(const uint8_t *b, __m256i *q, __m256 *d, __m256 *m)
{
    *d = bcast_f16(b);
    *m = bcast_f16(b + 2);
    *q = fifth_bits(k_nibbles32(b + 8), b + 4);
}

/* ---- the tiled product ---- */

enum { TR1 = 8, TR = 4, TC = 4, TRM = K_MAX(TR, TR1) };  /* tiles: K_DEFINE_GEMM */

/* nr x nx (compile-time constants after inlining) outputs over n_in / 32 blocks.
 * off: the offset the unsigned weight bytes carry (0: the type has a min). */
K_INLINE void tile(dec_fn dec, int off, size_t bbytes, int nr, int nx, int n_in, const uint8_t *w,
                   size_t w_stride, const uint8_t *xa, size_t xa_stride, float *out,
                   size_t out_stride)
{
    int nb = n_in / 32;
    __m256 acc[TRM][TC];
    K_UNROLL for (int r = 0; r < nr; r++)
        K_UNROLL for (int c = 0; c < nx; c++) acc[r][c] = _mm256_setzero_ps();
    for (int b = 0; b < nb; b++) {
        __m256i wq[TRM];
        __m256 dw[TRM], mw[TRM];
        K_UNROLL for (int r = 0; r < nr; r++) dec(w + r * w_stride + b * bbytes, &wq[r], &dw[r], &mw[r]);
        K_UNROLL for (int c = 0; c < nx; c++) {
            const uint8_t *xb = xa + c * xa_stride + b * sizeof(cpu_q8_32);
            float ds[2];
            memcpy(ds, xb, sizeof ds);                  /* d, s */
            __m256i xq = _mm256_loadu_si256((const __m256i *)(xb + offsetof(cpu_q8_32, q)));
            __m256 dx = _mm256_set1_ps(ds[0]);
            __m256i pre = _mm256_setzero_si256();
            __m256 sx = _mm256_setzero_ps();
            if (off)
                pre = _mm256_sub_epi32(pre, _mm256_dpbusd_epi32(pre, _mm256_set1_epi8((char)off), xq));
            else        /* the min term lands in each of the 8 lanes: s / 8 (exact) per lane */
                sx = _mm256_set1_ps(ds[1] * 0.125f);
            K_UNROLL for (int r = 0; r < nr; r++) {
                __m256 p = _mm256_cvtepi32_ps(_mm256_dpbusd_epi32(pre, wq[r], xq));
                acc[r][c] = _mm256_fmadd_ps(p, _mm256_mul_ps(dw[r], dx), acc[r][c]);
                if (!off) acc[r][c] = _mm256_fmadd_ps(mw[r], sx, acc[r][c]);
            }
        }
    }
    K_UNROLL for (int c = 0; c < nx; c++)
        K_UNROLL for (int r = 0; r < nr; r++) out[c * out_stride + r] = k_hsum8(acc[r][c]);
}

K_DEFINE_GEMM(gemm_q8_0, TR1, TR, TC, tile, dec_q8_0, 128, 34)
K_DEFINE_GEMM(gemm_q4_0, TR1, TR, TC, tile, dec_q4_0, 8, 18)
K_DEFINE_GEMM(gemm_q4_1, TR1, TR, TC, tile, dec_q4_1, 0, 20)
K_DEFINE_GEMM(gemm_q5_0, TR1, TR, TC, tile, dec_q5_0, 16, 22)
K_DEFINE_GEMM(gemm_q5_1, TR1, TR, TC, tile, dec_q5_1, 0, 24)

static const cpu_matmul_kernel kernels[] = {
    { GT_Q8_0, CPU_ACT_Q8_32, gemm_q8_0 },
    { GT_Q4_0, CPU_ACT_Q8_32, gemm_q4_0 },
    { GT_Q4_1, CPU_ACT_Q8_32, gemm_q4_1 },
    { GT_Q5_0, CPU_ACT_Q8_32, gemm_q5_0 },
    { GT_Q5_1, CPU_ACT_Q8_32, gemm_q5_1 },
};

const cpu_kernel_family cpu_fam_avx512_q32 = {
    .name = "avx512 q32",
    .isa = CPU_ISA_AVX512,
    .kernels = kernels,
    .n_kernels = sizeof kernels / sizeof kernels[0],
};
