/* tokenizer.c: SentencePiece-BPE encode/decode over a GGUF vocab (see tokenizer.h).
 *
 * Look-ups never scan the vocab: token texts sit in an open-addressing hash
 * table, merges come off a binary heap, and user-defined tokens are found with
 * a small byte trie plus memmem over the fragments that can hold them.
 */
#include "model/tokenizer.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "base/utf8.h"
#include "model/gguf.h"

/* A byte trie over the user-defined token texts: tells in one pass over the
 * text which of them occur at all, so that only those get a splitting pass. */
typedef struct trie_node {
    int32_t child;     /* first child node, -1 none */
    int32_t sibling;   /* next sibling, -1 none */
    int32_t user;      /* index into vocab->user of the token ending here, -1 none */
    unsigned char byte;
} trie_node;

struct tok_vocab {
    char *name;
    int32_t n;
    char *text;              /* [off[n]] all token texts back to back */
    size_t *off;             /* [n + 1] */
    char *piece;             /* [poff[n]] what each token prints */
    size_t *poff;            /* [n + 1] */
    size_t max_piece;
    float *scores;           /* [n] */
    unsigned char *types;    /* [n] enum tok_type */
    struct slot { int32_t id; uint32_t tag; } *table;   /* [mask + 1] id -1: empty; tag: high hash bits */
    uint64_t mask;
    int32_t byte_tok[256];   /* token for a raw byte, -1 none */
    int32_t *user;           /* [n_user] user-defined ids, longest text first (then by id) */
    int32_t n_user;
    trie_node *trie;         /* [n_trie]; node 0 is the root */
    int32_t n_trie;
    int32_t root[256];       /* the root's children by byte, -1 none */
    tok_special sp;
};

/* ------------------------------------------------------------ vocab build */

static uint64_t hash_bytes(const char *s, size_t n)
{
    /* FNV-1a, 64-bit: token texts are short and this is plenty for them. */
    uint64_t h = 0xcbf29ce484222325ull;
    for (size_t i = 0; i < n; i++) {
        h ^= (unsigned char)s[i];
        h *= 0x100000001b3ull;
    }
    return h ^ (h >> 31);
}

static const char *text_of(const tok_vocab *v, int32_t id, size_t *len)
{
    *len = v->off[id + 1] - v->off[id];
    return v->text + v->off[id];
}

/* The tag (high hash bits) in each slot lets a probe skip other tokens
 * without touching their text, which for a 262k vocab is a cache miss away. */
static int32_t lookup(const tok_vocab *v, const char *s, size_t n)
{
    uint64_t h = hash_bytes(s, n);
    uint32_t tag = (uint32_t)(h >> 32);
    for (uint64_t i = h & v->mask;; i = (i + 1) & v->mask) {
        const struct slot *sl = &v->table[i];
        if (sl->id < 0) return -1;
        if (sl->tag != tag) continue;
        size_t len;
        const char *t = text_of(v, sl->id, &len);
        if (len == n && memcmp(t, s, n) == 0) return sl->id;
    }
}

/* Duplicate texts: the last id wins, as in llama.cpp's token_to_id map. */
static void table_insert(tok_vocab *v, int32_t id)
{
    size_t n;
    const char *s = text_of(v, id, &n);
    uint64_t h = hash_bytes(s, n);
    uint32_t tag = (uint32_t)(h >> 32);
    for (uint64_t i = h & v->mask;; i = (i + 1) & v->mask) {
        struct slot *sl = &v->table[i];
        if (sl->id < 0) { sl->id = id; sl->tag = tag; return; }
        size_t len;
        const char *t = text_of(v, sl->id, &len);
        if (sl->tag == tag && len == n && memcmp(t, s, n) == 0) { sl->id = id; return; }
    }
}

