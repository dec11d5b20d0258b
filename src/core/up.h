/* SPDX-License-Identifier: Apache-2.0 */
/*
 * up: `rkc up` and `rkc remove`. Brings the cluster described by cluster.yml to life and
 * keeps it there: certificates (pki), etcd on the etcd nodes, the API server on the
 * controlplane nodes, the admin kubeconfig, and the encryption state cluster.yml asks for,
 * reached through the resumable operation of encop.
 *
 * Re-running with nothing changed restarts nothing. Every step that changes the cluster is
 * recorded in the state before it acts. Never prints: progress goes to opts->notify (the
 * CLI logs it in RKE's shape) and rewrite progress to opts->progress.
 */
#ifndef RKC_CORE_UP_H
#define RKC_CORE_UP_H

#include <stdbool.h>

#include "core/config.h"
#include "core/rewrite.h"
#include "core/state.h"
#include "crypto/encconfig.h"
#include "util/error.h"
#include "util/log.h"

struct up_options {
    const char *apiserver_bin; /* the embedded rkc-apiserver (absolute path) */
    unsigned rewrite_workers;  /* 0: REWRITE_DEFAULT_WORKERS */
    rewrite_progress_fn progress;
    void *progress_ctx;
    void (*notify)(void *ctx, enum log_level level, const char *msg);
    void *notify_ctx;
};

enum rkc_err up_run(const struct cluster_config *cfg, struct rkc_state *st,
                    const struct up_options *opts, struct rkc_error *err);

/*
 * `rkc encrypt rotate-key`: brings the cluster up as it is, finishes a pending operation
 * (an interrupted rotation is finished, not started over), then rotates the active key
 * (managed, or a custom config whose writers are aescbc/aesgcm/secretbox) through encop.
 */
enum rkc_err up_rotate(const struct cluster_config *cfg, struct rkc_state *st,
                       const struct up_options *opts, struct rkc_error *err);

/*
 * `rkc encrypt status`: what the state says (mode, the active providers and keys with
 * fingerprints, the pending operation, the retired keys), per controlplane node the hash of the
 * deployed provider file and the hash the running API server reports loaded, and with scan the
 * per-resource counts of etcd values by provider/key. Reads only; never changes anything.
 * Returns: new JSON document in *ret (schema in docs/commands.md). Never contains key material.
 */
enum rkc_err up_status(const struct cluster_config *cfg, struct rkc_state *st,
                       const struct up_options *opts, bool scan, struct jval **ret,
                       struct rkc_error *err);

/*
 * Parses and validates services.kube-api.secrets_encryption_config.custom_config (positions
 * in cluster.yml). *ret is NULL when there is none. warnings (may be NULL) gets one line per
 * warning. Errors: RKC_ECONFIG listing every problem.
 */
enum rkc_err up_custom_config(const struct cluster_config *cfg, struct encconfig **ret,
                              struct strbuf *warnings, struct rkc_error *err);

/*
 * Stops every component and removes the nodes' data and the admin kubeconfig. The state is
 * kept, with the cluster's keys moved to the retired-keys archive (encop_forget_cluster), so
 * old snapshots stay restorable and the next `rkc up` starts a new cluster with new keys.
 */
enum rkc_err up_remove(const struct cluster_config *cfg, struct rkc_state *st,
                       const struct up_options *opts, struct rkc_error *err);

/*
 * The transport to node (index into cfg->nodes), as `rkc up` opens it (for snapshot and
 * other commands that act on nodes outside bring-up). Returns: new transport in *ret.
 * Errors: RKC_ESSH for a node whose transport this rkc does not have.
 */
struct transport;
enum rkc_err up_node_transport(const struct cluster_config *cfg, size_t node,
                               struct transport **ret, struct rkc_error *err);

/* Returns: new path of the admin kubeconfig: kube_config_<cluster file name> beside it. */
char *up_kubeconfig_path(const struct cluster_config *cfg);
/* Returns: new path of the state file: <cluster file name without .yml>.rkestate beside it. */
char *up_state_path(const char *cluster_file);

#endif
