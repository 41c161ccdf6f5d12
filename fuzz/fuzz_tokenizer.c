/* fuzz_tokenizer.c: libFuzzer harness for tok_encode / tok_decode
 * (model/tokenizer.c) on arbitrary bytes, with the test vocab (a generated
 * model, `make models`) and, when present, the real Gemma 3 vocab
 * (`make real-model`); see fuzz_common.h for how they are found.
 *
 * Properties, for each vocab:
 *   - encoding never fails and gives ids inside the vocab;
 *   - user text never yields a control token (<start_of_turn>, <eos> ...):
 *     typing their text must give ordinary tokens;
 *   - for valid UTF-8, decode(encode(x)) == x, except that a literal U+2581
 *     (SentencePiece's space marker) may come back as ' ': when x holds one,
 *     both sides are compared with U+2581 mapped to ' ';
 *   - streaming the ids through tok_stream gives the same bytes as decode.
 * Invalid UTF-8 must only not crash.
 */
#include "fuzz/fuzz_common.h"

static tok_vocab *ft_test, *ft_real;

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc; (void)argv;
    fuzz_load_vocabs(&ft_test, &ft_real);
    return 0;
}

/* s with every U+2581 replaced by ' ' (malloc'd, *n updated). */
static char *ft_unmark(const char *s, size_t *n)
{
    char *o = malloc(*n + 1);
    FUZZ_CHECK(o != NULL, "malloc");
    size_t k = 0;
    for (size_t i = 0; i < *n; i++) {
        if (i + 2 < *n && (unsigned char)s[i] == 0xE2 && (unsigned char)s[i + 1] == 0x96 &&
            (unsigned char)s[i + 2] == 0x81) {
            o[k++] = ' ';
            i += 2;
        } else {
            o[k++] = s[i];
        }
    }
    *n = k;
    return o;
}

static void ft_one(const tok_vocab *v, const char *what, const char *text, size_t len)
{
    gc_err err = {{0}};
    tok_ids ids = {0};
    FUZZ_CHECK(tok_encode(v, text, len, &ids, &err) == 0, "%s: encode failed: %s", what, err.msg);
    int32_t nv = tok_n_vocab(v);
    for (size_t i = 0; i < ids.n; i++) {
        FUZZ_CHECK(ids.ids[i] >= 0 && ids.ids[i] < nv, "%s: id %d outside the vocab", what, (int)ids.ids[i]);
        FUZZ_CHECK(tok_type(v, ids.ids[i]) != TOK_CONTROL, "%s: user text gave control token %d", what,
                   (int)ids.ids[i]);
    }
    char *dec;
    size_t dlen;
    FUZZ_CHECK(tok_decode(v, ids.ids, ids.n, &dec, &dlen, &err) == 0, "%s: decode failed: %s", what, err.msg);

    if (fuzz_valid_utf8(text, len)) {
        bool marker = memmem(text, len, "\xe2\x96\x81", 3) != NULL;
        if (!marker) {
            FUZZ_CHECK(dlen == len && !memcmp(dec, text, len), "%s: decode(encode(x)) != x (%zu bytes -> %zu ids -> "
                       "%zu bytes)", what, len, ids.n, dlen);
        } else {
            size_t a = len, b = dlen;
            char *ua = ft_unmark(text, &a), *ub = ft_unmark(dec, &b);
            FUZZ_CHECK(a == b && !memcmp(ua, ub, a), "%s: decode(encode(x)) != x modulo U+2581", what);
            free(ua);
            free(ub);
        }
    }

    /* The streaming decoder agrees with the whole decode. */
    tok_stream st;
    FUZZ_CHECK(tok_stream_init(&st, v, &err) == 0, "stream init: %s", err.msg);
    char *cat = malloc(dlen + 8);
    FUZZ_CHECK(cat != NULL, "malloc");
    size_t k = 0, pl;
    for (size_t i = 0; i < ids.n; i++) {
        const char *p = tok_stream_push(&st, ids.ids[i], &pl);
        FUZZ_CHECK(k + pl <= dlen, "%s: stream output longer than decode", what);
        memcpy(cat + k, p, pl);
        k += pl;
    }
    const char *p = tok_stream_flush(&st, &pl);
    FUZZ_CHECK(k + pl <= dlen, "%s: stream output longer than decode", what);
    memcpy(cat + k, p, pl);
    k += pl;
    FUZZ_CHECK(k == dlen && !memcmp(cat, dec, dlen), "%s: stream != decode", what);
    tok_stream_free(&st);
    free(cat);
    free(dec);
    tok_ids_free(&ids);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    ft_one(ft_test, "test vocab", (const char *)data, size);
    if (ft_real) ft_one(ft_real, "real vocab", (const char *)data, size);
    return 0;
}
