/* hparams.c: Gemma hyperparameters from GGUF metadata and the tensor check.
 * Every default and rule mirrors llama.cpp so that the oracle and gemma-chat
 * run the same model; where llama.cpp would crash or silently compute
 * garbage (zero heads, window 0 on gemma2, ...) this refuses with a message.
 */
#include "model/hparams.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

#include "model/quant.h"

/* Upper bounds that keep every product of two of them inside 64 bits and
 * every buffer size sane; real Gemma models are far below. */
#define MAX_DIM (1u << 20)
#define MAX_HEADS 4096u
#define MAX_VOCAB (1u << 26)

typedef struct loader {
    const gguf_file *g;
    const char *arch;
    gc_err *err;
} loader;

static const char *key_of(const loader *L, const char *suffix, char *buf, size_t n)
{
    snprintf(buf, n, "%s.%s", L->arch, suffix);
    return buf;
}

/* Reads {arch}.suffix as u32 into *v. required: missing is an error; else *v
 * keeps its default. Range [lo, hi] checked either way. */
static int u32_key(const loader *L, const char *suffix, bool required, uint32_t lo, uint32_t hi, uint32_t *v)
{
    char k[128];
    key_of(L, suffix, k, sizeof k);
    int rc = gguf_get_u32(L->g, k, v, L->err);
    if (rc < 0) return -1;
    if (rc == 1 && required)
        return gc_errf(L->err, "%s: missing key '%s' (required for %s)", L->g->path, k, L->arch);
    if (*v < lo || *v > hi)
        return gc_errf(L->err, "%s: key '%s' = %u is out of range (%u..%u)%s", L->g->path, k, *v, lo, hi,
                       rc == 1 ? " (default)" : "");
    return 0;
}

/* Reads {arch}.suffix as a float; must be finite and >= lo (> lo if strict). */
static int f32_key(const loader *L, const char *suffix, float lo, bool strict, float *v, bool *found)
{
    char k[128];
    key_of(L, suffix, k, sizeof k);
    int rc = gguf_get_f32(L->g, k, v, L->err);
    if (rc < 0) return -1;
    if (found) *found = rc == 0;
    if (rc == 0 && (!isfinite(*v) || *v < lo || (strict && *v == lo)))
        return gc_errf(L->err, "%s: key '%s' = %g must be finite and %s %g", L->g->path, k, (double)*v,
                       strict ? ">" : ">=", (double)lo);
    return 0;
}

static int read_vocab(const loader *L, hp_model *hp)
{
    const gguf_kv *kv = gguf_find_kv(L->g, "tokenizer.ggml.tokens");
    uint64_t n = 0;
    const char *from = "tokenizer.ggml.tokens";
    if (kv) {
        const uint8_t *data;
        if (gguf_get_arr(L->g, "tokenizer.ggml.tokens", GGUF_STRING, &n, &data, L->err)) return -1;
    } else {
        const gguf_tensor *t = gguf_find_tensor(L->g, "token_embd.weight");
        if (!t)
            return gc_errf(L->err, "%s: cannot tell the vocabulary size: neither tokenizer.ggml.tokens nor "
                           "token_embd.weight is present", L->g->path);
        n = t->ne[1];
        from = "token_embd.weight ne[1]";
    }
    if (n < 1 || n > MAX_VOCAB)
        return gc_errf(L->err, "%s: vocabulary size %llu (from %s) is out of range (1..%u)", L->g->path,
                       (unsigned long long)n, from, MAX_VOCAB);
    hp->n_vocab = (uint32_t)n;
    return 0;
}

