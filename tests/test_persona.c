/* test_persona.c: the shipped personas, user overrides and listing, name
 * validation, broken persona files (file:line), and the precedence of a
 * persona's sampling settings. */
#include "app/config.h"
#include "app/paths.h"
#include "app/persona.h"
#include "tests/test.h"
#include "tests/testfs.h"

#define DATA "tests/data/persona"

static char tmproot[4096];

/* The user's dir (under a private XDG_CONFIG_HOME), then the repo's prompts/. */
static void dirs_for_test(persona_dirs *d)
{
    char xdg[4200];
    snprintf(xdg, sizeof xdg, "%s/xdg", tmproot);
    setenv("XDG_CONFIG_HOME", xdg, 1);
    unsetenv("GEMMA_CHAT_SHARE_DIR");
    gc_err err = {0};
    CHECK(persona_default_dirs(d, ".", &err) == 0, "%s", err.msg);
}

static void test_shipped(void)
{
    persona_dirs d;
    dirs_for_test(&d);
    CHECK(d.n == 2, "%d dirs", d.n);
    CHECK_STR(d.dir[1], "./prompts");
    static const char *names[] = { "assistant", "pirate", "concise", "teacher", "coder" };
    for (size_t i = 0; i < 5; i++) {
        persona *p = NULL;
        tfs_warnings w = { 0 };
        gc_err err = {0};
        CHECK(persona_load(&d, names[i], &p, tfs_collect, &w, &err) == 0, "%s: %s", names[i], err.msg);
        CHECK(w.n == 0, "%s: %d warnings: %s", names[i], w.n, w.msg[0]);
        if (!p) continue;
        CHECK_STR(p->name, names[i]);
        CHECK(strlen(p->instruction) > 80, "%s: instruction too short", names[i]);
        CHECK(strlen(p->description) > 10 && !strchr(p->description, '\n'), "%s: description", names[i]);
        CHECK(p->n_examples >= 1, "%s: no example prompt", names[i]);
        /* Made for the bundled base model: example turns that end in the
         * stop string " [END]", and a reply limit (docs/real-model.md). */
        CHECK(p->n_exchanges >= 2 && p->n_exchanges <= 4, "%s: %zu example exchanges", names[i], p->n_exchanges);
        for (size_t j = 0; j < p->n_exchanges; j++) {
            size_t ml = strlen(p->exchanges[j].model);
            CHECK(ml > 6 && !strcmp(p->exchanges[j].model + ml - 6, " [END]"), "%s: exchange %zu ends in ' [END]'",
                  names[i], j + 1);
        }
        CHECK(p->n_stops >= 1 && !strcmp(p->stops[0], " [END]"), "%s: stop ' [END]' first", names[i]);
        CHECK(p->has_max_tokens && p->max_tokens >= 32 && p->max_tokens <= 1024, "%s: max_tokens", names[i]);
        CHECK_CONTAINS(p->path, "prompts/");
        persona_free(p);
    }
    persona *p = NULL;
    gc_err err = {0};
    CHECK(persona_load(&d, "pirate", &p, NULL, NULL, &err) == 0, "%s", err.msg);
    if (p) {
        CHECK_STR(p->examples[0], "Who are you? Please, answer in pirate-speak.");
        CHECK_CONTAINS(p->instruction, "pirate-speak");
    }
    persona_free(p);
    /* The default persona of the config exists. */
    cfg_config c;
    cfg_defaults(&c);
    CHECK(persona_load(&d, c.persona, &p, NULL, NULL, &err) == 0, "default persona '%s': %s", c.persona, err.msg);
    persona_free(p);
    CHECK(persona_load(&d, "nobody", &p, NULL, NULL, &err) != 0 && p == NULL, "missing persona loaded");
    CHECK_CONTAINS(err.msg, "no persona named 'nobody'");
    CHECK_CONTAINS(err.msg, "./prompts");
}

