/* kq_common.h: what the K-quant kernel families (cpu/k_*_kq.c) share: the
 * block layouts' offsets, the Q4_K/Q5_K scale unpacking (scalar and SIMD),
 * and, for the SIMD levels, the driver and tile skeleton that walk a product
 * in register tiles.
 *
 * Block layouts: ../shared/GEMMA.md section 2 (model/quant.c has the scalar
 * reference). Everything here reads bytes through memcpy or unaligned loads:
 * GGUF rows and activation rows carry no alignment.
 */
#ifndef GC_CPU_KQ_COMMON_H
#define GC_CPU_KQ_COMMON_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "cpu/k_tiles.h"
#include "cpu/kernels.h"
#include "model/quant.h"

/* Weight blocks of 256 values. */
#define KQ_Q4K_BYTES 144   /* {f16 d, dmin; u8 scales[12]; u8 qs[128]} */
#define KQ_Q5K_BYTES 176   /* {f16 d, dmin; u8 scales[12]; u8 qh[32]; u8 qs[128]} */
#define KQ_Q6K_BYTES 210   /* {u8 ql[128]; u8 qh[64]; i8 scales[16]; f16 d} */

/* One activation block (cpu_q8_k), addressed by byte offset: a row of them
 * sits at any byte address the caller chose. */
#define KQ_XB      sizeof(cpu_q8_k)
#define KQ_XQ      offsetof(cpu_q8_k, q)
#define KQ_XBSUM   offsetof(cpu_q8_k, bsum)

static inline float kq_rd_f32(const uint8_t *p) { float f; memcpy(&f, p, 4); return f; }
static inline uint32_t kq_rd_u32(const uint8_t *p) { uint32_t u; memcpy(&u, p, 4); return u; }

/* The 8 six-bit scales and 8 six-bit mins of a Q4_K/Q5_K block from its 12
 * packed bytes, as out[0..7] = scales, out[8..15] = mins. Sub-blocks 0..3
 * keep their values in the low 6 bits of s[0..3] (scales) and s[4..7] (mins);
 * 4..7 take a nibble of s[8..11] and the top 2 bits of s[0..3] / s[4..7].
 * Done on whole 32-bit words (four sub-blocks at once) because it runs once
 * per block and row in the decode loop. */
static inline void kq_unpack_scales(const uint8_t *s, uint8_t out[16])
{
    uint32_t a = kq_rd_u32(s), b = kq_rd_u32(s + 4), c = kq_rd_u32(s + 8);
    uint32_t w[4] = {
        a & 0x3f3f3f3fu,
        (c & 0x0f0f0f0fu) | ((a >> 2) & 0x30303030u),
        b & 0x3f3f3f3fu,
        ((c >> 4) & 0x0f0f0f0fu) | ((b >> 2) & 0x30303030u),
    };
    memcpy(out, w, 16);
}

/* A cpu_gemm_fn's parameters, for the families' per-type entry points. */
#define KQ_GEMM_ARGS int n_in, int n_rows, int n_x, const uint8_t *w, size_t ws, \
                     const uint8_t *xa, size_t xs, float *out, size_t os

/* The driver. A tile function computes a block of outputs, rows r0.. x
 * activation rows c0.., over the whole of n_in, with its accumulators in
 * registers. The tile shapes are the family's choice: `dec` for n_x = 1
 * (decode: r_dec weight rows at once, for independent accumulation chains
 * and memory streams), `dec2` for n_x = 2 (a decode product's two terms:
 * r_dec2 rows, more than a prefill tile's where the registers allow),
 * `pre[c-1]` for r_pre weight rows x c activation rows
 * (prefill: each decoded weight block is used c times), `one[c-1]` for the
 * rows left over. */
typedef struct kq_job {
    int nb;                    /* blocks of 256 per row */
    const uint8_t *w;          /* weight row 0 */
    size_t ws;                 /* bytes between weight rows */
    const uint8_t *xa;         /* activation row 0 (cpu_q8_k[nb]) */
    size_t xs;                 /* bytes between activation rows */
    float *out;
    size_t os;                 /* floats between output rows (one per activation row) */
} kq_job;

typedef void (*kq_tile_fn)(const kq_job *jb, int r0, int c0);

#define KQ_MAX_C 4             /* activation rows per tile, at most */

