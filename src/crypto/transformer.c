/* SPDX-License-Identifier: Apache-2.0 */
/*
 * transformer: providers and the prefix-multiplexing chain (kube-apiserver's
 * NewPrefixTransformers, nested: providers outside, keys inside). The ciphers live in
 * xf_aes.c, the KMS envelopes in xf_kms.c; this file owns dispatch, staleness, the secretbox
 * and identity providers, and the public API.
 */
#include "crypto/transformer.h"

#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>
#include <sodium.h>

#include "crypto/xf_internal.h"
#include "util/xalloc.h"

#include "util/banned.h"

#define PREFIX_AESCBC    "k8s:enc:aescbc:v1:"
#define PREFIX_AESGCM    "k8s:enc:aesgcm:v1:"
#define PREFIX_SECRETBOX "k8s:enc:secretbox:v1:"
#define PREFIX_KMS_V1    "k8s:enc:kms:v1:"
#define PREFIX_KMS_V2    "k8s:enc:kms:v2:"

#define MSG_IDENTITY_ENCRYPTED "identity transformer tried to read encrypted data"
#define MSG_NO_PREFIX          "no matching prefix found"
#define MSG_NO_AES_KEY         "no matching key was found for the provided AES transformer"
#define MSG_NO_SB_KEY          "no matching key was found for the provided Secretbox transformer"
#define MSG_SHORT              "the stored data was shorter than the required size"

struct xf_keyent {
    char *name;
    size_t name_len;
    char *write_prefix; /* outer prefix + name + ':' */
    size_t write_prefix_len;
    struct xf_aes aes;  /* aescbc / aesgcm */
    uint8_t sb_key[32]; /* secretbox */
};

struct xf_provider {
    atomic_int refs;
    enum xf_kind kind;
    const char *prefix; /* outer prefix; "" for identity */
    size_t prefix_len;
    struct xf_keyent *keys;
    size_t nkeys;
    char *kms_name;
    char *kms_write_prefix;
    size_t kms_write_prefix_len;
    struct xf_kms *kms;
};

struct xf_chain {
    struct xf_provider **p;
    size_t n, alloc;
    bool bare_identity; /* the encrypt-check identity, not wrapped in prefix dispatch */
};

static pthread_once_t sodium_once = PTHREAD_ONCE_INIT;
static int sodium_ok;

static void sodium_setup(void)
{
    sodium_ok = sodium_init() >= 0;
}

const char *xf_kind_name(enum xf_kind kind)
{
    switch (kind) {
    case XF_IDENTITY:
        return "identity";
    case XF_AESCBC:
        return "aescbc";
    case XF_AESGCM:
        return "aesgcm";
    case XF_SECRETBOX:
        return "secretbox";
    case XF_KMS_V1:
    case XF_KMS_V2:
        return "kms";
    }
    return "unknown";
}

static struct xf_provider *provider_alloc(enum xf_kind kind, const char *prefix)
{
    struct xf_provider *p = xcalloc(1, sizeof(*p));

    atomic_init(&p->refs, 1);
    p->kind = kind;
    p->prefix = prefix;
    p->prefix_len = strlen(prefix);
    return p;
}

struct xf_provider *xf_identity_new(void)
{
    return provider_alloc(XF_IDENTITY, "");
}

static enum rkc_err check_name(const char *what, const char *name, struct rkc_error *err)
{
    if (!name || !*name)
        return rkc_error_set(err, RKC_EINVAL, "%s name is empty", what);
    if (strlen(name) > XF_NAME_MAX)
        return rkc_error_set(err, RKC_EINVAL, "%s name longer than %d bytes", what, XF_NAME_MAX);
    return RKC_OK;
}

enum rkc_err xf_keyed_new(enum xf_kind kind, const struct xf_key *keys, size_t nkeys,
                          struct xf_provider **ret, struct rkc_error *err)
{
    struct xf_provider *p;
    const char *prefix;
    enum rkc_err rc;

