#version 450
// embed.comp: dst[i][:] = table[tok[i]][:] * scale, any weight type.
// Dispatched once per table chunk (tables larger than maxStorageBufferRange are
// split by rows); tokens outside the chunk's rows are left to the other chunks.
// Grid: x = 32-value units of a row, y = token.

layout(local_size_x_id = 0) in;
layout(constant_id = 1) const uint TYPE = 0;          // ggml weight type (wlayout.h)

layout(binding = 0) readonly buffer WQ { uvec4 wq[]; };   // chunk quants [rows][nsb][QS_U4]
layout(binding = 1) readonly buffer WA { uint wa[]; };    // chunk scales
layout(binding = 2) readonly buffer T { uint toks[]; };   // token ids
layout(binding = 3) writeonly buffer D { float dst[]; };  // [n_tok][n_embd]

layout(push_constant) uniform PC {   // vk_pc_embed
    uint n_embd, nsb, row0, rows, n_tok, tok_off, d_off;
    float scale;
} pc;

#include "common.glsl"
#define DQ_NSB pc.nsb
#define DQ_NAME dq
#define DQ_I8 dqi8
#define DQ_QS(i) wq[i]
#define DQ_AUX(i) wa[i]
#include "dequant.glsl"

void main()
{
    uint u = gl_GlobalInvocationID.x;
    uint i = gl_GlobalInvocationID.y;
    if (32u * u >= pc.n_embd || i >= pc.n_tok) return;
    uint tok = toks[pc.tok_off + i];
    if (tok < pc.row0 || tok - pc.row0 >= pc.rows) return;
    vec4 v[8];
    dq(tok - pc.row0, u / SB_UNITS, u % SB_UNITS, v);
    uint base = pc.d_off + i * pc.n_embd + 32u * u;
    for (uint k = 0u; k < 8u; k++)
        for (uint c = 0u; c < 4u; c++)
            if (32u * u + 4u * k + c < pc.n_embd) dst[base + 4u * k + c] = v[k][c] * pc.scale;
}
