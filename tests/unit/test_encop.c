/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Unit tests for core/encop with a fake cluster: the phase order for each kind of change,
 * resumption after a failure at every step, bounded verify, and the key archive.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "core/encop.h"
#include "core/encplan.h"
#include "util/fs.h"

struct fake {
    char log[4096];      /* "apply(identity,aescbc) rewrite(secrets) verify(secrets) ..." */
    int calls;           /* env calls so far */
    int fail_at;         /* fail the Nth call (1-based), 0: never */
    int verify_failures; /* verify says "not ok" this many times */
    bool applied_none;   /* the last apply removed the config */
};

static void logf_(struct fake *f, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void logf_(struct fake *f, const char *fmt, ...)
{
    size_t n = strlen(f->log);
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(f->log + n, sizeof(f->log) - n, fmt, ap);
    va_end(ap);
}

static enum rkc_err maybe_fail(struct fake *f, struct rkc_error *err)
{
    if (++f->calls == f->fail_at)
        return rkc_error_set(err, RKC_EIO, "injected failure at call %d", f->calls);
    return RKC_OK;
}

static void describe(const struct encconfig *cfg, struct fake *f)
{
    const struct encconfig_resource *r;
    size_t j;

    if (!cfg) {
        logf_(f, "apply(none) ");
        return;
    }
    r = &cfg->resources[0];
    logf_(f, "apply(");
    for (j = 0; j < r->nproviders; j++)
        logf_(f, "%s%s%s", j ? "," : "", encconfig_kind_name(r->providers[j].kind),
              r->providers[j].nkeys ? r->providers[j].keys[0].name : "");
    logf_(f, ") ");
}

static enum rkc_err fake_apply(void *ctx, const struct encconfig *cfg,
                               const struct encconfig *readable, struct rkc_error *err)
{
    struct fake *f = ctx;

    (void)readable;
    if (maybe_fail(f, err))
        return RKC_EIO;
    describe(cfg, f);
    f->applied_none = !cfg;
    return RKC_OK;
}

static enum rkc_err fake_rewrite(void *ctx, const char *resource, struct rkc_error *err)
{
    struct fake *f = ctx;

    if (maybe_fail(f, err))
        return RKC_EIO;
    logf_(f, "rewrite(%s) ", resource);
    return RKC_OK;
}

static enum rkc_err fake_verify(void *ctx, const char *resource, const struct encconfig *cfg,
                                bool *ret_ok, struct rkc_error *err)
{
    struct fake *f = ctx;

    (void)cfg;
    if (maybe_fail(f, err))
        return RKC_EIO;
    *ret_ok = f->verify_failures-- <= 0;
    logf_(f, "verify(%s)=%s ", resource, *ret_ok ? "ok" : "no");
    return RKC_OK;
}

static char dir[256], path[300];

static int setup(void **state)
{
    (void)state;
    snprintf(dir, sizeof(dir), "/tmp/rkc-test-encop-XXXXXX");
    if (!mkdtemp(dir))
        return -1;
    snprintf(path, sizeof(path), "%s/cluster.rkestate", dir);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    return fs_remove_tree(dir, NULL) ? -1 : 0;
}

static struct rkc_state *open_state(void)
{
    struct rkc_state *st = NULL;
    struct rkc_error err;

    if (state_open(path, STATE_OPEN_DEFAULT, &st, &err)) {
        print_error("%s\n", err.msg);
        fail();
    }
    return st;
}

static struct encconfig *managed(const char *name, unsigned char fill)
{
    unsigned char secret[32];
    struct encconfig_managed_key k = { name, secret, 32 };

    memset(secret, fill, sizeof(secret));
    return encconfig_new_managed(&k, NULL, 0, false);
}

static struct encop_env env_for(struct fake *f, size_t ncp)
{
    struct encop_env env = { f, ncp, fake_apply, fake_rewrite, fake_verify, NULL };

    return env;
}

/* Runs begin+run on a fresh state; returns the fake's log. */
static void run_op(enum state_op_kind kind, struct encconfig *target, struct fake *f, size_t ncp)
{
    struct rkc_state *st = open_state();
    struct encop_env env = env_for(f, ncp);
    struct rkc_error err;

    assert_int_equal(encop_begin(st, kind, target, &err), RKC_OK);
    if (encop_run(st, &env, &err)) {
        print_error("%s\n", err.msg);
        fail();
    }
    assert_null(state_operation(st));
    state_close(st);
}

static void test_enable_then_rotate_then_disable(void **state)
{
    struct encconfig *a = managed("k-aaaaa", 1), *b = managed("k-bbbbb", 2);
    struct fake f;
    struct rkc_state *st;

    (void)state;
    unlink(path);
    memset(&f, 0, sizeof(f));
    run_op(STATE_OP_ENABLE, a, &f, 1);
    assert_string_equal(f.log, "apply(aescbck-aaaaa,identity) rewrite(secrets) verify(secrets)=ok "
                               "apply(aescbck-aaaaa,identity) ");
    st = open_state();
    assert_int_equal(state_enc_mode(st), STATE_ENC_MANAGED);
    assert_non_null(strstr(state_active_config(st), "k-aaaaa"));
    assert_int_equal(state_history_count(st), 1);
    state_close(st);

    memset(&f, 0, sizeof(f));
    run_op(STATE_OP_ROTATE, b, &f, 3);
    assert_string_equal(f.log, "apply(aescbck-aaaaa,identity,aescbck-bbbbb) "
                               "apply(aescbck-bbbbb,identity,aescbck-aaaaa) rewrite(secrets) "
                               "verify(secrets)=ok apply(aescbck-bbbbb,identity) ");
    st = open_state();
    assert_int_equal(state_enc_mode(st), STATE_ENC_MANAGED);
    assert_int_equal(state_retired_count(st), 1);
    assert_string_equal(state_retired_at(st, 0)->name, "k-aaaaa");
    assert_string_equal(state_retired_at(st, 0)->reason, "rotate");
    state_close(st);

    memset(&f, 0, sizeof(f));
    run_op(STATE_OP_DISABLE, NULL, &f, 1);
    assert_string_equal(f.log, "apply(identity,aescbck-bbbbb) rewrite(secrets) verify(secrets)=ok "
                               "apply(none) ");
    assert_true(f.applied_none);
    st = open_state();
    assert_int_equal(state_enc_mode(st), STATE_ENC_DISABLED);
    assert_null(state_active_config(st));
    assert_int_equal(state_retired_count(st), 2);
    assert_int_equal(state_history_count(st), 3);
    state_close(st);
    encconfig_free(a);
    encconfig_free(b);
}

/* Fails at every env call in turn, then resumes: the operation always completes the same. */
static void test_resume_after_failure_at_every_call(void **state)
{
    struct encconfig *a = managed("k-aaaaa", 1), *b = managed("k-bbbbb", 2);
    int n;

    (void)state;
    for (n = 1; n <= 5; n++) {
        struct rkc_state *st;
        struct fake f;
        struct encop_env env;
        struct rkc_error err;

        unlink(path);
        memset(&f, 0, sizeof(f));
        run_op(STATE_OP_ENABLE, a, &f, 3);
        memset(&f, 0, sizeof(f));
        f.fail_at = n;
        env = env_for(&f, 3);
        st = open_state();
        assert_int_equal(encop_begin(st, STATE_OP_ROTATE, b, &err), RKC_OK);
        assert_int_equal(encop_run(st, &env, &err), RKC_EIO);
        assert_non_null(strstr(err.msg, "injected failure"));
        state_close(st);

        /* a new process: the state says where to resume */
        st = open_state();
        assert_non_null(state_operation(st));
        assert_int_equal(state_operation_bump_attempt(st, &err), RKC_OK);
        f.fail_at = 0;
        assert_int_equal(encop_run(st, &env, &err), RKC_OK);
        assert_null(state_operation(st));
        assert_non_null(strstr(state_active_config(st), "k-bbbbb"));
        assert_null(strstr(state_active_config(st), "k-aaaaa"));
        assert_int_equal(state_retired_count(st), 1);
        /* the key that was retired never left before verify passed */
        assert_non_null(strstr(f.log, "apply(aescbck-bbbbb,identity) "));
        state_close(st);
    }
    encconfig_free(a);
    encconfig_free(b);
}

static void test_verify_goes_back_to_rewrite_bounded(void **state)
{
    struct encconfig *a = managed("k-aaaaa", 1);
    struct rkc_state *st;
    struct encop_env env;
    struct rkc_error err;
    struct fake f;

    (void)state;
    unlink(path);
    memset(&f, 0, sizeof(f));
    f.verify_failures = 1;
    run_op(STATE_OP_ENABLE, a, &f, 1);
    assert_string_equal(f.log,
                        "apply(aescbck-aaaaa,identity) rewrite(secrets) verify(secrets)=no "
                        "rewrite(secrets) verify(secrets)=ok apply(aescbck-aaaaa,identity) ");

    unlink(path);
    memset(&f, 0, sizeof(f));
    f.verify_failures = 100;
    env = env_for(&f, 1);
    st = open_state();
    assert_int_equal(encop_begin(st, STATE_OP_ENABLE, a, &err), RKC_OK);
    assert_int_equal(encop_run(st, &env, &err), RKC_EIO);
    assert_non_null(strstr(err.msg, "verify failed 3 times"));
    /* still pending, in verify or rewrite, never pruned */
    assert_non_null(state_operation(st));
    assert_true(state_operation(st)->phase == STATE_PHASE_REWRITE ||
                state_operation(st)->phase == STATE_PHASE_VERIFY);
    state_close(st);
    encconfig_free(a);
}

static void test_second_operation_refused(void **state)
{
    struct encconfig *a = managed("k-aaaaa", 1);
    struct rkc_state *st;
    struct rkc_error err;

    (void)state;
    unlink(path);
    st = open_state();
    assert_int_equal(encop_begin(st, STATE_OP_ENABLE, a, &err), RKC_OK);
    assert_int_equal(encop_begin(st, STATE_OP_ROTATE, a, &err), RKC_EBUSY);
    state_close(st);
    encconfig_free(a);
}

/*
 * restore-rekey from an explicit previous config (current + an old key as reader) to the
 * current config: the old key reads until prune, then goes (back) to the archive.
 */
static void test_begin_from_explicit_previous(void **state)
{
    struct encconfig *cur = managed("k-ccccc", 3), *old = managed("k-ooooo", 4);
    struct encconfig *prev = encplan_merge(cur, old);
    struct rkc_state *st;
    struct fake f;
    struct encop_env env = env_for(&f, 1);
    struct rkc_error err;

    (void)state;
    unlink(path);
    memset(&f, 0, sizeof(f));
    st = open_state();
    assert_int_equal(encop_begin_from(st, STATE_OP_RESTORE_REKEY, prev, cur, &err), RKC_OK);
    assert_non_null(strstr(state_operation(st)->previous_config, "k-ooooo"));
    assert_null(state_active_config(st));
    assert_int_equal(encop_run(st, &env, &err), RKC_OK);
    assert_string_equal(f.log, "apply(aescbck-ccccc,identity,aescbck-ooooo) rewrite(secrets) "
                               "verify(secrets)=ok "
                               "apply(aescbck-ccccc,identity) ");
    assert_int_equal(state_retired_count(st), 1);
    assert_string_equal(state_retired_at(st, 0)->name, "k-ooooo");
    assert_string_equal(state_retired_at(st, 0)->reason, "restore-rekey");
    assert_non_null(strstr(state_active_config(st), "k-ccccc"));
    assert_null(strstr(state_active_config(st), "k-ooooo"));
    state_close(st);

    /* to no encryption: previous is only the old key's reader config */
    unlink(path);
    memset(&f, 0, sizeof(f));
    st = open_state();
    assert_int_equal(encop_begin_from(st, STATE_OP_RESTORE_REKEY, old, NULL, &err), RKC_OK);
    assert_int_equal(encop_run(st, &env, &err), RKC_OK);
    assert_string_equal(f.log, "apply(identity,aescbck-ooooo) rewrite(secrets) verify(secrets)=ok "
                               "apply(none) ");
    assert_int_equal(state_enc_mode(st), STATE_ENC_DISABLED);
    assert_string_equal(state_retired_at(st, 0)->name, "k-ooooo");
    state_close(st);
    encconfig_free(prev);
    encconfig_free(cur);
    encconfig_free(old);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_enable_then_rotate_then_disable),
        cmocka_unit_test(test_resume_after_failure_at_every_call),
        cmocka_unit_test(test_verify_goes_back_to_rewrite_bounded),
        cmocka_unit_test(test_second_operation_refused),
        cmocka_unit_test(test_begin_from_explicit_previous),
    };

    return cmocka_run_group_tests(tests, setup, teardown);
}
