/* fuzz_persona.c: libFuzzer harness for persona files (persona_load_file and
 * persona_list in app/persona.c, over app/ydoc.c and libyaml).
 *
 * Personas are only read from files, so each input is written to
 * DIR/fuzz.yaml in a private temporary directory (on /dev/shm when there is
 * one) and loaded from there. Properties:
 *   - a refused file leaves *out NULL and a message naming the file;
 *   - every warning names the file;
 *   - an accepted persona has an instruction and a description (possibly
 *     empty), at most 64 examples, all valid UTF-8 without NUL, and
 *     sampling overrides inside config.yaml's ranges, at most 16 example
 *     exchanges with non-blank user and model texts, at most 8 stop strings
 *     of 1..64 bytes, max_tokens -1 or 1..1048576 when given;
 *   - persona_list shows it with a one-line description of at most 255
 *     bytes, cut on a character boundary.
 */
#include <unistd.h>

#include "fuzz/fuzz_common.h"

#include "app/persona.h"

static char fp_dir[256], fp_file[300];

static void fp_cleanup(void)
{
    unlink(fp_file);
    rmdir(fp_dir);
}

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc; (void)argv;
    const char *base = access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp";
    snprintf(fp_dir, sizeof fp_dir, "%s/gc-fuzz-persona-XXXXXX", base);
    FUZZ_CHECK(mkdtemp(fp_dir) != NULL, "mkdtemp %s", fp_dir);
    snprintf(fp_file, sizeof fp_file, "%s/fuzz.yaml", fp_dir);
    atexit(fp_cleanup);
    return 0;
}

static void fp_warn(void *ctx, const char *msg)
{
    (void)ctx;
    FUZZ_CHECK(!strncmp(msg, fp_file, strlen(fp_file)), "warning does not name the file: '%s'", msg);
}

static void fp_text(const char *s, const char *what)
{
    FUZZ_CHECK(s != NULL, "%s is NULL", what);
    FUZZ_CHECK(fuzz_valid_utf8(s, strlen(s)), "%s is not valid UTF-8", what);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    FILE *f = fopen(fp_file, "wb");
    FUZZ_CHECK(f && fwrite(data, 1, size, f) == size && fclose(f) == 0, "cannot write %s", fp_file);
    persona *p = (persona *)1;
    gc_err err = {{0}};
    if (persona_load_file(fp_file, NULL, &p, fp_warn, NULL, &err)) {
        FUZZ_CHECK(p == NULL, "a refused file left *out set");
        FUZZ_CHECK(!strncmp(err.msg, fp_file, strlen(fp_file)), "error does not name the file: '%s'", err.msg);
        return 0;
    }
    FUZZ_CHECK(!strcmp(p->name, "fuzz"), "name '%s'", p->name);
    fp_text(p->instruction, "instruction");
    fp_text(p->description, "description");
    FUZZ_CHECK(p->n_examples <= 64, "%zu examples", p->n_examples);
    for (size_t i = 0; i < p->n_examples; i++) fp_text(p->examples[i], "example");
    FUZZ_CHECK(p->n_exchanges <= PERSONA_MAX_EXCHANGES, "%zu exchanges", p->n_exchanges);
    for (size_t i = 0; i < p->n_exchanges; i++) {
        fp_text(p->exchanges[i].user, "exchange user");
        fp_text(p->exchanges[i].model, "exchange model");
        FUZZ_CHECK(strlen(p->exchanges[i].user) <= PERSONA_MAX_EXCHANGE_BYTES &&
                   strspn(p->exchanges[i].user, " \t\r\n") < strlen(p->exchanges[i].user) &&
                   strspn(p->exchanges[i].model, " \t\r\n") < strlen(p->exchanges[i].model), "exchange %zu", i);
    }
    FUZZ_CHECK(p->n_stops <= PERSONA_MAX_STOPS, "%zu stops", p->n_stops);
    for (size_t i = 0; i < p->n_stops; i++) {
        fp_text(p->stops[i], "stop");
        FUZZ_CHECK(strlen(p->stops[i]) >= 1 && strlen(p->stops[i]) <= PERSONA_MAX_STOP_BYTES, "stop %zu", i);
    }
    FUZZ_CHECK(!p->has_max_tokens || p->max_tokens == -1 || (p->max_tokens >= 1 && p->max_tokens <= 1048576),
               "max_tokens %d", p->max_tokens);
    FUZZ_CHECK(!(p->sampling_set & ~0x7Fu), "sampling_set 0x%x", p->sampling_set);

    /* Overrides apply over defaults and stay in range. */
    cfg_config *c = malloc(sizeof *c);
    FUZZ_CHECK(c != NULL, "malloc");
    cfg_defaults(c);
    cfg_sampling s;
    persona_sampling(p, c, &s);
    FUZZ_CHECK(s.temperature >= 0 && s.temperature <= 10 && s.top_k >= 0 && s.top_k <= 1000000 && s.top_p > 0 &&
               s.top_p <= 1 && s.min_p >= 0 && s.min_p <= 1 && s.repeat_penalty >= 0.1f && s.repeat_penalty <= 10 &&
               s.repeat_last_n >= -1 && s.repeat_last_n <= 1048576 && s.seed >= -1, "sampling out of range");
    free(c);

    persona_dirs dirs = { .n = 1 };
    snprintf(dirs.dir[0], sizeof dirs.dir[0], "%s", fp_dir);
    persona_entry *list;
    size_t n;
    FUZZ_CHECK(persona_list(&dirs, &list, &n, &err) == 0, "persona_list: %s", err.msg);
    FUZZ_CHECK(n == 1 && !strcmp(list[0].name, "fuzz"), "listed %zu personas", n);
    const char *d = list[0].description;
    FUZZ_CHECK(strlen(d) < sizeof list[0].description && !strchr(d, '\n'), "listed description");
    FUZZ_CHECK(fuzz_valid_utf8(d, strlen(d)), "listed description cut inside a character");
    FUZZ_CHECK(!strncmp(p->description, d, strlen(d)), "listed description is not the start of the description");
    free(list);
    persona_free(p);
    return 0;
}
