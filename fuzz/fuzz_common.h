/* fuzz_common.h: what the libFuzzer harnesses (fuzz/fuzz_*.c) share.
 *
 * A harness checks properties with FUZZ_CHECK: a failed property prints what
 * went wrong and aborts, which libFuzzer records as a crash (and which fails
 * tests/test_fuzz_corpus.c, which replays the committed corpora and crash
 * regressions through the same harness code on the ordinary build).
 *
 * Each harness is one file whose only external symbols are its entry points,
 * so that the replay test can include them all into one program after
 * renaming LLVMFuzzerTestOneInput / LLVMFuzzerInitialize; everything else in
 * a harness is static and carries the harness's prefix.
 */
#ifndef GC_FUZZ_COMMON_H
#define GC_FUZZ_COMMON_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/utf8.h"
#include "base/err.h"
#include "model/gguf.h"
#include "model/tokenizer.h"

#define FUZZ_CHECK(cond, ...)                                                        \
    do {                                                                             \
        if (!(cond)) {                                                               \
            fprintf(stderr, "%s:%d: property failed: %s\n  ", __FILE__, __LINE__, #cond); \
            fprintf(stderr, __VA_ARGS__);                                            \
            fputc('\n', stderr);                                                     \
            abort();                                                                 \
        }                                                                            \
    } while (0)

/* True when s[0..n) is strict UTF-8 (base/utf8.c's rules). */
static inline int fuzz_valid_utf8(const char *s, size_t n)
{
    return utf8_invalid_at(s, n) == n;
}

/* The vocab of a GGUF file, or NULL (with a note on stderr) when the file is
 * missing or has no usable tokenizer. */
static inline tok_vocab *fuzz_load_vocab(const char *path)
{
    gguf_file *g = NULL;
    tok_vocab *v = NULL;
    gc_err err = {{0}};
    if (gguf_open(&g, path, &err) || tok_from_gguf(&v, g, &err)) {
        fprintf(stderr, "fuzz: no vocab from %s: %s\n", path, err.msg);
        v = NULL;
    }
    gguf_close(g);
    return v;
}

/* The vocabularies the tokenizer harnesses use:
 *   test vocab: $GC_FUZZ_VOCAB, else $MODELS/g3-default.gguf, else
 *               build/models/g3-default.gguf (`make models`); required;
 *   real vocab: $GC_FUZZ_REAL_VOCAB, else $REAL_MODEL, else
 *               models/gemma-3-270m-q4_k_m.gguf (`make real-model`); used
 *               when present. */
static inline void fuzz_vocab_paths(char *test, char *real, size_t n)
{
    const char *e;
    if ((e = getenv("GC_FUZZ_VOCAB")) && e[0]) snprintf(test, n, "%s", e);
    else if ((e = getenv("MODELS")) && e[0]) snprintf(test, n, "%s/g3-default.gguf", e);
    else snprintf(test, n, "build/models/g3-default.gguf");
    if ((e = getenv("GC_FUZZ_REAL_VOCAB")) && e[0]) snprintf(real, n, "%s", e);
    else if ((e = getenv("REAL_MODEL")) && e[0]) snprintf(real, n, "%s", e);
    else snprintf(real, n, "models/gemma-3-270m-q4_k_m.gguf");
}

/* Loads both vocabs (see fuzz_vocab_paths); aborts when the test vocab is missing. */
static inline void fuzz_load_vocabs(tok_vocab **test, tok_vocab **real)
{
    char tp[4096], rp[4096];
    fuzz_vocab_paths(tp, rp, sizeof tp);
    *test = fuzz_load_vocab(tp);
    if (!*test) {
        fprintf(stderr, "fuzz: the test vocab is required: run `make models` or set GC_FUZZ_VOCAB\n");
        abort();
    }
    FILE *f = fopen(rp, "rb");
    *real = NULL;
    if (f) {
        fclose(f);
        *real = fuzz_load_vocab(rp);
    }
    if (!*real) fprintf(stderr, "fuzz: real Gemma 3 vocab not used (%s absent)\n", rp);
}

#endif
