#version 450
// eltwise.comp: element-wise ops, one invocation per output value.
//   mode 0 (softcap): d[i] = cap * tanh(d[i] / cap), in place
//   mode 1 (copy):    d[i] = a[i]
//   mode 2 (geglu):   d[r][c] = gelu_tanh(a[r][c]) * b[r][c], rows a_stride apart in a and b,
//                     n_cols apart in d
// Grid: linear over x and y.

layout(local_size_x_id = 0) in;

layout(binding = 0) readonly buffer A { float a[]; };
layout(binding = 1) readonly buffer B { float b[]; };
layout(binding = 2) buffer D { float d[]; };

layout(push_constant) uniform PC {   // vk_pc_eltwise
    uint n, a_off, b_off, d_off;
    float cap;
    uint mode, a_stride, n_cols;
} pc;

#include "common.glsl"

void main()
{
    uint i = global_index();
    if (i >= pc.n) return;
    if (pc.mode == 0u) {
        d[pc.d_off + i] = pc.cap * tanh_safe(d[pc.d_off + i] / pc.cap);
    } else if (pc.mode == 1u) {
        d[pc.d_off + i] = a[pc.a_off + i];
    } else {
        uint r = i / pc.n_cols, c = i % pc.n_cols;
        d[pc.d_off + i] = gelu_tanh(a[pc.a_off + r * pc.a_stride + c]) * b[pc.b_off + r * pc.a_stride + c];
    }
}
