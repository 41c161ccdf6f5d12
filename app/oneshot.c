/* oneshot.c: one user turn in, one streamed reply out (see oneshot.h). */
#include "app/oneshot.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "app/backends.h"
#include "app/readall.h"
#include "model/chat_template.h"
#include "model/gemma.h"
#include "model/gguf.h"
#include "model/tokenizer.h"

void oneshot_defaults(oneshot_opts *o)
{
    memset(o, 0, sizeof *o);
    o->backend = NULL;   /* the default backend (app/backends.h) */
    o->n_predict = 256;
    o->sampling = smp_defaults();
}

/* The prompt as token ids: <bos><start_of_turn>user\n...<end_of_turn>\n<start_of_turn>model\n */
static int build_prompt(const tmpl_gemma *t, const oneshot_opts *o, const char *text, tok_ids *ids, gc_err *err)
{
    if (tmpl_begin(t, ids, err) || tmpl_add_turn(t, ids, TMPL_USER, o->persona, text, err) ||
        tmpl_add_gen_prompt(t, ids, err))
        return -1;
    return 0;
}

/* Generation loop: the prompt is already evaluated; streams until a stop. */
static int generate(gemma_session *s, smp_sampler *smp, const tmpl_gemma *t, const tok_vocab *v,
                    const oneshot_opts *o, bool greedy, FILE *out, gc_err *err)
{
    tok_stream ts;
    if (tok_stream_init(&ts, v, err)) return -1;
    int rc = 0;
    for (int n = 0; o->n_predict <= 0 || n < o->n_predict; n++) {
        int32_t id = greedy ? gemma_argmax(s) : smp_sample(smp, gemma_logits(s));
        if (tmpl_is_stop(t, id)) break;
        size_t len;
        const char *piece = tok_stream_push(&ts, id, &len);
        if (len && fwrite(piece, 1, len, out) != len) { rc = gc_errf(err, "stdout: write error"); break; }
        fflush(out);
        if (!greedy) smp_accept(smp, id);
        if (gemma_n_past(s) >= gemma_n_ctx(s)) break;   /* context full: the reply ends here */
        if (gemma_eval(s, &id, 1, greedy ? GEMMA_WANT_ARGMAX : GEMMA_WANT_LOGITS, err)) { rc = -1; break; }
    }
    size_t len;
    const char *rest = tok_stream_flush(&ts, &len);
    if (len) fwrite(rest, 1, len, out);
    fputc('\n', out);
    fflush(out);
    tok_stream_free(&ts);
    return rc;
}

int oneshot_run(const oneshot_opts *o, FILE *out, gc_err *err)
{
    int rc = -1;
    char *text = NULL;
    backends_model bm = {0};
    tok_vocab *v = NULL;
    gemma_session *s = NULL;
    smp_sampler *smp = NULL;
    tok_ids ids = {0};
    tmpl_gemma t;

    if (!o->prompt && readall(stdin, "stdin", &text, NULL, err)) goto done;
    if (backends_load(&bm, o->model, o->backend, o->device, NULL, NULL, err) ||
        tok_from_gguf(&v, bm.file, err) || tmpl_init(&t, v, err) ||
        build_prompt(&t, o, o->prompt ? o->prompt : text, &ids, err) ||
        gemma_session_create(&s, bm.model, o->n_ctx, 0, err))
        goto done;
    if ((int)ids.n >= gemma_n_ctx(s)) {
        gc_errf(err, "the prompt has %zu tokens; the context holds %d (--ctx)", ids.n, gemma_n_ctx(s));
        goto done;
    }
    smp_params sp = o->sampling;
    if (!o->seed_set) sp.seed = (uint64_t)time(NULL) ^ ((uint64_t)getpid() << 32);
    if (smp_create(&smp, &sp, gemma_n_vocab(bm.model), err)) goto done;
    /* Greedy without a penalty needs only the backend's argmax, not the logits. */
    bool greedy = sp.temp <= 0 && sp.repeat_penalty == 1.0f;
    for (size_t i = 0; i < ids.n; i++) smp_accept(smp, ids.ids[i]);
    if (gemma_eval(s, ids.ids, (int)ids.n, greedy ? GEMMA_WANT_ARGMAX : GEMMA_WANT_LOGITS, err)) goto done;
    rc = generate(s, smp, &t, v, o, greedy, out, err);
done:
    tok_ids_free(&ids);
    smp_destroy(smp);
    gemma_session_free(s);
    tok_destroy(v);
    backends_unload(&bm);
    free(text);
    return rc;
}

