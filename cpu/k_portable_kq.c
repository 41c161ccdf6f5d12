/* k_portable_kq.c: portable kernels for the kq weight types (see cpu/kernels.h). Stub: no kernels yet. */
#include "cpu/kernels.h"

const cpu_kernel_family cpu_fam_portable_kq = {
    .name = "portable kq",
    .isa = CPU_ISA_PORTABLE,
};
