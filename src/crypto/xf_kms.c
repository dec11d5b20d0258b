/* SPDX-License-Identifier: Apache-2.0 */
/*
 * xf_kms: the KMS v1 and v2 envelope codecs behind struct kms_plugin: DEK/seed caches, the
 * KMS v2 EncryptedObject protobuf (hand-coded: five fields), its validation, and the v2 write
 * state (seed, key id) kept fresh from the plugin's Status.
 */
#include "crypto/xf_internal.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/crypto.h>
#include <openssl/sha.h>

#include "util/utf8.h"
#include "util/xalloc.h"

#include "util/banned.h"

#define V1_SHORT                                                                                   \
    "invalid data encountered by envelope transformer: failed to read uint16 length prefixed data"
#define MSG_SHORT "the stored data was shorter than the required size"

#define V2_CACHE_MAX    10000
#define V2_CACHE_TTL_NS (24ULL * 3600 * 1000000000ULL)
#define V2_INTERVAL_MS  60000
#define V2_RETRY_MS     10000
#define V2_EXPIRY_NS    (180ULL * 1000000000ULL)
#define SEED_LEN        32
#define SEED_MAX        256

enum { SRC_AES_GCM_KEY = 0, SRC_HKDF_SEED = 1 };

static uint64_t now_ns(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
}

/* ---- decrypted DEKs / seeds, shared by reference ---- */

struct xf_dek {
    atomic_int refs;
    int type;
    uint8_t key[SEED_MAX];
    size_t len;
    struct xf_hkdf hkdf; /* type 1 only */
};

static struct xf_dek *dek_new(int type, const uint8_t *key, size_t len)
{
    struct xf_dek *d = xcalloc(1, sizeof(*d));

    atomic_init(&d->refs, 1);
    d->type = type;
    memcpy(d->key, key, len);
    d->len = len;
    if (type == SRC_HKDF_SEED)
        xf_hkdf_init(&d->hkdf, key, len);
    return d;
}

static struct xf_dek *dek_ref(struct xf_dek *d)
{
    atomic_fetch_add(&d->refs, 1);
    return d;
}

static void dek_unref(struct xf_dek *d)
{
    if (!d || atomic_fetch_sub(&d->refs, 1) != 1)
        return;
    if (d->type == SRC_HKDF_SEED)
        xf_hkdf_release(&d->hkdf);
    OPENSSL_cleanse(d->key, sizeof(d->key));
    free(d);
}

/* ---- LRU cache: bytes -> dek, with optional TTL ---- */

struct cent {
    uint8_t *key;
    size_t key_len;
    uint64_t hash, expires;
    struct xf_dek *dek;
    struct cent *hnext, *prev, *next; /* hash chain; LRU list (head = most recent) */
};

struct cache {
    pthread_mutex_t mu;
    struct cent **tab;
    size_t nbuckets, n, cap;
    uint64_t ttl_ns; /* 0: none */
    struct cent *head, *tail;
};

static uint64_t hash_bytes(const uint8_t *p, size_t n)
{
    uint64_t h = 1469598103934665603ULL; /* FNV-1a */

    for (size_t i = 0; i < n; i++) {
        h ^= p[i];
        h *= 1099511628211ULL;
    }
    return h;
}

static void cache_init(struct cache *c, size_t cap, uint64_t ttl_ns)
{
    size_t nb = 16;

    while (nb < cap * 2 && nb < 65536)
        nb *= 2;
    pthread_mutex_init(&c->mu, NULL);
    c->cap = cap;
    c->ttl_ns = ttl_ns;
    c->n = 0;
    c->head = c->tail = NULL;
    c->nbuckets = cap ? nb : 0;
    c->tab = cap ? xcalloc(nb, sizeof(*c->tab)) : NULL;
}

static void lru_unlink(struct cache *c, struct cent *e)
{
    if (e->prev)
        e->prev->next = e->next;
    else
        c->head = e->next;
    if (e->next)
        e->next->prev = e->prev;
    else
        c->tail = e->prev;
    e->prev = e->next = NULL;
}

static void lru_push_front(struct cache *c, struct cent *e)
{
    e->prev = NULL;
    e->next = c->head;
    if (c->head)
        c->head->prev = e;
    c->head = e;
    if (!c->tail)
        c->tail = e;
}

static void cache_remove(struct cache *c, struct cent *e)
{
    struct cent **pp = &c->tab[e->hash & (c->nbuckets - 1)];

    while (*pp != e)
        pp = &(*pp)->hnext;
    *pp = e->hnext;
    lru_unlink(c, e);
    c->n--;
    dek_unref(e->dek);
    free(e->key);
    free(e);
}

static void cache_release(struct cache *c)
{
    while (c->head)
        cache_remove(c, c->head);
    free(c->tab);
    pthread_mutex_destroy(&c->mu);
}

/* Returns: a new reference to the cached dek, or NULL. */
static struct xf_dek *cache_get(struct cache *c, const uint8_t *key, size_t len)
{
    uint64_t h;
    struct cent *e;
    struct xf_dek *d = NULL;

