/* test_gguf.c: GGUF parsing (model/gguf.c) on files built in memory with
 * tests/gguf_build.h: every value type and nested arrays round trip, tensor
 * lookup and alignment; then a malformed corpus (truncation at every byte,
 * counts and lengths near 2^64, bad offsets, overlaps, unknown types, ...),
 * each rejected with a message that names the file, the field and the byte.
 * Run with GC_WRITE_CORPUS=DIR to (re)write the seed corpus for the fuzzer
 * (committed under tests/data/gguf/).
 */
#include <fcntl.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "model/gguf.h"
#include "model/quant.h"
#include "tests/gguf_build.h"
#include "tests/test.h"

static const char *data_dir(void)
{
    const char *d = getenv("GC_TESTDATA");
    return d ? d : "tests/data";
}

/* Opens a copy of buf in an exactly-sized heap block, so that ASan catches
 * any read past the end. */
static int open_copy(gguf_file **g, const uint8_t *buf, size_t len, gc_err *err, uint8_t **copy)
{
    *copy = malloc(len ? len : 1);
    if (len) memcpy(*copy, buf, len);
    return gguf_open_memory(g, *copy, len, "t.gguf", err);
}

/* Parses buf, expects failure with every needle in the message. */
static void expect_reject(const char *what, const uint8_t *buf, size_t len, const char *n1, const char *n2)
{
    gguf_file *g = NULL;
    gc_err err = {{0}};
    uint8_t *copy;
    int rc = open_copy(&g, buf, len, &err, &copy);
    CHECK(rc != 0 && g == NULL, "%s: accepted", what);
    CHECK(strncmp(err.msg, "t.gguf: byte ", 13) == 0, "%s: message lacks file/byte: %s", what, err.msg);
    if (n1) CHECK(strstr(err.msg, n1) != NULL, "%s: \"%s\" lacks \"%s\"", what, err.msg, n1);
    if (n2) CHECK(strstr(err.msg, n2) != NULL, "%s: \"%s\" lacks \"%s\"", what, err.msg, n2);
    gguf_close(g);
    free(copy);
}

/* ---- corpus writing (GC_WRITE_CORPUS) ---- */

static void corpus_write(const char *name, const uint8_t *buf, size_t len)
{
    const char *dir = getenv("GC_WRITE_CORPUS");
    if (!dir) return;
    char path[512];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "wb");
    if (!f) { fprintf(stderr, "cannot write %s\n", path); return; }
    fwrite(buf, 1, len, f);
    fclose(f);
}

/* ---- a valid file with a bit of everything ---- */

static const float small_w[8] = { 1, -2, 3.5f, 0, 1e-3f, -1e3f, 0.25f, 7 };

static uint8_t *build_rich(size_t *len, uint32_t version)
{
    gbuild b;
    gbuild_init(&b, version);
    gbuild_kv_str(&b, "general.architecture", "gemma3");
    gbuild_kv_u8(&b, "t.u8", 200);
    gbuild_kv_i8(&b, "t.i8", -100);
    gbuild_kv_u16(&b, "t.u16", 60000);
    gbuild_kv_i16(&b, "t.i16", -30000);
    gbuild_kv_u32(&b, "t.u32", 4000000000u);
    gbuild_kv_i32(&b, "t.i32", -2000000000);
    gbuild_kv_f32(&b, "t.f32", 0.15625f);
    gbuild_kv_bool(&b, "t.bool", true);
    gbuild_kv_str(&b, "t.str", "hello, world");
    gbuild_kv_str(&b, "t.empty_str", "");
    gbuild_kv_u64(&b, "t.u64", UINT64_MAX);
    gbuild_kv_i64(&b, "t.i64", INT64_MIN);
    gbuild_kv_f64(&b, "t.f64", -1.0 / 3.0);
    uint8_t u8s[3] = { 1, 2, 255 };
    gbuild_kv_arr(&b, "a.u8", GGUF_U8, u8s, 3, 1);
    int32_t i32s[4] = { -1, 0, 1, INT32_MIN };
    gbuild_kv_arr(&b, "a.i32", GGUF_I32, i32s, 4, 4);
    float f32s[3] = { 0.5f, -0.25f, 1e30f };
    gbuild_kv_arr(&b, "a.f32", GGUF_F32, f32s, 3, 4);
    uint8_t bools[3] = { 1, 0, 1 };
    gbuild_kv_arr(&b, "a.bool", GGUF_BOOL, bools, 3, 1);
    uint64_t u64s[2] = { 0, UINT64_MAX };
    gbuild_kv_arr(&b, "a.u64", GGUF_U64, u64s, 2, 8);
    double f64s[2] = { 1.5, -2.5 };
    gbuild_kv_arr(&b, "a.f64", GGUF_F64, f64s, 2, 8);
    gbuild_kv_arr(&b, "a.empty", GGUF_U32, NULL, 0, 4);
    const char *strs[] = { "<pad>", "", "<start_of_turn>", "\xe2\x96\x81hi" };
    gbuild_kv_arr_str(&b, "a.str", strs, 4);
    /* nested: [[1, 2], [], [3]] as arrays of u32 */
    gbuf *o = gbuild_kv_begin(&b, "a.nested", GGUF_ARRAY);
    gbuf_u32(o, GGUF_ARRAY); gbuf_u64(o, 3);
    gbuf_u32(o, GGUF_U32); gbuf_u64(o, 2); gbuf_u32(o, 1); gbuf_u32(o, 2);
    gbuf_u32(o, GGUF_U32); gbuf_u64(o, 0);
    gbuf_u32(o, GGUF_U32); gbuf_u64(o, 1); gbuf_u32(o, 3);
    /* three levels: [[["x", "yz"]]] */
    o = gbuild_kv_begin(&b, "a.deep", GGUF_ARRAY);
    gbuf_u32(o, GGUF_ARRAY); gbuf_u64(o, 1);
    gbuf_u32(o, GGUF_ARRAY); gbuf_u64(o, 1);
    gbuf_u32(o, GGUF_STRING); gbuf_u64(o, 2); gbuf_str(o, "x"); gbuf_str(o, "yz");
    /* tensors */
    gbuild_tensor(&b, "small", 1, (uint64_t[]){ 8 }, GT_F32, small_w, sizeof small_w);
    uint8_t q8[2 * 34];
    for (size_t i = 0; i < sizeof q8; i++) q8[i] = (uint8_t)(i * 7);
    q8[0] = 0x00; q8[1] = 0x3c; q8[34] = 0x00; q8[35] = 0x38;   /* scales 1.0, 0.5 */
    gbuild_tensor(&b, "q8", 2, (uint64_t[]){ 32, 2 }, GT_Q8_0, q8, sizeof q8);
    uint16_t h[6] = { 0x3c00, 0xc000, 0, 0x7bff, 0x0001, 0x3800 };
    gbuild_tensor(&b, "blk.0.h", 3, (uint64_t[]){ 1, 2, 3 }, GT_F16, h, sizeof h);
    uint8_t q2k[84] = { 0 };   /* a known type without a dequantizer: parses */
    gbuild_tensor(&b, "q2k", 1, (uint64_t[]){ 256 }, GT_Q2_K, q2k, sizeof q2k);
    return gbuild_finish(&b, len);
}

