/* SPDX-License-Identifier: Apache-2.0 */
/*
 * verify: the etcd scan that decides whether a rewrite is complete. Pages of keys are read at
 * the store revision of the first page, so a scan is one consistent snapshot (falling back to
 * the newest revision if that one is compacted meanwhile).
 */
#include "core/verify.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "adapters/etcd.h"
#include "util/strbuf.h"
#include "util/xalloc.h"

#include "util/banned.h"

void verify_report_init(struct verify_report *r)
{
    memset(r, 0, sizeof(*r));
}

static void named_release(struct verify_named_list *l)
{
    size_t i;

    for (i = 0; i < l->nr; i++) {
        free(l->v[i].key);
        free(l->v[i].reason);
    }
    free(l->v);
    memset(l, 0, sizeof(*l));
}

void verify_report_release(struct verify_report *r)
{
    if (!r)
        return;
    free(r->key_prefix);
    free(r->writer);
    free(r->counts);
    named_release(&r->unreadable_keys);
    named_release(&r->not_on_writer_keys);
    verify_report_init(r);
}

static void named_add(struct verify_named_list *l, const char *key, const char *reason)
{
    if (l->nr >= VERIFY_MAX_NAMED)
        return;
    ALLOC_GROW(l->v, l->nr + 1, l->alloc);
    l->v[l->nr].key = xstrdup(key);
    l->v[l->nr].reason = xstrdup(reason);
    l->nr++;
}

void verify_key_prefix(const char *prefix, const char *resource, struct strbuf *out)
{
    const char *p = prefix ? prefix : "/registry";
    size_t n = strcspn(resource, ".");

    /* path.Join("/", prefix): one leading '/', no doubled or trailing '/' */
    strbuf_addch(out, '/');
    while (*p) {
        if (*p == '/') {
            while (*p == '/')
                p++;
            if (*p && out->buf[out->len - 1] != '/')
                strbuf_addch(out, '/');
            continue;
        }
        strbuf_addch(out, *p++);
    }
    if (out->buf[out->len - 1] != '/')
        strbuf_addch(out, '/');
    strbuf_add(out, resource, n);
    strbuf_addch(out, '/');
}

static void describe(enum xf_kind kind, const char *name, struct strbuf *out)
{
    if (kind == XF_IDENTITY)
        strbuf_addstr(out, "identity");
    else if (kind == XF_KMS_V1 || kind == XF_KMS_V2)
        strbuf_addf(out, "kms%s name %s", kind == XF_KMS_V2 ? " v2" : " v1", name);
    else
        strbuf_addf(out, "%s key %s", xf_kind_name(kind), name);
}

/* One count per provider/key of the chain, in order; the writer first. */
static void init_counts(struct verify_report *r, const struct xf_chain *chain)
{
    struct strbuf w = STRBUF_INIT;
    size_t i, k;

    for (i = 0; i < xf_chain_nproviders(chain); i++) {
        const struct xf_provider *p = xf_chain_provider(chain, i);
        enum xf_kind kind = xf_provider_kind(p);
        size_t nkeys = xf_provider_nkeys(p);

        for (k = 0; k < (nkeys ? nkeys : 1); k++) {
            struct verify_count *c;
            const char *name = xf_provider_key_name(p, k);

            ALLOC_GROW(r->counts, r->ncounts + 1, r->counts_alloc);
            c = &r->counts[r->ncounts++];
            memset(c, 0, sizeof(*c));
            c->kind = kind;
            snprintf(c->key_name, sizeof(c->key_name), "%s", name ? name : "");
            c->provider_index = i;
            c->key_index = k;
            c->writer = i == 0 && k == 0;
        }
    }
    if (r->ncounts)
        describe(r->counts[0].kind, r->counts[0].key_name, &w);
    r->writer = strbuf_detach(&w, NULL);
}

