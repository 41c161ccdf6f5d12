/* vk_mem.c: block sub-allocator, buffers, staged uploads (see vk_mem.h). */
#include "vk/vk_mem.h"
#include "base/buf.h"
#include "base/fault.h"

#include <stdlib.h>
#include <string.h>

#define BLOCK_BYTES (256ull << 20)   /* default device block; smaller for host kinds */

typedef struct mem_block {
    VkDeviceMemory mem;
    uint64_t size, used;
    uint32_t type;
    void *map;
} mem_block;

struct vk_mem {
    vk_device *d;
    mem_block *blocks;
    uint32_t n_blocks;
    size_t cap_blocks;
    VkBuffer *bufs;                /* every buffer made, destroyed with the allocator */
    uint32_t n_bufs;
    size_t cap_bufs;
    uint64_t used[VK_MEM_KIND_COUNT];
};

int vk_mem_create(vk_device *d, vk_mem **out, gc_err *err)
{
    vk_mem *m = calloc(1, sizeof *m);
    if (!m) return gc_errf(err, "vulkan: out of memory");
    m->d = d;
    *out = m;
    return 0;
}

void vk_mem_destroy(vk_mem *m)
{
    if (!m) return;
    for (uint32_t i = 0; i < m->n_bufs; i++) vkDestroyBuffer(m->d->dev, m->bufs[i], NULL);
    for (uint32_t i = 0; i < m->n_blocks; i++) {
        if (m->blocks[i].map) vkUnmapMemory(m->d->dev, m->blocks[i].mem);
        vkFreeMemory(m->d->dev, m->blocks[i].mem, NULL);
    }
    free(m->bufs);
    free(m->blocks);
    free(m);
}

uint64_t vk_mem_used(const vk_mem *m, enum vk_mem_kind kind) { return m ? m->used[kind] : 0; }

/* Memory type for a kind: required and preferred property flags, restricted
 * to the types the buffer allows. Returns -1 when none fits. */
static int pick_type(const vk_mem *m, enum vk_mem_kind kind, uint32_t allowed)
{
    const VkPhysicalDeviceMemoryProperties *mp = &m->d->mem;
    VkMemoryPropertyFlags req, pref;
    switch (kind) {
    case VK_MEM_DEVICE:
        req = VK_MEMORY_PROPERTY_DEVICE_LOCAL_BIT;
        pref = m->d->caps.unified_memory ? VK_MEMORY_PROPERTY_HOST_VISIBLE_BIT | VK_MEMORY_PROPERTY_HOST_COHERENT_BIT : 0;
        break;
    case VK_MEM_UPLOAD:
        req = VK_MEMORY_PROPERTY_HOST_VISIBLE_BIT | VK_MEMORY_PROPERTY_HOST_COHERENT_BIT;
        pref = 0;
        break;
    default:
        req = VK_MEMORY_PROPERTY_HOST_VISIBLE_BIT | VK_MEMORY_PROPERTY_HOST_COHERENT_BIT;
        pref = VK_MEMORY_PROPERTY_HOST_CACHED_BIT;
        break;
    }
    int best = -1;
    for (uint32_t i = 0; i < mp->memoryTypeCount; i++) {
        if (!(allowed & (1u << i))) continue;
        VkMemoryPropertyFlags f = mp->memoryTypes[i].propertyFlags;
        if ((f & req) != req) continue;
        if ((f & pref) == pref) return (int)i;
        if (best < 0) best = (int)i;
    }
    return best;
}

/* Places a buffer of requirements `rq` in a block of memory type `type`,
 * allocating a new block when none has room. */
