#include "app/config.h"

#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

#include "base/utf8.h"
#include "app/ydoc.h"

static const ydoc_limits config_limits = {
    .max_bytes = CFG_MAX_CONFIG_BYTES, .max_depth = 16, .max_nodes = 20000, .max_map_keys = 256,
};

typedef enum ktype { T_STR, T_PATH, T_NAME, T_INT, T_I64, T_FLOAT, T_BOOL, T_BACKEND, T_TRISTATE, T_COLOR } ktype;

/* One row per key. Numeric keys take [imin, imax] or [fmin, fmax], plus one
 * optional special value `alt` outside the range (described by alt_doc). */
typedef struct key_def {
    const char *name;
    ktype type;
    size_t off, size;
    long long imin, imax;
    double fmin, fmax;
    bool has_alt;
    long long alt;
    const char *alt_doc;
    bool fmin_open;             /* (fmin, fmax]: fmin itself not allowed */
} key_def;

#define F(f) .off = offsetof(cfg_config, f), .size = sizeof(((cfg_config *)0)->f)
#define SF(f) .off = offsetof(cfg_config, sampling) + offsetof(cfg_sampling, f), .size = sizeof(((cfg_sampling *)0)->f)
#define INT_RANGE(lo, hi) .imin = (lo), .imax = (hi)
#define FLOAT_RANGE(lo, hi) .fmin = (lo), .fmax = (hi)
#define ALT(v, doc) .has_alt = true, .alt = (v), .alt_doc = (doc)

static const key_def keys[] = {
    { .name = "model", .type = T_PATH, F(model) },
    { .name = "backend", .type = T_BACKEND, F(backend) },
    { .name = "device", .type = T_STR, F(device) },
    { .name = "context", .type = T_INT, F(context), INT_RANGE(16, 1048576), ALT(0, "the model's trained maximum") },
    { .name = "max_tokens", .type = T_INT, F(max_tokens), INT_RANGE(1, 1048576), ALT(-1, "no limit") },
    { .name = "threads", .type = T_INT, F(threads), INT_RANGE(0, 256) },
    { .name = "persona", .type = T_NAME, F(persona) },
    { .name = "sampling.temperature", .type = T_FLOAT, SF(temperature), FLOAT_RANGE(0, 10) },
    { .name = "sampling.top_k", .type = T_INT, SF(top_k), INT_RANGE(0, 1000000) },
    { .name = "sampling.top_p", .type = T_FLOAT, SF(top_p), FLOAT_RANGE(0, 1), .fmin_open = true },
    { .name = "sampling.min_p", .type = T_FLOAT, SF(min_p), FLOAT_RANGE(0, 1) },
    { .name = "sampling.repeat_penalty", .type = T_FLOAT, SF(repeat_penalty), FLOAT_RANGE(0.1, 10) },
    { .name = "sampling.repeat_last_n", .type = T_INT, SF(repeat_last_n), INT_RANGE(0, 1048576),
      ALT(-1, "the whole context") },
    { .name = "sampling.seed", .type = T_I64, SF(seed), INT_RANGE(0, LLONG_MAX), ALT(-1, "a random seed") },
    { .name = "transcripts.dir", .type = T_PATH, F(transcripts_dir) },
    { .name = "transcripts.autosave", .type = T_BOOL, F(autosave) },
    { .name = "input_history", .type = T_INT, F(history), INT_RANGE(0, 1000000) },
    { .name = "snapshots.max_mib", .type = T_INT, F(snapshots_mib), INT_RANGE(0, 1048576) },
    { .name = "show_stats", .type = T_BOOL, F(show_stats) },
    { .name = "colors.enabled", .type = T_TRISTATE, F(colors) },
    { .name = "colors.user", .type = T_COLOR, F(color_user) },
    { .name = "colors.model", .type = T_COLOR, F(color_model) },
    { .name = "colors.notice", .type = T_COLOR, F(color_notice) },
    { .name = "colors.status", .type = T_COLOR, F(color_status) },
};
#define N_KEYS ((int)(sizeof keys / sizeof keys[0]))
_Static_assert(sizeof keys / sizeof keys[0] <= CFG_MAX_KEYS, "raise CFG_MAX_KEYS");

