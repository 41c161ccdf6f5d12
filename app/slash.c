/* slash.c: the slash commands (see slash.h). */
#include "app/slash.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "app/clip.h"
#include "app/transcript.h"

static void say(chat *c, const char *text)
{
    chat_notice(c, text);
}

static int fail(chat *c, const gc_err *err)
{
    chat_error(c, err->msg);
    return -1;
}

static int cmd_help(chat *c, const char *arg)
{
    (void)arg;
    char *t = slash_help_text();
    chat_show_help(c, t);
    free(t);
    return 0;
}

static int cmd_save(chat *c, const char *arg)
{
    gc_err err = {0};
    char path[PATHS_MAX], msg[PATHS_MAX + 64];
    if (chat_save(c, arg[0] ? arg : NULL, path, sizeof path, &err)) return fail(c, &err);
    snprintf(msg, sizeof msg, "Saved to %s", path);
    say(c, msg);
    return 0;
}

/* /load alone: the saved conversations, one a line: name, when it was last
 * saved, its first words and how many messages it has. */
static int list_transcripts(chat *c)
{
    gc_err err = {0};
    char dir[PATHS_MAX];
    if (chat_transcripts_dir(c, dir, sizeof dir, &err)) return fail(c, &err);
    char **names = NULL;
    int n = 0;
    if (chat_transcript_names(c, &names, &n)) {
        gc_errf(&err, "cannot list %s", dir);
        return fail(c, &err);
    }
    size_t cap = 256 + (size_t)n * 400;
    char *t = malloc(cap);
    if (!t) { chat_free_names(names, n); return -1; }
    int k = n ? snprintf(t, cap, "Saved conversations in %s (/load NAME continues one):", dir)
              : snprintf(t, cap, "No saved conversations in %s yet (/save NAME saves this one).", dir);
    for (int i = 0; i < n && k > 0 && (size_t)k < cap; i++) {
        char path[PATHS_MAX];
        tr_transcript *tr = NULL;
        if (tr_path(dir, names[i], ".yaml", path, sizeof path, &err) || tr_load(path, &tr, &err)) {
            k += snprintf(t + k, cap - k, "\n  %-24.60s (cannot be read)", names[i]);
            continue;
        }
        char when[32] = "?", words[64] = "";
        time_t u = (time_t)tr->updated;
        struct tm tm;
        if (localtime_r(&u, &tm)) strftime(when, sizeof when, "%Y-%m-%d %H:%M", &tm);
        for (size_t m = 0; m < tr_len(tr); m++) {
            if (tr_msg(tr, m)->role != TR_USER) continue;
            tr_first_words(tr_msg(tr, m)->text, words, sizeof words);
            break;
        }
        k += snprintf(t + k, cap - k, "\n  %-24.60s %s  %4zu message%s  %s", names[i], when, tr_len(tr),
                      tr_len(tr) == 1 ? " " : "s", words);
        tr_free(tr);
    }
    say(c, t);
    free(t);
    chat_free_names(names, n);
    return 0;
}

static int cmd_load(chat *c, const char *arg)
{
    gc_err err = {0};
    if (!arg[0]) return list_transcripts(c);
    /* The current conversation is kept before it is replaced. */
    bool saved = false;
    if (chat_autosave(c, &saved, &err)) {
        gc_err_prefix(&err, "autosave failed, so the conversation stays (free some space, then try again)");
        return fail(c, &err);
    }
    char prev[PATHS_MAX];
    snprintf(prev, sizeof prev, "%s", saved ? chat_saved_to(c) : "");
    if (chat_load_name(c, arg, &err)) return fail(c, &err);
    char msg[PATHS_MAX * 2 + 128];
    const char *file = chat_conversation_file(c);
    int k = snprintf(msg, sizeof msg, "Loaded %s (%zu messages)", file, tr_len(chat_transcript(c)));
    if (saved && strcmp(prev, file))
        snprintf(msg + k, sizeof msg - k, "; the previous conversation was saved to %s", prev);
    say(c, msg);
    return 0;
}

static int cmd_export(chat *c, const char *arg)
{
    gc_err err = {0};
    if (!arg[0]) {
        gc_errf(&err, "/export NAME.md: which file name?");
        return fail(c, &err);
    }
    char path[PATHS_MAX], msg[PATHS_MAX + 64];
    if (chat_export(c, arg, path, sizeof path, &err)) return fail(c, &err);
    snprintf(msg, sizeof msg, "Exported to %s", path);
    say(c, msg);
    return 0;
}

