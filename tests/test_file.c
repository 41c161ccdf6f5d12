/* test_file.c: input files (base/file.h): regular files only, with the
 * messages the user sees, and whole reads with a size bound. */
#include <sys/stat.h>
#include <unistd.h>

#include "base/file.h"
#include "tests/test.h"
#include "tests/testfs.h"

static char tmproot[4096];

static void test_refusals(void)
{
    char p[4200];
    gc_err err = {0};
    snprintf(p, sizeof p, "%s/missing", tmproot);
    CHECK(file_check_input(p, "--load", &err) != 0, "missing accepted");
    CHECK(strncmp(err.msg, "--load ", 7) == 0, "what first: %s", err.msg);
    CHECK_CONTAINS(err.msg, "missing: no such file");
    CHECK(file_check_input(tmproot, "", &err) != 0, "directory accepted");
    CHECK_CONTAINS(err.msg, "not a regular file (a directory)");
    snprintf(p, sizeof p, "%s/fifo", tmproot);
    CHECK(mkfifo(p, 0600) == 0, "mkfifo");
    struct stat st;
    CHECK(file_open_input(p, "-m", &st, &err) < 0, "FIFO opened");
    CHECK_CONTAINS(err.msg, "not a regular file (a FIFO)");
    char *buf = NULL;
    CHECK(file_read_path(p, "-c", 0, &buf, NULL, &err) != 0 && !buf, "FIFO read");
}

static void test_reads(void)
{
    char p[4200];
    gc_err err = {0};
    snprintf(p, sizeof p, "%s/data", tmproot);
    static char big[200000];
    for (size_t i = 0; i < sizeof big; i++) big[i] = (char)('a' + i % 26);
    CHECK(tfs_write(p, big, sizeof big) == 0, "write");
    char *buf;
    size_t n;
    CHECK(file_read_path(p, "", 0, &buf, &n, &err) == 0, "%s", err.msg);
    CHECK(n == sizeof big && memcmp(buf, big, n) == 0 && buf[n] == 0, "whole file, NUL-terminated: %zu", n);
    free(buf);
    CHECK(file_read_path(p, "", 1000, &buf, &n, &err) == 0, "%s", err.msg);
    CHECK(n == 1001, "stops one byte past the bound: %zu", n);
    free(buf);
    CHECK(tfs_write(p, "", 0) == 0, "empty");
    CHECK(file_read_path(p, "", 0, &buf, &n, &err) == 0 && n == 0 && buf && buf[0] == 0, "empty file");
    free(buf);
    FILE *f = tmpfile();
    fputs("from a stream", f);
    rewind(f);
    CHECK(file_read_stream(f, "stdin", 0, &buf, &n, &err) == 0, "%s", err.msg);
    CHECK(n == 13 && strcmp(buf, "from a stream") == 0, "stream: '%s'", buf);
    free(buf);
    fclose(f);
}

int main(void)
{
    if (tfs_mkdtemp(tmproot, sizeof tmproot, "file")) { perror("mkdtemp"); return 1; }
    TEST_RUN(test_refusals);
    TEST_RUN(test_reads);
    char cmd[4200];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmproot);
    if (system(cmd)) return 1;
    return test_summary();
}
