/* SPDX-License-Identifier: Apache-2.0 */
/* Unit tests for core/runtime and the local transport, with real processes. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "core/runtime.h"
#include "util/fs.h"

static char tmpdir[256];

static int setup(void **state)
{
    (void)state;
    snprintf(tmpdir, sizeof(tmpdir), "/tmp/rkc-test-runtime-XXXXXX");
    return mkdtemp(tmpdir) ? 0 : -1;
}

static int teardown(void **state)
{
    (void)state;
    return fs_remove_tree(tmpdir, NULL) ? -1 : 0;
}

static void test_run_captures_output_and_status(void **state)
{
    struct transport *t = transport_local_new("n1");
    const char *argv[] = { "sh", "-c", "cat; echo err >&2; exit 7", NULL };
    struct strbuf out = STRBUF_INIT, errout = STRBUF_INIT;
    struct rkc_error err;
    int status = -1;

    (void)state;
    assert_int_equal(transport_run(t, argv, "hello", 5, &out, &errout, &status, &err), RKC_OK);
    assert_string_equal(out.buf, "hello");
    assert_string_equal(errout.buf, "err\n");
    assert_int_equal(status, 7);
    assert_int_equal(transport_run_ok(t, argv, NULL, &err), RKC_EIO);
    assert_string_equal(err.msg, "node 'n1': 'sh' exited with status 7: err");
    strbuf_release(&out);
    strbuf_release(&errout);
    transport_free(t);
}

static void test_run_large_io_no_deadlock(void **state)
{
    struct transport *t = transport_local_new("n1");
    const char *argv[] = { "cat", NULL };
    size_t n = 4u << 20;
    char *big = malloc(n);
    struct strbuf out = STRBUF_INIT;
    struct rkc_error err;
    int status;

    (void)state;
    memset(big, 'x', n);
    assert_int_equal(transport_run(t, argv, big, n, &out, NULL, &status, &err), RKC_OK);
    assert_int_equal(out.len, n);
    assert_int_equal(status, 0);
    free(big);
    strbuf_release(&out);
    transport_free(t);
}

static void test_missing_program(void **state)
{
    struct transport *t = transport_local_new("n1");
    const char *argv[] = { "/nonexistent/prog", NULL };
    struct rkc_error err;
    int status;

    (void)state;
    assert_int_equal(transport_run(t, argv, NULL, 0, NULL, NULL, &status, &err), RKC_EIO);
    assert_non_null(strstr(err.msg, "cannot run '/nonexistent/prog'"));
    transport_free(t);
}

static void test_sync_file(void **state)
{
    struct transport *t = transport_local_new("n1");
    char path[512];
    struct rkc_error err;
    struct stat st;
    bool changed;

    (void)state;
    snprintf(path, sizeof(path), "%s/a/b/f.txt", tmpdir);
    assert_int_equal(transport_sync_file(t, path, "one", 3, 0600, &changed, &err), RKC_OK);
    assert_true(changed);
    assert_int_equal(stat(path, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0600);
    assert_int_equal(transport_sync_file(t, path, "one", 3, 0600, &changed, &err), RKC_OK);
    assert_false(changed);
    assert_int_equal(transport_sync_file(t, path, "two", 3, 0600, &changed, &err), RKC_OK);
    assert_true(changed);
    transport_free(t);
}

static void test_component_lifecycle(void **state)
{
    struct transport *t = transport_local_new("n1");
    const char *argv[] = { "sleep", "30", NULL };
    struct runtime_component c = { "sleeper", argv, tmpdir, "h1" };
    struct strbuf tail = STRBUF_INIT;
    struct rkc_error err;
    bool running, started;
    pid_t pid1, pid2;

    (void)state;
    assert_int_equal(runtime_status(t, tmpdir, "sleeper", &running, &pid1, &err), RKC_OK);
    assert_false(running);
    assert_int_equal(runtime_ensure(t, &c, false, &started, &err), RKC_OK);
    assert_true(started);
    assert_int_equal(runtime_status(t, tmpdir, "sleeper", &running, &pid1, &err), RKC_OK);
    assert_true(running);
    assert_true(pid1 > 1);
    {
        /* the pidfile names the process by pid and start time (pid reuse, fork before exec) */
        char path[512];
        struct strbuf pf = STRBUF_INIT;
        long p = 0;
        unsigned long long st = 0;

        snprintf(path, sizeof(path), "%s/var/run/rkc/sleeper.pid", tmpdir);
        assert_int_equal(strbuf_read_file(&pf, path, &err), RKC_OK);
        assert_int_equal(sscanf(pf.buf, "%ld %llu", &p, &st), 2);
        assert_int_equal(p, pid1);
        assert_true(st > 0);
        /* a pidfile whose start time is not the process's is not ours */
        strbuf_reset(&pf);
        strbuf_addf(&pf, "%ld %llu\n", p, st + 1);
        assert_int_equal(fs_write_atomic(path, pf.buf, pf.len, 0600, &err), RKC_OK);
        assert_int_equal(runtime_status(t, tmpdir, "sleeper", &running, &pid2, &err), RKC_OK);
        assert_false(running);
        strbuf_reset(&pf);
        strbuf_addf(&pf, "%ld %llu\n", p, st);
        assert_int_equal(fs_write_atomic(path, pf.buf, pf.len, 0600, &err), RKC_OK);
        strbuf_release(&pf);
    }
    /* same spec: left alone */
    assert_int_equal(runtime_ensure(t, &c, false, &started, &err), RKC_OK);
    assert_false(started);
    assert_int_equal(runtime_status(t, tmpdir, "sleeper", &running, &pid2, &err), RKC_OK);
    assert_int_equal(pid1, pid2);
    /* changed extra hash: restarted with a new pid */
    c.extra_hash = "h2";
    assert_int_equal(runtime_ensure(t, &c, false, &started, &err), RKC_OK);
    assert_true(started);
    assert_int_equal(runtime_status(t, tmpdir, "sleeper", &running, &pid2, &err), RKC_OK);
    assert_true(running);
    assert_int_not_equal(pid1, pid2);
    assert_int_equal(runtime_stop(t, tmpdir, "sleeper", 5000, &err), RKC_OK);
    assert_int_equal(runtime_status(t, tmpdir, "sleeper", &running, &pid2, &err), RKC_OK);
    assert_false(running);
    /* stopping a stopped component is fine */
    assert_int_equal(runtime_stop(t, tmpdir, "sleeper", 5000, &err), RKC_OK);
    assert_int_equal(runtime_log_tail(t, tmpdir, "sleeper", 5, &tail, &err), RKC_OK);
    assert_non_null(strstr(tail.buf, "starting"));
    strbuf_release(&tail);
    transport_free(t);
}

