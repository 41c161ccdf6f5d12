/* test_convo.c: the conversation layout behind the chat screen (render/convo)
 * and the colour specs of the theme (render/theme). */
#include <locale.h>
#include <stdlib.h>
#include <string.h>

#include "render/convo.h"
#include "render/markdown.h"
#include "render/theme.h"
#include "render/wrap.h"
#include "tests/test.h"

/* The whole conversation as rows joined by '|' ("" for blank rows). */
static const char *dump(convo *c, int width)
{
    static char out[4096];
    size_t total = convo_layout(c, width), k = 0;
    for (size_t r = 0; r < total; r++) {
        convo_line L;
        convo_line_at(c, r, &L);
        if (r) out[k++] = '|';
        if (L.text) k += wrap_row_text(L.text, L.row, out + k, sizeof out - k);
    }
    out[k] = 0;
    return out;
}

static void test_messages(void)
{
    convo *c = convo_create();
    CHECK(c != NULL, "create");
    CHECK_STR(dump(c, 20), "");
    convo_add(c, CONVO_NOTICE, "loaded", 6);
    convo_add(c, CONVO_NOTICE, "ready", 5);
    convo_add(c, CONVO_USER, "hi there\n", 9);
    convo_add(c, CONVO_MODEL, "**Hello**, friend of mine", 25);
    /* Notices stick together; other messages get a blank row before them;
     * the user's trailing newline is not a row; replies are markdown. */
    CHECK_STR(dump(c, 12), "loaded|ready||hi there||Hello,|friend of|mine");
    convo_line L;
    convo_line_at(c, 5, &L);
    CHECK(L.text && L.role == CONVO_MODEL && L.first && !L.last && L.msg == 3, "first row of the reply");
    CHECK(L.text->spans[L.text->rows[L.row].span0].style == MD_BOLD, "bold span");
    convo_line_at(c, 2, &L);
    CHECK(L.text == NULL && L.role == CONVO_USER, "separator row belongs to the next message");
    CHECK(convo_msg_row(c, 3) == 5, "message 3 starts at row 5 (got %zu)", convo_msg_row(c, 3));
    /* A width change lays everything out again. */
    CHECK_STR(dump(c, 40), "loaded|ready||hi there||Hello, friend of mine");
    convo_clear(c);
    CHECK(convo_count(c) == 0 && convo_layout(c, 40) == 0, "cleared");
    convo_destroy(c);
    convo_destroy(NULL);
}

static void test_streaming(void)
{
    convo *c = convo_create();
    CHECK(convo_append(c, 0, "x", 1) == -1, "append without a message fails");
    convo_add(c, CONVO_MODEL, "", 0);
    convo_set_streaming(c, 0, 1);
    CHECK_STR(dump(c, 20), "");
    CHECK(convo_layout(c, 20) == 1, "a reply that has not started has one row");
    /* 日 arrives in two pieces: nothing shows until it is whole. */
    convo_append(c, 0, "ok \xE6\x97", 5);
    CHECK_STR(dump(c, 20), "ok");
    convo_line L;
    convo_line_at(c, 0, &L);
    CHECK(L.streaming && L.last, "streaming flag on the last row");
    convo_append(c, 0, "\xA5 \x1b[2J", 6);
    CHECK_STR(dump(c, 20), "ok \xE6\x97\xA5 \xE2\x90\x9B[2J");
    /* An unfinished character at the very end shows as U+FFFD once the
     * reply is over, and a stopped reply says so. */
    convo_append(c, 0, "\xE6", 1);
    convo_set_streaming(c, 0, 0);
    convo_set_stopped(c, 0);
    CHECK_STR(dump(c, 20), "ok \xE6\x97\xA5 \xE2\x90\x9B[2J\xEF\xBF\xBD|[stopped]");
    convo_line_at(c, 1, &L);
    CHECK(L.text && L.text->spans[L.text->rows[L.row].span0].style == CONVO_STYLE_NOTE, "stopped row style");
    CHECK(!L.streaming, "no longer streaming");
    /* A notice added while a reply streams does not receive its text. */
    convo_add(c, CONVO_MODEL, "", 0);
    convo_set_streaming(c, 1, 1);
    convo_add(c, CONVO_NOTICE, "note", 4);
    CHECK(convo_append(c, 1, "more", 4) == 0, "append to an earlier message");
    CHECK(convo_append(c, 3, "x", 1) == -1, "no message 3");
    CHECK_STR(dump(c, 20), "ok \xE6\x97\xA5 \xE2\x90\x9B[2J\xEF\xBF\xBD|[stopped]||more||note");
    convo_destroy(c);
}

