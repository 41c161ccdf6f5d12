/* golden_oracle.c: llama.cpp's logits in its most precise CPU configuration,
 * for the golden files of tests/test_gemma.c (built and run only by
 * tools/make_logit_goldens.sh, never by the build or the tests).
 *
 *     golden_oracle MODEL IDSFILE OUT.bin
 *
 * Like `oracle logitsid` (../shared/oracle) but with an f32 KV cache and flash
 * attention off: the default f16 cache and the CPU flash-attention kernel
 * (f16 Q and V accumulation) add about 4e-3 of relative error on the tiny test
 * models, more than the 2e-3 the goldens are meant to resolve. What remains is
 * llama.cpp's fp16 GELU table (about 1e-3 on 4 layers).
 * GOLDEN_NGL=99 offloads every layer: built against llama.cpp's Vulkan
 * libraries this gives its Vulkan backend (lavapipe here), which multiplies
 * quantized weights by f32 activations, where the CPU backend first rounds the
 * activations to 8 bits (1e-2..4e-2 of relative error on its own).
 * OUT: int32 n, int32 n_vocab, int32 tokens[n], float32 logits[n][n_vocab]. */
#include <stdio.h>
#include <stdlib.h>

#include "ggml-backend.h"
#include "llama.h"

static void quiet(enum ggml_log_level level, const char *text, void *user)
{
    (void)user;
    if (level >= GGML_LOG_LEVEL_ERROR) fputs(text, stderr);
}

static bool no_progress(float done, void *user)
{
    (void)done;
    (void)user;
    return true;
}

int main(int argc, char **argv)
{
    if (argc != 4) { fprintf(stderr, "usage: golden_oracle MODEL IDSFILE OUT\n"); return 2; }
    llama_log_set(quiet, NULL);
    const char *dir = getenv("LLAMA_BIN_DIR");
    if (dir) ggml_backend_load_all_from_path(dir); else ggml_backend_load_all();
    llama_backend_init();

    FILE *f = fopen(argv[2], "r");
    if (!f) { perror(argv[2]); return 1; }
    int cap = 4096, n = 0;
    llama_token *toks = malloc(sizeof *toks * cap);
    while (n < cap && fscanf(f, "%d", &toks[n]) == 1) n++;
    fclose(f);
    if (n == 0) { fprintf(stderr, "%s: no ids\n", argv[2]); return 1; }

    struct llama_model_params mp = llama_model_default_params();
    mp.n_gpu_layers = getenv("GOLDEN_NGL") ? atoi(getenv("GOLDEN_NGL")) : 0;
    mp.progress_callback = no_progress;
    struct llama_model *m = llama_model_load_from_file(argv[1], mp);
    if (!m) { fprintf(stderr, "%s: load failed\n", argv[1]); return 1; }
    struct llama_context_params cp = llama_context_default_params();
    cp.n_ctx = n < 512 ? 512 : n;
    cp.n_batch = cp.n_ubatch = n;
    cp.type_k = cp.type_v = GGML_TYPE_F32;
    cp.flash_attn_type = LLAMA_FLASH_ATTN_TYPE_DISABLED;
    struct llama_context *c = llama_init_from_model(m, cp);
    if (!c) { fprintf(stderr, "context failed\n"); return 1; }

    struct llama_batch b = llama_batch_init(n, 0, 1);
    for (int i = 0; i < n; i++) {
        b.token[i] = toks[i];
        b.pos[i] = i;
        b.n_seq_id[i] = 1;
        b.seq_id[i][0] = 0;
        b.logits[i] = 1;
    }
    b.n_tokens = n;
    if (llama_decode(c, b)) { fprintf(stderr, "decode failed\n"); return 1; }
    int nv = llama_vocab_n_tokens(llama_model_get_vocab(m));
    FILE *o = fopen(argv[3], "wb");
    if (!o) { perror(argv[3]); return 1; }
    int hdr[2] = { n, nv };
    fwrite(hdr, 4, 2, o);
    fwrite(toks, 4, n, o);
    for (int i = 0; i < n; i++) fwrite(llama_get_logits_ith(c, i), 4, nv, o);
    if (fclose(o)) { perror(argv[3]); return 1; }
    llama_batch_free(b);
    llama_free(c);
    llama_model_free(m);
    free(toks);
    return 0;
}
