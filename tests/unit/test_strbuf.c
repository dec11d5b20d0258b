/* SPDX-License-Identifier: Apache-2.0 */
/* test_strbuf: growth, formatting, the max cap, reading fds and files, detach and wipe. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#include <cmocka.h>

#include <fcntl.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "util/strbuf.h"
#include "util/xalloc.h"

static void test_init(void **ctx)
{
    struct strbuf a = STRBUF_INIT, b;

    (void)ctx;
    assert_non_null(a.buf);
    assert_string_equal(a.buf, "");
    assert_int_equal(a.len, 0);
    assert_int_equal(a.alloc, 0);
    strbuf_init(&b, 100);
    assert_true(b.alloc >= 101);
    assert_int_equal(b.len, 0);
    assert_string_equal(b.buf, "");
    strbuf_release(&b);
    assert_int_equal(b.alloc, 0);
    assert_string_equal(b.buf, "");
    strbuf_release(&a); /* releasing an unused buffer is fine */
    strbuf_reset(&a);
    assert_int_equal(a.len, 0);
}

static void test_growth(void **ctx)
{
    struct strbuf sb = STRBUF_INIT;
    size_t i;

    (void)ctx;
    for (i = 0; i < 100000; i++)
        strbuf_addch(&sb, 'a' + (int)(i % 26));
    assert_int_equal(sb.len, 100000);
    assert_true(sb.alloc > sb.len);
    assert_int_equal(sb.buf[sb.len], '\0');
    for (i = 0; i < 100000; i++) {
        if (sb.buf[i] != 'a' + (int)(i % 26))
            fail_msg("byte %zu is wrong", i);
    }
    strbuf_add(&sb, "\0x", 2); /* binary data keeps its NUL */
    assert_int_equal(sb.len, 100002);
    assert_int_equal(sb.buf[100000], '\0');
    assert_int_equal(sb.buf[100001], 'x');
    strbuf_add(&sb, NULL, 0);
    assert_int_equal(sb.len, 100002);
    strbuf_release(&sb);
}

static void test_addf(void **ctx)
{
    struct strbuf sb = STRBUF_INIT;
    char big[5000];

    (void)ctx;
    strbuf_addstr(&sb, "x=");
    strbuf_addf(&sb, "%d, s=%s", 42, "str");
    assert_string_equal(sb.buf, "x=42, s=str");
    memset(big, 'q', sizeof(big) - 1);
    big[sizeof(big) - 1] = '\0';
    strbuf_addf(&sb, "[%s]", big);
    assert_int_equal(sb.len, strlen("x=42, s=str") + 2 + 4999);
    assert_int_equal(sb.buf[sb.len - 1], ']');
    assert_int_equal(sb.buf[sb.len], '\0');
    strbuf_addf(&sb, "%s", "");
    assert_int_equal(sb.len, strlen("x=42, s=str") + 2 + 4999);
    strbuf_release(&sb);
}

static void test_setlen_trim(void **ctx)
{
    struct strbuf sb = STRBUF_INIT;

    (void)ctx;
    strbuf_addstr(&sb, "line\r\n\n");
    strbuf_trim_trailing_newline(&sb);
    assert_string_equal(sb.buf, "line");
    assert_int_equal(sb.len, 4);
    strbuf_setlen(&sb, 2);
    assert_string_equal(sb.buf, "li");
    strbuf_reset(&sb);
    assert_string_equal(sb.buf, "");
    strbuf_trim_trailing_newline(&sb);
    assert_int_equal(sb.len, 0);
    strbuf_release(&sb);
}

static void test_max_cap(void **ctx)
{
    struct strbuf sb = STRBUF_INIT;
    struct rkc_error err;

    (void)ctx;
    sb.max = 10;
    assert_int_equal(strbuf_add_checked(&sb, "12345678", 8, &err), RKC_OK);
    assert_int_equal(strbuf_add_checked(&sb, "abc", 3, &err), RKC_ELIMIT);
    assert_string_equal(err.msg, "input larger than 10 bytes");
    assert_string_equal(sb.buf, "12345678"); /* unchanged */
    assert_int_equal(strbuf_add_checked(&sb, "ab", 2, &err), RKC_OK);
    assert_int_equal(sb.len, 10);
    assert_int_equal(strbuf_add_checked(&sb, "", 0, &err), RKC_OK);
    assert_int_equal(strbuf_add_checked(&sb, "z", 1, NULL), RKC_ELIMIT);
    /* A huge length must not wrap around the check. */
    assert_int_equal(strbuf_add_checked(&sb, "z", SIZE_MAX, &err), RKC_ELIMIT);
    /* The cap survives release, so the buffer can be reused for the next input. */
    strbuf_release(&sb);
    assert_int_equal(sb.max, 10);
    assert_int_equal(strbuf_add_checked(&sb, "01234567890", 11, &err), RKC_ELIMIT);
    assert_int_equal(sb.len, 0);
    strbuf_release(&sb);
}

/* A temp file holding n bytes of a known pattern; returns its path (new). */
static char *pattern_file(size_t n)
{
    char *path = xstrdup("/tmp/rkc-test-strbuf.XXXXXX");
    int fd = mkstemp(path);
    size_t i;

    assert_true(fd >= 0);
    for (i = 0; i < n; i++) {
        char c = (char)('0' + i % 10);

        assert_int_equal(write(fd, &c, 1), 1);
    }
    close(fd);
    return path;
}

