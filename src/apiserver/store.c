/* SPDX-License-Identifier: Apache-2.0 */
/* store: objects as JSON in etcd, through the transform seam. */
#include "apiserver/store.h"

#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/xalloc.h"

#include "util/banned.h"

/* A transform set with a reference count, so a reload can swap it while requests use it. */
struct xf_ref {
    struct store_transforms xf;
    atomic_int refs;
};

struct store {
    struct etcd_client *etcd;
    char *prefix;
    pthread_mutex_t lock; /* guards cur */
    struct xf_ref *cur;
    store_xf_metric_fn metric;
    void *metric_ctx;
};

static void xf_unref(struct xf_ref *r)
{
    if (r && atomic_fetch_sub(&r->refs, 1) == 1) {
        if (r->xf.release)
            r->xf.release(r->xf.ctx);
        free(r);
    }
}

static struct xf_ref *xf_get(struct store *st)
{
    struct xf_ref *r;

    pthread_mutex_lock(&st->lock);
    r = st->cur;
    if (r)
        atomic_fetch_add(&r->refs, 1);
    pthread_mutex_unlock(&st->lock);
    return r;
}

struct store *store_new(struct etcd_client *etcd, const char *prefix)
{
    struct store *st = xcalloc(1, sizeof(*st));
    size_t n = strlen(prefix);

    st->etcd = etcd;
    while (n > 1 && prefix[n - 1] == '/')
        n--;
    st->prefix = xstrndup(prefix, n);
    pthread_mutex_init(&st->lock, NULL);
    return st;
}

void store_free(struct store *st)
{
    if (!st)
        return;
    xf_unref(st->cur);
    pthread_mutex_destroy(&st->lock);
    free(st->prefix);
    free(st);
}

void store_set_metric_hook(struct store *st, store_xf_metric_fn fn, void *ctx)
{
    st->metric = fn;
    st->metric_ctx = ctx;
}

void store_set_transforms(struct store *st, const struct store_transforms *xf)
{
    struct xf_ref *r = NULL, *old;

    if (xf) {
        r = xcalloc(1, sizeof(*r));
        r->xf = *xf;
        atomic_init(&r->refs, 1);
    }
    pthread_mutex_lock(&st->lock);
    old = st->cur;
    st->cur = r;
    pthread_mutex_unlock(&st->lock);
    xf_unref(old);
}

struct etcd_client *store_etcd(struct store *st)
{
    return st->etcd;
}

char *store_key(const struct store *st, const char *resource, const char *ns, const char *name)
{
    if (!ns || !*ns)
        return xasprintf("%s/%s/%s", st->prefix, resource, name);
    return xasprintf("%s/%s/%s/%s", st->prefix, resource, ns, name);
}

char *store_list_prefix(const struct store *st, const char *resource, const char *ns)
{
    if (!ns || !*ns)
        return xasprintf("%s/%s/", st->prefix, resource);
    return xasprintf("%s/%s/%s/", st->prefix, resource, ns);
}

static enum rkc_err xf_read(struct store *st, const char *resource, const char *key,
                            const void *stored, size_t len, struct strbuf *out, bool *stale,
                            struct rkc_error *err)
{
    struct xf_ref *r = xf_get(st);
    char provider[64] = "identity";
    enum rkc_err rc = RKC_OK;

    *stale = false;
    if (r) {
        rc = r->xf.read(r->xf.ctx, resource, key, stored, len, out, stale, provider,
                        sizeof(provider), err);
    } else if (len >= 8 && !memcmp(stored, "k8s:enc:", 8)) {
        rc = rkc_error_set(err, RKC_ECRYPTO, "identity transformer tried to read encrypted data");
    } else {
        strbuf_add(out, stored, len);
    }
    if (st->metric)
        st->metric(st->metric_ctx, "read", provider, rc == RKC_OK);
    xf_unref(r);
    if (rc) {
        char why[RKC_ERROR_MAX];

        snprintf(why, sizeof(why), "%s", err ? err->msg : "unreadable value");
        return rkc_error_set(err, RKC_ECRYPTO, "unable to transform key \"%s\": %s", key, why);
    }
    return RKC_OK;
}

static enum rkc_err xf_write(struct store *st, const char *resource, const char *key,
                             const struct strbuf *pt, struct strbuf *out, struct rkc_error *err)
{
    struct xf_ref *r = xf_get(st);
    char provider[64] = "identity";
    enum rkc_err rc = RKC_OK;

    if (r)
        rc = r->xf.write(r->xf.ctx, resource, key, pt->buf, pt->len, out, provider,
                         sizeof(provider), err);
    else
        strbuf_add(out, pt->buf, pt->len);
    if (st->metric)
        st->metric(st->metric_ctx, "write", provider, rc == RKC_OK);
    xf_unref(r);
    if (rc)
        rkc_error_prefix(err, "unable to transform key \"%s\": ", key);
    return rc;
}

static void set_rv(struct jval *obj, int64_t rev)
{
    struct jval *meta = jval_get(obj, "metadata");
    char num[32];

    if (!meta) {
        meta = jval_object();
        jval_set_take(obj, "metadata", meta);
    }
    snprintf(num, sizeof(num), "%" PRId64, rev);
    jval_set_str(meta, "resourceVersion", num);
}

static enum rkc_err decode_plain(const char *key, const struct strbuf *pt, int64_t rev,
                                 struct jval **ret, struct rkc_error *err)
{
    struct jval *obj = NULL;

