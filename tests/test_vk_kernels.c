/* test_vk_kernels: the GPU-free parts of the Vulkan backend: kernel-variant
 * choice for made-up devices, the repacked weight layout, the pipeline-cache
 * header check, the device ranking. No Vulkan device is needed. */
#include <string.h>

#include "model/quant.h"
#include "tests/test.h"
#include "vk/vk_device.h"
#include "vk/vk_kernels.h"
#include "vk/vk_pipe.h"

/* Made-up devices (vk_kcaps): subgroup sizes and size-control ranges as
 * their drivers report them. */
static const vk_kcaps lavapipe = { .subgroup_size = 8, .subgroup_arith = true, .subgroup_min = 8, .subgroup_max = 8,
                                   .int_dot = true, .int_dot_fast = false,
                                   .max_wg_invocations = 1024, .max_wg_size_x = 1024 };
static const vk_kcaps nvidia = { .subgroup_size = 32, .subgroup_arith = true, .subgroup_min = 32, .subgroup_max = 32,
                                 .int_dot = true, .int_dot_fast = true,
                                 .max_wg_invocations = 1024, .max_wg_size_x = 1024 };
static const vk_kcaps amd = { .subgroup_size = 64, .subgroup_arith = true, .subgroup_min = 32, .subgroup_max = 64,
                              .int_dot = true, .int_dot_fast = true, .max_wg_invocations = 1024, .max_wg_size_x = 1024 };
static const vk_kcaps intel = { .subgroup_size = 32, .subgroup_arith = true, .subgroup_min = 8, .subgroup_max = 16,
                                .max_wg_invocations = 1024, .max_wg_size_x = 1024 };
static const vk_kcaps no_control = { .subgroup_size = 64, .subgroup_arith = true,
                                     .max_wg_invocations = 1024, .max_wg_size_x = 1024 };
static const vk_kcaps old_gpu = { .subgroup_size = 64, .subgroup_arith = false,
                                  .max_wg_invocations = 256, .max_wg_size_x = 256 };
static const vk_kcaps tiny = { .subgroup_size = 0, .subgroup_arith = false,
                               .max_wg_invocations = 64, .max_wg_size_x = 64 };

/* Every matmat variant must tile exactly: TN = BM*BN/(WG*TM) whole, the
 * invocation grid (BM/TM) x (BN/TN) = WG, and its shared tiles within the
 * 16 KiB every device has. */
static void check_matmat(const vk_kcaps *c, const char *name)
{
    vk_variant v = vk_choose_matmul(c, GT_Q4_K, 64, 2048, false);
    CHECK(v.kernel == VK_K_MATMAT, "%s: 64 rows use the tiled kernel", name);
    uint32_t wg = v.spec[0], bm = v.spec[2], bn = v.spec[3], tm = v.spec[4];
    CHECK(wg == v.wg && bm == v.rows_per_wg && bn == v.cols_per_wg, "%s: variant fields mirror spec", name);
    CHECK(wg <= c->max_wg_invocations && wg <= c->max_wg_size_x, "%s: wg %u within limits", name, wg);
    CHECK(tm && bm % tm == 0 && (bm * bn) % (wg * tm) == 0, "%s: tiles %ux%u, wg %u, tm %u", name, bm, bn, wg, tm);
    uint32_t tn = bm * bn / (wg * tm);
    CHECK(tn && bn % tn == 0 && (bm / tm) * (bn / tn) == wg, "%s: invocation grid covers the tile", name);
    CHECK((bm + bn) * 33 * 4 <= 16384, "%s: shared tiles fit 16 KiB", name);
    CHECK(v.spec[1] == GT_Q4_K && v.subgroup == 0, "%s: type in spec 1, any subgroup size", name);
}

