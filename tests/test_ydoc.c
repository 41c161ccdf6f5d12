/* test_ydoc.c: the defensive YAML tree (app/ydoc.c) on its own. Its users
 * (config, personas, transcripts) test their formats; this file holds what
 * belongs to ydoc itself, starting with the regressions the fuzzers found. */
#include "app/ydoc.h"
#include "tests/test.h"

/* The node cap: exactly max_nodes nodes load; one more is refused with the
 * line of the node that went over. The refusal used to read the line from
 * the node it had just freed (heap use-after-free, found by fuzz_persona;
 * input kept in fuzz/regressions/persona/). */
static void test_node_limit(void)
{
    const ydoc_limits lim = { .max_bytes = 1 << 20, .max_depth = 8, .max_nodes = 11, .max_map_keys = 64 };
    ydoc *d = (ydoc *)1;
    gc_err err = {{0}};
    /* root mapping + 5 keys + 5 values = 11 nodes */
    const char *ok = "a: 1\nb: 2\nc: 3\nd: 4\ne: 5\n";
    CHECK(ydoc_load_buf("t.yaml", ok, strlen(ok), &lim, &d, &err) == 0, "%s", err.msg);
    CHECK(d && d->root && d->root->kind == YDOC_MAP && d->root->n == 10, "11 nodes");
    ydoc_free(d);

    /* the 12th node is the key on line 6, a scalar */
    const char *over = "a: 1\nb: 2\nc: 3\nd: 4\ne: 5\nf: 6\n";
    d = (ydoc *)1;
    CHECK(ydoc_load_buf("t.yaml", over, strlen(over), &lim, &d, &err) != 0, "12 nodes accepted");
    CHECK(d == NULL, "*out set on failure");
    CHECK_STR(err.msg, "t.yaml:6: more than 11 YAML nodes: file too complex");

    /* the 12th node is a container: a flow sequence opening on line 3 */
    const char *seq = "- [1, 2]\n- [3, 4]\n-\n  [5, 6]\n";
    const ydoc_limits lim2 = { .max_bytes = 1 << 20, .max_depth = 8, .max_nodes = 7, .max_map_keys = 64 };
    CHECK(ydoc_load_buf("s.yaml", seq, strlen(seq), &lim2, &d, &err) != 0, "8 nodes accepted");
    CHECK_STR(err.msg, "s.yaml:4: more than 7 YAML nodes: file too complex");
}

int main(void)
{
    TEST_RUN(test_node_limit);
    return test_summary();
}
