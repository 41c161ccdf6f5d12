/* sampler.c: the sampling chain of sampler.h. */
#include "model/sampler.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

typedef struct cand {
    int32_t id;
    float logit;
} cand;

struct smp_sampler {
    smp_params p;
    int n_vocab;
    uint64_t rng[4];     /* xoshiro256** state */
    int32_t *hist;       /* [repeat_last_n] ring of accepted tokens */
    int n_hist, hist_pos;
    uint32_t *mark;      /* [n_vocab] stamp: token already penalized this call */
    uint32_t stamp;
    cand *c;             /* [n_vocab] */
    double *prob;        /* [n_vocab] */
};

smp_params smp_defaults(void)
{
    return (smp_params){ .temp = 0.8f, .top_k = 40, .top_p = 0.95f, .min_p = 0.05f,
                         .repeat_penalty = 1.0f, .repeat_last_n = 64, .seed = 0 };
}

static uint64_t splitmix64(uint64_t *x)
{
    uint64_t z = (*x += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

static uint64_t rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }

static uint64_t xoshiro_next(uint64_t *s)
{
    uint64_t r = rotl(s[1] * 5, 7) * 9, t = s[1] << 17;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotl(s[3], 45);
    return r;
}

/* Uniform in [0, 1) with 53 random bits. */
static double rng_unit(smp_sampler *s) { return (double)(xoshiro_next(s->rng) >> 11) * (1.0 / 9007199254740992.0); }

void smp_seed(smp_sampler *s, uint64_t seed)
{
    uint64_t x = seed;
    for (int i = 0; i < 4; i++) s->rng[i] = splitmix64(&x);
}

int smp_create(smp_sampler **out, const smp_params *p, int n_vocab, gc_err *err)
{
    *out = NULL;
    if (n_vocab <= 0) return gc_errf(err, "sampler: vocabulary of %d tokens", n_vocab);
    if (!(p->temp == p->temp) || p->temp > 100) return gc_errf(err, "temp %g: must be a number <= 100", p->temp);
    if (!(p->top_p > 0)) return gc_errf(err, "top-p %g: must be > 0 (1 = off)", p->top_p);
    if (!(p->min_p <= 1) || !(p->min_p == p->min_p)) return gc_errf(err, "min-p %g: must be <= 1 (0 = off)", p->min_p);
    if (!(p->repeat_penalty > 0)) return gc_errf(err, "repeat penalty %g: must be > 0 (1 = off)", p->repeat_penalty);
    if (p->repeat_last_n < 0 || p->repeat_last_n > 1 << 20)
        return gc_errf(err, "repeat window %d: must be 0..%d", p->repeat_last_n, 1 << 20);
    smp_sampler *s = calloc(1, sizeof *s);
    if (!s) return gc_errf(err, "sampler: out of memory");
    s->p = *p;
    s->n_vocab = n_vocab;
    s->hist = calloc(p->repeat_last_n ? p->repeat_last_n : 1, sizeof *s->hist);
    s->mark = calloc(n_vocab, sizeof *s->mark);
    s->c = malloc(n_vocab * sizeof *s->c);
    s->prob = malloc(n_vocab * sizeof *s->prob);
    if (!s->hist || !s->mark || !s->c || !s->prob) {
        smp_destroy(s);
        return gc_errf(err, "sampler: out of memory for %d tokens", n_vocab);
    }
    smp_seed(s, p->seed);
    *out = s;
    return 0;
}

void smp_destroy(smp_sampler *s)
{
    if (!s) return;
    free(s->hist);
    free(s->mark);
    free(s->c);
    free(s->prob);
    free(s);
}

void smp_reset(smp_sampler *s)
{
    s->n_hist = 0;
    s->hist_pos = 0;
}

void smp_accept(smp_sampler *s, int32_t token)
{
    if (s->p.repeat_last_n <= 0) return;
    s->hist[s->hist_pos] = token;
    s->hist_pos = (s->hist_pos + 1) % s->p.repeat_last_n;
    if (s->n_hist < s->p.repeat_last_n) s->n_hist++;
}

/* Higher logit first, lower id on ties: a total order, so results never
 * depend on the sort algorithm. */
static int better(const cand *a, const cand *b)
{
    return a->logit > b->logit || (a->logit == b->logit && a->id < b->id);
}

static int cmp_cand(const void *x, const void *y)
{
    const cand *a = x, *b = y;
    return better(a, b) ? -1 : better(b, a) ? 1 : 0;
}

/* Min-heap (the worst candidate at the root) used to keep the best k of n. */
static void sift_down(cand *h, int k, int i)
{
    for (;;) {
        int l = 2 * i + 1, r = l + 1, w = i;
        if (l < k && better(&h[w], &h[l])) w = l;
        if (r < k && better(&h[w], &h[r])) w = r;
        if (w == i) return;
        cand t = h[i];
        h[i] = h[w];
        h[w] = t;
        i = w;
    }
}

/* Moves the best k of c[0..n) to c[0..k), sorted best first. */
static void select_top(cand *c, int n, int k)
{
    if (k < n) {
        for (int i = k / 2 - 1; i >= 0; i--) sift_down(c, k, i);
        for (int i = k; i < n; i++)
            if (better(&c[i], &c[0])) {
                c[0] = c[i];
                sift_down(c, k, 0);
            }
    }
    qsort(c, k, sizeof *c, cmp_cand);
}

/* Runs the chain; leaves the survivors in s->c[0..n) best first with their
 * probabilities in s->prob, and returns n. */
static int run_chain(smp_sampler *s, const float *logits)
{
    const smp_params *p = &s->p;
    int nv = s->n_vocab;
    cand *c = s->c;
    for (int i = 0; i < nv; i++) c[i] = (cand){ i, isnan(logits[i]) ? -INFINITY : logits[i] };

    if (p->repeat_penalty != 1.0f && s->n_hist > 0) {
        if (++s->stamp == 0) {   /* wrapped: clear old stamps */
            memset(s->mark, 0, nv * sizeof *s->mark);
            s->stamp = 1;
        }
        for (int i = 0; i < s->n_hist; i++) {
            int32_t t = s->hist[i];
            if (t < 0 || t >= nv || s->mark[t] == s->stamp) continue;
            s->mark[t] = s->stamp;
            c[t].logit = c[t].logit > 0 ? c[t].logit / p->repeat_penalty : c[t].logit * p->repeat_penalty;
        }
    }

    if (p->temp <= 0) {
        int best = 0;
        for (int i = 1; i < nv; i++) if (better(&c[i], &c[best])) best = i;
        c[0] = c[best];
        s->prob[0] = 1.0;
        return 1;
    }

    int n = p->top_k > 0 && p->top_k < nv ? p->top_k : nv;
    select_top(c, nv, n);
    if (c[0].logit == -INFINITY) {   /* nothing finite: the lowest id */
        s->prob[0] = 1.0;
        return 1;
    }

    /* Distribution at temperature 1 over what top-k left. */
    double sum = 0;
    for (int i = 0; i < n; i++) sum += s->prob[i] = exp((double)c[i].logit - c[0].logit);
    if (p->top_p < 1.0f) {
        double cum = 0;
        for (int i = 0; i < n; i++) {
            cum += s->prob[i] / sum;
            if (cum >= p->top_p) { n = i + 1; break; }
        }
    }
    if (p->min_p > 0.0f) {
        /* p_i >= min_p * p_max  <=>  logit_i >= max_logit + log(min_p). */
        double floor_logit = c[0].logit + log(p->min_p);
        int keep = 1;
        while (keep < n && c[keep].logit >= floor_logit) keep++;
        n = keep;
    }

    sum = 0;
    for (int i = 0; i < n; i++) sum += s->prob[i] = exp(((double)c[i].logit - c[0].logit) / p->temp);
    for (int i = 0; i < n; i++) s->prob[i] /= sum;
    return n;
}

int smp_candidates(smp_sampler *s, const float *logits, int32_t *ids, float *probs)
{
    int n = run_chain(s, logits);
    for (int i = 0; i < n; i++) {
        ids[i] = s->c[i].id;
        probs[i] = (float)s->prob[i];
    }
    return n;
}

int32_t smp_sample(smp_sampler *s, const float *logits)
{
    int n = run_chain(s, logits);
    if (n == 1) return s->c[0].id;
    double u = rng_unit(s), cum = 0;
    for (int i = 0; i < n; i++) {
        cum += s->prob[i];
        if (u < cum) return s->c[i].id;
    }
    return s->c[n - 1].id;   /* u beyond the rounded total */
}
