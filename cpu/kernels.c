/* kernels.c: the one place that picks a kernel family (see kernels.h). */
#include "cpu/kernels.h"

#include <stddef.h>

/* Per level, the families that level adds; lower levels fill the gaps. */
static const cpu_kernel_family *const families[CPU_ISA_COUNT][3] = {
    [CPU_ISA_PORTABLE] = { &cpu_fam_portable_q32, &cpu_fam_portable_kq, &cpu_fam_portable_float },
    [CPU_ISA_AVX2]     = { &cpu_fam_avx2_q32, &cpu_fam_avx2_kq, &cpu_fam_avx2_float },
    [CPU_ISA_AVX512]   = { &cpu_fam_avx512_q32, &cpu_fam_avx512_kq, &cpu_fam_avx512_float },
    [CPU_ISA_AMX]      = { &cpu_fam_amx_bf16, NULL, NULL },
};

size_t cpu_act_row_bytes(cpu_act act, int n)
{
    switch (act) {
    case CPU_ACT_F32:   return (size_t)n * sizeof(float);
    case CPU_ACT_Q8_32: return (size_t)(n / 32) * sizeof(cpu_q8_32);
    case CPU_ACT_Q8_K:  return (size_t)(n / 256) * sizeof(cpu_q8_k);
    case CPU_ACT_BF16:  return (size_t)n * sizeof(uint16_t);
    default:            return 0;
    }
}

void cpu_act_residual(cpu_act act, const float *x, const void *q, float *r, int n)
{
    if (act == CPU_ACT_Q8_32) {
        const cpu_q8_32 *b = q;
        for (int i = 0; i < n; i++) r[i] = x[i] - b[i / 32].d * b[i / 32].q[i % 32];
    } else if (act == CPU_ACT_Q8_K) {
        const cpu_q8_k *b = q;
        for (int i = 0; i < n; i++) r[i] = x[i] - b[i / 256].d * b[i / 256].q[i % 256];
    } else {
        for (int i = 0; i < n; i++) r[i] = 0;
    }
}

const char *cpu_isa_name(cpu_isa isa)
{
    static const char *const names[CPU_ISA_COUNT] = { "portable", "avx2", "avx512", "amx" };
    return isa >= 0 && isa < CPU_ISA_COUNT ? names[isa] : "?";
}

cpu_quantize_fn cpu_quantizer_for(cpu_act act, cpu_isa isa)
{
    for (int l = isa; l >= 0; l--)
        for (size_t f = 0; f < sizeof families[0] / sizeof families[0][0]; f++)
            if (families[l][f] && families[l][f]->quantize[act]) return families[l][f]->quantize[act];
    return NULL;
}

cpu_vec_ops cpu_vec_for(cpu_isa isa)
{
    cpu_vec_ops v = { NULL, NULL, NULL };
    for (int l = isa; l >= 0; l--)
        for (size_t f = 0; f < sizeof families[0] / sizeof families[0][0]; f++) {
            const cpu_kernel_family *fam = families[l][f];
            if (fam && !v.softmax) v.softmax = fam->softmax;
            if (fam && !v.wsum) v.wsum = fam->wsum;
            if (fam && !v.geglu) v.geglu = fam->geglu;
        }
    return v;
}

/* The best kernel for type at isa or below, among prefill kernels or the others. */
static const cpu_matmul_kernel *find(uint32_t type, cpu_isa isa, bool prefill, cpu_quantize_fn *quantize,
                                     cpu_isa *level)
{
    for (int l = isa; l >= 0; l--)
        for (size_t f = 0; f < sizeof families[0] / sizeof families[0][0]; f++) {
            const cpu_kernel_family *fam = families[l][f];
            if (!fam) continue;
            for (int k = 0; k < fam->n_kernels; k++)
                if (fam->kernels[k].type == type && (fam->kernels[k].min_x > 1) == prefill) {
                    if (quantize) *quantize = cpu_quantizer_for(fam->kernels[k].act, (cpu_isa)l);
                    if (level) *level = (cpu_isa)l;
                    return &fam->kernels[k];
                }
        }
    return NULL;
}

const cpu_matmul_kernel *cpu_kernel_for(uint32_t type, cpu_isa isa, cpu_quantize_fn *quantize, cpu_isa *level)
{
    return find(type, isa, false, quantize, level);
}

const cpu_matmul_kernel *cpu_prefill_kernel_for(uint32_t type, cpu_isa isa)
{
    return find(type, isa, true, NULL, NULL);
}