    switch (kind) {
    case XF_AESCBC:
        prefix = PREFIX_AESCBC;
        break;
    case XF_AESGCM:
        prefix = PREFIX_AESGCM;
        break;
    case XF_SECRETBOX:
        prefix = PREFIX_SECRETBOX;
        pthread_once(&sodium_once, sodium_setup);
        if (!sodium_ok)
            return rkc_error_set(err, RKC_ECRYPTO, "cannot initialise libsodium");
        break;
    default:
        return rkc_error_set(err, RKC_EINVAL, "provider kind %s has no keys", xf_kind_name(kind));
    }
    if (!nkeys)
        return rkc_error_set(err, RKC_EINVAL, "at least one key is required");
    for (size_t i = 0; i < nkeys; i++) {
        size_t l = keys[i].secret_len;

        rc = check_name("key", keys[i].name, err);
        if (rc)
            return rc;
        if (kind == XF_SECRETBOX ? l != 32 : (l != 16 && l != 24 && l != 32))
            return rkc_error_set(err, RKC_EINVAL,
                                 "key \"%s\": secret is not of the expected length, got %zu, "
                                 "expected one of %s",
                                 keys[i].name, l, kind == XF_SECRETBOX ? "[32]" : "[16 24 32]");
    }
    p = provider_alloc(kind, prefix);
    p->keys = xcalloc(nkeys, sizeof(*p->keys));
    p->nkeys = nkeys;
    for (size_t i = 0; i < nkeys; i++) {
        struct xf_keyent *k = &p->keys[i];

        k->name = xstrdup(keys[i].name);
        k->name_len = strlen(k->name);
        k->write_prefix = xasprintf("%s%s:", prefix, k->name);
        k->write_prefix_len = strlen(k->write_prefix);
        if (kind == XF_SECRETBOX)
            memcpy(k->sb_key, keys[i].secret, 32);
        else
            xf_aes_init(&k->aes, kind == XF_AESGCM ? XF_MODE_GCM : XF_MODE_CBC, keys[i].secret,
                        keys[i].secret_len);
    }
    *ret = p;
    return RKC_OK;
}

static enum rkc_err kms_new(enum xf_kind kind, const char *name, int cachesize,
                            const struct kms_plugin *plugin, struct xf_provider **ret,
                            struct rkc_error *err)
{
    struct xf_provider *p;
    struct xf_kms *k = NULL;
    enum rkc_err rc = check_name("kms provider", name, err);

    if (rc)
        return rc;
    rc = xf_kms_new(kind, name, cachesize, plugin, &k, err);
    if (rc)
        return rc;
    p = provider_alloc(kind, kind == XF_KMS_V1 ? PREFIX_KMS_V1 : PREFIX_KMS_V2);
    p->kms = k;
    p->kms_name = xstrdup(name);
    p->kms_write_prefix = xasprintf("%s%s:", p->prefix, name);
    p->kms_write_prefix_len = strlen(p->kms_write_prefix);
    *ret = p;
    return RKC_OK;
}

enum rkc_err xf_kms_v1_new(const char *name, int cachesize, const struct kms_plugin *plugin,
                           struct xf_provider **ret, struct rkc_error *err)
{
    return kms_new(XF_KMS_V1, name, cachesize, plugin, ret, err);
}

enum rkc_err xf_kms_v2_new(const char *name, const struct kms_plugin *plugin,
                           struct xf_provider **ret, struct rkc_error *err)
{
    if (name && strchr(name, ':'))
        return rkc_error_set(err, RKC_EINVAL, "invalid KMS provider name %s, must not contain ':'",
                             name);
    return kms_new(XF_KMS_V2, name, 0, plugin, ret, err);
}

enum rkc_err xf_kms_refresh(struct xf_provider *p, struct rkc_error *err)
{
    if (p->kind != XF_KMS_V2)
        return RKC_OK;
    return xf_kms_do_refresh(p->kms, err);
}

void xf_kms_v2_set_status_interval(struct xf_provider *p, unsigned ms)
{
    if (p->kind == XF_KMS_V2)
        xf_kms_set_interval(p->kms, ms);
}

struct xf_provider *xf_provider_ref(struct xf_provider *p)
{
    atomic_fetch_add(&p->refs, 1);
    return p;
}

