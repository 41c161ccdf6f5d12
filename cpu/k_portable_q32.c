/* k_portable_q32.c: portable kernels for the q32 weight types (see cpu/kernels.h). Stub: no kernels yet. */
#include "cpu/kernels.h"

const cpu_kernel_family cpu_fam_portable_q32 = {
    .name = "portable q32",
    .isa = CPU_ISA_PORTABLE,
};
