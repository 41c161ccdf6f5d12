/* cmd_tokenize.c: `gemma-chat tokenize -m MODEL [--pieces] [--file F | TEXT]`
 *
 * Prints the token ids of the text (TEXT, the file, or stdin) on one line,
 * space separated: no BOS, no control-token parsing, exactly what the chat
 * engine would feed the model for that text. Tests compare it with llama.cpp.
 * --pieces prints one token a line instead: its id, a tab, and its entry in
 * the vocabulary (SentencePiece's "▁" for a space), control bytes escaped.
 * Hidden flag --bench N (tools/bench_tokenizer.sh): tokenize the text N times
 * and print the speed instead of the ids.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "app/commands.h"
#include "app/paths.h"
#include "base/clock.h"
#include "base/file.h"
#include "model/gguf.h"
#include "model/tokenizer.h"

static void usage(FILE *f)
{
    fprintf(f, "usage: gemma-chat tokenize -m MODEL [--pieces] [--file FILE | TEXT]\n"
               "  prints the token ids of TEXT or FILE (stdin when neither) on one line; no BOS,\n"
               "  no special-token parsing\n"
               "  --pieces   one token a line: id, tab, its piece of the vocabulary\n");
}

/* One token a line: id, tab, the vocabulary entry, with backslash, control
 * bytes and DEL escaped so that each token stays on its line. */
static void print_pieces(const tok_vocab *v, const tok_ids *ids)
{
    for (size_t i = 0; i < ids->n; i++) {
        size_t n = 0;
        const char *t = tok_text(v, ids->ids[i], &n);
        printf("%d\t", (int)ids->ids[i]);
        for (size_t k = 0; t && k < n; k++) {
            unsigned char c = (unsigned char)t[k];
            if (c == '\\') fputs("\\\\", stdout);
            else if (c == '\n') fputs("\\n", stdout);
            else if (c == '\t') fputs("\\t", stdout);
            else if (c < 0x20 || c == 0x7f) printf("\\x%02x", c);
            else putchar(c);
        }
        putchar('\n');
    }
}

/* Best of n runs, so a busy machine shows the tokenizer's speed, not the noise. */
static int run_bench(const tok_vocab *v, const char *text, size_t len, int n, gc_err *err)
{
    double best = 1e30;
    size_t n_tok = 0;
    for (int r = 0; r < n; r++) {
        tok_ids ids = {0};
        double t0 = gc_now_s();
        int rc = tok_encode(v, text, len, &ids, err);
        double t = gc_now_s() - t0;
        n_tok = ids.n;
        tok_ids_free(&ids);
        if (rc) return 1;
        if (t < best) best = t;
    }
    printf("tokenize: %zu bytes -> %zu tokens in %.4f s = %.2f MB/s (best of %d, vocab %d)\n", len, n_tok, best,
           best > 0 ? len / best / 1e6 : 0.0, n, (int)tok_n_vocab(v));
    return 0;
}

int cmd_tokenize(int argc, char **argv)
{
    const char *model = NULL, *file = NULL, *arg = NULL;
    int bench = 0;
    bool pieces = false, opts = true;
    for (int i = 1; i < argc; i++) {
        if (opts && (!strcmp(argv[i], "-m") || !strcmp(argv[i], "--model")) && i + 1 < argc) model = argv[++i];
        else if (opts && !strcmp(argv[i], "--file") && i + 1 < argc) file = argv[++i];
        else if (opts && !strcmp(argv[i], "--bench") && i + 1 < argc && atoi(argv[i + 1]) > 0) bench = atoi(argv[++i]);
        else if (opts && !strcmp(argv[i], "--pieces")) pieces = true;
        else if (opts && (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help"))) { usage(stdout); return 0; }
        else if (opts && !strcmp(argv[i], "--")) opts = false;   /* a text that starts with '-' */
        else if (!arg && (!opts || argv[i][0] != '-' || !argv[i][1])) arg = argv[i];
        else {
            fprintf(stderr, "gemma-chat tokenize: unexpected argument '%s'\n", argv[i]);
            usage(stderr);
            return 2;
        }
    }
    if (!model) {
        fprintf(stderr, "gemma-chat tokenize: -m MODEL is required\n");
        usage(stderr);
        return 2;
    }
    if (arg && file) {
        fprintf(stderr, "gemma-chat tokenize: give the text or --file, not both\n");
        usage(stderr);
        return 2;
    }

    gc_err err = {0};
    gguf_file *g = NULL;
    tok_vocab *v = NULL;
    tok_ids ids = {0};
    char *text = NULL;
    size_t len = 0;
    int rc = 1;
    if (arg) {
        len = strlen(arg);
        if (!(text = strdup(arg))) { gc_errf(&err, "out of memory"); goto fail; }
    } else if (file) {
        if (file_read_path(file, "--file", 0, &text, &len, &err)) goto fail;
    } else if (file_read_stream(stdin, "stdin", 0, &text, &len, &err)) {
        goto fail;
    }
    if (gguf_open(&g, model, &err) || tok_from_gguf(&v, g, &err)) goto fail;
    if (bench) {
        rc = run_bench(v, text, len, bench, &err);
        if (rc) goto fail;
        goto done;
    }
    if (tok_encode(v, text, len, &ids, &err)) goto fail;
    if (pieces) {
        print_pieces(v, &ids);
    } else {
        for (size_t i = 0; i < ids.n; i++) printf(i ? " %d" : "%d", (int)ids.ids[i]);
        printf("\n");
    }
    rc = fflush(stdout) ? 1 : 0;
    if (rc) fprintf(stderr, "gemma-chat tokenize: write error: %s\n", strerror(errno));
    goto done;
fail:
    fprintf(stderr, "gemma-chat tokenize: %s\n", err.msg);
done:
    tok_ids_free(&ids);
    tok_destroy(v);
    gguf_close(g);
    free(text);
    return rc;
}