void xf_provider_free(struct xf_provider *p)
{
    if (!p || atomic_fetch_sub(&p->refs, 1) != 1)
        return;
    for (size_t i = 0; i < p->nkeys; i++) {
        struct xf_keyent *k = &p->keys[i];

        if (p->kind == XF_SECRETBOX)
            OPENSSL_cleanse(k->sb_key, sizeof(k->sb_key));
        else
            xf_aes_release(&k->aes);
        free(k->name);
        free(k->write_prefix);
    }
    free(p->keys);
    xf_kms_free(p->kms);
    free(p->kms_name);
    free(p->kms_write_prefix);
    free(p);
}

enum xf_kind xf_provider_kind(const struct xf_provider *p)
{
    return p->kind;
}

const char *xf_provider_key_name(const struct xf_provider *p, size_t i)
{
    if (p->kms_name)
        return p->kms_name;
    if (p->kind == XF_IDENTITY)
        return "";
    return i < p->nkeys ? p->keys[i].name : NULL;
}

size_t xf_provider_nkeys(const struct xf_provider *p)
{
    if (p->kms)
        return 1;
    return p->nkeys;
}

void xf_provider_writer_prefix(const struct xf_provider *p, struct strbuf *out)
{
    if (p->kms)
        strbuf_add(out, p->kms_write_prefix, p->kms_write_prefix_len);
    else if (p->nkeys)
        strbuf_add(out, p->keys[0].write_prefix, p->keys[0].write_prefix_len);
}

void xf_kms_annotation_add(struct strbuf *sb, const char *key, const void *value, size_t len)
{
    size_t klen = strlen(key);
    size_t entry = 1 + xf_pb_varint_len(klen) + klen + 1 + xf_pb_varint_len(len) + len;
    uint8_t hdr[11];

    hdr[0] = 0x22;
    strbuf_add(sb, hdr, 1 + xf_pb_put_varint(hdr + 1, entry));
    hdr[0] = 0x0a;
    strbuf_add(sb, hdr, 1 + xf_pb_put_varint(hdr + 1, klen));
    strbuf_add(sb, key, klen);
    hdr[0] = 0x12;
    strbuf_add(sb, hdr, 1 + xf_pb_put_varint(hdr + 1, len));
    strbuf_add(sb, value, len);
}

/* ---- chain ---- */

struct xf_chain *xf_chain_new(void)
{
    return xcalloc(1, sizeof(struct xf_chain));
}

void xf_chain_add_take(struct xf_chain *c, struct xf_provider *p)
{
    ALLOC_GROW(c->p, c->n + 1, c->alloc);
    c->p[c->n++] = p;
}

struct xf_chain *xf_chain_encrypt_check_identity(void)
{
    struct xf_chain *c = xf_chain_new();

    xf_chain_add_take(c, xf_identity_new());
    c->bare_identity = true;
    return c;
}

void xf_chain_free(struct xf_chain *c)
{
    if (!c)
        return;
    for (size_t i = 0; i < c->n; i++)
        xf_provider_free(c->p[i]);
    free(c->p);
    free(c);
}

size_t xf_chain_nproviders(const struct xf_chain *c)
{
    return c->n;
}

const struct xf_provider *xf_chain_provider(const struct xf_chain *c, size_t i)
{
    return i < c->n ? c->p[i] : NULL;
}

enum rkc_err xf_chain_writer_prefix(const struct xf_chain *c, struct strbuf *ret_prefix,
                                    struct rkc_error *err)
{
    if (!c->n)
        return rkc_error_set(err, RKC_EINVAL, "no providers configured");
    strbuf_reset(ret_prefix);
    xf_provider_writer_prefix(c->p[0], ret_prefix);
    return RKC_OK;
}

static enum rkc_err secretbox_seal(const struct xf_keyent *k, const uint8_t *pt, size_t len,
                                   struct strbuf *out, struct rkc_error *err)
{
    uint8_t *p;
    enum rkc_err rc;

    strbuf_grow(out, XF_SB_NONCE + XF_SB_TAG + len);
    p = (uint8_t *)out->buf + out->len;
    rc = xf_random(p, XF_SB_NONCE, err);
    if (rc)
        return rc;
    if (crypto_secretbox_easy(p + XF_SB_NONCE, pt, len, p, k->sb_key) != 0)
        return rkc_error_set(err, RKC_ECRYPTO, "secretbox: encryption failed");
    strbuf_setlen(out, out->len + XF_SB_NONCE + XF_SB_TAG + len);
    return RKC_OK;
}

