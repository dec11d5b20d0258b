/* SPDX-License-Identifier: Apache-2.0 */
/*
 * transformer: encryption at rest, byte-compatible with kube-apiserver
 * (docs: /work/shared/reference/kube-apiserver-encryption-format.md, docs/internals/crypto.md).
 *
 * A *provider* is one element of an EncryptionConfiguration `providers:` list: identity, aescbc,
 * aesgcm or secretbox with its ordered keys, or a KMS v1/v2 plugin. A *chain* is the ordered
 * provider list for one resource. Writes use the first provider (and its first key); reads
 * dispatch on the stored prefix and try every matching provider/key in order, first success
 * wins, and report *stale* when the reader was not the first provider or key (or a KMS-level
 * reason applies), which is what makes a no-op rewrite re-encrypt.
 *
 * Stored layouts (prefix, then body):
 *   identity   <plaintext>
 *   aescbc     k8s:enc:aescbc:v1:<key>:     IV(16) || AES-CBC(PKCS#7)
 *   aesgcm     k8s:enc:aesgcm:v1:<key>:     nonce(12) || ct || tag(16), AAD = etcd key
 *   secretbox  k8s:enc:secretbox:v1:<key>:  nonce(24) || tag(16) || ct
 *   kms v1     k8s:enc:kms:v1:<name>:       u16be len || encDEK || nonce(12) || ct || tag(16)
 *   kms v2     k8s:enc:kms:v2:<name>:       protobuf EncryptedObject
 *
 * Ownership: xf_key inputs are borrowed and copied; providers are reference counted
 * (xf_provider_ref / xf_provider_free) so one provider may sit in several chains.
 *
 * Thread-safety: after construction, chains and providers are safe to use from any number of
 * threads at once (xf_chain_write / xf_chain_read / xf_chain_writer_prefix / xf_kms_refresh).
 * Building a chain (xf_chain_add_take) is not synchronised: finish it before sharing it.
 *
 * Hygiene: keys, DEKs and seeds are wiped when freed; no error message contains key material
 * or plaintext. Plaintext returned in ret_pt should be released with strbuf_release_wipe.
 */
#ifndef RKC_CRYPTO_TRANSFORMER_H
#define RKC_CRYPTO_TRANSFORMER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "util/error.h"
#include "util/strbuf.h"

enum xf_kind { XF_IDENTITY, XF_AESCBC, XF_AESGCM, XF_SECRETBOX, XF_KMS_V1, XF_KMS_V2 };

/* Returns: borrowed, static: "identity", "aescbc", "aesgcm", "secretbox", "kms" (v1 and v2). */
const char *xf_kind_name(enum xf_kind kind);

/* Longest key name or KMS provider name accepted (bytes, excluding NUL). */
#define XF_NAME_MAX 255

/* Every encrypted value starts with this ("k8s:enc:"). */
#define XF_ENCRYPTED_PREFIX "k8s:enc:"

/* A named key for aescbc/aesgcm/secretbox. Borrowed by the constructor, which copies it. */
struct xf_key {
    const char *name;      /* non-empty, <= XF_NAME_MAX, no NUL; ':' is allowed (upstream) */
    const uint8_t *secret; /* raw key bytes (already base64-decoded) */
    size_t secret_len;     /* aescbc/aesgcm: 16, 24 or 32; secretbox: 32 */
};

struct xf_provider;

/* Returns: new, the identity provider (writes plaintext; refuses "k8s:enc:" data on read). */
struct xf_provider *xf_identity_new(void);

/*
 * Builds an aescbc, aesgcm or secretbox provider with keys[0..nkeys) in order (keys[0] writes).
 * Copies the keys. Errors (RKC_EINVAL, nothing returned):
 *   "at least one key is required";
 *   "key name is empty" / "key name longer than 255 bytes";
 *   "key \"NAME\": secret is not of the expected length, got N, expected one of [16 24 32]"
 *   (secretbox: "[32]").
 */
enum rkc_err xf_keyed_new(enum xf_kind kind, const struct xf_key *keys, size_t nkeys,
                          struct xf_provider **ret, struct rkc_error *err);

