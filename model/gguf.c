/* gguf.c: GGUF v2/v3 parser and validator over an mmap'd (or in-memory) file.
 *
 * One pass reads the header, the key/value pairs and the tensor infos through
 * a bounds-checked cursor; then whole-file checks run (duplicate names,
 * alignment, tensor data inside the file and not overlapping). Every failure
 * message has the form
 *     FILE: byte OFFSET: WHAT: problem
 * where WHAT names the record (kv[3] 'general.name', tensor[7] 'blk.0.attn_q.weight')
 * and the field. Counts from the file never size an allocation directly:
 * arrays grow as records are actually parsed, so a huge count in a small file
 * fails at the first record that runs past the end.
 */
#include "model/gguf.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/buf.h"
#include "base/file.h"
#include "model/quant.h"

_Static_assert(__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__, "GGUF is read in place: little-endian hosts only");

static const char *const type_names[GGUF_TYPE_COUNT] = {
    "u8", "i8", "u16", "i16", "u32", "i32", "f32", "bool", "string", "array", "u64", "i64", "f64",
};
static const uint8_t type_sizes[GGUF_TYPE_COUNT] = { 1, 1, 2, 2, 4, 4, 4, 1, 0, 0, 8, 8, 8 };

const char *gguf_kv_type_name(uint32_t type)
{
    if (type < GGUF_TYPE_COUNT) return type_names[type];
    static _Thread_local char buf[32];
    snprintf(buf, sizeof buf, "type %u", type);
    return buf;
}

uint64_t gguf_type_size(uint32_t type)
{
    return type < GGUF_TYPE_COUNT ? type_sizes[type] : 0;
}

const char *gguf_str_print(gguf_str s, char *buf, size_t n)
{
    size_t k = 0;
    if (n == 0) return buf;
    for (uint64_t i = 0; i < s.len; i++) {
        unsigned char c = (unsigned char)s.ptr[i];
        if (k + 8 >= n || k >= 60) {   /* room for "\xNN" / "..." and the NUL */
            if (k + 4 <= n) { memcpy(buf + k, "...", 3); k += 3; }
            break;
        }
        if (c >= 0x20 && c < 0x7f) buf[k++] = (char)c;
        else k += (size_t)snprintf(buf + k, n - k, "\\x%02x", c);
    }
    buf[k] = 0;
    return buf;
}

bool gguf_str_eq(gguf_str s, const char *c)
{
    size_t n = strlen(c);
    return s.len == n && memcmp(s.ptr, c, n) == 0;
}

/* ---- bounds-checked cursor ---- */

typedef struct parser {
    const uint8_t *base;          /* byte 0 of the file */
    uint64_t size;
    uint64_t pos;                 /* invariant: pos <= size */
    const char *name;             /* file name for messages */
    gc_err *err;                  /* NULL: fail quietly (re-walking validated data) */
    char ctx[200];                /* the record being read: "kv[3] 'general.name'" */
    int depth;                    /* array nesting of the value being read */
    uint64_t elem[GGUF_MAX_NEST + 1];   /* element index at each nesting level */
} parser;

