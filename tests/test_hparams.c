/* test_hparams.c: Gemma hyperparameters (model/hparams.c) from metadata built
 * in memory: documented defaults, overrides, the 27B query-scale rule,
 * sliding-layer patterns, RoPE per layer, and the tensor shape/type check
 * with its error messages.
 */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "model/gguf.h"
#include "model/hparams.h"
#include "model/quant.h"
#include "tests/gguf_build.h"
#include "tests/test.h"

/* A tiny Gemma-shaped model description for the builder below. */
typedef struct tiny {
    const char *arch;
    uint32_t n_layer, n_embd, n_ff, n_head, n_head_kv, head_dim, n_vocab;
    bool write_head_dim;          /* write key_length/value_length */
    bool tokens;                  /* write tokenizer.ggml.tokens (n_vocab entries) */
    bool tensors;                 /* write every tensor */
    bool qk_norm, output;
    const char *skip;             /* tensor to leave out */
    const char *reshape;          /* tensor whose ne[1] (or ne[0] for 1-D) is off by... */
    int64_t reshape_delta;
    const char *retype;           /* tensor written with type retype_to */
    uint32_t retype_to;
    const char *omit_key;         /* {arch}.KEY left out of the metadata */
} tiny;

static tiny tiny_default(const char *arch)
{
    tiny t = { .arch = arch, .n_layer = 2, .n_embd = 8, .n_ff = 32, .n_head = 2, .n_head_kv = 1, .head_dim = 4,
               .n_vocab = 16, .write_head_dim = true, .tokens = true, .tensors = true,
               .qk_norm = !strcmp(arch, "gemma3") };
    return t;
}

static void key(char *buf, size_t n, const char *arch, const char *suffix) { snprintf(buf, n, "%s.%s", arch, suffix); }

static void add_tensor(gbuild *b, const tiny *t, const char *name, uint64_t ne0, uint64_t ne1)
{
    if (t->skip && !strcmp(name, t->skip)) return;
    uint64_t ne[2] = { ne0, ne1 };
    uint32_t n_dims = ne1 == 1 ? 1 : 2;
    if (t->reshape && !strcmp(name, t->reshape)) ne[n_dims - 1] = (uint64_t)((int64_t)ne[n_dims - 1] + t->reshape_delta);
    uint32_t type = t->retype && !strcmp(name, t->retype) ? t->retype_to : GT_F32;
    uint64_t row;
    if (quant_row_bytes(type, ne[0], &row, NULL)) { fprintf(stderr, "bad test tensor %s\n", name); abort(); }
    size_t bytes = (size_t)(row * ne[1]);
    void *z = calloc(1, bytes ? bytes : 1);
    gbuild_tensor(b, name, n_dims, ne, type, z, bytes);
    free(z);
}

static void put_u32(gbuild *b, const tiny *t, const char *suffix, uint32_t v)
{
    char k[128];
    if (t->omit_key && !strcmp(t->omit_key, suffix)) return;
    key(k, sizeof k, t->arch, suffix);
    gbuild_kv_u32(b, k, v);
}

