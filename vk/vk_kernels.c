/* vk_kernels.c: weight repacking and kernel-variant choice (no Vulkan calls;
 * see vk_kernels.h). */
#include "vk/vk_kernels.h"

#include <math.h>
#include <string.h>

#include "model/quant.h"
#include "shaders/wlayout.h"

_Static_assert(WL_F32 == GT_F32 && WL_F16 == GT_F16 && WL_BF16 == GT_BF16 && WL_Q8_0 == GT_Q8_0 &&
               WL_Q4_0 == GT_Q4_0 && WL_Q4_1 == GT_Q4_1 && WL_Q5_0 == GT_Q5_0 && WL_Q5_1 == GT_Q5_1 &&
               WL_Q4_K == GT_Q4_K && WL_Q5_K == GT_Q5_K && WL_Q6_K == GT_Q6_K,
               "shaders/wlayout.h's type ids are ggml's");

int vk_wlayout_of(uint32_t type, vk_wlayout *out, gc_err *err)
{
    switch (type) {
    case GT_F32: case GT_F16: case GT_BF16: case GT_Q8_0: case GT_Q4_0: case GT_Q4_1: case GT_Q5_0:
    case GT_Q5_1: case GT_Q4_K: case GT_Q5_K: case GT_Q6_K:
        *out = (vk_wlayout){ .type = type, .sb_elems = WL_SB_ELEMS(type), .qs_u4 = WL_QS_U4(type),
                             .aux_h = WL_AUX_H(type) };
        return 0;
    default:
        return gc_errf(err, "vulkan: weight type %s is not supported (supported: %s)",
                       quant_type_name(type), quant_supported_list());
    }
}

uint64_t vk_wlayout_nsb(const vk_wlayout *l, uint64_t n_in)
{
    return (n_in + l->sb_elems - 1) / l->sb_elems;
}

uint64_t vk_wlayout_qs_bytes(const vk_wlayout *l, uint64_t n_in, uint64_t rows)
{
    return rows * vk_wlayout_nsb(l, n_in) * l->qs_u4 * 16;
}

uint64_t vk_wlayout_aux_bytes(const vk_wlayout *l, uint64_t n_in, uint64_t rows)
{
    return (rows * vk_wlayout_nsb(l, n_in) * l->aux_h * 2 + 3) / 4 * 4;
}

/* Copies bytes [off, off+n) of a source block: sources come from the file map
 * and have no alignment, so everything goes through memcpy. */
static void put(uint8_t *dst, const uint8_t *src, size_t n) { memcpy(dst, src, n); }

void vk_repack_rows(const vk_wlayout *l, const void *src_, uint64_t n_in, uint64_t rows,
                    void *qs_, void *aux_)
{
    const uint8_t *src = src_;
    uint8_t *qs = qs_;
    uint8_t *aux = aux_;
    uint64_t nsb = vk_wlayout_nsb(l, n_in);
    uint64_t qs_row = nsb * l->qs_u4 * 16;

    if (l->type == GT_F32 || l->type == GT_F16 || l->type == GT_BF16) {
        uint64_t esz = l->type == GT_F32 ? 4 : 2;
        for (uint64_t r = 0; r < rows; r++) {
            uint8_t *d = qs + r * qs_row;
            memcpy(d, src + r * n_in * esz, n_in * esz);
            memset(d + n_in * esz, 0, qs_row - n_in * esz);   /* padding to 32 values: zeros */
        }
        return;
    }
    uint64_t bb = quant_type_info(l->type)->block_bytes;
    if (aux) memset(aux, 0, rows * nsb * l->aux_h * 2);   /* Q5_0's padding halves */
    for (uint64_t i = 0; i < rows * nsb; i++) {
        const uint8_t *s = src + i * bb;
        uint8_t *q = qs + i * l->qs_u4 * 16;
        uint8_t *a = aux ? aux + i * l->aux_h * 2 : NULL;
        switch (l->type) {
        case GT_Q8_0: put(a, s, 2); put(q, s + 2, 32); break;
        case GT_Q4_0: put(a, s, 2); put(q, s + 2, 16); break;
        case GT_Q4_1: put(a, s, 4); put(q, s + 4, 16); break;
        case GT_Q5_0: put(a, s, 2); put(a + 4, s + 2, 4); put(q, s + 6, 16); break;
        case GT_Q5_1: put(a, s, 4); put(a + 4, s + 4, 4); put(q, s + 8, 16); break;
        case GT_Q4_K: put(q, s, 144); break;
        case GT_Q5_K: put(q, s, 176); break;
        case GT_Q6_K: put(q, s, 208); put(a, s + 208, 2); break;
        default: break;
        }
    }
}

