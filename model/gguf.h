/* gguf.h: read-only access to a GGUF model file (v2 and v3) through mmap.
 *
 * Every field of the file is untrusted: gguf_open validates all counts,
 * lengths, offsets and sizes against the file size (overflow-safe) before
 * anything else looks at them, so accessors below never need to re-check.
 * What gguf_open guarantees on success:
 *   - every key and every value (nested arrays included) lies inside the file;
 *     bools are 0 or 1; keys are non-empty and unique;
 *   - general.alignment, if present, is a u32 power of two;
 *   - tensor names are non-empty and unique; n_dims <= 4 (unused dims are 1);
 *     every dim >= 1 and their product < 2^63; the type is a known ggml type
 *     (quant_type_info != NULL; it may still lack a dequantizer: check
 *     quant_type_supported before using the data); ne[0] is a whole number of
 *     blocks; the data is aligned, inside the file and overlaps no other tensor.
 * Errors name the file, the field and its byte offset. Allocation is bounded
 * by what the file actually holds, never by a count read from it.
 * Layout facts: ../shared/GEMMA.md section 1.
 */
#ifndef GC_GGUF_H
#define GC_GGUF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "base/err.h"

enum gguf_kv_type {
    GGUF_U8 = 0, GGUF_I8 = 1, GGUF_U16 = 2, GGUF_I16 = 3, GGUF_U32 = 4, GGUF_I32 = 5,
    GGUF_F32 = 6, GGUF_BOOL = 7, GGUF_STRING = 8, GGUF_ARRAY = 9, GGUF_U64 = 10,
    GGUF_I64 = 11, GGUF_F64 = 12,
};
#define GGUF_TYPE_COUNT 13

#define GGUF_DEFAULT_ALIGNMENT 32
#define GGUF_MAX_NEST 8          /* arrays of arrays deeper than this are refused */

/* A string inside the mapped file: not NUL-terminated. */
typedef struct gguf_str {
    const char *ptr;
    uint64_t len;
} gguf_str;

/* One metadata value: a top-level key/value pair, or (with an empty key) one
 * element of an array when walked with gguf_arr_iter. */
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
    const uint8_t *arr_data;   /* raw little-endian elements; strings are u64 len + bytes;
                                  arrays are u32 type + u64 count + elements */
    uint64_t arr_bytes;        /* bytes the elements take */
    uint64_t file_offset;      /* offset of the key (of the element, for array elements) */
    uint64_t value_offset;     /* offset of the value (the first element, for arrays) */
} gguf_kv;

#define GGUF_MAX_DIMS 4

typedef struct gguf_tensor {
    gguf_str name;
    uint32_t n_dims;
    uint64_t ne[GGUF_MAX_DIMS];   /* ne[0] = contiguous dimension; unused dims are 1 */
    uint32_t type;                /* ggml type id, see model/quant.h */
    uint64_t offset;              /* relative to the data section */
    uint64_t n_bytes;             /* validated size of the data */
    uint64_t n_elems;             /* ne[0]*ne[1]*ne[2]*ne[3] */
    const void *data;             /* points into the map (aligned to `alignment` within the file) */
    bool file_mapped;             /* the map is gguf_open's file mapping (gguf_drop_pages) */
    uint64_t info_offset;         /* offset of this tensor's info record, for messages */
} gguf_tensor;

typedef struct gguf_file {
    char *path;                   /* file name used in messages */
    const uint8_t *map;           /* whole file */
    uint64_t size;
    bool owns_map;                /* mapped by gguf_open (munmap on close) */
    uint32_t version;             /* 2 or 3 */
    uint64_t n_kv;
    gguf_kv *kv;                  /* [n_kv] in file order */
    uint64_t n_tensors;
    gguf_tensor *tensors;         /* [n_tensors] in file order */
    uint32_t alignment;           /* general.alignment or 32 */
    uint64_t data_offset;         /* start of the data section in the file */
    /* private: name-sorted indexes (of gguf_kv* / gguf_tensor*) for lookup */
    const void **kv_sorted;
    const void **tensors_sorted;
} gguf_file;

/* Maps and validates the whole file. On failure *out is NULL and err names
 * the file, the field and its byte offset. */