static enum rkc_err never_healthy(void *ctx, struct rkc_error *err)
{
    (void)ctx;
    return rkc_error_set(err, RKC_EIO, "connection refused");
}

static enum rkc_err healthy_after_file(void *ctx, struct rkc_error *err)
{
    return fs_exists(ctx) ? RKC_OK : rkc_error_set(err, RKC_EIO, "no file yet");
}

static void test_wait_healthy(void **state)
{
    struct transport *t = transport_local_new("n1");
    char marker[512], script[700];
    const char *dying[] = { "sh", "-c", "echo boom: bad flag; exit 3", NULL };
    const char *slow[] = { "sh", "-c", script, NULL };
    const char *stuck[] = { "sleep", "30", NULL };
    struct runtime_component c = { "dier", dying, tmpdir, NULL };
    struct rkc_error err;

    (void)state;
    assert_int_equal(runtime_ensure(t, &c, false, NULL, &err), RKC_OK);
    assert_int_equal(runtime_wait_healthy(t, &c, never_healthy, NULL, 5000, &err), RKC_EIO);
    assert_non_null(strstr(err.msg, "dier on node 'n1' exited before becoming healthy"));
    assert_non_null(strstr(err.msg, "last log lines:"));
    assert_non_null(strstr(err.msg, "boom: bad flag"));

    snprintf(marker, sizeof(marker), "%s/ready", tmpdir);
    snprintf(script, sizeof(script), "sleep 0.3; touch '%s'; exec sleep 30", marker);
    c.name = "slow";
    c.argv = slow;
    assert_int_equal(runtime_ensure(t, &c, false, NULL, &err), RKC_OK);
    assert_int_equal(runtime_wait_healthy(t, &c, healthy_after_file, marker, 5000, &err), RKC_OK);
    assert_int_equal(runtime_stop(t, tmpdir, "slow", 5000, &err), RKC_OK);

    c.name = "stuck";
    c.argv = stuck;
    assert_int_equal(runtime_ensure(t, &c, false, NULL, &err), RKC_OK);
    assert_int_equal(runtime_wait_healthy(t, &c, never_healthy, NULL, 400, &err), RKC_ETIMEOUT);
    assert_non_null(strstr(err.msg, "did not become healthy in time"));
    assert_int_equal(runtime_stop(t, tmpdir, "stuck", 5000, &err), RKC_OK);
    transport_free(t);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_run_captures_output_and_status),
        cmocka_unit_test(test_run_large_io_no_deadlock),
        cmocka_unit_test(test_missing_program),
        cmocka_unit_test(test_sync_file),
        cmocka_unit_test(test_component_lifecycle),
        cmocka_unit_test(test_wait_healthy),
    };

    return cmocka_run_group_tests(tests, setup, teardown);
}
