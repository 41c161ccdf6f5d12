/* host_backend.c: the part the host-memory backends share (see host_backend.h). */
#include "model/host_backend.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/buf.h"
#include "base/fault.h"
#include "model/quant.h"

void hb_fail(host_backend *hb, const char *fmt, ...)
{
    if (hb->failed) return;
    hb->failed = true;
    int k = snprintf(hb->step_err.msg, sizeof hb->step_err.msg, "%s: ", hb->tag);
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(hb->step_err.msg + k, sizeof hb->step_err.msg - (size_t)k, fmt, ap);
    va_end(ap);
}

bool hb_op_ok(host_backend *hb, const char *op)
{
    if (hb->failed) return false;
    if (!hb->in_step) { hb_fail(hb, "%s called outside begin_step/end_step", op); return false; }
    return true;
}

const float *hb_f32_in(host_backend *hb, const be_tensor *t, uint64_t need, const char *op, const char *what)
{
    if (!t) { hb_fail(hb, "%s: %s is NULL", op, what); return NULL; }
    if (!t->f) {
        hb_fail(hb, "%s: %s '%s' is a %s weight matrix, not an f32 vector", op, what, t->name,
                quant_type_name(t->type));
        return NULL;
    }
    if (need > t->n) {
        hb_fail(hb, "%s: %s '%s' holds %llu floats, the op needs %llu", op, what, t->name,
                (unsigned long long)t->n, (unsigned long long)need);
        return NULL;
    }
    return t->f;
}

float *hb_f32_out(host_backend *hb, be_tensor *t, uint64_t need, const char *op, const char *what)
{
    if (!hb_f32_in(hb, t, need, op, what)) return NULL;
    t->version++;
    return t->f;
}

bool hb_matrix_ok(host_backend *hb, const be_tensor *w, uint64_t n_in, uint64_t n_out, const char *op)
{
    if (!w || !w->data) {
        hb_fail(hb, "%s: weight '%s' is not a matrix", op, w ? w->name : "(null)");
        return false;
    }
    if (w->n_in != n_in || w->n_rows < n_out) {
        hb_fail(hb, "%s: weight '%s' is [%llu][%llu], the op needs [%llu][%llu]", op, w->name,
                (unsigned long long)w->n_rows, (unsigned long long)w->n_in, (unsigned long long)n_out,
                (unsigned long long)n_in);
        return false;
    }
    return true;
}

bool hb_dims_ok(host_backend *hb, const char *op, long long a, long long b, long long c)
{
    if (a <= 0 || b <= 0 || c <= 0) { hb_fail(hb, "%s: bad sizes %lld, %lld, %lld", op, a, b, c); return false; }
    return true;
}

bool hb_cache_pos_ok(host_backend *hb, const char *op, int layer, int rows, int pos0)
{
    if (!hb->k_cache) { hb_fail(hb, "%s: no KV cache (kv_cache not called)", op); return false; }
    if (layer < 0 || layer >= hb->n_layer || rows < 0 || pos0 < 0 || pos0 + rows > hb->n_ctx ||
        rows > hb->slots[layer]) {
        hb_fail(hb, "%s: layer %d, positions %d..%d outside the cache (%d layers, %d positions, %d slots)", op,
                layer, pos0, pos0 + rows - 1, hb->n_layer, hb->n_ctx,
                layer >= 0 && layer < hb->n_layer ? hb->slots[layer] : 0);
        return false;
    }
    return true;
}

bool hb_attn_ok(host_backend *hb, const be_attn_params *p, int layer, int rows)
{
    if (p->n_head <= 0 || p->n_kv_head != hb->n_kv_head || p->head_dim != hb->head_dim ||
        p->n_head % p->n_kv_head || p->window < 0 || p->softcap < 0) {
        hb_fail(hb, "attention: %d heads, %d kv heads, head_dim %d, window %d, cap %g do not fit the cache "
                "(%d kv heads, head_dim %d)", p->n_head, p->n_kv_head, p->head_dim, p->window, p->softcap,
                hb->n_kv_head, hb->head_dim);
        return false;
    }
    int slots = hb->slots[layer];
    if (slots < hb->n_ctx && (p->window == 0 || (int64_t)p->window + rows - 1 > slots)) {
        hb_fail(hb, "attention: layer %d is a ring of %d slots: window %d and %d rows do not fit it", layer, slots,
                p->window, rows);
        return false;
    }
    return true;
}