static void test_user_override_and_list(void)
{
    persona_dirs d;
    dirs_for_test(&d);
    gc_err err = {0};
    CHECK(paths_mkdir_p(d.dir[0], 0700, &err) == 0, "%s", err.msg);
    char p1[4300], p2[4300], p3[4300], p4[4300];
    snprintf(p1, sizeof p1, "%s/pirate.yaml", d.dir[0]);
    snprintf(p2, sizeof p2, "%s/mine.yaml", d.dir[0]);
    snprintf(p3, sizeof p3, "%s/.hidden.yaml", d.dir[0]);
    snprintf(p4, sizeof p4, "%s/broken.yaml", d.dir[0]);
    const char *pirate = "description: My own pirate\ninstruction: Talk like a parrot.\n";
    const char *mine = "description: Mine\ninstruction: Be mine.\nsampling:\n  temperature: 0.1\n";
    tfs_write(p1, pirate, strlen(pirate));
    tfs_write(p2, mine, strlen(mine));
    tfs_write(p3, mine, strlen(mine));
    tfs_write(p4, "instruction: [", 14);

    persona *p = NULL;
    CHECK(persona_load(&d, "pirate", &p, NULL, NULL, &err) == 0, "%s", err.msg);
    if (p) {
        CHECK_STR(p->instruction, "Talk like a parrot.");
        CHECK_STR(p->path, p1);
    }
    persona_free(p);

    persona_entry *list = NULL;
    size_t n = 0;
    CHECK(persona_list(&d, &list, &n, &err) == 0, "%s", err.msg);
    static const char *want[] = { "assistant", "broken", "coder", "concise", "mine", "pirate", "teacher" };
    CHECK(n == 7, "%zu personas listed", n);
    for (size_t i = 0; i < n && i < 7; i++) {
        CHECK_STR(list[i].name, want[i]);
        if (!strcmp(list[i].name, "pirate")) {
            CHECK(list[i].overrides == 1, "pirate overrides flag");
            CHECK_STR(list[i].description, "My own pirate");
        }
        if (!strcmp(list[i].name, "broken")) CHECK_CONTAINS(list[i].description, "(unreadable: ");
        if (!strcmp(list[i].name, "teacher")) CHECK(list[i].overrides == 0, "teacher overrides flag");
    }
    free(list);
    unlink(p1);
    unlink(p2);
    unlink(p3);
    unlink(p4);
}

static void test_names_refused(void)
{
    persona_dirs d;
    dirs_for_test(&d);
    /* A file just outside the prompts dir must not be reachable by name. */
    char evil[4300];
    snprintf(evil, sizeof evil, "%s/xdg/gemma-chat/evil.yaml", tmproot);
    gc_err err = {0};
    char parent[4300];
    snprintf(parent, sizeof parent, "%s/xdg/gemma-chat", tmproot);
    paths_mkdir_p(parent, 0700, &err);
    tfs_write(evil, "instruction: gotcha\n", 20);
    static const char *bad[] = { "../evil", "..", "a/b", "/etc/passwd", ".hidden", "", "x\x1b[2J", "tab\t",
                                 "..\\evil", "-x" };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        persona *p = NULL;
        CHECK(persona_load(&d, bad[i], &p, NULL, NULL, &err) != 0 && p == NULL, "name %zu loaded", i);
        CHECK(strstr(err.msg, "persona name") != NULL, "name %zu: %s", i, err.msg);
    }
    unlink(evil);
}

static int load_sample(const char *path, tfs_warnings *w, gc_err *err)
{
    persona *p = NULL;
    int rc = persona_load_file(path, NULL, &p, tfs_collect, w, err);
    CHECK((rc == 0) == (p != NULL), "%s: result and object disagree", path);
    persona_free(p);
    return rc;
}

static void test_samples(void)
{
    tfs_check_samples(DATA, "good-", 4, load_sample);
    tfs_check_samples(DATA, "warn-", 2, load_sample);
    tfs_check_samples(DATA, "bad-", 31, load_sample);
    persona *p = NULL;
    gc_err err = {0};
    CHECK(persona_load_file(DATA "/good-full.yaml", NULL, &p, NULL, NULL, &err) == 0, "%s", err.msg);
    if (p) {
        CHECK_STR(p->description, "First line of the description.\nSecond line.");
        CHECK_STR(p->instruction, "Be good.\n");
        CHECK(p->n_examples == 2, "%zu examples", p->n_examples);
        CHECK(p->sampling_set == (CFG_S_TEMPERATURE | CFG_S_SEED), "mask %x", p->sampling_set);
        CHECK(p->sampling.seed == 7, "seed");
        CHECK_NEAR(p->sampling.temperature, 0.25, 0);
    }
    persona_free(p);
    CHECK(persona_load_file(DATA "/good-minimal.yaml", NULL, &p, NULL, NULL, &err) == 0, "%s", err.msg);
    if (p) CHECK(p->instruction[0] == 0 && p->description[0] == 0 && p->n_examples == 0, "minimal");
    persona_free(p);

    /* Example exchanges, stop strings, max_tokens and every sampling key. */
    CHECK(persona_load_file(DATA "/good-exchanges.yaml", NULL, &p, NULL, NULL, &err) == 0, "%s", err.msg);
    if (p) {
        CHECK(p->n_exchanges == 2, "%zu exchanges", p->n_exchanges);
        if (p->n_exchanges == 2) {
            CHECK_STR(p->exchanges[0].user, "Who are you?");
            CHECK_STR(p->exchanges[0].model, "Ahoy! I be Captain Ñuñez.\nArr!");
            CHECK_STR(p->exchanges[1].user, "  Where is your ship?  ");
            CHECK_STR(p->exchanges[1].model, "In the bay. [END]");
        }
        CHECK(p->n_stops == 2, "%zu stops", p->n_stops);
        if (p->n_stops == 2) {
            CHECK_STR(p->stops[0], "[END]");
            CHECK_STR(p->stops[1], "\nuser");
        }
        CHECK(p->has_max_tokens && p->max_tokens == 80, "max_tokens %d", p->max_tokens);
        CHECK(p->sampling_set == 0x7f, "all 7 sampling keys set: mask %x", p->sampling_set);
        CHECK_NEAR(p->sampling.temperature, 0.7, 1e-6);
        CHECK(p->sampling.top_k == 40 && p->sampling.repeat_last_n == 32 && p->sampling.seed == 5, "ints");
        CHECK_NEAR(p->sampling.top_p, 0.9, 1e-6);
        CHECK_NEAR(p->sampling.min_p, 0.05, 1e-6);
        CHECK_NEAR(p->sampling.repeat_penalty, 1.1, 1e-6);
    }
    persona_free(p);
    CHECK(persona_load_file(DATA "/good-stop-scalar.yaml", NULL, &p, NULL, NULL, &err) == 0, "%s", err.msg);
    if (p) {
        CHECK(p->n_stops == 1 && !strcmp(p->stops[0], "[END]"), "one stop string from a scalar");
        CHECK(p->n_exchanges == 0 && p->has_max_tokens && p->max_tokens == -1, "no exchanges, no limit");
    }
    persona_free(p);
    CHECK(persona_load_file(DATA "/good-minimal.yaml", NULL, &p, NULL, NULL, &err) == 0, "%s", err.msg);
    if (p) CHECK(p->n_exchanges == 0 && p->n_stops == 0 && !p->has_max_tokens, "minimal: none");
    persona_free(p);

    /* Over 64 KiB: refused with file:line. */
    char big[4200];
    snprintf(big, sizeof big, "%s/big.yaml", tmproot);
    FILE *f = fopen(big, "wb");
    if (f) {
        fputs("instruction: |\n", f);
        for (int i = 0; i < 2000; i++) fputs("  forty bytes of instruction text here.\n", f);
        fclose(f);
    }
    CHECK(persona_load_file(big, NULL, &p, NULL, NULL, &err) != 0, "64 KiB+ persona loaded");
    CHECK(tfs_names_location(err.msg, big, 1640, "larger than"), "%s", err.msg);
}

