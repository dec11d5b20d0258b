/* SPDX-License-Identifier: Apache-2.0 */
/*
 * test_encconfig: EncryptionConfiguration parsing, every validation rule (message, field and
 * position), rkc's extra checks, defaults, emit/parse round trips, hashing, resource lookup,
 * building transformer chains (with the KMS mock) and managed configs.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "crypto/encconfig.h"
#include "crypto/kms_mock.h"
#include "crypto/transformer.h"
#include "util/strbuf.h"
#include "util/xalloc.h"

#define HDR "apiVersion: apiserver.config.k8s.io/v1\nkind: EncryptionConfiguration\nresources:\n"
#define K16 "c2VjcmV0IGlzIHNlY3VyZQ=="                     /* "secret is secure" */
#define K32 "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=" /* bytes 00..1f */

static struct encconfig *parse_ok(const char *yaml)
{
    struct encconfig *cfg = NULL;
    struct rkc_error err;
    enum rkc_err rc = encconfig_parse("t.yaml", yaml, strlen(yaml), &cfg, NULL, &err);

    if (rc)
        fail_msg("parse failed: %s", err.msg);
    return cfg;
}

/* Column (1-based) of the first occurrence of at on 1-based line of text. */
static size_t col_of(const char *text, size_t line, const char *at)
{
    const char *p = text, *nl, *hit;
    size_t l;

    for (l = 1; l < line; l++) {
        p = strchr(p, '\n');
        assert_non_null(p);
        p++;
    }
    nl = strchr(p, '\n');
    hit = strstr(p, at);
    if (!hit || (nl && hit > nl))
        fail_msg("'%s' not on line %zu", at, line);
    return (size_t)(hit - p) + 1;
}

/* Parses and validates; returns the diagnostics (parse problems included). */
static void diags_of(const char *yaml, bool reload, struct encconfig_diag *d)
{
    struct encconfig *cfg = NULL;

    encconfig_diag_init(d);
    if (encconfig_parse("t.yaml", yaml, strlen(yaml), &cfg, d, NULL) == RKC_OK)
        encconfig_validate(cfg, reload, d, NULL);
    encconfig_free(cfg);
}

static void dump(const struct encconfig_diag *d)
{
    struct strbuf sb = STRBUF_INIT;

    encconfig_diag_format(d, 3, &sb);
    print_message("diagnostics:\n%s", sb.buf);
    strbuf_release(&sb);
}

static void expect_diag_sev(const char *yaml, bool reload, enum encconfig_severity sev, size_t line,
                            const char *at, const char *field, const char *msg)
{
    struct encconfig_diag d;
    size_t col = at ? col_of(yaml, line, at) : 0, i;

    diags_of(yaml, reload, &d);
    for (i = 0; i < d.nr; i++) {
        const struct encconfig_diag_item *it = &d.items[i];

        if (it->severity == sev && !strcmp(it->field, field) && !strcmp(it->message, msg)) {
            if (it->line != line || it->col != col) {
                dump(&d);
                fail_msg("'%s' at %zu:%zu, expected %zu:%zu", msg, it->line, it->col, line, col);
            }
            encconfig_diag_release(&d);
            return;
        }
    }
    dump(&d);
    encconfig_diag_release(&d);
    fail_msg("missing %s: %s: %s", sev == ENCCONFIG_ERROR ? "error" : "warning", field, msg);
}

static void expect_error(const char *yaml, size_t line, const char *at, const char *field,
                         const char *msg)
{
    expect_diag_sev(yaml, false, ENCCONFIG_ERROR, line, at, field, msg);
}

static size_t count_errors(const char *yaml, bool reload)
{
    struct encconfig_diag d;
    size_t n;

    diags_of(yaml, reload, &d);
    n = d.nerrors;
    if (n)
        dump(&d);
    encconfig_diag_release(&d);
    return n;
}

/* ---- kube-apiserver rules ---- */

static void test_resources_required(void **state)
{
    (void)state;
    expect_error(HDR "  []\n", 4, "[]", "resources",
                 "Required value: at least one resources is required");
    expect_error("apiVersion: apiserver.config.k8s.io/v1\nkind: EncryptionConfiguration\n", 1,
                 "apiVersion", "resources", "Required value: at least one resources is required");
    expect_error(HDR "  - resources: []\n    providers: [{identity: {}}]\n", 4, "[]",
                 "resources[0].resources",
                 "Required value: at least one resources[0].resources is required");
    expect_error(HDR "  - providers: [{identity: {}}]\n", 4, "providers", "resources[0].resources",
                 "Required value: at least one resources[0].resources is required");
    expect_error(HDR "  - resources: [secrets]\n    providers: []\n", 5, "[]",
                 "resources[0].providers",
                 "Required value: at least one resources[0].providers is required");
}

static void test_resource_names(void **state)
{
    static const struct {
        const char *name;
        const char *msg;
    } cases[] = {
        { "Secrets", "resource name should not contain capital letters" },
        { "\"*\"", "use '*.' to encrypt all the resources from core API group or *.* to encrypt "
                   "all resources" },
        { "apiserveripinfo", "resources which do not have REST API/s cannot be encrypted" },
        { "serviceipallocations", "resources which do not have REST API/s cannot be encrypted" },
        { "servicenodeportallocations",
          "resources which do not have REST API/s cannot be encrypted" },
        { "events.events.k8s.io", "'*.events.k8s.io' objects are stored using the 'events' API "
                                  "group in etcd. Use 'events' instead in the config file" },
        { "\"*.events.k8s.io\"", "'*.events.k8s.io' objects are stored using the 'events' API "
                                 "group in etcd. Use 'events' instead in the config file" },
        { "ingresses.extensions",
          "'extensions' group has been removed and cannot be used for encryption" },
        { "\"secrets.*\"", "encrypting the same resource across groups is not supported" },
    };
    size_t i;

    (void)state;
    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char *yaml = xasprintf(HDR "  - resources:\n      - %s\n    providers: [{identity: {}}]\n",
                               cases[i].name);
        const char *plain = cases[i].name[0] == '"' ? cases[i].name + 1 : cases[i].name;
        char *unq = xstrndup(plain, strcspn(plain, "\""));
        char *msg = xasprintf("Invalid value: \"%s\": %s", unq, cases[i].msg);

        expect_error(yaml, 5, cases[i].name, "resources[0].resources[0]", msg);
        free(msg);
        free(unq);
        free(yaml);
    }
}

