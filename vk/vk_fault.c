/* vk_fault.c: Vulkan fault injection for tests (see vk_fault.h). */
#include "vk/vk_fault.h"

#include <stdlib.h>
#include <string.h>

static int g_read;                        /* the environment was read */
static int g_kind = -1;                   /* the faulting kind; -1 none */
static long g_nth;                        /* the first failing event, 1-based */
static long g_count[VK_FAULT_COUNT];      /* events seen */

static void read_env(void)
{
    static const char *names[VK_FAULT_COUNT] = { "alloc", "upload", "lost" };
    g_read = 1;
    const char *s = getenv("GEMMA_CHAT_VK_FAULT");
    if (!s) return;
    for (int k = 0; k < VK_FAULT_COUNT; k++) {
        size_t n = strlen(names[k]);
        if (strncmp(s, names[k], n) || (s[n] && s[n] != ':')) continue;
        long nth = 1;
        if (s[n] == ':') {
            char *end;
            nth = strtol(s + n + 1, &end, 10);
            if (*end || nth < 1) return;
        }
        g_kind = k;
        g_nth = nth;
        return;
    }
}

bool vk_fault_hit(vk_fault_kind k)
{
    if (!g_read) read_env();
    if ((int)k != g_kind) return false;
    return ++g_count[k] == g_nth;
}
