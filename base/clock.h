/* clock.h: the monotonic clock every timing of gemma-chat reads (speeds,
 * timeouts, the warm-up's seconds): never jumps with the wall clock. */
#ifndef GC_BASE_CLOCK_H
#define GC_BASE_CLOCK_H

#include <time.h>

/* Seconds since an arbitrary fixed point. */
static inline double gc_now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

#endif