static void test_resource_overlap(void **state)
{
    (void)state;
    expect_error(HDR "  - resources: [secrets, secrets]\n    providers: [{identity: {}}]\n", 4,
                 "[secrets", "resources[0].resources",
                 "Invalid value: []string{\"secrets\", \"secrets\"}: the same resource cannot be "
                 "specified multiple times");
    expect_error(HDR "  - resources: [secrets, \"*.\"]\n    providers: [{identity: {}}]\n", 4,
                 "[secrets", "resources[0].resources",
                 "Invalid value: []string{\"secrets\", \"*.\"}: using overlapping resources such "
                 "as 'secrets' and '*.' in the same resource list is not allowed as they will be "
                 "masked");
    expect_error(HDR
                 "  - resources: [\"*.*\", deployments.apps]\n    providers: [{identity: {}}]\n",
                 4, "[", "resources[0].resources",
                 "Invalid value: []string{\"*.*\", \"deployments.apps\"}: using overlapping "
                 "resources such as 'secrets' and '*.' in the same resource list is not allowed "
                 "as they will be masked");
    /* different groups do not overlap */
    assert_int_equal(
        count_errors(HDR "  - resources: [secrets, \"*.apps\"]\n    providers: [{identity: {}}]\n",
                     false),
        0);
}

static void test_masking(void **state)
{
    const char *yaml = HDR "  - resources: [\"*.\"]\n    providers: [{identity: {}}]\n"
                           "  - resources: [\"*.*\"]\n    providers: [{identity: {}}]\n"
                           "  - resources: [secrets]\n    providers: [{identity: {}}]\n"
                           "  - resources: [deployments.apps]\n    providers: [{identity: {}}]\n"
                           "  - resources: [\"*.*\"]\n    providers: [{identity: {}}]\n";

    (void)state;
    expect_error(yaml, 8, "secrets", "resources[2].resources[0]",
                 "resource \"secrets\" is masked by earlier rule \"*.\"");
    expect_error(yaml, 10, "deployments", "resources[3].resources[0]",
                 "resource \"deployments.apps\" is masked by earlier rule \"*.*\"");
    expect_error(yaml, 12, "\"*.*\"", "resources[4].resources[0]",
                 "resource \"*.*\" is masked by earlier rule \"*.*\"");
    /* an exemption before the wildcard is fine, and the same exact resource twice too */
    assert_int_equal(count_errors(HDR "  - resources: [events]\n    providers: [{identity: {}}]\n"
                                      "  - resources: [secrets]\n    providers: [{identity: {}}]\n"
                                      "  - resources: [secrets]\n    providers: [{identity: {}}]\n"
                                      "  - resources: [\"*.*\"]\n    providers: [{identity: {}}]\n",
                                  false),
                     0);
}

static void test_provider_element(void **state)
{
    (void)state;
    expect_error(HDR "  - resources: [secrets]\n    providers:\n      - {}\n", 6, "{}",
                 "resources[0].providers[0]",
                 "Invalid value: {}: provider does not contain any of the expected providers: "
                 "KMS, AESGCM, AESCBC, Secretbox, Identity");
    /* a null provider value is "not set", as a nil pointer in Go */
    expect_error(HDR "  - resources: [secrets]\n    providers:\n      - identity:\n", 6, "identity",
                 "resources[0].providers[0]",
                 "Invalid value: {}: provider does not contain any of the expected providers: "
                 "KMS, AESGCM, AESCBC, Secretbox, Identity");
    expect_error(HDR "  - resources: [secrets]\n    providers:\n"
                     "      - identity: {}\n        aescbc: {keys: [{name: a, secret: " K16 "}]}\n",
                 6, "identity", "resources[0].providers[0]",
                 "Invalid value: {aescbc, identity}: more than one provider specified in a single "
                 "element, should split into different list elements");
}

static void test_keys(void **state)
{
    static const char *const kinds[] = { "aescbc", "aesgcm", "secretbox" };
    size_t i;

    (void)state;
    for (i = 0; i < 3; i++) {
        char *y, *f;

        y = xasprintf(HDR "  - resources: [secrets]\n    providers:\n      - %s:\n"
                          "          keys: []\n",
                      kinds[i]);
        f = xasprintf("resources[0].providers[0].%s.keys", kinds[i]);
        expect_error(y, 7, "[]", f, "Required value: at least one keys is required");
        free(y);
        free(f);

        y = xasprintf(HDR "  - resources: [secrets]\n    providers:\n      - %s:\n"
                          "          keys:\n            - name: \"\"\n              secret: \"\"\n",
                      kinds[i]);
        f = xasprintf("resources[0].providers[0].%s.keys[0].name", kinds[i]);
        expect_error(y, 8, "\"\"", f, "Required value: name is a mandatory field for a key");
        free(f);
        f = xasprintf("resources[0].providers[0].%s.keys[0].secret", kinds[i]);
        expect_error(y, 9, "\"\"", f, "Required value: secret is a mandatory field for a key");
        free(y);

        y = xasprintf(HDR "  - resources: [secrets]\n    providers:\n      - %s:\n"
                          "          keys:\n            - name: k\n              secret: abc$\n",
                      kinds[i]);
        expect_error(y, 9, "abc$", f,
                     "Invalid value: \"REDACTED\": secrets must be base64 encoded");
        free(y);

        y = xasprintf(HDR "  - resources: [secrets]\n    providers:\n      - %s:\n"
                          "          keys:\n            - name: k\n              secret: "
                          "c2VjcmV0IQ==\n",
                      kinds[i]);
        {
            char *m = xasprintf("Invalid value: \"REDACTED\": secret is not of the expected "
                                "length, got 7, expected one of %s",
                                i == 2 ? "[32]" : "[16 24 32]");

            expect_error(y, 9, "c2Vj", f, m);
            free(m);
        }
        free(y);
        free(f);
    }
    /* 16 bytes: fine for AES, not for secretbox */
    expect_error(HDR "  - resources: [secrets]\n    providers:\n      - secretbox:\n"
                     "          keys: [{name: k, secret: " K16 "}]\n",
                 7, K16, "resources[0].providers[0].secretbox.keys[0].secret",
                 "Invalid value: \"REDACTED\": secret is not of the expected length, got 16, "
                 "expected one of [32]");
    assert_int_equal(count_errors(HDR "  - resources: [secrets]\n    providers:\n"
                                      "      - aescbc: {keys: [{name: a, secret: " K16 "}]}\n"
                                      "      - aesgcm: {keys: [{name: a, secret: " K32 "}]}\n"
                                      "      - secretbox: {keys: [{name: a, secret: " K32 "}]}\n",
                                  false),
                     0);
    /* Go's StdEncoding ignores CR/LF inside the secret */
    assert_int_equal(count_errors(HDR "  - resources: [secrets]\n    providers:\n"
                                      "      - aescbc:\n          keys:\n            - name: a\n"
                                      "              secret: |\n"
                                      "                c2VjcmV0IGlz\n"
                                      "                IHNlY3VyZQ==\n",
                                  false),
                     0);
}

