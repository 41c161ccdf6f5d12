/* cli.c: the chat's command line and the choice of front end (see cli.h). */
#include "app/cli.h"

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "app/chat_tui.h"
#include "app/commands.h"
#include "app/line.h"
#include "base/file.h"

#include "app/manpage.h"

/* A message read from stdin: far more than any context holds, small enough
 * that a mistaken pipe (a disk image) is refused instead of swallowed. */
#define STDIN_MAX_BYTES (64 << 20)

const cli_flag cli_flags[] = {
    { "-m", "--model", F_KEY, "model", "FILE", "the GGUF model (default: config, else models/gemma-3-270m-q4_k_m.gguf)" },
    { "-c", "--config", F_CONFIG, NULL, "FILE", "a config.yaml over the shipped and user ones" },
    { NULL, "--persona", F_KEY, "persona", "NAME", "persona preset (prompts/NAME.yaml); none: no persona" },
    { NULL, "--backend", F_KEY, "backend", "auto|vulkan|cpu|ref", "compute backend (auto: Vulkan on a GPU, else cpu)" },
    { NULL, "--device", F_KEY, "device", "DEV", "Vulkan device: auto, an index, or part of its name" },
    { NULL, "--ctx", F_KEY, "context", "N", "context size in tokens (0 = the model's maximum where memory allows)" },
    { "-n", "--max-tokens", F_KEY, "max_tokens", "N", "longest reply in tokens (-1 = no limit)" },
    { NULL, "--temp", F_KEY, "sampling.temperature", "T", "temperature (0 = greedy)" },
    { NULL, "--top-k", F_KEY, "sampling.top_k", "K", "keep the K most likely tokens (0 = off)" },
    { NULL, "--top-p", F_KEY, "sampling.top_p", "P", "nucleus sampling (1 = off)" },
    { NULL, "--min-p", F_KEY, "sampling.min_p", "P", "drop tokens below P x the best (0 = off)" },
    { NULL, "--repeat-penalty", F_KEY, "sampling.repeat_penalty", "R", "penalize recent tokens (1 = off)" },
    { NULL, "--seed", F_KEY, "sampling.seed", "S", "random seed (-1 = a fresh one)" },
    { NULL, "--load", F_LOAD, NULL, "FILE", "continue a saved conversation (a transcript file)" },
    { "-p", "--prompt", F_PROMPT, NULL, "TEXT", "one reply to TEXT on stdout, then exit" },
    { NULL, "--no-tui", F_NO_TUI, NULL, NULL, "plain line-mode chat (for dumb terminals and scripts)" },
    { NULL, NULL, 0, NULL, NULL, NULL },
};

void cli_usage(FILE *f)
{
    fprintf(f,
        "usage: gemma-chat [options]               chat in the terminal (TUI)\n"
        "       gemma-chat [options] -p TEXT       one reply on stdout (also: text on stdin)\n"
        "       gemma-chat [options] --no-tui      line-mode chat\n"
        "       gemma-chat COMMAND [args]\n"
        "\noptions:\n");
    for (const cli_flag *fl = cli_flags; fl->l; fl++) {
        char head[64];
        snprintf(head, sizeof head, "%s%s%s%s%s", fl->s ? fl->s : "   ", fl->s ? ", " : " ", fl->l,
                 fl->arg ? " " : "", fl->arg ? fl->arg : "");
        fprintf(f, "  %-28s %s\n", head, fl->help);
    }
    fprintf(f, "  %-28s %s\n", "-h, --help", "show this help");
    fprintf(f, "  %-28s %s\n", "    --version", "show the version");
    if (gc_commands[0].name) fprintf(f, "\ncommands:\n");
    for (const gc_command *c = gc_commands; c->name; c++) fprintf(f, "  %-12s %s\n", c->name, c->summary);
    fprintf(f, "\nIn a chat, /help lists the commands. Settings: config.yaml (see the shipped one).\n");
}

void cli_warn(void *ctx, const char *msg)
{
    (void)ctx;
    fprintf(stderr, "gemma-chat: warning: %s\n", msg);
}

static int usage_error(const char *fmt, const char *a, const char *b)
{
    fprintf(stderr, "gemma-chat: ");
    fprintf(stderr, fmt, a, b);
    fprintf(stderr, "\n(gemma-chat --help lists the options)\n");
    return 2;
}

/* Config warnings are kept until the front end is known: the TUI shows them
 * in the conversation pane (on stderr they would be under the screen). */
static void collect_warn(void *ctx, const char *msg)
{
    cli_opts *o = ctx;
    char **w = realloc(o->warnings, (size_t)(o->n_warnings + 1) * sizeof *w);
    if (!w) { cli_warn(NULL, msg); return; }
    o->warnings = w;
    if ((w[o->n_warnings] = strdup(msg))) o->n_warnings++;
    else cli_warn(NULL, msg);
}

/* Prints (when show) and forgets the kept warnings. */
static void flush_warnings(cli_opts *o, bool show)
{
    for (int i = 0; i < o->n_warnings; i++) {
        if (show) cli_warn(NULL, o->warnings[i]);
        free(o->warnings[i]);
    }
    free(o->warnings);
    o->warnings = NULL;
    o->n_warnings = 0;
}

typedef struct flag_set {
    const char *key, *value, *what;
} flag_set;

