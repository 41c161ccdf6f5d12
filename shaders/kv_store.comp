#version 450
// kv_store.comp: writes rows of k and v ([rows][row_elems], f32) into one
// layer's cache at positions pos0 + r (slot (pos0 + r) % slots); the cache holds f16 pairs (packHalf2x16,
// no 16-bit storage feature needed) or f32 bits, per KV_F16.
// One invocation per pair of values.

layout(local_size_x_id = 0) in;
layout(constant_id = 1) const uint KV_F16 = 1;

layout(binding = 0) readonly buffer K { float k[]; };
layout(binding = 1) readonly buffer V { float v[]; };
layout(binding = 2) writeonly buffer KC { uint kc[]; };   // [slots][row_elems] f16 pairs or f32
layout(binding = 3) writeonly buffer VC { uint vc[]; };

layout(push_constant) uniform PC {   // vk_pc_kv_store
    uint rows, row_elems, pos0, k_off, v_off, slots;
    uint pad0, pad1;
} pc;

#include "common.glsl"

void main()
{
    uint g = global_index();
    uint half_row = pc.row_elems / 2u;
    if (g >= pc.rows * half_row) return;
    uint r = g / half_row, e = 2u * (g % half_row);
    uint src = r * pc.row_elems + e;
    uint dst = ((pc.pos0 + r) % pc.slots) * pc.row_elems + e;   // element index in the cache (its slot)
    vec2 kk = vec2(k[pc.k_off + src], k[pc.k_off + src + 1u]);
    vec2 vv = vec2(v[pc.v_off + src], v[pc.v_off + src + 1u]);
    if (KV_F16 != 0u) {
        kc[dst / 2u] = packHalf2x16(kk);
        vc[dst / 2u] = packHalf2x16(vv);
    } else {
        kc[dst] = floatBitsToUint(kk.x); kc[dst + 1u] = floatBitsToUint(kk.y);
        vc[dst] = floatBitsToUint(vv.x); vc[dst + 1u] = floatBitsToUint(vv.y);
    }
}
