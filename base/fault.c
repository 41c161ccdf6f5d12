/* fault.c: the fault injector (see fault.h). */
#include "base/fault.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *const point_names[GC_FAULT_COUNT] = {
    [GC_FAULT_WRITE] = "write", [GC_FAULT_FSYNC] = "fsync", [GC_FAULT_RENAME] = "rename",
    [GC_FAULT_DIRSYNC] = "dirsync", [GC_FAULT_ALLOC] = "alloc", [GC_FAULT_UPLOAD] = "upload",
    [GC_FAULT_LOST] = "lost", [GC_FAULT_MEM] = "mem", [GC_FAULT_SELFCHECK] = "selfcheck",
};

#define TEXT_MAX 128

static bool is_text(int p) { return p == GC_FAULT_SELFCHECK; }

static bool env_read;
static bool held;                        /* gc_fault_hold */
static uint64_t nth[GC_FAULT_COUNT];     /* the event that fails (a limit: its value; a text: 1); 0 = none */
static uint64_t seen[GC_FAULT_COUNT];
static char text[GC_FAULT_COUNT][TEXT_MAX];   /* text points: their TEXT; "" = none */

static int parse(const char *spec, uint64_t out[GC_FAULT_COUNT], char out_text[GC_FAULT_COUNT][TEXT_MAX])
{
    memset(out, 0, GC_FAULT_COUNT * sizeof *out);
    memset(out_text, 0, GC_FAULT_COUNT * TEXT_MAX);
    const char *s = spec ? spec : "";
    while (*s) {
        size_t len = strcspn(s, ":,");
        int p = 0;
        while (p < GC_FAULT_COUNT && (strlen(point_names[p]) != len || strncmp(s, point_names[p], len))) p++;
        if (p == GC_FAULT_COUNT) return -1;
        if (is_text(p)) {
            const char *t = s + len, *end;
            if (*t != ':' || !t[1] || t[1] == ',') return -1;
            end = t + 1 + strcspn(t + 1, ",");
            if (end - (t + 1) >= TEXT_MAX) return -1;
            memcpy(out_text[p], t + 1, (size_t)(end - (t + 1)));
            out[p] = 1;
            s = *end ? end + 1 : end;
            continue;
        }
        unsigned long long n = 1;
        const char *end = s + len;
        if (*end == ':') {
            char *e;
            n = strtoull(end + 1, &e, 10);
            if (e == end + 1 || n == 0) return -1;
            end = e;
        }
        if (*end && *end != ',') return -1;
        if (p == GC_FAULT_MEM && n > (UINT64_MAX >> 20)) return -1;
        out[p] = n;
        s = *end ? end + 1 : end;
    }
    return 0;
}

int gc_fault_set(const char *spec)
{
    uint64_t v[GC_FAULT_COUNT];
    char t[GC_FAULT_COUNT][TEXT_MAX];
    if (!spec) {
        env_read = false;
        return 0;
    }
    if (parse(spec, v, t)) return -1;
    env_read = true;
    memcpy(nth, v, sizeof nth);
    memcpy(text, t, sizeof text);
    memset(seen, 0, sizeof seen);
    return 0;
}

static void read_env(void)
{
    if (env_read) return;
    const char *s = getenv("GEMMA_CHAT_FAULT");
    if (gc_fault_set(s ? s : "")) {
        fprintf(stderr, "gemma-chat: GEMMA_CHAT_FAULT=%s: not POINT[:N][,POINT[:N]...] with known points "
                        "(base/fault.h); ignored\n", s);
        gc_fault_set("");
    }
}

bool gc_fault_hit(gc_fault_point p)
{
    read_env();
    return !held && !is_text(p) && nth[p] && ++seen[p] == nth[p];
}

void gc_fault_hold(bool on) { held = on; }

uint64_t gc_fault_limit(gc_fault_point p)
{
    read_env();
    return nth[p];
}

const char *gc_fault_text(gc_fault_point p)
{
    read_env();
    return is_text(p) && text[p][0] ? text[p] : NULL;
}
