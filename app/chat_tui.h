/* chat_tui.h: the chat in the ncurses screen (render/ui.h): status bar,
 * streaming replies with Ctrl-C / Esc to stop them, load progress bar,
 * completion of slash commands, persona and transcript names, help overlay. */
#ifndef GC_CHAT_TUI_H
#define GC_CHAT_TUI_H

#include "app/cli.h"
#include "app/config.h"

/* Runs the TUI until /quit, Ctrl-D, Ctrl-C twice on an empty input, or
 * SIGTERM/SIGHUP (autosaving first); returns the exit code (128 + N after
 * signal N). When the screen cannot start (no terminal, unknown TERM) it
 * says why on stderr and runs the line-mode chat instead. */
int tui_main(const cfg_config *cfg, const cli_opts *o);

#endif
