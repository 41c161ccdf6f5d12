/* ydoc.h: a small, defensive YAML document tree over libyaml's event API.
 *
 * config.yaml, personas and transcripts are read through this module so that
 * every reader gets the same protection against hostile files and the same
 * "file:line: what is wrong" messages:
 *   - a size cap (checked before parsing; the message names the line where
 *     the cap falls) and only regular files;
 *   - a pre-scan that rejects NUL bytes, invalid UTF-8 and characters YAML
 *     does not allow, with line and column (binary junk fails here);
 *   - a nesting-depth cap, a node-count cap and a per-mapping key cap, so
 *     deep or huge documents are refused early, not after eating memory;
 *   - aliases (*name) are refused outright, which rules out alias bombs;
 *   - duplicate keys, non-scalar keys, several documents and unknown tags
 *     are errors.
 * Scalars keep whether they were plain (unquoted, untagged): only plain
 * scalars can be null, booleans or numbers, so `top_k: "40"` is a string.
 */
#ifndef GC_YDOC_H
#define GC_YDOC_H

#include <stdbool.h>
#include <stddef.h>

#include "base/err.h"

typedef enum ydoc_kind { YDOC_SCALAR, YDOC_MAP, YDOC_SEQ } ydoc_kind;

typedef struct ydoc_node {
    ydoc_kind kind;
    int line, col;              /* 1-based start of the node in the file */
    bool plain;                 /* scalar: plain style and no !!str tag */
    char *str;                  /* scalar: text, NUL-terminated */
    size_t len;                 /* scalar: bytes in str (escapes may put a NUL inside) */
    struct ydoc_node **kids;    /* SEQ: items [n]; MAP: key, value, key, value ... [n] */
    size_t n, cap_kids;
} ydoc_node;

typedef struct ydoc {
    char *file;                 /* name used in messages */
    ydoc_node *root;            /* NULL when the stream holds no document */
} ydoc;

typedef struct ydoc_limits {
    size_t max_bytes;           /* file size */
    int max_depth;              /* nested mappings/sequences */
    size_t max_nodes;
    size_t max_map_keys;        /* keys in one mapping */
} ydoc_limits;

/* Reads and parses a file. `name` (NULL = path) is what messages call it. */
int ydoc_load_file(const char *path, const ydoc_limits *lim, ydoc **out, gc_err *err);
/* Parses buf[len] (need not be NUL-terminated); `name` is used in messages. */
int ydoc_load_buf(const char *name, const char *buf, size_t len, const ydoc_limits *lim,
                  ydoc **out, gc_err *err);
void ydoc_free(ydoc *d);

/* "FILE:LINE: message" about node n (n may be NULL: "FILE: message"). Returns -1. */
int ydoc_errf(const ydoc *d, const ydoc_node *n, gc_err *err, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* Value of `key` in mapping `map`, or NULL (also when map is not a mapping). */
const ydoc_node *ydoc_map_get(const ydoc_node *map, const char *key);
/* Key node of `key` in `map` (for line numbers), or NULL. */
const ydoc_node *ydoc_map_key(const ydoc_node *map, const char *key);

/* Scalar parsers shared with command-line and environment values. Each
 * returns 0 when s is entirely a value of that type. Booleans accept the
 * YAML 1.1 words true/false/yes/no/on/off (any case); numbers reject
 * trailing junk, nan and inf. */
bool ydoc_is_null_text(const char *s);
int ydoc_parse_bool(const char *s, bool *out);
int ydoc_parse_int(const char *s, long long *out);
int ydoc_parse_double(const char *s, double *out);

/* A plain scalar that reads as null: "", "~", "null". */
bool ydoc_is_null(const ydoc_node *n);

/* Typed reads of node n for `key` (the dotted name shown in messages). Each
 * fails with "FILE:LINE: 'KEY' must be <type/range>, got <what>". */
int ydoc_get_bool(const ydoc *d, const ydoc_node *n, const char *key, bool *out, gc_err *err);
int ydoc_get_int(const ydoc *d, const ydoc_node *n, const char *key, long long min, long long max,
                 long long *out, gc_err *err);
int ydoc_get_double(const ydoc *d, const ydoc_node *n, const char *key, double min, double max,
                    double *out, gc_err *err);
/* A string scalar (plain or quoted) without NUL bytes, at most max_len bytes. */
int ydoc_get_str(const ydoc *d, const ydoc_node *n, const char *key, size_t max_len,
                 const char **out, gc_err *err);
/* Requires a mapping (or a sequence) at n. */
int ydoc_want(const ydoc *d, const ydoc_node *n, ydoc_kind kind, const char *key, gc_err *err);

/* Short description of a node for messages: "a mapping", "'abc'" ... */
const char *ydoc_describe(const ydoc_node *n, char *buf, size_t n_buf);

#endif
