/* cli.h: the chat's command line (DESIGN.md "Interfaces the outside world
 * relies on") and the choice of front end.
 *
 *   gemma-chat [options]                 the TUI (stdin and stdout are terminals)
 *   gemma-chat [options] -p TEXT         one reply to stdout, then exit
 *   gemma-chat [options] < FILE          the same with the text from stdin
 *   gemma-chat [options] --no-tui        line-mode chat (readline on a terminal)
 *
 * Flags override config.yaml and the environment (app/config.h); a bad flag
 * or value exits 2 naming it. Exit codes: 0 ok, 1 runtime error, 2 usage
 * error, 128+N after signal N (SIGINT stopping a -p reply, SIGTERM, SIGHUP;
 * the conversation is autosaved first in the interactive modes).
 */
#ifndef GC_CLI_H
#define GC_CLI_H

#include <stdbool.h>
#include <stdio.h>

#include "app/config.h"

typedef struct cli_opts {
    const char *config_file;    /* -c FILE */
    const char *load;           /* --load FILE */
    const char *prompt;         /* -p TEXT */
    bool no_tui;
    char **warnings;            /* [n_warnings] config warnings (unknown keys ...), for the TUI to show */
    int n_warnings;
} cli_opts;

/* The chat's flags, one table: --help, the man page and the bash
 * completion are generated from it (cli_usage, app/manpage.h). */
enum { F_KEY, F_CONFIG, F_LOAD, F_PROMPT, F_NO_TUI };   /* what a flag does */

typedef struct cli_flag {
    const char *s, *l;          /* short and long spelling (l never NULL but in the terminator) */
    int kind;
    const char *key;            /* config key for F_KEY */
    const char *arg;            /* value name in the usage ("a|b|c": the values); NULL: takes none */
    const char *help;
} cli_flag;

extern const cli_flag cli_flags[];      /* terminated by l == NULL */

/* Parses the options, loads the configuration and runs the chosen front end;
 * returns the exit code. */
int cli_main(int argc, char **argv);

void cli_usage(FILE *f);

/* Warnings (config, backend fallback) as a cfg_warn_fn: "gemma-chat:
 * warning: MSG" on stderr. */
void cli_warn(void *ctx, const char *msg);

#endif
