/* transcript.h: saved conversations (YAML) and Markdown export.
 *
 * ==== Transcript format, version 2 (also in docs/transcript-format.md) ====
 *
 *   # gemma-chat transcript
 *   format: gemma-chat-transcript     # required, exactly this
 *   version: 2                        # required; 1 and 2 are read, 2 written
 *   current: 4                        # required with messages (version 2): the id of the
 *                                     #   current branch's last message (0 = none)
 *   created: 2025-11-26T14:41:00Z     # required; ISO 8601 (Z or +HH:MM offset)
 *   updated: 2025-11-26T15:02:13Z     # required; set on every save
 *   model:                            # optional; each key optional
 *     name: Gemma 3 270M              #   general.name of the GGUF
 *     arch: gemma3                    #   general.architecture
 *     file: gemma-3-270m-q4_k_m.gguf  #   file name (no directory)
 *     size: 253102496                 #   file size in bytes, 0 .. 2^53
 *   persona:                          # optional
 *     name: pirate                    #   persona name ("" = none)
 *     instruction: |-                 #   the instruction text as used
 *       You are a jolly old pirate ...
 *   sampling:                         # optional; config.yaml's sampling keys
 *     temperature: 1.0                #   and ranges; seed is the seed
 *     top_k: 64                       #   actually used (never -1 once a
 *     top_p: 0.95                     #   session has started)
 *     min_p: 0.0
 *     repeat_penalty: 1.0
 *     repeat_last_n: 64
 *     seed: 1234
 *   messages:                         # required; a list, may be empty: []
 *     - id: 1                         # version 2: required, 1 .. 2^53, increasing down the list
 *       role: user                    # user | model | notice
 *       text: |-                      # required; any UTF-8 text, see below
 *         Who are you?
 *       time: 2025-11-26T14:41:05Z    # optional
 *     - id: 2
 *       parent: 1                     # version 2: the id of the message it follows, an
 *                                     #   earlier one; absent = a first message
 *       role: model
 *       text: "Arr!\e[31m\n"          # double-quoted when it holds controls
 *       tokens: 42                    # optional: tokens generated, 0 .. 2^31-1
 *       tok_s: 31.5                   # optional: generation speed, 0 .. 1e9
 *
 * Text is written as a literal block scalar (|, with an indentation
 * indicator when it starts with a space, tab or line break, and chomping
 * "-" / "" / "+" for zero / one / more final line breaks), so it reads as
 * it was typed. Text a block scalar cannot carry (control characters other
 * than tab and newline, carriage return, DEL, C1 controls, U+2028/U+2029,
 * U+FEFF) is written as one double-quoted scalar with YAML escapes (\e,
 * \r, \x7F, \u2028 ...). Invalid UTF-8 is replaced by U+FFFD when a
 * message is added, so what is saved is what is in memory. NUL cannot
 * occur (texts are C strings); a file whose text decodes to NUL is refused.
 *
 * The messages form a tree: every branch of the conversation (/edit forks
 * one) is kept, and a message's parent always comes before it in the list,
 * so a parent that is not an earlier id (a cycle, a dangling id) is an
 * error. A version 1 file (no ids) is one branch in list order.
 *
 * Reading is strict: unknown keys, missing required keys, wrong types,
 * values out of range, a newer version, files over 64 MiB, nesting deeper
 * than 16, aliases and binary junk are errors with file:line.
 *
 * Files live in cfg_transcripts_dir() (default
 * $XDG_DATA_HOME/gemma-chat/transcripts, mode 0700), files mode 0600.
 * Names: tr_path() refuses names with '/', "..", control characters or a
 * leading '.', and appends ".yaml" (or ".md" for export) when missing.
 * Saving is atomic (paths_write_atomic): on any failure the previous file
 * is byte-identical and no temporary file is left. Tests inject failures
 * through base/fault.h (GEMMA_CHAT_FAULT=write:N, fsync:N, rename:N).
 *
 * Markdown export (the current branch): a title, a metadata list, then "## User" / "## Model" /
 * "## Notice" headings with the text as-is, except that control characters
 * and escape sequences are neutralized (tr_neutralize).
 */
#ifndef GC_TRANSCRIPT_H
#define GC_TRANSCRIPT_H

#include <stdbool.h>
#include <stddef.h>
#include <time.h>

#include "app/config.h"
#include "base/err.h"

#define TR_FORMAT_VERSION 2
#define TR_MAX_FILE_BYTES (64u << 20)
#define TR_MAX_TEXT_BYTES (16u << 20)
#define TR_MAX_MESSAGES 1000000

typedef enum tr_role { TR_USER, TR_MODEL, TR_NOTICE } tr_role;

typedef struct tr_message {
    tr_role role;
    long long parent;           /* index in msgs of the message it follows; -1 = a first message */
    char *text;                 /* valid UTF-8, no NUL */
    long long tokens;           /* tokens generated; -1 = unknown */
    double tok_s;               /* tokens per second; < 0 = unknown */
    long long time;             /* Unix seconds (UTC); -1 = unknown */
} tr_message;