void vk_xq_round(float *x, uint64_t n)
{
    for (uint64_t b = 0; b < n; b += 32) {
        uint64_t m = n - b < 32 ? n - b : 32;
        float amax = 0;
        for (uint64_t i = 0; i < m; i++) amax = fmaxf(amax, fabsf(x[b + i]));
        float d = amax / 127.0f, id = d > 0 ? 1.0f / d : 0;
        for (uint64_t i = 0; i < m; i++) x[b + i] = d * roundf(x[b + i] * id);
    }
}

/* ---- variant choice ----
 * Policy, all in one place. The kernels are written for GPUs; lavapipe runs
 * the same ones (as the correctness platform, not a speed target).
 *  - Matrix-vector products: the workgroup is one subgroup where the device
 *    can require a subgroup size (32 lanes if it can, the nearest size
 *    otherwise), split into row groups of lanes-per-row lanes so short rows
 *    keep every lane busy; two rows per row group reuse x from registers.
 *    Without size control: 32 lanes or the subgroup size if larger, each
 *    row split across the whole workgroup, subgroups combined in shared
 *    memory. Integer dot products over 8-bit x blocks where the device says
 *    they are accelerated (quantized weights only).
 *  - Matrix products (prefill): 64 x 32 tiles staged in shared memory,
 *    4 x 4 outputs per invocation.
 *  - Norms, argmax, attention, RoPE: shared-memory trees in workgroups of
 *    64 (attention, RoPE) or 256 (norms, argmax) invocations, any device.
 */
static uint32_t clamp_wg(const vk_kcaps *c, uint32_t wg)
{
    uint32_t lim = c->max_wg_invocations < c->max_wg_size_x ? c->max_wg_invocations : c->max_wg_size_x;
    if (lim >= 1) while (wg > lim && wg > 1) wg /= 2;
    return wg;
}

static bool pow2(uint32_t s) { return s >= 4 && s <= 128 && (s & (s - 1)) == 0; }

/* The subgroup size a matrix-vector workgroup asks for: 32 where the
 * device's range holds it, else the end of the range nearest to it; 0 =
 * the device cannot be asked (no subgroup size control, or no arithmetic). */
static uint32_t matvec_subgroup(const vk_kcaps *c)
{
    if (!c->subgroup_arith || !pow2(c->subgroup_min) || !pow2(c->subgroup_max) || c->subgroup_min > c->subgroup_max)
        return 0;
    uint32_t s = c->subgroup_max < 32 ? c->subgroup_max : c->subgroup_min > 32 ? c->subgroup_min : 32;
    return clamp_wg(c, s) == s ? s : 0;
}

bool vk_choose_kv_f16(int want, bool all_f32_weights)
{
    if (want == 16) return true;
    if (want == 32) return false;
    return !all_f32_weights;
}

uint32_t vk_argmax_groups(uint64_t n, uint32_t wg)
{
    uint64_t per_group = (uint64_t)(wg ? wg : 1) * 32;
    uint64_t g = (n + per_group - 1) / per_group;
    return g < 1 ? 1 : g > 256 ? 256 : (uint32_t)g;
}

uint32_t vk_matvec_lanes_per_row(uint32_t wg, uint32_t n_in)
{
    uint32_t units = (n_in + 31) / 32, best = wg;
    uint64_t best_slots = (uint64_t)(units + wg - 1) / wg * wg;   /* lane-rounds times lanes */
    for (uint32_t l = wg / 2; l >= 1; l /= 2) {
        uint64_t slots = (uint64_t)(units + l - 1) / l * l;
        if (slots < best_slots) { best = l; best_slots = slots; }
    }
    return best;
}