static int fail(parser *p, uint64_t off, const char *field, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static int fail(parser *p, uint64_t off, const char *field, const char *fmt, ...)
{
    if (!p->err) return -1;
    char where[400], msg[600];
    int k = snprintf(where, sizeof where, "%s", p->ctx);
    for (int d = 0; d < p->depth && k > 0 && (size_t)k < sizeof where; d++)
        k += snprintf(where + k, sizeof where - (size_t)k, " element %llu", (unsigned long long)p->elem[d]);
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    return gc_errf(p->err, "%s: byte %llu: %s%s%s: %s", p->name, (unsigned long long)off, where,
                   where[0] && field[0] ? " " : "", field, msg);
}

static uint64_t left(const parser *p) { return p->size - p->pos; }

static int need(parser *p, uint64_t n, const char *field)
{
    if (left(p) >= n) return 0;
    return fail(p, p->pos, field, "needs %llu bytes, but the file ends after %llu (file size %llu)",
                (unsigned long long)n, (unsigned long long)left(p), (unsigned long long)p->size);
}

static int rd_u32(parser *p, const char *field, uint32_t *v)
{
    if (need(p, 4, field)) return -1;
    memcpy(v, p->base + p->pos, 4);
    p->pos += 4;
    return 0;
}

static int rd_u64(parser *p, const char *field, uint64_t *v)
{
    if (need(p, 8, field)) return -1;
    memcpy(v, p->base + p->pos, 8);
    p->pos += 8;
    return 0;
}

/* u64 length + bytes. field names the string ("key", "name", "value"). */
static int rd_str(parser *p, const char *field, gguf_str *s)
{
    uint64_t at = p->pos, len;
    if (left(p) < 8) {   /* name the field only when failing: this runs once per token */
        char f[64];
        snprintf(f, sizeof f, "%s length", field);
        return need(p, 8, f);
    }
    memcpy(&len, p->base + p->pos, 8);
    p->pos += 8;
    if (len > left(p))
        return fail(p, at, field, "string of %llu bytes runs past the end of the file (%llu bytes left, file size %llu)",
                    (unsigned long long)len, (unsigned long long)left(p), (unsigned long long)p->size);
    s->ptr = (const char *)p->base + p->pos;
    s->len = len;
    p->pos += len;
    return 0;
}

/* Reads one value of `type` at the cursor into out (key untouched); arrays
 * are validated element by element, nested ones recursively. */
static int parse_value(parser *p, uint32_t type, gguf_kv *out)
{
    uint64_t at = p->pos;
    out->type = type;
    out->value_offset = at;
    out->arr_type = 0; out->arr_count = 0; out->arr_data = NULL; out->arr_bytes = 0;
    memset(&out->v, 0, sizeof out->v);
    if (type >= GGUF_TYPE_COUNT)
        return fail(p, at, "value type", "%u is not a GGUF value type (0..12)", type);
    const uint8_t *b = p->base + p->pos;
    switch (type) {
    case GGUF_STRING:
        return rd_str(p, "value", &out->v.s);
    case GGUF_ARRAY:
        break;
    default:
        if (need(p, type_sizes[type], "value")) return -1;
        switch (type) {
        case GGUF_U8: out->v.u = b[0]; break;
        case GGUF_I8: out->v.i = (int8_t)b[0]; break;
        case GGUF_BOOL:
            if (b[0] > 1) return fail(p, at, "value", "bool is %u, not 0 or 1", b[0]);
            out->v.u = b[0];
            break;
        case GGUF_U16: { uint16_t x; memcpy(&x, b, 2); out->v.u = x; break; }
        case GGUF_I16: { int16_t x; memcpy(&x, b, 2); out->v.i = x; break; }
        case GGUF_U32: { uint32_t x; memcpy(&x, b, 4); out->v.u = x; break; }
        case GGUF_I32: { int32_t x; memcpy(&x, b, 4); out->v.i = x; break; }
        case GGUF_U64: { uint64_t x; memcpy(&x, b, 8); out->v.u = x; break; }
        case GGUF_I64: { int64_t x; memcpy(&x, b, 8); out->v.i = x; break; }
        case GGUF_F32: { float x; memcpy(&x, b, 4); out->v.f = x; break; }
        case GGUF_F64: { double x; memcpy(&x, b, 8); out->v.f = x; break; }
        }
        p->pos += type_sizes[type];
        return 0;
    }

    /* array: u32 element type, u64 count, elements */
    if (p->depth >= GGUF_MAX_NEST)
        return fail(p, at, "array", "nested more than %d deep", GGUF_MAX_NEST);
    uint32_t et;
    uint64_t count;
    if (rd_u32(p, "array element type", &et)) return -1;
    if (et >= GGUF_TYPE_COUNT)
        return fail(p, at, "array element type", "%u is not a GGUF value type (0..12)", et);
    uint64_t count_at = p->pos;
    if (rd_u64(p, "array count", &count)) return -1;
    /* The smallest encoding of one element bounds the count by the bytes left. */
    uint64_t min_elem = et == GGUF_STRING ? 8 : et == GGUF_ARRAY ? 12 : type_sizes[et];
    if (count > left(p) / min_elem)
        return fail(p, count_at, "array count",
                    "%llu elements of type %s need at least %llu bytes each, but only %llu bytes are left (file size %llu)",
                    (unsigned long long)count, type_names[et], (unsigned long long)min_elem,
                    (unsigned long long)left(p), (unsigned long long)p->size);
    out->arr_type = et;
    out->arr_count = count;
    out->arr_data = p->base + p->pos;
    out->value_offset = p->pos;
    uint64_t start = p->pos;
    if (et == GGUF_STRING || et == GGUF_ARRAY || et == GGUF_BOOL) {
        p->depth++;
        for (uint64_t i = 0; i < count; i++) {
            p->elem[p->depth - 1] = i;
            int rc;
            if (et == GGUF_STRING) {
                gguf_str s;
                rc = rd_str(p, "string", &s);
            } else {
                gguf_kv sub;
                rc = parse_value(p, et, &sub);
            }
            if (rc) { p->depth--; return -1; }
        }
        p->depth--;
    } else {
        p->pos += count * min_elem;    /* fits: checked above */
    }
    out->arr_bytes = p->pos - start;
    return 0;
}

/* ---- lookup indexes ---- */

static int str_cmp(gguf_str a, gguf_str b)
{
    uint64_t n = a.len < b.len ? a.len : b.len;
    int c = n ? memcmp(a.ptr, b.ptr, n) : 0;
    if (c) return c;
    return a.len < b.len ? -1 : a.len > b.len;
}

/* gguf_kv and gguf_tensor both begin with their name, so one comparator
 * sorts pointers to either; equal names keep file order. */
static int name_ptr_cmp(const void *a, const void *b)
{
    const gguf_str *x = *(const void *const *)a, *y = *(const void *const *)b;
    int c = str_cmp(*x, *y);
    return c ? c : (x < y ? -1 : x > y);
}
_Static_assert(offsetof(gguf_kv, key) == 0 && offsetof(gguf_tensor, name) == 0, "name first");

/* Builds the name-sorted index of n records (stride bytes apart). Returns 0,
 * or -1 on out-of-memory; *dup is the first record whose name repeats an
 * earlier one (NULL if none) and *orig that earlier one. */
static int sort_by_name(const void *recs, uint64_t n, size_t stride, const void ***index,
                        const void **dup, const void **orig)
{
    *dup = *orig = NULL;
    if (!n) return 0;
    const void **ix = malloc((size_t)n * sizeof *ix);
    if (!ix) return -1;
    for (uint64_t i = 0; i < n; i++) ix[i] = (const uint8_t *)recs + i * stride;
    qsort(ix, (size_t)n, sizeof *ix, name_ptr_cmp);
    for (uint64_t i = 1; i < n && !*dup; i++)
        if (str_cmp(*(const gguf_str *)ix[i - 1], *(const gguf_str *)ix[i]) == 0) { *orig = ix[i - 1]; *dup = ix[i]; }
    *index = ix;
    return 0;
}

static int tensor_offset_cmp(const void *a, const void *b)
{
    const gguf_tensor *x = *(const gguf_tensor *const *)a, *y = *(const gguf_tensor *const *)b;
    if (x->offset != y->offset) return x->offset < y->offset ? -1 : 1;
    return x < y ? -1 : x > y;
}

/* ---- the parse ---- */

static int parse_header(parser *p, gguf_file *g)
{
    snprintf(p->ctx, sizeof p->ctx, "header");
    if (p->size < 4)
        return fail(p, 0, "magic", "file is %llu bytes, too small for a GGUF header", (unsigned long long)p->size);
    if (memcmp(p->base, "GGUF", 4)) {
        char hex[40];
        snprintf(hex, sizeof hex, "%02x %02x %02x %02x", p->base[0], p->base[1], p->base[2], p->base[3]);
        return fail(p, 0, "magic", "expected \"GGUF\", found bytes %s: not a GGUF file", hex);
    }
    p->pos = 4;
    uint32_t v;
    if (rd_u32(p, "version", &v)) return -1;
    if (v != 2 && v != 3) {
        uint32_t swapped = __builtin_bswap32(v);
        return fail(p, 4, "version", "%u is not supported (only 2 and 3)%s", v,
                    swapped == 2 || swapped == 3 ? "; this looks like a big-endian GGUF file" : "");
    }
    g->version = v;
    uint64_t nt, nk;
    if (rd_u64(p, "n_tensors", &nt) || rd_u64(p, "n_kv", &nk)) return -1;
    /* Fail fast on counts the file cannot hold (smallest kv: 8-byte key length,
     * 1-byte key, 4-byte type, 1-byte value; smallest tensor info: 8 + 1 name,
     * 4 n_dims, 4 type, 8 offset). */
    if (nk > left(p) / 14)
        return fail(p, 16, "n_kv", "%llu key/value pairs cannot fit in the %llu bytes after the header",
                    (unsigned long long)nk, (unsigned long long)left(p));
    if (nt > left(p) / 25)
        return fail(p, 8, "n_tensors", "%llu tensor infos cannot fit in the %llu bytes after the header",
                    (unsigned long long)nt, (unsigned long long)left(p));
    if (nk * 14 + nt * 25 > left(p))
        return fail(p, 8, "n_tensors", "%llu tensor infos and %llu key/value pairs cannot fit in the %llu bytes after the header",
                    (unsigned long long)nt, (unsigned long long)nk, (unsigned long long)left(p));
    g->n_tensors = nt;
    g->n_kv = nk;
    return 0;
}

static int parse_kvs(parser *p, gguf_file *g)
{
    uint64_t n = g->n_kv;
    size_t cap = 0;
    g->n_kv = 0;
    for (uint64_t i = 0; i < n; i++) {
        if (GC_GROW(g->kv, cap, i + 1)) return gc_errf(p->err, "%s: out of memory", p->name);
        gguf_kv *kv = &g->kv[i];
        memset(kv, 0, sizeof *kv);
        kv->file_offset = p->pos;
        snprintf(p->ctx, sizeof p->ctx, "kv[%llu]", (unsigned long long)i);
        if (rd_str(p, "key", &kv->key)) return -1;
        if (kv->key.len == 0) return fail(p, kv->file_offset, "key", "is empty");
        char kb[96];
        snprintf(p->ctx, sizeof p->ctx, "kv[%llu] '%s'", (unsigned long long)i, gguf_str_print(kv->key, kb, sizeof kb));
        uint32_t type;
        if (rd_u32(p, "value type", &type)) return -1;
        if (type >= GGUF_TYPE_COUNT)
            return fail(p, p->pos - 4, "value type", "%u is not a GGUF value type (0..12)", type);
        if (parse_value(p, type, kv)) return -1;
        g->n_kv = i + 1;
    }
    p->ctx[0] = 0;
    /* Sorted index: lookup by binary search, and duplicates become neighbours. */
    const void *dup, *orig;
    if (sort_by_name(g->kv, n, sizeof *g->kv, &g->kv_sorted, &dup, &orig))
        return gc_errf(p->err, "%s: out of memory", p->name);
    if (dup) {
        const gguf_kv *a = orig, *b = dup;
        char kb[96];
        snprintf(p->ctx, sizeof p->ctx, "kv[%llu] '%s'", (unsigned long long)(b - g->kv),
                 gguf_str_print(b->key, kb, sizeof kb));
        return fail(p, b->file_offset, "key", "duplicates kv[%llu] at byte %llu",
                    (unsigned long long)(a - g->kv), (unsigned long long)a->file_offset);
    }
    return 0;
}

static int read_alignment(parser *p, gguf_file *g)
{
    g->alignment = GGUF_DEFAULT_ALIGNMENT;
    const gguf_kv *kv = gguf_find_kv(g, "general.alignment");
    if (!kv) return 0;
    snprintf(p->ctx, sizeof p->ctx, "kv[%llu] 'general.alignment'", (unsigned long long)(kv - g->kv));
    if (kv->type != GGUF_U32)
        return fail(p, kv->file_offset, "value type", "is %s, expected u32", gguf_kv_type_name(kv->type));
    uint64_t a = kv->v.u;
    if (a == 0 || (a & (a - 1)))
        return fail(p, kv->value_offset, "value", "alignment %llu is not a power of two", (unsigned long long)a);
    g->alignment = (uint32_t)a;
    return 0;
}

static int parse_tensor_info(parser *p, gguf_tensor *t, uint64_t i)
{
    memset(t, 0, sizeof *t);
    t->info_offset = p->pos;
    snprintf(p->ctx, sizeof p->ctx, "tensor[%llu]", (unsigned long long)i);
    if (rd_str(p, "name", &t->name)) return -1;
    if (t->name.len == 0) return fail(p, t->info_offset, "name", "is empty");
    char nb[96];
    snprintf(p->ctx, sizeof p->ctx, "tensor[%llu] '%s'", (unsigned long long)i, gguf_str_print(t->name, nb, sizeof nb));
    uint64_t at = p->pos;
    if (rd_u32(p, "n_dims", &t->n_dims)) return -1;
    if (t->n_dims > GGUF_MAX_DIMS)
        return fail(p, at, "n_dims", "%u exceeds the maximum of %d", t->n_dims, GGUF_MAX_DIMS);
    uint64_t nel = 1;
    for (int d = 0; d < GGUF_MAX_DIMS; d++) t->ne[d] = 1;
    for (uint32_t d = 0; d < t->n_dims; d++) {
        char f[16];
        snprintf(f, sizeof f, "ne[%u]", d);
        at = p->pos;
        if (rd_u64(p, f, &t->ne[d])) return -1;
        if (t->ne[d] == 0) return fail(p, at, f, "is 0: a tensor must have at least one element");
        if (t->ne[d] > (uint64_t)INT64_MAX || nel > (uint64_t)INT64_MAX / t->ne[d])
            return fail(p, at, f, "%llu makes the element count overflow 2^63-1", (unsigned long long)t->ne[d]);
        nel *= t->ne[d];
    }
    t->n_elems = nel;
    at = p->pos;
    if (rd_u32(p, "type", &t->type)) return -1;
    if (!quant_type_info(t->type))
        return fail(p, at, "type", "unknown ggml type id %u (supported: %s)", t->type, quant_supported_list());
    uint64_t row;
    gc_err qe;
    if (quant_row_bytes(t->type, t->ne[0], &row, &qe)) return fail(p, at, "type", "%s", qe.msg);
    uint64_t rows = nel / t->ne[0];
    if (row && rows > UINT64_MAX / row)
        return fail(p, at, "type", "%llu rows of %llu bytes overflow a 64-bit size",
                    (unsigned long long)rows, (unsigned long long)row);
    t->n_bytes = row * rows;
    return rd_u64(p, "offset", &t->offset);
}

/* Byte offset of the tensor's `offset` field, for messages. */
static uint64_t offset_field_at(const gguf_tensor *t)
{
    return t->info_offset + 8 + t->name.len + 4 + 8ull * t->n_dims + 4;
}

static int check_tensor_data(parser *p, gguf_file *g)
{
    uint64_t n = g->n_tensors;
    uint64_t data_size = p->size - g->data_offset;
    char nb[96];
    for (uint64_t i = 0; i < n; i++) {
        gguf_tensor *t = &g->tensors[i];
        snprintf(p->ctx, sizeof p->ctx, "tensor[%llu] '%s'", (unsigned long long)i, gguf_str_print(t->name, nb, sizeof nb));
        if (t->offset % g->alignment)
            return fail(p, offset_field_at(t), "offset", "%llu is not a multiple of the alignment %u",
                        (unsigned long long)t->offset, g->alignment);
        if (t->offset > data_size || t->n_bytes > data_size - t->offset)
            return fail(p, offset_field_at(t), "offset",
                        "data [%llu, +%llu bytes) runs past the end of the data section (%llu bytes from byte %llu; file size %llu)",
                        (unsigned long long)t->offset, (unsigned long long)t->n_bytes, (unsigned long long)data_size,
                        (unsigned long long)g->data_offset, (unsigned long long)p->size);
        t->data = p->base + g->data_offset + t->offset;
    }
    if (!n) return 0;
    const gguf_tensor **by_off = malloc((size_t)n * sizeof *by_off);
    if (!by_off) return gc_errf(p->err, "%s: out of memory", p->name);
    for (uint64_t i = 0; i < n; i++) by_off[i] = &g->tensors[i];
    qsort(by_off, (size_t)n, sizeof *by_off, tensor_offset_cmp);
    int rc = 0;
    for (uint64_t i = 1; i < n && !rc; i++) {
        const gguf_tensor *a = by_off[i - 1], *b = by_off[i];
        if (a->offset + a->n_bytes > b->offset) {
            char na[96];
            snprintf(p->ctx, sizeof p->ctx, "tensor[%llu] '%s'", (unsigned long long)(b - g->tensors),
                     gguf_str_print(b->name, nb, sizeof nb));
            rc = fail(p, offset_field_at(b), "offset",
                      "data [%llu, %llu) overlaps tensor[%llu] '%s' data [%llu, %llu)",
                      (unsigned long long)b->offset, (unsigned long long)(b->offset + b->n_bytes),
                      (unsigned long long)(a - g->tensors), gguf_str_print(a->name, na, sizeof na),
                      (unsigned long long)a->offset, (unsigned long long)(a->offset + a->n_bytes));
        }
    }
    free(by_off);
    return rc;
}

static int parse_tensors(parser *p, gguf_file *g)
{
    uint64_t n = g->n_tensors;
    size_t cap = 0;
    g->n_tensors = 0;
    for (uint64_t i = 0; i < n; i++) {
        if (GC_GROW(g->tensors, cap, i + 1))
            return gc_errf(p->err, "%s: out of memory", p->name);
        if (parse_tensor_info(p, &g->tensors[i], i)) return -1;
        g->n_tensors = i + 1;
    }
    p->ctx[0] = 0;
    const void *dup, *orig;
    if (sort_by_name(g->tensors, n, sizeof *g->tensors, &g->tensors_sorted, &dup, &orig))
        return gc_errf(p->err, "%s: out of memory", p->name);
    if (dup) {
        const gguf_tensor *a = orig, *b = dup;
        char nb[96];
        snprintf(p->ctx, sizeof p->ctx, "tensor[%llu] '%s'", (unsigned long long)(b - g->tensors),
                 gguf_str_print(b->name, nb, sizeof nb));
        return fail(p, b->info_offset, "name", "duplicates tensor[%llu] at byte %llu",
                    (unsigned long long)(a - g->tensors), (unsigned long long)a->info_offset);
    }
    /* The data section starts at the next multiple of the alignment. A file
     * without tensors may end before that padding. */
    uint64_t a = g->alignment;
    uint64_t start = (p->pos + a - 1) / a * a;     /* pos < 2^63, a <= 2^31: no overflow */
    if (start > p->size) {
        if (n) {
            snprintf(p->ctx, sizeof p->ctx, "data section");
            return fail(p, p->pos, "start", "aligned to %u it begins at byte %llu, past the end of the file (size %llu)",
                        g->alignment, (unsigned long long)start, (unsigned long long)p->size);
        }
        start = p->size;
    }
    g->data_offset = start;
    return check_tensor_data(p, g);
}

static int parse_file(gguf_file *g, gc_err *err)
{
    parser p = { .base = g->map, .size = g->size, .pos = 0, .name = g->path, .err = err };
    if (parse_header(&p, g)) return -1;
    if (parse_kvs(&p, g)) return -1;
    if (read_alignment(&p, g)) return -1;
    return parse_tensors(&p, g);
}

static gguf_file *new_file(const char *name)
{
    gguf_file *g = calloc(1, sizeof *g);
    if (!g) return NULL;
    g->path = strdup(name ? name : "<memory>");
    if (!g->path) { free(g); return NULL; }
    return g;
}

int gguf_open_memory(gguf_file **out, const void *data, uint64_t size, const char *name, gc_err *err)
{
    *out = NULL;
    gguf_file *g = new_file(name);
    if (!g) return gc_errf(err, "%s: out of memory", name ? name : "<memory>");
    static const uint8_t empty[1];
    g->map = data ? data : empty;
    g->size = data ? size : 0;
    if (parse_file(g, err)) { gguf_close(g); return -1; }
    *out = g;
    return 0;
}

int gguf_open(gguf_file **out, const char *path, gc_err *err)
{
    *out = NULL;
    struct stat st;
    int fd = file_open_input(path, "", &st, err);
    if (fd < 0) return -1;
    gguf_file *g = new_file(path);
    if (!g) { close(fd); return gc_errf(err, "%s: out of memory", path); }
    g->size = (uint64_t)st.st_size;
    if (g->size == 0) {
        close(fd);
        gguf_close(g);
        return gc_errf(err, "%s: byte 0: header magic: file is empty, not a GGUF file", path);
    }
    void *m = mmap(NULL, (size_t)g->size, PROT_READ, MAP_PRIVATE, fd, 0);
    int e = errno;
    close(fd);   /* the mapping stays valid without the descriptor */
    if (m == MAP_FAILED) {
        gguf_close(g);
        return gc_errf(err, "%s: cannot map %llu bytes: %s", path, (unsigned long long)st.st_size, strerror(e));
    }
    g->map = m;
    g->owns_map = true;
    if (parse_file(g, err)) { gguf_close(g); return -1; }
    for (uint64_t i = 0; i < g->n_tensors; i++) g->tensors[i].file_mapped = true;
    *out = g;
    return 0;
}

void gguf_drop_pages(const gguf_tensor *t, uint64_t off, uint64_t n)
{
    if (!t->file_mapped || off > t->n_bytes || n > t->n_bytes - off) return;
    uintptr_t pg = (uintptr_t)sysconf(_SC_PAGESIZE);
    uintptr_t a = ((uintptr_t)t->data + off + pg - 1) / pg * pg, e = ((uintptr_t)t->data + off + n) / pg * pg;
    /* A private read-only mapping: dropped pages come back from the file. */
    if (e > a) madvise((void *)a, e - a, MADV_DONTNEED);
}

void gguf_close(gguf_file *g)
{
    if (!g) return;
    if (g->owns_map && g->map) munmap((void *)g->map, (size_t)g->size);
    free(g->kv);
    free(g->tensors);
    free(g->kv_sorted);
    free(g->tensors_sorted);
    free(g->path);
    free(g);
}

/* ---- lookup ---- */

static int cmp_cstr(gguf_str s, const char *c, size_t n)
{
    uint64_t m = s.len < n ? s.len : n;
    int r = m ? memcmp(s.ptr, c, m) : 0;
    if (r) return r;
    return s.len < n ? -1 : s.len > n;
}

const gguf_kv *gguf_find_kv(const gguf_file *g, const char *key)
{
    size_t n = strlen(key);
    uint64_t lo = 0, hi = g->n_kv;
    if (!g->kv_sorted) return NULL;
    while (lo < hi) {
        uint64_t mid = lo + (hi - lo) / 2;
        const gguf_kv *kv = g->kv_sorted[mid];
        int c = cmp_cstr(kv->key, key, n);
        if (c == 0) return kv;
        if (c < 0) lo = mid + 1; else hi = mid;
    }
    return NULL;
}

const gguf_tensor *gguf_find_tensor(const gguf_file *g, const char *name)
{
    size_t n = strlen(name);
    uint64_t lo = 0, hi = g->n_tensors;
    if (!g->tensors_sorted) return NULL;
    while (lo < hi) {
        uint64_t mid = lo + (hi - lo) / 2;
        const gguf_tensor *t = g->tensors_sorted[mid];
        int c = cmp_cstr(t->name, name, n);
        if (c == 0) return t;
        if (c < 0) lo = mid + 1; else hi = mid;
    }
    return NULL;
}

/* ---- typed accessors ---- */

static bool is_uint(uint32_t t) { return t == GGUF_U8 || t == GGUF_U16 || t == GGUF_U32 || t == GGUF_U64; }
static bool is_sint(uint32_t t) { return t == GGUF_I8 || t == GGUF_I16 || t == GGUF_I32 || t == GGUF_I64; }

static int kv_err(const gguf_file *g, const gguf_kv *kv, gc_err *err, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static int kv_err(const gguf_file *g, const gguf_kv *kv, gc_err *err, const char *fmt, ...)
{
    char msg[600], kb[96];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    return gc_errf(err, "%s: byte %llu: key '%s': %s", g->path, (unsigned long long)kv->file_offset,
                   gguf_str_print(kv->key, kb, sizeof kb), msg);
}

/* Integer value of kv as a sign + magnitude: 0 ok, -1 not an integer type. */
static int kv_int(const gguf_kv *kv, bool *neg, uint64_t *mag)
{
    if (is_uint(kv->type)) { *neg = false; *mag = kv->v.u; return 0; }
    if (is_sint(kv->type)) {
        *neg = kv->v.i < 0;
        *mag = *neg ? (uint64_t)0 - (uint64_t)kv->v.i : (uint64_t)kv->v.i;
        return 0;
    }
    return -1;
}

static int get_uint(const gguf_file *g, const char *key, uint64_t max, uint64_t *out, gc_err *err)
{
    const gguf_kv *kv = gguf_find_kv(g, key);
    if (!kv) return 1;
    bool neg;
    uint64_t mag;
    if (kv_int(kv, &neg, &mag))
        return kv_err(g, kv, err, "has type %s, expected an unsigned integer", gguf_kv_type_name(kv->type));
    if (neg || mag > max)
        return kv_err(g, kv, err, "value %s%llu is out of range (0..%llu)", neg ? "-" : "",
                      (unsigned long long)mag, (unsigned long long)max);
    *out = mag;
    return 0;
}

int gguf_get_u32(const gguf_file *g, const char *key, uint32_t *out, gc_err *err)
{
    uint64_t v;
    int rc = get_uint(g, key, UINT32_MAX, &v, err);
    if (rc == 0) *out = (uint32_t)v;
    return rc;
}

int gguf_get_u64(const gguf_file *g, const char *key, uint64_t *out, gc_err *err)
{
    return get_uint(g, key, UINT64_MAX, out, err);
}

int gguf_get_i64(const gguf_file *g, const char *key, int64_t *out, gc_err *err)
{
    const gguf_kv *kv = gguf_find_kv(g, key);
    if (!kv) return 1;
    if (is_sint(kv->type)) { *out = kv->v.i; return 0; }
    if (!is_uint(kv->type))
        return kv_err(g, kv, err, "has type %s, expected an integer", gguf_kv_type_name(kv->type));
    if (kv->v.u > (uint64_t)INT64_MAX)
        return kv_err(g, kv, err, "value %llu is out of range for a signed 64-bit integer", (unsigned long long)kv->v.u);
    *out = (int64_t)kv->v.u;
    return 0;
}

int gguf_get_f32(const gguf_file *g, const char *key, float *out, gc_err *err)
{
    const gguf_kv *kv = gguf_find_kv(g, key);
    if (!kv) return 1;
    if (kv->type == GGUF_F32 || kv->type == GGUF_F64) *out = (float)kv->v.f;
    else if (is_uint(kv->type)) *out = (float)kv->v.u;
    else if (is_sint(kv->type)) *out = (float)kv->v.i;
    else return kv_err(g, kv, err, "has type %s, expected a number", gguf_kv_type_name(kv->type));
    return 0;
}

int gguf_get_bool(const gguf_file *g, const char *key, bool *out, gc_err *err)
{
    const gguf_kv *kv = gguf_find_kv(g, key);
    if (!kv) return 1;
    if (kv->type != GGUF_BOOL)
        return kv_err(g, kv, err, "has type %s, expected bool", gguf_kv_type_name(kv->type));
    *out = kv->v.u != 0;
    return 0;
}

int gguf_get_str(const gguf_file *g, const char *key, gguf_str *out, gc_err *err)
{
    const gguf_kv *kv = gguf_find_kv(g, key);
    if (!kv) return 1;
    if (kv->type != GGUF_STRING)
        return kv_err(g, kv, err, "has type %s, expected string", gguf_kv_type_name(kv->type));
    *out = kv->v.s;
    return 0;
}

int gguf_get_arr(const gguf_file *g, const char *key, uint32_t elem_type,
                 uint64_t *count, const uint8_t **data, gc_err *err)
{
    const gguf_kv *kv = gguf_find_kv(g, key);
    if (!kv) return 1;
    if (kv->type != GGUF_ARRAY)
        return kv_err(g, kv, err, "has type %s, expected an array of %s", gguf_kv_type_name(kv->type),
                      gguf_kv_type_name(elem_type));
    if (kv->arr_type != elem_type) {
        char want[32];
        snprintf(want, sizeof want, "%s", gguf_kv_type_name(elem_type));
        return kv_err(g, kv, err, "is an array of %s, expected an array of %s", gguf_kv_type_name(kv->arr_type), want);
    }
    *count = kv->arr_count;
    *data = kv->arr_data;
    return 0;
}

/* ---- iteration over validated arrays ---- */

gguf_str_iter gguf_str_iter_begin(const gguf_kv *arr)
{
    gguf_str_iter it = { NULL, 0 };
    if (arr && arr->type == GGUF_ARRAY && arr->arr_type == GGUF_STRING) {
        it.p = arr->arr_data;
        it.left = arr->arr_count;
    }
    return it;
}

bool gguf_str_iter_next(gguf_str_iter *it, gguf_str *out)
{
    if (!it->left) return false;
    uint64_t len;
    memcpy(&len, it->p, 8);
    out->ptr = (const char *)it->p + 8;
    out->len = len;
    it->p += 8 + len;
    it->left--;
    return true;
}

gguf_arr_iter gguf_arr_iter_begin(const gguf_kv *arr)
{
    gguf_arr_iter it = { NULL, NULL, 0, 0, 0 };
    if (arr && arr->type == GGUF_ARRAY) {
        it.p = arr->arr_data;
        it.end = arr->arr_data + arr->arr_bytes;
        it.type = arr->arr_type;
        it.left = arr->arr_count;
        it.offset = arr->value_offset;
    }
    return it;
}

bool gguf_arr_iter_next(gguf_arr_iter *it, gguf_kv *out)
{
    if (!it->left) return false;
    /* Re-read the (validated) element with the same cursor code; base is set
     * so that positions are file offsets. */
    parser p = { .base = it->p - it->offset, .size = it->offset + (uint64_t)(it->end - it->p),
                 .pos = it->offset, .name = "", .err = NULL };
    memset(out, 0, sizeof *out);
    out->file_offset = it->offset;
    if (parse_value(&p, it->type, out)) { it->left = 0; return false; }
    uint64_t used = p.pos - it->offset;
    it->p += used;
    it->offset += used;
    it->left--;
    return true;
}
