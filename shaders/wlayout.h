/* wlayout.h: the weight layout on the device, stated once for both sides:
 * vk/vk_kernels.c repacks GGUF rows into it and shaders/dequant.glsl reads it.
 * C and GLSL share this preprocessor subset (macros and ternaries on
 * unsigned literals), so nothing else goes in this file.
 *
 * A weight matrix [n_out][n_in] is stored as rows of superblocks: 32 values
 * for F32/F16/BF16 and the 32-value block types, 256 for the K-quants. Per
 * superblock, WL_QS_U4 16-byte units go to the quant buffer (read as uvec4)
 * and WL_AUX_H 16-bit halves to the aux buffer (read as uint):
 *
 *   F32    8 x uvec4 (32 floats)                  aux -
 *   F16    4 x uvec4 (32 halves)                  aux -
 *   BF16   4 x uvec4                              aux -
 *   Q8_0   2 x uvec4 (qs[32])                     aux d
 *   Q4_0   1 x uvec4 (qs[16])                     aux d
 *   Q4_1   1 x uvec4                              aux d, m
 *   Q5_0   1 x uvec4                              aux d, 0, qh (u32; 2 bytes of padding)
 *   Q5_1   1 x uvec4                              aux d, m, qh (u32)
 *   Q4_K   9 x uvec4 (the 144-byte block as is)   aux -
 *   Q5_K  11 x uvec4 (the 176-byte block as is)   aux -
 *   Q6_K  13 x uvec4 (ql[128] qh[64] scales[16])  aux d
 *
 * Rows are row-major: superblock b of row r is quant units (r * nsb + b) *
 * WL_QS_U4 .. and aux halves (r * nsb + b) * WL_AUX_H ... F32/F16/BF16 rows
 * are zero-padded to a multiple of 32 values, so every kernel walks rows in
 * 32-value units. Splitting the scales off the quants is what gives every
 * block type aligned 16-byte loads.
 */
#ifndef GC_WLAYOUT_H
#define GC_WLAYOUT_H

/* ggml type ids (model/quant.h's GT_*; vk_kernels.c asserts they agree) */
#define WL_F32  0u
#define WL_F16  1u
#define WL_Q4_0 2u
#define WL_Q4_1 3u
#define WL_Q5_0 6u
#define WL_Q5_1 7u
#define WL_Q8_0 8u
#define WL_Q4_K 12u
#define WL_Q5_K 13u
#define WL_Q6_K 14u
#define WL_BF16 30u

#define WL_IS_KQUANT(t) ((t) == WL_Q4_K || (t) == WL_Q5_K || (t) == WL_Q6_K)
/* values per superblock */
#define WL_SB_ELEMS(t) (WL_IS_KQUANT(t) ? 256u : 32u)
/* 32-value units per superblock */
#define WL_SB_UNITS(t) (WL_IS_KQUANT(t) ? 8u : 1u)
/* 16-byte quant units per superblock */
#define WL_QS_U4(t) ((t) == WL_F32 ? 8u : ((t) == WL_F16 || (t) == WL_BF16) ? 4u : (t) == WL_Q8_0 ? 2u : \
                     (t) == WL_Q4_K ? 9u : (t) == WL_Q5_K ? 11u : (t) == WL_Q6_K ? 13u : 1u)
/* 16-bit aux (scale) halves per superblock */
#define WL_AUX_H(t) (((t) == WL_Q8_0 || (t) == WL_Q4_0 || (t) == WL_Q6_K) ? 1u : (t) == WL_Q4_1 ? 2u : \
                     ((t) == WL_Q5_0 || (t) == WL_Q5_1) ? 4u : 0u)

#endif
