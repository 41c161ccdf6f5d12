#version 450
// argmax.comp: out[out_idx] = index of the largest of src[off .. off + n),
// lowest index on ties; one workgroup. NaNs never win (as in the CPU backend).
// cap > 0: of cap * tanh(src / cap), as eltwise's soft-cap computes it (the
// final soft-cap folded in: the capped logits are never written).

layout(local_size_x_id = 0) in;
layout(constant_id = 0) const uint WG = 256;

layout(binding = 0) readonly buffer S { float src[]; };
layout(binding = 1) writeonly buffer O { uint res[]; };

layout(push_constant) uniform PC {   // vk_pc_argmax
    uint n, off, out_idx;
    float cap;
} pc;

#include "common.glsl"

shared float bv[WG];
shared uint bi[WG];

void main()
{
    uint t = gl_LocalInvocationID.x;
    float best = -1.0 / 0.0;
    uint idx = 0xffffffffu;
    for (uint i = t; i < pc.n; i += WG) {
        float v = src[pc.off + i];
        if (pc.cap > 0.0) v = pc.cap * tanh_safe(v / pc.cap);
        if (v > best || (idx == 0xffffffffu && !isnan(v))) { best = v; idx = i; }
    }
    bv[t] = best;
    bi[t] = idx;
    barrier();
    for (uint s = WG / 2u; s > 0u; s >>= 1) {
        if (t < s) {
            float ov = bv[t + s];
            uint oi = bi[t + s];
            if (oi != 0xffffffffu && (bi[t] == 0xffffffffu || ov > bv[t] || (ov == bv[t] && oi < bi[t]))) {
                bv[t] = ov;
                bi[t] = oi;
            }
        }
        barrier();
    }
    if (t == 0u) res[pc.out_idx] = bi[0] == 0xffffffffu ? 0u : bi[0];
}
