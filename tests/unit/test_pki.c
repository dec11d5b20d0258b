/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Unit tests for core/pki and core/kubeconfig: chains verified with OpenSSL's own store,
 * SANs/EKUs/subjects, JSON round trip, reconcile rules, deployment modes and idempotence,
 * broken input.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509_vfy.h>
#include <openssl/x509v3.h>

#include "adapters/jval.h"
#include "adapters/ytree.h"
#include "core/config.h"
#include "core/kubeconfig.h"
#include "core/pki.h"
#include "util/fs.h"
#include "util/strbuf.h"
#include "util/xalloc.h"

static const struct pki_node three_nodes[] = {
    { "cp1", "10.0.0.1", CONFIG_ROLE_CONTROLPLANE | CONFIG_ROLE_ETCD },
    { "10.0.0.2", "10.0.0.2", CONFIG_ROLE_ETCD | CONFIG_ROLE_WORKER },
    { "node3.example.com", "10.0.0.3", CONFIG_ROLE_CONTROLPLANE | CONFIG_ROLE_WORKER },
};

static struct pki_request request(const struct pki_node *nodes, size_t n)
{
    struct pki_request req;

    memset(&req, 0, sizeof(req));
    req.cluster_name = "test";
    req.nodes = nodes;
    req.nnodes = n;
    return req;
}

static struct pki_bundle *generate(const struct pki_request *req)
{
    struct pki_bundle *b = NULL;
    struct rkc_error err;

    rkc_error_init(&err);
    if (pki_bundle_generate(req, &b, &err)) {
        print_error("generate: %s\n", err.msg);
        fail();
    }
    return b;
}

static X509 *load_x509(const char *pem)
{
    BIO *bio = BIO_new_mem_buf(pem, -1);
    X509 *x = PEM_read_bio_X509(bio, NULL, NULL, NULL);

    BIO_free(bio);
    assert_non_null(x);
    return x;
}

/* Verifies leaf against the bundle's CA with an X509_STORE (purpose any). */
static int verify_chain(const struct pki_bundle *b, const char *leaf_pem)
{
    X509_STORE *store = X509_STORE_new();
    X509_STORE_CTX *ctx = X509_STORE_CTX_new();
    X509 *ca = load_x509(pki_bundle_get(b, PKI_CA)->cert_pem);
    X509 *leaf = load_x509(leaf_pem);
    int ok;

    assert_int_equal(X509_STORE_add_cert(store, ca), 1);
    assert_int_equal(X509_STORE_CTX_init(ctx, store, leaf, NULL), 1);
    ok = X509_verify_cert(ctx);
    if (ok != 1)
        print_error("verify: %s\n", X509_verify_cert_error_string(X509_STORE_CTX_get_error(ctx)));
    X509_STORE_CTX_free(ctx);
    X509_STORE_free(store);
    X509_free(ca);
    X509_free(leaf);
    return ok;
}

static struct pki_cert_info info_of(const struct pki_bundle *b, const char *name)
{
    const struct pki_cert *c = pki_bundle_get(b, name);
    struct pki_cert_info info;
    struct rkc_error err;

    memset(&info, 0, sizeof(info));
    if (!c || !c->cert_pem) {
        print_error("no certificate '%s'\n", name);
        fail();
        return info;
    }
    rkc_error_init(&err);
    if (pki_cert_info(c->cert_pem, strlen(c->cert_pem), &info, &err)) {
        print_error("%s: %s\n", name, err.msg);
        fail();
    }
    return info;
}

static bool has(char **list, size_t n, const char *s)
{
    size_t i;

    for (i = 0; i < n; i++) {
        if (!strcmp(list[i], s))
            return true;
    }
    return false;
}

