/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Unit tests for core/snapshot and crypto/seal: the manifest format (round trip, strict
 * parse), the sealed bundle (round trip, wrong passphrase, tampering, another snapshot's
 * AAD) and the key-needs computation over values written by the real transformers.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "core/encplan.h"
#include "core/snapshot.h"
#include "crypto/encconfig.h"
#include "crypto/seal.h"
#include "crypto/transformer.h"
#include "util/strbuf.h"

static const char SHA[] = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

static void fill_manifest(struct snapshot_manifest *m)
{
    struct snapshot_keyuse *u;

    snapshot_manifest_init(m);
    m->name = strdup("it-20240501T120000Z");
    m->cluster = strdup("it");
    m->created_at = strdup("2024-05-01T12:00:00Z");
    m->rkc_version = strdup("0.1.0");
    m->sha256 = strdup(SHA);
    m->size = 12345;
    m->revision = 77;
    m->config_hash = strdup("sha256:abc");
    u = snapshot_manifest_keyuse(m, "secrets", "aescbc", "k-aaaaa", true);
    u->count = 10;
    free(u->fingerprint);
    u->fingerprint = strdup("00112233aabbccdd");
    snapshot_manifest_keyuse(m, "secrets", "aesgcm", "k-bbbbb", true)->count = 2;
    m->resources[0].total = 15;
    m->resources[0].plaintext = 3;
}

static void test_manifest_round_trip(void **state)
{
    struct snapshot_manifest m, back;
    struct strbuf out = STRBUF_INIT, again = STRBUF_INIT;
    struct rkc_error err;

    (void)state;
    fill_manifest(&m);
    snapshot_manifest_emit(&m, &out);
    assert_non_null(strstr(out.buf, "\"kind\": \"SnapshotManifest\""));
    assert_non_null(strstr(out.buf, "\"file\": \"it-20240501T120000Z.db\""));
    assert_null(strstr(out.buf, "secret\""));
    assert_int_equal(snapshot_manifest_parse("m.json", out.buf, out.len, &back, &err), RKC_OK);
    assert_string_equal(back.cluster, "it");
    assert_int_equal(back.revision, 77);
    assert_int_equal(back.size, 12345);
    assert_null(back.sealed_file);
    assert_int_equal(back.nresources, 1);
    assert_int_equal(back.resources[0].nkeys, 2);
    assert_int_equal(back.resources[0].plaintext, 3);
    assert_string_equal(back.resources[0].keys[0].fingerprint, "00112233aabbccdd");
    snapshot_manifest_emit(&back, &again);
    assert_string_equal(out.buf, again.buf);
    snapshot_manifest_release(&back);
    snapshot_manifest_release(&m);
    strbuf_release(&out);
    strbuf_release(&again);
}

static void expect_bad(const char *text, const char *msg_part)
{
    struct snapshot_manifest m;
    struct rkc_error err;

    assert_int_equal(snapshot_manifest_parse("m.json", text, strlen(text), &m, &err), RKC_ECONFIG);
    if (!strstr(err.msg, msg_part)) {
        print_error("message '%s' lacks '%s'\n", err.msg, msg_part);
        fail();
    }
}

static void test_manifest_strict(void **state)
{
    struct snapshot_manifest m;
    struct strbuf out = STRBUF_INIT;
    char *bad;

    (void)state;
    expect_bad("{", "m.json");
    expect_bad("{\"kind\":\"Other\"}", "not an rkc snapshot manifest");
    fill_manifest(&m);
    snapshot_manifest_emit(&m, &out);
    snapshot_manifest_release(&m);
    bad = strdup(out.buf);
    memcpy(strstr(bad, SHA), "zz", 2);
    expect_bad(bad, "not a sha256");
    free(bad);
    bad = strdup(out.buf);
    memcpy(strstr(bad, "\"count\": 10"), "\"count\": -1", 11);
    expect_bad(bad, "'count' must be a non-negative integer");
    free(bad);
    strbuf_release(&out);
}

