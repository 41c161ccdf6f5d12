/* test_quant.c: the ggml type table, the f16/bf16 conversions and every
 * reference dequantizer against gguf-py's gguf.quants.dequantize.
 *
 * Golden files tests/data/quant/<TYPE>.bin come from tools/make_quant_goldens.py
 * (random valid blocks + gguf-py's output); the comparison is bit for bit.
 * The f16 conversions are checked exhaustively against the compiler's
 * _Float16 (IEEE conversions in libgcc) and an ldexp-based formula.
 */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "model/quant.h"
#include "tests/test.h"

static const char *data_dir(void)
{
    const char *d = getenv("GC_TESTDATA");
    return d ? d : "tests/data";
}

static uint32_t fbits(float f) { uint32_t u; memcpy(&u, &f, 4); return u; }
static float bitsf(uint32_t u) { float f; memcpy(&f, &u, 4); return f; }

static void test_type_table(void)
{
    const quant_info *qi = quant_type_info(GT_Q4_K);
    CHECK(qi && qi->block_elems == 256 && qi->block_bytes == 144 && qi->supported, "Q4_K info");
    CHECK_STR(quant_type_name(GT_Q6_K), "Q6_K");
    CHECK_STR(quant_type_name(GT_BF16), "BF16");
    CHECK_STR(quant_type_name(GT_IQ2_XXS), "IQ2_XXS");
    qi = quant_type_info(GT_Q2_K);
    CHECK(qi && qi->block_bytes == 84 && !qi->supported, "Q2_K known, not supported");
    qi = quant_type_info(GT_Q8_1);
    CHECK(qi && qi->block_bytes == 40 && qi->block_elems == 32, "Q8_1 size");
    qi = quant_type_info(GT_IQ4_XS);
    CHECK(qi && qi->block_bytes == 136, "IQ4_XS size");
    qi = quant_type_info(GT_Q1_0);
    CHECK(qi && qi->block_bytes == 18 && qi->block_elems == 128, "Q1_0 size");
    /* removed ids and ids past the end are unknown */
    uint32_t unknown[] = { 4, 5, 31, 32, 33, 36, 37, 38, 43, 1000, UINT32_MAX };
    for (size_t i = 0; i < sizeof unknown / sizeof *unknown; i++)
        CHECK(quant_type_info(unknown[i]) == NULL, "id %u should be unknown", unknown[i]);
    CHECK_STR(quant_type_name(31), "type 31");
    CHECK_STR(quant_type_name(UINT32_MAX), "type 4294967295");
    CHECK_STR(quant_supported_list(), "F32 F16 BF16 Q8_0 Q4_0 Q4_1 Q5_0 Q5_1 Q4_K Q5_K Q6_K");
    int n_supported = 0;
    for (uint32_t t = 0; t < 64; t++) n_supported += quant_type_supported(t);
    CHECK(n_supported == 11, "%d supported types", n_supported);
}

static void test_row_bytes(void)
{
    gc_err err = {0};
    uint64_t b = 0;
    CHECK(quant_row_bytes(GT_Q4_K, 512, &b, &err) == 0 && b == 288, "Q4_K 512 -> %llu", (unsigned long long)b);
    CHECK(quant_row_bytes(GT_F32, 640, &b, &err) == 0 && b == 2560, "F32 640");
    CHECK(quant_row_bytes(GT_Q5_0, 640, &b, &err) == 0 && b == 440, "Q5_0 640");
    CHECK(quant_row_bytes(GT_Q6_K, 0, &b, &err) == 0 && b == 0, "empty row");
    CHECK(quant_row_bytes(GT_Q4_K, 640, &b, &err) != 0, "640 is no multiple of 256");
    CHECK_CONTAINS(err.msg, "Q4_K block size 256");
    CHECK_CONTAINS(err.msg, "640");
    CHECK(quant_row_bytes(99, 32, &b, &err) != 0, "unknown type");
    CHECK_CONTAINS(err.msg, "unknown ggml type id 99");
    /* 2^64 - 2^8 values of F32: a whole number of blocks, but 4 bytes each overflow */
    CHECK(quant_row_bytes(GT_F32, UINT64_MAX - 255, &b, &err) != 0, "F32 overflow");
    CHECK_CONTAINS(err.msg, "overflow");
    /* Q8_0: (2^64-32)/32 blocks * 34 bytes overflows too */
    CHECK(quant_row_bytes(GT_Q8_0, UINT64_MAX - 31, &b, &err) != 0, "Q8_0 overflow");
    /* just fits: blocks * 34 <= 2^64-1 */
    uint64_t blocks = UINT64_MAX / 34;
    CHECK(quant_row_bytes(GT_Q8_0, blocks * 32, &b, &err) == 0 && b == blocks * 34, "largest Q8_0 row");
}

