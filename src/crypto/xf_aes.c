/* SPDX-License-Identifier: Apache-2.0 */
/*
 * xf_aes: the OpenSSL side of the providers: random bytes, pools of pre-keyed EVP contexts,
 * AES-CBC/AES-GCM with kube-apiserver's read checks and messages, HKDF-Expand, and the error
 * aggregation used by prefix dispatch.
 */
#include "crypto/xf_internal.h"

#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/rand.h>

#include "util/xalloc.h"

#include "util/banned.h"

/* ---- random ---- */

static _Atomic(xf_random_fn) random_hook;

void xf_set_random_source_for_testing(xf_random_fn fn)
{
    atomic_store(&random_hook, fn);
}

enum rkc_err xf_random(void *buf, size_t n, struct rkc_error *err)
{
    xf_random_fn hook = atomic_load_explicit(&random_hook, memory_order_relaxed);

    if (hook)
        return hook(buf, n, err);
    if (n > INT_MAX || RAND_bytes(buf, (int)n) != 1) {
        ERR_clear_error();
        return rkc_error_set(err, RKC_ECRYPTO, "cannot read random bytes");
    }
    return RKC_OK;
}

/* ---- pools ---- */

void xf_pool_init(struct xf_pool *p, void (*free_item)(void *))
{
    atomic_init(&p->fast, NULL);
    pthread_mutex_init(&p->mu, NULL);
    p->n = 0;
    p->free_item = free_item;
}

void xf_pool_release(struct xf_pool *p)
{
    void *item = atomic_exchange(&p->fast, NULL);

    if (item)
        p->free_item(item);
    for (size_t i = 0; i < p->n; i++)
        p->free_item(p->items[i]);
    p->n = 0;
    pthread_mutex_destroy(&p->mu);
}

void *xf_pool_get(struct xf_pool *p)
{
    void *item = atomic_exchange(&p->fast, NULL);

    if (item)
        return item;
    pthread_mutex_lock(&p->mu);
    if (p->n)
        item = p->items[--p->n];
    pthread_mutex_unlock(&p->mu);
    return item;
}

void xf_pool_put(struct xf_pool *p, void *item)
{
    void *expected = NULL;

    if (!item || atomic_compare_exchange_strong(&p->fast, &expected, item))
        return;
    pthread_mutex_lock(&p->mu);
    if (p->n < XF_POOL_MAX) {
        p->items[p->n++] = item;
        item = NULL;
    }
    pthread_mutex_unlock(&p->mu);
    if (item)
        p->free_item(item);
}

/* ---- error aggregation ---- */

void xf_errs_add(struct xf_errs *e, const char *msg)
{
    ALLOC_GROW(e->msgs, e->n + 1, e->alloc);
    e->msgs[e->n++] = xstrdup(msg);
}

void xf_errs_addf(struct xf_errs *e, const char *fmt, ...)
{
    struct strbuf sb = STRBUF_INIT;
    va_list ap;

    va_start(ap, fmt);
    strbuf_vaddf(&sb, fmt, ap);
    va_end(ap);
    ALLOC_GROW(e->msgs, e->n + 1, e->alloc);
    e->msgs[e->n++] = strbuf_detach(&sb, NULL);
}

void xf_errs_add_err(struct xf_errs *e, const struct rkc_error *err)
{
    xf_errs_add(e, err->msg);
}

void xf_errs_format(const struct xf_errs *e, struct strbuf *out)
{
    size_t distinct = 0;
    struct strbuf body = STRBUF_INIT;

    for (size_t i = 0; i < e->n; i++) {
        bool seen = false;

        for (size_t j = 0; j < i && !seen; j++)
            seen = !strcmp(e->msgs[i], e->msgs[j]);
        if (seen)
            continue;
        if (distinct++)
            strbuf_addstr(&body, ", ");
        strbuf_addstr(&body, e->msgs[i]);
    }
    if (distinct > 1)
        strbuf_addf(out, "[%s]", body.buf);
    else
        strbuf_addstr(out, body.buf);
    strbuf_release(&body);
}

void xf_errs_release(struct xf_errs *e)
{
    for (size_t i = 0; i < e->n; i++)
        free(e->msgs[i]);
    free(e->msgs);
    e->msgs = NULL;
    e->n = e->alloc = 0;
}

