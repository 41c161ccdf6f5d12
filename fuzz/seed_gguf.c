/* seed_gguf.c: writes the hand-made seeds of the GGUF fuzz corpus
 * (`make fuzz-seeds` -> fuzz/corpus/gguf/seed-*.gguf).
 *
 * The generated test models (build/models) are megabytes, too big for a fuzz
 * corpus, and tests/data/gguf holds mostly broken files. These seeds are
 * complete, valid models of a few kilobytes: every hyperparameter key and
 * tokenizer key gemma-chat reads, every tensor hp_check_tensors wants, in a
 * mix of all supported types (plus spare K-quant tensors), so that mutations
 * start from files that get past the parser into the hparams loader, the
 * tensor checks, the vocab builder and the dequantizers.
 */
#include <stdio.h>

#include "model/quant.h"
#include "tests/gguf_build.h"

static uint32_t rng = 12345;

static uint8_t *bytes(size_t n)
{
    static uint8_t buf[1 << 16];
    for (size_t i = 0; i < n; i++) {
        rng = rng * 1664525u + 1013904223u;
        buf[i] = (uint8_t)(rng >> 24);
    }
    return buf;
}

/* A tensor of n_dims dims ne[] and type t with deterministic bytes. */
static void tensor(gbuild *b, const char *name, uint32_t nd, uint64_t ne0, uint64_t ne1, uint32_t t)
{
    uint64_t ne[2] = { ne0, ne1 }, row;
    gc_err e;
    if (quant_row_bytes(t, ne0, &row, &e)) { fprintf(stderr, "%s: %s\n", name, e.msg); exit(1); }
    gbuild_tensor(b, name, nd, ne, t, bytes(row * ne1), row * ne1);
}

static void vocab(gbuild *b)
{
    static const char *const toks[] = {
        "<pad>", "<eos>", "<bos>", "<unk>", "<start_of_turn>", "<end_of_turn>", "<0x0A>", "<0xE2>", "<0x96>",
        "<0x81>", "\xe2\x96\x81", "a", "b", "ab", "\xe2\x96\x81" "a", "\xe2\x96\x81" "ab", "h", "e", "l", "o",
        "he", "ll", "hello", "\n\n", "<b>",
    };
    enum { N = sizeof toks / sizeof toks[0] };
    int32_t types[N];
    float scores[N];
    for (int i = 0; i < N; i++) {
        types[i] = i < 6 ? 3 : i < 10 ? 6 : i >= N - 2 ? 4 : 1;
        scores[i] = -(float)i;
    }
    types[3] = 2;
    gbuild_kv_str(b, "tokenizer.ggml.model", "llama");
    gbuild_kv_arr_str(b, "tokenizer.ggml.tokens", toks, N);
    gbuild_kv_arr(b, "tokenizer.ggml.scores", 6, scores, N, 4);
    gbuild_kv_arr(b, "tokenizer.ggml.token_type", 5, types, N, 4);
    gbuild_kv_u32(b, "tokenizer.ggml.bos_token_id", 2);
    gbuild_kv_u32(b, "tokenizer.ggml.eos_token_id", 1);
    gbuild_kv_u32(b, "tokenizer.ggml.unknown_token_id", 3);
    gbuild_kv_u32(b, "tokenizer.ggml.padding_token_id", 0);
    gbuild_kv_bool(b, "tokenizer.ggml.add_bos_token", true);
    gbuild_kv_bool(b, "tokenizer.ggml.add_space_prefix", false);
}

static void write(const char *dir, const char *name, gbuild *b)
{
    size_t len;
    uint8_t *f = gbuild_finish(b, &len);
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *o = fopen(path, "wb");
    if (!o || fwrite(f, 1, len, o) != len || fclose(o)) { perror(path); exit(1); }
    printf("%s: %zu bytes\n", path, len);
    free(f);
}

/* Gemma 3: 1 layer, n_embd 32, 2 query heads / 1 kv head of 16, q/k norms,
 * linear RoPE scaling, a sliding window. */
