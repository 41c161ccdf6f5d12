#include "app/persona.h"

#include <dirent.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "app/ydoc.h"
#include "base/buf.h"

static const ydoc_limits persona_limits = {
    .max_bytes = PERSONA_MAX_FILE_BYTES, .max_depth = 8, .max_nodes = 4096, .max_map_keys = 64,
};

#define PERSONA_MAX_EXAMPLES 64

int persona_check_name(const char *name, gc_err *err)
{
    return paths_check_name(name, "persona name", err);
}

int persona_default_dirs(persona_dirs *dirs, const char *share_dir, gc_err *err)
{
    dirs->n = 0;
    char base[PATHS_MAX];
    if (paths_user_dir(PATHS_CONFIG, base, sizeof base, err)) return -1;
    if (paths_join(dirs->dir[dirs->n++], PATHS_MAX, err, "%s/prompts", base)) return -1;
    char share[PATHS_MAX];
    gc_err ignored;
    if (!share_dir && !paths_share_dir(share, sizeof share, &ignored)) share_dir = share;
    if (share_dir && paths_join(dirs->dir[dirs->n++], PATHS_MAX, err, "%s/prompts", share_dir)) return -1;
    return 0;
}

void persona_free(persona *p)
{
    if (!p) return;
    free(p->description);
    free(p->instruction);
    for (size_t i = 0; i < p->n_examples; i++) free(p->examples[i]);
    free(p->examples);
    for (size_t i = 0; i < p->n_exchanges; i++) {
        free(p->exchanges[i].user);
        free(p->exchanges[i].model);
    }
    free(p->exchanges);
    for (size_t i = 0; i < p->n_stops; i++) free(p->stops[i]);
    free(p->stops);
    free(p);
}

/* NAME from ".../NAME.yaml" into buf; -1 when the file name is not NAME.yaml. */
static int name_from_path(const char *path, char *buf, size_t n)
{
    const char *base = strrchr(path, '/');
    base = base ? base + 1 : path;
    size_t len = strlen(base);
    if (len <= 5 || strcmp(base + len - 5, ".yaml") || len - 5 >= n) return -1;
    memcpy(buf, base, len - 5);
    buf[len - 5] = 0;
    return 0;
}

static int dup_str(char **dst, const char *s)
{
    *dst = strdup(s);
    return *dst ? 0 : -1;
}

/* A non-empty string of at most max bytes (key names it in messages). */
static int get_text(const ydoc *d, const ydoc_node *v, const char *key, size_t max, char **out, gc_err *err)
{
    const char *s;
    if (ydoc_get_str(d, v, key, max, &s, err)) return -1;
    bool blank = true;
    for (const char *q = s; *q; q++)
        if (*q != ' ' && *q != '\t' && *q != '\n' && *q != '\r') blank = false;
    if (blank) return ydoc_errf(d, v, err, "'%s' is empty: it must hold some text", key);
    *out = strdup(s);
    return *out ? 0 : gc_errf(err, "out of memory");
}

