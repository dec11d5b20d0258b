/* SPDX-License-Identifier: Apache-2.0 */
/*
 * snapshot: what an etcd snapshot needs to be restorable (DESIGN.md §5), without I/O:
 *  - the manifest (NAME.manifest.json beside NAME.db): cluster, time, revision, rkc version,
 *    sha256, the encryption config hash, and per resource the keys (provider, name,
 *    fingerprint) its values are written with and how many, plus the plaintext count;
 *  - the key-needs computation: values are classified by their stored prefix
 *    ("k8s:enc:aescbc:v1:<name>:" ...), then each needed key is matched against a pool of
 *    candidate keys (current config, retired-keys archive, sealed bundle) by kind and name AND
 *    by actually reading one sample value with the candidate, so a reused name with another
 *    secret is not taken for the key;
 *  - the sealed key bundle (NAME.keys.sealed): the needed keys as JSON, sealed with
 *    crypto/seal under a passphrase, bound to the snapshot's sha256.
 * Key material lives only in struct snapshot_key (wiped on release) and in the sealed
 * bundle; the manifest holds names and fingerprints only. See docs/internals/snapshot.md.
 */
#ifndef RKC_CORE_SNAPSHOT_H
#define RKC_CORE_SNAPSHOT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/state.h"
#include "crypto/encconfig.h"
#include "crypto/seal.h"
#include "util/error.h"
#include "util/strbuf.h"

#define SNAPSHOT_MANIFEST_KIND "SnapshotManifest"
#define SNAPSHOT_API_VERSION   "rkc.io/v1"

struct etcd_client;

/* Values of one resource written by one key (or one KMS provider). */
struct snapshot_keyuse {
    char *provider;    /* "aescbc", "aesgcm", "secretbox", "kms" */
    char *name;        /* key name (KMS: provider name) */
    char *fingerprint; /* keygen fingerprint of the key that read a sample; "" when unknown */
    size_t count;
};

struct snapshot_resource {
    char *resource; /* "secrets" */
    size_t total, plaintext;
    struct snapshot_keyuse *keys;
    size_t nkeys, keys_alloc;
};

struct snapshot_manifest {
    char *name, *cluster, *created_at, *rkc_version;
    char *sha256;      /* lowercase hex of the .db file */
    uint64_t size;     /* bytes of the .db file */
    int64_t revision;  /* etcd store revision the snapshot holds */
    char *config_hash; /* "sha256:<hex>" of the active provider config, NULL when none */
    char *sealed_file; /* "NAME.keys.sealed" or NULL */
    struct snapshot_resource *resources;
    size_t nresources, resources_alloc;
};

void snapshot_manifest_init(struct snapshot_manifest *m);
void snapshot_manifest_release(struct snapshot_manifest *m);
/* Appends the manifest as pretty JSON (no key material). */
void snapshot_manifest_emit(const struct snapshot_manifest *m, struct strbuf *out);
/*
 * Parses a manifest written by snapshot_manifest_emit (file names it in messages).
 * Errors: RKC_ECONFIG "file: ..." for bad JSON or a missing/mistyped field.
 */
enum rkc_err snapshot_manifest_parse(const char *file, const char *buf, size_t len,
                                     struct snapshot_manifest *ret, struct rkc_error *err);
/* Returns: borrowed key use (provider, name) of resource res, or NULL. */
struct snapshot_keyuse *snapshot_manifest_keyuse(struct snapshot_manifest *m, const char *res,
                                                 const char *provider, const char *name, bool add);

/* ---- candidate keys ---- */

enum snapshot_key_source {
    SNAPSHOT_KEY_CONFIG,  /* the active provider config */
    SNAPSHOT_KEY_ARCHIVE, /* the retired-keys archive in cluster.rkestate */
    SNAPSHOT_KEY_BUNDLE,  /* a sealed bundle */
};

struct snapshot_key {
    enum encconfig_kind kind; /* AESCBC, AESGCM, SECRETBOX; KMS (no secret) */
    char *name;
    unsigned char *secret; /* SECRET, wiped on release; NULL for KMS */
    size_t secret_len;
    char fingerprint[17];
    enum snapshot_key_source source;
};

struct snapshot_keypool {
    struct snapshot_key *v;
    size_t nr, alloc;
};

