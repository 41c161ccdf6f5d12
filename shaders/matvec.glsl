// matvec.glsl: dst = W @ x for a few input rows, any weight type. The body of
//   matvec.comp        subgroup reductions (USE_SUBGROUP 1),
//   matvec_shmem.comp  a shared-memory tree, for devices without subgroup arithmetic,
//   matvec_dp.comp     USE_DP: x as 8-bit blocks (quant_x.comp) and integer dot
//                      products with the weights' quants (quantized types).
//
// A workgroup owns NR consecutive weight rows. Its WG invocations form NG =
// WG / LPR row groups of LPR lanes; group g takes rows g, g + NG, ... of the
// NR, and its lanes split each row's 32-value units (u = lane, lane + LPR,
// ...). For each unit a lane loads the matching x once and reuses it for its
// NR / NG rows. LPR < WG keeps every lane busy when a row's unit count is not
// a multiple of WG (n_in 640: 20 units are 5 rounds of 4 lanes, not 1 round of
// 32 with 12 idle); it needs the workgroup to be exactly one subgroup, which
// vk_choose_matmul guarantees by requiring that subgroup size with full
// subgroups. With LPR = WG the partial sums (f32) are reduced by subgroupAdd
// and, across subgroups, in shared memory (or by a shared-memory tree).
// GEGLU: rows of a second weight (up) are dotted with the same x and the
// output is gelu(gate) * up.
//
// Grid: x * y = ceil(n_rows / NR) workgroups (linearized), z = input row.

#extension GL_EXT_control_flow_attributes : require

#ifndef USE_DP
#define USE_DP 0
#endif

layout(local_size_x_id = 0) in;
layout(constant_id = 0) const uint WG = 32;
layout(constant_id = 1) const uint TYPE = 0;       // ggml weight type (wlayout.h)
layout(constant_id = 2) const uint NR = 1;
layout(constant_id = 4) const uint GEGLU = 0;
layout(constant_id = 5) const uint LPR_SPEC = 0;   // lanes per row; 0 = WG (one row group)
const uint LPR = LPR_SPEC == 0u ? WG : LPR_SPEC;
const uint NG = WG / LPR;                          // row groups

layout(binding = 0) readonly buffer WQ0 { uvec4 wq0[]; };   // gate/only weight quants [n_rows][nsb][QS_U4]
layout(binding = 1) readonly buffer WA0 { uint wa0[]; };    // its scales [n_rows][nsb][AUX_H] halves
#if USE_DP
struct xq_block { uvec4 q0, q1; vec2 ds; vec2 pad; };       // VK_XQ_BLOCK_BYTES: 32 int8, (d, sum)
layout(binding = 2) readonly buffer XQ { xq_block xq[]; };  // [n_cols][units]
#else
layout(binding = 2) readonly buffer X { float x[]; };       // [n_cols][x_stride]
layout(binding = 2) readonly buffer X4 { vec4 x4[]; };      // same, 16-byte view
#endif
layout(binding = 3) writeonly buffer D { float dst[]; };    // [n_cols][d_stride]
layout(binding = 4) readonly buffer WQ1 { uvec4 wq1[]; };   // GEGLU: up weight quants
layout(binding = 5) readonly buffer WA1 { uint wa1[]; };

layout(push_constant) uniform PC {   // vk_pc_matvec
    uint n_in, n_rows, nsb, x_off, x_stride, d_off, d_stride, n_cols;
} pc;

#include "common.glsl"

#define DQ_NSB pc.nsb
#define DQ_NAME dq0
#define DQ_DOT dqdot0
#define DQ_I8 dqi8_0
#define DQ_QS(i) wq0[i]
#define DQ_AUX(i) wa0[i]
#include "dequant.glsl"
#undef DQ_NAME
#undef DQ_DOT
#undef DQ_I8
#undef DQ_QS
#undef DQ_AUX
#define DQ_NAME dq1
#define DQ_DOT dqdot1
#define DQ_I8 dqi8_1
#define DQ_QS(i) wq1[i]
#define DQ_AUX(i) wa1[i]
#include "dequant.glsl"

// Per-subgroup sums (USE_SUBGROUP) or per-invocation sums (the tree); row
// groups (NG > 1) reduce within their one subgroup and need none.
shared float part[NG > 1u ? 1u : 2u * NR * WG];

#if USE_DP
// The 8-bit x block of unit u of input row col: its quants as 8 words and (d, sum).
void load_xq(uint col, uint u, uint units, out uint xw[8], out vec2 ds)
{
    xq_block blk = xq[col * units + u];
    for (uint k = 0u; k < 4u; k++) { xw[k] = blk.q0[k]; xw[4u + k] = blk.q1[k]; }
    ds = blk.ds;
}
// Weight unit (row, b, j) . x block: d_x * (s_lo * q.xq[0..16) + s_hi * q.xq[16..32)) + m * sum(x).
float dot_dp(bool up, uint row, uint b, uint j, uint xw[8], vec2 ds)
{
    uint q[8];
    vec2 s;
    float m;
    if (up) dqi8_1(row, b, j, q, s, m);
    else dqi8_0(row, b, j, q, s, m);
    int lo = sdot4x8(q[0], xw[0], 0) + sdot4x8(q[1], xw[1], 0) + sdot4x8(q[2], xw[2], 0) + sdot4x8(q[3], xw[3], 0);
    int hi = sdot4x8(q[4], xw[4], 0) + sdot4x8(q[5], xw[5], 0) + sdot4x8(q[6], xw[6], 0) + sdot4x8(q[7], xw[7], 0);
    return ds.x * (s.x * float(lo) + s.y * float(hi)) + m * ds.y;
}
#else
// x values [32u, 32u + 32) of the row starting at xb; zero past n_in.
void load_x(uint xb, uint u, bool vec_ok, out vec4 xv[8])
{
    uint i0 = 32u * u;
    if (vec_ok && i0 + 32u <= pc.n_in) {
        for (uint k = 0u; k < 8u; k++) xv[k] = x4[(xb + i0) / 4u + k];
    } else {   // unaligned or the padded tail of a float weight's row: rare
        for (uint i = 0u; i < 32u; i++) xv[i >> 2][i & 3u] = i0 + i < pc.n_in ? x[xb + i0 + i] : 0.0;
    }
}
#endif

