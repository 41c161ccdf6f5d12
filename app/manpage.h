/* manpage.h: gemma-chat(1) and the bash completion, generated from the same
 * tables as --help: the chat's flags (cli_flags), the subcommands
 * (gc_commands), the slash commands (slash_cmds) and the environment
 * overrides (cfg_env_vars). `gemma-chat --man` and `gemma-chat
 * --bash-completion` (hidden options) print them; `make man` and `make
 * install` write them. Both return 0, or -1 when writing failed.
 */
#ifndef GC_MANPAGE_H
#define GC_MANPAGE_H

#include <stdio.h>

int man_page(FILE *f);
int man_bash_completion(FILE *f);

#endif
