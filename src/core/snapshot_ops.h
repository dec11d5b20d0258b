/* SPDX-License-Identifier: Apache-2.0 */
/*
 * snapshot_ops: `rkc etcd snapshot-save`, `snapshot-restore`, `snapshot-ls` and
 * `rkc encrypt prune-keys` (DESIGN.md §5). Snapshots live on the etcd node under
 * <prefix>/opt/rke/etcd-snapshots/NAME.db and beside cluster.yml in snapshots/:
 *     NAME.db              the etcd snapshot (etcdctl snapshot save), mode 0600
 *     NAME.manifest.json   what it holds and which keys it needs (snapshot.h), mode 0600
 *     NAME.keys.sealed     only with --include-keys: the needed keys sealed to a passphrase
 *
 * A restore is checked before the cluster is touched (checksum; the snapshot restored into a
 * private temporary etcd on random loopback ports and scanned for the keys its data needs;
 * each must be in the current config, the archive or the sealed bundle), then recorded
 * (cluster.rkestate.pre-restore-<time> backup, snapshots/.restore-pending marker, a pending
 * restore-rekey operation from "current config + the needed keys as readers" to the current
 * config), then carried out by up_run(): snapshot_restore_pending() restores etcd on every
 * etcd node and deploys the reader config, then bring-up and encop finish the operation.
 * An interruption at any point is finished by running the restore (or `rkc up`) again.
 * Never prints: progress goes to opts->up->notify.
 */
#ifndef RKC_CORE_SNAPSHOT_OPS_H
#define RKC_CORE_SNAPSHOT_OPS_H

#include <stdbool.h>

#include "adapters/jval.h"
#include "core/config.h"
#include "core/state.h"
#include "core/up.h"
#include "crypto/seal.h"
#include "util/error.h"

struct snapshot_options {
    const struct up_options *up;
    const char *passphrase; /* may be NULL: ask_passphrase is called when one is needed */
    /* Returns: new passphrase (the caller wipes and frees it), or NULL when none can be had. */
    char *(*ask_passphrase)(void *ctx, bool confirm);
    void *ask_ctx;
    enum seal_cost cost; /* for --include-keys */
    bool include_keys;   /* save: write NAME.keys.sealed */
    bool force;          /* restore: accept another cluster's snapshot */
};

/* Returns: new "<dir of cluster.yml>/snapshots". */
char *snapshot_dir(const struct cluster_config *cfg);

/*
 * Takes a snapshot named name (NULL: "<cluster>-<YYYYMMDDTHHMMSSZ>") on the first etcd node
 * and writes the files above. Returns: the name in *ret_name (new).
 * Errors: RKC_EINVAL for a bad or existing name; etcdctl/etcd errors.
 */
enum rkc_err snapshot_save(const struct cluster_config *cfg, struct rkc_state *st,
                           const struct snapshot_options *o, const char *name, char **ret_name,
                           struct rkc_error *err);

/* Restores snapshot name (see above). Errors name what failed; nothing is touched when the
 * preflight refuses (missing keys, checksum, other cluster, wrong passphrase). */
enum rkc_err snapshot_restore(const struct cluster_config *cfg, struct rkc_state *st,
                              const struct snapshot_options *o, const char *name,
                              struct rkc_error *err);

/*
 * Called by up_run() first: when a restore was recorded but etcd not yet restored, restores
 * etcd on every etcd node and deploys the reader config; otherwise does nothing.
 */
enum rkc_err snapshot_restore_pending(const struct cluster_config *cfg, struct rkc_state *st,
                                      const struct up_options *uo, struct rkc_error *err);

/*
 * The snapshots in snapshots/: per snapshot name, createdAt, size, etcdRevision, keysNeeded
 * [{provider,name,fingerprint,available,source}], sealedKeys, restorable ("yes", "needs
 * passphrase", "no"). Returns: new JSON array in *ret. Reads only.
 */
enum rkc_err snapshot_list(const struct cluster_config *cfg, const struct rkc_state *st,
                           struct jval **ret, struct rkc_error *err);

/*
 * Drops archived keys no retained snapshot (manifest in snapshots/) needs. When a snapshot
 * needs one and !force, nothing is dropped: RKC_EBUSY naming the key and the snapshots.
 * *ret_dropped (may be NULL) gets how many were dropped.
 */
enum rkc_err snapshot_prune_keys(const struct cluster_config *cfg, struct rkc_state *st, bool force,
                                 const struct up_options *uo, size_t *ret_dropped,
                                 struct rkc_error *err);

#endif