static void check_rich(const gguf_file *g)
{
    char prefix[300];
    snprintf(prefix, sizeof prefix, "%s: byte ", g->path);
    gc_err err = {{0}};
    CHECK(g->n_kv == 24 && g->n_tensors == 4, "counts %llu %llu", (unsigned long long)g->n_kv,
          (unsigned long long)g->n_tensors);
    const gguf_kv *kv;
    kv = gguf_find_kv(g, "t.u8");   CHECK(kv && kv->type == GGUF_U8 && kv->v.u == 200, "u8");
    kv = gguf_find_kv(g, "t.i8");   CHECK(kv && kv->type == GGUF_I8 && kv->v.i == -100, "i8");
    kv = gguf_find_kv(g, "t.u16");  CHECK(kv && kv->type == GGUF_U16 && kv->v.u == 60000, "u16");
    kv = gguf_find_kv(g, "t.i16");  CHECK(kv && kv->type == GGUF_I16 && kv->v.i == -30000, "i16");
    kv = gguf_find_kv(g, "t.u32");  CHECK(kv && kv->type == GGUF_U32 && kv->v.u == 4000000000u, "u32");
    kv = gguf_find_kv(g, "t.i32");  CHECK(kv && kv->type == GGUF_I32 && kv->v.i == -2000000000, "i32");
    kv = gguf_find_kv(g, "t.f32");  CHECK(kv && kv->type == GGUF_F32 && kv->v.f == 0.15625, "f32");
    kv = gguf_find_kv(g, "t.bool"); CHECK(kv && kv->type == GGUF_BOOL && kv->v.u == 1, "bool");
    kv = gguf_find_kv(g, "t.str");  CHECK(kv && kv->type == GGUF_STRING && gguf_str_eq(kv->v.s, "hello, world"), "str");
    kv = gguf_find_kv(g, "t.empty_str"); CHECK(kv && kv->v.s.len == 0, "empty str");
    kv = gguf_find_kv(g, "t.u64");  CHECK(kv && kv->type == GGUF_U64 && kv->v.u == UINT64_MAX, "u64");
    kv = gguf_find_kv(g, "t.i64");  CHECK(kv && kv->type == GGUF_I64 && kv->v.i == INT64_MIN, "i64");
    kv = gguf_find_kv(g, "t.f64");  CHECK(kv && kv->type == GGUF_F64 && kv->v.f == -1.0 / 3.0, "f64");
    CHECK(gguf_find_kv(g, "t.u") == NULL && gguf_find_kv(g, "t.u88") == NULL && gguf_find_kv(g, "") == NULL, "absent");
    /* the key offset of the first kv is right after the 24-byte header */
    CHECK(g->kv[0].file_offset == 24 && g->kv[0].value_offset == 24 + 8 + 20 + 4, "offsets %llu %llu",
          (unsigned long long)g->kv[0].file_offset, (unsigned long long)g->kv[0].value_offset);

    /* typed accessors */
    uint32_t u32 = 7; uint64_t u64 = 7; int64_t i64 = 7; float f = 7; bool bl = false; gguf_str s = {0};
    CHECK(gguf_get_u32(g, "t.u8", &u32, &err) == 0 && u32 == 200, "u32 from u8");
    CHECK(gguf_get_u32(g, "t.u32", &u32, &err) == 0 && u32 == 4000000000u, "u32");
    CHECK(gguf_get_u32(g, "nope", &u32, &err) == 1 && u32 == 4000000000u, "absent leaves out");
    CHECK(gguf_get_u32(g, "t.i8", &u32, &err) == -1, "negative into u32");
    CHECK_CONTAINS(err.msg, prefix);
    CHECK_CONTAINS(err.msg, "key 't.i8': value -100 is out of range");
    CHECK(gguf_get_u32(g, "t.u64", &u32, &err) == -1, "u64 max into u32");
    CHECK_CONTAINS(err.msg, "18446744073709551615 is out of range (0..4294967295)");
    CHECK(gguf_get_u32(g, "t.str", &u32, &err) == -1, "string into u32");
    CHECK_CONTAINS(err.msg, "key 't.str': has type string, expected an unsigned integer");
    CHECK(gguf_get_u64(g, "t.u64", &u64, &err) == 0 && u64 == UINT64_MAX, "u64");
    CHECK(gguf_get_i64(g, "t.i64", &i64, &err) == 0 && i64 == INT64_MIN, "i64");
    CHECK(gguf_get_i64(g, "t.u16", &i64, &err) == 0 && i64 == 60000, "i64 from u16");
    CHECK(gguf_get_i64(g, "t.u64", &i64, &err) == -1, "u64 max into i64");
    CHECK(gguf_get_f32(g, "t.f64", &f, &err) == 0 && f == (float)(-1.0 / 3.0), "f32 from f64");
    CHECK(gguf_get_f32(g, "t.i16", &f, &err) == 0 && f == -30000.0f, "f32 from i16");
    CHECK(gguf_get_f32(g, "t.bool", &f, &err) == -1, "bool into f32");
    CHECK_CONTAINS(err.msg, "has type bool, expected a number");
    CHECK(gguf_get_bool(g, "t.bool", &bl, &err) == 0 && bl, "bool");
    CHECK(gguf_get_bool(g, "t.u8", &bl, &err) == -1, "u8 into bool");
    CHECK(gguf_get_str(g, "t.str", &s, &err) == 0 && gguf_str_eq(s, "hello, world"), "str");
    CHECK(gguf_get_str(g, "a.str", &s, &err) == -1, "array into str");
    CHECK_CONTAINS(err.msg, "has type array, expected string");

    /* arrays */
    uint64_t n; const uint8_t *d;
    CHECK(gguf_get_arr(g, "a.i32", GGUF_I32, &n, &d, &err) == 0 && n == 4, "i32 arr");
    CHECK(gguf_rd_i32(d, 0) == -1 && gguf_rd_i32(d, 3) == INT32_MIN, "i32 elems");
    CHECK(gguf_get_arr(g, "a.f32", GGUF_F32, &n, &d, &err) == 0 && n == 3 && gguf_rd_f32(d, 2) == 1e30f, "f32 arr");
    CHECK(gguf_get_arr(g, "a.f32", GGUF_I32, &n, &d, &err) == -1, "elem type mismatch");
    CHECK_CONTAINS(err.msg, "key 'a.f32': is an array of f32, expected an array of i32");
    CHECK(gguf_get_arr(g, "t.u8", GGUF_U8, &n, &d, &err) == -1, "scalar as array");
    CHECK(gguf_get_arr(g, "nope", GGUF_U8, &n, &d, &err) == 1, "absent array");
    CHECK(gguf_get_arr(g, "a.empty", GGUF_U32, &n, &d, &err) == 0 && n == 0, "empty arr");
    kv = gguf_find_kv(g, "a.u8");   CHECK(kv && kv->arr_count == 3 && kv->arr_data[2] == 255 && kv->arr_bytes == 3, "u8 arr");
    kv = gguf_find_kv(g, "a.u64");  CHECK(kv && kv->arr_bytes == 16, "u64 arr bytes");
    kv = gguf_find_kv(g, "a.bool");
    gguf_arr_iter ai = gguf_arr_iter_begin(kv);
    gguf_kv e;
    int k = 0, ok = 1;
    while (gguf_arr_iter_next(&ai, &e)) { ok &= e.type == GGUF_BOOL && e.v.u == (k != 1); k++; }
    CHECK(k == 3 && ok, "bool arr walk");
    kv = gguf_find_kv(g, "a.f64");
    ai = gguf_arr_iter_begin(kv);
    CHECK(gguf_arr_iter_next(&ai, &e) && e.v.f == 1.5 && gguf_arr_iter_next(&ai, &e) && e.v.f == -2.5 &&
          !gguf_arr_iter_next(&ai, &e), "f64 arr walk");

    kv = gguf_find_kv(g, "a.str");
    gguf_str_iter si = gguf_str_iter_begin(kv);
    const char *want[] = { "<pad>", "", "<start_of_turn>", "\xe2\x96\x81hi" };
    k = 0; ok = 1;
    while (gguf_str_iter_next(&si, &s)) { ok &= k < 4 && gguf_str_eq(s, want[k]); k++; }
    CHECK(k == 4 && ok, "string array walk (%d)", k);
    si = gguf_str_iter_begin(gguf_find_kv(g, "a.u8"));
    CHECK(!gguf_str_iter_next(&si, &s), "str iter over u8 array yields nothing");
    ai = gguf_arr_iter_begin(kv);
    CHECK(gguf_arr_iter_next(&ai, &e) && e.type == GGUF_STRING && gguf_str_eq(e.v.s, "<pad>"), "arr iter strings");

    /* nested [[1,2],[],[3]] */
    kv = gguf_find_kv(g, "a.nested");
    CHECK(kv && kv->arr_type == GGUF_ARRAY && kv->arr_count == 3, "nested outer");
    ai = gguf_arr_iter_begin(kv);
    uint32_t sums[3] = {0}, counts[3] = {0};
    k = 0;
    while (gguf_arr_iter_next(&ai, &e) && k < 3) {
        CHECK(e.type == GGUF_ARRAY && e.arr_type == GGUF_U32, "nested elem type");
        gguf_arr_iter in = gguf_arr_iter_begin(&e);
        gguf_kv x;
        while (gguf_arr_iter_next(&in, &x)) { sums[k] += (uint32_t)x.v.u; counts[k]++; }
        k++;
    }
    CHECK(k == 3 && counts[0] == 2 && sums[0] == 3 && counts[1] == 0 && counts[2] == 1 && sums[2] == 3,
          "nested values %u/%u %u %u/%u", counts[0], sums[0], counts[1], counts[2], sums[2]);
    /* [[["x","yz"]]] */
    kv = gguf_find_kv(g, "a.deep");
    ai = gguf_arr_iter_begin(kv);
    gguf_kv l1, l2;
    CHECK(gguf_arr_iter_next(&ai, &l1) && l1.type == GGUF_ARRAY && l1.arr_type == GGUF_ARRAY, "deep l1");
    gguf_arr_iter a2 = gguf_arr_iter_begin(&l1);
    CHECK(gguf_arr_iter_next(&a2, &l2) && l2.arr_type == GGUF_STRING && l2.arr_count == 2, "deep l2");
    si = gguf_str_iter_begin(&l2);
    CHECK(gguf_str_iter_next(&si, &s) && gguf_str_eq(s, "x") && gguf_str_iter_next(&si, &s) &&
          gguf_str_eq(s, "yz") && !gguf_str_iter_next(&si, &s), "deep strings");

    /* tensors */
    CHECK(g->alignment == 32 && g->data_offset % 32 == 0, "alignment %u data %llu", g->alignment,
          (unsigned long long)g->data_offset);
    const gguf_tensor *t = gguf_find_tensor(g, "small");
    CHECK(t && t->n_dims == 1 && t->ne[0] == 8 && t->ne[1] == 1 && t->type == GT_F32 && t->n_bytes == 32 &&
          t->offset == 0 && t->n_elems == 8, "small");
    CHECK(t && memcmp(t->data, small_w, sizeof small_w) == 0, "small data");
    CHECK(t && (const uint8_t *)t->data == g->map + g->data_offset, "small data pointer");
    t = gguf_find_tensor(g, "q8");
    CHECK(t && t->ne[0] == 32 && t->ne[1] == 2 && t->n_bytes == 68 && t->offset == 32, "q8 %llu",
          t ? (unsigned long long)t->offset : 0ull);
    if (t) {
        float y[64];
        CHECK(quant_dequant_row(t->type, t->data, y, 64) == 0, "dequant q8");
        CHECK(y[0] == (float)(int8_t)(uint8_t)(2 * 7) && y[32] == 0.5f * (float)(int8_t)(uint8_t)(36 * 7),
              "q8 values %g %g", y[0], y[32]);
    }
    t = gguf_find_tensor(g, "blk.0.h");
    CHECK(t && t->n_dims == 3 && t->ne[2] == 3 && t->n_elems == 6 && t->n_bytes == 12 && t->offset == 128, "f16 tensor");
    t = gguf_find_tensor(g, "q2k");
    CHECK(t && t->type == GT_Q2_K && t->n_bytes == 84 && !quant_type_supported(t->type), "q2k");
    CHECK(gguf_find_tensor(g, "smal") == NULL && gguf_find_tensor(g, "smalll") == NULL, "absent tensor");
}

