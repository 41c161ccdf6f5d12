/* k_avx512_q32.c: avx512 kernels for the q32 weight types (see cpu/kernels.h). Stub: no kernels yet. */
#include "cpu/kernels.h"

const cpu_kernel_family cpu_fam_avx512_q32 = {
    .name = "avx512 q32",
    .isa = CPU_ISA_AVX512,
};