static void test_read_fd(void **ctx)
{
    struct strbuf sb = STRBUF_INIT;
    struct rkc_error err;
    char *path = pattern_file(200000); /* several read(2) chunks */
    int fd;
    size_t i;

    (void)ctx;
    fd = open(path, O_RDONLY | O_CLOEXEC);
    assert_true(fd >= 0);
    strbuf_addstr(&sb, "head:");
    assert_int_equal(strbuf_read_fd(&sb, fd, &err), RKC_OK);
    close(fd);
    assert_int_equal(sb.len, 5 + 200000);
    assert_memory_equal(sb.buf, "head:0123", 9);
    for (i = 0; i < 200000; i++) {
        if (sb.buf[5 + i] != (char)('0' + i % 10))
            fail_msg("byte %zu is wrong", i);
    }
    strbuf_release(&sb);

    /* The cap applies while reading. */
    sb.max = 100000;
    assert_int_equal(strbuf_read_file(&sb, path, &err), RKC_ELIMIT);
    assert_true(sb.len <= 100000);
    assert_non_null(strstr(err.msg, "input larger than 100000 bytes"));
    assert_non_null(strstr(err.msg, path));
    strbuf_release(&sb);

    sb.max = 0;
    assert_int_equal(strbuf_read_file(&sb, path, &err), RKC_OK);
    assert_int_equal(sb.len, 200000);
    strbuf_release(&sb);

    /* A bad fd. */
    assert_int_equal(strbuf_read_fd(&sb, -1, &err), RKC_EIO);
    assert_string_equal(err.msg, "read: Bad file descriptor");
    unlink(path);
    free(path);
}

static void test_read_pipe(void **ctx)
{
    struct strbuf sb = STRBUF_INIT;
    int fds[2];

    (void)ctx;
    assert_int_equal(pipe(fds), 0);
    assert_int_equal(write(fds[1], "through a pipe", 14), 14);
    close(fds[1]);
    assert_int_equal(strbuf_read_fd(&sb, fds[0], NULL), RKC_OK);
    close(fds[0]);
    assert_string_equal(sb.buf, "through a pipe");
    strbuf_release(&sb);
}

static void test_read_file_missing(void **ctx)
{
    struct strbuf sb = STRBUF_INIT;
    struct rkc_error err;

    (void)ctx;
    assert_int_equal(strbuf_read_file(&sb, "/nonexistent/rkc/file", &err), RKC_ENOTFOUND);
    assert_string_equal(err.msg, "cannot open '/nonexistent/rkc/file': No such file or directory");
    assert_int_equal(strbuf_read_file(&sb, "/", &err), RKC_EIO);
    assert_string_equal(err.msg, "'/': read: Is a directory");
    assert_int_equal(sb.len, 0);
}

static void test_detach(void **ctx)
{
    struct strbuf sb = STRBUF_INIT;
    size_t len = 99;
    char *s;

    (void)ctx;
    s = strbuf_detach(&sb, &len); /* even an unused buffer gives a real string */
    assert_string_equal(s, "");
    assert_int_equal(len, 0);
    free(s);
    strbuf_addstr(&sb, "owned");
    s = strbuf_detach(&sb, &len);
    assert_string_equal(s, "owned");
    assert_int_equal(len, 5);
    assert_int_equal(sb.len, 0);
    assert_int_equal(sb.alloc, 0);
    assert_string_equal(sb.buf, "");
    free(s);
    strbuf_addstr(&sb, "again"); /* usable after detach */
    s = strbuf_detach(&sb, NULL);
    assert_string_equal(s, "again");
    free(s);
}

static void test_release_wipe(void **ctx)
{
    struct strbuf sb = STRBUF_INIT;
    char secret[64];

    (void)ctx;
    sb.max = 1000;
    strbuf_addstr(&sb, "key material");
    strbuf_release_wipe(&sb);
    assert_int_equal(sb.len, 0);
    assert_int_equal(sb.alloc, 0);
    assert_int_equal(sb.max, 1000);
    assert_string_equal(sb.buf, "");
    strbuf_release_wipe(&sb); /* unused buffer */

    memset(secret, 'S', sizeof(secret));
    rkc_wipe(secret, sizeof(secret) - 1);
    for (size_t i = 0; i < sizeof(secret) - 1; i++)
        assert_int_equal(secret[i], 0);
    assert_int_equal(secret[sizeof(secret) - 1], 'S'); /* exactly n bytes */
}

/* Growing past SIZE_MAX is a bug: the process aborts instead of wrapping. */
static void test_grow_overflow_aborts(void **ctx)
{
    int status;
    pid_t pid;

    (void)ctx;
    pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        struct strbuf sb = STRBUF_INIT;

        if (!freopen("/dev/null", "w", stderr))
            _exit(2);
        strbuf_addstr(&sb, "x");
        strbuf_grow(&sb, SIZE_MAX);
        _exit(0);
    }
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFSIGNALED(status));
    assert_int_equal(WTERMSIG(status), SIGABRT);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_init),
        cmocka_unit_test(test_growth),
        cmocka_unit_test(test_addf),
        cmocka_unit_test(test_setlen_trim),
        cmocka_unit_test(test_max_cap),
        cmocka_unit_test(test_read_fd),
        cmocka_unit_test(test_read_pipe),
        cmocka_unit_test(test_read_file_missing),
        cmocka_unit_test(test_detach),
        cmocka_unit_test(test_release_wipe),
        cmocka_unit_test(test_grow_overflow_aborts),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
