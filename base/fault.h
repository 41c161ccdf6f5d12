/* fault.h: the one fault injector of gemma-chat's tests.
 *
 * Code that can fail in ways a test cannot provoke (a full disk, a failed
 * fsync, device memory running out, a lost GPU) asks gc_fault_hit(POINT)
 * just before the real call; when it says true, the code fails as the real
 * call would. Each point counts its own events; the Nth (1-based) fails,
 * once.
 *
 * Syntax, the same for the environment and for tests (N defaults to 1;
 * a text point takes TEXT, any characters but ',', in place of N):
 *     GEMMA_CHAT_FAULT=POINT[:N][,POINT[:N]...]
 * read once per process, at the first question. Points:
 *     write     a write of paths_write_atomic: half the chunk, then ENOSPC
 *     fsync     its fsync of the file: EIO
 *     rename    its rename over the target: EIO
 *     dirsync   its fsync of the directory: EIO
 *     alloc     a Vulkan buffer creation: VK_ERROR_OUT_OF_DEVICE_MEMORY
 *     upload    a Vulkan weight upload: VK_ERROR_OUT_OF_DEVICE_MEMORY
 *     lost      a Vulkan step's submission: VK_ERROR_DEVICE_LOST (the
 *               device then stays lost)
 * one limit, which is not counted but read (gc_fault_limit):
 *     mem       the device (Vulkan: the device-local heap; CPU backends: the
 *               host memory) has N MiB
 * and one text, which is not counted but matched (gc_fault_text):
 *     selfcheck the Vulkan self-check (vk/vk_selfcheck.h) spoils the device's
 *               result of every case whose name contains TEXT, as a wrong
 *               kernel would
 * An unknown point or a bad N is reported on stderr once and ignored, so a
 * typo in a test shows. Effects and the tests that use them:
 * docs/reliability.md.
 */
#ifndef GC_BASE_FAULT_H
#define GC_BASE_FAULT_H

#include <stdbool.h>
#include <stdint.h>

typedef enum gc_fault_point {
    GC_FAULT_WRITE,
    GC_FAULT_FSYNC,
    GC_FAULT_RENAME,
    GC_FAULT_DIRSYNC,
    GC_FAULT_ALLOC,
    GC_FAULT_UPLOAD,
    GC_FAULT_LOST,
    GC_FAULT_MEM,           /* a limit: gc_fault_limit */
    GC_FAULT_SELFCHECK,     /* a text: gc_fault_text */
    GC_FAULT_COUNT
} gc_fault_point;

/* Counts one event at p; true when it is the one to fail. */
bool gc_fault_hit(gc_fault_point p);

/* The limit set for p (GC_FAULT_MEM: MiB), 0 when none. */
uint64_t gc_fault_limit(gc_fault_point p);

/* The text set for p (GC_FAULT_SELFCHECK), NULL when none. */
const char *gc_fault_text(gc_fault_point p);

/* hold true: from now on no point counts or fails, until hold false. For
 * work that a test's faults are not aimed at, amid the work they are (the
 * Vulkan self-check's own backend and stamp, between the creation of the
 * model's backend and its upload). Texts and limits still read as set. */
void gc_fault_hold(bool on);

/* Tests: parses spec in the syntax above ("" = none) in place of the
 * environment, and restarts every count; NULL goes back to the environment
 * (read again at the next question). Returns 0, or -1 for a bad spec
 * (nothing set). Not thread-safe, nor is counting: events come from one
 * thread at a time. */
int gc_fault_set(const char *spec);

#endif