    if (jval_parse(key, pt->buf, pt->len, &obj, NULL) || !jval_is_object(obj)) {
        jval_decref(obj);
        return rkc_error_set(err, RKC_EINTERNAL, "stored value of \"%s\" is not a JSON object",
                             key);
    }
    set_rv(obj, rev);
    *ret = obj;
    return RKC_OK;
}

enum rkc_err store_decode(struct store *st, const char *resource, const struct etcd_kv *kv,
                          struct jval **ret, bool *ret_stale, struct rkc_error *err)
{
    struct strbuf pt = STRBUF_INIT;
    bool stale = false;
    enum rkc_err rc = xf_read(st, resource, kv->key, kv->value, kv->value_len, &pt, &stale, err);

    if (!rc)
        rc = decode_plain(kv->key, &pt, kv->mod_revision, ret, err);
    if (!rc && ret_stale)
        *ret_stale = stale;
    strbuf_release_wipe(&pt);
    return rc;
}

enum rkc_err store_get(struct store *st, const char *resource, const char *ns, const char *name,
                       struct jval **ret, int64_t *ret_mod_revision, bool *ret_stale,
                       struct strbuf *ret_plain, struct rkc_error *err)
{
    char *key = store_key(st, resource, ns, name);
    struct strbuf pt = STRBUF_INIT;
    struct etcd_kv kv;
    bool found = false, stale = false;
    enum rkc_err rc;

    memset(&kv, 0, sizeof(kv));
    rc = etcd_get(st->etcd, key, &kv, &found, NULL, err);
    if (!rc && !found)
        rc = rkc_error_set(err, RKC_ENOTFOUND, "not found");
    if (!rc)
        rc = xf_read(st, resource, key, kv.value, kv.value_len, &pt, &stale, err);
    if (!rc)
        rc = decode_plain(key, &pt, kv.mod_revision, ret, err);
    if (!rc) {
        if (ret_mod_revision)
            *ret_mod_revision = kv.mod_revision;
        if (ret_stale)
            *ret_stale = stale;
        if (ret_plain)
            strbuf_add(ret_plain, pt.buf, pt.len);
    }
    strbuf_release_wipe(&pt);
    etcd_kv_release(&kv);
    free(key);
    return rc;
}

/* The stored form: the object without resourceVersion, compact JSON. */
static void encode(const struct jval *obj, struct strbuf *out)
{
    struct jval *copy = jval_deep_copy(obj);

    jval_del(jval_get(copy, "metadata"), "resourceVersion");
    jval_dump(copy, JVAL_COMPACT, out);
    jval_decref(copy);
}

static enum rkc_err put(struct store *st, const char *resource, const char *key,
                        const struct strbuf *pt, int64_t expect, int64_t *ret_revision,
                        struct rkc_error *err)
{
    struct strbuf stored = STRBUF_INIT;
    bool ok = false;
    enum rkc_err rc = xf_write(st, resource, key, pt, &stored, err);

    if (!rc)
        rc = etcd_cas_put(st->etcd, key, stored.buf, stored.len, expect, &ok, ret_revision, err);
    if (!rc && !ok)
        rc = rkc_error_set(err, RKC_EBUSY, "the object has been modified");
    strbuf_release_wipe(&stored);
    return rc;
}

enum rkc_err store_create(struct store *st, const char *resource, const char *ns, const char *name,
                          struct jval *obj, int64_t *ret_revision, struct rkc_error *err)
{
    char *key = store_key(st, resource, ns, name);
    struct strbuf pt = STRBUF_INIT;
    int64_t rev = 0;
    enum rkc_err rc;

    encode(obj, &pt);
    rc = put(st, resource, key, &pt, 0, &rev, err);
    if (rc == RKC_EBUSY)
        rc = rkc_error_set(err, RKC_EBUSY, "already exists");
    if (!rc) {
        set_rv(obj, rev);
        *ret_revision = rev;
    }
    strbuf_release_wipe(&pt);
    free(key);
    return rc;
}

enum rkc_err store_update(struct store *st, const char *resource, const char *ns, const char *name,
                          struct jval *obj, int64_t mod_revision, const struct strbuf *old_plain,
                          bool old_stale, int64_t *ret_revision, struct rkc_error *err)
{
    char *key = store_key(st, resource, ns, name);
    struct strbuf pt = STRBUF_INIT;
    int64_t rev = mod_revision;
    enum rkc_err rc = RKC_OK;

    encode(obj, &pt);
    if (!old_stale && old_plain && old_plain->len == pt.len &&
        !memcmp(old_plain->buf, pt.buf, pt.len)) {
        /* unchanged and written by the current writer: nothing to do */
    } else {
        rc = put(st, resource, key, &pt, mod_revision, &rev, err);
    }
    if (!rc) {
        set_rv(obj, rev);
        *ret_revision = rev;
    }
    strbuf_release_wipe(&pt);
    free(key);
    return rc;
}

enum rkc_err store_delete(struct store *st, const char *resource, const char *ns, const char *name,
                          int64_t mod_revision, int64_t *ret_revision, struct rkc_error *err)
{
    char *key = store_key(st, resource, ns, name);
    bool ok = false;
    enum rkc_err rc = etcd_cas_delete(st->etcd, key, mod_revision, &ok, ret_revision, err);

    if (!rc && !ok)
        rc = rkc_error_set(err, RKC_EBUSY, "the object has been modified");
    free(key);
    return rc;
}

enum rkc_err store_delete_namespace_contents(struct store *st, const char *resource, const char *ns,
                                             struct rkc_error *err)
{
    char *prefix = store_list_prefix(st, resource, ns);
    enum rkc_err rc = etcd_delete_prefix(st->etcd, prefix, NULL, err);

    free(prefix);
    return rc;
}