void main()
{
    uint wgid = gl_WorkGroupID.x + gl_WorkGroupID.y * gl_NumWorkGroups.x;
    uint row0 = wgid * NR;
    if (row0 >= pc.n_rows) return;   // whole workgroup: no barrier is skipped by part of it
    uint col = gl_WorkGroupID.z;
    uint t = gl_LocalInvocationID.x;
    uint lane = t % LPR, grp = t / LPR;
    uint units = (pc.n_in + 31u) / 32u;
    uint last = pc.n_rows - 1u;
#if !USE_DP
    uint xb = pc.x_off + col * pc.x_stride;
    bool vec_ok = (xb & 3u) == 0u;
#endif

    float acc[NR], acc1[NR];
    for (uint r = 0u; r < NR; r++) { acc[r] = 0.0; acc1[r] = 0.0; }

    for (uint u = lane; u < units; u += LPR) {
        uint b = u / SB_UNITS, j = u % SB_UNITS;
#if USE_DP
        uint xw[8];
        vec2 ds;
        load_xq(col, u, units, xw, ds);
#else
        vec4 xv[8];
        load_x(xb, u, vec_ok, xv);
        vec4 x03 = xv[0] + xv[1] + xv[2] + xv[3], x47 = xv[4] + xv[5] + xv[6] + xv[7];
        vec2 xs = vec2(dot(x03, vec4(1.0)), dot(x47, vec4(1.0)));   // for block offsets
#endif
        // Rows past the end (last workgroup) read the last row again and are
        // not written: no divergent exit from this loop.
        [[unroll]] for (uint r = 0u; r < NR / NG; r++) {
            uint row = min(row0 + r * NG + grp, last);
#if USE_DP
            acc[r] += dot_dp(false, row, b, j, xw, ds);
            if (GEGLU != 0u) acc1[r] += dot_dp(true, row, b, j, xw, ds);
#else
            acc[r] += dqdot0(row, b, j, xv, xs);
            if (GEGLU != 0u) acc1[r] += dqdot1(row, b, j, xv, xs);
#endif
        }
    }

#if USE_SUBGROUP
    if (NG > 1u) {   // WG is one subgroup: one reduction per (row, group)
        for (uint r = 0u; r < NR / NG; r++)
            for (uint g = 0u; g < NG; g++) {
                float s = subgroupAdd(grp == g ? acc[r] : 0.0);
                float s1 = GEGLU != 0u ? subgroupAdd(grp == g ? acc1[r] : 0.0) : 0.0;
                uint row = row0 + r * NG + g;
                if (t == 0u && row <= last)
                    dst[pc.d_off + col * pc.d_stride + row] = GEGLU != 0u ? gelu_tanh(s) * s1 : s;
            }
        return;
    }
    for (uint r = 0u; r < NR; r++) {
        acc[r] = subgroupAdd(acc[r]);
        if (GEGLU != 0u) acc1[r] = subgroupAdd(acc1[r]);
    }
    if (gl_NumSubgroups > 1u) {
        if (subgroupElect())
            for (uint r = 0u; r < NR; r++) {
                part[r * WG + gl_SubgroupID] = acc[r];
                part[(NR + r) * WG + gl_SubgroupID] = acc1[r];
            }
        barrier();
        if (t == 0u)
            for (uint r = 0u; r < NR; r++) {
                float s = 0.0, s1 = 0.0;
                for (uint i = 0u; i < gl_NumSubgroups; i++) { s += part[r * WG + i]; s1 += part[(NR + r) * WG + i]; }
                acc[r] = s;
                acc1[r] = s1;
            }
    }
#else
    for (uint r = 0u; r < NR; r++) {
        part[r * WG + t] = acc[r];
        part[(NR + r) * WG + t] = acc1[r];
    }
    barrier();
    for (uint s = WG / 2u; s > 0u; s >>= 1) {
        if (t < s)
            for (uint r = 0u; r < NR; r++) {
                part[r * WG + t] += part[r * WG + t + s];
                if (GEGLU != 0u) part[(NR + r) * WG + t] += part[(NR + r) * WG + t + s];
            }
        barrier();
    }
    if (t == 0u)
        for (uint r = 0u; r < NR; r++) { acc[r] = part[r * WG]; acc1[r] = part[(NR + r) * WG]; }
#endif
    if (t == 0u) {
        uint db = pc.d_off + col * pc.d_stride + row0;
        for (uint r = 0u; r < NR; r++)   // no break: the loop unrolls, acc stays in registers
            if (row0 + r <= last) dst[db + r] = GEGLU != 0u ? gelu_tanh(acc[r]) * acc1[r] : acc[r];
    }
}
