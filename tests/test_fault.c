/* test_fault.c: the fault injector's syntax and counting (base/fault.h). */
#include "base/fault.h"
#include "tests/test.h"

static void test_counts(void)
{
    CHECK(gc_fault_set("write:3,lost,mem:64") == 0, "a valid spec");
    CHECK(!gc_fault_hit(GC_FAULT_WRITE) && !gc_fault_hit(GC_FAULT_WRITE), "writes 1 and 2 pass");
    CHECK(gc_fault_hit(GC_FAULT_WRITE), "write 3 fails");
    CHECK(!gc_fault_hit(GC_FAULT_WRITE), "once only");
    CHECK(gc_fault_hit(GC_FAULT_LOST), "N defaults to 1");
    CHECK(!gc_fault_hit(GC_FAULT_FSYNC) && !gc_fault_hit(GC_FAULT_ALLOC), "points not named never fail");
    CHECK(gc_fault_limit(GC_FAULT_MEM) == 64, "mem limit %llu", (unsigned long long)gc_fault_limit(GC_FAULT_MEM));
    CHECK(gc_fault_set("fsync:1") == 0, "reset");
    CHECK(gc_fault_limit(GC_FAULT_MEM) == 0 && !gc_fault_hit(GC_FAULT_WRITE), "the old spec is gone");
    CHECK(gc_fault_hit(GC_FAULT_FSYNC), "the new one counts from the start");
}

/* A text point: its TEXT (spaces and colons included) up to the next ','. */
static void test_text(void)
{
    CHECK(gc_fault_set("write:2,selfcheck:matmul Q4_K rows=1 (a:b),lost") == 0, "a spec with a text");
    const char *t = gc_fault_text(GC_FAULT_SELFCHECK);
    CHECK(t && !strcmp(t, "matmul Q4_K rows=1 (a:b)"), "the text: '%s'", t ? t : "(none)");
    CHECK(!gc_fault_hit(GC_FAULT_SELFCHECK) && !gc_fault_hit(GC_FAULT_SELFCHECK), "a text is not counted");
    CHECK(!gc_fault_hit(GC_FAULT_WRITE) && gc_fault_hit(GC_FAULT_WRITE) && gc_fault_hit(GC_FAULT_LOST),
          "the points around it count as usual");
    CHECK(gc_fault_set("write") == 0 && !gc_fault_text(GC_FAULT_SELFCHECK), "no text once reset");
}

/* Held, no point counts: the Nth event after the release still fails. */
static void test_hold(void)
{
    CHECK(gc_fault_set("alloc:2,mem:8,selfcheck:x") == 0, "a spec");
    CHECK(!gc_fault_hit(GC_FAULT_ALLOC), "alloc 1 passes");
    gc_fault_hold(true);
    CHECK(!gc_fault_hit(GC_FAULT_ALLOC) && !gc_fault_hit(GC_FAULT_ALLOC), "held: nothing fails");
    CHECK(gc_fault_limit(GC_FAULT_MEM) == 8 && gc_fault_text(GC_FAULT_SELFCHECK), "held: limits and texts read as set");
    gc_fault_hold(false);
    CHECK(gc_fault_hit(GC_FAULT_ALLOC), "released: the second counted alloc fails");
}

static void test_bad_specs(void)
{
    const char *bad[] = { "wirte:1", "write:0", "write:", "write:2x", "write:1,,fsync", ":1", "mem:99999999999999999",
                          "selfcheck", "selfcheck:", "selfcheck:,lost" };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        CHECK(gc_fault_set("alloc:1") == 0, "arm");
        CHECK(gc_fault_set(bad[i]) != 0, "'%s' accepted", bad[i]);
        CHECK(gc_fault_hit(GC_FAULT_ALLOC), "a bad spec changed nothing: '%s'", bad[i]);
    }
}

static void test_environment(void)
{
    setenv("GEMMA_CHAT_FAULT", "rename:2", 1);
    gc_fault_set(NULL);
    CHECK(!gc_fault_hit(GC_FAULT_RENAME) && gc_fault_hit(GC_FAULT_RENAME), "read from the environment");
    setenv("GEMMA_CHAT_FAULT", "nonsense", 1);
    gc_fault_set(NULL);
    CHECK(!gc_fault_hit(GC_FAULT_RENAME), "a bad environment value is ignored (and reported)");
    unsetenv("GEMMA_CHAT_FAULT");
    gc_fault_set(NULL);
    CHECK(!gc_fault_hit(GC_FAULT_WRITE), "none set");
}

int main(void)
{
    TEST_RUN(test_counts);
    TEST_RUN(test_text);
    TEST_RUN(test_hold);
    TEST_RUN(test_bad_specs);
    TEST_RUN(test_environment);
    return test_summary();
}