static int cmd_persona(chat *c, const char *arg)
{
    gc_err err = {0};
    if (!arg[0]) {
        persona_entry *list = NULL;
        size_t n = 0;
        if (chat_personas(c, &list, &n, &err)) return fail(c, &err);
        size_t cap = 256 + n * 300;
        char *t = malloc(cap);
        if (t) {
            int k = snprintf(t, cap, "Personas (current: %s):", chat_persona_label(c));
            for (size_t i = 0; i < n && k > 0 && (size_t)k < cap; i++)
                k += snprintf(t + k, cap - k, "\n  %-12s %s", list[i].name, list[i].description);
            say(c, t);
        }
        free(t);
        free(list);
        return 0;
    }
    if (chat_set_persona(c, arg, &err)) return fail(c, &err);
    char msg[300];
    snprintf(msg, sizeof msg, "Persona: %s (a new conversation)", chat_persona_label(c));
    say(c, msg);
    return 0;
}

static int cmd_clear(chat *c, const char *arg)
{
    (void)arg;
    gc_err err = {0};
    if (chat_clear(c, &err)) return fail(c, &err);
    say(c, "A new conversation.");
    return 0;
}

static int cmd_regen(chat *c, const char *arg)
{
    (void)arg;
    gc_err err = {0};
    return chat_regen(c, &err) ? fail(c, &err) : 0;
}

/* After a branch switch: the screen shows it, and a notice says which. */
static int branch_shown(chat *c)
{
    sess_branch *b = NULL;
    size_t n = 0, cur = 0;
    gc_err err = {0};
    if (chat_branches(c, &b, &n, &err)) return fail(c, &err);
    for (size_t i = 0; i < n; i++)
        if (b[i].current) cur = i + 1;
    free(b);
    char msg[96];
    snprintf(msg, sizeof msg, "Branch %zu of %zu.", cur, n);
    say(c, msg);
    return 0;
}

int slash_switch_sibling(chat *c, int d)
{
    gc_err err = {0};
    if (chat_switch_sibling(c, d, &err)) return fail(c, &err);
    return branch_shown(c);
}

static int cmd_undo(chat *c, const char *arg)
{
    (void)arg;
    gc_err err = {0};
    if (chat_undo(c, &err)) return fail(c, &err);
    say(c, "Removed the last exchange.");
    return 0;
}

/* The user's nth message on the current branch (1-based; 0 = the last), or NULL. */
static const char *user_message(chat *c, size_t n)
{
    const tr_transcript *tr = chat_transcript(c);
    const char *last = NULL;
    size_t k = 0;
    for (size_t i = 0; i < tr_len(tr); i++)
        if (tr_msg(tr, i)->role == TR_USER) {
            last = tr_msg(tr, i)->text;
            if (++k == n) return last;
        }
    return n ? NULL : last;
}

/* /edit [N] [TEXT]: N (a number first) picks the user's Nth message, else
 * the last. With TEXT the conversation forks there with TEXT in its place;
 * without, the front end puts "/edit N MESSAGE" in the input to edit. */
static int cmd_edit(chat *c, const char *arg)
{
    gc_err err = {0};
    size_t n = 0, digits = strspn(arg, "0123456789");
    const char *text = arg;
    if (digits && (!arg[digits] || arg[digits] == ' ' || arg[digits] == '\t')) {
        n = (size_t)strtoull(arg, NULL, 10);
        text = arg + digits;
        while (*text == ' ' || *text == '\t') text++;
    }
    if (text[0]) return chat_edit(c, n, text, &err) ? fail(c, &err) : 0;
    const char *old = user_message(c, n);
    if (!old) {
        if (n) gc_errf(&err, "/edit: there is no message %zu of yours", n);
        else gc_errf(&err, "/edit: there is no message of yours to edit yet");
        return fail(c, &err);
    }
    const tr_transcript *tr = chat_transcript(c);
    size_t n_user = 0;
    for (size_t i = 0; i < tr_len(tr); i++) n_user += tr_msg(tr, i)->role == TR_USER;
    size_t cap = strlen(old) + 64;
    char *line = malloc(cap);
    if (!line) return -1;
    snprintf(line, cap, "/edit %zu %s", n ? n : n_user, old);
    int rc = chat_put_input(c, line);
    free(line);
    if (rc) {
        gc_errf(&err, "/edit: give the new text: /edit [N] TEXT");
        return fail(c, &err);
    }
    return 0;
}

