/* k_avx2_util.h: small AVX2 helpers shared by the AVX2 kernel files and the
 * levels above (AVX-512 implies AVX2). Include only from a file compiled with
 * at least the AVX2 level's flags (Makefile: $(B)/cpu/k_avx2_% and k_avx512_%).
 */
#ifndef GC_CPU_K_AVX2_UTIL_H
#define GC_CPU_K_AVX2_UTIL_H

#include <immintrin.h>
#include <math.h>
#include <stdint.h>
#include <string.h>

#include "cpu/k_tiles.h"

/* The sum of the 8 lanes: once per output, never per block. */
K_INLINE float k_hsum8(__m256 v)
{
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
}

/* 16 bytes of nibbles (a Q4/Q5 block's qs) -> value j (low nibble of byte j)
 * in byte j, value j + 16 (high nibble) in byte j + 16. */
K_INLINE __m256i k_nibbles32(const uint8_t *qs)
{
    __m128i x = _mm_loadu_si128((const __m128i *)qs);
    __m256i v = _mm256_inserti128_si256(_mm256_castsi128_si256(x), _mm_srli_epi16(x, 4), 1);
    return _mm256_and_si256(v, _mm256_set1_epi8(15));
}

/* The f16 at p (any alignment). */
K_INLINE float k_ld_f16(const uint8_t *p)
{
    uint16_t h;
    memcpy(&h, p, 2);
    return _cvtsh_ss(h);
}

/* The argmax (cpu_argmax_fn) from its SIMD lanes: lane j saw a largest value
 * val[j] first at index at[j] (-1: nothing above -inf). The largest wins,
 * the lowest index among equals. Where no lane saw anything, s holds only
 * -inf and NaN: the first that is not NaN (or 0). */
K_INLINE uint64_t k_argmax_lanes(const float *val, const int32_t *at, int lanes, const float *s, uint64_t n)
{
    int32_t bi = -1;
    float bv = -INFINITY;
    for (int j = 0; j < lanes; j++)
        if (at[j] >= 0 && (bi < 0 || val[j] > bv || (val[j] == bv && at[j] < bi))) {
            bv = val[j];
            bi = at[j];
        }
    if (bi >= 0) return (uint64_t)bi;
    for (uint64_t i = 0; i < n; i++)
        if (!isnan(s[i])) return i;
    return 0;
}

#endif
