/* clip.c: OSC 52 clipboard copies and code blocks of a reply (see clip.h). */
#include "app/clip.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* A fence line: ``` or ~~~ (3 or more) after at most 3 spaces. Returns the
 * fence character and its length in *len, else 0. */
static char fence(const char *line, size_t n, size_t *len)
{
    size_t i = 0;
    while (i < n && i < 3 && line[i] == ' ') i++;
    if (i >= n || (line[i] != '`' && line[i] != '~')) return 0;
    char c = line[i];
    size_t k = 0;
    while (i + k < n && line[i + k] == c) k++;
    if (k < 3) return 0;
    *len = k;
    return c;
}

/* Walks the fenced blocks of text, stopping at block `want` (from 1) with
 * its body in *body / *body_n; returns how many blocks were seen (all of
 * them when want is not reached). */
static int scan(const char *text, int want, const char **body, size_t *body_n)
{
    int count = 0;
    char open = 0;
    size_t open_len = 0;
    const char *start = NULL, *p = text;
    while (*p) {
        const char *nl = strchr(p, '\n');
        size_t n = nl ? (size_t)(nl - p) : strlen(p);
        size_t len = 0;
        char f = fence(p, n, &len);
        if (!open && f) {
            open = f;
            open_len = len;
            start = nl ? nl + 1 : p + n;
        } else if (open && f == open && len >= open_len) {
            /* A closing fence has nothing after it but spaces. */
            size_t i = 0;
            while (i < n && p[i] == ' ') i++;
            i += len;
            while (i < n && (p[i] == ' ' || p[i] == '\r')) i++;
            if (i == n) {
                if (++count == want) {
                    *body = start;
                    *body_n = (size_t)(p - start);
                    return count;
                }
                open = 0;
            }
        }
        p += n + (nl ? 1 : 0);
    }
    if (open && ++count == want) {
        *body = start;
        *body_n = (size_t)(p - start);
    }
    return count;
}

int clip_count_blocks(const char *text)
{
    const char *b;
    size_t n;
    return scan(text, -1, &b, &n);
}

int clip_code_block(const char *text, int n, char **out, gc_err *err)
{
    const char *b = NULL;
    size_t len = 0;
    int count = scan(text, n, &b, &len);
    if (n < 1 || !b) {
        if (count == 0) return gc_errf(err, "the last reply has no code block");
        return gc_errf(err, "code block %d: the last reply has %d (1 .. %d)", n, count, count);
    }
    while (len && (b[len - 1] == '\n' || b[len - 1] == '\r')) len--;
    char *r = malloc(len + 1);
    if (!r) return gc_errf(err, "out of memory");
    memcpy(r, b, len);
    r[len] = 0;
    *out = r;
    return 0;
}

int clip_osc52(const char *text, size_t len, bool tmux, char **out, size_t *out_n, gc_err *err)
{
    static const char b64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    size_t enc = (len + 2) / 3 * 4;
    char *o = malloc(enc + 32);
    if (!o) return gc_errf(err, "out of memory");
    size_t k = 0;
    const char *head = tmux ? "\033Ptmux;\033\033]52;c;" : "\033]52;c;";
    memcpy(o, head, strlen(head));
    k = strlen(head);
    const unsigned char *s = (const unsigned char *)text;
    for (size_t i = 0; i < len; i += 3) {
        unsigned v = (unsigned)s[i] << 16 | (i + 1 < len ? (unsigned)s[i + 1] << 8 : 0) | (i + 2 < len ? s[i + 2] : 0);
        o[k++] = b64[v >> 18 & 63];
        o[k++] = b64[v >> 12 & 63];
        o[k++] = i + 1 < len ? b64[v >> 6 & 63] : '=';
        o[k++] = i + 2 < len ? b64[v & 63] : '=';
    }
    o[k++] = '\a';
    if (tmux) { o[k++] = '\033'; o[k++] = '\\'; }
    o[k] = 0;
    *out = o;
    *out_n = k;
    return 0;
}

int clip_to_terminal(const char *text, size_t len, gc_err *err)
{
    const char *tm = getenv("TMUX");
    char *seq;
    size_t n;
    if (clip_osc52(text, len, tm && tm[0], &seq, &n, err)) return -1;
    int fd = open("/dev/tty", O_WRONLY | O_NOCTTY | O_CLOEXEC);
    int out = fd >= 0 ? fd : STDOUT_FILENO;
    if (fd < 0) fflush(stdout);
    size_t done = 0;
    while (done < n) {
        ssize_t w = write(out, seq + done, n - done);
        if (w < 0 && errno == EINTR) continue;
        if (w <= 0) break;
        done += (size_t)w;
    }
    free(seq);
    if (fd >= 0) close(fd);
    if (done < n) return gc_errf(err, "cannot write the clipboard sequence to the terminal: %s", strerror(errno));
    return 0;
}
