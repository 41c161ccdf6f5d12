/* isa.c: CPU feature detection (see isa.h). */
#include "cpu/isa.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#if defined(__x86_64__) || defined(__i386__)
#include <cpuid.h>
#include <sys/syscall.h>
#include <unistd.h>

static unsigned long long xgetbv0(void)
{
    unsigned int lo, hi;
    __asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
    return ((unsigned long long)hi << 32) | lo;
}

/* Linux hands out the (8 KiB) tile state only to a process that asks for it
 * (arch_prctl ARCH_REQ_XCOMP_PERM for XTILEDATA); without it the first tile
 * instruction faults. Asked once; later calls return the first answer. */
static bool amx_permission(void)
{
#if defined(__linux__) && defined(__x86_64__)
    static int granted = -1;
    if (granted < 0) {
        enum { ARCH_REQ_XCOMP_PERM = 0x1023, XFEATURE_XTILEDATA = 18 };
        granted = syscall(SYS_arch_prctl, ARCH_REQ_XCOMP_PERM, XFEATURE_XTILEDATA) == 0;
    }
    return granted;
#else
    return false;
#endif
}

cpu_isa cpu_isa_detect(void)
{
    unsigned int a, b, c, d;
    if (!__get_cpuid(1, &a, &b, &c, &d)) return CPU_ISA_PORTABLE;
    bool fma = c & (1u << 12), osxsave = c & (1u << 27), avx = c & (1u << 28), f16c = c & (1u << 29);
    if (!osxsave || !avx) return CPU_ISA_PORTABLE;
    unsigned long long xcr0 = xgetbv0();
    bool ymm_os = (xcr0 & 0x6) == 0x6;        /* XMM and YMM state */
    bool zmm_os = (xcr0 & 0xe6) == 0xe6;      /* plus opmask and both ZMM halves */
    if (__get_cpuid_max(0, NULL) < 7) return CPU_ISA_PORTABLE;
    __cpuid_count(7, 0, a, b, c, d);
    bool avx2 = b & (1u << 5);
    bool avx512f = b & (1u << 16), avx512dq = b & (1u << 17), avx512bw = b & (1u << 30),
         avx512vl = b & (1u << 31), vnni = c & (1u << 11);
    if (!(ymm_os && avx2 && fma && f16c)) return CPU_ISA_PORTABLE;
    if (!(zmm_os && avx512f && avx512dq && avx512bw && avx512vl && vnni)) return CPU_ISA_AVX2;
    bool amx_tile = d & (1u << 24), amx_bf16 = d & (1u << 22);
    __cpuid_count(7, 1, a, b, c, d);
    bool avx512_bf16 = a & (1u << 5);
    bool tile_os = (xcr0 & 0x60000) == 0x60000;   /* XTILECFG and XTILEDATA */
    if (amx_tile && amx_bf16 && avx512_bf16 && tile_os && amx_permission()) return CPU_ISA_AMX;
    return CPU_ISA_AVX512;
}
#else
cpu_isa cpu_isa_detect(void) { return CPU_ISA_PORTABLE; }
#endif

int cpu_isa_choose(cpu_isa *out, const char **why)
{
    cpu_isa best = cpu_isa_detect();
    *out = best;
    const char *want = getenv("GEMMA_CHAT_CPU_ISA");
    if (!want || !*want) return 0;
    for (int l = 0; l < CPU_ISA_COUNT; l++)
        if (!strcmp(want, cpu_isa_name((cpu_isa)l))) {
            if (l > (int)best) {
                *why = "GEMMA_CHAT_CPU_ISA asks for an instruction-set level this CPU does not have";
                return -1;
            }
            *out = (cpu_isa)l;
            return 0;
        }
    *why = "GEMMA_CHAT_CPU_ISA: unknown level (known: portable, avx2, avx512, amx)";
    return -1;
}
