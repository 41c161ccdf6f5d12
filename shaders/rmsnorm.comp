#version 450
// rmsnorm.comp: one workgroup per row.
//   mode 0: dst[r] = src[r] / sqrt(mean(src[r]^2) + eps) * w     (dst may be src)
//   mode 1: dst[r] += src[r] / sqrt(mean(src[r]^2) + eps) * w    (Gemma's post-norm residual)
// The sum of squares is accumulated in f32 per invocation, then tree-reduced.

layout(local_size_x_id = 0) in;
layout(constant_id = 0) const uint WG = 64;

layout(binding = 0) readonly buffer S { float src[]; };   // [rows][cols]
layout(binding = 1) readonly buffer W { float w[]; };     // [cols]
layout(binding = 2) buffer D { float dst[]; };            // [rows][cols]

layout(push_constant) uniform PC {   // vk_pc_rmsnorm
    uint cols, rows, src_off, dst_off;
    float eps;
    uint mode;
} pc;

shared float part[WG];

void main()
{
    uint r = gl_WorkGroupID.x + gl_WorkGroupID.y * gl_NumWorkGroups.x;
    if (r >= pc.rows) return;
    uint t = gl_LocalInvocationID.x;
    uint sb = pc.src_off + r * pc.cols, db = pc.dst_off + r * pc.cols;
    float ss = 0.0;
    for (uint i = t; i < pc.cols; i += WG) { float v = src[sb + i]; ss += v * v; }
    part[t] = ss;
    barrier();
    for (uint s = WG / 2u; s > 0u; s >>= 1) {
        if (t < s) part[t] += part[t + s];
        barrier();
    }
    float inv = 1.0 / sqrt(part[0] / float(pc.cols) + pc.eps);
    for (uint i = t; i < pc.cols; i += WG) {
        float v = src[sb + i] * inv * w[i];
        if (pc.mode == 0u) dst[db + i] = v;
        else dst[db + i] += v;
    }
}
