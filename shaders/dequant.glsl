// dequant.glsl: one 32-value unit of a repacked weight (layout: wlayout.h).
//
// Include after defining:
//   DQ_NAME      the function's name
//   DQ_QS(i)     uvec4 i of the quant buffer
//   DQ_AUX(i)    uint i of the aux (scales) buffer
//   DQ_NSB       superblocks per row (the kernel's nsb)
//   DQ_I8        the name of the 8-bit form below
//   DQ_DOT       (optional) the name of the dot form below
// and a spec constant TYPE (ggml type id). Branches on TYPE fold away when the
// pipeline is specialized.
//
// DQ_NAME(row, b, j, v): values [32j, 32j + 32) of superblock b of row `row`
// (superblock sb = row * DQ_NSB + b); v[k] holds values 4k .. 4k+3.

// uints 2i, 2i + 1 of the aux buffer (Q5_0/Q5_1: (d, m) halves, then qh)
#define DQ_AUX2(i) uvec2(DQ_AUX(2u * (i)), DQ_AUX(2u * (i) + 1u))
#ifndef DQ_HELPERS
#define DQ_HELPERS
const uint QS_U4 = WL_QS_U4(TYPE);
const uint AUX_H = WL_AUX_H(TYPE);
const uint SB_UNITS = WL_SB_UNITS(TYPE);

uvec4 bytes4(uint w) { return (uvec4(w) >> uvec4(0u, 8u, 16u, 24u)) & 0xffu; }
ivec4 sbytes4(uint w) { return ivec4(uvec4(w) << uvec4(24u, 16u, 8u, 0u)) >> 24; }
// The 5-bit quants of a Q5_0/Q5_1 unit as bytes: low nibbles from a, fifth
// bits from qh; word k holds values 4k .. 4k+3 (0..31, before the block's
// scale and offset). Works on whole words: a nibble of qh times 0x00204081
// puts its 4 bits at bits 0, 8, 16, 24 (the shifted copies do not overlap).
void q5_packed(uvec4 a, uint qh, out uint q[8])
{
    for (uint k = 0u; k < 4u; k++) {
        uint hl = (((qh >> (4u * k)) & 15u) * 0x00204081u) & 0x01010101u;
        uint hh = (((qh >> (16u + 4u * k)) & 15u) * 0x00204081u) & 0x01010101u;
        q[k] = (a[k] & 0x0f0f0f0fu) | (hl << 4);
        q[4u + k] = ((a[k] >> 4) & 0x0f0f0f0fu) | (hh << 4);
    }
}
uint byte_of(uvec4 q, uint i) { return (q[i >> 2] >> ((i & 3u) * 8u)) & 0xffu; }
// 6-bit scale and min of sub-block j of a Q4_K/Q5_K header h (scales in h.yzw).
void k_scale_min(uvec4 h, uint j, out float sc, out float m)
{
    uvec4 s = uvec4(0u, h.y, h.z, h.w);
    if (j < 4u) {
        sc = float(byte_of(s, 4u + j) & 63u);
        m = float(byte_of(s, 8u + j) & 63u);
    } else {
        sc = float((byte_of(s, 4u + j + 4u) & 15u) | ((byte_of(s, 4u + j - 4u) >> 6) << 4));
        m = float((byte_of(s, 4u + j + 4u) >> 4) | ((byte_of(s, 4u + j) >> 6) << 4));
    }
}
float dq_dot4(vec4 q[8], vec4 x[8], uint k0)
{
    return dot(q[k0], x[k0]) + dot(q[k0 + 1u], x[k0 + 1u]) + dot(q[k0 + 2u], x[k0 + 2u]) + dot(q[k0 + 3u], x[k0 + 3u]);
}
// Bytes b - k of 4 bytes b in 0..127 at once, as int8 (k <= 128): the bias
// 0x80 keeps each byte's subtraction from borrowing into the next.
uint minus_x4(uint w, uint k) { return ((w | 0x80808080u) - k * 0x01010101u) ^ 0x80808080u; }
#endif

