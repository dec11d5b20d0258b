/* SPDX-License-Identifier: Apache-2.0 */
/*
 * encconfig: the kube-apiserver EncryptionConfiguration (apiserver.config.k8s.io/v1, and
 * the legacy v1 EncryptionConfig), as a typed model with source positions.
 *
 * - encconfig_parse / encconfig_from_node: strict decoding of YAML or JSON (unknown or
 *   duplicate fields and wrong types are errors naming the field path and file:line:col),
 *   with kube-apiserver's defaults applied (kms timeout 3s, apiVersion v1, cachesize 1000
 *   for v1 only).
 * - encconfig_validate: every rule of kube-apiserver's validator with its exact message, the
 *   build-time cross-list masking rule, and rkc's own checks (see docs/encryption-config.md).
 *   All problems are collected in a struct encconfig_diag, never just the first.
 * - encconfig_emit / encconfig_hash: a canonical YAML rendering that kube-apiserver accepts,
 *   with parse(emit(x)) equal to x (encconfig_equal), and its "sha256:<hex>" hash.
 * - encconfig_lookup: the ordered providers kube-apiserver uses for a group-resource.
 *
 * Key material: decoded secrets are owned by the model and wiped when it is freed. No
 * function here puts a secret into a message; a secret's value is always shown as
 * "REDACTED".
 *
 * Thread-safety: a model is not modified by validate, emit, hash, equal or lookup, so any
 * number of threads may call those on one model concurrently.
 */
#ifndef RKC_CRYPTO_ENCCONFIG_H
#define RKC_CRYPTO_ENCCONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "adapters/ytree.h"
#include "util/error.h"
#include "util/strbuf.h"

#define ENCCONFIG_API_VERSION        "apiserver.config.k8s.io/v1"
#define ENCCONFIG_KIND               "EncryptionConfiguration"
#define ENCCONFIG_LEGACY_API_VERSION "v1"
#define ENCCONFIG_LEGACY_KIND        "EncryptionConfig"

#define ENCCONFIG_KMS_DEFAULT_TIMEOUT_NS (3LL * 1000 * 1000 * 1000)
#define ENCCONFIG_KMS_DEFAULT_CACHESIZE  1000

/* Cap on the input accepted by encconfig_parse (the apiserver reads files of any size). */
#define ENCCONFIG_MAX_INPUT (4u << 20)

/* 1-based source position; line 0 means "built in code, no position". */
struct encconfig_pos {
    size_t line;
    size_t col;
};

/* Provider kinds; ENCCONFIG_NONE marks an element that names no provider (invalid). */
enum encconfig_kind {
    ENCCONFIG_NONE = 0,
    ENCCONFIG_IDENTITY,
    ENCCONFIG_AESCBC,
    ENCCONFIG_AESGCM,
    ENCCONFIG_SECRETBOX,
    ENCCONFIG_KMS,
};

enum encconfig_secret_state {
    ENCCONFIG_SECRET_OK = 0, /* secret/secret_len hold the decoded bytes */
    ENCCONFIG_SECRET_EMPTY,  /* absent or "" */
    ENCCONFIG_SECRET_BADB64, /* not standard base64 */
};

struct encconfig_key {
    char *name;            /* "" when absent */
    unsigned char *secret; /* decoded bytes, owned, wiped on free */
    size_t secret_len;
    enum encconfig_secret_state state;
    struct encconfig_pos pos, name_pos, secret_pos;
};

struct encconfig_kms {
    char *api_version;  /* "v1" (default) or "v2"; anything else is kept for validation */
    char *name;         /* "" when absent */
    char *endpoint;     /* "" when absent */
    int32_t cachesize;  /* meaningful when cachesize_set */
    bool cachesize_set; /* false for v2 unless the file set it (then invalid) */
    int64_t timeout_ns; /* Go duration in nanoseconds (default 3s); may be <= 0 (invalid) */
    struct encconfig_pos pos, api_version_pos, name_pos, endpoint_pos, cachesize_pos, timeout_pos;
};

