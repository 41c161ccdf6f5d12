/* test_vk_kernels: the GPU-free parts of the Vulkan backend: kernel-variant
 * choice for made-up devices, the repacked weight layout, the pipeline-cache
 * header check, the device ranking. No Vulkan device is needed. */
#include <string.h>

#include "model/quant.h"
#include "tests/test.h"
#include "vk/vk_device.h"
#include "vk/vk_kernels.h"
#include "vk/vk_pipe.h"

static const vk_kcaps lavapipe = { .cpu = true, .subgroup_size = 8, .subgroup_arith = true,
                                   .max_wg_invocations = 1024, .max_wg_size_x = 1024, .max_shared = 32768 };
static const vk_kcaps nvidia = { .cpu = false, .subgroup_size = 32, .subgroup_arith = true,
                                 .max_wg_invocations = 1024, .max_wg_size_x = 1024, .max_shared = 49152 };
static const vk_kcaps old_gpu = { .cpu = false, .subgroup_size = 64, .subgroup_arith = false,
                                  .max_wg_invocations = 256, .max_wg_size_x = 256, .max_shared = 16384 };
static const vk_kcaps tiny = { .cpu = false, .subgroup_size = 0, .subgroup_arith = false,
                               .max_wg_invocations = 64, .max_wg_size_x = 64, .max_shared = 8192 };

/* Every matmat variant must tile exactly: TN = BM*BN/(WG*TM) whole, the
 * invocation grid (BM/TM) x (BN/TN) = WG, and shared tiles within limits. */
static void check_matmat(const vk_kcaps *c, const char *name)
{
    vk_variant v = vk_choose_matmul(c, GT_Q4_K, 64, 2048, 8192, false);
    CHECK(v.kernel == VK_K_MATMAT, "%s: 64 rows use the tiled kernel", name);
    uint32_t wg = v.spec[0], bm = v.spec[2], bn = v.spec[3], sh = v.spec[4], tm = v.spec[5];
    CHECK(wg == v.wg && bm == v.rows_per_wg && bn == v.cols_per_wg, "%s: variant fields mirror spec", name);
    CHECK(wg <= c->max_wg_invocations && wg <= c->max_wg_size_x, "%s: wg %u within limits", name, wg);
    CHECK(tm && bm % tm == 0 && (bm * bn) % (wg * tm) == 0, "%s: tiles %ux%u, wg %u, tm %u", name, bm, bn, wg, tm);
    uint32_t tn = bm * bn / (wg * tm);
    CHECK(tn && bn % tn == 0 && (bm / tm) * (bn / tn) == wg, "%s: invocation grid covers the tile", name);
    CHECK(!sh || (bm + bn) * 33 * 4 <= c->max_shared, "%s: shared tiles fit", name);
    CHECK(v.spec[1] == GT_Q4_K, "%s: type in spec 1", name);
}

