/* quant.c: ggml type table and scalar reference dequantizers.
 *
 * The float arithmetic in each dequantizer follows gguf-py's gguf/quants.py
 * operation for operation, which makes the results bit-identical to it. Why
 * that is robust: every product here is exact in f32 (an fp16 scale has 11
 * significant bits, a sub-scale at most 7, a quant at most 6: 24 bits at most),
 * so the order of the multiplications cannot matter; only the one rounding
 * step of "+ m" / "- dmin*m" can, so keep that a separate product and add
 * (no FMA: -std=c11 keeps GCC from contracting).
 * Block layouts: ../shared/GEMMA.md section 2.
 */
#include "model/quant.h"

#include <stdio.h>
#include <string.h>

/* Names use gguf-py's spelling (GGMLQuantizationType), sizes its
 * GGML_QUANT_SIZES table (same as ggml's type_traits). */
static const quant_info type_table[GT_COUNT] = {
    [GT_F32]     = { "F32",     1,   4,   true },
    [GT_F16]     = { "F16",     1,   2,   true },
    [GT_Q4_0]    = { "Q4_0",    32,  18,  true },
    [GT_Q4_1]    = { "Q4_1",    32,  20,  true },
    [GT_Q5_0]    = { "Q5_0",    32,  22,  true },
    [GT_Q5_1]    = { "Q5_1",    32,  24,  true },
    [GT_Q8_0]    = { "Q8_0",    32,  34,  true },
    [GT_Q8_1]    = { "Q8_1",    32,  40,  false },
    [GT_Q2_K]    = { "Q2_K",    256, 84,  false },
    [GT_Q3_K]    = { "Q3_K",    256, 110, false },
    [GT_Q4_K]    = { "Q4_K",    256, 144, true },
    [GT_Q5_K]    = { "Q5_K",    256, 176, true },
    [GT_Q6_K]    = { "Q6_K",    256, 210, true },
    [GT_Q8_K]    = { "Q8_K",    256, 292, false },
    [GT_IQ2_XXS] = { "IQ2_XXS", 256, 66,  false },
    [GT_IQ2_XS]  = { "IQ2_XS",  256, 74,  false },
    [GT_IQ3_XXS] = { "IQ3_XXS", 256, 98,  false },
    [GT_IQ1_S]   = { "IQ1_S",   256, 50,  false },
    [GT_IQ4_NL]  = { "IQ4_NL",  32,  18,  false },
    [GT_IQ3_S]   = { "IQ3_S",   256, 110, false },
    [GT_IQ2_S]   = { "IQ2_S",   256, 82,  false },
    [GT_IQ4_XS]  = { "IQ4_XS",  256, 136, false },
    [GT_I8]      = { "I8",      1,   1,   false },
    [GT_I16]     = { "I16",     1,   2,   false },
    [GT_I32]     = { "I32",     1,   4,   false },
    [GT_I64]     = { "I64",     1,   8,   false },
    [GT_F64]     = { "F64",     1,   8,   false },
    [GT_IQ1_M]   = { "IQ1_M",   256, 56,  false },
    [GT_BF16]    = { "BF16",    1,   2,   true },
    [GT_TQ1_0]   = { "TQ1_0",   256, 54,  false },
    [GT_TQ2_0]   = { "TQ2_0",   256, 66,  false },
    [GT_MXFP4]   = { "MXFP4",   32,  17,  false },
    [GT_NVFP4]   = { "NVFP4",   64,  36,  false },
    [GT_Q1_0]    = { "Q1_0",    128, 18,  false },
    [GT_Q2_0]    = { "Q2_0",    64,  18,  false },
};

const quant_info *quant_type_info(uint32_t type)
{
    if (type >= GT_COUNT || !type_table[type].name) return NULL;
    return &type_table[type];
}

const char *quant_type_name(uint32_t type)
{
    const quant_info *qi = quant_type_info(type);
    if (qi) return qi->name;
    static _Thread_local char buf[32];
    snprintf(buf, sizeof buf, "type %u", type);
    return buf;
}

const char *quant_supported_list(void)
{
    return "F32 F16 BF16 Q8_0 Q4_0 Q4_1 Q5_0 Q5_1 Q4_K Q5_K Q6_K";
}

bool quant_type_supported(uint32_t type)
{
    const quant_info *qi = quant_type_info(type);
    return qi && qi->supported;
}