#define KMS(body) HDR "  - resources: [secrets]\n    providers:\n      - kms:\n" body

static void test_kms_rules(void **state)
{
    const char *y;

    (void)state;
    y = KMS("          apiVersion: v2\n          endpoint: unix:///k.sock\n");
    expect_error(y, 7, "apiVersion", "resources[0].providers[0].kms.name",
                 "Required value: name is a mandatory field for a provider");
    y = KMS("          apiVersion: v2\n          name: a:b\n          endpoint: unix:///k.sock\n");
    expect_error(y, 8, "a:b", "resources[0].providers[0].kms.name",
                 "Invalid value: \"a:b\": invalid KMS provider name a:b, must not contain ':'");
    /* v1 names may contain ':' */
    assert_int_equal(
        count_errors(KMS("          name: a:b\n          endpoint: unix:///k.sock\n"), false), 0);
    y = KMS("          apiVersion: v2\n          name: p\n          endpoint: unix:///k.sock\n"
            "      - kms:\n          apiVersion: v2\n          name: p\n"
            "          endpoint: unix:///k.sock\n");
    expect_error(y, 12, "p", "resources[0].providers[1].kms.name",
                 "Invalid value: \"p\": duplicate KMS provider name p, names must be unique");
    /* v1 duplicates only matter with reload */
    y = KMS("          name: p\n          endpoint: unix:///k.sock\n"
            "      - kms:\n          name: p\n          endpoint: unix:///k.sock\n");
    assert_int_equal(count_errors(y, false), 0);
    expect_diag_sev(y, true, ENCCONFIG_ERROR, 10, "p", "resources[0].providers[1].kms.name",
                    "Invalid value: \"p\": duplicate KMS provider name p, names must be unique");

    y = KMS("          name: p\n          endpoint: unix:///k.sock\n          timeout: -1m30s\n");
    expect_error(y, 9, "-1m30s", "resources[0].providers[0].kms.timeout",
                 "Invalid value: -1m30s: timeout should be a positive value");
    y = KMS("          name: p\n          endpoint: unix:///k.sock\n          timeout: 0s\n");
    expect_error(y, 9, "0s", "resources[0].providers[0].kms.timeout",
                 "Invalid value: 0s: timeout should be a positive value");
    y = KMS("          name: p\n          endpoint: unix:///k.sock\n          timeout: 3 s\n");
    expect_error(y, 9, "3 s", "resources[0].providers[0].kms.timeout",
                 "time: invalid duration \"3 s\"");

    y = KMS("          name: p\n");
    expect_error(y, 7, "name", "resources[0].providers[0].kms.endpoint",
                 "Invalid value: \"\": endpoint is a mandatory field for a kms");
    y = KMS("          name: p\n          endpoint: \"unix://%zz/x\"\n");
    expect_error(y, 8, "\"unix", "resources[0].providers[0].kms.endpoint",
                 "Invalid value: \"unix://%zz/x\": invalid endpoint for kms provider, error: parse "
                 "\"unix://%zz/x\": invalid URL escape \"%zz\"");
    y = KMS("          name: p\n          endpoint: \"://x\"\n");
    expect_error(y, 8, "\"://", "resources[0].providers[0].kms.endpoint",
                 "Invalid value: \"://x\": invalid endpoint for kms provider, error: parse "
                 "\"://x\": missing protocol scheme");
    y = KMS("          name: p\n          endpoint: https://kms.example.com\n");
    expect_error(y, 8, "https", "resources[0].providers[0].kms.endpoint",
                 "Invalid value: \"https://kms.example.com\": unsupported scheme \"https\" for "
                 "KMS provider, only unix is supported");
    y = KMS("          name: p\n          endpoint: /var/run/kms.sock\n");
    expect_error(y, 8, "/var", "resources[0].providers[0].kms.endpoint",
                 "Invalid value: \"/var/run/kms.sock\": unsupported scheme \"\" for KMS "
                 "provider, only unix is supported");

    y = KMS("          apiVersion: v2\n          name: p\n          endpoint: unix:///k.sock\n"
            "          cachesize: 100\n");
    expect_error(y, 10, "100", "resources[0].providers[0].kms.cachesize",
                 "Invalid value: 100: cachesize is not supported in v2");
    y = KMS("          name: p\n          endpoint: unix:///k.sock\n          cachesize: 0\n");
    expect_error(y, 9, "0", "resources[0].providers[0].kms.cachesize",
                 "Invalid value: 0: cachesize should be a positive value, or negative to disable");
    y = KMS("          apiVersion: v3\n          name: p\n          endpoint: unix:///k.sock\n");
    expect_error(y, 7, "v3", "resources[0].providers[0].kms.apiVersion",
                 "Invalid value: \"v3\": unsupported apiVersion apiVersion for KMS provider, only "
                 "v1 and v2 are supported");
    /* abstract sockets are fine */
    assert_int_equal(count_errors(KMS("          apiVersion: v2\n          name: p\n"
                                      "          endpoint: unix:///@abstract\n"),
                                  false),
                     0);
}

/* ---- rkc's own checks ---- */