/* ---- AES ---- */

static enum rkc_err ossl_fail(struct rkc_error *err, const char *what)
{
    unsigned long e = ERR_get_error();
    char buf[256] = "unknown error";

    if (e)
        ERR_error_string_n(e, buf, sizeof(buf));
    ERR_clear_error();
    return rkc_error_set(err, RKC_ECRYPTO, "%s: %s", what, buf);
}

void xf_cipher_ctx_free(void *ctx)
{
    EVP_CIPHER_CTX_free(ctx);
}

static const EVP_CIPHER *aes_cipher(enum xf_mode mode, size_t key_len)
{
    switch (key_len) {
    case 16:
        return mode == XF_MODE_GCM ? EVP_aes_128_gcm() : EVP_aes_128_cbc();
    case 24:
        return mode == XF_MODE_GCM ? EVP_aes_192_gcm() : EVP_aes_192_cbc();
    case 32:
        return mode == XF_MODE_GCM ? EVP_aes_256_gcm() : EVP_aes_256_cbc();
    default:
        return NULL;
    }
}

void xf_aes_init(struct xf_aes *a, enum xf_mode mode, const uint8_t *key, size_t key_len)
{
    RKC_ASSERT(key_len == 16 || key_len == 24 || key_len == 32);
    a->mode = mode;
    memcpy(a->key, key, key_len);
    a->key_len = key_len;
    xf_pool_init(&a->enc, xf_cipher_ctx_free);
    xf_pool_init(&a->dec, xf_cipher_ctx_free);
}

void xf_aes_release(struct xf_aes *a)
{
    xf_pool_release(&a->enc);
    xf_pool_release(&a->dec);
    OPENSSL_cleanse(a->key, sizeof(a->key));
    a->key_len = 0;
}

/* Returns: a context keyed for a's key and direction (from the pool or new), or NULL. */
static EVP_CIPHER_CTX *aes_ctx(struct xf_aes *a, bool enc)
{
    EVP_CIPHER_CTX *ctx = xf_pool_get(enc ? &a->enc : &a->dec);

    if (ctx)
        return ctx;
    ctx = EVP_CIPHER_CTX_new();
    if (!ctx)
        return NULL;
    if (EVP_CipherInit_ex(ctx, aes_cipher(a->mode, a->key_len), NULL, a->key, NULL, enc) != 1) {
        EVP_CIPHER_CTX_free(ctx);
        return NULL;
    }
    return ctx;
}

/* EVP_CipherUpdate over a size_t length (EVP takes int). Returns bytes written or -1. */
static long long update_all(EVP_CIPHER_CTX *ctx, uint8_t *out, const uint8_t *in, size_t len)
{
    const size_t chunk = (size_t)1 << 30;
    long long total = 0;

    do {
        size_t n = len < chunk ? len : chunk;
        int outl = 0;

        if (EVP_CipherUpdate(ctx, out ? out + total : NULL, &outl, in, (int)n) != 1)
            return -1;
        total += outl;
        in += n;
        len -= n;
    } while (len);
    return total;
}

size_t xf_aes_sealed_size(enum xf_mode mode, size_t len)
{
    if (mode == XF_MODE_CBC)
        return XF_AES_BLOCK + (len / XF_AES_BLOCK + 1) * XF_AES_BLOCK;
    return XF_GCM_NONCE + len + XF_GCM_TAG;
}

static enum rkc_err gcm_seal_ctx(EVP_CIPHER_CTX *ctx, const uint8_t *key, const uint8_t *aad,
                                 size_t aad_len, const uint8_t *pt, size_t len, struct strbuf *out,
                                 struct rkc_error *err)
{
    uint8_t *p;
    long long n;
    int fin = 0;
    enum rkc_err rc;

