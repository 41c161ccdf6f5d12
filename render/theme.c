/* theme.c: colour specs and the default palette (see theme.h). */
#include "render/theme.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

static const char *const slot_names[THEME_SLOTS] = {
    "user", "model", "notice", "error", "code", "codeblock", "heading", "accent", "status",
};

const char *theme_slot_name(int slot)
{
    return slot >= 0 && slot < THEME_SLOTS ? slot_names[slot] : NULL;
}

int theme_slot_by_name(const char *name)
{
    for (int i = 0; i < THEME_SLOTS; i++)
        if (!strcmp(name, slot_names[i])) return i;
    return -1;
}

static const char *const color_names[8] = {
    "black", "red", "green", "yellow", "blue", "magenta", "cyan", "white",
};

/* Colour number of a word, -1 for "default", -2 if it is not a colour. */
static int color_word(const char *w)
{
    if (!strcasecmp(w, "default")) return -1;
    if (!strcasecmp(w, "gray") || !strcasecmp(w, "grey")) return 8;
    const char *base = w;
    int bright = 0;
    if (!strncasecmp(w, "bright-", 7)) { base = w + 7; bright = 8; }
    for (int i = 0; i < 8; i++)
        if (!strcasecmp(base, color_names[i])) return i + bright;
    if (bright) return -2;
    char *end;
    long v = strtol(w, &end, 10);
    if (*w && !*end && v >= 0 && v <= 255) return (int)v;
    return -2;
}

static const struct { const char *name; unsigned bit; } attr_names[] = {
    { "bold", THEME_BOLD }, { "dim", THEME_DIM }, { "italic", THEME_ITALIC },
    { "underline", THEME_UNDERLINE }, { "reverse", THEME_REVERSE }, { "normal", 0 },
};

int theme_parse(const char *spec, theme_color *out, gc_err *err)
{
    theme_color c = { -1, -1, 0 };
    int want_bg = 0, have_fg = 0, have_bg = 0;
    const char *p = spec;
    for (;;) {
        while (*p == ' ' || *p == '\t') p++;
        if (!*p) break;
        char w[32];
        size_t n = 0;
        while (p[n] && p[n] != ' ' && p[n] != '\t') n++;
        if (n >= sizeof w)
            return gc_errf(err, "colour \"%s\": word \"%.*s...\" is too long", spec, 16, p);
        memcpy(w, p, n);
        w[n] = 0;
        p += n;
        if (!strcasecmp(w, "on")) {
            if (want_bg || have_bg) return gc_errf(err, "colour \"%s\": \"on\" given twice", spec);
            want_bg = 1;
            continue;
        }
        int known = 0;
        for (size_t i = 0; i < sizeof attr_names / sizeof *attr_names; i++)
            if (!strcasecmp(w, attr_names[i].name)) {
                c.attrs = attr_names[i].bit ? c.attrs | attr_names[i].bit : 0;
                known = 1;
            }
        if (known) continue;
        int col = color_word(w);
        if (col == -2)
            return gc_errf(err, "colour \"%s\": unknown word \"%s\" (expected a colour name, 0..255, "
                           "bold, dim, italic, underline, reverse, normal or \"on\")", spec, w);
        if (want_bg) {
            if (have_bg) return gc_errf(err, "colour \"%s\": two background colours", spec);
            c.bg = (short)col;
            have_bg = 1;
        } else {
            if (have_fg) return gc_errf(err, "colour \"%s\": two foreground colours (use \"on\" before a background)", spec);
            c.fg = (short)col;
            have_fg = 1;
        }
    }
    if (want_bg && !have_bg) return gc_errf(err, "colour \"%s\": \"on\" without a background colour", spec);
    *out = c;
    return 0;
}

theme_color theme_default(int slot, int colors)
{
    /* Specs keep the palette readable as data; they are known to parse. */
    static const char *const rich[THEME_SLOTS] = {
        "bold", "default", "244", "bold 203", "180", "252 on 235", "bold 75", "44", "252 on 237",
    };
    static const char *const basic[THEME_SLOTS] = {
        "bold", "default", "dim", "bold red", "yellow", "cyan", "bold blue", "cyan", "black on cyan",
    };
    static const char *const mono[THEME_SLOTS] = {
        "bold", "normal", "dim", "bold", "italic", "normal", "bold underline", "bold", "reverse",
    };
    const char *spec = colors >= 256 ? rich[slot] : colors >= 8 ? basic[slot] : mono[slot];
    theme_color c = { -1, -1, 0 };
    theme_parse(spec, &c, NULL);
    return c;
}

theme_color theme_fit(theme_color c, int colors)
{
    if (c.fg >= colors) c.fg = -1;
    if (c.bg >= colors) c.bg = -1;
    return c;
}