static void test_generate_three_nodes(void **state)
{
    struct pki_request req = request(three_nodes, 3);
    struct pki_bundle *b = generate(&req);
    struct pki_cert_info info;
    const char *leaves[] = { "kube-etcd-cp1", "kube-etcd-10-0-0-2", PKI_ETCD_CLIENT, PKI_APISERVER,
                             PKI_ADMIN };
    const struct pki_cert *sa;
    size_t i;
    time_t now = time(NULL);

    (void)state;
    /* exactly the expected entries, sorted */
    assert_int_equal(pki_bundle_size(b), 7);
    assert_null(pki_bundle_get(b, "kube-etcd-node3-example-com"));
    for (i = 1; i < pki_bundle_size(b); i++)
        assert_true(strcmp(pki_bundle_at(b, i - 1)->name, pki_bundle_at(b, i)->name) < 0);

    info = info_of(b, PKI_CA);
    assert_true(info.is_ca);
    assert_string_equal(info.common_name, "kube-ca");
    assert_true(info.not_after > now + (time_t)(PKI_CA_VALIDITY_DAYS - 1) * 86400);
    pki_cert_info_release(&info);

    for (i = 0; i < sizeof(leaves) / sizeof(leaves[0]); i++) {
        const struct pki_cert *c = pki_bundle_get(b, leaves[i]);
        struct rkc_error err;

        assert_non_null(c);
        assert_int_equal(verify_chain(b, c->cert_pem), 1);
        assert_int_equal(
            pki_key_check(c->key_pem, strlen(c->key_pem), c->cert_pem, strlen(c->cert_pem), &err),
            RKC_OK);
        info = info_of(b, leaves[i]);
        assert_false(info.is_ca);
        assert_string_equal(info.issuer_cn, "kube-ca");
        assert_true(info.not_after > now + (time_t)(PKI_LEAF_VALIDITY_DAYS - 1) * 86400);
        assert_true(info.not_after < now + (time_t)(PKI_LEAF_VALIDITY_DAYS + 1) * 86400);
        assert_true(info.not_before <= now);
        pki_cert_info_release(&info);
    }

    /* etcd: address, name, loopback; server + client */
    info = info_of(b, "kube-etcd-cp1");
    assert_int_equal(info.eku, PKI_EKU_SERVER | PKI_EKU_CLIENT);
    assert_int_equal(info.nips, 2);
    assert_true(has(info.ips, info.nips, "10.0.0.1"));
    assert_true(has(info.ips, info.nips, "127.0.0.1"));
    assert_int_equal(info.ndns, 2);
    assert_true(has(info.dns_names, info.ndns, "cp1"));
    assert_true(has(info.dns_names, info.ndns, "localhost"));
    pki_cert_info_release(&info);
    info = info_of(b, "kube-etcd-10-0-0-2");
    assert_int_equal(info.nips, 2); /* the name is the address: one SAN */
    assert_true(has(info.ips, info.nips, "10.0.0.2"));
    assert_int_equal(info.ndns, 1);
    pki_cert_info_release(&info);

    /* apiserver: control-plane nodes only, kubernetes names, service IP */
    info = info_of(b, PKI_APISERVER);
    assert_int_equal(info.eku, PKI_EKU_SERVER);
    assert_true(has(info.ips, info.nips, "10.0.0.1"));
    assert_true(has(info.ips, info.nips, "10.0.0.3"));
    assert_false(has(info.ips, info.nips, "10.0.0.2"));
    assert_true(has(info.ips, info.nips, "127.0.0.1"));
    assert_true(has(info.ips, info.nips, "10.43.0.1"));
    assert_int_equal(info.nips, 4);
    assert_true(has(info.dns_names, info.ndns, "cp1"));
    assert_true(has(info.dns_names, info.ndns, "node3.example.com"));
    assert_true(has(info.dns_names, info.ndns, "localhost"));
    assert_true(has(info.dns_names, info.ndns, "kubernetes"));
    assert_true(has(info.dns_names, info.ndns, "kubernetes.default"));
    assert_true(has(info.dns_names, info.ndns, "kubernetes.default.svc"));
    assert_true(has(info.dns_names, info.ndns, "kubernetes.default.svc.cluster.local"));
    assert_int_equal(info.ndns, 7);
    pki_cert_info_release(&info);

    info = info_of(b, PKI_ADMIN);
    assert_string_equal(info.common_name, "kube-admin");
    assert_string_equal(info.org, "system:masters");
    assert_int_equal(info.eku, PKI_EKU_CLIENT);
    assert_int_equal(info.ndns + info.nips, 0);
    pki_cert_info_release(&info);
    info = info_of(b, PKI_ETCD_CLIENT);
    assert_int_equal(info.eku, PKI_EKU_CLIENT);
    assert_string_equal(info.org, "");
    pki_cert_info_release(&info);

    /* service account: RSA 2048 key pair, no certificate */
    sa = pki_bundle_get(b, PKI_SERVICE_ACCOUNT);
    assert_non_null(sa);
    assert_null(sa->cert_pem);
    assert_non_null(strstr(sa->pub_pem, "-----BEGIN PUBLIC KEY-----"));
    {
        BIO *bio = BIO_new_mem_buf(sa->key_pem, -1);
        EVP_PKEY *k = PEM_read_bio_PrivateKey(bio, NULL, NULL, NULL);

        assert_non_null(k);
        assert_true(EVP_PKEY_is_a(k, "RSA"));
        assert_int_equal(EVP_PKEY_get_bits(k), 2048);
        EVP_PKEY_free(k);
        BIO_free(bio);
    }
    /* TLS keys are ECDSA P-256 by default */
    {
        const struct pki_cert *c = pki_bundle_get(b, PKI_APISERVER);
        BIO *bio = BIO_new_mem_buf(c->key_pem, -1);
        EVP_PKEY *k = PEM_read_bio_PrivateKey(bio, NULL, NULL, NULL);

        assert_non_null(k);
        assert_true(EVP_PKEY_is_a(k, "EC"));
        assert_int_equal(EVP_PKEY_get_bits(k), 256);
        EVP_PKEY_free(k);
        BIO_free(bio);
    }
    pki_bundle_free(b);
}

static void test_rsa_and_service_cidr(void **state)
{
    struct pki_request req = request(three_nodes, 1);
    struct pki_bundle *b;
    struct pki_cert_info info;
    struct rkc_error err;
    const struct pki_cert *c;

    (void)state;
    req.key_type = PKI_KEY_RSA_2048;
    req.service_cidr = "10.96.0.0/12";
    b = generate(&req);
    info = info_of(b, PKI_APISERVER);
    assert_true(has(info.ips, info.nips, "10.96.0.1"));
    pki_cert_info_release(&info);
    c = pki_bundle_get(b, PKI_ADMIN);
    assert_int_equal(verify_chain(b, c->cert_pem), 1);
    assert_non_null(strstr(c->key_pem, "BEGIN PRIVATE KEY"));
    pki_bundle_free(b);

    req.key_type = PKI_KEY_ECDSA_P256;
    req.service_cidr = "fd00:10:43::/108";
    b = generate(&req);
    info = info_of(b, PKI_APISERVER);
    assert_true(has(info.ips, info.nips, "fd00:10:43::1"));
    pki_cert_info_release(&info);
    pki_bundle_free(b);

    b = NULL;
    req.service_cidr = "10.43.0.0/33";
    assert_int_equal(pki_bundle_generate(&req, &b, &err), RKC_EINVAL);
    assert_string_equal(err.msg, "invalid service cluster IP range '10.43.0.0/33'");
    req.service_cidr = "banana";
    assert_int_equal(pki_bundle_generate(&req, &b, &err), RKC_EINVAL);
    assert_null(b);
}