/* Builds the file; extra(b) may add more keys before the tensors. */
static uint8_t *build_tiny(const tiny *t, void (*extra)(gbuild *, const char *arch), size_t *len)
{
    gbuild b;
    gbuild_init(&b, 3);
    gbuild_kv_str(&b, "general.architecture", t->arch);
    gbuild_kv_str(&b, "general.name", "tiny test model");
    put_u32(&b, t, "block_count", t->n_layer);
    put_u32(&b, t, "embedding_length", t->n_embd);
    put_u32(&b, t, "feed_forward_length", t->n_ff);
    put_u32(&b, t, "context_length", 256);
    put_u32(&b, t, "attention.head_count", t->n_head);
    put_u32(&b, t, "attention.head_count_kv", t->n_head_kv);
    if (t->write_head_dim) {
        put_u32(&b, t, "attention.key_length", t->head_dim);
        put_u32(&b, t, "attention.value_length", t->head_dim);
    }
    if (extra) extra(&b, t->arch);
    if (t->tokens) {
        const char **toks = calloc(t->n_vocab, sizeof *toks);
        char (*store)[16] = calloc(t->n_vocab, 16);
        for (uint32_t i = 0; i < t->n_vocab; i++) { snprintf(store[i], 16, "t%u", i); toks[i] = store[i]; }
        gbuild_kv_arr_str(&b, "tokenizer.ggml.tokens", toks, t->n_vocab);
        free(toks);
        free(store);
    }
    if (t->tensors) {
        uint32_t q = t->n_head * t->head_dim, kv = t->n_head_kv * t->head_dim;
        add_tensor(&b, t, "token_embd.weight", t->n_embd, t->n_vocab);
        add_tensor(&b, t, "output_norm.weight", t->n_embd, 1);
        if (t->output) add_tensor(&b, t, "output.weight", t->n_embd, t->n_vocab);
        for (uint32_t il = 0; il < t->n_layer; il++) {
            char n[96];
#define T(part, a, b_) do { snprintf(n, sizeof n, "blk.%u.%s.weight", il, part); add_tensor(&b, t, n, a, b_); } while (0)
            T("attn_norm", t->n_embd, 1);
            T("attn_q", t->n_embd, q);
            T("attn_k", t->n_embd, kv);
            T("attn_v", t->n_embd, kv);
            if (t->qk_norm) { T("attn_q_norm", t->head_dim, 1); T("attn_k_norm", t->head_dim, 1); }
            T("attn_output", q, t->n_embd);
            T("post_attention_norm", t->n_embd, 1);
            T("ffn_norm", t->n_embd, 1);
            T("ffn_gate", t->n_embd, t->n_ff);
            T("ffn_up", t->n_embd, t->n_ff);
            T("ffn_down", t->n_ff, t->n_embd);
            T("post_ffw_norm", t->n_embd, 1);
#undef T
        }
    }
    return gbuild_finish(&b, len);
}

/* Loads hparams (and optionally checks tensors) of a built file. */
typedef struct loaded {
    uint8_t *buf;
    gguf_file *g;
    hp_model hp;
    int load_rc, check_rc;
    gc_err err;
} loaded;

static loaded *load(const tiny *t, void (*extra)(gbuild *, const char *))
{
    loaded *l = calloc(1, sizeof *l);
    size_t len;
    l->buf = build_tiny(t, extra, &len);
    if (gguf_open_memory(&l->g, l->buf, len, "m.gguf", &l->err)) {
        fprintf(stderr, "test file does not parse: %s\n", l->err.msg);
        l->load_rc = -2;
        return l;
    }
    l->load_rc = hp_load(&l->hp, l->g, &l->err);
    l->check_rc = l->load_rc ? -3 : hp_check_tensors(&l->hp, l->g, &l->err);
    return l;
}

static void unload(loaded *l)
{
    gguf_close(l->g);
    free(l->buf);
    free(l);
}

static void test_gemma3_defaults(void)
{
    tiny t = tiny_default("gemma3");
    t.write_head_dim = false;   /* head_dim = n_embd / n_head = 4 */
    loaded *l = load(&t, NULL);
    CHECK(l->load_rc == 0 && l->check_rc == 0, "%s", l->err.msg);
    hp_model *h = &l->hp;
    CHECK(h->arch == HP_GEMMA3 && !strcmp(h->arch_name, "gemma3"), "arch");
    CHECK(h->n_layer == 2 && h->n_embd == 8 && h->n_ff == 32 && h->n_head == 2 && h->n_head_kv == 1, "dims");
    CHECK(h->head_dim == 4 && h->n_vocab == 16 && h->n_ctx_train == 256, "head_dim %u vocab %u", h->head_dim, h->n_vocab);
    CHECK(h->eps == 1e-6f, "eps default %g", (double)h->eps);
    CHECK(h->attn_softcap == 0.0f && h->final_softcap == 0.0f, "gemma3 caps none");
    CHECK(h->window == 0 && h->swa_period == 6 && !h->is_sliding[0] && !h->is_sliding[1], "no window: all global");
    CHECK(h->rope_base == 10000.0f && h->rope_scale == 1.0f && h->rope_base_swa == 10000.0f && h->rope_scale_swa == 1.0f,
          "rope defaults");
    CHECK(h->query_scale == 0.5f, "query scale %g", (double)h->query_scale);
    CHECK(h->embd_scale == sqrtf(8.0f), "embd scale");
    CHECK(h->has_qk_norm && !h->has_output, "qk norm yes, output tied");
    CHECK(hp_output_tensor(h, l->g) == gguf_find_tensor(l->g, "token_embd.weight"), "tied output");
    unload(l);
}

