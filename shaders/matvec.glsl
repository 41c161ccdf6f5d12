// matvec.glsl: dst = W @ x for a few input rows, any weight type (body of
// matvec.comp and matvec_shmem.comp, which differ only in USE_SUBGROUP).
//
// A workgroup owns NR consecutive weight rows. Its WG invocations form NG =
// WG / LPR groups of LPR lanes; group g takes rows g, g + NG, ... of the NR, and
// its LPR lanes split each row's 32-value units (u = lane, lane + LPR, ...).
// For each unit a lane loads the matching 32 values of x once and reuses them
// for its NR / NG rows. LPR < WG (CPU devices, WG = one subgroup) keeps every
// lane busy when a row's unit count is not a multiple of WG (n_in 640: 20
// units are 5 rounds of 4 lanes instead of 3 rounds of 8 with 4 lanes idle in
// the last). Partial sums (f32) are reduced with subgroupAdd (one per row
// group) or, with LPR = WG, a shared memory tree. GEGLU: rows of a second
// weight (up) are dotted with the same x and the output is gelu(gate) * up.
//
// Grid: x * y = ceil(n_rows / NR) workgroups (linearized), z = input row.

#extension GL_EXT_control_flow_attributes : require

#ifndef USE_TEXEL
#define USE_TEXEL 0
#endif

layout(local_size_x_id = 0) in;
layout(constant_id = 0) const uint WG = 32;
layout(constant_id = 1) const uint TYPE_SPEC = 0;     // weight type | VK_T_TILED (128) for tiled layouts
const uint TYPE = TYPE_SPEC % 128u;
const uint QTILED = TYPE_SPEC / 128u;
layout(constant_id = 2) const uint NR = 1;
layout(constant_id = 4) const uint GEGLU = 0;
layout(constant_id = 5) const uint LPR_SPEC = 0;   // lanes per row; 0 = WG (one row group)
const uint LPR = LPR_SPEC == 0u ? WG : LPR_SPEC;
const uint NG = WG / LPR;                           // row groups (> 1 only with WG = one subgroup)
// Tiled layouts (QTILED) are stored in this kernel's fetch order: its shape is
// the tile's (the host tiles only where WG = 8 with row groups, vk_wlayout_tile).
#define DQ_TILE_LPR LPR
#define DQ_TILE_NR NR

#if USE_TEXEL   // the same arrays through uniform texel buffers (R32G32B32A32_UINT / R32_UINT,
                // R32G32_UINT for Q5_0/Q5_1 scales: vk_aux_texel_format)
layout(binding = 0) uniform usamplerBuffer wq0t;
layout(binding = 1) uniform usamplerBuffer wa0t;
layout(binding = 4) uniform usamplerBuffer wq1t;
layout(binding = 5) uniform usamplerBuffer wa1t;
#else
layout(binding = 0) readonly buffer WQ0 { uvec4 wq0[]; };   // gate/only weight quants [n_rows][nsb][QS_U4]
layout(binding = 1) readonly buffer WA0 { uint wa0[]; };    // its scales [n_rows][nsb][AUX_H] halves
layout(binding = 4) readonly buffer WQ1 { uvec4 wq1[]; };   // GEGLU: up weight quants
layout(binding = 5) readonly buffer WA1 { uint wa1[]; };
#endif
#if USE_TEXEL   // x through an RGBA32F view: rows 16-byte aligned (x_off, x_stride % 4 == 0, vk_matvec_texel)
layout(binding = 2) uniform samplerBuffer xt;               // [n_cols][x_stride / 4]
#else
layout(binding = 2) readonly buffer X { float x[]; };       // [n_cols][x_stride]
layout(binding = 2) readonly buffer X4 { vec4 x4[]; };      // same, 16-byte view
#endif
layout(binding = 3) writeonly buffer D { float dst[]; };    // [n_cols][d_stride]

layout(push_constant) uniform PC {   // vk_pc_matvec
    uint n_in, n_rows, nsb, x_off, x_stride, d_off, d_stride, n_cols;
} pc;

