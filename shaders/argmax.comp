#version 450
// argmax.comp: argmax.glsl reading src from a storage buffer (any device).
#include "argmax.glsl"