static void test_bad_node_names(void **state)
{
    static const struct pki_node inject[] = {
        { "a,DNS:evil.com", "10.0.0.1", CONFIG_ROLE_CONTROLPLANE },
    };
    static const struct pki_node clash[] = {
        { "a.b", "10.0.0.1", CONFIG_ROLE_ETCD },
        { "a-b", "10.0.0.2", CONFIG_ROLE_ETCD },
    };
    struct pki_request req = request(inject, 1);
    struct pki_bundle *b = NULL;
    struct rkc_error err;

    (void)state;
    assert_int_equal(pki_bundle_generate(&req, &b, &err), RKC_EINVAL);
    assert_string_equal(err.msg, "invalid node name 'a,DNS:evil.com' for a certificate name");
    req = request(clash, 2);
    assert_int_equal(pki_bundle_generate(&req, &b, &err), RKC_EINVAL);
    assert_non_null(strstr(err.msg, "share the certificate name 'kube-etcd-a-b'"));
    assert_null(b);
    {
        char *n = pki_etcd_cert_name("fe80::1/../x");

        assert_string_equal(n, "kube-etcd-fe80--1----x");
        free(n);
    }
}

static char *dump(const struct pki_bundle *b)
{
    struct jval *j = pki_bundle_to_jval(b);
    struct strbuf sb = STRBUF_INIT;

    jval_dump(j, JVAL_PRETTY, &sb);
    jval_decref(j);
    return strbuf_detach(&sb, NULL);
}

static struct pki_bundle *reload(const char *json)
{
    struct jval *j = NULL;
    struct pki_bundle *b = NULL;
    struct rkc_error err;

    assert_int_equal(jval_parse("state", json, strlen(json), &j, &err), RKC_OK);
    if (pki_bundle_from_jval(j, &b, &err)) {
        print_error("from_jval: %s\n", err.msg);
        fail();
    }
    jval_decref(j);
    return b;
}

static void test_json_round_trip(void **state)
{
    struct pki_request req = request(three_nodes, 3);
    struct pki_bundle *b = generate(&req), *b2;
    char *first = dump(b), *second;
    struct jval *j = pki_bundle_to_jval(b);
    const struct jval *e = jval_get(j, "kube-apiserver");

    (void)state;
    assert_string_equal(jval_get_str(e, "name", ""), "kube-apiserver");
    assert_string_equal(jval_get_str(e, "commonName", ""), "kube-apiserver");
    assert_string_equal(jval_get_str(e, "path", ""), "/etc/kubernetes/ssl/kube-apiserver.pem");
    assert_string_equal(jval_get_str(e, "keyPath", ""),
                        "/etc/kubernetes/ssl/kube-apiserver-key.pem");
    assert_string_equal(jval_get_str(e, "certificatePEM", ""),
                        pki_bundle_get(b, PKI_APISERVER)->cert_pem);
    assert_string_equal(jval_get_str(jval_get(j, "kube-admin"), "ouName", ""), "system:masters");
    assert_non_null(jval_get_str(jval_get(j, PKI_SERVICE_ACCOUNT), "publicKeyPEM", NULL));
    jval_decref(j);

    b2 = reload(first);
    second = dump(b2);
    assert_string_equal(first, second);
    pki_bundle_free(b2);
    free(first);
    free(second);
    pki_bundle_free(b);

    /* NULL and {} give an empty bundle */
    assert_int_equal(pki_bundle_from_jval(NULL, &b, NULL), RKC_OK);
    assert_int_equal(pki_bundle_size(b), 0);
    pki_bundle_free(b);
}

static void test_from_jval_errors(void **state)
{
    static const struct {
        const char *json;
        enum rkc_err code;
        const char *msg;
    } cases[] = {
        { "[]", RKC_EINVAL, "certificate bundle must be a JSON object" },
        { "{\"../../etc/passwd\": {\"keyPEM\": \"x\"}}", RKC_EINVAL,
          "certificate bundle: invalid entry name '../../etc/passwd'" },
        { "{\".hidden\": {\"keyPEM\": \"x\"}}", RKC_EINVAL,
          "certificate bundle: invalid entry name '.hidden'" },
        { "{\"kube-ca\": 3}", RKC_EINVAL, "certificate bundle entry 'kube-ca' must be an object" },
        { "{\"kube-ca\": {\"certificatePEM\": \"x\"}}", RKC_EINVAL,
          "certificate bundle entry 'kube-ca' has no keyPEM" },
        { "{\"kube-ca\": {\"keyPEM\": 5}}", RKC_EINVAL,
          "certificate bundle entry 'kube-ca': keyPEM must be a string" },
        { "{\"kube-ca\": {\"name\": \"kube-admin\", \"keyPEM\": \"k\"}}", RKC_EINVAL,
          "certificate bundle entry 'kube-ca': name 'kube-admin' does not match" },
        { "{\"kube-ca\": {\"keyPEM\": \"a\\u0000b\"}}", RKC_EINVAL,
          "certificate bundle entry 'kube-ca': keyPEM contains a NUL byte" },
    };
    size_t i;

    (void)state;
    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct jval *j = NULL;
        struct pki_bundle *b = NULL;
        struct rkc_error err;

        assert_int_equal(jval_parse("t", cases[i].json, strlen(cases[i].json), &j, &err), 0);
        assert_int_equal(pki_bundle_from_jval(j, &b, &err), cases[i].code);
        assert_string_equal(err.msg, cases[i].msg);
        assert_null(b);
        jval_decref(j);
    }
}

