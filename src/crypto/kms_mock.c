/* SPDX-License-Identifier: Apache-2.0 */
/* kms_mock: the Base64 KMS plugin double (see kms_mock.h). */
#include "crypto/kms_mock.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "crypto/b64.h"
#include "util/xalloc.h"

#include "util/banned.h"

struct kms_mock {
    pthread_mutex_t mu;
    char *key_id;
    char *prefix;
    bool failing, annotations;
    atomic_uint enc_calls, dec_calls, status_calls;
};

struct kms_mock *kms_mock_new(const char *key_id)
{
    struct kms_mock *m = xcalloc(1, sizeof(*m));

    pthread_mutex_init(&m->mu, NULL);
    m->key_id = xstrdup(key_id);
    m->prefix = xstrdup("");
    m->annotations = true;
    return m;
}

void kms_mock_free(struct kms_mock *m)
{
    if (!m)
        return;
    pthread_mutex_destroy(&m->mu);
    free(m->key_id);
    free(m->prefix);
    free(m);
}

void kms_mock_set_key_id(struct kms_mock *m, const char *key_id)
{
    pthread_mutex_lock(&m->mu);
    free(m->key_id);
    m->key_id = xstrdup(key_id);
    pthread_mutex_unlock(&m->mu);
}

void kms_mock_set_ct_prefix(struct kms_mock *m, const char *prefix)
{
    pthread_mutex_lock(&m->mu);
    free(m->prefix);
    m->prefix = xstrdup(prefix);
    pthread_mutex_unlock(&m->mu);
}

void kms_mock_set_failing(struct kms_mock *m, bool failing)
{
    pthread_mutex_lock(&m->mu);
    m->failing = failing;
    pthread_mutex_unlock(&m->mu);
}

void kms_mock_set_annotations(struct kms_mock *m, bool on)
{
    pthread_mutex_lock(&m->mu);
    m->annotations = on;
    pthread_mutex_unlock(&m->mu);
}

static enum rkc_err mock_encrypt(void *ctx, const uint8_t *pt, size_t len, struct strbuf *ret_ct,
                                 struct strbuf *ret_key_id, struct strbuf *ret_annotations,
                                 struct rkc_error *err)
{
    struct kms_mock *m = ctx;
    bool ann;

    atomic_fetch_add(&m->enc_calls, 1);
    pthread_mutex_lock(&m->mu);
    if (m->failing) {
        pthread_mutex_unlock(&m->mu);
        return rkc_error_set(err, RKC_ECRYPTO, "mock kms failure");
    }
    strbuf_addstr(ret_ct, m->prefix);
    strbuf_addstr(ret_key_id, m->key_id);
    ann = m->annotations;
    pthread_mutex_unlock(&m->mu);
    b64_encode(pt, len, ret_ct);
    if (ann)
        xf_kms_annotation_add(ret_annotations, "local-kek.kms.kubernetes.io", "encrypted-local-kek",
                              strlen("encrypted-local-kek"));
    return RKC_OK;
}

static enum rkc_err mock_decrypt(void *ctx, const uint8_t *ct, size_t len, const char *key_id,
                                 const uint8_t *annotations, size_t annotations_len,
                                 struct strbuf *ret_pt, struct rkc_error *err)
{
    struct kms_mock *m = ctx;
    size_t plen;

    (void)key_id;
    (void)annotations;
    (void)annotations_len;
    atomic_fetch_add(&m->dec_calls, 1);
    pthread_mutex_lock(&m->mu);
    if (m->failing) {
        pthread_mutex_unlock(&m->mu);
        return rkc_error_set(err, RKC_ECRYPTO, "mock kms failure");
    }
    plen = strlen(m->prefix);
    if (len < plen || memcmp(ct, m->prefix, plen) != 0) {
        pthread_mutex_unlock(&m->mu);
        return rkc_error_set(err, RKC_ECRYPTO, "mock kms: ciphertext has the wrong prefix");
    }
    pthread_mutex_unlock(&m->mu);
    return b64_decode((const char *)ct + plen, len - plen, ret_pt, err);
}

static enum rkc_err mock_status(void *ctx, struct strbuf *ret_key_id, struct rkc_error *err)
{
    struct kms_mock *m = ctx;

    atomic_fetch_add(&m->status_calls, 1);
    pthread_mutex_lock(&m->mu);
    if (m->failing) {
        pthread_mutex_unlock(&m->mu);
        return rkc_error_set(err, RKC_ECRYPTO, "mock kms failure");
    }
    strbuf_addstr(ret_key_id, m->key_id);
    pthread_mutex_unlock(&m->mu);
    return RKC_OK;
}

void kms_mock_plugin(struct kms_mock *m, struct kms_plugin *out)
{
    out->encrypt = mock_encrypt;
    out->decrypt = mock_decrypt;
    out->status = mock_status;
    out->ctx = m;
}

unsigned kms_mock_encrypt_calls(const struct kms_mock *m)
{
    return atomic_load(&((struct kms_mock *)(uintptr_t)m)->enc_calls);
}

unsigned kms_mock_decrypt_calls(const struct kms_mock *m)
{
    return atomic_load(&((struct kms_mock *)(uintptr_t)m)->dec_calls);
}

unsigned kms_mock_status_calls(const struct kms_mock *m)
{
    return atomic_load(&((struct kms_mock *)(uintptr_t)m)->status_calls);
}
