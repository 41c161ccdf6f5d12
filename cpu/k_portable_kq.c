/* k_portable_kq.c: plain-C kernels for the K-quant weights Q4_K, Q5_K, Q6_K
 * against CPU_ACT_Q8_K activations (see cpu/kernels.h), and the Q8_K
 * quantizer every level's results are defined by.
 *
 * For CPUs without AVX2. Each weight block is decoded once per tile of up to
 * KQ_MAX_C activation rows into one common form (256 scaled integer weights,
 * a min per 16 values, d and dmin), so one exact integer dot product serves
 * all three types and only the block total goes to float.
 */
#include "cpu/kernels.h"

#include <math.h>
#include <string.h>

#include "cpu/kq_common.h"
#include "model/quant.h"

/* Q8_K: d = max|x| / 127 and q = x / d rounded to nearest (even on ties:
 * lrintf in the default rounding mode, the same as the SIMD quantizers'
 * cvtps, so every level produces the same bytes). */
static void q8k_quantize(const float *x, void *dst, int n)
{
    uint8_t *o = dst;
    for (int b = 0; b < n / 256; b++, x += 256, o += KQ_XB) {
        cpu_q8_k blk;
        float amax = 0;
        for (int i = 0; i < 256; i++) amax = fmaxf(amax, fabsf(x[i]));
        memset(&blk, 0, sizeof blk);
        if (amax > 0) {
            blk.d = amax / 127.0f;
            for (int i = 0; i < 256; i++) {
                long q = lrintf(x[i] / blk.d);
                blk.q[i] = (int8_t)(q > 127 ? 127 : q < -128 ? -128 : q);
            }
            for (int j = 0; j < 16; j++) {
                int s = 0;
                for (int i = 0; i < 16; i++) s += blk.q[16 * j + i];
                blk.bsum[j] = (int16_t)s;
            }
        }
        memcpy(o, &blk, sizeof blk);
    }
}

/* Two terms (cpu/kernels.h), block by block. */
static void q8k_quantize2(const float *x, void *dst, void *dst2, int n)
{
    cpu_q8_k *y = dst, *y2 = dst2;
    for (int b = 0; b < n / 256; b++, x += 256) {
        float r[256];
        q8k_quantize(x, &y[b], 256);
        for (int i = 0; i < 256; i++) r[i] = x[i] - y[b].d * y[b].q[i];
        q8k_quantize(r, &y2[b], 256);
    }
}

/* A weight block in common form: value i = d * w[i] - dmin * m[i / 16], with
 * the sub-block scale already multiplied into w (|w| <= 63 * 31 for Q5_K,
 * 128 * 32 for Q6_K), so the dot product is one plain loop of 256 that
 * compilers vectorize, and exact in int32 (|sum| < 256 * 4096 * 128 < 2^31). */
typedef struct kq_dec {
    int16_t w[256];
    int16_t m[16];
    float d, dmin;
} kq_dec;

typedef void (*kq_dec_fn)(const uint8_t *blk, kq_dec *o);

static float rd_f16(const uint8_t *p) { return quant_f16_to_f32((uint16_t)(p[0] | (p[1] << 8))); }

/* Q4_K and Q5_K: chunk k (32 bytes of qs) holds sub-block 2k in its low
 * nibbles and 2k+1 in its high nibbles; Q5_K adds 16 where bit 2k / 2k+1 of
 * qh[l] is set. */
static inline void dec_q45k(const uint8_t *restrict b, const int q5, kq_dec *restrict o)
{
    const uint8_t *qh = b + 16, *qs = b + (q5 ? 48 : 16);
    uint8_t sm[16];
    kq_unpack_scales(b + 4, sm);
    o->d = rd_f16(b);
    o->dmin = rd_f16(b + 2);
    for (int i = 0; i < 8; i++) o->m[2 * i] = o->m[2 * i + 1] = sm[8 + i];
    for (int k = 0; k < 4; k++) {
        const uint8_t *q = qs + 32 * k;
        int16_t *lo = o->w + 64 * k, *hi = lo + 32;
        const int16_t slo = sm[2 * k], shi = sm[2 * k + 1];
        for (int l = 0; l < 32; l++) {
            int vl = q[l] & 15, vh = q[l] >> 4;
            if (q5) {      /* a constant after inlining: the loop stays branch-free */
                vl |= ((qh[l] >> (2 * k)) & 1) << 4;
                vh |= ((qh[l] >> (2 * k + 1)) & 1) << 4;
            }
            lo[l] = (int16_t)(slo * vl);
            hi[l] = (int16_t)(shi * vh);
        }
    }
}

static void dec_q4k(const uint8_t *b, kq_dec *o) { dec_q45k(b, 0, o); }
static void dec_q5k(const uint8_t *b, kq_dec *o) { dec_q45k(b, 1, o); }

