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


/* Asks for the block `rows` rows further down while this one is decoded, so
 * the next tile's rows arrive as this tile finishes. Decode streams every
 * weight once from memory, and with several rows in flight the hardware
 * prefetchers alone leave much of the bandwidth unused (docs/cpu.md). Into
 * L2 (prefetcht1), not L1: the block is read once, a tile later, and L1 is
 * better left to the tile's own rows. The address may lie past the matrix: a
 * prefetch never faults, and the address arithmetic is done on integers. */
K_INLINE void k_prefetch_next(const uint8_t *block, size_t rows, size_t stride, size_t bytes)
{
    uintptr_t a = (uintptr_t)block + rows * stride;
    for (size_t o = 0; o < bytes; o += 64) __builtin_prefetch((const void *)(a + o), 0, 2);
}
/* The parameter list of a cpu_gemm_fn (cpu/kernels.h). */
#define K_GEMM_PARAMS int n_in, int n_rows, int n_x, const uint8_t *w, size_t w_stride, \
                      const uint8_t *xa, size_t xa_stride, float *out, size_t out_stride

/* Defines the cpu_gemm_fn `name`: it walks the n_rows x n_x output in full
 * tiles of TR weight rows x TC activation rows, the activation rows left
 * over as one narrower tile, then the weight rows left over one at a time,
 * calling tile(ARGS..., nr, nx, n_in, w, w_stride, xa, xa_stride, out,
 * out_stride) with w, xa and out at the tile's first row. With one
 * activation row (decode) the tiles are TR1 weight rows instead, with two
 * (the decode of a two-term product, cpu/cpu_backend.c) TR2: there the
 * registers the activation rows would take can stream more weight rows.
 * nr and nx are constants at every call (TC <= 8), so an inlined tile
 * unrolls over them and keeps its accumulators in registers; ARGS (the
 * type's decoder, block size, ...) become constants in it too. A tile's
 * arrays are (the largest of TR, TR1, TR2) x TC. */
#define K_DEFINE_GEMM(name, TR1, TR2, TR, TC, tile, ...) \
    static void name(K_GEMM_PARAMS) \
    { \
        int r_ = 0; \
        if (n_x == 1) { \
            const int c_ = 0; \
            for (; r_ + (TR1) <= n_rows; r_ += (TR1)) K_TILE_(TR1, 1, tile, __VA_ARGS__); \
        } else if (n_x == 2) { \
            const int c_ = 0; \
            for (; r_ + (TR2) <= n_rows; r_ += (TR2)) K_TILE_(TR2, K_MIN_(2, TC), tile, __VA_ARGS__); \
        } \
        for (; r_ + (TR) <= n_rows; r_ += (TR)) K_FOR_COLS_(TR, TC, tile, __VA_ARGS__); \
        for (; r_ < n_rows; r_++) K_FOR_COLS_(1, TC, tile, __VA_ARGS__); \
    }
#define K_MAX(a, b) ((a) > (b) ? (a) : (b))

#define K_TILE_(NR, NX, tile, ...) tile(__VA_ARGS__, NR, NX, n_in, w + r_ * w_stride, w_stride, \
                                        xa + c_ * xa_stride, xa_stride, out + c_ * out_stride + r_, out_stride)

/* The activation rows for weight rows r_ .. r_ + NR - 1. */
#define K_FOR_COLS_(NR, TC, tile, ...) do { \
    int c_ = 0; \
    for (; c_ + (TC) <= n_x; c_ += (TC)) K_TILE_(NR, TC, tile, __VA_ARGS__); \
    switch (n_x - c_) { \
    case 0: break; \
    case 1: K_TILE_(NR, 1, tile, __VA_ARGS__); break; \
    case 2: K_TILE_(NR, K_MIN_(2, TC), tile, __VA_ARGS__); break; \
    case 3: K_TILE_(NR, K_MIN_(3, TC), tile, __VA_ARGS__); break; \
    case 4: K_TILE_(NR, K_MIN_(4, TC), tile, __VA_ARGS__); break; \
    case 5: K_TILE_(NR, K_MIN_(5, TC), tile, __VA_ARGS__); break; \
    case 6: K_TILE_(NR, K_MIN_(6, TC), tile, __VA_ARGS__); break; \
    default: K_TILE_(NR, K_MIN_(7, TC), tile, __VA_ARGS__); break; \
    } \
} while (0)
#define K_MIN_(a, b) ((a) < (b) ? (a) : (b))

#endif
