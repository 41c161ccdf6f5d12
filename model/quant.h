/* quant.h: ggml weight types, their block layouts and scalar reference
 * dequantizers (../shared/GEMMA.md section 2). These are the yardstick the
 * CPU backend and every Vulkan dequantizing shader are tested against.
 *
 * Every dequantizer reads its block byte by byte (no alignment assumed: GGUF
 * data handed in from memory need not be aligned) and does its float
 * arithmetic in the same order as gguf-py's gguf.quants.dequantize, so the
 * results agree bit for bit (tests/test_quant.c checks it). The build uses
 * -std=c11, which keeps GCC from contracting a*b+c into an FMA.
 */
#ifndef GC_QUANT_H
#define GC_QUANT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/err.h"

/* Every ggml type id a GGUF file may name (ggml/include/ggml.h). Ids 4, 5
 * and 31..33, 36..38 were removed from ggml and are unknown here. */
enum ggml_type {
    GT_F32 = 0, GT_F16 = 1, GT_Q4_0 = 2, GT_Q4_1 = 3, GT_Q5_0 = 6, GT_Q5_1 = 7,
    GT_Q8_0 = 8, GT_Q8_1 = 9, GT_Q2_K = 10, GT_Q3_K = 11, GT_Q4_K = 12, GT_Q5_K = 13,
    GT_Q6_K = 14, GT_Q8_K = 15, GT_IQ2_XXS = 16, GT_IQ2_XS = 17, GT_IQ3_XXS = 18,
    GT_IQ1_S = 19, GT_IQ4_NL = 20, GT_IQ3_S = 21, GT_IQ2_S = 22, GT_IQ4_XS = 23,
    GT_I8 = 24, GT_I16 = 25, GT_I32 = 26, GT_I64 = 27, GT_F64 = 28, GT_IQ1_M = 29,
    GT_BF16 = 30, GT_TQ1_0 = 34, GT_TQ2_0 = 35, GT_MXFP4 = 39, GT_NVFP4 = 40,
    GT_Q1_0 = 41, GT_Q2_0 = 42,
    GT_COUNT = 43            /* one past the largest id */
};

/* Block sizes of the supported quantized types, for code that walks blocks. */
#define QUANT_QK 32          /* Q4_0 Q4_1 Q5_0 Q5_1 Q8_0 */
#define QUANT_QK_K 256       /* Q4_K Q5_K Q6_K */

typedef struct quant_info {
    const char *name;       /* "Q4_K" (gguf-py spelling) */
    uint32_t block_elems;   /* values per block (1 for F32/F16/BF16) */
    uint32_t block_bytes;   /* bytes per block */
    bool supported;         /* has a dequantizer here */
} quant_info;

/* NULL for an id that is not a known ggml type. */
const quant_info *quant_type_info(uint32_t type);
/* The type's name, or "type 99" style text for unknown ids (thread-local buffer,
 * valid until the next call from the same thread). */
const char *quant_type_name(uint32_t type);
/* Space-separated list of the supported type names, for error messages:
 * "F32 F16 BF16 Q8_0 Q4_0 Q4_1 Q5_0 Q5_1 Q4_K Q5_K Q6_K". */
const char *quant_supported_list(void);
bool quant_type_supported(uint32_t type);

/* Bytes of one row of n values. Fails (err names type and n) if the type is
 * unknown, n is not a multiple of the block size, or the size overflows u64. */
int quant_row_bytes(uint32_t type, uint64_t n, uint64_t *bytes, gc_err *err);

/* Scalar reference: dequantize n values (a multiple of the block size) from src
 * (any alignment) into dst. Returns 0, or -1 (dst untouched) when the type has
 * no dequantizer or n is not a multiple of its block size. */
int quant_dequant_row(uint32_t type, const void *src, float *dst, uint64_t n);

/* Random but well-formed data of n values (a multiple of the block size) of a
 * supported type, for tests and the Vulkan self-check: floats uniform in
 * [-1, 1); blocks of random quants with scales of a sensible size (random f16
 * bits would give inf and NaN). next(user) gives 64 random bits a call.
 * Returns 0, or -1 (dst untouched) as quant_dequant_row does. */
int quant_random_blocks(uint32_t type, uint64_t n, uint64_t (*next)(void *), void *user, void *dst);

/* IEEE half <-> float, exact, with subnormals, inf and NaN. f16 -> f32 keeps a
 * NaN's sign and payload bits; f32 -> f16 rounds to nearest even, overflows to
 * inf and turns NaN into a quiet NaN with the sign and top payload bits. */
float quant_f16_to_f32(uint16_t h);
uint16_t quant_f32_to_f16(float f);
float quant_bf16_to_f32(uint16_t b);

#endif
