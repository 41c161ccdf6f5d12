/* vk_mem.h: device memory for the Vulkan backend.
 *
 * Buffers are sub-allocated from large VkDeviceMemory blocks (devices limit
 * the number of allocations; a model has hundreds of tensors) and live until
 * the allocator is destroyed: a model's buffers are all made at load time and
 * freed together.
 *
 * Uploads go through a staging buffer in chunks, or, on unified-memory
 * devices (integrated GPUs, lavapipe), straight into the mapped destination.
 */
#ifndef GC_VK_MEM_H
#define GC_VK_MEM_H

#include <stdbool.h>
#include <stdint.h>

#include <vulkan/vulkan.h>

#include "base/err.h"
#include "vk/vk_device.h"

enum vk_mem_kind {
    VK_MEM_DEVICE,       /* device-local; mapped too on unified-memory devices */
    VK_MEM_UPLOAD,       /* host-visible, coherent: staging, token lists */
    VK_MEM_READBACK,     /* host-visible, coherent, cached where possible: results */
    VK_MEM_KIND_COUNT
};

typedef struct vk_buf {
    VkBuffer buf;
    uint64_t size;
    void *map;                /* host pointer when host-visible, else NULL */
    /* Hazard tracking of the recording code (vk_backend.c): the barrier
     * generation in which this buffer was last written / read. */
    uint32_t w_gen, r_gen;
    uint32_t w_op;            /* the op that last wrote it (its pieces may write disjointly) */
    const char *name;         /* for barrier traces and messages */
} vk_buf;

typedef struct vk_mem vk_mem;

/* Buffer creation fails where base/fault.h's point `alloc` says (tests). */
int vk_mem_create(vk_device *d, vk_mem **out, gc_err *err);
void vk_mem_destroy(vk_mem *m);

/* A buffer of `size` bytes usable as a storage buffer and copy source and
 * destination. VK_MEM_DEVICE buffers are mapped when the device has unified
 * memory. `name` must outlive the buffer (used in messages). */
int vk_buf_create(vk_mem *m, enum vk_mem_kind kind, uint64_t size, const char *name, vk_buf *out, gc_err *err);

/* Bytes of device memory held by buffers of each kind. */
uint64_t vk_mem_used(const vk_mem *m, enum vk_mem_kind kind);

/* ---- uploads ---- */
typedef struct vk_upload vk_upload;

int vk_upload_create(vk_device *d, vk_mem *m, uint64_t staging_bytes, bool force_staging,
                     vk_upload **out, gc_err *err);
void vk_upload_destroy(vk_upload *u);
/* The most bytes one vk_upload_map call may ask for. */
uint64_t vk_upload_max(const vk_upload *u);
/* Host memory to write bytes [off, off + size) of dst into: dst's own mapping
 * on unified memory, else staging space copied to dst by the next flush
 * (which happens by itself when the staging buffer is full). */
int vk_upload_map(vk_upload *u, vk_buf *dst, uint64_t off, uint64_t size, void **ptr, gc_err *err);
/* Makes sure the next `bytes` (plus 16 per map for alignment) of maps come
 * from the staging buffer without a flush in between, so pointers from
 * several maps stay valid together. */
int vk_upload_reserve(vk_upload *u, uint64_t bytes, gc_err *err);
/* Zeroes dst (memset on unified memory, else a fill at the next flush). */
int vk_upload_zero(vk_upload *u, vk_buf *dst, gc_err *err);
/* Submits pending copies and fills and waits for them. */
int vk_upload_flush(vk_upload *u, gc_err *err);

#endif
