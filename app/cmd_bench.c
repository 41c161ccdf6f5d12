/* cmd_bench.c: `gemma-chat bench -m MODEL [--backend B] [--device D] [--threads T] [--pp N] [--tg N] [--reps R] [--ctx N] [--logits]`
 *
 * Speed of the forward pass, measured the way llama.cpp's oracle bench does
 * (../shared/oracle/oracle.c): a warm-up (one prefill of N tokens and two
 * decode steps, so pipeline creation and first-touch costs are not timed),
 * then per run: an empty cache, a prefill of --pp pseudo-random token ids in
 * one batch, then --tg decode steps of one token each. Each decode step waits
 * for its result (greedy: the argmax computed by the backend; with --logits
 * every step copies all logits to the host, as a sampler needs). The figures
 * printed are the medians over --reps runs. One line on stdout:
 *
 *   backend=vulkan pp=128 tg=32 reps=3 prefill_tok_s=X decode_tok_s=Y
 *       device_mem_mib=M rss_mib=R peak_rss_mib=P load_s=L weights_mib_per_token=W ctx=N kv_mib=K
 *
 * device_mem_mib: device memory the backend allocated (weights, KV cache,
 * activations; 0 for the CPU backend); rss_mib: resident host memory after
 * the runs; peak_rss_mib: the process's peak resident host memory;
 * weights_mib_per_token: the weight bytes one decode step reads (every matrix,
 * the output head included; of the token embedding only its row unless it is
 * the tied head), for a roofline against the memory bandwidth; ctx: the
 * session's context (--ctx, default --pp + --tg + 4); kv_mib: its KV cache
 * (sliding-window layers keep a ring: model/gemma.h; the environment
 * variable GEMMA_CHAT_FULL_KV=1 gives every layer the whole context instead,
 * for comparison). Per-run figures go to stderr.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include "app/backends.h"
#include "app/commands.h"
#include "base/clock.h"
#include "model/gemma.h"

static void usage(FILE *f)
{
    fprintf(f, "usage: gemma-chat bench -m MODEL [--backend %s] [--device D] [--threads T] [--pp N] [--tg N] [--reps R] [--ctx N] [--logits]\n"
               "  Prefill N tokens (--pp, default 128), then decode --tg tokens (default 32) one by one,\n"
               "  after a warm-up; prints the median tokens/s of --reps runs (default 3) and memory use.\n"
               "  --logits: each decode step copies all logits to the host (default: greedy argmax only).\n"
               "  --threads: threads of the CPU backend (default: one per CPU).\n"
               "  --ctx: the session's context (default: --pp + --tg + 4); kv_mib= is its KV cache.\n",
            backends_names());
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

/* Median of n values (sorts them). */
static double median(double *v, int n)
{
    qsort(v, (size_t)n, sizeof *v, cmp_double);
    return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

/* A "Vm...:  N kB" line of /proc/self/status, MiB (0 where unavailable). */
static double status_mib(const char *key)
{
    FILE *f = fopen("/proc/self/status", "r");
    if (!f) return 0;
    char line[256];
    double v = 0;
    size_t kn = strlen(key);
    while (fgets(line, sizeof line, f))
        if (!strncmp(line, key, kn) && line[kn] == ':') {
            v = strtod(line + kn + 1, NULL) / 1024.0;   /* kB */
            break;
        }
    fclose(f);
    return v;
}

/* Resident set size now, MiB. */
static double rss_mib(void)
{
    return status_mib("VmRSS");
}

/* The peak resident set size, MiB. The kernel raises its high-water mark
 * (VmHWM, ru_maxrss) only now and then, from per-thread counters it syncs
 * lazily, so it can lag the current size read a moment before; the peak is
 * at least what was resident then, which rss_now says. */
static double peak_rss_mib(double rss_now)
{
    struct rusage ru;
    double peak = status_mib("VmHWM");
    if (!getrusage(RUSAGE_SELF, &ru) && ru.ru_maxrss / 1024.0 > peak) peak = ru.ru_maxrss / 1024.0;   /* kB */
    return peak > rss_now ? peak : rss_now;
}

/* A positive int option value, else a usage error. */
static int parse_count(const char *opt, const char *s, int lo, int hi, int *out)
{
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (end == s || *end || errno || v < lo || v > hi) {
        fprintf(stderr, "gemma-chat bench: %s '%s': must be an integer %d..%d\n", opt, s, lo, hi);
        return -1;
    }
    *out = (int)v;
    return 0;
}

/* Deterministic pseudo-random ids in [4, n_vocab) (ids below 4 are specials
 * in Gemma vocabularies), the same sequence every run. */
static void fill_tokens(int32_t *t, int n, int n_vocab, uint32_t seed)
{
    uint32_t x = seed * 2654435761u + 1;
    for (int i = 0; i < n; i++) {
        x ^= x << 13; x ^= x >> 17; x ^= x << 5;
        t[i] = n_vocab > 4 ? 4 + (int32_t)(x % (uint32_t)(n_vocab - 4)) : 0;
    }
}

/* One prefill of pp tokens and tg decode steps from an empty cache; the
 * decode feeds back the previous step's argmax. */
static int run_once(gemma_session *s, const int32_t *prompt, int pp, int tg, unsigned want, double *t_pp,
                    double *t_tg, gc_err *err)
{
    if (gemma_rewind(s, 0, err)) return -1;
    double t0 = gc_now_s();
    if (gemma_eval(s, prompt, pp, want, err)) return -1;
    double t1 = gc_now_s();
    for (int i = 0; i < tg; i++) {
        int32_t tok = gemma_argmax(s);
        if (want == GEMMA_WANT_LOGITS) tok = prompt[i % pp];   /* no argmax asked for */
        if (gemma_eval(s, &tok, 1, want, err)) return -1;
    }
    double t2 = gc_now_s();
    *t_pp = t1 - t0;
    *t_tg = t2 - t1;
    return 0;
}

/* Weight bytes one decode step reads: every matrix; the token embedding only
 * when it is also the output head (no output.weight). */
static uint64_t decode_weight_bytes(const gguf_file *g)
{
    const gguf_tensor *embd = gguf_find_tensor(g, "token_embd.weight");
    bool tied = !gguf_find_tensor(g, "output.weight");
    uint64_t sum = 0;
    for (uint64_t i = 0; i < g->n_tensors; i++) {
        const gguf_tensor *t = &g->tensors[i];
        if (t->n_dims >= 2 && (t != embd || tied)) sum += t->n_bytes;
    }
    return sum;
}

int cmd_bench(int argc, char **argv)
{
    const char *model = NULL, *bname = NULL, *device = NULL;
    int pp = 128, tg = 32, reps = 3, threads = 0, ctx = 0;
    bool want_logits = false;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        bool has_val = !strcmp(a, "-m") || !strcmp(a, "--model") || !strcmp(a, "--backend") ||
                       !strcmp(a, "--device") || !strcmp(a, "--pp") || !strcmp(a, "--tg") || !strcmp(a, "--reps") ||
                       !strcmp(a, "--threads") || !strcmp(a, "--ctx");
        if (has_val && i + 1 >= argc) { fprintf(stderr, "gemma-chat bench: %s needs a value\n", a); return 2; }
        if (!strcmp(a, "-m") || !strcmp(a, "--model")) model = argv[++i];
        else if (!strcmp(a, "--backend")) bname = argv[++i];
        else if (!strcmp(a, "--device")) device = argv[++i];
        else if (!strcmp(a, "--pp")) { if (parse_count(a, argv[++i], 1, 4096, &pp)) return 2; }
        else if (!strcmp(a, "--tg")) { if (parse_count(a, argv[++i], 0, 4096, &tg)) return 2; }
        else if (!strcmp(a, "--reps")) { if (parse_count(a, argv[++i], 1, 100, &reps)) return 2; }
        else if (!strcmp(a, "--threads")) { if (parse_count(a, argv[++i], 1, 256, &threads)) return 2; }
        else if (!strcmp(a, "--ctx")) { if (parse_count(a, argv[++i], 1, 1 << 24, &ctx)) return 2; }
        else if (!strcmp(a, "--logits")) want_logits = true;
        else if (!strcmp(a, "-h") || !strcmp(a, "--help")) { usage(stdout); return 0; }
        else {
            fprintf(stderr, "gemma-chat bench: unknown option '%s'\n", a);
            usage(stderr);
            return 2;
        }
    }
    if (!model) {
        fprintf(stderr, "gemma-chat bench: -m MODEL is required\n");
        usage(stderr);
        return 2;
    }

    gc_err err = {0};
    int rc = 1;
    backends_model bm = {0};
    gemma_session *s = NULL;
    int32_t *prompt = NULL;
    double *tpp = NULL, *ttg = NULL;
    unsigned want = want_logits ? GEMMA_WANT_LOGITS : GEMMA_WANT_ARGMAX;

    backends_set_threads(threads);
    double t0 = gc_now_s();
    if (backends_load(&bm, model, bname, device, NULL, NULL, &err)) goto done;
    double load_s = gc_now_s() - t0;
    gemma_model *m = bm.model;
    int n_ctx = ctx ? ctx : pp + tg + 4;
    if (n_ctx > gemma_n_ctx_train(m)) {
        gc_errf(&err, "context %d (--ctx, or --pp %d + --tg %d + 4) exceeds the model's %d", n_ctx, pp, tg,
                gemma_n_ctx_train(m));
        goto done;
    }
    if (pp + tg > n_ctx) {
        gc_errf(&err, "--pp %d + --tg %d exceed --ctx %d", pp, tg, n_ctx);
        goto done;
    }
    const char *full = getenv("GEMMA_CHAT_FULL_KV");
    gemma_session_opts so = { .n_ctx = n_ctx, .n_batch = pp, .full_kv = full && *full && strcmp(full, "0") };
    gemma_mem mem;
    if (gemma_mem_estimate(bm.file, &so, &mem, &err)) goto done;
    prompt = malloc((size_t)pp * sizeof *prompt);
    tpp = calloc((size_t)reps, sizeof *tpp);
    ttg = calloc((size_t)reps, sizeof *ttg);
    if (!prompt || !tpp || !ttg) { gc_errf(&err, "out of memory"); goto done; }
    if (gemma_session_open(&s, m, &so, &err)) goto done;

    /* Warm-up: the same shapes as the runs (prefill of pp, two decode steps). */
    fill_tokens(prompt, pp, gemma_n_vocab(m), 3);
    double w_pp, w_tg;
    if (run_once(s, prompt, pp, tg < 2 ? tg : 2, want, &w_pp, &w_tg, &err)) goto done;
    fill_tokens(prompt, pp, gemma_n_vocab(m), 7);
    for (int r = 0; r < reps; r++) {
        double a, b;
        if (run_once(s, prompt, pp, tg, want, &a, &b, &err)) goto done;
        tpp[r] = pp / a;
        ttg[r] = tg ? tg / b : 0;
        fprintf(stderr, "run %d: prefill %d tok %.3f s %.2f tok/s | decode %d tok %.3f s %.2f tok/s\n", r + 1, pp, a,
                tpp[r], tg, b, ttg[r]);
    }
    uint64_t dev_mem = bm.be->memory_used ? bm.be->memory_used(bm.be) : 0;
    double rss = rss_mib();
    printf("backend=%s pp=%d tg=%d reps=%d prefill_tok_s=%.2f decode_tok_s=%.2f device_mem_mib=%.1f "
           "rss_mib=%.1f peak_rss_mib=%.1f load_s=%.2f weights_mib_per_token=%.1f ctx=%d kv_mib=%.1f\n",
           bm.be->name, pp, tg, reps, median(tpp, reps), median(ttg, reps), (double)dev_mem / 1048576.0, rss,
           peak_rss_mib(rss), load_s, (double)decode_weight_bytes(bm.file) / 1048576.0, n_ctx,
           (double)(mem.kv_slots * mem.kv_values_per_slot * (uint64_t)bm.be->kv_value_bytes(bm.be, bm.file)) / 1048576.0);
    rc = 0;
done:
    if (rc) fprintf(stderr, "gemma-chat bench: %s\n", err.msg);
    free(prompt);
    free(tpp);
    free(ttg);
    gemma_session_free(s);
    backends_unload(&bm);
    return rc;
}