bool oneshot_wanted(int argc, char **argv)
{
    bool model = false;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "-p") || !strcmp(argv[i], "--prompt")) return true;
        if (!strcmp(argv[i], "-m") || !strcmp(argv[i], "--model")) model = true;
    }
    return model && !isatty(STDIN_FILENO);
}

static void usage(FILE *f)
{
    fprintf(f,
        "usage: gemma-chat -m MODEL [-p TEXT] [options]   (TEXT from stdin without -p)\n"
        "  -n, --max-tokens N   most tokens to generate (default 256; 0 = until a stop)\n"
        "      --temp T         temperature (0 = greedy; default 0.8)\n"
        "      --top-k K  --top-p P  --min-p P  --repeat-penalty R\n"
        "      --seed S         random seed (default: from the clock)\n"
        "      --ctx N          context size (default min(model, 4096))\n"
        "      --persona TEXT   system text put before the first user turn\n"
        "      --backend %s  --device D\n", backends_names());
}

/* Parses a number option; returns 0 or prints the error. */
static int num_arg(const char *opt, const char *val, double lo, double hi, double *out)
{
    char *end;
    errno = 0;
    double v = strtod(val, &end);
    if (!*val || *end || errno || !(v >= lo && v <= hi)) {
        fprintf(stderr, "gemma-chat: %s '%s': expected a number in %g..%g\n", opt, val, lo, hi);
        return -1;
    }
    *out = v;
    return 0;
}

int oneshot_main(int argc, char **argv)
{
    oneshot_opts o;
    oneshot_defaults(&o);
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) { usage(stdout); return 0; }
        if (i + 1 >= argc) {
            fprintf(stderr, "gemma-chat: %s: unknown option or missing value\n", a);
            usage(stderr);
            return 2;
        }
        const char *val = argv[++i];
        double d = 0;
        if (!strcmp(a, "-m") || !strcmp(a, "--model")) o.model = val;
        else if (!strcmp(a, "-p") || !strcmp(a, "--prompt")) o.prompt = val;
        else if (!strcmp(a, "--persona")) o.persona = val;
        else if (!strcmp(a, "--backend")) o.backend = val;
        else if (!strcmp(a, "--device")) o.device = val;
        else if (!strcmp(a, "-n") || !strcmp(a, "--max-tokens")) {
            if (num_arg(a, val, 0, 1 << 30, &d)) return 2;
            o.n_predict = (int)d;
        } else if (!strcmp(a, "--ctx")) {
            if (num_arg(a, val, 1, 1 << 30, &d)) return 2;
            o.n_ctx = (int)d;
        } else if (!strcmp(a, "--temp")) {
            if (num_arg(a, val, 0, 100, &d)) return 2;
            o.sampling.temp = (float)d;
        } else if (!strcmp(a, "--top-k")) {
            if (num_arg(a, val, 0, 1 << 30, &d)) return 2;
            o.sampling.top_k = (int)d;
        } else if (!strcmp(a, "--top-p")) {
            if (num_arg(a, val, 1e-6, 1, &d)) return 2;
            o.sampling.top_p = (float)d;
        } else if (!strcmp(a, "--min-p")) {
            if (num_arg(a, val, 0, 1, &d)) return 2;
            o.sampling.min_p = (float)d;
        } else if (!strcmp(a, "--repeat-penalty")) {
            if (num_arg(a, val, 1e-3, 100, &d)) return 2;
            o.sampling.repeat_penalty = (float)d;
        } else if (!strcmp(a, "--seed")) {
            char *end;
            errno = 0;
            o.sampling.seed = strtoull(val, &end, 0);
            if (!*val || *end || errno || *val == '-') {
                fprintf(stderr, "gemma-chat: --seed '%s': expected a non-negative integer\n", val);
                return 2;
            }
            o.seed_set = true;
        } else {
            fprintf(stderr, "gemma-chat: unknown option '%s'\n", a);
            usage(stderr);
            return 2;
        }
    }
    if (!o.model) {
        fprintf(stderr, "gemma-chat: -m MODEL is required\n");
        usage(stderr);
        return 2;
    }
    gc_err err = {0};
    if (oneshot_run(&o, stdout, &err)) {
        fprintf(stderr, "gemma-chat: %s\n", err.msg);
        return 1;
    }
    return 0;
}