    strbuf_grow(out, XF_GCM_NONCE + len + XF_GCM_TAG);
    p = (uint8_t *)out->buf + out->len;
    rc = xf_random(p, XF_GCM_NONCE, err);
    if (rc)
        return rc;
    if (EVP_EncryptInit_ex(ctx, NULL, NULL, key, p) != 1)
        return ossl_fail(err, "aes-gcm init");
    if (aad_len && update_all(ctx, NULL, aad, aad_len) < 0)
        return ossl_fail(err, "aes-gcm aad");
    n = update_all(ctx, p + XF_GCM_NONCE, pt, len);
    if (n < 0 || EVP_EncryptFinal_ex(ctx, p + XF_GCM_NONCE + n, &fin) != 1)
        return ossl_fail(err, "aes-gcm encrypt");
    n += fin;
    if (EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_GET_TAG, XF_GCM_TAG, p + XF_GCM_NONCE + n) != 1)
        return ossl_fail(err, "aes-gcm tag");
    strbuf_setlen(out, out->len + XF_GCM_NONCE + (size_t)n + XF_GCM_TAG);
    return RKC_OK;
}

static enum rkc_err gcm_open_ctx(EVP_CIPHER_CTX *ctx, const uint8_t *key, const uint8_t *aad,
                                 size_t aad_len, const uint8_t *data, size_t len,
                                 struct strbuf *out, struct rkc_error *err)
{
    size_t ct_len;
    long long n;
    int fin = 0;
    uint8_t tag[XF_GCM_TAG];

    strbuf_reset(out);
    if (len < XF_GCM_NONCE)
        return rkc_error_set(err, RKC_ECRYPTO,
                             "the stored data was shorter than the required size");
    if (len < XF_GCM_NONCE + XF_GCM_TAG)
        return rkc_error_set(err, RKC_ECRYPTO, "cipher: message authentication failed");
    ct_len = len - XF_GCM_NONCE - XF_GCM_TAG;
    memcpy(tag, data + len - XF_GCM_TAG, XF_GCM_TAG);
    strbuf_grow(out, ct_len);
    if (EVP_DecryptInit_ex(ctx, NULL, NULL, key, data) != 1)
        return ossl_fail(err, "aes-gcm init");
    if (aad_len && update_all(ctx, NULL, aad, aad_len) < 0)
        return ossl_fail(err, "aes-gcm aad");
    n = ct_len ? update_all(ctx, (uint8_t *)out->buf, data + XF_GCM_NONCE, ct_len) : 0;
    if (n < 0)
        return ossl_fail(err, "aes-gcm decrypt");
    if (EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_SET_TAG, XF_GCM_TAG, tag) != 1)
        return ossl_fail(err, "aes-gcm tag");
    if (EVP_DecryptFinal_ex(ctx, (uint8_t *)out->buf + n, &fin) != 1) {
        ERR_clear_error();
        OPENSSL_cleanse(out->buf, ct_len);
        return rkc_error_set(err, RKC_ECRYPTO, "cipher: message authentication failed");
    }
    strbuf_setlen(out, (size_t)n + (size_t)fin);
    return RKC_OK;
}

static enum rkc_err cbc_seal_ctx(EVP_CIPHER_CTX *ctx, const uint8_t *pt, size_t len,
                                 struct strbuf *out, struct rkc_error *err)
{
    uint8_t *p;
    long long n;
    int fin = 0;
    enum rkc_err rc;

    strbuf_grow(out, xf_aes_sealed_size(XF_MODE_CBC, len));
    p = (uint8_t *)out->buf + out->len;
    rc = xf_random(p, XF_AES_BLOCK, err);
    if (rc)
        return rc;
    if (EVP_EncryptInit_ex(ctx, NULL, NULL, NULL, p) != 1)
        return ossl_fail(err, "aes-cbc init");
    n = len ? update_all(ctx, p + XF_AES_BLOCK, pt, len) : 0;
    if (n < 0 || EVP_EncryptFinal_ex(ctx, p + XF_AES_BLOCK + n, &fin) != 1)
        return ossl_fail(err, "aes-cbc encrypt");
    strbuf_setlen(out, out->len + XF_AES_BLOCK + (size_t)n + (size_t)fin);
    return RKC_OK;
}

/*
 * Upstream's PKCS#7 checks, in its order, on p[0..ct_len) (already decrypted): the pad byte
 * must be 1..ct_len (not just 1..16: upstream accepts longer consistent "padding") and all pad
 * bytes equal. Returns the plaintext length, or sets err.
 */
static enum rkc_err cbc_unpad(uint8_t *p, size_t ct_len, size_t *ret_len, struct rkc_error *err)
{
    size_t pad = p[ct_len - 1];

