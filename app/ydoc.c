#include "app/ydoc.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>
#include <yaml.h>

#include "base/file.h"
#include "base/utf8.h"

int ydoc_errf(const ydoc *d, const ydoc_node *n, gc_err *err, const char *fmt, ...)
{
    if (!err) return -1;
    char msg[sizeof err->msg];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    const char *file = d && d->file ? d->file : "(input)";
    if (n) return gc_errf(err, "%s:%d: %s", file, n->line, msg);
    return gc_errf(err, "%s: %s", file, msg);
}

static void node_free(ydoc_node *n)
{
    if (!n) return;
    for (size_t i = 0; i < n->n; i++) node_free(n->kids[i]);
    free(n->kids);
    free(n->str);
    free(n);
}

void ydoc_free(ydoc *d)
{
    if (!d) return;
    node_free(d->root);
    free(d->file);
    free(d);
}

/* Characters YAML accepts in a stream (c-printable, plus line breaks). */
static bool yaml_printable(uint32_t c)
{
    return c == 0x09 || c == 0x0A || c == 0x0D || (c >= 0x20 && c <= 0x7E) || c == 0x85 ||
           (c >= 0xA0 && c <= 0xD7FF) || (c >= 0xE000 && c <= 0xFFFD) || (c >= 0x10000 && c <= 0x10FFFF);
}

/* Finds binary junk before libyaml sees it, so the message can say what it
 * is and where (libyaml's own messages are terse and count columns in
 * characters of a stream it may have mis-decoded). */
static int prescan(const char *name, const char *buf, size_t len, gc_err *err)
{
    int line = 1, col = 1;
    size_t i = 0;
    while (i < len) {
        uint32_t c;
        int k = utf8_decode(buf + i, len - i, &c);
        if (!k)
            return gc_errf(err, "%s:%d:%d: invalid UTF-8 (byte 0x%02x): not a YAML text file", name, line, col,
                           (unsigned char)buf[i]);
        if (c == 0) return gc_errf(err, "%s:%d:%d: NUL byte: not a YAML text file", name, line, col);
        if (!yaml_printable(c) && !(c == 0xFEFF && i == 0))
            return gc_errf(err, "%s:%d:%d: control character U+%04X is not allowed in YAML", name, line, col,
                           (unsigned)c);
        if (c == '\n') { line++; col = 1; } else col++;
        i += (size_t)k;
    }
    return 0;
}

typedef struct builder {
    ydoc *d;
    const ydoc_limits *lim;
    ydoc_node *stack[256];      /* open containers; depth <= lim->max_depth <= 255 */
    int depth;
    size_t nodes;
    int docs;
} builder;

static int add_kid(ydoc_node *parent, ydoc_node *kid)
{
    if (parent->n % 16 == 0) {
        ydoc_node **k = realloc(parent->kids, (parent->n + 16) * sizeof *k);
        if (!k) return -1;
        parent->kids = k;
    }
    parent->kids[parent->n++] = kid;
    return 0;
}

static const char *tag_problem(const yaml_char_t *tag, bool *is_str)
{
    *is_str = false;
    if (!tag || !strcmp((const char *)tag, "!")) return NULL;
    static const char *core[] = { "str", "int", "float", "bool", "null", "map", "seq" };
    const char *pre = "tag:yaml.org,2002:";
    if (!strncmp((const char *)tag, pre, strlen(pre))) {
        const char *t = (const char *)tag + strlen(pre);
        for (size_t i = 0; i < sizeof core / sizeof core[0]; i++)
            if (!strcmp(t, core[i])) { *is_str = i == 0; return NULL; }
    }
    return (const char *)tag;
}

