/* vk_pipe.h: compute pipelines built from the embedded SPIR-V, the on-disk
 * pipeline cache, and descriptor sets.
 *
 * The kernel table (vk_pipe.c) describes every kernel once: its name (also
 * the profiler's), shader, bindings (kind, access, format), push-constant
 * size and number of specialization constants. A pipeline is a kernel plus
 * concrete specialization values and a required subgroup size (a vk_variant
 * from vk_kernels.h); each is built on first use and kept.
 *
 * Descriptor sets bind whole buffers and are cached by their buffers, so a
 * forward pass that repeats the same ops every step allocates its sets once.
 */
#ifndef GC_VK_PIPE_H
#define GC_VK_PIPE_H

#include <stdint.h>

#include <vulkan/vulkan.h>

#include "base/err.h"
#include "vk/vk_device.h"
#include "vk/vk_kernels.h"

#define VK_MAX_BINDINGS 7

/* One binding of a kernel. Every binding is a storage buffer (the kind is
 * named so the table says it: uniform texel buffers were a CPU-device
 * family, retired). access: 'r' read, 'w' written, 'b' both; the backend's
 * barrier tracking reads it (a written binding that several dispatches of
 * one op fill in disjoint ranges must be 'w'). format: the shader's view of
 * the buffer, for documentation and the trace. */
enum vk_bind_kind { VK_BIND_STORAGE };
typedef struct vk_binding_desc {
    const char *name;
    enum vk_bind_kind kind;
    char access;
    const char *format;
} vk_binding_desc;

typedef struct vk_kernel_desc {
    const char *name;           /* the profiler's name too */
    const char *shader;
    const char *shader_shmem;   /* used instead when spec[3] == 0 (no subgroup arithmetic) */
    uint32_t n_bind;
    vk_binding_desc bind[VK_MAX_BINDINGS];
    uint32_t push_size;
    uint32_t n_spec;
} vk_kernel_desc;

/* The table entry of kernel k (k < VK_K_COUNT). */
const vk_kernel_desc *vk_kernel_info(enum vk_kernel k);

typedef struct vk_pipeline {
    vk_variant variant;
    const vk_kernel_desc *desc;
    VkPipeline pipe;
    VkPipelineLayout layout;     /* shared by all variants of a kernel */
    VkDescriptorSetLayout dsl;
} vk_pipeline;

typedef struct vk_pipes vk_pipes;

/* cache_path: the file the VkPipelineCache lives in; NULL or "" = none. */
int vk_pipes_create(vk_device *d, const char *cache_path, vk_pipes **out, gc_err *err);
/* Saves the cache (if pipelines were built) and frees everything. */
void vk_pipes_destroy(vk_pipes *p);

/* The pipeline of a variant, built on first use. */
int vk_pipes_get(vk_pipes *p, const vk_variant *v, const vk_pipeline **out, gc_err *err);
/* Number of pipelines built so far. */
uint32_t vk_pipes_built(const vk_pipes *p);
/* Whether a cache file of this device, driver and gemma-chat build was
 * loaded: if not, the kernels are compiled on first use, which on CPU devices
 * takes tens of seconds (drivers may also compile at the first dispatch, as
 * lavapipe does, so this is the best hint there is). */
bool vk_pipes_cache_warm(const vk_pipes *p);

/* A descriptor set binding bufs[0..pl->desc->n_bind) (whole buffers) for pl. */
int vk_pipes_set(vk_pipes *p, const vk_pipeline *pl, const VkBuffer *bufs, VkDescriptorSet *out, gc_err *err);

/* The cache file of device c in directory dir: DIR/pipelines-VVVV-DDDD.bin
 * ("" when that does not fit). The file holds a 16-byte header (magic "GCPC",
 * version 1, vk_pipe_build_hash()) and then the driver's VkPipelineCache
 * data. */
void vk_pipe_cache_path(const char *dir, const vk_caps *c, char *out, size_t n);

/* Checks a cache blob's Vulkan header (VkPipelineCacheHeaderVersionOne)
 * against the device: 0 if usable. Exposed for tests. */
int vk_pipe_cache_check(const vk_caps *c, const void *data, size_t size);
/* Checks a whole cache file (our header with build hash `build`, then the
 * driver's blob): 0 if usable. */
int vk_pipe_file_check(const vk_caps *c, uint64_t build, const void *data, size_t size);
/* A hash of every embedded shader: tells this build's cache files from others'. */
uint64_t vk_pipe_build_hash(void);

#endif
