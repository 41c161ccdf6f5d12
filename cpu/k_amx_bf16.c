/* k_amx_bf16.c: the AMX level's kernels: prefill products (16 or more
 * activation rows) of every quantized weight type, multiplied in bf16 by
 * AMX-BF16 tiles (see cpu/kernels.h). Decode products at this level use the
 * avx512 families' kernels (a product of one row is bound by memory, not by
 * arithmetic).
 *
 * Why bf16 and not the int8 tile product: an 8-bit product needs each
 * 32-value block's two scales applied to its own integer sums, so every block
 * costs a tile store and sixteen vector scalings next to its one tile product;
 * and 8-bit activations alone are too coarse for the logits (the decode
 * kernels carry a second 8-bit term, which doubles the products). Here each
 * weight is decoded with its scale folded in, rounded to bf16 (relative error
 * 2^-8 at most), the activations are given in bf16 (CPU_ACT_BF16, 2^-8), and
 * the tiles accumulate over the whole row in f32 with nothing in between.
 * The logits then stand as far from exact as llama.cpp's (docs/cpu.md).
 *
 * Tiles: 0-3 = C (2 tiles of 16 activation rows x 2 tiles of 16 weight rows,
 * f32), 4-5 = A (16 activation rows x 32 bf16, loaded straight from the
 * activation rows), 6-7 = B (16 pairs x 16 weight rows: dword n of row p is
 * values 2p, 2p+1 of weight row n). Per 32 weight rows and chunk of KC
 * 32-value blocks, the rows are decoded once to bf16 and transposed into B
 * tiles (which stay in L1), then every pair of activation tiles passes over
 * them, its C tiles kept across chunks in a small accumulator. The last
 * activation tile overlaps the one before when n_x is no multiple of 16 (the
 * rows it shares are computed twice and stored once); weight rows past the
 * end are zero in B and masked off in the output. Q8_0 in the R16 layout
 * (cpu/repack.h) has a decoder of its own, decode_r16.
 */
#include "cpu/kernels.h"
#include "cpu/k_tiles.h"
#include "cpu/kq_common.h"
#include "cpu/repack.h"

#include <immintrin.h>
#include <stdalign.h>
#include <stdint.h>
#include <string.h>

#include "model/quant.h"

/* Everything here is inlined into each type's kernel, so that the type's
 * block decoder (passed as a function pointer) becomes a constant there. */
#define AMX_INLINE static inline __attribute__((always_inline))

enum {
    KC = 16,         /* 32-value blocks per chunk: the chunk's B tiles (32 KiB) stay in L1 */
    XS = 256,        /* activation rows per pass (the accumulator's size) */
    MIN_X = 16,      /* one activation tile */
};

typedef struct bf16_scratch {
    alignas(64) uint16_t b[KC][2][512];        /* B tiles: block, weight-row tile */
    alignas(64) float acc[XS / 16][2][256];    /* C tiles: activation tile, weight-row tile */
    alignas(64) uint16_t t[16][256];           /* one type block of 16 weight rows, decoded */
} bf16_scratch;

static _Thread_local bf16_scratch scratch;

/* The 64-byte LDTILECFG operand (palette 1). */
typedef struct amx_tilecfg {
    uint8_t palette, start_row, reserved[14];
    uint16_t colsb[16];
    uint8_t rows[16];
} amx_tilecfg;

/* All eight tiles 16 rows x 64 bytes. Loaded at every kernel call: the
 * thread's tile state is not kept between calls (_tile_release). */
AMX_INLINE void config_bf16(void)
{
    amx_tilecfg c;
    memset(&c, 0, sizeof c);
    c.palette = 1;
    for (int t = 0; t < 8; t++) { c.colsb[t] = 64; c.rows[t] = 16; }
    _tile_loadconfig(&c);
}

AMX_INLINE float amx_rd_f16(const uint8_t *p)
{
    uint16_t h;
    memcpy(&h, p, 2);
    return _cvtsh_ss(h);
}

/* Lanes 0 .. n-1 (n <= 16). */
AMX_INLINE __mmask16 amx_lanes(int n) { return (__mmask16)(n >= 16 ? 0xffff : (1u << n) - 1); }

/* ---- weight blocks, decoded to bf16 with their scales folded in ---- */

/* One weight block (the type's own: 32 or 256 values) as bf16 into out,
 * each value computed in f32 as model/quant.c's dequantizer computes it
 * (same operations in the same order), then rounded. */
typedef void (*block_fn)(const uint8_t *b, uint16_t *out);

