#include "app/paths.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pwd.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/utf8.h"
#include "base/fault.h"

int paths_join(char *buf, size_t n, gc_err *err, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int k = vsnprintf(buf, n, fmt, ap);
    va_end(ap);
    if (k < 0 || (size_t)k >= n) {
        /* The message shows the path's start (what vsnprintf kept), not fmt. */
        char head[80] = "";
        if (n && k >= 0) snprintf(head, sizeof head, "%.60s", buf);
        if (n) buf[0] = 0;
        if (k < 0) return gc_errf(err, "cannot format a path (over %zu bytes)", n ? n - 1 : 0);
        return gc_errf(err, "path too long (%d bytes, at most %zu): '%s...'", k, n ? n - 1 : 0, head);
    }
    return 0;
}

static const char *home_dir(void)
{
    const char *h = getenv("HOME");
    if (h && h[0] == '/') return h;
    struct passwd *pw = getpwuid(getuid());
    return pw && pw->pw_dir && pw->pw_dir[0] == '/' ? pw->pw_dir : NULL;
}

int paths_user_dir(paths_kind kind, char *buf, size_t n, gc_err *err)
{
    static const struct { const char *var, *fallback; } base[] = {
        [PATHS_CONFIG] = { "XDG_CONFIG_HOME", ".config" },
        [PATHS_DATA]   = { "XDG_DATA_HOME",   ".local/share" },
        [PATHS_STATE]  = { "XDG_STATE_HOME",  ".local/state" },
        [PATHS_CACHE]  = { "XDG_CACHE_HOME",  ".cache" },
    };
    const char *v = getenv(base[kind].var);
    if (v && v[0] == '/') return paths_join(buf, n, err, "%s/gemma-chat", v);
    const char *home = home_dir();
    if (!home)
        return gc_errf(err, "cannot find the home directory: $HOME is unset and $%s is not an absolute path",
                       base[kind].var);
    return paths_join(buf, n, err, "%s/%s/gemma-chat", home, base[kind].fallback);
}

int paths_mkdir_p(const char *path, mode_t mode, gc_err *err)
{
    char tmp[PATHS_MAX];
    if (paths_join(tmp, sizeof tmp, err, "%s", path)) return -1;
    size_t len = strlen(tmp);
    if (!len) return gc_errf(err, "cannot create a directory with an empty name");
    /* Walk the components left to right; each prefix must be a directory. */
    for (size_t i = 1; i <= len; i++) {
        if (tmp[i] != '/' && tmp[i] != 0) continue;
        char saved = tmp[i];
        tmp[i] = 0;
        if (mkdir(tmp, mode) != 0 && errno != EEXIST)
            return gc_errf(err, "cannot create directory '%s': %s", tmp, strerror(errno));
        struct stat st;
        if (stat(tmp, &st) != 0)
            return gc_errf(err, "cannot create directory '%s': %s", tmp, strerror(errno));
        if (!S_ISDIR(st.st_mode))
            return gc_errf(err, "cannot create directory '%s': '%s' exists and is not a directory", path, tmp);
        tmp[i] = saved;
        while (tmp[i] == '/' && tmp[i + 1] == '/') i++;
    }
    return 0;
}

int paths_ensure_user_dir(paths_kind kind, const char *sub, char *buf, size_t n, gc_err *err)
{
    char base[PATHS_MAX];
    if (paths_user_dir(kind, base, sizeof base, err)) return -1;
    if (sub && sub[0]) {
        if (paths_join(buf, n, err, "%s/%s", base, sub)) return -1;
    } else if (paths_join(buf, n, err, "%s", base)) {
        return -1;
    }
    return paths_mkdir_p(buf, 0700, err);
}

