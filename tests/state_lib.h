/* state_lib.h: the KV state round trip (gemma_state_save / gemma_state_load,
 * blob layout in model/gemma.h) on whatever backend the caller's sessions run
 * on: test_gemma (reference and native CPU) and test_vk_gemma.
 *
 * Session A prefills a prompt longer than the ring, saves, and decodes the
 * next tokens; then rewinds inside the ring, saves again, and decodes from
 * there. Session B (same model file and options, its own backend) first holds
 * other tokens; blobs with a flipped header field, a truncated one and one
 * from a session with another n_ctx are refused naming what differs, and B
 * still evaluates as before; then B loads each of A's blobs and decodes the
 * same tokens: the logits must be A's within max_rel (0 where the backend
 * computes the same rows the same way).
 */
#ifndef GC_TEST_STATE_LIB_H
#define GC_TEST_STATE_LIB_H

#include <stdlib.h>
#include <string.h>

#include "model/gemma.h"
#include "tests/test.h"

#define STATE_NEXT 3   /* tokens decoded after each save */

static uint32_t state_u32(const uint8_t *b, size_t off)
{
    return (uint32_t)b[off] | (uint32_t)b[off + 1] << 8 | (uint32_t)b[off + 2] << 16 | (uint32_t)b[off + 3] << 24;
}

/* The blob's length follows from its own header (gemma.h's layout), it holds
 * only the positions in use, and the ring really wrapped (ring_lo > 0). */
static void state_check_layout(const char *what, const uint8_t *b, size_t len, int n_past)
{
    CHECK(len >= 36 && !memcmp(b, "GCKV", 4), "%s: blob of %zu bytes without its magic", what, len);
    if (len < 36) return;
    uint32_t nl = state_u32(b, 8), n_ctx = state_u32(b, 12), slot = state_u32(b, 16) * state_u32(b, 20) * state_u32(b, 24);
    uint32_t np = state_u32(b, 28), lo = state_u32(b, 32);
    size_t want = 36 + 4 * (size_t)nl;
    for (uint32_t l = 0; l < nl && 36 + 4 * (size_t)l + 4 <= len; l++)
        want += 2 * (size_t)(np - (state_u32(b, 36 + 4 * l) < n_ctx ? lo : 0)) * slot;
    CHECK(np == (uint32_t)n_past && lo > 0 && len == want, "%s: n_past %u (want %d), ring_lo %u, %zu bytes (want %zu)",
          what, np, n_past, lo, len, want);
}

/* Decodes toks[0..n) one at a time into logits [n][n_vocab]. */
static void state_decode(gemma_session *s, const int32_t *toks, int n, int n_vocab, float *logits)
{
    gc_err err = {0};
    for (int i = 0; i < n; i++) {
        int rc = gemma_eval(s, &toks[i], 1, GEMMA_WANT_LOGITS, &err);
        CHECK(rc == 0 && gemma_logits(s), "decode at %d: %s", gemma_n_past(s), err.msg);
        if (rc == 0 && gemma_logits(s)) memcpy(logits + (size_t)i * n_vocab, gemma_logits(s), (size_t)n_vocab * 4);
    }
}

static void state_same(const char *what, const float *a, const float *b, size_t n, double max_rel)
{
    double rel = test_rel_l2(a, b, n);
    fprintf(stderr, "%-48s rel_l2 %.3e (max %.0e)\n", what, rel, max_rel);
    CHECK(rel <= max_rel, "%s: rel L2 %.3e > %.1e", what, rel, max_rel);
}

/* A blob B must refuse, naming `names`; B keeps its n_past and its next
 * token's logits (ref). */
static void state_refused(const char *what, gemma_session *b, const void *blob, size_t len, const char *names,
                          const int32_t *next, const float *ref, int n_vocab, double max_rel)
{
    gc_err err = {0};
    int n_past = gemma_n_past(b);
    CHECK(gemma_state_load(b, blob, len, &err) != 0, "%s: accepted", what);
    fprintf(stderr, "%s: refused: %s\n", what, err.msg);
    CHECK_CONTAINS(err.msg, names);
    CHECK(gemma_n_past(b) == n_past, "%s: n_past %d after the refusal, was %d", what, gemma_n_past(b), n_past);
    float *lg = malloc((size_t)n_vocab * 4);
    state_decode(b, next, 1, n_vocab, lg);
    char label[160];
    snprintf(label, sizeof label, "%s: B after the refusal", what);
    state_same(label, lg, ref, (size_t)n_vocab, max_rel);
    CHECK(gemma_rewind(b, n_past, &err) == 0, "%s", err.msg);
    free(lg);
}

/* *sa: session A on model ma, b: session B, both opened with o (a ring that
 * toks[0..n_prompt) wraps; R - window + 1 >= STATE_NEXT + 2 so the rewind
 * stays inside it); toks holds n_prompt + STATE_NEXT tokens. A's session is
 * replaced by one with another n_ctx on the way (the caller frees *sa). */
