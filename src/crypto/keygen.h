/* SPDX-License-Identifier: Apache-2.0 */
/*
 * keygen: key material and key names for managed encryption keys. Every random byte comes
 * from the OS CSPRNG via getrandom(2) (blocking until the pool is initialised, retried on
 * EINTR), never from a userspace generator, so keys have their full entropy even right after
 * boot and across fork.
 *
 * Thread-safe; no global state.
 */
#ifndef RKC_CRYPTO_KEYGEN_H
#define RKC_CRYPTO_KEYGEN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "util/error.h"

#define KEYGEN_AES_KEY_LEN 32
/* "k-" + 5 characters + NUL */
#define KEYGEN_KEY_NAME_SIZE 8
/* 16 hex digits + NUL */
#define KEYGEN_FINGERPRINT_SIZE 17

/*
 * Fills out with n bytes from getrandom(2).
 * Errors: RKC_ECRYPTO "getrandom: <strerror>" (out is wiped on failure).
 */
enum rkc_err keygen_random(void *out, size_t n, struct rkc_error *err);

/*
 * Fills out with a fresh 256-bit AES key (also the right size for secretbox). The caller
 * wipes it (rkc_wipe) when done. Encode it with b64_encode for an EncryptionConfiguration.
 * Errors: as keygen_random.
 */
enum rkc_err keygen_aes_key(uint8_t out[KEYGEN_AES_KEY_LEN], struct rkc_error *err);

/*
 * Writes a new key name "k-" + 5 characters from [a-z0-9] (uniform, by rejection sampling of
 * OS random bytes) into out (NUL-terminated), distinct from every name in
 * names_in_use[0..n) (entries may be NULL). 36^5 = 60 million names, so retries are rare.
 * Errors: RKC_ECRYPTO from getrandom; RKC_ELIMIT "cannot find an unused key name" after
 * 1000 collisions (only with absurdly many names).
 */
enum rkc_err keygen_key_name(char out[KEYGEN_KEY_NAME_SIZE], const char *const *names_in_use,
                             size_t n, struct rkc_error *err);

/*
 * Writes the first 16 hex digits of sha256(secret[0..len)) into out (NUL-terminated): a short
 * fingerprint that identifies a key in status output without revealing it. Deterministic.
 */
void keygen_fingerprint(const void *secret, size_t len, char out[KEYGEN_FINGERPRINT_SIZE]);

#endif
