/* quant.h: ggml weight types, their block layouts and scalar reference
 * dequantizers (../shared/GEMMA.md section 2). These are the yardstick the
 * CPU backend and every Vulkan dequantizing shader are tested against.
 */
#ifndef GC_QUANT_H
#define GC_QUANT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "model/err.h"

enum ggml_type {
    GT_F32 = 0, GT_F16 = 1, GT_Q4_0 = 2, GT_Q4_1 = 3, GT_Q5_0 = 6, GT_Q5_1 = 7,
    GT_Q8_0 = 8, GT_Q8_1 = 9, GT_Q2_K = 10, GT_Q3_K = 11, GT_Q4_K = 12, GT_Q5_K = 13,
    GT_Q6_K = 14, GT_Q8_K = 15, GT_BF16 = 30,
};

typedef struct quant_info {
    const char *name;       /* "Q4_K" */
    uint32_t block_elems;   /* values per block (1 for F32/F16/BF16) */
    uint32_t block_bytes;   /* bytes per block */
    bool supported;         /* has a dequantizer here */
} quant_info;

/* NULL for an id that is not a known ggml type. */
const quant_info *quant_type_info(uint32_t type);
const char *quant_type_name(uint32_t type);    /* "type 99" style text for unknown ids */
/* Space-separated list of the supported type names, for error messages. */
const char *quant_supported_list(void);

/* Bytes of one row of n values; 0 (with err) if n is not a multiple of the block
 * size or the type is unknown. Overflow-safe. */
int quant_row_bytes(uint32_t type, uint64_t n, uint64_t *bytes, gc_err *err);

/* Scalar reference: dequantize n values (a multiple of the block size) from src. */
void quant_dequant_row(uint32_t type, const void *src, float *dst, uint64_t n);

/* IEEE half <-> float, exact, with subnormals, inf and NaN. */
float quant_f16_to_f32(uint16_t h);
uint16_t quant_f32_to_f16(float f);
float quant_bf16_to_f32(uint16_t b);

#endif
