/* SPDX-License-Identifier: Apache-2.0 */
/*
 * test_verify: classification of stored values by the provider/key that reads them (writer,
 * older key, later provider, plaintext, unreadable, stale), the bounded name lists, the
 * verdict, and the etcd key prefix normalisation.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/verify.h"
#include "crypto/transformer.h"
#include "util/strbuf.h"

static const uint8_t k1[32] = { 1 }, k2[32] = { 2 }, k3[32] = { 3 };

/* [aescbc(names/secrets...), identity?] */
static struct xf_chain *chain_of(const char *const *names, const uint8_t *const *secrets, size_t n,
                                 bool identity_first, bool identity_last)
{
    struct xf_chain *c = xf_chain_new();
    struct xf_key keys[4];
    struct xf_provider *p = NULL;
    size_t i;

    for (i = 0; i < n; i++) {
        keys[i].name = names[i];
        keys[i].secret = secrets[i];
        keys[i].secret_len = 32;
    }
    if (identity_first)
        xf_chain_add_take(c, xf_identity_new());
    assert_int_equal(xf_keyed_new(XF_AESCBC, keys, n, &p, NULL), RKC_OK);
    xf_chain_add_take(c, p);
    if (identity_last)
        xf_chain_add_take(c, xf_identity_new());
    return c;
}

static void seal(const struct xf_chain *c, const char *key, struct strbuf *out)
{
    static const char obj[] = "{\"kind\":\"Secret\",\"data\":{\"pw\":\"aHVudGVyMg==\"}}";

    assert_int_equal(xf_chain_write(c, key, (const uint8_t *)obj, strlen(obj), out, NULL), RKC_OK);
}

static void test_classify(void **ctx)
{
    static const char *const n21[] = { "k2", "k1" }, *const n1[] = { "k1" }, *const n3[] = { "k3" };
    static const uint8_t *const s21[] = { k2, k1 }, *const s1[] = { k1 }, *const s3[] = { k3 };
    struct xf_chain *expect = chain_of(n21, s21, 2, false, true);
    struct xf_chain *old = chain_of(n1, s1, 1, false, true);
    struct xf_chain *other = chain_of(n3, s3, 1, false, true);
    struct verify_report r;
    struct strbuf v = STRBUF_INIT;
    char key[64];
    int i;

    (void)ctx;
    verify_report_init(&r);
    for (i = 0; i < 3; i++) { /* on the writer */
        snprintf(key, sizeof(key), "/registry/secrets/ns/w%d", i);
        seal(expect, key, &v);
        verify_classify(&r, expect, key, (const uint8_t *)v.buf, v.len);
    }
    for (i = 0; i < 150; i++) { /* on the older key: stale */
        snprintf(key, sizeof(key), "/registry/secrets/ns/o%d", i);
        seal(old, key, &v);
        verify_classify(&r, expect, key, (const uint8_t *)v.buf, v.len);
    }
    strbuf_reset(&v);
    strbuf_addstr(&v, "{\"kind\":\"Secret\"}"); /* plaintext, read by identity */
    verify_classify(&r, expect, "/registry/secrets/ns/plain", (const uint8_t *)v.buf, v.len);
    seal(other, "/registry/secrets/ns/k3", &v); /* a key the config does not have */
    verify_classify(&r, expect, "/registry/secrets/ns/k3", (const uint8_t *)v.buf, v.len);
    verify_finish(&r);

    assert_string_equal(r.writer, "aescbc key k2");
    assert_int_equal(r.total, 155);
    assert_int_equal(r.ncounts, 3);
    assert_string_equal(r.counts[0].key_name, "k2");
    assert_true(r.counts[0].writer);
    assert_int_equal(r.counts[0].count, 3);
    assert_string_equal(r.counts[1].key_name, "k1");
    assert_int_equal(r.counts[1].key_index, 1);
    assert_int_equal(r.counts[1].count, 150);
    assert_int_equal(r.counts[2].kind, XF_IDENTITY);
    assert_int_equal(r.counts[2].provider_index, 1);
    assert_int_equal(r.counts[2].count, 1);
    assert_int_equal(r.plaintext, 1);
    assert_int_equal(r.unreadable, 1);
    assert_int_equal(r.unreadable_keys.nr, 1);
    assert_string_equal(r.unreadable_keys.v[0].key, "/registry/secrets/ns/k3");
    assert_int_equal(r.stale, 151);
    assert_int_equal(r.not_on_writer, 151);
    assert_int_equal(r.not_on_writer_keys.nr, VERIFY_MAX_NAMED);
    assert_string_equal(r.not_on_writer_keys.v[0].key, "/registry/secrets/ns/o0");
    assert_string_equal(r.not_on_writer_keys.v[0].reason, "read by aescbc key k1 (stale)");
    assert_false(r.ok);
    /* names only: no reason quotes the stored object */
    for (i = 0; i < (int)r.not_on_writer_keys.nr; i++)
        assert_null(strstr(r.not_on_writer_keys.v[i].reason, "hunter"));
    assert_null(strstr(r.unreadable_keys.v[0].reason, "aHVudGVy"));
    verify_report_release(&r);
    assert_null(r.writer);
    verify_report_release(NULL);

    /* everything on the writer: ok */
    verify_report_init(&r);
    seal(expect, "/registry/secrets/a/b", &v);
    verify_classify(&r, expect, "/registry/secrets/a/b", (const uint8_t *)v.buf, v.len);
    verify_finish(&r);
    assert_true(r.ok);
    verify_report_release(&r);

    strbuf_release_wipe(&v);
    xf_chain_free(expect);
    xf_chain_free(old);
    xf_chain_free(other);
}

