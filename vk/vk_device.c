/* vk_device.c: instance, validation messenger, device capabilities and choice,
 * logical device (see vk_device.h). */
#include "vk/vk_device.h"

#include <dlfcn.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static atomic_ullong validation_count;

uint64_t vk_validation_messages(void) { return atomic_load(&validation_count); }

const char *vk_result_name(VkResult r)
{
    switch (r) {
#define R(x) case x: return #x;
    R(VK_SUCCESS) R(VK_NOT_READY) R(VK_TIMEOUT) R(VK_INCOMPLETE)
    R(VK_ERROR_OUT_OF_HOST_MEMORY) R(VK_ERROR_OUT_OF_DEVICE_MEMORY)
    R(VK_ERROR_INITIALIZATION_FAILED) R(VK_ERROR_DEVICE_LOST) R(VK_ERROR_MEMORY_MAP_FAILED)
    R(VK_ERROR_LAYER_NOT_PRESENT) R(VK_ERROR_EXTENSION_NOT_PRESENT) R(VK_ERROR_FEATURE_NOT_PRESENT)
    R(VK_ERROR_INCOMPATIBLE_DRIVER) R(VK_ERROR_TOO_MANY_OBJECTS) R(VK_ERROR_FORMAT_NOT_SUPPORTED)
    R(VK_ERROR_FRAGMENTED_POOL) R(VK_ERROR_OUT_OF_POOL_MEMORY) R(VK_ERROR_UNKNOWN)
#undef R
    default: return "VkResult (unknown)";
    }
}

const char *vk_device_type_name(VkPhysicalDeviceType t)
{
    switch (t) {
    case VK_PHYSICAL_DEVICE_TYPE_DISCRETE_GPU: return "discrete GPU";
    case VK_PHYSICAL_DEVICE_TYPE_INTEGRATED_GPU: return "integrated GPU";
    case VK_PHYSICAL_DEVICE_TYPE_VIRTUAL_GPU: return "virtual GPU";
    case VK_PHYSICAL_DEVICE_TYPE_CPU: return "CPU";
    default: return "other";
    }
}

int vk_device_rank(VkPhysicalDeviceType t)
{
    switch (t) {
    case VK_PHYSICAL_DEVICE_TYPE_DISCRETE_GPU: return 4;
    case VK_PHYSICAL_DEVICE_TYPE_INTEGRATED_GPU: return 3;
    case VK_PHYSICAL_DEVICE_TYPE_VIRTUAL_GPU: return 2;
    case VK_PHYSICAL_DEVICE_TYPE_CPU: return 1;
    default: return 0;
    }
}

uint64_t vk_device_budget(const vk_caps *c)
{
    uint64_t b = c->device_local_bytes;
    if (c->type == VK_PHYSICAL_DEVICE_TYPE_CPU) {
        long pages = sysconf(_SC_PHYS_PAGES), psize = sysconf(_SC_PAGESIZE);
        uint64_t ram = pages > 0 && psize > 0 ? (uint64_t)pages * (uint64_t)psize / 4 * 3 : 0;
        if (ram > b) b = ram;
    }
    return b;
}

vk_kcaps vk_caps_kernel(const vk_caps *c)
{
    return (vk_kcaps){
        .subgroup_size = c->subgroup_size,
        .subgroup_arith = c->subgroup_arith,
        .subgroup_min = c->subgroup_min,
        .subgroup_max = c->subgroup_max,
        .int_dot = c->int_dot,
        .int_dot_fast = c->int_dot && c->int_dot_fast,
        .max_wg_invocations = c->max_wg_invocations,
        .max_wg_size_x = c->max_wg_size[0],
    };
}