    if (!c->cap)
        return NULL;
    h = hash_bytes(key, len);
    pthread_mutex_lock(&c->mu);
    for (e = c->tab[h & (c->nbuckets - 1)]; e; e = e->hnext) {
        if (e->hash != h || e->key_len != len || memcmp(e->key, key, len) != 0)
            continue;
        if (c->ttl_ns && now_ns() > e->expires) {
            cache_remove(c, e);
            break;
        }
        lru_unlink(c, e);
        lru_push_front(c, e);
        d = dek_ref(e->dek);
        break;
    }
    pthread_mutex_unlock(&c->mu);
    return d;
}

static void cache_set(struct cache *c, const uint8_t *key, size_t len, struct xf_dek *d)
{
    uint64_t h;
    struct cent *e;
    struct xf_dek *ref;

    if (!c->cap)
        return;
    ref = dek_ref(d); /* taken before any eviction can drop d */
    h = hash_bytes(key, len);
    pthread_mutex_lock(&c->mu);
    for (e = c->tab[h & (c->nbuckets - 1)]; e; e = e->hnext) {
        if (e->hash == h && e->key_len == len && !memcmp(e->key, key, len)) {
            cache_remove(c, e);
            break;
        }
    }
    while (c->n >= c->cap && c->tail)
        cache_remove(c, c->tail);
    e = xcalloc(1, sizeof(*e));
    e->key = xmemdup(key, len);
    e->key_len = len;
    e->hash = h;
    e->expires = c->ttl_ns ? now_ns() + c->ttl_ns : 0;
    e->dek = ref;
    e->hnext = c->tab[h & (c->nbuckets - 1)];
    c->tab[h & (c->nbuckets - 1)] = e;
    lru_push_front(c, e);
    c->n++;
    pthread_mutex_unlock(&c->mu);
}

/* ---- protobuf helpers ---- */

size_t xf_pb_varint_len(uint64_t v)
{
    size_t n = 1;

    while (v >= 0x80) {
        v >>= 7;
        n++;
    }
    return n;
}

size_t xf_pb_put_varint(uint8_t *p, uint64_t v)
{
    size_t n = 0;

    while (v >= 0x80) {
        p[n++] = (uint8_t)(v | 0x80);
        v >>= 7;
    }
    p[n++] = (uint8_t)v;
    return n;
}

static bool pb_get_varint(const uint8_t **p, const uint8_t *end, uint64_t *ret)
{
    uint64_t v = 0;

    for (unsigned shift = 0; shift < 64 && *p < end; shift += 7) {
        uint8_t b = *(*p)++;

        if (shift == 63 && b > 1)
            return false;
        v |= (uint64_t)(b & 0x7f) << shift;
        if (!(b & 0x80)) {
            *ret = v;
            return true;
        }
    }
    return false;
}

static void pb_add_bytes(struct strbuf *sb, uint8_t tag, const void *p, size_t n)
{
    uint8_t hdr[11];

    hdr[0] = tag;
    strbuf_add(sb, hdr, 1 + xf_pb_put_varint(hdr + 1, n));
    strbuf_add(sb, p, n);
}

struct pb_ann {
    const uint8_t *k, *v;
    size_t kl, vl;
};

/* A decoded EncryptedObject; every pointer borrows from the input. */
struct eobj {
    const uint8_t *data, *key_id, *src;
    size_t data_len, key_id_len, src_len;
    struct pb_ann *ann; /* ann_inline, or heap when there are more */
    size_t nann, aalloc;
    int32_t type;
    struct pb_ann ann_inline[4];
};

static void eobj_init(struct eobj *o)
{
    memset(o, 0, sizeof(*o));
    o->ann = o->ann_inline;
    o->aalloc = sizeof(o->ann_inline) / sizeof(o->ann_inline[0]);
}

static void eobj_release(struct eobj *o)
{
    if (o->ann != o->ann_inline)
        free(o->ann);
}

#define PB_BAD  "proto: cannot parse invalid wire-format data"
#define PB_UTF8 "proto: string field contains invalid UTF-8"

/* Skips one field of wire type wt. */
static bool pb_skip(const uint8_t **p, const uint8_t *end, unsigned wt)
{
    uint64_t v;

    switch (wt) {
    case 0:
        return pb_get_varint(p, end, &v);
    case 1:
        if (end - *p < 8)
            return false;
        *p += 8;
        return true;
    case 2:
        if (!pb_get_varint(p, end, &v) || v > (uint64_t)(end - *p))
            return false;
        *p += v;
        return true;
    case 5:
        if (end - *p < 4)
            return false;
        *p += 4;
        return true;
    default:
        return false;
    }
}

static const char *parse_ann(const uint8_t *p, const uint8_t *end, struct pb_ann *a)
{
    a->k = a->v = (const uint8_t *)"";
    a->kl = a->vl = 0;
    while (p < end) {
        uint64_t tag, l;
        unsigned wt;

        if (!pb_get_varint(&p, end, &tag) || (tag >> 3) == 0 || tag >> 32)
            return PB_BAD;
        wt = tag & 7;
        if (((tag >> 3) == 1 || (tag >> 3) == 2) && wt == 2) {
            if (!pb_get_varint(&p, end, &l) || l > (uint64_t)(end - p))
                return PB_BAD;
            if ((tag >> 3) == 1) {
                if (!utf8_valid(p, l))
                    return PB_UTF8;
                a->k = p;
                a->kl = l;
            } else {
                a->v = p;
                a->vl = l;
            }
            p += l;
        } else if (!pb_skip(&p, end, wt)) {
            return PB_BAD;
        }
    }
    return NULL;
}

