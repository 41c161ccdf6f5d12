#version 450
// matmat.comp: matrix product for prefill, storage buffers (see matmat.glsl).
#define USE_TEXEL 0
#include "matmat.glsl"
