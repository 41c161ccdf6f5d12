/* session.h: a chat conversation over one token stream held in the KV cache.
 *
 * The session keeps the conversation as exchanges (a user message and the
 * model's reply) and renders the ones that fit the context into one token
 * stream (model/chat_template.h):
 *
 *   <bos> user(persona + msg 1) model(reply 1) user(msg 2) model(reply 2) ...
 *
 * A persona with example exchanges puts them first, as real turns, and the
 * instruction goes into the first example's user turn instead:
 *
 *   <bos> user(persona + ex 1 user) model(ex 1 model) ... user(msg 1) ...
 *
 * The examples are part of the persona: they always stay in the context,
 * are not messages of the conversation, and are not in the transcript.
 *
 * Stop strings (sess_set_stops): a reply ends where one occurs in its text,
 * which is cut there. Text that could be the start of a stop string is held
 * back from on_token until it is known not to be. In the stream, every
 * reply of the conversation is followed by the first stop string (inside
 * its model turn), as a persona's examples end theirs: a base model that
 * cannot end a turn keeps ending its replies with that marker.
 *
 * The KV cache holds a prefix of that stream. Before generating, the session
 * evaluates only what the cache lacks (the longest common prefix of the cache
 * and the stream is kept), so a new user turn prefills just its own tokens
 * plus the two that closed the previous reply (<end_of_turn>\n).
 *
 * A finished reply is kept in the stream as the chat template renders its
 * text (trimmed, tokenized as one piece): the state of the cache is then
 * always what rendering the transcript's texts from scratch gives, so a
 * conversation saved and loaded again continues exactly as it would have.
 * When the model happened to produce a non-canonical tokenization of its
 * text (rare with real models), the differing tail of the reply is
 * evaluated again with the next turn.
 *
 * Context overflow: when the next user turn plus room for a reply
 * (sess_reply_reserve) would not fit, the oldest exchanges leave the
 * context (the persona stays, at the start of the oldest kept turn), the
 * rest is rendered and prefilled again, and a notice goes to the notice
 * callback and into the transcript. A message that cannot fit even alone is
 * refused with an error and changes nothing. The transcript keeps every
 * message, dropped ones included.
 *
 * Not thread-safe; one session per gemma_model (one KV cache per backend).
 */
#ifndef GC_SESSION_H
#define GC_SESSION_H

#include <signal.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "app/config.h"
#include "app/persona.h"
#include "app/transcript.h"
#include "base/err.h"
#include "model/gemma.h"
#include "model/tokenizer.h"

typedef struct sess sess;

typedef struct sess_params {
    int n_ctx;                  /* KV positions; 0 = min(the model's, 4096) */
    int n_batch;                /* tokens per prefill step; 0 = the engine's default */
    int max_tokens;             /* reply limit; <= 0 = until a stop or the context is full */
    cfg_sampling sampling;      /* seed must be resolved (>= 0); repeat_last_n -1 = n_ctx */
} sess_params;

/* Why a reply ended. */
typedef enum sess_end {
    SESS_END_STOP,              /* the model ended its turn, or a stop string occurred */
    SESS_END_LIMIT,             /* max_tokens reached */
    SESS_END_CONTEXT,           /* the context is full */
    SESS_END_CANCEL,            /* the cancel flag or the token callback stopped it */
} sess_end;

/* Figures of the last turn (sess_add_user + sess_generate, or sess_regen). */
typedef struct sess_stats {
    int prompt_tokens;          /* tokens evaluated before the reply (prefill) */
    double prefill_s;           /* seconds spent on them */
    double prefill_tok_s;       /* 0 when none were evaluated */
    int gen_tokens;             /* reply tokens generated */
    double decode_s;            /* seconds of sampling + evaluation for them */
    double decode_tok_s;        /* 0 when none */
    int dropped;                /* exchanges dropped from the context by this turn */
    sess_end end;
} sess_stats;

/* Called once per generated token with the text it completed (text may be
 * empty: a partial UTF-8 character is held back). Returning nonzero stops
 * the reply (SESS_END_CANCEL); the text so far is kept. The TUI polls its
 * input here. */
typedef int (*sess_token_fn)(void *user, const char *text, size_t len);
/* A notice for the user (context overflow); also recorded in the transcript. */
typedef void (*sess_notice_fn)(void *user, const char *text);
/* Prefill progress, after each chunk of tokens: done of total. Returning
 * nonzero stops the prefill (the call that started it fails with "stopped"). */