static void test_choice(void)
{
    /* lavapipe: one subgroup per workgroup, 8 rows, no shared-memory tiles */
    vk_variant v = vk_choose_matmul(&lavapipe, GT_Q8_0, 1, 1152, 4608, false);
    CHECK(v.kernel == VK_K_MATVEC && v.wg == 8 && v.rows_per_wg == 32 && v.spec[2] == 32,
          "lavapipe matvec (2 row groups of 4 lanes): wg %u rows %u", v.wg, v.rows_per_wg);
    CHECK(vk_choose_matmul(&lavapipe, GT_Q4_K, 1, 640, 2048, true).rows_per_wg == 32, "lavapipe geglu: 32 rows");
    CHECK(vk_choose_matmul(&lavapipe, GT_Q4_K, 1, 2048, 640, false).rows_per_wg == 32, "one row group: 32 rows");
    CHECK(vk_choose_matmul(&lavapipe, GT_F32, 1, 64, 640, false).rows_per_wg == 64, "4 row groups of 2 lanes: 64");
    CHECK(vk_choose_matmul(&nvidia, GT_Q8_0, 1, 640, 262144, false).rows_per_wg == 2, "GPUs: 2 rows");
    CHECK(v.spec[3] == 1 && v.spec[4] == 0, "lavapipe matvec: subgroup reduction, no geglu");
    /* lanes per row: no idle lanes in the last round over a row's units */
    CHECK(v.spec[5] == 4, "lavapipe n_in 1152 (36 units): 4 lanes per row, got %u", v.spec[5]);
    CHECK(vk_choose_matmul(&lavapipe, GT_Q8_0, 1, 640, 262144, false).spec[5] == 4, "n_in 640 (20 units): 4 lanes");
    CHECK(vk_choose_matmul(&lavapipe, GT_Q6_K, 1, 2048, 640, false).spec[5] == 8, "n_in 2048 (64 units): 8 lanes");
    CHECK(vk_choose_matmul(&nvidia, GT_Q8_0, 1, 640, 262144, false).spec[5] == 0, "GPUs: one row group");
    CHECK(vk_matvec_lanes_per_row(8, 320) == 2 && vk_matvec_lanes_per_row(8, 160) == 1 &&
          vk_matvec_lanes_per_row(8, 256) == 8 && vk_matvec_lanes_per_row(8, 33) == 2 &&
          vk_matvec_lanes_per_row(8, 32) == 1,
          "lanes per row: 10 units -> 2, 5 -> 1, 8 -> 8, 2 -> 2, 1 -> 1");
    v = vk_choose_matmul(&lavapipe, GT_Q8_0, 64, 1152, 4608, false);
    CHECK(v.kernel == VK_K_MATMAT && v.spec[4] == 0, "lavapipe prefill: direct loads (shared %u)", v.spec[4]);
    /* a GPU: shared-memory tiles, subgroup-wide matvec */
    v = vk_choose_matmul(&nvidia, GT_Q4_K, 1, 2048, 8192, false);
    CHECK(v.kernel == VK_K_MATVEC && v.wg == 32 && v.spec[3] == 1, "nvidia matvec: wg %u sg %u", v.wg, v.spec[3]);
    v = vk_choose_matmul(&nvidia, GT_Q4_K, 512, 2048, 8192, false);
    CHECK(v.kernel == VK_K_MATMAT && v.spec[4] == 1, "nvidia prefill: shared tiles");
    /* no subgroup arithmetic: shared-memory reduction variant */
    v = vk_choose_matmul(&old_gpu, GT_F16, 1, 4096, 4096, false);
    CHECK(v.kernel == VK_K_MATVEC && v.spec[3] == 0, "old gpu matvec without subgroups");
    /* geglu always takes the fused matrix-vector kernel */
    v = vk_choose_matmul(&nvidia, GT_Q8_0, 2, 2048, 8192, true);
    CHECK(v.kernel == VK_K_MATVEC && v.spec[4] == 1, "geglu fused");
    /* threshold between the kernels */
    uint32_t mr = vk_matvec_max_rows(&lavapipe);
    CHECK(vk_choose_matmul(&lavapipe, GT_F32, mr, 64, 64, false).kernel == VK_K_MATVEC, "rows == max: matvec");
    CHECK(vk_choose_matmul(&lavapipe, GT_F32, mr + 1, 64, 64, false).kernel == VK_K_MATMAT, "rows > max: matmat");

    check_matmat(&lavapipe, "lavapipe");
    check_matmat(&nvidia, "nvidia");
    check_matmat(&old_gpu, "old gpu");
    check_matmat(&tiny, "tiny");

    /* workgroup sizes are powers of two (tree reductions) within limits */
    const vk_kcaps *all[] = { &lavapipe, &nvidia, &old_gpu, &tiny };
    for (int d = 0; d < 4; d++)
        for (int k = 0; k < VK_K_COUNT; k++) {
            vk_variant x = k == VK_K_MATVEC || k == VK_K_MATMAT
                           ? vk_choose_matmul(all[d], GT_Q8_0, k == VK_K_MATVEC ? 1 : 100, 256, 256, false)
                           : vk_choose((const vk_kcaps *)all[d], (enum vk_kernel)k, GT_Q8_0, true);
            CHECK(x.wg && (x.wg & (x.wg - 1)) == 0 && x.wg <= all[d]->max_wg_invocations,
                  "device %d kernel %d: wg %u", d, k, x.wg);
            CHECK(x.spec[0] == x.wg, "spec 0 is the workgroup size");
        }
    CHECK(vk_choose(&nvidia, VK_K_ATTENTION, 0, false).spec[1] == 0, "attention f32 KV variant");
    vk_variant a0 = vk_choose(&lavapipe, VK_K_ATTENTION, 0, true), a128 = vk_choose(&lavapipe, VK_K_ATTENTION, 128, true);
    vk_variant a48 = vk_choose(&lavapipe, VK_K_ATTENTION, 48, true), a10 = vk_choose(&lavapipe, VK_K_ATTENTION, 10, true);
    CHECK(a0.spec[2] == VK_ATTN_MAX_HEAD_DIM && a0.spec[3] == 0, "attention, head_dim unknown: max size, 4-byte loads");
    CHECK(a128.spec[2] == 128 && a128.spec[3] == 1, "attention hd 128: sized 128, 16-byte loads");
    CHECK(a48.spec[2] == 64 && a48.spec[3] == 1, "attention hd 48: sized 64 (power of two), 16-byte loads");
    CHECK(a10.spec[2] == 16 && a10.spec[3] == 0, "attention hd 10: sized 16, 4-byte loads");
    /* Texel-buffer weights: CPU devices with subgroup arithmetic, pieces within maxTexelBufferElements. */
    vk_kcaps lp_tex = lavapipe, lp_small = lavapipe;
    lp_tex.max_texel = 1u << 27;
    lp_small.max_texel = 1000;
    vk_variant mv = vk_choose_matmul(&lp_tex, GT_Q8_0, 1, 1152, 4608, false);
    CHECK(vk_matvec_texel(&lp_tex, mv, 4608 * 72, 4608 * 18).kernel == VK_K_MATVEC_TEX, "lavapipe: texel matvec");
    CHECK(vk_matvec_texel(&lp_small, mv, 4608 * 72, 4608 * 18).kernel == VK_K_MATVEC, "over maxTexelBufferElements");
    CHECK(vk_matvec_texel(&lp_tex, vk_choose_matmul(&lp_tex, GT_Q8_0, 64, 1152, 4608, false), 10, 10).kernel ==
          VK_K_MATMAT, "matrix products stay on storage buffers");
    vk_kcaps gpu_tex = nvidia;
    gpu_tex.max_texel = 1u << 27;
    CHECK(vk_matvec_texel(&gpu_tex, vk_choose_matmul(&gpu_tex, GT_Q8_0, 1, 1152, 4608, false), 10, 10).kernel ==
          VK_K_MATVEC, "GPUs keep storage buffers");
    vk_variant mm = vk_choose_matmul(&lp_tex, GT_Q8_0, 64, 1152, 4608, false);
    CHECK(vk_matmat_texel(&lp_tex, mm, 1000, 100, 1000, 1152, 1152).kernel == VK_K_MATMAT_TEX, "lavapipe: texel matmat");
    CHECK(vk_matmat_texel(&lp_tex, mm, 1000, 100, 1000, 1150, 1152).kernel == VK_K_MATMAT, "n_in %% 32 != 0: storage");
    CHECK(vk_matmat_texel(&lp_tex, mm, 1000, 100, 1000, 1152, 1154).kernel == VK_K_MATMAT, "unaligned x rows: storage");
    CHECK(vk_matmat_texel(&lp_small, mm, 1000, 100, 2000, 1152, 1152).kernel == VK_K_MATMAT, "x over the texel limit");
    CHECK(vk_matmat_texel(&gpu_tex, vk_choose_matmul(&gpu_tex, GT_Q8_0, 64, 1152, 4608, false), 10, 10, 10, 1152,
                          1152).kernel == VK_K_MATMAT, "GPUs: shared-memory tiles on storage buffers");
    /* Attention through texel buffers (lanes split the dims): CPU devices, head_dim % 8 == 0. */
    vk_variant at = vk_choose(&lp_tex, VK_K_ATTENTION, 256, true);
    CHECK(vk_attention_texel(&lp_tex, at, 1u << 20, 1000).kernel == VK_K_ATTENTION_TEX, "lavapipe: texel attention");
    CHECK(vk_attention_texel(&lp_tex, vk_choose(&lp_tex, VK_K_ATTENTION, 10, true), 1u << 20, 1000).kernel ==
          VK_K_ATTENTION, "hd 10: storage-buffer attention");
    CHECK(vk_attention_texel(&lp_small, at, 1u << 20, 100).kernel == VK_K_ATTENTION, "cache over the texel limit");
    CHECK(vk_attention_texel(&lp_small, at, 1600, 1001).kernel == VK_K_ATTENTION, "q over the texel limit");
    CHECK(vk_attention_texel(&lp_tex, at, (1u << 20) + 8, 1000).kernel == VK_K_ATTENTION, "cache not in 16-byte units");
    CHECK(vk_attention_texel(&gpu_tex, vk_choose(&gpu_tex, VK_K_ATTENTION, 256, true), 1u << 20, 1000).kernel ==
          VK_K_ATTENTION, "GPUs: one key per invocation");
    vk_kcaps lp_nosg = lp_tex;
    lp_nosg.subgroup_arith = false;
    CHECK(vk_attention_texel(&lp_nosg, vk_choose(&lp_nosg, VK_K_ATTENTION, 256, true), 1u << 20, 1000).kernel ==
          VK_K_ATTENTION, "no subgroup arithmetic: storage-buffer attention");
    /* argmax and RMSNorm through RGBA32F views: CPU devices, 16-byte aligned. */
    vk_variant am = vk_choose(&lp_tex, VK_K_ARGMAX, 0, false);
    CHECK(vk_argmax_texel(&lp_tex, am, 1000).kernel == VK_K_ARGMAX_TEX, "lavapipe: texel argmax");
    CHECK(vk_argmax_texel(&lp_tex, am, 1001).kernel == VK_K_ARGMAX, "argmax at an unaligned offset: storage");
    CHECK(vk_argmax_texel(&lavapipe, am, 0).kernel == VK_K_ARGMAX, "no texel buffers: storage argmax");
    CHECK(vk_argmax_texel(&gpu_tex, vk_choose(&gpu_tex, VK_K_ARGMAX, 0, false), 0).kernel == VK_K_ARGMAX,
          "GPUs: storage argmax");
    vk_variant rn = vk_choose(&lp_tex, VK_K_RMSNORM, 0, false);
    CHECK(vk_rmsnorm_texel(&lp_tex, rn, 640).kernel == VK_K_RMSNORM_TEX, "lavapipe: texel rmsnorm");
    CHECK(vk_rmsnorm_texel(&lp_tex, rn, 33).kernel == VK_K_RMSNORM, "cols %% 4 != 0: storage rmsnorm");
    CHECK(vk_rmsnorm_texel(&lp_nosg, vk_choose(&lp_nosg, VK_K_RMSNORM, 0, false), 640).kernel == VK_K_RMSNORM,
          "no subgroup arithmetic: storage rmsnorm");
    CHECK(vk_rmsnorm_texel(&gpu_tex, vk_choose(&gpu_tex, VK_K_RMSNORM, 0, false), 640).kernel == VK_K_RMSNORM,
          "GPUs: storage rmsnorm");
    vk_variant qk = vk_choose(&lp_tex, VK_K_QK_ROPE, 1, true);
    CHECK(vk_qk_rope_texel(&lp_tex, qk, 256).kernel == VK_K_QK_ROPE_TEX, "lavapipe: texel qk_rope");
    CHECK(vk_qk_rope_texel(&lp_tex, qk, 12).kernel == VK_K_QK_ROPE, "head_dim %% 8 != 0: storage qk_rope");
    CHECK(vk_qk_rope_texel(&gpu_tex, vk_choose(&gpu_tex, VK_K_QK_ROPE, 1, true), 256).kernel == VK_K_QK_ROPE,
          "GPUs: storage qk_rope");
    CHECK(vk_choose(&nvidia, VK_K_KV_STORE, 0, true).spec[1] == 1, "kv_store f16 variant");
    CHECK(vk_aux_texel_pairs(GT_Q5_0) && vk_aux_texel_pairs(GT_Q5_1) && !vk_aux_texel_pairs(GT_Q8_0) &&
          !vk_aux_texel_pairs(GT_Q6_K) && !vk_aux_texel_pairs(GT_Q4_1), "aux texel pairs: Q5_0 and Q5_1 only");
    vk_variant qr = vk_choose(&lavapipe, VK_K_QK_ROPE, 1, false), qg = vk_choose(&nvidia, VK_K_QK_ROPE, 0, true);
    CHECK(qr.wg == 8 && qr.spec[1] == 0 && qr.spec[2] == 1, "qk_rope on lavapipe: one subgroup, f32 cache, head norms");
    CHECK(qg.wg == 64 && qg.spec[1] == 1 && qg.spec[2] == 0, "qk_rope on a GPU: 64 wide, f16 cache, no norms");
    CHECK(vk_choose(&lavapipe, VK_K_EMBED, GT_Q6_K, true).spec[1] == GT_Q6_K, "embed type");
    CHECK(vk_choose_kv_f16(0, false) && !vk_choose_kv_f16(0, true), "auto KV: f16 unless all weights are F32");
    CHECK(vk_choose_kv_f16(16, true) && !vk_choose_kv_f16(32, false), "forced KV precision");
}