/* Text of a byte token "<0xAB>" -> 0xAB, or -1 (hex digits of either case, as llama.cpp's strtol). */
static int byte_token_value(const char *s, size_t n)
{
    if (n != 6 || s[0] != '<' || s[1] != '0' || s[2] != 'x' || s[5] != '>') return -1;
    int v = 0;
    for (int i = 3; i < 5; i++) {
        char c = s[i];
        int d = c >= '0' && c <= '9' ? c - '0' : c >= 'A' && c <= 'F' ? c - 'A' + 10
              : c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
        if (d < 0) return -1;
        v = v * 16 + d;
    }
    return v;
}

/* What a token prints (see tokenizer.h), written to dst when not NULL; returns its length. */
static size_t piece_of(const tok_vocab *v, int32_t id, char *dst)
{
    size_t len;
    const char *s = text_of(v, id, &len);
    switch (v->types[id]) {
    case TOK_NORMAL: {
        size_t o = 0;
        for (size_t i = 0; i < len; i++) {
            if (i + 2 < len && (unsigned char)s[i] == 0xE2 && (unsigned char)s[i + 1] == 0x96 &&
                (unsigned char)s[i + 2] == 0x81) {
                if (dst) dst[o] = ' ';
                o++;
                i += 2;
            } else {
                if (dst) dst[o] = s[i];
                o++;
            }
        }
        return o;
    }
    case TOK_USER:
        if (dst) memcpy(dst, s, len);
        return len;
    case TOK_BYTE: {
        int b = byte_token_value(s, len);
        if (b < 0) return 0;
        if (dst) dst[0] = (char)b;
        return 1;
    }
    default:
        return 0;
    }
}

static int cmp_user(const void *a, const void *b, void *vv)
{
    const tok_vocab *v = vv;
    int32_t x = *(const int32_t *)a, y = *(const int32_t *)b;
    size_t lx = v->off[x + 1] - v->off[x], ly = v->off[y + 1] - v->off[y];
    if (lx != ly) return lx > ly ? -1 : 1;
    return x < y ? -1 : x > y;
}

static int build_trie(tok_vocab *v, gc_err *err)
{
    size_t total = 1;
    for (int32_t u = 0; u < v->n_user; u++) total += v->off[v->user[u] + 1] - v->off[v->user[u]];
    if (total > INT32_MAX) return gc_errf(err, "%s: user-defined tokens too long", v->name);
    v->trie = malloc(total * sizeof *v->trie);
    if (!v->trie) return gc_errf(err, "%s: out of memory", v->name);
    v->trie[0] = (trie_node){ -1, -1, -1, 0 };
    v->n_trie = 1;
    for (int i = 0; i < 256; i++) v->root[i] = -1;
    for (int32_t u = 0; u < v->n_user; u++) {
        size_t len;
        const char *s = text_of(v, v->user[u], &len);
        int32_t node = 0;
        for (size_t i = 0; i < len; i++) {
            unsigned char c = (unsigned char)s[i];
            int32_t ch = node == 0 ? v->root[c] : v->trie[node].child;
            if (node != 0)
                while (ch >= 0 && v->trie[ch].byte != c) ch = v->trie[ch].sibling;
            if (ch < 0) {
                ch = v->n_trie++;
                v->trie[ch] = (trie_node){ -1, -1, -1, c };
                if (node == 0) {
                    v->root[c] = ch;
                } else {
                    v->trie[ch].sibling = v->trie[node].child;
                    v->trie[node].child = ch;
                }
            }
            node = ch;
        }
        if (v->trie[node].user < 0) v->trie[node].user = u;
    }
    return 0;
}

