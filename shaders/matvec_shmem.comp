#version 450
// matvec_shmem.comp: matrix-vector product, shared-memory reduction for devices
// without subgroup arithmetic (see matvec.glsl).
#define USE_SUBGROUP 0
#include "matvec.glsl"