/* Sizes of the repacked layout and the 16-byte alignment of every row. */
static void test_layout(void)
{
    const uint32_t types[] = { GT_F32, GT_F16, GT_BF16, GT_Q8_0, GT_Q4_0, GT_Q4_1, GT_Q5_0, GT_Q5_1,
                               GT_Q4_K, GT_Q5_K, GT_Q6_K };
    for (int i = 0; i < 11; i++) {
        vk_wlayout l;
        gc_err err = {0};
        CHECK(vk_wlayout_of(types[i], &l, &err) == 0, "%s", err.msg);
        const quant_info *qi = quant_type_info(types[i]);
        uint64_t n = l.sb_elems * 3;
        uint64_t rb;
        quant_row_bytes(types[i], n, &rb, &err);
        uint64_t qs = vk_wlayout_qs_bytes(&l, n, 1), aux = vk_wlayout_aux_bytes(&l, n, 1);
        CHECK(qs % 16 == 0, "%s: rows of quants are 16-byte aligned", qi->name);
        /* the same bytes as the file, plus 2 bytes per block of padding for Q5_0 (22 -> 24) */
        uint64_t pad = types[i] == GT_Q5_0 ? 2 * n / qi->block_elems : 0;
        CHECK(qs + aux >= rb && qs + aux <= rb + pad + 3, "%s: %llu + %llu bytes for %llu in the file", qi->name,
              (unsigned long long)qs, (unsigned long long)aux, (unsigned long long)rb);
    }
    vk_wlayout l;
    gc_err err = {0};
    CHECK(vk_wlayout_of(GT_Q2_K, &l, &err) != 0, "Q2_K is refused");
    CHECK_CONTAINS(err.msg, "Q2_K");
    /* float rows are padded to 32 values with zeros */
    CHECK(vk_wlayout_of(GT_F32, &l, &err) == 0, "%s", err.msg);
    float src[2 * 40], dst[2 * 64];
    for (int i = 0; i < 80; i++) src[i] = (float)(i + 1);
    memset(dst, 0xff, sizeof dst);
    vk_repack_rows(&l, src, 40, 2, dst, NULL);
    CHECK(dst[0] == 1 && dst[39] == 40 && dst[40] == 0 && dst[63] == 0 && dst[64] == 41 && dst[103] == 80,
          "F32 rows padded: %g %g %g %g %g %g", dst[0], dst[39], dst[40], dst[63], dst[64], dst[103]);
    /* Q8_0: scales go to aux, quants to 32-byte runs */
    CHECK(vk_wlayout_of(GT_Q8_0, &l, &err) == 0, "%s", err.msg);
    uint8_t blk[2 * 34], q[64], a[4];
    for (int i = 0; i < 68; i++) blk[i] = (uint8_t)i;
    vk_repack_rows(&l, blk, 64, 1, q, a);
    CHECK(a[0] == 0 && a[1] == 1 && a[2] == 34 && a[3] == 35, "Q8_0 scales: %d %d %d %d", a[0], a[1], a[2], a[3]);
    CHECK(q[0] == 2 && q[31] == 33 && q[32] == 36 && q[63] == 67, "Q8_0 quants");
}