    if (pad == 0 || pad > ct_len)
        return rkc_error_set(err, RKC_ECRYPTO, "invalid PKCS7 data (empty or not padded)");
    for (size_t i = ct_len - pad; i < ct_len; i++)
        if (p[i] != pad)
            return rkc_error_set(err, RKC_ECRYPTO, "invalid padding on input");
    *ret_len = ct_len - pad;
    return RKC_OK;
}

static enum rkc_err cbc_check_len(size_t len, struct rkc_error *err)
{
    if (len < XF_AES_BLOCK)
        return rkc_error_set(err, RKC_ECRYPTO,
                             "the stored data was shorter than the required size");
    if ((len - XF_AES_BLOCK) % XF_AES_BLOCK)
        return rkc_error_set(err, RKC_ECRYPTO,
                             "the stored data is not a multiple of the block size");
    if (len == XF_AES_BLOCK) /* upstream panics here; it is empty, so say so */
        return rkc_error_set(err, RKC_ECRYPTO, "invalid PKCS7 data (empty or not padded)");
    return RKC_OK;
}

/* ctx: a keyed decrypt context with padding disabled: the padding checks are all ours. */
static enum rkc_err cbc_open_nopad(EVP_CIPHER_CTX *ctx, const uint8_t *data, size_t len,
                                   struct strbuf *out, struct rkc_error *err)
{
    size_t ct_len = len - XF_AES_BLOCK, n = 0;
    uint8_t *p;
    enum rkc_err rc;

    strbuf_reset(out);
    strbuf_grow(out, ct_len);
    p = (uint8_t *)out->buf;
    if (EVP_DecryptInit_ex(ctx, NULL, NULL, NULL, data) != 1)
        return ossl_fail(err, "aes-cbc init");
    if (update_all(ctx, p, data + XF_AES_BLOCK, ct_len) != (long long)ct_len)
        return ossl_fail(err, "aes-cbc decrypt");
    rc = cbc_unpad(p, ct_len, &n, err);
    if (rc) {
        OPENSSL_cleanse(p, ct_len);
        return rc;
    }
    OPENSSL_cleanse(p + n, ct_len - n);
    strbuf_setlen(out, n);
    return RKC_OK;
}

static EVP_CIPHER_CTX *cbc_nopad_ctx(const uint8_t *key, size_t key_len)
{
    EVP_CIPHER_CTX *ctx = EVP_CIPHER_CTX_new();

    if (!ctx || EVP_DecryptInit_ex(ctx, aes_cipher(XF_MODE_CBC, key_len), NULL, key, NULL) != 1) {
        EVP_CIPHER_CTX_free(ctx);
        return NULL;
    }
    EVP_CIPHER_CTX_set_padding(ctx, 0);
    return ctx;
}

/*
 * ctx: a pooled keyed decrypt context with EVP's padding on (re-initialising a context with
 * padding off costs a parameter lookup per call in OpenSSL 3). EVP accepts exactly what
 * upstream accepts when the pad is 1..16; anything EVP refuses is re-checked the slow way so
 * the message (and the >16 quirk) stay upstream's.
 */
static enum rkc_err cbc_open_ctx(EVP_CIPHER_CTX *ctx, const uint8_t *key, size_t key_len,
                                 const uint8_t *data, size_t len, struct strbuf *out,
                                 struct rkc_error *err)
{
    size_t ct_len;
    long long n;
    int fin = 0;
    uint8_t *p;
    EVP_CIPHER_CTX *slow;
    enum rkc_err rc;

    strbuf_reset(out);
    rc = cbc_check_len(len, err);
    if (rc)
        return rc;
    ct_len = len - XF_AES_BLOCK;
    strbuf_grow(out, ct_len);
    p = (uint8_t *)out->buf;
    if (EVP_DecryptInit_ex(ctx, NULL, NULL, NULL, data) != 1)
        return ossl_fail(err, "aes-cbc init");
    n = update_all(ctx, p, data + XF_AES_BLOCK, ct_len);
    if (n >= 0 && EVP_DecryptFinal_ex(ctx, p + n, &fin) == 1) {
        /* the stripped bytes are padding, not plaintext: nothing to wipe */
        out->len = (size_t)n + (size_t)fin;
        out->buf[out->len] = '\0';
        return RKC_OK;
    }
    ERR_clear_error();
    OPENSSL_cleanse(p, ct_len);
    slow = cbc_nopad_ctx(key, key_len);
    if (!slow)
        return ossl_fail(err, "aes-cbc init");
    rc = cbc_open_nopad(slow, data, len, out, err);
    EVP_CIPHER_CTX_free(slow);
    return rc;
}