static int read_rope(const loader *L, hp_model *hp)
{
    char k[128];
    hp->rope_base = 10000.0f;
    if (f32_key(L, "rope.freq_base", 0.0f, true, &hp->rope_base, NULL)) return -1;

    gguf_str type;
    int rc = gguf_get_str(L->g, key_of(L, "rope.scaling.type", k, sizeof k), &type, L->err);
    if (rc < 0) return -1;
    if (rc == 0 && !gguf_str_eq(type, "linear") && !gguf_str_eq(type, "none")) {
        char tb[96];
        return gc_errf(L->err, "%s: key '%s' = '%s' is not supported (only linear or none)", L->g->path, k,
                       gguf_str_print(type, tb, sizeof tb));
    }
    /* llama.cpp: rope.scaling.factor, else the old rope.scale_linear; 0 means none. */
    float factor = 0.0f;
    bool found;
    if (f32_key(L, "rope.scaling.factor", 0.0f, false, &factor, &found)) return -1;
    if (!found && f32_key(L, "rope.scale_linear", 0.0f, false, &factor, NULL)) return -1;
    hp->rope_scale = factor == 0.0f ? 1.0f : 1.0f / factor;
    if (!isfinite(hp->rope_scale))   /* a factor below ~3e-39: 1/factor overflows to inf */
        return gc_errf(L->err, "%s: key '%s' = %g is too small: positions would be scaled by infinity",
                       L->g->path, key_of(L, found ? "rope.scaling.factor" : "rope.scale_linear", k, sizeof k),
                       (double)factor);

    if (hp->arch == HP_GEMMA3) {
        hp->rope_base_swa = 10000.0f;
        hp->rope_scale_swa = 1.0f;
    } else {
        hp->rope_base_swa = hp->rope_base;
        hp->rope_scale_swa = hp->rope_scale;
    }
    if (f32_key(L, "rope.freq_base_swa", 0.0f, true, &hp->rope_base_swa, NULL)) return -1;

    uint32_t n_rot = hp->head_dim;
    if (u32_key(L, "rope.dimension_count", false, 0, UINT32_MAX, &n_rot)) return -1;
    if (n_rot != hp->head_dim)
        return gc_errf(L->err, "%s: key '%s' = %u differs from head_dim %u: partial RoPE is not supported",
                       L->g->path, key_of(L, "rope.dimension_count", k, sizeof k), n_rot, hp->head_dim);
    return 0;
}

static int read_attention(const loader *L, hp_model *hp)
{
    char k[128];
    if (u32_key(L, "attention.head_count", true, 1, MAX_HEADS, &hp->n_head)) return -1;
    hp->n_head_kv = hp->n_head;
    if (u32_key(L, "attention.head_count_kv", false, 1, hp->n_head, &hp->n_head_kv)) return -1;
    if (hp->n_head % hp->n_head_kv)
        return gc_errf(L->err, "%s: key '%s' = %u does not divide head_count %u", L->g->path,
                       key_of(L, "attention.head_count_kv", k, sizeof k), hp->n_head_kv, hp->n_head);
    /* llama.cpp defaults both head sizes to n_embd / n_head (integer division). */
    uint32_t def = hp->n_embd / hp->n_head;
    hp->head_dim = def;
    if (u32_key(L, "attention.key_length", false, 2, MAX_DIM / 4, &hp->head_dim)) return -1;
    uint32_t v_dim = def;
    if (u32_key(L, "attention.value_length", false, 0, UINT32_MAX, &v_dim)) return -1;
    if (v_dim != hp->head_dim)
        return gc_errf(L->err, "%s: value head size %u ('%s') differs from key head size %u: not supported",
                       L->g->path, v_dim, key_of(L, "attention.value_length", k, sizeof k), hp->head_dim);
    if (hp->head_dim % 2)
        return gc_errf(L->err, "%s: head_dim %u is odd: RoPE needs pairs", L->g->path, hp->head_dim);
    if ((uint64_t)hp->head_dim * hp->n_head > MAX_DIM)
        return gc_errf(L->err, "%s: n_head %u x head_dim %u is too large", L->g->path, hp->n_head, hp->head_dim);

    hp->eps = 1e-6f;
    if (f32_key(L, "attention.layer_norm_rms_epsilon", 0.0f, true, &hp->eps, NULL)) return -1;

    /* 27B: gemma_pytorch scales queries by 1/sqrt(n_embd / n_head), not head_dim. */
    bool is27b = (hp->arch == HP_GEMMA2 && hp->n_layer == 46) || (hp->arch == HP_GEMMA3 && hp->n_layer == 62);
    uint32_t qdim = is27b ? hp->n_embd / hp->n_head : hp->head_dim;
    if (qdim == 0)
        return gc_errf(L->err, "%s: n_embd %u / n_head %u is 0: no query scale", L->g->path, hp->n_embd, hp->n_head);
    hp->query_scale = 1.0f / sqrtf((float)qdim);
    return 0;
}

