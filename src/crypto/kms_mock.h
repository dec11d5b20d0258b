/* SPDX-License-Identifier: Apache-2.0 */
/*
 * kms_mock: an in-process KMS plugin test double that behaves like kube-apiserver's
 * Base64Plugin mock: the "ciphertext" of a DEK or seed is ct_prefix + base64(plaintext) (no
 * secrecy at all), Encrypt and Status report the current key id, and Encrypt returns the
 * annotation local-kek.kms.kubernetes.io = "encrypted-local-kek". For unit tests, fuzzers,
 * benchmarks and offline tools' tests only: it protects nothing.
 *
 * Thread-safe: the plugin functions may be called concurrently; the setters take a lock.
 */
#ifndef RKC_CRYPTO_KMS_MOCK_H
#define RKC_CRYPTO_KMS_MOCK_H

#include <stdatomic.h>
#include <stdbool.h>

#include "crypto/transformer.h"

struct kms_mock;

/* Returns: new mock reporting key_id, with an empty ciphertext prefix. */
struct kms_mock *kms_mock_new(const char *key_id);
void kms_mock_free(struct kms_mock *m);

/* Changes the key id reported by Status and Encrypt (a KEK rotation). */
void kms_mock_set_key_id(struct kms_mock *m, const char *key_id);
/* Sets the ciphertext prefix, e.g. "1:" like upstream's KMS v1 mock (default ""). */
void kms_mock_set_ct_prefix(struct kms_mock *m, const char *prefix);
/* Makes every call fail with "mock kms failure" while on. */
void kms_mock_set_failing(struct kms_mock *m, bool failing);
/* Whether Encrypt returns the local-kek annotation (default true). */
void kms_mock_set_annotations(struct kms_mock *m, bool on);

/* Fills out with the vtable for m (m must outlive every provider using it). */
void kms_mock_plugin(struct kms_mock *m, struct kms_plugin *out);

/* Call counters. */
unsigned kms_mock_encrypt_calls(const struct kms_mock *m);
unsigned kms_mock_decrypt_calls(const struct kms_mock *m);
unsigned kms_mock_status_calls(const struct kms_mock *m);

#endif