/* Q8_0 on CPU devices (VK_T_Q8_0_R8): quants as Q8_0, the scales of every 8
 * rows side by side, the last tile padded with zero scales; GPUs keep Q8_0.
 * 10 rows of 2 blocks: a whole tile and a partial one. */
static void test_q8_rows8_layout(void)
{
    vk_wlayout l;
    gc_err err = {0};
    CHECK(vk_wlayout_for(&nvidia, GT_Q8_0, &l, &err) == 0 && l.type == GT_Q8_0, "GPUs keep Q8_0");
    CHECK(vk_wlayout_for(&lavapipe, GT_Q8_0, &l, &err) == 0 && l.type == VK_T_Q8_0_R8 && l.src_type == GT_Q8_0,
          "lavapipe: Q8_0 with 8-row scale tiles");
    CHECK(vk_aux_texel_uints(l.type) == 4 && vk_aux_texel_uints(GT_Q8_0) == 1 && vk_aux_texel_uints(GT_Q5_0) == 2,
          "aux texel widths");
    const uint64_t rows = 10, nsb = 2, n_in = 64;
    CHECK(vk_wlayout_aux_bytes(&l, n_in, rows) == 16 * nsb * 2 && vk_wlayout_aux_bytes(&l, n_in, 8) == 8 * nsb * 2,
          "aux bytes: whole tiles (%llu)", (unsigned long long)vk_wlayout_aux_bytes(&l, n_in, rows));
    uint8_t src[10 * 2 * 34], qs[10 * 64], aux[64];
    for (uint64_t i = 0; i < sizeof src; i++) src[i] = (uint8_t)(i * 7 + 3);
    memset(aux, 0xee, sizeof aux);
    vk_repack_rows(&l, src, n_in, rows, qs, aux);
    int bad = 0;
    for (uint64_t r = 0; r < 16; r++)
        for (uint64_t b = 0; b < nsb; b++) {
            const uint8_t *a = aux + (((r / 8) * nsb + b) * 8 + r % 8) * 2;
            const uint8_t *blk = src + (r * nsb + b) * 34;
            bool ok = r < rows ? a[0] == blk[0] && a[1] == blk[1] && !memcmp(qs + r * 64 + b * 32, blk + 2, 32)
                               : a[0] == 0 && a[1] == 0;
            if (!ok && bad++ < 3) CHECK(0, "Q8_0_R8 row %llu block %llu", (unsigned long long)r, (unsigned long long)b);
        }
    CHECK(bad == 0, "Q8_0_R8: %d blocks misplaced", bad);
}