static const char *eobj_parse(const uint8_t *p, size_t len, struct eobj *o)
{
    const uint8_t *end = p + len;

    while (p < end) {
        uint64_t tag, v;
        unsigned field, wt;

        if (!pb_get_varint(&p, end, &tag) || (tag >> 3) == 0 || tag >> 32)
            return PB_BAD;
        field = (unsigned)(tag >> 3);
        wt = tag & 7;
        if (field >= 1 && field <= 4 && wt == 2) {
            const uint8_t *b;

            if (!pb_get_varint(&p, end, &v) || v > (uint64_t)(end - p))
                return PB_BAD;
            b = p;
            p += v;
            if (field == 1) {
                o->data = b;
                o->data_len = v;
            } else if (field == 2) {
                if (!utf8_valid(b, v))
                    return PB_UTF8;
                o->key_id = b;
                o->key_id_len = v;
            } else if (field == 3) {
                o->src = b;
                o->src_len = v;
            } else {
                struct pb_ann a;
                const char *msg = parse_ann(b, p, &a);
                size_t i;

                if (msg)
                    return msg;
                for (i = 0; i < o->nann; i++) /* a repeated key: the last one wins */
                    if (o->ann[i].kl == a.kl && !memcmp(o->ann[i].k, a.k, a.kl))
                        break;
                if (i == o->nann) {
                    if (o->nann == o->aalloc) {
                        struct pb_ann *n = xreallocarray(NULL, o->aalloc * 2, sizeof(*n));

                        memcpy(n, o->ann, o->nann * sizeof(*n));
                        if (o->ann != o->ann_inline)
                            free(o->ann);
                        o->ann = n;
                        o->aalloc *= 2;
                    }
                    o->nann++;
                }
                o->ann[i] = a;
            }
        } else if (field == 5 && wt == 0) {
            if (!pb_get_varint(&p, end, &v))
                return PB_BAD;
            o->type = (int32_t)(uint32_t)v;
        } else if (!pb_skip(&p, end, wt)) {
            return PB_BAD;
        }
    }
    return NULL;
}

static int ann_cmp(const void *a, const void *b)
{
    const struct pb_ann *x = a, *y = b;
    size_t n = x->kl < y->kl ? x->kl : y->kl;
    int c = memcmp(x->k, y->k, n);

    if (c)
        return c;
    return x->kl < y->kl ? -1 : x->kl > y->kl;
}

/* An RFC 1123 label check on s[0..n): lowercase alnum and '-', alnum at both ends. */
static bool dns_label_ok(const uint8_t *s, size_t n)
{
    if (!n)
        return false;
    for (size_t i = 0; i < n; i++) {
        uint8_t c = s[i];
        bool alnum = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');

        if (!alnum && (c != '-' || i == 0 || i == n - 1))
            return false;
    }
    return true;
}

/* apimachinery IsFullyQualifiedDomainName, as one message (or NULL when valid). */
static void check_fqdn(const uint8_t *k, size_t n, struct xf_errs *errs)
{
    size_t labels = 0, start = 0;

    if (!n) {
        xf_errs_add(errs, "annotations: Required value");
        return;
    }
    if (k[n - 1] == '.')
        n--;
    if (n > 253) {
        xf_errs_addf(errs,
                     "annotations: Invalid value: \"%.*s\": must be no more than 253 characters",
                     (int)n, (const char *)k);
        return;
    }
    for (size_t i = 0; i <= n; i++) {
        if (i < n && k[i] != '.')
            continue;
        if (!dns_label_ok(k + start, i - start)) {
            xf_errs_addf(errs,
                         "annotations: Invalid value: \"%.*s\": a lowercase RFC 1123 subdomain "
                         "must consist of lower case alphanumeric characters, '-' or '.', and "
                         "must start and end with an alphanumeric character (e.g. "
                         "'example.com', regex used for validation is "
                         "'[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')",
                         (int)n, (const char *)k);
            return;
        }
        if (i - start > 63) {
            xf_errs_addf(errs,
                         "annotations: Invalid value: \"%.*s\": must be no more than 63 characters",
                         (int)(i - start), (const char *)k + start);
            return;
        }
        labels++;
        start = i + 1;
    }
    if (labels < 2)
        xf_errs_addf(errs,
                     "annotations: Invalid value: \"%.*s\": should be a domain with at least two "
                     "segments separated by dots",
                     (int)n, (const char *)k);
}

/* kmsv2 ValidateEncryptedObject, same order and messages. */
static enum rkc_err eobj_validate(const struct eobj *o, struct rkc_error *err)
{
    struct xf_errs errs = { 0 };
    uint64_t total = 0;