#include "common.glsl"

#if USE_TEXEL
#define DQ_NSB pc.nsb
#define DQ_NAME dq0
#define DQ_DOT dqdot0
#define DQ_QDOT dqq0
#define DQ_QS(i) texelFetch(wq0t, int(i))
// uint i of the scales (the T_Q8_0_R8 view holds 4 per texel: vk_aux_texel_uints)
#define DQ_AUX(i) (TYPE == T_Q8_0_R8 ? texelFetch(wa0t, int((i) >> 2))[(i) & 3u] : texelFetch(wa0t, int(i)).x)
#define DQ_AUX2(i) texelFetch(wa0t, int(i)).xy
#include "dequant.glsl"
#undef DQ_AUX2
#undef DQ_NAME
#undef DQ_DOT
#undef DQ_QDOT
#undef DQ_QS
#undef DQ_AUX
#define DQ_NAME dq1
#define DQ_DOT dqdot1
#define DQ_QDOT dqq1
#define DQ_QS(i) texelFetch(wq1t, int(i))
#define DQ_AUX(i) (TYPE == T_Q8_0_R8 ? texelFetch(wa1t, int((i) >> 2))[(i) & 3u] : texelFetch(wa1t, int(i)).x)
#define DQ_AUX2(i) texelFetch(wa1t, int(i)).xy
#include "dequant.glsl"
#undef DQ_AUX2
#else
#define DQ_NSB pc.nsb
#define DQ_NAME dq0
#define DQ_DOT dqdot0
#define DQ_QDOT dqq0
#define DQ_QS(i) wq0[i]
#define DQ_AUX(i) wa0[i]
#include "dequant.glsl"
#undef DQ_NAME
#undef DQ_DOT
#undef DQ_QDOT
#undef DQ_QS
#undef DQ_AUX
#define DQ_NAME dq1
#define DQ_DOT dqdot1
#define DQ_QDOT dqq1
#define DQ_QS(i) wq1[i]
#define DQ_AUX(i) wa1[i]
#include "dequant.glsl"
#endif

#if USE_TEXEL
#define TEX_AUX4(i) texelFetch(wa0t, int(i))
#else
#define TEX_AUX4(i) uvec4(0u)   // unused: the 8-row scale path is texel-only
#endif

// Where unit b of the workgroup's row r * NG + grp (row: clamped) is: in a
// tiled layout, straight from the loop counters (the kernel's fetch order,
// VK_T_TILED: texel k of round u / LPR, row r, lane t); else row-major.
dq_at unit_at(uint row, uint b, uint wgid, uint u, uint r, uint t, uint units)
{
    if (QTILED == 0u) return dq_at_of(row, b);
    uint tu = (units + LPR - 1u) / LPR * LPR;   // the row's units in the layout
    uint step = (u / LPR) * (NR / NG) + r;      // this fetch's place in the tile
    uint q0 = wgid * NR * tu * QS_U4 + step * QS_U4 * 8u + t;
    return dq_at(row, b, q0, q0 + 8u, wgid * NR * tu + step * 8u + t, dq_aux_half(row, b, pc.nsb));
}

#if USE_SUBGROUP
shared float part[2 * NR * WG];   // per-subgroup sums (at most WG subgroups)
#else
shared float part[2 * NR * WG];   // per-invocation sums for the tree
#endif

