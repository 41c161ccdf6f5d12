/* vk_microbench.c: throughput of the Vulkan device gemma-chat would use, one
 * line per case: the device's memory bandwidth (a compute shader reading a
 * buffer, tools/vk_readbw.comp, and vkCmdCopyBuffer: the roofline of decode),
 * then the weight bandwidth of the backend's matrix-vector product (what
 * decode speed follows) per weight type, and GFLOP/s of its tiled product
 * (prefill). Not a test: numbers only.
 *
 *   make vk-microbench
 *   build/vk_microbench [--device N] [--size N_IN N_OUT] [--bandwidth]
 *
 * The bandwidth line: `vk_read_gb_s=R vk_copy_gb_s=C mib=M timer=T`: R bytes
 * read per second, C bytes copied (read + written) per second, over a buffer
 * of M MiB (256, or less where the device's storage range or allocation size
 * is smaller), timed with timestamps (T = timestamps) or, on devices without
 * compute timestamps, the wall clock around the submit (T = wall).
 * --bandwidth prints that line only.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "model/quant.h"
#include "vk/vk_backend.h"
#include "vk/vk_device.h"
#include "vk/vk_mem.h"

static const uint32_t readbw_spv[] =
#include "tools/vk_readbw.spv.inc"
;

static double now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec + 1e-9 * t.tv_nsec;
}

static uint64_t rng = 88172645463325252ull;
static uint32_t rnd(void) { rng ^= rng << 13; rng ^= rng >> 7; rng ^= rng << 17; return (uint32_t)rng; }

/* Well-formed random blocks: random quants, small positive f16 scales. */
static void *rand_weight(uint32_t type, uint64_t n_in, uint64_t n_out, uint64_t *bytes)
{
    gc_err e = {0};
    uint64_t rb;
    if (quant_row_bytes(type, n_in, &rb, &e)) return NULL;
    *bytes = rb * n_out;
    uint8_t *d = malloc(*bytes);
    if (!d) return NULL;
    const quant_info *qi = quant_type_info(type);
    if (qi->block_elems == 1) {
        for (uint64_t i = 0; i < n_in * n_out; i++) {
            float f = (float)(rnd() % 2001) / 1000.0f - 1.0f;
            if (type == GT_F32) memcpy(d + 4 * i, &f, 4);
            else { uint16_t h = quant_f32_to_f16(f); memcpy(d + 2 * i, &h, 2); }
        }
        return d;
    }
    for (uint64_t i = 0; i < *bytes; i++) d[i] = (uint8_t)rnd();
    uint16_t s = quant_f32_to_f16(0.01f);
    for (uint64_t b = 0; b < *bytes / qi->block_bytes; b++) {
        uint8_t *blk = d + b * qi->block_bytes;
        if (type == GT_Q6_K) memcpy(blk + 208, &s, 2);
        else { memcpy(blk, &s, 2); if (type == GT_Q4_1 || type == GT_Q5_1 || type == GT_Q4_K || type == GT_Q5_K) memcpy(blk + 2, &s, 2); }
    }
    return d;
}

/* Runs `it` products of `rows` input rows in one step; returns seconds per product. */
static double run(backend *be, be_tensor *w, be_tensor *x, be_tensor *y, int rows, int n_in, int n_out, int it)
{
    gc_err e = {0};
    if (be->begin_step(be, &e)) { fprintf(stderr, "%s\n", e.msg); return -1; }
    be->matmul(be, y, w, x, rows, n_in, n_out);   /* warm-up: pipeline build */
    if (be->end_step(be, &e)) { fprintf(stderr, "%s\n", e.msg); return -1; }
    double t0 = now();
    if (be->begin_step(be, &e)) return -1;
    for (int i = 0; i < it; i++) be->matmul(be, y, w, x, rows, n_in, n_out);
    if (be->end_step(be, &e)) { fprintf(stderr, "%s\n", e.msg); return -1; }
    return (now() - t0) / it;
}

/* ---- memory bandwidth: vk_readbw.comp and vkCmdCopyBuffer, timed on the device ---- */

#define BW_PASSES 10
#define BW_WG 256                 /* vk_readbw.comp's local_size_x */
#define BW_LOADS_PER_INVOCATION 16

