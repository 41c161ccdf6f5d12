/* test_sampler: the sampling chain keeps exactly the right candidates on
 * crafted distributions, greedy is argmax, seeds reproduce, penalties follow
 * llama.cpp (divide positive logits, multiply negative ones). */
#include <stdlib.h>

#include "model/sampler.h"
#include "tests/test.h"

static smp_params plain(void)
{
    /* Every filter off, temperature 1: the raw softmax. */
    return (smp_params){ .temp = 1.0f, .top_k = 0, .top_p = 1.0f, .min_p = 0.0f,
                         .repeat_penalty = 1.0f, .repeat_last_n = 64, .seed = 7 };
}

static smp_sampler *make(const smp_params *p, int n_vocab)
{
    smp_sampler *s = NULL;
    gc_err err = {0};
    CHECK(smp_create(&s, p, n_vocab, &err) == 0, "%s", err.msg);
    return s;
}

/* Candidate ids as a string "3 0 1" for readable comparisons. */
static const char *cands(smp_sampler *s, const float *logits, int n_vocab, float *probs_out)
{
    static char buf[512];
    int32_t ids[64];
    float probs[64];
    int n = smp_candidates(s, logits, ids, probs);
    buf[0] = 0;
    for (int i = 0; i < n && i < n_vocab; i++) {
        size_t l = strlen(buf);
        snprintf(buf + l, sizeof buf - l, i ? " %d" : "%d", ids[i]);
        if (probs_out) probs_out[i] = probs[i];
    }
    return buf;
}

static void test_greedy(void)
{
    enum { NV = 1000 };
    float lg[NV];
    smp_params p = plain();
    p.temp = 0;
    smp_sampler *s = make(&p, NV);
    for (int round = 0; round < 20; round++) {
        int best = 0;
        for (int i = 0; i < NV; i++) {
            lg[i] = 10 * test_rand_f();
            if (lg[i] > lg[best]) best = i;
        }
        CHECK(smp_sample(s, lg) == best, "greedy != argmax %d", best);
    }
    /* Ties go to the lowest id; NaN is never chosen. */
    for (int i = 0; i < NV; i++) lg[i] = 0;
    lg[500] = lg[300] = 5;
    lg[10] = NAN;
    CHECK(smp_sample(s, lg) == 300, "tie");
    smp_destroy(s);
}

/* p = {0.5, 0.3, 0.15, 0.05} spread over ids in a scrambled order. */
static void crafted(float *lg)
{
    const int ids[4] = { 3, 0, 5, 1 };
    const double p[4] = { 0.5, 0.3, 0.15, 0.05 };
    for (int i = 0; i < 6; i++) lg[i] = -INFINITY;
    for (int i = 0; i < 4; i++) lg[ids[i]] = (float)log(p[i]);
    lg[2] = lg[4] = -30;   /* tiny but present */
}

static void test_filters(void)
{
    enum { NV = 6 };
    float lg[NV], pr[NV];
    crafted(lg);
    smp_params p = plain();

    smp_sampler *s = make(&p, NV);
    CHECK_STR(cands(s, lg, NV, pr), "3 0 5 1 2 4");
    CHECK_NEAR(pr[0], 0.5, 1e-6);
    CHECK_NEAR(pr[3], 0.05, 1e-6);
    smp_destroy(s);

    p = plain(); p.top_k = 2;
    s = make(&p, NV);
    CHECK_STR(cands(s, lg, NV, pr), "3 0");
    CHECK_NEAR(pr[0], 0.5 / 0.8, 1e-6);   /* renormalized over the survivors */
    smp_destroy(s);

    struct { float top_p; const char *want; } tp[] = {
        { 0.45f, "3" }, { 0.75f, "3 0" }, { 0.81f, "3 0 5" }, { 0.96f, "3 0 5 1" }, { 1.0f, "3 0 5 1 2 4" },
    };
    for (size_t i = 0; i < sizeof tp / sizeof *tp; i++) {
        p = plain(); p.top_p = tp[i].top_p;
        s = make(&p, NV);
        CHECK_STR(cands(s, lg, NV, NULL), tp[i].want);
        smp_destroy(s);
    }

    struct { float min_p; const char *want; } mp[] = {
        { 0.05f, "3 0 5 1" }, { 0.2f, "3 0 5" }, { 0.35f, "3 0" }, { 0.61f, "3" },
    };
    for (size_t i = 0; i < sizeof mp / sizeof *mp; i++) {
        p = plain(); p.min_p = mp[i].min_p;
        s = make(&p, NV);
        CHECK_STR(cands(s, lg, NV, NULL), mp[i].want);
        smp_destroy(s);
    }

    /* top-k 3 first: renormalized {0.5, 0.3, 0.15}/0.95; top-p 0.8 then
     * needs 0.526 + 0.316 = 0.842 >= 0.8: two survive. */
    p = plain(); p.top_k = 3; p.top_p = 0.8f;
    s = make(&p, NV);
    CHECK_STR(cands(s, lg, NV, NULL), "3 0");
    smp_destroy(s);

    /* Temperature reshapes the survivors: p_i ~ p_i^(1/T). */
    p = plain(); p.temp = 0.5f; p.top_k = 3;
    s = make(&p, NV);
    CHECK_STR(cands(s, lg, NV, pr), "3 0 5");
    double z = 0.25 + 0.09 + 0.0225;
    CHECK_NEAR(pr[0], 0.25 / z, 1e-6);
    CHECK_NEAR(pr[2], 0.0225 / z, 1e-6);
    smp_destroy(s);
}

