/* k_amx_q32.c: AMX tile kernels for the q32 weight types (see cpu/kernels.h). Stub: no kernels yet. */
#include "cpu/kernels.h"

const cpu_kernel_family cpu_fam_amx_q32 = {
    .name = "amx q32",
    .isa = CPU_ISA_AMX,
};
