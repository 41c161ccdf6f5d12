/* persona.h: persona presets, one YAML file each (prompts/NAME.yaml).
 *
 * File format (NAME is the file name without .yaml; only `instruction` is required):
 *
 *     name: pirate                    # optional; must equal NAME when given
 *     description: One line for /persona listings and completion.
 *     instruction: |                  # put at the start of the first user turn
 *       You are ...
 *     sampling:                       # optional; same keys and ranges as config.yaml
 *       temperature: 0.9
 *     examples:                       # optional example prompts (strings)
 *       - "Who are you? Please, answer in pirate-speak."
 *     exchanges:                      # optional example turns, at most 16
 *       - user: Who are you?          #   each exactly user + model, non-empty,
 *         model: Ahoy, matey! ...     #   at most 4096 bytes each
 *     stop: ["\nuser"]                # optional, at most 8 strings of 1..64 bytes:
 *                                     #   a reply ends where one occurs (cut off)
 *     max_tokens: 256                 # optional reply limit: 1..1048576 or -1
 *
 * Exchanges are put before the conversation as real chat turns (the
 * instruction at the start of the first of them); they are part of the
 * persona, not of the conversation: never shown, never saved as messages
 * (a transcript names the persona, and loading it applies them again).
 * A small base model (the bundled Gemma 3 270M) answers in the shown
 * style only when given such turns; see docs/real-model.md.
 *
 * Unknown top-level keys are warnings with file:line (as in config.yaml);
 * wrong types, empty or oversize strings, too many entries, unknown keys
 * inside an exchange, missing instruction, a mismatched name, oversize
 * (64 KiB) or deeply nested files are errors with file:line and the key.
 *
 * Lookup order (persona_default_dirs): the user's directory
 * $XDG_CONFIG_HOME/gemma-chat/prompts first, then SHARE/prompts (the source
 * tree's prompts/ when run from the tree, else the installed
 * PREFIX/share/gemma-chat/prompts; see paths.h). A user file overrides the
 * shipped one of the same name. Names with '/', "..", control characters
 * or a leading '.' are refused before any file is touched.
 *
 * Sampling precedence: persona_sampling() applies the persona's overrides
 * over the config's values except for keys the environment or a flag set.
 * max_tokens likewise (persona_max_tokens): -n on the command line wins,
 * then the persona, then the config files.
 */
#ifndef GC_PERSONA_H
#define GC_PERSONA_H

#include <stddef.h>

#include "app/config.h"
#include "base/err.h"

#define PERSONA_MAX_DIRS 4
#define PERSONA_MAX_FILE_BYTES (64u << 10)
#define PERSONA_MAX_EXCHANGES 16
#define PERSONA_MAX_EXCHANGE_BYTES 4096
#define PERSONA_MAX_STOPS 8
#define PERSONA_MAX_STOP_BYTES 64

/* One example turn pair. */
typedef struct persona_exchange {
    char *user;
    char *model;
} persona_exchange;

typedef struct persona {
    char name[201];
    char *description;          /* "" when absent */
    char *instruction;          /* the persona text */
    cfg_sampling sampling;      /* overrides; only fields in sampling_set are meaningful */
    unsigned sampling_set;      /* CFG_S_* bits */
    char **examples;            /* [n_examples] example prompts */
    size_t n_examples;
    persona_exchange *exchanges; /* [n_exchanges] example turns before the conversation */
    size_t n_exchanges;
    char **stops;               /* [n_stops] stop strings */
    size_t n_stops;
    int max_tokens;             /* meaningful when has_max_tokens */
    int has_max_tokens;
    char path[PATHS_MAX];       /* file it came from */
} persona;

/* Directories to search, highest priority first. */
typedef struct persona_dirs {
    char dir[PERSONA_MAX_DIRS][PATHS_MAX];
    int n;
} persona_dirs;

/* The user's prompts dir, then SHARE/prompts (share_dir NULL = paths_share_dir();
 * directories that do not exist are still listed: they are simply empty). */
int persona_default_dirs(persona_dirs *dirs, const char *share_dir, gc_err *err);

/* Checks a persona name (see paths_check_name). */
int persona_check_name(const char *name, gc_err *err);

/* Loads NAME from the first directory holding NAME.yaml. Returns 0; -2 when
 * NAME is no valid name or no directory holds it (a bad value); -1 when the
 * file cannot be read or parsed. */
int persona_load(const persona_dirs *dirs, const char *name, persona **out, cfg_warn_fn warn, void *ctx,
                 gc_err *err);

/* Loads one file; expect_name (NULL = from the file name) must match `name:`. */
int persona_load_file(const char *path, const char *expect_name, persona **out, cfg_warn_fn warn, void *ctx,
                      gc_err *err);

void persona_free(persona *p);

/* One listing entry. */
typedef struct persona_entry {
    char name[201];
    char description[256];      /* first line, cut at 255 bytes; "(unreadable: ...)" when broken */
    char path[PATHS_MAX];
    int overrides;              /* 1 when it hides a shipped persona of the same name */
} persona_entry;

/* Every persona in dirs, sorted by name, one entry per name (the highest
 * priority file wins). *out is malloc'ed; free it with free(). Files whose
 * names are not valid persona names are skipped. */
int persona_list(const persona_dirs *dirs, persona_entry **out, size_t *n, gc_err *err);

/* The effective sampling: c->sampling with p's overrides applied to each
 * key whose origin in c is below CFG_SRC_ENV (p may be NULL). */
void persona_sampling(const persona *p, const cfg_config *c, cfg_sampling *out);

/* The effective reply limit: c->max_tokens, or p's when it has one and
 * c's did not come from the environment or a flag (p may be NULL). */
int persona_max_tokens(const persona *p, const cfg_config *c);

#endif
