/* SPDX-License-Identifier: Apache-2.0 */
/*
 * pki: the cluster's certificate bundle (RKE's certificatesBundle), its generation and
 * reconciliation against the node list, its JSON form for cluster.rkestate, and the files a
 * node needs under <prefix>/etc/kubernetes/ssl/. Also a parser for untrusted PEM
 * certificates (pki_cert_info).
 *
 * Entries (see docs/internals/pki.md):
 *   kube-ca                     self-signed CA (10 years); its key never leaves the state
 *   kube-etcd-<node>            etcd server+peer certificate of one etcd node
 *   kube-etcd-client            client certificate to reach etcd (API server, rkc)
 *   kube-apiserver              API server serving certificate
 *   kube-admin                  admin client certificate (O=system:masters)
 *   kube-service-account-token  RSA 2048 key pair (no certificate)
 *
 * Key material (key PEMs) is wiped when freed and never appears in messages. OpenSSL's
 * error queue is drained into error messages at this boundary. Functions are thread-
 * compatible (no shared state); a bundle has one owner at a time.
 */
#ifndef RKC_CORE_PKI_H
#define RKC_CORE_PKI_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>
#include <time.h>

#include "adapters/jval.h"
#include "util/error.h"

#define PKI_CA_VALIDITY_DAYS   3650
#define PKI_LEAF_VALIDITY_DAYS 365
/* pki_bundle_reconcile() re-issues a leaf whose remaining validity is below this. */
#define PKI_RENEW_BEFORE_DAYS 30
/* Bigger PEM input is refused with RKC_ELIMIT. */
#define PKI_PEM_MAX ((size_t)64 * 1024)

#define PKI_CA                   "kube-ca"
#define PKI_ETCD_PREFIX          "kube-etcd-"
#define PKI_ETCD_CLIENT          "kube-etcd-client"
#define PKI_APISERVER            "kube-apiserver"
#define PKI_ADMIN                "kube-admin"
#define PKI_SERVICE_ACCOUNT      "kube-service-account-token"
#define PKI_ADMIN_ORG            "system:masters"
#define PKI_DEFAULT_SERVICE_CIDR "10.43.0.0/16"

/* Key type of the CA and the TLS leaves (the service-account key is always RSA 2048). */
enum pki_key_type {
    PKI_KEY_ECDSA_P256 = 0, /* default */
    PKI_KEY_RSA_2048,
};

/* Extended key usage bits reported by pki_cert_info(). */
enum pki_eku {
    PKI_EKU_SERVER = 1 << 0,
    PKI_EKU_CLIENT = 1 << 1,
};

/* One node as the PKI sees it; all strings borrowed. roles: enum config_role bits. */
struct pki_node {
    const char *name;    /* hostname_override or address */
    const char *address; /* IP address or resolvable host name */
    unsigned roles;
};

struct pki_request {
    const char *cluster_name;
    const struct pki_node *nodes;
    size_t nnodes;
    const char *service_cidr; /* NULL: PKI_DEFAULT_SERVICE_CIDR */
    enum pki_key_type key_type;
    struct pki_node *owned_nodes; /* internal: what pki_request_from_config allocated */
};

struct cluster_config;

/*
 * Fills req from a parsed cluster.yml: cluster name, every node (name, address, roles),
 * service_cluster_ip_range, ECDSA P-256 keys. req->nodes is new (pki_request_release frees
 * it); the strings are borrowed from cfg, which must outlive req.
 */
void pki_request_from_config(const struct cluster_config *cfg, struct pki_request *req);
void pki_request_release(struct pki_request *req);

/* One bundle entry. Strings owned by the bundle; key_pem is wiped on free. */
struct pki_cert {
    char *name;        /* "kube-ca", "kube-etcd-node1", ... */
    char *common_name; /* subject CN ("" for the service-account key) */
    char *org;         /* subject O, "" when none */
    char *cert_pem;    /* NULL for the service-account key pair */
    char *key_pem;     /* PKCS#8 PEM */
    char *pub_pem;     /* SubjectPublicKeyInfo PEM; only for the service-account key */
};

struct pki_bundle;

/* What a reconcile did: entry names issued (new or replaced) and removed. */
struct pki_changes {
    char **issued;
    size_t nissued;
    char **removed;
    size_t nremoved;
};

void pki_changes_release(struct pki_changes *c);

/* Returns: new, an empty bundle. */
struct pki_bundle *pki_bundle_new(void);
/* Frees the bundle, wiping key material. No-op on NULL. */
void pki_bundle_free(struct pki_bundle *b);

/*
 * Generates a whole bundle for req (a new CA and every certificate).
 * Returns: new bundle in *ret; RKC_EINVAL on a bad request (node name that cannot be a
 * certificate name, bad service CIDR); RKC_ECRYPTO on an OpenSSL failure.
 */
enum rkc_err pki_bundle_generate(const struct pki_request *req, struct pki_bundle **ret,
                                 struct rkc_error *err);

