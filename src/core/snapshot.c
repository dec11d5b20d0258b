/* SPDX-License-Identifier: Apache-2.0 */
/* snapshot: manifests, key needs, candidate keys and sealed key bundles. */
#include "core/snapshot.h"

#include <stdlib.h>
#include <string.h>

#include "adapters/etcd.h"
#include "adapters/jval.h"
#include "crypto/b64.h"
#include "crypto/keygen.h"
#include "crypto/transformer.h"
#include "util/xalloc.h"

#include "util/banned.h"

#define SCAN_PAGE 500

/* One stored value kept to prove a candidate key reads what the snapshot holds. */
struct snapshot_sample {
    char *provider, *name, *key;
    char *value;
    size_t len;
};

/* ---- manifest ---- */

void snapshot_manifest_init(struct snapshot_manifest *m)
{
    memset(m, 0, sizeof(*m));
}

void snapshot_manifest_release(struct snapshot_manifest *m)
{
    size_t i, j;

    if (!m)
        return;
    for (i = 0; i < m->nresources; i++) {
        struct snapshot_resource *r = &m->resources[i];

        for (j = 0; j < r->nkeys; j++) {
            free(r->keys[j].provider);
            free(r->keys[j].name);
            free(r->keys[j].fingerprint);
        }
        free(r->keys);
        free(r->resource);
    }
    free(m->resources);
    free(m->name);
    free(m->cluster);
    free(m->created_at);
    free(m->rkc_version);
    free(m->sha256);
    free(m->config_hash);
    free(m->sealed_file);
    snapshot_manifest_init(m);
}

static struct snapshot_resource *manifest_resource(struct snapshot_manifest *m, const char *res,
                                                   bool add)
{
    struct snapshot_resource *r;
    size_t i;

    for (i = 0; i < m->nresources; i++) {
        if (!strcmp(m->resources[i].resource, res))
            return &m->resources[i];
    }
    if (!add)
        return NULL;
    ALLOC_GROW(m->resources, m->nresources + 1, m->resources_alloc);
    r = &m->resources[m->nresources++];
    memset(r, 0, sizeof(*r));
    r->resource = xstrdup(res);
    return r;
}

struct snapshot_keyuse *snapshot_manifest_keyuse(struct snapshot_manifest *m, const char *res,
                                                 const char *provider, const char *name, bool add)
{
    struct snapshot_resource *r = manifest_resource(m, res, add);
    struct snapshot_keyuse *k;
    size_t i;

    if (!r)
        return NULL;
    for (i = 0; i < r->nkeys; i++) {
        if (!strcmp(r->keys[i].provider, provider) && !strcmp(r->keys[i].name, name))
            return &r->keys[i];
    }
    if (!add)
        return NULL;
    ALLOC_GROW(r->keys, r->nkeys + 1, r->keys_alloc);
    k = &r->keys[r->nkeys++];
    k->provider = xstrdup(provider);
    k->name = xstrdup(name);
    k->fingerprint = xstrdup("");
    k->count = 0;
    return k;
}

