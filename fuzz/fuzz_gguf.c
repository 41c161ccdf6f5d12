/* fuzz_gguf.c: libFuzzer harness for the GGUF parser (model/gguf.c) and what
 * runs on a file that parses: the hyperparameter loader and tensor checks
 * (model/hparams.c), the tokenizer's vocab reader (tok_from_gguf) and the
 * reference dequantizers over the tensor data (model/quant.c).
 *
 * The input is the whole file. Properties checked beyond "no crash, no leak,
 * no UB":
 *   - a failure leaves *out NULL and a message that starts with the file name;
 *   - on success every promise of gguf.h holds: keys non-empty and found by
 *     name, arrays walk to exactly their count and byte size, tensors have
 *     1..4 dims, sizes that match their type, data aligned, inside the
 *     buffer and not overlapping another tensor;
 *   - every tensor of a supported type dequantizes (ASan checks the reads
 *     stay inside the buffer) when it is small;
 *   - hp_load / hp_check_tensors / tok_from_gguf either succeed with values
 *     inside their documented ranges or fail with a message naming the file.
 */
#include <math.h>

#include "fuzz/fuzz_common.h"
#include "model/hparams.h"
#include "model/quant.h"

#define FG_NAME "fuzz.gguf"

static void fg_check_msg(int rc, const gc_err *err, const char *what)
{
    FUZZ_CHECK(rc != 0, "%s", what);
    FUZZ_CHECK(!strncmp(err->msg, FG_NAME ": ", strlen(FG_NAME) + 2), "%s error does not name the file: '%s'",
               what, err->msg);
}

/* Walks an array (recursively) with both iterators; returns the bytes its
 * elements took as re-read, which must equal what the parser recorded. */
static void fg_walk_array(const gguf_file *g, const gguf_kv *arr, int depth)
{
    FUZZ_CHECK(depth <= GGUF_MAX_NEST, "array nested %d deep", depth);
    FUZZ_CHECK(arr->arr_type < GGUF_TYPE_COUNT, "array element type %u", arr->arr_type);
    const uint8_t *end = g->map + g->size;
    FUZZ_CHECK(arr->arr_data >= g->map && arr->arr_data <= end && arr->arr_bytes <= (uint64_t)(end - arr->arr_data),
               "array data outside the file");
    gguf_arr_iter it = gguf_arr_iter_begin(arr);
    gguf_kv el;
    uint64_t n = 0, bytes = 0;
    while (gguf_arr_iter_next(&it, &el)) {
        n++;
        FUZZ_CHECK(el.type == arr->arr_type, "element type %u in an array of %u", el.type, arr->arr_type);
        if (el.type == GGUF_ARRAY) fg_walk_array(g, &el, depth + 1);
        if (el.type == GGUF_BOOL) FUZZ_CHECK(el.v.u <= 1, "bool element %llu", (unsigned long long)el.v.u);
        if (el.type == GGUF_STRING) {
            const char *p = el.v.s.ptr;
            FUZZ_CHECK(p >= (const char *)g->map && el.v.s.len <= (uint64_t)((const char *)end - p),
                       "string element outside the file");
            volatile char sink = el.v.s.len ? p[el.v.s.len - 1] : 0;
            (void)sink;
        }
    }
    bytes = (uint64_t)(it.p - arr->arr_data);
    FUZZ_CHECK(n == arr->arr_count, "array iterator gave %llu of %llu elements", (unsigned long long)n,
               (unsigned long long)arr->arr_count);
    FUZZ_CHECK(bytes == arr->arr_bytes, "array elements took %llu bytes, recorded %llu", (unsigned long long)bytes,
               (unsigned long long)arr->arr_bytes);
    if (arr->arr_type == GGUF_STRING) {
        gguf_str_iter si = gguf_str_iter_begin(arr);
        gguf_str s;
        uint64_t k = 0;
        while (gguf_str_iter_next(&si, &s)) k++;
        FUZZ_CHECK(k == arr->arr_count, "string iterator gave %llu of %llu", (unsigned long long)k,
                   (unsigned long long)arr->arr_count);
    }
}

