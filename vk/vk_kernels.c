/* vk_kernels.c: weight repacking and kernel-variant choice (no Vulkan calls;
 * see vk_kernels.h). */
#include "vk/vk_kernels.h"

#include <string.h>

#include "model/quant.h"

int vk_wlayout_of(uint32_t type, vk_wlayout *out, gc_err *err)
{
    vk_wlayout l = { .type = type, .src_type = type, .sb_elems = 32 };
    switch (type) {
    case GT_F32:  l.qs_u4 = 8; break;
    case GT_F16:  l.qs_u4 = 4; break;
    case GT_BF16: l.qs_u4 = 4; break;
    case GT_Q8_0: l.qs_u4 = 2; l.aux_h = 1; break;
    case GT_Q4_0: l.qs_u4 = 1; l.aux_h = 1; break;
    case GT_Q4_1: l.qs_u4 = 1; l.aux_h = 2; break;
    case GT_Q5_0: l.qs_u4 = 1; l.aux_h = 4; break;
    case GT_Q5_1: l.qs_u4 = 1; l.aux_h = 4; break;
    case GT_Q4_K: l.sb_elems = 256; l.qs_u4 = 9; break;
    case GT_Q5_K: l.sb_elems = 256; l.qs_u4 = 11; break;
    case GT_Q6_K: l.sb_elems = 256; l.qs_u4 = 13; l.aux_h = 1; break;
    default:
        return gc_errf(err, "vulkan: weight type %s is not supported (supported: %s)",
                       quant_type_name(type), quant_supported_list());
    }
    *out = l;
    return 0;
}

bool vk_unit_kquants(const vk_kcaps *c)
{
    return c && c->cpu;
}

int vk_wlayout_for(const vk_kcaps *c, uint32_t type, vk_wlayout *out, gc_err *err)
{
    if (vk_wlayout_of(type, out, err)) return -1;
    if (vk_unit_kquants(c) && type == GT_Q8_0) {
        out->type = VK_T_Q8_0_R8;
        return 0;
    }
    if (!vk_unit_kquants(c) || (type != GT_Q4_K && type != GT_Q6_K)) return 0;
    out->type = type == GT_Q4_K ? VK_T_Q4K_UNIT : VK_T_Q6K_UNIT;
    out->sb_elems = 32;
    out->qs_u4 = type == GT_Q4_K ? 1 : 2;
    out->aux_h = 4;
    return 0;
}

void vk_wlayout_tile(const vk_kcaps *c, vk_wlayout *l, uint64_t n_in)
{
    bool tileable = l->type == VK_T_Q8_0_R8 || l->type == GT_Q4_0 || l->type == GT_Q4_1 || l->type == GT_Q5_0 ||
                    l->type == GT_Q5_1 || l->type == VK_T_Q4K_UNIT || l->type == VK_T_Q6K_UNIT;
    if (!tileable || n_in == 0 || n_in > UINT32_MAX) return;
    /* The kernel that will read it decides: row groups (spec 5) on one
     * subgroup of VK_TILE_LANES lanes; its shape is the tile's. */
    vk_variant v = vk_choose_matmul(c, l->type, 1, (uint32_t)n_in, 0, false);
    if (v.kernel != VK_K_MATVEC || !v.spec[5] || v.wg != VK_TILE_LANES) return;
    l->tile_lpr = v.spec[5];
    l->tile_nr = v.spec[2];
    l->tile_ng = VK_TILE_LANES / l->tile_lpr;
}

uint32_t vk_wlayout_ktype(const vk_wlayout *l)
{
    return l->type | (l->tile_lpr ? VK_T_TILED : 0);
}

uint32_t vk_wlayout_row_tile(const vk_wlayout *l)
{
    return l->tile_lpr ? l->tile_nr : l->type == VK_T_Q8_0_R8 ? 8 : 1;
}

