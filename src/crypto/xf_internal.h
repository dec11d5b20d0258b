/* SPDX-License-Identifier: Apache-2.0 */
/*
 * xf_internal: shared pieces of the transformer implementation (transformer.c, xf_aes.c,
 * xf_kms.c). Not a public API: only src/crypto/ and the crypto unit tests include it.
 */
#ifndef RKC_CRYPTO_XF_INTERNAL_H
#define RKC_CRYPTO_XF_INTERNAL_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "crypto/transformer.h"
#include "util/error.h"
#include "util/strbuf.h"

#define XF_AES_BLOCK        16
#define XF_GCM_NONCE        12
#define XF_GCM_TAG          16
#define XF_SB_NONCE         24
#define XF_SB_TAG           16
#define XF_DEK_LEN          32
#define XF_XNONCE_INFO      32
#define XF_KMS_V2_SRC_MAX   1024
#define XF_KMS_V2_KEYID_MAX 1024
#define XF_KMS_V2_ANN_MAX   (32 * 1024)

/* Random bytes for IVs, nonces, DEKs and seeds (RAND_bytes, or the test hook). */
enum rkc_err xf_random(void *buf, size_t n, struct rkc_error *err);

/*
 * A small mutex-protected stack of reusable OpenSSL contexts that already hold a key schedule,
 * so a call costs one uncontended lock instead of a context allocation and key expansion.
 * Contexts are created on demand by the owner; at most XF_POOL_MAX idle ones are kept.
 */
#define XF_POOL_MAX 32
struct xf_pool {
    _Atomic(void *) fast; /* one lock-free slot: the common single-thread case */
    pthread_mutex_t mu;
    void *items[XF_POOL_MAX];
    size_t n;
    void (*free_item)(void *);
};
void xf_pool_init(struct xf_pool *p, void (*free_item)(void *));
void xf_pool_release(struct xf_pool *p);
/* Returns: an idle context (caller owns it until xf_pool_put) or NULL when none is idle. */
void *xf_pool_get(struct xf_pool *p);
void xf_pool_put(struct xf_pool *p, void *item);

/* Error messages collected by a read, reported like apimachinery's aggregate. */
struct xf_errs {
    char **msgs;
    size_t n, alloc;
};
void xf_errs_add(struct xf_errs *e, const char *msg);
void xf_errs_addf(struct xf_errs *e, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Moves the messages of one rkc_error in. */
void xf_errs_add_err(struct xf_errs *e, const struct rkc_error *err);
/* "m" when one distinct message, "[m1, m2]" otherwise (duplicates dropped, order kept). */
void xf_errs_format(const struct xf_errs *e, struct strbuf *out);
void xf_errs_release(struct xf_errs *e);

/* ---- AES with pooled, pre-keyed contexts (xf_aes.c) ---- */

enum xf_mode { XF_MODE_CBC, XF_MODE_GCM };

/* One AES key in one mode, with a pool of encrypt and one of decrypt contexts. */
struct xf_aes {
    enum xf_mode mode;
    uint8_t key[32];
    size_t key_len;
    struct xf_pool enc, dec;
};
void xf_aes_init(struct xf_aes *a, enum xf_mode mode, const uint8_t *key, size_t key_len);
void xf_aes_release(struct xf_aes *a);

/* Upper bound of xf_aes_seal output for len bytes of plaintext (IV/nonce included). */
size_t xf_aes_sealed_size(enum xf_mode mode, size_t len);
/*
 * Appends IV||CBC(PKCS#7) or nonce||GCM ct||tag of pt to out (out already grown by at least
 * xf_aes_sealed_size). aad is used by GCM only.
 */
enum rkc_err xf_aes_seal(struct xf_aes *a, const uint8_t *aad, size_t aad_len, const uint8_t *pt,
                         size_t len, struct strbuf *out, struct rkc_error *err);
/*
 * Opens data (IV/nonce first) into out (replaced), with kube-apiserver's checks and messages.
 * On failure out is wiped and emptied.
 */
enum rkc_err xf_aes_open(struct xf_aes *a, const uint8_t *aad, size_t aad_len, const uint8_t *data,
                         size_t len, struct strbuf *out, struct rkc_error *err);

/* One-shot AES-GCM with a key that changes per call (DEKs); contexts come from pool. */
enum rkc_err xf_gcm_seal_key(struct xf_pool *pool, const uint8_t *key, size_t key_len,
                             const uint8_t *aad, size_t aad_len, const uint8_t *pt, size_t len,
                             struct strbuf *out, struct rkc_error *err);
enum rkc_err xf_gcm_open_key(struct xf_pool *pool, const uint8_t *key, size_t key_len,
                             const uint8_t *aad, size_t aad_len, const uint8_t *data, size_t len,
                             struct strbuf *out, struct rkc_error *err);
/* AES-CBC open with a per-call key (KMS v1 legacy bodies); no pooling, it is rare. */
enum rkc_err xf_cbc_open_key(const uint8_t *key, size_t key_len, const uint8_t *data, size_t len,
                             struct strbuf *out, struct rkc_error *err);
void xf_cipher_ctx_free(void *ctx);

/* HKDF-Expand(SHA-256, prk, info, 32) with a pool of MAC contexts keyed with prk. */
struct xf_hkdf {
    uint8_t prk[64];
    size_t prk_len;
    struct xf_pool pool;
};
void xf_hkdf_init(struct xf_hkdf *h, const uint8_t *prk, size_t prk_len);
void xf_hkdf_release(struct xf_hkdf *h);
enum rkc_err xf_hkdf_expand32(struct xf_hkdf *h, const uint8_t *info, size_t info_len,
                              uint8_t out[32], struct rkc_error *err);

/* ---- KMS (xf_kms.c) ---- */

struct xf_kms;
enum rkc_err xf_kms_new(enum xf_kind kind, const char *name, int cachesize,
                        const struct kms_plugin *plugin, struct xf_kms **ret,
                        struct rkc_error *err);
void xf_kms_free(struct xf_kms *k);
size_t xf_kms_sealed_size(const struct xf_kms *k, size_t len);
/* Appends the body (after "k8s:enc:kms:vN:<name>:") to out. */
enum rkc_err xf_kms_seal(struct xf_kms *k, const char *etcd_key, const uint8_t *pt, size_t len,
                         struct strbuf *out, struct rkc_error *err);
/* Reads the body; collects failure messages in errs; sets *ret_stale on success. */
enum rkc_err xf_kms_open(struct xf_kms *k, const char *etcd_key, const uint8_t *data, size_t len,
                         struct strbuf *out, bool *ret_stale, struct xf_errs *errs);
enum rkc_err xf_kms_do_refresh(struct xf_kms *k, struct rkc_error *err);
void xf_kms_set_interval(struct xf_kms *k, unsigned ms);

/* Writes the protobuf varint of v at p; returns the number of bytes (<= 10). */
size_t xf_pb_put_varint(uint8_t *p, uint64_t v);
size_t xf_pb_varint_len(uint64_t v);

#endif