static const char *sections[] = { "sampling", "transcripts", "snapshots", "colors" };

static const char *color_names[] = { "black", "red", "green", "yellow", "blue", "magenta", "cyan", "white" };
static const char *attr_names[] = { "bold", "dim", "underline", "reverse" };

int cfg_key_count(void) { return N_KEYS; }
const char *cfg_key_name(int i) { return i >= 0 && i < N_KEYS ? keys[i].name : NULL; }

static int key_index(const char *name)
{
    for (int i = 0; i < N_KEYS; i++)
        if (!strcmp(keys[i].name, name)) return i;
    return -1;
}

cfg_source cfg_origin(const cfg_config *c, const char *key)
{
    int i = key_index(key);
    return i < 0 ? CFG_SRC_DEFAULT : (cfg_source)c->origin[i];
}

const char *cfg_backend_name(cfg_backend b)
{
    static const char *const names[] = { [CFG_BACKEND_AUTO] = "auto", [CFG_BACKEND_VULKAN] = "vulkan",
                                         [CFG_BACKEND_CPU] = "cpu", [CFG_BACKEND_REF] = "ref" };
    return names[b];
}

const char *cfg_source_name(cfg_source s)
{
    static const char *n[] = { "default", "share config", "user config", "-c file", "environment", "flag" };
    return (unsigned)s < sizeof n / sizeof n[0] ? n[s] : "?";
}

static int parse_color(const char *s, cfg_color *out)
{
    cfg_color c = { -1, -1, 0 };
    char buf[128];
    if (strlen(s) >= sizeof buf) return -1;
    strcpy(buf, s);
    bool want_bg = false, have_fg = false;
    char *save = NULL;
    for (char *w = strtok_r(buf, " \t", &save); w; w = strtok_r(NULL, " \t", &save)) {
        int idx = -2;
        if (!strcasecmp(w, "default")) idx = -1;
        for (int i = 0; i < 8; i++)
            if (!strcasecmp(w, color_names[i])) idx = i;
        if (idx > -2) {
            if (want_bg) { c.bg = (signed char)idx; want_bg = false; continue; }
            if (have_fg || c.bg != -1) return -1;
            c.fg = (signed char)idx;
            have_fg = true;
            continue;
        }
        if (want_bg) return -1;
        if (!strcasecmp(w, "on")) { want_bg = true; continue; }
        if (!strcasecmp(w, "normal") || !strcasecmp(w, "none")) continue;
        int a = -1;
        for (int i = 0; i < 4; i++)
            if (!strcasecmp(w, attr_names[i])) a = i;
        if (a < 0) return -1;
        c.attr |= (unsigned char)(1 << a);
    }
    if (want_bg) return -1;
    *out = c;
    return 0;
}

static void format_color(const cfg_color *c, char *buf, size_t n)
{
    size_t k = 0;
    buf[0] = 0;
    for (int i = 0; i < 4; i++)
        if (c->attr & (1 << i)) k += (size_t)snprintf(buf + k, n - k, "%s%s", k ? " " : "", attr_names[i]);
    if (c->fg >= 0 || !k) k += (size_t)snprintf(buf + k, n - k, "%s%s", k ? " " : "",
                                                c->fg >= 0 ? color_names[c->fg] : "default");
    if (c->bg >= 0) snprintf(buf + k, n - k, " on %s", color_names[c->bg]);
}

/* Shortest decimal text that reads back as the same float. */
static void format_float(float v, char *buf, size_t n)
{
    for (int p = 1; p <= 9; p++) {
        snprintf(buf, n, "%.*g", p, (double)v);
        if ((float)strtod(buf, NULL) == v) break;
    }
    if (!strpbrk(buf, ".e") && strlen(buf) + 2 < n) strcat(buf, ".0");
}