/* Attaches a new node to the open container (or makes it the root). */
static int attach(builder *b, ydoc_node *n, gc_err *err)
{
    ydoc *d = b->d;
    if (++b->nodes > b->lim->max_nodes) {
        int line = n->line;
        node_free(n);
        return gc_errf(err, "%s:%d: more than %zu YAML nodes: file too complex", d->file, line,
                       b->lim->max_nodes);
    }
    if (b->depth == 0) {
        if (d->root) { node_free(n); return gc_errf(err, "%s:%d: unexpected node", d->file, n->line); }
        d->root = n;
        return 0;
    }
    ydoc_node *p = b->stack[b->depth - 1];
    if (p->kind == YDOC_MAP && p->n % 2 == 0) {
        /* n is a key */
        if (n->kind != YDOC_SCALAR) {
            int line = n->line;
            node_free(n);
            return gc_errf(err, "%s:%d: a mapping key must be a plain string", d->file, line);
        }
        if (p->n / 2 >= b->lim->max_map_keys) {
            int line = n->line;
            node_free(n);
            return gc_errf(err, "%s:%d: mapping with more than %zu keys", d->file, line, b->lim->max_map_keys);
        }
        for (size_t i = 0; i < p->n; i += 2) {
            ydoc_node *k = p->kids[i];
            if (k->len == n->len && !memcmp(k->str, n->str, n->len)) {
                int line = n->line;
                char desc[96];
                ydoc_describe(n, desc, sizeof desc);
                node_free(n);
                return gc_errf(err, "%s:%d: duplicate key %s (first at line %d)", d->file, line, desc, k->line);
            }
        }
    }
    if (add_kid(p, n)) { node_free(n); return gc_errf(err, "%s: out of memory", d->file); }
    return 0;
}

static ydoc_node *new_node(ydoc_kind kind, const yaml_event_t *ev)
{
    ydoc_node *n = calloc(1, sizeof *n);
    if (!n) return NULL;
    n->kind = kind;
    n->line = (int)ev->start_mark.line + 1;
    n->col = (int)ev->start_mark.column + 1;
    return n;
}

static int on_event(builder *b, const yaml_event_t *ev, gc_err *err)
{
    ydoc *d = b->d;
    int line = (int)ev->start_mark.line + 1;
    bool is_str;
    const char *bad_tag;
    ydoc_node *n;
    switch (ev->type) {
    case YAML_DOCUMENT_START_EVENT:
        if (++b->docs > 1) return gc_errf(err, "%s:%d: more than one YAML document ('---')", d->file, line);
        return 0;
    case YAML_ALIAS_EVENT:
        return gc_errf(err, "%s:%d: YAML aliases (*%s) are not supported", d->file, line,
                       (const char *)ev->data.alias.anchor);
    case YAML_SCALAR_EVENT:
        if ((bad_tag = tag_problem(ev->data.scalar.tag, &is_str)))
            return gc_errf(err, "%s:%d: unsupported YAML tag '%.60s'", d->file, line, bad_tag);
        if (!(n = new_node(YDOC_SCALAR, ev))) return gc_errf(err, "%s: out of memory", d->file);
        n->plain = ev->data.scalar.style == YAML_PLAIN_SCALAR_STYLE && !is_str;
        n->len = ev->data.scalar.length;
        n->str = malloc(n->len + 1);
        if (!n->str) { node_free(n); return gc_errf(err, "%s: out of memory", d->file); }
        memcpy(n->str, ev->data.scalar.value, n->len);
        n->str[n->len] = 0;
        return attach(b, n, err);
    case YAML_SEQUENCE_START_EVENT:
    case YAML_MAPPING_START_EVENT:
        bad_tag = tag_problem(ev->type == YAML_MAPPING_START_EVENT ? ev->data.mapping_start.tag
                                                                   : ev->data.sequence_start.tag, &is_str);
        if (bad_tag) return gc_errf(err, "%s:%d: unsupported YAML tag '%.60s'", d->file, line, bad_tag);
        if (b->depth >= b->lim->max_depth)
            return gc_errf(err, "%s:%d: YAML nested deeper than %d levels", d->file, line, b->lim->max_depth);
        n = new_node(ev->type == YAML_MAPPING_START_EVENT ? YDOC_MAP : YDOC_SEQ, ev);
        if (!n) return gc_errf(err, "%s: out of memory", d->file);
        if (attach(b, n, err)) return -1;
        b->stack[b->depth++] = n;
        return 0;
    case YAML_SEQUENCE_END_EVENT:
    case YAML_MAPPING_END_EVENT:
        if (b->depth > 0) b->depth--;
        return 0;
    default:
        return 0;
    }
}