static void assert_names(char **names, size_t n, const char *const *want, size_t nwant)
{
    size_t i;

    if (n != nwant) {
        for (i = 0; i < n; i++)
            print_error("got: %s\n", names[i]);
    }
    assert_int_equal(n, nwant);
    for (i = 0; i < nwant; i++)
        assert_true(has(names, n, want[i]));
}

static void test_reconcile(void **state)
{
    static const struct pki_node four[] = {
        { "cp1", "10.0.0.1", CONFIG_ROLE_CONTROLPLANE | CONFIG_ROLE_ETCD },
        { "10.0.0.2", "10.0.0.2", CONFIG_ROLE_ETCD | CONFIG_ROLE_WORKER },
        { "node3.example.com", "10.0.0.3", CONFIG_ROLE_CONTROLPLANE | CONFIG_ROLE_WORKER },
        { "etcd4", "10.0.0.4", CONFIG_ROLE_ETCD },
    };
    static const struct pki_node renamed[] = {
        { "cp1", "10.0.0.1", CONFIG_ROLE_CONTROLPLANE | CONFIG_ROLE_ETCD },
        { "etcd2", "10.0.0.2", CONFIG_ROLE_ETCD | CONFIG_ROLE_WORKER },
        { "node3.example.com", "10.0.0.3", CONFIG_ROLE_CONTROLPLANE | CONFIG_ROLE_WORKER },
    };
    struct pki_request req = request(three_nodes, 3);
    struct pki_bundle *b = generate(&req);
    char *before = dump(b), *after;
    char *ca_before = xstrdup(pki_bundle_get(b, PKI_CA)->cert_pem);
    char *admin_before = xstrdup(pki_bundle_get(b, PKI_ADMIN)->cert_pem);
    char *etcd1_before = xstrdup(pki_bundle_get(b, "kube-etcd-cp1")->cert_pem);
    struct pki_changes ch;
    struct rkc_error err;

    (void)state;
    /* nothing changed: nothing issued, bytes identical */
    assert_int_equal(pki_bundle_reconcile(b, &req, &ch, &err), RKC_OK);
    assert_int_equal(ch.nissued + ch.nremoved, 0);
    pki_changes_release(&ch);
    after = dump(b);
    assert_string_equal(before, after);
    free(after);

    /* a new etcd node: its etcd cert only (not a control-plane node: apiserver unchanged) */
    req = request(four, 4);
    assert_int_equal(pki_bundle_reconcile(b, &req, &ch, &err), RKC_OK);
    {
        const char *const want[] = { "kube-etcd-etcd4" };

        assert_names(ch.issued, ch.nissued, want, 1);
    }
    assert_int_equal(ch.nremoved, 0);
    pki_changes_release(&ch);
    assert_int_equal(verify_chain(b, pki_bundle_get(b, "kube-etcd-etcd4")->cert_pem), 1);

    /* it becomes a control-plane node too: a new apiserver cert */
    {
        struct pki_node more[4];

        memcpy(more, four, sizeof(more));
        more[3].roles |= CONFIG_ROLE_CONTROLPLANE;
        req = request(more, 4);
        assert_int_equal(pki_bundle_reconcile(b, &req, &ch, &err), RKC_OK);
        {
            const char *const want[] = { "kube-apiserver" };

            assert_names(ch.issued, ch.nissued, want, 1);
        }
        pki_changes_release(&ch);
        {
            struct pki_cert_info info = info_of(b, PKI_APISERVER);

            assert_true(has(info.ips, info.nips, "10.0.0.4"));
            assert_true(has(info.dns_names, info.ndns, "etcd4"));
            pki_cert_info_release(&info);
        }
    }

    /* a renamed etcd node: new etcd cert, old and etcd4's removed, CA and admin kept */
    req = request(renamed, 3);
    assert_int_equal(pki_bundle_reconcile(b, &req, &ch, &err), RKC_OK);
    {
        const char *const want_issued[] = { "kube-etcd-etcd2", "kube-apiserver" };
        const char *const want_removed[] = { "kube-etcd-10-0-0-2", "kube-etcd-etcd4" };

        assert_names(ch.issued, ch.nissued, want_issued, 2);
        assert_names(ch.removed, ch.nremoved, want_removed, 2);
    }
    pki_changes_release(&ch);
    assert_string_equal(pki_bundle_get(b, PKI_CA)->cert_pem, ca_before);
    assert_string_equal(pki_bundle_get(b, PKI_ADMIN)->cert_pem, admin_before);
    assert_string_equal(pki_bundle_get(b, "kube-etcd-cp1")->cert_pem, etcd1_before);
    assert_null(pki_bundle_get(b, "kube-etcd-10-0-0-2"));
    assert_int_equal(pki_bundle_size(b), 7);

    free(before);
    free(ca_before);
    free(admin_before);
    free(etcd1_before);
    pki_bundle_free(b);
}

/* Signs a short-lived kube-admin with the bundle's CA key. Returns: new PEM. */
static char *short_lived_admin(const struct pki_bundle *b, long seconds, const char *org)
{
    const struct pki_cert *ca_e = pki_bundle_get(b, PKI_CA);
    const struct pki_cert *admin = pki_bundle_get(b, PKI_ADMIN);
    BIO *bio = BIO_new_mem_buf(ca_e->key_pem, -1);
    EVP_PKEY *ca_key = PEM_read_bio_PrivateKey(bio, NULL, NULL, NULL);
    X509 *ca = load_x509(ca_e->cert_pem);
    X509 *x = load_x509(admin->cert_pem);
    X509_NAME *name = X509_NAME_new();
    BIO *out = BIO_new(BIO_s_mem());
    char *data = NULL, *res;
    long len;

    BIO_free(bio);
    assert_non_null(ca_key);
    X509_gmtime_adj(X509_getm_notAfter(x), seconds);
    X509_NAME_add_entry_by_txt(name, "O", MBSTRING_UTF8, (const unsigned char *)org, -1, -1, 0);
    X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_UTF8, (const unsigned char *)"kube-admin", -1,
                               -1, 0);
    X509_set_subject_name(x, name);
    assert_true(X509_sign(x, ca_key, EVP_sha256()) > 0);
    PEM_write_bio_X509(out, x);
    len = BIO_get_mem_data(out, &data);
    res = xstrndup(data, (size_t)len);
    BIO_free(out);
    X509_NAME_free(name);
    X509_free(x);
    X509_free(ca);
    EVP_PKEY_free(ca_key);
    return res;
}

