/* SPDX-License-Identifier: Apache-2.0 */
/* Unit tests for apiserver/kpatch: merge patch (RFC 7386 examples), strategic, JSON patch. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "apiserver/kpatch.h"

static struct jval *J(const char *s)
{
    struct jval *v = NULL;
    struct rkc_error err;

    if (jval_parse("t", s, strlen(s), &v, &err))
        fail_msg("%s: %s", s, err.msg);
    return v;
}

static void expect_merge(const char *target, const char *patch, const char *want, bool strategic)
{
    struct jval *t = J(target), *p = J(patch), *w = J(want), *r = kpatch_merge(t, p, strategic);

    if (!jval_equal(r, w)) {
        struct strbuf sb = STRBUF_INIT;

        jval_dump(r, JVAL_COMPACT, &sb);
        fail_msg("merge %s + %s = %s, want %s", target, patch, sb.buf, want);
    }
    jval_decref(t);
    jval_decref(p);
    jval_decref(w);
    jval_decref(r);
}

static void test_merge_rfc7386(void **state)
{
    (void)state;
    expect_merge("{\"a\":\"b\"}", "{\"a\":\"c\"}", "{\"a\":\"c\"}", false);
    expect_merge("{\"a\":\"b\"}", "{\"b\":\"c\"}", "{\"a\":\"b\",\"b\":\"c\"}", false);
    expect_merge("{\"a\":\"b\"}", "{\"a\":null}", "{}", false);
    expect_merge("{\"a\":\"b\",\"b\":\"c\"}", "{\"a\":null}", "{\"b\":\"c\"}", false);
    expect_merge("{\"a\":[\"b\"]}", "{\"a\":\"c\"}", "{\"a\":\"c\"}", false);
    expect_merge("{\"a\":\"c\"}", "{\"a\":[\"b\"]}", "{\"a\":[\"b\"]}", false);
    expect_merge("{\"a\":{\"b\":\"c\"}}", "{\"a\":{\"b\":\"d\",\"c\":null}}",
                 "{\"a\":{\"b\":\"d\"}}", false);
    expect_merge("{\"a\":[{\"b\":\"c\"}]}", "{\"a\":[1]}", "{\"a\":[1]}", false);
    expect_merge("[\"a\",\"b\"]", "[\"c\",\"d\"]", "[\"c\",\"d\"]", false);
    expect_merge("{\"a\":\"b\"}", "[\"c\"]", "[\"c\"]", false);
    expect_merge("{\"e\":null}", "{\"a\":1}", "{\"e\":null,\"a\":1}", false);
    expect_merge("[1,2]", "{\"a\":\"b\",\"c\":null}", "{\"a\":\"b\"}", false);
    expect_merge("{}", "{\"a\":{\"bb\":{\"ccc\":null}}}", "{\"a\":{\"bb\":{}}}", false);
}

static void test_strategic(void **state)
{
    (void)state;
    expect_merge("{\"data\":{\"a\":\"1\"},\"type\":\"Opaque\"}", "{\"data\":{\"b\":\"2\"}}",
                 "{\"data\":{\"a\":\"1\",\"b\":\"2\"},\"type\":\"Opaque\"}", true);
    expect_merge("{\"data\":{\"a\":\"1\",\"b\":\"2\"}}",
                 "{\"data\":{\"$patch\":\"replace\",\"c\":\"3\"}}", "{\"data\":{\"c\":\"3\"}}",
                 true);
    expect_merge("{\"data\":{\"a\":\"1\"},\"x\":1}", "{\"data\":{\"$patch\":\"delete\"}}",
                 "{\"x\":1}", true);
    expect_merge("{\"m\":{\"a\":1}}", "{\"$retainKeys\":[\"m\"],\"m\":{\"b\":2}}",
                 "{\"m\":{\"a\":1,\"b\":2}}", true);
}

static void expect_json(const char *target, const char *ops, const char *want)
{
    struct jval *t = J(target), *o = J(ops), *w = want ? J(want) : NULL, *r = NULL;
    struct rkc_error err;
    enum rkc_err rc = kpatch_json(t, o, &r, &err);

    if (want) {
        struct strbuf sb = STRBUF_INIT;

        if (rc)
            fail_msg("json patch %s on %s: %s", ops, target, err.msg);
        jval_dump(r, JVAL_COMPACT, &sb);
        if (!jval_equal(r, w))
            fail_msg("json patch %s on %s = %s, want %s", ops, target, sb.buf, want);
        strbuf_release(&sb);
    } else {
        assert_int_equal(rc, RKC_EINVAL);
    }
    jval_decref(t);
    jval_decref(o);
    jval_decref(w);
    jval_decref(r);
}

static void test_json_patch(void **state)
{
    (void)state;
    expect_json("{\"foo\":\"bar\"}", "[{\"op\":\"add\",\"path\":\"/baz\",\"value\":\"qux\"}]",
                "{\"foo\":\"bar\",\"baz\":\"qux\"}");
    expect_json("{\"foo\":[\"bar\",\"baz\"]}",
                "[{\"op\":\"add\",\"path\":\"/foo/1\",\"value\":\"qux\"}]",
                "{\"foo\":[\"bar\",\"qux\",\"baz\"]}");
    expect_json("{\"foo\":[\"bar\"]}", "[{\"op\":\"add\",\"path\":\"/foo/-\",\"value\":1}]",
                "{\"foo\":[\"bar\",1]}");
    expect_json("{\"baz\":\"qux\",\"foo\":\"bar\"}", "[{\"op\":\"remove\",\"path\":\"/baz\"}]",
                "{\"foo\":\"bar\"}");
    expect_json("{\"foo\":[\"bar\",\"qux\",\"baz\"]}", "[{\"op\":\"remove\",\"path\":\"/foo/1\"}]",
                "{\"foo\":[\"bar\",\"baz\"]}");
    expect_json("{\"baz\":\"qux\"}", "[{\"op\":\"replace\",\"path\":\"/baz\",\"value\":\"boo\"}]",
                "{\"baz\":\"boo\"}");
    expect_json("{\"a\":{\"b\":1},\"c\":{}}",
                "[{\"op\":\"move\",\"from\":\"/a/b\",\"path\":\"/c/d\"}]",
                "{\"a\":{},\"c\":{\"d\":1}}");
    expect_json("{\"a\":[1]}", "[{\"op\":\"copy\",\"from\":\"/a/0\",\"path\":\"/b\"}]",
                "{\"a\":[1],\"b\":1}");
    expect_json("{\"a/b\":1,\"m~n\":2}",
                "[{\"op\":\"test\",\"path\":\"/a~1b\",\"value\":1},"
                "{\"op\":\"remove\",\"path\":\"/m~0n\"}]",
                "{\"a/b\":1}");
    expect_json("{\"a\":1}", "[{\"op\":\"add\",\"path\":\"\",\"value\":[2]}]", "[2]");
    /* failures */
    expect_json("{\"a\":1}", "[{\"op\":\"test\",\"path\":\"/a\",\"value\":2}]", NULL);
    expect_json("{\"a\":1}", "[{\"op\":\"remove\",\"path\":\"/b\"}]", NULL);
    expect_json("{\"a\":1}", "[{\"op\":\"replace\",\"path\":\"/b\",\"value\":2}]", NULL);
    expect_json("{\"a\":[1]}", "[{\"op\":\"add\",\"path\":\"/a/5\",\"value\":2}]", NULL);
    expect_json("{\"a\":[1]}", "[{\"op\":\"add\",\"path\":\"/a/01\",\"value\":2}]", NULL);
    expect_json("{\"a\":1}", "[{\"op\":\"add\",\"path\":\"/x/y\",\"value\":2}]", NULL);
    expect_json("{\"a\":1}", "[{\"op\":\"frobnicate\",\"path\":\"/a\"}]", NULL);
    expect_json("{\"a\":1}", "[{\"op\":\"add\",\"path\":\"a\",\"value\":1}]", NULL);
    expect_json("{\"a\":1}", "{\"op\":\"add\"}", NULL);
    expect_json("{\"a\":1}", "[{\"op\":\"move\",\"from\":\"/nope\",\"path\":\"/b\"}]", NULL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_merge_rfc7386),
        cmocka_unit_test(test_strategic),
        cmocka_unit_test(test_json_patch),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