int ydoc_load_buf(const char *name, const char *buf, size_t len, const ydoc_limits *lim,
                  ydoc **out, gc_err *err)
{
    *out = NULL;
    if (!name) name = "(input)";
    if (len > lim->max_bytes) {
        int line = 1;
        for (size_t i = 0; i < lim->max_bytes; i++) line += buf[i] == '\n';
        return gc_errf(err, "%s:%d: file is larger than the %zu-byte limit (%zu bytes)", name, line,
                       lim->max_bytes, len);
    }
    if (prescan(name, buf, len, err)) return -1;
    if (lim->max_depth > 255) return gc_errf(err, "%s: depth limit too large", name);
    ydoc *d = calloc(1, sizeof *d);
    if (!d || !(d->file = strdup(name))) { free(d); return gc_errf(err, "%s: out of memory", name); }
    builder b = { .d = d, .lim = lim };

    yaml_parser_t parser;
    if (!yaml_parser_initialize(&parser)) { ydoc_free(d); return gc_errf(err, "%s: out of memory", name); }
    yaml_parser_set_input_string(&parser, (const unsigned char *)buf, len);
    int rc = 0;
    for (;;) {
        yaml_event_t ev;
        if (!yaml_parser_parse(&parser, &ev)) {
            const char *problem = parser.problem ? parser.problem : "invalid YAML";
            if (parser.context)
                rc = gc_errf(err, "%s:%zu:%zu: %s (%s, which began at line %zu)", name,
                             parser.problem_mark.line + 1, parser.problem_mark.column + 1, problem,
                             parser.context, parser.context_mark.line + 1);
            else
                rc = gc_errf(err, "%s:%zu:%zu: %s", name, parser.problem_mark.line + 1,
                             parser.problem_mark.column + 1, problem);
            break;
        }
        int done = ev.type == YAML_STREAM_END_EVENT;
        rc = on_event(&b, &ev, err);
        yaml_event_delete(&ev);
        if (rc || done) break;
    }
    yaml_parser_delete(&parser);
    if (rc) { ydoc_free(d); return -1; }
    *out = d;
    return 0;
}

int ydoc_load_file(const char *path, const ydoc_limits *lim, ydoc **out, gc_err *err)
{
    *out = NULL;
    struct stat st;
    int fd = file_open_input(path, "", &st, err);
    if (fd < 0) return -1;
    /* Read at most one byte past the limit: enough to know it is too big
     * and to name the line where the limit falls. */
    char *buf;
    size_t len;
    int r = file_read_fd(fd, path, lim->max_bytes, &buf, &len, err);
    close(fd);
    if (r) return -1;
    int rc;
    if (len > lim->max_bytes && (size_t)st.st_size > len) {
        int line = 1;
        for (size_t i = 0; i < lim->max_bytes; i++) line += buf[i] == '\n';
        rc = gc_errf(err, "%s:%d: file is larger than the %zu-byte limit (%lld bytes)", path, line,
                     lim->max_bytes, (long long)st.st_size);
    } else {
        rc = ydoc_load_buf(path, buf, len, lim, out, err);
    }
    free(buf);
    return rc;
}

const ydoc_node *ydoc_map_key(const ydoc_node *map, const char *key)
{
    if (!map || map->kind != YDOC_MAP) return NULL;
    size_t kl = strlen(key);
    for (size_t i = 0; i + 1 < map->n; i += 2)
        if (map->kids[i]->len == kl && !memcmp(map->kids[i]->str, key, kl)) return map->kids[i];
    return NULL;
}

const ydoc_node *ydoc_map_get(const ydoc_node *map, const char *key)
{
    const ydoc_node *k = ydoc_map_key(map, key);
    if (!k) return NULL;
    for (size_t i = 0; i + 1 < map->n; i += 2)
        if (map->kids[i] == k) return map->kids[i + 1];
    return NULL;
}

bool ydoc_is_null_text(const char *s)
{
    return !s[0] || !strcmp(s, "~") || !strcmp(s, "null") || !strcmp(s, "Null") || !strcmp(s, "NULL");
}

bool ydoc_is_null(const ydoc_node *n)
{
    return n && n->kind == YDOC_SCALAR && n->plain && ydoc_is_null_text(n->str);
}

int ydoc_parse_bool(const char *s, bool *out)
{
    static const char *yes[] = { "true", "yes", "on", "y" }, *no[] = { "false", "no", "off", "n" };
    for (int i = 0; i < 4; i++) {
        if (!strcasecmp(s, yes[i])) { *out = true; return 0; }
        if (!strcasecmp(s, no[i])) { *out = false; return 0; }
    }
    return -1;
}

int ydoc_parse_int(const char *s, long long *out)
{
    if (!s[0] || s[0] == ' ' || s[0] == '\t') return -1;
    errno = 0;
    char *end;
    long long v = strtoll(s, &end, 10);
    if (errno || *end) return -1;
    *out = v;
    return 0;
}

