/* config.h: gemma-chat settings (config.yaml), layered.
 *
 * Every setting has a built-in default; the repo's config.yaml documents each
 * key with that default. Layers, lowest first (cfg_load does 1-5):
 *   1. built-in defaults                              (cfg_defaults)
 *   2. SHARE/config.yaml, when present: the repo's or the installed copy
 *      (see paths.h for how SHARE is found)
 *   3. $XDG_CONFIG_HOME/gemma-chat/config.yaml (default ~/.config/...)
 *   4. -c FILE: an explicit file; must exist
 *   5. environment overrides (cfg_apply_env), the short list below
 *   6. command-line flags (cfg_set with CFG_SRC_FLAG), applied by main.c
 * Each layer only changes the keys it names; cfg_origin() says which layer
 * set a key, so a persona's sampling overrides can yield to env and flags.
 *
 * Relative paths (model, transcripts.dir) in a file are relative to that
 * file's directory; from env or flags, to the working directory; "~/" is
 * expanded everywhere.
 *
 * In a file: an unknown key is a warning with file:line (the rest still
 * applies); a wrong type or a value out of range is an error with file:line
 * naming the key and what it must be. A file over 1 MiB, nested deeper than
 * 16 levels, with aliases or binary junk is refused (see ydoc.h).
 *
 * Environment overrides: GEMMA_CHAT_MODEL, GEMMA_CHAT_BACKEND,
 * GEMMA_CHAT_DEVICE, GEMMA_CHAT_CONTEXT, GEMMA_CHAT_PERSONA,
 * GEMMA_CHAT_SEED, and NO_COLOR (any non-empty value turns colors off).
 * GEMMA_CHAT_SHARE_DIR moves the share directory (paths.h).
 */
#ifndef GC_CONFIG_H
#define GC_CONFIG_H

#include <stdbool.h>
#include <stddef.h>

#include "app/paths.h"
#include "base/err.h"

#define CFG_MAX_KEYS 48
#define CFG_MAX_CONFIG_BYTES (1u << 20)

/* auto: Vulkan on a GPU, else the native CPU backend; ref: the plain-C reference. */
typedef enum cfg_backend { CFG_BACKEND_AUTO, CFG_BACKEND_VULKAN, CFG_BACKEND_CPU, CFG_BACKEND_REF,
                           CFG_BACKEND_COUNT } cfg_backend;
typedef enum cfg_tristate { CFG_AUTO = -1, CFG_OFF = 0, CFG_ON = 1 } cfg_tristate;

/* Sampling settings; also the shape of a persona's overrides. */
typedef struct cfg_sampling {
    float temperature;          /* [0, 10]; 0 = greedy (argmax) */
    int top_k;                  /* [0, 1000000]; 0 = off */
    float top_p;                /* (0, 1]; 1 = off */
    float min_p;                /* [0, 1]; 0 = off */
    float repeat_penalty;       /* [0.1, 10]; 1 = off */
    int repeat_last_n;          /* [0, 1048576] or -1 = the whole context; 0 = off */
    long long seed;             /* [0, 2^63-1] or -1 = a fresh random seed per session */
} cfg_sampling;

/* Bits naming cfg_sampling fields (persona overrides say which they set). */
enum {
    CFG_S_TEMPERATURE = 1 << 0,
    CFG_S_TOP_K = 1 << 1,
    CFG_S_TOP_P = 1 << 2,
    CFG_S_MIN_P = 1 << 3,
    CFG_S_REPEAT_PENALTY = 1 << 4,
    CFG_S_REPEAT_LAST_N = 1 << 5,
    CFG_S_SEED = 1 << 6,
};

/* A color: foreground/background are -1 (terminal default) or 0..7, the
 * curses order black red green yellow blue magenta cyan white; attr is a
 * set of CFG_ATTR_* bits. Written "[bold] [dim] [underline] [reverse]
 * [FG] [on BG]", e.g. "bold cyan", "reverse", "white on blue". */
enum { CFG_ATTR_BOLD = 1, CFG_ATTR_DIM = 2, CFG_ATTR_UNDERLINE = 4, CFG_ATTR_REVERSE = 8 };
typedef struct cfg_color {
    signed char fg, bg;
    unsigned char attr;
} cfg_color;

typedef enum cfg_source {
    CFG_SRC_DEFAULT,
    CFG_SRC_SHARE,              /* SHARE/config.yaml */
    CFG_SRC_USER,               /* ~/.config/gemma-chat/config.yaml */
    CFG_SRC_FILE,               /* -c FILE */
    CFG_SRC_ENV,
    CFG_SRC_FLAG,
} cfg_source;

