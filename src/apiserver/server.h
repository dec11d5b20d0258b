/* SPDX-License-Identifier: Apache-2.0 */
/*
 * server: rkc-apiserver's request pipeline. apiserver_new wires the etcd client, the store,
 * the token authenticator and the encryption configuration; apiserver_start creates the default
 * namespaces and starts the HTTPS listener. Each request is authenticated (client certificate
 * or bearer token), authorized (group system:masters may do everything; RBAC is out of scope),
 * routed, counted in /metrics, and answered in JSON.
 *
 * The handler files share the declarations below (struct apiserver and struct req_ctx are
 * internal to rkc-apiserver).
 *
 * Thread-safety: after apiserver_start, requests run concurrently on connection threads; the
 * shared state is read-only except the metrics (mutex) and the transform set (swapped under
 * the store's lock).
 */
#ifndef RKC_APISERVER_SERVER_H
#define RKC_APISERVER_SERVER_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "adapters/etcd.h"
#include "adapters/http.h"
#include "adapters/jval.h"
#include "apiserver/store.h"
#include "util/error.h"
#include "util/strbuf.h"

#define APISERVER_MAX_BODY  ((size_t)3 * 1024 * 1024) /* 3 MiB, as kube-apiserver */
#define APISERVER_MAX_VALUE ((size_t)1024 * 1024)     /* Secret/ConfigMap data limit */

struct apiserver_options {
    const char *etcd_servers;
    const char *etcd_prefix;
    const char *etcd_cafile, *etcd_certfile, *etcd_keyfile;
    const char *bind_address;
    unsigned secure_port;
    const char *tls_cert_file, *tls_private_key_file;
    const char *client_ca_file;
    const char *token_auth_file;
    const char *encryption_provider_config;
    bool encryption_provider_config_automatic_reload;
    unsigned kms_status_interval_ms; /* KMS v2 Status polling; 0: 60 s */
};

struct token;
struct metrics;
struct enc_state;

struct apiserver {
    struct apiserver_options opt;
    struct etcd_client *etcd;
    struct store *store;
    struct http_server *http;
    struct token *tokens;
    size_t nr_tokens;
    struct metrics *metrics;
    struct enc_state *enc; /* NULL without --encryption-provider-config */
    struct jval *openapi;  /* the /openapi/v3/api/v1 document */
    char openapi_hash[32];
    atomic_bool stopping;
};

/* The kinds served. */
enum kres {
    KRES_NAMESPACES,
    KRES_SECRETS,
    KRES_CONFIGMAPS,
};

struct kres_info {
    const char *resource; /* "secrets" */
    const char *kind;     /* "Secret" */
    const char *list_kind;
    bool namespaced;
};

extern const struct kres_info kres_table[3];

/* What one request is about, filled by routing. */
struct req_ctx {
    struct apiserver *srv;
    struct http_request *http;
    struct http_response *resp;
    const char *verb; /* kube verb: get list watch create update patch delete */
    const struct kres_info *res;
    enum kres kres;
    char *ns;   /* NULL for cluster-scoped or all-namespaces */
    char *name; /* NULL for collections */
    char user[256];
};

/* Lifecycle. */
enum rkc_err apiserver_new(const struct apiserver_options *opt, struct apiserver **ret,
                           struct rkc_error *err);
enum rkc_err apiserver_start(struct apiserver *srv, struct rkc_error *err);
void apiserver_free(struct apiserver *srv);

/* ---- responses (server.c) ---- */

/* Sets resp to JSON v (not taken). */
void resp_json(struct http_response *resp, unsigned status, const struct jval *v);
/* Sets a Status failure body. details (taken, may be NULL). */
void resp_status(struct http_response *resp, unsigned code, const char *reason, const char *message,
                 struct jval *details);
/* A details object {name, kind} (name may be NULL). Returns: new. */
struct jval *status_details(const char *name, const char *kind);
/* 500 InternalError with the message. */
void resp_internal(struct http_response *resp, const struct rkc_error *err);

/* ---- handlers ---- */

/* h_objects.c: namespaces, secrets, configmaps. */
void h_objects(struct req_ctx *rc);
/* watch.c: ?watch=1 on a collection. */
void h_watch(struct req_ctx *rc);
/* openapi.c */
struct jval *openapi_build(void);
void h_openapi_root(struct apiserver *srv, struct http_response *resp);
void h_openapi_v1(struct apiserver *srv, struct http_response *resp);
void h_openapi_v2(const char *accept, struct http_response *resp);
/*
 * Strict field validation of obj against the schema of kind. Appends "unknown field \"x.y\""
 * messages (comma separated) to out. Returns the number of problems.
 */
size_t openapi_unknown_fields(const struct jval *openapi, const char *kind, const struct jval *obj,
                              struct strbuf *out);

/* table.c: the Table form of lists and watch events for `kubectl get`. */
bool table_wanted(const char *accept);
/* Returns: new, an empty Table with the resource's columns. */
struct jval *table_new(enum kres kres);
void table_add_row(struct jval *table, enum kres kres, const struct jval *obj);

/* metrics.c */
struct metrics *metrics_new(void);
void metrics_free(struct metrics *m);
void metrics_request(struct metrics *m, const char *verb, const char *resource, unsigned code,
                     double seconds);
void metrics_xf(void *m, const char *op, const char *provider, bool ok);
void metrics_reload(struct metrics *m, bool ok, const char *hash);
void metrics_set_config_hash(struct metrics *m, const char *hash);
void metrics_render(struct metrics *m, struct strbuf *out);

#endif
