/* SPDX-License-Identifier: Apache-2.0 */
/*
 * kek: the rkc-kms key ring file and AES-256-GCM key wrapping (see kek.h).
 */
#include "crypto/kek.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "crypto/b64.h"
#include "crypto/keygen.h"
#include "crypto/xf_internal.h"
#include "util/fs.h"
#include "util/xalloc.h"

#include "util/banned.h"

#define MAGIC     "rkk1"
#define MAGIC_LEN 4
#define HEADER    "# rkc-kms key file: the last key wraps, every key unwraps. Keep it secret.\n"

struct kek {
    char id[KEYGEN_FINGERPRINT_SIZE];
    uint8_t key[KEK_LEN];
    struct xf_aes aes;
};

struct kek_ring {
    struct kek **v; /* pointers: an xf_aes must not move */
    size_t nr, alloc;
};

static void ring_add(struct kek_ring *r, const uint8_t key[KEK_LEN])
{
    struct kek *k;

    ALLOC_GROW(r->v, r->nr + 1, r->alloc);
    k = xcalloc(1, sizeof(*k));
    r->v[r->nr++] = k;
    memcpy(k->key, key, KEK_LEN);
    keygen_fingerprint(key, KEK_LEN, k->id);
    xf_aes_init(&k->aes, XF_MODE_GCM, key, KEK_LEN);
}

void kek_ring_free(struct kek_ring *r)
{
    size_t i;

    if (!r)
        return;
    for (i = 0; i < r->nr; i++) {
        xf_aes_release(&r->v[i]->aes);
        rkc_wipe(r->v[i]->key, KEK_LEN);
        free(r->v[i]);
    }
    free(r->v);
    free(r);
}

static void ring_format(const struct kek_ring *r, struct strbuf *out)
{
    size_t i;

    strbuf_addstr(out, HEADER);
    for (i = 0; i < r->nr; i++) {
        strbuf_addf(out, "kek %s ", r->v[i]->id);
        b64_encode(r->v[i]->key, KEK_LEN, out);
        strbuf_addch(out, '\n');
    }
}

static enum rkc_err ring_write(const struct kek_ring *r, const char *path, struct rkc_error *err)
{
    struct strbuf out = STRBUF_INIT;
    enum rkc_err rc;

    ring_format(r, &out);
    rc = fs_write_atomic(path, out.buf, out.len, 0600, err);
    strbuf_release_wipe(&out);
    return rc;
}

static enum rkc_err ring_parse(const char *path, const struct strbuf *buf, struct kek_ring *r,
                               struct rkc_error *err)
{
    const char *p = buf->buf, *end = buf->buf + buf->len;
    size_t lineno = 0;
    enum rkc_err rc = RKC_OK;

    while (!rc && p < end) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        const char *eol = nl ? nl : end;
        char *line = xstrndup(p, (size_t)(eol - p));
        char *id, *b64, *save = NULL;
        struct strbuf key = STRBUF_INIT;

        lineno++;
        p = nl ? nl + 1 : end;
        if (!line[0] || line[0] == '#') {
            free(line);
            continue;
        }
        if (strncmp(line, "kek ", 4) != 0 || !(id = strtok_r(line + 4, " ", &save)) ||
            !(b64 = strtok_r(NULL, " \r", &save)) || strtok_r(NULL, " ", &save)) {
            rc = rkc_error_set(err, RKC_ECONFIG, "%s:%zu: expected 'kek <key id> <base64 key>'",
                               path, lineno);
        } else if (b64_decode(b64, strlen(b64), &key, NULL) || key.len != KEK_LEN) {
            rc = rkc_error_set(err, RKC_ECONFIG, "%s:%zu: the key is not 32 base64 bytes", path,
                               lineno);
        } else {
            ring_add(r, (const uint8_t *)key.buf);
            if (strcmp(r->v[r->nr - 1]->id, id) != 0)
                rc = rkc_error_set(err, RKC_ECONFIG,
                                   "%s:%zu: key id \"%s\" does not match the key (expected \"%s\")",
                                   path, lineno, id, r->v[r->nr - 1]->id);
        }
        strbuf_release_wipe(&key);
        rkc_wipe(line, strlen(line));
        free(line);
    }
    if (!rc && !r->nr)
        rc = rkc_error_set(err, RKC_ECONFIG, "%s: no key in the key file", path);
    return rc;
}

