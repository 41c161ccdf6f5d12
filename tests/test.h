/* test.h: the tiny assertion kit every tests/test_*.c uses.
 *
 * A test file defines main() that calls TEST_RUN(fn) for each test function and
 * ends with `return test_summary();`. Checks never abort, so one run reports
 * every failure; a NaN never passes a numeric check.
 *
 * Skips (the convention of tests/run.sh): what cannot run here is never a
 * pass. test_skip(what, reason) prints "SKIP: what (reason)" for one part left
 * out; the test goes on and run.sh counts the line. A test that cannot run at
 * all returns test_skip_all(what, reason) from main(): exit status TEST_SKIP
 * (77). The _ci forms are for what CI always can run (the real model, a Vulkan
 * device): under CI=true they count as a failure instead. A missing CPU
 * instruction set is a plain skip everywhere.
 */
#ifndef GC_TEST_H
#define GC_TEST_H

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int test_failures;
static int test_checks;
static const char *test_current = "";

#define CHECK(cond, ...) do { \
    test_checks++; \
    if (!(cond)) { \
        test_failures++; \
        fprintf(stderr, "FAIL %s (%s:%d): %s: ", test_current, __FILE__, __LINE__, #cond); \
        fprintf(stderr, __VA_ARGS__); fputc('\n', stderr); \
    } \
} while (0)

/* |a - b| <= tol, NaN fails. */
#define CHECK_NEAR(a, b, tol) do { \
    double a_ = (a), b_ = (b); \
    CHECK(!isnan(a_) && !isnan(b_) && fabs(a_ - b_) <= (tol), "%s = %.9g, %s = %.9g, tol %.3g", #a, a_, #b, b_, (double)(tol)); \
} while (0)

#define CHECK_STR(a, b) do { \
    const char *a_ = (a), *b_ = (b); \
    CHECK(a_ && b_ && strcmp(a_, b_) == 0, "\"%s\" != \"%s\"", a_ ? a_ : "(null)", b_ ? b_ : "(null)"); \
} while (0)

#define CHECK_CONTAINS(hay, needle) do { \
    const char *h_ = (hay), *n_ = (needle); \
    CHECK(h_ && n_ && strstr(h_, n_), "\"%s\" does not contain \"%s\"", h_ ? h_ : "(null)", n_ ? n_ : "(null)"); \
} while (0)

#define TEST_RUN(fn) do { test_current = #fn; fn(); } while (0)

/* Relative L2 error ||a - b|| / ||b||; returns INFINITY if any value is NaN/inf. */
static inline double test_rel_l2(const float *a, const float *b, size_t n)
{
    double num = 0, den = 0;
    for (size_t i = 0; i < n; i++) {
        if (!isfinite(a[i]) || !isfinite(b[i])) return INFINITY;
        double d = (double)a[i] - b[i];
        num += d * d;
        den += (double)b[i] * b[i];
    }
    return den > 0 ? sqrt(num / den) : sqrt(num);
}

#define TEST_SKIP 77
static int test_skips;

static inline int test_under_ci(void)
{
    const char *ci = getenv("CI");
    return ci && !strcmp(ci, "true");
}

/* One part of this test cannot run here: say what and why (stdout, one line). */
static inline void test_skip(const char *what, const char *reason)
{
    test_skips++;
    printf("SKIP: %s (%s)\n", what, reason);
    fflush(stdout);
}

/* The same for a part CI can always run: a failure under CI=true. */
static inline void test_skip_ci(const char *what, const char *reason)
{
    if (!test_under_ci()) { test_skip(what, reason); return; }
    test_checks++;
    test_failures++;
    fprintf(stderr, "FAIL %s: %s cannot run (%s), and CI=true must run it\n", test_current, what, reason);
}

/* The whole test cannot run: main() returns this (TEST_SKIP; 1 where the _ci
 * form would fail). */
static inline int test_skip_all(const char *what, const char *reason)
{
    test_skip(what, reason);
    return TEST_SKIP;
}
static inline int test_skip_all_ci(const char *what, const char *reason)
{
    if (!test_under_ci()) return test_skip_all(what, reason);
    fprintf(stderr, "FAIL: %s cannot run (%s), and CI=true must run it\n", what, reason);
    return 1;
}

static inline int test_summary(void)
{
    if (test_failures) fprintf(stderr, "%d of %d checks failed\n", test_failures, test_checks);
    else if (test_skips) fprintf(stderr, "ok: %d checks, %d parts skipped\n", test_checks, test_skips);
    else fprintf(stderr, "ok: %d checks\n", test_checks);
    return test_failures ? 1 : 0;
}

/* Deterministic xorshift for tests that want fresh-but-reproducible inputs;
 * seed from TEST_SEED or the clock, and print it so failures can be replayed. */
#include <stdint.h>
#include <stdlib.h>
#include <time.h>
static uint64_t test_rng_state = 0x9E3779B97F4A7C15ull;
static inline uint64_t test_seed_from_env(void)
{
    const char *s = getenv("TEST_SEED");
    uint64_t seed = s ? strtoull(s, NULL, 0) : (uint64_t)time(NULL);
    test_rng_state = seed ? seed : 1;
    fprintf(stderr, "TEST_SEED=%llu\n", (unsigned long long)seed);
    return seed;
}
static inline uint64_t test_rand_u64(void)
{
    uint64_t x = test_rng_state;
    x ^= x << 13; x ^= x >> 7; x ^= x << 17;
    return test_rng_state = x;
}
/* Uniform in [-1, 1). */
static inline float test_rand_f(void) { return (float)((test_rand_u64() >> 11) * (1.0 / 9007199254740992.0) * 2.0 - 1.0); }

#endif
