#version 450
// attention_tex.comp: attention.comp's math (same inputs, outputs and push
// constants) shaped for CPU devices (lavapipe); chosen by vk_attention_texel.
//
//   s_k = scale * q . K[k]; s_k = cap * tanh(s_k / cap) (cap > 0);
//   keys k > q_pos and, with a window, q_pos - k >= window are masked;
//   out = sum_k softmax(s)_k V[k]          (one pass, online softmax)
//
// One workgroup = one subgroup per (head, query row). Its lanes split the
// head's dims: lane t owns the 16-byte cache units t, t + WG, ... (8 halves or
// 4 floats each) of q, of every key and value row, and of the output. A key's
// score is the subgroupAdd of the lanes' partial dots. Why not one key per
// lane (attention.comp): lavapipe turns every storage-buffer or shared-memory
// load inside a loop into a loop over the lanes, one scalar at a time (even
// when all lanes read the same address); here the loop reads nothing but
// texel fetches (one gather per fetch) and registers (the measurement:
// docs/bench-results.md, "Why the Vulkan kernels have their shapes").
//
// Key position k is in cache slot k % slots (backend.h). Keys come KB at a
// time: KB scores, one max/rescale, then KB value rows.
// Lanes whose units lie past head_dim read unit 0 with q = 0 and write
// nothing; keys past the query read the query's own key and get p = 0: no
// per-lane branches inside the loop.

#extension GL_KHR_shader_subgroup_basic : require
#extension GL_KHR_shader_subgroup_arithmetic : require
#extension GL_EXT_control_flow_attributes : require

layout(local_size_x_id = 0) in;
layout(constant_id = 0) const uint WG = 8;        // = the subgroup size (vk_choose)
layout(constant_id = 1) const uint KV_F16 = 1;
layout(constant_id = 2) const uint MAX_HD = 512;  // head_dim rounded up to a power of two
layout(constant_id = 3) const uint VEC = 1;       // always 1 here (head_dim % 8 == 0)

layout(binding = 0) uniform samplerBuffer qt;    // q [rows][n_head][head_dim] as vec4s
layout(binding = 1) uniform usamplerBuffer kt;   // K cache [slots][n_kv_head][head_dim] as uvec4s
layout(binding = 2) uniform usamplerBuffer vt;   // V cache, same layout
layout(binding = 3) writeonly buffer O { vec4 o4[]; };   // [rows][n_head][head_dim] as vec4s

layout(push_constant) uniform PC {   // vk_pc_attn
    uint n_head, n_kv_head, head_dim, rows, pos0, window, q_off, o_off;
    float scale, softcap;
    uint slots, pad0;
} pc;

#include "common.glsl"

const uint UNIT = KV_F16 != 0u ? 8u : 4u;                       // values per 16-byte cache unit
const uint NV = UNIT / 4u;                                       // vec4s per unit
const uint NUL = (MAX_HD / UNIT + WG - 1u) / WG;                 // units per lane (at most)
const uint KB = 8u;                                              // keys per block

// Cache unit i as NV vec4s.
void unit(uvec4 w, out vec4 v[2])
{
    if (KV_F16 != 0u) {
        v[0] = vec4(unpackHalf2x16(w.x), unpackHalf2x16(w.y));
        v[1] = vec4(unpackHalf2x16(w.z), unpackHalf2x16(w.w));
    } else {
        v[0] = uintBitsToFloat(w);
        v[1] = vec4(0.0);
    }
}

void main()
{
    uint h = gl_WorkGroupID.x, r = gl_WorkGroupID.y, t = gl_LocalInvocationID.x;
    uint hd = pc.head_dim, nu = hd / UNIT;
    uint kvh = h / (pc.n_head / pc.n_kv_head);
    uint qpos = pc.pos0 + r;
    uint qb = (pc.q_off + (r * pc.n_head + h) * hd) / 4u;   // in vec4s (q_off % 4 == 0)

    // This lane's units: cache offset within a position, and q (scaled; 0 past head_dim).
    uint uoff[NUL];
    vec4 qv[NUL * 2u];
    [[unroll]] for (uint j = 0u; j < NUL; j++) {
        uint u = t + j * WG;
        bool ok = u < nu;
        uoff[j] = kvh * nu + (ok ? u : 0u);
        [[unroll]] for (uint c = 0u; c < 2u; c++)
            qv[2u * j + c] = ok && c < NV ? pc.scale * texelFetch(qt, int(qb + (ok ? u : 0u) * NV + c)) : vec4(0.0);
    }

    uint row_units = pc.n_kv_head * nu;   // cache units per position
    uint kstart = (pc.window > 0u && qpos >= pc.window) ? qpos - pc.window + 1u : 0u;
    vec4 acc[NUL * 2u];
    [[unroll]] for (uint j = 0u; j < 2u * NUL; j++) acc[j] = vec4(0.0);
    float m = -1e30, l = 0.0;

    for (uint kb = kstart; kb <= qpos; kb += KB) {
        float s[KB];
        float bm = m;
        [[unroll]] for (uint i = 0u; i < KB; i++) {
            uint e = (min(kb + i, qpos) % pc.slots) * row_units;
            float d = 0.0;
            [[unroll]] for (uint j = 0u; j < NUL; j++) {
                vec4 kv[2];
                unit(texelFetch(kt, int(e + uoff[j])), kv);
                d += dot(kv[0], qv[2u * j]);
                if (KV_F16 != 0u) d += dot(kv[1], qv[2u * j + 1u]);
            }
            float sk = subgroupAdd(d);
            if (pc.softcap > 0.0) sk = pc.softcap * tanh_safe(sk / pc.softcap);
            s[i] = kb + i <= qpos ? sk : -1.0 / 0.0;
            bm = max(bm, s[i]);
        }
        float corr = exp(m - bm);
        l *= corr;
        [[unroll]] for (uint j = 0u; j < 2u * NUL; j++) acc[j] *= corr;
        [[unroll]] for (uint i = 0u; i < KB; i++) {
            float p = exp(s[i] - bm);   // 0 for masked keys
            l += p;
            uint e = (min(kb + i, qpos) % pc.slots) * row_units;
            [[unroll]] for (uint j = 0u; j < NUL; j++) {
                vec4 vv[2];
                unit(texelFetch(vt, int(e + uoff[j])), vv);
                acc[2u * j] += p * vv[0];
                if (KV_F16 != 0u) acc[2u * j + 1u] += p * vv[1];
            }
        }
        m = bm;
    }

    uint ob = (pc.o_off + (r * pc.n_head + h) * hd) / 4u;   // in vec4s (o_off % 4 == 0)
    float inv = 1.0 / l;
    [[unroll]] for (uint j = 0u; j < NUL; j++) {
        uint u = t + j * WG;
        if (u < nu)
            [[unroll]] for (uint c = 0u; c < NV; c++) o4[ob + u * NV + c] = acc[2u * j + c] * inv;
    }
}