/* Every validation warning or error is counted (tests fail on any) and printed. */
static VKAPI_ATTR VkBool32 VKAPI_CALL on_message(VkDebugUtilsMessageSeverityFlagBitsEXT sev,
                                                 VkDebugUtilsMessageTypeFlagsEXT types,
                                                 const VkDebugUtilsMessengerCallbackDataEXT *data,
                                                 void *user)
{
    (void)types; (void)user;
    if (sev & (VK_DEBUG_UTILS_MESSAGE_SEVERITY_WARNING_BIT_EXT | VK_DEBUG_UTILS_MESSAGE_SEVERITY_ERROR_BIT_EXT)) {
        atomic_fetch_add(&validation_count, 1);
        fprintf(stderr, "vulkan validation: %s\n", data && data->pMessage ? data->pMessage : "(no text)");
    }
    return VK_FALSE;
}

static bool has_layer(const char *name)
{
    uint32_t n = 0;
    if (vkEnumerateInstanceLayerProperties(&n, NULL) != VK_SUCCESS || !n) return false;
    VkLayerProperties *p = calloc(n, sizeof *p);
    bool found = false;
    if (p && vkEnumerateInstanceLayerProperties(&n, p) == VK_SUCCESS)
        for (uint32_t i = 0; i < n && !found; i++) found = !strcmp(p[i].layerName, name);
    free(p);
    return found;
}

static bool has_instance_ext(const char *name)
{
    uint32_t n = 0;
    if (vkEnumerateInstanceExtensionProperties(NULL, &n, NULL) != VK_SUCCESS || !n) return false;
    VkExtensionProperties *p = calloc(n, sizeof *p);
    bool found = false;
    if (p && vkEnumerateInstanceExtensionProperties(NULL, &n, p) == VK_SUCCESS)
        for (uint32_t i = 0; i < n && !found; i++) found = !strcmp(p[i].extensionName, name);
    free(p);
    return found;
}

static bool has_device_ext(VkPhysicalDevice pd, const char *name)
{
    uint32_t n = 0;
    if (vkEnumerateDeviceExtensionProperties(pd, NULL, &n, NULL) != VK_SUCCESS || !n) return false;
    VkExtensionProperties *p = calloc(n, sizeof *p);
    bool found = false;
    if (p && vkEnumerateDeviceExtensionProperties(pd, NULL, &n, p) == VK_SUCCESS)
        for (uint32_t i = 0; i < n && !found; i++) found = !strcmp(p[i].extensionName, name);
    free(p);
    return found;
}

static uint32_t instance_api;   /* the apiVersion the instance was created with */

/* Reads every capability of one device once. Structures newer than the
 * device's (or the instance's) version are not chained. */