static void test_rkc_checks(void **state)
{
    const char *y;

    (void)state;
    y = HDR "  - resources: [secrets]\n    providers:\n      - aescbc:\n          keys:\n"
            "            - {name: k1, secret: " K16 "}\n"
            "            - {name: k1, secret: " K32 "}\n";
    expect_error(y, 9, "k1", "resources[0].providers[0].aescbc.keys[1].name",
                 "Duplicate value: \"k1\": key name already used by "
                 "resources[0].providers[0].aescbc.keys[0] (rkc check: key names must be unique "
                 "within a provider)");
    y = HDR "  - resources: [secrets]\n    providers:\n      - secretbox:\n"
            "          keys: [{name: \"a:b\", secret: " K32 "}]\n";
    expect_error(y, 7, "\"a:b\"", "resources[0].providers[0].secretbox.keys[0].name",
                 "Invalid value: \"a:b\": key name must not contain ':' (rkc check: the stored "
                 "prefix \"k8s:enc:secretbox:v1:<name>:\" would be ambiguous)");
    y = HDR "  - resources: [secrets]\n    providers:\n      - identity: {}\n"
            "      - aescbc: {keys: [{name: a, secret: " K16 "}]}\n";
    expect_diag_sev(y, false, ENCCONFIG_WARNING, 6, "{}", "resources[0].providers[0].identity",
                    "identity is the first provider, so the API server writes plaintext for "
                    "these resources; the providers after it only read");
    assert_int_equal(count_errors(y, false), 0);
    y = HDR "  - resources: [secrets]\n    providers:\n"
            "      - aesgcm: {keys: [{name: a, secret: " K16 "}]}\n";
    expect_diag_sev(y, false, ENCCONFIG_WARNING, 6, "{keys", "resources[0].providers[0].aesgcm",
                    "aesgcm uses random 96-bit nonces: rotate the key before 200,000 writes");
    y = KMS("          name: p\n          endpoint: unix:///k.sock\n");
    expect_diag_sev(y, false, ENCCONFIG_WARNING, 7, "name",
                    "resources[0].providers[0].kms.apiVersion",
                    "KMSv1 is deprecated and will only receive security updates going forward. "
                    "Use KMSv2 instead.  Set --feature-gates=KMSv1=true to use the deprecated "
                    "KMSv1 feature. (kube-apiserver 1.29 and later refuse it without that gate)");
    /* identity alone, or last, warns nothing */
    {
        struct encconfig_diag d;

        diags_of(HDR "  - resources: [secrets]\n    providers: [{identity: {}}]\n", false, &d);
        assert_int_equal(d.nr, 0);
        encconfig_diag_release(&d);
    }
}

static void test_all_errors_collected_and_no_secret(void **state)
{
    const char *y = HDR "  - resources: [Secrets]\n    providers:\n"
                        "      - aescbc: {keys: [{name: \"\", secret: c2VjcmV0IQ==}]}\n"
                        "      - kms: {name: p}\n";
    struct encconfig_diag d;
    struct strbuf sb = STRBUF_INIT;
    struct encconfig *cfg;
    struct rkc_error err;

    (void)state;
    diags_of(y, false, &d);
    assert_int_equal(d.nerrors, 4);
    encconfig_diag_format(&d, 3, &sb);
    assert_null(strstr(sb.buf, "c2VjcmV0IQ"));
    assert_null(strstr(sb.buf, "secret!"));
    assert_non_null(strstr(sb.buf, "t.yaml:4:17: error: resources[0].resources[0]: Invalid "
                                   "value: \"Secrets\": resource name should not contain "
                                   "capital letters\n"));
    strbuf_release(&sb);
    encconfig_diag_release(&d);

    cfg = parse_ok(y);
    assert_int_equal(encconfig_validate(cfg, false, NULL, &err), RKC_ECONFIG);
    assert_string_equal(err.msg, "t.yaml:4:17: error: resources[0].resources[0]: Invalid value: "
                                 "\"Secrets\": resource name should not contain capital letters "
                                 "(and 3 more errors)");
    encconfig_free(cfg);
}

/* ---- strict decoding ---- */

static void test_strict(void **state)
{
    const char *y;
    struct encconfig *cfg = NULL;
    struct rkc_error err;

    (void)state;
    y = KMS("          name: p\n          endpoint: unix:///k.sock\n          pandas: 1\n");
    expect_error(y, 9, "pandas", "resources[0].providers[0].kms.pandas",
                 "unknown field \"pandas\"");
    y = HDR "  - resources: [secrets]\n    provider: [{identity: {}}]\n";
    expect_error(y, 5, "provider", "resources[0].provider",
                 "unknown field \"provider\" (did you mean \"providers\"?)");
    y = HDR "  - resources: [secrets]\n    providers:\n      - aescbc:\n          keys:\n"
            "            - name: a\n              name: b\n";
    expect_error(y, 9, "name: b", "resources[0].providers[0].aescbc.keys[0].name",
                 "duplicate field \"name\" (first at line 8)");
    y = "{\"apiVersion\": \"apiserver.config.k8s.io/v1\", \"kind\": \"EncryptionConfiguration\", "
        "\"resources\": [{\"resources\": [\"secrets\"], \"providers\": [{\"identity\": {}}], "
        "\"providers\": []}]}";
    expect_error(y, 1, "\"providers\": []", "resources[0].providers",
                 "duplicate field \"providers\" (first at line 1)");
    y = HDR "  - resources: secrets\n    providers: [{identity: {}}]\n";
    expect_error(y, 4, "secrets", "resources[0].resources", "must be a list, not a string");
    y = HDR "  - resources: [secrets]\n    providers: [{aescbc: {keys: [{name: 12, secret: "
            "" K16 "}]}}]\n";
    expect_error(y, 5, "12", "resources[0].providers[0].aescbc.keys[0].name",
                 "must be a string, not a number");
    y = KMS("          name: p\n          endpoint: unix:///k.sock\n          cachesize: ten\n");
    expect_error(y, 9, "ten", "resources[0].providers[0].kms.cachesize",
                 "must be a whole number, not a string");
    y = KMS("          name: p\n          endpoint: unix:///k.sock\n          timeout: 3\n");
    expect_error(y, 9, "3", "resources[0].providers[0].kms.timeout",
                 "must be a duration string such as \"3s\", not a number");
    y = "apiVersion: v1\nkind: EncryptionConfiguration\nresources: []\n";
    expect_error(y, 2, "Encryption", "kind",
                 "Invalid value: \"EncryptionConfiguration\": no kind \"EncryptionConfiguration\" "
                 "is registered for version \"v1\"; use apiVersion apiserver.config.k8s.io/v1 "
                 "with kind EncryptionConfiguration (or the legacy apiVersion v1 with kind "
                 "EncryptionConfig)");
    y = "apiVersion: apiserver.config.k8s.io/v1\nresources: []\n";
    expect_error(y, 1, "apiVersion", "kind",
                 "Required value: kind must be EncryptionConfiguration (with apiVersion "
                 "apiserver.config.k8s.io/v1)");
    y = "kind: EncryptionConfiguration\nmetadata: {name: x}\nresources: []\n";
    expect_error(y, 2, "metadata", "metadata", "unknown field \"metadata\"");

    /* empty files */
    assert_int_equal(encconfig_parse("e.yaml", "", 0, &cfg, NULL, &err), RKC_ECONFIG);
    assert_string_equal(
        err.msg, "e.yaml: error: encryption provider configuration file \"e.yaml\" is empty");
    assert_int_equal(encconfig_parse("e.yaml", "# nothing\n", 10, &cfg, NULL, &err), RKC_ECONFIG);
    assert_null(cfg);
    /* YAML syntax errors keep their position */
    assert_int_equal(encconfig_parse("s.yaml", "a: [\n", 5, &cfg, NULL, &err), RKC_ECONFIG);
    assert_non_null(strstr(err.msg, "s.yaml:2:1: error: "));
}

