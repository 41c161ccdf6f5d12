/* k_avx512_kq.c: AVX-512 kernels for the K-quant weights Q4_K, Q5_K, Q6_K
 * against CPU_ACT_Q8_K activations (see cpu/kernels.h; compiled with
 * AVX-512 F/BW/VL/DQ + VNNI). The Q8_K quantizer is the AVX2 family's: it is
 * not where the time goes.
 *
 * As in k_avx2_kq.c, vpmaddubsw multiplies unsigned codes by signed q8 into
 * int16 pairs; here VNNI's vpdpwssd then multiplies those by the sub-block
 * scales and accumulates into int32 in one instruction. A 512-bit register
 * holds 64 codes, which is two Q4_K/Q5_K sub-blocks (one 32-byte chunk's low
 * and high nibbles, unpacked side by side so they line up with 64 contiguous
 * activations) or four Q6_K sub-blocks of 16. The 32 vector registers let a
 * prefill tile hold 2 weight rows x 4 activation rows, and a decode tile (the
 * two terms of one activation row) 4 weight rows: more memory streams in
 * flight than 2 (docs/cpu.md, "Decode tiles").
 */
#include "cpu/kernels.h"

#include <immintrin.h>

#include "cpu/kq_common.h"
#include "model/quant.h"

#define TILE_FN static inline __attribute__((always_inline)) void

static inline __m256i ld256(const uint8_t *p) { return _mm256_loadu_si256((const __m256i *)(const void *)p); }
static inline __m512i ld512(const uint8_t *p) { return _mm512_loadu_si512((const void *)p); }
/* 32 bytes at p in both halves of a 512-bit register. */
static inline __m512i ld256x2(const uint8_t *p) { return _mm512_broadcast_i64x4(ld256(p)); }

/* int16 lanes: e0 in lanes 0..15, e1 in lanes 16..31 (permute indices). */
static inline __m512i idx2(int e0, int e1)
{
    return _mm512_inserti64x4(_mm512_castsi256_si512(_mm256_set1_epi16((short)e0)), _mm256_set1_epi16((short)e1), 1);
}

/* int16 lanes: e, e+1, e+2, e+3 eight times each. */
static inline __m512i idx4(int e)
{
    return _mm512_inserti64x4(_mm512_castsi256_si512(_mm256_set_m128i(_mm_set1_epi16((short)(e + 1)), _mm_set1_epi16((short)e))),
                              _mm256_set_m128i(_mm_set1_epi16((short)(e + 3)), _mm_set1_epi16((short)(e + 2))), 1);
}

/* a | (b & c) */
static inline __m512i or_and(__m512i a, __m512i b, __m512i c) { return _mm512_ternarylogic_epi32(a, b, c, 0xf8); }

/* Q4_K (q5 = 0) and Q5_K (q5 = 1): one weight block against C activation
 * blocks into acc[0..C-1]. Chunk k (32 code bytes) becomes one register of
 * 64 codes: low nibbles (sub-block 2k) in the low half, high nibbles (2k+1)
 * in the high half; Q5_K's fifth bits are bits 2k / 2k+1 of qh[0..31]. */
TILE_FN q45k_block(const uint8_t *blk, const uint8_t *const *xb, const __m512 *xd, __m512 *acc,
                   const int C, const int q5)
{
    const __m512i m4 = _mm512_set1_epi8(0x0f), bit4 = _mm512_set1_epi8(0x10);
    const __m128i mins_idx = _mm_setr_epi8(8, 8, 9, 9, 10, 10, 11, 11, 12, 12, 13, 13, 14, 14, 15, 15);
    const __m128i sm = kq_scales_sm(blk + 4);
    const __m512i s16 = _mm512_castsi256_si512(_mm256_cvtepu8_epi16(sm));   /* sc0..7 m0..7 */
    const __m256i mn = _mm256_cvtepu8_epi16(_mm_shuffle_epi8(sm, mins_idx)); /* m0 m0 m1 m1 .. */
    const __m128 dm = kq_f16x2(blk);
    const __m512 dv = _mm512_broadcastss_ps(dm), mv = _mm512_broadcastss_ps(_mm_movehdup_ps(dm));
    const uint8_t *qs = blk + (q5 ? 48 : 16);
    /* Q5_K: qh >> 2k, shifted left 4 in the low half and 3 in the high half,
     * puts bit 2k resp. 2k+1 of each byte at 0x10. */
    const __m512i hsh = _mm512_inserti64x4(_mm512_set1_epi16(4), _mm256_set1_epi16(3), 1);
    __m512i hb = q5 ? ld256x2(blk + 16) : _mm512_setzero_si512();
    __m512i isum[KQ_MAX_C];
#pragma GCC unroll 4
    for (int k = 0; k < 4; k++) {
        const __m512i q = ld256x2(qs + 32 * k);
        __m512i w = _mm512_and_si512(_mm512_mask_srli_epi16(q, 0xffff0000u, q, 4), m4);
        if (q5) {
            w = or_and(w, _mm512_sllv_epi16(hb, hsh), bit4);
            hb = _mm512_srli_epi16(hb, 2);
        }
        const __m512i sk = _mm512_permutexvar_epi16(idx2(2 * k, 2 * k + 1), s16);
#pragma GCC unroll 4
        for (int c = 0; c < C; c++) {
            const __m512i p = _mm512_maddubs_epi16(w, ld512(xb[c] + KQ_XQ + 64 * k));
            isum[c] = k ? _mm512_dpwssd_epi32(isum[c], p, sk) : _mm512_madd_epi16(p, sk);
        }
    }
#pragma GCC unroll 4
    for (int c = 0; c < C; c++) {
        const __m256 summ = _mm256_cvtepi32_ps(_mm256_madd_epi16(ld256(xb[c] + KQ_XBSUM), mn));
        const __m512 f = _mm512_fnmadd_ps(_mm512_zextps256_ps512(summ), mv,
                                          _mm512_mul_ps(_mm512_cvtepi32_ps(isum[c]), dv));
        acc[c] = _mm512_fmadd_ps(f, xd[c], acc[c]);
    }
}

