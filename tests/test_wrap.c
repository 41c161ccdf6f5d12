/* test_wrap.c: UTF-8 decoding (base/utf8), display widths and word wrapping (render/wrap). */
#include <locale.h>
#include <stdlib.h>
#include <string.h>

#include "base/utf8.h"
#include "render/wrap.h"
#include "tests/test.h"

/* Rows of a layout joined with '|', for compact expectations. */
static const char *rows_str(const wrap_text *t)
{
    static char out[4096];
    size_t k = 0;
    for (size_t r = 0; r < t->nrows; r++) {
        if (r) out[k++] = '|';
        k += wrap_row_text(t, r, out + k, sizeof out - k);
    }
    out[k] = 0;
    return out;
}

static const char *wrap1(const char *s, int width, int hard)
{
    static wrap_text t;
    wrap_text_reset(&t);
    wrap_run run = { s, strlen(s), 0 };
    wrap_para p = { .runs = &run, .nruns = 1, .width = width, .hard = hard };
    CHECK(wrap_para_layout(&p, &t) >= 1, "layout of \"%s\" failed", s);
    return rows_str(&t);
}

static int row_cols(const char *s, int width, size_t row)
{
    wrap_text t = {0};
    wrap_run run = { s, strlen(s), 0 };
    wrap_para p = { .runs = &run, .nruns = 1, .width = width };
    wrap_para_layout(&p, &t);
    int c = row < t.nrows ? t.rows[row].cols : -1;
    wrap_text_free(&t);
    return c;
}

static void test_decode(void)
{
    uint32_t cp;
    CHECK(utf8_decode_lossy("A", 1, &cp) == 1 && cp == 'A', "ascii");
    CHECK(utf8_decode_lossy("\xC3\xA9", 2, &cp) == 2 && cp == 0xE9, "2-byte");
    CHECK(utf8_decode_lossy("\xE6\x97\xA5", 3, &cp) == 3 && cp == 0x65E5, "3-byte");
    CHECK(utf8_decode_lossy("\xF0\x9F\x98\x80", 4, &cp) == 4 && cp == 0x1F600, "4-byte");
    CHECK(utf8_decode_lossy("\x80", 1, &cp) == 1 && cp == 0xFFFD, "lone continuation");
    CHECK(utf8_decode_lossy("\xC0\x80", 2, &cp) == 1 && cp == 0xFFFD, "overlong NUL");
    CHECK(utf8_decode_lossy("\xE0\x80\xAF", 3, &cp) == 1 && cp == 0xFFFD, "overlong slash");
    CHECK(utf8_decode_lossy("\xED\xA0\x80", 3, &cp) == 1 && cp == 0xFFFD, "surrogate");
    CHECK(utf8_decode_lossy("\xF4\x90\x80\x80", 4, &cp) == 1 && cp == 0xFFFD, "above U+10FFFF");
    CHECK(utf8_decode_lossy("\xE6\x97", 2, &cp) == 1 && cp == 0xFFFD, "truncated");
    CHECK(utf8_decode_lossy("\xE6\x41\xA5", 3, &cp) == 1 && cp == 0xFFFD, "bad continuation");
    CHECK(utf8_decode_lossy("", 0, &cp) == 0, "empty");
    char buf[4];
    CHECK(utf8_encode(0x1F600, buf) == 4 && !memcmp(buf, "\xF0\x9F\x98\x80", 4), "encode 4");
    CHECK(utf8_encode(0x241B, buf) == 3 && !memcmp(buf, "\xE2\x90\x9B", 3), "encode 3");
}

static void test_partial_tail(void)
{
    CHECK(utf8_partial_tail("abc\xE6\x97", 5) == 2, "2 of 3");
    CHECK(utf8_partial_tail("abc\xE6", 4) == 1, "1 of 3");
    CHECK(utf8_partial_tail("abc\xE6\x97\xA5", 6) == 0, "complete");
    CHECK(utf8_partial_tail("\xF0\x9F\x98", 3) == 3, "3 of 4");
    CHECK(utf8_partial_tail("\xED\xA0", 2) == 0, "surrogate start is not a partial");
    CHECK(utf8_partial_tail("a\x80", 2) == 0, "stray continuation");
    CHECK(utf8_partial_tail("abc", 3) == 0, "ascii");
    CHECK(utf8_partial_tail("", 0) == 0, "empty");
}

static void test_widths(void)
{
    CHECK(wrap_cp_width('a') == 1, "a");
    CHECK(wrap_cp_width(0x65E5) == 2, "CJK");
    CHECK(wrap_cp_width(0x0301) == 0, "combining acute");
    CHECK(wrap_cp_width(0x1F600) == 2, "emoji");
    CHECK(wrap_cp_width(0x241B) == 1, "control picture");
    CHECK(wrap_cp_width(0x1B) == 1, "raw ESC counts as its symbol");
    CHECK(wrap_cp_width(0xFF21) == 2, "fullwidth A");
    CHECK(wrap_cp_width(0x200D) == 0, "ZWJ");
    CHECK(wrap_str_width("\xE6\x97\xA5\xE6\x9C\xAC\xE8\xAA\x9E" "abc", 12) == 9, "mixed");
    CHECK(wrap_str_width("e\xCC\x81", 3) == 1, "e + combining");
    CHECK(wrap_str_width("", 0) == 0, "empty");
}

