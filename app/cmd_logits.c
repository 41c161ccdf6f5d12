/* cmd_logits.c: `gemma-chat logits -m MODEL [--backend B] --file F --out OUT [--ids]`
 *
 * One forward pass over BOS + the tokens of F (or, with --ids, the
 * whitespace-separated token ids in F used as they are), writing the logits of
 * every position (final soft-cap applied) as little-endian
 *     int32 n, int32 n_vocab, int32 tokens[n], float32 logits[n][n_vocab]
 * the format llama.cpp's oracle writes, so the two can be compared directly.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "app/backends.h"
#include "app/commands.h"
#include "model/gemma.h"
#include "model/gguf.h"
#include "model/tokenizer.h"
#include "base/file.h"

static void usage(FILE *f)
{
    fprintf(f, "usage: gemma-chat logits -m MODEL [--backend %s] [--device D] --file F --out OUT [--ids]\n"
               "  Logits of every position of BOS + tokens of F (--ids: F holds token ids, no BOS added).\n",
            backends_names());
}

/* Whitespace-separated decimal ids; each must fit the vocabulary. */
static int parse_ids(const char *path, const char *text, int n_vocab, int32_t **out, int *n_out, gc_err *err)
{
    size_t cap = 64;
    int n = 0;
    int32_t *ids = malloc(cap * sizeof *ids);
    const char *p = text;
    while (ids) {
        while (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r') p++;
        if (!*p) break;
        char *end;
        errno = 0;
        long v = strtol(p, &end, 10);
        if (end == p || errno || (*end && !strchr(" \t\r\n", *end))) {
            free(ids);
            return gc_errf(err, "%s: token %d: '%.20s' is not a token id", path, n + 1, p);
        }
        if (v < 0 || v >= n_vocab) {
            free(ids);
            return gc_errf(err, "%s: token %d: id %ld is outside the vocabulary (0..%d)", path, n + 1, v, n_vocab - 1);
        }
        if ((size_t)n == cap) {
            int32_t *ni = realloc(ids, 2 * cap * sizeof *ids);
            if (!ni) break;
            ids = ni;
            cap *= 2;
        }
        ids[n++] = (int32_t)v;
        p = end;
    }
    if (!ids) return gc_errf(err, "%s: out of memory", path);
    if (n == 0) { free(ids); return gc_errf(err, "%s: no token ids", path); }
    *out = ids;
    *n_out = n;
    return 0;
}

/* BOS (when the vocab adds one) + the tokens of the text, no special parsing. */
static int text_ids(const gguf_file *g, const char *path, const char *text, int32_t **out, int *n_out, gc_err *err)
{
    tok_vocab *v = NULL;
    tok_ids ids = {0};
    int rc = -1;
    if (tok_from_gguf(&v, g, err)) goto done;
    tok_special sp = tok_specials(v);
    if (sp.add_bos && sp.bos >= 0 && tok_ids_push(&ids, sp.bos, err)) goto done;
    if (tok_encode(v, text, strlen(text), &ids, err)) goto done;
    if (ids.n == 0 || ids.n > INT32_MAX) { gc_errf(err, "%s: no tokens", path); goto done; }
    *out = ids.ids;
    *n_out = (int)ids.n;
    ids.ids = NULL;
    rc = 0;
done:
    tok_ids_free(&ids);
    tok_destroy(v);
    return rc;
}

static void put_le32(unsigned char *b, uint32_t v)
{
    b[0] = (unsigned char)v;
    b[1] = (unsigned char)(v >> 8);
    b[2] = (unsigned char)(v >> 16);
    b[3] = (unsigned char)(v >> 24);
}

/* Writes the file through a buffer of explicit little-endian words. */
static int write_logits(const char *path, const int32_t *toks, int n, int n_vocab, const float *logits, gc_err *err)
{
    FILE *f = fopen(path, "wb");
    if (!f) return gc_errf(err, "%s: %s", path, strerror(errno));
    unsigned char b[4096];
    size_t k = 0;
    uint64_t total = 2 + (uint64_t)n + (uint64_t)n * n_vocab;
    for (uint64_t i = 0; i < total; i++) {
        uint32_t w;
        if (i == 0) w = (uint32_t)n;
        else if (i == 1) w = (uint32_t)n_vocab;
        else if (i < 2 + (uint64_t)n) w = (uint32_t)toks[i - 2];
        else memcpy(&w, &logits[i - 2 - n], 4);
        put_le32(b + k, w);
        k += 4;
        if (k == sizeof b || i + 1 == total) {
            if (fwrite(b, 1, k, f) != k) { fclose(f); return gc_errf(err, "%s: write error", path); }
            k = 0;
        }
    }
    if (fclose(f)) return gc_errf(err, "%s: write error", path);
    return 0;
}

int cmd_logits(int argc, char **argv)
{
    const char *model = NULL, *file = NULL, *outp = NULL, *bname = NULL, *device = NULL;
    bool ids_mode = false;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char **dst = !strcmp(a, "-m") || !strcmp(a, "--model") ? &model
                         : !strcmp(a, "--file") ? &file
                         : !strcmp(a, "--out") ? &outp
                         : !strcmp(a, "--backend") ? &bname
                         : !strcmp(a, "--device") ? &device : NULL;
        if (dst) {
            if (i + 1 >= argc) { fprintf(stderr, "gemma-chat logits: %s needs a value\n", a); return 2; }
            *dst = argv[++i];
        } else if (!strcmp(a, "--ids")) {
            ids_mode = true;
        } else if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            usage(stdout);
            return 0;
        } else {
            fprintf(stderr, "gemma-chat logits: unknown option '%s'\n", a);
            usage(stderr);
            return 2;
        }
    }
    if (!model || !file || !outp) {
        fprintf(stderr, "gemma-chat logits: %s is required\n", !model ? "-m MODEL" : !file ? "--file" : "--out");
        usage(stderr);
        return 2;
    }

    gc_err err = {0};
    int rc = 1;
    backends_model bm = {0};
    gemma_session *s = NULL;
    char *text = NULL;
    int32_t *toks = NULL;
    float *logits = NULL;
    int n = 0;

    if (file_read_path(file, "--file", 0, &text, NULL, &err) || backends_load(&bm, model, bname, device, NULL, NULL, &err))
        goto done;
    gemma_model *m = bm.model;
    int n_vocab = gemma_n_vocab(m);
    if (ids_mode ? parse_ids(file, text, n_vocab, &toks, &n, &err) : text_ids(bm.file, file, text, &toks, &n, &err))
        goto done;
    if (n > gemma_n_ctx_train(m)) {
        gc_errf(&err, "%s: %d tokens exceed the model's context of %d", file, n, gemma_n_ctx_train(m));
        goto done;
    }
    logits = malloc((size_t)n * n_vocab * sizeof *logits);
    if (!logits) { gc_errf(&err, "out of memory for %d x %d logits", n, n_vocab); goto done; }
    if (gemma_session_create(&s, m, n, 0, &err) || gemma_eval_all(s, toks, n, logits, &err) ||
        write_logits(outp, toks, n, n_vocab, logits, &err))
        goto done;
    rc = 0;
done:
    if (rc) fprintf(stderr, "gemma-chat logits: %s\n", err.msg);
    free(logits);
    free(toks);
    free(text);
    gemma_session_free(s);
    backends_unload(&bm);
    return rc;
}
