/* gguf.h: read-only access to a GGUF model file (v2 and v3) through mmap.
 *
 * Every field of the file is untrusted: gguf_open validates all counts,
 * lengths, offsets and sizes against the file size (overflow-safe) before
 * anything else looks at them, so accessors below never need to re-check.
 * Layout facts: ../shared/GEMMA.md section 1.
 */
#ifndef GC_GGUF_H
#define GC_GGUF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "model/err.h"

enum gguf_kv_type {
    GGUF_U8 = 0, GGUF_I8 = 1, GGUF_U16 = 2, GGUF_I16 = 3, GGUF_U32 = 4, GGUF_I32 = 5,
    GGUF_F32 = 6, GGUF_BOOL = 7, GGUF_STRING = 8, GGUF_ARRAY = 9, GGUF_U64 = 10,
    GGUF_I64 = 11, GGUF_F64 = 12,
};

/* A string inside the mapped file: not NUL-terminated. */
typedef struct gguf_str {
    const char *ptr;
    uint64_t len;
} gguf_str;

typedef struct gguf_kv {
    gguf_str key;
    uint32_t type;          /* enum gguf_kv_type */
    /* scalars (converted on read) */
    union {
        uint64_t u;  /* U8 U16 U32 U64 BOOL */
        int64_t i;   /* I8 I16 I32 I64 */
        double f;    /* F32 F64 */
        gguf_str s;  /* STRING */
    } v;
    /* arrays: elem type, count, and where the raw elements start in the map */
    uint32_t arr_type;
    uint64_t arr_count;
    const uint8_t *arr_data;   /* raw little-endian elements; strings are u64 len + bytes */
    uint64_t file_offset;      /* offset of the key in the file, for messages */
} gguf_kv;

#define GGUF_MAX_DIMS 4

typedef struct gguf_tensor {
    gguf_str name;
    uint32_t n_dims;
    uint64_t ne[GGUF_MAX_DIMS];   /* ne[0] = contiguous dimension; unused dims are 1 */
    uint32_t type;                /* ggml type id, see model/quant.h */
    uint64_t offset;              /* relative to the data section */
    uint64_t n_bytes;             /* validated size of the data */
    const void *data;             /* points into the map */
} gguf_tensor;

typedef struct gguf_file {
    char *path;
    int fd;
    const uint8_t *map;
    uint64_t size;
    uint32_t version;
    uint64_t n_kv;
    gguf_kv *kv;
    uint64_t n_tensors;
    gguf_tensor *tensors;
    uint32_t alignment;
    uint64_t data_offset;         /* start of the data section in the file */
} gguf_file;

/* Maps and validates the whole file. On failure *out is NULL and err names
 * the file, the field and its byte offset. */
int gguf_open(gguf_file **out, const char *path, gc_err *err);
/* Same, over a caller-owned buffer (tests, fuzzing). The buffer must outlive the gguf_file. */
int gguf_open_memory(gguf_file **out, const void *data, uint64_t size, const char *name, gc_err *err);
void gguf_close(gguf_file *g);   /* accepts NULL */

/* Metadata lookup; NULL if absent. */
const gguf_kv *gguf_find_kv(const gguf_file *g, const char *key);

/* Typed accessors: return 0 and set *out when the key exists with a compatible
 * type (any integer type for ints, f32/f64 for floats); return 1 and leave *out
 * unchanged when the key is absent; return -1 with err set when the key exists
 * with the wrong type or an out-of-range value. */
int gguf_get_u32(const gguf_file *g, const char *key, uint32_t *out, gc_err *err);
int gguf_get_u64(const gguf_file *g, const char *key, uint64_t *out, gc_err *err);
int gguf_get_f32(const gguf_file *g, const char *key, float *out, gc_err *err);
int gguf_get_bool(const gguf_file *g, const char *key, bool *out, gc_err *err);
int gguf_get_str(const gguf_file *g, const char *key, gguf_str *out, gc_err *err);
/* Arrays: gguf_get_arr checks the element type and returns count + raw data. */
int gguf_get_arr(const gguf_file *g, const char *key, uint32_t elem_type,
                 uint64_t *count, const uint8_t **data, gc_err *err);
/* Walks an array of strings (already validated by gguf_open). */
typedef struct gguf_str_iter { const uint8_t *p; uint64_t left; } gguf_str_iter;
gguf_str_iter gguf_str_iter_begin(const gguf_kv *arr);
bool gguf_str_iter_next(gguf_str_iter *it, gguf_str *out);

const gguf_tensor *gguf_find_tensor(const gguf_file *g, const char *name);

/* Compares a gguf_str with a C string. */
bool gguf_str_eq(gguf_str s, const char *c);

const char *gguf_kv_type_name(uint32_t type);

#endif