    if (o->type != SRC_AES_GCM_KEY && o->type != SRC_HKDF_SEED)
        return rkc_error_set(err, RKC_ECRYPTO, "unknown encryptedDEKSourceType: %" PRId32, o->type);
    if (!o->data_len)
        return rkc_error_set(err, RKC_ECRYPTO, "encrypted data is empty");
    if (!o->src_len)
        return rkc_error_set(
            err, RKC_ECRYPTO,
            "failed to validate encrypted DEK source: encrypted DEK source is empty");
    if (o->src_len > XF_KMS_V2_SRC_MAX)
        return rkc_error_set(err, RKC_ECRYPTO,
                             "failed to validate encrypted DEK source: encrypted DEK source is "
                             "%zu bytes, which exceeds the max size of %d",
                             o->src_len, XF_KMS_V2_SRC_MAX);
    if (!o->key_id_len)
        return rkc_error_set(err, RKC_ECRYPTO, "failed to validate key id: keyID is empty");
    if (o->key_id_len > XF_KMS_V2_KEYID_MAX)
        return rkc_error_set(err, RKC_ECRYPTO,
                             "failed to validate key id: keyID is %zu bytes, which exceeds the "
                             "max size of %d",
                             o->key_id_len, XF_KMS_V2_KEYID_MAX);
    for (size_t i = 0; i < o->nann; i++) {
        check_fqdn(o->ann[i].k, o->ann[i].kl, &errs);
        total += o->ann[i].kl + o->ann[i].vl;
    }
    if (total > XF_KMS_V2_ANN_MAX)
        xf_errs_addf(&errs,
                     "total size of annotations is %" PRIu64 ", which exceeds the max size of %d",
                     total, XF_KMS_V2_ANN_MAX);
    if (errs.n) {
        struct strbuf sb = STRBUF_INIT;

        xf_errs_format(&errs, &sb);
        rkc_error_set(err, RKC_ECRYPTO, "failed to validate annotations: %s", sb.buf);
        strbuf_release(&sb);
        xf_errs_release(&errs);
        return RKC_ECRYPTO;
    }
    return RKC_OK;
}

static void put_u16(struct strbuf *sb, size_t v)
{
    uint8_t b[2] = { (uint8_t)(v >> 8), (uint8_t)v };

    strbuf_add(sb, b, 2);
}

/*
 * Sorts o->ann, then writes the DEK cache key (upstream generateCacheKey layout) into key and
 * the annotations in canonical field-4 encoding into ann (either may be NULL).
 */
static void eobj_cache_key(struct eobj *o, struct strbuf *key, struct strbuf *ann)
{
    uint8_t t[4] = { (uint8_t)((uint32_t)o->type >> 24), (uint8_t)((uint32_t)o->type >> 16),
                     (uint8_t)((uint32_t)o->type >> 8), (uint8_t)o->type };

    if (o->nann > 1)
        qsort(o->ann, o->nann, sizeof(*o->ann), ann_cmp);
    if (key) {
        size_t need = 4 + 2 + o->src_len + 2 + o->key_id_len + (o->nann ? 4 : 0);

        for (size_t i = 0; i < o->nann; i++)
            need += 4 + o->ann[i].kl + o->ann[i].vl;
        strbuf_grow(key, need);
        strbuf_add(key, t, 4);
        put_u16(key, o->src_len);
        strbuf_add(key, o->src, o->src_len);
        put_u16(key, o->key_id_len);
        strbuf_add(key, o->key_id, o->key_id_len);
        if (o->nann) {
            uint8_t n[4] = { (uint8_t)(o->nann >> 24), (uint8_t)(o->nann >> 16),
                             (uint8_t)(o->nann >> 8), (uint8_t)o->nann };

            strbuf_add(key, n, 4);
            for (size_t i = 0; i < o->nann; i++) {
                put_u16(key, o->ann[i].kl);
                strbuf_add(key, o->ann[i].k, o->ann[i].kl);
                put_u16(key, o->ann[i].vl);
                strbuf_add(key, o->ann[i].v, o->ann[i].vl);
            }
        }
    }
    if (ann) {
        for (size_t i = 0; i < o->nann; i++) {
            struct strbuf e = STRBUF_INIT;

            pb_add_bytes(&e, 0x0a, o->ann[i].k, o->ann[i].kl);
            pb_add_bytes(&e, 0x12, o->ann[i].v, o->ann[i].vl);
            pb_add_bytes(ann, 0x22, e.buf, e.len);
            strbuf_release(&e);
        }
    }
}

/* ---- the provider ---- */

/* The KMS v2 write state: one seed and what the plugin said about it. Immutable once built. */
struct v2_state {
    atomic_int refs;
    struct xf_dek *seed;
    char *key_id;
    struct strbuf tail;      /* EncryptedObject fields 2..5, pre-encoded */
    struct strbuf cache_key; /* for reads of values written with this state */
    uint64_t created_ns;
};

static void state_unref(struct v2_state *s)
{
    if (!s || atomic_fetch_sub(&s->refs, 1) != 1)
        return;
    dek_unref(s->seed);
    free(s->key_id);
    strbuf_release(&s->tail);
    strbuf_release(&s->cache_key);
    free(s);
}

struct xf_kms {
    enum xf_kind kind;
    char *name;
    struct kms_plugin plugin;
    struct cache cache;
    struct xf_pool gcm; /* unkeyed AES-256-GCM contexts for per-call DEKs */

    /* KMS v2 write state */
    pthread_mutex_t mu;         /* guards the fields below */
    pthread_mutex_t refresh_mu; /* serialises Status/Encrypt calls */
    struct v2_state *state;
    uint64_t last_ok_ns, next_check_ns;
    time_t last_ok_wall;
    unsigned interval_ms;
};

