/* SPDX-License-Identifier: Apache-2.0 */
/*
 * encop: the one resumable machine behind every encryption change (DESIGN.md §4): enable,
 * disable, rotate, apply-custom and restore-rekey differ only in the target config.
 *
 * The pending operation and its phase live in cluster.rkestate and are saved BEFORE each
 * phase acts, so killing rkc at any instant and running it again resumes where it stopped:
 *     prepare  merge(previous, target) on every API server: can read the new, writes the old
 *              (skipped with a single controlplane node: nothing else serves meanwhile)
 *     promote  merge(target, previous): the target writes, the previous still reads
 *     rewrite  every object of every affected resource is written again through the API
 *     verify   etcd is scanned; anything not on the writer goes back to rewrite (bounded)
 *     prune    keys that left the config go to the retired-keys archive, then the target
 *              alone is applied (no config at all when disabling), and the operation ends
 * Every phase is idempotent. At no instant can an API server be unable to read what is
 * stored: readers are added before writers change and removed only after verify.
 *
 * The machine touches the cluster only through struct encop_env, so it is unit-tested
 * with a fake and driven for real by `rkc up`. Never prints: progress goes to env->notify.
 */
#ifndef RKC_CORE_ENCOP_H
#define RKC_CORE_ENCOP_H

#include <stdbool.h>

#include "core/state.h"
#include "crypto/encconfig.h"
#include "util/error.h"
#include "util/log.h"

#define ENCOP_MAX_VERIFY_ROUNDS 3

struct encop_env {
    void *ctx;
    /* Number of controlplane nodes (1: prepare is merged into promote). */
    size_t ncontrolplane;
    /*
     * Deploys cfg (NULL: remove the provider config and the flag) to every controlplane
     * node and (re)starts the API servers that changed, one at a time, each healthy before
     * the next; then confirms the running servers write with cfg's writer and can read
     * with `readable` (may be NULL).
     */
    enum rkc_err (*apply)(void *ctx, const struct encconfig *cfg, const struct encconfig *readable,
                          struct rkc_error *err);
    /* Rewrites every object of resource through the API. */
    enum rkc_err (*rewrite)(void *ctx, const char *resource, struct rkc_error *err);
    /* Scans etcd: *ret_ok when every value of resource is read by cfg's writer. */
    enum rkc_err (*verify)(void *ctx, const char *resource, const struct encconfig *cfg,
                           bool *ret_ok, struct rkc_error *err);
    /* Progress for the user ("[encryption] Rewriting secrets"). */
    void (*notify)(void *ctx, enum log_level level, const char *msg);
};

/*
 * Starts an operation of kind that ends on target (NULL: no encryption) from the state's
 * active config, and saves the state. When it ends the state's mode becomes: managed for
 * enable, custom for apply-custom, disabled when target is NULL, else unchanged.
 * Errors: RKC_EBUSY when another operation is pending.
 */
enum rkc_err encop_begin(struct rkc_state *st, enum state_op_kind kind,
                         const struct encconfig *target, struct rkc_error *err);

/*
 * Like encop_begin, but the operation starts from previous (NULL: no encryption) instead of
 * the state's active config: restore-rekey starts from "the current config plus the old keys a
 * restored snapshot needs as readers". The keys of previous that target lacks go to the
 * retired-keys archive at prune, as for any operation.
 */
enum rkc_err encop_begin_from(struct rkc_state *st, enum state_op_kind kind,
                              const struct encconfig *previous, const struct encconfig *target,
                              struct rkc_error *err);

/* Runs the pending operation (if any) to its end, saving the state at every phase. */
enum rkc_err encop_run(struct rkc_state *st, const struct encop_env *env, struct rkc_error *err);

/*
 * For `rkc remove`: the cluster's data is gone, so its active keys move to the retired-keys
 * archive (reason "remove": old snapshots may still need them), a pending operation ends as
 * abandoned, and the state says encryption is disabled. Saves the state.
 */
enum rkc_err encop_forget_cluster(struct rkc_state *st, struct rkc_error *err);

/* Parses a stored provider config (from state). Returns: new config; NULL text gives NULL. */
enum rkc_err encop_config_from_text(const char *text, struct encconfig **ret,
                                    struct rkc_error *err);
/* Canonical text and its sha256 hex (64 chars + NUL) of cfg, for state. */
enum rkc_err encop_config_to_text(const struct encconfig *cfg, struct strbuf *ret, char ret_hex[65],
                                  struct rkc_error *err);

#endif
