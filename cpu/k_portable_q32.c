/* k_portable_q32.c: plain-C kernels for the 32-value-block weight types
 * (Q8_0 Q4_0 Q4_1 Q5_0 Q5_1) and the CPU_ACT_Q8_32 quantizer (see cpu/kernels.h).
 *
 * This is the level for CPUs without AVX2, and the readable statement of what
 * the SIMD levels compute. Each weight block is decoded once into 32 small
 * integers q (with the type's offset folded in: Q4_0's -8, Q5_0's -16), a
 * scale d and, for Q4_1/Q5_1, a min m; then for every activation row of the
 * tile the block contributes
 *     d_w * d_x * sum(q_w * q_x)  +  m_w * s_x        (s_x = d_x * sum(q_x))
 * with the integer sum exact in int32 and one float scale per block.
 */
#include "cpu/kernels.h"
#include "cpu/k_tiles.h"

#include <math.h>
#include <string.h>

#include "model/quant.h"

/* ---- the activation quantizer ---- */

/* d = max|x| / 127; q = x / d rounded to nearest (ties to even, as the SIMD
 * levels' vcvtps2dq does, so every level agrees); s = d * sum(q). */
static void quantize_q8_32(const float *x, void *dst, int n)
{
    cpu_q8_32 *y = dst;
    for (int b = 0; b < n / 32; b++, x += 32) {
        float amax = 0;
        for (int i = 0; i < 32; i++) amax = fmaxf(amax, fabsf(x[i]));
        float d = amax / 127.0f, id = amax > 0 ? 127.0f / amax : 0.0f;
        cpu_q8_32 blk;
        int sum = 0;
        for (int i = 0; i < 32; i++) {
            int q = (int)lrintf(x[i] * id);
            blk.q[i] = (int8_t)q;
            sum += q;
        }
        blk.d = d;
        blk.s = d * (float)sum;
        memcpy(&y[b], &blk, sizeof blk);
    }
}

/* Two terms (cpu/kernels.h), block by block: the residual of a block is
 * taken while its 32 values are at hand. */
static void quantize2_q8_32(const float *x, void *dst, void *dst2, int n)
{
    cpu_q8_32 *y = dst, *y2 = dst2;
    for (int b = 0; b < n / 32; b++, x += 32) {
        float r[32];
        quantize_q8_32(x, &y[b], 32);
        for (int i = 0; i < 32; i++) r[i] = x[i] - y[b].d * y[b].q[i];
        quantize_q8_32(r, &y2[b], 32);
    }
}

/* ---- weight block decoders ---- */

typedef struct dec_block {
    float d, m;             /* scale; min (0 for the types without one) */
    int8_t q[32];           /* value j = d * q[j] + m */
} dec_block;

static inline float rd_f16(const uint8_t *p) { return quant_f16_to_f32((uint16_t)(p[0] | (p[1] << 8))); }
static inline uint32_t rd_u32(const uint8_t *p)
{
    return (uint32_t)p[0] | ((uint32_t)p[1] << 8) | ((uint32_t)p[2] << 16) | ((uint32_t)p[3] << 24);
}

static inline void dec_q8_0(const uint8_t *b, dec_block *o)    /* {d; i8 qs[32]} */
{
    o->d = rd_f16(b);
    o->m = 0;
    memcpy(o->q, b + 2, 32);
}

/* fifth[n][i] = 16 if bit i of n is set: four values' fifth bits at once. */
static const uint8_t fifth[16][4] = {
    { 0, 0, 0, 0 },     { 16, 0, 0, 0 },     { 0, 16, 0, 0 },     { 16, 16, 0, 0 },
    { 0, 0, 16, 0 },    { 16, 0, 16, 0 },    { 0, 16, 16, 0 },    { 16, 16, 16, 0 },
    { 0, 0, 0, 16 },    { 16, 0, 0, 16 },    { 0, 16, 0, 16 },    { 16, 16, 0, 16 },
    { 0, 0, 16, 16 },   { 16, 0, 16, 16 },   { 0, 16, 16, 16 },   { 16, 16, 16, 16 },
};

/* The 4-bit types: low nibble of qs[j] is value j, high nibble value j + 16;
 * qh (5-bit types) holds the fifth bit of value j at bit j. Written as
 * fixed-length byte loops (and a table for the bits) so that the compiler
 * can vectorize them with the baseline instruction set. */