/* Replaces the certificatePEM of an entry through the JSON form. */
static struct pki_bundle *with_cert(struct pki_bundle *b, const char *name, const char *pem)
{
    struct jval *j = pki_bundle_to_jval(b);
    struct pki_bundle *nb = NULL;

    jval_set_str(jval_get(j, name), "certificatePEM", pem);
    assert_int_equal(pki_bundle_from_jval(j, &nb, NULL), RKC_OK);
    jval_decref(j);
    pki_bundle_free(b);
    return nb;
}

static void test_reconcile_reissues_bad_leaves(void **state)
{
    struct pki_request req = request(three_nodes, 3);
    struct pki_bundle *b = generate(&req), *other = generate(&req);
    char *pem;
    struct pki_changes ch;
    struct rkc_error err;
    const char *const want[] = { PKI_ADMIN };

    (void)state;
    /* expiring within PKI_RENEW_BEFORE_DAYS */
    pem = short_lived_admin(b, 86400, PKI_ADMIN_ORG);
    b = with_cert(b, PKI_ADMIN, pem);
    free(pem);
    assert_int_equal(pki_bundle_reconcile(b, &req, &ch, &err), RKC_OK);
    assert_names(ch.issued, ch.nissued, want, 1);
    pki_changes_release(&ch);

    /* wrong organisation */
    pem = short_lived_admin(b, 200L * 86400, "system:nodes");
    b = with_cert(b, PKI_ADMIN, pem);
    free(pem);
    assert_int_equal(pki_bundle_reconcile(b, &req, &ch, &err), RKC_OK);
    assert_names(ch.issued, ch.nissued, want, 1);
    pki_changes_release(&ch);

    /* signed by another CA (and its key no longer matches) */
    b = with_cert(b, PKI_ADMIN, pki_bundle_get(other, PKI_ADMIN)->cert_pem);
    assert_int_equal(pki_bundle_reconcile(b, &req, &ch, &err), RKC_OK);
    assert_names(ch.issued, ch.nissued, want, 1);
    pki_changes_release(&ch);
    assert_int_equal(verify_chain(b, pki_bundle_get(b, PKI_ADMIN)->cert_pem), 1);

    /* garbage */
    b = with_cert(b, PKI_ADMIN, "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n");
    assert_int_equal(pki_bundle_reconcile(b, &req, &ch, &err), RKC_OK);
    assert_names(ch.issued, ch.nissued, want, 1);
    pki_changes_release(&ch);

    /* a broken CA is never replaced */
    b = with_cert(b, PKI_CA, "not a certificate");
    assert_int_equal(pki_bundle_reconcile(b, &req, &ch, &err), RKC_ECRYPTO);
    assert_non_null(strstr(err.msg, "certificate bundle: 'kube-ca' is unusable"));
    assert_null(strstr(err.msg, "PRIVATE"));
    pki_bundle_free(b);

    /* entries without a CA: refused */
    {
        struct jval *j = pki_bundle_to_jval(other);

        jval_del(j, PKI_CA);
        assert_int_equal(pki_bundle_from_jval(j, &b, NULL), RKC_OK);
        jval_decref(j);
        assert_int_equal(pki_bundle_reconcile(b, &req, NULL, &err), RKC_ECRYPTO);
        assert_non_null(strstr(err.msg, "has no 'kube-ca'"));
        pki_bundle_free(b);
    }
    pki_bundle_free(other);
}

/* A self-signed P-256 CA that lives `days`. Fills PEMs (new). */
static void short_lived_ca(long days, char **ret_cert, char **ret_key)
{
    EVP_PKEY *key = EVP_EC_gen("P-256");
    X509 *x = X509_new();
    BASIC_CONSTRAINTS *bc = BASIC_CONSTRAINTS_new();
    BIO *out = BIO_new(BIO_s_mem());
    char *data = NULL;
    long len;

    assert_non_null(key);
    bc->ca = 0xff;
    X509_set_version(x, 2);
    ASN1_INTEGER_set(X509_get_serialNumber(x), 42);
    X509_gmtime_adj(X509_getm_notBefore(x), -60);
    X509_gmtime_adj(X509_getm_notAfter(x), days * 86400);
    X509_NAME_add_entry_by_txt(X509_get_subject_name(x), "CN", MBSTRING_UTF8,
                               (const unsigned char *)"kube-ca", -1, -1, 0);
    X509_set_issuer_name(x, X509_get_subject_name(x));
    X509_set_pubkey(x, key);
    X509_add1_ext_i2d(x, NID_basic_constraints, bc, 1, 0);
    assert_true(X509_sign(x, key, EVP_sha256()) > 0);
    PEM_write_bio_X509(out, x);
    len = BIO_get_mem_data(out, &data);
    *ret_cert = xstrndup(data, (size_t)len);
    (void)BIO_reset(out);
    PEM_write_bio_PrivateKey(out, key, NULL, NULL, 0, NULL, NULL);
    len = BIO_get_mem_data(out, &data);
    *ret_key = xstrndup(data, (size_t)len);
    BIO_free(out);
    BASIC_CONSTRAINTS_free(bc);
    X509_free(x);
    EVP_PKEY_free(key);
}

