/* k_portable_float.c: portable kernels for the float weight types (see cpu/kernels.h). Stub: no kernels yet. */
#include "cpu/kernels.h"

const cpu_kernel_family cpu_fam_portable_float = {
    .name = "portable float",
    .isa = CPU_ISA_PORTABLE,
};