static bool quantized(uint32_t type) { return type != GT_F32 && type != GT_F16 && type != GT_BF16; }

vk_variant vk_choose_matmul(const vk_kcaps *c, uint32_t type, uint32_t rows, uint32_t n_in, bool geglu)
{
    vk_variant v = {0};
    if (geglu || rows <= VK_MATVEC_MAX_ROWS) {
        bool sg = c->subgroup_arith && c->subgroup_size > 0;
        uint32_t req = matvec_subgroup(c), wg, nr = 2, lpr = 0;
        if (req) {   /* one subgroup of req lanes, in row groups */
            wg = req;
            lpr = vk_matvec_lanes_per_row(wg, n_in);
            nr = 2 * (wg / lpr);
        } else {
            wg = sg && c->subgroup_size > 32 && pow2(c->subgroup_size) ? c->subgroup_size : 32;
            wg = clamp_wg(c, wg);
        }
        v.kernel = sg && c->int_dot && c->int_dot_fast && quantized(type) ? VK_K_MATVEC_DP : VK_K_MATVEC;
        v.spec[0] = wg; v.spec[1] = type; v.spec[2] = nr; v.spec[3] = sg; v.spec[4] = geglu; v.spec[5] = lpr;
        v.subgroup = req;
        v.wg = wg; v.rows_per_wg = nr; v.cols_per_wg = 1;
        return v;
    }
    /* Matrix product: tile BM weight rows x BN input rows; each invocation owns
     * TM x TN outputs, TN = BM*BN / (wg*TM) (see matmat.comp). Halving wg
     * halves BN to keep that. Its shared tiles, (BM + BN) * 33 floats =
     * 12.4 KiB, fit the 16 KiB every Vulkan device has. */
    uint32_t wg = 128, bm = 64, bn = 32, tm = 4;
    while (wg > 4 && clamp_wg(c, wg) < wg) { wg /= 2; bn /= 2; }
    v.kernel = VK_K_MATMAT;
    v.spec[0] = wg; v.spec[1] = type; v.spec[2] = bm; v.spec[3] = bn; v.spec[4] = tm;
    v.wg = wg; v.rows_per_wg = bm; v.cols_per_wg = bn;
    return v;
}

vk_variant vk_choose(const vk_kcaps *c, enum vk_kernel k, uint32_t type, bool kv_f16)
{
    vk_variant v = { .kernel = k };
    uint32_t wg;
    switch (k) {
    case VK_K_EMBED:     wg = 64; v.spec[1] = type; break;
    case VK_K_RMSNORM:   wg = 256; break;
    case VK_K_QUANT_X:   wg = 64; break;
    case VK_K_ATTENTION:
        wg = 64;
        /* The per-invocation output slice is sized by spec 2: the head_dim
         * given (as `type`) rounded up to a power of two, not the 512 maximum,
         * so small heads do not carry (and spill) 4-16x more accumulators.
         * Spec 3: head_dim % 8 == 0 lets K and V be read 16 bytes at a time. */
        v.spec[1] = kv_f16; v.spec[2] = VK_ATTN_MAX_HEAD_DIM;
        if (type > 0 && type <= VK_ATTN_MAX_HEAD_DIM) {
            v.spec[2] = 16;
            while (v.spec[2] < type) v.spec[2] *= 2;
            v.spec[3] = type % 8 == 0;
        }
        break;
    case VK_K_QK_ROPE:   wg = 64; v.spec[1] = kv_f16; v.spec[2] = type != 0; break;
    case VK_K_ELTWISE:   wg = 64; break;
    case VK_K_ARGMAX:    wg = 256; break;
    default:             wg = 64; break;
    }
    wg = clamp_wg(c, wg);
    v.spec[0] = wg;
    v.wg = wg;
    return v;
}