/* /branches: every branch, where it forks and its first words. */
static int cmd_branches(chat *c, const char *arg)
{
    (void)arg;
    gc_err err = {0};
    sess_branch *b = NULL;
    size_t n = 0;
    if (chat_branches(c, &b, &n, &err)) return fail(c, &err);
    size_t cap = 128 + n * 160;
    char *t = malloc(cap);
    if (!t) { free(b); return -1; }
    int k = snprintf(t, cap, "Branches (/branch N switches; * = on screen):");
    for (size_t i = 0; i < n && k > 0 && (size_t)k < cap; i++)
        k += snprintf(t + k, cap - k, "\n %s%2zu  at message %zu: %s  (%zu messages)", b[i].current ? "*" : " ", i + 1,
                      b[i].user_msg, b[i].words, b[i].n_msgs);
    if (!n && k > 0) snprintf(t + k, cap - k, "\n  none yet");
    say(c, t);
    free(t);
    free(b);
    return 0;
}

/* /branch N: makes branch N (as /branches lists them) the one on screen. */
static int cmd_branch(chat *c, const char *arg)
{
    gc_err err = {0};
    size_t k = arg[0] && strspn(arg, "0123456789") == strlen(arg) ? (size_t)strtoull(arg, NULL, 10) : 0;
    if (!k) {
        gc_errf(&err, "/branch: which one? (a number from /branches)");
        return fail(c, &err);
    }
    if (chat_set_branch(c, k, &err)) return fail(c, &err);
    return branch_shown(c);
}

/* /system alone shows the instruction in use; /system TEXT replaces it
 * for this conversation (its transcript keeps it; the persona file stays). */
static int cmd_system(chat *c, const char *arg)
{
    gc_err err = {0};
    if (arg[0] && chat_set_instruction(c, arg, &err)) return fail(c, &err);
    const char *ins = chat_instruction(c);
    size_t cap = strlen(ins) + 400;
    char *msg = malloc(cap);
    if (!msg) return -1;
    snprintf(msg, cap, "%s for this conversation (persona %s):%s%s", arg[0] ? "New instruction" : "Instruction",
             chat_persona_label(c), ins[0] ? "\n" : " none", ins);
    say(c, msg);
    free(msg);
    return 0;
}

/* /copy [N|PATH]: the last reply, or its Nth code block, to the clipboard
 * (OSC 52, app/clip.h), or into the file PATH. */
static int cmd_copy(chat *c, const char *arg)
{
    gc_err err = {0};
    const tr_transcript *tr = chat_transcript(c);
    const char *reply = NULL;
    for (size_t i = tr_len(tr); i-- > 0 && !reply;)
        if (tr_msg(tr, i)->role == TR_MODEL) reply = tr_msg(tr, i)->text;
    if (!reply) {
        gc_errf(&err, "/copy: there is no reply to copy yet");
        return fail(c, &err);
    }
    bool number = arg[0] && strspn(arg, "0123456789") == strlen(arg);
    char *block = NULL, what[64];
    const char *text = reply;
    snprintf(what, sizeof what, "the last reply");
    if (number) {
        int n = strlen(arg) > 6 ? 0 : atoi(arg);
        if (clip_code_block(reply, n, &block, &err)) {
            gc_err_prefix(&err, "/copy");
            return fail(c, &err);
        }
        text = block;
        snprintf(what, sizeof what, "code block %d of %d of the last reply", n, clip_count_blocks(reply));
    }
    size_t len = strlen(text), lines = 0;
    for (const char *p = text; *p; p++) lines += *p == '\n';
    if (len && text[len - 1] != '\n') lines++;
    int rc = number || !arg[0] ? clip_to_terminal(text, len, &err) : paths_write_atomic(arg, text, len, 0600, &err);
    free(block);
    if (rc < 0) return fail(c, &err);
    char msg[PATHS_MAX + 200];
    snprintf(msg, sizeof msg, "Copied %s (%zu byte%s, %zu line%s) %s%s", what, len, len == 1 ? "" : "s", lines,
             lines == 1 ? "" : "s", number || !arg[0] ? "to the clipboard (OSC 52)" : "to ",
             number || !arg[0] ? "" : arg);
    say(c, msg);
    return 0;
}

const char *const slash_set_keys[] = {
    "temperature", "top_k", "top_p", "min_p", "repeat_penalty", "seed", "max_tokens", NULL,
};

static void show_settings(chat *c)
{
    const cfg_sampling *s = chat_sampling(c);
    char msg[400];
    snprintf(msg, sizeof msg,
             "temperature %g  top_k %d  top_p %g  min_p %g  repeat_penalty %g  seed %lld  max_tokens %d",
             s->temperature, s->top_k, s->top_p, s->min_p, s->repeat_penalty, s->seed, chat_max_tokens(c));
    say(c, msg);
}