uint64_t vk_wlayout_nsb(const vk_wlayout *l, uint64_t n_in)
{
    return (n_in + l->sb_elems - 1) / l->sb_elems;
}

uint64_t vk_wlayout_row_units(const vk_wlayout *l, uint64_t n_in)
{
    uint64_t u = vk_wlayout_nsb(l, n_in);
    return l->tile_lpr ? (u + l->tile_lpr - 1) / l->tile_lpr * l->tile_lpr : u;
}

uint64_t vk_wlayout_texel(const vk_wlayout *l, uint64_t units, uint64_t row, uint64_t b, uint32_t k,
                          uint32_t per)
{
    if (!l->tile_lpr) return (row * units + b) * per + k;
    uint64_t nr = l->tile_nr, ng = l->tile_ng, lpr = l->tile_lpr, rr = row % nr;
    return row / nr * nr * units * per + ((b / lpr * (nr / ng) + rr / ng) * per + k) * VK_TILE_LANES +
           rr % ng * lpr + b % lpr;
}

/* Rows rounded up to whole tiles where the layout has them. */
static uint64_t tiled_rows(const vk_wlayout *l, uint64_t rows)
{
    return l->tile_lpr ? (rows + l->tile_nr - 1) / l->tile_nr * l->tile_nr : rows;
}

uint64_t vk_wlayout_qs_bytes(const vk_wlayout *l, uint64_t n_in, uint64_t rows)
{
    return tiled_rows(l, rows) * vk_wlayout_row_units(l, n_in) * l->qs_u4 * 16;
}

uint64_t vk_wlayout_aux_bytes(const vk_wlayout *l, uint64_t n_in, uint64_t rows)
{
    if (l->type == VK_T_Q8_0_R8) rows = (rows + 7) / 8 * 8;   /* whole 8-row tiles */
    if (vk_aux_texel_pairs(l->type))   /* tiled like the quants */
        return tiled_rows(l, rows) * vk_wlayout_row_units(l, n_in) * l->aux_h * 2;
    return (rows * vk_wlayout_nsb(l, n_in) * l->aux_h * 2 + 3) / 4 * 4;
}

/* Copies bytes [off, off+n) of a source block: sources come from the file map
 * and have no alignment, so everything goes through memcpy. */
static void put(uint8_t *dst, const uint8_t *src, size_t n) { memcpy(dst, src, n); }