struct encconfig_provider {
    /*
     * The provider used: for an element naming several, the first in kube-apiserver's
     * order kms, aesgcm, aescbc, secretbox, identity (the element is then invalid).
     */
    enum encconfig_kind kind;
    unsigned present;           /* bit (1u << kind) for every provider named in the element */
    struct encconfig_key *keys; /* aescbc, aesgcm, secretbox */
    size_t nkeys, keys_alloc;
    struct encconfig_kms kms; /* kind == ENCCONFIG_KMS */
    struct encconfig_pos pos, kind_pos, keys_pos;
};

struct encconfig_resource {
    char **names; /* "secrets", "deployments.apps", "*.", "*.apps", "*.*" */
    struct encconfig_pos *name_pos;
    size_t nnames, names_alloc;
    struct encconfig_provider *providers;
    size_t nproviders, providers_alloc;
    struct encconfig_pos pos, names_pos, providers_pos;
};

struct encconfig {
    char *file;  /* source name used in diagnostics ("<config>" when built in code) */
    bool legacy; /* read as apiVersion v1, kind EncryptionConfig (emitted as the v1 API) */
    struct encconfig_resource *resources;
    size_t nresources, resources_alloc;
    struct encconfig_pos pos, resources_pos;
};

/* ---- diagnostics ---- */

enum encconfig_severity {
    ENCCONFIG_ERROR,
    ENCCONFIG_WARNING,
};

struct encconfig_diag_item {
    enum encconfig_severity severity;
    char *file;
    size_t line, col; /* 0: unknown */
    char *field;      /* "resources[0].providers[1].aescbc.keys[0].secret", or "" */
    char *message;    /* never contains key material */
};

/* A list of errors and warnings in the order found. */
struct encconfig_diag {
    struct encconfig_diag_item *items;
    size_t nr, alloc;
    size_t nerrors, nwarnings;
};

void encconfig_diag_init(struct encconfig_diag *d);
void encconfig_diag_release(struct encconfig_diag *d);
/* Appends one item (strings copied). */
void encconfig_diag_add(struct encconfig_diag *d, enum encconfig_severity sev, const char *file,
                        struct encconfig_pos pos, const char *field, const char *fmt, ...)
    __attribute__((format(printf, 6, 7)));
/*
 * Appends one line per item with the given severity mask (1 << ENCCONFIG_ERROR,
 * 1 << ENCCONFIG_WARNING): `FILE:LINE:COL: error: FIELD: MESSAGE\n` (":LINE:COL" left out
 * when unknown, "FIELD: " when empty).
 */
void encconfig_diag_format(const struct encconfig_diag *d, unsigned severities, struct strbuf *out);
/* Formats one item without the trailing newline. */
void encconfig_diag_format_item(const struct encconfig_diag_item *it, struct strbuf *out);

/* ---- model ---- */

/* Returns: new, empty config (no resources) named file (NULL: "<config>"). */
struct encconfig *encconfig_new(const char *file);
/* Frees cfg, wiping key material. No-op on NULL. */
void encconfig_free(struct encconfig *cfg);
/* Returns: new, a deep copy (positions kept). */
struct encconfig *encconfig_dup(const struct encconfig *cfg);

/* Builders for configs made in code. Returned pointers are borrowed from cfg. */
struct encconfig_resource *encconfig_add_resource(struct encconfig *cfg);
void encconfig_resource_add_name(struct encconfig_resource *res, const char *name);
struct encconfig_provider *encconfig_resource_add_provider(struct encconfig_resource *res,
                                                           enum encconfig_kind kind);
/* Adds a key with a copy of secret (len bytes) to an aescbc/aesgcm/secretbox provider. */
void encconfig_provider_add_key(struct encconfig_provider *p, const char *name,
                                const unsigned char *secret, size_t len);

