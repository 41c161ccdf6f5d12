/* sampler.h: picks the next token from a row of logits.
 *
 * The chain follows llama.cpp's default order and semantics:
 *   repetition penalty (over the last repeat_last_n accepted tokens: a positive
 *   logit is divided by the penalty, a negative one multiplied, once per
 *   distinct token) -> top-k -> top-p -> min-p -> temperature -> draw.
 * top-p and min-p look at the distribution at temperature 1, as llama.cpp
 * does; temperature only reshapes what survives. temp <= 0 is greedy: the
 * highest logit after the penalty (lowest id on ties), no randomness.
 *
 * Randomness comes from the sampler's own xoshiro256** seeded by splitmix64,
 * so the same seed and settings give the same tokens on every platform.
 */
#ifndef GC_SAMPLER_H
#define GC_SAMPLER_H

#include <stdint.h>

#include "base/err.h"

typedef struct smp_params {
    float temp;            /* <= 0: greedy */
    int top_k;             /* keep the k highest; <= 0: off */
    float top_p;           /* keep the smallest prefix with mass >= p; >= 1: off */
    float min_p;           /* keep p >= min_p * p_max; <= 0: off */
    float repeat_penalty;  /* 1: off */
    int repeat_last_n;     /* penalty window in accepted tokens; 0: off */
    uint64_t seed;
} smp_params;

/* llama.cpp's defaults: temp 0.8, top_k 40, top_p 0.95, min_p 0.05, penalty 1 over 64, seed 0. */
smp_params smp_defaults(void);

typedef struct smp_sampler smp_sampler;

/* Checks the parameters (ranges named in the error) for a vocabulary of n_vocab. */
int smp_create(smp_sampler **out, const smp_params *p, int n_vocab, gc_err *err);
void smp_destroy(smp_sampler *s);     /* accepts NULL */

/* Restarts the random sequence from seed. */
void smp_seed(smp_sampler *s, uint64_t seed);
/* Forgets the penalty history (e.g. after rewinding a conversation). */
void smp_reset(smp_sampler *s);
/* Records a token in the penalty history (prompt tokens and sampled ones). */
void smp_accept(smp_sampler *s, int32_t token);

/* The candidates that survive the chain for these logits [n_vocab] (not
 * modified), highest first, with their final probabilities (after
 * temperature, summing to 1). ids and probs hold n_vocab entries; returns the
 * count (>= 1). */
int smp_candidates(smp_sampler *s, const float *logits, int32_t *ids, float *probs);

/* Draws the next token (does not accept it: call smp_accept). */
int32_t smp_sample(smp_sampler *s, const float *logits);

#endif
