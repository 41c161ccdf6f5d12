/* k_avx2_float.c: avx2 kernels for the float weight types (see cpu/kernels.h). Stub: no kernels yet. */
#include "cpu/kernels.h"

const cpu_kernel_family cpu_fam_avx2_float = {
    .name = "avx2 float",
    .isa = CPU_ISA_AVX2,
};
