/* SPDX-License-Identifier: Apache-2.0 */
/* test_failpoint: RKC_FAILPOINT parsing and the crash it causes (in forked children). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "util/failpoint.h"
#include "util/strbuf.h"

static void test_armed(void **ctx)
{
    (void)ctx;
    unsetenv("RKC_FAILPOINT");
    assert_false(rkc_failpoint_armed("a"));
    setenv("RKC_FAILPOINT", "", 1);
    assert_false(rkc_failpoint_armed("a"));
    assert_false(rkc_failpoint_armed(""));
    setenv("RKC_FAILPOINT", "alpha", 1);
    assert_true(rkc_failpoint_armed("alpha"));
    assert_false(rkc_failpoint_armed("alph"));
    assert_false(rkc_failpoint_armed("alphabet"));
    setenv("RKC_FAILPOINT", "one,two,,three", 1);
    assert_true(rkc_failpoint_armed("one"));
    assert_true(rkc_failpoint_armed("two"));
    assert_true(rkc_failpoint_armed("three"));
    assert_false(rkc_failpoint_armed("on"));
    assert_false(rkc_failpoint_armed("one,two"));
    setenv("RKC_FAILPOINT", "trailing,", 1);
    assert_true(rkc_failpoint_armed("trailing"));
    unsetenv("RKC_FAILPOINT");
    /* Unarmed: returns. */
    rkc_failpoint("anything");
}

/* Runs rkc_failpoint(name) in a child with RKC_FAILPOINT=env; returns its stderr. */
static char *run(const char *env, const char *name, int *ret_status)
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
        dup2(fds[1], STDOUT_FILENO);
        setenv("RKC_FAILPOINT", env, 1);
        /* Buffered output is not flushed: the crash is like kill -9. */
        setvbuf(stdout, NULL, _IOFBF, 4096);
        printf("never flushed");
        fputs("unbuffered ", stderr);
        rkc_failpoint(name);
        fflush(stdout);
        _exit(0);
    }
    close(fds[1]);
    assert_int_equal(strbuf_read_fd(&sb, fds[0], NULL), RKC_OK);
    close(fds[0]);
    assert_int_equal(waitpid(pid, ret_status, 0), pid);
    return strbuf_detach(&sb, NULL);
}

static void test_fires(void **ctx)
{
    int status;
    char *out;

    (void)ctx;
    out = run("x,save-phase", "save-phase", &status);
    assert_true(WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), RKC_FAILPOINT_EXIT);
    assert_int_equal(RKC_FAILPOINT_EXIT, 86);
    /* stderr is unbuffered; stdout's buffer died with the process. */
    assert_string_equal(out, "unbuffered FATA[0000] failpoint 'save-phase' hit, exiting\n");
    free(out);

    out = run("x,y", "save-phase", &status);
    assert_true(WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), 0);
    assert_string_equal(out, "unbuffered never flushed");
    free(out);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_armed),
        cmocka_unit_test(test_fires),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