static int place(vk_mem *m, enum vk_mem_kind kind, uint32_t type, const VkMemoryRequirements *rq,
                 const char *name, mem_block **blk, uint64_t *off, gc_err *err)
{
    for (uint32_t i = 0; i < m->n_blocks; i++) {
        mem_block *b = &m->blocks[i];
        if (b->type != type) continue;
        uint64_t o = (b->used + rq->alignment - 1) / rq->alignment * rq->alignment;
        if (o + rq->size <= b->size) { *blk = b; *off = o; b->used = o + rq->size; return 0; }
    }
    uint64_t want = kind == VK_MEM_DEVICE ? BLOCK_BYTES : BLOCK_BYTES / 8;
    if (want > m->d->caps.max_alloc) want = m->d->caps.max_alloc;
    if (want < rq->size) want = rq->size;
    if (rq->size > m->d->caps.max_alloc)
        return gc_errf(err, "vulkan: buffer '%s' needs %llu bytes, more than the device's largest "
                       "allocation (%llu bytes)", name, (unsigned long long)rq->size,
                       (unsigned long long)m->d->caps.max_alloc);
    if (GC_GROW(m->blocks, m->cap_blocks, m->n_blocks + 1)) return gc_errf(err, "vulkan: out of memory");
    VkMemoryAllocateInfo ai = { .sType = VK_STRUCTURE_TYPE_MEMORY_ALLOCATE_INFO, .allocationSize = want, .memoryTypeIndex = type };
    VkDeviceMemory mem = VK_NULL_HANDLE;
    VkResult r = vkAllocateMemory(m->d->dev, &ai, NULL, &mem);
    if (r != VK_SUCCESS && want > rq->size) {   /* a smaller block may still fit */
        ai.allocationSize = want = rq->size;
        r = vkAllocateMemory(m->d->dev, &ai, NULL, &mem);
    }
    if (r != VK_SUCCESS)
        return gc_errf(err, "vulkan: allocating %llu MiB of %s memory for '%s' failed: %s (device %s, "
                       "%llu MiB in use)", (unsigned long long)(want >> 20),
                       kind == VK_MEM_DEVICE ? "device" : "host-visible", name, vk_result_name(r),
                       m->d->caps.name, (unsigned long long)((m->used[0] + m->used[1] + m->used[2]) >> 20));
    mem_block *b = &m->blocks[m->n_blocks];
    *b = (mem_block){ .mem = mem, .size = want, .type = type };
    if (m->d->mem.memoryTypes[type].propertyFlags & VK_MEMORY_PROPERTY_HOST_VISIBLE_BIT) {
        r = vkMapMemory(m->d->dev, mem, 0, VK_WHOLE_SIZE, 0, &b->map);
        if (r != VK_SUCCESS) {
            vkFreeMemory(m->d->dev, mem, NULL);
            return gc_errf(err, "vulkan: mapping memory for '%s' failed: %s", name, vk_result_name(r));
        }
    }
    m->n_blocks++;
    *blk = b;
    *off = 0;
    b->used = rq->size;
    return 0;
}

int vk_buf_create(vk_mem *m, enum vk_mem_kind kind, uint64_t size, const char *name, vk_buf *out, gc_err *err)
{
    memset(out, 0, sizeof *out);
    out->name = name;
    if (size == 0) size = 16;
    if (GC_GROW(m->bufs, m->cap_bufs, m->n_bufs + 1)) return gc_errf(err, "vulkan: out of memory");
    VkBufferCreateInfo bci = {
        .sType = VK_STRUCTURE_TYPE_BUFFER_CREATE_INFO,
        .size = size,
        .usage = VK_BUFFER_USAGE_STORAGE_BUFFER_BIT | VK_BUFFER_USAGE_TRANSFER_SRC_BIT | VK_BUFFER_USAGE_TRANSFER_DST_BIT,
        .sharingMode = VK_SHARING_MODE_EXCLUSIVE,
    };
    VkBuffer buf;
    VkResult r = vkCreateBuffer(m->d->dev, &bci, NULL, &buf);
    if (r != VK_SUCCESS)
        return gc_errf(err, "vulkan: creating buffer '%s' (%llu bytes) failed: %s", name,
                       (unsigned long long)size, vk_result_name(r));
    m->bufs[m->n_bufs++] = buf;
    VkMemoryRequirements rq;
    vkGetBufferMemoryRequirements(m->d->dev, buf, &rq);
    int type = pick_type(m, kind, rq.memoryTypeBits);
    if (type < 0 && kind == VK_MEM_DEVICE) {   /* no device-local type for this buffer: any will do */
        for (uint32_t i = 0; i < m->d->mem.memoryTypeCount && type < 0; i++)
            if (rq.memoryTypeBits & (1u << i)) type = (int)i;
    }
    if (type < 0) return gc_errf(err, "vulkan: no suitable memory type for buffer '%s'", name);
    mem_block *blk = NULL;
    uint64_t off = 0;
    if (gc_fault_hit(GC_FAULT_ALLOC))
        return gc_errf(err, "vulkan: allocating %llu bytes of %s memory for '%s' failed: %s (injected)",
                       (unsigned long long)size, kind == VK_MEM_DEVICE ? "device" : "host-visible", name,
                       vk_result_name(VK_ERROR_OUT_OF_DEVICE_MEMORY));
    if (place(m, kind, (uint32_t)type, &rq, name, &blk, &off, err)) return -1;
    r = vkBindBufferMemory(m->d->dev, buf, blk->mem, off);
    if (r != VK_SUCCESS) return gc_errf(err, "vulkan: binding memory of '%s' failed: %s", name, vk_result_name(r));
    out->buf = buf;
    out->size = size;
    out->map = blk->map ? (uint8_t *)blk->map + off : NULL;
    m->used[kind] += rq.size;
    return 0;
}

