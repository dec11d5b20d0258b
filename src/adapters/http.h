/* SPDX-License-Identifier: Apache-2.0 */
/*
 * http: an HTTPS server (libmicrohttpd with its GnuTLS backend). The only module that includes
 * <microhttpd.h> and <gnutls/...>. It owns connections, TLS, client certificate verification,
 * request body collection (with a size cap) and streaming responses; the caller supplies one
 * handler that sees a complete request and fills in a response.
 *
 * Threading: one thread per connection (so a streaming response may block), a connection limit
 * and an idle timeout so slow or idle clients cannot hold the server. The handler runs
 * concurrently on many threads and must be thread-safe.
 */
#ifndef RKC_ADAPTERS_HTTP_H
#define RKC_ADAPTERS_HTTP_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "util/error.h"
#include "util/strbuf.h"

#define HTTP_MAX_GROUPS 16

struct http_server;
struct http_request;

/* Identity from a client certificate that verified against the client CA. */
struct http_peer {
    bool verified;
    char user[256];                    /* subject CN */
    char groups[HTTP_MAX_GROUPS][256]; /* subject O values */
    size_t nr_groups;
};

/*
 * A streaming body: read() is called (from the connection's thread) for more bytes; it may
 * block. It returns the number of bytes written into buf (> 0), 0 at the end of the stream, or
 * -1 to abort the connection. free() is called once when the response is done or the client
 * went away.
 */
struct http_stream {
    ssize_t (*read)(void *ctx, char *buf, size_t max);
    void (*free)(void *ctx);
    void *ctx;
};

struct http_response {
    unsigned status;
    char content_type[128];
    struct strbuf body;
    char warning[1024];        /* sent as `Warning: 299 - "<text>"` when not empty */
    struct http_stream stream; /* used instead of body when stream.read is set */
};

/*
 * Called once per request with the complete body. Fills resp (status 0 means 500).
 * body_too_large: the body exceeded the cap; body is then empty and the handler should answer
 * 413.
 */
typedef void (*http_handler_fn)(void *ctx, struct http_request *req, struct http_response *resp);

struct http_config {
    const char *bind_address; /* NULL or "0.0.0.0": all IPv4 */
    unsigned port;
    const char *cert_pem;      /* server certificate chain (PEM text) */
    const char *key_pem;       /* server key (PEM text) */
    const char *client_ca_pem; /* NULL: no client certificates requested */
    size_t max_body;           /* request body cap */
    unsigned idle_timeout_s;   /* 0: 60 */
    unsigned max_connections;  /* 0: 1000 */
    http_handler_fn handler;
    void *handler_ctx;
};

/* Starts listening. Returns: new server (stop with http_server_stop). */
enum rkc_err http_server_start(const struct http_config *cfg, struct http_server **ret,
                               struct rkc_error *err);
/* Stops accepting, closes connections, frees. NULL-safe. */
void http_server_stop(struct http_server *srv);

/* Request accessors. Strings are borrowed for the duration of the handler call. */
const char *http_request_method(const struct http_request *req);
const char *http_request_path(const struct http_request *req);
/* A query argument (decoded), NULL if absent. */
const char *http_request_query(const struct http_request *req, const char *name);
/* True when the query has the argument, with or without a value ("?verbose"). */
bool http_request_has_query(const struct http_request *req, const char *name);
/* A header (case-insensitive), NULL if absent. */
const char *http_request_header(const struct http_request *req, const char *name);
const struct strbuf *http_request_body(const struct http_request *req);
bool http_request_body_too_large(const struct http_request *req);
const struct http_peer *http_request_peer(const struct http_request *req);

#endif