/* Value i of a row in a K-quant unit layout, decoded the way the shaders do
 * (dequant.glsl). */
static float unit_value(const vk_wlayout *l, const uint8_t *qs, const uint8_t *aux, uint64_t i)
{
    uint64_t u = i / 32, k = i % 32;
    float a[2];
    memcpy(a, aux + 8 * u, 8);
    if (l->type == VK_T_Q4K_UNIT) {
        uint8_t b = qs[16 * u + k % 16];
        return (float)(k < 16 ? b & 15 : b >> 4) * a[0] - a[1];
    }
    return a[k >= 16] * (float)(int8_t)qs[32 * u + k];
}

/* Q4_K / Q6_K in the unit layouts of CPU devices: bit-exact with the CPU
 * dequantization of the file's blocks (random blocks: random scales, mins and
 * quants); native blocks on GPUs. */
static void test_unit_layouts(void)
{
    const uint32_t types[2] = { GT_Q4_K, GT_Q6_K };
    for (int ti = 0; ti < 2; ti++) {
        vk_wlayout l;
        gc_err err = {0};
        CHECK(vk_wlayout_for(&nvidia, types[ti], &l, &err) == 0 && l.type == types[ti], "GPUs keep %u", types[ti]);
        CHECK(vk_wlayout_for(&lavapipe, types[ti], &l, &err) == 0, "%s", err.msg);
        CHECK(l.type == (ti ? VK_T_Q6K_UNIT : VK_T_Q4K_UNIT) && l.src_type == types[ti] && l.sb_elems == 32,
              "lavapipe: unit layout for %u", types[ti]);
        CHECK(vk_aux_texel_pairs(l.type), "unit scales read as pairs");
        const uint64_t n_in = 512, rows = 3;
        uint64_t rb;
        quant_row_bytes(types[ti], n_in, &rb, &err);
        uint8_t *src = malloc(rb * rows);
        for (uint64_t i = 0; i < rb * rows; i++) src[i] = (uint8_t)test_rand_u64();
        for (uint64_t b = 0; b < rb * rows / (ti ? 210 : 144); b++) {   /* finite f16 scales */
            uint8_t *blk = src + b * (ti ? 210 : 144);
            uint16_t h1 = quant_f32_to_f16(0.01f * test_rand_f()), h2 = quant_f32_to_f16(0.01f * test_rand_f());
            if (ti) memcpy(blk + 208, &h1, 2);
            else { memcpy(blk, &h1, 2); memcpy(blk + 2, &h2, 2); }
        }
        uint64_t qsb = vk_wlayout_qs_bytes(&l, n_in, rows), auxb = vk_wlayout_aux_bytes(&l, n_in, rows);
        CHECK(qsb == rows * n_in / 32 * (ti ? 32 : 16) && auxb == rows * n_in / 32 * 8, "unit sizes %llu %llu",
              (unsigned long long)qsb, (unsigned long long)auxb);
        uint8_t *qs = malloc(qsb), *aux = malloc(auxb);
        vk_repack_rows(&l, src, n_in, rows, qs, aux);
        float want[512];
        int bad = 0;
        for (uint64_t r = 0; r < rows; r++) {
            quant_dequant_row(types[ti], src + r * rb, want, n_in);
            for (uint64_t i = 0; i < n_in; i++) {
                float got = unit_value(&l, qs + r * qsb / rows, aux + r * auxb / rows, i);
                if (memcmp(&got, &want[i], 4) && bad++ < 3)
                    CHECK(0, "%u row %llu value %llu: %g, want %g", types[ti], (unsigned long long)r,
                          (unsigned long long)i, got, want[i]);
            }
        }
        CHECK(bad == 0, "%u: %d values differ", types[ti], bad);
        free(src);
        free(qs);
        free(aux);
    }
}

