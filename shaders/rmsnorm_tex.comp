#version 450
// rmsnorm_tex.comp: rmsnorm.comp's three modes (same push constants) shaped
// for CPU devices (vk_rmsnorm_texel): one subgroup per row, sums by
// subgroupAdd, every read a vec4 texel fetch (src, w, w2 and, in modes 1 and
// 2, dst's old values through a second, texel binding of dst), every write a
// vec4. On lavapipe a storage-buffer load in a loop is a loop over the lanes,
// one scalar at a time; a texel fetch is one gather. cols % 4 == 0.
//
//   mode 0: dst[r] = src[r] / sqrt(mean(src[r]^2) + eps) * w
//   mode 1: dst[r] += src[r] / sqrt(mean(src[r]^2) + eps) * w
//   mode 2: mode 1, then h[r] = dst[r] / sqrt(mean(dst[r]^2) + eps) * w2
// Mode 2 computes the new dst twice (for its sum, then to write it) instead of
// rereading what it wrote: a texel read after a storage write in the same
// dispatch is not guaranteed to see it.

#extension GL_KHR_shader_subgroup_basic : require
#extension GL_KHR_shader_subgroup_arithmetic : require

layout(local_size_x_id = 0) in;
layout(constant_id = 0) const uint WG = 8;   // = the subgroup size

layout(binding = 0) uniform samplerBuffer st;              // src [rows][cols] as vec4s
layout(binding = 1) uniform samplerBuffer wt;              // w [cols]
layout(binding = 2) writeonly buffer D { vec4 d4[]; };     // dst [rows][cols]
layout(binding = 3) uniform samplerBuffer w2t;             // mode 2: w2 [cols]
layout(binding = 4) writeonly buffer H { vec4 h4[]; };     // mode 2: h [rows][cols]
layout(binding = 5) uniform samplerBuffer dt;              // modes 1, 2: dst's values before this dispatch

layout(push_constant) uniform PC {   // vk_pc_rmsnorm
    uint cols, rows, src_off, dst_off;
    float eps;
    uint mode;
} pc;

// Row r's normed value i (vec4s), plus dst's old value in modes 1 and 2.
vec4 normed(uint sb, uint db, uint i, float inv)
{
    vec4 v = texelFetch(st, int(sb + i)) * inv * texelFetch(wt, int(i));
    return pc.mode == 0u ? v : texelFetch(dt, int(db + i)) + v;
}

void main()
{
    uint r = gl_WorkGroupID.x + gl_WorkGroupID.y * gl_NumWorkGroups.x;
    if (r >= pc.rows) return;
    uint t = gl_LocalInvocationID.x;
    uint n4 = pc.cols / 4u;
    uint sb = (pc.src_off + r * pc.cols) / 4u, db = (pc.dst_off + r * pc.cols) / 4u;
    float ss = 0.0;
    for (uint i = t; i < n4; i += WG) { vec4 v = texelFetch(st, int(sb + i)); ss += dot(v, v); }
    float inv = 1.0 / sqrt(subgroupAdd(ss) / float(pc.cols) + pc.eps);
    if (pc.mode != 2u) {
        for (uint i = t; i < n4; i += WG) d4[db + i] = normed(sb, db, i, inv);
        return;
    }
    float ss2 = 0.0;
    for (uint i = t; i < n4; i += WG) { vec4 x = normed(sb, db, i, inv); ss2 += dot(x, x); }
    float inv2 = 1.0 / sqrt(subgroupAdd(ss2) / float(pc.cols) + pc.eps);
    for (uint i = t; i < n4; i += WG) {
        vec4 x = normed(sb, db, i, inv);
        d4[db + i] = x;
        h4[db + i] = x * inv2 * texelFetch(w2t, int(i));
    }
}
