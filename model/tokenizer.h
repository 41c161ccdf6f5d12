/* tokenizer.h: Gemma's SentencePiece-BPE tokenizer, scored by the GGUF vocab.
 *
 * Encoding follows llama.cpp's SPM tokenizer exactly (GEMMA.md section 5), so
 * the ids equal what llama.cpp feeds the same model:
 *   1. user-defined tokens (type 4) are split out of the text first, longest
 *      token text first, leftmost occurrences (never control tokens: user text is
 *      not parsed for them, so typing "<end_of_turn>" gives ordinary tokens);
 *   2. in every remaining fragment ' ' becomes U+2581, the fragment is split
 *      into UTF-8 characters and adjacent symbols are merged, best-scored
 *      merge first (ties: leftmost), while the merged text is a vocab token;
 *   3. a symbol that is not a token becomes byte tokens <0xXX>.
 * No BOS is added here. A space goes before the first raw fragment and every
 * fragment after a user-defined token only if add_space_prefix (false for Gemma).
 *
 * Decoding: normal tokens with U+2581 -> ' ', byte tokens -> that byte,
 * user-defined tokens -> their text, control/unknown/unused -> nothing.
 */
#ifndef GC_TOKENIZER_H
#define GC_TOKENIZER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/err.h"

struct gguf_file;

/* GGUF tokenizer.ggml.token_type values (the same numbers SentencePiece uses). */
enum tok_type {
    TOK_NORMAL = 1, TOK_UNKNOWN = 2, TOK_CONTROL = 3, TOK_USER = 4, TOK_UNUSED = 5, TOK_BYTE = 6,
};

typedef struct tok_vocab tok_vocab;   /* immutable once built; safe to share across threads */

/* What tok_create needs besides the token arrays; -1 for an id the vocab lacks. */
typedef struct tok_special {
    int32_t bos, eos, unk, pad;
    bool add_bos;                     /* tokenizer.ggml.add_bos_token */
    bool add_space_prefix;            /* tokenizer.ggml.add_space_prefix (false for Gemma;
                                         llama.cpp's default when absent is true) */
} tok_special;

/* Builds a vocab from arrays of n tokens (texts need not be NUL-terminated;
 * they are copied). types[i] is an enum tok_type. name is used in messages
 * (a file name). Fails on n <= 0, special ids out of range, a type outside
 * 1..6 or a NaN score, naming the token. */
int tok_create(tok_vocab **out, int32_t n, const char *const *texts, const uint32_t *lens,
               const float *scores, const int32_t *types, const tok_special *sp,
               const char *name, gc_err *err);

/* Reads tokenizer.ggml.{model,tokens,scores,token_type,*_token_id,add_bos_token}
 * from a GGUF file. Only model "llama" (SentencePiece) is supported; the error
 * names the file and the key at fault. */
int tok_from_gguf(tok_vocab **out, const struct gguf_file *g, gc_err *err);

void tok_destroy(tok_vocab *v);       /* accepts NULL */

int32_t tok_n_vocab(const tok_vocab *v);
tok_special tok_specials(const tok_vocab *v);
/* The id whose text is exactly text[0..len), or -1. Any token type. */
int32_t tok_find(const tok_vocab *v, const char *text, size_t len);
/* Raw token text (as in the vocab, U+2581 kept); NULL for an id out of range. */
const char *tok_text(const tok_vocab *v, int32_t id, size_t *len);
int tok_type(const tok_vocab *v, int32_t id);   /* enum tok_type; 0 out of range */
float tok_score(const tok_vocab *v, int32_t id);

/* A growable array of token ids. Zero-initialize; free with tok_ids_free. */
typedef struct tok_ids {
    int32_t *ids;
    size_t n, cap;
} tok_ids;
int tok_ids_push(tok_ids *a, int32_t id, gc_err *err);
void tok_ids_free(tok_ids *a);

/* Appends the ids of text[0..len) to out (no BOS, no control-token parsing).
 * Fails only on allocation failure. */
int tok_encode(const tok_vocab *v, const char *text, size_t len, tok_ids *out, gc_err *err);

/* What one token prints (see the header comment): points into the vocab, valid
 * as long as it lives; length 0 for control, unknown, unused and bad ids. */
const char *tok_piece(const tok_vocab *v, int32_t id, size_t *len);

/* Decodes ids into a malloc'd NUL-terminated string (*out, length *out_len;
 * the text may itself contain NUL bytes from <0x00>). */
int tok_decode(const tok_vocab *v, const int32_t *ids, size_t n, char **out, size_t *out_len,
               gc_err *err);

/* Streaming detokenizer for generation: push one token at a time and get back
 * the text that is now complete UTF-8; an incomplete multi-byte character
 * (from byte tokens) is held until its last byte arrives. Bytes that can never
 * complete a character are passed through as they are, so the concatenation of
 * everything returned (flush included) always equals tok_decode of the ids. */
typedef struct tok_stream {
    const tok_vocab *v;
    unsigned char held[4];            /* start of an incomplete UTF-8 character */
    int n_held;
    char *buf;                        /* [cap] output of the last push */
    size_t cap;
} tok_stream;
int tok_stream_init(tok_stream *s, const tok_vocab *v, gc_err *err);
/* Returned text is valid until the next call on s; *len may be 0. */
const char *tok_stream_push(tok_stream *s, int32_t id, size_t *len);
/* Whatever is still held (an unfinished character at the end of generation). */
const char *tok_stream_flush(tok_stream *s, size_t *len);
void tok_stream_free(tok_stream *s);  /* accepts a zeroed or half-built stream */

#endif