typedef struct kq_tiles {
    int r_dec;
    kq_tile_fn dec;                  /* r_dec x 1 */
    int r_dec2;
    kq_tile_fn dec2;                 /* r_dec2 x 2: the two terms of a decode product */
    int r_pre;
    kq_tile_fn pre[KQ_MAX_C];        /* r_pre x (1..KQ_MAX_C) */
    kq_tile_fn one[KQ_MAX_C];        /* 1 x (1..KQ_MAX_C) */
} kq_tiles;

/* Row groups outside, activation tiles inside: one group's weights (r_pre
 * rows of n_in) stay in L1 while every activation tile passes over them. */
static inline void kq_gemm(const kq_tiles *t, int n_in, int n_rows, int n_x, const uint8_t *w,
                           size_t w_stride, const uint8_t *xa, size_t xa_stride, float *out,
                           size_t out_stride)
{
    kq_job jb = { n_in / 256, w, w_stride, xa, xa_stride, out, out_stride };
    int i = 0;
    if (n_x == 1) {
        for (; i + t->r_dec <= n_rows; i += t->r_dec) t->dec(&jb, i, 0);
    } else if (n_x == 2) {
        for (; i + t->r_dec2 <= n_rows; i += t->r_dec2) t->dec2(&jb, i, 0);
    } else {
        for (; i + t->r_pre <= n_rows; i += t->r_pre)
            for (int j = 0; j < n_x; j += KQ_MAX_C)
                t->pre[(n_x - j < KQ_MAX_C ? n_x - j : KQ_MAX_C) - 1](&jb, i, j);
    }
    for (; i < n_rows; i++)
        for (int j = 0; j < n_x; j += KQ_MAX_C)
            t->one[(n_x - j < KQ_MAX_C ? n_x - j : KQ_MAX_C) - 1](&jb, i, j);
}

/* One tile set: tile(jb, r0, c0, R, C) is an always-inline function with
 * R x C accumulators, instantiated here for the shapes kq_gemm asks for;
 * `name` becomes the family's cpu_gemm_fn. */
