/* SPDX-License-Identifier: Apache-2.0 */
/*
 * kek: rkc-kms's key ring of key-encryption keys (KEKs) and the AES-256-GCM wrapping of DEKs
 * and seeds with them.
 *
 * Key file (mode 0600, written with fs_write_atomic), one KEK per line, oldest first; the
 * last line is the current KEK, every line can unwrap:
 *     # rkc-kms key file: the last key wraps, every key unwraps. Keep it secret.
 *     kek <key id> <base64 of 32 bytes>
 * The key id is keygen_fingerprint(KEK): the first 16 hex digits of its SHA-256.
 *
 * Wrapped form: "rkk1" || u8 len(key id) || key id || nonce(12) || ct || tag(16), with the
 * bytes before the nonce as GCM additional data, so the key id cannot be swapped.
 *
 * Thread-safety: a ring is immutable after load; use it from any thread.
 */
#ifndef RKC_CRYPTO_KEK_H
#define RKC_CRYPTO_KEK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "util/error.h"
#include "util/strbuf.h"

#define KEK_LEN 32

struct kek_ring;

/*
 * Loads path; when it does not exist and create is true, makes a ring with one new random KEK
 * and writes it (0600) first. Returns: new ring in *ret. Errors: RKC_EIO (read/write),
 * RKC_ECONFIG "PATH:LINE: ..." for a malformed file or an empty ring.
 */
enum rkc_err kek_ring_load(const char *path, bool create, struct kek_ring **ret,
                           struct rkc_error *err);

/*
 * Appends a new random KEK to the file at path (which must exist and load) so it becomes the
 * current one; the old KEKs stay for unwrapping. Copies the new key id into ret_key_id (may be
 * NULL). Errors as kek_ring_load.
 */
enum rkc_err kek_ring_rotate(const char *path, struct strbuf *ret_key_id, struct rkc_error *err);

/* Wipes and frees. NULL: no-op. */
void kek_ring_free(struct kek_ring *r);

/* Returns: borrowed, the current (last) key id. */
const char *kek_ring_current_id(const struct kek_ring *r);
size_t kek_ring_count(const struct kek_ring *r);

/* Wraps pt[0..len) with the current KEK into ret_ct (appended); its id into ret_key_id (appended,
 * may be NULL). Errors: RKC_ECRYPTO. */
enum rkc_err kek_wrap(const struct kek_ring *r, const uint8_t *pt, size_t len,
                      struct strbuf *ret_ct, struct strbuf *ret_key_id, struct rkc_error *err);

/*
 * Unwraps ct[0..len) into ret_pt (replaced) with the KEK the wrapped form names.
 * Errors: RKC_EINVAL "not an rkc-kms ciphertext"; RKC_ENOTFOUND "unknown key id \"ID\"";
 * RKC_ECRYPTO when authentication fails.
 */
enum rkc_err kek_unwrap(const struct kek_ring *r, const uint8_t *ct, size_t len,
                        struct strbuf *ret_pt, struct rkc_error *err);

#endif
