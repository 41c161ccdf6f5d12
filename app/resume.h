/* resume.h: instant resume: when the chat stores and restores the model's
 * state (the KV cache) through the snapshot cache (app/snapshot.h).
 *
 * Stored: the cache's state whenever the conversation is saved (/save,
 * autosave, on exit) and whenever a front end has caught up with a stream
 * (sess_catch_up after a load, or after a new conversation whose persona has
 * example exchanges: its prefix). Restored: after the conversation was
 * replaced (start, --load, /load, /clear, /persona), the snapshot sharing
 * the longest prefix with the new stream, so that catching up and the next
 * prefill evaluate only what it lacks. The identity of a snapshot names the
 * model file (path, size, mtime, inode), the backend and device, this
 * gemma-chat binary (its own size and mtime) and the context and ring sizes;
 * gemma_state_load checks the shape again. Config: snapshots.max_mib.
 */
#ifndef GC_RESUME_H
#define GC_RESUME_H

#include <stdbool.h>
#include <stdint.h>

#include "app/session.h"
#include "app/snapshot.h"
#include "model/backend.h"

/* The chat's snapshot cache, when it is on. */
typedef struct resume {
    snap_cache snaps;
    bool on;
    uint64_t stored;            /* hash of the token stream last stored or restored */
} resume;

/* Opens the cache for session s of the model file model_path on backend be,
 * up to max_mib (snapshots.max_mib). Nothing when max_mib is 0 or no cache
 * directory can be made: the chat works without. */
void resume_open(resume *r, sess *s, const char *model_path, const backend *be, int max_mib);
void resume_close(resume *r);   /* accepts a zeroed one */

/* Restores the best snapshot for s's current stream; returns the tokens it
 * gives the cache (0 when none was usable). Never fails: a snapshot that
 * cannot be used is ignored. */
int resume_restore(resume *r, sess *s);

/* Stores s's cache state, when it holds something not stored yet. The few
 * tokens the stream has beyond the cache (the end of the last reply's turn)
 * are evaluated first, so that a restore needs no prefill at all. */
void resume_store(resume *r, sess *s);

#endif
