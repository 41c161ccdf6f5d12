/* isa.h: which instruction-set level this CPU runs (cpu/kernels.h cpu_isa). */
#ifndef GC_CPU_ISA_H
#define GC_CPU_ISA_H

#include "cpu/kernels.h"

/* The highest level the CPU and the OS support (cpuid + xgetbv: the OS must
 * save the YMM / ZMM state, or the level is not usable). */
cpu_isa cpu_isa_detect(void);

/* The level the backend uses: cpu_isa_detect(), lowered by the environment
 * variable GEMMA_CHAT_CPU_ISA=portable|avx2|avx512|amx (tests force the lower
 * levels with it; a level above the CPU's is refused). Returns 0, or -1 with
 * *why set to a static message for an unknown or unsupported value. */
int cpu_isa_choose(cpu_isa *out, const char **why);

#endif
