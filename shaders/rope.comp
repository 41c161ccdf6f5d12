#version 450
// rope.comp: NEOX rotary embedding in place on x[rows][n_heads][head_dim]:
// pairs (i, i + head_dim/2) of row r rotate by theta = (pos0 + r) * pos_scale
// * base^(-2i/head_dim). One invocation per (row, head, i).
//
// theta reaches thousands of radians at long contexts, where sin/cos of GPUs
// lose accuracy: the angle is reduced to [-pi, pi] first, carrying the exact
// rounding error of p * f (fma) and 2*pi in two parts.

layout(local_size_x_id = 0) in;

layout(binding = 0) buffer X { float x[]; };

layout(push_constant) uniform PC {   // vk_pc_rope
    uint rows, n_heads, head_dim, pos0, x_off;
    float pos_scale, log2_base;
    uint pad;
} pc;

#include "common.glsl"

void main()
{
    uint half_d = pc.head_dim / 2u;
    uint g = global_index();
    if (g >= pc.rows * pc.n_heads * half_d) return;
    uint i = g % half_d;
    uint rh = g / half_d;          // row * n_heads + head
    uint r = rh / pc.n_heads;
    float f = exp2(-2.0 * float(i) / float(pc.head_dim) * pc.log2_base);
    precise float p = float(pc.pos0 + r) * pc.pos_scale;
    precise float th = p * f;
    precise float th_lo = fma(p, f, -th);
    const float TWO_PI_HI = 6.28318548202514648;
    const float TWO_PI_LO = -1.7484555314695172e-7;
    precise float k = round(th * 0.15915494309189535);
    precise float red = fma(-k, TWO_PI_HI, th);
    red = fma(-k, TWO_PI_LO, red) + th_lo;
    float c = cos(red), s = sin(red);
    uint base = pc.x_off + rh * pc.head_dim;
    float a = x[base + i], b = x[base + i + half_d];
    x[base + i] = a * c - b * s;
    x[base + i + half_d] = a * s + b * c;
}