typedef int (*sess_progress_fn)(void *user, int done, int total);

typedef struct sess_io {
    sess_token_fn on_token;     /* each may be NULL */
    sess_notice_fn on_notice;
    sess_progress_fn on_progress;
    void *user;
    volatile sig_atomic_t *cancel; /* nonzero stops a prefill or a reply between steps (SIGINT); may be NULL */
} sess_io;

/* A session on model m (vocabulary v, both outliving it) with a fresh, empty
 * transcript and no persona. Creates the model's one gemma_session. */
int sess_create(sess **out, gemma_model *m, const tok_vocab *v, const sess_params *p, gc_err *err);
void sess_destroy(sess *s);     /* accepts NULL and a half-built session */

void sess_set_io(sess *s, const sess_io *io);

/* Starts a new conversation with this persona (name "" / instruction NULL or
 * "" = none); the cache is reused where it matches. */
int sess_set_persona(sess *s, const char *name, const char *instruction, gc_err *err);
/* The same with example exchanges (copied; n_ex 0 = none) put before the conversation. */
int sess_set_persona_ex(sess *s, const char *name, const char *instruction, const persona_exchange *ex,
                        size_t n_ex, gc_err *err);
/* Replaces the instruction for this conversation only (trimmed; "" = none),
 * keeping its messages: the transcript's persona.instruction changes, the
 * stream is rendered again with it (the cache keeps what still matches), and
 * when it takes more room the oldest exchanges leave the context (a notice).
 * The persona's file and example exchanges are untouched, though examples
 * that no longer fit are left out as sess_set_persona_ex does. Refused while
 * a message waits for its reply, and when the instruction cannot fit. */
int sess_set_instruction(sess *s, const char *instruction, gc_err *err);
const char *sess_instruction(const sess *s);    /* the instruction in use; "" = none */
/* Stop strings for the following replies (copied; each 1 or more bytes; n 0 = none). */
int sess_set_stops(sess *s, char *const *stops, size_t n, gc_err *err);

/* Stop-string scan over a reply's text that grew from old_n to n bytes:
 * returns 1 with *cut = where the earliest stop string occurring in text
 * and ending after old_n starts; else 0 with *safe = how many bytes of
 * text may be shown (after them, text could be the start of a stop string). */
int sess_stop_scan(char *const *stops, size_t n_stops, const char *text, size_t old_n, size_t n, size_t *cut,
                   size_t *safe);
/* A new conversation with the same persona (a new, empty transcript). */
int sess_clear(sess *s, gc_err *err);

/* Sampling settings for the following replies (checked; seed >= 0 restarts
 * the random sequence). Recorded in the transcript. */
int sess_set_sampling(sess *s, const cfg_sampling *sp, gc_err *err);
void sess_set_max_tokens(sess *s, int max_tokens);

/* Appends a user turn and evaluates what the cache lacks (dropping old
 * exchanges first when needed). On error (a message too long for the
 * context, an engine failure) the conversation is unchanged. */
int sess_add_user(sess *s, const char *text, sess_stats *st, gc_err *err);
/* Generates the reply to the pending user turn, streaming it through
 * on_token, and records it. st's prefill fields are kept from
 * sess_add_user when st is the same struct. */
int sess_generate(sess *s, sess_stats *st, gc_err *err);
/* sess_add_user + sess_generate. */
int sess_send(sess *s, const char *text, sess_stats *st, gc_err *err);

/* Forgets the last reply and generates it again (the random sequence goes
 * on, so with temperature > 0 it differs). Error when there is no exchange. */
int sess_regen(sess *s, sess_stats *st, gc_err *err);
/* Removes the last exchange (user message, reply, and notices after it) from
 * the conversation, the context and the transcript. */
int sess_undo(sess *s, gc_err *err);

/* --- branches (the transcript keeps each; see transcript.h) ---
 *
 * Edits the user's nth message (1-based; 0 = the last): the conversation
 * forks before it (the old branch stays in the transcript) and text is added
 * in its place, as sess_add_user (sess_generate then replies; a front end
 * shows the new branch in between). The cache is reused up to the fork: only
 * the new turn is evaluated. On failure the previous branch is current
 * again. (sess_regen replaces the last reply in place instead: no branch.) */
int sess_edit(sess *s, size_t n, const char *text, sess_stats *st, gc_err *err);

