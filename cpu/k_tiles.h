/* k_tiles.h: what the kernel files (cpu/k_*.c) share about walking an output
 * in register tiles. Macros only: each kernel file is compiled for its own
 * instruction-set level, so nothing here may become code of its own.
 */
#ifndef GC_CPU_K_TILES_H
#define GC_CPU_K_TILES_H

#include <stddef.h>
#include <stdint.h>

/* Tiles and per-type helpers are inlined into each type's kernel, so that the
 * type's decoder (passed as a function pointer) and the tile shape become
 * constants there. */
#define K_INLINE static inline __attribute__((always_inline))
/* The loops over a tile's rows have constant trip counts once a tile is
 * inlined; unrolled, its accumulators live in registers. */
#define K_UNROLL _Pragma("GCC unroll 8")

/* The parameter list of a cpu_gemm_fn (cpu/kernels.h). */
#define K_GEMM_PARAMS int n_in, int n_rows, int n_x, const uint8_t *w, size_t w_stride, \
                      const uint8_t *xa, size_t xa_stride, float *out, size_t out_stride

/* Calls TILE(r, c, nr, nx) over an n_rows x n_x output: full tiles of TR
 * weight rows x TC activation rows, the activation rows left over as one
 * narrower tile, then the weight rows left over one at a time. nr and nx are
 * constants at every call (TC <= 8), so an inlined tile unrolls over them and
 * keeps its accumulators in registers. */
#define K_FOR_TILES(n_rows, n_x, TR, TC, TILE) do { \
    int r_ = 0; \
    for (; r_ + (TR) <= (n_rows); r_ += (TR)) K_FOR_COLS_(n_x, TR, TC, TILE); \
    for (; r_ < (n_rows); r_++) K_FOR_COLS_(n_x, 1, TC, TILE); \
} while (0)

/* The activation rows for weight rows r_ .. r_ + NR - 1. */
#define K_FOR_COLS_(n_x, NR, TC, TILE) do { \
    int c_ = 0; \
    for (; c_ + (TC) <= (n_x); c_ += (TC)) TILE(r_, c_, NR, TC); \
    switch ((n_x) - c_) { \
    case 0: break; \
    case 1: TILE(r_, c_, NR, 1); break; \
    case 2: TILE(r_, c_, NR, K_MIN_(2, TC)); break; \
    case 3: TILE(r_, c_, NR, K_MIN_(3, TC)); break; \
    case 4: TILE(r_, c_, NR, K_MIN_(4, TC)); break; \
    case 5: TILE(r_, c_, NR, K_MIN_(5, TC)); break; \
    case 6: TILE(r_, c_, NR, K_MIN_(6, TC)); break; \
    default: TILE(r_, c_, NR, K_MIN_(7, TC)); break; \
    } \
} while (0)
#define K_MIN_(a, b) ((a) < (b) ? (a) : (b))

#endif