/* ---- uploads ---- */

/* A copy from staging, or (fill) a zero fill of the whole of dst. */
typedef struct pending_copy { VkBuffer dst; uint64_t dst_off, src_off, size; bool fill; } pending_copy;

struct vk_upload {
    vk_device *d;
    bool direct;                /* unified memory: write into the destination */
    vk_buf staging;
    uint64_t staged;            /* bytes of staging in use */
    pending_copy *copies;
    uint32_t n_copies;
    size_t cap_copies;
    VkCommandPool pool;
    VkCommandBuffer cb;
    VkFence fence;
};

int vk_upload_create(vk_device *d, vk_mem *m, uint64_t staging_bytes, bool force_staging,
                     vk_upload **out, gc_err *err)
{
    *out = NULL;
    vk_upload *u = calloc(1, sizeof *u);
    if (!u) return gc_errf(err, "vulkan: out of memory");
    u->d = d;
    u->direct = d->caps.unified_memory && !force_staging;
    if (u->direct) { *out = u; return 0; }
    if (vk_buf_create(m, VK_MEM_UPLOAD, staging_bytes, "staging", &u->staging, err)) goto fail;
    VkCommandPoolCreateInfo pci = {
        .sType = VK_STRUCTURE_TYPE_COMMAND_POOL_CREATE_INFO,
        .flags = VK_COMMAND_POOL_CREATE_RESET_COMMAND_BUFFER_BIT,
        .queueFamilyIndex = d->queue_family,
    };
    VkResult r = vkCreateCommandPool(d->dev, &pci, NULL, &u->pool);
    if (r != VK_SUCCESS) { gc_errf(err, "vulkan: vkCreateCommandPool: %s", vk_result_name(r)); goto fail; }
    VkCommandBufferAllocateInfo cai = {
        .sType = VK_STRUCTURE_TYPE_COMMAND_BUFFER_ALLOCATE_INFO,
        .commandPool = u->pool, .level = VK_COMMAND_BUFFER_LEVEL_PRIMARY, .commandBufferCount = 1,
    };
    r = vkAllocateCommandBuffers(d->dev, &cai, &u->cb);
    if (r != VK_SUCCESS) { gc_errf(err, "vulkan: vkAllocateCommandBuffers: %s", vk_result_name(r)); goto fail; }
    VkFenceCreateInfo fci = { .sType = VK_STRUCTURE_TYPE_FENCE_CREATE_INFO };
    r = vkCreateFence(d->dev, &fci, NULL, &u->fence);
    if (r != VK_SUCCESS) { gc_errf(err, "vulkan: vkCreateFence: %s", vk_result_name(r)); goto fail; }
    *out = u;
    return 0;
fail:
    vk_upload_destroy(u);
    return -1;
}

void vk_upload_destroy(vk_upload *u)
{
    if (!u) return;
    if (u->fence) vkDestroyFence(u->d->dev, u->fence, NULL);
    if (u->pool) vkDestroyCommandPool(u->d->dev, u->pool, NULL);
    free(u->copies);
    free(u);
}

uint64_t vk_upload_max(const vk_upload *u) { return u->direct ? UINT64_MAX : u->staging.size; }