/* Persona sampling beats config files but yields to env and flags. */
static void test_sampling_precedence(void)
{
    cfg_config c;
    cfg_defaults(&c);
    gc_err err = {0};
    CHECK(cfg_set(&c, "sampling.top_k", "5", CFG_SRC_USER, "test", &err) == 0, "%s", err.msg);
    CHECK(cfg_set(&c, "sampling.temperature", "0.9", CFG_SRC_FLAG, "--temp", &err) == 0, "%s", err.msg);
    CHECK(cfg_set(&c, "sampling.seed", "11", CFG_SRC_ENV, "GEMMA_CHAT_SEED", &err) == 0, "%s", err.msg);
    persona p = { .sampling_set = CFG_S_TOP_K | CFG_S_TEMPERATURE | CFG_S_SEED | CFG_S_MIN_P };
    p.sampling.top_k = 99;
    p.sampling.temperature = 0.2f;
    p.sampling.seed = 3;
    p.sampling.min_p = 0.3f;
    cfg_sampling s;
    persona_sampling(&p, &c, &s);
    CHECK(s.top_k == 99, "persona beats the user file: %d", s.top_k);
    CHECK_NEAR(s.temperature, 0.9, 1e-6);             /* the flag wins */
    CHECK(s.seed == 11, "env wins: %lld", s.seed);
    CHECK_NEAR(s.min_p, 0.3, 1e-6);                   /* default yields to the persona */
    CHECK_NEAR(s.top_p, 0.95, 1e-6);                  /* not set by the persona */
    persona_sampling(NULL, &c, &s);
    CHECK(s.top_k == 5, "no persona");
}

/* max_tokens: a flag (or the environment) beats the persona, which beats config files. */
static void test_max_tokens_precedence(void)
{
    cfg_config c;
    cfg_defaults(&c);
    gc_err err = {0};
    persona p = { .max_tokens = 96, .has_max_tokens = 1 };
    CHECK(persona_max_tokens(&p, &c) == 96, "persona beats the default");
    CHECK(persona_max_tokens(NULL, &c) == c.max_tokens, "no persona: the config");
    CHECK(cfg_set(&c, "max_tokens", "300", CFG_SRC_FILE, "-c", &err) == 0, "%s", err.msg);
    CHECK(persona_max_tokens(&p, &c) == 96, "persona beats -c FILE");
    persona none = { 0 };
    CHECK(persona_max_tokens(&none, &c) == 300, "a persona without max_tokens: the config's");
    CHECK(cfg_set(&c, "max_tokens", "20", CFG_SRC_FLAG, "-n", &err) == 0, "%s", err.msg);
    CHECK(persona_max_tokens(&p, &c) == 20, "-n beats the persona");
}

int main(void)
{
    if (tfs_mkdtemp(tmproot, sizeof tmproot, "persona")) { perror("mkdtemp"); return 1; }
    TEST_RUN(test_shipped);
    TEST_RUN(test_user_override_and_list);
    TEST_RUN(test_names_refused);
    TEST_RUN(test_samples);
    TEST_RUN(test_sampling_precedence);
    TEST_RUN(test_max_tokens_precedence);
    tfs_rmtree(tmproot);
    return test_summary();
}