void snapshot_manifest_emit(const struct snapshot_manifest *m, struct strbuf *out)
{
    struct jval *o = jval_object(), *snap = jval_object(), *res = jval_array();
    size_t i, j;

    jval_set_str(o, "apiVersion", SNAPSHOT_API_VERSION);
    jval_set_str(o, "kind", SNAPSHOT_MANIFEST_KIND);
    jval_set_str(o, "name", m->name);
    jval_set_str(o, "cluster", m->cluster);
    jval_set_str(o, "createdAt", m->created_at);
    jval_set_str(o, "rkcVersion", m->rkc_version);
    jval_set_int(o, "etcdRevision", m->revision);
    jval_set_str(snap, "file", "");
    jval_set_str(snap, "sha256", m->sha256);
    jval_set_int(snap, "size", (int64_t)m->size);
    jval_set_take(o, "snapshot", snap);
    jval_set_take(o, "encryptionConfigHash",
                  m->config_hash ? jval_string(m->config_hash) : jval_null());
    jval_set_take(o, "sealedKeys", m->sealed_file ? jval_string(m->sealed_file) : jval_null());
    for (i = 0; i < m->nresources; i++) {
        const struct snapshot_resource *r = &m->resources[i];
        struct jval *ro = jval_object(), *keys = jval_array();

        jval_set_str(ro, "resource", r->resource);
        jval_set_int(ro, "total", (int64_t)r->total);
        jval_set_int(ro, "plaintext", (int64_t)r->plaintext);
        for (j = 0; j < r->nkeys; j++) {
            struct jval *k = jval_object();

            jval_set_str(k, "provider", r->keys[j].provider);
            jval_set_str(k, "name", r->keys[j].name);
            jval_set_str(k, "fingerprint", r->keys[j].fingerprint);
            jval_set_int(k, "count", (int64_t)r->keys[j].count);
            jval_array_append_take(keys, k);
        }
        jval_set_take(ro, "keys", keys);
        jval_array_append_take(res, ro);
    }
    jval_set_take(o, "resources", res);
    {
        char *file = xasprintf("%s.db", m->name ? m->name : "");

        jval_set_str(snap, "file", file);
        free(file);
    }
    jval_dump(o, JVAL_PRETTY, out);
    jval_decref(o);
}

static enum rkc_err need_str(const char *file, const struct jval *o, const char *key, bool nullable,
                             char **ret, struct rkc_error *err)
{
    const struct jval *v = jval_get(o, key);

    *ret = NULL;
    if (nullable && (!v || jval_is_null(v)))
        return RKC_OK;
    if (!jval_is_string(v))
        return rkc_error_set(err, RKC_ECONFIG, "%s: field '%s' must be a string", file, key);
    *ret = xstrdup(jval_str(v, NULL));
    return RKC_OK;
}

static enum rkc_err need_count(const char *file, const struct jval *o, const char *key,
                               int64_t *ret, struct rkc_error *err)
{
    const struct jval *v = jval_get(o, key);

    if (!jval_is_integer(v) || jval_int(v) < 0)
        return rkc_error_set(err, RKC_ECONFIG, "%s: field '%s' must be a non-negative integer",
                             file, key);
    *ret = jval_int(v);
    return RKC_OK;
}

enum rkc_err snapshot_manifest_parse(const char *file, const char *buf, size_t len,
                                     struct snapshot_manifest *ret, struct rkc_error *err)
{
    struct jval *root = NULL;
    const struct jval *snap, *res;
    struct snapshot_manifest m;
    int64_t n = 0;
    size_t i, j;
    enum rkc_err rc;