static void fg_check_kvs(const gguf_file *g)
{
    char cbuf[512], pbuf[96];
    for (uint64_t i = 0; i < g->n_kv; i++) {
        const gguf_kv *kv = &g->kv[i];
        FUZZ_CHECK(kv->key.len > 0, "kv[%llu] has an empty key", (unsigned long long)i);
        FUZZ_CHECK(kv->type < GGUF_TYPE_COUNT, "kv[%llu] type %u", (unsigned long long)i, kv->type);
        gguf_str_print(kv->key, pbuf, sizeof pbuf);
        FUZZ_CHECK(strlen(pbuf) < sizeof pbuf, "gguf_str_print overran");
        /* Lookup by name finds this very record (names are unique), when
         * the key can be written as a C string at all. */
        if (kv->key.len < sizeof cbuf && !memchr(kv->key.ptr, 0, kv->key.len)) {
            memcpy(cbuf, kv->key.ptr, kv->key.len);
            cbuf[kv->key.len] = 0;
            FUZZ_CHECK(gguf_find_kv(g, cbuf) == kv, "gguf_find_kv('%s') misses kv[%llu]", pbuf, (unsigned long long)i);
            gc_err e;
            uint32_t u32;
            uint64_t u64;
            int64_t i64;
            float f;
            bool b;
            gguf_str s;
            const uint8_t *data;
            uint64_t count;
            /* Every typed accessor answers 0 (right type) or -1 with a message. */
            int rcs[7] = {
                gguf_get_u32(g, cbuf, &u32, &e), gguf_get_u64(g, cbuf, &u64, &e), gguf_get_i64(g, cbuf, &i64, &e),
                gguf_get_f32(g, cbuf, &f, &e), gguf_get_bool(g, cbuf, &b, &e), gguf_get_str(g, cbuf, &s, &e),
                gguf_get_arr(g, cbuf, kv->arr_type, &count, &data, &e),
            };
            for (int r = 0; r < 7; r++) FUZZ_CHECK(rcs[r] == 0 || rcs[r] == -1, "accessor %d returned %d", r, rcs[r]);
            FUZZ_CHECK((rcs[5] == 0) == (kv->type == GGUF_STRING), "gguf_get_str on a %s", gguf_kv_type_name(kv->type));
            FUZZ_CHECK((rcs[6] == 0) == (kv->type == GGUF_ARRAY), "gguf_get_arr on a %s", gguf_kv_type_name(kv->type));
        }
        if (kv->type == GGUF_ARRAY) fg_walk_array(g, kv, 1);
    }
}

static void fg_check_tensors(const gguf_file *g)
{
    const uint8_t *end = g->map + g->size;
    FUZZ_CHECK(g->alignment && !(g->alignment & (g->alignment - 1)), "alignment %u", g->alignment);
    FUZZ_CHECK(g->data_offset <= g->size, "data offset %llu past the end", (unsigned long long)g->data_offset);
    char cbuf[512];
    for (uint64_t i = 0; i < g->n_tensors; i++) {
        const gguf_tensor *t = &g->tensors[i];
        FUZZ_CHECK(t->name.len > 0 && t->n_dims <= GGUF_MAX_DIMS, "tensor[%llu] name/n_dims", (unsigned long long)i);
        uint64_t n = 1;
        for (int d = 0; d < GGUF_MAX_DIMS; d++) {
            FUZZ_CHECK(t->ne[d] >= 1, "tensor[%llu] ne[%d] = 0", (unsigned long long)i, d);
            FUZZ_CHECK(!((uint32_t)d >= t->n_dims && t->ne[d] != 1), "unused dim not 1");
            FUZZ_CHECK(n <= UINT64_MAX / t->ne[d], "element count overflows");
            n *= t->ne[d];
        }
        FUZZ_CHECK(n == t->n_elems && n < (1ull << 63), "n_elems %llu vs %llu", (unsigned long long)t->n_elems,
                   (unsigned long long)n);
        const quant_info *qi = quant_type_info(t->type);
        FUZZ_CHECK(qi != NULL, "tensor[%llu] has unknown type %u", (unsigned long long)i, t->type);
        FUZZ_CHECK(t->ne[0] % qi->block_elems == 0, "ne[0] not whole blocks");
        uint64_t row;
        gc_err e;
        FUZZ_CHECK(quant_row_bytes(t->type, t->ne[0], &row, &e) == 0, "row bytes: %s", e.msg);
        FUZZ_CHECK(t->n_bytes == row * (n / t->ne[0]), "n_bytes %llu", (unsigned long long)t->n_bytes);
        const uint8_t *d = t->data;
        FUZZ_CHECK(d >= g->map + g->data_offset && d <= end && t->n_bytes <= (uint64_t)(end - d),
                   "tensor[%llu] data outside the file", (unsigned long long)i);
        FUZZ_CHECK((uint64_t)(d - g->map - g->data_offset) == t->offset && t->offset % g->alignment == 0,
                   "tensor[%llu] offset", (unsigned long long)i);
        for (uint64_t j = 0; j < i; j++) {   /* no overlap (quadratic, but fuzz files are small) */
            const gguf_tensor *o = &g->tensors[j];
            FUZZ_CHECK(t->offset + t->n_bytes <= o->offset || o->offset + o->n_bytes <= t->offset ||
                       !t->n_bytes || !o->n_bytes, "tensors %llu and %llu overlap", (unsigned long long)j,
                       (unsigned long long)i);
        }
        if (t->name.len < sizeof cbuf && !memchr(t->name.ptr, 0, t->name.len)) {
            memcpy(cbuf, t->name.ptr, t->name.len);
            cbuf[t->name.len] = 0;
            FUZZ_CHECK(gguf_find_tensor(g, cbuf) == t, "gguf_find_tensor misses tensor[%llu]", (unsigned long long)i);
        }
        /* Dequantize small tensors of supported types: every byte of the
         * data is read, so ASan sees any read past the buffer. */
        if (quant_type_supported(t->type) && n <= 65536) {
            float *out = malloc(n * sizeof *out);
            FUZZ_CHECK(out != NULL, "malloc");
            for (uint64_t r = 0; r < n / t->ne[0]; r++)
                FUZZ_CHECK(quant_dequant_row(t->type, d + r * row, out + r * t->ne[0], t->ne[0]) == 0,
                           "dequant of tensor[%llu] row %llu failed", (unsigned long long)i, (unsigned long long)r);
            free(out);
        }
    }
}