size_t hb_cache_index(const host_backend *hb, int layer, int pos)
{
    return ((hb->first_slot[layer] + (uint64_t)(pos % hb->slots[layer])) * hb->n_kv_head) * hb->head_dim;
}

float hb_capped(float x, float cap) { return (float)(cap * tanh((double)x / cap)); }

uint64_t hb_argmax_plain(const float *s, uint64_t n)
{
    uint64_t best = 0;
    float bv = s[0];
    for (uint64_t i = 1; i < n; i++)
        if (s[i] > bv || (isnan(bv) && !isnan(s[i]))) { best = i; bv = s[i]; }
    return best;
}

static void link_tensor(host_backend *hb, be_tensor *t, const char *name)
{
    snprintf(t->name, sizeof t->name, "%s", name);
    t->next = hb->tensors;
    hb->tensors = t;
}

/* ---------------------------------------------------------------- memory */

int hb_weight(backend *be, const gguf_tensor *gt, be_tensor **out, gc_err *err)
{
    host_backend *hb = hb_of(be);
    char name[96];
    snprintf(name, sizeof name, "%.*s", (int)(gt->name.len < 90 ? gt->name.len : 90), gt->name.ptr);
    *out = NULL;
    if (!quant_type_supported(gt->type))
        return gc_errf(err, "tensor '%s': weight type %s is not supported (supported: %s)", name,
                       quant_type_name(gt->type), quant_supported_list());
    uint64_t row_bytes;
    if (quant_row_bytes(gt->type, gt->ne[0], &row_bytes, err)) return gc_err_prefix(err, "tensor '%s'", name);
    uint64_t n_rows = 1;
    for (uint32_t d = 1; d < GGUF_MAX_DIMS; d++) {
        if (gt->ne[d] && n_rows > UINT64_MAX / gt->ne[d]) return gc_errf(err, "tensor '%s': size overflows", name);
        n_rows *= gt->ne[d] ? gt->ne[d] : 1;
    }
    if (n_rows && row_bytes > gt->n_bytes / n_rows)
        return gc_errf(err, "tensor '%s': %llu rows of %llu bytes exceed its %llu bytes of data", name,
                       (unsigned long long)n_rows, (unsigned long long)row_bytes, (unsigned long long)gt->n_bytes);
    be_tensor *t = calloc(1, sizeof *t);
    if (!t) return gc_errf(err, "tensor '%s': out of memory", name);
    t->type = gt->type;
    t->n_in = gt->ne[0];
    t->n_rows = n_rows;
    t->row_bytes = row_bytes;
    if (gt->n_dims <= 1) {
        /* Norm weights: f32 once, so ops read them directly. */
        t->n = gt->ne[0];
        t->f = malloc((t->n ? t->n : 1) * sizeof *t->f);
        if (!t->f) { free(t); return gc_errf(err, "tensor '%s': out of memory", name); }
        quant_dequant_row(gt->type, gt->data, t->f, t->n);
        t->type = GT_F32;
        hb->bytes += t->n * sizeof *t->f;
    } else {
        t->data = gt->data;
    }
    link_tensor(hb, t, name);
    *out = t;
    return 0;
}

void hb_weight_row(const be_tensor *t, uint64_t r, float *out)
{
    quant_dequant_row(t->type, t->data + r * t->row_bytes, out, t->n_in);
}

int hb_activation(backend *be, uint64_t n, const char *name, be_tensor **out, gc_err *err)
{
    host_backend *hb = hb_of(be);
    *out = NULL;
    if (n == 0 || n > UINT64_MAX / sizeof(float) / 2)
        return gc_errf(err, "activation '%s': bad size %llu", name, (unsigned long long)n);
    be_tensor *t = calloc(1, sizeof *t);
    if (!t) return gc_errf(err, "activation '%s': out of memory", name);
    t->f = calloc(n, sizeof *t->f);
    if (!t->f) {
        free(t);
        return gc_errf(err, "activation '%s': out of memory for %llu floats", name, (unsigned long long)n);
    }
    t->type = GT_F32;
    t->n = n;
    hb->bytes += n * sizeof(float);
    link_tensor(hb, t, name);
    *out = t;
    return 0;
}

