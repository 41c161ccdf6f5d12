/* test_markdown.c: markdown-lite layout (render/markdown) and the sanitizer
 * that stands between model output and the terminal (render/sanitize). */
#include <locale.h>
#include <stdlib.h>
#include <string.h>

#include "render/markdown.h"
#include "base/utf8.h"
#include "render/sanitize.h"
#include "render/wrap.h"
#include "tests/test.h"

static wrap_text T;

static const char *md(const char *s, int width)
{
    static char out[8192];
    wrap_text_reset(&T);
    CHECK(md_layout(s, strlen(s), width, &T) >= 0, "layout of \"%s\"", s);
    size_t k = 0;
    for (size_t r = 0; r < T.nrows; r++) {
        if (r) out[k++] = '|';
        k += wrap_row_text(&T, r, out + k, sizeof out - k);
    }
    out[k] = 0;
    return out;
}

/* Style of the span holding the first occurrence of needle in the last layout, or -1. */
static int style_of(const char *needle)
{
    size_t m = strlen(needle);
    for (size_t i = 0; i < T.nspans; i++) {
        const wrap_span *sp = &T.spans[i];
        for (size_t o = 0; o + m <= sp->len; o++)
            if (!memcmp(T.buf + sp->off + o, needle, m)) return sp->style;
    }
    return -1;
}

static void test_inline(void)
{
    CHECK_STR(md("**bold** and `code`", 40), "bold and code");
    CHECK(style_of("bold") == MD_BOLD, "bold style %d", style_of("bold"));
    CHECK(style_of(" and ") == 0, "plain");
    CHECK(style_of("code") == MD_CODE, "code style");
    CHECK_STR(md("*it* and _it2_", 40), "it and it2");
    CHECK(style_of("it2") == MD_ITALIC, "underscore italic");
    CHECK_STR(md("***x***", 40), "x");
    CHECK(style_of("x") == (MD_BOLD | MD_ITALIC), "bold italic %d", style_of("x"));
    CHECK_STR(md("**`x`**", 40), "x");
    CHECK(style_of("x") == (MD_BOLD | MD_CODE), "code inside bold");
    CHECK_STR(md("`**x**`", 40), "**x**");
    CHECK(style_of("**x**") == MD_CODE, "no emphasis inside code");
    CHECK_STR(md("`` a`b ``", 40), "a`b");
    /* Left literal: unclosed markers (a reply still streaming), spaced
     * asterisks, intraword underscores, escapes. */
    CHECK_STR(md("**bold", 40), "**bold");
    CHECK_STR(md("`code", 40), "`code");
    CHECK_STR(md("a * b * c", 40), "a * b * c");
    CHECK_STR(md("foo_bar_baz", 40), "foo_bar_baz");
    CHECK(style_of("bar") == 0, "snake_case stays plain");
    CHECK_STR(md("\\*not\\*", 40), "*not*");
    CHECK_STR(md("2 ** 10", 40), "2 ** 10");
}

static void test_blocks(void)
{
    CHECK_STR(md("## Title ##", 40), "Title");
    CHECK(style_of("Title") == MD_HEADING, "heading");
    CHECK_STR(md("# C#", 40), "C#");
    CHECK_STR(md("#hashtag", 40), "#hashtag");
    CHECK_STR(md("- one\n- two", 40), "\xE2\x80\xA2 one|\xE2\x80\xA2 two");
    CHECK(style_of("\xE2\x80\xA2") == MD_MARKER, "bullet marker style");
    CHECK_STR(md("* star\n+ plus", 40), "\xE2\x80\xA2 star|\xE2\x80\xA2 plus");
    CHECK_STR(md("- top\n  - sub", 40), "\xE2\x80\xA2 top|  \xE2\x97\xA6 sub");
    CHECK_STR(md("1. first\n10. tenth", 40), "1. first|10. tenth");
    CHECK_STR(md("- alpha beta gamma", 12), "\xE2\x80\xA2 alpha beta|  gamma");
    CHECK_STR(md("1) alpha beta gamma", 13), "1) alpha beta|   gamma");
    CHECK_STR(md("- **b** c", 40), "\xE2\x80\xA2 b c");
    CHECK(style_of("b") == MD_BOLD, "bold in list");
    CHECK_STR(md("---", 5), "\xE2\x94\x80\xE2\x94\x80\xE2\x94\x80\xE2\x94\x80\xE2\x94\x80");
    CHECK(T.nrows == 1 && T.rows[0].cols == 5, "rule fills the width");
    CHECK_STR(md("> quoted text", 40), "\xE2\x94\x82 quoted text");
    CHECK(style_of("quoted") == MD_QUOTE, "quote style");
    CHECK_STR(md("\n\nhello\n\n\n\nworld\n\n", 40), "hello||world");
    CHECK_STR(md("", 40), "");
    CHECK(T.nrows == 0, "empty text has no rows");
    CHECK_STR(md("-not a list", 40), "-not a list");
}