static void test_fit(void)
{
    char out[64];
    CHECK(wrap_fit("hello", 5, 5, out, sizeof out) == 5, "exact fit");
    CHECK_STR(out, "hello");
    CHECK(wrap_fit("hello world", 11, 5, out, sizeof out) == 5, "cut");
    CHECK_STR(out, "hell\xE2\x80\xA6");
    CHECK(wrap_fit("\xE6\x97\xA5\xE6\x9C\xAC\xE8\xAA\x9E", 9, 5, out, sizeof out) == 5, "wide cut");
    CHECK_STR(out, "\xE6\x97\xA5\xE6\x9C\xAC\xE2\x80\xA6");
    CHECK(wrap_fit("\xE6\x97\xA5\xE6\x9C\xAC\xE8\xAA\x9E", 9, 4, out, sizeof out) == 3, "wide cut leaves a gap");
    CHECK_STR(out, "\xE6\x97\xA5\xE2\x80\xA6");
    CHECK(wrap_fit("abc", 3, 0, out, sizeof out) == 0 && out[0] == 0, "zero columns");
    CHECK(wrap_fit("abcdef", 6, 10, out, 4) == 3, "small buffer");
    CHECK_STR(out, "abc");
}

static void test_word_wrap(void)
{
    CHECK_STR(wrap1("the quick brown fox", 10, 0), "the quick|brown fox");
    CHECK_STR(wrap1("abcde fghij", 5, 0), "abcde|fghij");
    CHECK_STR(wrap1("abcde fghij", 11, 0), "abcde fghij");
    CHECK_STR(wrap1("abcde fghij", 10, 0), "abcde|fghij");
    CHECK_STR(wrap1("abcdefghijkl", 5, 0), "abcde|fghij|kl");
    CHECK_STR(wrap1("ab abcdefghijkl", 5, 0), "ab|abcde|fghij|kl");
    CHECK_STR(wrap1("abcdefghij", 5, 0), "abcde|fghij");
    CHECK_STR(wrap1("", 5, 0), "");
    CHECK_STR(wrap1("   x y", 4, 0), "   x|y");
    CHECK_STR(wrap1("ab   ", 10, 0), "ab");
    CHECK_STR(wrap1("a  b", 10, 0), "a  b");
    CHECK_STR(wrap1("a     b", 3, 0), "a|b");
    CHECK_STR(wrap1("a\tb", 20, 0), "a       b");
    CHECK(row_cols("a\tb", 20, 0) == 9, "tab to column 8");
}

static void test_wide_and_combining(void)
{
    /* "a日本" at 4 columns: 本 would straddle the edge, so it moves down. */
    CHECK_STR(wrap1("a\xE6\x97\xA5\xE6\x9C\xAC", 4, 0), "a\xE6\x97\xA5|\xE6\x9C\xAC");
    CHECK(row_cols("a\xE6\x97\xA5\xE6\x9C\xAC", 4, 0) == 3, "row ends one short");
    /* CJK without spaces breaks between characters, at 7 columns 3 per row. */
    CHECK_STR(wrap1("\xE6\x97\xA5\xE6\x9C\xAC\xE8\xAA\x9E\xE3\x81\xAE\xE3\x83\x86\xE3\x82\xAD\xE3\x82\xB9\xE3\x83\x88", 7, 0),
              "\xE6\x97\xA5\xE6\x9C\xAC\xE8\xAA\x9E|\xE3\x81\xAE\xE3\x83\x86\xE3\x82\xAD|\xE3\x82\xB9\xE3\x83\x88");
    /* Latin word then CJK: the CJK starts on the same row. */
    CHECK_STR(wrap1("hi \xE6\x97\xA5\xE6\x9C\xAC\xE8\xAA\x9E", 6, 0), "hi \xE6\x97\xA5|\xE6\x9C\xAC\xE8\xAA\x9E");
    /* Combining marks stay with their base and take no column. */
    CHECK_STR(wrap1("e\xCC\x81" "e\xCC\x81" "e\xCC\x81", 2, 0), "e\xCC\x81" "e\xCC\x81|e\xCC\x81");
    CHECK_STR(wrap1("cafe\xCC\x81 ok", 4, 0), "cafe\xCC\x81|ok");
    CHECK(row_cols("cafe\xCC\x81 ok", 4, 0) == 4, "café is 4 columns");
    /* Emoji are two columns each. */
    CHECK_STR(wrap1("hi \xF0\x9F\x98\x80\xF0\x9F\x98\x80", 4, 0), "hi|\xF0\x9F\x98\x80\xF0\x9F\x98\x80");
    /* A ZWJ sequence moves down whole. */
    CHECK_STR(wrap1("ab \xF0\x9F\x91\xA9\xE2\x80\x8D\xF0\x9F\x92\xBB", 4, 0), "ab|\xF0\x9F\x91\xA9\xE2\x80\x8D\xF0\x9F\x92\xBB");
    /* A wide character wider than the whole row still gets a row. */
    CHECK_STR(wrap1("\xE6\x97\xA5\xE6\x9C\xAC", 1, 0), "\xE6\x97\xA5|\xE6\x9C\xAC");
}