static void read_caps(VkPhysicalDevice pd, vk_caps *c)
{
    memset(c, 0, sizeof *c);
    VkPhysicalDeviceProperties p0;
    vkGetPhysicalDeviceProperties(pd, &p0);
    uint32_t api = p0.apiVersion < instance_api ? p0.apiVersion : instance_api;
    c->api_version = p0.apiVersion;
    snprintf(c->name, sizeof c->name, "%s", p0.deviceName);
    c->type = p0.deviceType;
    c->vendor_id = p0.vendorID;
    c->device_id = p0.deviceID;
    memcpy(c->cache_uuid, p0.pipelineCacheUUID, VK_UUID_SIZE);
    const VkPhysicalDeviceLimits *L = &p0.limits;
    c->max_storage_range = L->maxStorageBufferRange;
    c->max_shared = L->maxComputeSharedMemorySize;
    c->max_wg_invocations = L->maxComputeWorkGroupInvocations;
    for (int i = 0; i < 3; i++) {
        c->max_wg_size[i] = L->maxComputeWorkGroupSize[i];
        c->max_wg_count[i] = L->maxComputeWorkGroupCount[i];
    }
    c->timestamp_period = L->timestampComputeAndGraphics ? L->timestampPeriod : 0;
    c->max_alloc = 1ull << 30;   /* the guaranteed minimum, unless the device says more */
    if (api < VK_API_VERSION_1_2) return;   /* not usable; vk_device_pick says why */

    VkPhysicalDeviceSubgroupProperties sg = { .sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_SUBGROUP_PROPERTIES };
    VkPhysicalDeviceMaintenance3Properties m3 = { .sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_MAINTENANCE_3_PROPERTIES, .pNext = &sg };
    VkPhysicalDeviceDriverProperties drv = { .sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_DRIVER_PROPERTIES, .pNext = &m3 };
    VkPhysicalDeviceSubgroupSizeControlProperties ssc = { .sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_SUBGROUP_SIZE_CONTROL_PROPERTIES };
    VkPhysicalDeviceShaderIntegerDotProductProperties dot = { .sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_SHADER_INTEGER_DOT_PRODUCT_PROPERTIES, .pNext = &ssc };
    VkPhysicalDeviceProperties2 p2 = { .sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_PROPERTIES_2, .pNext = &drv };
    if (api >= VK_API_VERSION_1_3) sg.pNext = &dot;
    vkGetPhysicalDeviceProperties2(pd, &p2);
    snprintf(c->driver, sizeof c->driver, "%s %s", drv.driverName, drv.driverInfo);
    c->subgroup_size = sg.subgroupSize;
    c->subgroup_arith = (sg.supportedStages & VK_SHADER_STAGE_COMPUTE_BIT) &&
                        (sg.supportedOperations & VK_SUBGROUP_FEATURE_ARITHMETIC_BIT) &&
                        (sg.supportedOperations & VK_SUBGROUP_FEATURE_BASIC_BIT);
    c->max_alloc = m3.maxMemoryAllocationSize;
    if (api >= VK_API_VERSION_1_3) {
        VkPhysicalDeviceVulkan13Features f13 = { .sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_VULKAN_1_3_FEATURES };
        VkPhysicalDeviceFeatures2 f2 = { .sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_FEATURES_2, .pNext = &f13 };
        vkGetPhysicalDeviceFeatures2(pd, &f2);
        if (f13.subgroupSizeControl && f13.computeFullSubgroups &&
            (ssc.requiredSubgroupSizeStages & VK_SHADER_STAGE_COMPUTE_BIT)) {
            c->subgroup_min = ssc.minSubgroupSize;
            c->subgroup_max = ssc.maxSubgroupSize;
        }
        c->int_dot = f13.shaderIntegerDotProduct;
        c->int_dot_fast = dot.integerDotProduct4x8BitPackedSignedAccelerated;
    }

    VkPhysicalDeviceMemoryProperties mp;
    vkGetPhysicalDeviceMemoryProperties(pd, &mp);
    c->n_heaps = mp.memoryHeapCount < VK_MAX_HEAPS ? mp.memoryHeapCount : VK_MAX_HEAPS;
    uint32_t best = 0;
    for (uint32_t i = 0; i < c->n_heaps; i++) {
        c->heap_size[i] = mp.memoryHeaps[i].size;
        c->heap_device_local[i] = mp.memoryHeaps[i].flags & VK_MEMORY_HEAP_DEVICE_LOCAL_BIT;
        if (c->heap_device_local[i] && c->heap_size[i] > c->device_local_bytes) {
            c->device_local_bytes = c->heap_size[i];
            best = i;
        }
    }
    /* Unified memory: an integrated or CPU device whose main device-local heap
     * the host can map; weights are then written in place, without staging. */
    bool shared_type = c->type == VK_PHYSICAL_DEVICE_TYPE_INTEGRATED_GPU || c->type == VK_PHYSICAL_DEVICE_TYPE_CPU;
    for (uint32_t i = 0; i < mp.memoryTypeCount && shared_type; i++) {
        VkMemoryPropertyFlags f = mp.memoryTypes[i].propertyFlags;
        if (mp.memoryTypes[i].heapIndex == best && (f & VK_MEMORY_PROPERTY_DEVICE_LOCAL_BIT) &&
            (f & VK_MEMORY_PROPERTY_HOST_VISIBLE_BIT) && (f & VK_MEMORY_PROPERTY_HOST_COHERENT_BIT))
            c->unified_memory = true;
    }
}

