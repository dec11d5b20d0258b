/* SPDX-License-Identifier: Apache-2.0 */
/*
 * kmsserver: serves the KMS plugin gRPC APIs v1beta1 (Version, Encrypt, Decrypt) and v2
 * (Status, Encrypt, Decrypt) on a unix socket with gRPC's C core, handing each request to
 * the caller's kmsserver_ops (rkc-kms's key ring). The server runs on the calling thread:
 * kmsserver_serve processes requests for a bounded time and returns, so the caller can poll
 * its key file and its stop flag between turns.
 *
 * Replies: Status gives version "v2", healthz "ok" (or the status op's error text) and the
 * key id; v1 Version gives "v1beta1" with ops->runtime_name/runtime_version; an op failure
 * becomes gRPC status INVALID_ARGUMENT (RKC_EINVAL), NOT_FOUND (RKC_ENOTFOUND) or INTERNAL
 * carrying the op's error message (which must hold no secret).
 *
 * Thread-safety: one thread per server; ops are called on that thread only.
 */
#ifndef RKC_ADAPTERS_KMSSERVER_H
#define RKC_ADAPTERS_KMSSERVER_H

#include <stddef.h>
#include <stdint.h>

#include "util/error.h"
#include "util/strbuf.h"

struct kmsserver_ops {
    /* Wraps pt[0..len); ret_key_id gets the id of the KEK used (non-empty). */
    enum rkc_err (*encrypt)(void *ctx, const uint8_t *pt, size_t len, struct strbuf *ret_ct,
                            struct strbuf *ret_key_id, struct rkc_error *err);
    /* Unwraps ct[0..len); key_id is the v2 request's key id ("" for v1). */
    enum rkc_err (*decrypt)(void *ctx, const uint8_t *ct, size_t len, const char *key_id,
                            struct strbuf *ret_pt, struct rkc_error *err);
    /* The current key id (healthy) or an error (unhealthy). */
    enum rkc_err (*status)(void *ctx, struct strbuf *ret_key_id, struct rkc_error *err);
    const char *runtime_name;    /* v1 VersionResponse.runtime_name */
    const char *runtime_version; /* v1 VersionResponse.runtime_version (semver) */
    void *ctx;
};

struct kmsserver;

/*
 * Listens on listen ("unix:///path/socket.sock"; a stale socket file at the path is removed
 * first, the parent directory is created 0700 when missing, the socket is made 0600).
 * ops is copied; ops->ctx must outlive the server.
 * Returns: new server in *ret. Errors: RKC_EINVAL for a non-unix URL, RKC_EIO when the
 * socket cannot be bound ("cannot listen on \"unix:///...\"").
 */
enum rkc_err kmsserver_new(const char *listen, const struct kmsserver_ops *ops,
                           struct kmsserver **ret, struct rkc_error *err);

/* Handles requests for about wait_ms milliseconds, then returns. */
void kmsserver_serve(struct kmsserver *s, unsigned wait_ms);

/* Number of calls answered so far (any outcome). */
uint64_t kmsserver_calls(const struct kmsserver *s);

/* Stops listening, cancels calls in flight, frees, and removes the socket file. NULL: no-op. */
void kmsserver_free(struct kmsserver *s);

#endif