/* Q6_K: two halves of 128; in each, four runs of 32 take the low/high nibble
 * of ql[0..31] / ql[32..63] and 2 bits of qh[0..31]; minus 32. The 16 scales
 * are signed and in value order, no mins. */
static void dec_q6k(const uint8_t *restrict b, kq_dec *restrict o)
{
    const int8_t *sc = (const int8_t *)(b + 192);
    o->d = rd_f16(b + 208);
    o->dmin = 0;
    memset(o->m, 0, sizeof o->m);
    for (int h = 0; h < 2; h++) {
        const uint8_t *ql = b + 64 * h, *qh = b + 128 + 32 * h;
        int16_t *w = o->w + 128 * h;
        for (int is = 0; is < 2; is++) {     /* 16 values each: one scale per run */
            const int s0 = sc[8 * h + is], s2 = sc[8 * h + is + 2], s4 = sc[8 * h + is + 4], s6 = sc[8 * h + is + 6];
            for (int l = 16 * is; l < 16 * is + 16; l++) {
                w[l]      = (int16_t)(s0 * (((ql[l] & 15)      | ((qh[l] & 3) << 4)) - 32));
                w[l + 32] = (int16_t)(s2 * (((ql[l + 32] & 15) | (((qh[l] >> 2) & 3) << 4)) - 32));
                w[l + 64] = (int16_t)(s4 * (((ql[l] >> 4)      | (((qh[l] >> 4) & 3) << 4)) - 32));
                w[l + 96] = (int16_t)(s6 * (((ql[l + 32] >> 4) | (((qh[l] >> 6) & 3) << 4)) - 32));
            }
        }
    }
}

/* Weight row i against activation rows c0 .. c0+nc-1 (nc <= KQ_MAX_C). */
static void tile(const kq_job *jb, int i, int c0, int nc, kq_dec_fn dec, size_t bbytes)
{
    float acc[KQ_MAX_C] = { 0 };
    const uint8_t *wr = jb->w + (size_t)i * jb->ws;
    for (int b = 0; b < jb->nb; b++) {
        kq_dec k;
        dec(wr + (size_t)b * bbytes, &k);
        for (int c = 0; c < nc; c++) {
            const uint8_t *xb = jb->xa + (size_t)(c0 + c) * jb->xs + (size_t)b * KQ_XB;
            const int8_t *xq = (const int8_t *)(xb + KQ_XQ);
            int16_t bsum[16];
            memcpy(bsum, xb + KQ_XBSUM, sizeof bsum);
            int32_t sumi = 0, summ = 0;
            for (int l = 0; l < 256; l++) sumi += k.w[l] * xq[l];
            for (int g = 0; g < 16; g++) summ += k.m[g] * bsum[g];
            acc[c] += kq_rd_f32(xb) * (k.d * (float)sumi - k.dmin * (float)summ);
        }
    }
    for (int c = 0; c < nc; c++) jb->out[(size_t)(c0 + c) * jb->os + i] = acc[c];
}

static void gemm(kq_dec_fn dec, size_t bbytes, int n_in, int n_rows, int n_x, const uint8_t *w,
                 size_t w_stride, const uint8_t *xa, size_t xa_stride, float *out, size_t out_stride)
{
    kq_job jb = { n_in / 256, w, w_stride, xa, xa_stride, out, out_stride };
    for (int i = 0; i < n_rows; i++)
        for (int j = 0; j < n_x; j += KQ_MAX_C)
            tile(&jb, i, j, n_x - j < KQ_MAX_C ? n_x - j : KQ_MAX_C, dec, bbytes);
}

static void gemm_q4k(KQ_GEMM_ARGS) { gemm(dec_q4k, KQ_Q4K_BYTES, n_in, n_rows, n_x, w, ws, xa, xs, out, os); }
static void gemm_q5k(KQ_GEMM_ARGS) { gemm(dec_q5k, KQ_Q5K_BYTES, n_in, n_rows, n_x, w, ws, xa, xs, out, os); }
static void gemm_q6k(KQ_GEMM_ARGS) { gemm(dec_q6k, KQ_Q6K_BYTES, n_in, n_rows, n_x, w, ws, xa, xs, out, os); }

static const cpu_matmul_kernel kernels[] = {
    { .type = GT_Q4_K, .act = CPU_ACT_Q8_K, .gemm = gemm_q4k },
    { .type = GT_Q5_K, .act = CPU_ACT_Q8_K, .gemm = gemm_q5k },
    { .type = GT_Q6_K, .act = CPU_ACT_Q8_K, .gemm = gemm_q6k },
};

const cpu_kernel_family cpu_fam_portable_kq = {
    .name = "portable kq",
    .isa = CPU_ISA_PORTABLE,
    .kernels = kernels,
    .n_kernels = sizeof kernels / sizeof kernels[0],
    .quantize = { [CPU_ACT_Q8_K] = q8k_quantize },
    .quantize2 = { [CPU_ACT_Q8_K] = q8k_quantize2 },
};