AMX_INLINE __m512i bf16_pack(__m512 lo, __m512 hi) { return (__m512i)_mm512_cvtne2ps_pbh(hi, lo); }
AMX_INLINE void st_bf16(uint16_t *o, __m512 lo, __m512 hi) { _mm512_store_si512((void *)o, bf16_pack(lo, hi)); }
AMX_INLINE __m128i ld128(const uint8_t *p) { return _mm_loadu_si128((const __m128i *)(const void *)p); }
AMX_INLINE __m256i ld256(const uint8_t *p) { return _mm256_loadu_si256((const __m256i *)(const void *)p); }
AMX_INLINE __m512 f_i8(__m128i v) { return _mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(v)); }
AMX_INLINE __m512 f_u8(__m128i v) { return _mm512_cvtepi32_ps(_mm512_cvtepu8_epi32(v)); }
AMX_INLINE __m128i lo_nib(__m128i x) { return _mm_and_si128(x, _mm_set1_epi8(15)); }
AMX_INLINE __m128i hi_nib(__m128i x) { return _mm_and_si128(_mm_srli_epi16(x, 4), _mm_set1_epi8(15)); }
/* + 16 where bit j of the 16-bit mask is set. */
AMX_INLINE __m128i add16(__m128i q, uint32_t bits) { return _mm_mask_add_epi8(q, (__mmask16)bits, q, _mm_set1_epi8(16)); }
AMX_INLINE uint32_t rd_u32(const uint8_t *p) { uint32_t u; memcpy(&u, p, 4); return u; }

AMX_INLINE void blk_q8_0(const uint8_t *b, uint16_t *o)       /* {d; i8 qs[32]}: q d */
{
    const __m512 d = _mm512_set1_ps(amx_rd_f16(b));
    st_bf16(o, _mm512_mul_ps(f_i8(ld128(b + 2)), d), _mm512_mul_ps(f_i8(ld128(b + 18)), d));
}

AMX_INLINE void blk_q4_0(const uint8_t *b, uint16_t *o)       /* {d; qs[16]}: d (q - 8) */
{
    const __m512 d = _mm512_set1_ps(amx_rd_f16(b));
    const __m128i x = ld128(b + 2), e = _mm_set1_epi8(8);
    st_bf16(o, _mm512_mul_ps(d, f_i8(_mm_sub_epi8(lo_nib(x), e))), _mm512_mul_ps(d, f_i8(_mm_sub_epi8(hi_nib(x), e))));
}

AMX_INLINE void blk_q4_1(const uint8_t *b, uint16_t *o)       /* {d, m; qs[16]}: d q + m */
{
    const __m512 d = _mm512_set1_ps(amx_rd_f16(b)), m = _mm512_set1_ps(amx_rd_f16(b + 2));
    const __m128i x = ld128(b + 4);
    st_bf16(o, _mm512_add_ps(_mm512_mul_ps(d, f_u8(lo_nib(x))), m), _mm512_add_ps(_mm512_mul_ps(d, f_u8(hi_nib(x))), m));
}

AMX_INLINE void blk_q5_0(const uint8_t *b, uint16_t *o)       /* {d; qh u32; qs[16]}: d (q - 16) */
{
    const __m512 d = _mm512_set1_ps(amx_rd_f16(b));
    const uint32_t qh = rd_u32(b + 2);
    const __m128i x = ld128(b + 6), e = _mm_set1_epi8(16);
    st_bf16(o, _mm512_mul_ps(d, f_i8(_mm_sub_epi8(add16(lo_nib(x), qh), e))),
            _mm512_mul_ps(d, f_i8(_mm_sub_epi8(add16(hi_nib(x), qh >> 16), e))));
}

AMX_INLINE void blk_q5_1(const uint8_t *b, uint16_t *o)       /* {d, m; qh u32; qs[16]}: d q + m */
{
    const __m512 d = _mm512_set1_ps(amx_rd_f16(b)), m = _mm512_set1_ps(amx_rd_f16(b + 2));
    const uint32_t qh = rd_u32(b + 4);
    const __m128i x = ld128(b + 8);
    st_bf16(o, _mm512_add_ps(_mm512_mul_ps(d, f_u8(add16(lo_nib(x), qh))), m),
            _mm512_add_ps(_mm512_mul_ps(d, f_u8(add16(hi_nib(x), qh >> 16))), m));
}

