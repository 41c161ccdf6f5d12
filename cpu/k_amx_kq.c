/* k_amx_kq.c: AMX kernels for the K-quant weights Q4_K, Q5_K, Q6_K against
 * CPU_ACT_Q8_K activations (see cpu/kernels.h, cpu/k_amx_util.h for the tile
 * product, model/quant.c for the block layouts).
 *
 * Prefill (n_x >= AMX_MIN_X): as in k_amx_q32.c, 16 weight rows' blocks are
 * decoded once per chunk of KC blocks and repacked into B tiles, one per
 * sub-block: Q4_K / Q5_K's 8 sub-blocks of 32 (K = 32; codes 0..15 / 0..31),
 * Q6_K's 16 of 16 (K = 16; codes minus 32, -32..31). Per block and tile of 16
 * activation rows the sub-block products (int32, exact) are stored, then per
 * activation row summed in f32 with the rows' d * scale[j], the Q4_K / Q5_K
 * mins taken off as dmin * sum_j m[j] * (the activations' 16-sums), that in
 * int32 with vpdpwssd (m[j] in both halves of a dword against two bsum), and
 * the block's sum scaled by the activation d into the row's accumulator.
 *
 * Decode (fewer activation rows): the avx512 family's kernel.
 */
#include "cpu/kernels.h"
#include "cpu/k_amx_util.h"
#include "cpu/k_tiles.h"

#include <immintrin.h>
#include <stdalign.h>
#include <string.h>

#include "cpu/kq_common.h"
#include "model/quant.h"

enum { KC = 8 };           /* blocks per repacked chunk of a weight-row tile (Q6_K: half) */

typedef struct kq_scratch {
    alignas(64) int8_t b[KC * 4096];     /* B tiles: per block 8 x 512 (Q4_K/Q5_K) or 8 x 2 x 512 (Q6_K) */
    alignas(64) float dsc[KC][16][16];   /* d * scale[j], per sub-block j and row */
    alignas(64) int32_t mm[KC][8][16];   /* m[j] * 0x10001 (Q4_K/Q5_K) */
    alignas(64) float ndmin[KC][16];     /* -dmin */
    alignas(64) int8_t t[16][256];       /* one block of 16 rows, decoded (Q6_K: low bytes) */
    alignas(64) int8_t th[16][256];      /* Q6_K: high bytes */
    alignas(64) int32_t c[16][256];      /* the sub-block products of one block */
} kq_scratch;

static _Thread_local kq_scratch scratch;

AMX_INLINE __m256i ld256(const uint8_t *p) { return _mm256_loadu_si256((const __m256i *)(const void *)p); }
AMX_INLINE void st256(int8_t *p, __m256i v) { _mm256_store_si256((__m256i *)(void *)p, v); }

/* One Q4_K (q5 = 0) / Q5_K (q5 = 1) block of row n into s->t[n] and its scales. */
AMX_INLINE void dec_q45k(const uint8_t *blk, int q5, kq_scratch *s, int b, int n)
{
    uint8_t sm[16];
    kq_unpack_scales(blk + 4, sm);
    const float d = amx_rd_f16(blk), dmin = amx_rd_f16(blk + 2);
    for (int j = 0; j < 8; j++) {
        s->dsc[b][j][n] = d * (float)sm[j];
        s->mm[b][j][n] = (int32_t)sm[8 + j] * 0x10001;
    }
    s->ndmin[b][n] = -dmin;
    const uint8_t *qs = blk + (q5 ? 48 : 16);
    const __m256i m4 = _mm256_set1_epi8(15), b4 = _mm256_set1_epi8(16);
    const __m256i qh = q5 ? ld256(blk + 16) : _mm256_setzero_si256();
    int8_t *t = s->t[n];
    for (int c = 0; c < 4; c++) {          /* 32 bytes: sub-blocks 2c (low nibbles), 2c + 1 (high) */
        const __m256i q = ld256(qs + 32 * c);
        __m256i lo = _mm256_and_si256(q, m4), hi = _mm256_and_si256(_mm256_srli_epi16(q, 4), m4);
        if (q5) {
            lo = _mm256_mask_add_epi8(lo, _mm256_test_epi8_mask(qh, _mm256_set1_epi8((char)(1 << (2 * c)))), lo, b4);
            hi = _mm256_mask_add_epi8(hi, _mm256_test_epi8_mask(qh, _mm256_set1_epi8((char)(2 << (2 * c)))), hi, b4);
        }
        st256(t + 64 * c, lo);
        st256(t + 64 * c + 32, hi);
    }
}

/* One Q6_K block of row n: w = (code - 32) * scale[k] (int16, |w| <= 4096) as
 * 256 hi + lo, lo unsigned, into s->t[n] (lo) and s->th[n] (hi); d. */
