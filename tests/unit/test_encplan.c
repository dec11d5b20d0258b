/* SPDX-License-Identifier: Apache-2.0 */
/* Unit tests for core/encplan: merged configs for each step of an encryption change. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "core/encplan.h"

static const unsigned char k1[32] = { 1 };
static const unsigned char k2[32] = { 2 };

static struct encconfig *managed(const char *name, const unsigned char *secret, bool id_first)
{
    struct encconfig_managed_key k = { name, secret, 32 };

    return encconfig_new_managed(&k, NULL, 0, id_first);
}

static struct encconfig *parse(const char *yaml)
{
    struct encconfig *cfg = NULL;
    struct encconfig_diag d;
    struct rkc_error err;

    encconfig_diag_init(&d);
    if (encconfig_parse("t.yaml", yaml, strlen(yaml), &cfg, &d, &err)) {
        print_error("%s\n", err.msg);
        fail();
    }
    encconfig_diag_release(&d);
    return cfg;
}

/* "secrets: aescbc[k-1] identity" */
static void describe(const struct encconfig *cfg, char *out, size_t size)
{
    size_t i, j, k, off = 0;

    out[0] = '\0';
    for (i = 0; i < cfg->nresources; i++) {
        const struct encconfig_resource *r = &cfg->resources[i];

        for (j = 0; j < r->nnames; j++)
            off += (size_t)snprintf(out + off, size - off, "%s%s", j ? "," : (i ? "; " : ""),
                                    r->names[j]);
        off += (size_t)snprintf(out + off, size - off, ":");
        for (j = 0; j < r->nproviders; j++) {
            const struct encconfig_provider *p = &r->providers[j];

            off += (size_t)snprintf(out + off, size - off, " %s", encconfig_kind_name(p->kind));
            if (p->kind == ENCCONFIG_KMS)
                off += (size_t)snprintf(out + off, size - off, "[%s]", p->kms.name);
            for (k = 0; k < p->nkeys; k++)
                off +=
                    (size_t)snprintf(out + off, size - off, "%s%s", k ? "," : "[", p->keys[k].name);
            if (p->nkeys)
                off += (size_t)snprintf(out + off, size - off, "]");
        }
    }
}

static void assert_valid(const struct encconfig *cfg)
{
    struct encconfig_diag d;
    struct rkc_error err;

    encconfig_diag_init(&d);
    if (encconfig_validate(cfg, false, &d, &err)) {
        struct strbuf sb = STRBUF_INIT;

        encconfig_diag_format(&d, 1u << ENCCONFIG_ERROR, &sb);
        print_error("%s\n", sb.buf);
        fail();
    }
    encconfig_diag_release(&d);
}

static void test_enable(void **state)
{
    struct encconfig *b = managed("k-aaaaa", k1, false);
    struct encconfig *prep = encplan_merge(NULL, b), *prom = encplan_merge(b, NULL);
    char buf[512];

    (void)state;
    describe(prep, buf, sizeof(buf));
    assert_string_equal(buf, "secrets: identity aescbc[k-aaaaa]");
    describe(prom, buf, sizeof(buf));
    assert_string_equal(buf, "secrets: aescbc[k-aaaaa] identity");
    assert_true(encconfig_equal(prom, b));
    assert_valid(prep);
    assert_false(encplan_writes_plaintext(b, "secrets"));
    assert_true(encplan_writes_plaintext(prep, "secrets"));
    assert_true(encplan_writes_plaintext(NULL, "secrets"));
    encconfig_free(prep);
    encconfig_free(prom);
    encconfig_free(b);
}

static void test_disable(void **state)
{
    struct encconfig *a = managed("k-aaaaa", k1, false);
    struct encconfig *prom = encplan_merge(NULL, a);
    char buf[512];

    (void)state;
    assert_null(encplan_merge(NULL, NULL));
    describe(prom, buf, sizeof(buf));
    assert_string_equal(buf, "secrets: identity aescbc[k-aaaaa]");
    encconfig_free(prom);
    encconfig_free(a);
}

static void test_rotate(void **state)
{
    struct encconfig *a = managed("k-aaaaa", k1, false), *b = managed("k-bbbbb", k2, false);
    struct encconfig *prep = encplan_merge(a, b), *prom = encplan_merge(b, a);
    char buf[512];

    (void)state;
    describe(prep, buf, sizeof(buf));
    assert_string_equal(buf, "secrets: aescbc[k-aaaaa] identity aescbc[k-bbbbb]");
    describe(prom, buf, sizeof(buf));
    assert_string_equal(buf, "secrets: aescbc[k-bbbbb] identity aescbc[k-aaaaa]");
    assert_valid(prep);
    assert_valid(prom);
    encconfig_free(prep);
    encconfig_free(prom);
    encconfig_free(a);
    encconfig_free(b);
}