/* Q4_K (q5 = 0) / Q5_K (q5 = 1): sub-block i, value l is d sc[i] q - dmin m[i]. */
AMX_INLINE void blk_q45k(const uint8_t *b, uint16_t *o, int q5)
{
    uint8_t sm[16];
    kq_unpack_scales(b + 4, sm);
    const float d = amx_rd_f16(b), dmin = amx_rd_f16(b + 2);
    const uint8_t *qs = b + (q5 ? 48 : 16), *qh = b + 16;
    for (int i = 0; i < 8; i++) {
        const __m512 d1 = _mm512_set1_ps(d * (float)sm[i]), m1 = _mm512_set1_ps(dmin * (float)sm[8 + i]);
        __m128i v[2];
        for (int h = 0; h < 2; h++) {
            const __m128i x = ld128(qs + 32 * (i / 2) + 16 * h);
            v[h] = i & 1 ? hi_nib(x) : lo_nib(x);
            if (q5) v[h] = add16(v[h], (uint32_t)_mm_test_epi8_mask(ld128(qh + 16 * h), _mm_set1_epi8((char)(1 << i))));
        }
        st_bf16(o + 32 * i, _mm512_sub_ps(_mm512_mul_ps(d1, f_u8(v[0])), m1),
                _mm512_sub_ps(_mm512_mul_ps(d1, f_u8(v[1])), m1));
    }
}
AMX_INLINE void blk_q4_k(const uint8_t *b, uint16_t *o) { blk_q45k(b, o, 0); }
AMX_INLINE void blk_q5_k(const uint8_t *b, uint16_t *o) { blk_q45k(b, o, 1); }

/* Q6_K {ql[128]; qh[64]; i8 scales[16]; d}: (d sc[j]) (q - 32), a scale per 16 values. */
AMX_INLINE void blk_q6_k(const uint8_t *b, uint16_t *o)
{
    const float d = amx_rd_f16(b + 208);
    const __m256i m4 = _mm256_set1_epi8(15), m30 = _mm256_set1_epi8(0x30), e = _mm256_set1_epi8(32);
    for (int h = 0; h < 2; h++) {
        const __m256i a = ld256(b + 64 * h), c = ld256(b + 64 * h + 32), qh = ld256(b + 128 + 32 * h);
        __m256i v[4];        /* values 32 k .. of this half */
        v[0] = _mm256_or_si256(_mm256_and_si256(a, m4), _mm256_and_si256(_mm256_slli_epi16(qh, 4), m30));
        v[1] = _mm256_or_si256(_mm256_and_si256(c, m4), _mm256_and_si256(_mm256_slli_epi16(qh, 2), m30));
        v[2] = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(a, 4), m4), _mm256_and_si256(qh, m30));
        v[3] = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(c, 4), m4),
                               _mm256_and_si256(_mm256_srli_epi16(qh, 2), m30));
        for (int k = 0; k < 4; k++) {
            const int j = 8 * h + 2 * k;
            const __m256i q = _mm256_sub_epi8(v[k], e);
            const __m512 s0 = _mm512_set1_ps(d * (float)(int8_t)b[192 + j]);
            const __m512 s1 = _mm512_set1_ps(d * (float)(int8_t)b[193 + j]);
            st_bf16(o + 128 * h + 32 * k, _mm512_mul_ps(s0, f_i8(_mm256_castsi256_si128(q))),
                    _mm512_mul_ps(s1, f_i8(_mm256_extracti128_si256(q, 1))));
        }
    }
}

/* r[n] = dword n of every input row: a 16 x 16 dword transpose. */
AMX_INLINE void transpose16(__m512i r[16])
{
    __m512i t[16], u[16];
    _Pragma("GCC unroll 8") for (int i = 0; i < 16; i += 2) {
        t[i] = _mm512_unpacklo_epi32(r[i], r[i + 1]);
        t[i + 1] = _mm512_unpackhi_epi32(r[i], r[i + 1]);
    }
    /* u[4g + c]: in 128-bit lane L, column 4L + c of rows 4g .. 4g + 3 */
    _Pragma("GCC unroll 4") for (int g = 0; g < 16; g += 4) {
        u[g] = _mm512_unpacklo_epi64(t[g], t[g + 2]);
        u[g + 1] = _mm512_unpackhi_epi64(t[g], t[g + 2]);
        u[g + 2] = _mm512_unpacklo_epi64(t[g + 1], t[g + 3]);
        u[g + 3] = _mm512_unpackhi_epi64(t[g + 1], t[g + 3]);
    }
    /* t[c] (c < 4): lanes 0, 2 of u[c] and u[c + 4]; t[c + 4]: lanes 1, 3; the
     * same for rows 8-15 in t[8 ..]. */
    _Pragma("GCC unroll 4") for (int c = 0; c < 4; c++) {
        t[c] = _mm512_shuffle_i32x4(u[c], u[c + 4], 0x88);
        t[c + 4] = _mm512_shuffle_i32x4(u[c], u[c + 4], 0xdd);
        t[c + 8] = _mm512_shuffle_i32x4(u[c + 8], u[c + 12], 0x88);
        t[c + 12] = _mm512_shuffle_i32x4(u[c + 8], u[c + 12], 0xdd);
    }
    _Pragma("GCC unroll 8") for (int c = 0; c < 8; c++) {
        r[c] = _mm512_shuffle_i32x4(t[c], t[c + 8], 0x88);
        r[c + 8] = _mm512_shuffle_i32x4(t[c], t[c + 8], 0xdd);
    }
}

