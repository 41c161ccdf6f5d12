#version 450
// rope.comp: NEOX rotary embedding in place on x[rows][n_heads][head_dim]:
// pairs (i, i + head_dim/2) of row r rotate by theta = (pos0 + r) * pos_scale
// * base^(-2i/head_dim) (rope.glsl). One invocation per (row, head, i).

layout(local_size_x_id = 0) in;

layout(binding = 0) buffer X { float x[]; };

layout(push_constant) uniform PC {   // vk_pc_rope
    uint rows, n_heads, head_dim, pos0, x_off;
    float pos_scale, log2_base;
    uint pad;
} pc;

#include "common.glsl"
#include "rope.glsl"

void main()
{
    uint half_d = pc.head_dim / 2u;
    uint g = global_index();
    if (g >= pc.rows * pc.n_heads * half_d) return;
    uint i = g % half_d;
    uint rh = g / half_d;          // row * n_heads + head
    uint r = rh / pc.n_heads;
    vec2 cs = rope_cos_sin(pc.pos0 + r, pc.pos_scale, i, pc.head_dim, pc.log2_base);
    float c = cs.x, s = cs.y;
    uint base = pc.x_off + rh * pc.head_dim;
    float a = x[base + i], b = x[base + i + half_d];
    x[base + i] = a * c - b * s;
    x[base + i + half_d] = a * s + b * c;
}
