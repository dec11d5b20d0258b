/* SPDX-License-Identifier: Apache-2.0 */
/* encop: the resumable encryption operation (prepare, promote, rewrite, verify, prune). */
#include "core/encop.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/encplan.h"
#include "crypto/b64.h"
#include "crypto/keygen.h"
#include "util/failpoint.h"
#include "util/strbuf.h"
#include "util/xalloc.h"

#include "util/banned.h"

static void notify(const struct encop_env *env, enum log_level level, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void notify(const struct encop_env *env, enum log_level level, const char *fmt, ...)
{
    char msg[1024];
    va_list ap;

    if (!env->notify)
        return;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    env->notify(env->ctx, level, msg);
}

enum rkc_err encop_config_from_text(const char *text, struct encconfig **ret, struct rkc_error *err)
{
    struct encconfig_diag d;
    enum rkc_err rc;

    *ret = NULL;
    if (!text)
        return RKC_OK;
    encconfig_diag_init(&d);
    rc = encconfig_parse("cluster.rkestate", text, strlen(text), ret, &d, err);
    encconfig_diag_release(&d);
    if (rc)
        rkc_error_prefix(err, "stored provider config: ");
    return rc;
}

enum rkc_err encop_config_to_text(const struct encconfig *cfg, struct strbuf *ret, char ret_hex[65],
                                  struct rkc_error *err)
{
    char hash[ENCCONFIG_HASH_SIZE];
    enum rkc_err rc = encconfig_emit(cfg, ret, err);

    if (!rc)
        rc = encconfig_hash(cfg, hash, err);
    if (!rc)
        memcpy(ret_hex, hash + 7, 65);
    return rc;
}

static void now_rfc3339(char out[STATE_TIME_SIZE])
{
    state_format_time(time(NULL), out);
}

static enum rkc_err begin(struct rkc_state *st, enum state_op_kind kind, const char *previous,
                          const struct encconfig *target, struct rkc_error *err)
{
    struct strbuf text = STRBUF_INIT;
    struct state_operation op;
    char started[STATE_TIME_SIZE], hex[65];
    enum rkc_err rc = RKC_OK;

    memset(&op, 0, sizeof(op));
    now_rfc3339(started);
    op.kind = kind;
    op.phase = STATE_PHASE_PREPARE;
    op.started_at = started;
    op.previous_config = previous;
    if (target) {
        rc = encop_config_to_text(target, &text, hex, err);
        op.target_config = text.buf;
    }
    if (!rc)
        rc = state_operation_begin(st, &op, err);
    if (!rc)
        rc = state_save(st, err);
    strbuf_release_wipe(&text);
    return rc;
}

enum rkc_err encop_begin(struct rkc_state *st, enum state_op_kind kind,
                         const struct encconfig *target, struct rkc_error *err)
{
    return begin(st, kind, state_active_config(st), target, err);
}

enum rkc_err encop_begin_from(struct rkc_state *st, enum state_op_kind kind,
                              const struct encconfig *previous, const struct encconfig *target,
                              struct rkc_error *err)
{
    struct strbuf text = STRBUF_INIT;
    char hex[65];
    enum rkc_err rc = RKC_OK;

    if (previous)
        rc = encop_config_to_text(previous, &text, hex, err);
    if (!rc)
        rc = begin(st, kind, previous ? text.buf : NULL, target, err);
    strbuf_release_wipe(&text);
    return rc;
}

static enum rkc_err set_phase(struct rkc_state *st, enum state_op_phase phase,
                              struct rkc_error *err)
{
    enum rkc_err rc = state_operation_set_phase(st, phase, err);

    if (!rc)
        rc = state_save(st, err);
    return rc;
}

static void failpoint_phase(const char *when, enum state_op_phase phase)
{
    char name[64];

    snprintf(name, sizeof(name), "encop-%s-%s", state_op_phase_name(phase), when);
    rkc_failpoint(name);
}

/* Keys of prev's keyed providers that target does not hold: they go to the archive. */
static bool target_has_key(const struct encconfig *target, const struct encconfig_provider *p,
                           const struct encconfig_key *k)
{
    size_t i, j, m;

    for (i = 0; target && i < target->nresources; i++) {
        for (j = 0; j < target->resources[i].nproviders; j++) {
            const struct encconfig_provider *q = &target->resources[i].providers[j];

            if (q->kind != p->kind)
                continue;
            for (m = 0; m < q->nkeys; m++) {
                if (!strcmp(q->keys[m].name, k->name) && q->keys[m].secret_len == k->secret_len &&
                    !memcmp(q->keys[m].secret, k->secret, k->secret_len))
                    return true;
            }
        }
    }
    return false;
}

static enum rkc_err archive_keys(struct rkc_state *st, const struct encconfig *prev,
                                 const struct encconfig *target, const char *reason,
                                 const struct encop_env *env, struct rkc_error *err)
{
    char when[STATE_TIME_SIZE], fp[KEYGEN_FINGERPRINT_SIZE];
    size_t i, j, k;
    enum rkc_err rc = RKC_OK;

    now_rfc3339(when);
    for (i = 0; !rc && prev && i < prev->nresources; i++) {
        for (j = 0; !rc && j < prev->resources[i].nproviders; j++) {
            const struct encconfig_provider *p = &prev->resources[i].providers[j];

            for (k = 0; !rc && k < p->nkeys; k++) {
                const struct encconfig_key *key = &p->keys[k];
                struct strbuf b64 = STRBUF_INIT;
                struct state_retired_key rk;

                if (target_has_key(target, p, key))
                    continue;
                keygen_fingerprint(key->secret, key->secret_len, fp);
                b64_encode(key->secret, key->secret_len, &b64);
                rk.name = key->name;
                rk.provider = encconfig_kind_name(p->kind);
                rk.secret = b64.buf;
                rk.fingerprint = fp;
                rk.retired_at = when;
                rk.reason = reason;
                rc = state_retire_key(st, &rk, err);
                if (!rc && env)
                    notify(env, LOG_INFO,
                           "[encryption] Key %s (%s, fingerprint %s) moved to the retired-keys "
                           "archive in cluster.rkestate",
                           key->name, rk.provider, fp);
                strbuf_release_wipe(&b64);
            }
        }
    }
    return rc;
}

enum rkc_err encop_forget_cluster(struct rkc_state *st, struct rkc_error *err)
{
    struct encconfig *active = NULL;
    char now[STATE_TIME_SIZE];
    enum rkc_err rc = encop_config_from_text(state_active_config(st), &active, err);

    if (!rc)
        rc = archive_keys(st, active, NULL, "remove", NULL, err);
    if (!rc && state_operation(st)) {
        now_rfc3339(now);
        rc = state_operation_finish(st, STATE_OUTCOME_ABANDONED, now, "the cluster was removed",
                                    err);
    }
    if (!rc)
        rc = state_set_active(st, NULL, NULL, err);
    if (!rc) {
        state_set_enc_mode(st, STATE_ENC_DISABLED);
        rc = state_save(st, err);
    }
    encconfig_free(active);
    return rc;
}

static enum state_enc_mode final_mode(const struct rkc_state *st, enum state_op_kind kind,
                                      const struct encconfig *target)
{
    if (!target)
        return STATE_ENC_DISABLED;
    if (kind == STATE_OP_ENABLE)
        return STATE_ENC_MANAGED;
    if (kind == STATE_OP_APPLY_CUSTOM)
        return STATE_ENC_CUSTOM;
    return state_enc_mode(st);
}

enum rkc_err encop_run(struct rkc_state *st, const struct encop_env *env, struct rkc_error *err)
{
    const struct state_operation *op = state_operation(st);
    struct encconfig *prev = NULL, *target = NULL, *step = NULL;
    char **resources = NULL;
    enum state_op_kind kind;
    enum state_op_phase phase;
    enum rkc_err rc;
    size_t i, rounds = 0;

    if (!op)
        return RKC_OK;
    kind = op->kind;
    phase = op->phase;
    rc = encop_config_from_text(op->previous_config, &prev, err);
    if (!rc)
        rc = encop_config_from_text(op->target_config, &target, err);
    if (rc)
        goto out;
    if (op->attempt > 1 || phase != STATE_PHASE_PREPARE)
        notify(env, LOG_INFO, "[encryption] Resuming '%s' operation at phase '%s' (attempt %lld)",
               state_op_kind_name(kind), state_op_phase_name(phase), (long long)op->attempt);
    encplan_resources(prev, target, &resources);

    while (phase != STATE_PHASE_DONE) {
        enum state_op_phase acting = phase;

        failpoint_phase("before", phase);
        switch (phase) {
        case STATE_PHASE_PREPARE:
            if (env->ncontrolplane > 1) {
                notify(env, LOG_INFO,
                       "[encryption] Deploying a provider configuration that can read the new "
                       "keys but still writes with the old ones to all controlplane nodes");
                step = encplan_merge(prev, target);
                rc = env->apply(env->ctx, step, target, err);
                encconfig_free(step);
                step = NULL;
            }
            if (!rc)
                phase = STATE_PHASE_PROMOTE;
            break;
        case STATE_PHASE_PROMOTE:
            notify(env, LOG_INFO, "[encryption] %s",
                   !target ? "Generating a provider configuration with identity first, the "
                             "previous keys second, and deploying it to all controlplane nodes"
                           : "Deploying the new provider configuration (new writer first, previous "
                             "keys kept for reading) to all controlplane nodes");
            step = encplan_merge(target, prev);
            rc = env->apply(env->ctx, step, prev, err);
            if (!rc)
                phase = STATE_PHASE_REWRITE;
            break;
        case STATE_PHASE_REWRITE:
            for (i = 0; !rc && resources[i]; i++) {
                notify(env, LOG_INFO, "[encryption] Rewriting all %s%s", resources[i],
                       !target || encplan_writes_plaintext(target, resources[i])
                           ? " (decrypting them)"
                           : " with the new writer");
                rc = env->rewrite(env->ctx, resources[i], err);
            }
            if (!rc)
                phase = STATE_PHASE_VERIFY;
            break;
        case STATE_PHASE_VERIFY: {
            bool all_ok = true;

            if (!step)
                step = encplan_merge(target, prev);
            for (i = 0; !rc && resources[i]; i++) {
                bool ok = false;

                rc = env->verify(env->ctx, resources[i], step, &ok, err);
                if (!rc && !ok) {
                    all_ok = false;
                    notify(env, LOG_WARN,
                           "[encryption] Some %s in etcd are not written by the new writer yet",
                           resources[i]);
                }
            }
            if (rc)
                break;
            if (all_ok) {
                notify(env, LOG_INFO, "[encryption] Verified in etcd: every value is %s",
                       !target ? "plaintext" : "written by the new writer");
                phase = STATE_PHASE_PRUNE;
            } else if (++rounds >= ENCOP_MAX_VERIFY_ROUNDS) {
                rc = rkc_error_set(err, RKC_EIO,
                                   "verify failed %zu times: some values in etcd are still not "
                                   "written by the new writer; every key is kept, run 'rkc up' "
                                   "again to resume",
                                   rounds);
            } else {
                phase = STATE_PHASE_REWRITE;
            }
            break;
        }
        case STATE_PHASE_PRUNE:
            rc = archive_keys(st, prev, target, state_op_kind_name(kind), env, err);
            if (!rc)
                rc = state_save(st, err);
            if (rc)
                break;
            notify(env, LOG_INFO, "[encryption] %s",
                   !target ? "Removing the provider configuration and the "
                             "--encryption-provider-config flag from the API servers"
                           : "Removing the previous keys from the provider configuration");
            rc = env->apply(env->ctx, target, NULL, err);
            if (!rc)
                rkc_failpoint("encop-prune-applied");
            if (!rc) {
                struct strbuf text = STRBUF_INIT;
                char hex[65], done[STATE_TIME_SIZE];

                if (target)
                    rc = encop_config_to_text(target, &text, hex, err);
                if (!rc)
                    rc = state_set_active(st, target ? text.buf : NULL, target ? hex : NULL, err);
                strbuf_release_wipe(&text);
                if (!rc) {
                    state_set_enc_mode(st, final_mode(st, kind, target));
                    now_rfc3339(done);
                    rc = state_operation_finish(st, STATE_OUTCOME_SUCCEEDED, done, NULL, err);
                }
                if (!rc)
                    rc = state_save(st, err);
                if (!rc) {
                    notify(env, LOG_INFO, "[encryption] Operation '%s' finished",
                           state_op_kind_name(kind));
                    phase = STATE_PHASE_DONE;
                }
            }
            break;
        case STATE_PHASE_DONE:
            break;
        }
        if (rc)
            goto out;
        if (phase != STATE_PHASE_DONE) {
            /* acted, not yet recorded: the resume must redo this phase harmlessly */
            failpoint_phase("after", acting);
            rc = set_phase(st, phase, err);
            if (rc)
                goto out;
        }
    }
out:
    encplan_resources_free(resources);
    encconfig_free(step);
    encconfig_free(prev);
    encconfig_free(target);
    return rc;
}