    snapshot_manifest_init(&m);
    rc = jval_parse(file, buf, len, &root, err);
    if (rc)
        return rc;
    if (strcmp(jval_get_str(root, "kind", ""), SNAPSHOT_MANIFEST_KIND) ||
        strcmp(jval_get_str(root, "apiVersion", ""), SNAPSHOT_API_VERSION)) {
        rc = rkc_error_set(err, RKC_ECONFIG, "%s: not an rkc snapshot manifest (%s, %s)", file,
                           SNAPSHOT_API_VERSION, SNAPSHOT_MANIFEST_KIND);
        goto out;
    }
    snap = jval_get(root, "snapshot");
    if (!(rc = need_str(file, root, "name", false, &m.name, err)) &&
        !(rc = need_str(file, root, "cluster", false, &m.cluster, err)) &&
        !(rc = need_str(file, root, "createdAt", false, &m.created_at, err)) &&
        !(rc = need_str(file, root, "rkcVersion", false, &m.rkc_version, err)) &&
        !(rc = need_count(file, root, "etcdRevision", &m.revision, err)) &&
        !(rc = need_str(file, root, "encryptionConfigHash", true, &m.config_hash, err)) &&
        !(rc = need_str(file, root, "sealedKeys", true, &m.sealed_file, err)) &&
        !(rc = need_str(file, snap, "sha256", false, &m.sha256, err)) &&
        !(rc = need_count(file, snap, "size", &n, err)))
        m.size = (uint64_t)n;
    if (!rc && (strlen(m.sha256) != 64 || strspn(m.sha256, "0123456789abcdef") != 64))
        rc =
            rkc_error_set(err, RKC_ECONFIG, "%s: snapshot.sha256 is not a sha256 hex digest", file);
    res = jval_get(root, "resources");
    if (!rc && !jval_is_array(res))
        rc = rkc_error_set(err, RKC_ECONFIG, "%s: field 'resources' must be an array", file);
    for (i = 0; !rc && i < jval_array_size(res); i++) {
        const struct jval *ro = jval_array_get(res, i), *keys = jval_get(ro, "keys");
        struct snapshot_resource *r;
        char *name = NULL;

        rc = need_str(file, ro, "resource", false, &name, err);
        if (rc)
            break;
        r = manifest_resource(&m, name, true);
        free(name);
        if (!(rc = need_count(file, ro, "total", &n, err)))
            r->total = (size_t)n;
        if (!rc && !(rc = need_count(file, ro, "plaintext", &n, err)))
            r->plaintext = (size_t)n;
        if (!rc && !jval_is_array(keys))
            rc = rkc_error_set(err, RKC_ECONFIG, "%s: resources[%zu].keys must be an array", file,
                               i);
        for (j = 0; !rc && j < jval_array_size(keys); j++) {
            const struct jval *k = jval_array_get(keys, j);
            char *prov = NULL, *kname = NULL, *fp = NULL;
            struct snapshot_keyuse *u;

            if (!(rc = need_str(file, k, "provider", false, &prov, err)) &&
                !(rc = need_str(file, k, "name", false, &kname, err)) &&
                !(rc = need_str(file, k, "fingerprint", false, &fp, err)) &&
                !(rc = need_count(file, k, "count", &n, err))) {
                u = snapshot_manifest_keyuse(&m, r->resource, prov, kname, true);
                free(u->fingerprint);
                u->fingerprint = fp;
                fp = NULL;
                u->count = (size_t)n;
            }
            free(prov);
            free(kname);
            free(fp);
        }
    }
out:
    jval_decref(root);
    if (rc) {
        snapshot_manifest_release(&m);
        return rc;
    }
    *ret = m;
    return RKC_OK;
}

/* ---- key pool ---- */

const char *snapshot_key_source_name(enum snapshot_key_source src)
{
    switch (src) {
    case SNAPSHOT_KEY_CONFIG:
        return "config";
    case SNAPSHOT_KEY_ARCHIVE:
        return "archive";
    case SNAPSHOT_KEY_BUNDLE:
        return "sealed bundle";
    }
    return "?";
}

void snapshot_keypool_release(struct snapshot_keypool *p)
{
    size_t i;

    for (i = 0; p && i < p->nr; i++) {
        free(p->v[i].name);
        if (p->v[i].secret)
            rkc_wipe(p->v[i].secret, p->v[i].secret_len);
        free(p->v[i].secret);
    }
    if (p) {
        free(p->v);
        memset(p, 0, sizeof(*p));
    }
}

void snapshot_keypool_add(struct snapshot_keypool *p, enum encconfig_kind kind, const char *name,
                          const unsigned char *secret, size_t len, enum snapshot_key_source src)
{
    struct snapshot_key *k;
    size_t i;

    for (i = 0; i < p->nr; i++) {
        if (p->v[i].kind == kind && !strcmp(p->v[i].name, name) && p->v[i].secret_len == len &&
            (!len || !memcmp(p->v[i].secret, secret, len)))
            return;
    }
    ALLOC_GROW(p->v, p->nr + 1, p->alloc);
    k = &p->v[p->nr++];
    memset(k, 0, sizeof(*k));
    k->kind = kind;
    k->name = xstrdup(name);
    if (secret && len) {
        k->secret = xmemdup(secret, len);
        k->secret_len = len;
        keygen_fingerprint(secret, len, k->fingerprint);
    }
    k->source = src;
}

void snapshot_keypool_add_config(struct snapshot_keypool *p, const struct encconfig *cfg,
                                 enum snapshot_key_source src)
{
    size_t i, j, k;