/* exchanges: a list of {user: TEXT, model: TEXT}. */
static int read_exchanges(persona *p, const ydoc *d, const ydoc_node *v, gc_err *err)
{
    if (ydoc_is_null(v)) return 0;
    if (ydoc_want(d, v, YDOC_SEQ, "exchanges", err)) return -1;
    if (p->exchanges) return ydoc_errf(d, v, err, "'exchanges' is given twice");
    if (v->n > PERSONA_MAX_EXCHANGES)
        return ydoc_errf(d, v, err, "'exchanges' has %zu entries, at most %d", v->n, PERSONA_MAX_EXCHANGES);
    p->exchanges = calloc(v->n ? v->n : 1, sizeof *p->exchanges);
    if (!p->exchanges) return gc_errf(err, "out of memory");
    for (size_t j = 0; j < v->n; j++) {
        const ydoc_node *e = v->kids[j];
        char key[64];
        snprintf(key, sizeof key, "exchanges[%zu]", j + 1);
        if (ydoc_want(d, e, YDOC_MAP, key, err)) return -1;
        persona_exchange *x = &p->exchanges[p->n_exchanges++];
        for (size_t i = 0; i + 1 < e->n; i += 2) {
            const ydoc_node *k = e->kids[i], *val = e->kids[i + 1];
            const char *kn = strlen(k->str) == k->len ? k->str : "";
            char sub[96];
            snprintf(sub, sizeof sub, "%s.%s", key, kn);
            char **dst = !strcmp(kn, "user") ? &x->user : !strcmp(kn, "model") ? &x->model : NULL;
            if (!dst) {
                char shown[64];
                return ydoc_errf(d, k, err, "unknown key %s in '%s': an exchange has exactly the keys "
                                 "user and model", ydoc_describe(k, shown, sizeof shown), key);
            }
            if (*dst) return ydoc_errf(d, k, err, "'%s' is given twice", sub);
            if (get_text(d, val, sub, PERSONA_MAX_EXCHANGE_BYTES, dst, err)) return -1;
        }
        if (!x->user || !x->model)
            return ydoc_errf(d, e, err, "'%s' has no '%s': an exchange needs both user and model", key,
                             x->user ? "model" : "user");
    }
    return 0;
}

/* stop: a list of strings (a single string is taken as a list of one). */
static int read_stops(persona *p, const ydoc *d, const ydoc_node *v, gc_err *err)
{
    if (ydoc_is_null(v)) return 0;
    if (p->stops) return ydoc_errf(d, v, err, "'stop' is given twice");
    const ydoc_node *one[1] = { v };
    const ydoc_node *const *items = one;
    size_t n = 1;
    if (v->kind == YDOC_SEQ) {
        items = (const ydoc_node *const *)v->kids;
        n = v->n;
    }
    if (n > PERSONA_MAX_STOPS) return ydoc_errf(d, v, err, "'stop' has %zu entries, at most %d", n, PERSONA_MAX_STOPS);
    p->stops = calloc(n ? n : 1, sizeof *p->stops);
    if (!p->stops) return gc_errf(err, "out of memory");
    for (size_t j = 0; j < n; j++) {
        const char *s;
        if (ydoc_get_str(d, items[j], "stop[]", PERSONA_MAX_STOP_BYTES, &s, err)) return -1;
        if (!*s) return ydoc_errf(d, items[j], err, "'stop[]' is empty: a stop string needs 1 to %d bytes",
                                  PERSONA_MAX_STOP_BYTES);
        if (!(p->stops[p->n_stops] = strdup(s))) return gc_errf(err, "out of memory");
        p->n_stops++;
    }
    return 0;
}