/* What a key accepts, for messages. */
static void describe_expected(const key_def *k, char *buf, size_t n)
{
    switch (k->type) {
    case T_STR: snprintf(buf, n, "a string of at most %zu bytes without control characters", k->size - 1); break;
    case T_PATH: snprintf(buf, n, "a file path (a string)"); break;
    case T_NAME: snprintf(buf, n, "a name without '/', '..' or control characters"); break;
    case T_INT:
    case T_I64:
        if (k->has_alt) snprintf(buf, n, "an integer in [%lld, %lld] or %lld (%s)", k->imin, k->imax, k->alt, k->alt_doc);
        else snprintf(buf, n, "an integer in [%lld, %lld]", k->imin, k->imax);
        break;
    case T_FLOAT: snprintf(buf, n, "a number in %c%g, %g]", k->fmin_open ? '(' : '[', k->fmin, k->fmax); break;
    case T_BOOL: snprintf(buf, n, "true or false"); break;
    case T_BACKEND: snprintf(buf, n, "auto, vulkan, cpu or ref"); break;
    case T_TRISTATE: snprintf(buf, n, "auto, true or false"); break;
    case T_COLOR:
        snprintf(buf, n, "a color such as 'bold cyan' or 'white on blue' (colors: default black red green "
                 "yellow blue magenta cyan white; attributes: bold dim underline reverse)");
        break;
    }
}

/* Parses text s (plain: written without quotes) into the field of key k at
 * base (a cfg_config, or for sampling keys a cfg_config-shaped view). On
 * failure fills why with the reason after "must be". */
static int parse_value(const key_def *k, char *base, const char *s, size_t len, bool plain, const char *rel_dir,
                       char *why, size_t nwhy)
{
    void *f = base + k->off;
    bool null = plain && ydoc_is_null_text(s);
    long long iv;
    double dv;
    bool bv;
    gc_err e;
    if (memchr(s, 0, len)) { snprintf(why, nwhy, "text without NUL characters"); return -1; }
    switch (k->type) {
    case T_STR:
        if (null) s = "";
        for (const char *p = s; *p; p++)
            if ((unsigned char)*p < 0x20 || *p == 0x7F) goto bad;
        if (strlen(s) >= k->size) goto bad;
        strcpy(f, s);
        return 0;
    case T_PATH:
        if (null) s = "";
        for (const char *p = s; *p; p++)
            if ((unsigned char)*p < 0x20) goto bad;
        if (s[0] && paths_expand(s, rel_dir, f, k->size, &e)) { snprintf(why, nwhy, "a shorter path (%.300s)", e.msg); return -1; }
        if (!s[0]) ((char *)f)[0] = 0;
        return 0;
    case T_NAME:
        if (null || strlen(s) >= k->size || paths_check_name(s, "name", &e)) goto bad;
        strcpy(f, s);
        return 0;
    case T_INT:
    case T_I64:
        if (!plain || ydoc_parse_int(s, &iv)) goto bad;
        if (!(iv >= k->imin && iv <= k->imax) && !(k->has_alt && iv == k->alt)) goto bad;
        if (k->type == T_INT) *(int *)f = (int)iv; else *(long long *)f = iv;
        return 0;
    case T_FLOAT:
        if (!plain || ydoc_parse_double(s, &dv) || !(dv >= k->fmin && dv <= k->fmax)) goto bad;
        if (k->fmin_open && dv == k->fmin) goto bad;
        *(float *)f = (float)dv;
        return 0;
    case T_BOOL:
        if (!plain || ydoc_parse_bool(s, &bv)) goto bad;
        *(bool *)f = bv;
        return 0;
    case T_BACKEND:
        for (int b = 0; b < CFG_BACKEND_COUNT; b++)
            if (!strcasecmp(s, cfg_backend_name((cfg_backend)b))) {
                *(cfg_backend *)f = (cfg_backend)b;
                return 0;
            }
        goto bad;
    case T_TRISTATE:
        if (!strcasecmp(s, "auto")) *(cfg_tristate *)f = CFG_AUTO;
        else if (plain && !ydoc_parse_bool(s, &bv)) *(cfg_tristate *)f = bv ? CFG_ON : CFG_OFF;
        else goto bad;
        return 0;
    case T_COLOR:
        if (parse_color(s, f)) goto bad;
        return 0;
    }
bad:
    describe_expected(k, why, nwhy);
    if (!plain && (k->type == T_INT || k->type == T_I64 || k->type == T_FLOAT || k->type == T_BOOL))
        snprintf(why + strlen(why), nwhy - strlen(why), " (without quotes)");
    return -1;
}