static void test_leaves_never_outlive_ca(void **state)
{
    struct pki_request req = request(three_nodes, 3);
    struct pki_bundle *b = generate(&req), *nb = NULL;
    struct jval *j = pki_bundle_to_jval(b);
    char *ca_cert, *ca_key;
    struct pki_changes ch;
    struct pki_cert_info ca_info, info;
    struct rkc_error err;
    size_t i;

    (void)state;
    /* the state now holds a CA with 10 days left and leaves from another CA */
    short_lived_ca(10, &ca_cert, &ca_key);
    jval_set_str(jval_get(j, PKI_CA), "certificatePEM", ca_cert);
    jval_set_str(jval_get(j, PKI_CA), "keyPEM", ca_key);
    assert_int_equal(pki_bundle_from_jval(j, &nb, &err), RKC_OK);
    jval_decref(j);
    pki_bundle_free(b);
    b = nb;

    assert_int_equal(pki_bundle_reconcile(b, &req, &ch, &err), RKC_OK);
    assert_int_equal(ch.nissued, 5); /* every leaf; the CA and the SA key are kept */
    pki_changes_release(&ch);
    assert_string_equal(pki_bundle_get(b, PKI_CA)->cert_pem, ca_cert);
    ca_info = info_of(b, PKI_CA);
    for (i = 0; i < pki_bundle_size(b); i++) {
        const struct pki_cert *c = pki_bundle_at(b, i);

        if (!c->cert_pem || !strcmp(c->name, PKI_CA))
            continue;
        assert_int_equal(verify_chain(b, c->cert_pem), 1);
        info = info_of(b, c->name);
        assert_true(info.not_after <= ca_info.not_after);
        pki_cert_info_release(&info);
    }
    pki_cert_info_release(&ca_info);
    /* capped leaves expire "soon" but cannot do better: a re-run issues nothing */
    assert_int_equal(pki_bundle_reconcile(b, &req, &ch, &err), RKC_OK);
    assert_int_equal(ch.nissued + ch.nremoved, 0);
    pki_changes_release(&ch);

    free(ca_cert);
    rkc_wipe(ca_key, strlen(ca_key));
    free(ca_key);
    pki_bundle_free(b);
}

static void test_request_from_config(void **state)
{
    static const char yml[] = "cluster_name: prod\n"
                              "nodes:\n"
                              "  - address: 10.0.0.1\n"
                              "    hostname_override: cp1\n"
                              "    role: [controlplane, etcd]\n"
                              "  - address: 10.0.0.2\n"
                              "    role: [worker]\n"
                              "services:\n"
                              "  kube-api:\n"
                              "    service_cluster_ip_range: 10.96.0.0/12\n";
    struct cluster_config *cfg = NULL;
    struct pki_request req;
    struct pki_bundle *b;
    struct pki_cert_info info;
    struct rkc_error err;

    (void)state;
    assert_int_equal(config_parse("cluster.yml", "/tmp", yml, strlen(yml), &cfg, &err), RKC_OK);
    pki_request_from_config(cfg, &req);
    assert_string_equal(req.cluster_name, "prod");
    assert_int_equal(req.nnodes, 2);
    assert_string_equal(req.nodes[0].name, "cp1");
    assert_string_equal(req.nodes[0].address, "10.0.0.1");
    assert_int_equal(req.nodes[0].roles, CONFIG_ROLE_CONTROLPLANE | CONFIG_ROLE_ETCD);
    assert_string_equal(req.nodes[1].name, "10.0.0.2");
    assert_string_equal(req.service_cidr, "10.96.0.0/12");
    b = generate(&req);
    assert_non_null(pki_bundle_get(b, "kube-etcd-cp1"));
    info = info_of(b, PKI_APISERVER);
    assert_true(has(info.ips, info.nips, "10.96.0.1"));
    assert_false(has(info.ips, info.nips, "10.0.0.2"));
    pki_cert_info_release(&info);
    pki_bundle_free(b);
    pki_request_release(&req);
    config_free(cfg);
}

static char *tmpdir_new(void)
{
    const char *t = getenv("TMPDIR");
    char *d = xasprintf("%s/rkc-pki-XXXXXX", t && *t ? t : "/tmp");

    assert_non_null(mkdtemp(d));
    return d;
}

static mode_t mode_of(const char *dir, const char *name)
{
    char *p = fs_join(dir, name);
    struct stat st;

    assert_int_equal(stat(p, &st), 0);
    free(p);
    return st.st_mode & 07777;
}

static struct timespec mtime_of(const char *dir, const char *name)
{
    char *p = fs_join(dir, name);
    struct stat st;

    assert_int_equal(stat(p, &st), 0);
    free(p);
    return st.st_mtim;
}

