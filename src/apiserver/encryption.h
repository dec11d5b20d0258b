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

#include "apiserver/store.h"
#include "util/error.h"

struct enc_state;
struct metrics;

/*
 * Loads path and installs its transforms in store. reload starts the polling thread.
 * Returns: new state (free with encryption_free, before the store). Errors: RKC_ECONFIG with
 * the file's first problem.
 */
enum rkc_err encryption_new(const char *path, bool reload, struct store *store,
                            struct metrics *metrics, struct enc_state **ret, struct rkc_error *err);
/* True when a configuration is loaded and usable. */
bool encryption_loaded(struct enc_state *st);
/* Stops the reload thread and frees. NULL-safe. */
void encryption_free(struct enc_state *st);

#endif