/* The app's label under a message (where a conversation forks): one note
 * row, cut at the width, before "[stopped]"; non-ASCII shown as '?'. */
static void test_label(void)
{
    convo *c = convo_create();
    convo_add(c, CONVO_USER, "Hello", 5);
    convo_add(c, CONVO_MODEL, "Hi", 2);
    CHECK(convo_set_label(c, 0, "branch 2/3") == 0, "label set");
    CHECK(convo_set_label(c, 5, "x") != 0, "no message 5");
    CHECK_STR(dump(c, 20), "Hello|branch 2/3||Hi");
    convo_line L;
    convo_line_at(c, 1, &L);
    CHECK(L.text && L.text->spans[L.text->rows[L.row].span0].style == CONVO_STYLE_NOTE, "label row style");
    CHECK_STR(dump(c, 6), "Hello|branch||Hi");
    convo_set_label(c, 1, "b\x1b[2J\xc3\xa9");
    convo_set_stopped(c, 1);
    CHECK_STR(dump(c, 20), "Hello|branch 2/3||Hi|b?[2J??|[stopped]");
    convo_set_label(c, 0, NULL);
    CHECK_STR(dump(c, 20), "Hello||Hi|b?[2J??|[stopped]");
    convo_destroy(c);
}

static void test_theme(void)
{
    theme_color c;
    gc_err err = {0};
    CHECK(theme_parse("bold cyan", &c, &err) == 0 && c.fg == 6 && c.bg == -1 && c.attrs == THEME_BOLD, "bold cyan");
    CHECK(theme_parse("white on blue", &c, &err) == 0 && c.fg == 7 && c.bg == 4 && c.attrs == 0, "white on blue");
    CHECK(theme_parse("  245  ", &c, &err) == 0 && c.fg == 245, "palette number");
    CHECK(theme_parse("dim italic bright-red on default", &c, &err) == 0 && c.fg == 9 && c.bg == -1 &&
          c.attrs == (THEME_DIM | THEME_ITALIC), "attrs + bright");
    CHECK(theme_parse("on grey", &c, &err) == 0 && c.fg == -1 && c.bg == 8, "background only");
    CHECK(theme_parse("", &c, &err) == 0 && c.fg == -1 && c.bg == -1 && c.attrs == 0, "empty = default");
    CHECK(theme_parse("blu", &c, &err) == -1, "unknown word");
    CHECK_CONTAINS(err.msg, "\"blu\"");
    CHECK(theme_parse("256", &c, &err) == -1, "out of range");
    CHECK(theme_parse("red green", &c, &err) == -1, "two foregrounds");
    CHECK_CONTAINS(err.msg, "two foreground");
    CHECK(theme_parse("red on", &c, &err) == -1, "on without colour");
    CHECK(theme_parse("red on blue on green", &c, &err) == -1, "on twice");
    CHECK(theme_parse("bright-", &c, &err) == -1, "bare bright-");
    CHECK(theme_slot_by_name("codeblock") == THEME_CODEBLOCK && theme_slot_by_name("nope") == -1, "slot names");
    for (int s = 0; s < THEME_SLOTS; s++) {
        CHECK(theme_slot_by_name(theme_slot_name(s)) == s, "slot %d round trip", s);
        theme_color m = theme_default(s, 0);
        CHECK(m.fg == -1 && m.bg == -1, "monochrome default of %s has no colour", theme_slot_name(s));
    }
    CHECK(theme_default(THEME_STATUS, 0).attrs == THEME_REVERSE, "monochrome status bar is reverse video");
    theme_color rich = theme_default(THEME_CODEBLOCK, 256);
    CHECK(rich.bg >= 16, "256-colour code block background");
    theme_color fit = theme_fit(rich, 8);
    CHECK(fit.fg == -1 && fit.bg == -1, "palette colours dropped on 8 colours");
    fit = theme_fit((theme_color){ 3, 4, THEME_BOLD }, 0);
    CHECK(fit.fg == -1 && fit.bg == -1 && fit.attrs == THEME_BOLD, "no colour keeps attributes");
}

int main(void)
{
    setlocale(LC_CTYPE, "C.UTF-8");
    wrap_init();
    TEST_RUN(test_messages);
    TEST_RUN(test_streaming);
    TEST_RUN(test_label);
    TEST_RUN(test_theme);
    return test_summary();
}