int vk_instance_create(vk_instance **out, bool validation, gc_err *err)
{
    *out = NULL;
    const char *env = getenv("GEMMA_CHAT_VALIDATION");
    if (env && !strcmp(env, "1")) validation = true;

    uint32_t loader = VK_API_VERSION_1_0;
    if (vkEnumerateInstanceVersion(&loader) != VK_SUCCESS || loader < VK_API_VERSION_1_2)
        return gc_errf(err, "vulkan: the Vulkan loader supports version %u.%u; gemma-chat needs 1.2 "
                       "(install a newer libvulkan1, or use --backend cpu)",
                       VK_API_VERSION_MAJOR(loader), VK_API_VERSION_MINOR(loader));
    instance_api = loader >= VK_API_VERSION_1_3 ? VK_API_VERSION_1_3 : VK_API_VERSION_1_2;

    vk_instance *vi = calloc(1, sizeof *vi);
    if (!vi) return gc_errf(err, "vulkan: out of memory");
    vi->validation = validation;

    const char *layers[1];
    uint32_t n_layers = 0;
    const char *exts[2];
    uint32_t n_exts = 0;
    VkInstanceCreateFlags flags = 0;
    if (validation) {
        if (!has_layer("VK_LAYER_KHRONOS_validation")) {
            gc_errf(err, "vulkan: validation was requested but VK_LAYER_KHRONOS_validation is not "
                    "installed (Debian package vulkan-validationlayers)");
            goto fail;
        }
        if (!has_instance_ext(VK_EXT_DEBUG_UTILS_EXTENSION_NAME)) {
            gc_errf(err, "vulkan: validation needs the instance extension %s", VK_EXT_DEBUG_UTILS_EXTENSION_NAME);
            goto fail;
        }
        layers[n_layers++] = "VK_LAYER_KHRONOS_validation";
        exts[n_exts++] = VK_EXT_DEBUG_UTILS_EXTENSION_NAME;
    }
    /* MoltenVK and other non-conformant implementations hide behind this. */
    if (has_instance_ext(VK_KHR_PORTABILITY_ENUMERATION_EXTENSION_NAME)) {
        exts[n_exts++] = VK_KHR_PORTABILITY_ENUMERATION_EXTENSION_NAME;
        flags |= VK_INSTANCE_CREATE_ENUMERATE_PORTABILITY_BIT_KHR;
    }
    VkDebugUtilsMessengerCreateInfoEXT mci = {
        .sType = VK_STRUCTURE_TYPE_DEBUG_UTILS_MESSENGER_CREATE_INFO_EXT,
        .messageSeverity = VK_DEBUG_UTILS_MESSAGE_SEVERITY_WARNING_BIT_EXT | VK_DEBUG_UTILS_MESSAGE_SEVERITY_ERROR_BIT_EXT,
        .messageType = VK_DEBUG_UTILS_MESSAGE_TYPE_GENERAL_BIT_EXT | VK_DEBUG_UTILS_MESSAGE_TYPE_VALIDATION_BIT_EXT |
                       VK_DEBUG_UTILS_MESSAGE_TYPE_PERFORMANCE_BIT_EXT,
        .pfnUserCallback = on_message,
    };
    VkApplicationInfo app = {
        .sType = VK_STRUCTURE_TYPE_APPLICATION_INFO,
        .pApplicationName = "gemma-chat",
        .applicationVersion = 1,
        .pEngineName = "gemma-chat",
        .apiVersion = instance_api,
    };
    VkInstanceCreateInfo ci = {
        .sType = VK_STRUCTURE_TYPE_INSTANCE_CREATE_INFO,
        .pNext = validation ? &mci : NULL,   /* also catches messages of instance creation */
        .flags = flags,
        .pApplicationInfo = &app,
        .enabledLayerCount = n_layers, .ppEnabledLayerNames = layers,
        .enabledExtensionCount = n_exts, .ppEnabledExtensionNames = exts,
    };
    VkResult r = vkCreateInstance(&ci, NULL, &vi->instance);
    if (r != VK_SUCCESS) {
        gc_errf(err, "vulkan: %svkCreateInstance failed: %s",
                r == VK_ERROR_INCOMPATIBLE_DRIVER ? "no Vulkan driver found: " : "", vk_result_name(r));
        vi->instance = VK_NULL_HANDLE;
        goto fail;
    }
    if (validation) {
        PFN_vkCreateDebugUtilsMessengerEXT create = (PFN_vkCreateDebugUtilsMessengerEXT)
            vkGetInstanceProcAddr(vi->instance, "vkCreateDebugUtilsMessengerEXT");
        if (!create || create(vi->instance, &mci, NULL, &vi->messenger) != VK_SUCCESS) {
            gc_errf(err, "vulkan: could not install the validation message callback");
            goto fail;
        }
    }
    /* lavapipe (Mesa 22) loses 128 bytes every time the loader unloads it,
     * which leak checkers (ASan, valgrind) report against us: once the loader
     * has loaded it, keep it loaded until exit. No-op when it is not loaded. */
    (void)dlopen("libvulkan_lvp.so", RTLD_NOW | RTLD_NOLOAD | RTLD_NODELETE);
    r = vkEnumeratePhysicalDevices(vi->instance, &vi->n_phys, NULL);
    if (r != VK_SUCCESS && r != VK_INCOMPLETE) {
        gc_errf(err, "vulkan: vkEnumeratePhysicalDevices failed: %s", vk_result_name(r));
        goto fail;
    }
    if (vi->n_phys) {
        vi->phys = calloc(vi->n_phys, sizeof *vi->phys);
        vi->caps = calloc(vi->n_phys, sizeof *vi->caps);
        if (!vi->phys || !vi->caps) { gc_errf(err, "vulkan: out of memory"); goto fail; }
        r = vkEnumeratePhysicalDevices(vi->instance, &vi->n_phys, vi->phys);
        if (r != VK_SUCCESS && r != VK_INCOMPLETE) {
            gc_errf(err, "vulkan: vkEnumeratePhysicalDevices failed: %s", vk_result_name(r));
            goto fail;
        }
        for (uint32_t i = 0; i < vi->n_phys; i++) read_caps(vi->phys[i], &vi->caps[i]);
    }
    *out = vi;
    return 0;
fail:
    vk_instance_destroy(vi);
    return -1;
}

