/* SPDX-License-Identifier: Apache-2.0 */
/*
 * kmsclient: the KMS plugin client (gRPC over a unix socket, gRPC's C core + protobuf-c) that
 * gives kube-apiserver-style KMS providers (crypto/transformer.h) a real plugin. One client
 * talks to one plugin endpoint with one API version:
 *   v1 (KMS v1beta1): /v1beta1.KeyManagementService/{Version,Encrypt,Decrypt}
 *   v2:               /v2.KeyManagementService/{Status,Encrypt,Decrypt}
 * Every call carries a deadline of the configured timeout. The connection is made lazily and
 * re-made after the plugin restarts (reconnect backoff capped at one second), so a client can
 * be opened while its plugin is down: calls then fail with gRPC's UNAVAILABLE text.
 *
 * The factory (kmsclient_factory_*) is what encconfig_build takes: it opens one client per
 * kms provider element and keeps a registry of the open ones, so rkc-apiserver can report
 * each provider's health (/readyz/kms-providers).
 *
 * Errors: RKC_EIO for transport failures and plugin errors ("kms plugin \"unix:///s.sock\":
 * Encrypt: rpc error: code = Unavailable desc = ..."), RKC_ETIMEOUT when the deadline passed,
 * RKC_ECRYPTO for malformed replies, RKC_EINVAL for a bad endpoint. No message carries
 * plaintext or key material.
 *
 * Thread-safety: a client's calls may run concurrently from any number of threads; the
 * factory's open/close/health may too.
 */
#ifndef RKC_ADAPTERS_KMSCLIENT_H
#define RKC_ADAPTERS_KMSCLIENT_H

#include <stdbool.h>
#include <stdint.h>

#include "crypto/encconfig.h"
#include "crypto/transformer.h"
#include "util/error.h"
#include "util/strbuf.h"

enum kmsclient_api { KMSCLIENT_V1, KMSCLIENT_V2 };

struct kmsclient;

/*
 * Opens a client for endpoint ("unix:///path/socket.sock" or "unix:///@abstract") speaking
 * api, with timeout_ms per call (> 0). No connection is attempted here.
 * Returns: new client in *ret (free with kmsclient_free). Errors: RKC_EINVAL for an endpoint
 * that is not a unix URL.
 */
enum rkc_err kmsclient_new(const char *endpoint, enum kmsclient_api api, int64_t timeout_ms,
                           struct kmsclient **ret, struct rkc_error *err);
void kmsclient_free(struct kmsclient *c);

/* Fills out with the struct kms_plugin vtable for c (c must outlive its users). */
void kmsclient_plugin(struct kmsclient *c, struct kms_plugin *out);

/*
 * The health check kube-apiserver runs: v2 calls Status and requires healthz "ok", version
 * "v2"/"v2beta1" and a key id (which goes into ret_key_id, may be NULL); v1 calls Version and
 * then Encrypt("ping") and Decrypt, which must give "ping" back. Errors as above.
 */
enum rkc_err kmsclient_health(struct kmsclient *c, struct strbuf *ret_key_id,
                              struct rkc_error *err);

/* v1 only: the Version call; ret_name/ret_version get runtime_name and runtime_version. */
enum rkc_err kmsclient_version(struct kmsclient *c, struct strbuf *ret_name,
                               struct strbuf *ret_version, struct rkc_error *err);

/* A factory for encconfig_build plus the registry of the clients it opened. */
struct kmsclient_factory;

/* Returns: new, empty factory (free with kmsclient_factory_free after every set built with
 * it is freed). */
struct kmsclient_factory *kmsclient_factory_new(void);
void kmsclient_factory_free(struct kmsclient_factory *f);

/* Returns: borrowed vtable for encconfig_build, valid while f lives. */
const struct kms_plugin_factory *kmsclient_factory_get(struct kmsclient_factory *f);

/*
 * Runs kmsclient_health on every open client and appends one line per provider name (the
 * most recently opened client of a name wins) to out, in /readyz?verbose form:
 *   "[+]kms-provider-0 ok (name \"NAME\", v2, key id \"ID\")\n" or
 *   "[-]kms-provider-1 failed: <reason>\n".
 * Returns the number of failing providers (0 when none is open).
 */
size_t kmsclient_factory_health(struct kmsclient_factory *f, struct strbuf *out);

/* Number of providers the factory has open (distinct names). */
size_t kmsclient_factory_count(struct kmsclient_factory *f);

#endif
