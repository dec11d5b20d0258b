/* SPDX-License-Identifier: Apache-2.0 */
/* Unit tests for apiserver/kproto: the protobuf bodies kubectl sends, recorded as fixtures. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "apiserver/kproto.h"
#include "crypto/b64.h"
#include "util/strbuf.h"

static void load(const char *name, struct strbuf *out)
{
    const char *dir = getenv("RKC_FIXTURES");
    char path[4096];

    assert_non_null(dir);
    snprintf(path, sizeof(path), "%s/apiserver/%s", dir, name);
    assert_int_equal(strbuf_read_file(out, path, NULL), RKC_OK);
}

static struct jval *decode(const char *name)
{
    struct strbuf sb = STRBUF_INIT;
    struct jval *obj = NULL;
    struct rkc_error err;

    load(name, &sb);
    if (kproto_decode(sb.buf, sb.len, &obj, &err))
        fail_msg("%s: %s", name, err.msg);
    strbuf_release(&sb);
    return obj;
}

static void test_secret_generic(void **state)
{
    struct jval *o = decode("kubectl-create-secret-generic.pb");
    const struct jval *meta = jval_get(o, "metadata"), *data = jval_get(o, "data");

    (void)state;
    assert_string_equal(jval_get_str(o, "kind", ""), "Secret");
    assert_string_equal(jval_get_str(o, "apiVersion", ""), "v1");
    assert_string_equal(jval_get_str(meta, "name", ""), "s1");
    assert_null(jval_get(meta, "namespace")); /* empty strings are left out */
    assert_int_equal(jval_object_size(data), 2);
    assert_string_equal(jval_get_str(data, "a", ""), "Yg==");
    assert_string_equal(jval_get_str(data, "user", ""), "YWRtaW4=");
    assert_null(jval_get(o, "type")); /* kubectl sends "" for the default */
    jval_decref(o);
}

static void test_secret_tls(void **state)
{
    struct jval *o = decode("kubectl-create-secret-tls.pb");
    const struct jval *data = jval_get(o, "data");
    struct strbuf crt = STRBUF_INIT;
    const char *s;

    (void)state;
    assert_string_equal(jval_get_str(o, "type", ""), "kubernetes.io/tls");
    assert_string_equal(jval_get_str(jval_get(o, "metadata"), "name", ""), "t1");
    s = jval_get_str(data, "tls.crt", "");
    assert_int_equal(b64_decode(s, strlen(s), &crt, NULL), RKC_OK);
    assert_true(crt.len > 100);
    assert_memory_equal(crt.buf, "-----BEGIN CERTIFICATE-----", 27);
    assert_non_null(jval_get(data, "tls.key"));
    strbuf_release(&crt);
    jval_decref(o);
}

static void test_namespace(void **state)
{
    struct jval *o = decode("kubectl-create-namespace.pb");

    (void)state;
    assert_string_equal(jval_get_str(o, "kind", ""), "Namespace");
    assert_string_equal(jval_get_str(jval_get(o, "metadata"), "name", ""), "demo");
    jval_decref(o);
}

static void test_configmap_built(void **state)
{
    /* ConfigMap{metadata{name "c", labels{a:b}}, data{k:v}, binaryData{b:\x00\xff}, immutable} */
    static const unsigned char cm[] = {
        0x6b, 0x38, 0x73, 0x00, 0x0a, 0x0f, 0x0a, 0x02, 0x76, 0x31, 0x12, 0x09, 0x43, 0x6f,
        0x6e, 0x66, 0x69, 0x67, 0x4d, 0x61, 0x70, 0x12, 0x20, 0x0a, 0x0b, 0x0a, 0x01, 0x63,
        0x5a, 0x06, 0x0a, 0x01, 0x61, 0x12, 0x01, 0x62, 0x12, 0x06, 0x0a, 0x01, 0x6b, 0x12,
        0x01, 0x76, 0x1a, 0x07, 0x0a, 0x01, 0x62, 0x12, 0x02, 0x00, 0xff, 0x20, 0x01,
    };
    struct jval *o = NULL;
    struct rkc_error err;

    (void)state;
    if (kproto_decode(cm, sizeof(cm), &o, &err))
        fail_msg("%s", err.msg);
    assert_string_equal(jval_get_str(jval_get(o, "metadata"), "name", ""), "c");
    assert_string_equal(jval_get_str(jval_get(jval_get(o, "metadata"), "labels"), "a", ""), "b");
    assert_string_equal(jval_get_str(jval_get(o, "data"), "k", ""), "v");
    assert_string_equal(jval_get_str(jval_get(o, "binaryData"), "b", ""), "AP8=");
    assert_true(jval_get_bool(o, "immutable", false));
    jval_decref(o);
}

static void test_malformed(void **state)
{
    struct strbuf sb = STRBUF_INIT;
    struct jval *o = NULL;
    struct rkc_error err;
    size_t n;

    (void)state;
    assert_int_equal(kproto_decode("k8s", 3, &o, &err), RKC_EINVAL);
    assert_int_equal(kproto_decode("{\"kind\":1}", 10, &o, &err), RKC_EINVAL);
    load("kubectl-create-secret-generic.pb", &sb);
    /* every truncation fails cleanly or decodes; none may crash or leak */
    for (n = 4; n < sb.len; n++) {
        if (kproto_decode(sb.buf, n, &o, &err) == RKC_OK)
            jval_decref(o);
    }
    /* a kind that is not served */
    sb.buf[0x0e] = 'X';
    assert_int_equal(kproto_decode(sb.buf, sb.len, &o, &err), RKC_EINVAL);
    assert_non_null(strstr(err.msg, "unsupported kind"));
    strbuf_release(&sb);
    /* invalid UTF-8 in a name */
    {
        static const unsigned char bad[] = { 'k',  '8',  's',  0,    0x0a, 0x0c, 0x0a, 0x02, 'v',
                                             '1',  0x12, 0x06, 'S',  'e',  'c',  'r',  'e',  't',
                                             0x12, 0x05, 0x0a, 0x03, 0x0a, 0x01, 0xff };
        assert_int_equal(kproto_decode(bad, sizeof(bad), &o, &err), RKC_EINVAL);
        assert_non_null(strstr(err.msg, "UTF-8"));
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_secret_generic), cmocka_unit_test(test_secret_tls),
        cmocka_unit_test(test_namespace),      cmocka_unit_test(test_configmap_built),
        cmocka_unit_test(test_malformed),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