static void test_write_dir(void **state)
{
    static const char *const cp_files[] = {
        "kube-ca.pem",
        "kube-etcd-cp1.pem",
        "kube-etcd-cp1-key.pem",
        "kube-etcd-client.pem",
        "kube-etcd-client-key.pem",
        "kube-apiserver.pem",
        "kube-apiserver-key.pem",
        "kube-admin.pem",
        "kube-admin-key.pem",
        "kube-service-account-token.pem",
        "kube-service-account-token-key.pem",
    };
    struct pki_request req = request(three_nodes, 3);
    struct pki_bundle *b = generate(&req);
    char *tmp = tmpdir_new();
    char *dir = xasprintf("%s/prefix/etc/kubernetes/ssl/", tmp);
    char *clean = xasprintf("%s/prefix/etc/kubernetes/ssl", tmp);
    struct timespec m1, m2;
    unsigned changed = 0;
    struct rkc_error err;
    struct strbuf sb = STRBUF_INIT;
    size_t i;
    char *p;

    (void)state;
    assert_int_equal(pki_bundle_write_dir(b, dir, three_nodes[0].roles, "cp1", &changed, &err),
                     RKC_OK);
    assert_int_equal(changed, CONFIG_ROLE_CONTROLPLANE | CONFIG_ROLE_ETCD);
    assert_int_equal(mode_of(tmp, "prefix/etc/kubernetes/ssl"), 0700);
    for (i = 0; i < sizeof(cp_files) / sizeof(cp_files[0]); i++) {
        bool key = strstr(cp_files[i], "-key.pem") != NULL;

        assert_int_equal(mode_of(clean, cp_files[i]), key ? 0600 : 0644);
    }
    assert_false(fs_exists(p = fs_join(clean, "kube-ca-key.pem")));
    free(p);
    p = fs_join(clean, "kube-service-account-token.pem");
    assert_int_equal(strbuf_read_file(&sb, p, NULL), RKC_OK);
    assert_string_equal(sb.buf, pki_bundle_get(b, PKI_SERVICE_ACCOUNT)->pub_pem);
    strbuf_release(&sb);
    free(p);

    /* second write: nothing changes, mtimes untouched */
    m1 = mtime_of(clean, "kube-apiserver-key.pem");
    assert_int_equal(pki_bundle_write_dir(b, dir, three_nodes[0].roles, "cp1", &changed, &err),
                     RKC_OK);
    assert_int_equal(changed, 0);
    m2 = mtime_of(clean, "kube-apiserver-key.pem");
    assert_true(m1.tv_sec == m2.tv_sec && m1.tv_nsec == m2.tv_nsec);

    /* a loosened mode is repaired without a rewrite */
    p = fs_join(clean, "kube-admin-key.pem");
    assert_int_equal(chmod(p, 0644), 0);
    assert_int_equal(chmod(clean, 0755), 0);
    assert_int_equal(pki_bundle_write_dir(b, dir, three_nodes[0].roles, "cp1", &changed, &err),
                     RKC_OK);
    assert_int_equal(changed, 0);
    assert_int_equal(mode_of(clean, "kube-admin-key.pem"), 0600);
    assert_int_equal(mode_of(tmp, "prefix/etc/kubernetes/ssl"), 0700);
    /* a tampered file is rewritten; only the readers' role is reported */
    assert_int_equal(fs_write_atomic(p, "x", 1, 0600, NULL), RKC_OK);
    free(p);
    p = fs_join(clean, "kube-apiserver.pem");
    assert_int_equal(fs_write_atomic(p, "x", 1, 0644, NULL), RKC_OK);
    free(p);
    assert_int_equal(pki_bundle_write_dir(b, dir, three_nodes[0].roles, "cp1", &changed, &err),
                     RKC_OK);
    assert_int_equal(changed, CONFIG_ROLE_CONTROLPLANE);

    /* an etcd-only node gets its own cert and the etcd client cert, nothing else */
    {
        struct pki_file *files = NULL;
        size_t n = 0;

        assert_int_equal(pki_bundle_node_files(b, CONFIG_ROLE_ETCD | CONFIG_ROLE_WORKER, "10.0.0.2",
                                               &files, &n, &err),
                         RKC_OK);
        assert_int_equal(n, 5);
        assert_string_equal(files[0].file_name, "kube-ca.pem");
        assert_string_equal(files[1].file_name, "kube-etcd-10-0-0-2.pem");
        assert_string_equal(files[2].file_name, "kube-etcd-10-0-0-2-key.pem");
        assert_int_equal(files[2].mode, 0600);
        assert_string_equal(files[3].file_name, "kube-etcd-client.pem");
        pki_files_free(files, n);
        assert_int_equal(pki_bundle_node_files(b, CONFIG_ROLE_WORKER, "w", &files, &n, &err),
                         RKC_OK);
        assert_int_equal(n, 1);
        pki_files_free(files, n);
        assert_int_equal(pki_bundle_node_files(b, CONFIG_ROLE_ETCD, "nope", &files, &n, &err),
                         RKC_ENOTFOUND);
        assert_string_equal(err.msg, "certificate bundle has no 'kube-etcd-nope'");
    }

    assert_int_equal(fs_remove_tree(tmp, NULL), RKC_OK);
    free(tmp);
    free(dir);
    free(clean);
    pki_bundle_free(b);
}

