#version 450
// matvec_dp.comp: matrix-vector product of quantized weights with x as 8-bit
// blocks (quant_x.comp), by integer dot products (SPV_KHR_integer_dot_product:
// OpSDot on 4 packed int8 pairs); subgroup reduction (see matvec.glsl).
// Chosen where the device reports these dot products accelerated.
#extension GL_KHR_shader_subgroup_basic : require
#extension GL_KHR_shader_subgroup_arithmetic : require
#extension GL_EXT_spirv_intrinsics : require
// int sdot4x8(a, b, 0): the sum of the 4 products of a's and b's bytes as int8
// (OpSDot 4450, packed-vector format 0 = 4x8 bit; capabilities DotProduct and
// DotProductInput4x8BitPacked). glslang of Debian 12 has no
// GL_EXT_integer_dot_product, so it is spelled as the SPIR-V instruction.
spirv_instruction(extensions = ["SPV_KHR_integer_dot_product"], capabilities = [6019, 6018], id = 4450)
int sdot4x8(uint a, uint b, spirv_literal int packed_format);
#define USE_SUBGROUP 1
#define USE_DP 1
#include "matvec.glsl"
