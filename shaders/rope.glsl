// rope.glsl: the rotation of NEOX RoPE pair i of a head at position pos
// (rope.comp and qk_rope.comp): (cos, sin) of theta = pos * pos_scale *
// base^(-2i/head_dim), with log2_base = log2(base).
//
// theta reaches thousands of radians at long contexts, where sin/cos of GPUs
// lose accuracy: the angle is reduced to [-pi, pi] first, carrying the exact
// rounding error of p * f (fma) and 2*pi in two parts.
#ifndef ROPE_GLSL
#define ROPE_GLSL
vec2 rope_cos_sin(uint pos, float pos_scale, uint i, uint head_dim, float log2_base)
{
    float f = exp2(-2.0 * float(i) / float(head_dim) * log2_base);
    precise float p = float(pos) * pos_scale;
    precise float th = p * f;
    precise float th_lo = fma(p, f, -th);
    const float TWO_PI_HI = 6.28318548202514648;
    const float TWO_PI_LO = -1.7484555314695172e-7;
    precise float k = round(th * 0.15915494309189535);
    precise float red = fma(-k, TWO_PI_HI, th);
    red = fma(-k, TWO_PI_LO, red) + th_lo;
    return vec2(cos(red), sin(red));
}
#endif