static void free_cache(host_backend *hb)
{
    if (hb->k_cache) hb->bytes -= 2 * hb->n_slots * hb->n_kv_head * hb->head_dim * sizeof(float);
    free(hb->k_cache);
    free(hb->v_cache);
    free(hb->slots);
    free(hb->first_slot);
    hb->k_cache = hb->v_cache = NULL;
    hb->slots = NULL;
    hb->first_slot = NULL;
    hb->n_layer = hb->n_ctx = hb->n_kv_head = hb->head_dim = 0;
    hb->n_slots = 0;
}

int hb_kv_cache(backend *be, int n_layer, int n_ctx, const int *slots, int n_kv_head, int head_dim, gc_err *err)
{
    host_backend *hb = hb_of(be);
    free_cache(hb);
    if (n_layer <= 0 || n_ctx <= 0 || n_kv_head <= 0 || head_dim <= 0)
        return gc_errf(err, "kv cache: bad shape %d layers x %d positions x %d heads x %d", n_layer, n_ctx,
                       n_kv_head, head_dim);
    hb->slots = malloc((size_t)n_layer * sizeof *hb->slots);
    hb->first_slot = malloc((size_t)n_layer * sizeof *hb->first_slot);
    if (!hb->slots || !hb->first_slot) { free_cache(hb); return gc_errf(err, "kv cache: out of memory"); }
    uint64_t total = 0;
    for (int l = 0; l < n_layer; l++) {
        int sl = slots ? slots[l] : n_ctx;
        if (sl < 1 || sl > n_ctx) {
            free_cache(hb);
            return gc_errf(err, "kv cache: layer %d: %d slots, must be 1..%d", l, sl, n_ctx);
        }
        hb->slots[l] = sl;
        hb->first_slot[l] = total;
        total += (uint64_t)sl;
    }
    uint64_t n = total * (uint64_t)n_kv_head * (uint64_t)head_dim;
    if (n > (UINT64_MAX / 4) / sizeof(float)) { free_cache(hb); return gc_errf(err, "kv cache: size overflows"); }
    hb->k_cache = calloc(n, sizeof(float));
    hb->v_cache = calloc(n, sizeof(float));
    if (!hb->k_cache || !hb->v_cache) {
        free_cache(hb);
        return gc_errf(err, "kv cache: out of memory for 2 x %llu MiB (%d positions; a smaller context helps)",
                       (unsigned long long)(n * sizeof(float) >> 20), n_ctx);
    }
    hb->n_layer = n_layer;
    hb->n_ctx = n_ctx;
    hb->n_kv_head = n_kv_head;
    hb->head_dim = head_dim;
    hb->n_slots = total;
    hb->bytes += 2 * n * sizeof(float);
    return 0;
}

/* Where layer's slots slot0.. start in k_cache / v_cache and their bytes, or
 * -1 (a bad range, or inside a step). */
static int cache_span(host_backend *hb, int layer, int slot0, int n, const char *op, size_t *at, size_t *bytes,
                      gc_err *err)
{
    if (hb->in_step) return gc_errf(err, "%s: %s inside a step", hb->tag, op);
    char what[64];
    snprintf(what, sizeof what, "%s: %s", hb->tag, op);
    if (be_kv_slots_check(hb->slots, hb->n_layer, layer, slot0, n, what, err)) return -1;
    size_t row = (size_t)hb->n_kv_head * hb->head_dim;
    *at = (hb->first_slot[layer] + (size_t)slot0) * row;
    *bytes = (size_t)n * row * sizeof(float);
    return 0;
}

int hb_kv_read(backend *be, int layer, int slot0, int n, void *k, void *v, gc_err *err)
{
    host_backend *hb = hb_of(be);
    size_t at, bytes;
    if (cache_span(hb, layer, slot0, n, "kv_read", &at, &bytes, err)) return -1;
    memcpy(k, hb->k_cache + at, bytes);
    memcpy(v, hb->v_cache + at, bytes);
    return 0;
}

int hb_kv_write(backend *be, int layer, int slot0, int n, const void *k, const void *v, gc_err *err)
{
    host_backend *hb = hb_of(be);
    size_t at, bytes;
    if (cache_span(hb, layer, slot0, n, "kv_write", &at, &bytes, err)) return -1;
    memcpy(hb->k_cache + at, k, bytes);
    memcpy(hb->v_cache + at, v, bytes);
    return 0;
}