enum rkc_err xf_aes_seal(struct xf_aes *a, const uint8_t *aad, size_t aad_len, const uint8_t *pt,
                         size_t len, struct strbuf *out, struct rkc_error *err)
{
    EVP_CIPHER_CTX *ctx = aes_ctx(a, true);
    enum rkc_err rc;

    if (!ctx)
        return ossl_fail(err, "aes init");
    if (a->mode == XF_MODE_GCM)
        rc = gcm_seal_ctx(ctx, NULL, aad, aad_len, pt, len, out, err);
    else
        rc = cbc_seal_ctx(ctx, pt, len, out, err);
    if (rc == RKC_OK)
        xf_pool_put(&a->enc, ctx);
    else
        EVP_CIPHER_CTX_free(ctx);
    return rc;
}

enum rkc_err xf_aes_open(struct xf_aes *a, const uint8_t *aad, size_t aad_len, const uint8_t *data,
                         size_t len, struct strbuf *out, struct rkc_error *err)
{
    EVP_CIPHER_CTX *ctx = aes_ctx(a, false);
    enum rkc_err rc;

    if (!ctx)
        return ossl_fail(err, "aes init");
    if (a->mode == XF_MODE_GCM)
        rc = gcm_open_ctx(ctx, NULL, aad, aad_len, data, len, out, err);
    else
        rc = cbc_open_ctx(ctx, a->key, a->key_len, data, len, out, err);
    /* a failed open leaves the context re-initialisable: the next call sets a new IV */
    xf_pool_put(&a->dec, ctx);
    if (rc)
        strbuf_release_wipe(out);
    return rc;
}

/* A context with the AES-256-GCM cipher set but no key, for per-call DEKs. */
static EVP_CIPHER_CTX *dek_ctx(struct xf_pool *pool, size_t key_len)
{
    EVP_CIPHER_CTX *ctx;

    if (key_len == 32) {
        ctx = xf_pool_get(pool);
        if (ctx)
            return ctx;
    }
    ctx = EVP_CIPHER_CTX_new();
    if (ctx && EVP_CipherInit_ex(ctx, aes_cipher(XF_MODE_GCM, key_len), NULL, NULL, NULL, 1) != 1) {
        EVP_CIPHER_CTX_free(ctx);
        return NULL;
    }
    return ctx;
}

static void dek_ctx_done(struct xf_pool *pool, size_t key_len, EVP_CIPHER_CTX *ctx, bool ok)
{
    if (ok && key_len == 32)
        xf_pool_put(pool, ctx);
    else
        EVP_CIPHER_CTX_free(ctx);
}

enum rkc_err xf_gcm_seal_key(struct xf_pool *pool, const uint8_t *key, size_t key_len,
                             const uint8_t *aad, size_t aad_len, const uint8_t *pt, size_t len,
                             struct strbuf *out, struct rkc_error *err)
{
    EVP_CIPHER_CTX *ctx;
    enum rkc_err rc;

    if (!aes_cipher(XF_MODE_GCM, key_len))
        return rkc_error_set(err, RKC_ECRYPTO, "crypto/aes: invalid key size %zu", key_len);
    ctx = dek_ctx(pool, key_len);
    if (!ctx)
        return ossl_fail(err, "aes-gcm init");
    /* EVP_EncryptInit_ex switches the context to encryption */
    rc = gcm_seal_ctx(ctx, key, aad, aad_len, pt, len, out, err);
    dek_ctx_done(pool, key_len, ctx, rc == RKC_OK);
    return rc;
}

enum rkc_err xf_gcm_open_key(struct xf_pool *pool, const uint8_t *key, size_t key_len,
                             const uint8_t *aad, size_t aad_len, const uint8_t *data, size_t len,
                             struct strbuf *out, struct rkc_error *err)
{
    EVP_CIPHER_CTX *ctx;
    enum rkc_err rc;

