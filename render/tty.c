/* tty.c: terminal restoration on every exit path (see tty.h). */
#include "render/tty.h"

#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <termios.h>
#include <unistd.h>

static const int crash_sigs[] = { SIGSEGV, SIGBUS, SIGFPE, SIGILL, SIGABRT, SIGQUIT, SIGTRAP };
static const int exit_sigs[] = { SIGTERM, SIGHUP, SIGINT };
#define NCRASH (int)(sizeof crash_sigs / sizeof *crash_sigs)
#define NEXIT (int)(sizeof exit_sigs / sizeof *exit_sigs)

static volatile sig_atomic_t g_active;      // the terminal is in screen mode
static volatile sig_atomic_t g_catch;       // exit signals become events
static volatile sig_atomic_t g_pending;     // the recorded exit signal
static int g_fd = -1;
static struct termios g_saved;
static char g_seq[512];
static size_t g_seq_len;
static struct sigaction g_old_crash[NCRASH], g_old_exit[NEXIT];
static int g_installed, g_atexit_done;
static char *g_altstack;

void tty_restore(void)
{
    if (!g_active) return;
    g_active = 0;
    size_t off = 0;
    while (off < g_seq_len) {
        ssize_t w = write(g_fd, g_seq + off, g_seq_len - off);
        if (w <= 0) break;
        off += (size_t)w;
    }
    tcsetattr(g_fd, TCSAFLUSH, &g_saved);
}

static void die_restored(int sig, const struct sigaction *old)
{
    tty_restore();
    sigaction(sig, old, NULL);
    raise(sig);     // blocked until the handler returns; then acts as before
}

static void on_crash(int sig, siginfo_t *si, void *ctx)
{
    (void)ctx;
    for (int i = 0; i < NCRASH; i++) {
        if (crash_sigs[i] != sig) continue;
        tty_restore();
        sigaction(sig, &g_old_crash[i], NULL);
        /* Sent by kill/raise/abort: send it again. From a fault: returning
         * re-runs the faulting instruction, which now meets the previous
         * handler (a sanitizer's report, or the default core dump). */
        if (si->si_code <= 0) raise(sig);
        return;
    }
}

static void on_exit_signal(int sig)
{
    for (int i = 0; i < NEXIT; i++) {
        if (exit_sigs[i] != sig) continue;
        if (g_catch && !g_pending) { g_pending = sig; return; }
        die_restored(sig, &g_old_exit[i]);
        return;
    }
}

static void at_exit(void) { tty_restore(); }

int tty_begin(int fd)
{
    if (tcgetattr(fd, &g_saved)) return -1;
    g_fd = fd;
    g_seq_len = 0;
    g_pending = 0;
    g_active = 1;
    if (!g_atexit_done) { atexit(at_exit); g_atexit_done = 1; }
    if (g_installed) return 0;
    /* An alternate stack lets the handler run even when the crash is a
     * stack overflow. */
    if (!g_altstack) g_altstack = malloc(SIGSTKSZ > 65536 ? SIGSTKSZ : 65536);
    if (g_altstack) {
        stack_t st = { .ss_sp = g_altstack, .ss_size = SIGSTKSZ > 65536 ? SIGSTKSZ : 65536 };
        sigaltstack(&st, NULL);
    }
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sigemptyset(&sa.sa_mask);
    sa.sa_sigaction = on_crash;
    sa.sa_flags = SA_SIGINFO | SA_ONSTACK;
    for (int i = 0; i < NCRASH; i++) sigaction(crash_sigs[i], &sa, &g_old_crash[i]);
    memset(&sa, 0, sizeof sa);
    sigemptyset(&sa.sa_mask);
    sa.sa_handler = on_exit_signal;
    for (int i = 0; i < NEXIT; i++) {
        sigaction(exit_sigs[i], NULL, &g_old_exit[i]);
        if (g_old_exit[i].sa_handler != SIG_IGN)    // nohup's ignored SIGHUP stays ignored
            sigaction(exit_sigs[i], &sa, NULL);
    }
    g_installed = 1;
    return 0;
}

void tty_set_sequence(const char *seq, size_t n)
{
    if (n > sizeof g_seq) n = sizeof g_seq;
    g_active = 0;           // never write a half-copied sequence from a handler
    memcpy(g_seq, seq, n);
    g_seq_len = n;
    g_active = 1;
}

void tty_end(void)
{
    g_active = 0;
    if (!g_installed) return;
    for (int i = 0; i < NCRASH; i++) sigaction(crash_sigs[i], &g_old_crash[i], NULL);
    for (int i = 0; i < NEXIT; i++) sigaction(exit_sigs[i], &g_old_exit[i], NULL);
    g_installed = 0;
}

void tty_catch_exit_signals(int on) { g_catch = on; }

int tty_take_signal(void)
{
    int s = g_pending;
    g_pending = 0;
    return s;
}