static void gemma3(const char *dir)
{
    gbuild b;
    gbuild_init(&b, 3);
    gbuild_kv_str(&b, "general.architecture", "gemma3");
    gbuild_kv_str(&b, "general.name", "fuzz seed gemma3");
    gbuild_kv_u32(&b, "general.alignment", 32);
    gbuild_kv_u32(&b, "gemma3.block_count", 1);
    gbuild_kv_u32(&b, "gemma3.embedding_length", 32);
    gbuild_kv_u32(&b, "gemma3.feed_forward_length", 32);
    gbuild_kv_u32(&b, "gemma3.context_length", 128);
    gbuild_kv_u32(&b, "gemma3.attention.head_count", 2);
    gbuild_kv_u32(&b, "gemma3.attention.head_count_kv", 1);
    gbuild_kv_u32(&b, "gemma3.attention.key_length", 16);
    gbuild_kv_u32(&b, "gemma3.attention.value_length", 16);
    gbuild_kv_f32(&b, "gemma3.attention.layer_norm_rms_epsilon", 1e-6f);
    gbuild_kv_u32(&b, "gemma3.attention.sliding_window", 8);
    gbuild_kv_u32(&b, "gemma3.attention.sliding_window_pattern", 6);
    gbuild_kv_f32(&b, "gemma3.rope.freq_base", 1e6f);
    gbuild_kv_f32(&b, "gemma3.rope.freq_base_swa", 1e4f);
    gbuild_kv_str(&b, "gemma3.rope.scaling.type", "linear");
    gbuild_kv_f32(&b, "gemma3.rope.scaling.factor", 8.0f);
    gbuild_kv_u32(&b, "gemma3.rope.dimension_count", 16);
    gbuild_kv_f32(&b, "gemma3.final_logit_softcapping", 30.0f);
    vocab(&b);
    tensor(&b, "token_embd.weight", 2, 32, 25, GT_Q8_0);
    tensor(&b, "output_norm.weight", 1, 32, 1, GT_F32);
    tensor(&b, "blk.0.attn_norm.weight", 1, 32, 1, GT_F32);
    tensor(&b, "blk.0.attn_q.weight", 2, 32, 32, GT_Q4_1);
    tensor(&b, "blk.0.attn_k.weight", 2, 32, 16, GT_Q4_0);
    tensor(&b, "blk.0.attn_v.weight", 2, 32, 16, GT_Q4_1);
    tensor(&b, "blk.0.attn_q_norm.weight", 1, 16, 1, GT_F32);
    tensor(&b, "blk.0.attn_k_norm.weight", 1, 16, 1, GT_F16);
    tensor(&b, "blk.0.attn_output.weight", 2, 32, 32, GT_Q5_0);
    tensor(&b, "blk.0.post_attention_norm.weight", 1, 32, 1, GT_F32);
    tensor(&b, "blk.0.ffn_norm.weight", 1, 32, 1, GT_BF16);
    tensor(&b, "blk.0.ffn_gate.weight", 2, 32, 32, GT_Q5_1);
    tensor(&b, "blk.0.ffn_up.weight", 2, 32, 32, GT_Q4_0);
    tensor(&b, "blk.0.ffn_down.weight", 2, 32, 32, GT_Q8_0);
    tensor(&b, "blk.0.post_ffw_norm.weight", 1, 32, 1, GT_F32);
    /* spare tensors of the K-quant types: one block each */
    tensor(&b, "spare.q4_k", 1, 256, 1, GT_Q4_K);
    tensor(&b, "spare.q5_k", 1, 256, 1, GT_Q5_K);
    tensor(&b, "spare.q6_k", 1, 256, 1, GT_Q6_K);
    write(dir, "seed-gemma3-tiny.gguf", &b);
}

/* Gemma 2: softcaps, tied output, GGUF v2, the counts in integer types of
 * every width, and metadata of the other value types (f64, i8, i16, bools,
 * arrays of arrays). */
static void gemma2(const char *dir)
{
    gbuild b;
    gbuild_init(&b, 2);
    gbuild_kv_str(&b, "general.architecture", "gemma2");
    gbuild_kv_u32(&b, "gemma2.block_count", 1);
    gbuild_kv_u64(&b, "gemma2.embedding_length", 32);
    gbuild_kv_i32(&b, "gemma2.feed_forward_length", 32);
    gbuild_kv_u16(&b, "gemma2.context_length", 64);
    gbuild_kv_u8(&b, "gemma2.attention.head_count", 4);
    gbuild_kv_i64(&b, "gemma2.attention.head_count_kv", 2);
    gbuild_kv_f64(&b, "gemma2.attention.layer_norm_rms_epsilon", 1e-6);
    gbuild_kv_f32(&b, "gemma2.attn_logit_softcapping", 50.0f);
    gbuild_kv_f32(&b, "gemma2.final_logit_softcapping", 30.0f);
    gbuild_kv_u32(&b, "gemma2.attention.sliding_window", 4);
    gbuild_kv_i16(&b, "fuzz.i16", -5);
    gbuild_kv_i8(&b, "fuzz.i8", -1);
    /* an array of two arrays of u16 */
    gbuf *o = gbuild_kv_begin(&b, "fuzz.nested", 9);
    gbuf_u32(o, 9);
    gbuf_u64(o, 2);
    for (int i = 0; i < 2; i++) {
        gbuf_u32(o, 2);
        gbuf_u64(o, 3);
        for (int j = 0; j < 3; j++) gbuf_u16(o, (uint16_t)(i * 3 + j));
    }
    uint8_t bools[3] = { 1, 0, 1 };
    gbuild_kv_arr(&b, "fuzz.bools", 7, bools, 3, 1);
    vocab(&b);
    tensor(&b, "token_embd.weight", 2, 32, 25, GT_F16);
    tensor(&b, "output_norm.weight", 1, 32, 1, GT_F32);
    tensor(&b, "blk.0.attn_norm.weight", 1, 32, 1, GT_F32);
    tensor(&b, "blk.0.attn_q.weight", 2, 32, 32, GT_Q4_1);
    tensor(&b, "blk.0.attn_k.weight", 2, 32, 16, GT_Q8_0);
    tensor(&b, "blk.0.attn_v.weight", 2, 32, 16, GT_Q5_1);
    tensor(&b, "blk.0.attn_output.weight", 2, 32, 32, GT_Q4_0);
    tensor(&b, "blk.0.post_attention_norm.weight", 1, 32, 1, GT_F32);
    tensor(&b, "blk.0.ffn_norm.weight", 1, 32, 1, GT_F32);
    tensor(&b, "blk.0.ffn_gate.weight", 2, 32, 32, GT_Q5_0);
    tensor(&b, "blk.0.ffn_up.weight", 2, 32, 32, GT_Q8_0);
    tensor(&b, "blk.0.ffn_down.weight", 2, 32, 32, GT_Q4_0);
    tensor(&b, "blk.0.post_ffw_norm.weight", 1, 32, 1, GT_BF16);
    write(dir, "seed-gemma2-tiny.gguf", &b);
}

int main(int argc, char **argv)
{
    if (argc != 2) { fprintf(stderr, "usage: seed_gguf DIR\n"); return 2; }
    gemma3(argv[1]);
    gemma2(argv[1]);
    return 0;
}