    for (i = 0; cfg && i < cfg->nresources; i++) {
        for (j = 0; j < cfg->resources[i].nproviders; j++) {
            const struct encconfig_provider *pr = &cfg->resources[i].providers[j];

            if (pr->kind == ENCCONFIG_KMS)
                snapshot_keypool_add(p, pr->kind, pr->kms.name, NULL, 0, src);
            for (k = 0; k < pr->nkeys; k++)
                snapshot_keypool_add(p, pr->kind, pr->keys[k].name, pr->keys[k].secret,
                                     pr->keys[k].secret_len, src);
        }
    }
}

static enum encconfig_kind kind_parse(const char *s)
{
    static const enum encconfig_kind kinds[] = { ENCCONFIG_AESCBC, ENCCONFIG_AESGCM,
                                                 ENCCONFIG_SECRETBOX, ENCCONFIG_KMS };
    size_t i;

    for (i = 0; i < sizeof(kinds) / sizeof(kinds[0]); i++) {
        if (!strcmp(s, encconfig_kind_name(kinds[i])))
            return kinds[i];
    }
    return ENCCONFIG_NONE;
}

enum rkc_err snapshot_keypool_add_archive(struct snapshot_keypool *p, const struct rkc_state *st,
                                          struct rkc_error *err)
{
    size_t i;

    for (i = 0; i < state_retired_count(st); i++) {
        const struct state_retired_key *k = state_retired_at(st, i);
        struct strbuf raw = STRBUF_INIT;
        enum encconfig_kind kind = kind_parse(k->provider);

        if (kind == ENCCONFIG_NONE || kind == ENCCONFIG_KMS)
            continue;
        if (b64_decode(k->secret, strlen(k->secret), &raw, NULL)) {
            strbuf_release_wipe(&raw);
            return rkc_error_set(err, RKC_ECONFIG,
                                 "retired key '%s' in the archive is not valid base64", k->name);
        }
        snapshot_keypool_add(p, kind, k->name, (const unsigned char *)raw.buf, raw.len,
                             SNAPSHOT_KEY_ARCHIVE);
        strbuf_release_wipe(&raw);
    }
    return RKC_OK;
}

/* ---- key needs ---- */

void snapshot_needs_init(struct snapshot_needs *n, struct snapshot_manifest *m)
{
    memset(n, 0, sizeof(*n));
    n->m = m;
}

void snapshot_needs_release(struct snapshot_needs *n)
{
    size_t i;

    for (i = 0; n && i < n->nsamples; i++) {
        free(n->samples[i].provider);
        free(n->samples[i].name);
        free(n->samples[i].key);
        rkc_wipe(n->samples[i].value, n->samples[i].len);
        free(n->samples[i].value);
    }
    if (n) {
        free(n->samples);
        n->samples = NULL;
        n->nsamples = n->samples_alloc = 0;
    }
}

static struct snapshot_sample *find_sample(struct snapshot_needs *n, const char *provider,
                                           const char *name)
{
    size_t i;

    for (i = 0; i < n->nsamples; i++) {
        if (!strcmp(n->samples[i].provider, provider) && !strcmp(n->samples[i].name, name))
            return &n->samples[i];
    }
    return NULL;
}