typedef struct sess_branch {
    size_t leaf;                /* index in the transcript's msgs of its last message */
    size_t n_msgs;              /* messages on it */
    size_t user_msg;            /* the user message number where it forks from the others */
    char words[64];             /* the first words of its first message no other branch has */
    bool current;
} sess_branch;
/* Every branch, in the transcript's order (malloc'ed array, *n of them;
 * branch 1 is the oldest). */
int sess_branches(sess *s, sess_branch **out, size_t *n, gc_err *err);
/* Makes branch k (1-based, as sess_branches lists them) current: the stream
 * is rendered from it (the cache keeps the prefix it shares). */
int sess_set_branch(sess *s, size_t k, gc_err *err);
/* Switches to the previous (d < 0) or next (d > 0) sibling at the current
 * branch's last fork, and to the newest branch through it. */
int sess_switch_sibling(sess *s, int d, gc_err *err);

/* Replaces the conversation with a loaded transcript (ownership passes to the
 * session on success; on failure the caller still owns tr and the session is
 * as before): persona from the transcript, exchanges from its user/model
 * messages (a last unanswered message gets an empty reply), the ones that
 * fit put in the stream. Model messages must follow user messages. Nothing
 * is evaluated: the cache is filled by sess_catch_up, or else by the next
 * turn's prefill, so that a front end can show the conversation at once. */
int sess_load(sess *s, tr_transcript *tr, gc_err *err);
/* The same, with the persona's example exchanges and stop strings (the
 * transcript holds only its name and instruction; the caller loads the
 * persona again). On failure the stop strings are unchanged too. */
int sess_load_ex(sess *s, tr_transcript *tr, const persona_exchange *ex, size_t n_ex, char *const *stops,
                 size_t n_stops, gc_err *err);

/* Evaluates up to max tokens (<= 0: all) of what the cache lacks of the
 * stream (after sess_load: the whole conversation), in prefill chunks, and
 * returns how many it still lacks (0: all cached), or -1 with err set (what
 * was evaluated stays cached). Progress is sess_n_cached of sess_n_used.
 * A front end calls it between keystrokes after a load; its time counts as
 * the prefill of sess_last_stats. */
int sess_catch_up(sess *s, int max, gc_err *err);
/* Tokens of the stream the cache lacks (from the first that differs). */
int sess_n_missing(const sess *s);

/* --- state --- */
tr_transcript *sess_transcript(sess *s);
const char *sess_persona_name(const sess *s);   /* "" = none */
size_t sess_n_persona_exchanges(const sess *s); /* example exchanges of the persona */
int sess_n_ctx(const sess *s);
int sess_window(const sess *s);                 /* the sliding layers' window (0: none): they see that
                                                 * much of the context, the global layers all of it */
int sess_n_used(const sess *s);                 /* tokens of the stream (the context in use) */
int sess_n_cached(const sess *s);               /* tokens in the KV cache */
int sess_n_exchanges(const sess *s);            /* all, dropped ones included */
int sess_n_in_context(const sess *s);           /* exchanges still in the context */
/* Tokens evaluated by prefills (sess_add_user, sess_generate, sess_catch_up)
 * since sess_create, over every conversation: what the kept cache saved
 * shows as tokens not counted here. Replies' own tokens are not counted. */
long long sess_n_prefilled(const sess *s);
int sess_reply_reserve(const sess *s);          /* room kept free for a reply when fitting a turn */
const sess_stats *sess_last_stats(const sess *s);
const cfg_sampling *sess_sampling(const sess *s);
int sess_max_tokens(const sess *s);
/* The token stream (valid until the next call that changes it). */
const int32_t *sess_tokens(const sess *s, size_t *n);
/* The tokens the KV cache holds (a prefix of what the stream was when they
 * were evaluated; valid until the next call that changes the cache). */
const int32_t *sess_cached_tokens(const sess *s, size_t *n);
/* Puts a saved engine state (gemma_state_save's blob, taken after toks[0..n))
 * in the KV cache: the next prefill keeps what it shares with the stream
 * (app/resume.h). On failure the cache is as before, or empty when the state
 * loaded but did not hold n positions. */
int sess_restore_cache(sess *s, const int32_t *toks, size_t n, const void *state, size_t len, gc_err *err);
/* Logits [n_vocab] of the stream's last token after sess_add_user, else NULL. */
const float *sess_logits(const sess *s);
/* The engine session (tests compare against a from-scratch prefill). */
gemma_session *sess_engine(sess *s);

const char *sess_end_name(sess_end e);

#endif