static void g3_rope_window(gbuild *b, const char *a)
{
    char k[128];
    key(k, sizeof k, a, "attention.sliding_window"); gbuild_kv_u32(b, k, 512);
    key(k, sizeof k, a, "rope.freq_base"); gbuild_kv_f32(b, k, 1e6f);
    key(k, sizeof k, a, "rope.scaling.type"); gbuild_kv_str(b, k, "linear");
    key(k, sizeof k, a, "rope.scaling.factor"); gbuild_kv_f32(b, k, 8.0f);
    key(k, sizeof k, a, "attention.layer_norm_rms_epsilon"); gbuild_kv_f32(b, k, 1e-5f);
    key(k, sizeof k, a, "final_logit_softcapping"); gbuild_kv_f32(b, k, 30.0f);
    key(k, sizeof k, a, "attn_logit_softcapping"); gbuild_kv_f32(b, k, 50.0f);   /* ignored for gemma3 */
}

static void test_gemma3_overrides(void)
{
    tiny t = tiny_default("gemma3");
    t.n_layer = 12;
    t.output = true;
    loaded *l = load(&t, g3_rope_window);
    CHECK(l->load_rc == 0 && l->check_rc == 0, "%s", l->err.msg);
    hp_model *h = &l->hp;
    CHECK(h->window == 512, "window");
    /* 5:1 pattern: global iff il % 6 == 5 */
    int bad = 0;
    for (uint32_t il = 0; il < 12; il++) bad += h->is_sliding[il] != (il % 6 != 5);
    CHECK(bad == 0, "gemma3 sliding pattern");
    CHECK(h->rope_base == 1e6f && h->rope_scale == 0.125f, "global rope %g %g", (double)h->rope_base, (double)h->rope_scale);
    CHECK(hp_rope_base_of(h, 5) == 1e6f && hp_rope_scale_of(h, 5) == 0.125f, "layer 5 global rope");
    CHECK(hp_rope_base_of(h, 0) == 10000.0f && hp_rope_scale_of(h, 0) == 1.0f, "layer 0 local rope");
    CHECK(h->eps == 1e-5f, "eps");
    CHECK(h->final_softcap == 30.0f && h->attn_softcap == 0.0f, "gemma3 caps: final from key, attn none");
    CHECK(h->has_output && hp_output_tensor(h, l->g) == gguf_find_tensor(l->g, "output.weight"), "own output");
    CHECK(h->query_scale == 0.5f, "head_dim 4 -> 0.5");
    unload(l);
}

/* Issue 23 item 17: the per-layer bool array gguf-py's
 * add_sliding_window_pattern writes, here an irregular one, is the exact
 * pattern (true = sliding). */
static const uint8_t PATTERN[7] = { 1, 0, 0, 1, 1, 1, 0 };

static void g3_pattern_array(gbuild *b, const char *a)
{
    char k[128];
    key(k, sizeof k, a, "attention.sliding_window"); gbuild_kv_u32(b, k, 512);
    key(k, sizeof k, a, "attention.sliding_window_pattern"); gbuild_kv_arr(b, k, GGUF_BOOL, PATTERN, 7, 1);
}

static void test_gemma3_pattern_array(void)
{
    tiny t = tiny_default("gemma3");
    t.n_layer = 7;
    loaded *l = load(&t, g3_pattern_array);
    CHECK(l->load_rc == 0 && l->check_rc == 0, "%s", l->err.msg);
    hp_model *h = &l->hp;
    int bad = 0;
    for (uint32_t il = 0; il < 7; il++) bad += h->is_sliding[il] != (PATTERN[il] != 0);
    CHECK(bad == 0 && h->swa_per_layer, "the per-layer pattern is used as it is");
    CHECK(hp_rope_base_of(h, 1) == h->rope_base && hp_rope_base_of(h, 0) == h->rope_base_swa, "rope per layer");
    unload(l);
}

