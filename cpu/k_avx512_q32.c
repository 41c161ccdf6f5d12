/* k_avx512_q32.c: AVX-512 VNNI kernels for the 32-value-block weight types
 * (Q8_0 Q4_0 Q4_1 Q5_0 Q5_1); see cpu/kernels.h, and cpu/k_portable_q32.c for
 * the plain-C statement of the arithmetic. The one-term activations come
 * from the AVX2 level's quantizer (the same blocks; nothing to gain); the
 * two-term converter (decode's, on the step's serial path) is this level's.
 *
 * vpdpbusd multiplies unsigned weight bytes by signed activation bytes and
 * adds groups of four into int32 lanes, with no int16 saturation step, so
 * every weight is made unsigned: Q4_0 / Q5_0 keep their raw nibbles (0..15,
 * 0..31) and Q8_0 flips its sign bit (w + 128). The offset (8, 16, 128) is
 * taken back in the integer domain: the accumulator of each block starts at
 * -offset * sum(x) lanes, computed once per activation block and shared by the
 * tile's weight rows. Q4_1 / Q5_1 add their min as m_w * s_x instead.
 *
 * Decode (one activation row) keeps one block per 256-bit register and
 * streams 8 weight rows. Prefill puts two activation rows' blocks in the two
 * halves of a 512-bit register against the weight block broadcast to both,
 * so every vpdpbusd, convert and FMA does two outputs' work (blocks are
 * 34/22/18 bytes apart, so two blocks of one row would need two loads and a
 * shuffle anyway; the broadcast is free). Tiles: 4 weight rows x 8
 * activation rows in the 32 registers. The level's other gains are vpdpbusd
 * itself (one instruction for vpmaddubsw + vpmaddwd, no sign trick) and the
 * mask registers (the fifth bits of Q5 in two instructions).
 *
 * Q8_0 matrices whose rows fill groups of 16 are repacked at load (cpu/repack.h)
 * and go through gemm_q8_0_r16 instead, for decode and prefill alike; the
 * file-layout gemm_q8_0 serves the rest and GEMMA_CHAT_CPU_REPACK=0.
 */
#include "cpu/kernels.h"
#include "cpu/k_avx2_util.h"
#include "cpu/k_tiles.h"
#include "cpu/repack.h"

#include <immintrin.h>
#include <string.h>

#include "model/quant.h"

/* ---- weight block decoders: 32 unsigned bytes, scale, min ---- */

K_INLINE uint16_t rd_u16(const uint8_t *p)
{
    uint16_t h;
    memcpy(&h, p, 2);
    return h;
}

/* nibbles + 16 where bit j of the 32-bit qh is set. */
K_INLINE __m256i fifth_bits(__m256i q, const uint8_t *qh)
{
    uint32_t u;
    memcpy(&u, qh, 4);
    return _mm256_mask_add_epi8(q, (__mmask32)u, q, _mm256_set1_epi8(16));
}

/* A block's 32 unsigned bytes, and its f16 scale and min as bits (the tile
 * broadcasts them to the width it works in). */
typedef void (*dec_fn)(const uint8_t *b, __m256i *q, uint16_t *d, uint16_t *m);

K_INLINE void dec_q8_0(const uint8_t *b, __m256i *q, uint16_t *d, uint16_t *m)
{
    *d = rd_u16(b);
    *m = 0;
    *q = _mm256_xor_si256(_mm256_loadu_si256((const __m256i *)(b + 2)), _mm256_set1_epi8((char)0x80));
}

K_INLINE void dec_q4_0(const uint8_t *b, __m256i *q, uint16_t *d, uint16_t *m)
{
    *d = rd_u16(b);
    *m = 0;
    *q = k_nibbles32(b + 2);
}

K_INLINE void dec_q4_1(const uint8_t *b, __m256i *q, uint16_t *d, uint16_t *m)
{
    *d = rd_u16(b);
    *m = rd_u16(b + 2);
    *q = k_nibbles32(b + 4);
}