/* Into L2, the block that will be decoded kc blocks after block k of a row
 * (nb blocks per row): the same row's next chunk, or after a row's last
 * chunk the first chunk of the row 32 further (the next pair of weight-row
 * tiles). Decoding is a stream of misses otherwise: nothing else brings the
 * weights in ahead of it. The address may lie past the matrix: a prefetch
 * never faults, and the arithmetic is done on integers. */
AMX_INLINE void prefetch_ahead(const uint8_t *row, size_t ws, size_t bbytes, int k, int kc, int nb)
{
    const int t = k + kc;
    uintptr_t a = (uintptr_t)row + (t < nb ? (size_t)t * bbytes : 32 * ws + (size_t)(t - nb) * bbytes);
    for (size_t o = 0; o < bbytes; o += 64) __builtin_prefetch((const void *)(a + o), 0, 2);
}

/* The B tiles of type blocks k0 .. k0 + kb - 1 (be values each, nb in a row,
 * kc per chunk) of weight rows w .. w + (nr - 1) ws (nr <= 32) into s->b. */
AMX_INLINE void decode(block_fn blk, int be, size_t bbytes, const uint8_t *w, size_t ws, int nr, int k0, int kb,
                       int kc, int nb, bf16_scratch *s)
{
    for (int rt = 0; rt * 16 < nr; rt++) {
        const int n_here = nr - 16 * rt < 16 ? nr - 16 * rt : 16;
        const uint8_t *wr = w + (size_t)(16 * rt) * ws;
        for (int b = 0; b < kb; b++) {
            const uint8_t *wb = wr + (size_t)(k0 + b) * bbytes;
            for (int n = 0; n < n_here; n++) {
                prefetch_ahead(wr + n * ws, ws, bbytes, k0 + b, kc, nb);
                blk(wb + n * ws, s->t[n]);
            }
            for (int c = 0; c < be / 32; c++) {
                __m512i r[16];
                _Pragma("GCC unroll 16") for (int n = 0; n < 16; n++)
                    r[n] = n < n_here ? _mm512_load_si512((const void *)(s->t[n] + 32 * c)) : _mm512_setzero_si512();
                transpose16(r);
                uint16_t *dst = s->b[b * (be / 32) + c][rt];
                _Pragma("GCC unroll 16") for (int p = 0; p < 16; p++) _mm512_store_si512((void *)(dst + 32 * p), r[p]);
            }
        }
    }
}

/* decode's work for Q8_0 in the R16 layout (cpu/repack.h), where one 64-byte
 * load holds values 4k .. 4k + 3 of all 16 rows of a tile: already the B
 * tiles' order but for the pairing, so no transpose. B row 2k + h, dword n
 * is values 4k + 2h, 4k + 2h + 1 of row n: the bytes are split into four
 * vectors (value 4k + j of the 16 rows), decoded as blk_q8_0 does (q d in
 * f32, the +128 taken off exactly by the same FMA), and paired as bf16. All
 * of a group's 16 rows are decoded (the matrix holds them); outputs of rows
 * past n_rows are masked off as in the file layout. */