bool paths_is_dir(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

bool paths_is_file(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 && S_ISREG(st.st_mode);
}

int paths_share_dir_from(const char *exe_dir, char *buf, size_t n, gc_err *err)
{
    char cand[5][PATHS_MAX];
    int nc = 0;
    const char *env = getenv("GEMMA_CHAT_SHARE_DIR");
    if (env && env[0]) {
        if (paths_join(buf, n, err, "%s", env)) return -1;
        char p[PATHS_MAX];
        if (paths_join(p, sizeof p, err, "%s/prompts", env)) return -1;
        if (!paths_is_dir(p))
            return gc_errf(err, "GEMMA_CHAT_SHARE_DIR='%s' has no prompts/ directory", env);
        return 0;
    }
    if (exe_dir && exe_dir[0]) {
        snprintf(cand[nc++], PATHS_MAX, "%s", exe_dir);
        snprintf(cand[nc++], PATHS_MAX, "%s/../share/gemma-chat", exe_dir);
    }
    snprintf(cand[nc++], PATHS_MAX, "/usr/local/share/gemma-chat");
    snprintf(cand[nc++], PATHS_MAX, "/usr/share/gemma-chat");
    for (int i = 0; i < nc; i++) {
        char p[PATHS_MAX];
        gc_err ignored;
        if (!paths_join(p, sizeof p, &ignored, "%s/prompts", cand[i]) && paths_is_dir(p)) {
            char real[PATH_MAX];
            const char *use = realpath(cand[i], real) ? real : cand[i];
            return paths_join(buf, n, err, "%s", use);
        }
    }
    char tried[4 * PATHS_MAX] = "";
    size_t k = 0;
    for (int i = 0; i < nc && k < sizeof tried; i++)
        k += (size_t)snprintf(tried + k, sizeof tried - k, "%s%s", i ? ", " : "", cand[i]);
    return gc_errf(err, "cannot find the gemma-chat share directory (prompts/, config.yaml); tried %s "
                   "(set GEMMA_CHAT_SHARE_DIR)", tried);
}

int paths_share_dir(char *buf, size_t n, gc_err *err)
{
    char exe[PATH_MAX];
    ssize_t k = readlink("/proc/self/exe", exe, sizeof exe - 1);
    if (k > 0) {
        exe[k] = 0;
        char *slash = strrchr(exe, '/');
        if (slash) *slash = 0;
    } else {
        exe[0] = 0;
    }
    return paths_share_dir_from(exe, buf, n, err);
}

int paths_expand(const char *path, const char *base_dir, char *buf, size_t n, gc_err *err)
{
    if (path[0] == '~' && (path[1] == '/' || path[1] == 0)) {
        const char *home = home_dir();
        if (!home) return gc_errf(err, "cannot expand '%s': $HOME is unset", path);
        return paths_join(buf, n, err, "%s%s", home, path + 1);
    }
    if (path[0] && path[0] != '/' && base_dir && base_dir[0])
        return paths_join(buf, n, err, "%s/%s", base_dir, path);
    return paths_join(buf, n, err, "%s", path);
}

int paths_check_name(const char *name, const char *what, gc_err *err)
{
    size_t len = strlen(name);
    if (len == 0) return gc_errf(err, "empty %s", what);
    if (len > 200) return gc_errf(err, "%s is too long (%zu bytes, at most 200)", what, len);
    if (utf8_invalid_at(name, len) != len) return gc_errf(err, "%s is not valid UTF-8", what);
    if (strstr(name, "..")) return gc_errf(err, "%s '%s' contains '..'", what, name);
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)name[i];
        if (c == '/' || c == '\\')
            return gc_errf(err, "%s '%s' contains '%c': names cannot leave their directory", what, name, c);
        if (c < 0x20 || c == 0x7F)
            return gc_errf(err, "%s contains a control character (byte 0x%02x at offset %zu)", what, c, i);
        /* C1 controls U+0080..U+009F, encoded as C2 80..C2 9F. */
        if (c == 0xC2 && i + 1 < len && (unsigned char)name[i + 1] < 0xA0)
            return gc_errf(err, "%s contains a control character (U+%04X at offset %zu)", what,
                           (unsigned char)name[i + 1], i);
    }
    if (name[0] == '.') return gc_errf(err, "%s '%s' starts with '.'", what, name);
    if (name[0] == '-') return gc_errf(err, "%s '%s' starts with '-'", what, name);
    return 0;
}

/* --- atomic write (faults injected through base/fault.h) --- */

static int write_all(int fd, const char *p, size_t len)
{
    while (len) {
        size_t chunk = len < PATHS_WRITE_CHUNK ? len : PATHS_WRITE_CHUNK;
        if (gc_fault_hit(GC_FAULT_WRITE)) {
            /* A short write followed by a failure, as on a full disk. */
            if (chunk > 1 && write(fd, p, chunk / 2) < 0) return -1;
            errno = ENOSPC;
            return -1;
        }
        ssize_t k = write(fd, p, chunk);
        if (k < 0) {
            if (errno == EINTR) continue;
            return -1;
        }
        if (k == 0) { errno = EIO; return -1; }
        p += k;
        len -= (size_t)k;
    }
    return 0;
}

int paths_write_atomic(const char *path, const void *data, size_t len, mode_t mode, gc_err *err)
{
    paths_part part = { data, len };
    return paths_write_atomic_parts(path, &part, 1, mode, err);
}

int paths_write_atomic_parts(const char *path, const paths_part *parts, int n_parts, mode_t mode, gc_err *err)
{
    char dir[PATHS_MAX], tmp[PATHS_MAX];
    if (paths_join(dir, sizeof dir, err, "%s", path)) return -1;
    char *slash = strrchr(dir, '/');
    const char *base = path;
    if (slash) {
        base = path + (slash - dir) + 1;
        if (slash == dir) slash[1] = 0; else *slash = 0;
    } else {
        strcpy(dir, ".");
    }
    if (!base[0]) return gc_errf(err, "cannot save '%s': no file name", path);
    if (paths_join(tmp, sizeof tmp, err, "%s/.%s.tmp-XXXXXX", dir, base)) return -1;

    int fd = mkostemp(tmp, O_CLOEXEC);
    if (fd < 0)
        return gc_errf(err, "cannot save '%s': cannot create a file in '%s': %s (the previous file is unchanged)",
                       path, dir, strerror(errno));
    const char *step = NULL;
    if (fchmod(fd, mode) != 0) step = "chmod";
    for (int i = 0; !step && i < n_parts; i++)
        if (write_all(fd, parts[i].data, parts[i].len) != 0) step = "write";
    if (!step && (gc_fault_hit(GC_FAULT_FSYNC) ? (errno = EIO, 1) : fsync(fd) != 0)) step = "fsync";
    int saved = errno;
    if (close(fd) != 0 && !step) { step = "close"; saved = errno; }
    if (!step && (gc_fault_hit(GC_FAULT_RENAME) ? (errno = EIO, 1) : rename(tmp, path) != 0)) {
        step = "rename";
        saved = errno;
    }
    if (step) {
        unlink(tmp);
        return gc_errf(err, "cannot save '%s': %s failed: %s (the previous file is unchanged)",
                       path, step, strerror(saved));
    }
    /* The rename is only durable once the directory entry is on disk. */
    int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    int bad = dfd < 0 || (gc_fault_hit(GC_FAULT_DIRSYNC) ? (errno = EIO, 1) : fsync(dfd) != 0);
    saved = errno;
    if (dfd >= 0) close(dfd);
    if (bad) {
        gc_errf(err, "saved '%s' but could not sync its directory '%s': %s (the file may not survive a crash)",
                path, dir, strerror(saved));
        return 1;
    }
    return 0;
}
