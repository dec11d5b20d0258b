/* SPDX-License-Identifier: Apache-2.0 */
/*
 * components: what runs on each node and with which flags. Pure functions of the cluster
 * config (no I/O), so the flag sets are unit-tested and `rkc up` only executes them.
 *
 * Paths under a node's prefix (DESIGN.md §2):
 *     etc/kubernetes/ssl/         certificates (pki) and encryption.yaml
 *     var/lib/etcd/               etcd data
 *     var/log/rkc/, var/run/rkc/  component logs and pidfiles (runtime)
 */
#ifndef RKC_CORE_COMPONENTS_H
#define RKC_CORE_COMPONENTS_H

#include <stdbool.h>
#include <stddef.h>

#include "core/config.h"

#define COMPONENTS_ETCD_CLIENT_PORT 2379
#define COMPONENTS_ETCD_PEER_PORT   2380
#define COMPONENTS_APISERVER_PORT   6443

/* A NULL-terminated argv under construction; free with argv_free. */
struct argv_list {
    char **v;
    size_t n, alloc;
};

void argv_push(struct argv_list *a, const char *s);
void argv_pushf(struct argv_list *a, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void argv_free(struct argv_list *a);

/* Returns: new path under the node's prefix: <prefix>/<rel>. */
char *components_path(const struct config_node *n, const char *rel);
/* Returns: new "<prefix>/etc/kubernetes/ssl/<file>". */
char *components_ssl_path(const struct config_node *n, const char *file);
/* Returns: new "<prefix>/etc/kubernetes/ssl/encryption.yaml". */
char *components_encryption_path(const struct config_node *n);

/* Returns: new "https://<address>:2379,..." for every etcd node. */
char *components_etcd_endpoints(const struct cluster_config *cfg);
/* Returns: new "https://<address>:6443" of a controlplane node. */
char *components_apiserver_url(const struct config_node *n);

/* The etcd flags for an etcd node; existing_cluster selects --initial-cluster-state. */
void components_etcd_argv(const struct cluster_config *cfg, const struct config_node *n,
                          bool existing_cluster, struct argv_list *ret);
/*
 * The API server flags for a controlplane node. apiserver_bin is the embedded
 * rkc-apiserver (used unless services.kube-api.binary is set); encryption_config is the
 * provider config path or NULL when encryption is off. The embedded server also gets
 * --encryption-provider-config-automatic-reload: a changed file is then picked up without a
 * restart (components_apiserver_reloads()).
 */
void components_apiserver_argv(const struct cluster_config *cfg, const struct config_node *n,
                               const char *apiserver_bin, const char *encryption_config,
                               struct argv_list *ret);

/* Returns: new "<prefix>/etc/kubernetes/kms/kek.key", rkc-kms's key file on node n. */
char *components_kms_key_path(const struct config_node *n);

/*
 * The KMS plugin flags for a controlplane node (services.kms-plugin must be present):
 * services.kms-plugin.binary, or default_bin (rkc-kms beside rkc); --listen=<socket> and, for
 * the default rkc-kms, --key-file=<components_kms_key_path> (extra_args override either),
 * then extra_args. *ret_default_key (may be NULL) tells whether the default key file is used.
 */
void components_kms_plugin_argv(const struct cluster_config *cfg, const struct config_node *n,
                                const char *default_bin, struct argv_list *ret,
                                bool *ret_default_key);

/* True when the API server reloads its provider config file by itself (the embedded one). */
bool components_apiserver_reloads(const struct cluster_config *cfg);

#endif
