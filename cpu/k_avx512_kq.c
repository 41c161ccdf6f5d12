/* k_avx512_kq.c: avx512 kernels for the kq weight types (see cpu/kernels.h). Stub: no kernels yet. */
#include "cpu/kernels.h"

const cpu_kernel_family cpu_fam_avx512_kq = {
    .name = "avx512 kq",
    .isa = CPU_ISA_AVX512,
};
