/* pool.c: the persistent thread pool (see pool.h). */
#include "cpu/pool.h"

#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdlib.h>
#include <unistd.h>

#include "base/clock.h"

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
static inline void relax(void) { _mm_pause(); }
#else
static inline void relax(void) { }
#endif

/* Pause-loop rounds a worker spins before it sleeps: on the order of a
 * millisecond, longer than the gap between two ops of a step and much
 * shorter than a human's pause between messages. */
enum { SPIN_ROUNDS = 1 << 15 };

struct cpu_pool {
    int n_threads;                 /* including the caller */
    pthread_t *workers;            /* [n_threads - 1] */
    int n_started;

    /* The current job, published by the release increment of gen. */
    cpu_pool_fn fn;
    void *ctx;
    int n_chunks;
    atomic_int next_chunk;
    atomic_int workers_done;       /* workers that finished the current job */
    atomic_uint gen;               /* job generation; odd/even has no meaning */
    atomic_bool stop;

    pthread_mutex_t mu;            /* guards the sleep below only */
    pthread_cond_t wake;
    atomic_int sleepers;

    bool profile;                  /* the caller's alone, as times */
    cpu_pool_times times;
};

typedef struct worker_arg { cpu_pool *p; int id; } worker_arg;

static void run_chunks(cpu_pool *p, int thread)
{
    for (;;) {
        int c = atomic_fetch_add_explicit(&p->next_chunk, 1, memory_order_relaxed);
        if (c >= p->n_chunks) return;
        p->fn(p->ctx, c, thread);
    }
}

/* Waits until gen differs from seen (or stop): spin, then sleep. */
static unsigned wait_job(cpu_pool *p, unsigned seen)
{
    for (int i = 0; i < SPIN_ROUNDS; i++) {
        unsigned g = atomic_load_explicit(&p->gen, memory_order_acquire);
        if (g != seen || atomic_load(&p->stop)) return g;
        relax();
    }
    pthread_mutex_lock(&p->mu);
    atomic_fetch_add(&p->sleepers, 1);
    unsigned g;
    /* The publisher bumps gen before it reads sleepers, and this thread counted
     * itself before it reads gen (both seq_cst): one of the two sees the other. */
    while ((g = atomic_load(&p->gen)) == seen && !atomic_load(&p->stop))
        pthread_cond_wait(&p->wake, &p->mu);
    atomic_fetch_sub(&p->sleepers, 1);
    pthread_mutex_unlock(&p->mu);
    return g;
}

static void *worker_main(void *arg)
{
    worker_arg wa = *(worker_arg *)arg;
    free(arg);
    cpu_pool *p = wa.p;
    unsigned seen = 0;
    for (;;) {
        seen = wait_job(p, seen);
        if (atomic_load(&p->stop)) return NULL;
        run_chunks(p, wa.id);
        atomic_fetch_add_explicit(&p->workers_done, 1, memory_order_release);
    }
}

int cpu_pool_cpus(void)
{
    cpu_set_t set;
    if (sched_getaffinity(0, sizeof set, &set) == 0) {
        int n = CPU_COUNT(&set);
        if (n >= 1) return n;
    }
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    return n >= 1 ? (int)n : 1;
}

int cpu_pool_create(cpu_pool **out, int n_threads, gc_err *err)
{
    *out = NULL;
    if (n_threads < 1 || n_threads > 1024) return gc_errf(err, "threads %d: must be 1..1024", n_threads);
    cpu_pool *p = calloc(1, sizeof *p);
    if (!p) return gc_errf(err, "thread pool: out of memory");
    p->n_threads = n_threads;
    pthread_mutex_init(&p->mu, NULL);
    pthread_cond_init(&p->wake, NULL);
    atomic_init(&p->gen, 0);
    atomic_init(&p->stop, false);
    atomic_init(&p->sleepers, 0);
    atomic_init(&p->next_chunk, 0);
    atomic_init(&p->workers_done, 0);
    if (n_threads > 1) {
        p->workers = calloc((size_t)n_threads - 1, sizeof *p->workers);
        if (!p->workers) { cpu_pool_destroy(p); return gc_errf(err, "thread pool: out of memory"); }
    }
    for (int i = 1; i < n_threads; i++) {
        worker_arg *wa = malloc(sizeof *wa);
        if (!wa || pthread_create(&p->workers[i - 1], NULL, worker_main, (wa->p = p, wa->id = i, wa))) {
            free(wa);
            cpu_pool_destroy(p);
            return gc_errf(err, "thread pool: cannot start thread %d of %d", i + 1, n_threads);
        }
        p->n_started++;
    }
    *out = p;
    return 0;
}

void cpu_pool_destroy(cpu_pool *p)
{
    if (!p) return;
    atomic_store(&p->stop, true);
    pthread_mutex_lock(&p->mu);
    pthread_cond_broadcast(&p->wake);
    pthread_mutex_unlock(&p->mu);
    for (int i = 0; i < p->n_started; i++) pthread_join(p->workers[i], NULL);
    pthread_cond_destroy(&p->wake);
    pthread_mutex_destroy(&p->mu);
    free(p->workers);
    free(p);
}

int cpu_pool_threads(const cpu_pool *p) { return p->n_threads; }

void cpu_pool_profile(cpu_pool *p, bool on) { p->profile = on; }
cpu_pool_times cpu_pool_times_of(const cpu_pool *p) { return p->times; }

void cpu_pool_run(cpu_pool *p, int n_chunks, cpu_pool_fn fn, void *ctx)
{
    if (n_chunks <= 0) return;
    int n_workers = p->n_started;
    if (n_workers == 0 || n_chunks == 1) {   /* not worth waking anyone */
        for (int c = 0; c < n_chunks; c++) fn(ctx, c, 0);
        return;
    }
    double t0 = p->profile ? gc_now_s() : 0;
    p->fn = fn;
    p->ctx = ctx;
    p->n_chunks = n_chunks;
    atomic_store_explicit(&p->next_chunk, 0, memory_order_relaxed);
    atomic_store_explicit(&p->workers_done, 0, memory_order_relaxed);
    atomic_fetch_add(&p->gen, 1);            /* publishes the job (seq_cst) */
    if (atomic_load(&p->sleepers) > 0) {
        pthread_mutex_lock(&p->mu);
        pthread_cond_broadcast(&p->wake);
        pthread_mutex_unlock(&p->mu);
    }
    run_chunks(p, 0);
    double t1 = p->profile ? gc_now_s() : 0;
    /* The last chunks may sit on a worker the OS has descheduled (a loaded
     * machine): after a short spin, yield the core so it can finish them. */
    for (int i = 0; atomic_load_explicit(&p->workers_done, memory_order_acquire) < n_workers; i++) {
        if (i < SPIN_ROUNDS / 8) relax();
        else sched_yield();
    }
    if (p->profile) {
        double t2 = gc_now_s();
        p->times.jobs++;
        p->times.run_s += t2 - t0;
        p->times.wait_s += t2 - t1;
    }
}
