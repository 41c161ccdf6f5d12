/* line.h: the plain front ends: -p / stdin (one reply to stdout) and
 * --no-tui line-mode chat. The reply alone goes to stdout; prompts, notices,
 * errors and statistics go to stderr. */
#ifndef GC_LINE_H
#define GC_LINE_H

#include "app/cli.h"
#include "app/config.h"

/* One reply to `text` (after --load's conversation, if given). Returns the exit code. */
int line_oneshot(const cfg_config *cfg, const cli_opts *o, const char *text);

/* Line-mode chat until /quit, end of input, or SIGTERM/SIGHUP; slash
 * commands work as in the TUI. On a terminal the input is edited with
 * readline; otherwise each input line is one message. Returns the exit code. */
int line_chat(const cfg_config *cfg, const cli_opts *o);

#endif
