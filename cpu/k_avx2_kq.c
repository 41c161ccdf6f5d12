/* k_avx2_kq.c: AVX2 kernels for the K-quant weights Q4_K, Q5_K, Q6_K against
 * CPU_ACT_Q8_K activations, and the AVX2 Q8_K quantizer (see cpu/kernels.h;
 * this file is compiled with -mavx2 -mfma -mf16c).
 *
 * The products are integer: vpmaddubsw multiplies the unsigned weight codes
 * (nibbles, 5- or 6-bit codes) by the signed 8-bit activations and adds pairs
 * to int16 (at most 2 * 63 * 127, no saturation); vpmaddwd multiplies those by
 * the sub-block's integer scale and adds pairs to int32. The 4-bit and 5-bit
 * types' mins go through the activations' 16-value sums (bsum), and Q6_K's
 * -32 offset the same way, so no code is ever made signed. Per block and
 * (row, activation row) the int32 lanes go to float once, scaled by the
 * block's d (and dmin) and the activation's d, into per-lane f32 accumulators
 * that are reduced once per output.
 */
#include "cpu/kernels.h"

#include <immintrin.h>
#include <string.h>

#include "cpu/kq_common.h"
#include "model/quant.h"

static inline __m256i clamp_i8(__m256i v)
{
    return _mm256_max_epi32(_mm256_min_epi32(v, _mm256_set1_epi32(127)), _mm256_set1_epi32(-128));
}

/* Q8_K, bit-identical to the portable quantizer: the same max, the same
 * division, cvtps rounds to nearest even as lrintf does. One block of 256. */
static inline void q8k_block(const float *x, cpu_q8_k *out)
{
    const __m256 sign = _mm256_set1_ps(-0.0f);
    const __m256i order = _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7);
    cpu_q8_k blk;
    __m256 m = _mm256_setzero_ps();
    /* max_ps returns its second operand where either is NaN: with m second,
     * a NaN in x is passed over, as fmaxf does in the portable quantizer. */
    for (int i = 0; i < 256; i += 8) m = _mm256_max_ps(_mm256_andnot_ps(sign, _mm256_loadu_ps(x + i)), m);
    __m128 m4 = _mm_max_ps(_mm256_castps256_ps128(m), _mm256_extractf128_ps(m, 1));
    m4 = _mm_max_ps(m4, _mm_movehl_ps(m4, m4));
    m4 = _mm_max_ss(m4, _mm_movehdup_ps(m4));
    float amax = _mm_cvtss_f32(m4);
    if (!(amax > 0)) {
        memset(out, 0, sizeof *out);
        return;
    }
    blk.d = amax / 127.0f;
    const __m256 d = _mm256_set1_ps(blk.d);
    __m128i sums[4];                               /* int32 bsum[4u .. 4u+3] */
    for (int u = 0; u < 4; u++) {
        __m256i pair[2];
        for (int h = 0; h < 2; h++) {              /* 32 values: 2 groups of 16 */
            const float *p = x + 64 * u + 32 * h;
            __m256i i0 = _mm256_cvtps_epi32(_mm256_div_ps(_mm256_loadu_ps(p), d));
            __m256i i1 = _mm256_cvtps_epi32(_mm256_div_ps(_mm256_loadu_ps(p + 8), d));
            __m256i i2 = _mm256_cvtps_epi32(_mm256_div_ps(_mm256_loadu_ps(p + 16), d));
            __m256i i3 = _mm256_cvtps_epi32(_mm256_div_ps(_mm256_loadu_ps(p + 24), d));
            /* The packs interleave 128-bit halves; the dword permute puts
             * the 32 bytes back in value order. */
            __m256i q = _mm256_packs_epi16(_mm256_packs_epi32(i0, i1), _mm256_packs_epi32(i2, i3));
            _mm256_storeu_si256((__m256i *)(void *)(blk.q + 64 * u + 32 * h),
                                _mm256_permutevar8x32_epi32(q, order));
            /* bsum from the saturated values, as stored (only a NaN or an
             * infinity in x gets there: cvtps gives INT_MIN for those). */
            i0 = clamp_i8(i0), i1 = clamp_i8(i1), i2 = clamp_i8(i2), i3 = clamp_i8(i3);
            pair[h] = _mm256_hadd_epi32(_mm256_add_epi32(i0, i1), _mm256_add_epi32(i2, i3));
        }
        /* hadd of the pairs: low half the groups' first 8, high half their last 8. */
        __m256i s = _mm256_hadd_epi32(pair[0], pair[1]);
        sums[u] = _mm_add_epi32(_mm256_castsi256_si128(s), _mm256_extracti128_si256(s, 1));
    }
    _mm_storeu_si128((__m128i *)(void *)blk.bsum, _mm_packs_epi32(sums[0], sums[1]));
    _mm_storeu_si128((__m128i *)(void *)(blk.bsum + 8), _mm_packs_epi32(sums[2], sums[3]));
    *out = blk;
}