static void state_case(const char *what, gemma_model *ma, gemma_session **sa, gemma_session *b,
                       const gemma_session_opts *o, int n_vocab, const int32_t *toks, int n_prompt, double max_rel)
{
    gc_err err = {0};
    gemma_session *a = *sa;
    size_t V = (size_t)n_vocab;
    int back = n_prompt - 2, n_after = n_prompt + STATE_NEXT - back;
    float *la = malloc(STATE_NEXT * V * 4), *la2 = malloc((size_t)n_after * V * 4), *lb = malloc((size_t)n_after * V * 4);
    float *lj = malloc(V * 4);
    void *blob1 = NULL, *blob2 = NULL, *blobc = NULL;
    size_t len1 = 0, len2 = 0, lenc = 0;
    char label[160];

    /* A: prefill, save, decode; rewind inside the ring, save, decode again */
    CHECK(gemma_eval(a, toks, n_prompt, GEMMA_WANT_LOGITS, &err) == 0, "%s: %s", what, err.msg);
    CHECK(gemma_state_save(a, &blob1, &len1, &err) == 0, "%s: save: %s", what, err.msg);
    state_decode(a, toks + n_prompt, STATE_NEXT, n_vocab, la);
    CHECK(gemma_rewind(a, back, &err) == 0 && gemma_n_past(a) == back, "%s: rewind in the ring: n_past %d", what,
          gemma_n_past(a));
    CHECK(gemma_state_save(a, &blob2, &len2, &err) == 0, "%s: save after the rewind: %s", what, err.msg);
    state_decode(a, toks + back, n_after, n_vocab, la2);
    snprintf(label, sizeof label, "%s: blob at %d", what, n_prompt);
    if (blob1) state_check_layout(label, blob1, len1, n_prompt);
    snprintf(label, sizeof label, "%s: blob after the rewind to %d", what, back);
    if (blob2) state_check_layout(label, blob2, len2, back);

    /* C: the same model with another n_ctx */
    gemma_session_free(a);
    *sa = NULL;
    gemma_session_opts oc = *o;
    oc.n_ctx = o->n_ctx - 16;
    CHECK(gemma_session_open(sa, ma, &oc, &err) == 0, "%s: %s", what, err.msg);
    if (*sa) {
        CHECK(gemma_eval(*sa, toks, n_prompt, 0, &err) == 0, "%s: %s", what, err.msg);
        CHECK(gemma_state_save(*sa, &blobc, &lenc, &err) == 0, "%s: save: %s", what, err.msg);
    }

    /* B: other tokens first, and the logits of the next one */
    int32_t junk[10];
    for (int i = 0; i < 10; i++) junk[i] = (toks[i] * 7 + 3) % n_vocab;
    CHECK(gemma_eval(b, junk, 10, 0, &err) == 0, "%s: %s", what, err.msg);
    state_decode(b, toks, 1, n_vocab, lj);
    CHECK(gemma_rewind(b, 10, &err) == 0, "%s", err.msg);
    if (blob1 && blob2 && blobc) {
        uint8_t *bad = malloc(len1);
        struct { size_t off; uint8_t flip; const char *names; } flips[] = {
            { 0, 0x20, "magic" }, { 4, 0x02, "format version" }, { 16, 0x01, "n_kv_head" },
            { 20, 0x80, "head_dim" }, { 24, 0x06, "bytes per K/V value" }, { 36, 0x01, "layer 0 has" },
            { 28, 0x40, "n_past" },
        };
        for (size_t i = 0; i < sizeof flips / sizeof flips[0]; i++) {
            memcpy(bad, blob1, len1);
            bad[flips[i].off] ^= flips[i].flip;
            snprintf(label, sizeof label, "%s: byte %zu flipped", what, flips[i].off);
            state_refused(label, b, bad, len1, flips[i].names, toks, lj, n_vocab, max_rel);
        }
        snprintf(label, sizeof label, "%s: truncated blob", what);
        state_refused(label, b, blob1, len1 - 1, "truncated", toks, lj, n_vocab, max_rel);
        snprintf(label, sizeof label, "%s: 20-byte blob", what);
        state_refused(label, b, blob1, 20, "shorter than a header", toks, lj, n_vocab, max_rel);
        snprintf(label, sizeof label, "%s: blob of n_ctx %d", what, oc.n_ctx);
        state_refused(label, b, blobc, lenc, "n_ctx", toks, lj, n_vocab, max_rel);
        free(bad);

        /* B from each of A's blobs decodes what A did */
        CHECK(gemma_state_load(b, blob1, len1, &err) == 0, "%s: load: %s", what, err.msg);
        CHECK(gemma_n_past(b) == n_prompt && gemma_logits(b) == NULL, "%s: n_past %d after the load", what,
              gemma_n_past(b));
        state_decode(b, toks + n_prompt, STATE_NEXT, n_vocab, lb);
        snprintf(label, sizeof label, "%s: decode after load vs saved session", what);
        state_same(label, lb, la, STATE_NEXT * V, max_rel);
        CHECK(gemma_state_load(b, blob2, len2, &err) == 0, "%s: load: %s", what, err.msg);
        CHECK(gemma_n_past(b) == back, "%s: n_past %d after the load", what, gemma_n_past(b));
        state_decode(b, toks + back, n_after, n_vocab, lb);
        snprintf(label, sizeof label, "%s: same after a rewind before the save", what);
        state_same(label, lb, la2, (size_t)n_after * V, max_rel);
    }
    free(blob1);
    free(blob2);
    free(blobc);
    free(la);
    free(la2);
    free(lb);
    free(lj);
}

#endif