static void test_choice(void)
{
    /* size control: one subgroup of the required size, row groups of
     * lanes-per-row lanes, two rows each */
    vk_variant v = vk_choose_matmul(&lavapipe, GT_Q8_0, 1, 1152, false);
    CHECK(v.kernel == VK_K_MATVEC && v.wg == 8 && v.subgroup == 8 && v.spec[5] == 4 && v.rows_per_wg == 4 &&
          v.spec[2] == 4, "lavapipe matvec (36 units: 2 row groups of 4 lanes): wg %u sg %u lpr %u rows %u", v.wg,
          v.subgroup, v.spec[5], v.rows_per_wg);
    CHECK(v.spec[3] == 1 && v.spec[4] == 0, "lavapipe matvec: subgroup reduction, no geglu");
    v = vk_choose_matmul(&nvidia, GT_Q8_0, 1, 640, false);
    CHECK(v.kernel == VK_K_MATVEC_DP && v.wg == 32 && v.subgroup == 32 && v.spec[5] == 4 && v.rows_per_wg == 16,
          "nvidia Q8_0 (20 units): integer dot, 8 row groups of 4 lanes, 16 rows (wg %u lpr %u rows %u)", v.wg,
          v.spec[5], v.rows_per_wg);
    CHECK(vk_choose_matmul(&nvidia, GT_Q6_K, 1, 2304, false).spec[5] == 8, "72 units: 8 lanes per row");
    CHECK(vk_choose_matmul(&nvidia, GT_F16, 1, 2304, false).kernel == VK_K_MATVEC, "float weights: float kernel");
    CHECK(vk_choose_matmul(&nvidia, GT_Q4_K, 1, 2048, true).kernel == VK_K_MATVEC_DP, "geglu: integer dot too");
    v = vk_choose_matmul(&amd, GT_Q4_K, 1, 2048, false);
    CHECK(v.wg == 32 && v.subgroup == 32, "amd (32..64): asks for 32, got wg %u sg %u", v.wg, v.subgroup);
    v = vk_choose_matmul(&intel, GT_Q4_K, 1, 2048, false);
    CHECK(v.wg == 16 && v.subgroup == 16 && v.kernel == VK_K_MATVEC, "intel (8..16): the largest, 16; no fast dot");
    v = vk_choose_matmul(&no_control, GT_Q4_K, 1, 2048, false);
    CHECK(v.wg == 64 && v.subgroup == 0 && v.spec[5] == 0 && v.rows_per_wg == 2,
          "no size control: the subgroup's 64 lanes on each row, 2 rows (wg %u lpr %u rows %u)", v.wg, v.spec[5],
          v.rows_per_wg);
    CHECK(vk_matvec_lanes_per_row(8, 320) == 2 && vk_matvec_lanes_per_row(8, 160) == 1 &&
          vk_matvec_lanes_per_row(8, 256) == 8 && vk_matvec_lanes_per_row(8, 33) == 2 &&
          vk_matvec_lanes_per_row(8, 32) == 1,
          "lanes per row: 10 units -> 2, 5 -> 1, 8 -> 8, 2 -> 2, 1 -> 1");
    /* no subgroup arithmetic: shared-memory reduction variant, no integer dot */
    v = vk_choose_matmul(&old_gpu, GT_Q8_0, 1, 4096, false);
    CHECK(v.kernel == VK_K_MATVEC && v.spec[3] == 0 && v.subgroup == 0 && v.wg == 32, "old gpu: tree, wg %u", v.wg);
    /* geglu always takes the fused matrix-vector kernel */
    v = vk_choose_matmul(&nvidia, GT_Q8_0, 64, 2048, true);
    CHECK((v.kernel == VK_K_MATVEC || v.kernel == VK_K_MATVEC_DP) && v.spec[4] == 1, "geglu fused");
    /* threshold between the kernels */
    CHECK(vk_choose_matmul(&lavapipe, GT_F32, VK_MATVEC_MAX_ROWS, 64, false).kernel == VK_K_MATVEC, "rows == max");
    CHECK(vk_choose_matmul(&lavapipe, GT_F32, VK_MATVEC_MAX_ROWS + 1, 64, false).kernel == VK_K_MATMAT, "rows > max");

    const vk_kcaps *all[] = { &lavapipe, &nvidia, &amd, &intel, &no_control, &old_gpu, &tiny };
    const char *names[] = { "lavapipe", "nvidia", "amd", "intel", "no control", "old gpu", "tiny" };
    for (int d = 0; d < 7; d++) check_matmat(all[d], names[d]);

    /* workgroup sizes are powers of two (tree reductions) within limits */
    for (int d = 0; d < 7; d++)
        for (int k = 0; k < VK_K_COUNT; k++) {
            bool mm = k == VK_K_MATVEC || k == VK_K_MATVEC_DP || k == VK_K_MATMAT;
            vk_variant x = mm ? vk_choose_matmul(all[d], GT_Q8_0, k == VK_K_MATMAT ? 100 : 1, 256, false)
                              : vk_choose(all[d], (enum vk_kernel)k, GT_Q8_0, true);
            CHECK(x.wg && (x.wg & (x.wg - 1)) == 0 && x.wg <= all[d]->max_wg_invocations,
                  "%s kernel %d: wg %u", names[d], k, x.wg);
            CHECK(x.spec[0] == x.wg, "spec 0 is the workgroup size");
            CHECK(!x.subgroup || (x.subgroup == x.wg && x.subgroup >= all[d]->subgroup_min &&
                                  x.subgroup <= all[d]->subgroup_max), "%s: a required subgroup is the workgroup",
                  names[d]);
        }
    CHECK(vk_choose(&nvidia, VK_K_ATTENTION, 0, false).spec[1] == 0, "attention f32 KV variant");
    vk_variant a0 = vk_choose(&nvidia, VK_K_ATTENTION, 0, true), a128 = vk_choose(&nvidia, VK_K_ATTENTION, 128, true);
    vk_variant a48 = vk_choose(&nvidia, VK_K_ATTENTION, 48, true), a10 = vk_choose(&nvidia, VK_K_ATTENTION, 10, true);
    CHECK(a0.spec[2] == VK_ATTN_MAX_HEAD_DIM && a0.spec[3] == 0, "attention, head_dim unknown: max size, 4-byte loads");
    CHECK(a128.spec[2] == 128 && a128.spec[3] == 1, "attention hd 128: sized 128, 16-byte loads");
    CHECK(a48.spec[2] == 64 && a48.spec[3] == 1, "attention hd 48: sized 64 (power of two), 16-byte loads");
    CHECK(a10.spec[2] == 16 && a10.spec[3] == 0, "attention hd 10: sized 16, 4-byte loads");
    vk_variant qr = vk_choose(&lavapipe, VK_K_QK_ROPE, 1, false), qg = vk_choose(&nvidia, VK_K_QK_ROPE, 0, true);
    CHECK(qr.wg == 64 && qr.spec[1] == 0 && qr.spec[2] == 1, "qk_rope: 64 wide, f32 cache, head norms");
    CHECK(qg.wg == 64 && qg.spec[1] == 1 && qg.spec[2] == 0, "qk_rope: f16 cache, no norms");
    CHECK(vk_choose(&lavapipe, VK_K_EMBED, GT_Q6_K, true).spec[1] == GT_Q6_K, "embed type");
    CHECK(vk_choose_kv_f16(0, false) && !vk_choose_kv_f16(0, true), "auto KV: f16 unless all weights are F32");
    CHECK(vk_choose_kv_f16(16, true) && !vk_choose_kv_f16(32, false), "forced KV precision");
}

