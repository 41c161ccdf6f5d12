/* test_cpu_pool: the native CPU backend's thread pool (cpu/pool.c): every
 * chunk of a job runs exactly once, on a thread id below the pool's count,
 * whatever the number of chunks against threads; jobs follow each other with
 * no gap (the spin) and after the workers fell asleep (the wake-up); a pool
 * of one thread runs everything on the caller; the profile's counts.
 * tests/t_cpu_tsan.sh runs this same file under ThreadSanitizer. */
#include <stdatomic.h>
#include <stdlib.h>
#include <time.h>

#include "cpu/pool.h"
#include "tests/test.h"

typedef struct job {
    atomic_int *hits;      /* [n] */
    int n, threads;
    atomic_int bad_thread;
    long long sum;         /* written by chunk 0 only */
} job;

static void chunk_fn(void *ctx, int c, int thread)
{
    job *j = ctx;
    atomic_fetch_add(&j->hits[c], 1);
    if (thread < 0 || thread >= j->threads) atomic_store(&j->bad_thread, 1);
    if (c == 0) j->sum += 1;
}

static void run_job(cpu_pool *p, int n)
{
    job j = { .n = n, .threads = cpu_pool_threads(p) };
    j.hits = calloc((size_t)n + 1, sizeof *j.hits);
    atomic_init(&j.bad_thread, 0);
    cpu_pool_run(p, n, chunk_fn, &j);
    int once = 1;
    for (int c = 0; c < n; c++) once &= atomic_load(&j.hits[c]) == 1;
    CHECK(once, "%d threads, %d chunks: some chunk ran other than once", j.threads, n);
    CHECK(!atomic_load(&j.bad_thread), "a thread id out of range");
    CHECK(n == 0 || j.sum == 1, "chunk 0's write is visible after the run");
    free(j.hits);
}

static void test_jobs(void)
{
    const int threads[] = { 1, 2, 3, 4 };
    const int chunks[] = { 0, 1, 2, 3, 5, 64, 1000 };
    for (int t = 0; t < 4; t++) {
        cpu_pool *p = NULL;
        gc_err err = {0};
        CHECK(cpu_pool_create(&p, threads[t], &err) == 0, "%s", err.msg);
        if (!p) continue;
        CHECK(cpu_pool_threads(p) == threads[t], "threads %d", cpu_pool_threads(p));
        for (int rep = 0; rep < 50; rep++)          /* back to back: the workers spin */
            for (int c = 0; c < 7; c++) run_job(p, chunks[c]);
        struct timespec nap = { 0, 20 * 1000 * 1000 };
        nanosleep(&nap, NULL);                       /* long enough for the workers to sleep */
        run_job(p, 100);
        cpu_pool_destroy(p);
    }
}

/* Profiling counts the jobs that woke the workers, with their times; a job
 * of one chunk (run on the caller alone) and jobs before profiling began
 * are not counted. */
static void test_times(void)
{
    for (int threads = 1; threads <= 2; threads++) {
        cpu_pool *p = NULL;
        gc_err err = {0};
        CHECK(cpu_pool_create(&p, threads, &err) == 0, "%s", err.msg);
        if (!p) continue;
        run_job(p, 10);
        cpu_pool_profile(p, true);
        for (int i = 0; i < 5; i++) run_job(p, 10);
        run_job(p, 1);
        cpu_pool_profile(p, false);
        run_job(p, 10);
        cpu_pool_times t = cpu_pool_times_of(p);
        int want = threads > 1 ? 5 : 0;
        CHECK(t.jobs == (uint64_t)want, "%d threads: %llu jobs counted, want %d", threads, (unsigned long long)t.jobs,
              want);
        CHECK(want ? t.run_s > 0 && t.wait_s >= 0 && t.wait_s <= t.run_s : t.run_s == 0 && t.wait_s == 0,
              "%d threads: times %g, %g", threads, t.run_s, t.wait_s);
        cpu_pool_destroy(p);
    }
}

static void test_errors(void)
{
    cpu_pool *p = NULL;
    gc_err err = {0};
    CHECK(cpu_pool_create(&p, 0, &err) != 0 && !p, "0 threads accepted");
    CHECK_CONTAINS(err.msg, "threads 0");
    cpu_pool_destroy(NULL);
    CHECK(cpu_pool_cpus() >= 1, "cpus %d", cpu_pool_cpus());
}

int main(void)
{
    TEST_RUN(test_jobs);
    TEST_RUN(test_times);
    TEST_RUN(test_errors);
    return test_summary();
}