static void test_legacy_and_json(void **state)
{
    struct encconfig *a, *b;

    (void)state;
    a = parse_ok("apiVersion: v1\nkind: EncryptionConfig\nresources:\n"
                 "  - resources: [secrets]\n    providers:\n"
                 "      - aescbc: {keys: [{name: key1, secret: " K16 "}]}\n"
                 "      - identity: {}\n");
    assert_true(a->legacy);
    assert_int_equal(count_errors("apiVersion: v1\nkind: EncryptionConfig\nresources:\n"
                                  "  - resources: [secrets]\n    providers: [{identity: {}}]\n",
                                  false),
                     0);
    b = parse_ok("{\"kind\":\"EncryptionConfiguration\",\"apiVersion\":\"apiserver.config.k8s.io/"
                 "v1\",\"resources\":[{\"resources\":[\"secrets\"],\"providers\":[{\"aescbc\":{"
                 "\"keys\":[{\"name\":\"key1\",\"secret\":\"" K16 "\"}]}},{\"identity\":{}}]}]}");
    assert_false(b->legacy);
    assert_true(encconfig_equal(a, b));
    assert_int_equal(b->resources[0].providers[0].keys[0].secret_len, 16);
    assert_memory_equal(b->resources[0].providers[0].keys[0].secret, "secret is secure", 16);
    encconfig_free(a);
    encconfig_free(b);
}

static void test_defaults(void **state)
{
    struct encconfig *cfg;
    const struct encconfig_kms *v1, *v2;

    (void)state;
    cfg = parse_ok(KMS("          name: p1\n          endpoint: unix:///a.sock\n"
                       "      - kms:\n          apiVersion: v2\n          name: p2\n"
                       "          endpoint: unix:///b.sock\n          timeout: 1m30s\n"));
    v1 = &cfg->resources[0].providers[0].kms;
    v2 = &cfg->resources[0].providers[1].kms;
    assert_string_equal(v1->api_version, "v1");
    assert_true(v1->cachesize_set);
    assert_int_equal(v1->cachesize, 1000);
    assert_int_equal(v1->timeout_ns, 3000000000LL);
    assert_string_equal(v2->api_version, "v2");
    assert_false(v2->cachesize_set);
    assert_int_equal(v2->timeout_ns, 90000000000LL);
    encconfig_free(cfg);
}

static void test_durations(void **state)
{
    static const struct {
        const char *in;
        int64_t ns;
        const char *out;
    } ok[] = {
        { "3s", 3000000000LL, "3s" },
        { "500ms", 500000000LL, "500ms" },
        { "1m30s", 90000000000LL, "1m30s" },
        { "1.5h", 5400000000000LL, "1h30m0s" },
        { "0", 0, "0s" },
        { "-1.5s", -1500000000LL, "-1.5s" },
        { "1500us", 1500000LL, "1.5ms" },
        { "7ns", 7, "7ns" },
        { "2\xc2\xb5s", 2000, "2\xc2\xb5s" },
        { "1h2m3.004005006s", 3723004005006LL, "1h2m3.004005006s" },
    };
    static const char *const bad[] = { "",    "3",    "s",
                                       "3x",  "1.s.", "--1s",
                                       "3 s", ".s",   "9999999999999999999h" };
    size_t i;

    (void)state;
    for (i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
        struct strbuf sb = STRBUF_INIT;
        int64_t ns = -42, back = -42;

        assert_true(encconfig_parse_duration(ok[i].in, &ns));
        assert_int_equal(ns, ok[i].ns);
        encconfig_format_duration(ns, &sb);
        assert_string_equal(sb.buf, ok[i].out);
        assert_true(encconfig_parse_duration(sb.buf, &back));
        assert_int_equal(back, ns);
        strbuf_release(&sb);
    }
    for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        int64_t ns;

        if (encconfig_parse_duration(bad[i], &ns))
            fail_msg("'%s' parsed", bad[i]);
    }
}

/* ---- emit, equality, hash ---- */

static const char rich[] =
    "apiVersion: apiserver.config.k8s.io/v1\nkind: EncryptionConfiguration\nresources:\n"
    "  - resources: [events]\n    providers: [{identity: {}}]\n"
    "  - resources: [secrets, configmaps., \"*.apps\"]\n    providers:\n"
    "      - kms: {apiVersion: v2, name: \"my plugin\", endpoint: \"unix:///@abstract\", timeout: "
    "1m30.5s}\n"
    "      - aesgcm:\n          keys:\n            - name: \"k\\u00e9y #1\"\n"
    "              secret: " K32 "\n"
    "            - name: \"tab\\there\"\n              secret: " K16 "\n"
    "      - aescbc: {keys: [{name: \"yes\", secret: \"" K16 "\"}]}\n"
    "      - secretbox: {keys: [{name: \"123\", secret: " K32 "}]}\n"
    "      - kms: {name: v1plugin, endpoint: unix:///tmp/kms.sock, cachesize: -1, timeout: "
    "1500us}\n"
    "      - identity: {}\n"
    "  - resources: [\"*.*\"]\n    providers: [{identity: {}}]\n";