AMX_INLINE void decode_r16(const uint8_t *w, size_t ws, int nr, int k0, int kb, int kc, int nb, bf16_scratch *s)
{
    const __m512i pair = _mm512_set_epi16(31, 15, 30, 14, 29, 13, 28, 12, 27, 11, 26, 10, 25, 9, 24, 8,
                                          23, 7, 22, 6, 21, 5, 20, 4, 19, 3, 18, 2, 17, 1, 16, 0);
    const __m512i byte = _mm512_set1_epi32(0xff);
    for (int rt = 0; rt * 16 < nr; rt++) {
        const uint8_t *grp = w + (size_t)(16 * rt) * ws;
        for (int b = 0; b < kb; b++) {
            const uint8_t *blk = grp + (size_t)(k0 + b) * CPU_R16_BLOCK;
            const int t = k0 + b + kc;      /* as prefetch_ahead: this group's next chunk, or the next pair's */
            const uintptr_t ahead = (uintptr_t)grp + (t < nb ? (size_t)t * CPU_R16_BLOCK
                                                             : 32 * ws + (size_t)(t - nb) * CPU_R16_BLOCK);
            for (int o = 0; o < CPU_R16_BLOCK; o += 64) __builtin_prefetch((const void *)(ahead + o), 0, 2);
            const __m512 d = _mm512_cvtph_ps(ld256(blk)), d128 = _mm512_mul_ps(d, _mm512_set1_ps(128.0f));
            uint16_t *dst = s->b[b][rt];
            for (int k = 0; k < 8; k++) {
                const __m512i v = _mm512_loadu_si512((const void *)(blk + 32 + 64 * k));
                __m512 f[4];
                for (int j = 0; j < 4; j++)
                    f[j] = _mm512_fmsub_ps(_mm512_cvtepi32_ps(_mm512_and_si512(_mm512_srli_epi32(v, 8 * j), byte)), d, d128);
                for (int h = 0; h < 2; h++)
                    _mm512_store_si512((void *)(dst + 32 * (2 * k + h)),
                                       _mm512_permutexvar_epi16(pair, bf16_pack(f[2 * h], f[2 * h + 1])));
            }
        }
    }
}

/* kb 32-value chunks of the products of activation tiles a0 (and a1 when two) with
 * the B tiles of one or both weight-row tiles (rt2), into C tiles 0-3. */
AMX_INLINE void products(const uint8_t *a0, const uint8_t *a1, size_t as, int kb, const bf16_scratch *s, int two,
                         int rt2)
{
    for (int b = 0; b < kb; b++) {
        _tile_loadd(4, a0 + (size_t)b * 64, (long)as);
        _tile_loadd(6, s->b[b][0], 64);
        _tile_dpbf16ps(0, 4, 6);
        if (rt2) {
            _tile_loadd(7, s->b[b][1], 64);
            _tile_dpbf16ps(1, 4, 7);
        }
        if (two) {
            _tile_loadd(5, a1 + (size_t)b * 64, (long)as);
            _tile_dpbf16ps(2, 5, 6);
            if (rt2) _tile_dpbf16ps(3, 5, 7);
        }
    }
}

/* The first activation row of tile t of the pass [xb, xe) (xe - xb >= 16). */
AMX_INLINE int tile_x(int xb, int xe, int t) { return xb + 16 * t + 16 <= xe ? xb + 16 * t : xe - 16; }

