/* oneshot.h: `gemma-chat -m MODEL -p TEXT`: one user turn in, one reply out.
 *
 * The text (from -p, or all of stdin when stdin is not a terminal) becomes one
 * user turn of the chat template; the reply streams to stdout as it is
 * generated and ends at a stop token (eos, <end_of_turn>), after N tokens, or
 * when the context is full. */
#ifndef GC_ONESHOT_H
#define GC_ONESHOT_H

#include <stdbool.h>
#include <stdio.h>

#include "model/err.h"
#include "model/sampler.h"

typedef struct oneshot_opts {
    const char *model;
    const char *prompt;      /* NULL: read stdin */
    const char *persona;     /* system text for the first turn; NULL = none */
    const char *backend;     /* "cpu", "vulkan", NULL = default (app/backends.h) */
    const char *device;      /* NULL = the backend's default */
    int n_predict;           /* most tokens to generate; <= 0: until a stop or the context is full */
    int n_ctx;               /* 0: min(model context, 4096) */
    smp_params sampling;
    bool seed_set;           /* false: seed from the clock */
} oneshot_opts;

void oneshot_defaults(oneshot_opts *o);

/* Generates the reply to out. Returns 0, or -1 with err naming the file,
 * option or value at fault. */
int oneshot_run(const oneshot_opts *o, FILE *out, gc_err *err);

/* True when the command line asks for one-shot mode: -p/--prompt, or -m with
 * stdin not a terminal. */
bool oneshot_wanted(int argc, char **argv);

/* Parses the one-shot options and runs; returns the exit code (0 ok, 1 runtime
 * error, 2 usage error). */
int oneshot_main(int argc, char **argv);

#endif