void hb_release(host_backend *hb)
{
    for (be_tensor *t = hb->tensors, *next; t; t = next) {
        next = t->next;
        free(t->f);
        free(t);
    }
    hb->tensors = NULL;
    free_cache(hb);
    for (int e = 0; e < 2; e++) {
        free(hb->rope[e].cs);
        hb->rope[e] = (struct hb_rope_angles){ 0 };
    }
    free(hb->pend);
    hb->pend = NULL;
}

uint64_t hb_memory_used(backend *be) { return hb_of(be)->bytes; }

uint64_t hb_weight_bytes(backend *be, const gguf_file *model)
{
    (void)be;
    return model->size;   /* the mapping: matrices are read from it, norms copied are small */
}

int hb_kv_value_bytes(backend *be, const gguf_file *model)
{
    (void)be;
    (void)model;
    return (int)sizeof(float);
}

uint64_t hb_memory_budget(backend *be)
{
    (void)be;
    if (gc_fault_limit(GC_FAULT_MEM)) return gc_fault_limit(GC_FAULT_MEM) << 20;   /* tests */
    FILE *f = fopen("/proc/meminfo", "r");
    char line[256];
    unsigned long long kb = 0;
    while (f && fgets(line, sizeof line, f))
        if (sscanf(line, "MemAvailable: %llu kB", &kb) == 1) break;
    if (f) fclose(f);
    if (kb) return (uint64_t)kb << 10;
    long pages = sysconf(_SC_AVPHYS_PAGES), psize = sysconf(_SC_PAGESIZE);
    return pages > 0 && psize > 0 ? (uint64_t)pages * (uint64_t)psize : 0;
}

/* ---------------------------------------------------------------- steps */

int hb_begin_step(backend *be, gc_err *err)
{
    host_backend *hb = hb_of(be);
    if (hb->in_step) return gc_errf(err, "%s: begin_step inside a step", hb->tag);
    /* failed is not cleared here: an op issued outside a step fails the next one. */
    hb->in_step = true;
    return 0;
}

int hb_end_step(backend *be, gc_err *err)
{
    host_backend *hb = hb_of(be);
    if (!hb->in_step) return gc_errf(err, "%s: end_step without begin_step", hb->tag);
    hb->in_step = false;
    if (hb->failed) {
        if (err) *err = hb->step_err;
        hb->failed = false;
        hb->n_pend = 0;
        return -1;
    }
    for (int i = 0; i < hb->n_pend; i++) {
        const struct hb_pending *p = &hb->pend[i];
        const float *src = p->src->f + p->offset;
        if (p->host) memcpy(p->host, src, p->n * sizeof(float));
        else *p->argmax = (int32_t)hb->argmax(hb, src, p->n, p->cap);
    }
    hb->n_pend = 0;
    return 0;
}

static void push_pending(host_backend *hb, const char *op, const be_tensor *src, uint64_t offset, uint64_t n,
                         float *host, int32_t *argmax, float cap)
{
    if (!hb_op_ok(hb, op)) return;
    if (n == 0 || n > INT32_MAX || offset > UINT64_MAX - n) { hb_fail(hb, "%s: bad range", op); return; }
    if (!hb_f32_in(hb, src, offset + n, op, "src")) return;
    if (GC_GROW(hb->pend, hb->cap_pend, (size_t)hb->n_pend + 1)) {
        hb_fail(hb, "%s: out of memory", op);
        return;
    }
    hb->pend[hb->n_pend++] = (struct hb_pending){ src, offset, n, host, argmax, cap };
}

void hb_read(backend *be, const be_tensor *src, uint64_t offset, uint64_t n, float *host)
{
    push_pending(hb_of(be), "read", src, offset, n, host, NULL, 0);
}

void hb_argmax(backend *be, const be_tensor *src, uint64_t offset, uint64_t n, int32_t *host)
{
    push_pending(hb_of(be), "argmax", src, offset, n, NULL, host, 0);
}