typedef struct bw_ctx {
    vk_device *d;
    VkCommandPool pool;
    VkCommandBuffer cb;
    VkFence fence;
    VkQueryPool qp;               /* two timestamps, or VK_NULL_HANDLE */
} bw_ctx;

static const VkMemoryBarrier bw_barrier = {
    .sType = VK_STRUCTURE_TYPE_MEMORY_BARRIER,
    .srcAccessMask = VK_ACCESS_TRANSFER_WRITE_BIT | VK_ACCESS_SHADER_WRITE_BIT,
    .dstAccessMask = VK_ACCESS_TRANSFER_READ_BIT | VK_ACCESS_TRANSFER_WRITE_BIT | VK_ACCESS_SHADER_READ_BIT,
};

static void bw_sync(VkCommandBuffer cb)
{
    VkPipelineStageFlags st = VK_PIPELINE_STAGE_TRANSFER_BIT | VK_PIPELINE_STAGE_COMPUTE_SHADER_BIT;
    vkCmdPipelineBarrier(cb, st, st, 0, 1, &bw_barrier, 0, NULL, 0, NULL);
}

/* What one timed pass records. */
typedef void (*bw_record)(VkCommandBuffer cb, void *arg);

/* Records `rec` between two timestamps, submits, waits; seconds it took. */
static double bw_time(bw_ctx *c, bw_record rec, void *arg, gc_err *e)
{
    VkDevice dev = c->d->dev;
    VkCommandBufferBeginInfo bi = { .sType = VK_STRUCTURE_TYPE_COMMAND_BUFFER_BEGIN_INFO,
                                    .flags = VK_COMMAND_BUFFER_USAGE_ONE_TIME_SUBMIT_BIT };
    VkResult r;
    if ((r = vkResetCommandBuffer(c->cb, 0)) || (r = vkBeginCommandBuffer(c->cb, &bi))) goto fail;
    if (c->qp) {
        vkCmdResetQueryPool(c->cb, c->qp, 0, 2);
        vkCmdWriteTimestamp(c->cb, VK_PIPELINE_STAGE_TOP_OF_PIPE_BIT, c->qp, 0);
    }
    rec(c->cb, arg);
    if (c->qp) vkCmdWriteTimestamp(c->cb, VK_PIPELINE_STAGE_BOTTOM_OF_PIPE_BIT, c->qp, 1);
    if ((r = vkEndCommandBuffer(c->cb)) || (r = vkResetFences(dev, 1, &c->fence))) goto fail;
    VkSubmitInfo si = { .sType = VK_STRUCTURE_TYPE_SUBMIT_INFO, .commandBufferCount = 1, .pCommandBuffers = &c->cb };
    double t0 = now();
    if ((r = vkQueueSubmit(c->d->queue, 1, &si, c->fence)) ||
        (r = vkWaitForFences(dev, 1, &c->fence, VK_TRUE, UINT64_MAX))) goto fail;
    double wall = now() - t0;
    if (!c->qp) return wall;
    uint64_t ts[2];
    if ((r = vkGetQueryPoolResults(dev, c->qp, 0, 2, sizeof ts, ts, sizeof ts[0],
                                   VK_QUERY_RESULT_64_BIT | VK_QUERY_RESULT_WAIT_BIT))) goto fail;
    return (double)(ts[1] - ts[0]) * c->d->caps.timestamp_period * 1e-9;
fail:
    gc_errf(e, "vk_microbench: bandwidth pass: %s", vk_result_name(r));
    return -1;
}

typedef struct bw_pass {
    VkPipeline pipe;
    VkPipelineLayout layout;
    VkDescriptorSet set;
    vk_buf *src, *dst;
    uint32_t units, groups;       /* 16-byte units read; workgroups per dispatch */
    int passes;
} bw_pass;

static void rec_zero(VkCommandBuffer cb, void *arg)
{
    bw_pass *p = arg;
    vkCmdFillBuffer(cb, p->src->buf, 0, VK_WHOLE_SIZE, 0);
    vkCmdFillBuffer(cb, p->dst->buf, 0, VK_WHOLE_SIZE, 0);
    bw_sync(cb);
}