int quant_row_bytes(uint32_t type, uint64_t n, uint64_t *bytes, gc_err *err)
{
    const quant_info *qi = quant_type_info(type);
    if (!qi) return gc_errf(err, "unknown ggml type id %u", type);
    if (n % qi->block_elems)
        return gc_errf(err, "row of %llu values is not a multiple of the %s block size %u",
                       (unsigned long long)n, qi->name, qi->block_elems);
    uint64_t blocks = n / qi->block_elems;
    if (blocks > UINT64_MAX / qi->block_bytes)
        return gc_errf(err, "row of %llu %s values overflows 64-bit size", (unsigned long long)n, qi->name);
    *bytes = blocks * qi->block_bytes;
    return 0;
}

/* ---- scalar conversions ---- */

static inline uint32_t f32_bits(float f) { uint32_t u; memcpy(&u, &f, 4); return u; }
static inline float bits_f32(uint32_t u) { float f; memcpy(&f, &u, 4); return f; }

float quant_f16_to_f32(uint16_t h)
{
    uint32_t sign = (uint32_t)(h & 0x8000) << 16;
    uint32_t exp = (h >> 10) & 0x1f;
    uint32_t mant = h & 0x3ff;
    if (exp == 0x1f) return bits_f32(sign | 0x7f800000u | (mant << 13));   /* inf, NaN */
    if (exp == 0) {
        if (mant == 0) return bits_f32(sign);
        /* Subnormal: shift the leading 1 up to the implicit-bit position;
         * each shift lowers the exponent by one. */
        uint32_t e = 113;   /* 127 - 15 + 1 */
        while (!(mant & 0x400)) { mant <<= 1; e--; }
        return bits_f32(sign | (e << 23) | ((mant & 0x3ff) << 13));
    }
    return bits_f32(sign | ((exp + 112) << 23) | (mant << 13));
}

uint16_t quant_f32_to_f16(float f)
{
    uint32_t u = f32_bits(f);
    uint16_t sign = (uint16_t)((u >> 16) & 0x8000);
    uint32_t exp = (u >> 23) & 0xff;
    uint32_t mant = u & 0x7fffff;
    if (exp == 0xff) {
        if (mant) return (uint16_t)(sign | 0x7e00 | (mant >> 13));   /* quiet NaN */
        return (uint16_t)(sign | 0x7c00);
    }
    int e = (int)exp - 127 + 15;              /* biased half exponent */
    if (e >= 0x1f) return (uint16_t)(sign | 0x7c00);
    uint32_t m;                               /* significand incl. implicit bit */
    int shift;                                /* bits dropped from the 24-bit significand */
    if (e <= 0) {
        /* Result is subnormal (or rounds to zero / the smallest normal). */
        if (e < -10) return sign;             /* below half the smallest subnormal */
        m = mant | 0x800000;
        shift = 14 - e;
        e = 0;
    } else {
        m = mant | 0x800000;
        shift = 13;
    }
    uint32_t q = m >> shift;
    uint32_t rem = m & ((1u << shift) - 1);
    uint32_t half = 1u << (shift - 1);
    if (rem > half || (rem == half && (q & 1))) q++;
    /* For normals q holds the implicit bit (0x400): adding (e-1)<<10 puts the
     * exponent in place, and a mantissa carry rolls into the exponent (up to
     * inf) on its own. For subnormals q < 0x400, or == 0x400 when rounding up
     * to the smallest normal, which is also exactly right. */
    uint32_t r = e > 0 ? ((uint32_t)(e - 1) << 10) + q : q;
    return (uint16_t)(sign | r);
}

float quant_bf16_to_f32(uint16_t b)
{
    return bits_f32((uint32_t)b << 16);
}

/* ---- block readers (no alignment assumed) ---- */

static inline float rd_f16(const uint8_t *p) { return quant_f16_to_f32((uint16_t)(p[0] | (p[1] << 8))); }
static inline uint32_t rd_u32(const uint8_t *p)
{
    return (uint32_t)p[0] | ((uint32_t)p[1] << 8) | ((uint32_t)p[2] << 16) | ((uint32_t)p[3] << 24);
}

static void deq_q8_0(const uint8_t *b, float *y)     /* {d; i8 qs[32]} */
{
    float d = rd_f16(b);
    for (int j = 0; j < 32; j++) y[j] = (float)(int8_t)b[2 + j] * d;
}

static void deq_q4_0(const uint8_t *b, float *y)     /* {d; qs[16]} */
{
    float d = rd_f16(b);
    const uint8_t *qs = b + 2;
    for (int j = 0; j < 16; j++) {
        y[j] = d * (float)((qs[j] & 15) - 8);
        y[j + 16] = d * (float)((qs[j] >> 4) - 8);
    }
}

