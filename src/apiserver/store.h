/* SPDX-License-Identifier: Apache-2.0 */
/*
 * store: API objects in etcd. Owns the key layout (<prefix>/<resource>/<ns>/<name>,
 * namespaces at <prefix>/namespaces/<name>), the JSON encoding of stored values, and the
 * value transform (encryption at rest) applied with the full etcd key as context.
 *
 * Stored values carry no resourceVersion: it is the etcd mod revision and is set on read.
 * An update whose encoded bytes equal the stored plaintext is skipped unless the stored value
 * was read *stale* (by a provider or key other than the current writer); then it is written,
 * which is what makes a rewrite re-encrypt.
 *
 * Errors: RKC_ENOTFOUND (no such object, or a compacted revision where documented), RKC_EBUSY
 * (a compare failed: the object exists on create, or was modified since the given revision),
 * RKC_ECRYPTO (a value no provider can read: the message names the etcd key), anything else
 * is an etcd failure.
 *
 * Thread-safety: all functions may be called concurrently; the transform set is swapped
 * atomically by store_set_transforms.
 */
#ifndef RKC_APISERVER_STORE_H
#define RKC_APISERVER_STORE_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "adapters/etcd.h"
#include "adapters/jval.h"
#include "util/error.h"
#include "util/strbuf.h"

struct store;

/*
 * The transform seam. read: stored bytes -> plaintext (*ret_stale when the reader was not the
 * current writer); write: plaintext -> stored bytes. ctx is owned by the provider of the
 * functions; release (may be NULL) is called when the set is replaced or the store freed.
 * A NULL set is identity for every resource.
 */
struct store_transforms {
    enum rkc_err (*read)(void *ctx, const char *resource, const char *etcd_key, const void *stored,
                         size_t len, struct strbuf *ret_pt, bool *ret_stale, char *ret_provider,
                         size_t provider_size, struct rkc_error *err);
    enum rkc_err (*write)(void *ctx, const char *resource, const char *etcd_key, const void *pt,
                          size_t len, struct strbuf *ret_stored, char *ret_provider,
                          size_t provider_size, struct rkc_error *err);
    void (*release)(void *ctx);
    void *ctx;
};

/* Transformer operation counter hook (metrics): op "read"/"write", provider prefix name. */
typedef void (*store_xf_metric_fn)(void *ctx, const char *op, const char *provider, bool ok);

/* Returns: new store using etcd (borrowed, must outlive the store) under prefix (copied). */
struct store *store_new(struct etcd_client *etcd, const char *prefix);
void store_free(struct store *st);
void store_set_metric_hook(struct store *st, store_xf_metric_fn fn, void *ctx);

/* Replaces the transform set (copied; NULL: identity). The old one is released once no
 * request uses it any more. */
void store_set_transforms(struct store *st, const struct store_transforms *xf);

/* Builds the etcd key of an object (ns NULL or "" for cluster-scoped). Returns: new. */
char *store_key(const struct store *st, const char *resource, const char *ns, const char *name);
/* The key prefix that lists a resource in ns (or in all namespaces when ns is NULL). */
char *store_list_prefix(const struct store *st, const char *resource, const char *ns);

/*
 * Reads one object. Returns: new object in *ret with metadata.resourceVersion set,
 * *ret_mod_revision, *ret_stale (may be NULL), *ret_plain (may be NULL: the stored plaintext,
 * appended).
 */
enum rkc_err store_get(struct store *st, const char *resource, const char *ns, const char *name,
                       struct jval **ret, int64_t *ret_mod_revision, bool *ret_stale,
                       struct strbuf *ret_plain, struct rkc_error *err);

/* Decodes one stored value read from etcd (for lists and watches). Returns: new object. */
enum rkc_err store_decode(struct store *st, const char *resource, const struct etcd_kv *kv,
                          struct jval **ret, bool *ret_stale, struct rkc_error *err);

/*
 * Creates obj (its resourceVersion is ignored). RKC_EBUSY when the key exists.
 * Returns: *ret_revision, the new resourceVersion (also set into obj's metadata).
 */
enum rkc_err store_create(struct store *st, const char *resource, const char *ns, const char *name,
                          struct jval *obj, int64_t *ret_revision, struct rkc_error *err);

/*
 * Writes obj over the version read at mod_revision; old_plain/old_stale are what store_get
 * returned for it (enabling the unchanged-and-not-stale skip). RKC_EBUSY when the object
 * changed since mod_revision. Returns: *ret_revision (unchanged when skipped).
 */
enum rkc_err store_update(struct store *st, const char *resource, const char *ns, const char *name,
                          struct jval *obj, int64_t mod_revision, const struct strbuf *old_plain,
                          bool old_stale, int64_t *ret_revision, struct rkc_error *err);

/* Deletes the object if still at mod_revision. RKC_EBUSY when it changed. */
enum rkc_err store_delete(struct store *st, const char *resource, const char *ns, const char *name,
                          int64_t mod_revision, int64_t *ret_revision, struct rkc_error *err);

/* Deletes every object of resource in namespace ns. */
enum rkc_err store_delete_namespace_contents(struct store *st, const char *resource, const char *ns,
                                             struct rkc_error *err);

struct etcd_client *store_etcd(struct store *st);

#endif
