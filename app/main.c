/* main.c: argument parsing and dispatch; the only place that exits.
 * Exit codes: 0 ok, 1 runtime error, 2 usage error. */
#include <stdio.h>
#include <string.h>

#include "app/commands.h"
#include "app/oneshot.h"

const gc_command gc_commands[] = {
    { "inspect", "show a model file's metadata, hyperparameters and tensors", cmd_inspect },
    { "tokenize", "token ids of a text: tokenize -m MODEL [--file F]", cmd_tokenize },
    { "devices", "list the Vulkan devices and the one that would be used", cmd_devices },
    { "logits", "logits of every position of a text or id list", cmd_logits },
    { NULL, NULL, NULL },
};

static void usage(FILE *f)
{
    fprintf(f,
        "usage: gemma-chat [options]            interactive chat\n"
        "       gemma-chat COMMAND [args]\n"
        "\n"
        "options:\n"
        "  -h, --help        show this help\n"
        "      --version     show the version\n");
    if (gc_commands[0].name) fprintf(f, "\ncommands:\n");
    for (const gc_command *c = gc_commands; c->name; c++)
        fprintf(f, "  %-12s %s\n", c->name, c->summary);
}

int main(int argc, char **argv)
{
    if (argc > 1) {
        for (const gc_command *c = gc_commands; c->name; c++)
            if (!strcmp(argv[1], c->name)) return c->run(argc - 1, argv + 1);
    }
    if (oneshot_wanted(argc, argv)) return oneshot_main(argc, argv);
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) { usage(stdout); return 0; }
        if (!strcmp(argv[i], "--version")) { printf("gemma-chat %s\n", GC_VERSION); return 0; }
        fprintf(stderr, "gemma-chat: unknown option '%s'\n", argv[i]);
        usage(stderr);
        return 2;
    }
    usage(stderr);
    return 2;
}