static void test_custom_change_drops_resource(void **state)
{
    struct encconfig *a = parse("apiVersion: apiserver.config.k8s.io/v1\n"
                                "kind: EncryptionConfiguration\n"
                                "resources:\n"
                                "- resources: [secrets, configmaps]\n"
                                "  providers:\n"
                                "  - aesgcm: {keys: [{name: g1, secret: "
                                "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=}]}\n"
                                "  - identity: {}\n");
    struct encconfig *b = parse("apiVersion: apiserver.config.k8s.io/v1\n"
                                "kind: EncryptionConfiguration\n"
                                "resources:\n"
                                "- resources: [secrets]\n"
                                "  providers:\n"
                                "  - kms: {apiVersion: v2, name: kp, endpoint: unix:///s.sock}\n"
                                "  - identity: {}\n");
    struct encconfig *prom = encplan_merge(b, a);
    char **names = NULL;
    char buf[512];

    (void)state;
    describe(prom, buf, sizeof(buf));
    assert_string_equal(buf,
                        "secrets: kms[kp] identity aesgcm[g1]; configmaps: identity aesgcm[g1]");
    assert_valid(prom);
    assert_int_equal(encplan_resources(a, b, &names), 2);
    assert_string_equal(names[0], "secrets");
    assert_string_equal(names[1], "configmaps");
    assert_null(names[2]);
    encplan_resources_free(names);
    encconfig_free(prom);
    encconfig_free(a);
    encconfig_free(b);
}

static void test_wildcards(void **state)
{
    struct encconfig *a = parse("apiVersion: apiserver.config.k8s.io/v1\n"
                                "kind: EncryptionConfiguration\n"
                                "resources:\n"
                                "- resources: ['*.*']\n"
                                "  providers:\n"
                                "  - secretbox: {keys: [{name: s1, secret: "
                                "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=}]}\n");
    struct encconfig *b = managed("k-bbbbb", k2, false);
    struct encconfig *prom = encplan_merge(b, a);
    char **names = NULL;
    char buf[512];

    (void)state;
    describe(prom, buf, sizeof(buf));
    /* explicit names first, so the wildcard masks nothing */
    assert_string_equal(buf, "secrets: aescbc[k-bbbbb] identity secretbox[s1]; *.*: identity "
                             "secretbox[s1]");
    assert_valid(prom);
    assert_int_equal(encplan_resources(a, b, &names), 2);
    encplan_resources_free(names);
    encconfig_free(prom);
    encconfig_free(a);
    encconfig_free(b);
}

static void test_rotate_target(void **state)
{
    struct encconfig *a = parse("apiVersion: apiserver.config.k8s.io/v1\n"
                                "kind: EncryptionConfiguration\n"
                                "resources:\n"
                                "- resources: [secrets]\n"
                                "  providers:\n"
                                "  - aesgcm: {keys: [{name: g1, secret: "
                                "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=}, {name: g0, "
                                "secret: c2VjcmV0IGlzIHNlY3VyZQ==}]}\n"
                                "  - identity: {}\n"
                                "- resources: [configmaps]\n"
                                "  providers:\n"
                                "  - secretbox: {keys: [{name: s1, secret: "
                                "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=}]}\n");
    struct encconfig *kms = parse("apiVersion: apiserver.config.k8s.io/v1\n"
                                  "kind: EncryptionConfiguration\n"
                                  "resources:\n"
                                  "- resources: [secrets]\n"
                                  "  providers:\n"
                                  "  - kms: {apiVersion: v2, name: kp, endpoint: "
                                  "unix:///s.sock}\n");
    struct encconfig *b = NULL, *prom;
    struct rkc_error err;
    char buf[512];

    (void)state;
    assert_int_equal(encplan_rotate(a, "k-new00", k2, 32, &b, &err), RKC_OK);
    describe(b, buf, sizeof(buf));
    assert_string_equal(buf, "secrets: aesgcm[k-new00] identity; configmaps: secretbox[k-new00]");
    prom = encplan_merge(b, a);
    describe(prom, buf, sizeof(buf));
    assert_string_equal(buf, "secrets: aesgcm[k-new00] identity aesgcm[g1,g0]; configmaps: "
                             "secretbox[k-new00] secretbox[s1]");
    assert_valid(prom);
    encconfig_free(prom);
    encconfig_free(b);
    assert_int_equal(encplan_rotate(kms, "k-new00", k2, 32, &b, &err), RKC_EINVAL);
    assert_non_null(strstr(err.msg, "resources[0] writes with the kms provider 'kp': a KMS "
                                    "plugin rotates its own key-encryption key"));
    encconfig_free(kms);
    encconfig_free(a);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_enable),    cmocka_unit_test(test_disable),
        cmocka_unit_test(test_rotate),    cmocka_unit_test(test_custom_change_drops_resource),
        cmocka_unit_test(test_wildcards), cmocka_unit_test(test_rotate_target),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
