/* cpu_backend.h: the native CPU backend (model/backend.h on SIMD kernels and
 * a thread pool), the default where no GPU exists. */
#ifndef GC_CPU_BACKEND_H
#define GC_CPU_BACKEND_H

#include "cpu/kernels.h"
#include "cpu/pool.h"
#include "model/backend.h"

typedef struct cpu_backend_opts {
    int threads;          /* 0 = one per CPU this process may use */
    int isa;              /* -1 = the best this CPU has (lowered by GEMMA_CHAT_CPU_ISA); else a cpu_isa */
    bool profile;         /* time every step (cpu_backend_profile) and print the totals to stderr at
                             destroy; opts_init sets it where GEMMA_CHAT_CPU_PROFILE=1 */
    bool repack;          /* keep weights in the layout the level's kernels read best (cpu_layout_for),
                             repacked at load; opts_init clears it where GEMMA_CHAT_CPU_REPACK=0 */
} cpu_backend_opts;

void cpu_backend_opts_init(cpu_backend_opts *o);

/* Fails naming the reason: an instruction-set level the CPU lacks, a thread
 * count out of range, out of memory. */
int cpu_backend_create(const cpu_backend_opts *o, backend **out, gc_err *err);

/* KV cache positions whose pages a layer's cache store makes resident ahead
 * of the one it writes (cpu/cpu_backend.c, kv_ahead). */
enum { CPU_KV_AHEAD = 256 };

/* The level and thread count a created backend runs (for notices and tests). */
cpu_isa cpu_backend_isa(const backend *be);
int cpu_backend_threads(const backend *be);

/* Where the steps' time went, under opts.profile: from begin_step to the
 * return of end_step (which serves the reads and argmaxes), and the pool
 * jobs inside; the rest is the calling thread's serial work (norms, RoPE,
 * conversions of one row, argmax, the checks). Decode steps (every product
 * and attention of one row) apart from the others. */
typedef struct cpu_step_times {
    uint64_t steps;
    double step_s;
    cpu_pool_times pool;
} cpu_step_times;
typedef struct cpu_profile { cpu_step_times decode, batch; } cpu_profile;
cpu_profile cpu_backend_profile(const backend *be);

#endif