void hb_argmax_softcap(backend *be, const be_tensor *src, uint64_t offset, uint64_t n, float cap,
                              int32_t *host)
{
    if (!(cap > 0)) { hb_fail(hb_of(be), "argmax_softcap: cap %g is not positive", cap); return; }
    push_pending(hb_of(be), "argmax_softcap", src, offset, n, NULL, host, cap);
}

/* ---------------------------------------------------------------- ops */

void hb_embed(backend *be, be_tensor *dst, const be_tensor *table, const int32_t *tokens, int n,
                     int n_embd, float scale)
{
    host_backend *hb = hb_of(be);
    if (!hb_op_ok(hb, "embed") || !hb_dims_ok(hb, "embed", n, n_embd, 1)) return;
    float *d = hb_f32_out(hb, dst, (uint64_t)n * n_embd, "embed", "dst"); // [n][n_embd]
    if (!d || !hb_matrix_ok(hb, table, n_embd, 1, "embed")) return;
    for (int i = 0; i < n; i++) {
        if (tokens[i] < 0 || (uint64_t)tokens[i] >= table->n_rows) {
            hb_fail(hb, "embed: token id %d at %d is outside the vocabulary (%llu tokens)", tokens[i], i,
                    (unsigned long long)table->n_rows);
            return;
        }
        float *row = d + (size_t)i * n_embd;
        hb->weight_row(table, (uint64_t)tokens[i], row);
        for (int j = 0; j < n_embd; j++) row[j] *= scale;
    }
}

/* The cos and sin of RoPE's angles (pos0 + r) * scale * base^(-2i / head_dim)
 * for rows positions, in double: from hb->rope where it holds them, else
 * computed into the older entry. NULL: out of memory (the step fails). */
static const double *rope_angles(host_backend *hb, int rows, int head_dim, int pos0, float base, float scale)
{
    for (int e = 0; e < 2; e++) {
        const struct hb_rope_angles *t = &hb->rope[e];
        if (t->cs && t->pos0 == pos0 && t->rows == rows && t->head_dim == head_dim && t->base == base &&
            t->scale == scale)
            return t->cs;
    }
    struct hb_rope_angles *t = &hb->rope[hb->rope_next];
    size_t n = (size_t)rows * head_dim;
    if (n > t->cap) {
        double *cs = realloc(t->cs, n * sizeof *cs);
        if (!cs) { hb_fail(hb, "qk_rope_store: out of memory for %d positions' angles", rows); return NULL; }
        hb->bytes += (n - t->cap) * sizeof *cs;
        t->cs = cs;
        t->cap = n;
    }
    hb->rope_next ^= 1;
    int half = head_dim / 2;
    for (int i = 0; i < half; i++) {
        double f = pow(base, -2.0 * i / head_dim);
        for (int r = 0; r < rows; r++) {
            double theta = (double)(pos0 + r) * scale * f;
            t->cs[(size_t)r * head_dim + i] = cos(theta);
            t->cs[(size_t)r * head_dim + half + i] = sin(theta);
        }
    }
    t->pos0 = pos0;
    t->rows = rows;
    t->head_dim = head_dim;
    t->base = base;
    t->scale = scale;
    return t->cs;
}

/* qk_rope_store's rotation of x ([rows][n_heads][head_dim], in place; what
 * names the tensor). NEOX layout: dimension i pairs with i + head_dim/2 (not
 * 2i with 2i+1); angles in double. */
static void rope(backend *be, be_tensor *x, const char *what, int rows, int n_heads, int head_dim, int pos0,
                 float freq_base, float pos_scale)
{
    host_backend *hb = hb_of(be);
    if (!hb_op_ok(hb, "qk_rope_store") || !hb_dims_ok(hb, "qk_rope_store", rows, n_heads, head_dim)) return;
    if (head_dim % 2 || pos0 < 0 || !(freq_base > 0)) {
        hb_fail(hb, "qk_rope_store: bad head_dim %d, pos0 %d or base %g", head_dim, pos0, freq_base);
        return;
    }
    float *xf = hb_f32_out(hb, x, (uint64_t)rows * n_heads * head_dim, "qk_rope_store", what);
    const double *cs = xf ? rope_angles(hb, rows, head_dim, pos0, freq_base, pos_scale) : NULL;
    if (!cs) return;
    int half = head_dim / 2;
    for (int r = 0; r < rows; r++) {
        const double *c = cs + (size_t)r * head_dim;
        hb->rope_rotate(xf + (size_t)r * n_heads * head_dim, n_heads, half, c, c + half);
    }
}

