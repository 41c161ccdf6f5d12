/* vk_device.h: Vulkan instance, device choice, capabilities, logical device.
 *
 * The instance enables the Khronos validation layer when asked (tests, or
 * GEMMA_CHAT_VALIDATION=1) and installs a debug messenger that counts every
 * warning and error it reports, so a test can fail on any message.
 *
 * Device policy (vk_device_rank): discrete GPU > integrated > virtual > CPU
 * type (lavapipe). A CPU-type device is chosen only when nothing else exists,
 * and then with a notice. `--device N` overrides the choice.
 */
#ifndef GC_VK_DEVICE_H
#define GC_VK_DEVICE_H

#include <stdbool.h>
#include <stdint.h>

#include <vulkan/vulkan.h>

#include "base/err.h"
#include "vk/vk_kernels.h"

#define VK_MAX_HEAPS 16

/* Every capability the backend looks at, read once per device. */
typedef struct vk_caps {
    char name[VK_MAX_PHYSICAL_DEVICE_NAME_SIZE];
    char driver[520];                     /* driver name and info, if the device says */
    VkPhysicalDeviceType type;
    uint32_t api_version;
    uint32_t vendor_id, device_id;
    uint8_t cache_uuid[VK_UUID_SIZE];     /* pipelineCacheUUID */

    /* subgroups */
    uint32_t subgroup_size;
    bool subgroup_arith;                  /* arithmetic ops in the compute stage */
    /* subgroup size control for compute pipelines (Vulkan 1.3: the
     * subgroupSizeControl and computeFullSubgroups features, compute in
     * requiredSubgroupSizeStages): the range a pipeline may require; 0, 0 if
     * the device cannot */
    uint32_t subgroup_min, subgroup_max;

    /* integer dot products (Vulkan 1.3 shaderIntegerDotProduct) */
    bool int_dot;                         /* the feature (enabled on the device when present) */
    bool int_dot_fast;                    /* 4x8-bit packed signed dot products accelerated */

    /* limits */
    uint64_t max_storage_range;           /* maxStorageBufferRange (bytes) */
    uint32_t max_shared;                  /* maxComputeSharedMemorySize */
    uint32_t max_wg_invocations;
    uint32_t max_wg_size[3];
    uint32_t max_wg_count[3];
    float timestamp_period;               /* ns per timestamp tick; 0 = no compute timestamps */
    uint64_t max_alloc;                   /* maxMemoryAllocationSize */

    /* memory */
    uint32_t n_heaps;
    uint64_t heap_size[VK_MAX_HEAPS];
    bool heap_device_local[VK_MAX_HEAPS];
    uint64_t device_local_bytes;          /* the largest device-local heap */
    bool unified_memory;                  /* device-local memory the host can map, covering that heap */
} vk_caps;

/* Bytes of memory a model may use on the device: the largest device-local
 * heap; for CPU-type devices (whose "device memory" is host memory) at least
 * three quarters of the host's RAM. */
uint64_t vk_device_budget(const vk_caps *c);

/* The subset the kernel choice reads. */
vk_kcaps vk_caps_kernel(const vk_caps *c);

typedef struct vk_instance {
    VkInstance instance;
    VkDebugUtilsMessengerEXT messenger;
    bool validation;
    uint32_t n_phys;
    VkPhysicalDevice *phys;               /* [n_phys] */
    vk_caps *caps;                        /* [n_phys] */
} vk_instance;

/* Creates the instance (Vulkan 1.2 or later) and reads every device's
 * capabilities. validation: enable the Khronos layer (also when the
 * environment sets GEMMA_CHAT_VALIDATION=1); fails if it is missing. */
int vk_instance_create(vk_instance **out, bool validation, gc_err *err);
void vk_instance_destroy(vk_instance *vi);

/* Warnings and errors the validation layer reported since start (process-wide). */
uint64_t vk_validation_messages(void);

/* Rank of a device type: higher is preferred (discrete 4 ... CPU 1, other 0). */
int vk_device_rank(VkPhysicalDeviceType t);
/* The device to use: `want` >= 0 picks that index (error if out of range or
 * below Vulkan 1.2), else the best ranked one (first on ties). */
int vk_device_pick(const vk_instance *vi, int want, int *index, gc_err *err);
const char *vk_device_type_name(VkPhysicalDeviceType t);

/* A logical device with one compute queue. */
typedef struct vk_device {
    VkPhysicalDevice phys;
    VkDevice dev;
    VkQueue queue;
    uint32_t queue_family;
    vk_caps caps;                         /* copy; test hooks may lower limits */
    VkPhysicalDeviceMemoryProperties mem;
} vk_device;

int vk_device_create(const vk_instance *vi, int index, vk_device **out, gc_err *err);
void vk_device_destroy(vk_device *d);

/* "VK_ERROR_OUT_OF_DEVICE_MEMORY" etc. */
const char *vk_result_name(VkResult r);

#endif