K_INLINE void dec_q5_0(const uint8_t *b, __m256i *q, uint16_t *d, uint16_t *m)
{
    *d = rd_u16(b);
    *m = 0;
    *q = fifth_bits(k_nibbles32(b + 6), b + 2);
}

K_INLINE void dec_q5_1(const uint8_t *b, __m256i *q, uint16_t *d, uint16_t *m)
{
    *d = rd_u16(b);
    *m = rd_u16(b + 2);
    *q = fifth_bits(k_nibbles32(b + 8), b + 4);
}

/* ---- the tiled product ---- */

/* Tiles (K_DEFINE_GEMM): decode, one term or two, streams 8 weight rows
 * (docs/cpu.md, "Decode tiles"). */
enum { TR1 = 8, TR2 = 8, TR = 4, TC = 8, TRM = K_MAX(TR, TR1) };

/* Decode: nr x 1 outputs over n_in / 32 blocks, one block per 256-bit register.
 * off: the offset the unsigned weight bytes carry (0: the type has a min). */
K_INLINE void tile_rows(dec_fn dec, int off, size_t bbytes, int nr, int n_in, const uint8_t *w,
                        size_t w_stride, const uint8_t *xa, float *out)
{
    int nb = n_in / 32;
    __m256 acc[TRM];
    K_UNROLL for (int r = 0; r < nr; r++) acc[r] = _mm256_setzero_ps();
    for (int b = 0; b < nb; b++) {
        const uint8_t *xb = xa + b * sizeof(cpu_q8_32);
        float ds[2];
        memcpy(ds, xb, sizeof ds);                  /* d, s */
        __m256i xq = _mm256_loadu_si256((const __m256i *)(xb + offsetof(cpu_q8_32, q)));
        __m256 dx = _mm256_set1_ps(ds[0]);
        __m256i pre = _mm256_setzero_si256();
        __m256 sx = _mm256_setzero_ps();
        if (off)
            pre = _mm256_sub_epi32(pre, _mm256_dpbusd_epi32(pre, _mm256_set1_epi8((char)off), xq));
        else            /* the min term lands in each of the 8 lanes: s / 8 (exact) per lane */
            sx = _mm256_set1_ps(ds[1] * 0.125f);
        K_UNROLL for (int r = 0; r < nr; r++) {
            __m256i q;
            uint16_t d, m;
            k_prefetch_next(w + r * w_stride + b * bbytes, (size_t)nr, w_stride, bbytes);
            dec(w + r * w_stride + b * bbytes, &q, &d, &m);
            __m256 p = _mm256_cvtepi32_ps(_mm256_dpbusd_epi32(pre, q, xq));
            __m256 dw = _mm256_cvtph_ps(_mm_set1_epi16((short)d));
            acc[r] = _mm256_fmadd_ps(p, _mm256_mul_ps(dw, dx), acc[r]);
            if (!off) acc[r] = _mm256_fmadd_ps(_mm256_cvtph_ps(_mm_set1_epi16((short)m)), sx, acc[r]);
        }
    }
    K_UNROLL for (int r = 0; r < nr; r++) out[r] = k_hsum8(acc[r]);
}

/* Prefill: nr x nx outputs, two activation rows per 512-bit register (the
 * weight block broadcast to both halves), so each vpdpbusd / convert / FMA
 * does two outputs' work. An odd last activation row pairs with zeros. */
