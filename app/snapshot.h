/* snapshot.h: the cache of KV-cache snapshots behind instant resume.
 *
 * A snapshot is the engine's state after a token stream (the blob of
 * gemma_session_save_state), stored with the stream's tokens and an identity
 * string naming everything the state depends on (model file, backend and
 * device, gemma-chat build, context size: see chat.c). Resuming a stream
 * takes the snapshot of the same identity that shares the longest prefix of
 * tokens with it; the session then keeps that prefix and evaluates the rest,
 * exactly as after its own prefill.
 *
 * Nothing read is trusted: a file whose magic, version, identity, sizes or
 * checksum do not match is ignored (and removed: it is ours and useless), and
 * the caller prefills as it would without a cache.
 *
 * Files: DIR/IIIIIIIIIIIIIIII-TTTTTTTTTTTTTTTT.snap (hex hashes of the identity
 * and of the tokens), mode 0600, written atomically. Layout, little-endian:
 *     char     magic[8]       "GCSNAP\r\n"
 *     u32      version        SNAP_VERSION
 *     u32      reserved       0
 *     u64      identity_len
 *     u64      n_tokens
 *     u64      state_len
 *     u64      checksum       base/hash.h over identity, tokens, state in turn
 *     identity_len bytes, n_tokens x i32, state_len bytes
 *
 * Size bound: after each store the cache's files (every identity) are
 * removed least recently used first (a hit renews a file's mtime) until
 * their total is within the limit (config snapshots.max_mib).
 */
#ifndef GC_SNAPSHOT_H
#define GC_SNAPSHOT_H

#include <stddef.h>
#include <stdint.h>

#include "app/paths.h"
#include "base/err.h"

#define SNAP_VERSION 1u

typedef struct snap_cache {
    char dir[PATHS_MAX];
    char *identity;
    uint64_t id_hash;
    uint64_t limit;             /* bytes the directory may hold */
} snap_cache;

typedef struct snap_hit {
    void *state;                /* malloc'd; the engine state */
    size_t state_len;
    int32_t *toks;              /* malloc'd; the stream the state holds */
    size_t n_toks;
    size_t common;              /* tokens it shares with the stream asked for */
} snap_hit;

/* A cache in dir (created, mode 0700) for states of this identity. */
int snap_open(snap_cache *c, const char *dir, const char *identity, uint64_t limit_bytes, gc_err *err);
void snap_close(snap_cache *c);     /* accepts a zeroed cache */

/* Stores the state after toks[0..n) (n >= 1), then evicts down to the limit.
 * A state larger than the limit is not stored (returns 0). */
int snap_store(snap_cache *c, const int32_t *toks, size_t n, const void *state, size_t len, gc_err *err);

/* The valid snapshot sharing the longest prefix (>= min_common tokens) with
 * toks[0..n); on ties the one with the fewest tokens beyond it (the least to
 * rewind), then the newest. Returns 1 with *hit filled, 0 when none. */
int snap_find(snap_cache *c, const int32_t *toks, size_t n, size_t min_common, snap_hit *hit);
void snap_hit_free(snap_hit *h);

/* "PATH size=S mtime=NS ino=I dev=D" for the identity: a file replaced or
 * rewritten gets another one. */
int snap_file_identity(const char *path, char *buf, size_t n, gc_err *err);

/* Total bytes of snapshot files in dir (tests, /stats). */
uint64_t snap_dir_bytes(const char *dir);

#endif