static void test_broken_pems(void **state)
{
    struct pki_request req = request(three_nodes, 1);
    struct pki_bundle *b = generate(&req);
    const char *good = pki_bundle_get(b, PKI_APISERVER)->cert_pem;
    size_t glen = strlen(good);
    struct pki_cert_info info;
    struct rkc_error err;
    char *buf;

    (void)state;
    assert_int_equal(pki_cert_info("", 0, &info, &err), RKC_EINVAL);
    assert_string_equal(err.msg, "parse certificate: no '-----BEGIN CERTIFICATE-----' block");
    assert_int_equal(pki_cert_info("hello", 5, &info, &err), RKC_EINVAL);

    /* truncated body */
    assert_int_equal(pki_cert_info(good, glen / 2, &info, &err), RKC_EINVAL);
    assert_non_null(strstr(err.msg, "parse certificate: "));
    /* corrupted DER inside valid base64 */
    buf = xstrdup(good);
    buf[100] = buf[100] == 'A' ? 'B' : 'A';
    buf[101] = buf[101] == 'A' ? 'B' : 'A';
    buf[102] = buf[102] == 'A' ? 'B' : 'A';
    if (pki_cert_info(buf, glen, &info, &err) == RKC_OK)
        pki_cert_info_release(&info); /* a flip in a string field may still parse */
    /* invalid base64 */
    buf[70] = '!';
    assert_int_equal(pki_cert_info(buf, glen, &info, &err), RKC_EINVAL);
    assert_true(strncmp(err.msg, "parse certificate: ", 19) == 0);
    free(buf);

    /* not NUL-terminated: the length is honoured */
    buf = xmemdup(good, glen);
    assert_int_equal(pki_cert_info(buf, glen, &info, &err), RKC_OK);
    pki_cert_info_release(&info);
    free(buf);

    /* too large */
    buf = xcalloc(1, PKI_PEM_MAX + 2);
    memset(buf, 'A', PKI_PEM_MAX + 1);
    assert_int_equal(pki_cert_info(buf, PKI_PEM_MAX + 1, &info, &err), RKC_ELIMIT);
    free(buf);

    /* keys: garbage, a key that does not match, an encrypted key is refused */
    assert_int_equal(pki_key_check("nope", 4, NULL, 0, &err), RKC_EINVAL);
    assert_true(strncmp(err.msg, "parse private key", 17) == 0);
    {
        const char *k = pki_bundle_get(b, PKI_ADMIN)->key_pem;

        assert_int_equal(pki_key_check(k, strlen(k), good, glen, &err), RKC_EINVAL);
        assert_string_equal(err.msg, "private key does not match the certificate");
        assert_null(strstr(err.msg, "PRIVATE"));
    }
    pki_bundle_free(b);
}

static bool b64_decodes_to(const char *b64, const char *want)
{
    size_t n = strlen(b64);
    unsigned char *out = xmalloc(n + 1);
    int len = EVP_DecodeBlock(out, (const unsigned char *)b64, (int)n);
    bool ok;

    /* EVP_DecodeBlock keeps padding bytes as zeros */
    while (len > 0 && n > 0 && b64[n - 1] == '=') {
        len--;
        n--;
    }
    ok = len == (int)strlen(want) && !memcmp(out, want, (size_t)len);
    free(out);
    return ok;
}

static void test_kubeconfig(void **state)
{
    struct pki_request req = request(three_nodes, 1);
    struct pki_bundle *b = generate(&req);
    const char *ca = pki_bundle_get(b, PKI_CA)->cert_pem;
    const char *cert = pki_bundle_get(b, PKI_ADMIN)->cert_pem;
    const char *key = pki_bundle_get(b, PKI_ADMIN)->key_pem;
    struct strbuf sb = STRBUF_INIT;
    struct ytree_node *root = NULL, *n;
    struct rkc_error err;
    const char *s;
    char *tmp, *path;
    bool changed = false;
    struct stat st;

    (void)state;
    assert_int_equal(kubeconfig_render("true", "https://127.0.0.1:6443", ca, cert, key, &sb, &err),
                     RKC_OK);
    assert_int_equal(ytree_parse("kubeconfig", sb.buf, sb.len, &root, &err), RKC_OK);
    assert_int_equal(ytree_get_string("k", ytree_map_get(root, "current-context"), "c", &s, &err),
                     RKC_OK);
    assert_string_equal(s, "true"); /* a YAML-looking name stays a string */
    assert_int_equal(ytree_map_get(ytree_map_get(root, "current-context"), "x") == NULL, 1);
    n = ytree_map_get(root, "clusters")->items[0];
    assert_string_equal(ytree_map_get(n, "name")->str, "true");
    assert_string_equal(ytree_map_get(ytree_map_get(n, "cluster"), "server")->str,
                        "https://127.0.0.1:6443");
    assert_true(b64_decodes_to(
        ytree_map_get(ytree_map_get(n, "cluster"), "certificate-authority-data")->str, ca));
    n = ytree_map_get(root, "contexts")->items[0];
    assert_string_equal(ytree_map_get(ytree_map_get(n, "context"), "user")->str, "kube-admin-true");
    n = ytree_map_get(root, "users")->items[0];
    assert_string_equal(ytree_map_get(n, "name")->str, "kube-admin-true");
    assert_true(b64_decodes_to(
        ytree_map_get(ytree_map_get(n, "user"), "client-certificate-data")->str, cert));
    assert_true(
        b64_decodes_to(ytree_map_get(ytree_map_get(n, "user"), "client-key-data")->str, key));
    ytree_free(root);

    tmp = tmpdir_new();
    path = fs_join(tmp, "kube_config_cluster.yml");
    assert_int_equal(kubeconfig_write(path, &sb, &changed, &err), RKC_OK);
    assert_true(changed);
    assert_int_equal(stat(path, &st), 0);
    assert_int_equal(st.st_mode & 07777, 0600);
    assert_int_equal(kubeconfig_write(path, &sb, &changed, &err), RKC_OK);
    assert_false(changed);
    assert_int_equal(fs_remove_tree(tmp, NULL), RKC_OK);
    free(path);
    free(tmp);
    strbuf_release_wipe(&sb);

    assert_int_equal(kubeconfig_render("", "https://x", ca, cert, key, &sb, &err), RKC_EINVAL);
    pki_bundle_free(b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_generate_three_nodes),
        cmocka_unit_test(test_rsa_and_service_cidr),
        cmocka_unit_test(test_bad_node_names),
        cmocka_unit_test(test_json_round_trip),
        cmocka_unit_test(test_from_jval_errors),
        cmocka_unit_test(test_reconcile),
        cmocka_unit_test(test_reconcile_reissues_bad_leaves),
        cmocka_unit_test(test_leaves_never_outlive_ca),
        cmocka_unit_test(test_request_from_config),
        cmocka_unit_test(test_write_dir),
        cmocka_unit_test(test_broken_pems),
        cmocka_unit_test(test_kubeconfig),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