static void test_seal_round_trip_and_failures(void **state)
{
    static const char pt[] = "{\"keys\":[]} some plaintext";
    struct strbuf blob = STRBUF_INIT, back = STRBUF_INIT;
    struct rkc_error err;
    char *copy;

    (void)state;
    assert_int_equal(
        seal_blob("pass", pt, sizeof(pt), "aad", 3, SEAL_COST_INTERACTIVE, &blob, &err), RKC_OK);
    assert_memory_equal(blob.buf, SEAL_MAGIC, 8);
    assert_null(memmem(blob.buf, blob.len, "plaintext", 9));
    assert_int_equal(seal_open("pass", blob.buf, blob.len, "aad", 3, &back, &err), RKC_OK);
    assert_int_equal(back.len, sizeof(pt));
    assert_memory_equal(back.buf, pt, sizeof(pt));
    /* wrong passphrase */
    assert_int_equal(seal_open("Pass", blob.buf, blob.len, "aad", 3, &back, &err), RKC_ECRYPTO);
    assert_string_equal(err.msg, "wrong passphrase, or the sealed bundle was modified");
    assert_int_equal(back.len, 0);
    /* another snapshot (AAD) */
    assert_int_equal(seal_open("pass", blob.buf, blob.len, "aae", 3, &back, &err), RKC_ECRYPTO);
    /* a flipped ciphertext byte, a flipped salt byte */
    copy = malloc(blob.len);
    memcpy(copy, blob.buf, blob.len);
    copy[blob.len - 20] ^= 1;
    assert_int_equal(seal_open("pass", copy, blob.len, "aad", 3, &back, &err), RKC_ECRYPTO);
    memcpy(copy, blob.buf, blob.len);
    copy[30] ^= 1;
    assert_int_equal(seal_open("pass", copy, blob.len, "aad", 3, &back, &err), RKC_ECRYPTO);
    /* the limits in the header are authenticated too; absurd ones are refused */
    memcpy(copy, blob.buf, blob.len);
    copy[12] = 0x7f;
    assert_int_equal(seal_open("pass", copy, blob.len, "aad", 3, &back, &err), RKC_EINVAL);
    /* truncated, not a bundle, empty passphrase */
    assert_int_equal(seal_open("pass", blob.buf, 40, "aad", 3, &back, &err), RKC_EINVAL);
    assert_int_equal(
        seal_open("pass",
                  "RKCSEAL2xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx", 72,
                  "aad", 3, &back, &err),
        RKC_EINVAL);
    assert_int_equal(seal_blob("", pt, sizeof(pt), NULL, 0, SEAL_COST_INTERACTIVE, &blob, &err),
                     RKC_EINVAL);
    free(copy);
    strbuf_release(&blob);
    strbuf_release_wipe(&back);
}

/* Writes a Secret value with a one-key config of kind, as kube-apiserver would store it. */
static void stored(enum encconfig_kind kind, const char *name, unsigned char fill, const char *key,
                   struct strbuf *out)
{
    unsigned char secret[32];
    struct encconfig *cfg = encconfig_new("<test>");
    struct encconfig_resource *r = encconfig_add_resource(cfg);
    struct encset *set = NULL;
    struct rkc_error err;
    static const char pt[] = "{\"kind\":\"Secret\"}";

    memset(secret, fill, sizeof(secret));
    encconfig_resource_add_name(r, "secrets");
    encconfig_provider_add_key(encconfig_resource_add_provider(r, kind), name, secret, 32);
    assert_int_equal(encconfig_build(cfg, NULL, &set, &err), RKC_OK);
    assert_int_equal(xf_chain_write(encset_chain_for(set, "secrets"), key, (const uint8_t *)pt,
                                    sizeof(pt) - 1, out, &err),
                     RKC_OK);
    encset_free(set);
    encconfig_free(cfg);
}