static void test_code_blocks(void)
{
    CHECK_STR(md("```c\nint x;\n  **y**\n```\nafter", 40),
              "\xE2\x94\x8C\xE2\x94\x80 c|\xE2\x94\x82 int x;|\xE2\x94\x82   **y**|\xE2\x94\x94\xE2\x94\x80|after");
    CHECK(style_of("int x;") == MD_CODEBLOCK, "code text style");
    CHECK(style_of("**y**") == MD_CODEBLOCK, "markdown not parsed in code");
    for (int r = 0; r < 4; r++) CHECK(T.rows[r].fill == MD_CODEBLOCK, "row %d filled", r);
    CHECK(T.rows[4].fill == 0, "text after the block is not filled");
    /* Long code lines break at the exact width, after the gutter. */
    CHECK_STR(md("```\nabcdefgh\n```", 8), "\xE2\x94\x8C\xE2\x94\x80|\xE2\x94\x82 abcdef|\xE2\x94\x82 gh|\xE2\x94\x94\xE2\x94\x80");
    /* While streaming, an open block is laid out without its closing row. */
    CHECK_STR(md("```py\nprint(1)", 40), "\xE2\x94\x8C\xE2\x94\x80 py|\xE2\x94\x82 print(1)");
    /* Blank lines inside code are kept, even several. */
    CHECK_STR(md("```\na\n\n\nb\n```", 40), "\xE2\x94\x8C\xE2\x94\x80|\xE2\x94\x82 a|\xE2\x94\x82 |\xE2\x94\x82 |\xE2\x94\x82 b|\xE2\x94\x94\xE2\x94\x80");
    /* A shorter fence does not close a longer one; tildes work too. */
    CHECK_STR(md("````\n```\n````", 40), "\xE2\x94\x8C\xE2\x94\x80|\xE2\x94\x82 ```|\xE2\x94\x94\xE2\x94\x80");
    CHECK_STR(md("~~~\nx\n~~~", 40), "\xE2\x94\x8C\xE2\x94\x80|\xE2\x94\x82 x|\xE2\x94\x94\xE2\x94\x80");
    /* Tabs in code expand to 8-column stops. */
    CHECK_STR(md("```\n\tx\n```", 40), "\xE2\x94\x8C\xE2\x94\x80|\xE2\x94\x82         x|\xE2\x94\x94\xE2\x94\x80");
}

static void test_wide_in_markdown(void)
{
    CHECK_STR(md("**\xE6\x97\xA5\xE6\x9C\xAC**\xE8\xAA\x9E", 4), "\xE6\x97\xA5\xE6\x9C\xAC|\xE8\xAA\x9E");
    CHECK(style_of("\xE6\x97\xA5") == MD_BOLD, "bold CJK");
    CHECK(style_of("\xE8\xAA\x9E") == 0, "plain CJK");
    CHECK_STR(md("- \xE6\x97\xA5\xE6\x9C\xAC\xE8\xAA\x9E", 6), "\xE2\x80\xA2 \xE6\x97\xA5\xE6\x9C\xAC|  \xE8\xAA\x9E");
}

/* Every prefix of a reply, as it would stream in, lays out with no row wider
 * than the width. */
static void test_streaming_prefixes(void)
{
    const char *reply =
        "# Kyoto \xE4\xBA\xAC\xE9\x83\xBD\n\nThe **old capital** of Japan, with `temples`:\n"
        "- Kinkaku-ji \xE9\x87\x91\xE9\x96\xA3\xE5\xAF\xBA\n- Kiyomizu-dera\n\n```c\nprintf(\"%s\\n\", \"\xE6\x97\xA5\");\n```\n"
        "Done \xF0\x9F\x98\x80 caf\x65\xCC\x81 \x1b[31mred?\x1b[0m\n";
    size_t n = strlen(reply);
    for (int width = 4; width <= 30; width += 13) {
        for (size_t k = 0; k <= n; k++) {
            size_t sn;
            char *s = sanitize_dup(reply, k, SANITIZE_MULTILINE | SANITIZE_PARTIAL, &sn);
            wrap_text_reset(&T);
            CHECK(md_layout(s, sn, width, &T) >= 0, "prefix %zu", k);
            for (size_t r = 0; r < T.nrows; r++)
                CHECK(T.rows[r].cols <= width, "prefix %zu width %d row %zu: %d columns", k, width, r, T.rows[r].cols);
            free(s);
        }
    }
}

