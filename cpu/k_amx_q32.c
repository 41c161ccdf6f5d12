/* k_amx_q32.c: AMX kernels for the 32-value-block weight types (Q8_0 Q4_0
 * Q4_1 Q5_0 Q5_1); see cpu/kernels.h, cpu/k_amx_util.h for the tile product,
 * and cpu/k_portable_q32.c for the plain-C statement of the arithmetic.
 *
 * Prefill (n_x >= AMX_MIN_X activation rows): per 16 weight rows and chunk of
 * KC blocks, each row's blocks are decoded once to signed bytes (Q4_0 / Q5_0
 * minus their offset 8 / 16, so the int8 x int8 product TDPBSSD needs no
 * correction; Q4_1 / Q5_1 keep 0..15 / 0..31 and add m_w * s_x) and repacked
 * into B tiles; then every tile of 16 activation rows passes over them: per
 * block one tile product (16 x 16 int32 sums, exact), stored and scaled in
 * f32 by d_w[row] * d_x into 16 accumulator registers (one per activation
 * row, lanes = the 16 weight rows, which is the output's own layout); a pair
 * of blocks is scaled while the next pair's products are stored. The
 * last activation tile overlaps the one before when n_x is no multiple of 16
 * (rows it shares are computed twice and stored once); weight rows past the
 * end are zero in B and masked off in the output.
 *
 * Decode (fewer activation rows): the avx512 family's kernel.
 */
#include "cpu/kernels.h"
#include "cpu/k_amx_util.h"
#include "cpu/k_tiles.h"

#include <immintrin.h>
#include <stdalign.h>
#include <string.h>

#include "model/quant.h"

enum { KC = 64 };          /* blocks per repacked chunk of a weight-row tile */
#define XB sizeof(cpu_q8_32)
#define XQ offsetof(cpu_q8_32, q)

typedef struct q32_scratch {
    alignas(64) int8_t b[KC][512];   /* B tiles, one per block */
    alignas(64) float d[KC][16];     /* the rows' scales */
    alignas(64) float m[KC][16];     /* and mins (Q4_1 / Q5_1) */
    alignas(64) int8_t t[16][32];    /* one block of 16 rows, decoded */
    alignas(64) int32_t c[4][256];   /* tile products: two blocks' being stored while two are scaled */
} q32_scratch;

static _Thread_local q32_scratch scratch;

/* ---- weight block decoders: 32 signed bytes (the f16 scale and min, at
 * bytes 0 and 2 of every type's block, are read for 16 rows at once) ---- */

typedef void (*dec_fn)(const uint8_t *b, int8_t *q);

AMX_INLINE __m256i nibbles(const uint8_t *qs)
{
    __m128i x = _mm_loadu_si128((const __m128i *)(const void *)qs);
    __m256i v = _mm256_inserti128_si256(_mm256_castsi128_si256(x), _mm_srli_epi16(x, 4), 1);
    return _mm256_and_si256(v, _mm256_set1_epi8(15));
}

/* + 16 where bit j of the 32-bit qh is set. */
AMX_INLINE __m256i fifth(__m256i q, const uint8_t *qh)
{
    uint32_t u;
    memcpy(&u, qh, 4);
    return _mm256_mask_add_epi8(q, (__mmask32)u, q, _mm256_set1_epi8(16));
}

AMX_INLINE void st32(int8_t *q, __m256i v) { _mm256_store_si256((__m256i *)(void *)q, v); }

AMX_INLINE void dec_q8_0(const uint8_t *b, int8_t *q)
{
    st32(q, _mm256_loadu_si256((const __m256i *)(const void *)(b + 2)));
}

AMX_INLINE void dec_q4_0(const uint8_t *b, int8_t *q)
{
    st32(q, _mm256_sub_epi8(nibbles(b + 2), _mm256_set1_epi8(8)));
}

AMX_INLINE void dec_q4_1(const uint8_t *b, int8_t *q)
{
    st32(q, nibbles(b + 4));
}