static void test_gemma2_defaults(void)
{
    tiny t = tiny_default("gemma2");
    t.n_layer = 5;
    loaded *l = load(&t, NULL);
    CHECK(l->load_rc == 0 && l->check_rc == 0, "%s", l->err.msg);
    hp_model *h = &l->hp;
    CHECK(h->arch == HP_GEMMA2, "arch");
    CHECK(h->attn_softcap == 50.0f && h->final_softcap == 30.0f, "caps 50/30");
    CHECK(h->window == 4096 && h->swa_period == 2, "window 4096 period 2");
    CHECK(h->is_sliding[0] && !h->is_sliding[1] && h->is_sliding[2] && !h->is_sliding[3] && h->is_sliding[4], "even layers slide");
    CHECK(h->rope_base == 10000.0f && h->rope_base_swa == 10000.0f && h->rope_scale_swa == 1.0f, "rope");
    CHECK(!h->has_qk_norm && !h->has_output, "no qk norm, tied");
    unload(l);
}

static void g2_overrides(gbuild *b, const char *a)
{
    char k[128];
    key(k, sizeof k, a, "attn_logit_softcapping"); gbuild_kv_f32(b, k, 40.0f);
    key(k, sizeof k, a, "final_logit_softcapping"); gbuild_kv_f32(b, k, 0.0f);
    key(k, sizeof k, a, "attention.sliding_window"); gbuild_kv_u32(b, k, 128);
    key(k, sizeof k, a, "attention.sliding_window_pattern"); gbuild_kv_u32(b, k, 3);
    key(k, sizeof k, a, "rope.freq_base"); gbuild_kv_f32(b, k, 20000.0f);
    key(k, sizeof k, a, "rope.scale_linear"); gbuild_kv_f32(b, k, 4.0f);   /* old key name */
}

static void test_gemma2_overrides(void)
{
    tiny t = tiny_default("gemma2");
    t.n_layer = 6;
    loaded *l = load(&t, g2_overrides);
    CHECK(l->load_rc == 0 && l->check_rc == 0, "%s", l->err.msg);
    hp_model *h = &l->hp;
    CHECK(h->attn_softcap == 40.0f && h->final_softcap == 0.0f, "caps from keys");
    CHECK(h->window == 128 && h->swa_period == 3, "window/pattern");
    int bad = 0;
    for (uint32_t il = 0; il < 6; il++) bad += h->is_sliding[il] != (il % 3 < 2);
    CHECK(bad == 0, "period 3: layers 2 and 5 global");
    /* gemma2: sliding layers use the global base and scale */
    CHECK(h->rope_base == 20000.0f && h->rope_scale == 0.25f && h->rope_base_swa == 20000.0f &&
          h->rope_scale_swa == 0.25f, "gemma2 rope %g %g %g %g", (double)h->rope_base, (double)h->rope_scale,
          (double)h->rope_base_swa, (double)h->rope_scale_swa);
    unload(l);
}

/* The 27B rule: query scale from n_embd / n_head on gemma2 46 / gemma3 62 layers only. */
static void check_qscale(const char *arch, uint32_t n_layer, uint32_t n_embd, uint32_t n_head, uint32_t head_dim,
                         float want)
{
    tiny t = tiny_default(arch);
    t.n_layer = n_layer; t.n_embd = n_embd; t.n_head = n_head; t.n_head_kv = n_head / 2; t.head_dim = head_dim;
    t.tensors = false;
    loaded *l = load(&t, NULL);
    CHECK(l->load_rc == 0, "%s", l->err.msg);
    CHECK(l->hp.query_scale == want, "%s %u layers: query scale %.9g, want %.9g", arch, n_layer,
          (double)l->hp.query_scale, (double)want);
    unload(l);
}

