/* SPDX-License-Identifier: Apache-2.0 */
/*
 * encryption: --encryption-provider-config for rkc-apiserver. Loads the
 * EncryptionConfiguration, builds one transformer chain per resource and installs them as the
 * store's transform set; with automatic reload, polls the file every second and swaps in a
 * new valid configuration atomically (an invalid one is logged and the old one stays).
 *
 * Thread-safety: the reload thread is internal; encryption_loaded may be called from any
 * thread.
 */
#ifndef RKC_APISERVER_ENCRYPTION_H
#define RKC_APISERVER_ENCRYPTION_H

#include <stdbool.h>
#include <stddef.h>

#include "util/strbuf.h"

#include "apiserver/store.h"
#include "util/error.h"

struct enc_state;
struct metrics;

/*
 * Loads path and installs its transforms in store; kms providers get gRPC plugin clients
 * (adapters/kmsclient.h). reload polls the file every second; KMS v2 plugins' Status is
 * polled every kms_status_ms (0: 60 s, as kube-apiserver) so a new key id marks reads stale.
 * Returns: new state (free with encryption_free, before the store). Errors: RKC_ECONFIG with
 * the file's first problem.
 */
enum rkc_err encryption_new(const char *path, bool reload, unsigned kms_status_ms,
                            struct store *store, struct metrics *metrics, struct enc_state **ret,
                            struct rkc_error *err);
/* True when a configuration is loaded and usable. */
bool encryption_loaded(struct enc_state *st);
/*
 * Health-checks every KMS provider of the loaded configuration (kmsclient_factory_health) and
 * appends one /readyz?verbose line each to out; *ret_count gets the number of providers.
 * Returns the number failing. st may be NULL (no providers).
 */
size_t encryption_kms_health(struct enc_state *st, struct strbuf *out, size_t *ret_count);
/* Stops the reload thread, uninstalls the transforms from the store and frees. NULL-safe. */
void encryption_free(struct enc_state *st);

#endif
