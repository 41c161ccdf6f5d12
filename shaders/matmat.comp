#version 450
// matmat.comp: dst = W @ x for many input rows (prefill), any weight type.
//
// A workgroup computes a tile of BM weight rows x BN input rows; each
// invocation owns TM x TN outputs (TN = BM*BN / (WG*TM)), accumulated in f32.
// K advances one 32-value unit at a time: the tile's weight units are
// dequantized once into shared memory and the x tile staged there, then read
// by every invocation.
// Grid: x = ceil(n_rows / BM), y = ceil(n_cols / BN).

#extension GL_EXT_control_flow_attributes : require

layout(local_size_x_id = 0) in;
layout(constant_id = 0) const uint WG = 128;
layout(constant_id = 1) const uint TYPE = 0;          // ggml weight type (shaders/wlayout.h)
layout(constant_id = 2) const uint BM = 64;
layout(constant_id = 3) const uint BN = 32;
layout(constant_id = 4) const uint TM = 4;

layout(binding = 0) readonly buffer WQ { uvec4 wq[]; };   // [n_rows][nsb][QS_U4]
layout(binding = 1) readonly buffer WA { uint wa[]; };
layout(binding = 2) readonly buffer X { float x[]; };     // [n_cols][x_stride]
layout(binding = 2) readonly buffer X4 { vec4 x4[]; };
layout(binding = 3) writeonly buffer D { float dst[]; };  // [n_cols][d_stride]

layout(push_constant) uniform PC {   // vk_pc_matvec
    uint n_in, n_rows, nsb, x_off, x_stride, d_off, d_stride, n_cols;
} pc;

#include "common.glsl"
#define DQ_NSB pc.nsb
#define DQ_NAME dq
#define DQ_I8 dqi8
#define DQ_QS(i) wq[i]
#define DQ_AUX(i) wa[i]
#include "dequant.glsl"

const uint TN = BM * BN / (WG * TM);
const uint TR = BM / TM;            // invocations along weight rows
shared float ws[BM * 33u];          // [BM][33] dequantized weight unit (padded row)
shared float xs[BN * 33u];          // [BN][33] x unit

void load_x(uint col, uint u, out vec4 xv[8])
{
    uint i0 = 32u * u;
    if (col >= pc.n_cols) {
        for (uint k = 0u; k < 8u; k++) xv[k] = vec4(0.0);
        return;
    }
    uint xb = pc.x_off + col * pc.x_stride;
    if ((xb & 3u) == 0u && i0 + 32u <= pc.n_in) {
        for (uint k = 0u; k < 8u; k++) xv[k] = x4[(xb + i0) / 4u + k];
    } else {   // unaligned or the padded tail of a float weight's row: rare
        for (uint i = 0u; i < 32u; i++) xv[i >> 2][i & 3u] = i0 + i < pc.n_in ? x[xb + i0 + i] : 0.0;
    }
}

void main()
{
    uint t = gl_LocalInvocationID.x;
    uint tr = t % TR, tc = t / TR;
    uint row_base = gl_WorkGroupID.x * BM, col_base = gl_WorkGroupID.y * BN;
    uint units = (pc.n_in + 31u) / 32u;

    float acc[TM][TN];
    for (uint i = 0u; i < TM; i++)
        for (uint j = 0u; j < TN; j++) acc[i][j] = 0.0;

    for (uint u = 0u; u < units; u++) {
        uint b = u / SB_UNITS, jj = u % SB_UNITS;
        for (uint i = t; i < BM; i += WG) {
            uint row = row_base + i;
            vec4 w[8];
            if (row < pc.n_rows) dq(row, b, jj, w);
            else for (uint k = 0u; k < 8u; k++) w[k] = vec4(0.0);
            for (uint k = 0u; k < 8u; k++)
                for (uint c = 0u; c < 4u; c++) ws[i * 33u + 4u * k + c] = w[k][c];
        }
        for (uint i = t; i < BN; i += WG) {
            vec4 xv[8];
            load_x(col_base + i, u, xv);
            for (uint k = 0u; k < 8u; k++)
                for (uint c = 0u; c < 4u; c++) xs[i * 33u + 4u * k + c] = xv[k][c];
        }
        barrier();
        for (uint k = 0u; k < 32u; k++) {
            float wv[TM], xv[TN];
            for (uint i = 0u; i < TM; i++) wv[i] = ws[(tr * TM + i) * 33u + k];
            for (uint j = 0u; j < TN; j++) xv[j] = xs[(tc * TN + j) * 33u + k];
            for (uint i = 0u; i < TM; i++)
                for (uint j = 0u; j < TN; j++) acc[i][j] += wv[i] * xv[j];
        }
        barrier();   // ws/xs are rewritten for the next unit
    }
    for (uint i = 0u; i < TM; i++) {
        uint row = row_base + tr * TM + i;
        if (row >= pc.n_rows) break;
        for (uint j = 0u; j < TN; j++) {
            uint col = col_base + tc * TN + j;
            if (col < pc.n_cols) dst[pc.d_off + col * pc.d_stride + row] = acc[i][j];
        }
    }
}