enum rkc_err xf_kms_new(enum xf_kind kind, const char *name, int cachesize,
                        const struct kms_plugin *plugin, struct xf_kms **ret, struct rkc_error *err)
{
    struct xf_kms *k;

    if (!plugin || !plugin->encrypt || !plugin->decrypt || (kind == XF_KMS_V2 && !plugin->status))
        return rkc_error_set(err, RKC_EINVAL, "kms provider \"%s\": plugin functions missing",
                             name);
    if (kind == XF_KMS_V1 && cachesize == 0)
        return rkc_error_set(err, RKC_EINVAL,
                             "cachesize should be a positive value, or negative to disable");
    k = xcalloc(1, sizeof(*k));
    k->kind = kind;
    k->name = xstrdup(name);
    k->plugin = *plugin;
    if (kind == XF_KMS_V1)
        cache_init(&k->cache, cachesize > 0 ? (size_t)cachesize : 0, 0);
    else
        cache_init(&k->cache, V2_CACHE_MAX, V2_CACHE_TTL_NS);
    xf_pool_init(&k->gcm, xf_cipher_ctx_free);
    pthread_mutex_init(&k->mu, NULL);
    pthread_mutex_init(&k->refresh_mu, NULL);
    k->interval_ms = V2_INTERVAL_MS;
    *ret = k;
    return RKC_OK;
}

void xf_kms_free(struct xf_kms *k)
{
    if (!k)
        return;
    state_unref(k->state);
    cache_release(&k->cache);
    xf_pool_release(&k->gcm);
    pthread_mutex_destroy(&k->mu);
    pthread_mutex_destroy(&k->refresh_mu);
    free(k->name);
    free(k);
}

void xf_kms_set_interval(struct xf_kms *k, unsigned ms)
{
    pthread_mutex_lock(&k->mu);
    k->interval_ms = ms;
    k->next_check_ns = 0;
    pthread_mutex_unlock(&k->mu);
}

size_t xf_kms_sealed_size(const struct xf_kms *k, size_t len)
{
    size_t inner = XF_GCM_NONCE + len + XF_GCM_TAG;

    if (k->kind == XF_KMS_V1)
        return 2 + 1024 + inner; /* a typical encDEK; strbuf grows if longer */
    inner += XF_XNONCE_INFO;
    return 1 + xf_pb_varint_len(inner) + inner + 2600;
}

/* ---- v1 ---- */

static enum rkc_err v1_seal(struct xf_kms *k, const char *etcd_key, const uint8_t *pt, size_t len,
                            struct strbuf *out, struct rkc_error *err)
{
    uint8_t dek[XF_DEK_LEN];
    struct strbuf ct = STRBUF_INIT, kid = STRBUF_INIT, ann = STRBUF_INIT;
    enum rkc_err rc = xf_random(dek, sizeof(dek), err);

    if (rc)
        return rc;
    rc = k->plugin.encrypt(k->plugin.ctx, dek, sizeof(dek), &ct, &kid, &ann, err);
    if (rc)
        goto out;
    if (ct.len > 0xffff) {
        rc = rkc_error_set(err, RKC_ECRYPTO,
                           "cryptobyte: pending child length %zu exceeds 2-byte length prefix",
                           ct.len);
        goto out;
    }
    if (k->cache.cap) {
        struct xf_dek *d = dek_new(SRC_AES_GCM_KEY, dek, sizeof(dek));

        cache_set(&k->cache, (const uint8_t *)ct.buf, ct.len, d);
        dek_unref(d);
    }
    strbuf_grow(out, 2 + ct.len + XF_GCM_NONCE + len + XF_GCM_TAG);
    put_u16(out, ct.len);
    strbuf_add(out, ct.buf, ct.len);
    rc = xf_gcm_seal_key(&k->gcm, dek, sizeof(dek), (const uint8_t *)etcd_key, strlen(etcd_key), pt,
                         len, out, err);
out:
    OPENSSL_cleanse(dek, sizeof(dek));
    strbuf_release(&ct);
    strbuf_release(&kid);
    strbuf_release(&ann);
    return rc;
}

static enum rkc_err aes_key_size_ok(size_t n, struct rkc_error *err)
{
    if (n != 16 && n != 24 && n != 32)
        return rkc_error_set(err, RKC_ECRYPTO, "crypto/aes: invalid key size %zu", n);
    return RKC_OK;
}

static enum rkc_err v1_open(struct xf_kms *k, const char *etcd_key, const uint8_t *data, size_t len,
                            struct strbuf *out, bool *ret_stale, struct xf_errs *errs)
{
    const uint8_t *enc, *body;
    size_t enc_len, blen;
    struct xf_dek *d;
    struct rkc_error e;
    enum rkc_err rc;

