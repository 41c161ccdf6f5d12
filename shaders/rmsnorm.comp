#version 450
// rmsnorm.comp: one workgroup per row.
//   mode 0: dst[r] = src[r] / sqrt(mean(src[r]^2) + eps) * w     (dst may be src)
//   mode 1: dst[r] += src[r] / sqrt(mean(src[r]^2) + eps) * w    (Gemma's post-norm residual),
//           then h[r] = dst[r] / sqrt(mean(dst[r]^2) + eps) * w2 (the next norm)
// Sums of squares are accumulated in f32 per invocation, then tree-reduced.

layout(local_size_x_id = 0) in;
layout(constant_id = 0) const uint WG = 64;

layout(binding = 0) readonly buffer S { float src[]; };   // [rows][cols]
layout(binding = 1) readonly buffer W { float w[]; };     // [cols]
layout(binding = 2) buffer D { float dst[]; };            // [rows][cols]
layout(binding = 3) readonly buffer W2 { float w2[]; };   // mode 1: [cols]
layout(binding = 4) writeonly buffer H { float h[]; };    // mode 1: [rows][cols]

layout(push_constant) uniform PC {   // vk_pc_rmsnorm
    uint cols, rows, src_off, dst_off;
    float eps;
    uint mode;
} pc;

shared float part[WG];

float row_sum(float ss)
{
    uint t = gl_LocalInvocationID.x;
    part[t] = ss;
    barrier();
    for (uint s = WG / 2u; s > 0u; s >>= 1) {
        if (t < s) part[t] += part[t + s];
        barrier();
    }
    float r = part[0];
    barrier();   // part is reused by a second sum
    return r;
}

void main()
{
    uint r = gl_WorkGroupID.x + gl_WorkGroupID.y * gl_NumWorkGroups.x;
    if (r >= pc.rows) return;
    uint t = gl_LocalInvocationID.x;
    uint sb = pc.src_off + r * pc.cols, db = pc.dst_off + r * pc.cols;
    float ss = 0.0;
    for (uint i = t; i < pc.cols; i += WG) { float v = src[sb + i]; ss += v * v; }
    float inv = 1.0 / sqrt(row_sum(ss) / float(pc.cols) + pc.eps);
    float ss2 = 0.0;
    for (uint i = t; i < pc.cols; i += WG) {
        float v = src[sb + i] * inv * w[i];
        if (pc.mode == 0u) {
            dst[db + i] = v;
        } else {
            float x = dst[db + i] + v;
            dst[db + i] = x;
            ss2 += x * x;
        }
    }
    if (pc.mode == 1u) {   // each invocation rereads only the values it wrote itself
        float inv2 = 1.0 / sqrt(row_sum(ss2) / float(pc.cols) + pc.eps);
        for (uint i = t; i < pc.cols; i += WG) h[db + i] = dst[db + i] * inv2 * w2[i];
    }
}
