/* main.c: argument parsing and dispatch; the only place that exits.
 * Exit codes: 0 ok, 1 runtime error, 2 usage error. */
#include <stdio.h>
#include <string.h>

#include "app/cli.h"
#include "app/commands.h"

const gc_command gc_commands[] = {
    { "inspect", "show a model file's metadata, hyperparameters and tensors", cmd_inspect },
    { "tokenize", "token ids of a text: tokenize -m MODEL [--pieces] [--file F | TEXT]", cmd_tokenize },
    { "devices", "list the Vulkan devices and the one that would be used (--check: self-check them)", cmd_devices },
    { "logits", "logits of every position of a text or id list", cmd_logits },
    { "bench", "prefill and decode speed: bench -m MODEL [--backend B] [--pp N] [--tg N]", cmd_bench },
    { NULL, NULL, NULL },
};

int main(int argc, char **argv)
{
    if (argc > 1) {
        for (const gc_command *c = gc_commands; c->name; c++)
            if (!strcmp(argv[1], c->name)) return c->run(argc - 1, argv + 1);
    }
    return cli_main(argc, argv);   /* the chat itself: app/cli.c */
}
