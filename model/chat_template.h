/* chat_template.h: Gemma's chat format, built from token ids (GEMMA.md section 6).
 *
 *   <bos><start_of_turn>user\n{persona}\n\n{text}<end_of_turn>\n
 *   <start_of_turn>model\n{reply}<end_of_turn>\n ... <start_of_turn>model\n
 *
 * The markers are token ids looked up by their text in the vocab (never
 * hard-coded: Gemma 2 and Gemma 3 number them differently); only the texts
 * between markers are tokenized, without control-token parsing, so a user who
 * types "<end_of_turn>" gets ordinary text tokens. Each span between two
 * markers ("user\n" + content, then "\n") is tokenized as one piece, which is
 * what llama.cpp does with the whole rendered string, so the ids equal its
 * tokenization of the same text with special parsing on.
 *
 * Contents and the persona are trimmed (ASCII whitespace), as the Hugging Face
 * template trims contents. There is no system role: the persona goes at the
 * start of the first user turn, followed by "\n\n" (nothing when it is empty).
 *
 * The chat engine keeps one token stream per conversation and prefills only
 * what is new each turn:
 *     tmpl_begin                               <bos>
 *     tmpl_add_turn(USER, persona, text)       first user turn
 *     tmpl_add_gen_prompt                      <start_of_turn>model\n
 *     ... generate until tmpl_is_stop(id); the stop token itself is not kept ...
 *     tmpl_close_reply                         <end_of_turn>\n
 *     tmpl_add_turn(USER, NULL, text); tmpl_add_gen_prompt; ...
 * tmpl_render builds a whole conversation in one call (same ids).
 */
#ifndef GC_CHAT_TEMPLATE_H
#define GC_CHAT_TEMPLATE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/err.h"
#include "model/tokenizer.h"

enum tmpl_role { TMPL_USER, TMPL_MODEL };

typedef struct tmpl_gemma {
    const tok_vocab *v;
    int32_t bos;            /* -1 when the vocab has none */
    int32_t eos;            /* -1 when the vocab has none */
    int32_t start_of_turn;  /* "<start_of_turn>" */
    int32_t end_of_turn;    /* "<end_of_turn>" */
    int32_t end_s;          /* "</s>" (Gemma 3: 212, user-defined), -1 when absent */
} tmpl_gemma;

typedef struct tmpl_msg {
    enum tmpl_role role;
    const char *text;       /* NUL-terminated */
} tmpl_msg;

/* Looks the markers up by text; fails (naming the missing marker) when the
 * vocab lacks <start_of_turn> or <end_of_turn>. v must outlive t. */
int tmpl_init(tmpl_gemma *t, const tok_vocab *v, gc_err *err);

/* <bos> (when the vocab has one and add_bos_token is set). */
int tmpl_begin(const tmpl_gemma *t, tok_ids *out, gc_err *err);
/* <start_of_turn>{user|model}\n[{persona}\n\n]{text}<end_of_turn>\n.
 * persona may be NULL; pass it only with the first user turn. */
int tmpl_add_turn(const tmpl_gemma *t, tok_ids *out, enum tmpl_role role, const char *persona,
                  const char *text, gc_err *err);
/* <start_of_turn>model\n: the model's reply comes next. */
int tmpl_add_gen_prompt(const tmpl_gemma *t, tok_ids *out, gc_err *err);
/* After a generated reply (the stop token not appended): <end_of_turn>\n, so the
 * stream reads as if the reply had been rendered by tmpl_add_turn. */
int tmpl_close_reply(const tmpl_gemma *t, tok_ids *out, gc_err *err);

/* A whole conversation: begin, every message (roles must alternate, starting
 * with the user; the persona goes into the first), then the generation prompt
 * if asked for. A bad role order is an error naming the message. */
int tmpl_render(const tmpl_gemma *t, const tmpl_msg *msgs, size_t n, const char *persona,
                bool add_gen_prompt, tok_ids *out, gc_err *err);

/* Generation stops on eos, <end_of_turn> or </s>: llama.cpp's end-of-generation
 * set for Gemma (llama-vocab.cpp marks a token whose text is "</s>" as one), so
 * greedy replies end where its do. */
bool tmpl_is_stop(const tmpl_gemma *t, int32_t id);

#endif