int vk_upload_flush(vk_upload *u, gc_err *err)
{
    if (u->direct || !u->n_copies) return 0;
    VkResult r = vkResetCommandBuffer(u->cb, 0);
    VkCommandBufferBeginInfo bi = { .sType = VK_STRUCTURE_TYPE_COMMAND_BUFFER_BEGIN_INFO,
                                    .flags = VK_COMMAND_BUFFER_USAGE_ONE_TIME_SUBMIT_BIT };
    if (r == VK_SUCCESS) r = vkBeginCommandBuffer(u->cb, &bi);
    if (r != VK_SUCCESS) return gc_errf(err, "vulkan: upload: recording failed: %s", vk_result_name(r));
    for (uint32_t i = 0; i < u->n_copies; i++) {
        const pending_copy *pc = &u->copies[i];
        if (pc->fill) {
            vkCmdFillBuffer(u->cb, pc->dst, 0, VK_WHOLE_SIZE, 0);
            continue;
        }
        VkBufferCopy c = { .srcOffset = pc->src_off, .dstOffset = pc->dst_off, .size = pc->size };
        vkCmdCopyBuffer(u->cb, u->staging.buf, pc->dst, 1, &c);
    }
    /* Hazard: the copies' and fills' transfer writes must be visible to the
     * compute shaders (and copies) of later submissions that use the buffers. */
    VkMemoryBarrier mb = { .sType = VK_STRUCTURE_TYPE_MEMORY_BARRIER,
                           .srcAccessMask = VK_ACCESS_TRANSFER_WRITE_BIT,
                           .dstAccessMask = VK_ACCESS_SHADER_READ_BIT | VK_ACCESS_SHADER_WRITE_BIT |
                                            VK_ACCESS_TRANSFER_READ_BIT | VK_ACCESS_TRANSFER_WRITE_BIT };
    vkCmdPipelineBarrier(u->cb, VK_PIPELINE_STAGE_TRANSFER_BIT,
                         VK_PIPELINE_STAGE_COMPUTE_SHADER_BIT | VK_PIPELINE_STAGE_TRANSFER_BIT, 0,
                         1, &mb, 0, NULL, 0, NULL);
    r = vkEndCommandBuffer(u->cb);
    VkSubmitInfo si = { .sType = VK_STRUCTURE_TYPE_SUBMIT_INFO, .commandBufferCount = 1, .pCommandBuffers = &u->cb };
    if (r == VK_SUCCESS) r = vkQueueSubmit(u->d->queue, 1, &si, u->fence);
    if (r == VK_SUCCESS) r = vkWaitForFences(u->d->dev, 1, &u->fence, VK_TRUE, UINT64_MAX);
    if (r == VK_SUCCESS) r = vkResetFences(u->d->dev, 1, &u->fence);
    u->n_copies = 0;
    u->staged = 0;
    if (r != VK_SUCCESS) return gc_errf(err, "vulkan: uploading weights failed: %s", vk_result_name(r));
    return 0;
}

static int add_copy(vk_upload *u, pending_copy c, gc_err *err)
{
    if (GC_GROW(u->copies, u->cap_copies, u->n_copies + 1)) return gc_errf(err, "vulkan: out of memory");
    u->copies[u->n_copies++] = c;
    return 0;
}

int vk_upload_reserve(vk_upload *u, uint64_t bytes, gc_err *err)
{
    if (u->direct) return 0;
    if (bytes > u->staging.size)
        return gc_errf(err, "vulkan: upload of %llu bytes exceeds the staging buffer (%llu)",
                       (unsigned long long)bytes, (unsigned long long)u->staging.size);
    if (((u->staged + 15) & ~15ull) + bytes > u->staging.size) return vk_upload_flush(u, err);
    return 0;
}

int vk_upload_zero(vk_upload *u, vk_buf *dst, gc_err *err)
{
    if (u->direct && dst->map) {
        memset(dst->map, 0, dst->size);
        return 0;
    }
    if (u->direct) return gc_errf(err, "vulkan: buffer '%s' is not host-visible", dst->name);
    return add_copy(u, (pending_copy){ .dst = dst->buf, .fill = true }, err);
}

int vk_upload_map(vk_upload *u, vk_buf *dst, uint64_t off, uint64_t size, void **ptr, gc_err *err)
{
    if (off + size > dst->size)
        return gc_errf(err, "vulkan: upload of %llu bytes at %llu overflows '%s' (%llu bytes)",
                       (unsigned long long)size, (unsigned long long)off, dst->name, (unsigned long long)dst->size);
    if (gc_fault_hit(GC_FAULT_UPLOAD))
        return gc_errf(err, "vulkan: uploading '%s' failed: %s (injected)", dst->name, vk_result_name(VK_ERROR_OUT_OF_DEVICE_MEMORY));
    if (u->direct) {
        if (!dst->map) return gc_errf(err, "vulkan: buffer '%s' is not host-visible", dst->name);
        *ptr = (uint8_t *)dst->map + off;
        return 0;
    }
    if (size > u->staging.size)
        return gc_errf(err, "vulkan: upload chunk of %llu bytes exceeds the staging buffer (%llu)",
                       (unsigned long long)size, (unsigned long long)u->staging.size);
    uint64_t at = (u->staged + 15) & ~15ull;
    if (at + size > u->staging.size) {
        if (vk_upload_flush(u, err)) return -1;
        at = 0;
    }
    if (size && add_copy(u, (pending_copy){ .dst = dst->buf, .dst_off = off, .src_off = at, .size = size }, err))
        return -1;
    u->staged = at + size;
    *ptr = (uint8_t *)u->staging.map + at;
    return 0;
}
