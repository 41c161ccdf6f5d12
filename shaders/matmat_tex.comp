#version 450
// matmat_tex.comp: matmat.comp reading weights and x through uniform texel
// buffers (lavapipe: texel fetches are cheaper than storage-buffer loads,
// ../shared/LAVAPIPE.md). Chosen by vk_matmat_texel (vk/vk_kernels.c).
#define USE_TEXEL 1
#include "matmat.glsl"