AMX_INLINE void dec_q6k(const uint8_t *blk, kq_scratch *s, int b, int n)
{
    s->dsc[b][0][n] = amx_rd_f16(blk + 208);
    const __m256i m4 = _mm256_set1_epi8(15), m30 = _mm256_set1_epi8(0x30), o = _mm256_set1_epi8(32);
    __m256i v[8];
    for (int h = 0; h < 2; h++) {
        const __m256i a = ld256(blk + 64 * h), c = ld256(blk + 64 * h + 32), qh = ld256(blk + 128 + 32 * h);
        v[4 * h] = _mm256_or_si256(_mm256_and_si256(a, m4), _mm256_and_si256(_mm256_slli_epi16(qh, 4), m30));
        v[4 * h + 1] = _mm256_or_si256(_mm256_and_si256(c, m4), _mm256_and_si256(_mm256_slli_epi16(qh, 2), m30));
        v[4 * h + 2] = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(a, 4), m4), _mm256_and_si256(qh, m30));
        v[4 * h + 3] = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(c, 4), m4),
                                       _mm256_and_si256(_mm256_srli_epi16(qh, 2), m30));
    }
    for (int j = 0; j < 8; j++) {          /* values 32 j ..: scales 2 j (16 values), 2 j + 1 */
        const __m512i q = _mm512_cvtepi8_epi16(_mm256_sub_epi8(v[j], o));
        const __m512i sj = _mm512_inserti64x4(_mm512_set1_epi16((short)(int8_t)blk[192 + 2 * j]),
                                              _mm256_set1_epi16((short)(int8_t)blk[193 + 2 * j]), 1);
        const __m512i wv = _mm512_mullo_epi16(q, sj);
        st256(s->t[n] + 32 * j, _mm512_cvtepi16_epi8(wv));
        st256(s->th[n] + 32 * j, _mm512_cvtepi16_epi8(_mm512_srai_epi16(wv, 8)));
    }
}

/* Blocks k0 .. k0 + kb - 1 of weight rows w .. w + (nr - 1) ws into s. */
AMX_INLINE void repack(uint32_t type, size_t bbytes, const uint8_t *w, size_t ws, int nr, int k0, int kb,
                       kq_scratch *s)
{
    for (int b = 0; b < kb; b++) {
        for (int n = 0; n < 16; n++) {
            if (n < nr) {
                const uint8_t *blk = w + n * ws + (size_t)(k0 + b) * bbytes;
                if (type == GT_Q6_K) dec_q6k(blk, s, b, n);
                else dec_q45k(blk, type == GT_Q5_K, s, b, n);
            } else {
                memset(s->t[n], 0, 256);
                memset(s->th[n], 0, 256);
                for (int j = 0; j < 16; j++) s->dsc[b][j][n] = 0;
                for (int j = 0; j < 8; j++) s->mm[b][j][n] = 0;
                s->ndmin[b][n] = 0;
            }
        }
        if (type == GT_Q6_K) {
            for (int j = 0; j < 8; j++) {
                amx_vnni(&s->th[0][32 * j], 256, s->b + 8192 * b + 1024 * j);
                amx_vnni(&s->t[0][32 * j], 256, s->b + 8192 * b + 1024 * j + 512);
            }
        } else {
            for (int j = 0; j < 8; j++) amx_vnni(&s->t[0][32 * j], 256, s->b + 4096 * b + 512 * j);
        }
    }
}

/* Sub-block u's tile product (K = 32) of block `blk` into C tile TC, stored at s->c[u]. */
#define PRODUCT(TC, TA, TB, blk, u) do { \
        _tile_loadd(TA, xr + (size_t)(blk) * KQ_XB + KQ_XQ + (u) * 32, (long)xa_stride); \
        _tile_loadd(TB, s->b + 4096 * (blk) + (u) * 512, 64); \
        _tile_zero(TC); \
        _tile_dpbssd(TC, TA, TB); \
        _tile_stored(TC, s->c[u], 64); \
    } while (0)

/* Q6_K: the high bytes (signed) into C tile 0, the low bytes (unsigned) into C
 * tile 1, over 32 values j of block `blk`. */
#define PRODUCT6(TA, blk, j) do { \
        _tile_loadd(TA, xr + (size_t)(blk) * KQ_XB + KQ_XQ + (j) * 32, (long)xa_stride); \
        _tile_loadd(4, s->b + 8192 * (blk) + (j) * 1024, 64); \
        _tile_loadd(5, s->b + 8192 * (blk) + (j) * 1024 + 512, 64); \
        _tile_dpbssd(0, TA, 4); \
        _tile_dpbsud(1, TA, 5); \
    } while (0)