int cfg_format_value(const cfg_config *c, int i, char *buf, size_t n)
{
    if (i < 0 || i >= N_KEYS) return -1;
    const key_def *k = &keys[i];
    const void *f = (const char *)c + k->off;
    switch (k->type) {
    case T_STR:
    case T_PATH:
    case T_NAME: {
        /* A double-quoted scalar, with YAML escapes for what it cannot hold
         * as it is: C0/C1 controls and DEL (refused in a YAML stream), and
         * NEL, U+2028, U+2029 (read as line breaks), U+FEFF (a BOM), so
         * that the text reads back as the same value. */
        size_t j = 0, left = strlen(f);
        const char *s = f;
        if (j + 1 < n) buf[j++] = '"';
        while (left && j + 12 < n) {
            uint32_t cp;
            int k = utf8_decode(s, left, &cp);
            if (k == 0) {                    /* not UTF-8 (only cfg_set can store that): as it is */
                buf[j++] = *s;
                k = 1;
            } else if (cp == '"' || cp == '\\') {
                buf[j++] = '\\';
                buf[j++] = *s;
            } else if (cp < 0x20 || (cp >= 0x7F && cp <= 0x9F)) {
                j += (size_t)snprintf(buf + j, n - j, "\\x%02X", (unsigned)cp);
            } else if (cp == 0x2028 || cp == 0x2029 || cp == 0xFEFF) {
                j += (size_t)snprintf(buf + j, n - j, "\\u%04X", (unsigned)cp);
            } else {
                memcpy(buf + j, s, (size_t)k);
                j += (size_t)k;
            }
            s += k;
            left -= (size_t)k;
        }
        buf[j++] = '"';
        buf[j] = 0;
        break;
    }
    case T_INT: snprintf(buf, n, "%d", *(const int *)f); break;
    case T_I64: snprintf(buf, n, "%lld", *(const long long *)f); break;
    case T_FLOAT: format_float(*(const float *)f, buf, n); break;
    case T_BOOL: snprintf(buf, n, "%s", *(const bool *)f ? "true" : "false"); break;
    case T_BACKEND: snprintf(buf, n, "%s", cfg_backend_name(*(const cfg_backend *)f)); break;
    case T_TRISTATE: {
        cfg_tristate t = *(const cfg_tristate *)f;
        snprintf(buf, n, "%s", t == CFG_AUTO ? "auto" : t == CFG_ON ? "true" : "false");
        break;
    }
    case T_COLOR: {
        char tmp[96];
        format_color(f, tmp, sizeof tmp);
        snprintf(buf, n, "\"%s\"", tmp);
        break;
    }
    }
    return 0;
}

void cfg_defaults(cfg_config *c)
{
    memset(c, 0, sizeof *c);
    c->backend = CFG_BACKEND_AUTO;
    strcpy(c->device, "auto");
    c->context = 0;   /* the trained length where memory allows: app/fit.h */
    c->max_tokens = 512;
    c->threads = 0;
    strcpy(c->persona, "assistant");
    c->sampling = (cfg_sampling){
        .temperature = 1.0f, .top_k = 64, .top_p = 0.95f, .min_p = 0.0f,
        .repeat_penalty = 1.0f, .repeat_last_n = 64, .seed = -1,
    };
    c->autosave = true;
    c->history = 1000;
    c->snapshots_mib = 1024;
    c->show_stats = false;
    c->colors = CFG_AUTO;
    c->color_user = (cfg_color){ 6, -1, CFG_ATTR_BOLD };
    c->color_model = (cfg_color){ -1, -1, 0 };
    c->color_notice = (cfg_color){ 3, -1, 0 };
    c->color_status = (cfg_color){ -1, -1, CFG_ATTR_REVERSE };
}