void vk_instance_destroy(vk_instance *vi)
{
    if (!vi) return;
    if (vi->messenger) {
        PFN_vkDestroyDebugUtilsMessengerEXT destroy = (PFN_vkDestroyDebugUtilsMessengerEXT)
            vkGetInstanceProcAddr(vi->instance, "vkDestroyDebugUtilsMessengerEXT");
        if (destroy) destroy(vi->instance, vi->messenger, NULL);
    }
    if (vi->instance) vkDestroyInstance(vi->instance, NULL);
    free(vi->phys);
    free(vi->caps);
    free(vi);
}

int vk_device_pick(const vk_instance *vi, int want, int *index, gc_err *err)
{
    if (vi->n_phys == 0)
        return gc_errf(err, "vulkan: no Vulkan device found (install a GPU driver, or Mesa's lavapipe: "
                       "Debian package mesa-vulkan-drivers), or use --backend cpu");
    if (want >= 0) {
        if ((uint32_t)want >= vi->n_phys)
            return gc_errf(err, "vulkan: --device %d: there are %u Vulkan devices (0..%u; see `gemma-chat devices`)",
                           want, vi->n_phys, vi->n_phys - 1);
        if (vi->caps[want].api_version < VK_API_VERSION_1_2)
            return gc_errf(err, "vulkan: --device %d (%s) supports Vulkan %u.%u; gemma-chat needs 1.2", want,
                           vi->caps[want].name, VK_API_VERSION_MAJOR(vi->caps[want].api_version),
                           VK_API_VERSION_MINOR(vi->caps[want].api_version));
        *index = want;
        return 0;
    }
    int best = -1;
    for (uint32_t i = 0; i < vi->n_phys; i++) {
        if (vi->caps[i].api_version < VK_API_VERSION_1_2) continue;
        if (best < 0 || vk_device_rank(vi->caps[i].type) > vk_device_rank(vi->caps[best].type)) best = (int)i;
    }
    if (best < 0)
        return gc_errf(err, "vulkan: none of the %u Vulkan devices supports Vulkan 1.2 (first: %s); "
                       "use --backend cpu", vi->n_phys, vi->caps[0].name);
    *index = best;
    return 0;
}