int cli_main(int argc, char **argv)
{
    cli_opts o = { 0 };
    flag_set *sets = calloc(argc > 0 ? argc : 1, sizeof *sets);
    int n_sets = 0, rc = 2;
    bool tui_ran = false;
    char *text = NULL;
    if (!sets) { fprintf(stderr, "gemma-chat: out of memory\n"); return 1; }
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) { cli_usage(stdout); rc = 0; goto done; }
        if (!strcmp(a, "--version")) { printf("gemma-chat %s\n", GC_VERSION); rc = 0; goto done; }
        /* Hidden: what `make man` and `make install` write (app/manpage.h). */
        if (!strcmp(a, "--man")) { rc = man_page(stdout) ? 1 : 0; goto done; }
        if (!strcmp(a, "--bash-completion")) { rc = man_bash_completion(stdout) ? 1 : 0; goto done; }
        /* --name=value is accepted for long options. */
        const char *eq = !strncmp(a, "--", 2) ? strchr(a, '=') : NULL;
        size_t an = eq ? (size_t)(eq - a) : strlen(a);
        const cli_flag *fl = cli_flags;
        for (; fl->l; fl++)
            if ((fl->s && strlen(fl->s) == an && !strncmp(a, fl->s, an)) ||
                (strlen(fl->l) == an && !strncmp(a, fl->l, an)))
                break;
        if (!fl->l) {
            rc = a[0] == '-' ? usage_error("unknown option '%s'%s", a, "")
                             : usage_error("unexpected argument '%s'%s (not a command nor an option)", a, "");
            goto done;
        }
        const char *val = NULL;
        if (fl->arg) {
            if (eq) val = eq + 1;
            else if (i + 1 < argc) val = argv[++i];
            else { rc = usage_error("option '%s' needs a value (%s)", fl->l, fl->arg); goto done; }
        } else if (eq) {
            rc = usage_error("option '%s' takes no value%s", fl->l, "");
            goto done;
        }
        switch (fl->kind) {
        case F_KEY: sets[n_sets++] = (flag_set){ fl->key, val, fl->l }; break;
        case F_CONFIG: o.config_file = val; break;
        case F_LOAD: o.load = val; break;
        case F_PROMPT: o.prompt = val; break;
        case F_NO_TUI: o.no_tui = true; break;
        }
    }

    cfg_config cfg;
    gc_err err = { 0 };
    /* Exit status: a bad flag or value is 2 (usage_error); a file that
     * cannot be read or parsed is 1. Input files are checked before they
     * are opened: a FIFO would block, a directory or device is no file. */
    const char *inputs[][2] = { { "-c", o.config_file }, { "--load", o.load } };
    for (size_t i = 0; i < sizeof inputs / sizeof *inputs; i++)
        if (inputs[i][1] && file_check_input(inputs[i][1], inputs[i][0], &err)) {
            fprintf(stderr, "gemma-chat: %s\n", err.msg);
            rc = 1;
            goto done;
        }
    if (cfg_load(&cfg, NULL, NULL, o.config_file, collect_warn, &o, &err)) {
        flush_warnings(&o, true);
        fprintf(stderr, "gemma-chat: %s\n", err.msg);
        rc = 1;
        goto done;
    }
    if (cfg_apply_env(&cfg, &err)) {
        fprintf(stderr, "gemma-chat: %s\n", err.msg);
        rc = 2;
        goto done;
    }
    for (int i = 0; i < n_sets; i++)
        if (cfg_set(&cfg, sets[i].key, sets[i].value, CFG_SRC_FLAG, sets[i].what, &err)) {
            rc = usage_error("%s%s", err.msg, "");
            goto done;
        }
    if (cfg.model[0] && file_check_input(cfg.model, cfg_origin(&cfg, "model") == CFG_SRC_FLAG ? "-m" : "model", &err)) {
        fprintf(stderr, "gemma-chat: %s\n", err.msg);
        rc = 1;
        goto done;
    }

    bool tui = !o.prompt && !o.no_tui && isatty(STDIN_FILENO) && isatty(STDOUT_FILENO);
    if (!tui) flush_warnings(&o, true);
    if (o.prompt) {
        if (!o.prompt[0]) { rc = usage_error("-p: the text is empty%s%s", "", ""); goto done; }
        rc = line_oneshot(&cfg, &o, o.prompt);
    } else if (o.no_tui) {
        rc = line_chat(&cfg, &o);
    } else if (!isatty(STDIN_FILENO)) {
        /* Text on stdin: one reply. */
        size_t n;
        if (file_read_stream(stdin, "stdin", STDIN_MAX_BYTES, &text, &n, &err) ||
            (n > STDIN_MAX_BYTES && gc_errf(&err, "stdin: more than %d MiB of text", STDIN_MAX_BYTES >> 20))) {
            fprintf(stderr, "gemma-chat: %s\n", err.msg);
            rc = 1;
            goto done;
        }
        size_t k = strspn(text, " \t\r\n");
        if (!text[k]) { rc = usage_error("no text on stdin (give a message, -p TEXT, or --no-tui)%s%s", "", ""); goto done; }
        rc = line_oneshot(&cfg, &o, text);
    } else if (!isatty(STDOUT_FILENO)) {
        rc = line_chat(&cfg, &o);  /* output to a file or pipe: no screen to draw on */
    } else {
        tui_ran = true;
        rc = tui_main(&cfg, &o);
    }
done:
    /* Left over: an error came before any front end (the TUI shows its own). */
    flush_warnings(&o, !tui_ran);
    free(text);
    free(sets);
    return rc;
}