AMX_INLINE void gemm_amx(uint32_t type, K_GEMM_PARAMS)
{
    if (n_x < AMX_MIN_X) {
        amx_fallback(&cpu_fam_avx512_kq, type)(n_in, n_rows, n_x, w, w_stride, xa, xa_stride, out, out_stride);
        return;
    }
    const int q6 = type == GT_Q6_K, kc = q6 ? KC / 2 : KC;
    const size_t bbytes = type == GT_Q4_K ? KQ_Q4K_BYTES : type == GT_Q5_K ? KQ_Q5K_BYTES : KQ_Q6K_BYTES;
    kq_scratch *s = &scratch;
    const int nb = n_in / 256;
    amx_config(32);
    for (int r0 = 0; r0 < n_rows; r0 += 16) {
        const int nr = n_rows - r0 < 16 ? n_rows - r0 : 16;
        const __mmask16 lm = amx_lanes(nr);
        for (int k0 = 0; k0 < nb; k0 += kc) {
            const int kb = nb - k0 < kc ? nb - k0 : kc;
            repack(type, bbytes, w + (size_t)r0 * w_stride, w_stride, nr, k0, kb, s);
            for (int xc = 0; xc < n_x; xc += 16) {
                const int x0 = xc + 16 <= n_x ? xc : n_x - 16;
                const uint8_t *xr = xa + (size_t)x0 * xa_stride + (size_t)k0 * KQ_XB;
                float *o = out + (size_t)x0 * out_stride + r0;
                __m512 acc[16];
                AMX_UNROLL16 for (int i = 0; i < 16; i++)
                    acc[i] = k0 ? _mm512_maskz_loadu_ps(lm, o + i * out_stride) : _mm512_setzero_ps();
                for (int b = 0; b < kb; b++) {
                    if (q6) {
                        _tile_zero(0);
                        _tile_zero(1);
                        _Pragma("GCC unroll 8") for (int j = 0; j < 8; j += 2) {
                            PRODUCT6(2, b, j);
                            PRODUCT6(3, b, j + 1);
                        }
                        _tile_stored(0, s->c[0], 64);
                        _tile_stored(1, s->c[1], 64);
                        const __m512 dw = _mm512_load_ps(s->dsc[b][0]);
                        AMX_UNROLL16 for (int i = 0; i < 16; i++) {
                            const __m512i v = _mm512_add_epi32(_mm512_slli_epi32(_mm512_load_si512((const void *)&s->c[0][16 * i]), 8),
                                                               _mm512_load_si512((const void *)&s->c[1][16 * i]));
                            const float dx = kq_rd_f32(xr + i * xa_stride + (size_t)b * KQ_XB);
                            acc[i] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(v), _mm512_mul_ps(dw, _mm512_set1_ps(dx)), acc[i]);
                        }
                        continue;
                    }
                    _Pragma("GCC unroll 4") for (int u = 0; u < 8; u += 2) {
                        PRODUCT(0, 2, 4, b, u);
                        PRODUCT(1, 3, 5, b, u + 1);
                    }
                    AMX_UNROLL16 for (int i = 0; i < 16; i++) {
                        const uint8_t *xb = xr + i * xa_stride + (size_t)b * KQ_XB;
                        __m512 f = _mm512_mul_ps(_mm512_cvtepi32_ps(_mm512_load_si512((const void *)&s->c[0][16 * i])),
                                                 _mm512_load_ps(s->dsc[b][0]));
                        _Pragma("GCC unroll 8") for (int u = 1; u < 8; u++)
                            f = _mm512_fmadd_ps(_mm512_cvtepi32_ps(_mm512_load_si512((const void *)&s->c[u][16 * i])),
                                                _mm512_load_ps(s->dsc[b][u]), f);
                        __m512i mi = _mm512_setzero_si512();
                        _Pragma("GCC unroll 8") for (int j = 0; j < 8; j++)
                            mi = _mm512_dpwssd_epi32(mi, _mm512_load_si512((const void *)s->mm[b][j]),
                                                     _mm512_set1_epi32((int)kq_rd_u32(xb + KQ_XBSUM + 4 * j)));
                        f = _mm512_fmadd_ps(_mm512_cvtepi32_ps(mi), _mm512_load_ps(s->ndmin[b]), f);
                        acc[i] = _mm512_fmadd_ps(f, _mm512_set1_ps(kq_rd_f32(xb)), acc[i]);
                    }
                }
                AMX_UNROLL16 for (int i = 0; i < 16; i++)
                    if (x0 + i >= xc) _mm512_mask_storeu_ps(o + i * out_stride, lm, acc[i]);
            }
        }
    }
    _tile_release();
}

static void gemm_q4k(K_GEMM_PARAMS) { gemm_amx(GT_Q4_K, n_in, n_rows, n_x, w, w_stride, xa, xa_stride, out, out_stride); }
static void gemm_q5k(K_GEMM_PARAMS) { gemm_amx(GT_Q5_K, n_in, n_rows, n_x, w, w_stride, xa, xa_stride, out, out_stride); }
static void gemm_q6k(K_GEMM_PARAMS) { gemm_amx(GT_Q6_K, n_in, n_rows, n_x, w, w_stride, xa, xa_stride, out, out_stride); }

static const cpu_matmul_kernel kernels[] = {
    { GT_Q4_K, CPU_ACT_Q8_K, gemm_q4k },
    { GT_Q5_K, CPU_ACT_Q8_K, gemm_q5k },
    { GT_Q6_K, CPU_ACT_Q8_K, gemm_q6k },
};

const cpu_kernel_family cpu_fam_amx_kq = {
    .name = "amx kq",
    .isa = CPU_ISA_AMX,
    .kernels = kernels,
    .n_kernels = sizeof kernels / sizeof kernels[0],
};
