/* pool.h: a persistent thread pool for the native CPU backend.
 *
 * pool_run splits a job into n chunks that the calling thread and the
 * workers claim one at a time through an atomic counter, and returns when
 * every chunk is done. Between jobs a worker spins for a short while (the
 * next op of a forward step follows within microseconds) and then sleeps on a
 * condition variable, so an idle chat costs no CPU.
 */
#ifndef GC_CPU_POOL_H
#define GC_CPU_POOL_H

#include <stdbool.h>
#include <stdint.h>

#include "base/err.h"

typedef struct cpu_pool cpu_pool;

/* One chunk of a job: chunk < n_chunks; thread < pool_threads() names the
 * thread running it (for per-thread scratch). */
typedef void (*cpu_pool_fn)(void *ctx, int chunk, int thread);

/* n_threads >= 1 counts the calling thread: n_threads - 1 workers start. */
int cpu_pool_create(cpu_pool **out, int n_threads, gc_err *err);
void cpu_pool_destroy(cpu_pool *p);      /* accepts NULL */
int cpu_pool_threads(const cpu_pool *p);

/* Runs fn(ctx, c, thread) for every c < n_chunks, on all threads; returns
 * when all are done. Not reentrant: one job at a time, from one thread. */
void cpu_pool_run(cpu_pool *p, int n_chunks, cpu_pool_fn fn, void *ctx);

/* Where the caller's time in jobs goes, counted while profiling is on
 * (GEMMA_CHAT_CPU_PROFILE, cpu/cpu_backend.c): only jobs that woke the
 * workers; a job of one chunk runs on the caller alone and counts as the
 * caller's own work. */
typedef struct cpu_pool_times {
    uint64_t jobs;
    double run_s;              /* from publishing each job to its end */
    double wait_s;             /* of that, the caller done with its chunks waiting for the workers' */
} cpu_pool_times;
void cpu_pool_profile(cpu_pool *p, bool on);
cpu_pool_times cpu_pool_times_of(const cpu_pool *p);

/* The number of CPUs this process may run on (affinity mask), >= 1. */
int cpu_pool_cpus(void);

#endif
