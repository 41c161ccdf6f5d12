/* k_avx512_float.c: avx512 kernels for the float weight types (see cpu/kernels.h). Stub: no kernels yet. */
#include "cpu/kernels.h"

const cpu_kernel_family cpu_fam_avx512_float = {
    .name = "avx512 float",
    .isa = CPU_ISA_AVX512,
};