/* Edit distance, for "did you mean" on unknown keys. */
static int edit_distance(const char *a, const char *b)
{
    size_t la = strlen(a), lb = strlen(b);
    if (la > 63 || lb > 63) return 99;
    int row[64];
    for (size_t j = 0; j <= lb; j++) row[j] = (int)j;
    for (size_t i = 1; i <= la; i++) {
        int prev = row[0];
        row[0] = (int)i;
        for (size_t j = 1; j <= lb; j++) {
            int cur = row[j];
            int best = prev + (a[i - 1] != b[j - 1]);
            if (row[j] + 1 < best) best = row[j] + 1;
            if (row[j - 1] + 1 < best) best = row[j - 1] + 1;
            row[j] = best;
            prev = cur;
        }
    }
    return row[lb];
}

static const char *last_part(const char *name)
{
    const char *dot = strrchr(name, '.');
    return dot ? dot + 1 : name;
}

/* The key or section nearest to an unknown name (by whole dotted name or by
 * its last part), or NULL when nothing is close. */
static const char *suggest(const char *full)
{
    const char *best = NULL;
    int bd = 3;
    for (int i = 0; i < N_KEYS + (int)(sizeof sections / sizeof sections[0]); i++) {
        const char *cand = i < N_KEYS ? keys[i].name : sections[i - N_KEYS];
        int d1 = edit_distance(full, cand), d2 = edit_distance(last_part(full), last_part(cand));
        int dist = d1 < d2 ? d1 : d2;
        if (dist < bd) { bd = dist; best = cand; }
    }
    return best;
}

static void warn_unknown(const ydoc *d, const ydoc_node *keynode, const char *full, cfg_warn_fn warn, void *ctx)
{
    if (!warn) return;
    const char *best = suggest(full);
    char msg[600], shown[64];
    /* A key with control characters is shown as ydoc_describe does, not
     * written to the terminal as it is (a persona file may come from anyone). */
    for (const char *p = full; *p; p++)
        if ((unsigned char)*p < 0x20 || *p == 0x7f) {
            snprintf(msg, sizeof msg, "%s:%d: unknown key %s (ignored)", d->file, keynode->line,
                     ydoc_describe(keynode, shown, sizeof shown));
            warn(ctx, msg);
            return;
        }
    snprintf(msg, sizeof msg, "%s:%d: unknown key '%s' (ignored)%s%s%s", d->file, keynode->line,
             full, best ? "; did you mean '" : "", best ? best : "", best ? "'?" : "");
    warn(ctx, msg);
}

static bool is_section(const char *full)
{
    for (size_t i = 0; i < sizeof sections / sizeof sections[0]; i++)
        if (!strcmp(full, sections[i])) return true;
    return false;
}

/* Applies one mapping level. `view` is the struct the key offsets apply to
 * (a cfg_config, or a fake base for persona sampling); only keys whose names
 * start with `only` (when non-NULL) are known here. */