static int from_doc(persona *p, const ydoc *d, cfg_warn_fn warn, void *ctx, gc_err *err)
{
    const ydoc_node *root = d->root;
    if (!root || ydoc_is_null(root)) return ydoc_errf(d, NULL, err, "empty persona file: 'instruction' is required");
    if (root->kind != YDOC_MAP) return ydoc_errf(d, root, err, "a persona file must be a mapping of keys");
    const char *s;
    for (size_t i = 0; i + 1 < root->n; i += 2) {
        const ydoc_node *k = root->kids[i], *v = root->kids[i + 1];
        /* A key with an escaped NUL inside must not match "name" etc. */
        const char *key = strlen(k->str) == k->len ? k->str : "";
        if (!strcmp(key, "name")) {
            if (ydoc_get_str(d, v, "name", 200, &s, err)) return -1;
            if (strcmp(s, p->name))
                return ydoc_errf(d, v, err, "'name' is '%s' but the file is named '%s.yaml'; they must match",
                                 s, p->name);
        } else if (!strcmp(key, "description")) {
            if (ydoc_get_str(d, v, "description", 4096, &s, err)) return -1;
            free(p->description);
            if (dup_str(&p->description, s)) return gc_errf(err, "out of memory");
        } else if (!strcmp(key, "instruction")) {
            if (ydoc_get_str(d, v, "instruction", PERSONA_MAX_FILE_BYTES, &s, err)) return -1;
            if (dup_str(&p->instruction, s)) return gc_errf(err, "out of memory");
        } else if (!strcmp(key, "sampling")) {
            if (cfg_read_sampling(d, v, &p->sampling, &p->sampling_set, warn, ctx, err)) return -1;
        } else if (!strcmp(key, "examples")) {
            if (ydoc_is_null(v)) continue;
            if (ydoc_want(d, v, YDOC_SEQ, "examples", err)) return -1;
            if (p->examples) return ydoc_errf(d, v, err, "'examples' is given twice");
            if (v->n > PERSONA_MAX_EXAMPLES)
                return ydoc_errf(d, v, err, "'examples' has %zu entries, at most %d", v->n, PERSONA_MAX_EXAMPLES);
            p->examples = calloc(v->n ? v->n : 1, sizeof *p->examples);
            if (!p->examples) return gc_errf(err, "out of memory");
            for (size_t j = 0; j < v->n; j++) {
                if (ydoc_get_str(d, v->kids[j], "examples[]", 16384, &s, err)) return -1;
                if (dup_str(&p->examples[p->n_examples], s)) return gc_errf(err, "out of memory");
                p->n_examples++;
            }
        } else if (!strcmp(key, "exchanges")) {
            if (read_exchanges(p, d, v, err)) return -1;
        } else if (!strcmp(key, "stop")) {
            if (read_stops(p, d, v, err)) return -1;
        } else if (!strcmp(key, "max_tokens")) {
            long long mt;
            if (ydoc_get_int(d, v, "max_tokens", -1, 1048576, &mt, err)) return -1;
            if (mt == 0) return ydoc_errf(d, v, err, "'max_tokens' must be 1 to 1048576, or -1 for no limit; got 0");
            p->max_tokens = (int)mt;
            p->has_max_tokens = 1;
        } else if (warn) {
            char msg[512], shown[64];
            snprintf(msg, sizeof msg, "%s:%d: unknown key %s in a persona (ignored); the keys are name, "
                     "description, instruction, sampling, examples, exchanges, stop, max_tokens", d->file, k->line,
                     ydoc_describe(k, shown, sizeof shown));
            warn(ctx, msg);
        }
    }
    if (!p->instruction)
        return ydoc_errf(d, root, err, "'instruction' is missing: a persona needs its instruction text");
    if (!p->description && dup_str(&p->description, "")) return gc_errf(err, "out of memory");
    return 0;
}

int persona_load_file(const char *path, const char *expect_name, persona **out, cfg_warn_fn warn, void *ctx,
                      gc_err *err)
{
    *out = NULL;
    persona *p = calloc(1, sizeof *p);
    if (!p) return gc_errf(err, "out of memory");
    if (expect_name) {
        if (persona_check_name(expect_name, err)) goto fail;
        snprintf(p->name, sizeof p->name, "%s", expect_name);
    } else if (name_from_path(path, p->name, sizeof p->name) || persona_check_name(p->name, err)) {
        gc_errf(err, "'%s': a persona file must be named NAME.yaml with a valid persona name", path);
        goto fail;
    }
    if (paths_join(p->path, sizeof p->path, err, "%s", path)) goto fail;
    ydoc *d;
    if (ydoc_load_file(path, &persona_limits, &d, err)) goto fail;
    int rc = from_doc(p, d, warn, ctx, err);
    ydoc_free(d);
    if (rc) goto fail;
    *out = p;
    return 0;
fail:
    persona_free(p);
    return -1;
}