AMX_INLINE void dec_q5_0(const uint8_t *b, int8_t *q)
{
    st32(q, _mm256_sub_epi8(fifth(nibbles(b + 6), b + 2), _mm256_set1_epi8(16)));
}

AMX_INLINE void dec_q5_1(const uint8_t *b, int8_t *q)
{
    st32(q, fifth(nibbles(b + 8), b + 4));
}

/* ---- the tiled product ---- */

/* Blocks k0 .. k0 + kb - 1 of weight rows w .. w + (nr - 1) ws into s->b, d, m. */
AMX_INLINE void repack(dec_fn dec, size_t bbytes, const uint8_t *w, size_t ws, int nr, int k0, int kb,
                       q32_scratch *s)
{
    const __mmask16 lm = amx_lanes(nr);
    const __m512i rows = _mm512_mullo_epi32(_mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15),
                                            _mm512_set1_epi32((int)ws));
    for (int b = 0; b < kb; b++) {
        const uint8_t *wb = w + (size_t)(k0 + b) * bbytes;
        for (int n = 0; n < 16; n++) {
            if (n < nr) dec(wb + n * ws, s->t[n]);
            else memset(s->t[n], 0, 32);
        }
        amx_vnni(&s->t[0][0], 32, s->b[b]);
        /* d (low half) and m (high half) of the 16 rows' blocks; 0 past the rows */
        const __m512i dm = _mm512_mask_i32gather_epi32(_mm512_setzero_si512(), lm, rows, (const void *)wb, 1);
        _mm512_store_ps(s->d[b], _mm512_cvtph_ps(_mm512_cvtepi32_epi16(dm)));
        _mm512_store_ps(s->m[b], _mm512_cvtph_ps(_mm512_cvtepi32_epi16(_mm512_srli_epi32(dm, 16))));
    }
}

/* One block's tile product into C tile TC (A in TA, B in TB), stored at cb. */
#define PRODUCT(TC, TA, TB, blk, cb) do { \
        _tile_loadd(TA, xr + (size_t)(blk) * XB + XQ, (long)xa_stride); \
        _tile_loadd(TB, s->b[blk], 64); \
        _tile_zero(TC); \
        _tile_dpbssd(TC, TA, TB); \
        _tile_stored(TC, cb, 64); \
    } while (0)

/* acc[i] += C[i] * d_w * d_x[i] (+ m_w * s_x[i]) for block b of the chunk. */
AMX_INLINE void scale(__m512 *acc, const int32_t *cb, const q32_scratch *s, int b, const uint8_t *xr,
                      size_t xa_stride, int has_min)
{
    const __m512 dw = _mm512_load_ps(s->d[b]);
    const __m512 mw = _mm512_load_ps(s->m[b]);
    AMX_UNROLL16 for (int i = 0; i < 16; i++) {
        const uint8_t *xb = xr + i * xa_stride + (size_t)b * XB;
        __m512 p = _mm512_cvtepi32_ps(_mm512_load_si512((const void *)(cb + 16 * i)));
        acc[i] = _mm512_fmadd_ps(p, _mm512_mul_ps(dw, _mm512_set1_ps(amx_rd_f32(xb))), acc[i]);
        if (has_min) acc[i] = _mm512_fmadd_ps(mw, _mm512_set1_ps(amx_rd_f32(xb + 4)), acc[i]);
    }
}