static void test_roundtrip(void)
{
    for (uint32_t v = 2; v <= 3; v++) {
        size_t len;
        uint8_t *buf = build_rich(&len, v);
        gguf_file *g = NULL;
        gc_err err = {{0}};
        int rc = gguf_open_memory(&g, buf, len, "t.gguf", &err);
        CHECK(rc == 0, "v%u: %s", v, err.msg);
        if (!rc) {
            CHECK(g->version == v, "version");
            check_rich(g);
        }
        gguf_close(g);
        if (v == 3) corpus_write("good_rich.gguf", buf, len);
        free(buf);
    }
}

/* Same file through gguf_open (mmap) from a temporary file. */
static void test_open_file(void)
{
    size_t len;
    uint8_t *buf = build_rich(&len, 3);
    char path[] = "/tmp/gc_test_gguf_XXXXXX";
    int fd = mkstemp(path);
    CHECK(fd >= 0, "mkstemp");
    if (fd < 0) { free(buf); return; }
    CHECK(write(fd, buf, len) == (ssize_t)len, "write");
    close(fd);
    gguf_file *g = NULL;
    gc_err err = {{0}};
    int rc = gguf_open(&g, path, &err);
    CHECK(rc == 0, "%s", err.msg);
    if (!rc) { check_rich(g); CHECK_STR(g->path, path); }
    gguf_close(g);
    /* truncated on disk: the message names the path */
    fd = open(path, O_WRONLY | O_TRUNC);
    CHECK(write(fd, buf, 40) == 40, "write");
    close(fd);
    rc = gguf_open(&g, path, &err);
    CHECK(rc != 0 && g == NULL, "truncated file accepted");
    CHECK(strncmp(err.msg, path, strlen(path)) == 0, "path in message: %s", err.msg);
    /* empty file */
    fd = open(path, O_WRONLY | O_TRUNC);
    close(fd);
    CHECK(gguf_open(&g, path, &err) != 0, "empty accepted");
    CHECK_CONTAINS(err.msg, "empty");
    unlink(path);
    CHECK(gguf_open(&g, path, &err) != 0, "missing accepted");
    CHECK_CONTAINS(err.msg, "no such file");
    CHECK(gguf_open(&g, "/tmp", &err) != 0, "directory accepted");
    CHECK_CONTAINS(err.msg, "not a regular file");
    free(buf);
}