// DQ_I8(row, b, j, q, s, m): values [32j, 32j + 32) of superblock b of row
// `row` of a quantized type as 32 signed 8-bit integers, 4 per word (word k:
// values 4k .. 4k+3), such that value i = s.x * q[i] + m for i < 16 and
// s.y * q[i] + m for i >= 16 (the halves differ only for Q6_K; m is the
// block minimum of the types that have one, else 0). The integer dot kernel
// reads this form; DQ_NAME is made from it.
void DQ_I8(uint row, uint b_, uint j, out uint q[8], out vec2 s, out float m)
{
    uint sb = row * DQ_NSB + b_, q0 = sb * QS_U4, q1 = q0 + 1u, ah = sb * AUX_H;
    m = 0.0;
    if (TYPE == WL_Q8_0) {
        float d = unpackHalf2x16(DQ_AUX(ah >> 1) >> ((ah & 1u) * 16u)).x;
        uvec4 a = DQ_QS(q0), b = DQ_QS(q1);
        for (uint k = 0u; k < 4u; k++) { q[k] = a[k]; q[4u + k] = b[k]; }
        s = vec2(d);
    } else if (TYPE == WL_Q4_0 || TYPE == WL_Q4_1) {
        uvec4 a = DQ_QS(q0);
        for (uint k = 0u; k < 4u; k++) { q[k] = a[k] & 0x0f0f0f0fu; q[4u + k] = (a[k] >> 4) & 0x0f0f0f0fu; }
        if (TYPE == WL_Q4_0) {
            for (uint k = 0u; k < 8u; k++) q[k] = minus_x4(q[k], 8u);
            s = vec2(unpackHalf2x16(DQ_AUX(ah >> 1) >> ((ah & 1u) * 16u)).x);
        } else {
            vec2 dm = unpackHalf2x16(DQ_AUX(ah >> 1));
            s = vec2(dm.x);
            m = dm.y;
        }
    } else if (TYPE == WL_Q5_0 || TYPE == WL_Q5_1) {
        uvec2 a2 = DQ_AUX2(sb);   // AUX_H = 4: (d, m) halves, then qh
        vec2 dm = unpackHalf2x16(a2.x);
        q5_packed(DQ_QS(q0), a2.y, q);
        if (TYPE == WL_Q5_0) for (uint k = 0u; k < 8u; k++) q[k] = minus_x4(q[k], 16u);
        s = vec2(dm.x);
        m = TYPE == WL_Q5_0 ? 0.0 : dm.y;
    } else if (TYPE == WL_Q4_K || TYPE == WL_Q5_K) {
        uvec4 h = DQ_QS(q0);
        vec2 dd = unpackHalf2x16(h.x);
        float sc, mn;
        k_scale_min(h, j, sc, mn);
        uint c = j >> 1, shift = (j & 1u) * 4u;
        uint qoff = TYPE == WL_Q4_K ? 1u : 3u;
        uvec4 a = DQ_QS(q0 + qoff + 2u * c), b = DQ_QS(q0 + qoff + 2u * c + 1u);
        uvec4 ha = uvec4(0u), hb = uvec4(0u);
        if (TYPE == WL_Q5_K) { ha = DQ_QS(q0 + 1u); hb = DQ_QS(q0 + 2u); }
        for (uint k = 0u; k < 4u; k++) {
            q[k] = (a[k] >> shift) & 0x0f0f0f0fu;
            q[4u + k] = (b[k] >> shift) & 0x0f0f0f0fu;
            if (TYPE == WL_Q5_K) {
                q[k] |= ((ha[k] >> j) & 0x01010101u) << 4;
                q[4u + k] |= ((hb[k] >> j) & 0x01010101u) << 4;
            }
        }
        s = vec2(dd.x * sc);
        m = -dd.y * mn;
    } else if (TYPE == WL_Q6_K) {
        float d = unpackHalf2x16(DQ_AUX(ah >> 1) >> ((ah & 1u) * 16u)).x;
        uint hf = j >> 2, qd = j & 3u;
        uint lo = q0 + 4u * hf + 2u * (qd & 1u);
        uvec4 la = DQ_QS(lo), lb = DQ_QS(lo + 1u);
        uvec4 ha = DQ_QS(q0 + 8u + 2u * hf), hb = DQ_QS(q0 + 9u + 2u * hf);
        uvec4 scw = DQ_QS(q0 + 12u);
        uint si = 8u * hf + 2u * qd;
        uint ls = (qd >> 1) * 4u, hs = 2u * qd;
        for (uint k = 0u; k < 4u; k++) {
            q[k] = minus_x4(((la[k] >> ls) & 0x0f0f0f0fu) | (((ha[k] >> hs) & 0x03030303u) << 4), 32u);
            q[4u + k] = minus_x4(((lb[k] >> ls) & 0x0f0f0f0fu) | (((hb[k] >> hs) & 0x03030303u) << 4), 32u);
        }
        s = d * vec2(float(sbytes4(scw[si >> 2])[si & 3u]), float(sbytes4(scw[(si + 1u) >> 2])[(si + 1u) & 3u]));
    } else {
        for (uint k = 0u; k < 8u; k++) q[k] = 0u;
        s = vec2(0.0);
    }
}