static void fg_check_model(const gguf_file *g)
{
    hp_model *hp = malloc(sizeof *hp);
    FUZZ_CHECK(hp != NULL, "malloc");
    gc_err err = {{0}};
    int rc = hp_load(hp, g, &err);
    if (rc) {
        fg_check_msg(rc, &err, "hp_load");
    } else {
        FUZZ_CHECK(hp->arch == HP_GEMMA2 || hp->arch == HP_GEMMA3, "arch %d", (int)hp->arch);
        FUZZ_CHECK(hp->n_layer >= 1 && hp->n_layer <= HP_MAX_LAYERS, "n_layer %u", hp->n_layer);
        FUZZ_CHECK(hp->n_head >= 1 && hp->n_head_kv >= 1 && hp->n_head % hp->n_head_kv == 0, "heads %u/%u",
                   hp->n_head, hp->n_head_kv);
        FUZZ_CHECK(hp->head_dim >= 2 && hp->head_dim % 2 == 0, "head_dim %u", hp->head_dim);
        FUZZ_CHECK(hp->n_vocab >= 1 && hp->n_embd >= 1 && hp->n_ff >= 1, "sizes");
        FUZZ_CHECK(isfinite(hp->eps) && hp->eps > 0, "eps %g", (double)hp->eps);
        FUZZ_CHECK(isfinite(hp->query_scale) && hp->query_scale > 0, "query_scale %g", (double)hp->query_scale);
        FUZZ_CHECK(isfinite(hp->rope_base) && hp->rope_base > 0 && isfinite(hp->rope_base_swa) &&
                   hp->rope_base_swa > 0, "rope base");
        FUZZ_CHECK(isfinite(hp->rope_scale) && isfinite(hp->rope_scale_swa), "rope scale");
        rc = hp_check_tensors(hp, g, &err);
        if (rc) {
            fg_check_msg(rc, &err, "hp_check_tensors");
        } else {
            /* Everything the forward pass will look up is there and usable. */
            const gguf_tensor *out = hp_output_tensor(hp, g);
            FUZZ_CHECK(out && out->ne[0] == hp->n_embd && out->ne[1] == hp->n_vocab, "output tensor");
            for (uint32_t il = 0; il < hp->n_layer; il++)
                for (int w = 0; w < HP_N_LAYER_TENSORS; w++) {
                    bool qk = w == HP_ATTN_Q_NORM || w == HP_ATTN_K_NORM;
                    if (qk && !hp->has_qk_norm) continue;
                    const gguf_tensor *t = hp_find_layer_tensor(g, il, (hp_layer_tensor)w);
                    uint64_t ne[4];
                    hp_layer_tensor_shape(hp, (hp_layer_tensor)w, ne);
                    FUZZ_CHECK(t && !memcmp(t->ne, ne, sizeof ne) && quant_type_supported(t->type),
                               "layer %u tensor %s", il, hp_layer_tensor_part((hp_layer_tensor)w));
                }
        }
    }
    free(hp);

    tok_vocab *v = NULL;
    rc = tok_from_gguf(&v, g, &err);
    if (rc) {
        FUZZ_CHECK(v == NULL, "tok_from_gguf failed but returned a vocab");
        fg_check_msg(rc, &err, "tok_from_gguf");
        return;
    }
    /* A vocab that builds must encode and decode. */
    static const char text[] = "Hello, world!  <start_of_turn>user\n\xc3\xa9\xe2\x96\x81\xf0\x9f\x98\x80\x01";
    tok_ids ids = {0};
    FUZZ_CHECK(tok_encode(v, text, sizeof text - 1, &ids, &err) == 0, "encode: %s", err.msg);
    for (size_t i = 0; i < ids.n; i++)
        FUZZ_CHECK(ids.ids[i] >= 0 && ids.ids[i] < tok_n_vocab(v), "id %d out of range", (int)ids.ids[i]);
    char *s;
    size_t len;
    FUZZ_CHECK(tok_decode(v, ids.ids, ids.n, &s, &len, &err) == 0, "decode: %s", err.msg);
    free(s);
    tok_ids_free(&ids);
    tok_destroy(v);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    gguf_file *g = (gguf_file *)1;
    gc_err err = {{0}};
    int rc = gguf_open_memory(&g, data, size, FG_NAME, &err);
    if (rc) {
        FUZZ_CHECK(g == NULL, "failed open left *out set");
        fg_check_msg(rc, &err, "gguf_open_memory");
        return 0;
    }
    FUZZ_CHECK(g && g->map == data && g->size == size && (g->version == 2 || g->version == 3), "file header");
    fg_check_kvs(g);
    fg_check_tensors(g);
    fg_check_model(g);
    gguf_close(g);
    return 0;
}