static int read_sliding(const loader *L, hp_model *hp)
{
    char k[128];
    bool g2 = hp->arch == HP_GEMMA2;
    hp->window = g2 ? 4096 : 0;
    if (u32_key(L, "attention.sliding_window", false, g2 ? 1 : 0, UINT32_MAX, &hp->window)) return -1;
    hp->swa_period = g2 ? 2 : 6;
    const gguf_kv *pk = gguf_find_kv(L->g, key_of(L, "attention.sliding_window_pattern", k, sizeof k));
    if (pk && pk->type == GGUF_ARRAY) {
        /* The per-layer form gguf-py's add_sliding_window_pattern writes (and
         * llama.cpp reads): one bool per layer, true = sliding (GEMMA.md). */
        if (pk->arr_type != GGUF_BOOL)
            return gc_errf(L->err, "%s: key '%s' is an array of %s: a per-layer pattern is an array of bool",
                           L->g->path, k, gguf_kv_type_name(pk->arr_type));
        if (pk->arr_count != hp->n_layer || pk->arr_bytes != pk->arr_count)
            return gc_errf(L->err, "%s: key '%s' has %llu entries: a per-layer pattern needs one per layer (%u)",
                           L->g->path, k, (unsigned long long)pk->arr_count, hp->n_layer);
        hp->swa_per_layer = true;
        for (uint32_t il = 0; il < hp->n_layer; il++) hp->is_sliding[il] = hp->window > 0 && pk->arr_data[il] != 0;
        return 0;
    }
    if (u32_key(L, "attention.sliding_window_pattern", false, 0, UINT32_MAX, &hp->swa_period)) return -1;
    for (uint32_t il = 0; il < hp->n_layer; il++) {
        uint32_t p = hp->swa_period;
        hp->is_sliding[il] = hp->window > 0 && (p == 0 || il % p < p - 1);
    }
    return 0;
}

int hp_load(hp_model *hp, const gguf_file *g, gc_err *err)
{
    memset(hp, 0, sizeof *hp);
    gguf_str arch;
    int rc = gguf_get_str(g, "general.architecture", &arch, err);
    if (rc < 0) return -1;
    if (rc == 1) return gc_errf(err, "%s: missing key 'general.architecture'", g->path);
    if (gguf_str_eq(arch, "gemma2")) { hp->arch = HP_GEMMA2; hp->arch_name = "gemma2"; }
    else if (gguf_str_eq(arch, "gemma3")) { hp->arch = HP_GEMMA3; hp->arch_name = "gemma3"; }
    else {
        char ab[96];
        return gc_errf(err, "%s: architecture '%s' is not supported (supported: gemma2 gemma3)", g->path,
                       gguf_str_print(arch, ab, sizeof ab));
    }
    loader L = { g, hp->arch_name, err };
    if (u32_key(&L, "block_count", true, 1, HP_MAX_LAYERS, &hp->n_layer)) return -1;
    if (u32_key(&L, "embedding_length", true, 1, MAX_DIM, &hp->n_embd)) return -1;
    if (u32_key(&L, "feed_forward_length", true, 1, MAX_DIM * 4, &hp->n_ff)) return -1;
    if (u32_key(&L, "context_length", true, 1, UINT32_MAX, &hp->n_ctx_train)) return -1;
    if (read_attention(&L, hp)) return -1;
    if (read_rope(&L, hp)) return -1;
    if (read_sliding(&L, hp)) return -1;

    if (hp->arch == HP_GEMMA2) {
        hp->attn_softcap = 50.0f;
        hp->final_softcap = 30.0f;
        if (f32_key(&L, "attn_logit_softcapping", 0.0f, false, &hp->attn_softcap, NULL)) return -1;
    }
    if (f32_key(&L, "final_logit_softcapping", 0.0f, false, &hp->final_softcap, NULL)) return -1;
    hp->embd_scale = sqrtf((float)hp->n_embd);

    if (read_vocab(&L, hp)) return -1;
    hp->has_qk_norm = hp->arch == HP_GEMMA3 && (hp_find_layer_tensor(g, 0, HP_ATTN_Q_NORM) ||
                                               hp_find_layer_tensor(g, 0, HP_ATTN_K_NORM));
    hp->has_output = hp->arch == HP_GEMMA3 && gguf_find_tensor(g, "output.weight");
    return 0;
}

