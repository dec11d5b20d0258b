/* SPDX-License-Identifier: Apache-2.0 */
/* test_error: codes and sentences, set/prefix/init, truncation, RKC_BUG/RKC_ASSERT. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#include <cmocka.h>

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "util/error.h"
#include "util/strbuf.h"

static void test_strerror(void **ctx)
{
    int i, j;

    (void)ctx;
    assert_string_equal(rkc_strerror(RKC_OK), "success");
    assert_string_equal(rkc_strerror(RKC_EBUSY), "resource busy");
    assert_string_equal(rkc_strerror(RKC_ELIMIT), "size limit exceeded");
    assert_string_equal(rkc_strerror((enum rkc_err)999), "unknown error");
    /* Every code has its own sentence. */
    for (i = RKC_OK; i <= RKC_EBUSY; i++) {
        assert_string_not_equal(rkc_strerror((enum rkc_err)i), "unknown error");
        for (j = RKC_OK; j < i; j++)
            assert_string_not_equal(rkc_strerror((enum rkc_err)i), rkc_strerror((enum rkc_err)j));
    }
    /* Codes are retired, never renumbered: a few that are persisted in exit paths. */
    assert_int_equal(RKC_ECONFIG, 2);
    assert_int_equal(RKC_EIO, 3);
    assert_int_equal(RKC_EBUSY, 12);
}

static void test_set_init(void **ctx)
{
    struct rkc_error err;

    (void)ctx;
    rkc_error_init(&err);
    assert_int_equal(err.code, RKC_OK);
    assert_string_equal(err.msg, "");
    assert_int_equal(
        rkc_error_set(&err, RKC_ECONFIG, "cluster.yml:%d:%d: unknown key '%s'", 7, 5, "rolez"),
        RKC_ECONFIG);
    assert_int_equal(err.code, RKC_ECONFIG);
    assert_string_equal(err.msg, "cluster.yml:7:5: unknown key 'rolez'");
    /* A NULL err still returns the code. */
    assert_int_equal(rkc_error_set(NULL, RKC_EIO, "x %s", "y"), RKC_EIO);
    rkc_error_init(NULL);
    rkc_error_init(&err);
    assert_int_equal(err.code, RKC_OK);
    assert_string_equal(err.msg, "");
}

static void test_prefix(void **ctx)
{
    struct rkc_error err;

    (void)ctx;
    rkc_error_set(&err, RKC_EHTTP, "connection refused");
    rkc_error_prefix(&err, "etcd %s: ", "snapshot-save");
    assert_string_equal(err.msg, "etcd snapshot-save: connection refused");
    assert_int_equal(err.code, RKC_EHTTP); /* the code is kept */
    rkc_error_prefix(&err, "%s", "");
    assert_string_equal(err.msg, "etcd snapshot-save: connection refused");
    rkc_error_prefix(NULL, "ignored: ");
}

/* Callers may pass the message itself as an argument. */
static void test_self_reference(void **ctx)
{
    struct rkc_error err;

    (void)ctx;
    rkc_error_set(&err, RKC_EIO, "disk full");
    rkc_error_set(&err, RKC_EIO, "cannot save state: %s (%s)", err.msg, err.msg);
    assert_string_equal(err.msg, "cannot save state: disk full (disk full)");
    rkc_error_prefix(&err, "[%s] ", err.msg);
    assert_string_equal(err.msg, "[cannot save state: disk full (disk full)] cannot save state: "
                                 "disk full (disk full)");
}

static void test_truncation(void **ctx)
{
    struct rkc_error err;
    struct strbuf big = STRBUF_INIT;
    size_t i;

    (void)ctx;
    for (i = 0; i < 5000; i++)
        strbuf_addch(&big, 'a' + (int)(i % 26));
    rkc_error_set(&err, RKC_EINVAL, "%s", big.buf);
    assert_int_equal(strlen(err.msg), RKC_ERROR_MAX - 1);
    assert_memory_equal(err.msg, big.buf, RKC_ERROR_MAX - 1);

    /* A prefix onto a full message keeps the prefix and cuts the tail of the old text. */
    rkc_error_prefix(&err, "ctx: ");
    assert_int_equal(strlen(err.msg), RKC_ERROR_MAX - 1);
    assert_memory_equal(err.msg, "ctx: abc", 8);
    assert_memory_equal(err.msg + 5, big.buf, RKC_ERROR_MAX - 1 - 5);

    /* A prefix longer than the buffer fills it alone. */
    rkc_error_set(&err, RKC_EINVAL, "old");
    rkc_error_prefix(&err, "%s", big.buf);
    assert_int_equal(strlen(err.msg), RKC_ERROR_MAX - 1);
    assert_memory_equal(err.msg, big.buf, RKC_ERROR_MAX - 1);
    strbuf_release(&big);
}

/* Runs fn in a child with stderr captured; returns what it printed and sets *ret_status. */
static char *run_child(void (*fn)(void), int *ret_status)
{
    struct strbuf sb = STRBUF_INIT;
    int fds[2];
    pid_t pid;

    assert_int_equal(pipe(fds), 0);
    pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        close(fds[0]);
        dup2(fds[1], STDERR_FILENO);
        fn();
        _exit(0);
    }
    close(fds[1]);
    assert_int_equal(strbuf_read_fd(&sb, fds[0], NULL), RKC_OK);
    close(fds[0]);
    assert_int_equal(waitpid(pid, ret_status, 0), pid);
    return strbuf_detach(&sb, NULL);
}

/* clang-format off */
static const int assert_fail_line = __LINE__; static void do_assert_fail(void) { int one = 1; RKC_ASSERT(one == 2); }
/* clang-format on */

static void do_assert_pass(void)
{
    RKC_ASSERT(1 + 1 == 2);
}

static void do_bug(void)
{
    RKC_BUG("impossible state %d", 42);
}

static void test_bug_and_assert(void **ctx)
{
    char *out, want[512];
    int status;

    (void)ctx;
    out = run_child(do_assert_fail, &status);
    assert_true(WIFSIGNALED(status));
    assert_int_equal(WTERMSIG(status), SIGABRT);
    snprintf(want, sizeof(want), "BUG: %s:%d: assertion failed: one == 2\n", __FILE__,
             assert_fail_line);
    assert_string_equal(out, want);
    free(out);

    out = run_child(do_bug, &status);
    assert_true(WIFSIGNALED(status));
    assert_int_equal(WTERMSIG(status), SIGABRT);
    assert_non_null(strstr(out, "test_error.c:"));
    assert_non_null(strstr(out, ": impossible state 42\n"));
    free(out);

    out = run_child(do_assert_pass, &status);
    assert_true(WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), 0);
    assert_string_equal(out, "");
    free(out);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_strerror),   cmocka_unit_test(test_set_init),
        cmocka_unit_test(test_prefix),     cmocka_unit_test(test_self_reference),
        cmocka_unit_test(test_truncation), cmocka_unit_test(test_bug_and_assert),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
