/* SPDX-License-Identifier: Apache-2.0 */
/*
 * config: cluster.yml, parsed strictly into a typed model (DESIGN.md §2).
 *
 * Every error names its place: "cluster.yml:7:5: unknown key 'rolez' in nodes[0] (did you
 * mean 'role'?)". The first error ends parsing. Keys RKE knows but rkc does not manage
 * (network, addons, kubelet, ...) are accepted with a warning so an RKE cluster.yml still
 * loads. `custom_config` is kept as a positioned ytree node for the provider-config
 * validator. Never prints; thread-compatible (no shared state).
 */
#ifndef RKC_CORE_CONFIG_H
#define RKC_CORE_CONFIG_H

#include <stdbool.h>
#include <stddef.h>

#include "adapters/jval.h"
#include "adapters/ytree.h"
#include "util/error.h"

enum config_role {
    CONFIG_ROLE_CONTROLPLANE = 1 << 0,
    CONFIG_ROLE_ETCD = 1 << 1,
    CONFIG_ROLE_WORKER = 1 << 2,
};

enum config_transport {
    CONFIG_TRANSPORT_SSH,
    CONFIG_TRANSPORT_LOCAL,
};

struct config_kv {
    char *key;
    char *value;
};

struct config_node {
    char *address;
    int port;                /* ssh port, default 22 */
    char *user;              /* ssh user, default "root" */
    unsigned roles;          /* enum config_role bits */
    char *ssh_key_path;      /* NULL: the cluster-wide ssh_key_path */
    char *hostname_override; /* may be NULL */
    enum config_transport transport;
    char *name;       /* hostname_override or address */
    char *prefix;     /* effective prefix on the node (absolute for local nodes) */
    size_t line, col; /* where the node starts in cluster.yml */
};

struct config_secrets_encryption {
    bool present;                     /* the block exists in cluster.yml */
    bool enabled;                     /* default false */
    struct ytree_node *custom_config; /* owned; NULL when not given */
    size_t line, col;                 /* position of the block */
};

struct config_kube_api {
    struct config_kv *extra_args;
    size_t nextra_args;
    char **extra_binds;
    size_t nextra_binds;
    char *binary;                   /* NULL: the embedded rkc-apiserver */
    char *service_cluster_ip_range; /* default 10.43.0.0/16 */
    struct config_secrets_encryption secrets_encryption;
};

struct config_etcd {
    bool snapshot;   /* recurring snapshots (default false) */
    char *retention; /* default "24h" */
    struct config_kv *extra_args;
    size_t nextra_args;
};

/*
 * services.kms-plugin: a KMS plugin rkc runs on every controlplane node before the API
 * server (rkc runs no pods, so this stands in for the plugin's DaemonSet).
 */
struct config_kms_plugin {
    bool present;                 /* the block exists in cluster.yml */
    char *socket;                 /* required: absolute path of the unix socket the plugin serves */
    char *binary;                 /* NULL: rkc-kms beside the rkc binary */
    struct config_kv *extra_args; /* "--key=value" flags for the plugin */
    size_t nextra_args;
    size_t line, col; /* position of the block */
};

struct cluster_config {
    char *file;         /* the path given to config_load, for messages */
    char *dir;          /* absolute directory of cluster.yml */
    char *cluster_name; /* default "local" */
    struct config_node *nodes;
    size_t nnodes;
    char *prefix_path;  /* NULL when not set */
    char *ssh_key_path; /* default "~/.ssh/id_rsa" */
    bool ssh_agent_auth;
    bool rotate_encryption_key;
    struct config_etcd etcd;
    struct config_kube_api kube_api;
    struct config_kms_plugin kms_plugin;
    char **warnings; /* keys accepted but ignored, and similar notes */
    size_t nwarnings;
};

/*
 * Parses cluster.yml text. file names it in messages; dir is the directory relative paths
 * and local node prefixes are resolved against (NULL: the current directory).
 * Returns: new config in *ret (free with config_free); RKC_ECONFIG with a positioned
 * message on any error.
 */
enum rkc_err config_parse(const char *file, const char *dir, const char *buf, size_t len,
                          struct cluster_config **ret, struct rkc_error *err);
/* Reads and parses path. A missing file is RKC_ENOTFOUND with a hint. */
enum rkc_err config_load(const char *path, struct cluster_config **ret, struct rkc_error *err);
void config_free(struct cluster_config *cfg);

/* Counts nodes holding any of the role bits. */
size_t config_count_role(const struct cluster_config *cfg, unsigned roles);
/* Returns: the comma-separated role names of a node ("controlplane,etcd,worker"). */
const char *config_role_names(unsigned roles, char *buf, size_t size);

/* Returns: new JSON form of the config (RKE's rkeConfig shape), for cluster.rkestate. */
struct jval *config_to_jval(const struct cluster_config *cfg);
/* Returns: new JSON form of a ytree node (plain ints/bools/nulls typed, the rest strings). */
struct jval *config_ytree_to_jval(const struct ytree_node *node);

/* Returns: borrowed, the annotated sample cluster.yml printed by `rkc config`. */
const char *config_sample(void);

#endif