static void q8k_quantize(const float *x, void *dst, int n)
{
    uint8_t *o = dst;
    for (int b = 0; b < n / 256; b++, x += 256, o += KQ_XB) {
        cpu_q8_k blk;
        q8k_block(x, &blk);
        memcpy(o, &blk, sizeof blk);
    }
}

/* Two terms, block by block: the residual x - d q (a product and a
 * difference, as the portable level rounds them) while the block is at hand. */
static void q8k_quantize2(const float *x, void *dst, void *dst2, int n)
{
    uint8_t *o = dst, *o2 = dst2;
    for (int b = 0; b < n / 256; b++, x += 256, o += KQ_XB, o2 += KQ_XB) {
        cpu_q8_k blk;
        float r[256];
        q8k_block(x, &blk);
        memcpy(o, &blk, sizeof blk);
        const __m256 d = _mm256_set1_ps(blk.d);
        for (int i = 0; i < 256; i += 8) {
            __m256 q = _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(_mm_loadl_epi64((const __m128i *)(void *)(blk.q + i))));
            _mm256_storeu_ps(r + i, _mm256_sub_ps(_mm256_loadu_ps(x + i), _mm256_mul_ps(d, q)));
        }
        q8k_block(r, &blk);
        memcpy(o2, &blk, sizeof blk);
    }
}

static inline __m256i ld256(const uint8_t *p) { return _mm256_loadu_si256((const __m256i *)(const void *)p); }

/* int16 element lo of v's low 128-bit half in all 8 int16 slots of that half,
 * element hi of the high half likewise in the high half (vpshufb stays within
 * halves). */
static inline __m256i splat16(__m256i v, int lo, int hi)
{
    return _mm256_shuffle_epi8(v, _mm256_set_m128i(_mm_set1_epi16((short)(0x0101 * 2 * hi + 0x0100)),
                                                   _mm_set1_epi16((short)(0x0101 * 2 * lo + 0x0100))));
}

#define TILE_FN static inline __attribute__((always_inline)) void

/* Q4_K (q5 = 0) and Q5_K (q5 = 1): one weight block against C activation
 * blocks, into the row's accumulators acc[0..C-1]. Chunk k of a block is 32
 * code bytes: low nibbles sub-block 2k, high nibbles 2k+1; Q5_K's fifth bits
 * are bits 2k and 2k+1 of qh[0..31]. */
TILE_FN q45k_block(const uint8_t *blk, const uint8_t *const *xb, const __m256 *xd, __m256 *acc,
                   const int C, const int q5)
{
    const __m256i m4 = _mm256_set1_epi8(0x0f), bit4 = _mm256_set1_epi8(0x10);
    const __m128i mins_idx = _mm_setr_epi8(8, 8, 9, 9, 10, 10, 11, 11, 12, 12, 13, 13, 14, 14, 15, 15);
    const __m128i sm = kq_scales_sm(blk + 4);
    const __m256i sc = _mm256_broadcastsi128_si256(_mm_cvtepu8_epi16(sm));   /* sc0..7 per half */
    const __m256i mn = _mm256_cvtepu8_epi16(_mm_shuffle_epi8(sm, mins_idx)); /* m0 m0 m1 m1 .. */
    const __m128 dm = kq_f16x2(blk);
    const __m256 dv = _mm256_broadcastss_ps(dm), mv = _mm256_broadcastss_ps(_mm_movehdup_ps(dm));
    const uint8_t *qs = blk + (q5 ? 48 : 16);
    __m256i hb = q5 ? ld256(blk + 16) : _mm256_setzero_si256();
    __m256i isum[KQ_MAX_C];
#pragma GCC unroll 4
    for (int k = 0; k < 4; k++) {
        const __m256i q = ld256(qs + 32 * k);
        __m256i lo = _mm256_and_si256(q, m4), hi = _mm256_and_si256(_mm256_srli_epi16(q, 4), m4);
        if (q5) {
            /* hb holds qh >> 2k: bit 0 of each byte goes to lo, bit 1 to hi. */
            lo = _mm256_or_si256(lo, _mm256_and_si256(_mm256_slli_epi16(hb, 4), bit4));
            hi = _mm256_or_si256(hi, _mm256_and_si256(_mm256_slli_epi16(hb, 3), bit4));
            hb = _mm256_srli_epi16(hb, 2);
        }
        const __m256i sl = splat16(sc, 2 * k, 2 * k), sh = splat16(sc, 2 * k + 1, 2 * k + 1);
#pragma GCC unroll 4
        for (int c = 0; c < C; c++) {
            const uint8_t *xq = xb[c] + KQ_XQ + 64 * k;
            __m256i t = _mm256_add_epi32(_mm256_madd_epi16(_mm256_maddubs_epi16(lo, ld256(xq)), sl),
                                         _mm256_madd_epi16(_mm256_maddubs_epi16(hi, ld256(xq + 32)), sh));
            isum[c] = k ? _mm256_add_epi32(isum[c], t) : t;
        }
    }
#pragma GCC unroll 4
    for (int c = 0; c < C; c++) {
        const __m256i summ = _mm256_madd_epi16(ld256(xb[c] + KQ_XBSUM), mn);
        const __m256 f = _mm256_fnmadd_ps(_mm256_cvtepi32_ps(summ), mv, _mm256_mul_ps(_mm256_cvtepi32_ps(isum[c]), dv));
        acc[c] = _mm256_fmadd_ps(f, xd[c], acc[c]);
    }
}