void hb_rope_rotate(float *v, int n, int half, const double *c, const double *s)
{
    for (int h = 0; h < n; h++, v += 2 * half)
        for (int i = 0; i < half; i++) {
            double a = v[i], b = v[i + half];
            v[i] = (float)(a * c[i] - b * s[i]);
            v[i + half] = (float)(a * s[i] + b * c[i]);
        }
}

/* qk_rope_store's cache write: k[r], v[r] to layer's slot of position pos0 + r. */
static void kv_store(backend *be, int layer, const be_tensor *k, const be_tensor *v, int rows, int pos0)
{
    host_backend *hb = hb_of(be);
    if (!hb_op_ok(hb, "qk_rope_store") || !hb_cache_pos_ok(hb, "qk_rope_store", layer, rows, pos0)) return;
    uint64_t row = (uint64_t)hb->n_kv_head * hb->head_dim;
    const float *kf = hb_f32_in(hb, k, rows * row, "qk_rope_store", "k"); // [rows][n_kv_head][head_dim]
    const float *vf = hb_f32_in(hb, v, rows * row, "qk_rope_store", "v"); // [rows][n_kv_head][head_dim]
    if (!kf || !vf) return;
    for (int r = 0; r < rows; r++) {   /* row by row: a ring wraps */
        memcpy(hb->k_cache + hb_cache_index(hb, layer, pos0 + r), kf + r * row, row * sizeof(float));
        memcpy(hb->v_cache + hb_cache_index(hb, layer, pos0 + r), vf + r * row, row * sizeof(float));
    }
}

/* The fused op as its parts in sequence: per-head norms (the backend's own
 * rmsnorm), rope, kv_store. */
void hb_qk_rope_store(backend *be, int layer, be_tensor *q, be_tensor *k, const be_tensor *v,
                             const be_tensor *qn, const be_tensor *kn, int rows, int n_head, int pos0,
                             float freq_base, float pos_scale, float eps)
{
    host_backend *hb = hb_of(be);
    if (!hb_op_ok(hb, "qk_rope_store") || !hb_dims_ok(hb, "qk_rope_store", rows, n_head, 1)) return;
    if (!hb->k_cache) { hb_fail(hb, "qk_rope_store: no KV cache (kv_cache not called)"); return; }
    if (!qn != !kn) { hb_fail(hb, "qk_rope_store: give both head norms or neither"); return; }
    int D = hb->head_dim, HKV = hb->n_kv_head;
    if (qn) {
        be->rmsnorm(be, q, q, qn, rows * n_head, D, eps);
        be->rmsnorm(be, k, k, kn, rows * HKV, D, eps);
    }
    rope(be, q, "q", rows, n_head, D, pos0, freq_base, pos_scale);
    rope(be, k, "k", rows, HKV, D, pos0, freq_base, pos_scale);
    kv_store(be, layer, k, v, rows, pos0);
}

void hb_copy(backend *be, be_tensor *dst, uint64_t dst_off, const be_tensor *src, uint64_t src_off,
                    uint64_t n)
{
    host_backend *hb = hb_of(be);
    if (!hb_op_ok(hb, "copy")) return;
    if (dst_off > UINT64_MAX - n || src_off > UINT64_MAX - n) { hb_fail(hb, "copy: offsets overflow"); return; }
    const float *s = hb_f32_in(hb, src, src_off + n, "copy", "src");
    if (!s) return;
    if (dst == src && dst_off < src_off + n && src_off < dst_off + n) {
        hb_fail(hb, "copy: overlapping ranges in '%s'", dst->name);
        return;
    }
    float *d = hb_f32_out(hb, dst, dst_off + n, "copy", "dst");
    if (d) memcpy(d + dst_off, s + src_off, n * sizeof(float));
}

void hb_init(host_backend *hb, const backend *ops, const char *tag,
             uint64_t (*argmax)(host_backend *, const float *, uint64_t, float))
{
    hb->base = *ops;
    hb->tag = tag;
    hb->argmax = argmax;
    hb->rope_rotate = hb_rope_rotate;
    hb->weight_row = hb_weight_row;
}