int tok_create(tok_vocab **out, int32_t n, const char *const *texts, const uint32_t *lens,
               const float *scores, const int32_t *types, const tok_special *sp,
               const char *name, gc_err *err)
{
    *out = NULL;
    if (!name) name = "vocab";
    if (n <= 0) return gc_errf(err, "%s: the vocab has %d tokens", name, (int)n);
    tok_vocab *v = calloc(1, sizeof *v);
    if (!v) return gc_errf(err, "%s: out of memory", name);
    v->name = strdup(name);
    v->n = n;
    v->sp = *sp;
    v->off = malloc(((size_t)n + 1) * sizeof *v->off);
    v->poff = malloc(((size_t)n + 1) * sizeof *v->poff);
    v->scores = malloc((size_t)n * sizeof *v->scores);
    v->types = malloc((size_t)n);
    v->user = malloc((size_t)n * sizeof *v->user);
    if (!v->name || !v->off || !v->poff || !v->scores || !v->types || !v->user) goto oom;

    int32_t ids[4] = { sp->bos, sp->eos, sp->unk, sp->pad };
    static const char *const idn[4] = { "bos", "eos", "unknown", "padding" };
    for (int i = 0; i < 4; i++)
        if (ids[i] < -1 || ids[i] >= n) {
            gc_errf(err, "%s: %s token id %d is outside the vocab of %d tokens", name, idn[i], (int)ids[i], (int)n);
            goto fail;
        }

    size_t total = 0;
    v->off[0] = 0;
    for (int32_t i = 0; i < n; i++) {
        if (types[i] < TOK_NORMAL || types[i] > TOK_BYTE) {
            gc_errf(err, "%s: token %d has type %d (expected 1..6)", name, (int)i, (int)types[i]);
            goto fail;
        }
        if (isnan(scores[i])) {
            gc_errf(err, "%s: token %d has a NaN score", name, (int)i);
            goto fail;
        }
        total += lens[i];
        v->off[i + 1] = total;
        v->scores[i] = scores[i];
        v->types[i] = (unsigned char)types[i];
    }
    v->text = malloc(total ? total : 1);
    if (!v->text) goto oom;
    for (int32_t i = 0; i < n; i++) memcpy(v->text + v->off[i], texts[i], lens[i]);

    /* printed pieces */
    size_t ptotal = 0;
    v->poff[0] = 0;
    for (int32_t i = 0; i < n; i++) {
        size_t pl = piece_of(v, i, NULL);
        if (pl > v->max_piece) v->max_piece = pl;
        ptotal += pl;
        v->poff[i + 1] = ptotal;
    }
    v->piece = malloc(ptotal ? ptotal : 1);
    if (!v->piece) goto oom;
    for (int32_t i = 0; i < n; i++) piece_of(v, i, v->piece + v->poff[i]);

    /* hash table at most half full */
    uint64_t slots = 16;
    while (slots < 2 * (uint64_t)n) slots *= 2;
    v->mask = slots - 1;
    v->table = malloc(slots * sizeof *v->table);
    if (!v->table) goto oom;
    for (uint64_t i = 0; i < slots; i++) v->table[i] = (struct slot){ -1, 0 };
    for (int32_t i = 0; i < n; i++) table_insert(v, i);

    /* bytes: "<0xAB>" tokens, else a token whose text is the byte itself (as llama.cpp) */
    for (int b = 0; b < 256; b++) {
        char buf[7];
        static const char hex[] = "0123456789ABCDEF";
        buf[0] = '<'; buf[1] = '0'; buf[2] = 'x'; buf[3] = hex[b >> 4]; buf[4] = hex[b & 15]; buf[5] = '>';
        int32_t id = lookup(v, buf, 6);
        if (id < 0) { char c = (char)b; id = lookup(v, &c, 1); }
        v->byte_tok[b] = id;
    }

    for (int32_t i = 0; i < n; i++)
        if (v->types[i] == TOK_USER && v->off[i + 1] > v->off[i]) v->user[v->n_user++] = i;
    qsort_r(v->user, (size_t)v->n_user, sizeof *v->user, cmp_user, v);
    if (build_trie(v, err)) goto fail;

    *out = v;
    return 0;
oom:
    gc_errf(err, "%s: out of memory for a vocab of %d tokens", name, (int)n);
fail:
    tok_destroy(v);
    return -1;
}