void snapshot_needs_add(struct snapshot_needs *n, const char *prefix, const char *key,
                        const void *value, size_t len)
{
    size_t plen = strlen(prefix);
    const char *res = key, *slash;
    char *resource, *provider = NULL, *name = NULL;
    const char *v = value;
    struct snapshot_resource *r;

    if (!strncmp(key, prefix, plen) && key[plen] == '/')
        res = key + plen + 1;
    slash = strchr(res, '/');
    resource = slash ? xstrndup(res, (size_t)(slash - res)) : xstrdup(res);
    r = manifest_resource(n->m, resource, true);
    r->total++;
    if (len < 8 || memcmp(v, XF_ENCRYPTED_PREFIX, 8)) {
        r->plaintext++;
        free(resource);
        return;
    }
    /* k8s:enc:<provider>:<v1|v2>:<name>:<data> */
    {
        const char *p = v + 8, *end = v + len, *c1, *c2, *c3;

        c1 = memchr(p, ':', (size_t)(end - p));
        c2 = c1 ? memchr(c1 + 1, ':', (size_t)(end - c1 - 1)) : NULL;
        c3 = c2 ? memchr(c2 + 1, ':', (size_t)(end - c2 - 1)) : NULL;
        if (c3 && c3 - c2 - 1 <= XF_NAME_MAX) {
            provider = xstrndup(p, (size_t)(c1 - p));
            name = xstrndup(c2 + 1, (size_t)(c3 - c2 - 1));
        } else {
            provider = xstrdup("unknown");
            name = xstrdup("");
        }
    }
    snapshot_manifest_keyuse(n->m, resource, provider, name, true)->count++;
    if (!find_sample(n, provider, name)) {
        struct snapshot_sample *s;

        ALLOC_GROW(n->samples, n->nsamples + 1, n->samples_alloc);
        s = &n->samples[n->nsamples++];
        s->provider = provider;
        s->name = name;
        s->key = xstrdup(key);
        s->value = xmemdup(value, len);
        s->len = len;
        provider = name = NULL;
    }
    free(provider);
    free(name);
    free(resource);
}

enum rkc_err snapshot_needs_scan(struct snapshot_needs *n, struct etcd_client *etcd,
                                 const char *prefix, int64_t *ret_revision, struct rkc_error *err)
{
    char *start = xasprintf("%s/", prefix), *end;
    size_t end_len = 0, i;
    int64_t rev = 0;
    enum rkc_err rc = RKC_OK;
    char *from = xstrdup(start);
    size_t from_len = strlen(from);

    end = etcd_prefix_end(start, strlen(start), &end_len);
    for (;;) {
        struct etcd_kvs kvs;

        memset(&kvs, 0, sizeof(kvs));
        rc = etcd_range(etcd, from, from_len, end, end_len, SCAN_PAGE, rev, false, &kvs, err);
        if (rc) {
            etcd_kvs_release(&kvs);
            break;
        }
        if (!rev)
            rev = kvs.revision;
        for (i = 0; i < kvs.nr; i++) {
            char *k = xstrndup(kvs.v[i].key, kvs.v[i].key_len);

            snapshot_needs_add(n, prefix, k, kvs.v[i].value, kvs.v[i].value_len);
            free(k);
        }
        if (!kvs.more || !kvs.nr) {
            etcd_kvs_release(&kvs);
            break;
        }
        free(from);
        from_len = kvs.v[kvs.nr - 1].key_len + 1;
        from = xmalloc(from_len + 1);
        memcpy(from, kvs.v[kvs.nr - 1].key, from_len - 1);
        from[from_len - 1] = '\0'; /* the next key after the last one */
        from[from_len] = '\0';
        etcd_kvs_release(&kvs);
    }
    free(start);
    free(from);
    free(end);
    if (!rc && ret_revision)
        *ret_revision = rev;
    return rc;
}

static enum xf_kind xf_of(enum encconfig_kind k)
{
    return k == ENCCONFIG_AESGCM ? XF_AESGCM : k == ENCCONFIG_SECRETBOX ? XF_SECRETBOX : XF_AESCBC;
}

/* True when key k reads the sample. */
static bool key_reads(const struct snapshot_key *k, const struct snapshot_sample *s)
{
    struct xf_key xk = { k->name, k->secret, k->secret_len };
    struct xf_provider *p = NULL;
    struct xf_chain *c;
    struct strbuf pt = STRBUF_INIT;
    bool ok;

    if (xf_keyed_new(xf_of(k->kind), &xk, 1, &p, NULL))
        return false;
    c = xf_chain_new();
    xf_chain_add_take(c, p);
    ok = !xf_chain_read(c, s->key, (const uint8_t *)s->value, s->len, &pt, NULL, NULL);
    strbuf_release_wipe(&pt);
    xf_chain_free(c);
    return ok;
}

