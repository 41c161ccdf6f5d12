#version 450
// qk_rope.comp: the attention input of one layer in one pass. Workgroup
// (h, r): head h of row r, q heads first (h < n_head), then k heads. Each
// head is RMS-normed by its weight (NORM, gemma3), then NEOX-rotated exactly
// as rope.comp does, both in place; a k workgroup then writes its k head and
// the matching v head to the cache at position pos0 + r as kv_store.comp
// does (f16 pairs or f32 bits, per KV_F16).

layout(local_size_x_id = 0) in;
layout(constant_id = 0) const uint WG = 64;
layout(constant_id = 1) const uint KV_F16 = 1;
layout(constant_id = 2) const uint NORM = 0;

layout(binding = 0) buffer Q { float q[]; };              // [rows][n_head][head_dim]
layout(binding = 1) buffer K { float k[]; };              // [rows][n_kv_head][head_dim]
layout(binding = 2) readonly buffer V { float v[]; };     // [rows][n_kv_head][head_dim]
layout(binding = 3) readonly buffer QN { float qn[]; };   // NORM: [head_dim]
layout(binding = 4) readonly buffer KN { float kn[]; };   // NORM: [head_dim]
layout(binding = 5) writeonly buffer KC { uint kc[]; };   // [slots][n_kv_head * head_dim]
layout(binding = 6) writeonly buffer VC { uint vc[]; };

layout(push_constant) uniform PC {   // vk_pc_qk_rope
    uint rows, n_head, n_kv_head, head_dim, pos0;
    float pos_scale, log2_base, eps;
    uint slots, pad0, pad1, pad2;
} pc;

#include "rope.glsl"

shared float part[WG];
shared float kh[512];   // the rotated k head (VK_ATTN_MAX_HEAD_DIM)

float head_sum(float ss)
{
    uint t = gl_LocalInvocationID.x;
    part[t] = ss;
    barrier();
    for (uint s = WG / 2u; s > 0u; s >>= 1) {
        if (t < s) part[t] += part[t + s];
        barrier();
    }
    return part[0];
}

float ld(bool isq, uint i) { return isq ? q[i] : k[i]; }

void main()
{
    uint hh = gl_WorkGroupID.x, r = gl_WorkGroupID.y;
    if (r >= pc.rows || hh >= pc.n_head + pc.n_kv_head) return;
    uint t = gl_LocalInvocationID.x;
    uint D = pc.head_dim, half_d = D / 2u;
    bool isq = hh < pc.n_head;
    uint kvh = hh - pc.n_head;
    uint base = isq ? (r * pc.n_head + hh) * D : (r * pc.n_kv_head + kvh) * D;
    float inv = 1.0;
    if (NORM != 0u) {
        float ss = 0.0;
        for (uint i = t; i < D; i += WG) { float x = ld(isq, base + i); ss += x * x; }
        inv = 1.0 / sqrt(head_sum(ss) / float(D) + pc.eps);
    }
    for (uint i = t; i < half_d; i += WG) {
        float a = ld(isq, base + i), b = ld(isq, base + i + half_d);
        if (NORM != 0u) {
            a = a * inv * (isq ? qn[i] : kn[i]);
            b = b * inv * (isq ? qn[i + half_d] : kn[i + half_d]);
        }
        vec2 cs = rope_cos_sin(pc.pos0 + r, pc.pos_scale, i, D, pc.log2_base);
        float c = cs.x, s = cs.y;
        float a2 = a * c - b * s, b2 = a * s + b * c;
        if (isq) {
            q[base + i] = a2;
            q[base + i + half_d] = b2;
        } else {
            k[base + i] = a2;
            k[base + i + half_d] = b2;
            kh[i] = a2;
            kh[i + half_d] = b2;
        }
    }
    if (isq) return;   // whole workgroup
    barrier();
    uint row_elems = pc.n_kv_head * D;
    uint dst = ((pc.pos0 + r) % pc.slots) * row_elems + kvh * D;   // element index in the cache (its slot)
    for (uint j = t; j < half_d; j += WG) {
        uint e = 2u * j;
        vec2 kk2 = vec2(kh[e], kh[e + 1u]);
        vec2 vv = vec2(v[base + e], v[base + e + 1u]);
        if (KV_F16 != 0u) {
            kc[(dst + e) / 2u] = packHalf2x16(kk2);
            vc[(dst + e) / 2u] = packHalf2x16(vv);
        } else {
            kc[dst + e] = floatBitsToUint(kk2.x); kc[dst + e + 1u] = floatBitsToUint(kk2.y);
            vc[dst + e] = floatBitsToUint(vv.x); vc[dst + e + 1u] = floatBitsToUint(vv.y);
        }
    }
}