void tok_destroy(tok_vocab *v)
{
    if (!v) return;
    free(v->name);
    free(v->text);
    free(v->off);
    free(v->piece);
    free(v->poff);
    free(v->scores);
    free(v->types);
    free(v->table);
    free(v->user);
    free(v->trie);
    free(v);
}

int32_t tok_n_vocab(const tok_vocab *v) { return v->n; }
tok_special tok_specials(const tok_vocab *v) { return v->sp; }

int32_t tok_find(const tok_vocab *v, const char *text, size_t len) { return lookup(v, text, len); }

const char *tok_text(const tok_vocab *v, int32_t id, size_t *len)
{
    if (id < 0 || id >= v->n) { *len = 0; return NULL; }
    return text_of(v, id, len);
}

int tok_type(const tok_vocab *v, int32_t id) { return id < 0 || id >= v->n ? 0 : v->types[id]; }
float tok_score(const tok_vocab *v, int32_t id) { return id < 0 || id >= v->n ? 0.0f : v->scores[id]; }

const char *tok_piece(const tok_vocab *v, int32_t id, size_t *len)
{
    if (id < 0 || id >= v->n) { *len = 0; return ""; }
    *len = v->poff[id + 1] - v->poff[id];
    return v->piece + v->poff[id];
}

/* ------------------------------------------------------------ id arrays */

/* Room for element n of a doubling array p of *cap elements: returns the
 * (possibly moved) array, or NULL when out of memory (p is then untouched). */
static void *grow(void *p, size_t *cap, size_t n, size_t elem, size_t first)
{
    if (n < *cap) return p;
    size_t c = *cap ? *cap * 2 : first;
    void *q = c > ((size_t)-1) / elem ? NULL : realloc(p, c * elem);
    if (q) *cap = c;
    return q;
}

int tok_ids_push(tok_ids *a, int32_t id, gc_err *err)
{
    int32_t *p = grow(a->ids, &a->cap, a->n, sizeof *p, 64);
    if (!p) return gc_errf(err, "out of memory for %zu token ids", a->n + 1);
    a->ids = p;
    a->ids[a->n++] = id;
    return 0;
}

void tok_ids_free(tok_ids *a)
{
    free(a->ids);
    a->ids = NULL;
    a->n = a->cap = 0;
}

/* ------------------------------------------------------------ encode */

typedef struct frag {
    size_t start, len;   /* raw text span, when id < 0 */
    int32_t id;          /* a user-defined token, or -1 */
} frag;

typedef struct frags {
    frag *f;
    size_t n, cap;
} frags;

static int frag_push(frags *a, size_t start, size_t len, int32_t id)
{
    frag *p = grow(a->f, &a->cap, a->n, sizeof *p, 16);
    if (!p) return -1;
    a->f = p;
    a->f[a->n++] = (frag){ start, len, id };
    return 0;
}

typedef struct sym {
    int32_t prev, next;
    uint32_t n;          /* bytes; 0 once merged into its left neighbour */
    size_t start;        /* offset into the escaped fragment */
} sym;

typedef struct bigram {
    float score;
    int32_t left, right;
    uint32_t size;       /* bytes of the merged text */
} bigram;

/* Scratch buffers of one tok_encode call. */
typedef struct enc {
    const tok_vocab *v;
    char *esc; size_t esc_cap;
    sym *sy; size_t sy_cap;
    bigram *heap; size_t heap_n, heap_cap;
} enc;

/* Best merge first: higher score, then the leftmost (llama.cpp's order). */
static int before(const bigram *a, const bigram *b)
{
    return a->score > b->score || (a->score == b->score && a->left < b->left);
}