typedef struct tr_transcript {
    long long created, updated; /* Unix seconds (UTC) */
    char *model_name;           /* never NULL; "" = unknown */
    char *model_arch;
    char *model_file;
    long long model_size;       /* bytes; -1 = unknown */
    char *persona_name;         /* never NULL; "" = none */
    char *persona_instruction;  /* never NULL */
    bool has_sampling;
    cfg_sampling sampling;
    tr_message *msgs;           /* [n_msgs] every message of every branch, parents before children */
    size_t n_msgs, cap_msgs;
    size_t *path;               /* [n_path] indices in msgs of the current branch, first message first */
    size_t n_path, cap_path;
    unsigned long long gen;     /* changes whenever the content changes (unique across transcripts):
                                 * a saved gen equal to the current one means "nothing new to save" */
} tr_transcript;

/* A new empty transcript; created = updated = now. */
int tr_create(tr_transcript **out, gc_err *err);
void tr_free(tr_transcript *t);

int tr_set_model(tr_transcript *t, const char *name, const char *arch, const char *file, long long size,
                 gc_err *err);
int tr_set_persona(tr_transcript *t, const char *name, const char *instruction, gc_err *err);
void tr_set_sampling(tr_transcript *t, const cfg_sampling *s);

/* The current branch: its length and its i-th message (i < tr_len). A
 * conversation that never forked is all of msgs, in order. */
size_t tr_len(const tr_transcript *t);
tr_message *tr_msg(const tr_transcript *t, size_t i);

/* Appends a copy of text (invalid UTF-8 becomes U+FFFD) as a child of the
 * current branch's last message; time = now. tokens -1 / tok_s -1 when unknown. */
int tr_add(tr_transcript *t, tr_role role, const char *text, long long tokens, double tok_s, gc_err *err);
/* Keeps the first n messages of the current branch (for /undo and /regen);
 * the others leave it, and are deleted unless another branch goes through
 * them. n >= tr_len is a no-op. */
void tr_truncate(tr_transcript *t, size_t n);
/* The same, deleting nothing: the next tr_add starts a new branch there (/edit). */
int tr_fork(tr_transcript *t, size_t n, gc_err *err);
/* Branches are the messages nothing follows (leaves), in msgs order. */
size_t tr_n_branches(const tr_transcript *t);
size_t tr_branch_leaf(const tr_transcript *t, size_t k);   /* index in msgs of branch k's last message */
/* The messages with the same parent as the current branch's message at pos
 * (itself included): returns how many, *k = its place among them (1-based,
 * in msgs order). More than one: the conversation forks there. */
size_t tr_siblings(const tr_transcript *t, size_t pos, size_t *k);
/* Index in msgs of the sibling before (d < 0) or after (d > 0) the current
 * branch's message at pos; that message's own index when there is none. */
size_t tr_sibling(const tr_transcript *t, size_t pos, int d);
/* Index in msgs of the last message of the newest branch through msgs[idx]. */
size_t tr_newest_leaf(const tr_transcript *t, size_t idx);
/* Makes the path from a first message to msgs[leaf] the current branch. */
int tr_set_branch(tr_transcript *t, size_t leaf, gc_err *err);

const char *tr_role_name(tr_role r);

/* YAML text of t (malloc'ed, *len bytes, NUL-terminated). */
int tr_to_yaml(const tr_transcript *t, char **out, size_t *len, gc_err *err);
/* Sets t->updated to now and writes tr_to_yaml atomically to path (mode 0600).
 * Returns 0; -1 when the previous file is unchanged (t->updated too); 1 when
 * the file was replaced but its directory could not be synced (paths_write_atomic). */
int tr_save(tr_transcript *t, const char *path, gc_err *err);

int tr_load(const char *path, tr_transcript **out, gc_err *err);
/* Parses buf[len]; `name` is used in messages (fuzzers, tests). */
int tr_load_buf(const char *name, const char *buf, size_t len, tr_transcript **out, gc_err *err);

/* Markdown text of t / written atomically to path. */
int tr_to_markdown(const tr_transcript *t, char **out, size_t *len, gc_err *err);
int tr_export_markdown(const tr_transcript *t, const char *path, gc_err *err);

/* The start of text's first line (at most 40 bytes, cut at a character
 * boundary, "..." when cut) into buf[n], for lists. Raw text: the caller
 * neutralizes it for display. */
void tr_first_words(const char *text, char *buf, size_t n);

/* Validates a transcript name (see paths_check_name). */
int tr_check_name(const char *name, gc_err *err);
/* dir/NAME, with ext (".yaml", ".md") appended unless NAME already ends in it. */
int tr_path(const char *dir, const char *name, const char *ext, char *buf, size_t n, gc_err *err);
/* A fresh default name "YYYY-MM-DD_HH-MM-SS.yaml" (local time t), with
 * "-2", "-3" ... added when dir already holds it. */
int tr_default_name(const char *dir, time_t t, char *buf, size_t n, gc_err *err);
/* Whether path's file name is one tr_default_name makes (STEM.yaml or
 * STEM-N.yaml): a file autosave may continue; any other name was the user's. */
bool tr_is_default_name(const char *path);

/* A display-safe copy of s[len] (malloc'ed) for plain-text output (Markdown,
 * line mode): controls other than \n and \t shown as base/utf8.h's
 * utf8_visible says (ESC -> U+241B), invalid UTF-8 as U+FFFD. Terminal
 * escape sequences are thereby shown, never executed. NULL on out of memory. */
char *tr_neutralize(const char *s, size_t len);

/* ISO 8601 UTC "YYYY-MM-DDTHH:MM:SSZ" into buf[32]; parse accepts an
 * optional fraction and Z or +HH:MM / -HH:MM. */
void tr_format_time(long long t, char buf[32]);
int tr_parse_time(const char *s, long long *out);

#endif