static void test_identity_writer(void **ctx)
{
    static const char *const n1[] = { "k1" };
    static const uint8_t *const s1[] = { k1 };
    struct xf_chain *decrypting = chain_of(n1, s1, 1, true, false);
    struct xf_chain *enc = chain_of(n1, s1, 1, false, false);
    struct verify_report r;
    struct strbuf v = STRBUF_INIT;

    (void)ctx;
    verify_report_init(&r);
    strbuf_addstr(&v, "{}");
    verify_classify(&r, decrypting, "/registry/secrets/a/p", (const uint8_t *)v.buf, v.len);
    seal(enc, "/registry/secrets/a/e", &v);
    verify_classify(&r, decrypting, "/registry/secrets/a/e", (const uint8_t *)v.buf, v.len);
    verify_finish(&r);
    assert_string_equal(r.writer, "identity");
    assert_int_equal(r.plaintext, 1);
    assert_int_equal(r.counts[0].count, 1);
    assert_int_equal(r.counts[1].count, 1);
    assert_int_equal(r.not_on_writer, 1);
    assert_string_equal(r.not_on_writer_keys.v[0].reason, "read by aescbc key k1 (stale)");
    assert_false(r.ok);
    verify_report_release(&r);

    /* an encrypting chain without identity: plaintext is unreadable, and counted as both */
    verify_report_init(&r);
    strbuf_reset(&v);
    strbuf_addstr(&v, "{}");
    verify_classify(&r, enc, "/registry/secrets/a/p", (const uint8_t *)v.buf, v.len);
    verify_finish(&r);
    assert_int_equal(r.plaintext, 1);
    assert_int_equal(r.unreadable, 1);
    assert_string_equal(r.unreadable_keys.v[0].reason, "no matching prefix found");
    assert_false(r.ok);
    verify_report_release(&r);
    strbuf_release_wipe(&v);
    xf_chain_free(decrypting);
    xf_chain_free(enc);
}

static void test_key_prefix(void **ctx)
{
    static const struct {
        const char *prefix, *resource, *want;
    } cases[] = {
        { "/registry", "secrets", "/registry/secrets/" },
        { "registry", "secrets", "/registry/secrets/" },
        { "/registry/", "configmaps", "/registry/configmaps/" },
        { "//a//b//", "deployments.apps", "/a/b/deployments/" },
        { "/", "secrets", "/secrets/" },
        { "", "secrets", "/secrets/" },
        { NULL, "secrets", "/registry/secrets/" },
    };
    size_t i;

    (void)ctx;
    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct strbuf sb = STRBUF_INIT;

        verify_key_prefix(cases[i].prefix, cases[i].resource, &sb);
        assert_string_equal(sb.buf, cases[i].want);
        strbuf_release(&sb);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_classify),
        cmocka_unit_test(test_identity_writer),
        cmocka_unit_test(test_key_prefix),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