static enum rkc_err secretbox_open(const struct xf_keyent *k, const uint8_t *data, size_t len,
                                   struct strbuf *out, struct rkc_error *err)
{
    size_t n;

    strbuf_reset(out);
    if (len < XF_SB_NONCE + XF_SB_TAG)
        return rkc_error_set(err, RKC_ECRYPTO, MSG_SHORT);
    n = len - XF_SB_NONCE - XF_SB_TAG;
    strbuf_grow(out, n);
    if (crypto_secretbox_open_easy((uint8_t *)out->buf, data + XF_SB_NONCE, len - XF_SB_NONCE, data,
                                   k->sb_key) != 0) {
        strbuf_release_wipe(out);
        return rkc_error_set(err, RKC_ECRYPTO, "output array was not large enough for encryption");
    }
    strbuf_setlen(out, n);
    return RKC_OK;
}

/* Encrypts with provider p's writer, appending prefix and body to out. */
static enum rkc_err provider_write(struct xf_provider *p, const char *etcd_key, const uint8_t *pt,
                                   size_t len, struct strbuf *out, struct rkc_error *err)
{
    size_t aad_len = strlen(etcd_key);
    struct xf_keyent *k;

    if (len > SIZE_MAX / 2)
        return rkc_error_set(err, RKC_ELIMIT, "value too large to encrypt");
    switch (p->kind) {
    case XF_IDENTITY:
        strbuf_add(out, pt, len);
        return RKC_OK;
    case XF_AESCBC:
    case XF_AESGCM:
        k = &p->keys[0];
        strbuf_grow(out, k->write_prefix_len + xf_aes_sealed_size(k->aes.mode, len));
        strbuf_add(out, k->write_prefix, k->write_prefix_len);
        return xf_aes_seal(&k->aes, (const uint8_t *)etcd_key, aad_len, pt, len, out, err);
    case XF_SECRETBOX:
        k = &p->keys[0];
        strbuf_grow(out, k->write_prefix_len + XF_SB_NONCE + XF_SB_TAG + len);
        strbuf_add(out, k->write_prefix, k->write_prefix_len);
        return secretbox_seal(k, pt, len, out, err);
    case XF_KMS_V1:
    case XF_KMS_V2:
        strbuf_grow(out, p->kms_write_prefix_len + xf_kms_sealed_size(p->kms, len));
        strbuf_add(out, p->kms_write_prefix, p->kms_write_prefix_len);
        return xf_kms_seal(p->kms, etcd_key, pt, len, out, err);
    }
    return rkc_error_set(err, RKC_EINTERNAL, "unknown provider kind");
}

enum rkc_err xf_chain_write(const struct xf_chain *c, const char *etcd_key, const uint8_t *pt,
                            size_t len, struct strbuf *ret_stored, struct rkc_error *err)
{
    enum rkc_err rc;

    strbuf_reset(ret_stored);
    if (!c->n)
        return rkc_error_set(err, RKC_EINVAL, "no providers configured");
    rc = provider_write(c->p[0], etcd_key, pt, len, ret_stored, err);
    if (rc)
        strbuf_release_wipe(ret_stored);
    return rc;
}

static bool has_prefix(const uint8_t *data, size_t len, const char *prefix, size_t plen)
{
    return len >= plen && !memcmp(data, prefix, plen);
}

/*
 * Reads the data after the outer prefix with a keyed provider: inner prefix dispatch over the
 * keys. Returns RKC_OK with *ret_key set, or an error with the reasons in errs.
 */
static enum rkc_err keyed_read(struct xf_provider *p, const char *etcd_key, const uint8_t *data,
                               size_t len, struct strbuf *out, size_t *ret_key,
                               struct xf_errs *errs)
{
    size_t nerrs = errs->n;

