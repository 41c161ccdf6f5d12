/* k_amx_kq.c: AMX tile kernels for the kq weight types (see cpu/kernels.h). Stub: no kernels yet. */
#include "cpu/kernels.h"

const cpu_kernel_family cpu_fam_amx_kq = {
    .name = "amx kq",
    .isa = CPU_ISA_AMX,
};