// x values [32u, 32u + 32) of the row starting at xb; zero past n_in.
void load_x(uint xb, uint u, bool vec_ok, out vec4 xv[8])
{
    uint i0 = 32u * u;
#if USE_TEXEL
    // A texel fetch gathers the lanes' vec4s in one go; a storage-buffer load
    // of values that differ per lane costs lavapipe a loop over the lanes for
    // each component (~4x the time of the fetch for these 8 vec4s).
    for (uint k = 0u; k < 8u; k++) xv[k] = texelFetch(xt, int((xb + i0) / 4u + k));
    if (i0 + 32u > pc.n_in)   // the padded tail of a float weight's row (n_in % 4 == 0)
        for (uint k = 0u; k < 8u; k++) if (i0 + 4u * k >= pc.n_in) xv[k] = vec4(0.0);
    return;
#else
    if (vec_ok && i0 + 32u <= pc.n_in) {
        for (uint k = 0u; k < 8u; k++) xv[k] = x4[(xb + i0) / 4u + k];
    } else {   // unaligned or the padded tail of a float weight's row: rare (unrolled: a loop would put xv in memory)
        [[unroll]] for (uint i = 0u; i < 32u; i++) xv[i >> 2][i & 3u] = i0 + i < pc.n_in ? x[xb + i0 + i] : 0.0;
    }
#endif
}

void main()
{
    uint wgid = gl_WorkGroupID.x + gl_WorkGroupID.y * gl_NumWorkGroups.x;
    uint row0 = wgid * NR;
    if (row0 >= pc.n_rows) return;   // whole workgroup: no barrier is skipped by part of it
    uint col = gl_WorkGroupID.z;
    uint t = gl_LocalInvocationID.x;
    uint lane = t % LPR, grp = t / LPR;
    uint xb = pc.x_off + col * pc.x_stride;
    bool vec_ok = (xb & 3u) == 0u;
    uint units = (pc.n_in + 31u) / 32u;
    uint last = pc.n_rows - 1u;

    float acc[NR], acc1[NR];
    for (uint r = 0u; r < NR; r++) { acc[r] = 0.0; acc1[r] = 0.0; }

    for (uint u = lane; u < units; u += LPR) {
        vec4 xv[8];
        load_x(xb, u, vec_ok, xv);
        uint b = u / SB_UNITS, j = u % SB_UNITS;
        vec4 x03 = xv[0] + xv[1] + xv[2] + xv[3], x47 = xv[4] + xv[5] + xv[6] + xv[7];
        vec2 xs = vec2(dot(x03, vec4(1.0)), dot(x47, vec4(1.0)));   // for block offsets
        // Unrolled, so acc[r] has constant indices: llvmpipe keeps a dynamically
        // indexed array in memory and gathers/scatters every access. Rows past
        // the end (last workgroup) read the last row again and are not
        // written: no divergent exit from this loop.
        if (GEGLU == 0u && TYPE == T_Q8_0_R8 && USE_TEXEL != 0 && 8u % NG == 0u) {
            // One texel of 8 rows' scales per 8 rows (VK_T_Q8_0_R8): this
            // group's rows r * NG + grp of a tile are all in it. row0 and
            // r * NG at a tile start are multiples of 8; a tile past the
            // piece's rows reads 0 (out of the view) and is not written.
            uvec4 sc = uvec4(0u);
            [[unroll]] for (uint r = 0u; r < NR / NG; r++) {
                uint rr = r * NG;
                if (rr % 8u == 0u) sc = TEX_AUX4(((row0 + rr) >> 3) * pc.nsb + b);
                uint h = rr % 8u + grp;
                float d = unpackHalf2x16(sc[h >> 1] >> ((h & 1u) * 16u)).x;
                uint row = min(row0 + rr + grp, last);
                dq_at at = unit_at(row, b, wgid, u, r, t, units);
                acc[r] += d * dqq0(at.q0, at.q1, xv);
            }
        } else if (GEGLU == 0u) {
            [[unroll]] for (uint r = 0u; r < NR / NG; r++) {
                uint row = min(row0 + r * NG + grp, last);
                acc[r] += dqdot0(unit_at(row, b, wgid, u, r, t, units), j, xv, xs);
            }
        } else {   // two rows of sums: unrolled, they would no longer fit the registers
            [[dont_unroll]] for (uint r = 0u; r < NR / NG; r++) {
                uint row = min(row0 + r * NG + grp, last);
                dq_at at = unit_at(row, b, wgid, u, r, t, units);
                acc[r] += dqdot0(at, j, xv, xs);
                acc1[r] += dqdot1(at, j, xv, xs);
            }
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