    for (size_t j = 0; j < p->nkeys; j++) {
        struct xf_keyent *k = &p->keys[j];
        const uint8_t *body;
        size_t blen;
        struct rkc_error e;
        enum rkc_err rc;

        if (len <= k->name_len || memcmp(data, k->name, k->name_len) != 0 ||
            data[k->name_len] != ':')
            continue;
        body = data + k->name_len + 1;
        blen = len - k->name_len - 1;
        if (p->kind == XF_SECRETBOX)
            rc = secretbox_open(k, body, blen, out, &e);
        else if (p->kind == XF_AESCBC) /* no additional data in CBC */
            rc = xf_aes_open(&k->aes, NULL, 0, body, blen, out, &e);
        else
            rc = xf_aes_open(&k->aes, (const uint8_t *)etcd_key, strlen(etcd_key), body, blen, out,
                             &e);
        if (rc == RKC_OK) {
            *ret_key = j;
            return RKC_OK;
        }
        xf_errs_add_err(errs, &e);
    }
    if (errs->n == nerrs)
        xf_errs_add(errs, p->kind == XF_SECRETBOX ? MSG_NO_SB_KEY : MSG_NO_AES_KEY);
    return RKC_ECRYPTO;
}

static void fill_info(struct xf_read_info *info, const struct xf_provider *p, size_t pi, size_t ki,
                      bool stale)
{
    const char *name;

    if (!info)
        return;
    name = xf_provider_key_name(p, ki);
    info->kind = p->kind;
    info->stale = stale;
    info->provider_index = pi;
    info->key_index = ki;
    memcpy(info->key_name, name, strlen(name) + 1); /* names are <= XF_NAME_MAX */
}

enum rkc_err xf_chain_read(const struct xf_chain *c, const char *etcd_key, const uint8_t *stored,
                           size_t len, struct strbuf *ret_pt, struct xf_read_info *ret_info,
                           struct rkc_error *err)
{
    static const char enc_prefix[] = XF_ENCRYPTED_PREFIX;
    const size_t enc_len = sizeof(enc_prefix) - 1;
    struct xf_errs errs = { 0 };
    enum rkc_err rc;

    strbuf_reset(ret_pt);
    if (c->bare_identity) {
        if (has_prefix(stored, len, enc_prefix, enc_len))
            return rkc_error_set(err, RKC_ECRYPTO, MSG_IDENTITY_ENCRYPTED);
        strbuf_add(ret_pt, stored, len);
        fill_info(ret_info, c->p[0], 0, 0, false);
        return RKC_OK;
    }
    for (size_t i = 0; i < c->n; i++) {
        struct xf_provider *p = c->p[i];
        const uint8_t *rest;
        size_t rlen, ki = 0;
        bool stale = false;

        if (p->kind == XF_IDENTITY) {
            /* identity's refusal of encrypted data is not collected (upstream) */
            if (has_prefix(stored, len, enc_prefix, enc_len))
                continue;
            strbuf_add(ret_pt, stored, len);
            fill_info(ret_info, p, i, 0, i != 0);
            xf_errs_release(&errs);
            return RKC_OK;
        }
        if (!has_prefix(stored, len, p->prefix, p->prefix_len))
            continue;
        rest = stored + p->prefix_len;
        rlen = len - p->prefix_len;
        if (p->kms) {
            /* kms: "<name>:" then the body */
            size_t nl = p->kms_write_prefix_len - p->prefix_len;

            if (!has_prefix(stored, len, p->kms_write_prefix, p->kms_write_prefix_len))
                continue;
            rc = xf_kms_open(p->kms, etcd_key, rest + nl, rlen - nl, ret_pt, &stale, &errs);
        } else {
            rc = keyed_read(p, etcd_key, rest, rlen, ret_pt, &ki, &errs);
        }
        if (rc == RKC_OK) {
            fill_info(ret_info, p, i, ki, stale || ki != 0 || i != 0);
            xf_errs_release(&errs);
            return RKC_OK;
        }
    }
    strbuf_release_wipe(ret_pt);
    if (!errs.n)
        return rkc_error_set(err, RKC_ENOTFOUND, MSG_NO_PREFIX);
    if (err) {
        struct strbuf sb = STRBUF_INIT;

        xf_errs_format(&errs, &sb);
        rkc_error_set(err, RKC_ECRYPTO, "%s", sb.buf);
        strbuf_release(&sb);
    }
    xf_errs_release(&errs);
    return RKC_ECRYPTO;
}