static int cmd_set(chat *c, const char *arg)
{
    gc_err err = {0};
    if (!arg[0]) {
        show_settings(c);
        return 0;
    }
    char key[64];
    const char *sp = strpbrk(arg, " \t");
    size_t kn = sp ? (size_t)(sp - arg) : strlen(arg);
    const char *val = sp ? sp : "";
    while (*val == ' ' || *val == '\t') val++;
    if (kn >= sizeof key) kn = sizeof key - 1;
    memcpy(key, arg, kn);
    key[kn] = 0;
    int known = 0;
    for (int i = 0; slash_set_keys[i]; i++) known |= !strcmp(key, slash_set_keys[i]);
    if (!known) {
        gc_errf(&err, "/set: unknown setting '%s' (one of: temperature top_k top_p min_p repeat_penalty seed "
                "max_tokens)", key);
        return fail(c, &err);
    }
    if (!val[0]) {
        gc_errf(&err, "/set %s: which value?", key);
        return fail(c, &err);
    }
    char what[80];
    snprintf(what, sizeof what, "/set %s", key);
    if (chat_set_setting(c, key, val, what, &err)) return fail(c, &err);
    show_settings(c);
    return 0;
}

static int cmd_stats(chat *c, const char *arg)
{
    (void)arg;
    chat_status st;
    chat_get_status(c, &st);
    /* Gemma's sliding-window layers see only the last `w` tokens of it. */
    char window[96] = "", runs_on[400];
    int w = st.ctx_window, used = st.ctx_used;
    if (w > 0) snprintf(window, sizeof window, " (the sliding-window layers see the last %d of them)", used < w ? used : w);
    chat_backend_line(c, runs_on, sizeof runs_on);
    char msg[PATHS_MAX + 1024];
    snprintf(msg, sizeof msg,
             "last reply (%s): %d tokens at %.1f tok/s, after a prompt of %d tokens at %.1f tok/s\n"
             "context: %d of %d tokens%s; %d of %d exchanges in context; prefilled %lld tokens this session\n"
             "model: %s (%s) on %s",
             sess_end_name(st.last.end), st.last.gen_tokens, st.last.decode_tok_s, st.last.prompt_tokens,
             st.last.prefill_tok_s, st.ctx_used, st.ctx_total, window, st.n_in_context, st.n_exchanges, st.n_prefilled,
             st.model_name, st.model_path, runs_on);
    say(c, msg);
    return 0;
}

static int cmd_quit(chat *c, const char *arg)
{
    (void)arg;
    chat_quit(c);
    return 0;
}

const slash_cmd slash_cmds[] = {
    { "/help", NULL, "show the commands and keys", SLASH_ARG_NONE, cmd_help },
    { "/save", "[NAME]", "save the conversation (to its file, or NAME)", SLASH_ARG_TRANSCRIPT, cmd_save },
    { "/load", "[NAME]", "load a saved conversation; list them", SLASH_ARG_TRANSCRIPT, cmd_load },
    { "/export", "NAME.md", "write the branch on screen as Markdown", SLASH_ARG_OTHER, cmd_export },
    { "/persona", "[NAME]", "switch persona (a new conversation); list them", SLASH_ARG_PERSONA, cmd_persona },
    { "/clear", NULL, "start a new conversation", SLASH_ARG_NONE, cmd_clear },
    { "/regen", NULL, "generate the last reply again (in place: no new branch)", SLASH_ARG_NONE, cmd_regen },
    { "/edit", "[N] [TEXT]", "edit your last (or Nth) message: sending it forks a new branch", SLASH_ARG_OTHER,
      cmd_edit },
    { "/branches", NULL, "list the branches: where each forks, its first words", SLASH_ARG_NONE, cmd_branches },
    { "/branch", "N", "show branch N (Alt-Left / Alt-Right: the previous / next at the last fork)",
      SLASH_ARG_OTHER, cmd_branch },
    { "/undo", NULL, "remove the last exchange", SLASH_ARG_NONE, cmd_undo },
    { "/system", "[TEXT]", "replace the instruction for this conversation; show it", SLASH_ARG_OTHER, cmd_system },
    { "/copy", "[N|PATH]", "copy the last reply (or its code block N) to the clipboard, or to a file",
      SLASH_ARG_OTHER, cmd_copy },
    { "/set", "[KEY VALUE]", "change a sampling setting; show them", SLASH_ARG_SETTING, cmd_set },
    { "/stats", NULL, "speed of the last reply, context in use", SLASH_ARG_NONE, cmd_stats },
    { "/quit", NULL, "leave (the conversation is saved)", SLASH_ARG_NONE, cmd_quit },
    { NULL, NULL, NULL, SLASH_ARG_NONE, NULL },
};

