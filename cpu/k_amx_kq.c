/* k_amx_kq.c: AMX kernels for the K-quant weights Q4_K, Q5_K, Q6_K against
 * CPU_ACT_Q8_K activations (see cpu/kernels.h, cpu/k_amx_util.h for the tile
 * product, model/quant.c for the block layouts).
 *
 * Prefill (n_x >= AMX_MIN_X): as in k_amx_q32.c, 16 weight rows' blocks are
 * decoded once per chunk of KC blocks and repacked into B tiles. Every type's
 * sub-block scales (6-bit unsigned for Q4_K / Q5_K, 8-bit signed for Q6_K)
 * are folded into its codes: w = code * scale[j] (Q6_K: (code - 32) *
 * scale[j]) is an int16 (|w| <= 31 * 63 / 32 * 128), split into a signed high
 * byte and an unsigned low byte, B tiles of 32 values each (K = 32). Per
 * block and tile of 16 activation rows, TDPBSSD (high) and TDPBSUD (low)
 * accumulate the whole block's 256 values into two C tiles (int32, exact), so
 * a block needs 2 tile stores; per activation row the two are joined (high
 * * 256 + low) and scaled by the rows' d, the Q4_K / Q5_K mins taken off as
 * dmin * sum_j m[j] * (the activations' 16-sums), that in int32 with
 * vpdpwssd (m[j] in both halves of a dword against two bsum), and the block's
 * sum scaled by the activation d into the row's accumulator.
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

enum { KC = 4 };           /* blocks per repacked chunk of a weight-row tile */

typedef struct kq_scratch {
    alignas(64) int8_t b[KC * 8192];     /* B tiles: per block and 32 values, high bytes then low bytes */
    alignas(64) float d[KC][16];         /* d, per row */
    alignas(64) int32_t mm[KC][8][16];   /* m[j] * 0x10001 (Q4_K/Q5_K) */
    alignas(64) float ndmin[KC][16];     /* -dmin */
    alignas(64) int8_t t[16][256];       /* one block of 16 rows, decoded: low bytes */
    alignas(64) int8_t th[16][256];      /* and high bytes */
    alignas(64) int32_t c[2][256];       /* the high and low bytes' products of one block */
} kq_scratch;

static _Thread_local kq_scratch scratch;

AMX_INLINE __m256i ld256(const uint8_t *p) { return _mm256_loadu_si256((const __m256i *)(const void *)p); }
AMX_INLINE void st256(int8_t *p, __m256i v) { _mm256_store_si256((__m256i *)(void *)p, v); }

/* w (int16) into s->t[n] + o (low bytes) and s->th[n] + o (high bytes). */
AMX_INLINE void st_split(kq_scratch *s, int n, int o, __m512i w)
{
    st256(s->t[n] + o, _mm512_cvtepi16_epi8(w));
    st256(s->th[n] + o, _mm512_cvtepi16_epi8(_mm512_srai_epi16(w, 8)));
}

/* One Q4_K (q5 = 0) / Q5_K (q5 = 1) block of row n: w = code * scale[j] into
 * s->t[n], s->th[n] (st_split); d, dmin and the mins. */
AMX_INLINE void dec_q45k(const uint8_t *blk, int q5, kq_scratch *s, int b, int n)
{
    uint8_t sm[16];
    kq_unpack_scales(blk + 4, sm);
    s->d[b][n] = amx_rd_f16(blk);
    for (int j = 0; j < 8; j++) s->mm[b][j][n] = (int32_t)sm[8 + j] * 0x10001;
    s->ndmin[b][n] = -amx_rd_f16(blk + 2);
    const uint8_t *qs = blk + (q5 ? 48 : 16);
    const __m256i m4 = _mm256_set1_epi8(15), b4 = _mm256_set1_epi8(16);
    const __m256i qh = q5 ? ld256(blk + 16) : _mm256_setzero_si256();
    for (int c = 0; c < 4; c++) {          /* 32 bytes: sub-blocks 2c (low nibbles), 2c + 1 (high) */
        const __m256i q = ld256(qs + 32 * c);
        __m256i lo = _mm256_and_si256(q, m4), hi = _mm256_and_si256(_mm256_srli_epi16(q, 4), m4);
        if (q5) {
            lo = _mm256_mask_add_epi8(lo, _mm256_test_epi8_mask(qh, _mm256_set1_epi8((char)(1 << (2 * c)))), lo, b4);
            hi = _mm256_mask_add_epi8(hi, _mm256_test_epi8_mask(qh, _mm256_set1_epi8((char)(2 << (2 * c)))), hi, b4);
        }
        st_split(s, n, 64 * c, _mm512_mullo_epi16(_mm512_cvtepu8_epi16(lo), _mm512_set1_epi16(sm[2 * c])));
        st_split(s, n, 64 * c + 32, _mm512_mullo_epi16(_mm512_cvtepu8_epi16(hi), _mm512_set1_epi16(sm[2 * c + 1])));
    }
}

