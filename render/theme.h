/* theme.h: the colours of the chat screen, and the parser for the colour
 * specs a config file gives (`colors:` in config.yaml).
 *
 * A spec is words separated by spaces: attributes (bold, dim, italic,
 * underline, reverse, normal), a foreground colour, and optionally "on" and a
 * background colour. Colours are default, black, red, green, yellow, blue,
 * magenta, cyan, white, their bright- forms (bright-black also as gray/grey),
 * or a palette number 0..255. Examples: "bold cyan", "white on blue", "245",
 * "dim italic", "black on bright-yellow".
 *
 * NO_COLOR (https://no-color.org) removes every colour, configured ones
 * included; attributes stay, so the screen remains readable.
 */
#ifndef GC_THEME_H
#define GC_THEME_H

#include "base/err.h"

/* The parts of the screen that have a colour of their own. */
typedef enum theme_slot {
    THEME_USER,         /* the user's messages */
    THEME_MODEL,        /* the model's replies */
    THEME_NOTICE,       /* notices, the notice line, code fences, rules */
    THEME_ERROR,        /* errors */
    THEME_CODE,         /* `inline code` */
    THEME_CODEBLOCK,    /* fenced code blocks (a background fills their rows) */
    THEME_HEADING,      /* markdown headings */
    THEME_ACCENT,       /* prompt, gutter marks, list bullets, progress bar */
    THEME_STATUS,       /* the status bar */
    THEME_SLOTS
} theme_slot;

enum {
    THEME_BOLD = 1, THEME_DIM = 2, THEME_ITALIC = 4, THEME_UNDERLINE = 8, THEME_REVERSE = 16,
};

typedef struct theme_color {
    short fg, bg;           /* -1: the terminal's default; 0..255: palette */
    unsigned attrs;         /* THEME_* bits */
} theme_color;

/* "user", "model", ... (the names a config file uses); NULL if out of range. */
const char *theme_slot_name(int slot);
/* Slot index of a name, or -1. */
int theme_slot_by_name(const char *name);

/* Parses a spec. On error fills err naming the word at fault and returns -1. */
int theme_parse(const char *spec, theme_color *out, gc_err *err);

/* The built-in colour of a slot for a terminal with `colors` colours
 * (0 when colour is off). */
theme_color theme_default(int slot, int colors);

/* Fits a colour to the terminal: palette entries it lacks become the
 * default colour, and with colors == 0 only the attributes remain. */
theme_color theme_fit(theme_color c, int colors);

#endif
