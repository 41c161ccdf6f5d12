/* kernels.c: the one place that picks a kernel family (see kernels.h). */
#include "cpu/kernels.h"

#include <stddef.h>

/* Per level, the families that level adds; lower levels fill the gaps. */
static const cpu_kernel_family *const families[CPU_ISA_COUNT][4] = {
    [CPU_ISA_PORTABLE] = { &cpu_fam_portable_q32, &cpu_fam_portable_kq, &cpu_fam_portable_float },
    [CPU_ISA_AVX2]     = { &cpu_fam_avx2_q32, &cpu_fam_avx2_kq, &cpu_fam_avx2_float, &cpu_fam_avx2_deq },
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

const char *cpu_isa_name(cpu_isa isa)
{
    static const char *const names[CPU_ISA_COUNT] = { "portable", "avx2", "avx512", "amx" };
    return isa >= 0 && isa < CPU_ISA_COUNT ? names[isa] : "?";
}

/* The family of the highest level <= isa that has a one-term (terms 1) or a
 * two-term converter of act. */
static const cpu_kernel_family *converter_family(cpu_act act, int terms, cpu_isa isa)
{
    for (int l = isa; l >= 0; l--)
        for (size_t f = 0; f < sizeof families[0] / sizeof families[0][0]; f++) {
            const cpu_kernel_family *fam = families[l][f];
            if (fam && (terms == 2 ? fam->quantize2[act] != NULL : fam->quantize[act] != NULL)) return fam;
        }
    return NULL;
}

cpu_quantize_fn cpu_quantizer_for(cpu_act act, cpu_isa isa)
{
    const cpu_kernel_family *fam = converter_family(act, 1, isa);
    return fam ? fam->quantize[act] : NULL;
}

cpu_quantize2_fn cpu_quantizer2_for(cpu_act act, cpu_isa isa)
{
    const cpu_kernel_family *fam = converter_family(act, 2, isa);
    return fam ? fam->quantize2[act] : NULL;
}

cpu_vec_ops cpu_vec_for(cpu_isa isa)
{
    cpu_vec_ops v = { 0 };
    for (int l = isa; l >= 0; l--)
        for (size_t f = 0; f < sizeof families[0] / sizeof families[0][0]; f++) {
            const cpu_kernel_family *fam = families[l][f];
            if (!fam) continue;
            if (!v.softmax) v.softmax = fam->softmax;
            if (!v.wsum) v.wsum = fam->wsum;
            if (!v.geglu) v.geglu = fam->geglu;
            if (!v.rmsnorm) v.rmsnorm = fam->rmsnorm;
            if (!v.argmax) v.argmax = fam->argmax;
            if (!v.first_at_least) v.first_at_least = fam->first_at_least;
            if (!v.rope) v.rope = fam->rope;
        }
    return v;
}

/* The best kernel for type at isa or below, among prefill kernels or the
 * others, in layout (or in any layout where layout is CPU_LAYOUT_COUNT). */
static const cpu_matmul_kernel *find(uint32_t type, cpu_layout layout, cpu_isa isa, bool prefill,
                                     cpu_quantize_fn *quantize, cpu_isa *level)
{
    for (int l = isa; l >= 0; l--)
        for (size_t f = 0; f < sizeof families[0] / sizeof families[0][0]; f++) {
            const cpu_kernel_family *fam = families[l][f];
            if (!fam) continue;
            for (int k = 0; k < fam->n_kernels; k++)
                if (fam->kernels[k].type == type && (fam->kernels[k].min_x > 1) == prefill &&
                    (layout == CPU_LAYOUT_COUNT || fam->kernels[k].layout == layout)) {
                    if (quantize) *quantize = cpu_quantizer_for(fam->kernels[k].act, (cpu_isa)l);
                    if (level) *level = (cpu_isa)l;
                    return &fam->kernels[k];
                }
        }
    return NULL;
}

cpu_layout cpu_layout_for(uint32_t type, cpu_isa isa)
{
    const cpu_matmul_kernel *k = find(type, CPU_LAYOUT_COUNT, isa, false, NULL, NULL);
    return k ? k->layout : CPU_LAYOUT_FILE;
}

const cpu_matmul_kernel *cpu_kernel_for(uint32_t type, cpu_layout layout, cpu_isa isa, cpu_quantize_fn *quantize,
                                        cpu_isa *level)
{
    return find(type, layout, isa, false, quantize, level);
}

const cpu_matmul_kernel *cpu_prefill_kernel_for(uint32_t type, cpu_layout layout, cpu_isa isa)
{
    return find(type, layout, isa, true, NULL, NULL);
}
