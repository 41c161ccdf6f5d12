/* chat_template.c: Gemma's chat format from token ids (see chat_template.h). */
#include "model/chat_template.h"

#include <stdlib.h>
#include <string.h>

static int marker(const tok_vocab *v, const char *text, int32_t *out, gc_err *err)
{
    *out = tok_find(v, text, strlen(text));
    if (*out < 0) return gc_errf(err, "the vocab has no %s token: not a Gemma chat model", text);
    return 0;
}

int tmpl_init(tmpl_gemma *t, const tok_vocab *v, gc_err *err)
{
    memset(t, 0, sizeof *t);
    t->v = v;
    tok_special sp = tok_specials(v);
    t->bos = sp.add_bos ? sp.bos : -1;
    t->eos = sp.eos;
    if (marker(v, "<start_of_turn>", &t->start_of_turn, err) || marker(v, "<end_of_turn>", &t->end_of_turn, err))
        return -1;
    t->end_s = tok_find(v, "</s>", 4);
    return 0;
}

static bool is_space(char c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f';
}

/* text with ASCII whitespace trimmed from both ends: [*s, *s + *n) */
static void trim(const char *text, const char **s, size_t *n)
{
    size_t len = text ? strlen(text) : 0;
    size_t a = 0;
    while (a < len && is_space(text[a])) a++;
    while (len > a && is_space(text[len - 1])) len--;
    *s = text ? text + a : "";
    *n = len - a;
}

int tmpl_begin(const tmpl_gemma *t, tok_ids *out, gc_err *err)
{
    return t->bos >= 0 ? tok_ids_push(out, t->bos, err) : 0;
}

static int newline(const tmpl_gemma *t, tok_ids *out, gc_err *err)
{
    return tok_encode(t->v, "\n", 1, out, err);
}

int tmpl_add_turn(const tmpl_gemma *t, tok_ids *out, enum tmpl_role role, const char *persona,
                  const char *text, gc_err *err)
{
    const char *r = role == TMPL_MODEL ? "model\n" : "user\n";
    const char *p, *c;
    size_t pn, cn, rn = strlen(r);
    trim(persona, &p, &pn);
    trim(text, &c, &cn);
    /* one span between the markers: role line, persona, content */
    size_t len = rn + (pn ? pn + 2 : 0) + cn;
    char *span = malloc(len + 1);
    if (!span) return gc_errf(err, "out of memory for a chat turn of %zu bytes", len);
    size_t o = 0;
    memcpy(span + o, r, rn); o += rn;
    if (pn) { memcpy(span + o, p, pn); o += pn; memcpy(span + o, "\n\n", 2); o += 2; }
    memcpy(span + o, c, cn); o += cn;
    int rc = tok_ids_push(out, t->start_of_turn, err) || tok_encode(t->v, span, o, out, err) ||
             tok_ids_push(out, t->end_of_turn, err) || newline(t, out, err);
    free(span);
    return rc ? -1 : 0;
}

int tmpl_add_gen_prompt(const tmpl_gemma *t, tok_ids *out, gc_err *err)
{
    if (tok_ids_push(out, t->start_of_turn, err) || tok_encode(t->v, "model\n", 6, out, err)) return -1;
    return 0;
}

int tmpl_close_reply(const tmpl_gemma *t, tok_ids *out, gc_err *err)
{
    if (tok_ids_push(out, t->end_of_turn, err) || newline(t, out, err)) return -1;
    return 0;
}

int tmpl_render(const tmpl_gemma *t, const tmpl_msg *msgs, size_t n, const char *persona,
                bool add_gen_prompt, tok_ids *out, gc_err *err)
{
    if (tmpl_begin(t, out, err)) return -1;
    for (size_t i = 0; i < n; i++) {
        enum tmpl_role want = i % 2 ? TMPL_MODEL : TMPL_USER;
        if (msgs[i].role != want)
            return gc_errf(err, "chat message %zu is from the %s; roles must alternate user/model, "
                           "starting with the user", i + 1, msgs[i].role == TMPL_MODEL ? "model" : "user");
        if (tmpl_add_turn(t, out, msgs[i].role, i == 0 ? persona : NULL, msgs[i].text, err)) return -1;
    }
    return add_gen_prompt ? tmpl_add_gen_prompt(t, out, err) : 0;
}

bool tmpl_is_stop(const tmpl_gemma *t, int32_t id)
{
    return id >= 0 && (id == t->eos || id == t->end_of_turn || id == t->end_s);
}