    if (len < 2 || (enc_len = (size_t)data[0] << 8 | data[1]) > len - 2) {
        xf_errs_add(errs, V1_SHORT);
        return RKC_ECRYPTO;
    }
    enc = data + 2;
    body = enc + enc_len;
    blen = len - 2 - enc_len;
    d = cache_get(&k->cache, enc, enc_len);
    if (!d) {
        struct strbuf key = STRBUF_INIT;

        rc = k->plugin.decrypt(k->plugin.ctx, enc, enc_len, NULL, NULL, 0, &key, &e);
        if (!rc)
            rc = aes_key_size_ok(key.len, &e);
        if (!rc && key.len > SEED_MAX)
            rc = rkc_error_set(&e, RKC_ECRYPTO, "crypto/aes: invalid key size %zu", key.len);
        if (rc) {
            strbuf_release_wipe(&key);
            xf_errs_add_err(errs, &e);
            return rc;
        }
        d = dek_new(SRC_AES_GCM_KEY, (const uint8_t *)key.buf, key.len);
        strbuf_release_wipe(&key);
        cache_set(&k->cache, enc, enc_len, d);
    }
    /* GCM (written since 1.25), then CBC (older writes: stale) */
    rc = xf_gcm_open_key(&k->gcm, d->key, d->len, (const uint8_t *)etcd_key, strlen(etcd_key), body,
                         blen, out, &e);
    if (rc == RKC_OK) {
        *ret_stale = false;
        goto done;
    }
    xf_errs_add_err(errs, &e);
    rc = xf_cbc_open_key(d->key, d->len, body, blen, out, &e);
    if (rc == RKC_OK) {
        *ret_stale = true;
        goto done;
    }
    xf_errs_add_err(errs, &e);
done:
    dek_unref(d);
    return rc;
}

/* ---- v2 ---- */