/* Q4_K / Q6_K blocks (256 values) into the unit layouts (vk_kernels.h). */
static void repack_kquant_units(const vk_wlayout *l, const uint8_t *src, uint64_t n_in, uint64_t rows,
                                uint8_t *qs, uint8_t *aux)
{
    bool q4 = l->type == VK_T_Q4K_UNIT;
    uint64_t nb = n_in / 256, bb = q4 ? 144 : 210, units = vk_wlayout_row_units(l, n_in);
    for (uint64_t i = 0; i < rows * nb; i++) {
        const uint8_t *s = src + i * bb;
        uint8_t q[8 * 32];   /* the 8 units' quants, then placed unit by unit */
        uint8_t a[8 * 8];    /* 2 floats per unit */
        uint8_t v[256];
        float sa[8], sb[8];
        if (q4) {
            uint16_t dh, mh;
            memcpy(&dh, s, 2);
            memcpy(&mh, s + 2, 2);
            float d = quant_f16_to_f32(dh), dmin = quant_f16_to_f32(mh);
            const uint8_t *sc = s + 4, *ql = s + 16;
            for (int j = 0; j < 8; j++) {
                /* the 6-bit scale and min of sub-block j (llama.cpp's get_scale_min_k4) */
                uint8_t scj, mj;
                if (j < 4) { scj = sc[j] & 63; mj = sc[j + 4] & 63; }
                else {
                    scj = (uint8_t)((sc[j + 4] & 0xF) | ((sc[j - 4] >> 6) << 4));
                    mj = (uint8_t)((sc[j + 4] >> 4) | ((sc[j] >> 6) << 4));
                }
                sa[j] = d * scj;
                sb[j] = dmin * mj;
                for (int k = 0; k < 32; k++) v[32 * j + k] = (ql[32 * (j / 2) + k] >> (4 * (j & 1))) & 15;
            }
            for (int j = 0; j < 8; j++)
                for (int k = 0; k < 16; k++) q[16 * j + k] = (uint8_t)(v[32 * j + k] | v[32 * j + k + 16] << 4);
        } else {
            const uint8_t *ql = s, *qh = s + 128;
            const int8_t *sc = (const int8_t *)(s + 192);
            uint16_t dh;
            memcpy(&dh, s + 208, 2);
            float d = quant_f16_to_f32(dh);
            for (int h = 0; h < 2; h++)
                for (int k = 0; k < 32; k++) {
                    const uint8_t *l0 = ql + 64 * h, *h0 = qh + 32 * h;
                    v[128 * h + k] = (uint8_t)((l0[k] & 0xF) | ((h0[k] & 3) << 4));
                    v[128 * h + k + 32] = (uint8_t)((l0[k + 32] & 0xF) | (((h0[k] >> 2) & 3) << 4));
                    v[128 * h + k + 64] = (uint8_t)((l0[k] >> 4) | (((h0[k] >> 4) & 3) << 4));
                    v[128 * h + k + 96] = (uint8_t)((l0[k + 32] >> 4) | (((h0[k] >> 6) & 3) << 4));
                }
            for (int j = 0; j < 8; j++) { sa[j] = d * sc[2 * j]; sb[j] = d * sc[2 * j + 1]; }
            for (int k = 0; k < 256; k++) q[k] = (uint8_t)(int8_t)(v[k] - 32);
        }
        for (int j = 0; j < 8; j++) { memcpy(a + 8 * j, &sa[j], 4); memcpy(a + 8 * j + 4, &sb[j], 4); }
        uint64_t row = i / nb, b0 = i % nb * 8;
        for (uint64_t j = 0; j < 8; j++) {
            for (uint32_t k = 0; k < l->qs_u4; k++)
                put(qs + 16 * vk_wlayout_texel(l, units, row, b0 + j, k, l->qs_u4), q + (j * l->qs_u4 + k) * 16, 16);
            put(aux + 8 * vk_wlayout_texel(l, units, row, b0 + j, 0, 1), a + 8 * j, 8);
        }
    }
}