static void test_hard_and_prefix(void)
{
    CHECK_STR(wrap1("int main(void) {", 6, 1), "int ma|in(voi|d) {");
    CHECK_STR(wrap1("\t\tx", 10, 1), "          |x");
    CHECK_STR(wrap1("ab\xE6\x97\xA5\xE6\x9C\xAC", 5, 1), "ab\xE6\x97\xA5|\xE6\x9C\xAC");

    wrap_text t = {0};
    wrap_run run = { "one two three", 13, 0 };
    wrap_para p = { .runs = &run, .nruns = 1, .first = { "\xE2\x80\xA2 ", 4, 1 }, .rest = { "  ", 2, 1 }, .width = 9 };
    CHECK(wrap_para_layout(&p, &t) == 2, "two rows");
    CHECK_STR(rows_str(&t), "\xE2\x80\xA2 one two|  three");
    CHECK(t.nspans == 4 && t.spans[0].style == 1 && t.spans[1].style == 0, "prefix has its own span");
    /* Styled runs: spans follow the runs, and merge when the style repeats. */
    wrap_text_reset(&t);
    wrap_run runs[3] = { { "ab", 2, 0 }, { "cd", 2, 2 }, { "ef", 2, 2 } };
    wrap_para q = { .runs = runs, .nruns = 3, .width = 10 };
    wrap_para_layout(&q, &t);
    CHECK(t.nrows == 1 && t.nspans == 2 && t.spans[1].len == 4 && t.spans[1].cols == 4, "spans merged");
    wrap_text_free(&t);

    /* Plain lines: each '\n' starts a paragraph; empty lines stay. */
    wrap_text_reset(&t);
    CHECK(wrap_lines("one\n\ntwo three", 14, 5, 0, &t) == 4, "4 rows");
    CHECK_STR(rows_str(&t), "one||two|three");
    wrap_text_free(&t);
}

/* Random paragraphs of ASCII words, CJK, emoji, combining marks, spaces and
 * tabs at random widths: no row is wider than the width (except a lone wide
 * character at width 1), and no text other than whitespace goes missing. */
static void test_random(void)
{
    test_seed_from_env();
    static const char *atoms[] = { "a", "bc", "word", "x", " ", " ", "  ", "\t", "\xE6\x97\xA5",
                                   "\xF0\x9F\x98\x80", "e\xCC\x81", "\xE2\x90\x9B", "long-word-without-spaces" };
    wrap_text t = {0};
    for (int iter = 0; iter < 3000; iter++) {
        char s[512];
        size_t k = 0;
        int natoms = (int)(test_rand_u64() % 40);
        for (int a = 0; a < natoms; a++) {
            const char *at = atoms[test_rand_u64() % (sizeof atoms / sizeof *atoms)];
            size_t m = strlen(at);
            if (k + m >= sizeof s) break;
            memcpy(s + k, at, m);
            k += m;
        }
        s[k] = 0;
        int width = 1 + (int)(test_rand_u64() % 30), hard = (int)(test_rand_u64() % 2);
        wrap_text_reset(&t);
        wrap_run run = { s, k, 0 };
        wrap_para p = { .runs = &run, .nruns = 1, .width = width, .hard = hard };
        int rows = wrap_para_layout(&p, &t);
        CHECK(rows >= 1 && (size_t)rows == t.nrows, "rows %d", rows);
        char in_ns[512], out_ns[1024], row[512];
        size_t a = 0, b = 0;
        for (size_t i = 0; i < k; i++) if (s[i] != ' ' && s[i] != '\t') in_ns[a++] = s[i];
        in_ns[a] = 0;
        for (size_t r = 0; r < t.nrows; r++) {
            size_t m = wrap_row_text(&t, r, row, sizeof row);
            int cols = wrap_str_width(row, m);
            CHECK(cols == t.rows[r].cols, "row %zu: counted %d, recorded %d", r, cols, t.rows[r].cols);
            CHECK(cols <= width || (width == 1 && cols == 2), "\"%s\" width %d: row \"%s\" has %d columns", s, width, row, cols);
            for (size_t i = 0; i < m; i++) if (row[i] != ' ') out_ns[b++] = row[i];
        }
        out_ns[b] = 0;
        CHECK_STR(out_ns, in_ns);
        if (test_failures > 5) break;
    }
    wrap_text_free(&t);
}

int main(void)
{
    setlocale(LC_CTYPE, "C.UTF-8");
    wrap_init();
    TEST_RUN(test_decode);
    TEST_RUN(test_partial_tail);
    TEST_RUN(test_widths);
    TEST_RUN(test_fit);
    TEST_RUN(test_word_wrap);
    TEST_RUN(test_wide_and_combining);
    TEST_RUN(test_hard_and_prefix);
    TEST_RUN(test_random);
    return test_summary();
}
