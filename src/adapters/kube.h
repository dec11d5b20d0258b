/* SPDX-License-Identifier: Apache-2.0 */
/*
 * kube: a small Kubernetes REST client over libcurl (with etcd.c, the only module that
 * includes <curl/curl.h>). It sends one request and hands back the HTTP status and body; it
 * knows nothing of kinds or resources. Credentials are a CA, a client certificate and key
 * (PEM text in memory or file paths) or a bearer token, as kubectl takes them from a
 * kubeconfig; kube_client_from_kubeconfig reads such a file (the one rkc writes, and the
 * usual shapes kubectl writes).
 *
 * Connections are kept alive: the client keeps a mutex-protected pool of curl handles (each
 * holding its connection), so any number of threads may call kube_request on one client at
 * once.
 *
 * Hygiene: the client key, client certificate and token are copied into the client and wiped
 * when it is freed; messages name the server and path, never credentials or bodies.
 *
 * Errors: RKC_EHTTP (transport or TLS failure, curl's message kept), RKC_ETIMEOUT (the
 * per-request timeout passed), RKC_ELIMIT (answer over the size cap), RKC_EINVAL (bad
 * arguments), RKC_ECONFIG (kubeconfig problems, with file:line:col when known), RKC_EIO and
 * RKC_ENOTFOUND (unreadable files). Any HTTP status, including 4xx and 5xx, is a successful
 * request.
 */
#ifndef RKC_ADAPTERS_KUBE_H
#define RKC_ADAPTERS_KUBE_H

#include <stdbool.h>
#include <stddef.h>

#include "util/error.h"
#include "util/strbuf.h"

/* Largest answer kube_request accepts (a list page of 500 big objects fits). */
#define KUBE_RESPONSE_MAX (256u << 20)

/*
 * Where the client finds its server and credentials. For each of the CA, certificate and
 * key, PEM text (*_pem, *_pem_len bytes) wins over a file path (*_file); both NULL: none
 * (the CA then comes from the system store). All fields are borrowed for the call and copied.
 */
struct kube_config {
    const char *server; /* https://host:port (a trailing '/' is dropped) */
    const char *ca_pem;
    size_t ca_pem_len;
    const char *ca_file;
    const char *cert_pem;
    size_t cert_pem_len;
    const char *cert_file;
    const char *key_pem;
    size_t key_pem_len;
    const char *key_file;
    const char *token;         /* bearer token, or NULL */
    bool insecure_skip_verify; /* kubeconfig insecure-skip-tls-verify */
    long timeout_ms;           /* per request; 0: 30 s (client-go's rest.Config in RKE) */
    long connect_timeout_ms;   /* 0: 5 s */
};

struct kube_client;

/*
 * Creates a client; nothing is connected yet.
 * Returns: new client in *ret (free with kube_client_free); RKC_EINVAL without a server or
 * with a server that is not an http(s) URL.
 */
enum rkc_err kube_client_new(const struct kube_config *cfg, struct kube_client **ret,
                             struct rkc_error *err);

/*
 * Reads a kubeconfig (YAML): the current-context's cluster (server, certificate-authority or
 * certificate-authority-data, insecure-skip-tls-verify) and user (client-certificate[-data],
 * client-key[-data], token or tokenFile). Relative file paths are relative to the kubeconfig's
 * directory, as kubectl reads them. timeout_ms as in struct kube_config.
 * Returns: new client in *ret; RKC_ENOTFOUND / RKC_EIO when a file cannot be read;
 * RKC_ECONFIG for a missing or malformed entry ("FILE:LINE:COL: ..." where the tree gives a
 * position); RKC_EINVAL for a server that is not an http(s) URL.
 */
enum rkc_err kube_client_from_kubeconfig(const char *path, long timeout_ms,
                                         struct kube_client **ret, struct rkc_error *err);

/*
 * Like kube_client_from_kubeconfig with the file's contents already read: path names the file
 * in messages and anchors relative paths. Nothing is read from disk but a tokenFile.
 */
enum rkc_err kube_client_from_kubeconfig_mem(const char *path, const char *buf, size_t len,
                                             long timeout_ms, struct kube_client **ret,
                                             struct rkc_error *err);

/* Closes the pooled connections and wipes the credentials. NULL: no-op. */
void kube_client_free(struct kube_client *c);

/* Returns: borrowed, the server URL (no trailing '/'). */
const char *kube_client_server(const struct kube_client *c);

/*
 * Sends METHOD server+path (path starts with '/', query included and already escaped) with
 * body[0..len) (may be NULL/0) of content_type (NULL: no Content-Type header) and
 * "Accept: application/json". On success *ret_status is the HTTP status and resp's contents
 * are replaced by the answer body (capped at KUBE_RESPONSE_MAX). Thread-safe.
 * Errors: see the top of this file; on failure *ret_status is 0 and resp is emptied.
 */
enum rkc_err kube_request(struct kube_client *c, const char *method, const char *path,
                          const char *content_type, const void *body, size_t len, long *ret_status,
                          struct strbuf *resp, struct rkc_error *err);

/*
 * Appends s percent-encoded for use as one path segment or query value (everything but
 * RFC 3986 unreserved characters is escaped).
 */
void kube_escape(const char *s, struct strbuf *out);

#endif
