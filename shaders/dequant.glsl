// dequant.glsl: one 32-value unit of a repacked weight (layout: vk/vk_kernels.h).
//
// Include after defining:
//   DQ_NAME      the function's name
//   DQ_QS(i)     uvec4 i of the quant buffer
//   DQ_AUX(i)    uint i of the aux (scales) buffer
//   DQ_AUX2(i)   uints 2i and 2i + 1 of it as a uvec2 (Q5_0/Q5_1: one texel
//                fetch through an R32G32_UINT view); defaults to two DQ_AUX
//   DQ_NSB       superblocks per row (the kernel's nsb)
// and a spec constant TYPE (ggml type id). Branches on TYPE fold away when the
// pipeline is specialized.
//
// DQ_NAME(row, b, j, v): values [32j, 32j + 32) of superblock b of row `row`
// (superblock index sb = row * DQ_NSB + b in the row-major grid, or its place
// in a tiled layout: dq_tex_index); v[k] holds values 4k .. 4k+3.
// The including kernel also declares QTILED (its TYPE spec constant's
// VK_T_TILED bit).

#ifndef DQ_AUX2
#define DQ_AUX2(i) uvec2(DQ_AUX(2u * (i)), DQ_AUX(2u * (i) + 1u))
#define DQ_AUX2_DEFAULT
#endif
#ifndef DQ_HELPERS
#define DQ_HELPERS
const uint QS_U4 = TYPE == T_F32 ? 8u : (TYPE == T_F16 || TYPE == T_BF16) ? 4u :
                   (TYPE == T_Q8_0 || TYPE == T_Q8_0_R8) ? 2u :
                   TYPE == T_Q4_K ? 9u : TYPE == T_Q5_K ? 11u : TYPE == T_Q6_K ? 13u : TYPE == T_Q6K_UNIT ? 2u : 1u;
const uint AUX_H = (TYPE == T_Q8_0 || TYPE == T_Q8_0_R8 || TYPE == T_Q4_0 || TYPE == T_Q6_K) ? 1u : TYPE == T_Q4_1 ? 2u :
                   (TYPE == T_Q5_0 || TYPE == T_Q5_1 || TYPE == T_Q4K_UNIT || TYPE == T_Q6K_UNIT) ? 4u : 0u;
const uint SB_UNITS = (TYPE == T_Q4_K || TYPE == T_Q5_K || TYPE == T_Q6_K) ? 8u : 1u;

