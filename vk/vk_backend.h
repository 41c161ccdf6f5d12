/* vk_backend.h: the Vulkan implementation of model/backend.h.
 *
 * Every op of a step is recorded into one command buffer; end_step submits it
 * once and waits on one fence. Barriers are recorded only where an op touches
 * a buffer that an earlier op of the same barrier interval wrote (or, for a
 * write, read): read-after-write, write-after-write, write-after-read.
 *
 * Weights are repacked at upload (vk_kernels.h) into device-local memory;
 * tables larger than the device's maxStorageBufferRange are split by rows
 * into several buffers, and ops loop over the pieces.
 */
#ifndef GC_VK_BACKEND_H
#define GC_VK_BACKEND_H

#include <stdbool.h>
#include <stdint.h>

#include "model/backend.h"
#include "model/gguf.h"
#include "vk/vk_device.h"
#include "vk/vk_kernels.h"

/* Test hooks that make the backend take the paths another device would.
 * Faults (a failed allocation or upload, a lost device) and the device's
 * memory size come from base/fault.h (points alloc, upload, lost, mem). */
typedef struct vk_test_hooks {
    uint64_t max_storage_range;   /* > 0: lower maxStorageBufferRange to this (forces splitting) */
    bool force_staging;           /* upload through staging even on unified memory */
    bool force_no_subgroup;       /* shared-memory reductions even where subgroups work */
    bool no_size_control;         /* as if the device could not require subgroup sizes (the
                                   * matrix-vector kernel's multi-subgroup reduction) */
    bool fast_int_dot;            /* take integer dot products as accelerated where the device has
                                   * them at all (matvec_dp on lavapipe) */
} vk_test_hooks;

typedef struct vk_backend_opts {
    int device;                   /* index from `gemma-chat devices`; -1 = best */
    bool gpu_only;                /* with device -1: a CPU-type device (lavapipe) counts as none
                                   * (VK_BACKEND_NO_DEVICE): the native CPU backend is faster */
    bool validation;              /* Khronos validation layer (also GEMMA_CHAT_VALIDATION=1) */
    const char *cache_dir;        /* the pipeline cache goes to this directory (vk_pipe_cache_path);
                                   * NULL = none (the app gives its cache directory) */
    const char *cache_path;       /* ... or to this file (tests); overrides cache_dir */
    int kv_bits;                  /* KV cache: 16 or 32; 0 = GEMMA_CHAT_KV_BITS if set, else
                                   * vk_choose_kv_f16's choice (f32 for all-F32 models) */
    const gguf_file *model;       /* if set: its weights must fit the device (checked at create)
                                   * and the load progress counts against its size */
    be_progress_fn progress;      /* called while weights upload; may be NULL */
    void *progress_user;
    /* Where a notice goes (CPU-type device chosen); NULL = stderr. */
    void (*notice)(void *user, const char *msg);
    void *notice_user;
    vk_test_hooks hooks;
} vk_backend_opts;

/* Defaults: best device, no validation, default cache, hooks off. */
void vk_backend_opts_init(vk_backend_opts *o);

/* Returns 0, -1 (err says why), or VK_BACKEND_NO_DEVICE when there is no
 * usable Vulkan loader or device at all (callers may fall back to the CPU). */
#define VK_BACKEND_NO_DEVICE 2
int vk_backend_create(const vk_backend_opts *o, backend **out, gc_err *err);

/* Counters of the backend's work, for tests and the benchmark. */
typedef struct vk_backend_stats {
    uint64_t steps, dispatches, barriers;   /* totals since create */
    uint64_t last_dispatches, last_barriers; /* of the last step */
    uint32_t pipelines;                     /* built so far */
    bool kv_f16;
    bool unified_memory;
    uint64_t weight_bytes;                  /* device bytes of weights */
    uint32_t max_pieces;                    /* most buffers one weight was split into */
    uint64_t host_bytes_released;           /* file-map bytes given back after upload (MADV_DONTNEED) */
    vk_kcaps kcaps;                         /* what the kernel choice sees (tests recompute variants) */
} vk_backend_stats;

/* be must come from vk_backend_create. */
void vk_backend_stats_get(backend *be, vk_backend_stats *out);

/* The device be (from vk_backend_create) runs on: its index as `gemma-chat
 * devices` lists them, and its capabilities (test hooks may have lowered
 * limits; the identity fields are the device's). */
const vk_caps *vk_backend_device(backend *be, int *index);

/* Bytes the weights of a model take on a device (the repacked layout), or -1
 * with err naming an unsupported tensor. */
int vk_model_weight_bytes(const gguf_file *g, uint64_t *bytes, gc_err *err);

#endif
