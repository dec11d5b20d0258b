/* SPDX-License-Identifier: Apache-2.0 */
/* Unit tests for apiserver/kobj: names, keys, selectors, continue tokens, uids, time. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "apiserver/kobj.h"
#include "crypto/b64.h"
#include "util/strbuf.h"

static void test_names(void **state)
{
    (void)state;
    assert_true(kobj_is_dns1123_subdomain("a"));
    assert_true(kobj_is_dns1123_subdomain("example.com"));
    assert_true(kobj_is_dns1123_subdomain("a-b.c-d.e9"));
    assert_false(kobj_is_dns1123_subdomain(""));
    assert_false(kobj_is_dns1123_subdomain("Bad_Name"));
    assert_false(kobj_is_dns1123_subdomain("-a"));
    assert_false(kobj_is_dns1123_subdomain("a-"));
    assert_false(kobj_is_dns1123_subdomain("a..b"));
    assert_false(kobj_is_dns1123_subdomain(".a"));

    char long_name[300];
    memset(long_name, 'a', sizeof(long_name));
    long_name[253] = '\0';
    assert_true(kobj_is_dns1123_subdomain(long_name));
    long_name[253] = 'a';
    long_name[254] = '\0';
    assert_false(kobj_is_dns1123_subdomain(long_name));

    assert_true(kobj_is_dns1123_label("kube-system"));
    assert_false(kobj_is_dns1123_label("a.b"));
    long_name[63] = '\0';
    assert_true(kobj_is_dns1123_label(long_name));
    long_name[63] = 'a';
    long_name[64] = '\0';
    assert_false(kobj_is_dns1123_label(long_name));
}

static void test_config_keys(void **state)
{
    (void)state;
    assert_true(kobj_is_config_key("tls.crt"));
    assert_true(kobj_is_config_key("KEY_NAME"));
    assert_true(kobj_is_config_key("key-name"));
    assert_true(kobj_is_config_key(".hidden"));
    assert_false(kobj_is_config_key(""));
    assert_false(kobj_is_config_key("."));
    assert_false(kobj_is_config_key(".."));
    assert_false(kobj_is_config_key("bad key!"));
    assert_false(kobj_is_config_key("a/b"));
}

static struct jval *labels(const char *json)
{
    struct jval *v = NULL;

    assert_int_equal(jval_parse("t", json, strlen(json), &v, NULL), RKC_OK);
    return v;
}

static bool lmatch(const char *sel, const char *json)
{
    struct kobj_selector *s = NULL;
    struct jval *l = labels(json);
    struct rkc_error err;
    bool r;

    assert_int_equal(kobj_label_selector_parse(sel, &s, &err), RKC_OK);
    r = kobj_label_selector_match(s, l);
    kobj_selector_free(s);
    jval_decref(l);
    return r;
}

static void test_label_selectors(void **state)
{
    (void)state;
    assert_true(lmatch("", "{}"));
    assert_true(lmatch("app=web", "{\"app\":\"web\"}"));
    assert_true(lmatch("app==web", "{\"app\":\"web\"}"));
    assert_false(lmatch("app=web", "{\"app\":\"db\"}"));
    assert_false(lmatch("app=web", "{}"));
    assert_true(lmatch("app!=web", "{}"));
    assert_true(lmatch("app!=web", "{\"app\":\"db\"}"));
    assert_true(lmatch("app in (web, db)", "{\"app\":\"db\"}"));
    assert_false(lmatch("app in (web,db)", "{\"app\":\"x\"}"));
    assert_true(lmatch("app notin (web,db)", "{\"app\":\"x\"}"));
    assert_true(lmatch("app notin (web,db)", "{}"));
    assert_true(lmatch("app", "{\"app\":\"\"}"));
    assert_false(lmatch("!app", "{\"app\":\"\"}"));
    assert_true(lmatch("!app", "{}"));
    assert_true(lmatch("a=1,b in (2,3),!c", "{\"a\":\"1\",\"b\":\"3\"}"));
    assert_false(lmatch("a=1,b in (2,3),!c", "{\"a\":\"1\",\"b\":\"3\",\"c\":\"x\"}"));
    assert_true(lmatch("example.com/tier=gold", "{\"example.com/tier\":\"gold\"}"));

    struct kobj_selector *s = NULL;
    struct rkc_error err;
    assert_int_equal(kobj_label_selector_parse("app in (web", &s, &err), RKC_EINVAL);
    assert_int_equal(kobj_label_selector_parse("=x", &s, &err), RKC_EINVAL);
    assert_int_equal(kobj_label_selector_parse("a=b c", &s, &err), RKC_EINVAL);
}

static void test_field_selectors(void **state)
{
    struct kobj_selector *s = NULL;
    struct rkc_error err;
    struct jval *obj = labels("{\"metadata\":{\"name\":\"s1\",\"namespace\":\"demo\"},"
                              "\"type\":\"Opaque\"}");

    (void)state;
    assert_int_equal(
        kobj_field_selector_parse("metadata.name=s1,metadata.namespace!=x", false, &s, &err),
        RKC_OK);
    assert_true(kobj_field_selector_match(s, obj));
    kobj_selector_free(s);
    assert_int_equal(kobj_field_selector_parse("metadata.name==s2", false, &s, &err), RKC_OK);
    assert_false(kobj_field_selector_match(s, obj));
    kobj_selector_free(s);
    assert_int_equal(kobj_field_selector_parse("type=Opaque", true, &s, &err), RKC_OK);
    assert_true(kobj_field_selector_match(s, obj));
    kobj_selector_free(s);
    assert_int_equal(kobj_field_selector_parse("type=Opaque", false, &s, &err), RKC_EINVAL);
    assert_string_equal(err.msg, "field label not supported: type");
    assert_int_equal(kobj_field_selector_parse("spec.x=1", true, &s, &err), RKC_EINVAL);
    assert_int_equal(kobj_field_selector_parse("nonsense", true, &s, &err), RKC_EINVAL);
    jval_decref(obj);
}

static void test_continue_tokens(void **state)
{
    struct strbuf tok = STRBUF_INIT;
    struct rkc_error err;
    char *start = NULL;
    size_t len = 0;
    int64_t rv = 0;

    (void)state;
    /* the exact bytes kube-apiserver produced (list-secrets-limit2.json) */
    kobj_continue_encode(205, "fx2\0", 4, &tok);
    assert_string_equal(tok.buf,
                        "eyJ2IjoibWV0YS5rOHMuaW8vdjEiLCJydiI6MjA1LCJzdGFydCI6ImZ4Mlx1MDAwMCJ9");
    assert_int_equal(kobj_continue_decode(tok.buf, &rv, &start, &len, &err), RKC_OK);
    assert_int_equal(rv, 205);
    assert_int_equal(len, 4);
    assert_memory_equal(start, "fx2\0", 4);
    free(start);

    /* the 410 token from kube-apiserver: rv -1, cluster-wide start key */
    assert_int_equal(kobj_continue_decode("eyJ2IjoibWV0YS5rOHMuaW8vdjEiLCJydiI6LTEsInN0YXJ0Ijoi"
                                          "ZGVmYXVsdC9meDFcdTAwMDAifQ",
                                          &rv, &start, &len, &err),
                     RKC_OK);
    assert_int_equal(rv, -1);
    assert_memory_equal(start, "default/fx1\0", 12);
    free(start);

    assert_int_equal(kobj_continue_decode("!!!", &rv, &start, &len, &err), RKC_EINVAL);
    strbuf_reset(&tok);
    b64url_encode("{\"v\":\"other\",\"rv\":1,\"start\":\"a\"}", 31, &tok);
    assert_int_equal(kobj_continue_decode(tok.buf, &rv, &start, &len, &err), RKC_EINVAL);
    strbuf_reset(&tok);
    b64url_encode("{\"v\":\"meta.k8s.io/v1\",\"rv\":1,\"start\":\"../x\"}", 44, &tok);
    assert_int_equal(kobj_continue_decode(tok.buf, &rv, &start, &len, &err), RKC_EINVAL);
    strbuf_reset(&tok);
    b64url_encode("{\"v\":\"meta.k8s.io/v1\",\"start\":\"a\"}", 34, &tok);
    assert_int_equal(kobj_continue_decode(tok.buf, &rv, &start, &len, &err), RKC_EINVAL);
    strbuf_release(&tok);
}

static void test_uid_time_suffix(void **state)
{
    char a[KOBJ_UID_SIZE], b[KOBJ_UID_SIZE], t[KOBJ_TIME_SIZE];
    struct strbuf s = STRBUF_INIT;
    size_t i;

    (void)state;
    kobj_new_uid(a);
    kobj_new_uid(b);
    assert_int_equal(strlen(a), 36);
    assert_string_not_equal(a, b);
    assert_int_equal(a[14], '4');
    assert_true(a[8] == '-' && a[13] == '-' && a[18] == '-' && a[23] == '-');
    kobj_now(t);
    assert_int_equal(strlen(t), 20);
    assert_int_equal(t[10], 'T');
    assert_int_equal(t[19], 'Z');
    kobj_random_suffix(5, &s);
    assert_int_equal(s.len, 5);
    for (i = 0; i < s.len; i++)
        assert_non_null(strchr("bcdfghjklmnpqrstvwxz2456789", s.buf[i]));
    strbuf_release(&s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_names),           cmocka_unit_test(test_config_keys),
        cmocka_unit_test(test_label_selectors), cmocka_unit_test(test_field_selectors),
        cmocka_unit_test(test_continue_tokens), cmocka_unit_test(test_uid_time_suffix),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