static void fmt_rfc3339(time_t t, char *buf, size_t n)
{
    struct tm tm;

    gmtime_r(&t, &tm);
    strftime(buf, n, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

/* Calls Status and, when the key id changed, makes and encrypts a new seed. */
enum rkc_err xf_kms_do_refresh(struct xf_kms *k, struct rkc_error *err)
{
    struct strbuf kid = STRBUF_INIT, ct = STRBUF_INIT, kid2 = STRBUF_INIT, ann = STRBUF_INIT;
    struct v2_state *st = NULL, *old = NULL;
    uint8_t seed[SEED_LEN];
    struct eobj o;
    bool same;
    enum rkc_err rc;

    eobj_init(&o);
    pthread_mutex_lock(&k->refresh_mu);
    rc = k->plugin.status(k->plugin.ctx, &kid, err);
    if (rc)
        goto fail;
    if (!kid.len || kid.len > XF_KMS_V2_KEYID_MAX || memchr(kid.buf, 0, kid.len)) {
        rc = rkc_error_set(err, RKC_ECRYPTO, "status returned an invalid key id (%zu bytes)",
                           kid.len);
        goto fail;
    }
    pthread_mutex_lock(&k->mu);
    same = k->state && !strcmp(k->state->key_id, kid.buf);
    pthread_mutex_unlock(&k->mu);
    if (!same) {
        rc = xf_random(seed, sizeof(seed), err);
        if (rc)
            goto fail;
        rc = k->plugin.encrypt(k->plugin.ctx, seed, sizeof(seed), &ct, &kid2, &ann, err);
        if (rc) {
            rkc_error_prefix(err, "failed to encrypt DEK, error: ");
            goto fail;
        }
        if (kid2.len != kid.len || memcmp(kid.buf, kid2.buf, kid.len) != 0) {
            rc = rkc_error_set(err, RKC_ECRYPTO,
                               "keyID returned from Encrypt does not match keyID returned from "
                               "Status");
            goto fail;
        }
        o.type = SRC_HKDF_SEED;
        o.data = (const uint8_t *)"x"; /* any non-empty value to pass validation */
        o.data_len = 1;
        o.src = (const uint8_t *)ct.buf;
        o.src_len = ct.len;
        o.key_id = (const uint8_t *)kid2.buf;
        o.key_id_len = kid2.len;
        if (ann.len && eobj_parse((const uint8_t *)ann.buf, ann.len, &o)) {
            rc = rkc_error_set(err, RKC_ECRYPTO, "plugin returned malformed annotations");
            goto fail;
        }
        o.data = (const uint8_t *)"x";
        o.data_len = 1;
        rc = eobj_validate(&o, err);
        if (rc)
            goto fail;
        st = xcalloc(1, sizeof(*st));
        atomic_init(&st->refs, 1);
        st->seed = dek_new(SRC_HKDF_SEED, seed, sizeof(seed));
        st->key_id = xstrdup(kid.buf);
        strbuf_init(&st->tail, 0);
        strbuf_init(&st->cache_key, 0);
        eobj_cache_key(&o, &st->cache_key, NULL);
        pb_add_bytes(&st->tail, 0x12, kid2.buf, kid2.len);
        pb_add_bytes(&st->tail, 0x1a, ct.buf, ct.len);
        eobj_cache_key(&o, NULL, &st->tail); /* sorted, deduplicated annotations */
        strbuf_add(&st->tail, "\x28\x01", 2);
        st->created_ns = now_ns();
    }
    pthread_mutex_lock(&k->mu);
    if (st) {
        old = k->state;
        k->state = st;
        st = NULL;
    }
    k->last_ok_ns = now_ns();
    k->last_ok_wall = time(NULL);
    k->next_check_ns = k->last_ok_ns + (uint64_t)k->interval_ms * 1000000ULL;
    pthread_mutex_unlock(&k->mu);
    rc = RKC_OK;
    goto out;
fail:
    pthread_mutex_lock(&k->mu);
    k->next_check_ns =
        now_ns() +
        (uint64_t)(k->interval_ms < V2_RETRY_MS ? k->interval_ms : V2_RETRY_MS) * 1000000ULL;
    pthread_mutex_unlock(&k->mu);
    rkc_error_prefix(err, "kms provider \"%s\": ", k->name);
out:
    pthread_mutex_unlock(&k->refresh_mu);
    state_unref(old);
    OPENSSL_cleanse(seed, sizeof(seed));
    eobj_release(&o);
    strbuf_release(&kid);
    strbuf_release(&ct);
    strbuf_release(&kid2);
    strbuf_release(&ann);
    return rc;
}

/* Returns: a reference to the write state, refreshing it first when due. */
static enum rkc_err v2_write_state(struct xf_kms *k, struct v2_state **ret, struct rkc_error *err)
{
    struct rkc_error rerr;
    enum rkc_err rrc = RKC_OK;
    uint64_t now = now_ns();
    struct v2_state *cur;
    bool due, have;

    pthread_mutex_lock(&k->mu);
    due = !k->state || now >= k->next_check_ns;
    have = k->state != NULL;
    pthread_mutex_unlock(&k->mu);
    if (due) {
        if (!have) {
            rrc = xf_kms_do_refresh(k, &rerr);
        } else if (pthread_mutex_trylock(&k->refresh_mu) == 0) {
            /* someone else may have refreshed meanwhile: check again */
            pthread_mutex_unlock(&k->refresh_mu);
            rrc = xf_kms_do_refresh(k, &rerr);
        }
    }
    pthread_mutex_lock(&k->mu);
    cur = k->state;
    if (!cur) {
        pthread_mutex_unlock(&k->mu);
        if (rrc)
            return rkc_error_set(err, rrc, "%s", rerr.msg);
        return rkc_error_set(err, RKC_ECRYPTO, "kms provider \"%s\": no key available", k->name);
    }
    if (now_ns() > k->last_ok_ns + V2_EXPIRY_NS) {
        char exp[64], now_s[64], hex[2 * SHA256_DIGEST_LENGTH + 1];
        uint8_t md[SHA256_DIGEST_LENGTH];

        SHA256((const uint8_t *)cur->key_id, strlen(cur->key_id), md);
        for (size_t i = 0; i < sizeof(md); i++) {
            hex[2 * i] = "0123456789abcdef"[md[i] >> 4];
            hex[2 * i + 1] = "0123456789abcdef"[md[i] & 15];
        }
        hex[sizeof(hex) - 1] = '\0';
        fmt_rfc3339(k->last_ok_wall + 180, exp, sizeof(exp));
        fmt_rfc3339(time(NULL), now_s, sizeof(now_s));
        pthread_mutex_unlock(&k->mu);
        return rkc_error_set(err, RKC_ECRYPTO,
                             "encryptedDEKSource with keyID hash \"sha256:%s\" expired at %s "
                             "(current time is %s)",
                             hex, exp, now_s);
    }
    atomic_fetch_add(&cur->refs, 1);
    *ret = cur;
    pthread_mutex_unlock(&k->mu);
    return RKC_OK;
}

static enum rkc_err v2_seal(struct xf_kms *k, const char *etcd_key, const uint8_t *pt, size_t len,
                            struct strbuf *out, struct rkc_error *err)
{
    struct v2_state *st = NULL;
    uint8_t dek[XF_DEK_LEN], hdr[11], *info;
    size_t inner = XF_XNONCE_INFO + XF_GCM_NONCE + len + XF_GCM_TAG;
    enum rkc_err rc = v2_write_state(k, &st, err);

    if (rc)
        return rc;
    hdr[0] = 0x0a;
    strbuf_grow(out, 11 + inner + st->tail.len);
    strbuf_add(out, hdr, 1 + xf_pb_put_varint(hdr + 1, inner));
    info = (uint8_t *)out->buf + out->len;
    rc = xf_random(info, XF_XNONCE_INFO, err);
    if (rc)
        goto out;
    strbuf_setlen(out, out->len + XF_XNONCE_INFO);
    rc = xf_hkdf_expand32(&st->seed->hkdf, info, XF_XNONCE_INFO, dek, err);
    if (rc)
        goto out;
    rc = xf_gcm_seal_key(&k->gcm, dek, sizeof(dek), (const uint8_t *)etcd_key, strlen(etcd_key), pt,
                         len, out, err);
    if (rc)
        goto out;
    strbuf_add(out, st->tail.buf, st->tail.len);
out:
    OPENSSL_cleanse(dek, sizeof(dek));
    state_unref(st);
    return rc;
}

static enum rkc_err v2_open(struct xf_kms *k, const char *etcd_key, const uint8_t *data, size_t len,
                            struct strbuf *out, bool *ret_stale, struct xf_errs *errs)
{
    struct eobj o;
    struct strbuf ckey = STRBUF_INIT, ann = STRBUF_INIT;
    struct xf_dek *d = NULL;
    struct v2_state *st = NULL;
    struct rkc_error e;
    const char *msg;
    enum rkc_err rc = RKC_ECRYPTO;
    uint64_t now = now_ns();
    bool stale;

    eobj_init(&o);
    pthread_mutex_lock(&k->mu);
    if (!k->state && now >= k->next_check_ns) {
        pthread_mutex_unlock(&k->mu);
        xf_kms_do_refresh(k, NULL); /* lazily learn the current key id; reads work without */
        pthread_mutex_lock(&k->mu);
    }
    if (k->state) {
        st = k->state;
        atomic_fetch_add(&st->refs, 1);
    }
    pthread_mutex_unlock(&k->mu);

    /*
     * Fast path: a value this writer state produced is field 1 followed by exactly the state's
     * pre-encoded fields 2..5, which were validated when the state was made. Same bytes, same
     * decoding: skip the general decode, validation and cache lookup.
     */
    if (st && len > 1 && data[0] == 0x0a) {
        const uint8_t *p = data + 1, *end = data + len;
        uint64_t l;

        if (pb_get_varint(&p, end, &l) && l > 0 && l <= (uint64_t)(end - p) &&
            (size_t)(end - p) - l == st->tail.len && !memcmp(p + l, st->tail.buf, st->tail.len)) {
            o.type = SRC_HKDF_SEED;
            o.data = p;
            o.data_len = l;
            o.key_id = (const uint8_t *)st->key_id;
            o.key_id_len = strlen(st->key_id);
            d = dek_ref(st->seed);
            goto decrypt;
        }
    }

    msg = eobj_parse(data, len, &o);
    if (msg) {
        xf_errs_add(errs, msg);
        goto out;
    }
    if (eobj_validate(&o, &e)) {
        xf_errs_add_err(errs, &e);
        goto out;
    }
    eobj_cache_key(&o, &ckey, NULL);

    if (st && st->cache_key.len == ckey.len && !memcmp(st->cache_key.buf, ckey.buf, ckey.len))
        d = dek_ref(st->seed);
    if (!d)
        d = cache_get(&k->cache, (const uint8_t *)ckey.buf, ckey.len);
    if (!d) {
        struct strbuf key = STRBUF_INIT;
        char *kid = xstrndup((const char *)o.key_id, o.key_id_len);

        eobj_cache_key(&o, NULL, &ann);
        rc = k->plugin.decrypt(k->plugin.ctx, o.src, o.src_len, kid, (const uint8_t *)ann.buf,
                               ann.len, &key, &e);
        free(kid);
        if (rc) {
            rkc_error_prefix(&e, "failed to decrypt DEK, error: ");
        } else if (o.type == SRC_HKDF_SEED && (key.len < SEED_LEN || key.len > SEED_MAX)) {
            rc = rkc_error_set(&e, RKC_ECRYPTO, "invalid seed length %zu used for key generation",
                               key.len);
        } else if (o.type == SRC_AES_GCM_KEY) {
            rc = aes_key_size_ok(key.len, &e);
        }
        if (rc) {
            strbuf_release_wipe(&key);
            xf_errs_add_err(errs, &e);
            goto out;
        }
        d = dek_new(o.type, (const uint8_t *)key.buf, key.len);
        strbuf_release_wipe(&key);
        cache_set(&k->cache, (const uint8_t *)ckey.buf, ckey.len, d);
    }

decrypt:
    if (o.type == SRC_HKDF_SEED) {
        uint8_t dek[XF_DEK_LEN];

        if (o.data_len < XF_XNONCE_INFO) {
            rc = rkc_error_set(&e, RKC_ECRYPTO, MSG_SHORT);
        } else {
            rc = xf_hkdf_expand32(&d->hkdf, o.data, XF_XNONCE_INFO, dek, &e);
            if (rc)
                rkc_error_prefix(&e, "failed to derive read key from KDF: ");
            else
                rc = xf_gcm_open_key(&k->gcm, dek, sizeof(dek), (const uint8_t *)etcd_key,
                                     strlen(etcd_key), o.data + XF_XNONCE_INFO,
                                     o.data_len - XF_XNONCE_INFO, out, &e);
            OPENSSL_cleanse(dek, sizeof(dek));
        }
    } else {
        rc = xf_gcm_open_key(&k->gcm, d->key, d->len, (const uint8_t *)etcd_key, strlen(etcd_key),
                             o.data, o.data_len, out, &e);
    }
    if (rc) {
        xf_errs_add_err(errs, &e);
        goto out;
    }
    stale = !st || o.type != SRC_HKDF_SEED || o.key_id_len != strlen(st->key_id) ||
            memcmp(o.key_id, st->key_id, o.key_id_len) != 0;
    *ret_stale = stale;
out:
    dek_unref(d);
    state_unref(st);
    eobj_release(&o);
    strbuf_release(&ckey);
    strbuf_release(&ann);
    return rc;
}

enum rkc_err xf_kms_seal(struct xf_kms *k, const char *etcd_key, const uint8_t *pt, size_t len,
                         struct strbuf *out, struct rkc_error *err)
{
    if (k->kind == XF_KMS_V1)
        return v1_seal(k, etcd_key, pt, len, out, err);
    return v2_seal(k, etcd_key, pt, len, out, err);
}

enum rkc_err xf_kms_open(struct xf_kms *k, const char *etcd_key, const uint8_t *data, size_t len,
                         struct strbuf *out, bool *ret_stale, struct xf_errs *errs)
{
    if (k->kind == XF_KMS_V1)
        return v1_open(k, etcd_key, data, len, out, ret_stale, errs);
    return v2_open(k, etcd_key, data, len, out, ret_stale, errs);
}