/* Tiled layouts (VK_T_TILED): which devices and types tile, the tile shape
 * equal to the matrix-vector kernel's, the fetch order (a fetch's 8 lanes read
 * 8 adjacent texels and each fetch follows the previous one), every unit
 * placed once inside the buffer, and repacked bytes where the index says with
 * zero padding (units past a row's end, rows past the last tile). */
static void test_tiled_layout(void)
{
    static const vk_kcaps cpu16 = { .cpu = true, .subgroup_size = 16, .subgroup_arith = true,
                                    .max_wg_invocations = 1024, .max_wg_size_x = 1024, .max_shared = 32768 };
    static const vk_kcaps cpu_noarith = { .cpu = true, .subgroup_size = 8, .subgroup_arith = false,
                                          .max_wg_invocations = 1024, .max_wg_size_x = 1024, .max_shared = 32768 };
    gc_err err = {0};
    vk_wlayout l;
    const uint32_t tiled_types[] = { GT_Q8_0, GT_Q4_0, GT_Q4_1, GT_Q5_0, GT_Q5_1, GT_Q4_K, GT_Q6_K };
    for (int i = 0; i < 7; i++) {
        CHECK(vk_wlayout_for(&lavapipe, tiled_types[i], &l, &err) == 0, "%s", err.msg);
        vk_wlayout_tile(&lavapipe, &l, 640);
        CHECK(l.tile_lpr == 4 && l.tile_ng == 2 && l.tile_nr == 32 && vk_wlayout_ktype(&l) == (l.type | VK_T_TILED) &&
              vk_wlayout_row_tile(&l) == 32, "type %u tiled on lavapipe (%u %u %u)", tiled_types[i], l.tile_lpr,
              l.tile_ng, l.tile_nr);
    }
    const struct { const vk_kcaps *c; uint32_t type; const char *what; } untiled[] = {
        { &lavapipe, GT_F32, "F32" }, { &lavapipe, GT_F16, "F16" }, { &nvidia, GT_Q8_0, "GPU Q8_0" },
        { &nvidia, GT_Q5_0, "GPU Q5_0" }, { &cpu16, GT_Q5_0, "16-lane CPU" }, { &cpu_noarith, GT_Q5_0, "no subgroup sums" },
    };
    for (int i = 0; i < 6; i++) {
        CHECK(vk_wlayout_for(untiled[i].c, untiled[i].type, &l, &err) == 0, "%s", err.msg);
        vk_wlayout_tile(untiled[i].c, &l, 640);
        CHECK(l.tile_lpr == 0 && vk_wlayout_ktype(&l) == l.type, "%s: row-major", untiled[i].what);
    }

    const uint32_t n_ins[] = { 32, 96, 288, 640, 1024, 1152, 2304 };
    for (int ni = 0; ni < 7; ni++) {
        uint32_t n_in = n_ins[ni];
        CHECK(vk_wlayout_for(&lavapipe, GT_Q8_0, &l, &err) == 0, "%s", err.msg);
        vk_wlayout_tile(&lavapipe, &l, n_in);
        vk_variant v = vk_choose_matmul(&lavapipe, vk_wlayout_ktype(&l), 1, n_in, 4096, false);
        CHECK(v.kernel == VK_K_MATVEC && v.wg == VK_TILE_LANES && v.spec[5] == l.tile_lpr && v.spec[2] == l.tile_nr &&
              v.spec[1] == (VK_T_Q8_0_R8 | VK_T_TILED), "n_in %u: tile %u/%u = kernel %u/%u", n_in, l.tile_lpr,
              l.tile_nr, v.spec[5], v.spec[2]);
        uint64_t nsb = vk_wlayout_nsb(&l, n_in), units = vk_wlayout_row_units(&l, n_in);
        uint32_t nr = l.tile_nr, ng = l.tile_ng, lpr = l.tile_lpr;
        for (uint32_t per = 1; per <= 2; per++) {
            uint64_t rows = 2 * nr + 5, total = 3 * nr * units * per;
            uint8_t *seen = calloc(total, 1);
            int bad = 0;
            for (uint64_t r = 0; r < rows; r++)
                for (uint64_t b = 0; b < nsb; b++)
                    for (uint32_t k = 0; k < per; k++) {
                        uint64_t t = vk_wlayout_texel(&l, units, r, b, k, per);
                        if ((t >= total || seen[t]++) && bad++ < 3)
                            CHECK(0, "n_in %u: texel %llu placed twice or outside", n_in, (unsigned long long)t);
                    }
            /* fetch order: tile, unit round i, row of the group, texel k; lanes t = grp * lpr + lane */
            uint64_t next = 0;
            for (uint64_t tile = 0; tile < 3; tile++)
                for (uint64_t i = 0; i < units / lpr; i++)
                    for (uint64_t r = 0; r < nr / ng; r++)
                        for (uint32_t k = 0; k < per; k++, next += VK_TILE_LANES)
                            for (uint32_t t = 0; t < VK_TILE_LANES; t++) {
                                uint64_t row = tile * nr + r * ng + t / lpr, b = i * lpr + t % lpr;
                                if (vk_wlayout_texel(&l, units, row, b, k, per) != next + t && bad++ < 3)
                                    CHECK(0, "n_in %u: fetch order at row %llu unit %llu", n_in,
                                          (unsigned long long)row, (unsigned long long)b);
                            }
            CHECK(bad == 0 && next == total, "n_in %u per %u: %d misplaced", n_in, per, bad);
            free(seen);
        }
    }

    /* Q5_0 with 9 units per row (one lane per row, 8 row groups, 64-row
     * tiles): quants and scale pairs placed by the index, padding zero. */
    CHECK(vk_wlayout_for(&lavapipe, GT_Q5_0, &l, &err) == 0, "%s", err.msg);
    const uint64_t n_in = 288, nsb = 9, rows = 67;
    vk_wlayout_tile(&lavapipe, &l, n_in);
    CHECK(l.tile_lpr == 1 && l.tile_nr == 64, "288 values: %u lanes per row, %u rows", l.tile_lpr, l.tile_nr);
    uint64_t qsb = vk_wlayout_qs_bytes(&l, n_in, rows), auxb = vk_wlayout_aux_bytes(&l, n_in, rows);
    CHECK(qsb == 128 * 9 * 16 && auxb == 128 * 9 * 8, "tiled sizes: whole tiles (%llu, %llu)", (unsigned long long)qsb,
          (unsigned long long)auxb);
    uint8_t *src = malloc(rows * nsb * 22), *qs = malloc(qsb), *aux = malloc(auxb);
    uint8_t *used_q = calloc(qsb, 1), *used_a = calloc(auxb, 1);
    for (uint64_t i = 0; i < rows * nsb * 22; i++) src[i] = (uint8_t)(1 + test_rand_u64() % 255);   /* no zeros */
    memset(qs, 0xee, qsb);
    memset(aux, 0xee, auxb);
    vk_repack_rows(&l, src, n_in, rows, qs, aux);
    int bad = 0;
    for (uint64_t r = 0; r < rows; r++)
        for (uint64_t b = 0; b < nsb; b++) {
            const uint8_t *blk = src + (r * nsb + b) * 22;
            uint64_t t = vk_wlayout_texel(&l, 9, r, b, 0, 1);
            const uint8_t *q = qs + 16 * t, *a = aux + 8 * t;
            if ((memcmp(q, blk + 6, 16) || memcmp(a, blk, 2) || a[2] || a[3] || memcmp(a + 4, blk + 2, 4)) && bad++ < 3)
                CHECK(0, "Q5_0 row %llu unit %llu", (unsigned long long)r, (unsigned long long)b);
            memset(used_q + 16 * t, 1, 16);
            memset(used_a + 8 * t, 1, 8);
        }
    for (uint64_t i = 0; i < qsb; i++) bad += !used_q[i] && qs[i];
    for (uint64_t i = 0; i < auxb; i++) bad += !used_a[i] && aux[i];
    CHECK(bad == 0, "tiled Q5_0: %d bytes wrong", bad);
    free(src); free(qs); free(aux); free(used_q); free(used_a);
}