static void test_27b_rule(void)
{
    check_qscale("gemma2", 46, 4608, 32, 128, 1.0f / sqrtf(144.0f));
    check_qscale("gemma2", 45, 4608, 32, 128, 1.0f / sqrtf(128.0f));
    check_qscale("gemma2", 42, 3584, 16, 256, 1.0f / 16.0f);
    check_qscale("gemma3", 62, 5376, 32, 128, 1.0f / sqrtf(168.0f));
    check_qscale("gemma3", 46, 5376, 32, 128, 1.0f / sqrtf(128.0f));   /* 46 layers is only special for gemma2 */
    check_qscale("gemma3", 18, 640, 4, 256, 1.0f / 16.0f);
}

static void test_vocab_from_embd(void)
{
    tiny t = tiny_default("gemma3");
    t.tokens = false;
    t.n_vocab = 24;
    loaded *l = load(&t, NULL);
    CHECK(l->load_rc == 0 && l->hp.n_vocab == 24 && l->check_rc == 0, "vocab from token_embd: %s", l->err.msg);
    unload(l);
    t.tensors = false;
    l = load(&t, NULL);
    CHECK(l->load_rc != 0, "no vocab source accepted");
    CHECK_CONTAINS(l->err.msg, "m.gguf: cannot tell the vocabulary size");
    unload(l);
}

/* ---- metadata errors ---- */

static const char *g_extra_key, *g_extra_str;
static uint32_t g_extra_u32;
static int g_extra_kind;   /* 0 u32, 1 string, 2 f32 -1, 3 u32 array, 4 f32 with the bits of g_extra_u32 */
static void extra_one(gbuild *b, const char *a)
{
    char k[128];
    key(k, sizeof k, a, g_extra_key);
    if (g_extra_kind == 0) gbuild_kv_u32(b, k, g_extra_u32);
    else if (g_extra_kind == 1) gbuild_kv_str(b, k, g_extra_str);
    else if (g_extra_kind == 2) gbuild_kv_f32(b, k, -1.0f);
    else if (g_extra_kind == 4) { float f; memcpy(&f, &g_extra_u32, 4); gbuild_kv_f32(b, k, f); }
    else if (g_extra_kind == 5) { uint8_t v[8] = { 1, 1, 1, 1, 1, 1, 1, 1 }; gbuild_kv_arr(b, k, GGUF_BOOL, v, g_extra_u32, 1); }
    else { uint32_t v[2] = { 1, 0 }; gbuild_kv_arr(b, k, GGUF_U32, v, 2, 4); }
}

static void expect_load_error(tiny t, const char *key_, int kind, uint32_t u, const char *s, const char *n1,
                              const char *n2)
{
    g_extra_key = key_; g_extra_kind = kind; g_extra_u32 = u; g_extra_str = s;
    t.tensors = false;
    loaded *l = load(&t, key_ ? extra_one : NULL);
    CHECK(l->load_rc == -1, "%s: load rc %d (%s)", key_ ? key_ : "-", l->load_rc, l->err.msg);
    CHECK(strncmp(l->err.msg, "m.gguf: ", 8) == 0, "file named: %s", l->err.msg);
    if (n1) CHECK_CONTAINS(l->err.msg, n1);
    if (n2) CHECK_CONTAINS(l->err.msg, n2);
    unload(l);
}