/* Loads one golden file; returns 0 on success. */
static int load_golden(const char *name, uint32_t *type, uint32_t *n_blocks, uint32_t *belems,
                       uint32_t *bbytes, uint8_t **blocks, float **expected)
{
    char path[512];
    snprintf(path, sizeof path, "%s/quant/%s.bin", data_dir(), name);
    FILE *f = fopen(path, "rb");
    if (!f) { fprintf(stderr, "cannot open %s\n", path); return -1; }
    char magic[4];
    uint32_t h[4];
    int rc = -1;
    *blocks = NULL; *expected = NULL;
    if (fread(magic, 1, 4, f) != 4 || memcmp(magic, "QGLD", 4) || fread(h, 4, 4, f) != 4) goto out;
    *type = h[0]; *n_blocks = h[1]; *belems = h[2]; *bbytes = h[3];
    if (*n_blocks == 0 || *n_blocks > 100000 || *belems > 256 || *bbytes > 512) goto out;
    size_t nb = (size_t)*n_blocks * *bbytes, ne = (size_t)*n_blocks * *belems;
    *blocks = malloc(nb + 1);
    *expected = malloc(ne * sizeof(float));
    if (!*blocks || !*expected) goto out;
    if (fread(*blocks, 1, nb, f) != nb || fread(*expected, sizeof(float), ne, f) != ne) goto out;
    rc = 0;
out:
    if (rc) fprintf(stderr, "bad golden file %s\n", path);
    fclose(f);
    return rc;
}

static void test_goldens(void)
{
    const char *names[] = { "F32", "F16", "BF16", "Q8_0", "Q4_0", "Q4_1", "Q5_0", "Q5_1", "Q4_K", "Q5_K", "Q6_K" };
    for (size_t t = 0; t < sizeof names / sizeof *names; t++) {
        uint32_t type = 0, n_blocks = 0, belems = 0, bbytes = 0;
        uint8_t *blocks = NULL;
        float *expected = NULL;
        if (load_golden(names[t], &type, &n_blocks, &belems, &bbytes, &blocks, &expected)) {
            CHECK(0, "golden %s missing", names[t]);
            free(blocks); free(expected);
            continue;
        }
        const quant_info *qi = quant_type_info(type);
        CHECK(qi && !strcmp(qi->name, names[t]) && qi->block_elems == belems && qi->block_bytes == bbytes,
              "%s: table agrees with gguf-py's sizes (%u, %u)", names[t], belems, bbytes);
        if (!qi) { free(blocks); free(expected); continue; }
        uint64_t n = (uint64_t)n_blocks * belems;
        float *got = malloc(n * sizeof(float));
        int rc = quant_dequant_row(type, blocks, got, n);
        CHECK(rc == 0, "%s dequant rc %d", names[t], rc);
        uint64_t mismatches = 0, first = 0;
        for (uint64_t i = 0; i < n; i++)
            if (fbits(got[i]) != fbits(expected[i])) { if (!mismatches++) first = i; }
        CHECK(mismatches == 0, "%s: %llu of %llu values differ, first at %llu: got %.9g want %.9g", names[t],
              (unsigned long long)mismatches, (unsigned long long)n, (unsigned long long)first,
              got[first], expected[first]);
        /* Same blocks at an odd address: no alignment may be assumed. */
        size_t nb = (size_t)n_blocks * bbytes;
        uint8_t *shifted = malloc(nb + 1);
        memcpy(shifted + 1, blocks, nb);
        float *got2 = malloc(n * sizeof(float));
        CHECK(quant_dequant_row(type, shifted + 1, got2, n) == 0, "%s unaligned", names[t]);
        CHECK(memcmp(got, got2, n * sizeof(float)) == 0, "%s: unaligned source gives other values", names[t]);
        /* Block by block equals the whole row. */
        for (uint32_t b = 0; b < n_blocks; b++)
            quant_dequant_row(type, blocks + (size_t)b * bbytes, got2 + (size_t)b * belems, belems);
        CHECK(memcmp(got, got2, n * sizeof(float)) == 0, "%s: per-block differs from whole row", names[t]);
        /* A count that is not a whole number of blocks is refused, dst untouched. */
        if (belems > 1) {
            got2[0] = 12345.0f;
            CHECK(quant_dequant_row(type, blocks, got2, belems - 1) == -1, "%s partial block", names[t]);
            CHECK(got2[0] == 12345.0f, "%s: dst written on refusal", names[t]);
        }
        free(shifted); free(got2); free(got); free(blocks); free(expected);
    }
    float dst[256];
    uint8_t zero[256] = {0};
    CHECK(quant_dequant_row(GT_Q2_K, zero, dst, 256) == -1, "Q2_K has no dequantizer");
    CHECK(quant_dequant_row(77, zero, dst, 32) == -1, "unknown type");
}