static void test_cache_header(void)
{
    vk_caps c;
    memset(&c, 0, sizeof c);
    c.vendor_id = 0x10de;
    c.device_id = 0x2330;
    for (unsigned i = 0; i < VK_UUID_SIZE; i++) c.cache_uuid[i] = (uint8_t)(i * 7);
    uint8_t blob[64] = {0};
    uint32_t h[4] = { 32, VK_PIPELINE_CACHE_HEADER_VERSION_ONE, 0x10de, 0x2330 };
    memcpy(blob, h, 16);
    memcpy(blob + 16, c.cache_uuid, VK_UUID_SIZE);
    CHECK(vk_pipe_cache_check(&c, blob, sizeof blob) == 0, "matching header accepted");
    CHECK(vk_pipe_cache_check(&c, blob, 20) != 0, "truncated header refused");
    blob[16] ^= 1;
    CHECK(vk_pipe_cache_check(&c, blob, sizeof blob) != 0, "other UUID (driver update) refused");
    blob[16] ^= 1;
    h[3] = 0x2331;
    memcpy(blob, h, 16);
    CHECK(vk_pipe_cache_check(&c, blob, sizeof blob) != 0, "other device refused");
    h[3] = 0x2330;
    h[0] = 1000;
    memcpy(blob, h, 16);
    CHECK(vk_pipe_cache_check(&c, blob, sizeof blob) != 0, "header longer than the file refused");

    /* the whole file: our header (magic "GCPC", version 1, build hash) first */
    h[0] = 32;
    memcpy(blob, h, 16);
    uint8_t file[16 + sizeof blob];
    uint32_t mv[2] = { 0x43504347u, 1 };
    uint64_t build = 0x0123456789abcdefull;
    memcpy(file, mv, 8);
    memcpy(file + 8, &build, 8);
    memcpy(file + 16, blob, sizeof blob);
    CHECK(vk_pipe_file_check(&c, build, file, sizeof file) == 0, "file of this build accepted");
    CHECK(vk_pipe_file_check(&c, build ^ 1, file, sizeof file) != 0, "file of another build refused");
    CHECK(vk_pipe_file_check(&c, build, file, 12) != 0, "truncated file refused");
    CHECK(vk_pipe_file_check(&c, build, file + 16, sizeof blob) != 0, "bare driver blob (older file) refused");
    file[16 + 16] ^= 1;
    CHECK(vk_pipe_file_check(&c, build, file, sizeof file) != 0, "driver header still checked");
    CHECK(vk_pipe_build_hash() != 0 && vk_pipe_build_hash() == vk_pipe_build_hash(), "build hash stable");

    char path[256];
    vk_pipe_cache_path("/x/cache/gemma-chat", &c, path, sizeof path);
    CHECK_STR(path, "/x/cache/gemma-chat/pipelines-10de-2330.bin");
    char small[16];
    vk_pipe_cache_path("/x/cache/gemma-chat", &c, small, sizeof small);
    CHECK_STR(small, "");
}