static void test_load_errors(void)
{
    expect_load_error(tiny_default("llama"), NULL, 0, 0, NULL, "architecture 'llama' is not supported",
                      "(supported: gemma2 gemma3)");
    expect_load_error(tiny_default("gemma"), NULL, 0, 0, NULL, "architecture 'gemma' is not supported", NULL);
    tiny t = tiny_default("gemma3");
    t.n_head_kv = 3; t.n_head = 4;
    expect_load_error(t, NULL, 0, 0, NULL, "'gemma3.attention.head_count_kv' = 3 does not divide head_count 4", NULL);
    t = tiny_default("gemma3");
    t.n_head = 0;
    expect_load_error(t, NULL, 0, 0, NULL, "key 'gemma3.attention.head_count' = 0 is out of range", NULL);
    t = tiny_default("gemma3");
    t.n_layer = HP_MAX_LAYERS + 1;
    expect_load_error(t, NULL, 0, 0, NULL, "'gemma3.block_count' = 1025 is out of range (1..1024)", NULL);
    t = tiny_default("gemma3");
    t.head_dim = 5;
    expect_load_error(t, NULL, 0, 0, NULL, "head_dim 5 is odd", NULL);
    t = tiny_default("gemma3");
    t.write_head_dim = false;   /* both default to n_embd / n_head = 4 */
    expect_load_error(t, "attention.value_length", 0, 8, NULL, "value head size 8", "differs from key head size 4");
    t = tiny_default("gemma3");
    expect_load_error(t, "rope.scaling.type", 1, 0, "yarn", "'gemma3.rope.scaling.type' = 'yarn' is not supported", NULL);
    expect_load_error(t, "rope.dimension_count", 0, 2, NULL, "partial RoPE is not supported", NULL);
    expect_load_error(t, "attention.layer_norm_rms_epsilon", 2, 0, NULL,
                      "'gemma3.attention.layer_norm_rms_epsilon' = -1 must be finite and > 0", NULL);
    expect_load_error(t, "rope.freq_base", 2, 0, NULL, "'gemma3.rope.freq_base' = -1", NULL);
    /* a per-layer array: of bool, one per layer (the default tiny model has 2) */
    expect_load_error(t, "attention.sliding_window_pattern", 3, 0, NULL, "is an array of u32", "array of bool");
    expect_load_error(t, "attention.sliding_window_pattern", 5, 3, NULL, "has 3 entries", "one per layer (2)");
    /* A subnormal scaling factor made rope_scale = 1/factor infinite, and the
     * file passed (found by fuzz_gguf; input in fuzz/regressions/gguf/). */
    expect_load_error(t, "rope.scaling.factor", 4, 0x00004000, NULL, "'gemma3.rope.scaling.factor' = 2.2", "too small");
    expect_load_error(tiny_default("gemma2"), "rope.scale_linear", 4, 0x00000001, NULL,
                      "'gemma2.rope.scale_linear' = 1.4", "positions would be scaled by infinity");
    t.omit_key = "block_count";
    expect_load_error(t, "block_count", 1, 0, "two", "key 'gemma3.block_count': has type string", NULL);
    t.omit_key = NULL;
    expect_load_error(tiny_default("gemma2"), "attention.sliding_window", 0, 0, NULL,
                      "'gemma2.attention.sliding_window' = 0 is out of range", NULL);

    /* missing required keys and architecture */
    gbuild b;
    gbuild_init(&b, 3);
    gbuild_kv_str(&b, "general.architecture", "gemma3");
    gbuild_kv_u32(&b, "gemma3.embedding_length", 8);
    size_t len;
    uint8_t *buf = gbuild_finish(&b, &len);
    gguf_file *g = NULL;
    gc_err err = {{0}};
    hp_model hp;
    CHECK(gguf_open_memory(&g, buf, len, "m.gguf", &err) == 0, "%s", err.msg);
    CHECK(hp_load(&hp, g, &err) == -1, "missing block_count accepted");
    CHECK_CONTAINS(err.msg, "m.gguf: missing key 'gemma3.block_count' (required for gemma3)");
    gguf_close(g);
    free(buf);
    gbuild_init(&b, 3);
    gbuild_kv_u32(&b, "x", 1);
    buf = gbuild_finish(&b, &len);
    CHECK(gguf_open_memory(&g, buf, len, "m.gguf", &err) == 0, "%s", err.msg);
    CHECK(hp_load(&hp, g, &err) == -1, "missing arch accepted");
    CHECK_CONTAINS(err.msg, "m.gguf: missing key 'general.architecture'");
    gguf_close(g);
    free(buf);
}

/* ---- tensor check errors ---- */

static void expect_check_error(tiny t, const char *n1, const char *n2)
{
    loaded *l = load(&t, NULL);
    CHECK(l->load_rc == 0 && l->check_rc == -1, "load %d check %d: %s", l->load_rc, l->check_rc, l->err.msg);
    CHECK(strncmp(l->err.msg, "m.gguf: tensor '", 16) == 0, "file and tensor named: %s", l->err.msg);
    if (n1) CHECK_CONTAINS(l->err.msg, n1);
    if (n2) CHECK_CONTAINS(l->err.msg, n2);
    unload(l);
}

