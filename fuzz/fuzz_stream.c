/* fuzz_stream.c: libFuzzer harness for the streaming detokenizer
 * (tok_stream_* in model/tokenizer.c) over arbitrary id sequences, as a
 * model could generate them, plus ids no model can produce (negative, past
 * the vocab) which must simply print nothing.
 *
 * Input: byte 0 picks the vocab (bit 0: the real Gemma 3 vocab when present)
 * and the stream is re-initialized each time bit 1 of a tag byte is set; then
 * records of a tag byte and an id:
 *   tag & 3 == 0: the next 4 bytes are a raw little-endian int32 (any value);
 *   otherwise:    the next 2 bytes (or 3 when tag & 4) modulo the vocab size:
 *                 a valid id, so byte tokens and multi-byte pieces come often.
 * Properties: the concatenation of every push and the final flush equals
 * tok_decode of the same ids, byte for byte (checked chunk by chunk); every
 * chunk fits the stream's buffer; only the start of a possible multi-byte
 * character is held back, and nothing after a flush; when the whole decode
 * is valid UTF-8, every chunk ends on a character boundary (a terminal never
 * gets half a character).
 */
#include "fuzz/fuzz_common.h"

static tok_vocab *fs_test, *fs_real;

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc; (void)argv;
    fuzz_load_vocabs(&fs_test, &fs_real);
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1) return 0;
    const tok_vocab *v = (data[0] & 1) && fs_real ? fs_real : fs_test;
    uint32_t nv = (uint32_t)tok_n_vocab(v);
    int32_t *ids = malloc((size / 2 + 1) * sizeof *ids);
    FUZZ_CHECK(ids != NULL, "malloc");
    size_t n = 0, i = 1;
    while (i < size) {
        uint8_t tag = data[i++];
        if ((tag & 3) == 0) {
            if (size - i < 4) break;
            uint32_t u = (uint32_t)data[i] | (uint32_t)data[i + 1] << 8 | (uint32_t)data[i + 2] << 16 |
                         (uint32_t)data[i + 3] << 24;
            ids[n++] = (int32_t)u;
            i += 4;
        } else {
            size_t w = tag & 4 ? 3 : 2;
            if (size - i < w) break;
            uint32_t u = (uint32_t)data[i] | (uint32_t)data[i + 1] << 8 | (w == 3 ? (uint32_t)data[i + 2] << 16 : 0);
            ids[n++] = (int32_t)(u % nv);
            i += w;
        }
    }

    gc_err err = {{0}};
    char *whole;
    size_t wlen;
    FUZZ_CHECK(tok_decode(v, ids, n, &whole, &wlen, &err) == 0, "decode: %s", err.msg);
    FUZZ_CHECK(whole[wlen] == 0, "decode output not NUL-terminated");

    tok_stream st;
    FUZZ_CHECK(tok_stream_init(&st, v, &err) == 0, "stream init: %s", err.msg);
    bool valid = fuzz_valid_utf8(whole, wlen);
    size_t k = 0, len;
    for (size_t j = 0; j < n; j++) {
        const char *p = tok_stream_push(&st, ids[j], &len);
        FUZZ_CHECK(len <= st.cap, "push returned %zu bytes from a buffer of %zu", len, st.cap);
        FUZZ_CHECK(st.n_held >= 0 && st.n_held <= 3, "holding %d bytes", st.n_held);
        FUZZ_CHECK(k + len <= wlen, "stream output runs past decode (%zu + %zu > %zu)", k, len, wlen);
        FUZZ_CHECK(!memcmp(p, whole + k, len), "stream chunk %zu differs from decode at byte %zu", j, k);
        k += len;
        FUZZ_CHECK(!valid || k == wlen || ((unsigned char)whole[k] & 0xC0) != 0x80,
                   "chunk %zu ends inside a character of valid UTF-8 (byte %zu)", j, k);
        /* Bytes are only held back while they can still become a character. */
        if (st.n_held) {
            size_t h = (size_t)st.n_held;
            FUZZ_CHECK(k + h <= wlen && !memcmp(st.held, whole + k, h), "held bytes differ from decode");
            unsigned char lead = st.held[0];
            FUZZ_CHECK(lead >= 0xC2 && lead <= 0xF4, "holding a non-lead byte 0x%02x", lead);
        }
    }
    const char *p = tok_stream_flush(&st, &len);
    FUZZ_CHECK(k + len == wlen && !memcmp(p, whole + k, len), "stream + flush != decode (%zu + %zu vs %zu bytes)", k,
               len, wlen);
    FUZZ_CHECK(st.n_held == 0, "flush left %d bytes held", st.n_held);
    p = tok_stream_flush(&st, &len);
    FUZZ_CHECK(len == 0, "second flush gave %zu bytes", len);
    tok_stream_free(&st);
    tok_stream_free(&st);   /* documented to accept a freed (zeroed) stream */
    free(whole);
    free(ids);
    return 0;
}