static const char *san(const char *s, size_t n, int flags)
{
    static char out[1024];
    sanitize_buf(s, n, flags, out, sizeof out);
    return out;
}
#define SAN(lit, flags) san(lit, sizeof(lit) - 1, flags)

static void test_sanitize(void)
{
    const int M = SANITIZE_MULTILINE;
    CHECK_STR(SAN("a\x1b[31mb", M), "a\xE2\x90\x9B[31mb");                 /* ␛[31m */
    CHECK_STR(SAN("\x1b]0;title\x07", M), "\xE2\x90\x9B]0;title\xE2\x90\x87");
    CHECK_STR(SAN("\x08\x7f", M), "\xE2\x90\x88\xE2\x90\xA1");
    CHECK_STR(SAN("\x00z", M), "\xE2\x90\x80z");
    CHECK_STR(SAN("x\r\ny", M), "x\ny");
    CHECK_STR(SAN("x\r\ny", 0), "x\xE2\x90\x8D\xE2\x90\xA4y");
    CHECK_STR(SAN("x\ry", M), "x\xE2\x90\x8Dy");
    CHECK_STR(SAN("a\tb", M), "a\tb");
    CHECK_STR(SAN("a\tb", 0), "a b");
    CHECK_STR(SAN("\xC2\x9B" "2J", M), "\xEF\xBF\xBD" "2J");                /* C1 CSI */
    CHECK_STR(SAN("\xff", M), "\xEF\xBF\xBD");
    CHECK_STR(SAN("a\xE2\x80\xAE" "b", M), "a\xEF\xBF\xBD" "b");            /* RLO */
    CHECK_STR(SAN("a\xE2\x80\xA8" "b", M), "a\nb");                         /* LINE SEPARATOR */
    CHECK_STR(SAN("ab\xE6\x97", M | SANITIZE_PARTIAL), "ab");
    CHECK_STR(SAN("ab\xE6\x97", M), "ab\xEF\xBF\xBD\xEF\xBF\xBD");
    CHECK_STR(SAN("\xCC\x81x", M), "\xE2\x97\x8C\xCC\x81x");                /* orphan mark */
    CHECK_STR(SAN("a\n\xCC\x81", M), "a\n\xE2\x97\x8C\xCC\x81");
    CHECK_STR(SAN("e\xCC\x81", M), "e\xCC\x81");
    CHECK_STR(SAN("\xE6\x97\xA5\xF0\x9F\x98\x80", M), "\xE6\x97\xA5\xF0\x9F\x98\x80");
    CHECK_STR(SAN("", M), "");
    char small[5];
    CHECK(sanitize_buf("\xE6\x97\xA5\xE6\x9C\xAC", 6, M, small, sizeof small) == 3, "never splits a character");
    CHECK_STR(small, "\xE6\x97\xA5");
}

/* Random bytes: the output is valid UTF-8 with no control characters but
 * '\n' and '\t', and no C1 controls. */
static void test_sanitize_random(void)
{
    test_seed_from_env();
    for (int iter = 0; iter < 2000; iter++) {
        unsigned char in[64];
        size_t n = test_rand_u64() % sizeof in;
        for (size_t i = 0; i < n; i++) {
            uint64_t r = test_rand_u64();
            in[i] = (unsigned char)(r % 4 == 0 ? r >> 8 & 0x1F : r % 4 == 1 ? 0x80 | (r >> 8 & 0x3F) : r >> 8);
        }
        size_t on;
        char *o = sanitize_dup((const char *)in, n, SANITIZE_MULTILINE | (iter & 1 ? SANITIZE_PARTIAL : 0), &on);
        CHECK(o != NULL, "alloc");
        if (!o) continue;
        size_t i = 0;
        while (i < on) {
            uint32_t cp;
            size_t k = utf8_decode_lossy(o + i, on - i, &cp);
            int bad = (cp == 0xFFFD && memcmp(o + i, "\xEF\xBF\xBD", 3) != 0) ||
                      (cp < 0x20 && cp != '\n' && cp != '\t') || (cp >= 0x7F && cp < 0xA0);
            CHECK(!bad, "iteration %d: bad code point U+%04X at %zu", iter, (unsigned)cp, i);
            i += k;
        }
        free(o);
        if (test_failures > 5) break;
    }
}

int main(void)
{
    setlocale(LC_CTYPE, "C.UTF-8");
    wrap_init();
    TEST_RUN(test_inline);
    TEST_RUN(test_blocks);
    TEST_RUN(test_code_blocks);
    TEST_RUN(test_wide_in_markdown);
    TEST_RUN(test_streaming_prefixes);
    TEST_RUN(test_sanitize);
    TEST_RUN(test_sanitize_random);
    wrap_text_free(&T);
    return test_summary();
}