static int apply_map(char *view, unsigned char *origin, unsigned *smask, const ydoc *d, const ydoc_node *map,
                     const char *prefix, const char *only, cfg_source src, const char *rel_dir,
                     cfg_warn_fn warn, void *ctx, gc_err *err)
{
    for (size_t i = 0; i + 1 < map->n; i += 2) {
        const ydoc_node *kn = map->kids[i], *v = map->kids[i + 1];
        char full[160];
        if (kn->len > 64 || memchr(kn->str, 0, kn->len)) {
            char shown[64];
            if (warn) {
                char msg[400];
                snprintf(msg, sizeof msg, "%s:%d: unknown key %s (ignored)", d->file, kn->line,
                         ydoc_describe(kn, shown, sizeof shown));
                warn(ctx, msg);
            }
            continue;
        }
        snprintf(full, sizeof full, "%s%s%s", prefix, prefix[0] ? "." : "", kn->str);
        if (!only && is_section(full)) {
            if (ydoc_is_null(v)) continue;
            if (!strcmp(full, "colors") && v->kind == YDOC_SCALAR) {
                /* "colors: false" is short for colors.enabled. */
                strcpy(full, "colors.enabled");
            } else {
                if (ydoc_want(d, v, YDOC_MAP, full, err)) return -1;
                if (apply_map(view, origin, smask, d, v, full, only, src, rel_dir, warn, ctx, err)) return -1;
                continue;
            }
        }
        int ki = key_index(full);
        if (ki >= 0 && only && strncmp(full, only, strlen(only))) ki = -1;
        if (ki < 0) { warn_unknown(d, kn, full, warn, ctx); continue; }
        const key_def *k = &keys[ki];
        char why[400], desc[64];
        if (v->kind != YDOC_SCALAR) {
            describe_expected(k, why, sizeof why);
            return ydoc_errf(d, v, err, "'%s' must be %s, got %s", full, why, ydoc_describe(v, desc, sizeof desc));
        }
        if (parse_value(k, view, v->str, v->len, v->plain, rel_dir, why, sizeof why))
            return ydoc_errf(d, v, err, "'%s' must be %s, got %s", full, why, ydoc_describe(v, desc, sizeof desc));
        if (origin) origin[ki] = (unsigned char)src;
        if (smask) {
            static const char *sk[] = { "temperature", "top_k", "top_p", "min_p", "repeat_penalty",
                                        "repeat_last_n", "seed" };
            for (int b = 0; b < 7; b++)
                if (!strcmp(full + strlen("sampling."), sk[b])) *smask |= 1u << b;
        }
    }
    return 0;
}

static int apply_doc(cfg_config *c, const ydoc *d, cfg_source src, const char *rel_dir, cfg_warn_fn warn,
                     void *ctx, gc_err *err)
{
    if (!d->root || ydoc_is_null(d->root)) return 0;   /* an empty file sets nothing */
    if (d->root->kind != YDOC_MAP)
        return ydoc_errf(d, d->root, err, "the top level must be a mapping of keys (key: value)");
    /* Apply to a copy so a failing file leaves c as it was. */
    cfg_config tmp = *c;
    if (apply_map((char *)&tmp, tmp.origin, NULL, d, d->root, "", NULL, src, rel_dir, warn, ctx, err)) return -1;
    *c = tmp;
    return 0;
}

static void dir_of(const char *path, char *buf, size_t n)
{
    snprintf(buf, n, "%s", path);
    char *slash = strrchr(buf, '/');
    if (!slash) snprintf(buf, n, ".");
    else if (slash == buf) buf[1] = 0;
    else *slash = 0;
}

int cfg_load_buf(cfg_config *c, const char *name, const char *buf, size_t len, cfg_source src,
                 cfg_warn_fn warn, void *ctx, gc_err *err)
{
    ydoc *d;
    if (ydoc_load_buf(name, buf, len, &config_limits, &d, err)) return -1;
    char dir[PATHS_MAX];
    dir_of(name, dir, sizeof dir);
    int rc = apply_doc(c, d, src, dir, warn, ctx, err);
    ydoc_free(d);
    return rc;
}

int cfg_load_file(cfg_config *c, const char *path, cfg_source src, cfg_warn_fn warn, void *ctx, gc_err *err)
{
    ydoc *d;
    if (ydoc_load_file(path, &config_limits, &d, err)) return -1;
    char dir[PATHS_MAX];
    dir_of(path, dir, sizeof dir);
    int rc = apply_doc(c, d, src, dir, warn, ctx, err);
    ydoc_free(d);
    return rc;
}

/* Loads path when it exists; a missing optional file is not an error. */
static int load_optional(cfg_config *c, const char *path, cfg_source src, cfg_warn_fn warn, void *ctx, gc_err *err)
{
    struct stat st;
    if (stat(path, &st) != 0 && errno == ENOENT) return 0;
    return cfg_load_file(c, path, src, warn, ctx, err);
}