/* One Q6_K block of row n: w = (code - 32) * scale[k] (|w| <= 4096) into
 * s->t[n], s->th[n] (st_split); d. */
AMX_INLINE void dec_q6k(const uint8_t *blk, kq_scratch *s, int b, int n)
{
    s->d[b][n] = amx_rd_f16(blk + 208);
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
        st_split(s, n, 32 * j, _mm512_mullo_epi16(q, sj));
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
                s->d[b][n] = 0;
                for (int j = 0; j < 8; j++) s->mm[b][j][n] = 0;
                s->ndmin[b][n] = 0;
            }
        }
        for (int j = 0; j < 8; j++) {
            amx_vnni(&s->th[0][32 * j], 256, s->b + 8192 * b + 1024 * j);
            amx_vnni(&s->t[0][32 * j], 256, s->b + 8192 * b + 1024 * j + 512);
        }
    }
}

/* The high bytes (signed) into C tile 0, the low bytes (unsigned) into C tile
 * 1, over values 32 j .. 32 j + 31 of block `blk`. */
#define PRODUCT(TA, blk, j) do { \
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
    const int q6 = type == GT_Q6_K;
    const size_t bbytes = type == GT_Q4_K ? KQ_Q4K_BYTES : type == GT_Q5_K ? KQ_Q5K_BYTES : KQ_Q6K_BYTES;
    kq_scratch *s = &scratch;
    const int nb = n_in / 256;
    amx_config(32);
    for (int r0 = 0; r0 < n_rows; r0 += 16) {
        const int nr = n_rows - r0 < 16 ? n_rows - r0 : 16;
        const __mmask16 lm = amx_lanes(nr);
        for (int k0 = 0; k0 < nb; k0 += KC) {
            const int kb = nb - k0 < KC ? nb - k0 : KC;
            repack(type, bbytes, w + (size_t)r0 * w_stride, w_stride, nr, k0, kb, s);
            for (int xc = 0; xc < n_x; xc += 16) {
                const int x0 = xc + 16 <= n_x ? xc : n_x - 16;
                const uint8_t *xr = xa + (size_t)x0 * xa_stride + (size_t)k0 * KQ_XB;
                float *o = out + (size_t)x0 * out_stride + r0;
                __m512 acc[16];
                AMX_UNROLL16 for (int i = 0; i < 16; i++)
                    acc[i] = k0 ? _mm512_maskz_loadu_ps(lm, o + i * out_stride) : _mm512_setzero_ps();
                for (int b = 0; b < kb; b++) {
                    _tile_zero(0);
                    _tile_zero(1);
                    _Pragma("GCC unroll 8") for (int j = 0; j < 8; j += 2) {
                        PRODUCT(2, b, j);
                        PRODUCT(3, b, j + 1);
                    }
                    _tile_stored(0, s->c[0], 64);
                    _tile_stored(1, s->c[1], 64);
                    const __m512 dw = _mm512_load_ps(s->d[b]);
                    AMX_UNROLL16 for (int i = 0; i < 16; i++) {
                        const uint8_t *xb = xr + i * xa_stride + (size_t)b * KQ_XB;
                        const __m512i v = _mm512_add_epi32(_mm512_slli_epi32(_mm512_load_si512((const void *)&s->c[0][16 * i]), 8),
                                                           _mm512_load_si512((const void *)&s->c[1][16 * i]));
                        __m512 f = _mm512_mul_ps(_mm512_cvtepi32_ps(v), dw);
                        if (!q6) {
                            __m512i mi = _mm512_setzero_si512();
                            _Pragma("GCC unroll 8") for (int j = 0; j < 8; j++)
                                mi = _mm512_dpwssd_epi32(mi, _mm512_load_si512((const void *)s->mm[b][j]),
                                                         _mm512_set1_epi32((int)kq_rd_u32(xb + KQ_XBSUM + 4 * j)));
                            f = _mm512_fmadd_ps(_mm512_cvtepi32_ps(mi), _mm512_load_ps(s->ndmin[b]), f);
                        }
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
