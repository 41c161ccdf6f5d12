#version 450
// argmax_tex.comp: argmax.glsl reading src through an RGBA32F texel view (CPU
// devices; vk_argmax_texel in vk/vk_kernels.c).
#define USE_TEXEL 1
#include "argmax.glsl"