static void test_alignment(void)
{
    uint32_t aligns[] = { 1, 8, 64, 4096 };
    for (size_t i = 0; i < sizeof aligns / sizeof *aligns; i++) {
        gbuild b;
        gbuild_init(&b, 3);
        gbuild_kv_u32(&b, "general.alignment", aligns[i]);
        gbuild_tensor(&b, "a", 1, (uint64_t[]){ 3 }, GT_F32, small_w, 12);
        gbuild_tensor(&b, "b", 1, (uint64_t[]){ 5 }, GT_F32, small_w + 3, 20);
        size_t len;
        uint8_t *buf = gbuild_finish(&b, &len);
        gguf_file *g = NULL;
        gc_err err = {{0}};
        uint8_t *copy;
        int rc = open_copy(&g, buf, len, &err, &copy);
        CHECK(rc == 0, "alignment %u: %s", aligns[i], err.msg);
        if (!rc) {
            const gguf_tensor *t = gguf_find_tensor(g, "b");
            uint64_t want = (12 + aligns[i] - 1) / aligns[i] * aligns[i];
            CHECK(g->alignment == aligns[i] && g->data_offset % aligns[i] == 0, "data offset %llu",
                  (unsigned long long)g->data_offset);
            CHECK(t && t->offset == want && memcmp(t->data, small_w + 3, 20) == 0, "b at %llu", (unsigned long long)want);
        }
        gguf_close(g);
        free(copy);
        if (aligns[i] == 64) corpus_write("good_align64.gguf", buf, len);
        free(buf);
    }
    /* No tensors: the file may end right after the kvs, without padding. */
    gbuild b;
    gbuild_init(&b, 3);
    gbuild_kv_str(&b, "general.name", "x");
    size_t len;
    uint8_t *buf = gbuild_finish(&b, &len);
    gguf_file *g = NULL;
    gc_err err = {{0}};
    uint8_t *copy;
    CHECK(open_copy(&g, buf, len, &err, &copy) == 0 && g->n_tensors == 0 && g->data_offset == len, "no tensors: %s", err.msg);
    gguf_close(g);
    free(copy);
    free(buf);
    /* header only */
    gbuild_init(&b, 2);
    buf = gbuild_finish(&b, &len);
    CHECK(len == 24 && open_copy(&g, buf, len, &err, &copy) == 0 && g->n_kv == 0, "header only: %s", err.msg);
    gguf_close(g);
    free(copy);
    free(buf);
}

/* Every prefix of a valid file is rejected, cleanly. */
static void test_truncation(void)
{
    size_t len;
    uint8_t *buf = build_rich(&len, 3);
    size_t failures = 0, no_msg = 0, first = 0;
    for (size_t cut = 0; cut < len; cut++) {
        gguf_file *g = NULL;
        gc_err err = {{0}};
        uint8_t *copy;
        int rc = open_copy(&g, buf, cut, &err, &copy);
        if (rc == 0 || g) { if (!failures++) first = cut; }
        if (strncmp(err.msg, "t.gguf: byte ", 13)) { if (!no_msg++) first = cut; }
        gguf_close(g);
        free(copy);
    }
    CHECK(failures == 0, "%zu of %zu prefixes accepted, first %zu", failures, len, first);
    CHECK(no_msg == 0, "%zu prefixes without a file/byte message, first %zu", no_msg, first);
    /* A few cut points and what they must say. */
    expect_reject("cut in magic", buf, 3, "magic", "too small");
    expect_reject("cut in version", buf, 6, "header version", "file ends after 2");
    expect_reject("cut in n_kv", buf, 20, "n_kv", NULL);
    expect_reject("cut after the header", buf, 24 + 8 + 5, "header n_kv", "24 key/value pairs cannot fit in the 13 bytes");
    expect_reject("cut in data", buf, len - 1, "runs past the end of the data section", "tensor[3] 'q2k'");
    free(buf);
}

/* Random byte flips of a valid file never crash and never pass silently
 * malformed: either parse or fail with a located message. */
static void test_mutations(void)
{
    size_t len;
    uint8_t *buf = build_rich(&len, 3);
    uint8_t *m = malloc(len);
    test_rng_state = 0xC0FFEE;
    int accepted = 0, bad_msg = 0;
    for (int it = 0; it < 3000; it++) {
        memcpy(m, buf, len);
        int flips = 1 + (int)(test_rand_u64() % 4);
        for (int f = 0; f < flips; f++) {
            size_t at = (size_t)(test_rand_u64() % len);
            uint64_t r = test_rand_u64();
            m[at] = (r & 1) ? (uint8_t)(r >> 8) : (uint8_t)(m[at] ^ (1u << ((r >> 8) % 8)));
        }
        gguf_file *g = NULL;
        gc_err err = {{0}};
        uint8_t *copy;
        if (open_copy(&g, m, len, &err, &copy) == 0) {
            accepted++;
            /* whatever was accepted is consistent */
            for (uint64_t i = 0; i < g->n_tensors; i++) {
                const gguf_tensor *t = &g->tensors[i];
                if ((const uint8_t *)t->data + t->n_bytes > g->map + g->size) bad_msg++;
            }
        } else if (strncmp(err.msg, "t.gguf: byte ", 13)) {
            bad_msg++;
        }
        gguf_close(g);
        free(copy);
    }
    CHECK(bad_msg == 0, "%d mutants gave no located message or inconsistent tensors", bad_msg);
    CHECK(accepted > 0 && accepted < 3000, "accepted %d of 3000 mutants", accepted);
    free(m);
    free(buf);
}

