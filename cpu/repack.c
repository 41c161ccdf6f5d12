/* repack.c: the R16 layout's conversions (see repack.h). */
#include "cpu/repack.h"

#include <string.h>

#include "model/quant.h"

enum { Q8_0_BYTES = 34 };   /* {f16 d; i8 q[32]} */

void cpu_r16_pack(const uint8_t *src, size_t src_stride, uint8_t *dst, int n_in, int groups)
{
    int nb = n_in / 32;
    for (int g = 0; g < groups; g++)
        for (int b = 0; b < nb; b++) {
            uint8_t *o = dst + ((size_t)g * nb + b) * CPU_R16_BLOCK;
            for (int i = 0; i < CPU_R16_ROWS; i++) {
                const uint8_t *blk = src + (size_t)(CPU_R16_ROWS * g + i) * src_stride + (size_t)b * Q8_0_BYTES;
                memcpy(o + 2 * i, blk, 2);
                for (int k = 0; k < 8; k++) {   /* four weights at a time, each + 128 */
                    uint32_t q;
                    memcpy(&q, blk + 2 + 4 * k, 4);
                    q ^= 0x80808080u;
                    memcpy(o + 32 + 64 * k + 4 * i, &q, 4);
                }
            }
        }
}

void cpu_r16_dequant_row(const uint8_t *data, size_t row_bytes, uint64_t r, int n_in, float *out)
{
    int nb = n_in / 32, i = (int)(r % CPU_R16_ROWS);
    const uint8_t *grp = data + (r - (uint64_t)i) * row_bytes;
    for (int b = 0; b < nb; b++) {
        const uint8_t *blk = grp + (size_t)b * CPU_R16_BLOCK;
        float d = quant_f16_to_f32((uint16_t)(blk[2 * i] | blk[2 * i + 1] << 8));
        for (int v = 0; v < 32; v++)
            out[32 * b + v] = (float)(int8_t)(blk[32 + 64 * (v / 4) + 4 * i + v % 4] ^ 0x80) * d;
    }
}