int gguf_open(gguf_file **out, const char *path, gc_err *err);
/* Same, over a caller-owned buffer (tests, fuzzing). The buffer must outlive
 * the gguf_file. name (may be NULL) is used in messages. */
int gguf_open_memory(gguf_file **out, const void *data, uint64_t size, const char *name, gc_err *err);
void gguf_close(gguf_file *g);   /* accepts NULL */

/* Tells the kernel that bytes [off, off + n) of t's data are no longer needed
 * resident (a backend that copied them): the whole pages inside leave this
 * process's memory, and are read from the file again if touched. Nothing
 * where the data is not a file mapping (gguf_open_memory's buffer is the
 * caller's own). */
void gguf_drop_pages(const gguf_tensor *t, uint64_t off, uint64_t n);

/* Metadata lookup; NULL if absent. */
const gguf_kv *gguf_find_kv(const gguf_file *g, const char *key);

/* Typed accessors: return 0 and set *out when the key exists with a compatible
 * type (any integer type for ints; f32, f64 or an integer for floats); return 1
 * and leave *out unchanged when the key is absent; return -1 with err set (file,
 * key, offset, what is wrong) when the key exists with the wrong type or an
 * out-of-range value. */
int gguf_get_u32(const gguf_file *g, const char *key, uint32_t *out, gc_err *err);
int gguf_get_u64(const gguf_file *g, const char *key, uint64_t *out, gc_err *err);
int gguf_get_i64(const gguf_file *g, const char *key, int64_t *out, gc_err *err);
int gguf_get_f32(const gguf_file *g, const char *key, float *out, gc_err *err);
int gguf_get_bool(const gguf_file *g, const char *key, bool *out, gc_err *err);
int gguf_get_str(const gguf_file *g, const char *key, gguf_str *out, gc_err *err);
/* Arrays: gguf_get_arr checks the element type and returns count + raw data
 * (read numeric elements with gguf_rd_* below, strings with gguf_str_iter). */
int gguf_get_arr(const gguf_file *g, const char *key, uint32_t elem_type,
                 uint64_t *count, const uint8_t **data, gc_err *err);

/* Walks an array of strings (already validated by gguf_open). An iterator begun
 * on anything but a string array yields nothing. */
typedef struct gguf_str_iter { const uint8_t *p; uint64_t left; } gguf_str_iter;
gguf_str_iter gguf_str_iter_begin(const gguf_kv *arr);
bool gguf_str_iter_next(gguf_str_iter *it, gguf_str *out);

/* Walks an array of any element type, nested arrays included: each element
 * comes out as a gguf_kv with an empty key (an array element can itself be
 * walked with another gguf_arr_iter). */
typedef struct gguf_arr_iter {
    const uint8_t *p, *end;
    uint32_t type;
    uint64_t left;
    uint64_t offset;              /* file offset of p */
} gguf_arr_iter;
gguf_arr_iter gguf_arr_iter_begin(const gguf_kv *arr);
bool gguf_arr_iter_next(gguf_arr_iter *it, gguf_kv *out);

/* Raw little-endian reads of element i of a numeric array (data from gguf_get_arr). */
static inline uint32_t gguf_rd_u32(const uint8_t *data, uint64_t i)
{ uint32_t v; memcpy(&v, data + 4 * i, 4); return v; }
static inline int32_t gguf_rd_i32(const uint8_t *data, uint64_t i)
{ int32_t v; memcpy(&v, data + 4 * i, 4); return v; }
static inline float gguf_rd_f32(const uint8_t *data, uint64_t i)
{ float v; memcpy(&v, data + 4 * i, 4); return v; }

const gguf_tensor *gguf_find_tensor(const gguf_file *g, const char *name);

/* Compares a gguf_str with a C string. */
bool gguf_str_eq(gguf_str s, const char *c);

const char *gguf_kv_type_name(uint32_t type);   /* "u32", "string", "array"; "type 99" if unknown */
/* Size in bytes of a fixed-size value type; 0 for string, array and unknown. */
uint64_t gguf_type_size(uint32_t type);

/* Writes s into buf (size n) as printable text for messages: at most ~60
 * characters, control and non-ASCII bytes as \xNN. Returns buf. */
const char *gguf_str_print(gguf_str s, char *buf, size_t n);

#endif