static int heap_push(enc *e, bigram b)
{
    bigram *p = grow(e->heap, &e->heap_cap, e->heap_n, sizeof *p, 256);
    if (!p) return -1;
    e->heap = p;
    size_t i = e->heap_n++;
    while (i > 0) {
        size_t parent = (i - 1) / 2;
        if (!before(&b, &e->heap[parent])) break;
        e->heap[i] = e->heap[parent];
        i = parent;
    }
    e->heap[i] = b;
    return 0;
}

static bigram heap_pop(enc *e)
{
    bigram top = e->heap[0], last = e->heap[--e->heap_n];
    size_t i = 0, n = e->heap_n;
    for (;;) {
        size_t c = 2 * i + 1;
        if (c >= n) break;
        if (c + 1 < n && before(&e->heap[c + 1], &e->heap[c])) c++;
        if (!before(&e->heap[c], &last)) break;
        e->heap[i] = e->heap[c];
        i = c;
    }
    if (n) e->heap[i] = last;
    return top;
}

static int try_bigram(enc *e, int32_t left, int32_t right)
{
    if (left < 0 || right < 0) return 0;
    const sym *l = &e->sy[left], *r = &e->sy[right];
    int32_t id = lookup(e->v, e->esc + l->start, (size_t)l->n + r->n);
    if (id < 0) return 0;
    return heap_push(e, (bigram){ e->v->scores[id], left, right, l->n + r->n });
}

/* Bytes of the UTF-8 character a lead byte starts, as llama.cpp counts them
 * (a stray continuation byte counts as one character). */
static size_t utf8_len(unsigned char c)
{
    static const unsigned char len[16] = { 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 2, 2, 3, 4 };
    return len[c >> 4];
}

static int emit_bytes(enc *e, const char *s, size_t n, tok_ids *out, gc_err *err)
{
    for (size_t i = 0; i < n; i++) {
        int32_t id = e->v->byte_tok[(unsigned char)s[i]];
        if (id < 0) id = e->v->sp.unk;
        if (id < 0)
            return gc_errf(err, "%s: no token for byte 0x%02X and no unknown token",
                           e->v->name, (unsigned char)s[i]);
        if (tok_ids_push(out, id, err)) return -1;
    }
    return 0;
}

/* BPE over one fragment of raw text (no user-defined tokens inside). */
static int encode_fragment(enc *e, const char *s, size_t len, bool space_prefix, tok_ids *out, gc_err *err)
{
    /* ' ' -> U+2581 (and a leading one when the vocab asks for a dummy prefix) */
    size_t need = 3 * len + 3;
    if (need > e->esc_cap) {
        char *p = realloc(e->esc, need);
        if (!p) return gc_errf(err, "out of memory encoding %zu bytes", len);
        e->esc = p;
        e->esc_cap = need;
    }
    size_t m = 0;
    if (space_prefix) {
        e->esc[m++] = (char)0xE2; e->esc[m++] = (char)0x96; e->esc[m++] = (char)0x81;
    }
    for (size_t i = 0; i < len; i++) {
        if (s[i] == ' ') {
            e->esc[m++] = (char)0xE2; e->esc[m++] = (char)0x96; e->esc[m++] = (char)0x81;
        } else {
            e->esc[m++] = s[i];
        }
    }
    if (m > e->sy_cap) {
        sym *p = realloc(e->sy, m * sizeof *p);
        if (!p) return gc_errf(err, "out of memory encoding %zu bytes", len);
        e->sy = p;
        e->sy_cap = m;
    }
    int32_t ns = 0;
    for (size_t o = 0; o < m;) {
        size_t cl = utf8_len((unsigned char)e->esc[o]);
        if (cl > m - o) cl = m - o;
        e->sy[ns] = (sym){ ns - 1, o + cl == m ? -1 : ns + 1, (uint32_t)cl, o };
        ns++;
        o += cl;
    }
    e->heap_n = 0;
    for (int32_t i = 1; i < ns; i++)
        if (try_bigram(e, i - 1, i)) goto oom;
    while (e->heap_n) {
        bigram b = heap_pop(e);
        sym *l = &e->sy[b.left], *r = &e->sy[b.right];
        /* stale: one side was merged away or grew since this pair was queued */
        if (l->n == 0 || r->n == 0 || l->n + r->n != b.size) continue;
        l->n += r->n;
        r->n = 0;
        l->next = r->next;
        if (r->next >= 0) e->sy[r->next].prev = b.left;
        if (try_bigram(e, l->prev, b.left) || try_bigram(e, b.left, l->next)) goto oom;
    }
    for (int32_t i = ns ? 0 : -1; i >= 0; i = e->sy[i].next) {
        const char *t = e->esc + e->sy[i].start;
        int32_t id = lookup(e->v, t, e->sy[i].n);
        if (id >= 0) {
            if (tok_ids_push(out, id, err)) return -1;
        } else if (emit_bytes(e, t, e->sy[i].n, out, err)) {
            return -1;
        }
    }
    return 0;
oom:
    return gc_errf(err, "out of memory encoding %zu bytes", len);
}

