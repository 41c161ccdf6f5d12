#version 450
// matvec.comp: matrix-vector product, subgroup reduction (see matvec.glsl).
#extension GL_KHR_shader_subgroup_basic : require
#extension GL_KHR_shader_subgroup_arithmetic : require
#define USE_SUBGROUP 1
#include "matvec.glsl"