/* Small builders for the malformed corpus. */
static uint8_t *one_kv_raw(size_t *len, const void *rec, size_t n)
{
    gbuild b;
    gbuild_init(&b, 3);
    gbuild_kv_str(&b, "general.architecture", "gemma3");
    gbuild_raw_kv(&b, rec, n);
    return gbuild_finish(&b, len);
}

static uint8_t *one_tensor(size_t *len, uint32_t n_dims, const uint64_t *ne, uint32_t type, uint64_t offset,
                           size_t data_bytes)
{
    gbuild b;
    gbuild_init(&b, 3);
    gbuild_kv_str(&b, "general.architecture", "gemma3");
    gbuild_tensor_info(&b, "blk.0.attn_q.weight", n_dims, ne, type, offset);
    gbuf_zeros(&b.data, data_bytes);
    return gbuild_finish(&b, len);
}

#define REJECT(name, buf, len, n1, n2) do { \
    expect_reject(name, buf, len, n1, n2); \
    corpus_write("bad_" name ".gguf", buf, len); \
    free(buf); \
} while (0)

static void test_malformed_header(void)
{
    size_t len;
    uint8_t *buf = build_rich(&len, 3);
    memcpy(buf, "GGML", 4);
    REJECT("magic", buf, len, "byte 0: header magic", "not a GGUF file");

    buf = build_rich(&len, 1);
    REJECT("version1", buf, len, "byte 4: header version", "1 is not supported");
    buf = build_rich(&len, 0x03000000);
    REJECT("bigendian", buf, len, "header version", "big-endian");

    gbuild b;
    gbuild_init(&b, 3);
    gbuild_kv_u32(&b, "x", 1);
    b.raw_n_kv = true; b.raw_n_kv_value = UINT64_MAX;
    buf = gbuild_finish(&b, &len);
    REJECT("n_kv_huge", buf, len, "byte 16: header n_kv", "18446744073709551615 key/value pairs cannot fit");

    gbuild_init(&b, 3);
    gbuild_kv_u32(&b, "x", 1);
    b.raw_n_tensors = true; b.raw_n_tensors_value = (uint64_t)1 << 63;
    buf = gbuild_finish(&b, &len);
    REJECT("n_tensors_huge", buf, len, "byte 8: header n_tensors", "cannot fit");

    /* A count just small enough to pass the fast check still fails at the
     * first record that is not there. */
    gbuild_init(&b, 3);
    gbuild_kv_str(&b, "general.name", "a long enough name to leave room for a few more records");
    b.n_kv_override = 3;
    buf = gbuild_finish(&b, &len);
    REJECT("n_kv_short", buf, len, "kv[1] key length", "file ends");
}

static void test_malformed_kv(void)
{
    size_t len;
    gbuf r = {0};
    uint8_t *buf;

    /* key length near 2^64 */
    gbuf_u64(&r, UINT64_MAX); gbuf_bytes(&r, "abc", 3);
    buf = one_kv_raw(&len, r.p, r.len); r.len = 0;
    REJECT("key_len_huge", buf, len, "kv[1] key", "string of 18446744073709551615 bytes runs past the end");

    /* empty key */
    gbuf_u64(&r, 0); gbuf_u32(&r, GGUF_U8); gbuf_u8(&r, 1);
    buf = one_kv_raw(&len, r.p, r.len); r.len = 0;
    REJECT("key_empty", buf, len, "kv[1] key", "is empty");

    /* a string value with no end: its length runs past the end of the file */
    gbuf_str(&r, "general.name"); gbuf_u32(&r, GGUF_STRING); gbuf_u64(&r, 1000); gbuf_bytes(&r, "Gemma", 5);
    buf = one_kv_raw(&len, r.p, r.len); r.len = 0;
    REJECT("string_no_end", buf, len, "kv[1] 'general.name' value", "string of 1000 bytes runs past the end");
    gbuf_str(&r, "general.name"); gbuf_u32(&r, GGUF_STRING); gbuf_u64(&r, UINT64_MAX - 7);
    buf = one_kv_raw(&len, r.p, r.len); r.len = 0;
    REJECT("string_len_huge", buf, len, "kv[1] 'general.name' value", "runs past the end");

    /* unknown value type */
    gbuf_str(&r, "x.y"); gbuf_u32(&r, 13); gbuf_u64(&r, 0);
    buf = one_kv_raw(&len, r.p, r.len); r.len = 0;
    REJECT("value_type", buf, len, "kv[1] 'x.y' value type", "13 is not a GGUF value type");

    /* bool that is neither 0 nor 1 */
    gbuf_str(&r, "x.b"); gbuf_u32(&r, GGUF_BOOL); gbuf_u8(&r, 2);
    buf = one_kv_raw(&len, r.p, r.len); r.len = 0;
    REJECT("bool_value", buf, len, "kv[1] 'x.b' value", "bool is 2, not 0 or 1");

    /* array count near 2^64 (and one whose byte size would overflow) */
    gbuf_str(&r, "a"); gbuf_u32(&r, GGUF_ARRAY); gbuf_u32(&r, GGUF_U32); gbuf_u64(&r, UINT64_MAX); gbuf_u32(&r, 1);
    buf = one_kv_raw(&len, r.p, r.len); r.len = 0;
    REJECT("arr_count_huge", buf, len, "kv[1] 'a' array count", "18446744073709551615 elements of type u32");
    gbuf_str(&r, "a"); gbuf_u32(&r, GGUF_ARRAY); gbuf_u32(&r, GGUF_U64); gbuf_u64(&r, ((uint64_t)1 << 61) + 1);
    buf = one_kv_raw(&len, r.p, r.len); r.len = 0;
    REJECT("arr_bytes_overflow", buf, len, "array count", "elements of type u64");
    gbuf_str(&r, "a"); gbuf_u32(&r, GGUF_ARRAY); gbuf_u32(&r, GGUF_STRING); gbuf_u64(&r, UINT64_MAX / 8);
    buf = one_kv_raw(&len, r.p, r.len); r.len = 0;
    REJECT("arr_str_count", buf, len, "array count", "elements of type string");

    /* bad element type */
    gbuf_str(&r, "a"); gbuf_u32(&r, GGUF_ARRAY); gbuf_u32(&r, 99); gbuf_u64(&r, 0);
    buf = one_kv_raw(&len, r.p, r.len); r.len = 0;
    REJECT("arr_elem_type", buf, len, "kv[1] 'a' array element type", "99 is not a GGUF value type");

    /* string element with a length past the end */
    gbuf_str(&r, "tokenizer.ggml.tokens"); gbuf_u32(&r, GGUF_ARRAY); gbuf_u32(&r, GGUF_STRING); gbuf_u64(&r, 2);
    gbuf_str(&r, "a"); gbuf_u64(&r, (uint64_t)1 << 62); gbuf_bytes(&r, "bc", 2);
    buf = one_kv_raw(&len, r.p, r.len); r.len = 0;
    REJECT("arr_str_elem", buf, len, "kv[1] 'tokenizer.ggml.tokens' element 1 string", "runs past the end");

    /* bool element */
    gbuf_str(&r, "a"); gbuf_u32(&r, GGUF_ARRAY); gbuf_u32(&r, GGUF_BOOL); gbuf_u64(&r, 3);
    gbuf_u8(&r, 0); gbuf_u8(&r, 1); gbuf_u8(&r, 9);
    buf = one_kv_raw(&len, r.p, r.len); r.len = 0;
    REJECT("arr_bool_elem", buf, len, "kv[1] 'a' element 2 value", "bool is 9");

    /* nested: inner count past the end, reported with the element path */
    gbuf_str(&r, "n"); gbuf_u32(&r, GGUF_ARRAY); gbuf_u32(&r, GGUF_ARRAY); gbuf_u64(&r, 2);
    gbuf_u32(&r, GGUF_U8); gbuf_u64(&r, 1); gbuf_u8(&r, 5);
    gbuf_u32(&r, GGUF_U16); gbuf_u64(&r, 1000);
    buf = one_kv_raw(&len, r.p, r.len); r.len = 0;
    REJECT("nested_count", buf, len, "kv[1] 'n' element 1 array count", "1000 elements of type u16");

    /* nesting deeper than GGUF_MAX_NEST */
    gbuf_str(&r, "deep"); gbuf_u32(&r, GGUF_ARRAY);
    for (int d = 0; d < GGUF_MAX_NEST + 1; d++) { gbuf_u32(&r, GGUF_ARRAY); gbuf_u64(&r, 1); }
    gbuf_u32(&r, GGUF_U8); gbuf_u64(&r, 0);
    buf = one_kv_raw(&len, r.p, r.len); r.len = 0;
    REJECT("nested_deep", buf, len, "kv[1] 'deep'", "nested more than 8 deep");

    /* duplicate key */
    gbuild b;
    gbuild_init(&b, 3);
    gbuild_kv_str(&b, "general.architecture", "gemma3");
    gbuild_kv_u32(&b, "gemma3.block_count", 1);
    gbuild_kv_u32(&b, "gemma3.block_count", 2);
    buf = gbuild_finish(&b, &len);
    REJECT("dup_key", buf, len, "kv[2] 'gemma3.block_count' key", "duplicates kv[1] at byte");

    /* non-printable key bytes are escaped in the message */
    gbuf_u64(&r, 3); gbuf_bytes(&r, "a\nb", 3); gbuf_u32(&r, 77);
    buf = one_kv_raw(&len, r.p, r.len); r.len = 0;
    REJECT("key_escape", buf, len, "kv[1] 'a\\x0ab' value type", "77");

    /* alignment: not a power of two, zero, wrong type */
    gbuild_init(&b, 3);
    gbuild_kv_u32(&b, "general.alignment", 48);
    buf = gbuild_finish(&b, &len);
    REJECT("align48", buf, len, "kv[0] 'general.alignment' value", "48 is not a power of two");
    gbuild_init(&b, 3);
    gbuild_kv_u32(&b, "general.alignment", 0);
    buf = gbuild_finish(&b, &len);
    REJECT("align0", buf, len, "'general.alignment' value", "0 is not a power of two");
    gbuild_init(&b, 3);
    gbuild_kv_i32(&b, "general.alignment", 32);
    buf = gbuild_finish(&b, &len);
    REJECT("align_type", buf, len, "'general.alignment' value type", "is i32, expected u32");
    free(r.p);
}