static inline void nibbles(const uint8_t *qs, uint32_t qh, int off, int8_t *q)
{
    uint8_t v[32];
    for (int j = 0; j < 16; j++) {
        v[j] = qs[j] & 15;
        v[j + 16] = qs[j] >> 4;
    }
    if (qh) {
        uint8_t h[32];
        for (int k = 0; k < 8; k++) memcpy(h + 4 * k, fifth[(qh >> 4 * k) & 15], 4);
        for (int j = 0; j < 32; j++) v[j] |= h[j];
    }
    for (int j = 0; j < 32; j++) q[j] = (int8_t)(v[j] - off);
}

static inline void dec_q4_0(const uint8_t *b, dec_block *o)    /* {d; qs[16]} */
{
    o->d = rd_f16(b);
    o->m = 0;
    nibbles(b + 2, 0, 8, o->q);
}

static inline void dec_q4_1(const uint8_t *b, dec_block *o)    /* {d, m; qs[16]} */
{
    o->d = rd_f16(b);
    o->m = rd_f16(b + 2);
    nibbles(b + 4, 0, 0, o->q);
}

static inline void dec_q5_0(const uint8_t *b, dec_block *o)    /* {d; qh; qs[16]} */
{
    o->d = rd_f16(b);
    o->m = 0;
    nibbles(b + 6, rd_u32(b + 2), 16, o->q);
}

static inline void dec_q5_1(const uint8_t *b, dec_block *o)    /* {d, m; qh; qs[16]} */
{
    o->d = rd_f16(b);
    o->m = rd_f16(b + 2);
    nibbles(b + 8, rd_u32(b + 4), 0, o->q);
}

typedef void (*dec_fn)(const uint8_t *block, dec_block *out);

/* ---- the tiled product ---- */

enum { TR1 = 4, TR2 = 4, TR = 4, TC = 4, TRM = K_MAX(TR, TR1) };  /* tiles: K_DEFINE_GEMM */

/* One tile of nr <= TR weight rows x nx <= TC activation rows over all blocks. */
K_INLINE void tile(dec_fn dec, size_t bbytes, int nr, int nx, int n_in, const uint8_t *w,
                   size_t w_stride, const uint8_t *xa, size_t xa_stride, float *out,
                   size_t out_stride)
{
    int nb = n_in / 32;
    float acc[TRM][TC] = { { 0 } };
    for (int b = 0; b < nb; b++) {
        dec_block wb[TRM];
        for (int r = 0; r < nr; r++) dec(w + r * w_stride + b * bbytes, &wb[r]);
        for (int c = 0; c < nx; c++) {
            cpu_q8_32 xb;
            memcpy(&xb, xa + c * xa_stride + b * sizeof xb, sizeof xb);
            for (int r = 0; r < nr; r++) {
                int32_t sum = 0;
                for (int j = 0; j < 32; j++) sum += wb[r].q[j] * xb.q[j];
                acc[r][c] += wb[r].d * xb.d * (float)sum + wb[r].m * xb.s;
            }
        }
    }
    for (int c = 0; c < nx; c++)
        for (int r = 0; r < nr; r++) out[c * out_stride + r] = acc[r][c];
}

K_DEFINE_GEMM(gemm_q8_0, TR1, TR2, TR, TC, tile, dec_q8_0, 34)
K_DEFINE_GEMM(gemm_q4_0, TR1, TR2, TR, TC, tile, dec_q4_0, 18)
K_DEFINE_GEMM(gemm_q4_1, TR1, TR2, TR, TC, tile, dec_q4_1, 20)
K_DEFINE_GEMM(gemm_q5_0, TR1, TR2, TR, TC, tile, dec_q5_0, 22)
K_DEFINE_GEMM(gemm_q5_1, TR1, TR2, TR, TC, tile, dec_q5_1, 24)

static const cpu_matmul_kernel kernels[] = {
    { .type = GT_Q8_0, .act = CPU_ACT_Q8_32, .gemm = gemm_q8_0 },
    { .type = GT_Q4_0, .act = CPU_ACT_Q8_32, .gemm = gemm_q4_0 },
    { .type = GT_Q4_1, .act = CPU_ACT_Q8_32, .gemm = gemm_q4_1 },
    { .type = GT_Q5_0, .act = CPU_ACT_Q8_32, .gemm = gemm_q5_0 },
    { .type = GT_Q5_1, .act = CPU_ACT_Q8_32, .gemm = gemm_q5_1 },
};

const cpu_kernel_family cpu_fam_portable_q32 = {
    .name = "portable q32",
    .isa = CPU_ISA_PORTABLE,
    .kernels = kernels,
    .n_kernels = sizeof kernels / sizeof kernels[0],
    .quantize = { [CPU_ACT_Q8_32] = quantize_q8_32 },
    .quantize2 = { [CPU_ACT_Q8_32] = quantize2_q8_32 },
};