typedef struct cfg_config {
    char model[PATHS_MAX];      /* GGUF path; "" = none given */
    cfg_backend backend;        /* auto | vulkan | cpu | ref */
    char device[128];           /* "auto", an index ("0"), or part of a device name */
    int context;                /* tokens; 0 = the model's trained maximum; else [16, 1048576] */
    int max_tokens;             /* reply limit; -1 = until end of turn or full context; else [1, 1048576] */
    int threads;                /* native CPU backend threads; 0 = one per CPU; [0, 256] */
    char persona[201];          /* persona name (prompts/NAME.yaml) */
    cfg_sampling sampling;
    char transcripts_dir[PATHS_MAX]; /* "" = $XDG_DATA_HOME/gemma-chat/transcripts */
    bool autosave;              /* save the conversation on exit, SIGTERM, SIGHUP */
    int history;                /* input lines kept in $XDG_STATE_HOME/gemma-chat/history; 0 = none */
    int snapshots_mib;          /* bound of the KV snapshot cache (app/resume.h), MiB; 0 = no snapshots */
    bool show_stats;            /* show tokens and tok/s after each reply */
    cfg_tristate colors;        /* auto = when the terminal has colors and NO_COLOR is unset */
    cfg_color color_user, color_model, color_notice, color_status;
    unsigned char origin[CFG_MAX_KEYS]; /* cfg_source per key, in key-table order */
} cfg_config;

/* Receives each warning (unknown key ...), already formatted with file:line. */
typedef void (*cfg_warn_fn)(void *ctx, const char *msg);

void cfg_defaults(cfg_config *c);

/* Applies the keys of one YAML file over c (layer src). A missing file is an
 * error here; cfg_load decides which files are optional. */
int cfg_load_file(cfg_config *c, const char *path, cfg_source src, cfg_warn_fn warn, void *ctx, gc_err *err);
/* The same for a buffer; `name` is used in messages (fuzzers, tests). */
int cfg_load_buf(cfg_config *c, const char *name, const char *buf, size_t len, cfg_source src,
                 cfg_warn_fn warn, void *ctx, gc_err *err);

/* Starts from cfg_defaults and applies layers 2-5. share_dir: NULL =
 * paths_share_dir() (none found is not an error), "" = skip. user_file:
 * NULL = the XDG default, "" = skip; missing is fine. extra_file: -c
 * (NULL = none; must exist). Warnings go to warn (NULL = dropped). */
int cfg_load(cfg_config *c, const char *share_dir, const char *user_file, const char *extra_file,
             cfg_warn_fn warn, void *ctx, gc_err *err);

/* Environment overrides (layer 5); an invalid value is an error naming the variable. */
int cfg_apply_env(cfg_config *c, gc_err *err);
/* Those variables and the keys they set, NULL-terminated (the man page lists them). */
typedef struct cfg_env {
    const char *var, *key;
} cfg_env;
extern const cfg_env cfg_env_vars[];

/* Sets one key by dotted name ("sampling.temperature", "model") from text,
 * with the same types and ranges as the file; `what` names the source in
 * messages ("--temp"). This is the API for command-line flags. */
int cfg_set(cfg_config *c, const char *key, const char *value, cfg_source src, const char *what, gc_err *err);

/* Where key's current value came from (CFG_SRC_DEFAULT for an unknown key). */
cfg_source cfg_origin(const cfg_config *c, const char *key);

/* The key table, for documentation checks and `config` dumps. */
int cfg_key_count(void);
const char *cfg_key_name(int i);

/* The value of key i as YAML text (what a file would say). */
int cfg_format_value(const cfg_config *c, int i, char *buf, size_t n);

/* Reads the value of a "sampling:" key of a YAML document (a mapping, or
 * null) into s with the config's types and ranges, setting a CFG_S_* bit in
 * *mask for each key present. Shared with personas. */
struct ydoc;
struct ydoc_node;
int cfg_read_sampling(const struct ydoc *d, const struct ydoc_node *map, cfg_sampling *s, unsigned *mask,
                      cfg_warn_fn warn, void *ctx, gc_err *err);

/* Resolved transcripts directory (transcripts.dir or the XDG default),
 * created with mode 0700. */
int cfg_transcripts_dir(const cfg_config *c, char *buf, size_t n, gc_err *err);

const char *cfg_backend_name(cfg_backend b);
const char *cfg_source_name(cfg_source s);

#endif