/* Hand-made blocks with known values: a readable check beside the goldens. */
static void test_known_blocks(void)
{
    float y[256];
    /* Q8_0, d = 0.5 (0x3800): qs[j] = j - 16 -> (j - 16) / 2 */
    uint8_t q8[34] = { 0x00, 0x38 };
    for (int j = 0; j < 32; j++) q8[2 + j] = (uint8_t)(int8_t)(j - 16);
    quant_dequant_row(GT_Q8_0, q8, y, 32);
    CHECK(y[0] == -8.0f && y[31] == 7.5f && y[16] == 0.0f, "Q8_0 %g %g %g", y[0], y[31], y[16]);
    /* Q4_0, d = 2 (0x4000): byte 0x1F -> low 15-8=7 -> 14, high 1-8=-7 -> -14 */
    uint8_t q4[18] = { 0x00, 0x40 };
    q4[2] = 0x1F;
    quant_dequant_row(GT_Q4_0, q4, y, 32);
    CHECK(y[0] == 14.0f && y[16] == -14.0f && y[1] == -16.0f, "Q4_0 %g %g %g", y[0], y[16], y[1]);
    /* Q5_0: qh bit 16 sets the 5th bit of value 16 (high nibble of qs[0]) */
    uint8_t q5[22] = { 0x00, 0x3c, 0x00, 0x00, 0x01, 0x00 };  /* d = 1, qh = 1 << 16 */
    quant_dequant_row(GT_Q5_0, q5, y, 32);
    CHECK(y[16] == 0.0f && y[0] == -16.0f, "Q5_0 %g %g", y[16], y[0]);
    /* Q6_K: d = 1, scales all 1, every q = 0 -> all -32 */
    uint8_t q6[210] = {0};
    for (int i = 0; i < 16; i++) q6[192 + i] = 1;
    q6[208] = 0x00; q6[209] = 0x3c;
    quant_dequant_row(GT_Q6_K, q6, y, 256);
    CHECK(y[0] == -32.0f && y[255] == -32.0f, "Q6_K %g %g", y[0], y[255]);
    /* BF16 is the top half of an f32 */
    uint8_t bf[2] = { 0xC0, 0x3F };   /* 0x3FC0 -> 1.5 */
    quant_dequant_row(GT_BF16, bf, y, 1);
    CHECK(y[0] == 1.5f, "BF16 %g", y[0]);
}

/* Reference value of a half from its fields, computed in double. */
static double f16_ref(uint16_t h)
{
    int e = (h >> 10) & 31, m = h & 1023;
    double v = e == 0 ? ldexp(m, -24) : ldexp(1024 + m, e - 25);
    return (h & 0x8000) ? -v : v;
}

static void test_f16_exhaustive(void)
{
    uint32_t bad_hw = 0, bad_ref = 0, bad_trip = 0, bad_nan = 0, first = 0;
    for (uint32_t i = 0; i < 65536; i++) {
        uint16_t h = (uint16_t)i;
        float f = quant_f16_to_f32(h);
        _Float16 hf;
        memcpy(&hf, &h, 2);
        float hw = (float)hf;
        int is_nan = ((h >> 10) & 31) == 31 && (h & 1023);
        if (is_nan) {
            /* payload and sign kept: sign | exp all ones | mant << 13 */
            uint32_t want = ((uint32_t)(h & 0x8000) << 16) | 0x7f800000u | ((uint32_t)(h & 1023) << 13);
            if (fbits(f) != want || !isnan(hw)) { if (!bad_nan++) first = i; }
            uint16_t back = quant_f32_to_f16(f);
            /* back to a quiet NaN of the same sign */
            if ((back & 0x7e00) != 0x7e00 || (back & 0x8000) != (h & 0x8000)) { if (!bad_nan++) first = i; }
            continue;
        }
        if (fbits(f) != fbits(hw)) { if (!bad_hw++) first = i; }
        if (((h >> 10) & 31) == 31) {
            if (!isinf(f) || (f < 0) != !!(h & 0x8000)) { if (!bad_ref++) first = i; }
        } else if (fbits(f) != fbits((float)f16_ref(h))) { if (!bad_ref++) first = i; }
        if (quant_f32_to_f16(f) != h) { if (!bad_trip++) first = i; }
    }
    CHECK(bad_hw == 0, "%u halves differ from _Float16, first 0x%04x", bad_hw, first);
    CHECK(bad_ref == 0, "%u halves differ from the ldexp formula, first 0x%04x", bad_ref, first);
    CHECK(bad_trip == 0, "%u halves do not round trip, first 0x%04x", bad_trip, first);
    CHECK(bad_nan == 0, "%u NaN halves handled wrongly, first 0x%04x", bad_nan, first);
    CHECK(fbits(quant_f16_to_f32(0x8000)) == 0x80000000u, "-0 keeps its sign");
    CHECK(quant_f16_to_f32(0x0001) == ldexpf(1.0f, -24), "smallest subnormal");
    CHECK(quant_f16_to_f32(0x7bff) == 65504.0f, "largest finite");
}

