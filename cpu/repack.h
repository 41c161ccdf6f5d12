/* repack.h: the weight layouts of the native CPU backend other than the
 * file's own, and the conversions into and out of them (portable C: the
 * backend repacks at load, the tests check kernels against them).
 *
 * CPU_LAYOUT_R16 (Q8_0 only): rows in groups of 16, interleaved so that one
 * 64-byte load holds four consecutive weights of each of 16 rows. A vpdpbusd
 * against four activation bytes broadcast to every lane then sums 16 rows at
 * once, lane i for row i, and one vector of the 16 rows' scales turns a whole
 * block's integer sums into floats. In the file's layout each row's block
 * needs its own scale broadcast, conversion and multiply, which at decode
 * leaves the core, not memory, the limit (docs/cpu.md, "Q8_0 rows in groups
 * of 16").
 *
 * Group g (rows 16 g .. 16 g + 15) fills the 16 * row_bytes bytes the rows
 * fill in the file (so row 16 g still starts at 16 g * row_bytes), block
 * after block, CPU_R16_BLOCK bytes each:
 *   bytes 0 .. 31            the f16 scale d of rows 0 .. 15
 *   byte 32 + 64 k + 4 i + j weight 4 k + j of row i, plus 128 (unsigned: the
 *                            operand vpdpbusd takes unsigned), k < 8, j < 4
 * A repacked matrix holds whole groups: its row count is a multiple of 16.
 */
#ifndef GC_CPU_REPACK_H
#define GC_CPU_REPACK_H

#include <stddef.h>
#include <stdint.h>

enum {
    CPU_R16_ROWS = 16,
    CPU_R16_BLOCK = 32 + 16 * 32,   /* one 32-value block of 16 rows: 16 x 34 bytes, as in the file */
};

/* Groups `groups` x 16 rows of n_in values (a multiple of 32), row r at
 * src + r * src_stride in the file's Q8_0 layout, into dst (R16, the same
 * number of bytes). */
void cpu_r16_pack(const uint8_t *src, size_t src_stride, uint8_t *dst, int n_in, int groups);

/* Row r of an R16 matrix of n_in values per row (row_bytes in the file's
 * layout) dequantized, bit for bit as quant_dequant_row does the file's row. */
void cpu_r16_dequant_row(const uint8_t *data, size_t row_bytes, uint64_t r, int n_in, float *out);

#endif