static void test_malformed_tensors(void)
{
    size_t len;
    uint8_t *buf;
    uint64_t ne2[2] = { 32, 4 };

    buf = one_tensor(&len, 5, (uint64_t[]){ 1, 1, 1, 1, 1 }, GT_F32, 0, 4);
    REJECT("n_dims5", buf, len, "tensor[0] 'blk.0.attn_q.weight' n_dims", "5 exceeds the maximum of 4");
    gbuild b;
    gbuf r = {0};
    gbuf_str(&r, "t"); gbuf_u32(&r, UINT32_MAX); gbuf_u64(&r, 1); gbuf_u64(&r, 1);
    gbuild_init(&b, 3);
    gbuild_raw_tensor(&b, r.p, r.len);
    r.len = 0;
    buf = gbuild_finish(&b, &len);
    REJECT("n_dims_huge", buf, len, "tensor[0] 't' n_dims", "4294967295 exceeds");

    buf = one_tensor(&len, 2, (uint64_t[]){ 32, 0 }, GT_F32, 0, 0);
    REJECT("dim_zero", buf, len, "tensor[0] 'blk.0.attn_q.weight' ne[1]", "is 0");
    buf = one_tensor(&len, 2, (uint64_t[]){ (uint64_t)1 << 32, (uint64_t)1 << 32 }, GT_F32, 0, 0);
    REJECT("dims_overflow", buf, len, "ne[1]", "overflow 2^63-1");
    buf = one_tensor(&len, 1, (uint64_t[]){ UINT64_MAX }, GT_F32, 0, 0);
    REJECT("dim_huge", buf, len, "ne[0]", "18446744073709551615 makes the element count overflow");
    buf = one_tensor(&len, 2, (uint64_t[]){ (uint64_t)1 << 31, (uint64_t)1 << 31 }, GT_F32, 0, 0);
    REJECT("bytes_overflow", buf, len, "tensor[0] 'blk.0.attn_q.weight' type", "overflow a 64-bit size");

    buf = one_tensor(&len, 2, ne2, 99, 0, 512);
    REJECT("type_unknown", buf, len, "tensor[0] 'blk.0.attn_q.weight' type",
           "unknown ggml type id 99 (supported: F32 F16 BF16 Q8_0 Q4_0 Q4_1 Q5_0 Q5_1 Q4_K Q5_K Q6_K)");
    buf = one_tensor(&len, 2, ne2, 4, 0, 512);   /* removed Q4_2 */
    REJECT("type_removed", buf, len, "type", "unknown ggml type id 4");
    buf = one_tensor(&len, 2, (uint64_t[]){ 100, 2 }, GT_Q4_K, 0, 512);
    REJECT("block_multiple", buf, len, "type", "not a multiple of the Q4_K block size 256");

    buf = one_tensor(&len, 2, ne2, GT_F32, 0, 511);   /* needs 512 bytes */
    REJECT("data_short", buf, len, "tensor[0] 'blk.0.attn_q.weight' offset", "runs past the end of the data section");
    buf = one_tensor(&len, 2, ne2, GT_F32, 1024, 512);
    REJECT("offset_past_end", buf, len, "offset", "data [1024, +512 bytes) runs past the end");
    buf = one_tensor(&len, 2, ne2, GT_F32, UINT64_MAX - 31, 512);   /* aligned, but offset + size wraps */
    REJECT("offset_wrap", buf, len, "offset", "runs past the end");
    buf = one_tensor(&len, 2, ne2, GT_F32, 16, 1024);
    REJECT("misaligned", buf, len, "offset", "16 is not a multiple of the alignment 32");

    /* tensors present but the file ends before the data section */
    gbuild_init(&b, 3);
    gbuild_tensor_info(&b, "t", 1, (uint64_t[]){ 1 }, GT_F32, 0);
    buf = gbuild_finish(&b, &len);
    REJECT("no_data_section", buf, len, "data section start", "past the end of the file");

    /* overlap: b starts inside a */
    gbuild_init(&b, 3);
    gbuild_tensor_at(&b, "a", 1, (uint64_t[]){ 16 }, GT_F32, 0, small_w, 32);
    gbuild_tensor_at(&b, "b", 1, (uint64_t[]){ 8 }, GT_F32, 32, small_w, 32);
    buf = gbuild_finish(&b, &len);
    REJECT("overlap", buf, len, "tensor[1] 'b' offset", "data [32, 64) overlaps tensor[0] 'a' data [0, 64)");
    /* two tensors at the same offset */
    gbuild_init(&b, 3);
    gbuild_tensor_at(&b, "a", 1, (uint64_t[]){ 8 }, GT_F32, 0, small_w, 32);
    gbuild_tensor_at(&b, "b", 1, (uint64_t[]){ 8 }, GT_F32, 0, small_w, 32);
    buf = gbuild_finish(&b, &len);
    REJECT("same_offset", buf, len, "tensor[1] 'b' offset", "overlaps tensor[0] 'a'");

    /* duplicate names, empty name */
    gbuild_init(&b, 3);
    gbuild_tensor(&b, "w", 1, (uint64_t[]){ 8 }, GT_F32, small_w, 32);
    gbuild_tensor(&b, "w", 1, (uint64_t[]){ 8 }, GT_F32, small_w, 32);
    buf = gbuild_finish(&b, &len);
    REJECT("dup_tensor", buf, len, "tensor[1] 'w' name", "duplicates tensor[0] at byte 24");
    buf = one_tensor(&len, 0, NULL, GT_F32, 0, 4);
    gbuild_init(&b, 3);
    gbuild_tensor(&b, "", 1, (uint64_t[]){ 8 }, GT_F32, small_w, 32);
    free(buf);
    buf = gbuild_finish(&b, &len);
    REJECT("tensor_name_empty", buf, len, "tensor[0] name", "is empty");
    /* name length near 2^64 */
    gbuf_u64(&r, UINT64_MAX - 1); gbuf_u32(&r, 1); gbuf_zeros(&r, 24);
    gbuild_init(&b, 3);
    gbuild_raw_tensor(&b, r.p, r.len);
    free(r.p);
    buf = gbuild_finish(&b, &len);
    REJECT("tensor_name_huge", buf, len, "tensor[0] name", "runs past the end");

    /* a 0-dim tensor is a scalar: accepted */
    buf = one_tensor(&len, 0, NULL, GT_F32, 0, 4);
    gguf_file *g = NULL;
    gc_err err = {{0}};
    uint8_t *copy;
    CHECK(open_copy(&g, buf, len, &err, &copy) == 0 && g->tensors[0].n_elems == 1 && g->tensors[0].n_bytes == 4,
          "scalar tensor: %s", err.msg);
    gguf_close(g);
    free(copy);
    free(buf);
}