/*
 * The KMS plugin interface, implemented by the gRPC client (and by test doubles). All three
 * functions may be called concurrently from many threads with the same ctx; they must be
 * thread-safe. They report failures through err (never with key material in the text).
 *
 * encrypt: ciphertext of pt[0..len) (a DEK or seed) into ret_ct; the KEK id into ret_key_id
 *   (KMS v2: must be non-empty; KMS v1 ignores it); ret_annotations (KMS v2 only; may be left
 *   empty) receives the annotations already protobuf-encoded as EncryptedObject field 4
 *   entries: repeated `0x22 <len> { 0x0a <len> key 0x12 <len> value }` (use
 *   xf_kms_annotation_add). All three buffers are empty on entry.
 * decrypt: plaintext of ct[0..len) into ret_pt (empty on entry). key_id is the stored KEK id
 *   (NUL-terminated; NULL for KMS v1); annotations[0..annotations_len) are the stored ones in
 *   the same encoding as above (KMS v2; NULL/0 for v1 or none).
 * status: the plugin's current KEK id into ret_key_id (KMS v2 only; may be NULL for a v1-only
 *   plugin). A plugin that is not healthy (healthz != "ok") returns an error.
 */
struct kms_plugin {
    enum rkc_err (*encrypt)(void *ctx, const uint8_t *pt, size_t len, struct strbuf *ret_ct,
                            struct strbuf *ret_key_id, struct strbuf *ret_annotations,
                            struct rkc_error *err);
    enum rkc_err (*decrypt)(void *ctx, const uint8_t *ct, size_t len, const char *key_id,
                            const uint8_t *annotations, size_t annotations_len,
                            struct strbuf *ret_pt, struct rkc_error *err);
    enum rkc_err (*status)(void *ctx, struct strbuf *ret_key_id, struct rkc_error *err);
    void *ctx;
};

/* Appends one annotation in the EncryptedObject field-4 encoding described above. */
void xf_kms_annotation_add(struct strbuf *sb, const char *key, const void *value, size_t len);

/*
 * KMS v1 envelope provider named name (prefix "k8s:enc:kms:v1:<name>:"). Every write makes a
 * fresh 32-byte DEK and calls plugin->encrypt; reads look the DEK up in an LRU of cachesize
 * decrypted DEKs (cachesize < 0 disables the cache; 0 is invalid) before calling
 * plugin->decrypt. The plugin struct is copied; plugin->ctx must outlive the provider.
 * Errors: RKC_EINVAL for an empty/too long name, cachesize 0, or missing plugin functions.
 */
enum rkc_err xf_kms_v1_new(const char *name, int cachesize, const struct kms_plugin *plugin,
                           struct xf_provider **ret, struct rkc_error *err);

/*
 * KMS v2 envelope provider named name (prefix "k8s:enc:kms:v2:<name>:"; name must not contain
 * ':'). Writes use type HKDF_SHA256_XNONCE_AES_GCM_SEED: one random 32-byte seed per provider,
 * encrypted once via plugin->encrypt and re-made when plugin->status reports a new key id;
 * each write derives a single-use DEK with HKDF-Expand(seed, 32 random info bytes). The
 * status is checked lazily: on the first use and then on a write once the status interval
 * (default 60 s, 10 s after a failure) has passed; writes fail when no status succeeded for
 * 3 minutes. Reads accept both source types, cache decrypted seeds/DEKs (LRU of 10,000, 24 h
 * TTL), and are stale when the stored key id differs from the current one. No plugin call
 * happens here.
 * Errors: RKC_EINVAL for an empty/too long name, a name with ':', or missing functions.
 */
enum rkc_err xf_kms_v2_new(const char *name, const struct kms_plugin *plugin,
                           struct xf_provider **ret, struct rkc_error *err);

/*
 * KMS v2 only: calls plugin->status now and, when the key id changed (or none is known), makes
 * and encrypts a new seed. Other kinds: no-op, RKC_OK. Thread-safe.
 * Errors: the plugin's, prefixed "kms provider \"NAME\": ".
 */
enum rkc_err xf_kms_refresh(struct xf_provider *p, struct rkc_error *err);

/* KMS v2 only: sets the status re-check interval in milliseconds (0: before every write). */
void xf_kms_v2_set_status_interval(struct xf_provider *p, unsigned ms);

/* Returns p after taking one more reference (thread-safe). */
struct xf_provider *xf_provider_ref(struct xf_provider *p);

/* Drops one reference; the last one wipes the keys/seeds/DEK caches and frees. NULL: no-op. */
void xf_provider_free(struct xf_provider *p);

enum xf_kind xf_provider_kind(const struct xf_provider *p);

/* Returns: borrowed, the name of key i (keyed kinds) or the KMS provider name (i ignored);
 * "" for identity. NULL if i is out of range for a keyed provider. */
const char *xf_provider_key_name(const struct xf_provider *p, size_t i);

/* Number of keys (keyed kinds), 1 for KMS, 0 for identity. */
size_t xf_provider_nkeys(const struct xf_provider *p);