void snapshot_keypool_release(struct snapshot_keypool *p);
/* Adds a copy (duplicates of kind+name+secret are skipped). secret NULL for KMS. */
void snapshot_keypool_add(struct snapshot_keypool *p, enum encconfig_kind kind, const char *name,
                          const unsigned char *secret, size_t len, enum snapshot_key_source src);
/* Adds every keyed provider's keys (and KMS provider names) of cfg (may be NULL). */
void snapshot_keypool_add_config(struct snapshot_keypool *p, const struct encconfig *cfg,
                                 enum snapshot_key_source src);
/* Adds every archived key of st. Errors: RKC_ECONFIG for an archived secret that is not base64. */
enum rkc_err snapshot_keypool_add_archive(struct snapshot_keypool *p, const struct rkc_state *st,
                                          struct rkc_error *err);
const char *snapshot_key_source_name(enum snapshot_key_source src);

/* ---- key needs ---- */

/*
 * What a snapshot's data needs: the manifest's resources filled in by snapshot_needs_add, one
 * sample value per (provider, name) kept for the read check.
 */
struct snapshot_needs {
    struct snapshot_manifest *m; /* borrowed: resources are added to it */
    struct snapshot_sample *samples;
    size_t nsamples, samples_alloc;
};

void snapshot_needs_init(struct snapshot_needs *n, struct snapshot_manifest *m);
void snapshot_needs_release(struct snapshot_needs *n);
/* Classifies one stored value under etcd key (prefix/<resource>/...). */
void snapshot_needs_add(struct snapshot_needs *n, const char *prefix, const char *key,
                        const void *value, size_t len);
/* Scans every key under prefix ("/registry") of etcd at its newest revision. */
enum rkc_err snapshot_needs_scan(struct snapshot_needs *n, struct etcd_client *etcd,
                                 const char *prefix, int64_t *ret_revision, struct rkc_error *err);

/* One needed key and which candidate of the pool can read it. */
struct snapshot_need {
    const char *provider, *name;    /* borrowed from the manifest */
    const struct snapshot_key *key; /* borrowed from the pool; NULL when missing */
};

/*
 * Resolves every key the manifest's resources use against pool: by kind and name, and for keyed
 * providers by reading the sample (when the needs were scanned; a manifest read from disk has
 * no samples and is matched by name and fingerprint instead). Fingerprints missing in the
 * manifest are filled in from the matching candidate. *ret gets a new array of *ret_n needs
 * (free()); *ret_missing the number without a candidate.
 */
void snapshot_needs_resolve(struct snapshot_needs *n, const struct snapshot_keypool *pool,
                            struct snapshot_need **ret, size_t *ret_n, size_t *ret_missing);
/* Appends "aescbc key k-abc12 (fingerprint ...)" for each missing need, comma-separated. */
void snapshot_needs_format_missing(const struct snapshot_need *v, size_t n, struct strbuf *out);

/* ---- sealed bundle ---- */

/* The AAD binding a bundle to its snapshot: "rkc-snapshot-keys/v1:" + the snapshot sha256. */
void snapshot_bundle_aad(const char *sha256_hex, struct strbuf *out);
/* Seals the keys the needs resolved to (KMS entries are skipped: they hold no secret). */
enum rkc_err snapshot_bundle_seal(const struct snapshot_need *v, size_t n, const char *passphrase,
                                  const char *sha256_hex, enum seal_cost cost, struct strbuf *ret,
                                  struct rkc_error *err);
/* Opens a bundle and adds its keys to pool with source BUNDLE. Errors as seal_open. */
enum rkc_err snapshot_bundle_open(const void *blob, size_t len, const char *passphrase,
                                  const char *sha256_hex, struct snapshot_keypool *pool,
                                  struct rkc_error *err);

/*
 * The provider config an API server needs right after a restore (before restore-rekey): for
 * every resource with needs, a provider per kind holding the needed keys (readers). Merged
 * behind the current config with encplan_merge(current, readers). NULL when nothing is needed.
 */
struct encconfig *snapshot_readers_config(const struct snapshot_manifest *m,
                                          const struct snapshot_need *v, size_t n);

/* True when name is a usable snapshot name ([A-Za-z0-9._-], not starting with '.'). */
bool snapshot_name_valid(const char *name);

#endif
