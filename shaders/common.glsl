// common.glsl: helpers every kernel may use. Included after #version and the
// kernel's own declarations.

#include "wlayout.h"   // weight type ids and layout (WL_*)

// tanh that cannot overflow into inf/inf = NaN (drivers lower tanh through
// exp): beyond |x| = 10 tanh is 1 in f32 anyway.
float tanh_safe(float x) { return tanh(clamp(x, -10.0, 10.0)); }

// gelu with the tanh approximation, written as x * sigmoid(2u): 0.5 * (1 +
// tanh(u)) == 1 / (1 + exp(-2u)). The tanh form loses all precision where
// gelu is small (x < ~-3: 1 + tanh(u) cancels; its f32 result there was off by
// up to ~1e-2 relative); this one has none of that. exp(-2u) overflowing to
// inf gives -0, the limit.
float gelu_tanh(float x)
{
    float u = 0.7978845608028654 * (x + 0.044715 * x * x * x);
    return x / (1.0 + exp(-2.0 * u));
}

// Linear invocation index of a dispatch spread over x and y (x <= 65535 groups).
uint global_index()
{
    return gl_GlobalInvocationID.x + gl_GlobalInvocationID.y * gl_NumWorkGroups.x * gl_WorkGroupSize.x;
}
