/* tty.h: puts the terminal back the way it was, on every exit path.
 *
 * The chat screen switches the terminal to raw mode, the alternate screen,
 * keypad mode, mouse reporting and bracketed paste. Whatever ends the process
 * (a normal exit, exit() from anywhere, SIGTERM/SIGHUP/SIGINT, a crash) must
 * undo all of that, or the user's shell is left unusable. tty_begin saves the
 * terminal's modes; tty_set_sequence gives the bytes that undo the screen
 * modes; tty_restore writes those bytes and restores the modes using only
 * async-signal-safe calls, so signal handlers can run it.
 *
 * Crash signals (SEGV, BUS, FPE, ILL, ABRT, QUIT, TRAP) restore the terminal
 * and then die as they would have (the previous handler, e.g. a sanitizer's,
 * still runs). Exit signals (TERM, HUP, INT) either do the same, or, when
 * caught with tty_catch_exit_signals, are only recorded for the event loop
 * (the app can then save its state and exit cleanly); a second one while the
 * first is still pending kills the process, terminal restored.
 */
#ifndef GC_TTY_H
#define GC_TTY_H

#include <stddef.h>

/* Saves the modes of terminal fd (the tty the screen uses) and installs the
 * handlers. 0 ok, -1 if fd is not a terminal. */
int tty_begin(int fd);
/* The bytes written to fd on restore (copied; at most 511 bytes). */
void tty_set_sequence(const char *seq, size_t n);
/* Restores the terminal (sequence, then saved modes). Async-signal-safe and
 * idempotent: after the first call it does nothing until tty_begin again. */
void tty_restore(void);
/* Uninstalls the handlers and forgets the saved state (after the screen has
 * been torn down normally, which restored the terminal itself). */
void tty_end(void);

/* on = 1: TERM/HUP/INT are recorded for tty_take_signal instead of ending the
 * process. on = 0: they restore the terminal and end it. */
void tty_catch_exit_signals(int on);
/* The pending exit signal (and clears it), or 0. */
int tty_take_signal(void);

#endif