/* Which user-defined tokens occur anywhere in the text (bit per vocab->user index). */
static void user_present(const tok_vocab *v, const char *s, size_t len, unsigned char *present)
{
    for (size_t p = 0; p < len; p++) {
        int32_t node = v->root[(unsigned char)s[p]];
        size_t q = p + 1;
        while (node >= 0) {
            if (v->trie[node].user >= 0) present[v->trie[node].user] = 1;
            if (q >= len) break;
            unsigned char c = (unsigned char)s[q++];
            int32_t ch = v->trie[node].child;
            while (ch >= 0 && v->trie[ch].byte != c) ch = v->trie[ch].sibling;
            node = ch;
        }
    }
}

/* llama.cpp's partition: for each user-defined token, longest text first, cut
 * every leftmost non-overlapping occurrence out of the raw fragments left by
 * the tokens before it. Only tokens that occur at all get a pass. */
static int split_user(const tok_vocab *v, const char *s, size_t len, frags *a, frags *b)
{
    a->n = 0;
    if (len && frag_push(a, 0, len, -1)) return -1;
    if (!v->n_user || !len) return 0;
    unsigned char *present = calloc((size_t)v->n_user, 1);
    if (!present) return -1;
    user_present(v, s, len, present);
    for (int32_t u = 0; u < v->n_user; u++) {
        if (!present[u]) continue;
        size_t tl;
        const char *t = text_of(v, v->user[u], &tl);
        b->n = 0;
        for (size_t i = 0; i < a->n; i++) {
            frag f = a->f[i];
            if (f.id >= 0 || f.len < tl) {
                if (frag_push(b, f.start, f.len, f.id)) goto oom;
                continue;
            }
            size_t pos = f.start, end = f.start + f.len;
            const char *hit;
            while (end - pos >= tl && (hit = memmem(s + pos, end - pos, t, tl))) {
                size_t at = (size_t)(hit - s);
                if (at > pos && frag_push(b, pos, at - pos, -1)) goto oom;
                if (frag_push(b, at, tl, v->user[u])) goto oom;
                pos = at + tl;
            }
            if (pos < end && frag_push(b, pos, end - pos, -1)) goto oom;
        }
        frags t2 = *a; *a = *b; *b = t2;
    }
    free(present);
    return 0;
oom:
    free(present);
    return -1;
}