void vk_repack_rows(const vk_wlayout *l, const void *src_, uint64_t n_in, uint64_t rows,
                    void *qs_, void *aux_)
{
    const uint8_t *src = src_;
    uint8_t *qs = qs_;
    uint8_t *aux = aux_;
    uint64_t nsb = vk_wlayout_nsb(l, n_in);
    uint64_t qs_row = nsb * l->qs_u4 * 16;
    uint64_t aux_row = nsb * l->aux_h * 2;

    if (l->sb_elems == 32 && (l->type == GT_F32 || l->type == GT_F16 || l->type == GT_BF16)) {
        uint64_t esz = l->type == GT_F32 ? 4 : 2;
        for (uint64_t r = 0; r < rows; r++) {
            uint8_t *d = qs + r * qs_row;
            memcpy(d, src + r * n_in * esz, n_in * esz);
            memset(d + n_in * esz, 0, qs_row - n_in * esz);   /* padding to 32 values: zeros */
        }
        return;
    }
    if (l->tile_lpr) {   /* padding (units, rows of the last tile) reads as zeros */
        memset(qs, 0, vk_wlayout_qs_bytes(l, n_in, rows));
        if (aux) memset(aux, 0, vk_wlayout_aux_bytes(l, n_in, rows));
    }
    if (l->type == VK_T_Q4K_UNIT || l->type == VK_T_Q6K_UNIT) {
        repack_kquant_units(l, src, n_in, rows, qs, aux);
        return;
    }
    uint64_t units = vk_wlayout_row_units(l, n_in);
    if (l->type == VK_T_Q8_0_R8) {
        const uint8_t *s = src;
        memset(aux, 0, vk_wlayout_aux_bytes(l, n_in, rows));   /* rows past the end of the last tile: scale 0 */
        for (uint64_t r = 0; r < rows; r++)
            for (uint64_t b = 0; b < nsb; b++, s += 34) {
                put(aux + (((r / 8) * nsb + b) * 8 + r % 8) * 2, s, 2);
                for (uint32_t k = 0; k < 2; k++)
                    put(qs + 16 * vk_wlayout_texel(l, units, r, b, k, 2), s + 2 + 16 * k, 16);
            }
        return;
    }
    const quant_info *qi = quant_type_info(l->type);
    uint64_t bb = qi->block_bytes;
    bool pairs = vk_aux_texel_pairs(l->type);   /* 8 aux bytes per unit, placed like the quants */
    if (aux && !l->tile_lpr) memset(aux, 0, rows * aux_row);
    for (uint64_t r = 0; r < rows; r++) {
        for (uint64_t b = 0; b < nsb; b++) {
            const uint8_t *s = src + (r * nsb + b) * bb;
            uint8_t *q = qs + 16 * vk_wlayout_texel(l, units, r, b, 0, l->qs_u4);
            uint8_t *a = !aux ? NULL : pairs ? aux + 8 * vk_wlayout_texel(l, units, r, b, 0, 1)
                                             : aux + r * aux_row + b * l->aux_h * 2;
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
}

/* ---- variant choice ----
 * Policy, all in one place:
 *  - CPU-type devices (lavapipe): workgroups of one subgroup (8) for kernels
 *    that reduce, many rows per matrix-vector workgroup (x is reused from
 *    registers across them), matrix products reading operands straight from
 *    memory (shared memory is plain memory there and only adds copies).
 *    The measurements behind each shape: docs/bench-results.md, "Why the
 *    Vulkan kernels have their shapes".
 *  - GPUs: one or two subgroups per workgroup, subgroup reductions where the
 *    device has them (shared-memory trees otherwise), shared-memory tiles for
 *    the matrix product.
 */
static uint32_t sg_or(const vk_kcaps *c, uint32_t dflt)
{
    uint32_t s = c->subgroup_size;
    return (s >= 4 && s <= 128 && (s & (s - 1)) == 0) ? s : dflt;
}

static uint32_t clamp_wg(const vk_kcaps *c, uint32_t wg)
{
    uint32_t lim = c->max_wg_invocations < c->max_wg_size_x ? c->max_wg_invocations : c->max_wg_size_x;
    if (lim >= 1) while (wg > lim && wg > 1) wg /= 2;
    return wg;
}

bool vk_choose_kv_f16(int want, bool all_f32_weights)
{
    if (want == 16) return true;
    if (want == 32) return false;
    return !all_f32_weights;
}

bool vk_aux_texel_pairs(uint32_t type)
{
    return type == GT_Q5_0 || type == GT_Q5_1 || type == VK_T_Q4K_UNIT || type == VK_T_Q6K_UNIT;
}

uint32_t vk_aux_texel_uints(uint32_t type)
{
    return type == VK_T_Q8_0_R8 ? 4 : vk_aux_texel_pairs(type) ? 2 : 1;
}

uint32_t vk_argmax_groups(uint64_t n, uint32_t wg)
{
    uint64_t per_group = (uint64_t)(wg ? wg : 1) * 32;
    uint64_t g = (n + per_group - 1) / per_group;
    return g < 1 ? 1 : g > 256 ? 256 : (uint32_t)g;
}

uint32_t vk_matvec_max_rows(const vk_kcaps *c)
{
    (void)c;
    return 4;
}

vk_variant vk_matvec_texel(const vk_kcaps *c, vk_variant v, uint64_t qs_u4, uint64_t aux_u32)
{
    if (v.kernel == VK_K_MATVEC && c->cpu && c->subgroup_arith && v.spec[3] && qs_u4 <= c->max_texel &&
        aux_u32 <= c->max_texel)
        v.kernel = VK_K_MATVEC_TEX;
    return v;
}

/* Texel kernels written for one subgroup per workgroup (subgroupAdd over the
 * whole workgroup): CPU devices with texel buffers and subgroup arithmetic. */
static bool one_subgroup_texel(const vk_kcaps *c, const vk_variant *v)
{
    return c->cpu && c->max_texel && c->subgroup_arith && v->wg == c->subgroup_size;
}

vk_variant vk_attention_texel(const vk_kcaps *c, vk_variant v, uint64_t cache_bytes, uint64_t q_vec4s)
{
    if (v.kernel == VK_K_ATTENTION && one_subgroup_texel(c, &v) && v.spec[3] && cache_bytes % 16 == 0 &&
        cache_bytes / 16 <= c->max_texel && q_vec4s <= c->max_texel)
        v.kernel = VK_K_ATTENTION_TEX;
    return v;
}

vk_variant vk_argmax_texel(const vk_kcaps *c, vk_variant v, uint64_t off)
{
    if (v.kernel == VK_K_ARGMAX && c->cpu && c->max_texel && off % 4 == 0) v.kernel = VK_K_ARGMAX_TEX;
    return v;
}

vk_variant vk_rmsnorm_texel(const vk_kcaps *c, vk_variant v, uint32_t cols)
{
    if (v.kernel == VK_K_RMSNORM && one_subgroup_texel(c, &v) && cols % 4 == 0)
        v.kernel = VK_K_RMSNORM_TEX;
    return v;
}

vk_variant vk_qk_rope_texel(const vk_kcaps *c, vk_variant v, uint32_t head_dim)
{
    if (v.kernel == VK_K_QK_ROPE && one_subgroup_texel(c, &v) && head_dim % 8 == 0)
        v.kernel = VK_K_QK_ROPE_TEX;
    return v;
}

vk_variant vk_matmat_texel(const vk_kcaps *c, vk_variant v, uint64_t qs_u4, uint64_t aux_u32, uint64_t x_vec4s,
                           uint32_t n_in, uint32_t x_stride)
{
    if (v.kernel == VK_K_MATMAT && c->cpu && !v.spec[4] && qs_u4 <= c->max_texel && aux_u32 <= c->max_texel &&
        x_vec4s <= c->max_texel && n_in % 32 == 0 && x_stride % 4 == 0)
        v.kernel = VK_K_MATMAT_TEX;
    return v;
}

/* Lanes that split one row's 32-value units in the matrix-vector kernel
 * (spec 5, see matvec.glsl): the largest of wg, wg/2, .. 1 that leaves the
 * fewest lanes idle in the last round over a row's units. */
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

/* The matrix-vector shape on CPU devices whose workgroup is one subgroup of
 * wg lanes: lanes per row (spec 5) and rows per workgroup (spec 2); also the
 * tile shape of tiled layouts (dq_tile_lpr in dequant.glsl mirrors it). */
static void matvec_cpu_shape(uint32_t wg, uint32_t n_in, uint32_t *lpr, uint32_t *nr)
{
    *lpr = vk_matvec_lanes_per_row(wg, n_in);
    uint32_t r = 16 * (wg / *lpr);   /* 16 rows per row group, 32 to 64 per workgroup (see below) */
    *nr = r < 32 ? 32 : r > 64 ? 64 : r;
}

vk_variant vk_choose_matmul(const vk_kcaps *c, uint32_t type, uint32_t rows, uint32_t n_in,
                            uint32_t n_out, bool geglu)
{
    (void)n_out;
    vk_variant v = {0};
    if (geglu || rows <= vk_matvec_max_rows(c)) {
        uint32_t wg, nr;
        /* CPU devices: 16-32 rows per row group (below), 32-64 per workgroup:
         * enough rows to reuse x from registers, few enough that the unrolled
         * row loop keeps pipeline builds short. */
        if (c->cpu) { wg = sg_or(c, 8); nr = 32; }
        else        { wg = sg_or(c, 32); if (wg < 32) wg = 32; nr = 2; }
        wg = clamp_wg(c, wg);
        bool sg = c->subgroup_arith && c->subgroup_size > 0;
        v.kernel = VK_K_MATVEC;
        v.spec[0] = wg; v.spec[1] = type; v.spec[2] = nr; v.spec[3] = sg; v.spec[4] = geglu;
        /* Row groups (fewer lanes per row, so short rows keep every lane
         * busy) need the workgroup to be one subgroup: one subgroupAdd per
         * group. */
        if (c->cpu && sg && wg == c->subgroup_size) {
            /* 16 rows per row group (the shader unrolls its loop over them),
             * 32 to 64 per workgroup: one row group keeps 32 rows. */
            matvec_cpu_shape(wg, n_in, &v.spec[5], &nr);
            v.spec[2] = nr;
        }
        v.wg = wg; v.rows_per_wg = nr; v.cols_per_wg = 1;
        return v;
    }
    /* Matrix product: tile BM weight rows x BN input rows; each invocation owns
     * TM x TN outputs, TN = BM*BN / (wg*TM) (see matmat.comp). Halving wg
     * halves BN to keep that. */
    uint32_t wg, bm, bn, shared, tm;
    /* CPU devices: a 64 x 16 tile, 16 x 8 outputs per invocation. The tile
     * loop is unrolled, so its code grows with TM x TN and so do pipeline
     * builds (the wait before a fresh machine's first reply): this is the
     * largest tile whose builds stay short; larger ones prefill a little
     * faster. */
    if (c->cpu) { wg = 8;   bm = 64;  bn = 16; shared = 0; tm = 16; }
    else        { wg = 128; bm = 64; bn = 32; shared = 1; tm = 4; }
    if (shared && (bm + bn) * 33 * 4 > c->max_shared) shared = 0;
    while (wg > 4 && clamp_wg(c, wg) < wg) { wg /= 2; bn /= 2; }
    v.kernel = VK_K_MATMAT;
    v.spec[0] = wg; v.spec[1] = type; v.spec[2] = bm; v.spec[3] = bn; v.spec[4] = shared; v.spec[5] = tm;
    v.wg = wg; v.rows_per_wg = bm; v.cols_per_wg = bn;
    return v;
}

vk_variant vk_choose(const vk_kcaps *c, enum vk_kernel k, uint32_t type, bool kv_f16)
{
    vk_variant v = { .kernel = k };
    uint32_t wg;
    switch (k) {
    case VK_K_EMBED:     wg = 64; v.spec[1] = type; break;
    case VK_K_RMSNORM:   wg = c->cpu ? sg_or(c, 8) : 256; break;
    case VK_K_ROPE:      wg = 64; break;
    case VK_K_KV_STORE:  wg = 64; v.spec[1] = kv_f16; break;
    case VK_K_ATTENTION:
        wg = c->cpu ? sg_or(c, 8) : 64;
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
    case VK_K_QK_ROPE:   wg = c->cpu ? sg_or(c, 8) : 64; v.spec[1] = kv_f16; v.spec[2] = type != 0; break;
    case VK_K_ELTWISE:   wg = 64; break;
    case VK_K_ARGMAX:    wg = c->cpu ? sg_or(c, 8) : 256; break;
    default:             wg = 64; break;
    }
    wg = clamp_wg(c, wg);
    v.spec[0] = wg;
    v.wg = wg;
    return v;
}