static void test_rank(void)
{
    CHECK(vk_device_rank(VK_PHYSICAL_DEVICE_TYPE_DISCRETE_GPU) > vk_device_rank(VK_PHYSICAL_DEVICE_TYPE_INTEGRATED_GPU),
          "discrete > integrated");
    CHECK(vk_device_rank(VK_PHYSICAL_DEVICE_TYPE_INTEGRATED_GPU) > vk_device_rank(VK_PHYSICAL_DEVICE_TYPE_VIRTUAL_GPU),
          "integrated > virtual");
    CHECK(vk_device_rank(VK_PHYSICAL_DEVICE_TYPE_VIRTUAL_GPU) > vk_device_rank(VK_PHYSICAL_DEVICE_TYPE_CPU),
          "virtual > cpu");
    CHECK(vk_device_rank(VK_PHYSICAL_DEVICE_TYPE_CPU) > vk_device_rank(VK_PHYSICAL_DEVICE_TYPE_OTHER), "cpu > other");
}

int main(void)
{
    TEST_RUN(test_choice);
    TEST_RUN(test_layout);
    TEST_RUN(test_unit_layouts);
    TEST_RUN(test_q8_rows8_layout);
    TEST_RUN(test_tiled_layout);
    TEST_RUN(test_cache_header);
    TEST_RUN(test_rank);
    return test_summary();
}