/*
 * Brings b in line with req: keeps every valid entry, issues what is missing, whose subject
 * or SANs no longer match, that is not signed by the bundle's CA, whose key does not match,
 * or that expires within PKI_RENEW_BEFORE_DAYS (unless it already lasts as long as the CA:
 * leaves never outlive the CA); removes kube-etcd-* entries of nodes that
 * are no longer etcd nodes. The CA is created only when the bundle is empty; it is never
 * regenerated (a bundle with other entries but no usable CA is RKC_ECRYPTO).
 * ret_changes (may be NULL) receives what changed. On failure b may hold some newly issued
 * entries, all valid.
 */
enum rkc_err pki_bundle_reconcile(struct pki_bundle *b, const struct pki_request *req,
                                  struct pki_changes *ret_changes, struct rkc_error *err);

/* Returns: borrowed entry, or NULL when absent. */
const struct pki_cert *pki_bundle_get(const struct pki_bundle *b, const char *name);
size_t pki_bundle_size(const struct pki_bundle *b);
/* Returns: borrowed entry idx (entries are sorted by name). */
const struct pki_cert *pki_bundle_at(const struct pki_bundle *b, size_t idx);

/*
 * Returns: new entry name of a node's etcd certificate: "kube-etcd-" plus the node name with
 * every character outside [A-Za-z0-9_-] replaced by '-' (RKE's "kube-etcd-10-0-0-1").
 */
char *pki_etcd_cert_name(const char *node_name);

/*
 * JSON form, RKE's certificatesBundle shape: an object name -> {name, commonName, ouName,
 * certificatePEM, keyPEM, path, keyPath} (+ publicKeyPEM for the service-account key).
 * Holds private keys: the caller keeps it out of logs.
 * Returns: new.
 */
struct jval *pki_bundle_to_jval(const struct pki_bundle *b);
/*
 * Reads the JSON form (NULL or an empty object gives an empty bundle). Checks shapes and
 * entry names (they become file names); certificates are checked by reconcile.
 * Returns: new bundle in *ret; RKC_EINVAL naming the bad entry.
 */
enum rkc_err pki_bundle_from_jval(const struct jval *v, struct pki_bundle **ret,
                                  struct rkc_error *err);

/* One file a node needs. data is borrowed from the bundle. */
struct pki_file {
    char *file_name; /* owned: "kube-ca.pem", "kube-apiserver-key.pem", ... */
    const char *data;
    size_t len;
    mode_t mode;    /* 0644 certificates and public keys, 0600 private keys */
    unsigned roles; /* enum config_role bits of the components that read it */
};

/*
 * Lists the files a node with these roles needs (RKE's names): every node kube-ca.pem;
 * etcd nodes kube-etcd-<node>.pem/-key.pem and kube-etcd-client.pem/-key.pem; control-plane
 * nodes kube-etcd-client, kube-apiserver, kube-admin and kube-service-account-token
 * (.pem/-key.pem). The CA key is never listed.
 * Returns: new array in *ret_files (free with pki_files_free); RKC_ENOTFOUND naming a
 * missing entry.
 */
enum rkc_err pki_bundle_node_files(const struct pki_bundle *b, unsigned roles,
                                   const char *node_name, struct pki_file **ret_files,
                                   size_t *ret_nfiles, struct rkc_error *err);
void pki_files_free(struct pki_file *files, size_t n);

/*
 * Deploys pki_bundle_node_files() into dir (created 0700, parents 0755) with
 * fs_write_atomic; a file whose content and mode already match is left untouched, a file
 * whose content matches but mode differs is chmod'ed. ret_changed_roles (may be NULL)
 * receives the enum config_role bits of the components whose files were (re)written, so
 * the caller restarts only those.
 */
enum rkc_err pki_bundle_write_dir(const struct pki_bundle *b, const char *dir, unsigned roles,
                                  const char *node_name, unsigned *ret_changed_roles,
                                  struct rkc_error *err);

/* Parsed facts of one certificate. Release with pki_cert_info_release. */
struct pki_cert_info {
    char *common_name; /* "" when none */
    char *org;         /* first O, "" when none */
    char *issuer_cn;   /* "" when none */
    char **dns_names;
    size_t ndns;
    char **ips; /* textual IPv4/IPv6 */
    size_t nips;
    time_t not_before;
    time_t not_after;
    bool is_ca;
    unsigned eku; /* enum pki_eku bits */
};

/*
 * Parses the first PEM certificate in pem (len bytes, untrusted; need not be
 * NUL-terminated). Returns: RKC_ELIMIT when longer than PKI_PEM_MAX; RKC_EINVAL with
 * "parse certificate: ..." when there is no valid certificate.
 */
enum rkc_err pki_cert_info(const char *pem, size_t len, struct pki_cert_info *ret,
                           struct rkc_error *err);
void pki_cert_info_release(struct pki_cert_info *info);

/*
 * Checks that key_pem (untrusted) holds a private key and, when cert_pem is not NULL, that
 * it matches that certificate. Returns: RKC_EINVAL on a bad or mismatched key.
 */
enum rkc_err pki_key_check(const char *key_pem, size_t key_len, const char *cert_pem,
                           size_t cert_len, struct rkc_error *err);

#endif
