#version 450
// vk_readbw.comp: the read-bandwidth probe of tools/vk_microbench.c. Reads every
// 16-byte unit of src once (adjacent invocations read adjacent units, as a
// matrix-vector kernel streams weights) and keeps the loads alive through a
// store that the data decides (never taken for the zeroed buffer it reads).
layout(local_size_x = 256) in;
layout(std430, binding = 0) readonly buffer Src { uvec4 src[]; };
layout(std430, binding = 1) writeonly buffer Dst { uint dst[]; };
layout(push_constant) uniform Pc { uint n; } pc;   // units of 16 bytes

void main()
{
    uint stride = gl_NumWorkGroups.x * gl_WorkGroupSize.x;
    uvec4 a = uvec4(0u), b = uvec4(0u);   // two chains: two loads in flight per iteration
    uint i = gl_GlobalInvocationID.x;
    for (; i + stride < pc.n; i += 2u * stride) {
        a ^= src[i];
        b ^= src[i + stride];
    }
    if (i < pc.n) a ^= src[i];
    uvec4 c = a ^ b;
    if ((c.x | c.y | c.z | c.w) != 0u) dst[gl_GlobalInvocationID.x & 255u] = c.x ^ c.y ^ c.z ^ c.w;
}
