/* fuzz_config.c: libFuzzer harness for the config reader (cfg_load_buf in
 * app/config.c over app/ydoc.c and libyaml).
 *
 * The input is a config.yaml. Properties:
 *   - a refused file leaves the config exactly as it was (the layer applies
 *     all or nothing) and the message names the file;
 *   - every warning names the file;
 *   - an accepted file gives values inside the documented ranges, and its
 *     dump (every key's cfg_format_value, "what a file would say") is itself
 *     a config that loads without warnings into the very same values.
 */
#include <math.h>

#include "fuzz/fuzz_common.h"

#include "app/config.h"

#define FC_NAME "/fuzz/config.yaml"   /* absolute: relative paths resolve against /fuzz */

static void fc_warn(void *ctx, const char *msg)
{
    int *n = ctx;
    (*n)++;
    FUZZ_CHECK(!strncmp(msg, FC_NAME ":", strlen(FC_NAME) + 1), "warning does not name the file: '%s'", msg);
}

static void fc_ranges(const cfg_config *c)
{
    const cfg_sampling *s = &c->sampling;
    FUZZ_CHECK(s->temperature >= 0 && s->temperature <= 10, "temperature %g", (double)s->temperature);
    FUZZ_CHECK(s->top_k >= 0 && s->top_k <= 1000000, "top_k %d", s->top_k);
    FUZZ_CHECK(s->top_p > 0 && s->top_p <= 1, "top_p %g", (double)s->top_p);
    FUZZ_CHECK(s->min_p >= 0 && s->min_p <= 1, "min_p %g", (double)s->min_p);
    FUZZ_CHECK(s->repeat_penalty >= 0.1f && s->repeat_penalty <= 10, "repeat_penalty %g", (double)s->repeat_penalty);
    FUZZ_CHECK(s->repeat_last_n >= -1 && s->repeat_last_n <= 1048576, "repeat_last_n %d", s->repeat_last_n);
    FUZZ_CHECK(s->seed >= -1, "seed %lld", s->seed);
    FUZZ_CHECK(c->context == 0 || (c->context >= 16 && c->context <= 1048576), "context %d", c->context);
    FUZZ_CHECK(c->max_tokens == -1 || (c->max_tokens >= 1 && c->max_tokens <= 1048576), "max_tokens %d",
               c->max_tokens);
    FUZZ_CHECK(c->threads >= 0 && c->threads <= 256, "threads %d", c->threads);
    FUZZ_CHECK((unsigned)c->backend < CFG_BACKEND_COUNT, "backend %d", (int)c->backend);
    FUZZ_CHECK(memchr(c->model, 0, sizeof c->model) && memchr(c->device, 0, sizeof c->device) &&
               memchr(c->persona, 0, sizeof c->persona) && memchr(c->transcripts_dir, 0, sizeof c->transcripts_dir),
               "a string field is not terminated");
}

/* The config as a YAML file: one "key: value" line per key, the dotted
 * names nested under their sections. */
static char *fc_dump(const cfg_config *c, size_t *len)
{
    size_t cap = 65536, k = 0;
    char *out = malloc(cap);
    FUZZ_CHECK(out != NULL, "malloc");
    char section[64] = "";
    for (int i = 0; i < cfg_key_count(); i++) {
        const char *name = cfg_key_name(i), *dot = strchr(name, '.');
        char val[16384];
        FUZZ_CHECK(cfg_format_value(c, i, val, sizeof val) == 0, "format %s", name);
        size_t sl = dot ? (size_t)(dot - name) : 0;
        if (dot && (strlen(section) != sl || strncmp(section, name, sl))) {
            snprintf(section, sizeof section, "%.*s", (int)sl, name);
            k += (size_t)snprintf(out + k, cap - k, "%s:\n", section);
        }
        k += (size_t)snprintf(out + k, cap - k, "%s%s: %s\n", dot ? "  " : "", dot ? dot + 1 : name, val);
        FUZZ_CHECK(k < cap, "dump too long");
    }
    *len = k;
    return out;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    cfg_config *c = malloc(sizeof *c), *before = malloc(sizeof *c), *c2 = malloc(sizeof *c);
    FUZZ_CHECK(c && before && c2, "malloc");
    cfg_defaults(c);
    /* A non-default starting point, so that "unchanged on failure" means something. */
    c->sampling.top_k = 7;
    c->sampling.seed = 99;
    memcpy(before, c, sizeof *c);
    gc_err err = {{0}};
    int warnings = 0;
    if (cfg_load_buf(c, FC_NAME, (const char *)data, size, CFG_SRC_FILE, fc_warn, &warnings, &err)) {
        FUZZ_CHECK(!memcmp(c, before, sizeof *c), "a refused file changed the config");
        FUZZ_CHECK(!strncmp(err.msg, FC_NAME ":", strlen(FC_NAME) + 1), "error does not name the file: '%s'",
                   err.msg);
        goto done;
    }
    fc_ranges(c);

    size_t dl;
    char *dump = fc_dump(c, &dl);
    cfg_defaults(c2);
    warnings = 0;
    if (cfg_load_buf(c2, FC_NAME, dump, dl, CFG_SRC_FILE, fc_warn, &warnings, &err)) {
        fprintf(stderr, "---- dump ----\n%s----\n", dump);
        FUZZ_CHECK(0, "the dump of an accepted config does not load: %s", err.msg);
    }
    FUZZ_CHECK(warnings == 0, "the dump gave %d warnings", warnings);
    for (int i = 0; i < cfg_key_count(); i++) {
        char a[16384], b[16384];
        cfg_format_value(c, i, a, sizeof a);
        cfg_format_value(c2, i, b, sizeof b);
        FUZZ_CHECK(!strcmp(a, b), "key %s: %s reloads as %s", cfg_key_name(i), a, b);
    }
    free(dump);
done:
    free(c);
    free(before);
    free(c2);
    return 0;
}