static void test_round_trip(void **state)
{
    struct encconfig *a, *b, *c;
    struct strbuf out = STRBUF_INIT, out2 = STRBUF_INIT;
    char h1[ENCCONFIG_HASH_SIZE], h2[ENCCONFIG_HASH_SIZE];
    struct rkc_error err;

    (void)state;
    a = parse_ok(rich);
    assert_int_equal(count_errors(rich, false), 0);
    assert_int_equal(encconfig_emit(a, &out, &err), RKC_OK);
    b = parse_ok(out.buf);
    assert_true(encconfig_equal(a, b));
    /* the canonical form is a fixed point */
    assert_int_equal(encconfig_emit(b, &out2, &err), RKC_OK);
    assert_string_equal(out.buf, out2.buf);
    assert_non_null(strstr(out.buf, "            - name: \"k\\u00e9y #1\"\n"
                                    "              secret: " K32 "\n"));
    assert_non_null(strstr(out.buf, "          cachesize: -1\n          timeout: 1.5ms\n"));
    assert_non_null(strstr(out.buf, "      - \"*.apps\"\n"));
    assert_non_null(strstr(out.buf, "- name: \"yes\"\n"));
    assert_int_equal(encconfig_hash(a, h1, &err), RKC_OK);
    assert_int_equal(encconfig_hash(b, h2, &err), RKC_OK);
    assert_string_equal(h1, h2);
    assert_int_equal(strlen(h1), 71);
    assert_memory_equal(h1, "sha256:", 7);
    {
        char h3[ENCCONFIG_HASH_SIZE];

        encconfig_hash_bytes(out.buf, out.len, h3);
        assert_string_equal(h1, h3);
    }

    /* a change is seen by equal and by the hash */
    c = encconfig_dup(a);
    assert_true(encconfig_equal(a, c));
    c->resources[1].providers[1].keys[0].secret[0] ^= 1;
    assert_false(encconfig_equal(a, c));
    assert_int_equal(encconfig_hash(c, h2, &err), RKC_OK);
    assert_string_not_equal(h1, h2);
    encconfig_free(c);
    c = encconfig_dup(a);
    c->resources[1].providers[0].kms.timeout_ns++;
    assert_false(encconfig_equal(a, c));
    encconfig_free(c);

    strbuf_release_wipe(&out);
    strbuf_release_wipe(&out2);
    encconfig_free(a);
    encconfig_free(b);
}

static void test_emit_refuses(void **state)
{
    struct encconfig *cfg;
    struct strbuf out = STRBUF_INIT;
    struct rkc_error err;

    (void)state;
    cfg = parse_ok(HDR "  - resources: [secrets]\n    providers: [{}]\n");
    assert_int_equal(encconfig_emit(cfg, &out, &err), RKC_EINVAL);
    assert_int_equal(out.len, 0);
    encconfig_free(cfg);
    cfg = parse_ok(HDR "  - resources: [secrets]\n    providers: [{aescbc: {keys: [{name: a, "
                       "secret: \"!!\"}]}}]\n");
    assert_int_equal(encconfig_emit(cfg, &out, &err), RKC_EINVAL);
    assert_null(strstr(err.msg, "!!"));
    encconfig_free(cfg);
}

/* ---- lookup ---- */

static void test_lookup(void **state)
{
    const char *y = HDR
        "  - resources: [events]\n    providers: [{identity: {}}]\n"
        "  - resources: [secrets]\n    providers: [{aescbc: {keys: [{name: a, secret: " K16
        "}]}}]\n"
        "  - resources: [\"*.apps\"]\n    providers: [{secretbox: {keys: [{name: s, secret: " K32
        "}]}}]\n"
        "  - resources: [secrets, configmaps]\n    providers: [{aesgcm: {keys: [{name: g, "
        "secret: " K16 "}]}}, {identity: {}}]\n"
        "  - resources: [\"*.\"]\n    providers: [{aesgcm: {keys: [{name: core, secret: " K16
        "}]}}]\n"
        "  - resources: [\"*.*\"]\n    providers: [{identity: {}}]\n";
    const struct encconfig_provider **v;
    struct encconfig *cfg;
    const char *rule;
    size_t n;

    (void)state;
    assert_int_equal(count_errors(y, false), 0);
    cfg = parse_ok(y);
    n = encconfig_lookup(cfg, "secrets", &v, &rule);
    assert_int_equal(n, 3); /* concatenated: aescbc, then aesgcm + identity */
    assert_int_equal(v[0]->kind, ENCCONFIG_AESCBC);
    assert_int_equal(v[1]->kind, ENCCONFIG_AESGCM);
    assert_int_equal(v[2]->kind, ENCCONFIG_IDENTITY);
    assert_string_equal(rule, "secrets");
    free(v);
    n = encconfig_lookup(cfg, "configmaps.", &v, &rule);
    assert_int_equal(n, 2);
    assert_int_equal(v[0]->kind, ENCCONFIG_AESGCM);
    free(v);
    n = encconfig_lookup(cfg, "pods", &v, &rule);
    assert_int_equal(n, 1);
    assert_string_equal(v[0]->keys[0].name, "core");
    assert_string_equal(rule, "*.");
    free(v);
    n = encconfig_lookup(cfg, "deployments.apps", &v, &rule);
    assert_int_equal(n, 1);
    assert_int_equal(v[0]->kind, ENCCONFIG_SECRETBOX);
    assert_string_equal(rule, "*.apps");
    free(v);
    n = encconfig_lookup(cfg, "widgets.example.com", &v, &rule);
    assert_int_equal(n, 1);
    assert_int_equal(v[0]->kind, ENCCONFIG_IDENTITY);
    assert_string_equal(rule, "*.*");
    free(v);
    encconfig_free(cfg);

    cfg = parse_ok(HDR "  - resources: [secrets]\n    providers: [{identity: {}}]\n");
    assert_int_equal(encconfig_lookup(cfg, "configmaps", &v, &rule), 0);
    assert_null(v);
    assert_null(rule);
    encconfig_free(cfg);
}

