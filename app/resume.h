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

#include "app/chat.h"

/* Opens the cache (nothing when snapshots.max_mib is 0 or no cache
 * directory can be made: the chat works without). */
void resume_open(chat *c);
void resume_close(chat *c);

/* Restores the best snapshot for the current stream; returns the tokens it
 * gives the cache (0 when none was usable). Never fails: a snapshot that
 * cannot be used is ignored. */
int resume_restore(chat *c);

/* Stores the cache's state, when it holds something not stored yet. The few
 * tokens the stream has beyond the cache (the end of the last reply's turn)
 * are evaluated first, so that a restore needs no prefill at all. */
void resume_store(chat *c);

#endif