int tok_encode(const tok_vocab *v, const char *text, size_t len, tok_ids *out, gc_err *err)
{
    if (len > (size_t)INT32_MAX / 4)
        return gc_errf(err, "text of %zu bytes is too long to tokenize at once", len);
    frags a = {0}, b = {0};
    enc e = { .v = v };
    int rc = -1;
    if (split_user(v, text, len, &a, &b)) {
        gc_errf(err, "out of memory tokenizing %zu bytes", len);
        goto done;
    }
    bool prev_special = true;   /* llama.cpp: a raw fragment after a token (or first) */
    for (size_t i = 0; i < a.n; i++) {
        if (a.f[i].id >= 0) {
            if (tok_ids_push(out, a.f[i].id, err)) goto done;
            prev_special = true;
        } else {
            bool space = v->sp.add_space_prefix && prev_special;
            if (encode_fragment(&e, text + a.f[i].start, a.f[i].len, space, out, err)) goto done;
            prev_special = false;
        }
    }
    rc = 0;
done:
    free(a.f);
    free(b.f);
    free(e.esc);
    free(e.sy);
    free(e.heap);
    return rc;
}

/* ------------------------------------------------------------ decode */

int tok_decode(const tok_vocab *v, const int32_t *ids, size_t n, char **out, size_t *out_len, gc_err *err)
{
    *out = NULL;
    *out_len = 0;
    size_t total = 0;
    for (size_t i = 0; i < n; i++) {
        size_t l;
        tok_piece(v, ids[i], &l);
        total += l;
    }
    char *s = malloc(total + 1);
    if (!s) return gc_errf(err, "out of memory decoding %zu tokens", n);
    size_t o = 0;
    for (size_t i = 0; i < n; i++) {
        size_t l;
        const char *p = tok_piece(v, ids[i], &l);
        memcpy(s + o, p, l);
        o += l;
    }
    s[o] = 0;
    *out = s;
    *out_len = o;
    return 0;
}

int tok_stream_init(tok_stream *s, const tok_vocab *v, gc_err *err)
{
    memset(s, 0, sizeof *s);
    s->v = v;
    s->cap = v->max_piece + sizeof s->held;
    s->buf = malloc(s->cap);
    if (!s->buf) return gc_errf(err, "out of memory for a detokenizer");
    return 0;
}

const char *tok_stream_push(tok_stream *s, int32_t id, size_t *len)
{
    size_t pl;
    const char *p = tok_piece(s->v, id, &pl);
    size_t n = (size_t)s->n_held;
    memcpy(s->buf, s->held, n);
    memcpy(s->buf + n, p, pl);
    n += pl;
    /* Hold the tail if it is the start of a multi-byte character still
     * missing continuation bytes; anything else goes out now. */
    size_t cut = n - utf8_partial_tail(s->buf, n);
    s->n_held = (int)(n - cut);
    memcpy(s->held, s->buf + cut, (size_t)s->n_held);
    *len = cut;
    return s->buf;
}

const char *tok_stream_flush(tok_stream *s, size_t *len)
{
    *len = (size_t)s->n_held;
    if (s->buf) memcpy(s->buf, s->held, *len);
    s->n_held = 0;
    return s->buf ? s->buf : "";
}

void tok_stream_free(tok_stream *s)
{
    free(s->buf);
    s->buf = NULL;
    s->cap = 0;
    s->n_held = 0;
}

/* ------------------------------------------------------------ GGUF */

/* A special-token id key: absent -> def; 0xFFFFFFFF (how some files write
 * "none") -> -1. Range checks against the vocab happen in tok_create. */
static int special_key(const gguf_file *g, const char *key, int32_t def, int32_t *out, gc_err *err)
{
    uint32_t u;
    int rc = gguf_get_u32(g, key, &u, err);
    if (rc < 0) return -1;
    *out = rc ? def : u == UINT32_MAX ? -1 : u > INT32_MAX ? INT32_MAX : (int32_t)u;
    return 0;
}