static void rec_read(VkCommandBuffer cb, void *arg)
{
    bw_pass *p = arg;
    vkCmdBindPipeline(cb, VK_PIPELINE_BIND_POINT_COMPUTE, p->pipe);
    vkCmdBindDescriptorSets(cb, VK_PIPELINE_BIND_POINT_COMPUTE, p->layout, 0, 1, &p->set, 0, NULL);
    vkCmdPushConstants(cb, p->layout, VK_SHADER_STAGE_COMPUTE_BIT, 0, 4, &p->units);
    for (int i = 0; i < p->passes; i++) vkCmdDispatch(cb, p->groups, 1, 1);
}

static void rec_copy(VkCommandBuffer cb, void *arg)
{
    bw_pass *p = arg;
    VkBufferCopy r = { .size = p->src->size };
    for (int i = 0; i < p->passes; i++) {
        if (i) bw_sync(cb);
        vkCmdCopyBuffer(cb, p->src->buf, p->dst->buf, 1, &r);
    }
}

/* Measures the bandwidth of device `want` (-1: the one gemma-chat would use)
 * and prints the bandwidth line. */
static int bandwidth(int want, gc_err *e)
{
    vk_instance *vi = NULL;
    vk_device *d = NULL;
    vk_mem *m = NULL;
    bw_ctx c = {0};
    bw_pass p = {0};
    VkDescriptorSetLayout dsl = VK_NULL_HANDLE;
    VkDescriptorPool dp = VK_NULL_HANDLE;
    VkShaderModule sm = VK_NULL_HANDLE;
    vk_buf src = {0}, dst = {0};
    int idx, rc = -1;
    VkResult r = VK_SUCCESS;
    if (vk_instance_create(&vi, false, e) || vk_device_pick(vi, want, &idx, e) || vk_device_create(vi, idx, &d, e) ||
        vk_mem_create(d, &m, e))
        goto done;
    c.d = d;
    VkDevice dev = d->dev;
    uint64_t size = 256ull << 20;
    if (size > d->caps.max_storage_range) size = d->caps.max_storage_range & ~(uint64_t)15;
    if (size > d->caps.max_alloc) size = d->caps.max_alloc & ~(uint64_t)15;
    if (size > vk_device_budget(&d->caps) / 4) size = (vk_device_budget(&d->caps) / 4) & ~(uint64_t)15;
    if (vk_buf_create(m, VK_MEM_DEVICE, size, "bandwidth source", &src, e) ||
        vk_buf_create(m, VK_MEM_DEVICE, size, "bandwidth destination", &dst, e))
        goto done;

    VkCommandPoolCreateInfo pci = { .sType = VK_STRUCTURE_TYPE_COMMAND_POOL_CREATE_INFO,
                                    .flags = VK_COMMAND_POOL_CREATE_RESET_COMMAND_BUFFER_BIT,
                                    .queueFamilyIndex = d->queue_family };
    VkFenceCreateInfo fci = { .sType = VK_STRUCTURE_TYPE_FENCE_CREATE_INFO };
    if ((r = vkCreateCommandPool(dev, &pci, NULL, &c.pool)) || (r = vkCreateFence(dev, &fci, NULL, &c.fence))) goto vkfail;
    VkCommandBufferAllocateInfo cai = { .sType = VK_STRUCTURE_TYPE_COMMAND_BUFFER_ALLOCATE_INFO, .commandPool = c.pool,
                                        .level = VK_COMMAND_BUFFER_LEVEL_PRIMARY, .commandBufferCount = 1 };
    if ((r = vkAllocateCommandBuffers(dev, &cai, &c.cb))) goto vkfail;
    if (d->caps.timestamp_period > 0) {
        VkQueryPoolCreateInfo qci = { .sType = VK_STRUCTURE_TYPE_QUERY_POOL_CREATE_INFO,
                                      .queryType = VK_QUERY_TYPE_TIMESTAMP, .queryCount = 2 };
        if ((r = vkCreateQueryPool(dev, &qci, NULL, &c.qp))) goto vkfail;
    }

    VkDescriptorSetLayoutBinding lb[2];
    for (int i = 0; i < 2; i++)
        lb[i] = (VkDescriptorSetLayoutBinding){ .binding = (uint32_t)i, .descriptorType = VK_DESCRIPTOR_TYPE_STORAGE_BUFFER,
                                                .descriptorCount = 1, .stageFlags = VK_SHADER_STAGE_COMPUTE_BIT };
    VkDescriptorSetLayoutCreateInfo lci = { .sType = VK_STRUCTURE_TYPE_DESCRIPTOR_SET_LAYOUT_CREATE_INFO,
                                            .bindingCount = 2, .pBindings = lb };
    VkPushConstantRange pr = { .stageFlags = VK_SHADER_STAGE_COMPUTE_BIT, .size = 4 };
    VkPipelineLayoutCreateInfo plci = { .sType = VK_STRUCTURE_TYPE_PIPELINE_LAYOUT_CREATE_INFO, .setLayoutCount = 1,
                                        .pSetLayouts = &dsl, .pushConstantRangeCount = 1, .pPushConstantRanges = &pr };
    VkDescriptorPoolSize ps = { .type = VK_DESCRIPTOR_TYPE_STORAGE_BUFFER, .descriptorCount = 2 };
    VkDescriptorPoolCreateInfo dpci = { .sType = VK_STRUCTURE_TYPE_DESCRIPTOR_POOL_CREATE_INFO, .maxSets = 1,
                                        .poolSizeCount = 1, .pPoolSizes = &ps };
    VkShaderModuleCreateInfo smci = { .sType = VK_STRUCTURE_TYPE_SHADER_MODULE_CREATE_INFO,
                                      .codeSize = sizeof readbw_spv, .pCode = readbw_spv };
    if ((r = vkCreateDescriptorSetLayout(dev, &lci, NULL, &dsl)) || (r = vkCreatePipelineLayout(dev, &plci, NULL, &p.layout)) ||
        (r = vkCreateDescriptorPool(dev, &dpci, NULL, &dp)) || (r = vkCreateShaderModule(dev, &smci, NULL, &sm)))
        goto vkfail;
    VkDescriptorSetAllocateInfo dai = { .sType = VK_STRUCTURE_TYPE_DESCRIPTOR_SET_ALLOCATE_INFO, .descriptorPool = dp,
                                        .descriptorSetCount = 1, .pSetLayouts = &dsl };
    if ((r = vkAllocateDescriptorSets(dev, &dai, &p.set))) goto vkfail;
    VkDescriptorBufferInfo dbi[2] = { { src.buf, 0, VK_WHOLE_SIZE }, { dst.buf, 0, VK_WHOLE_SIZE } };
    VkWriteDescriptorSet wr[2];
    for (int i = 0; i < 2; i++)
        wr[i] = (VkWriteDescriptorSet){ .sType = VK_STRUCTURE_TYPE_WRITE_DESCRIPTOR_SET, .dstSet = p.set,
                                        .dstBinding = (uint32_t)i, .descriptorCount = 1,
                                        .descriptorType = VK_DESCRIPTOR_TYPE_STORAGE_BUFFER, .pBufferInfo = &dbi[i] };
    vkUpdateDescriptorSets(dev, 2, wr, 0, NULL);
    VkComputePipelineCreateInfo cpci = {
        .sType = VK_STRUCTURE_TYPE_COMPUTE_PIPELINE_CREATE_INFO, .layout = p.layout,
        .stage = { .sType = VK_STRUCTURE_TYPE_PIPELINE_SHADER_STAGE_CREATE_INFO, .stage = VK_SHADER_STAGE_COMPUTE_BIT,
                   .module = sm, .pName = "main" },
    };
    if ((r = vkCreateComputePipelines(dev, VK_NULL_HANDLE, 1, &cpci, NULL, &p.pipe))) goto vkfail;

    p.src = &src;
    p.dst = &dst;
    p.units = (uint32_t)(size / 16);
    uint64_t groups = p.units / ((uint64_t)BW_WG * BW_LOADS_PER_INVOCATION);
    if (groups < 1) groups = 1;
    if (groups > d->caps.max_wg_count[0]) groups = d->caps.max_wg_count[0];
    p.groups = (uint32_t)groups;
    /* zero the buffers, then one untimed pass of each (pipeline compile, first touch) */
    p.passes = 1;
    if (bw_time(&c, rec_zero, &p, e) < 0 || bw_time(&c, rec_read, &p, e) < 0 || bw_time(&c, rec_copy, &p, e) < 0) goto done;
    p.passes = BW_PASSES;
    double tr = bw_time(&c, rec_read, &p, e);
    double tc = tr < 0 ? -1 : bw_time(&c, rec_copy, &p, e);
    if (tr <= 0 || tc <= 0) {
        if (!e->msg[0]) gc_errf(e, "vk_microbench: a bandwidth pass took no time");
        goto done;
    }
    printf("vk_read_gb_s=%.1f vk_copy_gb_s=%.1f mib=%llu timer=%s\n", (double)size * BW_PASSES / tr / 1e9,
           2.0 * (double)size * BW_PASSES / tc / 1e9, (unsigned long long)(size >> 20), c.qp ? "timestamps" : "wall");
    rc = 0;
    goto done;
vkfail:
    gc_errf(e, "vk_microbench: bandwidth setup: %s", vk_result_name(r));
done:
    if (d) {
        vkDeviceWaitIdle(d->dev);
        if (p.pipe) vkDestroyPipeline(d->dev, p.pipe, NULL);
        if (sm) vkDestroyShaderModule(d->dev, sm, NULL);
        if (dp) vkDestroyDescriptorPool(d->dev, dp, NULL);
        if (p.layout) vkDestroyPipelineLayout(d->dev, p.layout, NULL);
        if (dsl) vkDestroyDescriptorSetLayout(d->dev, dsl, NULL);
        if (c.qp) vkDestroyQueryPool(d->dev, c.qp, NULL);
        if (c.fence) vkDestroyFence(d->dev, c.fence, NULL);
        if (c.pool) vkDestroyCommandPool(d->dev, c.pool, NULL);
    }
    if (m) vk_mem_destroy(m);
    if (d) vk_device_destroy(d);
    if (vi) vk_instance_destroy(vi);
    return rc;
}

