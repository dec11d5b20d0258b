/* SPDX-License-Identifier: Apache-2.0 */
/*
 * encplan: the provider configs an encryption change passes through (DESIGN.md §4).
 *
 * Every change -- enable, disable, rotate, a custom config change, restore-rekey -- goes
 * from config A (NULL: no encryption) to config B (NULL: none) through the same steps:
 *     prepare  merge(A, B): A still writes, B's providers can already read
 *     promote  merge(B, A): B writes, A's providers still read
 *     rewrite  every object of every resource either covers is written again
 *     verify   etcd shows every value read by B's writer (plaintext when B writes identity)
 *     prune    B alone (or no config at all)
 * Pure functions over struct encconfig; no I/O.
 */
#ifndef RKC_CORE_ENCPLAN_H
#define RKC_CORE_ENCPLAN_H

#include <stdbool.h>
#include <stddef.h>

#include "crypto/encconfig.h"

/*
 * Returns: new config in which, for every resource either config names, w's providers come
 * first (w writes) followed by r's providers that w lacks (they read). A side with no
 * providers for a resource contributes identity (it stored plaintext). NULL when both
 * are NULL.
 */
struct encconfig *encplan_merge(const struct encconfig *w, const struct encconfig *r);

/*
 * The concrete resources a change from a to b must rewrite: every name either config lists,
 * with wildcards ("*.", "*.*", "*.group") standing for the resources rkc knows are stored
 * (secrets, configmaps). Returns: the count; *ret gets a new NULL-terminated array.
 */
size_t encplan_resources(const struct encconfig *a, const struct encconfig *b, char ***ret);
void encplan_resources_free(char **names);

/* True when cfg (may be NULL) writes resource as plaintext. */
bool encplan_writes_plaintext(const struct encconfig *cfg, const char *resource);

/* True when two providers are the same (kind, key names and secrets, or KMS name). */
bool encplan_provider_equal(const struct encconfig_provider *a, const struct encconfig_provider *b);

/*
 * The config a key rotation ends on: cfg with, in every resource entry, the first provider's
 * keys replaced by one new key (name, secret) of the same kind; the other providers are kept.
 * The old keys then only read until prune archives them.
 * Errors: RKC_EINVAL when an entry writes with kms (the plugin rotates its own key) or
 * identity (nothing to rotate), naming the entry.
 * Returns: new config in *ret.
 */
enum rkc_err encplan_rotate(const struct encconfig *cfg, const char *name,
                            const unsigned char *secret, size_t len, struct encconfig **ret,
                            struct rkc_error *err);

#endif
