/* ledit.h: the input line, edited by GNU readline through its callback
 * interface.
 *
 * readline keeps the line buffer, the Emacs key bindings, undo, history
 * search and completion; everything it would do to the terminal itself is
 * switched off (no terminal modes, no signal handlers, no redisplay, output
 * to /dev/null). ui feeds it keys as bytes and draws ledit_text() inside the
 * curses screen. readline is one global state, so this module is too: one
 * line editor per process.
 *
 * History lives in a file of one entry per line ('\n' and '\\' escaped, so
 * multi-line messages survive), appended as each line is submitted so that a
 * crash loses nothing; it keeps the last `max` entries (1000 by default).
 */
#ifndef GC_LEDIT_H
#define GC_LEDIT_H

#include <stddef.h>

#include "base/err.h"

/* Candidates for tab completion. command == NULL: the first word of the line
 * (slash commands); else the command being given an argument. Returns the
 * words (valid until the next call) and sets *n; NULL when there are none. */
typedef const char *const *(*ledit_words_fn)(void *ctx, const char *command, int *n);

/* Sets up readline. history_path NULL or "": no history file; history_max
 * <= 0: 1000 entries. A history file that cannot be read or created is not
 * an error (the line editor works without it); the reason goes to *warn
 * (may be NULL, left empty if none). */
int ledit_begin(const char *history_path, int history_max, ledit_words_fn words, void *ctx, gc_err *warn);
void ledit_end(void);

/* Feeds key bytes to readline (one key's bytes at a time: a UTF-8
 * character, or ESC and the bytes of a sequence). */
void ledit_feed(const char *bytes, size_t n);

/* The submitted line, if Enter was pressed since the last call (malloc'd,
 * the caller frees), else NULL. It is added to the history. */
char *ledit_take_line(void);

/* The line being edited and the cursor's byte offset in it. */
const char *ledit_text(size_t *len, size_t *point);
/* What readline shows in place of the prompt during an incremental history
 * search ("(reverse-i-search)`x': "), or NULL. */
const char *ledit_message(void);

/* Discards the line and any half-typed key sequence or search (Ctrl-C). */
void ledit_clear(void);
/* Inserts text at the cursor as typed (Alt-Enter's newline, a paste). */
void ledit_insert(const char *s, size_t n);
/* Replaces the whole line, cursor at its end. */
void ledit_set_text(const char *s);

/* 1 if readline changed the line (or asked for a redisplay) since the last call. */
int ledit_take_redraw(void);
/* The completion candidates readline wanted listed, as one line (malloc'd,
 * the caller frees), or NULL. */
char *ledit_take_listing(void);

#endif
