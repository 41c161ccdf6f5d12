#version 450
// quant_x.comp: input rows as 8-bit blocks for matvec_dp.comp (vk_pc_quant_x):
// block u of row c holds q[i] = round(x[i] / d) for its 32 values (zeros past
// n_in), d = max |x[i]| / 127 (0 for an all-zero block), and d * sum(q): the
// sum of the rounded values, not of x, so that a weight's offset term m *
// sum meets the same rounded x as its quants and the product's error is
// sum(w[i] * (x[i] - d q[i])), not that plus m * the rounding's sum.
// One invocation per block.
// Grid: linear over x and y.

layout(local_size_x_id = 0) in;
layout(constant_id = 0) const uint WG = 64;

layout(binding = 0) readonly buffer X { float x[]; };       // [n_cols][x_stride]
struct xq_block { uvec4 q0, q1; vec2 ds; vec2 pad; };       // VK_XQ_BLOCK_BYTES
layout(binding = 1) writeonly buffer XQ { xq_block xq[]; }; // [n_cols][units]

layout(push_constant) uniform PC {   // vk_pc_quant_x
    uint n_in, n_cols, x_off, x_stride, units;
} pc;

#include "common.glsl"

void main()
{
    uint i = global_index();
    if (i >= pc.n_cols * pc.units) return;
    uint c = i / pc.units, u = i % pc.units;
    uint xb = pc.x_off + c * pc.x_stride + 32u * u;
    float v[32];
    float amax = 0.0;
    for (uint k = 0u; k < 32u; k++) {
        v[k] = 32u * u + k < pc.n_in ? x[xb + k] : 0.0;
        amax = max(amax, abs(v[k]));
    }
    float d = amax / 127.0, id = d > 0.0 ? 1.0 / d : 0.0;
    uint w[8];
    int qsum = 0;
    for (uint k = 0u; k < 8u; k++) {
        uint p = 0u;
        for (uint e = 0u; e < 4u; e++) {
            int q = int(round(v[4u * k + e] * id));
            qsum += q;
            p |= (uint(q) & 0xffu) << (8u * e);
        }
        w[k] = p;
    }
    float sum = d * float(qsum);
    xq_block blk;
    blk.q0 = uvec4(w[0], w[1], w[2], w[3]);
    blk.q1 = uvec4(w[4], w[5], w[6], w[7]);
    blk.ds = vec2(d, sum);
    blk.pad = vec2(0.0);
    xq[i] = blk;
}