int tok_from_gguf(tok_vocab **out, const struct gguf_file *g, gc_err *err)
{
    *out = NULL;
    const char *file = g->path ? g->path : "model";
    gguf_str model;
    int rc = gguf_get_str(g, "tokenizer.ggml.model", &model, err);
    if (rc < 0) return -1;
    if (rc > 0) return gc_errf(err, "%s: no tokenizer (tokenizer.ggml.model is missing)", file);
    if (!gguf_str_eq(model, "llama")) {
        char buf[80];
        return gc_errf(err, "%s: tokenizer.ggml.model is \"%s\"; only \"llama\" (SentencePiece) is supported",
                       file, gguf_str_print(model, buf, sizeof buf));
    }
    const gguf_kv *tk = gguf_find_kv(g, "tokenizer.ggml.tokens");
    if (!tk) return gc_errf(err, "%s: tokenizer.ggml.tokens is missing", file);
    if (tk->type != GGUF_ARRAY || tk->arr_type != GGUF_STRING)
        return gc_errf(err, "%s: tokenizer.ggml.tokens is not an array of strings", file);
    if (tk->arr_count == 0 || tk->arr_count > INT32_MAX)
        return gc_errf(err, "%s: tokenizer.ggml.tokens has %llu entries", file, (unsigned long long)tk->arr_count);
    int32_t n = (int32_t)tk->arr_count;

    uint64_t cnt;
    const uint8_t *score_data = NULL, *type_data = NULL;
    rc = gguf_get_arr(g, "tokenizer.ggml.scores", GGUF_F32, &cnt, &score_data, err);
    if (rc < 0) return -1;
    if (rc == 0 && cnt != (uint64_t)n)
        return gc_errf(err, "%s: tokenizer.ggml.scores has %llu entries for %d tokens", file,
                       (unsigned long long)cnt, (int)n);
    rc = gguf_get_arr(g, "tokenizer.ggml.token_type", GGUF_I32, &cnt, &type_data, err);
    if (rc < 0) return -1;
    if (rc == 0 && cnt != (uint64_t)n)
        return gc_errf(err, "%s: tokenizer.ggml.token_type has %llu entries for %d tokens", file,
                       (unsigned long long)cnt, (int)n);

    /* llama.cpp's defaults for a SentencePiece vocab when a key is absent */
    tok_special sp = { 1, 2, 0, -1, true, true };
    if (special_key(g, "tokenizer.ggml.bos_token_id", 1, &sp.bos, err) ||
        special_key(g, "tokenizer.ggml.eos_token_id", 2, &sp.eos, err) ||
        special_key(g, "tokenizer.ggml.unknown_token_id", 0, &sp.unk, err) ||
        special_key(g, "tokenizer.ggml.padding_token_id", -1, &sp.pad, err) ||
        gguf_get_bool(g, "tokenizer.ggml.add_bos_token", &sp.add_bos, err) < 0 ||
        gguf_get_bool(g, "tokenizer.ggml.add_space_prefix", &sp.add_space_prefix, err) < 0)
        return -1;

    const char **texts = malloc((size_t)n * sizeof *texts);
    uint32_t *lens = malloc((size_t)n * sizeof *lens);
    float *scores = malloc((size_t)n * sizeof *scores);
    int32_t *types = malloc((size_t)n * sizeof *types);
    rc = -1;
    if (!texts || !lens || !scores || !types) {
        gc_errf(err, "%s: out of memory for %d tokens", file, (int)n);
        goto done;
    }
    gguf_str_iter it = gguf_str_iter_begin(tk);
    gguf_str s;
    for (int32_t i = 0; i < n && gguf_str_iter_next(&it, &s); i++) {
        if (s.len > UINT32_MAX) {
            gc_errf(err, "%s: tokenizer.ggml.tokens[%d] is %llu bytes long", file, (int)i, (unsigned long long)s.len);
            goto done;
        }
        texts[i] = s.ptr;
        lens[i] = (uint32_t)s.len;
        scores[i] = score_data ? gguf_rd_f32(score_data, (uint64_t)i) : 0.0f;
        types[i] = type_data ? gguf_rd_i32(type_data, (uint64_t)i) : TOK_NORMAL;
    }
    rc = tok_create(out, n, texts, lens, scores, types, &sp, file, err);
done:
    free(texts);
    free(lens);
    free(scores);
    free(types);
    return rc;
}
