/* SPDX-License-Identifier: Apache-2.0 */
/* seal: Argon2id + XChaCha20-Poly1305 passphrase sealing (libsodium). */
#include "crypto/seal.h"

#include <stdint.h>
#include <string.h>

#include <sodium.h>

#include "util/xalloc.h"

#include "util/banned.h"

#define SEAL_ALG_ARGON2ID13_XCHACHA 1u

static void put_be(uint8_t *p, uint64_t v, size_t n)
{
    size_t i;

    for (i = 0; i < n; i++)
        p[i] = (uint8_t)(v >> (8 * (n - 1 - i)));
}

static uint64_t get_be(const uint8_t *p, size_t n)
{
    uint64_t v = 0;
    size_t i;

    for (i = 0; i < n; i++)
        v = (v << 8) | p[i];
    return v;
}

static enum rkc_err init_sodium(struct rkc_error *err)
{
    if (sodium_init() < 0)
        return rkc_error_set(err, RKC_ECRYPTO, "libsodium initialisation failed");
    return RKC_OK;
}

static enum rkc_err derive(const char *passphrase, const uint8_t *salt, uint64_t ops, uint64_t mem,
                           uint8_t key[crypto_aead_xchacha20poly1305_ietf_KEYBYTES],
                           struct rkc_error *err)
{
    if (crypto_pwhash(key, crypto_aead_xchacha20poly1305_ietf_KEYBYTES, passphrase,
                      strlen(passphrase), salt, ops, (size_t)mem, crypto_pwhash_ALG_ARGON2ID13))
        return rkc_error_set(err, RKC_ECRYPTO,
                             "deriving the key from the passphrase failed (out of memory?)");
    return RKC_OK;
}

/* header || aad, the AEAD additional data. */
static uint8_t *full_aad(const uint8_t *header, const void *aad, size_t aad_len, size_t *ret_len)
{
    uint8_t *a = xmalloc(SEAL_HEADER_LEN + aad_len + 1);

    memcpy(a, header, SEAL_HEADER_LEN);
    if (aad_len)
        memcpy(a + SEAL_HEADER_LEN, aad, aad_len);
    *ret_len = SEAL_HEADER_LEN + aad_len;
    return a;
}

enum rkc_err seal_blob(const char *passphrase, const void *pt, size_t len, const void *aad,
                       size_t aad_len, enum seal_cost cost, struct strbuf *ret,
                       struct rkc_error *err)
{
    uint8_t header[SEAL_HEADER_LEN], key[crypto_aead_xchacha20poly1305_ietf_KEYBYTES];
    uint64_t ops = cost == SEAL_COST_INTERACTIVE ? crypto_pwhash_OPSLIMIT_INTERACTIVE
                                                 : crypto_pwhash_OPSLIMIT_MODERATE;
    uint64_t mem = cost == SEAL_COST_INTERACTIVE ? crypto_pwhash_MEMLIMIT_INTERACTIVE
                                                 : crypto_pwhash_MEMLIMIT_MODERATE;
    uint8_t *salt = header + 28, *nonce = header + 44, *a, *out;
    unsigned long long clen = 0;
    size_t alen;
    enum rkc_err rc;

    strbuf_reset(ret);
    if (!passphrase || !*passphrase)
        return rkc_error_set(err, RKC_EINVAL, "the passphrase is empty");
    rc = init_sodium(err);
    if (rc)
        return rc;
    memcpy(header, SEAL_MAGIC, 8);
    put_be(header + 8, SEAL_ALG_ARGON2ID13_XCHACHA, 4);
    put_be(header + 12, ops, 8);
    put_be(header + 20, mem, 8);
    randombytes_buf(salt, crypto_pwhash_SALTBYTES);
    randombytes_buf(nonce, crypto_aead_xchacha20poly1305_ietf_NPUBBYTES);
    rc = derive(passphrase, salt, ops, mem, key, err);
    if (rc)
        return rc;
    a = full_aad(header, aad, aad_len, &alen);
    out = xmalloc(len + crypto_aead_xchacha20poly1305_ietf_ABYTES);
    if (crypto_aead_xchacha20poly1305_ietf_encrypt(out, &clen, pt, len, a, alen, NULL, nonce, key))
        rc = rkc_error_set(err, RKC_ECRYPTO, "sealing failed");
    if (!rc) {
        strbuf_add(ret, header, sizeof(header));
        strbuf_add(ret, out, (size_t)clen);
    }
    sodium_memzero(key, sizeof(key));
    free(out);
    free(a);
    return rc;
}

enum rkc_err seal_open(const char *passphrase, const void *blob, size_t len, const void *aad,
                       size_t aad_len, struct strbuf *ret_pt, struct rkc_error *err)
{
    const uint8_t *b = blob;
    uint8_t key[crypto_aead_xchacha20poly1305_ietf_KEYBYTES], *a, *out;
    unsigned long long plen = 0;
    uint64_t ops, mem;
    size_t alen;
    enum rkc_err rc;

    strbuf_reset(ret_pt);
    if (len < SEAL_HEADER_LEN + crypto_aead_xchacha20poly1305_ietf_ABYTES ||
        memcmp(b, SEAL_MAGIC, 8))
        return rkc_error_set(err, RKC_EINVAL, "not a sealed key bundle");
    if (get_be(b + 8, 4) != SEAL_ALG_ARGON2ID13_XCHACHA)
        return rkc_error_set(err, RKC_EINVAL, "unsupported sealing algorithm %llu",
                             (unsigned long long)get_be(b + 8, 4));
    ops = get_be(b + 12, 8);
    mem = get_be(b + 20, 8);
    if (ops < crypto_pwhash_OPSLIMIT_MIN || ops > crypto_pwhash_OPSLIMIT_SENSITIVE ||
        mem < crypto_pwhash_MEMLIMIT_MIN || mem > crypto_pwhash_MEMLIMIT_SENSITIVE)
        return rkc_error_set(err, RKC_EINVAL, "unsupported key derivation limits in the header");
    if (!passphrase || !*passphrase)
        return rkc_error_set(err, RKC_EINVAL, "the passphrase is empty");
    rc = init_sodium(err);
    if (!rc)
        rc = derive(passphrase, b + 28, ops, mem, key, err);
    if (rc)
        return rc;
    a = full_aad(b, aad, aad_len, &alen);
    out = xmalloc(len);
    if (crypto_aead_xchacha20poly1305_ietf_decrypt(out, &plen, NULL, b + SEAL_HEADER_LEN,
                                                   len - SEAL_HEADER_LEN, a, alen, b + 44, key))
        rc = rkc_error_set(err, RKC_ECRYPTO, "wrong passphrase, or the sealed bundle was modified");
    else
        strbuf_add(ret_pt, out, (size_t)plen);
    sodium_memzero(out, len);
    sodium_memzero(key, sizeof(key));
    free(out);
    free(a);
    return rc;
}

void seal_sha256_hex(const void *buf, size_t len, char ret[65])
{
    static const char hex[] = "0123456789abcdef";
    uint8_t h[crypto_hash_sha256_BYTES];
    size_t i;

    crypto_hash_sha256(h, buf, len);
    for (i = 0; i < sizeof(h); i++) {
        ret[2 * i] = hex[h[i] >> 4];
        ret[2 * i + 1] = hex[h[i] & 15];
    }
    ret[64] = '\0';
}