static const struct snapshot_key *resolve_one(struct snapshot_needs *n,
                                              const struct snapshot_keypool *pool,
                                              struct snapshot_keyuse *u)
{
    const struct snapshot_sample *s = find_sample(n, u->provider, u->name);
    enum encconfig_kind kind = kind_parse(u->provider);
    size_t i;

    if (kind == ENCCONFIG_NONE)
        return NULL;
    for (i = 0; i < pool->nr; i++) {
        const struct snapshot_key *k = &pool->v[i];

        if (k->kind != kind || strcmp(k->name, u->name))
            continue;
        if (kind == ENCCONFIG_KMS)
            return k; /* the plugin holds the key: matched by provider name */
        if (s ? !key_reads(k, s) : (u->fingerprint[0] && strcmp(u->fingerprint, k->fingerprint)))
            continue;
        if (!u->fingerprint[0]) {
            free(u->fingerprint);
            u->fingerprint = xstrdup(k->fingerprint);
        }
        return k;
    }
    return NULL;
}

void snapshot_needs_resolve(struct snapshot_needs *n, const struct snapshot_keypool *pool,
                            struct snapshot_need **ret, size_t *ret_n, size_t *ret_missing)
{
    struct snapshot_need *v = NULL;
    size_t nr = 0, alloc = 0, missing = 0, i, j, k;

    for (i = 0; i < n->m->nresources; i++) {
        struct snapshot_resource *r = &n->m->resources[i];

        for (j = 0; j < r->nkeys; j++) {
            struct snapshot_keyuse *u = &r->keys[j];
            bool seen = false;

            for (k = 0; k < nr; k++)
                seen = seen || (!strcmp(v[k].provider, u->provider) && !strcmp(v[k].name, u->name));
            if (seen) {
                /* same key in another resource: same resolution, same fingerprint */
                for (k = 0; k < nr; k++) {
                    if (!strcmp(v[k].provider, u->provider) && !strcmp(v[k].name, u->name) &&
                        v[k].key && !u->fingerprint[0] && v[k].key->fingerprint[0]) {
                        free(u->fingerprint);
                        u->fingerprint = xstrdup(v[k].key->fingerprint);
                    }
                }
                continue;
            }
            ALLOC_GROW(v, nr + 1, alloc);
            v[nr].provider = u->provider;
            v[nr].name = u->name;
            v[nr].key = resolve_one(n, pool, u);
            if (!v[nr].key)
                missing++;
            nr++;
        }
    }
    *ret = v;
    *ret_n = nr;
    *ret_missing = missing;
}

void snapshot_needs_format_missing(const struct snapshot_need *v, size_t n, struct strbuf *out)
{
    size_t i;
    bool first = true;

    for (i = 0; i < n; i++) {
        if (v[i].key)
            continue;
        strbuf_addf(out, "%s%s %s '%s'", first ? "" : ", ", v[i].provider,
                    !strcmp(v[i].provider, "kms") ? "provider" : "key", v[i].name);
        first = false;
    }
}

/* ---- sealed bundle ---- */

void snapshot_bundle_aad(const char *sha256_hex, struct strbuf *out)
{
    strbuf_addf(out, "rkc-snapshot-keys/v1:%s", sha256_hex);
}

enum rkc_err snapshot_bundle_seal(const struct snapshot_need *v, size_t n, const char *passphrase,
                                  const char *sha256_hex, enum seal_cost cost, struct strbuf *ret,
                                  struct rkc_error *err)
{
    struct jval *o = jval_object(), *keys = jval_array();
    struct strbuf pt = STRBUF_INIT, aad = STRBUF_INIT;
    enum rkc_err rc;
    size_t i;

