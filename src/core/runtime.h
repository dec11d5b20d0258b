/* SPDX-License-Identifier: Apache-2.0 */
/*
 * runtime: the `process` runtime. Runs a component (etcd, the API server, a KMS plugin) on a
 * node as a detached process with a pidfile and a log file under the node's prefix:
 *     <prefix>/var/run/rkc/<name>.pid    the pid
 *     <prefix>/var/run/rkc/<name>.spec   argv + extra hash it was started with
 *     <prefix>/var/log/rkc/<name>.log    stdout and stderr
 * Everything goes through a struct transport, so the same code serves local and ssh nodes.
 * A component whose spec is unchanged and which is running is left alone; that is what
 * makes a second `rkc up` restart nothing. Not thread-safe per transport.
 */
#ifndef RKC_CORE_RUNTIME_H
#define RKC_CORE_RUNTIME_H

#include <stdbool.h>
#include <sys/types.h>

#include "adapters/transport.h"
#include "util/error.h"

struct runtime_component {
    const char *name;        /* "etcd", "kube-apiserver" */
    const char *const *argv; /* NULL-terminated; argv[0] an absolute path or a PATH name */
    const char *prefix;      /* the node's prefix */
    const char
        *extra_hash; /* changes force a restart (e.g. hash of encryption.yaml); may be NULL */
};

/* Health probe: RKC_OK when healthy; any error is "not yet" (its text is kept). */
typedef enum rkc_err (*runtime_probe_fn)(void *ctx, struct rkc_error *err);

/* Is it running? *ret_pid is 0 when not. */
enum rkc_err runtime_status(struct transport *t, const char *prefix, const char *name,
                            bool *ret_running, pid_t *ret_pid, struct rkc_error *err);
/* Starts it (it must not be running). */
enum rkc_err runtime_start(struct transport *t, const struct runtime_component *c,
                           struct rkc_error *err);
/* SIGTERM, then SIGKILL after timeout_ms; not running is not an error. */
enum rkc_err runtime_stop(struct transport *t, const char *prefix, const char *name, int timeout_ms,
                          struct rkc_error *err);
/*
 * Starts c unless it runs with the same spec; restarts it when the spec differs, or when
 * force_restart. *ret_started (may be NULL) tells whether a (re)start happened.
 */
enum rkc_err runtime_ensure(struct transport *t, const struct runtime_component *c,
                            bool force_restart, bool *ret_started, struct rkc_error *err);
/*
 * Polls probe with backoff (100 ms doubling to 1 s) until it passes or timeout_ms passes.
 * Fails at once if the process exits. Errors carry the last log lines.
 */
enum rkc_err runtime_wait_healthy(struct transport *t, const struct runtime_component *c,
                                  runtime_probe_fn probe, void *ctx, int timeout_ms,
                                  struct rkc_error *err);
/* Appends the last nlines lines of the component's log. */
enum rkc_err runtime_log_tail(struct transport *t, const char *prefix, const char *name,
                              size_t nlines, struct strbuf *ret, struct rkc_error *err);

#endif