/* Returns: borrowed static name ("aescbc", "kms", ...; "none" for ENCCONFIG_NONE). */
const char *encconfig_kind_name(enum encconfig_kind kind);

/*
 * Parses an EncryptionConfiguration file (YAML or JSON) strictly and applies defaults.
 * file names the source in messages. Every structural problem (unknown or duplicate field,
 * wrong type, wrong apiVersion/kind) is added to diags (may be NULL) as an error.
 * Returns: RKC_OK and a new config in *ret (free with encconfig_free); RKC_ECONFIG with the
 * first problem as "file:line:col: field: message" (plus "(and N more errors)");
 * RKC_ELIMIT for an input over ENCCONFIG_MAX_INPUT bytes.
 * An empty file gives `encryption provider configuration file "F" is empty`.
 * Does not validate: call encconfig_validate.
 */
enum rkc_err encconfig_parse(const char *file, const char *buf, size_t len, struct encconfig **ret,
                             struct encconfig_diag *diags, struct rkc_error *err);

/*
 * Like encconfig_parse, for a config embedded in another file (cluster.yml's
 * services.kube-api.secrets_encryption_config.custom_config): node is the mapping, with
 * positions in file. apiVersion and kind may be left out there; when present they must be
 * one of the accepted pairs.
 */
enum rkc_err encconfig_from_node(const char *file, const struct ytree_node *node,
                                 struct encconfig **ret, struct encconfig_diag *diags,
                                 struct rkc_error *err);

/*
 * Validates cfg: kube-apiserver's rules (reload selects its reload-time KMS v1 name
 * uniqueness), the cross-list masking rule, and rkc's own checks; errors and warnings are
 * added to diags (may be NULL).
 * Returns: RKC_OK when there is no error (warnings allowed); RKC_ECONFIG with the first
 * error formatted as one diag line (plus "(and N more errors)").
 */
enum rkc_err encconfig_validate(const struct encconfig *cfg, bool reload,
                                struct encconfig_diag *diags, struct rkc_error *err);

/*
 * Appends the canonical YAML of cfg to out (which then holds key material: release it with
 * strbuf_release_wipe). Defaults are written out explicitly.
 * Returns: RKC_EINVAL when cfg cannot be written as a file that reads back the same (a
 * provider element naming no or several providers, a key whose secret is not decoded).
 */
enum rkc_err encconfig_emit(const struct encconfig *cfg, struct strbuf *out, struct rkc_error *err);

/*
 * Writes "sha256:<64 hex>" of the emitted bytes into ret (at least
 * ENCCONFIG_HASH_SIZE bytes). Errors as encconfig_emit.
 */
#define ENCCONFIG_HASH_SIZE (7 + 64 + 1)
enum rkc_err encconfig_hash(const struct encconfig *cfg, char *ret, struct rkc_error *err);
/* "sha256:<hex>" of arbitrary bytes (kube-apiserver hashes the raw file). */
void encconfig_hash_bytes(const void *buf, size_t len, char *ret);

/* True when a and b mean the same configuration (positions, file and legacy ignored). */
bool encconfig_equal(const struct encconfig *a, const struct encconfig *b);

/*
 * The provider list kube-apiserver uses for a group-resource given as "secrets",
 * "configmaps.", "deployments.apps": the lists naming it exactly (concatenated in file
 * order), else those naming "*.group" ("*." for the core group), else "*.*".
 * Returns: the number of providers (0: not covered, kube-apiserver then uses its
 * encrypt-check identity); *ret gets a new array (free() it, NULL when 0) of providers
 * borrowed from cfg; *ret_rule (may be NULL) gets the matched rule, borrowed from cfg.
 */
size_t encconfig_lookup(const struct encconfig *cfg, const char *resource,
                        const struct encconfig_provider ***ret, const char **ret_rule);