int cfg_load(cfg_config *c, const char *share_dir, const char *user_file, const char *extra_file,
             cfg_warn_fn warn, void *ctx, gc_err *err)
{
    cfg_defaults(c);
    char share[PATHS_MAX], path[PATHS_MAX + 32];
    gc_err ignored;
    if (!share_dir && !paths_share_dir(share, sizeof share, &ignored)) share_dir = share;
    if (share_dir && share_dir[0]) {
        if (paths_join(path, sizeof path, err, "%s/config.yaml", share_dir)) return -1;
        if (load_optional(c, path, CFG_SRC_SHARE, warn, ctx, err)) return -1;
    }
    if (!user_file) {
        char dir[PATHS_MAX];
        if (!paths_user_dir(PATHS_CONFIG, dir, sizeof dir, &ignored)) {
            if (paths_join(path, sizeof path, err, "%s/config.yaml", dir)) return -1;
            if (load_optional(c, path, CFG_SRC_USER, warn, ctx, err)) return -1;
        }
    } else if (user_file[0] && load_optional(c, user_file, CFG_SRC_USER, warn, ctx, err)) {
        return -1;
    }
    if (extra_file && cfg_load_file(c, extra_file, CFG_SRC_FILE, warn, ctx, err)) return -1;
    return cfg_apply_env(c, err);
}

int cfg_set(cfg_config *c, const char *key, const char *value, cfg_source src, const char *what, gc_err *err)
{
    int ki = key_index(key);
    if (ki < 0) return gc_errf(err, "%s: unknown setting '%s'", what, key);
    char why[400];
    cfg_config tmp = *c;
    if (parse_value(&keys[ki], (char *)&tmp, value, strlen(value), true, NULL, why, sizeof why)) {
        char shown[64];
        ydoc_node fake = { .kind = YDOC_SCALAR, .plain = true, .str = (char *)value, .len = strlen(value) };
        return gc_errf(err, "%s: '%s' must be %s, got %s", what, key, why, ydoc_describe(&fake, shown, sizeof shown));
    }
    tmp.origin[ki] = (unsigned char)src;
    *c = tmp;
    return 0;
}

const cfg_env cfg_env_vars[] = {
    { "GEMMA_CHAT_MODEL", "model" },       { "GEMMA_CHAT_BACKEND", "backend" },
    { "GEMMA_CHAT_DEVICE", "device" },     { "GEMMA_CHAT_CONTEXT", "context" },
    { "GEMMA_CHAT_PERSONA", "persona" },   { "GEMMA_CHAT_SEED", "sampling.seed" },
    { NULL, NULL },
};

int cfg_apply_env(cfg_config *c, gc_err *err)
{
    for (const cfg_env *e = cfg_env_vars; e->var; e++) {
        const char *v = getenv(e->var);
        if (v && v[0] && cfg_set(c, e->key, v, CFG_SRC_ENV, e->var, err)) return -1;
    }
    const char *nc = getenv("NO_COLOR");
    if (nc && nc[0]) {
        c->colors = CFG_OFF;
        c->origin[key_index("colors.enabled")] = CFG_SRC_ENV;
    }
    return 0;
}

int cfg_read_sampling(const ydoc *d, const ydoc_node *map, cfg_sampling *s, unsigned *mask,
                      cfg_warn_fn warn, void *ctx, gc_err *err)
{
    if (ydoc_is_null(map)) return 0;
    if (ydoc_want(d, map, YDOC_MAP, "sampling", err)) return -1;
    /* The sampling rows address a cfg_config; give them one around s. */
    cfg_config view;
    view.sampling = *s;
    unsigned m = 0;
    if (apply_map((char *)&view, NULL, &m, d, map, "sampling", "sampling.", CFG_SRC_FILE, NULL, warn, ctx, err))
        return -1;
    *s = view.sampling;
    *mask |= m;
    return 0;
}

int cfg_transcripts_dir(const cfg_config *c, char *buf, size_t n, gc_err *err)
{
    if (!c->transcripts_dir[0]) return paths_ensure_user_dir(PATHS_DATA, "transcripts", buf, n, err);
    if (paths_join(buf, n, err, "%s", c->transcripts_dir)) return -1;
    return paths_mkdir_p(buf, 0700, err);
}