/* The committed seed corpus: bad_* rejected with a located message, good_* accepted. */
static void test_seed_corpus(void)
{
    char list[512];
    snprintf(list, sizeof list, "ls %s/gguf 2>/dev/null", data_dir());
    FILE *ls = popen(list, "r");
    CHECK(ls != NULL, "popen");
    if (!ls) return;
    char name[256];
    int n_bad = 0, n_good = 0;
    while (fgets(name, sizeof name, ls)) {
        name[strcspn(name, "\n")] = 0;
        char path[800];
        snprintf(path, sizeof path, "%s/gguf/%s", data_dir(), name);
        gguf_file *g = NULL;
        gc_err err = {{0}};
        int rc = gguf_open(&g, path, &err);
        if (!strncmp(name, "bad_", 4)) {
            n_bad++;
            CHECK(rc != 0 && strstr(err.msg, path) && strstr(err.msg, "byte "), "%s: rc %d msg %s", name, rc, err.msg);
        } else if (!strncmp(name, "good_", 5)) {
            n_good++;
            CHECK(rc == 0, "%s: %s", name, err.msg);
        }
        gguf_close(g);
    }
    pclose(ls);
    CHECK(n_bad >= 20 && n_good >= 2, "seed corpus has %d bad and %d good files", n_bad, n_good);
}

/* Re-serializes a parsed file with gguf_build.h: same records in the same
 * order, tensor data at the same offsets. Returns the new bytes. */
static uint8_t *rewrite(const gguf_file *g, size_t *len)
{
    gbuild b;
    gbuild_init(&b, g->version);
    for (uint64_t i = 0; i < g->n_kv; i++) {
        const gguf_kv *kv = &g->kv[i];
        char key[256];
        snprintf(key, sizeof key, "%.*s", (int)kv->key.len, kv->key.ptr);
        gbuf *o = gbuild_kv_begin(&b, key, kv->type);
        switch (kv->type) {
        case GGUF_STRING: gbuf_u64(o, kv->v.s.len); gbuf_bytes(o, kv->v.s.ptr, kv->v.s.len); break;
        case GGUF_F32: gbuf_f32(o, (float)kv->v.f); break;
        case GGUF_F64: gbuf_f64(o, kv->v.f); break;
        case GGUF_ARRAY: {
            gbuf_u32(o, kv->arr_type);
            gbuf_u64(o, kv->arr_count);
            if (kv->arr_type == GGUF_STRING) {   /* element by element, through the iterator */
                gguf_str_iter it = gguf_str_iter_begin(kv);
                gguf_str s;
                while (gguf_str_iter_next(&it, &s)) { gbuf_u64(o, s.len); gbuf_bytes(o, s.ptr, s.len); }
            } else {
                gbuf_bytes(o, kv->arr_data, kv->arr_bytes);
            }
            break;
        }
        default: {   /* integers and bool: the converted value, back to its size */
            uint64_t u = kv->v.u;
            gbuf_bytes(o, &u, gguf_type_size(kv->type));
        }
        }
        if (!strcmp(key, "general.alignment")) b.alignment = g->alignment;
    }
    for (uint64_t i = 0; i < g->n_tensors; i++) {
        const gguf_tensor *t = &g->tensors[i];
        char name[256];
        snprintf(name, sizeof name, "%.*s", (int)t->name.len, t->name.ptr);
        gbuild_tensor_at(&b, name, t->n_dims, t->ne, t->type, t->offset, t->data, t->n_bytes);
    }
    return gbuild_finish(&b, len);
}