static uint16_t hw_f16(float f)
{
    _Float16 h = (_Float16)f;
    uint16_t u;
    memcpy(&u, &h, 2);
    return u;
}

static void test_f32_to_f16_rounding(void)
{
    /* Midpoints between neighbouring halves (exact in f32) go to the even one;
     * one f32 ulp either side goes to the nearer one. Covers subnormals and
     * the step to infinity (65504 | 65536). */
    uint32_t bad = 0, first = 0;
    for (uint32_t i = 0; i < 0x7c00; i++) {
        for (int s = 0; s < 2; s++) {
            uint16_t a = (uint16_t)(i | (s ? 0x8000 : 0)), b = (uint16_t)(a + 1);
            double mid = (f16_ref(a) + (i + 1 == 0x7c00 ? (s ? -65536.0 : 65536.0) : f16_ref(b))) / 2;
            float fm = (float)mid;
            uint16_t even = (a & 1) ? b : a;
            float lo = nextafterf(fm, 0.0f), hi = nextafterf(fm, s ? -INFINITY : INFINITY);
            if (quant_f32_to_f16(fm) != even || quant_f32_to_f16(lo) != a || quant_f32_to_f16(hi) != b ||
                hw_f16(fm) != even) { if (!bad++) first = a; }
        }
    }
    CHECK(bad == 0, "%u midpoints rounded wrongly, first below 0x%04x", bad, first);
    CHECK(quant_f32_to_f16(65520.0f) == 0x7c00, "65520 rounds to inf");
    CHECK(quant_f32_to_f16(65519.996f) == 0x7bff, "just below rounds to 65504");
    CHECK(quant_f32_to_f16(1e30f) == 0x7c00 && quant_f32_to_f16(-1e30f) == 0xfc00, "overflow to inf");
    CHECK(quant_f32_to_f16(ldexpf(1.0f, -25)) == 0, "2^-25 ties to even zero");
    CHECK(quant_f32_to_f16(nextafterf(ldexpf(1.0f, -25), 1.0f)) == 1, "just above 2^-25");
    CHECK(quant_f32_to_f16(1e-30f) == 0 && quant_f32_to_f16(-1e-30f) == 0x8000, "underflow keeps sign");
    CHECK(quant_f32_to_f16(bitsf(0x00000001)) == 0, "f32 subnormal");
    /* Random f32 bit patterns against the compiler's conversion. */
    test_rng_state = 0x1234567;
    uint32_t bad_rand = 0, first_rand = 0;
    for (int i = 0; i < 2000000; i++) {
        uint32_t u = (uint32_t)test_rand_u64();
        /* Bias half the samples into the half-precision exponent range. */
        if (i & 1) u = (u & 0x80ffffffu) | ((uint32_t)(96 + (u >> 24) % 48) << 23);
        float f = bitsf(u);
        if (isnan(f)) continue;
        if (quant_f32_to_f16(f) != hw_f16(f)) { if (!bad_rand++) first_rand = u; }
    }
    CHECK(bad_rand == 0, "%u random floats differ from _Float16, first 0x%08x", bad_rand, first_rand);
    CHECK(isnan(quant_f16_to_f32(quant_f32_to_f16(NAN))), "NaN stays NaN");
    CHECK(quant_bf16_to_f32(0x3f80) == 1.0f && fbits(quant_bf16_to_f32(0xffc1)) == 0xffc10000u, "bf16");
}

int main(void)
{
    TEST_RUN(test_type_table);
    TEST_RUN(test_row_bytes);
    TEST_RUN(test_goldens);
    TEST_RUN(test_known_blocks);
    TEST_RUN(test_f16_exhaustive);
    TEST_RUN(test_f32_to_f16_rounding);
    return test_summary();
}
