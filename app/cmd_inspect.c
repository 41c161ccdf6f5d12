/* cmd_inspect.c: `gemma-chat inspect MODEL` prints what a model file holds:
 * architecture, hyperparameters (as the forward pass will use them), special
 * tokens, chat template presence, tensors by type and their total size.
 * Output is one `key: value` per line so scripts can grep it. A file that is
 * malformed or that gemma-chat cannot run gives a clear error and exit 1
 * (after printing what could be read).
 */
#include <stdio.h>
#include <string.h>

#include "app/commands.h"
#include "model/gguf.h"
#include "model/hparams.h"
#include "model/quant.h"

static void usage(FILE *f)
{
    fprintf(f, "usage: gemma-chat inspect MODEL.gguf\n"
               "Prints the architecture, hyperparameters, special tokens, chat template presence,\n"
               "tensor count by type and total weight bytes of a GGUF model file.\n");
}

static void print_mib(const char *key, uint64_t bytes)
{
    printf("%s: %llu (%.1f MiB)\n", key, (unsigned long long)bytes, (double)bytes / (1024.0 * 1024.0));
}

static void print_cap(const char *key, float c)
{
    if (c == 0.0f) printf("%s: none\n", key);
    else printf("%s: %g\n", key, (double)c);
}

/* Layers listed compactly: "0-4 6-10 12-16". */
static void print_layers(const char *key, const hp_model *hp, bool sliding)
{
    printf("%s:", key);
    int n = 0;
    for (uint32_t il = 0; il < hp->n_layer;) {
        if (hp->is_sliding[il] != sliding) { il++; continue; }
        uint32_t end = il;
        while (end + 1 < hp->n_layer && hp->is_sliding[end + 1] == sliding) end++;
        if (end == il) printf(" %u", il); else printf(" %u-%u", il, end);
        n++;
        il = end + 1;
    }
    printf("%s\n", n ? "" : " none");
}

/* Token text of id, or NULL. Walks the (validated) token list. */
static int find_token(const gguf_file *g, const char *text, gguf_str *at_id, uint64_t id)
{
    gguf_str_iter it = gguf_str_iter_begin(gguf_find_kv(g, "tokenizer.ggml.tokens"));
    gguf_str s;
    int found = -1;
    for (uint64_t i = 0; gguf_str_iter_next(&it, &s); i++) {
        if (at_id && i == id) *at_id = s;
        if (text && found < 0 && gguf_str_eq(s, text)) found = (int)i;
    }
    return found;
}

static void print_special(const gguf_file *g, const hp_model *hp, const char *label, const char *key)
{
    uint32_t id;
    gc_err err;
    int rc = gguf_get_u32(g, key, &id, &err);
    if (rc == 1) { printf("%s: absent\n", label); return; }
    if (rc < 0) { printf("%s: invalid (%s)\n", label, err.msg); return; }
    if (id >= hp->n_vocab) { printf("%s: %u (out of range: n_vocab %u)\n", label, id, hp->n_vocab); return; }
    gguf_str s = { "", 0 };
    find_token(g, NULL, &s, id);
    char tb[96];
    printf("%s: %u '%s'\n", label, id, gguf_str_print(s, tb, sizeof tb));
}

static void print_tensor_summary(const gguf_file *g)
{
    uint64_t count[GT_COUNT] = {0}, bytes[GT_COUNT] = {0}, total = 0;
    for (uint64_t i = 0; i < g->n_tensors; i++) {
        const gguf_tensor *t = &g->tensors[i];
        count[t->type]++;                 /* gguf_open guarantees a known type id < GT_COUNT */
        bytes[t->type] += t->n_bytes;
        total += t->n_bytes;
    }
    printf("tensors: %llu\n", (unsigned long long)g->n_tensors);
    printf("tensor_types:");
    const char *sep = " ";
    for (uint32_t t = 0; t < GT_COUNT; t++) {
        if (!count[t]) continue;
        printf("%s%s %llu", sep, quant_type_name(t), (unsigned long long)count[t]);
        sep = ", ";
    }
    printf("\n");
    for (uint32_t t = 0; t < GT_COUNT; t++)
        if (count[t])
            printf("tensor_type.%s: %llu tensors, %llu bytes%s\n", quant_type_name(t), (unsigned long long)count[t],
                   (unsigned long long)bytes[t], quant_type_supported(t) ? "" : " (unsupported)");
    print_mib("weight_bytes", total);
}