/* ---- transformer chains ---- */

static void unhex(const char *hex, struct strbuf *out)
{
    size_t i, n = strlen(hex);

    for (i = 0; i + 1 < n; i += 2) {
        unsigned v;

        sscanf(hex + i, "%2x", &v);
        strbuf_addch(out, (char)v);
    }
}

static const char cbc_vector[] =
    "6b38733a656e633a6165736362633a76313a6b6579313a404142434445464748494a4b4c4d4e4f73a635ec4367"
    "8160277556dc39233658bf161c2d8b29fad4e32f084842a76a1b";
static const char gcm_vector[] =
    "6b38733a656e633a61657367636d3a76313a6b6579313a606162636465666768696a6b82bef739d46ca30409749c"
    "591ce8b526555778bf4b280035576241c8267313325c";
static const char kms_v1_vector[] =
    "6b38733a656e633a6b6d733a76313a6d79706c7567696e3a002e313a6f4b47696f36536c7071656f7161717272"
    "4b32757237437873724f3074626133754c6d36753779397672383d707172737475767778797a7b6890b6ed2e4913"
    "1783c9d2ddf6ae7043a4156de6829bb974fe4667d3f09588f4e5";

static const char vec_cfg[] = HDR "  - resources: [secrets]\n    providers:\n"
                                  "      - aesgcm: {keys: [{name: key1, secret: " K32 "}]}\n"
                                  "      - aescbc: {keys: [{name: key1, secret: " K32 "}]}\n"
                                  "      - kms: {name: myplugin, endpoint: unix:///tmp/kms.sock}\n"
                                  "      - identity: {}\n";

struct mock_factory {
    struct kms_mock *mock;
    unsigned opened, closed;
    char last_endpoint[64];
};

static enum rkc_err mock_open(void *ctx, const struct encconfig_kms *kms, struct kms_plugin *ret,
                              struct rkc_error *err)
{
    struct mock_factory *f = ctx;

    (void)err;
    f->opened++;
    snprintf(f->last_endpoint, sizeof(f->last_endpoint), "%s", kms->endpoint);
    kms_mock_plugin(f->mock, ret);
    return RKC_OK;
}

static void mock_close(void *ctx, struct kms_plugin *plugin)
{
    struct mock_factory *f = ctx;

    (void)plugin;
    f->closed++;
}

static void test_build_chains(void **state)
{
    struct encconfig *cfg;
    struct encset *set;
    struct rkc_error err;
    struct strbuf in = STRBUF_INIT, out = STRBUF_INIT, stored = STRBUF_INIT;
    struct xf_read_info info;
    struct mock_factory f = { NULL, 0, 0, "" };
    struct kms_plugin_factory fac = { mock_open, mock_close, &f };
    const char *key = "/registry/secrets/default/secret1";
    const char *rule;

    (void)state;
    cfg = parse_ok(vec_cfg);
    /* no plugin client: refused with a clear message */
    assert_int_equal(encconfig_build(cfg, NULL, &set, &err), RKC_EINVAL);
    assert_string_equal(err.msg, "resources[0].providers[2]: kms provider 'myplugin': no plugin "
                                 "client available yet");

    f.mock = kms_mock_new("1");
    kms_mock_set_ct_prefix(f.mock, "1:");
    assert_int_equal(encconfig_build(cfg, &fac, &set, &err), RKC_OK);
    assert_int_equal(f.opened, 1);
    assert_string_equal(f.last_endpoint, "unix:///tmp/kms.sock");
    assert_memory_equal(encset_hash(set), "sha256:", 7);

    /* the §7.3 vectors read through the chain for "secrets" */
    unhex(gcm_vector, &in);
    assert_int_equal(xf_chain_read(encset_chain_for(set, "secrets"), key, (uint8_t *)in.buf, in.len,
                                   &out, &info, &err),
                     RKC_OK);
    assert_int_equal(out.len, 17);
    assert_memory_equal(out.buf, "hello, kubernetes", 17);
    assert_false(info.stale);
    strbuf_reset(&in);
    unhex(cbc_vector, &in);
    assert_int_equal(xf_chain_read(encset_chain_for(set, "secrets"), key, (uint8_t *)in.buf, in.len,
                                   &out, &info, &err),
                     RKC_OK);
    assert_memory_equal(out.buf, "hello, kubernetes", 17);
    assert_true(info.stale);
    assert_int_equal(info.kind, XF_AESCBC);
    strbuf_reset(&in);
    unhex(kms_v1_vector, &in);
    assert_int_equal(xf_chain_read(encset_chain_for(set, "secrets"), key, (uint8_t *)in.buf, in.len,
                                   &out, &info, &err),
                     RKC_OK);
    assert_memory_equal(out.buf, "hello, kubernetes", 17);
    assert_int_equal(info.kind, XF_KMS_V1);
    assert_string_equal(info.key_name, "myplugin");

    /* write with the first provider; an uncovered resource gets the encrypt-check identity */
    assert_int_equal(xf_chain_write(encset_chain_for(set, "secrets"), key, (const uint8_t *)"x", 1,
                                    &stored, &err),
                     RKC_OK);
    assert_memory_equal(stored.buf, "k8s:enc:aesgcm:v1:key1:", 23);
    assert_ptr_equal(encset_chain_for_rule(set, "configmaps", &rule),
                     encset_chain_for(set, "pods"));
    assert_null(rule);
    assert_int_not_equal(xf_chain_read(encset_chain_for(set, "configmaps"), key,
                                       (uint8_t *)stored.buf, stored.len, &out, &info, &err),
                         RKC_OK);
    assert_string_equal(err.msg, "identity transformer tried to read encrypted data");
    encset_free(set);
    assert_int_equal(f.closed, 1);

    /* an invalid config is not built */
    encconfig_free(cfg);
    cfg = parse_ok(HDR "  - resources: [Secrets]\n    providers: [{identity: {}}]\n");
    assert_int_equal(encconfig_build(cfg, NULL, &set, &err), RKC_ECONFIG);
    assert_non_null(strstr(err.msg, "resource name should not contain capital letters"));
    encconfig_free(cfg);

    kms_mock_free(f.mock);
    strbuf_release(&in);
    strbuf_release_wipe(&out);
    strbuf_release(&stored);
}

