#version 450
// attention.comp: causal attention of one query row and head per workgroup,
// reading one layer's KV cache, in a single pass (online softmax):
//
//   s_k = scale * q . K[k]; s_k = cap * tanh(s_k / cap) (cap > 0);
//   keys k > q_pos and, with a window, q_pos - k >= window are masked;
//   out = sum_k softmax(s)_k V[k]
//
// Keys are taken WG at a time: each invocation scores one key, then every
// invocation updates the running max/sum and its own slice of output pairs
// (dims 2p, 2p + 1 for p = t, t + WG, ...). GQA: head h reads kv head
// h / (n_head / n_kv_head). Grid: x = head, y = query row. Key position k is
// in cache slot k % slots (a sliding layer's ring; backend.h), and only the
// keys the mask keeps are read.
//
// VEC = 1 (head_dim % 8 == 0): K and V are read 16 bytes at a time (8 halves
// or 4 floats per uvec4; on lavapipe a load costs about the same at any width,
// ../shared/LAVAPIPE.md) and each invocation owns whole 16-byte units of the
// output (units t, t + WG, ...) instead of pairs.

layout(local_size_x_id = 0) in;
layout(constant_id = 0) const uint WG = 64;
layout(constant_id = 1) const uint KV_F16 = 1;
layout(constant_id = 2) const uint MAX_HD = 512;
layout(constant_id = 3) const uint VEC = 0;

layout(binding = 0) readonly buffer Q { float q[]; };      // [rows][n_head][head_dim]
layout(binding = 1) readonly buffer KC { uint kc[]; };     // [slots][n_kv_head][head_dim] f16 pairs or f32
layout(binding = 2) readonly buffer VC { uint vc[]; };
layout(binding = 1) readonly buffer KC4 { uvec4 kc4[]; };  // same caches, 16-byte view (VEC)
layout(binding = 2) readonly buffer VC4 { uvec4 vc4[]; };
layout(binding = 3) writeonly buffer O { float o[]; };     // [rows][n_head][head_dim]

layout(push_constant) uniform PC {   // vk_pc_attn
    uint n_head, n_kv_head, head_dim, rows, pos0, window, q_off, o_off;
    float scale, softcap;
    uint slots, pad0;
} pc;

#include "common.glsl"

const uint NP = VEC != 0u ? 1u : (MAX_HD / 2u + WG - 1u) / WG;   // output pairs per invocation
shared float qs[MAX_HD];
shared float sc[WG];
const uint UNIT = KV_F16 != 0u ? 8u : 4u;                       // values per uvec4 of cache
const uint NU = VEC != 0u ? (MAX_HD / UNIT + WG - 1u) / WG : 1u;  // output units per invocation
const uint NA = NU * (UNIT / 4u);                                // vec4 accumulators

// Values 4i .. 4i+3 of q from shared memory.
vec4 q4(uint i) { return vec4(qs[4u * i], qs[4u * i + 1u], qs[4u * i + 2u], qs[4u * i + 3u]); }
// uvec4 u (at value index e, e % UNIT == 0) of a cache as UNIT / 4 vec4s.
void unit(uvec4 w, out vec4 a, out vec4 b)
{
    if (KV_F16 != 0u) {
        a = vec4(unpackHalf2x16(w.x), unpackHalf2x16(w.y));
        b = vec4(unpackHalf2x16(w.z), unpackHalf2x16(w.w));
    } else {
        a = uintBitsToFloat(w);
        b = vec4(0.0);
    }
}