#define KQ_TILESET(name, tile, RD, RD2, RP) \
    static void name##_d(const kq_job *j, int r, int c) { tile(j, r, c, RD, 1); } \
    static void name##_d2(const kq_job *j, int r, int c) { tile(j, r, c, RD2, 2); } \
    static void name##_p1(const kq_job *j, int r, int c) { tile(j, r, c, RP, 1); } \
    static void name##_p2(const kq_job *j, int r, int c) { tile(j, r, c, RP, 2); } \
    static void name##_p3(const kq_job *j, int r, int c) { tile(j, r, c, RP, 3); } \
    static void name##_p4(const kq_job *j, int r, int c) { tile(j, r, c, RP, 4); } \
    static void name##_o1(const kq_job *j, int r, int c) { tile(j, r, c, 1, 1); } \
    static void name##_o2(const kq_job *j, int r, int c) { tile(j, r, c, 1, 2); } \
    static void name##_o3(const kq_job *j, int r, int c) { tile(j, r, c, 1, 3); } \
    static void name##_o4(const kq_job *j, int r, int c) { tile(j, r, c, 1, 4); } \
    static const kq_tiles name##_tiles = { \
        RD, name##_d, RD2, name##_d2, RP, { name##_p1, name##_p2, name##_p3, name##_p4 }, \
        { name##_o1, name##_o2, name##_o3, name##_o4 } }; \
    static void name(KQ_GEMM_ARGS) { kq_gemm(&name##_tiles, n_in, n_rows, n_x, w, ws, xa, xs, out, os); }

/* The tile skeleton of the SIMD levels, written once for their vector types:
 * R weight rows x C activation rows of type `type` (R, C and type are
 * constants after inlining); per block column each row's block is decoded
 * once, by the including file's q45k_block / q6k_block, and used against
 * the C activation blocks; per-lane f32 accumulators, one reduction per
 * output. Defines the cpu_gemm_fns gemm_q4k, gemm_q5k, gemm_q6k with tiles
 * of RD x 1 and RD2 x 2 (decode) and RP x 1..4 (prefill). */
#define KQ_DEFINE_GEMMS(VEC, ZERO, SET1, REDUCE, RD, RD2, RP) \
static inline __attribute__((always_inline)) void \
tile(const kq_job *jb, int r0, int c0, const int R, const int C, const uint32_t type) \
{ \
    const size_t bb = type == GT_Q4_K ? KQ_Q4K_BYTES : type == GT_Q5_K ? KQ_Q5K_BYTES : KQ_Q6K_BYTES; \
    VEC acc[4][KQ_MAX_C]; \
    _Pragma("GCC unroll 4") for (int r = 0; r < R; r++) \
        _Pragma("GCC unroll 4") for (int c = 0; c < C; c++) acc[r][c] = ZERO(); \
    for (int b = 0; b < jb->nb; b++) { \
        const uint8_t *xb[KQ_MAX_C]; \
        VEC xd[KQ_MAX_C]; \
        _Pragma("GCC unroll 4") for (int c = 0; c < C; c++) { \
            xb[c] = jb->xa + (size_t)(c0 + c) * jb->xs + (size_t)b * KQ_XB; \
            xd[c] = SET1(kq_rd_f32(xb[c])); \
        } \
        _Pragma("GCC unroll 4") for (int r = 0; r < R; r++) { \
            const uint8_t *blk = jb->w + (size_t)(r0 + r) * jb->ws + (size_t)b * bb; \
            k_prefetch_next(blk, (size_t)R, jb->ws, bb); \
            if (type == GT_Q6_K) q6k_block(blk, xb, xd, acc[r], C); \
            else q45k_block(blk, xb, xd, acc[r], C, type == GT_Q5_K); \
        } \
    } \
    _Pragma("GCC unroll 4") for (int r = 0; r < R; r++) \
        _Pragma("GCC unroll 4") for (int c = 0; c < C; c++) \
            jb->out[(size_t)(c0 + c) * jb->os + r0 + r] = REDUCE(acc[r][c]); \
} \
static inline __attribute__((always_inline)) void \
q4k_tile(const kq_job *jb, int r0, int c0, const int R, const int C) { tile(jb, r0, c0, R, C, GT_Q4_K); } \
static inline __attribute__((always_inline)) void \
q5k_tile(const kq_job *jb, int r0, int c0, const int R, const int C) { tile(jb, r0, c0, R, C, GT_Q5_K); } \
static inline __attribute__((always_inline)) void \
q6k_tile(const kq_job *jb, int r0, int c0, const int R, const int C) { tile(jb, r0, c0, R, C, GT_Q6_K); } \
KQ_TILESET(gemm_q4k, q4k_tile, RD, RD2, RP) \
KQ_TILESET(gemm_q5k, q5k_tile, RD, RD2, RP) \
KQ_TILESET(gemm_q6k, q6k_tile, RD, RD2, RP)

#if defined(__AVX2__) && defined(__F16C__)
#include <immintrin.h>

/* kq_unpack_scales in registers: [sc0..7, m0..7] as bytes. Reads 16 bytes
 * at s, 4 past the 12 scale bytes, which every Q4_K/Q5_K block has there. */
static inline __m128i kq_scales_sm(const uint8_t *s)
{
    __m128i v = _mm_loadu_si128((const __m128i *)(const void *)s);       /* words a b c . */
    __m128i acbc = _mm_shuffle_epi32(v, _MM_SHUFFLE(2, 1, 2, 0));
    __m128i aabb = _mm_shuffle_epi32(v, _MM_SHUFFLE(1, 1, 0, 0));
    __m128i lo = _mm_and_si128(_mm_srlv_epi32(acbc, _mm_setr_epi32(0, 0, 0, 4)),
                               _mm_setr_epi32(0x3f3f3f3f, 0x0f0f0f0f, 0x3f3f3f3f, 0x0f0f0f0f));
    __m128i hi = _mm_and_si128(_mm_srli_epi32(aabb, 2), _mm_setr_epi32(0, 0x30303030, 0, 0x30303030));
    return _mm_or_si128(lo, hi);
}

/* Two fp16 at p as [p[0], p[1], 0, 0]. */
static inline __m128 kq_f16x2(const uint8_t *p) { return _mm_cvtph_ps(_mm_cvtsi32_si128((int)kq_rd_u32(p))); }

/* One fp16 at p as [p[0], 0, 0, 0] (reads 2 bytes: Q6_K's d ends its block). */
static inline __m128 kq_f16x1(const uint8_t *p) { return _mm_cvtph_ps(_mm_cvtsi32_si128(p[0] | (p[1] << 8))); }

static inline float kq_hsum256(__m256 v)
{
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
}
#endif

#endif
