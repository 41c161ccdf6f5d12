/* vk_fault.h: Vulkan fault injection for tests (issue 10).
 *
 * GEMMA_CHAT_VK_FAULT=KIND[:N], read once per process, makes the Nth event
 * (1-based, default 1) of that kind fail, once:
 *   alloc   creating a buffer (weights, KV cache, scratch, arenas) fails with
 *           VK_ERROR_OUT_OF_DEVICE_MEMORY
 *   upload  writing weights to the device fails with VK_ERROR_OUT_OF_DEVICE_MEMORY
 *   lost    a step's submission reports VK_ERROR_DEVICE_LOST (and the device
 *           stays lost: vk_backend.c fails every later step)
 * Other values (the older "oom:N", "lost:N", "mem:N" of vk_backend.h) are
 * left to vk_backend.c. Tests: tests/t_faults.sh.
 */
#ifndef GC_VK_FAULT_H
#define GC_VK_FAULT_H

#include <stdbool.h>

typedef enum vk_fault_kind { VK_FAULT_ALLOC, VK_FAULT_UPLOAD, VK_FAULT_LOST, VK_FAULT_COUNT } vk_fault_kind;

/* Counts one event of kind k; true when it is to fail. */
bool vk_fault_hit(vk_fault_kind k);

#endif