/* Every generated and committed test model parses, and writing back what was
 * parsed gives the same bytes (trailing padding aside). */
static void test_model_roundtrip(void)
{
    const char *models = getenv("MODELS");
    char cmd[600];
    snprintf(cmd, sizeof cmd, "ls %s/*.gguf tests/models/*.gguf 2>/dev/null", models ? models : "build/models");
    FILE *ls = popen(cmd, "r");
    CHECK(ls != NULL, "popen");
    if (!ls) return;
    char path[512];
    int n = 0;
    while (fgets(path, sizeof path, ls)) {
        path[strcspn(path, "\n")] = 0;
        gguf_file *g = NULL;
        gc_err err = {{0}};
        if (gguf_open(&g, path, &err)) { CHECK(0, "%s", err.msg); continue; }
        size_t len;
        uint8_t *re = rewrite(g, &len);
        int same = len <= g->size && memcmp(re, g->map, len) == 0;
        for (uint64_t i = len; same && i < g->size; i++) same = g->map[i] == 0;
        CHECK(same, "%s: rewritten bytes differ (%zu vs %llu bytes)", path, len, (unsigned long long)g->size);
        free(re);
        gguf_close(g);
        n++;
    }
    pclose(ls);
    CHECK(n >= 8, "round-tripped %d models (generated models missing? run make models)", n);
}

/* Resident bytes of the mapping that holds address p, or 0: from
 * /proc/self/smaps, which walks the page tables (the process's own counters
 * lag, and its other memory moves by more than a tensor). */
static uint64_t rss_of_mapping(const void *p)
{
    FILE *f = fopen("/proc/self/smaps", "r");
    char line[512];
    unsigned long long kb = 0, lo, hi;
    int in = 0;
    while (f && fgets(line, sizeof line, f)) {
        if (sscanf(line, "%llx-%llx ", &lo, &hi) == 2)   /* a mapping's first line (no field is "x-y") */
            in = (uintptr_t)p >= lo && (uintptr_t)p < hi;
        else if (in && sscanf(line, "Rss: %llu kB", &kb) == 1)
            break;
    }
    if (f) fclose(f);
    return (uint64_t)kb << 10;
}

/* gguf_drop_pages: a file mapping's pages of a tensor leave the process and
 * come back unchanged when read again; an in-memory file's bytes (the
 * caller's own) are left alone. */
static void test_drop_pages(void)
{
    const char *path = "tests/models/g2-quant-Q8_0.gguf";
    gguf_file *g = NULL;
    gc_err err = {{0}};
    CHECK(gguf_open(&g, path, &err) == 0, "%s", err.msg);
    if (!g) return;
    const gguf_tensor *t = gguf_find_tensor(g, "token_embd.weight");
    CHECK(t && t->file_mapped && t->n_bytes >= 256 << 10, "%s: token_embd of %llu bytes", path,
          t ? (unsigned long long)t->n_bytes : 0ull);
    if (t && t->n_bytes >= 256 << 10) {
        uint8_t *copy = malloc(t->n_bytes);
        memcpy(copy, t->data, t->n_bytes);    /* every page of it resident */
        uint64_t before = rss_of_mapping(t->data);
        gguf_drop_pages(t, 0, t->n_bytes);
        uint64_t after = rss_of_mapping(t->data);
        CHECK(before >= after + t->n_bytes / 2, "dropping %llu bytes: resident %llu -> %llu",
              (unsigned long long)t->n_bytes, (unsigned long long)before, (unsigned long long)after);
        CHECK(memcmp(copy, t->data, t->n_bytes) == 0, "the dropped pages read back differently");
        gguf_drop_pages(t, t->n_bytes, 1);    /* past the end: nothing */
        free(copy);
    }
    gguf_close(g);

    /* The same file in page-aligned heap memory (MADV_DONTNEED would zero it). */
    FILE *f = fopen(path, "rb");
    long len = -1;
    if (f && fseek(f, 0, SEEK_END) == 0) len = ftell(f);
    void *mem = NULL;
    uint8_t *orig = len > 0 ? malloc((size_t)len) : NULL;
    int ok = orig && !posix_memalign(&mem, 4096, (size_t)len) && fseek(f, 0, SEEK_SET) == 0 &&
             fread(mem, 1, (size_t)len, f) == (size_t)len;
    if (f) fclose(f);
    CHECK(ok, "%s: cannot read it", path);
    if (ok) {
        memcpy(orig, mem, (size_t)len);
        CHECK(gguf_open_memory(&g, mem, (uint64_t)len, path, &err) == 0, "%s", err.msg);
        for (uint64_t i = 0; g && i < g->n_tensors; i++) {
            CHECK(!g->tensors[i].file_mapped, "an in-memory tensor marked file-mapped");
            gguf_drop_pages(&g->tensors[i], 0, g->tensors[i].n_bytes);
        }
        CHECK(memcmp(mem, orig, (size_t)len) == 0, "gguf_drop_pages changed an in-memory file");
        gguf_close(g);
    }
    free(mem);
    free(orig);
}

/* The real model ($REAL_MODEL, which make test installs; required under CI=true). */
static void test_real_model(void)
{
    const char *path = getenv("REAL_MODEL");
    if (!path || !*path || access(path, R_OK)) {
        test_skip_ci("test_real_model (the real Gemma 3 270M's header)", "REAL_MODEL is not a readable file");
        return;
    }
    gguf_file *g = NULL;
    gc_err err = {{0}};
    int rc = gguf_open(&g, path, &err);
    CHECK(rc == 0, "%s", err.msg);
    if (rc) return;
    gguf_str s;
    CHECK(gguf_get_str(g, "general.architecture", &s, &err) == 0 && gguf_str_eq(s, "gemma3"), "arch");
    CHECK(g->n_tensors == 236 && g->n_kv == 33, "counts");
    const gguf_tensor *t = gguf_find_tensor(g, "token_embd.weight");
    CHECK(t && t->type == GT_Q8_0 && t->ne[0] == 640 && t->ne[1] == 262144, "token_embd");
    gguf_close(g);
}

int main(void)
{
    TEST_RUN(test_roundtrip);
    TEST_RUN(test_open_file);
    TEST_RUN(test_drop_pages);
    TEST_RUN(test_alignment);
    TEST_RUN(test_truncation);
    TEST_RUN(test_mutations);
    TEST_RUN(test_malformed_header);
    TEST_RUN(test_malformed_kv);
    TEST_RUN(test_malformed_tensors);
    TEST_RUN(test_seed_corpus);
    TEST_RUN(test_model_roundtrip);
    TEST_RUN(test_real_model);
    return test_summary();
}