int main(int argc, char **argv)
{
    vk_backend_opts o;
    vk_backend_opts_init(&o);
    int n_in = 4096, n_out = 4096;
    bool bandwidth_only = false;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--device") && i + 1 < argc) o.device = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--size") && i + 2 < argc) { n_in = atoi(argv[++i]); n_out = atoi(argv[++i]); }
        else if (!strcmp(argv[i], "--bandwidth")) bandwidth_only = true;
        else { fprintf(stderr, "usage: vk_microbench [--device N] [--size N_IN N_OUT] [--bandwidth]\n"); return 2; }
    }
    backend *be = NULL;
    gc_err e = {0};
    if (bandwidth(o.device, &e)) {
        fprintf(stderr, "%s\n", e.msg);
        if (bandwidth_only) return 1;
        e = (gc_err){0};
    }
    if (bandwidth_only) return 0;
    if (vk_backend_create(&o, &be, &e)) { fprintf(stderr, "%s\n", e.msg); return 1; }
    printf("device: %s\n", be->device_name);
    const uint32_t types[] = { GT_F16, GT_Q8_0, GT_Q4_0, GT_Q5_0, GT_Q4_K, GT_Q5_K, GT_Q6_K };
    const int prefill = 512;
    be_tensor *x = NULL, *y = NULL;
    if (be->activation(be, (uint64_t)prefill * n_in, "x", &x, &e) ||
        be->activation(be, (uint64_t)prefill * n_out, "y", &y, &e)) {
        fprintf(stderr, "%s\n", e.msg);
        be->destroy(be);
        return 1;
    }
    int rc = 0;
    for (size_t t = 0; t < sizeof types / sizeof *types; t++) {
        uint64_t bytes;
        void *wd = rand_weight(types[t], n_in, n_out, &bytes);
        if (!wd) continue;
        gguf_tensor g = { .name = { "w", 1 }, .n_dims = 2, .ne = { (uint64_t)n_in, (uint64_t)n_out, 1, 1 },
                          .type = types[t], .n_bytes = bytes, .data = wd };
        be_tensor *w = NULL;
        if (be->weight(be, &g, &w, &e)) { fprintf(stderr, "%s\n", e.msg); free(wd); rc = 1; continue; }
        double tv = run(be, w, x, y, 1, n_in, n_out, 20);
        double tm = run(be, w, x, y, prefill, n_in, n_out, 2);
        if (tv > 0 && tm > 0)
            printf("%-5s %dx%d  matvec %8.3f ms  %7.1f GB/s   matmat(%d rows) %8.2f ms  %8.1f GFLOP/s\n",
                   quant_type_name(types[t]), n_out, n_in, tv * 1e3, bytes / tv / 1e9, prefill, tm * 1e3,
                   2.0 * n_in * n_out * prefill / tm / 1e9);
        else rc = 1;
        free(wd);
    }
    be->destroy(be);
    return rc;
}