static void deq_q4_1(const uint8_t *b, float *y)     /* {d, m; qs[16]} */
{
    float d = rd_f16(b), m = rd_f16(b + 2);
    const uint8_t *qs = b + 4;
    for (int j = 0; j < 16; j++) {
        y[j] = d * (float)(qs[j] & 15) + m;
        y[j + 16] = d * (float)(qs[j] >> 4) + m;
    }
}

static void deq_q5_0(const uint8_t *b, float *y)     /* {d; qh u32; qs[16]} */
{
    float d = rd_f16(b);
    uint32_t qh = rd_u32(b + 2);
    const uint8_t *qs = b + 6;
    for (int j = 0; j < 16; j++) {
        int lo = (qs[j] & 15) | (int)(((qh >> j) & 1) << 4);
        int hi = (qs[j] >> 4) | (int)(((qh >> (j + 16)) & 1) << 4);
        y[j] = d * (float)(lo - 16);
        y[j + 16] = d * (float)(hi - 16);
    }
}

static void deq_q5_1(const uint8_t *b, float *y)     /* {d, m; qh u32; qs[16]} */
{
    float d = rd_f16(b), m = rd_f16(b + 2);
    uint32_t qh = rd_u32(b + 4);
    const uint8_t *qs = b + 8;
    for (int j = 0; j < 16; j++) {
        int lo = (qs[j] & 15) | (int)(((qh >> j) & 1) << 4);
        int hi = (qs[j] >> 4) | (int)(((qh >> (j + 16)) & 1) << 4);
        y[j] = d * (float)lo + m;
        y[j + 16] = d * (float)hi + m;
    }
}

/* 6-bit scale and min of sub-block j (0..7) from the 12 packed bytes of a
 * Q4_K/Q5_K block. */
static inline void k_scale_min(const uint8_t *s, int j, int *sc, int *m)
{
    if (j < 4) {
        *sc = s[j] & 63;
        *m = s[j + 4] & 63;
    } else {
        *sc = (s[j + 4] & 15) | ((s[j - 4] >> 6) << 4);
        *m = (s[j + 4] >> 4) | ((s[j] >> 6) << 4);
    }
}

static void deq_q4_k(const uint8_t *b, float *y)     /* {d, dmin; scales[12]; qs[128]} */
{
    float d = rd_f16(b), dmin = rd_f16(b + 2);
    const uint8_t *scales = b + 4, *qs = b + 16;
    for (int i = 0; i < 8; i++) {        /* sub-block i: bytes qs[32*(i/2)..], nibble i%2 */
        int sc, m;
        k_scale_min(scales, i, &sc, &m);
        float d1 = d * (float)sc, m1 = dmin * (float)m;
        const uint8_t *q = qs + 32 * (i / 2);
        int sh = 4 * (i & 1);
        for (int l = 0; l < 32; l++) y[32 * i + l] = d1 * (float)((q[l] >> sh) & 15) - m1;
    }
}

static void deq_q5_k(const uint8_t *b, float *y)     /* {d, dmin; scales[12]; qh[32]; qs[128]} */
{
    float d = rd_f16(b), dmin = rd_f16(b + 2);
    const uint8_t *scales = b + 4, *qh = b + 16, *qs = b + 48;
    for (int i = 0; i < 8; i++) {        /* the 5th bit of sub-block i is bit i of qh[l] */
        int sc, m;
        k_scale_min(scales, i, &sc, &m);
        float d1 = d * (float)sc, m1 = dmin * (float)m;
        const uint8_t *q = qs + 32 * (i / 2);
        int sh = 4 * (i & 1);
        for (int l = 0; l < 32; l++) {
            int v = ((q[l] >> sh) & 15) | (((qh[l] >> i) & 1) << 4);
            y[32 * i + l] = d1 * (float)v - m1;
        }
    }
}

