#version 450
// argmax.comp: res[out_idx] = index of the largest of src[off .. off + n),
// lowest index on ties. NaNs never win (as in the CPU backend); all NaN gives 0.
// cap > 0: of cap * tanh(src / cap), as eltwise's soft-cap computes it (the
// final soft-cap folded in: the capped logits are never written).
//
// Two stages, so a 262144-entry vocabulary is not scanned by one workgroup:
//   stage 0, n_groups workgroups: group g takes src elements g*WG + t, then
//     every n_groups*WG further; its best (value bits, index) pair goes to
//     res[part + 2g], res[part + 2g + 1], or straight to res[out_idx] when
//     n_groups is 1.
//   stage 1, one workgroup: the best of the n_groups pairs to res[out_idx].
// Index 0xffffffff stands for "no candidate yet" (only NaNs seen).

layout(local_size_x_id = 0) in;
layout(constant_id = 0) const uint WG = 256;

layout(binding = 0) readonly buffer S { float src[]; };
layout(binding = 1) buffer O { uint res[]; };

layout(push_constant) uniform PC {   // vk_pc_argmax
    uint n, off, out_idx;
    float cap;
    uint part, n_groups, stage;
} pc;

#include "common.glsl"

shared float bv[WG];
shared uint bi[WG];

const uint NONE = 0xffffffffu;

// Whether candidate (v, i) beats (bv, bi): a larger value, or the same value at
// a lower index; no candidate never wins, anything beats no candidate.
bool beats(float v, uint i, float best, uint bidx)
{
    return i != NONE && (bidx == NONE || v > best || (v == best && i < bidx));
}

void main()
{
    uint t = gl_LocalInvocationID.x;
    float best = -1.0 / 0.0;
    uint idx = NONE;
    if (pc.stage == 0u) {
        // Ascending indices per lane: a strict > keeps the lowest index of a tie.
        for (uint i = gl_WorkGroupID.x * WG + t; i < pc.n; i += pc.n_groups * WG) {
            float v = src[pc.off + i];
            if (pc.cap > 0.0) v = pc.cap * tanh_safe(v / pc.cap);
            if (!isnan(v) && (idx == NONE || v > best)) { best = v; idx = i; }
        }
    } else {
        for (uint g = t; g < pc.n_groups; g += WG) {
            float v = uintBitsToFloat(res[pc.part + 2u * g]);
            uint i = res[pc.part + 2u * g + 1u];
            if (beats(v, i, best, idx)) { best = v; idx = i; }
        }
    }
    bv[t] = best;
    bi[t] = idx;
    barrier();
    for (uint s = WG / 2u; s > 0u; s >>= 1) {
        if (t < s && beats(bv[t + s], bi[t + s], bv[t], bi[t])) {
            bv[t] = bv[t + s];
            bi[t] = bi[t + s];
        }
        barrier();
    }
    if (t != 0u) return;
    if (pc.stage == 0u && pc.n_groups > 1u) {
        res[pc.part + 2u * gl_WorkGroupID.x] = floatBitsToUint(bv[0]);
        res[pc.part + 2u * gl_WorkGroupID.x + 1u] = bi[0];
    } else {
        res[pc.out_idx] = bi[0] == NONE ? 0u : bi[0];
    }
}
