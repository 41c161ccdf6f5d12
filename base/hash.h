/* hash.h: the one non-cryptographic hash of gemma-chat.
 *
 * 64-bit, FNV-1a's constants over 8-byte words (then the tail bytes), with a
 * final avalanche: fast enough for checksumming large cache files (a word per
 * multiply), and good enough for hash tables and content keys. Not for
 * anything an adversary chooses: use it to detect accidents (a truncated or
 * corrupted cache file), never to authenticate.
 */
#ifndef GC_BASE_HASH_H
#define GC_BASE_HASH_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#define GC_HASH_SEED 0xcbf29ce484222325ull

/* Continues hash h over p[n] (start with GC_HASH_SEED); chunks may be fed in
 * pieces whose sizes are multiples of 8 with the same result as one call. */
static inline uint64_t gc_hash_update(uint64_t h, const void *p, size_t n)
{
    const unsigned char *b = (const unsigned char *)p;
    for (; n >= 8; n -= 8, b += 8) {
        uint64_t w;
        memcpy(&w, b, 8);
        h = (h ^ w) * 0x100000001b3ull;
        h ^= h >> 29;
    }
    for (; n; n--, b++) h = (h ^ *b) * 0x100000001b3ull;
    return h;
}

/* The final mix: spreads every input bit over the result. */
static inline uint64_t gc_hash_final(uint64_t h)
{
    h ^= h >> 33;
    h *= 0xff51afd7ed558ccdull;
    h ^= h >> 33;
    h *= 0xc4ceb9fe1a85ec53ull;
    h ^= h >> 33;
    return h;
}

static inline uint64_t gc_hash(const void *p, size_t n)
{
    return gc_hash_final(gc_hash_update(GC_HASH_SEED, p, n));
}

#endif