int persona_load(const persona_dirs *dirs, const char *name, persona **out, cfg_warn_fn warn, void *ctx,
                 gc_err *err)
{
    *out = NULL;
    if (persona_check_name(name, err)) return -2;
    char path[PATHS_MAX];
    for (int i = 0; i < dirs->n; i++) {
        if (paths_join(path, sizeof path, err, "%s/%s.yaml", dirs->dir[i], name)) return -1;
        if (paths_is_file(path)) return persona_load_file(path, name, out, warn, ctx, err);
    }
    char where[2 * PATHS_MAX + 8] = "";
    for (int i = 0; i < dirs->n; i++)
        snprintf(where + strlen(where), sizeof where - strlen(where), "%s%s", i ? ", " : "", dirs->dir[i]);
    gc_errf(err, "no persona named '%s' (looked for %s.yaml in %s)", name, name, where);
    return -2;
}

static int entry_cmp(const void *a, const void *b)
{
    return strcmp(((const persona_entry *)a)->name, ((const persona_entry *)b)->name);
}

int persona_list(const persona_dirs *dirs, persona_entry **out, size_t *n_out, gc_err *err)
{
    persona_entry *list = NULL;
    size_t n = 0, cap = 0;
    *out = NULL;
    *n_out = 0;
    for (int di = 0; di < dirs->n; di++) {
        DIR *dir = opendir(dirs->dir[di]);
        if (!dir) continue;
        struct dirent *de;
        while ((de = readdir(dir))) {
            char name[201];
            gc_err e;
            if (name_from_path(de->d_name, name, sizeof name) || persona_check_name(name, &e)) continue;
            size_t j = 0;
            while (j < n && strcmp(list[j].name, name)) j++;
            if (j < n) {
                /* Already listed from a higher-priority directory. */
                list[j].overrides = 1;
                continue;
            }
            if (GC_GROW(list, cap, n + 1)) { closedir(dir); free(list); return gc_errf(err, "out of memory"); }
            persona_entry *en = &list[n];
            memset(en, 0, sizeof *en);
            snprintf(en->name, sizeof en->name, "%s", name);
            if (paths_join(en->path, sizeof en->path, &e, "%s/%s", dirs->dir[di], de->d_name)) continue;
            if (!paths_is_file(en->path)) continue;
            persona *p;
            if (persona_load_file(en->path, name, &p, NULL, NULL, &e)) {
                snprintf(en->description, sizeof en->description, "(unreadable: %.200s)", e.msg);
            } else {
                /* First line only, cut on a character boundary. */
                size_t len = strcspn(p->description, "\n");
                if (len > sizeof en->description - 1) len = sizeof en->description - 1;
                while (len && ((unsigned char)p->description[len] & 0xC0) == 0x80) len--;
                memcpy(en->description, p->description, len);
                en->description[len] = 0;
                persona_free(p);
            }
            n++;
        }
        closedir(dir);
    }
    if (n) qsort(list, n, sizeof *list, entry_cmp);
    *out = list;
    *n_out = n;
    return 0;
}

void persona_sampling(const persona *p, const cfg_config *c, cfg_sampling *out)
{
    *out = c->sampling;
    if (!p) return;
    static const char *keys[] = { "sampling.temperature", "sampling.top_k", "sampling.top_p", "sampling.min_p",
                                  "sampling.repeat_penalty", "sampling.repeat_last_n", "sampling.seed" };
    for (int b = 0; b < 7; b++) {
        if (!(p->sampling_set & (1u << b)) || cfg_origin(c, keys[b]) >= CFG_SRC_ENV) continue;
        switch (b) {
        case 0: out->temperature = p->sampling.temperature; break;
        case 1: out->top_k = p->sampling.top_k; break;
        case 2: out->top_p = p->sampling.top_p; break;
        case 3: out->min_p = p->sampling.min_p; break;
        case 4: out->repeat_penalty = p->sampling.repeat_penalty; break;
        case 5: out->repeat_last_n = p->sampling.repeat_last_n; break;
        case 6: out->seed = p->sampling.seed; break;
        }
    }
}

int persona_max_tokens(const persona *p, const cfg_config *c)
{
    if (p && p->has_max_tokens && cfg_origin(c, "max_tokens") < CFG_SRC_ENV) return p->max_tokens;
    return c->max_tokens;
}
