/* test_buf.c: growing arrays and byte buffers (base/buf.h). */
#include <stdint.h>
#include <stdlib.h>

#include "base/buf.h"
#include "tests/test.h"

static void test_grow(void)
{
    int *v = NULL;
    size_t cap = 0;
    for (size_t i = 0; i < 1000; i++) {
        CHECK(GC_GROW(v, cap, i + 1) == 0, "grow to %zu", i + 1);
        v[i] = (int)i * 3;
    }
    CHECK(cap >= 1000 && cap < 2048 && (cap & (cap - 1)) == 0, "doubling from 16: cap %zu", cap);
    long sum = 0;
    for (size_t i = 0; i < 1000; i++) sum += v[i];
    CHECK(sum == 3L * 999 * 1000 / 2, "contents kept: %ld", sum);
    size_t before = cap;
    CHECK(GC_GROW(v, cap, 10) == 0 && cap == before, "no shrink");
    int *keep = v;
    CHECK(GC_GROW(v, cap, SIZE_MAX / 2) != 0 && v == keep && cap == before, "overflow refused, array untouched");
    free(v);
}

static void test_puts(void)
{
    gc_buf b = {0};
    CHECK(gc_buf_puts(&b, "de") == 0 && gc_buf_puts(&b, "") == 0 && gc_buf_puts(&b, "f") == 0, "puts");
    CHECK(b.n == 3 && strcmp(b.p, "def") == 0, "puts: %s", b.p ? b.p : "(null)");
    gc_buf_free(&b);
}

static void test_buf(void)
{
    gc_buf b = {0};
    CHECK(gc_buf_add(&b, "abc", 3) == 0 && b.n == 3 && strcmp(b.p, "abc") == 0, "add");
    CHECK(gc_buf_printf(&b, "-%d-%s", 42, "x") == 0 && strcmp(b.p, "abc-42-x") == 0, "printf: %s", b.p);
    for (int i = 0; i < 5000; i++) gc_buf_add(&b, "0123456789", 10);
    CHECK(b.n == 8 + 50000 && b.p[b.n] == 0 && b.p[8] == '0' && b.p[b.n - 1] == '9', "long: %zu", b.n);
    CHECK(gc_buf_add(&b, "\0z", 2) == 0 && b.n == 50010 && b.p[50008] == 0 && b.p[50009] == 'z', "binary-safe");
    size_t len;
    char *s = gc_buf_take(&b, &len);
    CHECK(s && len == 50010 && !b.p && b.n == 0, "take");
    free(s);
    s = gc_buf_take(&b, &len);
    CHECK(s && s[0] == 0 && len == 0, "take of an empty buffer gives \"\"");
    free(s);
    /* Out of memory is sticky: later appends do nothing, take gives NULL. */
    CHECK(gc_buf_add(&b, "ok", 2) == 0, "add");
    CHECK(gc_buf_add(&b, "x", SIZE_MAX - 1) != 0 && b.oom, "an impossible size fails");
    CHECK(gc_buf_add(&b, "y", 1) != 0 && b.n == 2, "later appends do nothing");
    CHECK(gc_buf_take(&b, &len) == NULL && len == 0 && !b.p && !b.oom, "take after oom: NULL, reset");
    gc_buf_free(&b);
}

int main(void)
{
    TEST_RUN(test_grow);
    TEST_RUN(test_buf);
    TEST_RUN(test_puts);
    return test_summary();
}
