/* gguf_build.h: a tiny GGUF writer for tests and fuzzers (header-only).
 *
 *     gbuild b;
 *     gbuild_init(&b, 3);
 *     gbuild_kv_str(&b, "general.architecture", "gemma3");
 *     gbuild_kv_u32(&b, "gemma3.block_count", 2);
 *     float w[4] = {1, 2, 3, 4};
 *     gbuild_tensor(&b, "output_norm.weight", 1, (uint64_t[]){4}, GT_F32, w, sizeof w);
 *     size_t len; uint8_t *file = gbuild_finish(&b, &len);   // caller frees; b is reset
 *
 * Valid files by default; for malformed ones the raw pieces are exposed:
 * gbuild_raw_kv / gbuild_raw_tensor append records byte by byte (counted in
 * the header), gbuild_tensor_at places tensor data at any offset, and
 * n_kv_override / n_tensors_override lie in the header. Records are written in
 * the order of the calls; tensor data follows the infos at the alignment
 * (general.alignment if a u32 was added, else 32). Out of memory aborts: tests only.
 */
#ifndef GC_GGUF_BUILD_H
#define GC_GGUF_BUILD_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct gbuf {
    uint8_t *p;
    size_t len, cap;
} gbuf;

static inline void gbuf_bytes(gbuf *b, const void *d, size_t n)
{
    if (b->len + n > b->cap) {
        size_t nc = b->cap ? b->cap : 256;
        while (nc < b->len + n) nc *= 2;
        uint8_t *np = realloc(b->p, nc);
        if (!np) { fprintf(stderr, "gguf_build: out of memory\n"); abort(); }
        b->p = np;
        b->cap = nc;
    }
    if (n) memcpy(b->p + b->len, d, n);
    b->len += n;
}
static inline void gbuf_u8(gbuf *b, uint8_t v) { gbuf_bytes(b, &v, 1); }
static inline void gbuf_u16(gbuf *b, uint16_t v) { gbuf_bytes(b, &v, 2); }
static inline void gbuf_u32(gbuf *b, uint32_t v) { gbuf_bytes(b, &v, 4); }
static inline void gbuf_u64(gbuf *b, uint64_t v) { gbuf_bytes(b, &v, 8); }
static inline void gbuf_f32(gbuf *b, float v) { gbuf_bytes(b, &v, 4); }
static inline void gbuf_f64(gbuf *b, double v) { gbuf_bytes(b, &v, 8); }
/* GGUF string: u64 length + bytes */
static inline void gbuf_str(gbuf *b, const char *s) { gbuf_u64(b, strlen(s)); gbuf_bytes(b, s, strlen(s)); }
static inline void gbuf_zeros(gbuf *b, size_t n) { while (n--) gbuf_u8(b, 0); }

typedef struct gbuild {
    uint32_t version;
    gbuf kv;                      /* key/value records */
    uint64_t n_kv;
    gbuf ti;                      /* tensor info records */
    uint64_t n_tensors;
    gbuf data;                    /* the data section */
    uint32_t alignment;
    int64_t n_kv_override;        /* >= 0: header n_kv written as this */
    int64_t n_tensors_override;
    bool raw_n_kv, raw_n_tensors; /* use the 64-bit raw values below instead */
    uint64_t raw_n_kv_value, raw_n_tensors_value;
} gbuild;

static inline void gbuild_init(gbuild *b, uint32_t version)
{
    memset(b, 0, sizeof *b);
    b->version = version;
    b->alignment = 32;
    b->n_kv_override = -1;
    b->n_tensors_override = -1;
}

static inline void gbuild_free(gbuild *b)
{
    free(b->kv.p); free(b->ti.p); free(b->data.p);
    memset(b, 0, sizeof *b);
}

/* Starts a key/value record: key + value type. The caller appends the value. */
static inline gbuf *gbuild_kv_begin(gbuild *b, const char *key, uint32_t type)
{
    gbuf_str(&b->kv, key);
    gbuf_u32(&b->kv, type);
    b->n_kv++;
    return &b->kv;
}
/* Appends raw bytes as one (counted) key/value record. */
static inline void gbuild_raw_kv(gbuild *b, const void *rec, size_t n) { gbuf_bytes(&b->kv, rec, n); b->n_kv++; }

