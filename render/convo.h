/* convo.h: the conversation as the screen shows it: a list of messages and
 * their layout at the current width, as rows of styled spans.
 *
 * Pure data, no curses: ui draws the rows, tests read them. A message is kept
 * as the raw bytes it was given (model output included) and sanitized only
 * when laid out, so the app's transcript and the screen never disagree about
 * what was said. Layout is cached per message and redone only for messages
 * that changed (in practice: the one streaming in) or after a width change.
 */
#ifndef GC_CONVO_H
#define GC_CONVO_H

#include <stddef.h>

#include "render/wrap.h"

typedef enum convo_role {
    CONVO_USER,
    CONVO_MODEL,    /* laid out as markdown-lite */
    CONVO_NOTICE,
    CONVO_ERROR,
} convo_role;

/* Style bit (beyond the markdown ones) of the "[stopped]" row that ends a
 * reply the user cut short. */
#define CONVO_STYLE_NOTE 0x8000

typedef struct convo convo;

convo *convo_create(void);
void convo_destroy(convo *c);               /* accepts NULL */
void convo_clear(convo *c);
size_t convo_count(const convo *c);

/* Adds a message (text need not be NUL-terminated). 0 ok, -1 out of memory. */
int convo_add(convo *c, convo_role role, const char *text, size_t n);
/* Appends to message i (streaming; other messages may have been added after
 * it meanwhile). 0 ok, -1 out of memory or no such message. */
int convo_append(convo *c, size_t i, const char *text, size_t n);
/* Marks message i as still arriving: an unfinished UTF-8 character at its
 * end is held back instead of shown as U+FFFD. */
void convo_set_streaming(convo *c, size_t i, int on);
/* Marks message i as stopped by the user (adds a "[stopped]" row). */
void convo_set_stopped(convo *c, size_t i);

/* A note under message i (the app's, e.g. "branch 2/3"): one row of plain
 * ASCII, other bytes shown as '?'; NULL removes it. 0 ok, -1 out of memory
 * or no such message. */
int convo_set_label(convo *c, size_t i, const char *label);

/* Lays out every message for `width` text columns; returns the total rows,
 * blank rows between messages included. */
size_t convo_layout(convo *c, int width);

/* One row of the conversation, as of the last convo_layout. */
typedef struct convo_line {
    const wrap_text *text;  /* NULL for the blank row between two messages */
    size_t row;             /* row within text */
    convo_role role;
    size_t msg;             /* message index */
    int first;              /* first row of its message: the gutter mark goes here */
    int last;               /* last row of its message */
    int streaming;          /* its message is still arriving */
} convo_line;

/* Fills *out for row r (0 <= r < the total convo_layout returned). */
void convo_line_at(const convo *c, size_t r, convo_line *out);
/* First row (after its separator) of message i, as of the last layout. */
size_t convo_msg_row(const convo *c, size_t i);

#endif