static void test_seed(void)
{
    enum { NV = 100, N = 300 };
    float lg[NV];
    for (int i = 0; i < NV; i++) lg[i] = (float)(i % 7) * 0.3f;   /* fixed, wide distribution */
    smp_params p = plain();
    p.seed = 1234;
    smp_sampler *a = make(&p, NV), *b = make(&p, NV);
    p.seed = 1235;
    smp_sampler *c = make(&p, NV);
    int32_t sa[N], sb[N], sc[N];
    for (int i = 0; i < N; i++) { sa[i] = smp_sample(a, lg); sb[i] = smp_sample(b, lg); sc[i] = smp_sample(c, lg); }
    CHECK(memcmp(sa, sb, sizeof sa) == 0, "same seed, different tokens");
    CHECK(memcmp(sa, sc, sizeof sa) != 0, "different seeds, same tokens");
    /* Reseeding restarts the sequence. */
    smp_seed(a, 1234);
    int same = 1;
    for (int i = 0; i < N; i++) same &= smp_sample(a, lg) == sa[i];
    CHECK(same, "smp_seed does not restart the sequence");
    /* The sequence itself is pinned, so it is the same on every platform and build. */
    const int32_t want[8] = { 20, 58, 17, 86, 34, 22, 75, 69 };
    CHECK(memcmp(sa, want, sizeof want) == 0, "seed 1234 gave %d %d %d %d %d %d %d %d",
          sa[0], sa[1], sa[2], sa[3], sa[4], sa[5], sa[6], sa[7]);
    smp_destroy(a);
    smp_destroy(b);
    smp_destroy(c);
}

static void test_frequencies(void)
{
    enum { NV = 3, N = 20000 };
    float lg[NV] = { logf(0.5f), logf(0.3f), logf(0.2f) };
    smp_params p = plain();
    smp_sampler *s = make(&p, NV);
    int cnt[NV] = { 0 };
    for (int i = 0; i < N; i++) cnt[smp_sample(s, lg)]++;
    CHECK_NEAR(cnt[0] / (double)N, 0.5, 0.02);
    CHECK_NEAR(cnt[1] / (double)N, 0.3, 0.02);
    CHECK_NEAR(cnt[2] / (double)N, 0.2, 0.02);
    smp_destroy(s);
}

static void test_penalty(void)
{
    enum { NV = 4 };
    float lg[NV] = { 2.0f, -2.0f, 1.0f, 0.5f }, pr[NV];
    smp_params p = plain();
    p.repeat_penalty = 4.0f;
    p.repeat_last_n = 8;
    smp_sampler *s = make(&p, NV);
    smp_accept(s, 0);
    smp_accept(s, 0);   /* repeated: still penalized once */
    smp_accept(s, 1);
    /* Penalized logits: 2/4 = 0.5, -2*4 = -8, 1, 0.5. */
    CHECK_STR(cands(s, lg, NV, pr), "2 0 3 1");
    double z = exp(0.5) + exp(-8.0) + exp(1.0) + exp(0.5);
    CHECK_NEAR(pr[0], exp(1.0) / z, 1e-6);
    CHECK_NEAR(pr[1], exp(0.5) / z, 1e-6);
    CHECK_NEAR(pr[3], exp(-8.0) / z, 1e-7);
    CHECK(lg[0] == 2.0f, "logits modified");
    /* Greedy sees the penalty too. */
    smp_destroy(s);
    p.temp = 0;
    s = make(&p, NV);
    smp_accept(s, 0);
    CHECK(smp_sample(s, lg) == 2, "greedy ignores the penalty");
    /* Out of the window (8 newer tokens): no penalty. */
    for (int i = 0; i < 8; i++) smp_accept(s, 3);
    CHECK(smp_sample(s, lg) == 0, "penalty outlives the window");
    smp_accept(s, 0);
    smp_reset(s);
    CHECK(smp_sample(s, lg) == 0, "reset keeps the history");
    smp_destroy(s);
}

static void test_bad_params(void)
{
    smp_sampler *s = NULL;
    gc_err err = {0};
    smp_params p = plain();
    p.top_p = 0;
    CHECK(smp_create(&s, &p, 10, &err) != 0 && s == NULL, "top_p 0 accepted");
    CHECK_CONTAINS(err.msg, "top-p");
    p = plain();
    p.repeat_penalty = -1;
    CHECK(smp_create(&s, &p, 10, &err) != 0, "negative penalty accepted");
    CHECK_CONTAINS(err.msg, "penalty");
    p = plain();
    CHECK(smp_create(&s, &p, 0, &err) != 0, "empty vocabulary accepted");
    smp_destroy(NULL);
    smp_params d = smp_defaults();
    CHECK(d.top_k == 40 && d.repeat_penalty == 1.0f, "defaults");
}

int main(void)
{
    test_seed_from_env();
    TEST_RUN(test_greedy);
    TEST_RUN(test_filters);
    TEST_RUN(test_seed);
    TEST_RUN(test_frequencies);
    TEST_RUN(test_penalty);
    TEST_RUN(test_bad_params);
    return test_summary();
}