static enum rkc_err ring_new_key(struct kek_ring *r, struct rkc_error *err)
{
    uint8_t key[KEK_LEN];
    enum rkc_err rc = keygen_random(key, sizeof(key), err);

    if (!rc)
        ring_add(r, key);
    rkc_wipe(key, sizeof(key));
    return rc;
}

enum rkc_err kek_ring_load(const char *path, bool create, struct kek_ring **ret,
                           struct rkc_error *err)
{
    struct kek_ring *r = xcalloc(1, sizeof(*r));
    struct strbuf buf = STRBUF_INIT;
    enum rkc_err rc;

    if (create && !fs_exists(path)) {
        rc = ring_new_key(r, err);
        if (!rc)
            rc = ring_write(r, path, err);
    } else {
        rc = strbuf_read_file(&buf, path, err);
        if (!rc)
            rc = ring_parse(path, &buf, r, err);
    }
    strbuf_release_wipe(&buf);
    if (rc) {
        kek_ring_free(r);
        return rc;
    }
    *ret = r;
    return RKC_OK;
}

enum rkc_err kek_ring_rotate(const char *path, struct strbuf *ret_key_id, struct rkc_error *err)
{
    struct kek_ring *r = NULL;
    enum rkc_err rc = kek_ring_load(path, false, &r, err);

    if (!rc)
        rc = ring_new_key(r, err);
    if (!rc)
        rc = ring_write(r, path, err);
    if (!rc && ret_key_id)
        strbuf_addstr(ret_key_id, kek_ring_current_id(r));
    kek_ring_free(r);
    return rc;
}

const char *kek_ring_current_id(const struct kek_ring *r)
{
    return r->v[r->nr - 1]->id;
}

size_t kek_ring_count(const struct kek_ring *r)
{
    return r->nr;
}

static void header(const char *id, struct strbuf *out)
{
    strbuf_add(out, MAGIC, MAGIC_LEN);
    strbuf_addch(out, (int)strlen(id));
    strbuf_addstr(out, id);
}

enum rkc_err kek_wrap(const struct kek_ring *r, const uint8_t *pt, size_t len,
                      struct strbuf *ret_ct, struct strbuf *ret_key_id, struct rkc_error *err)
{
    struct kek *k = r->v[r->nr - 1];
    struct strbuf out = STRBUF_INIT;
    size_t aad_len;
    enum rkc_err rc;

    header(k->id, &out);
    aad_len = out.len;
    strbuf_grow(&out, xf_aes_sealed_size(XF_MODE_GCM, len));
    rc = xf_aes_seal(&k->aes, (const uint8_t *)out.buf, aad_len, pt, len, &out, err);
    if (!rc) {
        strbuf_add(ret_ct, out.buf, out.len);
        if (ret_key_id)
            strbuf_addstr(ret_key_id, k->id);
    }
    strbuf_release(&out);
    return rc;
}

enum rkc_err kek_unwrap(const struct kek_ring *r, const uint8_t *ct, size_t len,
                        struct strbuf *ret_pt, struct rkc_error *err)
{
    size_t idlen, i;
    char id[256];

    if (len < MAGIC_LEN + 1 || memcmp(ct, MAGIC, MAGIC_LEN) != 0)
        return rkc_error_set(err, RKC_EINVAL, "not an rkc-kms ciphertext");
    idlen = ct[MAGIC_LEN];
    if (len < MAGIC_LEN + 1 + idlen)
        return rkc_error_set(err, RKC_EINVAL, "not an rkc-kms ciphertext");
    memcpy(id, ct + MAGIC_LEN + 1, idlen);
    id[idlen] = '\0';
    for (i = 0; i < r->nr; i++) {
        if (!strcmp(r->v[i]->id, id)) {
            size_t h = MAGIC_LEN + 1 + idlen;
            enum rkc_err rc = xf_aes_open(&r->v[i]->aes, ct, h, ct + h, len - h, ret_pt, err);

            if (rc)
                return rkc_error_set(err, RKC_ECRYPTO,
                                     "cannot unwrap with key id \"%s\": authentication failed", id);
            return RKC_OK;
        }
    }
    return rkc_error_set(err, RKC_ENOTFOUND, "unknown key id \"%.64s\"", id);
}