static void print_hparams(const hp_model *hp)
{
    printf("n_layer: %u\n", hp->n_layer);
    printf("n_embd: %u\n", hp->n_embd);
    printf("n_ff: %u\n", hp->n_ff);
    printf("n_head: %u\n", hp->n_head);
    printf("n_head_kv: %u\n", hp->n_head_kv);
    printf("head_dim: %u\n", hp->head_dim);
    printf("n_ctx_train: %u\n", hp->n_ctx_train);
    printf("n_vocab: %u\n", hp->n_vocab);
    printf("rms_eps: %g\n", (double)hp->eps);
    print_cap("attn_softcap", hp->attn_softcap);
    print_cap("final_softcap", hp->final_softcap);
    printf("sliding_window: %u\n", hp->window);
    if (hp->swa_per_layer) printf("swa_period: per-layer pattern\n");
    else printf("swa_period: %u\n", hp->swa_period);
    print_layers("sliding_layers", hp, true);
    print_layers("global_layers", hp, false);
    printf("rope_base: %g\n", (double)hp->rope_base);
    printf("rope_scale: %g\n", (double)hp->rope_scale);
    printf("rope_base_swa: %g\n", (double)hp->rope_base_swa);
    printf("rope_scale_swa: %g\n", (double)hp->rope_scale_swa);
    printf("query_scale: %.9g\n", (double)hp->query_scale);
    printf("embd_scale: %.9g\n", (double)hp->embd_scale);
    printf("qk_norm: %s\n", hp->has_qk_norm ? "yes" : "no");
    printf("output: %s\n", hp->has_output ? "output.weight" : "tied to token_embd.weight");
}

static void print_tokenizer(const gguf_file *g, const hp_model *hp)
{
    gguf_str s;
    gc_err err;
    char tb[96];
    if (gguf_get_str(g, "tokenizer.ggml.model", &s, &err) == 0)
        printf("tokenizer: %s\n", gguf_str_print(s, tb, sizeof tb));
    else
        printf("tokenizer: absent\n");
    print_special(g, hp, "bos", "tokenizer.ggml.bos_token_id");
    print_special(g, hp, "eos", "tokenizer.ggml.eos_token_id");
    print_special(g, hp, "pad", "tokenizer.ggml.padding_token_id");
    print_special(g, hp, "unk", "tokenizer.ggml.unknown_token_id");
    const char *turns[2] = { "<start_of_turn>", "<end_of_turn>" };
    const char *labels[2] = { "start_of_turn", "end_of_turn" };
    for (int i = 0; i < 2; i++) {
        int id = find_token(g, turns[i], NULL, 0);
        if (id < 0) printf("%s: absent\n", labels[i]);
        else printf("%s: %d\n", labels[i], id);
    }
    if (gguf_get_str(g, "tokenizer.chat_template", &s, &err) == 0)
        printf("chat_template: present (%llu bytes)\n", (unsigned long long)s.len);
    else
        printf("chat_template: absent\n");
}

int cmd_inspect(int argc, char **argv)
{
    const char *path = NULL;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) { usage(stdout); return 0; }
        if (argv[i][0] == '-' && argv[i][1]) {
            fprintf(stderr, "gemma-chat inspect: unknown option '%s'\n", argv[i]);
            usage(stderr);
            return 2;
        }
        if (path) {
            fprintf(stderr, "gemma-chat inspect: more than one model given ('%s', '%s')\n", path, argv[i]);
            return 2;
        }
        path = argv[i];
    }
    if (!path) { usage(stderr); return 2; }

    gguf_file *g = NULL;
    gc_err err = {{0}};
    if (gguf_open(&g, path, &err)) {
        fprintf(stderr, "gemma-chat inspect: %s\n", err.msg);
        return 1;
    }
    printf("file: %s\n", path);
    print_mib("file_size", g->size);
    printf("gguf_version: %u\n", g->version);
    printf("metadata_keys: %llu\n", (unsigned long long)g->n_kv);
    gguf_str s;
    char tb[96];
    if (gguf_get_str(g, "general.architecture", &s, &err) == 0)
        printf("architecture: %s\n", gguf_str_print(s, tb, sizeof tb));
    if (gguf_get_str(g, "general.name", &s, &err) == 0)
        printf("name: %s\n", gguf_str_print(s, tb, sizeof tb));

    hp_model hp;
    int rc = 0;
    if (hp_load(&hp, g, &err)) {
        print_tensor_summary(g);
        fprintf(stderr, "gemma-chat inspect: %s\n", err.msg);
        rc = 1;
    } else {
        print_hparams(&hp);
        print_tokenizer(g, &hp);
        print_tensor_summary(g);
        if (hp_check_tensors(&hp, g, &err)) {
            fprintf(stderr, "gemma-chat inspect: %s\n", err.msg);
            printf("check: failed\n");
            rc = 1;
        } else {
            printf("check: ok\n");
        }
    }
    gguf_close(g);
    return rc;
}
