/* test_clip.c: /copy's pieces: fenced code blocks of a reply, and the OSC 52
 * sequence, whose payload must decode to exactly the text (plain and wrapped
 * for tmux's passthrough). */
#include <stdlib.h>
#include <string.h>

#include "app/clip.h"
#include "tests/test.h"

/* Standard base64 decoding of s[n] into out (returns bytes, -1 on a bad character). */
static int b64_decode(const char *s, size_t n, char *out)
{
    static const char a[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    int k = 0;
    unsigned v = 0, bits = 0;
    for (size_t i = 0; i < n && s[i] != '='; i++) {
        const char *p = strchr(a, s[i]);
        if (!p || !s[i]) return -1;
        v = v << 6 | (unsigned)(p - a);
        bits += 6;
        if (bits >= 8) { bits -= 8; out[k++] = (char)(v >> bits & 0xFF); }
    }
    return k;
}

static void check_payload(const char *text, bool tmux)
{
    char *seq = NULL;
    size_t n = 0;
    gc_err err = {0};
    CHECK(clip_osc52(text, strlen(text), tmux, &seq, &n, &err) == 0, "%s", err.msg);
    if (!seq) return;
    const char *head = tmux ? "\033Ptmux;\033\033]52;c;" : "\033]52;c;", *tail = tmux ? "\a\033\\" : "\a";
    size_t hn = strlen(head), tn = strlen(tail);
    CHECK(n == strlen(seq) && n >= hn + tn && !memcmp(seq, head, hn) && !memcmp(seq + n - tn, tail, tn),
          "sequence framing (tmux %d)", tmux);
    char dec[256];
    int k = b64_decode(seq + hn, n - hn - tn, dec);
    CHECK(k == (int)strlen(text) && !memcmp(dec, text, (size_t)k), "payload decodes to the text (%d bytes)", k);
    CHECK(n - hn - tn == (strlen(text) + 2) / 3 * 4, "padded base64 length");
    free(seq);
}

static void test_osc52(void)
{
    const char *texts[] = { "", "a", "ab", "abc", "Hello, \xC3\xA9t\xC3\xA9\n\tline 2\x1b[31m" };
    for (size_t i = 0; i < sizeof texts / sizeof *texts; i++) {
        check_payload(texts[i], false);
        check_payload(texts[i], true);
    }
}

static void test_blocks(void)
{
    const char *r = "Here:\n```c\nint x;\nint y;\n```\nand\n~~~\nls -l\n~~~\n```\nunclosed\n";
    gc_err err = {0};
    char *b = NULL;
    CHECK(clip_count_blocks(r) == 3, "3 blocks, got %d", clip_count_blocks(r));
    CHECK(clip_code_block(r, 1, &b, &err) == 0, "%s", err.msg);
    if (b) CHECK_STR(b, "int x;\nint y;");
    free(b);
    b = NULL;
    CHECK(clip_code_block(r, 2, &b, &err) == 0, "%s", err.msg);
    if (b) CHECK_STR(b, "ls -l");
    free(b);
    b = NULL;
    CHECK(clip_code_block(r, 3, &b, &err) == 0, "%s", err.msg);
    if (b) CHECK_STR(b, "unclosed");
    free(b);
    b = NULL;
    CHECK(clip_code_block(r, 4, &b, &err) != 0 && strstr(err.msg, "has 3 (1 .. 3)"), "block 4: %s", err.msg);
    CHECK(clip_code_block("no code", 1, &b, &err) != 0 && strstr(err.msg, "no code block"), "none: %s", err.msg);
    /* A fence inside a block of the other kind does not close it. */
    CHECK(clip_code_block("~~~\n```\nx\n~~~\n", 1, &b, &err) == 0, "%s", err.msg);
    if (b) CHECK_STR(b, "```\nx");
    free(b);
}

int main(void)
{
    TEST_RUN(test_osc52);
    TEST_RUN(test_blocks);
    return test_summary();
}
