#version 450
// matvec_tex.comp: matvec.comp with the weights (quants and scales) read
// through uniform texel buffers: on lavapipe a texel fetch streams about twice
// the bytes of a storage-buffer load (../shared/LAVAPIPE.md). Chosen by
// vk_matvec_texel (vk/vk_kernels.c).
#extension GL_KHR_shader_subgroup_basic : require
#extension GL_KHR_shader_subgroup_arithmetic : require
#define USE_SUBGROUP 1
#define USE_TEXEL 1
#include "matvec.glsl"