/* Q6_K: per half of 128 values, ql[0..63] in one register gives the low
 * nibbles of values 0..63 and (>> 4) of 64..127; qh[0..31] in both halves
 * gives their top 2 bits, shifted into 0x30 by 4 / 2 (values 0..63) and
 * 0 / -2 (64..127). Codes are 0..63; the -32 goes through bsum. */
TILE_FN q6k_block(const uint8_t *blk, const uint8_t *const *xb, const __m512 *xd, __m512 *acc, const int C)
{
    const __m512i m4 = _mm512_set1_epi8(0x0f), m30 = _mm512_set1_epi8(0x30);
    const __m512i shl = _mm512_inserti64x4(_mm512_set1_epi16(4), _mm256_set1_epi16(2), 1);
    const __m512i shr = _mm512_inserti64x4(_mm512_setzero_si512(), _mm256_set1_epi16(2), 1);
    const __m256i s16y = _mm256_cvtepi8_epi16(_mm_loadu_si128((const __m128i *)(const void *)(blk + 192)));
    const __m512i s16 = _mm512_castsi256_si512(s16y);
    const __m256i n32 = _mm256_sub_epi16(_mm256_setzero_si256(), _mm256_slli_epi16(s16y, 5));  /* -32 sc */
    const __m512 dv = _mm512_broadcastss_ps(kq_f16x1(blk + 208));
    __m512i isum[KQ_MAX_C];
#pragma GCC unroll 4
    for (int c = 0; c < C; c++)
        isum[c] = _mm512_zextsi256_si512(_mm256_madd_epi16(ld256(xb[c] + KQ_XBSUM), n32));
#pragma GCC unroll 2
    for (int h = 0; h < 2; h++) {
        const __m512i l = ld512(blk + 64 * h), qh = ld256x2(blk + 128 + 32 * h);
        const __m512i a = or_and(_mm512_and_si512(l, m4), _mm512_sllv_epi16(qh, shl), m30);
        const __m512i b = or_and(_mm512_and_si512(_mm512_srli_epi16(l, 4), m4), _mm512_srlv_epi16(qh, shr), m30);
        const __m512i sa = _mm512_permutexvar_epi16(idx4(8 * h), s16);
        const __m512i sb = _mm512_permutexvar_epi16(idx4(8 * h + 4), s16);
#pragma GCC unroll 4
        for (int c = 0; c < C; c++) {
            const uint8_t *xq = xb[c] + KQ_XQ + 128 * h;
            isum[c] = _mm512_dpwssd_epi32(isum[c], _mm512_maddubs_epi16(a, ld512(xq)), sa);
            isum[c] = _mm512_dpwssd_epi32(isum[c], _mm512_maddubs_epi16(b, ld512(xq + 64)), sb);
        }
    }
#pragma GCC unroll 4
    for (int c = 0; c < C; c++)
        acc[c] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(isum[c]), _mm512_mul_ps(dv, xd[c]), acc[c]);
}

KQ_DEFINE_GEMMS(__m512, _mm512_setzero_ps, _mm512_set1_ps, _mm512_reduce_add_ps, 4, 4, 2)

static const cpu_matmul_kernel kernels[] = {
    { .type = GT_Q4_K, .act = CPU_ACT_Q8_K, .gemm = gemm_q4k },
    { .type = GT_Q5_K, .act = CPU_ACT_Q8_K, .gemm = gemm_q5k },
    { .type = GT_Q6_K, .act = CPU_ACT_Q8_K, .gemm = gemm_q6k },
};

const cpu_kernel_family cpu_fam_avx512_kq = {
    .name = "avx512 kq",
    .isa = CPU_ISA_AVX512,
    .kernels = kernels,
    .n_kernels = sizeof kernels / sizeof kernels[0],
};