    if (!aes_cipher(XF_MODE_GCM, key_len))
        return rkc_error_set(err, RKC_ECRYPTO, "crypto/aes: invalid key size %zu", key_len);
    ctx = dek_ctx(pool, key_len);
    if (!ctx)
        return ossl_fail(err, "aes-gcm init");
    rc = gcm_open_ctx(ctx, key, aad, aad_len, data, len, out, err);
    dek_ctx_done(pool, key_len, ctx, true);
    if (rc)
        strbuf_release_wipe(out);
    return rc;
}

enum rkc_err xf_cbc_open_key(const uint8_t *key, size_t key_len, const uint8_t *data, size_t len,
                             struct strbuf *out, struct rkc_error *err)
{
    EVP_CIPHER_CTX *ctx;
    enum rkc_err rc;

    strbuf_reset(out);
    if (!aes_cipher(XF_MODE_CBC, key_len))
        return rkc_error_set(err, RKC_ECRYPTO, "crypto/aes: invalid key size %zu", key_len);
    rc = cbc_check_len(len, err);
    if (rc)
        return rc;
    ctx = cbc_nopad_ctx(key, key_len);
    if (!ctx)
        return ossl_fail(err, "aes-cbc init");
    rc = cbc_open_nopad(ctx, data, len, out, err);
    EVP_CIPHER_CTX_free(ctx);
    if (rc)
        strbuf_release_wipe(out);
    return rc;
}

/* ---- HKDF-Expand ---- */

static EVP_MAC *hmac_alg;
static pthread_once_t hmac_once = PTHREAD_ONCE_INIT;

static void hmac_fetch(void)
{
    hmac_alg = EVP_MAC_fetch(NULL, "HMAC", NULL);
}

static void mac_ctx_free(void *ctx)
{
    EVP_MAC_CTX_free(ctx);
}

void xf_hkdf_init(struct xf_hkdf *h, const uint8_t *prk, size_t prk_len)
{
    RKC_ASSERT(prk_len <= sizeof(h->prk));
    memcpy(h->prk, prk, prk_len);
    h->prk_len = prk_len;
    xf_pool_init(&h->pool, mac_ctx_free);
}

void xf_hkdf_release(struct xf_hkdf *h)
{
    xf_pool_release(&h->pool);
    OPENSSL_cleanse(h->prk, sizeof(h->prk));
}

enum rkc_err xf_hkdf_expand32(struct xf_hkdf *h, const uint8_t *info, size_t info_len,
                              uint8_t out[32], struct rkc_error *err)
{
    static const uint8_t one = 1;
    EVP_MAC_CTX *ctx = xf_pool_get(&h->pool);
    size_t outl = 0;
    uint8_t md[EVP_MAX_MD_SIZE];

    if (!ctx) {
        char digest[] = "SHA256";
        OSSL_PARAM params[] = {
            OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, digest, 0),
            OSSL_PARAM_construct_end(),
        };

        pthread_once(&hmac_once, hmac_fetch);
        if (!hmac_alg)
            return ossl_fail(err, "hmac fetch");
        ctx = EVP_MAC_CTX_new(hmac_alg);
        if (!ctx || EVP_MAC_init(ctx, h->prk, h->prk_len, params) != 1) {
            EVP_MAC_CTX_free(ctx);
            return ossl_fail(err, "hkdf init");
        }
    } else if (EVP_MAC_init(ctx, NULL, 0, NULL) != 1) { /* reuses the keyed state */
        EVP_MAC_CTX_free(ctx);
        return ossl_fail(err, "hkdf init");
    }
    /* HKDF-Expand, one block: T(1) = HMAC(PRK, info || 0x01) */
    if (EVP_MAC_update(ctx, info, info_len) != 1 || EVP_MAC_update(ctx, &one, 1) != 1 ||
        EVP_MAC_final(ctx, md, &outl, sizeof(md)) != 1 || outl != 32) {
        EVP_MAC_CTX_free(ctx);
        OPENSSL_cleanse(md, sizeof(md));
        return ossl_fail(err, "hkdf expand");
    }
    memcpy(out, md, 32);
    OPENSSL_cleanse(md, sizeof(md));
    xf_pool_put(&h->pool, ctx);
    return RKC_OK;
}
