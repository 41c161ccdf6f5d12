/* golden.h: reads the golden logit files of tests/data/engine (GCLG v1,
 * written by tools/logit_goldens.py pack): tokens, top-1 over the whole
 * vocabulary, and the first n_cols logits of every position. Shared by the
 * whole-model tests (test_gemma.c on the CPU, test_vk_gemma.c on Vulkan).
 * Include after tests/test.h. */
#ifndef GC_TESTS_GOLDEN_H
#define GC_TESTS_GOLDEN_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "model/quant.h"

typedef struct golden {
    int n, n_vocab, n_cols;
    int32_t *tokens;   /* [n] */
    int32_t *top1;     /* [n] over the whole vocabulary */
    float *logits;     /* [n][n_cols] */
} golden;

static uint32_t le32(const unsigned char *p) { return p[0] | p[1] << 8 | p[2] << 16 | (uint32_t)p[3] << 24; }

static int golden_read(golden *g, const char *path)
{
    memset(g, 0, sizeof *g);
    FILE *f = fopen(path, "rb");
    CHECK(f != NULL, "cannot open %s", path);
    if (!f) return -1;
    unsigned char h[24];
    int ok = fread(h, 1, 24, f) == 24 && !memcmp(h, "GCLG", 4) && le32(h + 4) == 1;
    CHECK(ok, "%s: not a GCLG v1 file", path);
    if (!ok) { fclose(f); return -1; }
    g->n = (int)le32(h + 8);
    g->n_vocab = (int)le32(h + 12);
    g->n_cols = (int)le32(h + 16);
    uint32_t dtype = le32(h + 20);
    size_t nl = (size_t)g->n * g->n_cols, esz = dtype ? 2 : 4;
    unsigned char *raw = malloc(8 * (size_t)g->n + nl * esz);
    g->tokens = malloc(4 * (size_t)g->n);
    g->top1 = malloc(4 * (size_t)g->n);
    g->logits = malloc(4 * nl);
    ok = fread(raw, 1, 8 * (size_t)g->n + nl * esz, f) == 8 * (size_t)g->n + nl * esz;
    fclose(f);
    CHECK(ok, "%s: truncated", path);
    if (ok) {
        for (int i = 0; i < g->n; i++) {
            g->tokens[i] = (int32_t)le32(raw + 4 * i);
            g->top1[i] = (int32_t)le32(raw + 4 * (g->n + i));
        }
        const unsigned char *p = raw + 8 * (size_t)g->n;
        for (size_t i = 0; i < nl; i++) {
            uint32_t w = dtype ? (uint32_t)(p[2 * i] | p[2 * i + 1] << 8) : le32(p + 4 * i);
            if (dtype) g->logits[i] = quant_f16_to_f32((uint16_t)w);
            else memcpy(&g->logits[i], &w, 4);
        }
    }
    free(raw);
    return ok ? 0 : -1;
}

static void golden_free(golden *g)
{
    free(g->tokens);
    free(g->top1);
    free(g->logits);
}

#endif