void verify_classify(struct verify_report *r, const struct xf_chain *chain, const char *key,
                     const uint8_t *value, size_t len)
{
    static const char enc[] = XF_ENCRYPTED_PREFIX;
    struct strbuf pt = STRBUF_INIT;
    struct xf_read_info info;
    struct rkc_error err;
    size_t i;

    if (!r->writer)
        init_counts(r, chain);
    r->total++;
    if (len < sizeof(enc) - 1 || memcmp(value, enc, sizeof(enc) - 1) != 0)
        r->plaintext++;
    rkc_error_init(&err);
    memset(&info, 0, sizeof(info));
    if (xf_chain_read(chain, key, value, len, &pt, &info, &err)) {
        r->unreadable++;
        named_add(&r->unreadable_keys, key, err.msg);
        goto out;
    }
    for (i = 0; i < r->ncounts; i++) {
        if (r->counts[i].provider_index == info.provider_index &&
            r->counts[i].key_index == info.key_index) {
            r->counts[i].count++;
            break;
        }
    }
    if (info.stale)
        r->stale++;
    if (info.provider_index || info.key_index || info.stale) {
        struct strbuf why = STRBUF_INIT;

        strbuf_addstr(&why, "read by ");
        describe(info.kind, info.key_name, &why);
        if (info.stale)
            strbuf_addstr(&why, " (stale)");
        r->not_on_writer++;
        named_add(&r->not_on_writer_keys, key, why.buf);
        strbuf_release(&why);
    }
out:
    strbuf_release_wipe(&pt);
}

void verify_finish(struct verify_report *r)
{
    r->ok = r->unreadable == 0 && r->not_on_writer == 0;
}

enum rkc_err verify_resource(struct etcd_client *etcd, const char *prefix, const char *resource,
                             const struct xf_chain *chain, struct verify_report *r,
                             struct rkc_error *err)
{
    struct strbuf kp = STRBUF_INIT, start = STRBUF_INIT;
    char *end = NULL;
    size_t end_len = 0;
    int64_t rev = 0;
    enum rkc_err rc = RKC_OK;

    if (!resource || !*resource || *resource == '.')
        return rkc_error_set(err, RKC_EINVAL, "no resource given");
    if (!xf_chain_nproviders(chain))
        return rkc_error_set(err, RKC_EINVAL, "no providers configured for '%s'", resource);
    verify_key_prefix(prefix, resource, &kp);
    free(r->key_prefix);
    r->key_prefix = xstrdup(kp.buf);
    if (!r->writer)
        init_counts(r, chain);
    end = etcd_prefix_end(kp.buf, kp.len, &end_len);
    strbuf_add(&start, kp.buf, kp.len);
    for (;;) {
        struct etcd_kvs kvs;
        size_t i;

        memset(&kvs, 0, sizeof(kvs));
        rc = etcd_range(etcd, start.buf, start.len, end, end_len, VERIFY_PAGE_SIZE, rev, false,
                        &kvs, err);
        if (rc == RKC_ENOTFOUND && rev) {
            rev = 0; /* compacted meanwhile: go on at the newest revision */
            etcd_kvs_release(&kvs);
            continue;
        }
        if (rc) {
            etcd_kvs_release(&kvs);
            rkc_error_prefix(err, "scanning '%s': ", kp.buf);
            break;
        }
        if (!rev) {
            rev = kvs.revision;
            if (!r->revision)
                r->revision = rev;
        }
        for (i = 0; i < kvs.nr; i++) {
            char *key = xstrndup(kvs.v[i].key, kvs.v[i].key_len);

            verify_classify(r, chain, key, (const uint8_t *)kvs.v[i].value, kvs.v[i].value_len);
            free(key);
        }
        if (!kvs.more || !kvs.nr) {
            etcd_kvs_release(&kvs);
            break;
        }
        strbuf_reset(&start);
        strbuf_add(&start, kvs.v[kvs.nr - 1].key, kvs.v[kvs.nr - 1].key_len);
        strbuf_addch(&start, '\0'); /* the next key after the last one */
        etcd_kvs_release(&kvs);
    }
    if (!rc)
        verify_finish(r);
    free(end);
    strbuf_release(&kp);
    strbuf_release(&start);
    return rc;
}