static void test_tensor_errors(void)
{
    tiny t = tiny_default("gemma3");
    t.skip = "blk.1.ffn_up.weight";
    expect_check_error(t, "tensor 'blk.1.ffn_up.weight' is missing", "expected shape [n_embd, n_ff]");
    t = tiny_default("gemma3");
    t.skip = "blk.1.attn_k_norm.weight";
    expect_check_error(t, "tensor 'blk.1.attn_k_norm.weight' is missing", NULL);
    t = tiny_default("gemma2");
    t.skip = "token_embd.weight";
    t.tokens = true;
    expect_check_error(t, "tensor 'token_embd.weight' is missing", NULL);
    t = tiny_default("gemma3");
    t.reshape = "blk.0.attn_q.weight"; t.reshape_delta = -2;
    expect_check_error(t, "tensor 'blk.0.attn_q.weight' has shape [8, 6], expected [n_embd, n_head*head_dim] = [8, 8]", NULL);
    t = tiny_default("gemma3");
    t.reshape = "blk.1.attn_q_norm.weight"; t.reshape_delta = 1;
    expect_check_error(t, "has shape [5], expected [head_dim] = [4]", NULL);
    t = tiny_default("gemma3");
    t.output = true;
    t.reshape = "output.weight"; t.reshape_delta = 1;
    expect_check_error(t, "tensor 'output.weight' has shape [8, 17], expected [n_embd, n_vocab] = [8, 16]", NULL);
    t = tiny_default("gemma2");
    t.reshape = "token_embd.weight"; t.reshape_delta = 4;   /* token list says 16 */
    expect_check_error(t, "'token_embd.weight' has shape [8, 20]", "n_vocab 16");
    t = tiny_default("gemma3");
    t.n_ff = 256;
    t.retype = "blk.0.ffn_gate.weight"; t.retype_to = GT_Q2_K;   /* ffn_gate ne0 = n_embd 8: not a Q2_K row */
    t.retype = "blk.0.ffn_down.weight";                           /* ne0 = n_ff = 256 */
    expect_check_error(t, "tensor 'blk.0.ffn_down.weight' has type Q2_K (id 10), which gemma-chat cannot use",
                       "(supported: F32 F16 BF16 Q8_0 Q4_0 Q4_1 Q5_0 Q5_1 Q4_K Q5_K Q6_K)");
    /* supported quantized types pass */
    t = tiny_default("gemma3");
    t.n_embd = 32; t.n_ff = 256; t.head_dim = 16;
    t.retype = "blk.1.ffn_down.weight"; t.retype_to = GT_Q4_K;
    loaded *l = load(&t, NULL);
    CHECK(l->load_rc == 0 && l->check_rc == 0, "Q4_K ffn_down: %s", l->err.msg);
    unload(l);
    /* layer tensor helpers */
    t = tiny_default("gemma3");
    l = load(&t, NULL);
    const gguf_tensor *q = hp_find_layer_tensor(l->g, 1, HP_ATTN_Q);
    uint64_t ne[4];
    hp_layer_tensor_shape(&l->hp, HP_ATTN_Q, ne);
    CHECK(q && gguf_str_eq(q->name, "blk.1.attn_q.weight") && ne[0] == 8 && ne[1] == 8 && ne[2] == 1, "layer helpers");
    hp_layer_tensor_shape(&l->hp, HP_FFN_DOWN, ne);
    CHECK(ne[0] == 32 && ne[1] == 8, "ffn_down shape");
    CHECK_STR(hp_layer_tensor_part(HP_POST_FFW_NORM), "post_ffw_norm");
    CHECK(hp_find_layer_tensor(l->g, 2, HP_ATTN_Q) == NULL, "no layer 2");
    unload(l);
}

int main(void)
{
    TEST_RUN(test_gemma3_defaults);
    TEST_RUN(test_gemma3_overrides);
    TEST_RUN(test_gemma3_pattern_array);
    TEST_RUN(test_gemma2_defaults);
    TEST_RUN(test_gemma2_overrides);
    TEST_RUN(test_27b_rule);
    TEST_RUN(test_vocab_from_embd);
    TEST_RUN(test_load_errors);
    TEST_RUN(test_tensor_errors);
    return test_summary();
}