uvec4 bytes4(uint w) { return (uvec4(w) >> uvec4(0u, 8u, 16u, 24u)) & 0xffu; }
ivec4 sbytes4(uint w) { return ivec4(uvec4(w) << uvec4(24u, 16u, 8u, 0u)) >> 24; }
// The 5-bit quants of a Q5_0/Q5_1 unit: low nibbles from a, fifth bits from qh;
// q[k] holds values 4k .. 4k+3 (0..31, before the block's scale and offset).
// Works on whole words: a nibble of qh times 0x00204081 puts its 4 bits at
// bits 0, 8, 16, 24 (the shifted copies do not overlap), one per byte.
void q5_quants(uvec4 a, uint qh, out vec4 q[8])
{
    for (uint k = 0u; k < 4u; k++) {
        uint hl = (((qh >> (4u * k)) & 15u) * 0x00204081u) & 0x01010101u;
        uint hh = (((qh >> (16u + 4u * k)) & 15u) * 0x00204081u) & 0x01010101u;
        q[k] = vec4(bytes4((a[k] & 0x0f0f0f0fu) | (hl << 4)));
        q[4u + k] = vec4(bytes4(((a[k] >> 4) & 0x0f0f0f0fu) | (hh << 4)));
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
// The tile shape of a tiled layout (QTILED; vk_wlayout_tile): the
// matrix-vector kernel's own spec constants where it includes this file
// (DQ_TILE_LPR, DQ_TILE_NR defined), else derived from the row's units the
// way matvec_cpu_shape (vk_kernels.c) does (lanes per row: the largest of 8,
// 4, 2, 1 that leaves the fewest lanes idle; 16 rows per row group, 32 to 64
// per tile).
#ifndef DQ_TILE_LPR
uint dq_tile_lpr(uint units)   // no loop: selects, so kernels can hoist it out of theirs
{
    uint s8 = (units + 7u) & ~7u, s4 = (units + 3u) & ~3u, s2 = (units + 1u) & ~1u;
    uint l = s4 < s8 ? 4u : 8u, s = min(s8, s4);
    l = s2 < s ? 2u : l;
    s = min(s, s2);
    return units < s ? 1u : l;
}
#define DQ_TILE_LPR dq_tile_lpr(DQ_NSB)
#define DQ_TILE_NR clamp(16u * (8u / DQ_TILE_LPR), 32u, 64u)
#endif
// Texel k (of `per`: QS_U4 for quants, 1 for scale pairs) of unit b of row
// `row` (vk_wlayout_texel): row-major, or in the tiled order (VK_T_TILED).
// Tile sizes are powers of two: shifts and masks, no division.
uint dq_tex_index(uint row, uint b, uint k, uint per)
{
    if (QTILED == 0u) return (row * DQ_NSB + b) * per + k;
    uint lpr = DQ_TILE_LPR, nr = DQ_TILE_NR;
    uint ls = uint(findLSB(lpr)), ns = uint(findLSB(nr)), gs = 3u - ls;   // log2 of lpr, nr, row groups
    uint units = (DQ_NSB + lpr - 1u) & ~(lpr - 1u);
    uint rr = row & (nr - 1u);
    // (tile, row group's row, lane's group) + (unit round, lane in the row) + texel:
    // the first part does not change along a row, so loops over units can hoist it
    return (row >> ns) * nr * units * per + (rr >> gs) * per * 8u + ((rr & ((1u << gs) - 1u)) << ls) +
           (b >> ls) * (nr >> gs) * per * 8u + (b & (lpr - 1u)) + k * 8u;
}
// Index of the first aux half of (row, b): superblock-major, or for
// T_Q8_0_R8 the scales of 8 rows side by side (VK_T_Q8_0_R8).
uint dq_aux_half(uint row, uint b, uint nsb)
{
    return TYPE == T_Q8_0_R8 ? (((row >> 3) * nsb + b) << 3) + (row & 7u) : (row * nsb + b) * AUX_H;
}
// Where unit b of row `row` is: its first two quant texels (q1 = the second,
// for 2-texel units), its scale pair (DQ_AUX2) and its first aux half (DQ_AUX).
// The matrix-vector kernel computes these from its loop counters for tiled
// layouts; everything else uses dq_at_of.
struct dq_at { uint row, b, q0, q1, sb, ah; };
dq_at dq_at_of(uint row, uint b)
{
    return dq_at(row, b, dq_tex_index(row, b, 0u, QS_U4), dq_tex_index(row, b, 1u, QS_U4), dq_tex_index(row, b, 0u, 1u),
                 dq_aux_half(row, b, DQ_NSB));
}
#endif

void DQ_NAME(uint row, uint b_, uint j, out vec4 v[8])
{
    dq_at at = dq_at_of(row, b_);
    uint q0 = at.q0, q1 = at.q1, sb = at.sb, ah = at.ah;
    if (TYPE == T_F32) {
        for (uint k = 0u; k < 8u; k++) v[k] = uintBitsToFloat(DQ_QS(q0 + k));
    } else if (TYPE == T_F16) {
        for (uint k = 0u; k < 4u; k++) {
            uvec4 u = DQ_QS(q0 + k);
            v[2u * k] = vec4(unpackHalf2x16(u.x), unpackHalf2x16(u.y));
            v[2u * k + 1u] = vec4(unpackHalf2x16(u.z), unpackHalf2x16(u.w));
        }
    } else if (TYPE == T_BF16) {
        for (uint k = 0u; k < 4u; k++) {
            uvec4 u = DQ_QS(q0 + k);
            v[2u * k] = uintBitsToFloat(uvec4(u.x << 16, u.x & 0xffff0000u, u.y << 16, u.y & 0xffff0000u));
            v[2u * k + 1u] = uintBitsToFloat(uvec4(u.z << 16, u.z & 0xffff0000u, u.w << 16, u.w & 0xffff0000u));
        }
    } else if (TYPE == T_Q8_0 || TYPE == T_Q8_0_R8) {
        float d = unpackHalf2x16(DQ_AUX(ah >> 1) >> ((ah & 1u) * 16u)).x;
        uvec4 a = DQ_QS(q0), b = DQ_QS(q1);
        for (uint k = 0u; k < 4u; k++) {
            v[k] = vec4(sbytes4(a[k])) * d;
            v[4u + k] = vec4(sbytes4(b[k])) * d;
        }
    } else if (TYPE == T_Q4_0) {
        float d = unpackHalf2x16(DQ_AUX(ah >> 1) >> ((ah & 1u) * 16u)).x;
        uvec4 a = DQ_QS(q0);
        for (uint k = 0u; k < 4u; k++) {
            uvec4 b = bytes4(a[k]);
            v[k] = (vec4(b & 15u) - 8.0) * d;
            v[4u + k] = (vec4(b >> 4) - 8.0) * d;
        }
    } else if (TYPE == T_Q4_1) {
        vec2 dm = unpackHalf2x16(DQ_AUX(ah >> 1));
        uvec4 a = DQ_QS(q0);
        for (uint k = 0u; k < 4u; k++) {
            uvec4 b = bytes4(a[k]);
            v[k] = vec4(b & 15u) * dm.x + dm.y;
            v[4u + k] = vec4(b >> 4) * dm.x + dm.y;
        }
    } else if (TYPE == T_Q5_0 || TYPE == T_Q5_1) {
        uvec2 a2 = DQ_AUX2(sb);   // AUX_H = 4: (d, m) halves, then qh
        vec2 dm = unpackHalf2x16(a2.x);
        uint qh = a2.y;
        q5_quants(DQ_QS(q0), qh, v);
        for (uint k = 0u; k < 8u; k++)
            v[k] = TYPE == T_Q5_0 ? (v[k] - 16.0) * dm.x : v[k] * dm.x + dm.y;
    } else if (TYPE == T_Q4_K || TYPE == T_Q5_K) {
        uvec4 h = DQ_QS(q0);
        vec2 dd = unpackHalf2x16(h.x);
        float sc, m;
        k_scale_min(h, j, sc, m);
        float d1 = dd.x * sc, m1 = dd.y * m;
        uint c = j >> 1, shift = (j & 1u) * 4u;
        uint qoff = TYPE == T_Q4_K ? 1u : 3u;
        uvec4 a = DQ_QS(q0 + qoff + 2u * c), b = DQ_QS(q0 + qoff + 2u * c + 1u);
        uvec4 ha = uvec4(0u), hb = uvec4(0u);
        if (TYPE == T_Q5_K) { ha = DQ_QS(q0 + 1u); hb = DQ_QS(q0 + 2u); }
        uint hbit = j;   // bit 2c + (j & 1) of each qh byte
        for (uint k = 0u; k < 4u; k++) {
            vec4 qa = vec4((bytes4(a[k]) >> shift) & 15u);
            vec4 qb = vec4((bytes4(b[k]) >> shift) & 15u);
            if (TYPE == T_Q5_K) {
                qa += vec4(((bytes4(ha[k]) >> hbit) & 1u) << 4);
                qb += vec4(((bytes4(hb[k]) >> hbit) & 1u) << 4);
            }
            v[k] = d1 * qa - m1;
            v[4u + k] = d1 * qb - m1;
        }
    } else if (TYPE == T_Q6_K) {
        float d = unpackHalf2x16(DQ_AUX(ah >> 1) >> ((ah & 1u) * 16u)).x;
        uint hf = j >> 2, qd = j & 3u;
        uint lo = q0 + 4u * hf + 2u * (qd & 1u);
        uvec4 la = DQ_QS(lo), lb = DQ_QS(lo + 1u);
        uvec4 ha = DQ_QS(q0 + 8u + 2u * hf), hb = DQ_QS(q0 + 9u + 2u * hf);
        uvec4 scw = DQ_QS(q0 + 12u);
        uint si = 8u * hf + 2u * qd;   // scale of l < 16; l >= 16 uses si + 1
        float s0 = d * float(sbytes4(scw[si >> 2])[si & 3u]);
        float s1 = d * float(sbytes4(scw[(si + 1u) >> 2])[(si + 1u) & 3u]);
        uint ls = (qd >> 1) * 4u, hs = 2u * qd;
        for (uint k = 0u; k < 4u; k++) {
            vec4 qa = vec4(((bytes4(la[k]) >> ls) & 15u) | (((bytes4(ha[k]) >> hs) & 3u) << 4)) - 32.0;
            vec4 qb = vec4(((bytes4(lb[k]) >> ls) & 15u) | (((bytes4(hb[k]) >> hs) & 3u) << 4)) - 32.0;
            v[k] = s0 * qa;
            v[4u + k] = s1 * qb;
        }
    } else if (TYPE == T_Q4K_UNIT) {
        uvec2 a2 = DQ_AUX2(sb);   // AUX_H = 4: f32 scale, f32 min
        float sc = uintBitsToFloat(a2.x), mn = uintBitsToFloat(a2.y);
        uvec4 a = DQ_QS(q0);
        for (uint k = 0u; k < 4u; k++) {
            uvec4 b = bytes4(a[k]);
            v[k] = vec4(b & 15u) * sc - mn;
            v[4u + k] = vec4(b >> 4) * sc - mn;
        }
    } else if (TYPE == T_Q6K_UNIT) {
        uvec2 a2 = DQ_AUX2(sb);   // AUX_H = 4: f32 scales of values 0-15 and 16-31
        float s0 = uintBitsToFloat(a2.x), s1 = uintBitsToFloat(a2.y);
        uvec4 a = DQ_QS(q0), b = DQ_QS(q1);
        for (uint k = 0u; k < 4u; k++) {
            v[k] = vec4(sbytes4(a[k])) * s0;        // values 0-15
            v[4u + k] = vec4(sbytes4(b[k])) * s1;   // values 16-31
        }
    } else {
        for (uint k = 0u; k < 8u; k++) v[k] = vec4(0.0);
    }
}

#ifdef DQ_DOT
// DQ_QDOT(q0, q1, x): the dot of the 32 int8 quants at uvec4s q0, q1 (Q8_0 layouts)
// with x, before the block's scale (the matrix-vector kernel applies scales
// fetched for 8 rows at once to it: T_Q8_0_R8).
float DQ_QDOT(uint q0, uint q1, vec4 x[8])
{
    uvec4 a = DQ_QS(q0), b = DQ_QS(q1);
    vec4 q[8];
    for (uint k = 0u; k < 4u; k++) { q[k] = vec4(sbytes4(a[k])); q[4u + k] = vec4(sbytes4(b[k])); }
    return dq_dot4(q, x, 0u) + dq_dot4(q, x, 4u);
}
// DQ_DOT(at, j, x, xs): dot of the unit DQ_NAME(row, b, j) gives with x[8], where
// at = dq_at_of(row, b) (or the same computed by the caller) and
// xs = (sum of x[0..3], sum of x[4..7]). Block scales (and offsets, through
// xs) are applied once per half-unit instead of once per value: fewer
// multiplies per weight, which is what bounds matvec on CPU devices.
float DQ_DOT(dq_at at, uint j, vec4 x[8], vec2 xs)
{
    uint q0 = at.q0, q1 = at.q1, sb = at.sb, ah = at.ah;
    vec4 q[8];
    if (TYPE == T_Q8_0 || TYPE == T_Q8_0_R8) {
        float d = unpackHalf2x16(DQ_AUX(ah >> 1) >> ((ah & 1u) * 16u)).x;
        return d * DQ_QDOT(q0, q1, x);
    } else if (TYPE == T_Q6K_UNIT) {
        uvec2 a2 = DQ_AUX2(sb);   // f32 scales of values 0-15 and 16-31
        uvec4 a = DQ_QS(q0), b = DQ_QS(q1);
        for (uint k = 0u; k < 4u; k++) { q[k] = vec4(sbytes4(a[k])); q[4u + k] = vec4(sbytes4(b[k])); }
        return uintBitsToFloat(a2.x) * dq_dot4(q, x, 0u) + uintBitsToFloat(a2.y) * dq_dot4(q, x, 4u);
    } else if (TYPE == T_Q4_0 || TYPE == T_Q4_1 || TYPE == T_Q4K_UNIT) {
        uvec4 a = DQ_QS(q0);
        for (uint k = 0u; k < 4u; k++) {
            uvec4 b = bytes4(a[k]);
            q[k] = vec4(b & 15u);
            q[4u + k] = vec4(b >> 4);
        }
        float s = dq_dot4(q, x, 0u) + dq_dot4(q, x, 4u);
        if (TYPE == T_Q4_0) {
            float d = unpackHalf2x16(DQ_AUX(ah >> 1) >> ((ah & 1u) * 16u)).x;
            return d * (s - 8.0 * (xs.x + xs.y));
        }
        if (TYPE == T_Q4K_UNIT) {
            uvec2 a2 = DQ_AUX2(sb);   // f32 scale, f32 min
            return uintBitsToFloat(a2.x) * s - uintBitsToFloat(a2.y) * (xs.x + xs.y);
        }
        vec2 dm = unpackHalf2x16(DQ_AUX(ah >> 1));
        return dm.x * s + dm.y * (xs.x + xs.y);
    } else if (TYPE == T_Q5_0 || TYPE == T_Q5_1) {
        uvec2 a2 = DQ_AUX2(sb);   // AUX_H = 4: (d, m) halves, then qh
        vec2 dm = unpackHalf2x16(a2.x);
        uint qh = a2.y;
        q5_quants(DQ_QS(q0), qh, q);
        float s = dq_dot4(q, x, 0u) + dq_dot4(q, x, 4u);
        if (TYPE == T_Q5_0) return dm.x * (s - 16.0 * (xs.x + xs.y));
        return dm.x * s + dm.y * (xs.x + xs.y);
    } else if (TYPE == T_Q4_K || TYPE == T_Q5_K) {
        uvec4 h = DQ_QS(q0);
        vec2 dd = unpackHalf2x16(h.x);
        float sc, m;
        k_scale_min(h, j, sc, m);
        uint c = j >> 1, shift = (j & 1u) * 4u;
        uint qoff = TYPE == T_Q4_K ? 1u : 3u;
        uvec4 a = DQ_QS(q0 + qoff + 2u * c), b = DQ_QS(q0 + qoff + 2u * c + 1u);
        uvec4 ha = uvec4(0u), hb = uvec4(0u);
        if (TYPE == T_Q5_K) { ha = DQ_QS(q0 + 1u); hb = DQ_QS(q0 + 2u); }
        for (uint k = 0u; k < 4u; k++) {
            q[k] = vec4((bytes4(a[k]) >> shift) & 15u);
            q[4u + k] = vec4((bytes4(b[k]) >> shift) & 15u);
            if (TYPE == T_Q5_K) {
                q[k] += vec4(((bytes4(ha[k]) >> j) & 1u) << 4);
                q[4u + k] += vec4(((bytes4(hb[k]) >> j) & 1u) << 4);
            }
        }
        return dd.x * sc * (dq_dot4(q, x, 0u) + dq_dot4(q, x, 4u)) - dd.y * m * (xs.x + xs.y);
    } else if (TYPE == T_Q6_K) {
        float d = unpackHalf2x16(DQ_AUX(ah >> 1) >> ((ah & 1u) * 16u)).x;
        uint hf = j >> 2, qd = j & 3u;
        uint lo = q0 + 4u * hf + 2u * (qd & 1u);
        uvec4 la = DQ_QS(lo), lb = DQ_QS(lo + 1u);
        uvec4 ha = DQ_QS(q0 + 8u + 2u * hf), hb = DQ_QS(q0 + 9u + 2u * hf);
        uvec4 scw = DQ_QS(q0 + 12u);
        uint si = 8u * hf + 2u * qd;
        float s0 = d * float(sbytes4(scw[si >> 2])[si & 3u]);
        float s1 = d * float(sbytes4(scw[(si + 1u) >> 2])[(si + 1u) & 3u]);
        uint ls = (qd >> 1) * 4u, hs = 2u * qd;
        for (uint k = 0u; k < 4u; k++) {
            q[k] = vec4(((bytes4(la[k]) >> ls) & 15u) | (((bytes4(ha[k]) >> hs) & 3u) << 4));
            q[4u + k] = vec4(((bytes4(lb[k]) >> ls) & 15u) | (((bytes4(hb[k]) >> hs) & 3u) << 4));
        }
        return s0 * (dq_dot4(q, x, 0u) - 32.0 * xs.x) + s1 * (dq_dot4(q, x, 4u) - 32.0 * xs.y);
    }
    DQ_NAME(at.row, at.b, j, q);   // float weights: no scale to factor out
    return dq_dot4(q, x, 0u) + dq_dot4(q, x, 4u);
}
#endif
#ifdef DQ_AUX2_DEFAULT
#undef DQ_AUX2
#undef DQ_AUX2_DEFAULT
#endif