/* Q6_K: per half of 128 values, L0 = ql[0..31], L1 = ql[32..63], H = qh[0..31]
 * make four runs of 32 codes (0..63; the -32 is folded in through bsum):
 * L0 & 15 | H<<4 & 0x30, L1 & 15 | H<<2 & 0x30, L0>>4 | H & 0x30, L1>>4 | H>>2 & 0x30.
 * Run g of half h covers sub-blocks 8h + 2g (low 128 bits) and 8h + 2g + 1. */
TILE_FN q6k_block(const uint8_t *blk, const uint8_t *const *xb, const __m256 *xd, __m256 *acc, const int C)
{
    const __m256i m4 = _mm256_set1_epi8(0x0f), m30 = _mm256_set1_epi8(0x30);
    const __m256i s16 = _mm256_cvtepi8_epi16(_mm_loadu_si128((const __m128i *)(const void *)(blk + 192)));
    const __m256 dv = _mm256_broadcastss_ps(kq_f16x1(blk + 208));
    __m256i isum[KQ_MAX_C];
#pragma GCC unroll 4
    for (int c = 0; c < C; c++)   /* the -32 offset: -32 * sum sc[j] * bsum[j] */
        isum[c] = _mm256_sub_epi32(_mm256_setzero_si256(),
                                   _mm256_slli_epi32(_mm256_madd_epi16(ld256(xb[c] + KQ_XBSUM), s16), 5));
    /* sc[0..7] and sc[8..15] in both 128-bit halves (hoisted: the permute
     * takes an immediate, which a loop index is not at -O1). */
    const __m256i s_half[2] = { _mm256_permute2x128_si256(s16, s16, 0x00), _mm256_permute2x128_si256(s16, s16, 0x11) };
#pragma GCC unroll 2
    for (int h = 0; h < 2; h++) {
        const __m256i s = s_half[h];
        const __m256i l0 = ld256(blk + 64 * h), l1 = ld256(blk + 64 * h + 32), qh = ld256(blk + 128 + 32 * h);
        const __m256i g[4] = {
            _mm256_or_si256(_mm256_and_si256(l0, m4), _mm256_and_si256(_mm256_slli_epi16(qh, 4), m30)),
            _mm256_or_si256(_mm256_and_si256(l1, m4), _mm256_and_si256(_mm256_slli_epi16(qh, 2), m30)),
            _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(l0, 4), m4), _mm256_and_si256(qh, m30)),
            _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(l1, 4), m4),
                            _mm256_and_si256(_mm256_srli_epi16(qh, 2), m30)),
        };
#pragma GCC unroll 4
        for (int k = 0; k < 4; k++) {
            const __m256i sk = splat16(s, 2 * k, 2 * k + 1);
#pragma GCC unroll 4
            for (int c = 0; c < C; c++) {
                const __m256i p = _mm256_maddubs_epi16(g[k], ld256(xb[c] + KQ_XQ + 128 * h + 32 * k));
                isum[c] = _mm256_add_epi32(isum[c], _mm256_madd_epi16(p, sk));
            }
        }
    }
#pragma GCC unroll 4
    for (int c = 0; c < C; c++)
        acc[c] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(isum[c]), _mm256_mul_ps(dv, xd[c]), acc[c]);
}

KQ_DEFINE_GEMMS(__m256, _mm256_setzero_ps, _mm256_set1_ps, kq_hsum256, 4, 2, 2)

static const cpu_matmul_kernel kernels[] = {
    { .type = GT_Q4_K, .act = CPU_ACT_Q8_K, .gemm = gemm_q4k },
    { .type = GT_Q5_K, .act = CPU_ACT_Q8_K, .gemm = gemm_q5k },
    { .type = GT_Q6_K, .act = CPU_ACT_Q8_K, .gemm = gemm_q6k },
};

const cpu_kernel_family cpu_fam_avx2_kq = {
    .name = "avx2 kq",
    .isa = CPU_ISA_AVX2,
    .kernels = kernels,
    .n_kernels = sizeof kernels / sizeof kernels[0],
    .quantize = { [CPU_ACT_Q8_K] = q8k_quantize },
    .quantize2 = { [CPU_ACT_Q8_K] = q8k_quantize2 },
};
