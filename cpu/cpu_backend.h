/* cpu_backend.h: the native CPU backend (model/backend.h on SIMD kernels and
 * a thread pool), the default where no GPU exists. */
#ifndef GC_CPU_BACKEND_H
#define GC_CPU_BACKEND_H

#include "cpu/kernels.h"
#include "model/backend.h"

typedef struct cpu_backend_opts {
    int threads;          /* 0 = one per CPU this process may use */
    int isa;              /* -1 = the best this CPU has (lowered by GEMMA_CHAT_CPU_ISA); else a cpu_isa */
} cpu_backend_opts;

void cpu_backend_opts_init(cpu_backend_opts *o);

/* Fails naming the reason: an instruction-set level the CPU lacks, a thread
 * count out of range, out of memory. */
int cpu_backend_create(const cpu_backend_opts *o, backend **out, gc_err *err);

/* The level and thread count a created backend runs (for notices and tests). */
cpu_isa cpu_backend_isa(const backend *be);
int cpu_backend_threads(const backend *be);

#endif