/* The kernel table: every kernel described, binding names and accesses set,
 * products' outputs written by chunks marked 'w' (not 'b': a 'b' would put a
 * barrier between the chunks of one product). */
static void test_kernel_table(void)
{
    for (int k = 0; k < VK_K_COUNT; k++) {
        const vk_kernel_desc *d = vk_kernel_info((enum vk_kernel)k);
        CHECK(d && d->name && d->shader && d->n_bind >= 1 && d->n_bind <= VK_MAX_BINDINGS && d->push_size % 4 == 0 &&
              d->n_spec >= 1 && d->n_spec <= VK_MAX_SPEC, "kernel %d described", k);
        for (uint32_t i = 0; d && i < d->n_bind; i++)
            CHECK(d->bind[i].name && d->bind[i].format && d->bind[i].kind == VK_BIND_STORAGE &&
                  strchr("rwb", d->bind[i].access), "%s binding %u", d->name, i);
    }
    CHECK(vk_kernel_info(VK_K_COUNT) == NULL, "no kernel past the table");
    CHECK(vk_kernel_info(VK_K_MATVEC)->bind[3].access == 'w' && vk_kernel_info(VK_K_MATMAT)->bind[3].access == 'w' &&
          vk_kernel_info(VK_K_MATVEC_DP)->bind[3].access == 'w' && vk_kernel_info(VK_K_EMBED)->bind[3].access == 'w',
          "chunked outputs are 'w'");
    CHECK_STR(vk_kernel_info(VK_K_MATVEC_DP)->name, "matvec_dp");
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
    TEST_RUN(test_kernel_table);
    TEST_RUN(test_layout);
    TEST_RUN(test_cache_header);
    TEST_RUN(test_rank);
    return test_summary();
}
