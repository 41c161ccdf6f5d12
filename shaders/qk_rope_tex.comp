#version 450
// qk_rope_tex.comp: qk_rope.comp's work (same push constants and results)
// shaped for CPU devices (vk_qk_rope_texel): workgroup (h, r) is one subgroup
// that norms (NORM) and NEOX-rotates head h of row r in place, and for a k
// head writes it and the matching v head to the cache at pos0 + r. Every read
// is a vec4 texel fetch (q and k through second, texel bindings of the same
// buffers; each lane rereads only the values it then overwrites), every write
// a vec4 (f16 cache: a uvec2 of packed halves). On lavapipe a storage-buffer
// load in a loop is a loop over the lanes; a texel fetch one gather.
// head_dim % 8 == 0 (pairs i, i + head_dim/2 come four at a time).

#extension GL_KHR_shader_subgroup_basic : require
#extension GL_KHR_shader_subgroup_arithmetic : require

layout(local_size_x_id = 0) in;
layout(constant_id = 0) const uint WG = 8;   // = the subgroup size
layout(constant_id = 1) const uint KV_F16 = 1;
layout(constant_id = 2) const uint NORM = 0;

layout(binding = 0) writeonly buffer Q { vec4 q4[]; };      // [rows][n_head][head_dim]
layout(binding = 1) writeonly buffer K { vec4 k4[]; };      // [rows][n_kv_head][head_dim]
layout(binding = 2) uniform samplerBuffer vt;               // v [rows][n_kv_head][head_dim]
layout(binding = 3) uniform samplerBuffer qnt;              // NORM: [head_dim]
layout(binding = 4) uniform samplerBuffer knt;              // NORM: [head_dim]
layout(binding = 5) writeonly buffer KC { uvec2 kc2[]; };   // [slots][n_kv_head * head_dim]: f16 x4 per uvec2
layout(binding = 5) writeonly buffer KCF { vec4 kcf[]; };   //   or f32 x4 per vec4
layout(binding = 6) writeonly buffer VC { uvec2 vc2[]; };
layout(binding = 6) writeonly buffer VCF { vec4 vcf[]; };
layout(binding = 7) uniform samplerBuffer qt;               // q before this dispatch
layout(binding = 8) uniform samplerBuffer kt;               // k before this dispatch

layout(push_constant) uniform PC {   // vk_pc_qk_rope
    uint rows, n_head, n_kv_head, head_dim, pos0;
    float pos_scale, log2_base, eps;
    uint slots, pad0, pad1, pad2;
} pc;

#include "rope.glsl"

vec4 ld(bool isq, uint i4) { return isq ? texelFetch(qt, int(i4)) : texelFetch(kt, int(i4)); }

// Values 4i4 .. 4i4+3 of a cache row (element index e4 * 4), f16 or f32.
void store_k(uint e4, vec4 v)
{
    if (KV_F16 != 0u) kc2[e4] = uvec2(packHalf2x16(v.xy), packHalf2x16(v.zw));
    else kcf[e4] = v;
}
void store_v(uint e4, vec4 v)
{
    if (KV_F16 != 0u) vc2[e4] = uvec2(packHalf2x16(v.xy), packHalf2x16(v.zw));
    else vcf[e4] = v;
}

void main()
{
    uint hh = gl_WorkGroupID.x, r = gl_WorkGroupID.y;
    if (r >= pc.rows || hh >= pc.n_head + pc.n_kv_head) return;
    uint t = gl_LocalInvocationID.x;
    uint D = pc.head_dim, h4 = D / 8u;   // vec4s per half head
    bool isq = hh < pc.n_head;
    uint kvh = hh - pc.n_head;
    uint base4 = (isq ? (r * pc.n_head + hh) * D : (r * pc.n_kv_head + kvh) * D) / 4u;
    float inv = 1.0;
    if (NORM != 0u) {
        float ss = 0.0;
        for (uint i = t; i < 2u * h4; i += WG) { vec4 x = ld(isq, base4 + i); ss += dot(x, x); }
        inv = 1.0 / sqrt(subgroupAdd(ss) / float(D) + pc.eps);
    }
    uint dst4 = (((pc.pos0 + r) % pc.slots) * pc.n_kv_head * D + kvh * D) / 4u;   // k/v head in its cache slot, in vec4s
    for (uint i4 = t; i4 < h4; i4 += WG) {
        vec4 a = ld(isq, base4 + i4), b = ld(isq, base4 + h4 + i4);
        if (NORM != 0u) {
            a = a * inv * (isq ? texelFetch(qnt, int(i4)) : texelFetch(knt, int(i4)));
            b = b * inv * (isq ? texelFetch(qnt, int(h4 + i4)) : texelFetch(knt, int(h4 + i4)));
        }
        vec4 c, s;
        for (uint j = 0u; j < 4u; j++) {
            vec2 cs = rope_cos_sin(pc.pos0 + r, pc.pos_scale, 4u * i4 + j, D, pc.log2_base);
            c[j] = cs.x;
            s[j] = cs.y;
        }
        vec4 a2 = a * c - b * s, b2 = a * s + b * c;
        if (isq) {
            q4[base4 + i4] = a2;
            q4[base4 + h4 + i4] = b2;
        } else {
            k4[base4 + i4] = a2;
            k4[base4 + h4 + i4] = b2;
            store_k(dst4 + i4, a2);
            store_k(dst4 + h4 + i4, b2);
        }
    }
    if (isq) return;
    for (uint i = t; i < 2u * h4; i += WG) store_v(dst4 + i, texelFetch(vt, int(base4 + i)));
}