void DQ_NAME(uint row, uint b_, uint j, out vec4 v[8])
{
    uint q0 = (row * DQ_NSB + b_) * QS_U4;
    if (TYPE == WL_F32) {
        for (uint k = 0u; k < 8u; k++) v[k] = uintBitsToFloat(DQ_QS(q0 + k));
    } else if (TYPE == WL_F16) {
        for (uint k = 0u; k < 4u; k++) {
            uvec4 u = DQ_QS(q0 + k);
            v[2u * k] = vec4(unpackHalf2x16(u.x), unpackHalf2x16(u.y));
            v[2u * k + 1u] = vec4(unpackHalf2x16(u.z), unpackHalf2x16(u.w));
        }
    } else if (TYPE == WL_BF16) {
        for (uint k = 0u; k < 4u; k++) {
            uvec4 u = DQ_QS(q0 + k);
            v[2u * k] = uintBitsToFloat(uvec4(u.x << 16, u.x & 0xffff0000u, u.y << 16, u.y & 0xffff0000u));
            v[2u * k + 1u] = uintBitsToFloat(uvec4(u.z << 16, u.z & 0xffff0000u, u.w << 16, u.w & 0xffff0000u));
        }
    } else {   // the products the CPU reference forms: (q - offset) * d, or q * d + min
        uint q[8];
        vec2 s;
        float m;
        DQ_I8(row, b_, j, q, s, m);
        for (uint k = 0u; k < 4u; k++) {
            v[k] = s.x * vec4(sbytes4(q[k])) + m;
            v[4u + k] = s.y * vec4(sbytes4(q[4u + k])) + m;
        }
    }
}

#ifdef DQ_DOT
// DQ_DOT(row, b, j, x, xs): dot of the unit DQ_NAME(row, b, j) gives with
// x[8], where xs = (sum of x[0..3], sum of x[4..7]). Quantized types go
// through DQ_I8's integers: scales once per half-unit and the offset once
// per unit (through xs), not once per value.
float DQ_DOT(uint row, uint b_, uint j, vec4 x[8], vec2 xs)
{
    vec4 v[8];
    if (TYPE == WL_F32 || TYPE == WL_F16 || TYPE == WL_BF16) {
        DQ_NAME(row, b_, j, v);
        return dq_dot4(v, x, 0u) + dq_dot4(v, x, 4u);
    }
    uint q[8];
    vec2 s;
    float m;
    DQ_I8(row, b_, j, q, s, m);
    for (uint k = 0u; k < 8u; k++) v[k] = vec4(sbytes4(q[k]));
    return s.x * dq_dot4(v, x, 0u) + s.y * dq_dot4(v, x, 4u) + m * (xs.x + xs.y);
}
#endif
#undef DQ_AUX2