AMX_INLINE void gemm_amx(dec_fn dec, size_t bbytes, int has_min, uint32_t type, K_GEMM_PARAMS)
{
    if (n_x < AMX_MIN_X) {
        amx_fallback(&cpu_fam_avx512_q32, type)(n_in, n_rows, n_x, w, w_stride, xa, xa_stride, out, out_stride);
        return;
    }
    q32_scratch *s = &scratch;
    const int nb = n_in / 32;
    amx_config(32);
    for (int r0 = 0; r0 < n_rows; r0 += 16) {
        const int nr = n_rows - r0 < 16 ? n_rows - r0 : 16;
        const __mmask16 lm = amx_lanes(nr);
        for (int k0 = 0; k0 < nb; k0 += KC) {
            const int kb = nb - k0 < KC ? nb - k0 : KC;
            repack(dec, bbytes, w + (size_t)r0 * w_stride, w_stride, nr, k0, kb, s);
            for (int xc = 0; xc < n_x; xc += 16) {
                const int x0 = xc + 16 <= n_x ? xc : n_x - 16;
                const uint8_t *xr = xa + (size_t)x0 * xa_stride + (size_t)k0 * XB;
                float *o = out + (size_t)x0 * out_stride + r0;
                __m512 acc[16];
                AMX_UNROLL16 for (int i = 0; i < 16; i++)
                    acc[i] = k0 ? _mm512_maskz_loadu_ps(lm, o + i * out_stride) : _mm512_setzero_ps();
                /* The products of blocks b, b + 1 are stored while those of
                 * b - 2, b - 1 are scaled: a tile store takes long to reach
                 * the vector loads that read it. */
                int b = 0;
                for (; b + 2 <= kb; b += 2) {
                    int32_t *c = s->c[b & 2];
                    PRODUCT(0, 2, 4, b, c);
                    PRODUCT(1, 3, 5, b + 1, c + 256);
                    if (b) {
                        scale(acc, s->c[(b - 2) & 2], s, b - 2, xr, xa_stride, has_min);
                        scale(acc, s->c[(b - 2) & 2] + 256, s, b - 1, xr, xa_stride, has_min);
                    }
                }
                if (b) {
                    scale(acc, s->c[(b - 2) & 2], s, b - 2, xr, xa_stride, has_min);
                    scale(acc, s->c[(b - 2) & 2] + 256, s, b - 1, xr, xa_stride, has_min);
                }
                if (b < kb) {
                    PRODUCT(0, 2, 4, b, s->c[0]);
                    scale(acc, s->c[0], s, b, xr, xa_stride, has_min);
                }
                AMX_UNROLL16 for (int i = 0; i < 16; i++)
                    if (x0 + i >= xc) _mm512_mask_storeu_ps(o + i * out_stride, lm, acc[i]);
            }
        }
    }
    _tile_release();
}

#define DEFINE_GEMM(name, dec, bbytes, has_min, type) \
    static void name(K_GEMM_PARAMS) \
    { gemm_amx(dec, bbytes, has_min, type, n_in, n_rows, n_x, w, w_stride, xa, xa_stride, out, out_stride); }

DEFINE_GEMM(gemm_q8_0, dec_q8_0, 34, 0, GT_Q8_0)
DEFINE_GEMM(gemm_q4_0, dec_q4_0, 18, 0, GT_Q4_0)
DEFINE_GEMM(gemm_q4_1, dec_q4_1, 20, 1, GT_Q4_1)
DEFINE_GEMM(gemm_q5_0, dec_q5_0, 22, 0, GT_Q5_0)
DEFINE_GEMM(gemm_q5_1, dec_q5_1, 24, 1, GT_Q5_1)

static const cpu_matmul_kernel kernels[] = {
    { GT_Q8_0, CPU_ACT_Q8_32, gemm_q8_0 },
    { GT_Q4_0, CPU_ACT_Q8_32, gemm_q4_0 },
    { GT_Q4_1, CPU_ACT_Q8_32, gemm_q4_1 },
    { GT_Q5_0, CPU_ACT_Q8_32, gemm_q5_0 },
    { GT_Q5_1, CPU_ACT_Q8_32, gemm_q5_1 },
};

const cpu_kernel_family cpu_fam_amx_q32 = {
    .name = "amx q32",
    .isa = CPU_ISA_AMX,
    .kernels = kernels,
    .n_kernels = sizeof kernels / sizeof kernels[0],
};