static void test_needs(void **state)
{
    struct snapshot_manifest m;
    struct snapshot_needs n;
    struct snapshot_keypool pool = { 0 };
    struct snapshot_need *v = NULL;
    struct strbuf a = STRBUF_INIT, b = STRBUF_INIT, c = STRBUF_INIT, missing = STRBUF_INIT;
    unsigned char k1[32], k2[32], wrong[32];
    struct encconfig *readers, *merged;
    size_t nn = 0, nmissing = 0;

    (void)state;
    memset(k1, 1, 32);
    memset(k2, 2, 32);
    memset(wrong, 9, 32);
    stored(ENCCONFIG_AESCBC, "k-one11", 1, "/registry/secrets/ns/a", &a);
    stored(ENCCONFIG_AESGCM, "k-two22", 2, "/registry/secrets/ns/b", &b);
    stored(ENCCONFIG_AESCBC, "k-one11", 1, "/registry/configmaps/ns/c", &c);
    snapshot_manifest_init(&m);
    snapshot_needs_init(&n, &m);
    snapshot_needs_add(&n, "/registry", "/registry/secrets/ns/a", a.buf, a.len);
    snapshot_needs_add(&n, "/registry", "/registry/secrets/ns/a2", a.buf, a.len);
    snapshot_needs_add(&n, "/registry", "/registry/secrets/ns/b", b.buf, b.len);
    snapshot_needs_add(&n, "/registry", "/registry/secrets/ns/p", "{\"plain\":1}", 11);
    snapshot_needs_add(&n, "/registry", "/registry/configmaps/ns/c", c.buf, c.len);
    assert_int_equal(m.nresources, 2);
    assert_string_equal(m.resources[0].resource, "secrets");
    assert_int_equal(m.resources[0].total, 4);
    assert_int_equal(m.resources[0].plaintext, 1);
    assert_int_equal(m.resources[0].nkeys, 2);
    assert_int_equal(snapshot_manifest_keyuse(&m, "secrets", "aescbc", "k-one11", false)->count, 2);

    /* a key with the right name but another secret does not count; the real one does */
    snapshot_keypool_add(&pool, ENCCONFIG_AESCBC, "k-one11", wrong, 32, SNAPSHOT_KEY_CONFIG);
    snapshot_needs_resolve(&n, &pool, &v, &nn, &nmissing);
    assert_int_equal(nn, 2);
    assert_int_equal(nmissing, 2);
    snapshot_needs_format_missing(v, nn, &missing);
    assert_string_equal(missing.buf, "aescbc key 'k-one11', aesgcm key 'k-two22'");
    free(v);
    snapshot_keypool_add(&pool, ENCCONFIG_AESCBC, "k-one11", k1, 32, SNAPSHOT_KEY_ARCHIVE);
    snapshot_keypool_add(&pool, ENCCONFIG_AESCBC, "k-two22", k2, 32, SNAPSHOT_KEY_ARCHIVE);
    snapshot_needs_resolve(&n, &pool, &v, &nn, &nmissing);
    assert_int_equal(nmissing, 1); /* k-two22 is aesgcm in the data: kind must match */
    free(v);
    snapshot_keypool_add(&pool, ENCCONFIG_AESGCM, "k-two22", k2, 32, SNAPSHOT_KEY_BUNDLE);
    snapshot_needs_resolve(&n, &pool, &v, &nn, &nmissing);
    assert_int_equal(nmissing, 0);
    assert_int_equal(v[0].key->source, SNAPSHOT_KEY_ARCHIVE);
    assert_int_equal(v[1].key->source, SNAPSHOT_KEY_BUNDLE);
    /* fingerprints were filled in from the keys that read the samples, in every resource */
    assert_string_equal(
        snapshot_manifest_keyuse(&m, "secrets", "aescbc", "k-one11", false)->fingerprint,
        v[0].key->fingerprint);
    assert_string_equal(
        snapshot_manifest_keyuse(&m, "configmaps", "aescbc", "k-one11", false)->fingerprint,
        v[0].key->fingerprint);

    /* the readers config, merged behind "no encryption", reads every value */
    readers = snapshot_readers_config(&m, v, nn);
    merged = encplan_merge(NULL, readers);
    {
        struct encset *set = NULL;
        struct strbuf pt = STRBUF_INIT;
        struct rkc_error err;

        assert_int_equal(encconfig_build(merged, NULL, &set, &err), RKC_OK);
        assert_int_equal(xf_chain_read(encset_chain_for(set, "secrets"), "/registry/secrets/ns/b",
                                       (const uint8_t *)b.buf, b.len, &pt, NULL, &err),
                         RKC_OK);
        assert_int_equal(xf_chain_read(encset_chain_for(set, "configmaps"),
                                       "/registry/configmaps/ns/c", (const uint8_t *)c.buf, c.len,
                                       &pt, NULL, &err),
                         RKC_OK);
        assert_int_equal(xf_chain_write(encset_chain_for(set, "secrets"), "/x",
                                        (const uint8_t *)"p", 1, &pt, &err),
                         RKC_OK);
        assert_memory_equal(pt.buf, "p", 1); /* identity still writes */
        strbuf_release(&pt);
        encset_free(set);
    }

    /* the bundle carries exactly the needed keys */
    {
        struct strbuf blob = STRBUF_INIT;
        struct snapshot_keypool back = { 0 };
        struct rkc_error err;

        assert_int_equal(snapshot_bundle_seal(v, nn, "pw", SHA, SEAL_COST_INTERACTIVE, &blob, &err),
                         RKC_OK);
        assert_int_equal(snapshot_bundle_open(blob.buf, blob.len, "pw", SHA, &back, &err), RKC_OK);
        assert_int_equal(back.nr, 2);
        assert_string_equal(back.v[0].fingerprint, v[0].key->fingerprint);
        assert_int_equal(back.v[1].kind, ENCCONFIG_AESGCM);
        snapshot_keypool_release(&back);
        assert_int_equal(snapshot_bundle_open(blob.buf, blob.len, "pw", SHA + 1, &back, &err),
                         RKC_ECRYPTO);
        strbuf_release(&blob);
    }

    /* a manifest read back (no samples) resolves by name and fingerprint */
    {
        struct snapshot_needs n2;
        struct snapshot_need *v2 = NULL;
        struct snapshot_keypool p2 = { 0 };

        snapshot_needs_init(&n2, &m);
        snapshot_keypool_add(&p2, ENCCONFIG_AESCBC, "k-one11", wrong, 32, SNAPSHOT_KEY_ARCHIVE);
        snapshot_needs_resolve(&n2, &p2, &v2, &nn, &nmissing);
        assert_int_equal(nmissing, 2);
        free(v2);
        snapshot_keypool_release(&p2);
        snapshot_needs_release(&n2);
    }
    assert_true(snapshot_name_valid("it-20240501T120000Z"));
    assert_false(snapshot_name_valid("../x"));
    assert_false(snapshot_name_valid(".restore-pending"));
    assert_false(snapshot_name_valid(""));
    encconfig_free(readers);
    encconfig_free(merged);
    free(v);
    snapshot_needs_release(&n);
    snapshot_manifest_release(&m);
    snapshot_keypool_release(&pool);
    strbuf_release(&a);
    strbuf_release(&b);
    strbuf_release(&c);
    strbuf_release(&missing);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_manifest_round_trip),
        cmocka_unit_test(test_manifest_strict),
        cmocka_unit_test(test_seal_round_trip_and_failures),
        cmocka_unit_test(test_needs),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