// The VEC path: same math, 16-byte loads.
void main_vec()
{
    uint h = gl_WorkGroupID.x, r = gl_WorkGroupID.y, t = gl_LocalInvocationID.x;
    uint hd = pc.head_dim, nu = hd / UNIT;
    uint kvh = h / (pc.n_head / pc.n_kv_head);
    uint qpos = pc.pos0 + r;
    uint qb = pc.q_off + (r * pc.n_head + h) * hd;
    for (uint i = t; i < hd; i += WG) qs[i] = q[qb + i];
    barrier();

    uint row_units = pc.n_kv_head * nu;   // uvec4s per cache position
    uint kstart = (pc.window > 0u && qpos >= pc.window) ? qpos - pc.window + 1u : 0u;
    vec4 acc[NA];
    for (uint j = 0u; j < NA; j++) acc[j] = vec4(0.0);
    float m = -1e30, l = 0.0;

    for (uint kb = kstart; kb <= qpos; kb += WG) {
        uint k = kb + t;
        float s = -1.0 / 0.0;
        if (k <= qpos) {
            uint e = (k % pc.slots) * row_units + kvh * nu;
            float d = 0.0;
            for (uint i = 0u; i < nu; i++) {
                vec4 a, b;
                unit(kc4[e + i], a, b);
                d += dot(a, q4(i * (UNIT / 4u)));
                if (KV_F16 != 0u) d += dot(b, q4(i * 2u + 1u));
            }
            s = pc.scale * d;
            if (pc.softcap > 0.0) s = pc.softcap * tanh_safe(s / pc.softcap);
        }
        sc[t] = s;
        barrier();
        uint nk = min(WG, qpos + 1u - kb);
        float bm = m;
        for (uint i = 0u; i < nk; i++) bm = max(bm, sc[i]);
        float corr = exp(m - bm);
        l *= corr;
        for (uint j = 0u; j < NA; j++) acc[j] *= corr;
        for (uint i = 0u; i < nk; i++) {
            float p = exp(sc[i] - bm);
            l += p;
            uint e = ((kb + i) % pc.slots) * row_units + kvh * nu;
            for (uint j = 0u; j < NU; j++) {
                uint ui = t + j * WG;
                if (ui < nu) {
                    vec4 a, b;
                    unit(vc4[e + ui], a, b);
                    acc[j * (UNIT / 4u)] += p * a;
                    if (KV_F16 != 0u) acc[j * 2u + 1u] += p * b;
                }
            }
        }
        m = bm;
        barrier();   // sc is rewritten by the next block
    }
    uint ob = pc.o_off + (r * pc.n_head + h) * hd;
    float inv = 1.0 / l;
    for (uint j = 0u; j < NU; j++) {
        uint ui = t + j * WG;
        if (ui >= nu) continue;
        for (uint c = 0u; c < UNIT / 4u; c++) {
            vec4 v = acc[j * (UNIT / 4u) + c] * inv;
            uint oi = ob + ui * UNIT + 4u * c;
            o[oi] = v.x; o[oi + 1u] = v.y; o[oi + 2u] = v.z; o[oi + 3u] = v.w;
        }
    }
}

// Values e, e + 1 (e even) of a cache.
vec2 k2(uint e) { return KV_F16 != 0u ? unpackHalf2x16(kc[e >> 1]) : uintBitsToFloat(uvec2(kc[e], kc[e + 1u])); }
vec2 v2(uint e) { return KV_F16 != 0u ? unpackHalf2x16(vc[e >> 1]) : uintBitsToFloat(uvec2(vc[e], vc[e + 1u])); }

void main()
{
    if (VEC != 0u) { main_vec(); return; }
    uint h = gl_WorkGroupID.x, r = gl_WorkGroupID.y, t = gl_LocalInvocationID.x;
    uint hd = pc.head_dim, hp = hd / 2u;
    uint kvh = h / (pc.n_head / pc.n_kv_head);
    uint qpos = pc.pos0 + r;
    uint qb = pc.q_off + (r * pc.n_head + h) * hd;
    for (uint i = t; i < hd; i += WG) qs[i] = q[qb + i];
    barrier();

    uint row_elems = pc.n_kv_head * hd;
    uint kstart = (pc.window > 0u && qpos >= pc.window) ? qpos - pc.window + 1u : 0u;
    vec2 acc[NP];
    for (uint j = 0u; j < NP; j++) acc[j] = vec2(0.0);
    float m = -1e30, l = 0.0;

    for (uint kb = kstart; kb <= qpos; kb += WG) {
        uint k = kb + t;
        float s = -1.0 / 0.0;
        if (k <= qpos) {
            uint e = (k % pc.slots) * row_elems + kvh * hd;
            float d = 0.0;
            for (uint i = 0u; i < hp; i++) d += dot(vec2(qs[2u * i], qs[2u * i + 1u]), k2(e + 2u * i));
            s = pc.scale * d;
            if (pc.softcap > 0.0) s = pc.softcap * tanh_safe(s / pc.softcap);
        }
        sc[t] = s;
        barrier();
        uint nk = min(WG, qpos + 1u - kb);
        float bm = m;
        for (uint i = 0u; i < nk; i++) bm = max(bm, sc[i]);
        float corr = exp(m - bm);
        l *= corr;
        for (uint j = 0u; j < NP; j++) acc[j] *= corr;
        for (uint i = 0u; i < nk; i++) {
            float p = exp(sc[i] - bm);
            l += p;
            uint e = ((kb + i) % pc.slots) * row_elems + kvh * hd;
            for (uint j = 0u; j < NP; j++) {
                uint pi = t + j * WG;
                if (pi < hp) acc[j] += p * v2(e + 2u * pi);
            }
        }
        m = bm;
        barrier();   // sc is rewritten by the next block
    }
    uint ob = pc.o_off + (r * pc.n_head + h) * hd;
    float inv = 1.0 / l;
    for (uint j = 0u; j < NP; j++) {
        uint pi = t + j * WG;
        if (pi < hp) { o[ob + 2u * pi] = acc[j].x * inv; o[ob + 2u * pi + 1u] = acc[j].y * inv; }
    }
}