K_INLINE void tile_pairs(dec_fn dec, int off, size_t bbytes, int nr, int nx, int n_in,
                         const uint8_t *w, size_t w_stride, const uint8_t *xa, size_t xa_stride,
                         float *out, size_t out_stride)
{
    enum { NP = (TC + 1) / 2 };
    int nb = n_in / 32, np = (nx + 1) / 2;
    __m512 acc[TRM][NP];
    K_UNROLL for (int r = 0; r < nr; r++)
        K_UNROLL for (int p = 0; p < np; p++) acc[r][p] = _mm512_setzero_ps();
    for (int b = 0; b < nb; b++) {
        __m512i wq[TRM];
        __m512 dw[TRM], mw[TRM];
        K_UNROLL for (int r = 0; r < nr; r++) {
            __m256i q;
            uint16_t d, m;
            k_prefetch_next(w + r * w_stride + b * bbytes, (size_t)nr, w_stride, bbytes);
            dec(w + r * w_stride + b * bbytes, &q, &d, &m);
            wq[r] = _mm512_broadcast_i64x4(q);
            dw[r] = _mm512_cvtph_ps(_mm256_set1_epi16((short)d));
            mw[r] = off ? _mm512_setzero_ps() : _mm512_cvtph_ps(_mm256_set1_epi16((short)m));
        }
        K_UNROLL for (int p = 0; p < np; p++) {
            const uint8_t *x0 = xa + 2 * p * xa_stride + b * sizeof(cpu_q8_32);
            float d0[2], d1[2] = { 0, 0 };              /* d, s of each row */
            memcpy(d0, x0, sizeof d0);
            __m512i xq = _mm512_castsi256_si512(_mm256_loadu_si256((const __m256i *)(x0 + offsetof(cpu_q8_32, q))));
            if (2 * p + 1 < nx) {
                const uint8_t *x1 = x0 + xa_stride;
                memcpy(d1, x1, sizeof d1);
                xq = _mm512_inserti64x4(xq, _mm256_loadu_si256((const __m256i *)(x1 + offsetof(cpu_q8_32, q))), 1);
            } else {
                xq = _mm512_inserti64x4(xq, _mm256_setzero_si256(), 1);
            }
            __m512 dx = _mm512_insertf32x8(_mm512_castps256_ps512(_mm256_set1_ps(d0[0])), _mm256_set1_ps(d1[0]), 1);
            __m512i pre = _mm512_setzero_si512();
            __m512 sx = _mm512_setzero_ps();
            if (off)
                pre = _mm512_sub_epi32(pre, _mm512_dpbusd_epi32(pre, _mm512_set1_epi8((char)off), xq));
            else
                sx = _mm512_insertf32x8(_mm512_castps256_ps512(_mm256_set1_ps(d0[1] * 0.125f)),
                                        _mm256_set1_ps(d1[1] * 0.125f), 1);
            K_UNROLL for (int r = 0; r < nr; r++) {
                __m512 v = _mm512_cvtepi32_ps(_mm512_dpbusd_epi32(pre, wq[r], xq));
                acc[r][p] = _mm512_fmadd_ps(v, _mm512_mul_ps(dw[r], dx), acc[r][p]);
                if (!off) acc[r][p] = _mm512_fmadd_ps(mw[r], sx, acc[r][p]);
            }
        }
    }
    K_UNROLL for (int p = 0; p < np; p++)
        K_UNROLL for (int r = 0; r < nr; r++) {
            out[2 * p * out_stride + r] = k_hsum8(_mm512_castps512_ps256(acc[r][p]));
            if (2 * p + 1 < nx) out[(2 * p + 1) * out_stride + r] = k_hsum8(_mm512_extractf32x8_ps(acc[r][p], 1));
        }
}

K_INLINE void tile(dec_fn dec, int off, size_t bbytes, int nr, int nx, int n_in, const uint8_t *w,
                   size_t w_stride, const uint8_t *xa, size_t xa_stride, float *out,
                   size_t out_stride)
{
    if (nx == 1) tile_rows(dec, off, bbytes, nr, n_in, w, w_stride, xa, out);
    else tile_pairs(dec, off, bbytes, nr, nx, n_in, w, w_stride, xa, xa_stride, out, out_stride);
}

K_DEFINE_GEMM(gemm_q8_0, TR1, TR2, TR, TC, tile, dec_q8_0, 128, 34)
K_DEFINE_GEMM(gemm_q4_0, TR1, TR2, TR, TC, tile, dec_q4_0, 8, 18)
K_DEFINE_GEMM(gemm_q4_1, TR1, TR2, TR, TC, tile, dec_q4_1, 0, 20)
K_DEFINE_GEMM(gemm_q5_0, TR1, TR2, TR, TC, tile, dec_q5_0, 16, 22)
K_DEFINE_GEMM(gemm_q5_1, TR1, TR2, TR, TC, tile, dec_q5_1, 0, 24)