/* ---- tensors ---- */

static const char *const layer_parts[HP_N_LAYER_TENSORS] = {
    [HP_ATTN_NORM] = "attn_norm", [HP_ATTN_Q] = "attn_q", [HP_ATTN_K] = "attn_k", [HP_ATTN_V] = "attn_v",
    [HP_ATTN_Q_NORM] = "attn_q_norm", [HP_ATTN_K_NORM] = "attn_k_norm", [HP_ATTN_OUTPUT] = "attn_output",
    [HP_POST_ATTN_NORM] = "post_attention_norm", [HP_FFN_NORM] = "ffn_norm", [HP_FFN_GATE] = "ffn_gate",
    [HP_FFN_UP] = "ffn_up", [HP_FFN_DOWN] = "ffn_down", [HP_POST_FFW_NORM] = "post_ffw_norm",
};

/* How each expected shape is derived, for the message. */
static const char *const layer_shape_text[HP_N_LAYER_TENSORS] = {
    [HP_ATTN_NORM] = "[n_embd]", [HP_ATTN_Q] = "[n_embd, n_head*head_dim]",
    [HP_ATTN_K] = "[n_embd, n_head_kv*head_dim]", [HP_ATTN_V] = "[n_embd, n_head_kv*head_dim]",
    [HP_ATTN_Q_NORM] = "[head_dim]", [HP_ATTN_K_NORM] = "[head_dim]",
    [HP_ATTN_OUTPUT] = "[n_head*head_dim, n_embd]", [HP_POST_ATTN_NORM] = "[n_embd]",
    [HP_FFN_NORM] = "[n_embd]", [HP_FFN_GATE] = "[n_embd, n_ff]", [HP_FFN_UP] = "[n_embd, n_ff]",
    [HP_FFN_DOWN] = "[n_ff, n_embd]", [HP_POST_FFW_NORM] = "[n_embd]",
};

const char *hp_layer_tensor_part(hp_layer_tensor which)
{
    return (unsigned)which < HP_N_LAYER_TENSORS ? layer_parts[which] : "?";
}

const gguf_tensor *hp_find_layer_tensor(const gguf_file *g, uint32_t il, hp_layer_tensor which)
{
    char name[96];
    snprintf(name, sizeof name, "blk.%u.%s.weight", il, hp_layer_tensor_part(which));
    return gguf_find_tensor(g, name);
}

void hp_layer_tensor_shape(const hp_model *hp, hp_layer_tensor which, uint64_t ne[4])
{
    uint64_t q = (uint64_t)hp->n_head * hp->head_dim, kv = (uint64_t)hp->n_head_kv * hp->head_dim;
    ne[0] = ne[1] = ne[2] = ne[3] = 1;
    switch (which) {
    case HP_ATTN_Q: ne[0] = hp->n_embd; ne[1] = q; break;
    case HP_ATTN_K: case HP_ATTN_V: ne[0] = hp->n_embd; ne[1] = kv; break;
    case HP_ATTN_Q_NORM: case HP_ATTN_K_NORM: ne[0] = hp->head_dim; break;
    case HP_ATTN_OUTPUT: ne[0] = q; ne[1] = hp->n_embd; break;
    case HP_FFN_GATE: case HP_FFN_UP: ne[0] = hp->n_embd; ne[1] = hp->n_ff; break;
    case HP_FFN_DOWN: ne[0] = hp->n_ff; ne[1] = hp->n_embd; break;
    default: ne[0] = hp->n_embd; break;   /* the norms */
    }
}

