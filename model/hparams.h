/* hparams.h: Gemma 2 / Gemma 3 hyperparameters read from GGUF metadata, and
 * the check that a file holds every tensor the forward pass needs, with the
 * right shape and a type gemma-chat can use.
 *
 * Defaults and rules follow llama.cpp (src/models/gemma2.cpp, gemma3.cpp,
 * src/llama-model.cpp; ../shared/GEMMA.md sections 3 and 4), so the numbers
 * here are the ones the llama.cpp oracle computes with.
 *
 *     hp_model hp;
 *     if (hp_load(&hp, g, &err) || hp_check_tensors(&hp, g, &err)) ...report err.msg
 */
#ifndef GC_HPARAMS_H
#define GC_HPARAMS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/err.h"
#include "model/gguf.h"

typedef enum hp_arch {
    HP_GEMMA2 = 2,
    HP_GEMMA3 = 3,
} hp_arch;

#define HP_MAX_LAYERS 1024

typedef struct hp_model {
    hp_arch arch;
    const char *arch_name;     /* "gemma2" / "gemma3" (static) */
    uint32_t n_layer;          /* {arch}.block_count */
    uint32_t n_embd;           /* {arch}.embedding_length: width of the residual stream */
    uint32_t n_ff;             /* {arch}.feed_forward_length: FFN hidden width */
    uint32_t n_head;           /* {arch}.attention.head_count: query heads */
    uint32_t n_head_kv;        /* {arch}.attention.head_count_kv (default n_head); query
                                  head h reads kv head h / (n_head / n_head_kv) */
    uint32_t head_dim;         /* {arch}.attention.key_length (default n_embd / n_head);
                                  value_length must equal it */
    uint32_t n_ctx_train;      /* {arch}.context_length: positions the model was trained for */
    uint32_t n_vocab;          /* length of tokenizer.ggml.tokens, else token_embd ne[1] */
    float eps;                 /* {arch}.attention.layer_norm_rms_epsilon (default 1e-6) */
    float attn_softcap;        /* scores = c * tanh(scores / c) before the mask; 0 = none.
                                  gemma2: {arch}.attn_logit_softcapping, default 50.
                                  gemma3: always 0 (llama.cpp applies none, even if the key exists) */
    float final_softcap;       /* logits = c * tanh(logits / c); 0 = none.
                                  gemma2: {arch}.final_logit_softcapping, default 30;
                                  gemma3: the same key, default 0 */
    uint32_t window;           /* {arch}.attention.sliding_window: on sliding layers a query at
                                  position p sees keys k with p - k < window. gemma2 default 4096;
                                  gemma3: absent or 0 = no sliding layers at all */
    uint32_t swa_period;       /* {arch}.attention.sliding_window_pattern (gemma2 2, gemma3 6):
                                  layer il slides iff il % period < period - 1 (period 0: all) */
    bool swa_per_layer;        /* sliding_window_pattern is a per-layer array of bool (true = sliding,
                                  one per layer, as gguf-py writes it): is_sliding comes from it and
                                  swa_period is unused */
    float rope_base;           /* {arch}.rope.freq_base (default 10000): global layers */
    float rope_scale;          /* 1 / {arch}.rope.scaling.factor (default 1): positions are
                                  multiplied by it on global layers (linear scaling) */
    float rope_base_swa;       /* sliding layers: {arch}.rope.freq_base_swa; default 10000 for
                                  gemma3, rope_base for gemma2 */
    float rope_scale_swa;      /* sliding layers: 1 for gemma3, rope_scale for gemma2 */
    float query_scale;         /* q is multiplied by it before q.k: 1/sqrt(head_dim), except the
                                  27B models (gemma2 46 layers, gemma3 62 layers):
                                  1/sqrt(n_embd / n_head) */
    float embd_scale;          /* the embedding row is multiplied by sqrtf(n_embd) (f32, as llama.cpp) */
    bool has_qk_norm;          /* blk.N.attn_q_norm / attn_k_norm {head_dim} present (gemma3):
                                  RMS-norm each q and k head before RoPE */
    bool has_output;           /* gemma3 file carries its own output.weight (else tied to token_embd) */
    bool is_sliding[HP_MAX_LAYERS];  /* per layer, from window and swa_period (or the per-layer array) */
} hp_model;

/* Reads and validates the hyperparameters of a gemma2/gemma3 file. Fails with
 * the file and key at fault: unknown architecture, missing required key,
 * wrong key type, values out of range or unsupported (e.g. value_length !=
 * key_length, rope scaling other than linear). Looks at tensors only for
 * n_vocab (when there is no token list) and to detect the optional ones. */
int hp_load(hp_model *hp, const gguf_file *g, gc_err *err);

/* Checks every tensor the forward pass needs: present, shape [ne0, ne1]
 * as expected from hp, and a type with a dequantizer (quant_type_supported).
 * Optional tensors (output.weight; attn_q_norm/attn_k_norm) are checked when
 * present. The error names the tensor, expected and actual shape, or the type
 * and the supported list. */
int hp_check_tensors(const hp_model *hp, const gguf_file *g, gc_err *err);

/* The tensors of one layer, in forward-pass order. */
typedef enum hp_layer_tensor {
    HP_ATTN_NORM, HP_ATTN_Q, HP_ATTN_K, HP_ATTN_V, HP_ATTN_Q_NORM, HP_ATTN_K_NORM,
    HP_ATTN_OUTPUT, HP_POST_ATTN_NORM, HP_FFN_NORM, HP_FFN_GATE, HP_FFN_UP, HP_FFN_DOWN,
    HP_POST_FFW_NORM, HP_N_LAYER_TENSORS
} hp_layer_tensor;

/* "attn_q" etc.: the part of "blk.N.attn_q.weight" after the layer number. */
const char *hp_layer_tensor_part(hp_layer_tensor which);
/* blk.{il}.{part}.weight, or NULL if absent. */
const gguf_tensor *hp_find_layer_tensor(const gguf_file *g, uint32_t il, hp_layer_tensor which);
/* Expected shape of a layer tensor (ne[0] contiguous; unused dims 1). */
void hp_layer_tensor_shape(const hp_model *hp, hp_layer_tensor which, uint64_t ne[4]);
/* The output projection: output.weight for a gemma3 file that has one, else token_embd.weight. */
const gguf_tensor *hp_output_tensor(const hp_model *hp, const gguf_file *g);

/* RoPE parameters for layer il. */
static inline float hp_rope_base_of(const hp_model *hp, uint32_t il)
{ return hp->is_sliding[il] ? hp->rope_base_swa : hp->rope_base; }
static inline float hp_rope_scale_of(const hp_model *hp, uint32_t il)
{ return hp->is_sliding[il] ? hp->rope_scale_swa : hp->rope_scale; }

#endif
