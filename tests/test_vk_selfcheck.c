/* test_vk_selfcheck: the per-device self-check (vk/vk_selfcheck.h) and its
 * stamp (app/backends.c backends_selfcheck).
 *
 *  - every case passes on the device, with its own kernel choice and with the
 *    the variants lavapipe does not pick forced (no size control, integer dot), validation clean;
 *  - an injected wrong result (GEMMA_CHAT_FAULT=selfcheck:TEXT) fails exactly
 *    the cases named, and the verdict names the first;
 *  - the stamp: format and parse, a verdict of another device, driver or
 *    build is not taken, a damaged one neither; backends_selfcheck writes it,
 *    reads it back instead of running again, runs again over a foreign one,
 *    and neither reads nor writes one under an injected fault.
 * The app's use (fallback, warnings, `devices --check`): tests/t_selfcheck.sh.
 */
#include "app/backends.h"
#include "base/fault.h"
#include "tests/testfs.h"
#include "tests/vk_testlib.h"
#include "vk/vk_pipe.h"
#include "vk/vk_selfcheck.h"

/* What the cases reported: their names, and the ones that failed. */
typedef struct seen {
    char names[200][VK_SELFCHECK_NAME_MAX];
    int n, n_failed;
    char failed[8][VK_SELFCHECK_NAME_MAX];
} seen;

static void on_case(void *u, const char *name, bool ok, const char *detail)
{
    seen *s = u;
    if (s->n < 200) snprintf(s->names[s->n++], VK_SELFCHECK_NAME_MAX, "%s", name);
    if (!ok) {
        printf("  failed: %s: %s\n", name, detail);
        if (s->n_failed < 8) snprintf(s->failed[s->n_failed], VK_SELFCHECK_NAME_MAX, "%s", name);
        s->n_failed++;
    }
}

static bool has_case(const seen *s, const char *prefix)
{
    for (int i = 0; i < s->n; i++)
        if (!strncmp(s->names[i], prefix, strlen(prefix))) return true;
    return false;
}

static void run(backend *be, seen *s, vk_selfcheck_result *res)
{
    memset(s, 0, sizeof *s);
    gc_err err = {0};
    CHECK(vk_selfcheck_run(be, on_case, s, res, &err) == 0, "the check ran: %s", err.msg);
    printf("  %d cases in %.2f s, %d failed\n", res->n_cases, res->seconds, res->n_failed);
}

/* Every case passes; the list covers every op and weight type, and every
 * name can be given to the fault point (no ','). Then injected faults on
 * the same backend (its pipelines built by now). */
static void test_device(backend *be, const char *what)
{
    seen *s = calloc(1, sizeof *s);
    vk_selfcheck_result res;
    run(be, s, &res);
    CHECK(res.n_failed == 0 && s->n_failed == 0, "%s: every case passes (first failure: %s: %s)", what, res.failed,
          res.detail);
    CHECK(res.n_cases == s->n && res.n_cases >= 100, "%s: %d cases reported, %d run", what, s->n, res.n_cases);
    for (int i = 0; i < s->n; i++) {
        CHECK(!strchr(s->names[i], ','), "'%s' has a ','", s->names[i]);
        for (int j = 0; j < i; j++) CHECK(strcmp(s->names[i], s->names[j]), "'%s' twice", s->names[i]);
    }
    const char *ops[] = { "embed ", "copy", "softcap", "rmsnorm", "add_rmsnorm_norm", "argmax ", "argmax_softcap",
                          "qk_rope_store", "attention head_dim 64", "attention head_dim 128",
                          "attention head_dim 256", "matmul ", "matmul_geglu " };
    for (size_t i = 0; i < sizeof ops / sizeof *ops; i++) CHECK(has_case(s, ops[i]), "no case of '%s'", ops[i]);
    for (uint32_t t = 0; t < GT_COUNT; t++) {
        if (!quant_type_supported(t)) continue;
        char p[64];
        snprintf(p, sizeof p, "matmul %s rows=40", quant_type_name(t));
        CHECK(has_case(s, p), "no case '%s'", p);
        snprintf(p, sizeof p, "matmul_geglu %s rows=1", quant_type_name(t));
        CHECK(has_case(s, p), "no case '%s'", p);
    }
    vt_no_validation_messages();

    /* One product case, by a prefix no other name shares. */
    CHECK(gc_fault_set("selfcheck:matmul Q4_K rows=1 ") == 0, "fault spec");
    run(be, s, &res);
    CHECK(res.n_failed == 1 && s->n_failed == 1, "%s: exactly the spoiled case fails (%d)", what, res.n_failed);
    CHECK(!strcmp(res.failed, "matmul Q4_K rows=1 (matrix-vector)"), "the verdict names it: '%s'", res.failed);
    CHECK_CONTAINS(res.detail, "relative error");
    char msg[600];
    vk_selfcheck_message(&res, "Some GPU", msg, sizeof msg);
    CHECK_CONTAINS(msg, "the Vulkan self-check failed on 'Some GPU': matmul Q4_K rows=1 (matrix-vector) (row 0");

    /* An argmax, and a text that names two cases: both fail, the first is named. */
    CHECK(gc_fault_set("selfcheck:argmax n=37") == 0, "fault spec");
    run(be, s, &res);
    CHECK(res.n_failed == 1 && !strcmp(res.failed, "argmax n=37"), "argmax: %d failed, '%s'", res.n_failed,
          res.failed);
    CHECK_CONTAINS(res.detail, "the reference");
    CHECK(gc_fault_set("selfcheck:attention head_dim 256 GQA 4:1 decode softcap window") == 0, "fault spec");
    run(be, s, &res);
    CHECK(res.n_failed == 2 && s->n_failed == 2, "both KV groups' case fails (%d)", res.n_failed);
    CHECK(!strcmp(res.failed, "attention head_dim 256 GQA 4:1 decode softcap window (F32 model)"),
          "the first is named: '%s'", res.failed);
    vk_selfcheck_message(&res, "Some GPU", msg, sizeof msg);
    CHECK_CONTAINS(msg, "; 1 more cases failed)");
    gc_fault_set("");
    free(s);
}

