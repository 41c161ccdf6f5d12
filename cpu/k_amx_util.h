/* k_amx_util.h: what the AMX kernel families (cpu/k_amx_*.c) share: the tile
 * configuration, the VNNI repacking of decoded weight rows, the avx512
 * fallback for decode shapes. Inline code only (both files are compiled with
 * the AMX flags; nothing here may be called from another level).
 *
 * The tile product used everywhere: C (16 activation rows x 16 weight rows,
 * int32) += A (16 activation rows x K int8, loaded straight from the
 * activation blocks with the activation row stride) . B (K/4 rows of 64
 * bytes: dword n of row k is k-group k of weight row n, i.e. weight bytes
 * 4k..4k+3 of row n), with K = 32 (one 32-value block or sub-block) or 16
 * (Q6_K's sub-blocks). Tiles: 0, 1 = C; 2, 3 = A; 4, 5 = B (two sets, so
 * consecutive products need not wait for each other's tiles).
 */
#ifndef GC_CPU_K_AMX_UTIL_H
#define GC_CPU_K_AMX_UTIL_H

#include <immintrin.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "cpu/kernels.h"

#define AMX_INLINE static inline __attribute__((always_inline))
/* Loops over a tile's 16 activation rows, fully unrolled: their accumulators
 * must stay in registers. */
#define AMX_UNROLL16 _Pragma("GCC unroll 16")

/* Activation rows from which the AMX path pays (below: the avx512 kernel). */
#define AMX_MIN_X 16

/* The 64-byte LDTILECFG operand (palette 1). */
typedef struct amx_tilecfg {
    uint8_t palette, start_row, reserved[14];
    uint16_t colsb[16];
    uint8_t rows[16];
} amx_tilecfg;

/* Configures this thread's tiles for products of K = kbytes (32 or 16).
 * Done at every kernel call: a thread may run kernels of either K in turn,
 * and LDTILECFG is cheap next to one call's work. */
AMX_INLINE void amx_config(int kbytes)
{
    amx_tilecfg c;
    memset(&c, 0, sizeof c);
    c.palette = 1;
    for (int t = 0; t < 2; t++) { c.colsb[t] = 64; c.rows[t] = 16; }                       /* C */
    for (int t = 2; t < 4; t++) { c.colsb[t] = (uint16_t)kbytes; c.rows[t] = 16; }         /* A */
    for (int t = 4; t < 6; t++) { c.colsb[t] = 64; c.rows[t] = (uint8_t)(kbytes / 4); }   /* B */
    _tile_loadconfig(&c);
}

/* B for 8 k-groups (K = 32) from 16 decoded weight rows at t (row n at
 * t + n * rs bytes): out[64 k + 4 n + i] = t[n rs + 4 k + i], a 16 x 8 dword
 * transpose in registers. The same bytes are the B tiles of two products of
 * K = 16 (k-groups 0..3, then 4..7: 256 bytes each). */
AMX_INLINE void amx_vnni(const int8_t *t, size_t rs, int8_t *out)
{
    __m512i z[8], u[8], v[8];
    /* z[j]: row j in the low half, row j + 8 in the high half; then an 8 x 8
     * transpose in each half at once. */
    _Pragma("GCC unroll 8") for (int j = 0; j < 8; j++)
        z[j] = _mm512_inserti64x4(_mm512_castsi256_si512(_mm256_loadu_si256((const __m256i *)(const void *)(t + j * rs))),
                                  _mm256_loadu_si256((const __m256i *)(const void *)(t + (j + 8) * rs)), 1);
    _Pragma("GCC unroll 8") for (int j = 0; j < 8; j += 2) {
        u[j] = _mm512_unpacklo_epi32(z[j], z[j + 1]);      /* per 128 bits: columns 0 1 (4 5) of rows j, j+1 */
        u[j + 1] = _mm512_unpackhi_epi32(z[j], z[j + 1]);  /* columns 2 3 (6 7) */
    }
    _Pragma("GCC unroll 8") for (int j = 0; j < 8; j += 4)
        _Pragma("GCC unroll 2") for (int h = 0; h < 2; h++) {
            v[j + 2 * h] = _mm512_unpacklo_epi64(u[j + h], u[j + h + 2]);      /* column 2h (2h+4) of rows j..j+3 */
            v[j + 2 * h + 1] = _mm512_unpackhi_epi64(u[j + h], u[j + h + 2]);  /* column 2h+1 (2h+5) */
        }
    /* v[c] (c < 4), v[c + 4]: column c of rows 0-3 / 4-7 in 128-bit lane 0, of
     * rows 8-11 / 12-15 in lane 2; column c + 4 in lanes 1 and 3. */
    const __m512i lo = _mm512_setr_epi64(0, 1, 8, 9, 4, 5, 12, 13), hi = _mm512_setr_epi64(2, 3, 10, 11, 6, 7, 14, 15);
    _Pragma("GCC unroll 4") for (int c = 0; c < 4; c++) {
        _mm512_store_si512((void *)(out + 64 * c), _mm512_permutex2var_epi64(v[c], lo, v[c + 4]));
        _mm512_store_si512((void *)(out + 64 * (c + 4)), _mm512_permutex2var_epi64(v[c], hi, v[c + 4]));
    }
}

/* The avx512 family's kernel for `type` (the decode path). */
AMX_INLINE cpu_gemm_fn amx_fallback(const cpu_kernel_family *fam, uint32_t type)
{
    for (int k = 0; k < fam->n_kernels; k++)
        if (fam->kernels[k].type == type) return fam->kernels[k].gemm;
    return NULL;
}

AMX_INLINE float amx_rd_f32(const uint8_t *p) { float f; memcpy(&f, p, 4); return f; }

AMX_INLINE float amx_rd_f16(const uint8_t *p)
{
    uint16_t h;
    memcpy(&h, p, 2);
    return _cvtsh_ss(h);
}

/* Lanes 0 .. n-1 (n <= 16). */
AMX_INLINE __mmask16 amx_lanes(int n) { return (__mmask16)(n >= 16 ? 0xffff : (1u << n) - 1); }

#endif
