/* membw.c: read bandwidth of this machine's memory, the roofline of decode
 * (each decoded token streams every weight once).
 *
 *   build/membw [THREADS [MIB]]     default: one thread per CPU, 2048 MiB
 *
 * THREADS threads each sum their slice of a MIB buffer (larger than any
 * last-level cache) with several independent accumulators; the best of 7
 * passes is printed as `membw_gb_s=X threads=N mib=M`. The buffer is in
 * transparent huge pages where the kernel gives them (MADV_HUGEPAGE), as
 * the CPU backend's repacked weights are: in 4 KiB pages the same reads
 * measured 10% slower on a 2-core VM, and the roofline is the best case.
 */
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include "base/clock.h"

typedef struct slice { const uint64_t *p; size_t n; uint64_t sum; } slice;

static void *reader(void *arg)
{
    slice *s = arg;
    uint64_t a = 0, b = 0, c = 0, d = 0, e = 0, f = 0, g = 0, h = 0;
    for (size_t i = 0; i + 8 <= s->n; i += 8) {
        a += s->p[i]; b += s->p[i + 1]; c += s->p[i + 2]; d += s->p[i + 3];
        e += s->p[i + 4]; f += s->p[i + 5]; g += s->p[i + 6]; h += s->p[i + 7];
    }
    s->sum = a + b + c + d + e + f + g + h;
    return NULL;
}

int main(int argc, char **argv)
{
    long cpus = sysconf(_SC_NPROCESSORS_ONLN);
    int threads = argc > 1 ? atoi(argv[1]) : (int)cpus;
    size_t mib = argc > 2 ? (size_t)atol(argv[2]) : 2048;
    if (threads < 1 || threads > 256 || mib < 64) {
        fprintf(stderr, "usage: membw [THREADS (1..256) [MIB (>= 64)]]\n");
        return 2;
    }
    size_t n = mib << 17;   /* uint64 words */
    uint64_t *buf = mmap(NULL, n * sizeof *buf, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (buf == MAP_FAILED) { fprintf(stderr, "membw: out of memory for %zu MiB\n", mib); return 1; }
    madvise(buf, n * sizeof *buf, MADV_HUGEPAGE);
    for (size_t i = 0; i < n; i++) buf[i] = i;   /* touch every page */
    pthread_t th[256];
    slice sl[256];
    double best = 0;
    uint64_t check = 0;
    for (int pass = 0; pass < 7; pass++) {
        double t0 = gc_now_s();
        for (int t = 0; t < threads; t++) {
            sl[t] = (slice){ buf + n / threads * t, n / threads, 0 };
            pthread_create(&th[t], NULL, reader, &sl[t]);
        }
        for (int t = 0; t < threads; t++) { pthread_join(th[t], NULL); check += sl[t].sum; }
        double gbs = (double)(n / threads * threads) * 8 / (gc_now_s() - t0) / 1e9;
        if (gbs > best) best = gbs;
    }
    printf("membw_gb_s=%.2f threads=%d mib=%zu (checksum %llu)\n", best, threads, mib, (unsigned long long)(check & 0xff));
    munmap(buf, n * sizeof *buf);
    return 0;
}