static void test_device_variants(void)
{
    vk_backend_opts o = vt_opts();
    backend *be = vt_backend(&o);
    if (be) test_device(be, "the device's own variants");
    if (be) be->destroy(be);
    /* The variants lavapipe does not pick itself: the multi-subgroup
     * reduction and the integer dot products. */
    o.hooks.no_size_control = true;
    o.hooks.fast_int_dot = true;
    be = vt_backend(&o);
    if (!be) return;
    seen *s = calloc(1, sizeof *s);
    vk_selfcheck_result res;
    run(be, s, &res);
    CHECK(res.n_failed == 0, "forced variants: every case passes (first failure: %s: %s)", res.failed, res.detail);
    vt_no_validation_messages();
    be->destroy(be);
    free(s);
}

static vk_caps some_caps(void)
{
    vk_caps c = { .vendor_id = 0x10de, .device_id = 0x2330 };
    snprintf(c.name, sizeof c.name, "Some GPU");
    snprintf(c.driver, sizeof c.driver, "Some driver 535.1");
    for (int i = 0; i < (int)VK_UUID_SIZE; i++) c.cache_uuid[i] = (uint8_t)(i * 17);
    return c;
}

static void test_stamp_text(void)
{
    vk_caps c = some_caps();
    char path[256], text[2048];
    vk_selfcheck_stamp_path("/cache", &c, path, sizeof path);
    CHECK(!strcmp(path, "/cache/selfcheck-10de-2330.txt"), "path: %s", path);
    vk_selfcheck_result ok = { .n_cases = 110, .seconds = 0.5 }, res;
    vk_selfcheck_stamp_format(&c, 0x1234, &ok, text, sizeof text);
    CHECK(!strcmp(text, "gemma-chat vulkan self-check 1\n"
                        "key 10de 2330 00112233445566778899aabbccddeeff 0000000000001234 Some driver 535.1\nok\n"),
          "the ok stamp: %s", text);
    memset(&res, 0x55, sizeof res);
    CHECK(vk_selfcheck_stamp_parse(&c, 0x1234, text, &res) && res.n_failed == 0 && res.n_cases == 0 && !res.failed[0],
          "ok read back");

    vk_selfcheck_result bad = { .n_cases = 110, .n_failed = 3 };
    snprintf(bad.failed, sizeof bad.failed, "matmul Q4_K rows=1 (matrix-vector)");
    snprintf(bad.detail, sizeof bad.detail, "row 0:\trelative\nerror 2");
    vk_selfcheck_stamp_format(&c, 0x1234, &bad, text, sizeof text);
    CHECK(vk_selfcheck_stamp_parse(&c, 0x1234, text, &res), "a failed verdict reads back");
    CHECK(res.n_failed == 1 && !strcmp(res.failed, bad.failed) && !strcmp(res.detail, "row 0: relative error 2"),
          "its case and detail (separators as spaces): %d '%s' '%s'", res.n_failed, res.failed, res.detail);

    /* Another build, driver (version or pipeline cache UUID) or device: not this verdict. */
    vk_caps other = c;
    CHECK(!vk_selfcheck_stamp_parse(&c, 0x1235, text, &res), "another build");
    snprintf(other.driver, sizeof other.driver, "Some driver 535.2");
    CHECK(!vk_selfcheck_stamp_parse(&other, 0x1234, text, &res), "another driver version");
    other = c;
    other.cache_uuid[3] ^= 1;
    CHECK(!vk_selfcheck_stamp_parse(&other, 0x1234, text, &res), "another pipeline cache UUID");
    other = c;
    other.device_id++;
    CHECK(!vk_selfcheck_stamp_parse(&other, 0x1234, text, &res), "another device");
    /* Damaged: cut short, a verdict without its case, junk after it. */
    vk_selfcheck_stamp_format(&c, 0x1234, &ok, text, sizeof text);
    text[strlen(text) - 2] = 0;
    CHECK(!vk_selfcheck_stamp_parse(&c, 0x1234, text, &res), "a cut stamp");
    vk_selfcheck_stamp_format(&c, 0x1234, &ok, text, sizeof text);
    strcat(text, "ok\n");
    CHECK(!vk_selfcheck_stamp_parse(&c, 0x1234, text, &res), "junk after the verdict");
    vk_selfcheck_stamp_format(&c, 0x1234, &ok, text, sizeof text);
    strcpy(strstr(text, "ok\n"), "failed \tx\n");
    CHECK(!vk_selfcheck_stamp_parse(&c, 0x1234, text, &res), "a failure without its case");
    CHECK(!vk_selfcheck_stamp_parse(&c, 0x1234, "", &res), "an empty file");
}