int slash_count(void)
{
    int n = 0;
    while (slash_cmds[n].name) n++;
    return n;
}

char *slash_help_text(void)
{
    size_t cap = 4096;
    char *t = malloc(cap);
    if (!t) return NULL;
    int k = snprintf(t, cap, "Commands:");
    for (const slash_cmd *s = slash_cmds; s->name && (size_t)k < cap; s++) {
        char head[64];
        snprintf(head, sizeof head, "%s%s%s", s->name, s->args ? " " : "", s->args ? s->args : "");
        k += snprintf(t + k, cap - k, "\n  %-22s %s", head, s->help);
    }
    if ((size_t)k < cap) snprintf(t + k, cap - k, "\nTo send a message that starts with /, begin it with //.");
    return t;
}

const slash_cmd *slash_find(const char *word, size_t n)
{
    for (const slash_cmd *s = slash_cmds; s->name; s++)
        if (strlen(s->name) == n && !strncmp(s->name, word, n)) return s;
    return NULL;
}

int slash_run(chat *c, const char *line)
{
    while (*line == ' ' || *line == '\t') line++;
    size_t n = strcspn(line, " \t\n");
    char arg[4096];
    const char *a = line + n;
    while (*a == ' ' || *a == '\t') a++;
    snprintf(arg, sizeof arg, "%s", a);
    size_t al = strlen(arg);
    while (al && (arg[al - 1] == ' ' || arg[al - 1] == '\t' || arg[al - 1] == '\n' || arg[al - 1] == '\r'))
        arg[--al] = 0;
    const slash_cmd *s = slash_find(line, n);
    gc_err err;
    if (!s) {
        gc_errf(&err, "unknown command '%.*s' (/help lists them)", (int)(n > 64 ? 64 : n), line);
        return fail(c, &err);
    }
    if (!s->args && arg[0]) {
        gc_errf(&err, "%s takes no arguments", s->name);
        return fail(c, &err);
    }
    return s->run(c, arg);
}

slash_kind slash_parse(const char *line, const char **text)
{
    const char *p = line + strspn(line, " \t");
    if (*p == '/' && p[1] != '/') {
        *text = p;
        return SLASH_COMMAND;
    }
    /* "//text" sends "/text": a message may start with a slash. */
    *text = *p == '/' ? p + 1 : line;
    return (*text)[strspn(*text, " \t\r\n")] ? SLASH_MESSAGE : SLASH_BLANK;
}

int slash_input(chat *c, const char *line)
{
    const char *text;
    switch (slash_parse(line, &text)) {
    case SLASH_BLANK: return 0;
    case SLASH_COMMAND: slash_run(c, text); break;
    case SLASH_MESSAGE: {
        gc_err err = {0};
        if (chat_send(c, text, &err)) fail(c, &err);
        break;
    }
    }
    return chat_quitting(c);
}

/* n copies of words[0..n), or NULL. */
static char **copy_words(const char *const *words, int n)
{
    char **w = calloc((size_t)n + 1, sizeof *w);
    for (int i = 0; w && i < n; i++)
        if (!(w[i] = strdup(words[i]))) {
            chat_free_names(w, i);
            w = NULL;
        }
    return w;
}

int slash_arg_words(const chat *c, const slash_cmd *s, char ***out, int *n)
{
    *out = NULL;
    *n = 0;
    switch (s->arg) {
    case SLASH_ARG_PERSONA: return c ? chat_persona_names(c, out, n) : 0;
    case SLASH_ARG_TRANSCRIPT: return c ? chat_transcript_names(c, out, n) : 0;
    case SLASH_ARG_SETTING: {
        int k = 0;
        while (slash_set_keys[k]) k++;
        if (!(*out = copy_words(slash_set_keys, k))) return -1;
        *n = k;
        return 0;
    }
    default: return 0;
    }
}

int slash_completions(const chat *c, const char *line, size_t start, char ***out, int *n)
{
    *out = NULL;
    *n = 0;
    if (start == 0) {
        int k = slash_count();
        const char **names = malloc((size_t)k * sizeof *names);
        for (int i = 0; names && i < k; i++) names[i] = slash_cmds[i].name;
        *out = names ? copy_words(names, k) : NULL;
        free(names);
        if (!*out) return -1;
        *n = k;
        return 0;
    }
    const slash_cmd *s = slash_find(line, strcspn(line, " \t"));
    return s ? slash_arg_words(c, s, out, n) : 0;
}