static inline void gbuild_kv_u8(gbuild *b, const char *k, uint8_t v) { gbuf_u8(gbuild_kv_begin(b, k, 0), v); }
static inline void gbuild_kv_i8(gbuild *b, const char *k, int8_t v) { gbuf_u8(gbuild_kv_begin(b, k, 1), (uint8_t)v); }
static inline void gbuild_kv_u16(gbuild *b, const char *k, uint16_t v) { gbuf_u16(gbuild_kv_begin(b, k, 2), v); }
static inline void gbuild_kv_i16(gbuild *b, const char *k, int16_t v) { gbuf_u16(gbuild_kv_begin(b, k, 3), (uint16_t)v); }
static inline void gbuild_kv_u32(gbuild *b, const char *k, uint32_t v)
{
    gbuf_u32(gbuild_kv_begin(b, k, 4), v);
    if (!strcmp(k, "general.alignment") && v && !(v & (v - 1))) b->alignment = v;
}
static inline void gbuild_kv_i32(gbuild *b, const char *k, int32_t v) { gbuf_u32(gbuild_kv_begin(b, k, 5), (uint32_t)v); }
static inline void gbuild_kv_f32(gbuild *b, const char *k, float v) { gbuf_f32(gbuild_kv_begin(b, k, 6), v); }
static inline void gbuild_kv_bool(gbuild *b, const char *k, bool v) { gbuf_u8(gbuild_kv_begin(b, k, 7), v); }
static inline void gbuild_kv_str(gbuild *b, const char *k, const char *v) { gbuf_str(gbuild_kv_begin(b, k, 8), v); }
static inline void gbuild_kv_u64(gbuild *b, const char *k, uint64_t v) { gbuf_u64(gbuild_kv_begin(b, k, 10), v); }
static inline void gbuild_kv_i64(gbuild *b, const char *k, int64_t v) { gbuf_u64(gbuild_kv_begin(b, k, 11), (uint64_t)v); }
static inline void gbuild_kv_f64(gbuild *b, const char *k, double v) { gbuf_f64(gbuild_kv_begin(b, k, 12), v); }

/* Array of fixed-size elements given as raw little-endian bytes (elem_size each). */
static inline void gbuild_kv_arr(gbuild *b, const char *k, uint32_t elem_type, const void *elems,
                                 uint64_t count, size_t elem_size)
{
    gbuf *o = gbuild_kv_begin(b, k, 9);
    gbuf_u32(o, elem_type);
    gbuf_u64(o, count);
    gbuf_bytes(o, elems, (size_t)count * elem_size);
}

static inline void gbuild_kv_arr_str(gbuild *b, const char *k, const char *const *strs, uint64_t count)
{
    gbuf *o = gbuild_kv_begin(b, k, 9);
    gbuf_u32(o, 8);
    gbuf_u64(o, count);
    for (uint64_t i = 0; i < count; i++) gbuf_str(o, strs[i]);
}

/* Tensor info with explicit offset (relative to the data section), no data. */
static inline void gbuild_tensor_info(gbuild *b, const char *name, uint32_t n_dims, const uint64_t *ne,
                                      uint32_t type, uint64_t offset)
{
    gbuf_str(&b->ti, name);
    gbuf_u32(&b->ti, n_dims);
    for (uint32_t d = 0; d < n_dims; d++) gbuf_u64(&b->ti, ne[d]);
    gbuf_u32(&b->ti, type);
    gbuf_u64(&b->ti, offset);
    b->n_tensors++;
}
static inline void gbuild_raw_tensor(gbuild *b, const void *rec, size_t n) { gbuf_bytes(&b->ti, rec, n); b->n_tensors++; }

/* Tensor whose data goes at `offset` in the data section (zero-filled gaps). */
static inline void gbuild_tensor_at(gbuild *b, const char *name, uint32_t n_dims, const uint64_t *ne,
                                    uint32_t type, uint64_t offset, const void *data, size_t n_bytes)
{
    gbuild_tensor_info(b, name, n_dims, ne, type, offset);
    if (b->data.len < offset + n_bytes) gbuf_zeros(&b->data, offset + n_bytes - b->data.len);
    if (n_bytes) memcpy(b->data.p + offset, data, n_bytes);
}

/* Tensor appended at the next aligned offset of the data section. Returns the offset. */
static inline uint64_t gbuild_tensor(gbuild *b, const char *name, uint32_t n_dims, const uint64_t *ne,
                                     uint32_t type, const void *data, size_t n_bytes)
{
    size_t a = b->alignment;
    size_t off = (b->data.len + a - 1) / a * a;
    gbuild_tensor_at(b, name, n_dims, ne, type, off, data, n_bytes);
    return off;
}

/* Offset in the finished file where the tensor infos end (= where the
 * padding before the data section starts). */
static inline size_t gbuild_infos_end(const gbuild *b) { return 24 + b->kv.len + b->ti.len; }

/* Assembles the file; returns a malloc'd buffer (caller frees) and resets b. */
static inline uint8_t *gbuild_finish(gbuild *b, size_t *len)
{
    gbuf o = {0};
    gbuf_bytes(&o, "GGUF", 4);
    gbuf_u32(&o, b->version);
    gbuf_u64(&o, b->raw_n_tensors ? b->raw_n_tensors_value
                 : b->n_tensors_override >= 0 ? (uint64_t)b->n_tensors_override : b->n_tensors);
    gbuf_u64(&o, b->raw_n_kv ? b->raw_n_kv_value : b->n_kv_override >= 0 ? (uint64_t)b->n_kv_override : b->n_kv);
    gbuf_bytes(&o, b->kv.p, b->kv.len);
    gbuf_bytes(&o, b->ti.p, b->ti.len);
    if (b->data.len) {
        size_t a = b->alignment;
        gbuf_zeros(&o, (a - o.len % a) % a);
        gbuf_bytes(&o, b->data.p, b->data.len);
    }
    gbuild_free(b);
    *len = o.len;
    return o.p ? o.p : calloc(1, 1);
}

#endif
