/* test_ledit.c: the readline bridge behind the input line (render/ledit):
 * keys in as bytes, lines out, completion, and the history file (escaped so
 * that multi-line messages survive a restart). No terminal needed. */
#include <locale.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "render/ledit.h"
#include "tests/test.h"

static const char *const CMDS[] = { "/help", "/persona", "/quit" };
static const char *const NAMES[] = { "assistant", "pirate", "pirate-captain" };

static const char *const *words(void *ctx, const char *command, int *n)
{
    (*(int *)ctx)++;
    if (!command) { *n = 3; return CMDS; }
    if (!strcmp(command, "/persona")) { *n = 3; return NAMES; }
    *n = 0;
    return NULL;
}

static void type(const char *s) { ledit_feed(s, strlen(s)); }

static const char *text(void)
{
    static char buf[256];
    size_t n;
    const char *t = ledit_text(&n, NULL);
    snprintf(buf, sizeof buf, "%.*s", (int)n, t);
    return buf;
}

static char dir[64], path[128];

/* The history file's contents (or "" when it cannot be read). */
static const char *history_file(void)
{
    static char buf[512];
    FILE *f = fopen(path, "r");
    size_t n = f ? fread(buf, 1, sizeof buf - 1, f) : 0;
    buf[n] = 0;
    if (f) fclose(f);
    return buf;
}

static void test_editing(void)
{
    int calls = 0;
    gc_err warn;
    CHECK(ledit_begin(path, 0, words, &calls, &warn) == 0, "begin");
    CHECK(warn.msg[0] == 0, "no warning: %s", warn.msg);
    type("helo");
    type("\033[D");         // Left
    type("l");
    CHECK_STR(text(), "hello");
    size_t point;
    ledit_text(NULL, &point);
    CHECK(point == 4, "cursor after the inserted l (%zu)", point);
    CHECK(ledit_take_redraw() == 1, "readline asked for a redisplay");
    CHECK(ledit_take_line() == NULL, "nothing submitted yet");
    type("\005 world  ");   // Ctrl-E, then text with trailing blanks
    type("\r");
    char *l = ledit_take_line();
    CHECK_STR(l, "hello world");     // trailing blanks dropped
    free(l);
    CHECK_STR(text(), "");

    /* Emacs keys: Alt-B, Ctrl-K, Ctrl-W, Ctrl-Y. */
    type("one two three");
    type("\033b");          // Alt-B: before "three"
    type("\013");           // Ctrl-K: kill to the end
    CHECK_STR(text(), "one two ");
    type("\027");           // Ctrl-W: kill the word before
    CHECK_STR(text(), "one ");
    type("\031");           // Ctrl-Y: the two kills in a row came back as one
    CHECK_STR(text(), "one two three");
    ledit_clear();
    CHECK_STR(text(), "");

    /* A multi-line message: the newline comes from ledit_insert (Alt-Enter). */
    type("line one");
    ledit_insert("\n", 1);
    type("line \\two\r");
    l = ledit_take_line();
    CHECK_STR(l, "line one\nline \\two");
    free(l);

    /* Completion: the command word, then its first argument; a unique match
     * gets a space; several are listed. */
    type("/pe\t");
    CHECK_STR(text(), "/persona ");
    type("pi\t");
    CHECK_STR(text(), "/persona pirate");
    char *listing = ledit_take_listing();
    CHECK_STR(listing, "pirate  pirate-captain");
    free(listing);
    CHECK(calls >= 2, "completion asked for words %d times", calls);
    ledit_set_text("/quit");
    CHECK_STR(text(), "/quit");
    type("\r");
    free(ledit_take_line());
    ledit_end();
}

static void test_history_file(void)
{
    CHECK_STR(history_file(), "hello world\nline one\\nline \\\\two\n/quit\n");

    /* A new session recalls the entries, the multi-line one whole. */
    int calls = 0;
    CHECK(ledit_begin(path, 0, words, &calls, NULL) == 0, "begin again");
    type("\033[A");
    CHECK_STR(text(), "/quit");
    type("\033[A");
    CHECK_STR(text(), "line one\nline \\two");
    ledit_clear();
    type("\033[A");
    CHECK_STR(text(), "/quit");  // Ctrl-C put the history position back at the end
    ledit_clear();
    /* The same line twice in a row is kept once; blank lines never. */
    type("/quit\r");
    free(ledit_take_line());
    type("   \r");
    free(ledit_take_line());
    ledit_end();
    CHECK_STR(history_file(), "hello world\nline one\\nline \\\\two\n/quit\n");

    /* A smaller limit trims the file to the newest entries when loaded. */
    CHECK(ledit_begin(path, 2, words, &calls, NULL) == 0, "begin with 2 entries");
    type("\033[A\033[A\033[A");
    CHECK_STR(text(), "line one\nline \\two");     // the oldest is gone
    ledit_end();
    CHECK_STR(history_file(), "line one\\nline \\\\two\n/quit\n");
}

int main(void)
{
    setlocale(LC_CTYPE, "C.UTF-8");
    setenv("INPUTRC", "/dev/null", 1);
    snprintf(dir, sizeof dir, "/tmp/gc-ledit-XXXXXX");
    if (!mkdtemp(dir)) { perror("mkdtemp"); return 1; }
    snprintf(path, sizeof path, "%s/state/gemma-chat/history", dir);
    TEST_RUN(test_editing);
    TEST_RUN(test_history_file);
    char cmd[160];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    if (system(cmd) != 0) fprintf(stderr, "could not remove %s\n", dir);
    return test_summary();
}
