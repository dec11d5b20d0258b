/* SPDX-License-Identifier: Apache-2.0 */
/*
 * seal: passphrase sealing for snapshot key bundles (libsodium). A sealed blob is
 *     "RKCSEAL1" | u32be alg | u64be opslimit | u64be memlimit | salt[16] | nonce[24] |
 *     XChaCha20-Poly1305-IETF ciphertext + 16-byte tag
 * The key is Argon2id(passphrase, salt, opslimit, memlimit) (crypto_pwhash). The header and
 * the caller's aad are both authenticated (AEAD additional data = header || aad), so a changed
 * parameter, a swapped salt or a blob moved to another snapshot (other aad) does not open.
 *
 * Cost: SEAL_COST_MODERATE (libsodium's MODERATE limits, 256 MiB, about a second) by
 * default; SEAL_COST_INTERACTIVE (64 MiB) when asked, e.g. by tests through the environment
 * variable RKC_SNAPSHOT_KDF=interactive (read by the caller, not here). Opening uses the
 * limits recorded in the header, refusing ones above libsodium's SENSITIVE limits.
 *
 * Thread-safe; plaintext buffers are the caller's to wipe (strbuf_release_wipe).
 */
#ifndef RKC_CRYPTO_SEAL_H
#define RKC_CRYPTO_SEAL_H

#include <stddef.h>

#include "util/error.h"
#include "util/strbuf.h"

#define SEAL_MAGIC      "RKCSEAL1"
#define SEAL_HEADER_LEN (8 + 4 + 8 + 8 + 16 + 24)

enum seal_cost {
    SEAL_COST_MODERATE,
    SEAL_COST_INTERACTIVE,
};

/*
 * Seals pt[0..len) under passphrase, binding aad[0..aad_len) (may be empty), and replaces
 * ret's contents with the blob. Errors: RKC_ECRYPTO (libsodium init, out of memory for the
 * KDF, or a failed encryption), RKC_EINVAL for an empty passphrase.
 */
enum rkc_err seal_blob(const char *passphrase, const void *pt, size_t len, const void *aad,
                       size_t aad_len, enum seal_cost cost, struct strbuf *ret,
                       struct rkc_error *err);

/*
 * Opens a blob made by seal_blob with the same passphrase and aad into ret_pt (contents
 * replaced; the caller wipes it). Errors: RKC_EINVAL "not a sealed key bundle" (bad magic,
 * short) or "unsupported ..." (algorithm or limits); RKC_ECRYPTO "wrong passphrase, or the
 * sealed bundle was modified" when authentication fails (the two cannot be told apart).
 */
enum rkc_err seal_open(const char *passphrase, const void *blob, size_t len, const void *aad,
                       size_t aad_len, struct strbuf *ret_pt, struct rkc_error *err);

/* Writes lowercase hex sha256 of buf (64 chars + NUL) into ret. */
void seal_sha256_hex(const void *buf, size_t len, char ret[65]);

#endif