/* ---- Q8_0 in the R16 layout (cpu/repack.h) ---- */

/* Activation rows per R16 tile: each takes an int32 and an f32 accumulator. */
enum { R16_TC = 8, R16_PF = 4 };   /* R16_PF: blocks prefetched ahead (the layout is one stream) */

/* nx (<= R16_TC) activation rows against one group of 16 weight rows at g:
 * per block, eight 64-byte loads (four weights of each row) each meet four
 * bytes of every activation row broadcast to all lanes, so lane i sums row
 * i; then one conversion and two FMAs per activation row apply the 16 rows'
 * scales (one vector) and the activation block's. The weights carry +128: the
 * block's integer sum is sum(w q) + 128 sum(q), and 128 s (s = d sum(q), the
 * block's own) is taken off in f32. Outputs of rows past n_rows are not
 * stored. */
K_INLINE void r16_tile(int nx, int nb, const uint8_t *g, const uint8_t *xa, size_t xa_stride, float *out,
                       size_t out_stride, int n_rows)
{
    __m512 acc[R16_TC];
    K_UNROLL for (int c = 0; c < nx; c++) acc[c] = _mm512_setzero_ps();
    for (int b = 0; b < nb; b++) {
        const uint8_t *blk = g + (size_t)b * CPU_R16_BLOCK;
        for (int o = 0; o < CPU_R16_BLOCK; o += 64) __builtin_prefetch(blk + R16_PF * CPU_R16_BLOCK + o, 0, 2);
        __m512i a[R16_TC];
        K_UNROLL for (int c = 0; c < nx; c++) a[c] = _mm512_setzero_si512();
        K_UNROLL for (int k = 0; k < 8; k++) {
            const __m512i wq = _mm512_loadu_si512((const void *)(blk + 32 + 64 * k));
            K_UNROLL for (int c = 0; c < nx; c++) {
                int32_t x4;
                memcpy(&x4, xa + c * xa_stride + b * sizeof(cpu_q8_32) + offsetof(cpu_q8_32, q) + 4 * k, 4);
                a[c] = _mm512_dpbusd_epi32(a[c], wq, _mm512_set1_epi32(x4));
            }
        }
        const __m512 dw = _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)(const void *)blk));
        K_UNROLL for (int c = 0; c < nx; c++) {
            float ds[2];
            memcpy(ds, xa + c * xa_stride + b * sizeof(cpu_q8_32), sizeof ds);   /* d, s */
            const __m512 v = _mm512_fmsub_ps(_mm512_cvtepi32_ps(a[c]), _mm512_set1_ps(ds[0]),
                                             _mm512_set1_ps(128.0f * ds[1]));
            acc[c] = _mm512_fmadd_ps(v, dw, acc[c]);
        }
    }
    const __mmask16 m = (__mmask16)(n_rows >= CPU_R16_ROWS ? 0xffff : (1u << n_rows) - 1);
    K_UNROLL for (int c = 0; c < nx; c++) _mm512_mask_storeu_ps(out + c * out_stride, m, acc[c]);
}

/* The activation rows in tiles of R16_TC, the last narrower (nx a constant in each call). */
static void gemm_q8_0_r16(K_GEMM_PARAMS)
{
    const int nb = n_in / 32;
    for (int r = 0; r < n_rows; r += CPU_R16_ROWS) {
        const uint8_t *g = w + (size_t)r * w_stride;
        int left = n_rows - r, c = 0;
#define R16_TILE(n) r16_tile(n, nb, g, xa + c * xa_stride, xa_stride, out + c * out_stride + r, out_stride, left)
        for (; c + R16_TC <= n_x; c += R16_TC) R16_TILE(R16_TC);
        switch (n_x - c) {
        case 0: break;
        case 1: R16_TILE(1); break;
        case 2: R16_TILE(2); break;
        case 3: R16_TILE(3); break;
        case 4: R16_TILE(4); break;
        case 5: R16_TILE(5); break;
        case 6: R16_TILE(6); break;
        default: R16_TILE(7); break;
        }
#undef R16_TILE
    }
}

