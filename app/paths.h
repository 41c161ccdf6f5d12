/* paths.h: where gemma-chat keeps its files, safe names, and atomic writes.
 *
 * Per-user directories follow the XDG base directory spec; each is the
 * variable's value when it is set to an absolute path (the spec says relative
 * values are invalid and must be ignored), else the default under $HOME, with
 * "/gemma-chat" appended:
 *
 *     PATHS_CONFIG  $XDG_CONFIG_HOME  ~/.config       config.yaml, prompts/
 *     PATHS_DATA    $XDG_DATA_HOME    ~/.local/share  transcripts/
 *     PATHS_STATE   $XDG_STATE_HOME   ~/.local/state  input history
 *     PATHS_CACHE   $XDG_CACHE_HOME   ~/.cache        pipeline cache
 *
 * Directories the app creates are made with mode 0700 (conversations are
 * private); existing ones are left as they are.
 *
 * The share directory holds the shipped config.yaml and prompts/NAME.yaml. It is
 * the first of these that exists (paths_share_dir):
 *   1. $GEMMA_CHAT_SHARE_DIR, when set (must then hold prompts/);
 *   2. the directory of the running binary, when it holds prompts/: running
 *      ./gemma-chat from the source tree uses the tree's files;
 *   3. BINDIR/../share/gemma-chat: the `make install PREFIX=...` layout, found
 *      relative to the binary so an installed tree can be moved;
 *   4. /usr/local/share/gemma-chat, then /usr/share/gemma-chat.
 *
 * Atomic writes (paths_write_atomic): the data goes to a temporary file in the
 * target's directory, which is fsynced, renamed over the target, and then the
 * directory is fsynced. If anything fails before the rename the temporary file
 * is removed and the old target is untouched.
 *
 * Fault injection for tests: the points write, fsync, rename and dirsync of
 * base/fault.h (GEMMA_CHAT_FAULT=fsync:1, or gc_fault_set in a unit test).
 * Data goes out in chunks of PATHS_WRITE_CHUNK bytes, so "the n-th write" is
 * well defined.
 */
#ifndef GC_PATHS_H
#define GC_PATHS_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "base/err.h"

#define PATHS_MAX 4096
#define PATHS_WRITE_CHUNK 65536

typedef enum paths_kind {
    PATHS_CONFIG,
    PATHS_DATA,
    PATHS_STATE,
    PATHS_CACHE,
} paths_kind;

/* The per-user directory of `kind` ("<base>/gemma-chat"), not created. */
int paths_user_dir(paths_kind kind, char *buf, size_t n, gc_err *err);

/* paths_user_dir + "/" + sub (sub may be NULL), created with mode 0700. */
int paths_ensure_user_dir(paths_kind kind, const char *sub, char *buf, size_t n, gc_err *err);

/* mkdir -p: every missing component is created with `mode`. An existing
 * non-directory component is an error naming it. */
int paths_mkdir_p(const char *path, mode_t mode, gc_err *err);

/* The share directory (see above) into buf; -1 with a message listing the
 * places tried when none exists. */
int paths_share_dir(char *buf, size_t n, gc_err *err);

/* Same lookup, with the binary's directory given (testable). */
int paths_share_dir_from(const char *exe_dir, char *buf, size_t n, gc_err *err);

/* snprintf into buf; -1 with "path too long: ..." when it does not fit. */
int paths_join(char *buf, size_t n, gc_err *err, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* "~/x" -> "$HOME/x"; a relative path with a non-NULL base_dir becomes
 * base_dir/path; anything else is copied. */
int paths_expand(const char *path, const char *base_dir, char *buf, size_t n, gc_err *err);

bool paths_is_dir(const char *path);
bool paths_is_file(const char *path);

/* A name that must stay inside its directory (persona, transcript): 1..200
 * bytes of valid UTF-8, no '/', '\\', "..", control characters, and no
 * leading '.' or '-'. `what` names the kind in the message ("persona name"). */
int paths_check_name(const char *name, const char *what, gc_err *err);

/* Writes data[len] to path atomically (see above) with file mode `mode`.
 * On failure the message names the path and the failed step, and says
 * whether the old file is unchanged. Returns 0; -1 when the old file is
 * unchanged; 1 when the new file is in place but its directory could not be
 * synced (it may not survive a crash). */
int paths_write_atomic(const char *path, const void *data, size_t len, mode_t mode, gc_err *err);

/* The same for a file made of several pieces, written one after another
 * (a big body need not be copied behind its header first). */
typedef struct paths_part {
    const void *data;
    size_t len;
} paths_part;
int paths_write_atomic_parts(const char *path, const paths_part *parts, int n_parts, mode_t mode, gc_err *err);

#endif