int vk_device_create(const vk_instance *vi, int index, vk_device **out, gc_err *err)
{
    *out = NULL;
    if (index < 0 || (uint32_t)index >= vi->n_phys) return gc_errf(err, "vulkan: no device %d", index);
    vk_device *d = calloc(1, sizeof *d);
    if (!d) return gc_errf(err, "vulkan: out of memory");
    d->phys = vi->phys[index];
    d->caps = vi->caps[index];
    vkGetPhysicalDeviceMemoryProperties(d->phys, &d->mem);

    uint32_t nq = 0;
    vkGetPhysicalDeviceQueueFamilyProperties(d->phys, &nq, NULL);
    VkQueueFamilyProperties *qf = calloc(nq ? nq : 1, sizeof *qf);
    if (!qf) { free(d); return gc_errf(err, "vulkan: out of memory"); }
    vkGetPhysicalDeviceQueueFamilyProperties(d->phys, &nq, qf);
    /* A compute-capable family; prefer one that also does graphics (the
     * "universal" queue is the fastest one on most desktop drivers). */
    int fam = -1;
    for (uint32_t i = 0; i < nq && fam < 0; i++)
        if ((qf[i].queueFlags & VK_QUEUE_COMPUTE_BIT) && (qf[i].queueFlags & VK_QUEUE_GRAPHICS_BIT)) fam = (int)i;
    for (uint32_t i = 0; i < nq && fam < 0; i++)
        if (qf[i].queueFlags & VK_QUEUE_COMPUTE_BIT) fam = (int)i;
    free(qf);
    if (fam < 0) {
        free(d);
        return gc_errf(err, "vulkan: device %d (%s) has no compute queue", index, vi->caps[index].name);
    }
    d->queue_family = (uint32_t)fam;

    float prio = 1.0f;
    VkDeviceQueueCreateInfo qci = {
        .sType = VK_STRUCTURE_TYPE_DEVICE_QUEUE_CREATE_INFO,
        .queueFamilyIndex = d->queue_family, .queueCount = 1, .pQueuePriorities = &prio,
    };
    const char *exts[1];
    uint32_t n_exts = 0;
    if (has_device_ext(d->phys, "VK_KHR_portability_subset")) exts[n_exts++] = "VK_KHR_portability_subset";
    /* The Vulkan 1.3 features the kernels use where the device has them
     * (read_caps): required subgroup sizes, integer dot products. */
    VkPhysicalDeviceVulkan13Features f13 = { .sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_VULKAN_1_3_FEATURES,
                                             .subgroupSizeControl = d->caps.subgroup_max > 0,
                                             .computeFullSubgroups = d->caps.subgroup_max > 0,
                                             .shaderIntegerDotProduct = d->caps.int_dot };
    bool v13 = d->caps.subgroup_max > 0 || d->caps.int_dot;
    VkDeviceCreateInfo dci = {
        .sType = VK_STRUCTURE_TYPE_DEVICE_CREATE_INFO, .pNext = v13 ? &f13 : NULL,
        .queueCreateInfoCount = 1, .pQueueCreateInfos = &qci,
        .enabledExtensionCount = n_exts, .ppEnabledExtensionNames = exts,
    };
    VkResult r = vkCreateDevice(d->phys, &dci, NULL, &d->dev);
    if (r != VK_SUCCESS) {
        free(d);
        return gc_errf(err, "vulkan: vkCreateDevice on %s failed: %s", vi->caps[index].name, vk_result_name(r));
    }
    vkGetDeviceQueue(d->dev, d->queue_family, 0, &d->queue);
    *out = d;
    return 0;
}

void vk_device_destroy(vk_device *d)
{
    if (!d) return;
    if (d->dev) vkDestroyDevice(d->dev, NULL);
    free(d);
}
