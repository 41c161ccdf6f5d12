/* commands.h: subcommands of gemma-chat. Each takes the arguments after its
 * name and returns the process exit code (0 ok, 1 runtime error, 2 usage
 * error); only app/main.c exits. */
#ifndef GC_COMMANDS_H
#define GC_COMMANDS_H

typedef struct gc_command {
    const char *name;
    const char *summary;
    int (*run)(int argc, char **argv);
} gc_command;

int cmd_devices(int argc, char **argv);      /* app/cmd_devices.c */

/* NULL-terminated table, defined in app/main.c. */
extern const gc_command gc_commands[];

int cmd_inspect(int argc, char **argv);      /* app/cmd_inspect.c */
int cmd_tokenize(int argc, char **argv);     /* app/cmd_tokenize.c */
int cmd_logits(int argc, char **argv);       /* app/cmd_logits.c */
int cmd_bench(int argc, char **argv);        /* app/cmd_bench.c */

#endif