const gguf_tensor *hp_output_tensor(const hp_model *hp, const gguf_file *g)
{
    const gguf_tensor *t = hp->has_output ? gguf_find_tensor(g, "output.weight") : NULL;
    return t ? t : gguf_find_tensor(g, "token_embd.weight");
}

static int fmt_shape(char *buf, size_t n, const uint64_t ne[4])
{
    int k = snprintf(buf, n, "[%llu", (unsigned long long)ne[0]);
    int last = 0;
    for (int d = 1; d < 4; d++) if (ne[d] != 1) last = d;
    for (int d = 1; d <= last && k > 0 && (size_t)k < n; d++)
        k += snprintf(buf + k, n - (size_t)k, ", %llu", (unsigned long long)ne[d]);
    if (k > 0 && (size_t)k < n) k += snprintf(buf + k, n - (size_t)k, "]");
    return k;
}

/* One tensor: present (unless optional), shape, usable type. */
static int check_one(const hp_model *hp, const gguf_file *g, const char *name, const uint64_t want[4],
                     const char *how, bool required, gc_err *err)
{
    const gguf_tensor *t = gguf_find_tensor(g, name);
    if (!t) {
        if (!required) return 0;
        return gc_errf(err, "%s: tensor '%s' is missing (%s needs it; expected shape %s)", g->path, name,
                       hp->arch_name, how);
    }
    if (memcmp(t->ne, want, sizeof t->ne)) {
        char ws[96], gs[96];
        fmt_shape(ws, sizeof ws, want);
        fmt_shape(gs, sizeof gs, t->ne);
        return gc_errf(err, "%s: tensor '%s' has shape %s, expected %s = %s (n_embd %u, n_ff %u, n_head %u, "
                       "n_head_kv %u, head_dim %u, n_vocab %u)", g->path, name, gs, how, ws, hp->n_embd, hp->n_ff,
                       hp->n_head, hp->n_head_kv, hp->head_dim, hp->n_vocab);
    }
    if (!quant_type_supported(t->type))
        return gc_errf(err, "%s: tensor '%s' has type %s (id %u), which gemma-chat cannot use (supported: %s)",
                       g->path, name, quant_type_name(t->type), t->type, quant_supported_list());
    return 0;
}

int hp_check_tensors(const hp_model *hp, const gguf_file *g, gc_err *err)
{
    uint64_t ne[4] = { hp->n_embd, hp->n_vocab, 1, 1 };
    if (check_one(hp, g, "token_embd.weight", ne, "[n_embd, n_vocab]", true, err)) return -1;
    if (hp->arch == HP_GEMMA3 && check_one(hp, g, "output.weight", ne, "[n_embd, n_vocab]", false, err)) return -1;
    uint64_t nn[4] = { hp->n_embd, 1, 1, 1 };
    if (check_one(hp, g, "output_norm.weight", nn, "[n_embd]", true, err)) return -1;
    for (uint32_t il = 0; il < hp->n_layer; il++) {
        for (int w = 0; w < HP_N_LAYER_TENSORS; w++) {
            bool qk = w == HP_ATTN_Q_NORM || w == HP_ATTN_K_NORM;
            if (qk && !hp->has_qk_norm) continue;
            char name[96];
            snprintf(name, sizeof name, "blk.%u.%s.weight", il, layer_parts[w]);
            hp_layer_tensor_shape(hp, (hp_layer_tensor)w, ne);
            if (check_one(hp, g, name, ne, layer_shape_text[w], true, err)) return -1;
        }
    }
    return 0;
}
