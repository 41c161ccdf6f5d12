/* k_avx2_kq.c: avx2 kernels for the kq weight types (see cpu/kernels.h). Stub: no kernels yet. */
#include "cpu/kernels.h"

const cpu_kernel_family cpu_fam_avx2_kq = {
    .name = "avx2 kq",
    .isa = CPU_ISA_AVX2,
};