static void deq_q6_k(const uint8_t *b, float *y)     /* {ql[128]; qh[64]; i8 scales[16]; d} */
{
    const uint8_t *ql = b, *qh = b + 128;
    const int8_t *sc = (const int8_t *)(b + 192);
    float d = rd_f16(b + 208);
    float ds[16];
    for (int i = 0; i < 16; i++) ds[i] = d * (float)sc[i];
    for (int h = 0; h < 2; h++) {        /* two halves of 128 values */
        const uint8_t *l8 = ql + 64 * h, *h8 = qh + 32 * h;
        float *yh = y + 128 * h;
        const float *dh = ds + 8 * h;
        for (int l = 0; l < 32; l++) {
            int is = l / 16;
            int q1 = ((l8[l] & 15) | (((h8[l] >> 0) & 3) << 4)) - 32;
            int q2 = ((l8[l + 32] & 15) | (((h8[l] >> 2) & 3) << 4)) - 32;
            int q3 = ((l8[l] >> 4) | (((h8[l] >> 4) & 3) << 4)) - 32;
            int q4 = ((l8[l + 32] >> 4) | (((h8[l] >> 6) & 3) << 4)) - 32;
            yh[l] = dh[is] * (float)q1;
            yh[l + 32] = dh[is + 2] * (float)q2;
            yh[l + 64] = dh[is + 4] * (float)q3;
            yh[l + 96] = dh[is + 6] * (float)q4;
        }
    }
}

typedef void (*deq_block_fn)(const uint8_t *block, float *y);

static deq_block_fn block_fn(uint32_t type)
{
    switch (type) {
    case GT_Q8_0: return deq_q8_0;
    case GT_Q4_0: return deq_q4_0;
    case GT_Q4_1: return deq_q4_1;
    case GT_Q5_0: return deq_q5_0;
    case GT_Q5_1: return deq_q5_1;
    case GT_Q4_K: return deq_q4_k;
    case GT_Q5_K: return deq_q5_k;
    case GT_Q6_K: return deq_q6_k;
    default: return NULL;
    }
}

int quant_dequant_row(uint32_t type, const void *src, float *dst, uint64_t n)
{
    const quant_info *qi = quant_type_info(type);
    if (!qi || !qi->supported || n % qi->block_elems) return -1;
    const uint8_t *s = src;
    switch (type) {
    case GT_F32:
        memcpy(dst, s, n * sizeof(float));
        return 0;
    case GT_F16:
        for (uint64_t i = 0; i < n; i++) dst[i] = rd_f16(s + 2 * i);
        return 0;
    case GT_BF16:
        for (uint64_t i = 0; i < n; i++) dst[i] = quant_bf16_to_f32((uint16_t)(s[2 * i] | (s[2 * i + 1] << 8)));
        return 0;
    default: break;
    }
    deq_block_fn fn = block_fn(type);
    if (!fn) return -1;
    for (uint64_t b = 0; b < n / qi->block_elems; b++)
        fn(s + b * qi->block_bytes, dst + b * qi->block_elems);
    return 0;
}

/* Uniform in [-1, 1) from 64 random bits (the top 53). */
static float rand_unit(uint64_t bits) { return (float)((bits >> 11) * (1.0 / 9007199254740992.0) * 2.0 - 1.0); }

int quant_random_blocks(uint32_t type, uint64_t n, uint64_t (*next)(void *), void *user, void *dst)
{
    const quant_info *qi = quant_type_info(type);
    if (!qi || !qi->supported || n % qi->block_elems) return -1;
    uint8_t *d = dst;
    if (type == GT_F32) {
        for (uint64_t i = 0; i < n; i++) ((float *)dst)[i] = rand_unit(next(user));
        return 0;
    }
    if (type == GT_F16 || type == GT_BF16) {
        for (uint64_t i = 0; i < n; i++) {
            float f = rand_unit(next(user));
            uint16_t h = type == GT_F16 ? quant_f32_to_f16(f) : (uint16_t)(f32_bits(f) >> 16);
            memcpy(d + 2 * i, &h, 2);
        }
        return 0;
    }
    uint64_t nb = n / qi->block_elems, bytes = nb * qi->block_bytes;
    for (uint64_t i = 0; i < bytes; i++) d[i] = (uint8_t)next(user);
    /* Then the scales: d (and the min's dmin / m) of a sensible size. */
    for (uint64_t b = 0; b < nb; b++) {
        uint8_t *blk = d + b * qi->block_bytes;
        uint16_t s1 = quant_f32_to_f16(0.002f + 0.02f * (rand_unit(next(user)) + 1));
        uint16_t s2 = quant_f32_to_f16(0.01f * rand_unit(next(user)));
        switch (type) {
        case GT_Q6_K: memcpy(blk + 208, &s1, 2); break;
        case GT_Q4_1: case GT_Q5_1: case GT_Q4_K: case GT_Q5_K:
            memcpy(blk, &s1, 2); memcpy(blk + 2, &s2, 2); break;
        default: memcpy(blk, &s1, 2); break;
        }
    }
    return 0;
}
