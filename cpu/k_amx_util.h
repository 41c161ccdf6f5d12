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

/* B for nk k-groups (K = 4 nk) from 16 decoded weight rows at t (row n at
 * t + n * rs bytes, rs a multiple of 4): out[64 k + 4 n + i] = t[n rs + 4 k + i]. */
AMX_INLINE void amx_vnni(const int8_t *t, int rs, int nk, int8_t *out)
{
    const __m512i idx = _mm512_mullo_epi32(_mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15),
                                           _mm512_set1_epi32(rs / 4));
    for (int k = 0; k < nk; k++)
        _mm512_store_si512((void *)(out + 64 * k),
                           _mm512_i32gather_epi32(_mm512_add_epi32(idx, _mm512_set1_epi32(k)), (const void *)t, 4));
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