    for (i = 0; i < n; i++) {
        const struct snapshot_key *k = v[i].key;
        struct strbuf b64 = STRBUF_INIT;
        struct jval *e;

        if (!k || !k->secret)
            continue;
        e = jval_object();
        b64_encode(k->secret, k->secret_len, &b64);
        jval_set_str(e, "provider", encconfig_kind_name(k->kind));
        jval_set_str(e, "name", k->name);
        jval_set_str(e, "fingerprint", k->fingerprint);
        jval_set_str(e, "secret", b64.buf);
        strbuf_release_wipe(&b64);
        jval_array_append_take(keys, e);
    }
    jval_set_take(o, "keys", keys);
    jval_dump(o, JVAL_COMPACT, &pt);
    jval_wipe_strings(o);
    jval_decref(o);
    snapshot_bundle_aad(sha256_hex, &aad);
    rc = seal_blob(passphrase, pt.buf, pt.len, aad.buf, aad.len, cost, ret, err);
    strbuf_release_wipe(&pt);
    strbuf_release(&aad);
    return rc;
}

enum rkc_err snapshot_bundle_open(const void *blob, size_t len, const char *passphrase,
                                  const char *sha256_hex, struct snapshot_keypool *pool,
                                  struct rkc_error *err)
{
    struct strbuf pt = STRBUF_INIT, aad = STRBUF_INIT;
    struct jval *o = NULL;
    const struct jval *keys;
    enum rkc_err rc;
    size_t i;

    snapshot_bundle_aad(sha256_hex, &aad);
    rc = seal_open(passphrase, blob, len, aad.buf, aad.len, &pt, err);
    strbuf_release(&aad);
    if (!rc)
        rc = jval_parse("<sealed bundle>", pt.buf, pt.len, &o, err);
    keys = jval_get(o, "keys");
    for (i = 0; !rc && i < jval_array_size(keys); i++) {
        const struct jval *e = jval_array_get(keys, i);
        const char *s = jval_get_str(e, "secret", "");
        enum encconfig_kind kind = kind_parse(jval_get_str(e, "provider", ""));
        struct strbuf raw = STRBUF_INIT;

        if (kind == ENCCONFIG_NONE || kind == ENCCONFIG_KMS ||
            b64_decode(s, strlen(s), &raw, NULL) || !raw.len)
            rc = rkc_error_set(err, RKC_ECONFIG, "sealed bundle: entry %zu is malformed", i);
        else
            snapshot_keypool_add(pool, kind, jval_get_str(e, "name", ""),
                                 (const unsigned char *)raw.buf, raw.len, SNAPSHOT_KEY_BUNDLE);
        strbuf_release_wipe(&raw);
    }
    if (o) {
        jval_wipe_strings(o);
        jval_decref(o);
    }
    strbuf_release_wipe(&pt);
    return rc;
}

/* ---- configs ---- */

struct encconfig *snapshot_readers_config(const struct snapshot_manifest *m,
                                          const struct snapshot_need *v, size_t n)
{
    static const enum encconfig_kind kinds[] = { ENCCONFIG_AESCBC, ENCCONFIG_AESGCM,
                                                 ENCCONFIG_SECRETBOX };
    struct encconfig *cfg = NULL;
    size_t i, j, k, q;

    for (i = 0; i < m->nresources; i++) {
        const struct snapshot_resource *r = &m->resources[i];
        struct encconfig_resource *res = NULL;

        for (k = 0; k < sizeof(kinds) / sizeof(kinds[0]); k++) {
            struct encconfig_provider *p = NULL;

            for (j = 0; j < r->nkeys; j++) {
                const struct snapshot_key *key = NULL;

                for (q = 0; q < n && !key; q++) {
                    if (!strcmp(v[q].provider, r->keys[j].provider) &&
                        !strcmp(v[q].name, r->keys[j].name))
                        key = v[q].key;
                }
                if (!key || key->kind != kinds[k] || !key->secret)
                    continue;
                if (!cfg)
                    cfg = encconfig_new("<restore readers>");
                if (!res) {
                    res = encconfig_add_resource(cfg);
                    encconfig_resource_add_name(res, r->resource);
                }
                if (!p)
                    p = encconfig_resource_add_provider(res, kinds[k]);
                encconfig_provider_add_key(p, key->name, key->secret, key->secret_len);
            }
        }
    }
    return cfg;
}

bool snapshot_name_valid(const char *name)
{
    size_t n = strlen(name);

    return n > 0 && n <= 200 && name[0] != '.' &&
           strspn(name, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._-") == n;
}