/*
 * Appends the stored prefix this provider's writer puts in front of values:
 * "" for identity, "k8s:enc:aescbc:v1:<key0>:", "k8s:enc:kms:v2:<name>:", ...
 */
void xf_provider_writer_prefix(const struct xf_provider *p, struct strbuf *out);

struct xf_chain;

/* Returns: new, an empty chain (add providers before use; writes on an empty chain fail). */
struct xf_chain *xf_chain_new(void);

/* Appends p to c, taking over the caller's reference to p. */
void xf_chain_add_take(struct xf_chain *c, struct xf_provider *p);

/*
 * Returns: new, the bare "encrypt-check identity" that kube-apiserver installs for resources
 * no configuration entry covers: writes plaintext; a read of "k8s:enc:" data fails with
 * "identity transformer tried to read encrypted data" (not wrapped in prefix dispatch, so the
 * message differs from a configured [identity] chain, which says "no matching prefix found").
 */
struct xf_chain *xf_chain_encrypt_check_identity(void);

/* Frees the chain and drops its provider references. NULL: no-op. */
void xf_chain_free(struct xf_chain *c);

size_t xf_chain_nproviders(const struct xf_chain *c);

/* Returns: borrowed, provider i (NULL if out of range). */
const struct xf_provider *xf_chain_provider(const struct xf_chain *c, size_t i);

/* Which provider and key read a value. */
struct xf_read_info {
    enum xf_kind kind;
    char key_name[XF_NAME_MAX + 1]; /* key name, or KMS provider name; "" for identity */
    bool stale;                     /* the value should be rewritten with the current writer */
    size_t provider_index;          /* index in the chain */
    size_t key_index;               /* index of the key within the provider (0 for KMS/identity) */
};

/*
 * Encrypts pt[0..len) with the chain's writer (provider 0, key 0) and replaces the contents of
 * ret_stored with the stored value (prefix included). etcd_key is the full etcd key including
 * the storage prefix (e.g. "/registry/secrets/default/s1"), used as AEAD additional data by
 * aesgcm and KMS. On failure ret_stored is emptied.
 * etcd_key must not be NULL ("" is a valid, empty AAD); pt must not alias ret_stored.
 * Errors: RKC_EINVAL "no providers configured"; RKC_ECRYPTO for cipher failures; KMS v1: the
 * plugin's message unchanged (as upstream); KMS v2: Status/Encrypt failures prefixed
 * "kms provider \"NAME\": " (Encrypt also "failed to encrypt DEK, error: "), or upstream's
 * "encryptedDEKSource with keyID hash ... expired at ..."; RKC_ELIMIT for values too large.
 */
enum rkc_err xf_chain_write(const struct xf_chain *c, const char *etcd_key, const uint8_t *pt,
                            size_t len, struct strbuf *ret_stored, struct rkc_error *err);

/*
 * Decrypts stored[0..len) (read back from etcd under etcd_key) into ret_pt (contents
 * replaced) following kube-apiserver's prefix rules, and fills ret_info (may be NULL).
 * On failure ret_pt is emptied and the message is kube-apiserver's: one reason, or several as
 * "[reason1, reason2]"; "no matching prefix found" when nothing matched.
 * etcd_key must not be NULL; stored must not alias ret_pt. KMS decrypt failures read
 * "failed to decrypt DEK, error: <plugin message>" (v2) or the plugin's message (v1).
 * Errors: RKC_ECRYPTO (unreadable value), RKC_ENOTFOUND ("no matching prefix found").
 */
enum rkc_err xf_chain_read(const struct xf_chain *c, const char *etcd_key, const uint8_t *stored,
                           size_t len, struct strbuf *ret_pt, struct xf_read_info *ret_info,
                           struct rkc_error *err);

/*
 * Replaces ret_prefix's contents with the prefix a write through this chain carries now (see
 * xf_provider_writer_prefix), so probes can check which provider/key encrypted a value.
 * Errors: RKC_EINVAL "no providers configured".
 */
enum rkc_err xf_chain_writer_prefix(const struct xf_chain *c, struct strbuf *ret_prefix,
                                    struct rkc_error *err);

/*
 * TEST ONLY: replaces the source of IVs, nonces, DEKs, seeds and HKDF info (default: OpenSSL
 * RAND_bytes) so tests can reproduce fixed-nonce vectors; NULL restores the default. Not
 * thread-safe: call it only while no chain is in use. Never call it outside tests.
 */
typedef enum rkc_err (*xf_random_fn)(void *buf, size_t n, struct rkc_error *err);
void xf_set_random_source_for_testing(xf_random_fn fn);

#endif
