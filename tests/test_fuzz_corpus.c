/* test_fuzz_corpus.c: replays every committed fuzz input through its
 * harness on the ordinary build (and, under `make test-sanitize`, with ASan
 * and UBSan), without clang or libFuzzer:
 *   fuzz/regressions/HARNESS/  inputs that once crashed a harness (each kept
 *                              with the fix that made it pass);
 *   fuzz/corpus/HARNESS/       the seed corpus `make fuzz` starts from.
 * A harness checks its properties itself and aborts on a violation (see
 * fuzz/fuzz_common.h), so a regression shows up here as a crash right after
 * the "replay FILE" line naming the input.
 *
 * Each harness file is included with its entry points renamed; their other
 * names are static and prefixed per harness, so they do not collide.
 */
#include <dirent.h>
#include <sys/stat.h>

#define LLVMFuzzerTestOneInput fz_gguf_one
#include "fuzz/fuzz_gguf.c"
#undef LLVMFuzzerTestOneInput

#define LLVMFuzzerInitialize fz_tokenizer_init
#define LLVMFuzzerTestOneInput fz_tokenizer_one
#include "fuzz/fuzz_tokenizer.c"
#undef LLVMFuzzerInitialize
#undef LLVMFuzzerTestOneInput

#define LLVMFuzzerInitialize fz_stream_init
#define LLVMFuzzerTestOneInput fz_stream_one
#include "fuzz/fuzz_stream.c"
#undef LLVMFuzzerInitialize
#undef LLVMFuzzerTestOneInput

#define LLVMFuzzerTestOneInput fz_transcript_one
#include "fuzz/fuzz_transcript.c"
#undef LLVMFuzzerTestOneInput

#define LLVMFuzzerTestOneInput fz_config_one
#include "fuzz/fuzz_config.c"
#undef LLVMFuzzerTestOneInput

#define LLVMFuzzerInitialize fz_persona_init
#define LLVMFuzzerTestOneInput fz_persona_one
#include "fuzz/fuzz_persona.c"
#undef LLVMFuzzerInitialize
#undef LLVMFuzzerTestOneInput

#include "tests/test.h"

typedef struct harness {
    const char *name;
    int (*init)(int *, char ***);
    int (*one)(const uint8_t *, size_t);
} harness;

static const harness harnesses[] = {
    { "gguf", NULL, fz_gguf_one },
    { "tokenizer", fz_tokenizer_init, fz_tokenizer_one },
    { "stream", fz_stream_init, fz_stream_one },
    { "transcript", NULL, fz_transcript_one },
    { "config", NULL, fz_config_one },
    { "persona", fz_persona_init, fz_persona_one },
};

static int name_cmp(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Runs every file of dir through h; returns how many (-1: no such dir). */
static long replay_dir(const harness *h, const char *dir)
{
    DIR *d = opendir(dir);
    if (!d) return -1;
    char **names = NULL;
    size_t n = 0, cap = 0;
    struct dirent *de;
    while ((de = readdir(d))) {
        if (de->d_name[0] == '.') continue;
        if (n == cap) {
            cap = cap ? cap * 2 : 64;
            names = realloc(names, cap * sizeof *names);
            if (!names) abort();
        }
        names[n++] = strdup(de->d_name);
    }
    closedir(d);
    if (n) qsort(names, n, sizeof *names, name_cmp);   /* the same order every run */
    for (size_t i = 0; i < n; i++) {
        char path[4096];
        snprintf(path, sizeof path, "%s/%s", dir, names[i]);
        FILE *f = fopen(path, "rb");
        CHECK(f != NULL, "cannot open %s", path);
        if (!f) continue;
        struct stat st;
        CHECK(fstat(fileno(f), &st) == 0, "cannot stat %s", path);
        size_t size = (size_t)st.st_size;
        /* An exact-size heap copy, as libFuzzer passes: ASan sees a read past the end. */
        uint8_t *buf = malloc(size ? size : 1);
        CHECK(buf != NULL && fread(buf, 1, size, f) == size, "cannot read %s", path);
        fclose(f);
        printf("replay %s (%zu bytes)\n", path, size);
        fflush(stdout);
        h->one(buf, size);
        free(buf);
        free(names[i]);
    }
    free(names);
    return (long)n;
}

int main(void)
{
    setvbuf(stdout, NULL, _IOLBF, 0);
    const char *only = getenv("FUZZ");   /* e.g. FUZZ=gguf: one harness */
    for (size_t i = 0; i < sizeof harnesses / sizeof harnesses[0]; i++) {
        const harness *h = &harnesses[i];
        if (only && only[0] && !strstr(only, h->name)) continue;
        if (h->init) {
            int argc = 1;
            char *args[] = { "test_fuzz_corpus", NULL }, **argv = args;
            h->init(&argc, &argv);
        }
        char dir[256];
        snprintf(dir, sizeof dir, "fuzz/corpus/%s", h->name);
        long nc = replay_dir(h, dir);
        /* Every harness has a committed seed corpus of real size. */
        CHECK(nc >= 5, "%s holds %ld inputs", dir, nc);
        snprintf(dir, sizeof dir, "fuzz/regressions/%s", h->name);
        long nr = replay_dir(h, dir);
        printf("%s: %ld corpus inputs, %ld regressions replayed\n", h->name, nc, nr < 0 ? 0 : nr);
    }
    return test_summary();
}