/* blk NULL: Q8_0 in the R16 layout (decode_r16). */
AMX_INLINE void gemm_bf16(block_fn blk, int be, size_t bbytes, K_GEMM_PARAMS)
{
    bf16_scratch *s = &scratch;
    const int nb = n_in / be, kc = KC * 32 / be, passes = (n_x + XS - 1) / XS;
    config_bf16();
    for (int r0 = 0; r0 < n_rows; r0 += 32) {
        const int nr = n_rows - r0 < 32 ? n_rows - r0 : 32, rt2 = nr > 16;
        for (int p = 0; p < passes; p++) {
            const int xb = n_x * p / passes, xe = n_x * (p + 1) / passes, nxt = (xe - xb + 15) / 16;
            for (int k0 = 0; k0 < nb; k0 += kc) {
                const int kb = nb - k0 < kc ? nb - k0 : kc, chunks = kb * be / 32;
                const size_t ka = (size_t)k0 * be * 2;     /* the chunk's first byte in an activation row */
                if (blk) decode(blk, be, bbytes, w + (size_t)r0 * w_stride, w_stride, nr, k0, kb, kc, nb, s);
                else decode_r16(w + (size_t)r0 * w_stride, w_stride, nr, k0, kb, kc, nb, s);
                for (int t = 0; t < nxt; t += 2) {
                    const int two = t + 1 < nxt;
                    const uint8_t *a0 = xa + (size_t)tile_x(xb, xe, t) * xa_stride + ka;
                    const uint8_t *a1 = xa + (size_t)tile_x(xb, xe, two ? t + 1 : t) * xa_stride + ka;
                    float *c0 = s->acc[t][0], *c1 = s->acc[t][1], *c2 = s->acc[t + two][0], *c3 = s->acc[t + two][1];
                    if (k0) {
                        _tile_loadd(0, c0, 64); _tile_loadd(1, c1, 64);
                        _tile_loadd(2, c2, 64); _tile_loadd(3, c3, 64);
                    } else {
                        _tile_zero(0); _tile_zero(1); _tile_zero(2); _tile_zero(3);
                    }
                    /* constant flags, so each variant's loop has no branches */
                    if (two && rt2) products(a0, a1, xa_stride, chunks, s, 1, 1);
                    else if (two) products(a0, a1, xa_stride, chunks, s, 1, 0);
                    else if (rt2) products(a0, a1, xa_stride, chunks, s, 0, 1);
                    else products(a0, a1, xa_stride, chunks, s, 0, 0);
                    _tile_stored(0, c0, 64); _tile_stored(1, c1, 64);
                    if (two) { _tile_stored(2, c2, 64); _tile_stored(3, c3, 64); }
                }
            }
            for (int t = 0; t < nxt; t++) {
                const int x0 = tile_x(xb, xe, t);
                for (int rt = 0; rt <= rt2; rt++) {
                    const __mmask16 lm = amx_lanes(nr - 16 * rt);
                    for (int i = 0; i < 16; i++)
                        if (x0 + i >= xb + 16 * t)
                            _mm512_mask_storeu_ps(out + (size_t)(x0 + i) * out_stride + r0 + 16 * rt, lm,
                                                  _mm512_load_ps(s->acc[t][rt] + 16 * i));
                }
            }
        }
    }
    _tile_release();
}

#define DEFINE_GEMM(name, blk, be, bbytes) \
    static void name(K_GEMM_PARAMS) \
    { gemm_bf16(blk, be, bbytes, n_in, n_rows, n_x, w, w_stride, xa, xa_stride, out, out_stride); }

DEFINE_GEMM(gemm_q8_0, blk_q8_0, 32, 34)
DEFINE_GEMM(gemm_q8_0_r16, NULL, 32, 34)
DEFINE_GEMM(gemm_q4_0, blk_q4_0, 32, 18)
DEFINE_GEMM(gemm_q4_1, blk_q4_1, 32, 20)
DEFINE_GEMM(gemm_q5_0, blk_q5_0, 32, 22)
DEFINE_GEMM(gemm_q5_1, blk_q5_1, 32, 24)
DEFINE_GEMM(gemm_q4_k, blk_q4_k, 256, KQ_Q4K_BYTES)
DEFINE_GEMM(gemm_q5_k, blk_q5_k, 256, KQ_Q5K_BYTES)
DEFINE_GEMM(gemm_q6_k, blk_q6_k, 256, KQ_Q6K_BYTES)

/* vcvtne2ps2bf16: round to nearest even, as the portable quantizer. */
static void quantize_bf16(const float *x, void *dst, int n)
{
    uint16_t *y = dst;
    for (int i = 0; i + 32 <= n; i += 32)
        _mm512_storeu_si512((void *)(y + i), bf16_pack(_mm512_loadu_ps(x + i), _mm512_loadu_ps(x + i + 16)));
}

#define PREFILL(t, fn) { .type = t, .act = CPU_ACT_BF16, .gemm = fn, .min_x = MIN_X, .bf16_weights = true }
static const cpu_matmul_kernel kernels[] = {
    PREFILL(GT_Q8_0, gemm_q8_0),
    { .type = GT_Q8_0, .act = CPU_ACT_BF16, .gemm = gemm_q8_0_r16, .layout = CPU_LAYOUT_R16, .min_x = MIN_X,
      .bf16_weights = true },
    PREFILL(GT_Q4_0, gemm_q4_0), PREFILL(GT_Q4_1, gemm_q4_1),
    PREFILL(GT_Q5_0, gemm_q5_0), PREFILL(GT_Q5_1, gemm_q5_1), PREFILL(GT_Q4_K, gemm_q4_k),
    PREFILL(GT_Q5_K, gemm_q5_k), PREFILL(GT_Q6_K, gemm_q6_k),
};

const cpu_kernel_family cpu_fam_amx_bf16 = {
    .name = "amx bf16",
    .isa = CPU_ISA_AMX,
    .kernels = kernels,
    .n_kernels = sizeof kernels / sizeof kernels[0],
    .quantize = { [CPU_ACT_BF16] = quantize_bf16 },
};
