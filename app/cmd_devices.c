/* cmd_devices.c: `gemma-chat devices [-v] [--device N] [--check]`: the
 * Vulkan devices seen (index, name, type, memory, Vulkan version) and which
 * one a run would use. -v adds the capabilities the backend reads
 * (subgroups, integer dot, limits). --check runs the self-check
 * (vk/vk_selfcheck.h) on every device, stamps were there one or not, and
 * prints a line per device ending in "ok" or "FAILED: CASE"; with -v, one
 * line per case too. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "app/backends.h"
#include "app/commands.h"
#include "app/paths.h"
#include "vk/vk_device.h"
#include "vk/vk_selfcheck.h"

static void usage(FILE *f)
{
    fprintf(f, "usage: gemma-chat devices [-v] [--device N] [--check]\n"
               "  lists the Vulkan devices and marks the one that would be used (*)\n"
               "  -v          also print each device's capabilities (with --check: each case)\n"
               "  --device N  mark device N instead of the automatic choice\n"
               "  --check     run the self-check of every device's kernels against the reference\n"
               "              backend; exit 1 if one fails\n");
}

static void print_caps(const vk_caps *c)
{
    printf("      driver: %s\n", c->driver[0] ? c->driver : "(not reported)");
    printf("      subgroup size %u (arithmetic %s), size control ", c->subgroup_size, c->subgroup_arith ? "yes" : "no");
    if (c->subgroup_max) printf("%u..%u", c->subgroup_min, c->subgroup_max);
    else printf("no");
    printf(", integer dot %s\n", !c->int_dot ? "no" : c->int_dot_fast ? "yes (accelerated)" : "yes (not accelerated)");
    printf("      max storage buffer %llu MiB, shared memory %u KiB, workgroup %u invocations, "
           "max allocation %llu MiB, unified memory %s\n",
           (unsigned long long)(c->max_storage_range >> 20), c->max_shared >> 10, c->max_wg_invocations,
           (unsigned long long)(c->max_alloc >> 20), c->unified_memory ? "yes" : "no");
    for (uint32_t h = 0; h < c->n_heaps; h++)
        printf("      heap %u: %.1f GiB%s\n", h, (double)c->heap_size[h] / (1u << 30),
               c->heap_device_local[h] ? " device-local" : "");
}

static void print_case(void *user, const char *name, bool ok, const char *detail)
{
    (void)user;
    printf("      %-72s %s%s%s\n", name, ok ? "ok" : "FAILED", ok ? "" : ": ", detail);
}

/* The self-check of every device, one line each (after its cases with -v):
 * 0 when all passed, else 1. The verdicts renew the stamps the app reads. */
static int check_all(const vk_instance *vi, bool verbose)
{
    char dir[PATHS_MAX];
    gc_err ignored;
    bool have_dir = paths_ensure_user_dir(PATHS_CACHE, NULL, dir, sizeof dir, &ignored) == 0;
    int rc = 0;
    for (uint32_t i = 0; i < vi->n_phys; i++) {
        const char *name = vi->caps[i].name;
        vk_selfcheck_result res;
        gc_err err = {0};
        if (verbose) printf("  self-check of device %u:\n", i);
        fflush(stdout);
        if (backends_selfcheck((int)i, &vi->caps[i], have_dir ? dir : NULL, true, verbose ? print_case : NULL, NULL,
                               &res, &err)) {
            printf("check %u %s: FAILED: the check could not run\n", i, name);
            fprintf(stderr, "gemma-chat devices: device %u: %s\n", i, err.msg);
            rc = 1;
        } else if (res.n_failed) {
            printf("check %u %s: %d cases in %.1f s: FAILED: %s\n", i, name, res.n_cases, res.seconds, res.failed);
            char msg[600];
            vk_selfcheck_message(&res, name, msg, sizeof msg);
            fprintf(stderr, "gemma-chat devices: %s\n", msg);
            rc = 1;
        } else {
            printf("check %u %s: %d cases in %.1f s: ok\n", i, name, res.n_cases, res.seconds);
        }
    }
    return rc;
}

int cmd_devices(int argc, char **argv)
{
    bool verbose = false, check = false;
    int want = -1;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "-v") || !strcmp(argv[i], "--verbose")) verbose = true;
        else if (!strcmp(argv[i], "--check")) check = true;
        else if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) { usage(stdout); return 0; }
        else if (!strcmp(argv[i], "--device") && i + 1 < argc) {
            char *end;
            long v = strtol(argv[++i], &end, 10);
            if (*end || v < 0 || v > 1000) {
                fprintf(stderr, "gemma-chat devices: --device '%s': expected a device index\n", argv[i]);
                return 2;
            }
            want = (int)v;
        } else {
            fprintf(stderr, "gemma-chat devices: unknown argument '%s'\n", argv[i]);
            usage(stderr);
            return 2;
        }
    }
    vk_instance *vi = NULL;
    gc_err err = {0};
    if (vk_instance_create(&vi, false, &err)) {
        fprintf(stderr, "gemma-chat devices: %s\n", err.msg);
        return 1;
    }
    int pick = -1;
    gc_err perr = {0};
    int prc = vk_device_pick(vi, want, &pick, &perr);
    if (vi->n_phys) printf("  %-5s %-40s %-15s %10s  %s\n", "index", "name", "type", "memory", "Vulkan");
    for (uint32_t i = 0; i < vi->n_phys; i++) {
        const vk_caps *c = &vi->caps[i];
        printf("%c %-5u %-40s %-15s %6.1f GiB  %u.%u.%u\n", prc == 0 && (int)i == pick ? '*' : ' ', i, c->name,
               vk_device_type_name(c->type), (double)vk_device_budget(c) / (1u << 30),
               VK_API_VERSION_MAJOR(c->api_version), VK_API_VERSION_MINOR(c->api_version),
               VK_API_VERSION_PATCH(c->api_version));
        if (verbose && !check) print_caps(c);
    }
    int rc = 0;
    if (prc) {
        fprintf(stderr, "gemma-chat devices: %s\n", perr.msg);
        rc = want >= 0 ? 2 : 1;
    } else {
        const vk_caps *c = &vi->caps[pick];
        printf("would use: %d (%s)%s\n", pick, c->name,
               c->type == VK_PHYSICAL_DEVICE_TYPE_CPU ? ": a CPU Vulkan device, slow; the default "
                                                         "backend is the native CPU one" : "");
    }
    if (check && check_all(vi, verbose) && !rc) rc = 1;
    vk_instance_destroy(vi);
    return rc;
}