/* backends_selfcheck with a cache directory: device 0 (what the tests' backend uses). */
static void test_stamp_file(void)
{
    vk_instance *vi = NULL;
    gc_err err = {0};
    CHECK(vk_instance_create(&vi, false, &err) == 0, "instance: %s", err.msg);
    if (!vi) return;
    const vk_caps *c = &vi->caps[0];
    char dir[256], path[512];
    CHECK(tfs_mkdtemp(dir, sizeof dir, "selfcheck") == 0, "temp dir");
    vk_selfcheck_stamp_path(dir, c, path, sizeof path);
    /* A stamp of another build: not taken; the check runs and stamps over it. */
    vk_selfcheck_result foreign = { .n_failed = 1 }, res;
    snprintf(foreign.failed, sizeof foreign.failed, "matmul F32 rows=1 (matrix-vector)");
    char text[2048];
    vk_selfcheck_stamp_format(c, vk_pipe_build_hash() ^ 1, &foreign, text, sizeof text);
    CHECK(tfs_write(path, text, strlen(text)) == 0, "foreign stamp written");
    CHECK(backends_selfcheck(0, c, dir, false, NULL, NULL, &res, &err) == 0, "check: %s", err.msg);
    CHECK(res.n_cases >= 100 && res.n_failed == 0 && res.seconds > 0, "it ran (%d cases) and passed", res.n_cases);
    char *st = tfs_read(path, NULL);
    CHECK(st && strstr(st, "\nok\n"), "the stamp says ok: %s", st ? st : "(none)");
    vk_selfcheck_result back;
    CHECK(st && vk_selfcheck_stamp_parse(c, vk_pipe_build_hash(), st, &back) && back.n_failed == 0,
          "the stamp is this device's, driver's and build's");
    free(st);
    /* The stamp is the verdict now: nothing runs. */
    CHECK(backends_selfcheck(0, c, dir, false, NULL, NULL, &res, &err) == 0 && res.n_cases == 0 &&
          res.seconds == 0 && res.n_failed == 0, "the stamp is reused: %d cases ran", res.n_cases);
    /* A failed verdict is remembered too (written here as a run would). */
    vk_selfcheck_stamp_format(c, vk_pipe_build_hash(), &foreign, text, sizeof text);
    CHECK(tfs_write(path, text, strlen(text)) == 0, "failed stamp written");
    CHECK(backends_selfcheck(0, c, dir, false, NULL, NULL, &res, &err) == 0 && res.n_cases == 0 &&
          res.n_failed == 1 && !strcmp(res.failed, foreign.failed), "a failed stamp says so without a run");
    /* An injected fault: the check runs in spite of the stamp, and leaves it as it was. */
    CHECK(gc_fault_set("selfcheck:copy n=1000") == 0, "fault spec");
    CHECK(backends_selfcheck(0, c, dir, false, NULL, NULL, &res, &err) == 0 && res.n_cases >= 100 &&
          res.n_failed == 1 && !strcmp(res.failed, "copy n=1000"), "the fault runs the check: '%s'", res.failed);
    st = tfs_read(path, NULL);
    CHECK(st && !strcmp(st, text), "the stamp is untouched under the fault");
    free(st);
    gc_fault_set("");
    tfs_rmtree(dir);
    vk_instance_destroy(vi);
}

int main(void)
{
    TEST_RUN(test_stamp_text);
    VT_NEED_DEVICE();
    TEST_RUN(test_device_variants);
    TEST_RUN(test_stamp_file);
    return test_summary();
}