static void test_build_shares_and_concatenates(void **state)
{
    struct encconfig *cfg;
    struct encset *set;
    struct rkc_error err;
    struct strbuf stored = STRBUF_INIT, out = STRBUF_INIT;
    struct xf_read_info info;
    const struct xf_chain *c;

    (void)state;
    cfg = parse_ok(HDR "  - resources: [secrets]\n"
                       "    providers: [{aescbc: {keys: [{name: a, secret: " K16 "}]}}]\n"
                       "  - resources: [secrets, \"*.apps\"]\n"
                       "    providers: [{secretbox: {keys: [{name: b, secret: " K32 "}]}}]\n");
    assert_int_equal(encconfig_build(cfg, NULL, &set, &err), RKC_OK);
    c = encset_chain_for(set, "secrets");
    assert_int_equal(xf_chain_nproviders(c), 2);
    assert_int_equal(xf_chain_nproviders(encset_chain_for(set, "deployments.apps")), 1);
    /* a value written for apps is read by the secrets chain as its second provider: stale */
    assert_int_equal(xf_chain_write(encset_chain_for(set, "deployments.apps"), "/registry/k",
                                    (const uint8_t *)"v", 1, &stored, &err),
                     RKC_OK);
    assert_int_equal(
        xf_chain_read(c, "/registry/k", (uint8_t *)stored.buf, stored.len, &out, &info, &err),
        RKC_OK);
    assert_true(info.stale);
    assert_int_equal(info.provider_index, 1);
    encset_free(set);
    encconfig_free(cfg);
    strbuf_release(&stored);
    strbuf_release_wipe(&out);
}

/* ---- managed configs and embedded configs ---- */

static void test_managed(void **state)
{
    unsigned char k1[32], k2[32];
    char n1[8], n2[8];
    struct encconfig_managed_key w, r;
    struct encconfig *cfg, *back;
    struct strbuf out = STRBUF_INIT;
    struct rkc_error err;
    struct encconfig_diag d;

    (void)state;
    assert_int_equal(encconfig_new_key(NULL, n1, k1, &err), RKC_OK);
    assert_int_equal(strlen(n1), 7);
    assert_memory_equal(n1, "k-", 2);
    w.name = n1;
    w.secret = k1;
    w.secret_len = 32;
    cfg = encconfig_new_managed(&w, NULL, 0, false);
    assert_int_equal(encconfig_new_key(cfg, n2, k2, &err), RKC_OK);
    assert_string_not_equal(n1, n2);
    encconfig_free(cfg);

    r.name = n2;
    r.secret = k2;
    r.secret_len = 32;
    cfg = encconfig_new_managed(&w, &r, 1, false);
    encconfig_diag_init(&d);
    assert_int_equal(encconfig_validate(cfg, false, &d, &err), RKC_OK);
    assert_int_equal(d.nr, 0);
    encconfig_diag_release(&d);
    assert_int_equal(cfg->resources[0].providers[0].kind, ENCCONFIG_AESCBC);
    assert_int_equal(cfg->resources[0].providers[0].nkeys, 2);
    assert_string_equal(cfg->resources[0].providers[0].keys[0].name, n1);
    assert_int_equal(cfg->resources[0].providers[1].kind, ENCCONFIG_IDENTITY);
    assert_int_equal(encconfig_emit(cfg, &out, &err), RKC_OK);
    back = parse_ok(out.buf);
    assert_true(encconfig_equal(cfg, back));
    encconfig_free(back);
    encconfig_free(cfg);
    strbuf_release_wipe(&out);

    cfg = encconfig_new_managed(&w, NULL, 0, true);
    assert_int_equal(cfg->resources[0].providers[0].kind, ENCCONFIG_IDENTITY);
    assert_int_equal(cfg->resources[0].providers[1].kind, ENCCONFIG_AESCBC);
    encconfig_free(cfg);
}

static void test_from_node(void **state)
{
    const char *cluster = "nodes: []\nservices:\n  kube-api:\n    secrets_encryption_config:\n"
                          "      enabled: true\n      custom_config:\n"
                          "        resources:\n          - resources: [Secrets]\n"
                          "            providers: [{identity: {}}]\n";
    struct ytree_node *root = NULL, *cc;
    struct encconfig *cfg = NULL;
    struct encconfig_diag d;
    struct rkc_error err;

    (void)state;
    assert_int_equal(ytree_parse("cluster.yml", cluster, strlen(cluster), &root, &err), RKC_OK);
    cc = ytree_map_get(ytree_map_get(ytree_map_get(ytree_map_get(root, "services"), "kube-api"),
                                     "secrets_encryption_config"),
                       "custom_config");
    assert_non_null(cc);
    encconfig_diag_init(&d);
    assert_int_equal(encconfig_from_node("cluster.yml", cc, &cfg, &d, &err), RKC_OK);
    assert_int_equal(encconfig_validate(cfg, false, &d, &err), RKC_ECONFIG);
    assert_string_equal(err.msg, "cluster.yml:8:25: error: resources[0].resources[0]: Invalid "
                                 "value: \"Secrets\": resource name should not contain capital "
                                 "letters");
    encconfig_diag_release(&d);
    encconfig_free(cfg);
    ytree_free(root);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_resources_required),
        cmocka_unit_test(test_resource_names),
        cmocka_unit_test(test_resource_overlap),
        cmocka_unit_test(test_masking),
        cmocka_unit_test(test_provider_element),
        cmocka_unit_test(test_keys),
        cmocka_unit_test(test_kms_rules),
        cmocka_unit_test(test_rkc_checks),
        cmocka_unit_test(test_all_errors_collected_and_no_secret),
        cmocka_unit_test(test_strict),
        cmocka_unit_test(test_legacy_and_json),
        cmocka_unit_test(test_defaults),
        cmocka_unit_test(test_durations),
        cmocka_unit_test(test_round_trip),
        cmocka_unit_test(test_emit_refuses),
        cmocka_unit_test(test_lookup),
        cmocka_unit_test(test_build_chains),
        cmocka_unit_test(test_build_shares_and_concatenates),
        cmocka_unit_test(test_managed),
        cmocka_unit_test(test_from_node),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