/* ---- the activation converters ---- */

/* One block of the 32 values v[2] to y, with the AVX2 level's arithmetic (so
 * the same bytes): vpmovsdb saturates as its two packs do. d and the values
 * q (int32) stay for a residual. */
K_INLINE void q8_32_block(const __m512 v[2], uint8_t *y, __m512 *dv, __m512i q[2])
{
    float amax = _mm512_reduce_max_ps(_mm512_max_ps(_mm512_abs_ps(v[0]), _mm512_abs_ps(v[1])));
    float d = amax / 127.0f, id = amax > 0 ? 127.0f / amax : 0.0f;
    const __m512 vid = _mm512_set1_ps(id);
    for (int i = 0; i < 2; i++) q[i] = _mm512_cvtps_epi32(_mm512_mul_ps(v[i], vid));
    int sum = _mm512_reduce_add_epi32(_mm512_add_epi32(q[0], q[1]));
    float ds[2] = { d, d * (float)sum };
    memcpy(y + offsetof(cpu_q8_32, d), &ds[0], sizeof(float));
    memcpy(y + offsetof(cpu_q8_32, s), &ds[1], sizeof(float));
    _mm_storeu_si128((__m128i *)(void *)(y + offsetof(cpu_q8_32, q)), _mm512_cvtsepi32_epi8(q[0]));
    _mm_storeu_si128((__m128i *)(void *)(y + offsetof(cpu_q8_32, q) + 16), _mm512_cvtsepi32_epi8(q[1]));
    *dv = _mm512_set1_ps(d);
}

/* Two terms in one pass, as the AVX2 level's: the residual from the registers. */
static void quantize2_q8_32(const float *x, void *dst, void *dst2, int n)
{
    uint8_t *y = dst, *y2 = dst2;
    for (int b = 0; b < n / 32; b++, x += 32, y += sizeof(cpu_q8_32), y2 += sizeof(cpu_q8_32)) {
        __m512 v[2] = { _mm512_loadu_ps(x), _mm512_loadu_ps(x + 16) }, r[2], d;
        __m512i q[2];
        q8_32_block(v, y, &d, q);
        for (int i = 0; i < 2; i++) r[i] = _mm512_sub_ps(v[i], _mm512_mul_ps(d, _mm512_cvtepi32_ps(q[i])));
        q8_32_block(r, y2, &d, q);
    }
}

/* The R16 kernel first: the layout this level keeps Q8_0 weights in
 * (cpu_layout_for); the file-layout one serves matrices that cannot be
 * repacked (a row count no multiple of 16). */
static const cpu_matmul_kernel kernels[] = {
    { .type = GT_Q8_0, .act = CPU_ACT_Q8_32, .gemm = gemm_q8_0_r16, .layout = CPU_LAYOUT_R16 },
    { .type = GT_Q8_0, .act = CPU_ACT_Q8_32, .gemm = gemm_q8_0 },
    { .type = GT_Q4_0, .act = CPU_ACT_Q8_32, .gemm = gemm_q4_0 },
    { .type = GT_Q4_1, .act = CPU_ACT_Q8_32, .gemm = gemm_q4_1 },
    { .type = GT_Q5_0, .act = CPU_ACT_Q8_32, .gemm = gemm_q5_0 },
    { .type = GT_Q5_1, .act = CPU_ACT_Q8_32, .gemm = gemm_q5_1 },
};

const cpu_kernel_family cpu_fam_avx512_q32 = {
    .name = "avx512 q32",
    .isa = CPU_ISA_AVX512,
    .kernels = kernels,
    .n_kernels = sizeof kernels / sizeof kernels[0],
    .quantize2 = { [CPU_ACT_Q8_32] = quantize2_q8_32 },
};