/*
 * Splits "deployments.apps" at the first '.' into resource and group (group "" for the core
 * group), as Kubernetes' ParseGroupResource. Returns new strings.
 */
void encconfig_parse_group_resource(const char *s, char **ret_resource, char **ret_group);

/* Go's time.ParseDuration. Returns false on a syntax error or overflow. */
bool encconfig_parse_duration(const char *s, int64_t *ret_ns);
/* Formats ns as a Go duration that encconfig_parse_duration reads back exactly. */
void encconfig_format_duration(int64_t ns, struct strbuf *out);

/* ---- transformers (crypto/transformer.h) ---- */

struct kms_plugin;
struct xf_chain;

/*
 * Where encconfig_build gets a KMS plugin for each kms provider element. open fills *ret for
 * the element described by kms (name, endpoint, apiVersion, timeout); close (may be NULL) is
 * called once for every plugin opened, when the encset is freed (or the build fails), after
 * the providers using it are gone.
 */
struct kms_plugin_factory {
    enum rkc_err (*open)(void *ctx, const struct encconfig_kms *kms, struct kms_plugin *ret,
                         struct rkc_error *err);
    void (*close)(void *ctx, struct kms_plugin *plugin);
    void *ctx;
};

/* The transformer chains of a loaded configuration, one per group-resource it names. */
struct encset;

/*
 * Validates cfg (reload=false rules; warnings are ignored) and builds its transformers the
 * way kube-apiserver loads --encryption-provider-config: one provider object per list
 * element, shared by every resource of the list; a resource named in several lists gets the
 * providers of each, concatenated in order. kms may be NULL: then a kms provider fails with
 * "kms provider 'NAME': no plugin client available yet".
 * Returns: new set in *ret (free with encset_free); RKC_ECONFIG for an invalid config (first
 * error as encconfig_validate formats it); provider and plugin errors as they come.
 */
enum rkc_err encconfig_build(const struct encconfig *cfg, const struct kms_plugin_factory *kms,
                             struct encset **ret, struct rkc_error *err);
void encset_free(struct encset *set);

/*
 * Returns: borrowed chain kube-apiserver uses for resource ("secrets", "deployments.apps"):
 * exact, then "*.group", then "*.*"; for a resource no entry covers, the encrypt-check
 * identity. Never NULL. Thread-safe (the set is immutable after build).
 */
const struct xf_chain *encset_chain_for(const struct encset *set, const char *resource);
/* Like encset_chain_for; *ret_rule gets the matching rule ("secrets", "*.", "*.*") or NULL. */
const struct xf_chain *encset_chain_for_rule(const struct encset *set, const char *resource,
                                             const char **ret_rule);
/* The "sha256:<hex>" hash of the canonical form of the config the set was built from. */
const char *encset_hash(const struct encset *set);

/* ---- managed configs (rkc up: enable, disable, rotate) ---- */

/* A key for a managed config: borrowed, copied by the builder. */
struct encconfig_managed_key {
    const char *name;
    const unsigned char *secret;
    size_t secret_len; /* 32 for keys rkc makes */
};

/*
 * Returns: new config for resource "secrets" with providers [aescbc(writer, readers...),
 * identity], or [identity, aescbc(writer, readers...)] when identity_first (decrypting).
 */
struct encconfig *encconfig_new_managed(const struct encconfig_managed_key *writer,
                                        const struct encconfig_managed_key *readers,
                                        size_t nreaders, bool identity_first);

/*
 * Makes a new managed key: 32 bytes from getrandom(2) into ret_secret (wipe it after use) and
 * a name "k-xxxxx" into ret_name that no key of cfg (may be NULL) uses.
 * Errors: as keygen_aes_key / keygen_key_name.
 */
enum rkc_err encconfig_new_key(const struct encconfig *cfg, char ret_name[8],
                               unsigned char ret_secret[32], struct rkc_error *err);

#endif