int ydoc_parse_double(const char *s, double *out)
{
    if (!s[0] || s[0] == ' ' || s[0] == '\t') return -1;
    /* strtod also takes hex floats, "inf" and "nan": none belongs in a config. */
    for (const char *p = s; *p; p++)
        if (!strchr("0123456789+-.eE", *p)) return -1;
    errno = 0;
    char *end;
    double v = strtod(s, &end);
    if (errno == ERANGE && fabs(v) > 1) return -1;
    if (*end || !isfinite(v)) return -1;
    *out = v;
    return 0;
}

const char *ydoc_describe(const ydoc_node *n, char *buf, size_t n_buf)
{
    if (!n) return "nothing";
    if (n->kind == YDOC_MAP) return "a mapping";
    if (n->kind == YDOC_SEQ) return "a list";
    if (ydoc_is_null(n)) return "nothing (null)";
    /* Quote at most 40 bytes, with control characters shown as '?'. */
    size_t k = 0, i = 0;
    if (n_buf < 8) return "a value";
    buf[k++] = '\'';
    for (; i < n->len && k + 5 < n_buf && i < 40; i++) {
        unsigned char c = (unsigned char)n->str[i];
        buf[k++] = c < 0x20 || c == 0x7F ? '?' : (char)c;
    }
    /* Do not cut a UTF-8 sequence in half. */
    while (k > 1 && i < n->len && ((unsigned char)buf[k - 1] & 0xC0) == 0x80) k--;
    if (k > 1 && i < n->len && ((unsigned char)buf[k - 1] & 0xC0) == 0xC0) k--;
    if (i < n->len) { buf[k++] = '.'; buf[k++] = '.'; buf[k++] = '.'; }
    buf[k++] = '\'';
    buf[k] = 0;
    return buf;
}

int ydoc_want(const ydoc *d, const ydoc_node *n, ydoc_kind kind, const char *key, gc_err *err)
{
    if (n && n->kind == kind) return 0;
    char desc[64];
    return ydoc_errf(d, n, err, "'%s' must be %s, got %s", key, kind == YDOC_MAP ? "a mapping" : "a list",
                     ydoc_describe(n, desc, sizeof desc));
}

int ydoc_get_bool(const ydoc *d, const ydoc_node *n, const char *key, bool *out, gc_err *err)
{
    if (n->kind == YDOC_SCALAR && n->plain && !ydoc_parse_bool(n->str, out)) return 0;
    char desc[64];
    return ydoc_errf(d, n, err, "'%s' must be true or false, got %s%s", key,
                     n->kind == YDOC_SCALAR && !n->plain ? "the quoted string " : "",
                     ydoc_describe(n, desc, sizeof desc));
}

int ydoc_get_int(const ydoc *d, const ydoc_node *n, const char *key, long long min, long long max,
                 long long *out, gc_err *err)
{
    long long v;
    if (n->kind == YDOC_SCALAR && n->plain && !ydoc_parse_int(n->str, &v) && v >= min && v <= max) {
        *out = v;
        return 0;
    }
    char desc[64];
    return ydoc_errf(d, n, err, "'%s' must be an integer in [%lld, %lld], got %s%s", key, min, max,
                     n->kind == YDOC_SCALAR && !n->plain ? "the quoted string " : "",
                     ydoc_describe(n, desc, sizeof desc));
}

int ydoc_get_double(const ydoc *d, const ydoc_node *n, const char *key, double min, double max,
                    double *out, gc_err *err)
{
    double v;
    if (n->kind == YDOC_SCALAR && n->plain && !ydoc_parse_double(n->str, &v) && v >= min && v <= max) {
        *out = v;
        return 0;
    }
    char desc[64];
    return ydoc_errf(d, n, err, "'%s' must be a number in [%g, %g], got %s%s", key, min, max,
                     n->kind == YDOC_SCALAR && !n->plain ? "the quoted string " : "",
                     ydoc_describe(n, desc, sizeof desc));
}

int ydoc_get_str(const ydoc *d, const ydoc_node *n, const char *key, size_t max_len,
                 const char **out, gc_err *err)
{
    char desc[64];
    if (n->kind != YDOC_SCALAR)
        return ydoc_errf(d, n, err, "'%s' must be a string, got %s", key, ydoc_describe(n, desc, sizeof desc));
    if (memchr(n->str, 0, n->len))
        return ydoc_errf(d, n, err, "'%s' contains a NUL character", key);
    if (n->len > max_len)
        return ydoc_errf(d, n, err, "'%s' is too long (%zu bytes, at most %zu)", key, n->len, max_len);
    *out = n->str;
    return 0;
}
