/* SPDX-License-Identifier: Apache-2.0 */
/*
 * http: libmicrohttpd glue. MHD calls the access handler several times per request (headers,
 * then body pieces, then once more with no data); this module collects the body under a cap and
 * calls the caller's handler once, then turns its struct http_response into an MHD response.
 * Client certificates are verified here with GnuTLS against the trust list MHD was given.
 */
#include "adapters/http.h"

#include <arpa/inet.h>
#include <gnutls/gnutls.h>
#include <gnutls/x509.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/log.h"
#include "util/xalloc.h"

#include "util/banned.h"

struct http_server {
    struct MHD_Daemon *daemon;
    struct http_config cfg;
    char *cert_pem, *key_pem, *ca_pem;
};

struct http_request {
    struct MHD_Connection *conn;
    const char *method;
    const char *path;
    struct strbuf body;
    bool too_large;
    bool peer_done;
    struct http_peer peer;
};

const char *http_request_method(const struct http_request *req)
{
    return req->method;
}

const char *http_request_path(const struct http_request *req)
{
    return req->path;
}

const char *http_request_query(const struct http_request *req, const char *name)
{
    return MHD_lookup_connection_value(req->conn, MHD_GET_ARGUMENT_KIND, name);
}

bool http_request_has_query(const struct http_request *req, const char *name)
{
    const char *v = NULL;
    size_t vlen = 0;

    return MHD_lookup_connection_value_n(req->conn, MHD_GET_ARGUMENT_KIND, name, strlen(name), &v,
                                         &vlen) == MHD_YES;
}

const char *http_request_header(const struct http_request *req, const char *name)
{
    return MHD_lookup_connection_value(req->conn, MHD_HEADER_KIND, name);
}

const struct strbuf *http_request_body(const struct http_request *req)
{
    return &req->body;
}

bool http_request_body_too_large(const struct http_request *req)
{
    return req->too_large;
}

static void dn_get(gnutls_x509_crt_t crt, const char *oid, unsigned idx, char *buf, size_t cap,
                   bool *ok)
{
    size_t size = cap;

    *ok = gnutls_x509_crt_get_dn_by_oid(crt, oid, idx, 0, buf, &size) == GNUTLS_E_SUCCESS;
    if (!*ok)
        buf[0] = '\0';
}

/*
 * Per-connection memory: the verified client identity. A TLS connection's client certificate
 * cannot change, so the chain is verified once per connection, not once per request (that
 * was about a quarter of the server's CPU under load).
 */
struct conn_ctx {
    bool peer_done;
    struct http_peer peer;
};

static void on_connection(void *cls, struct MHD_Connection *connection, void **socket_context,
                          enum MHD_ConnectionNotificationCode toe)
{
    (void)cls;
    (void)connection;
    if (toe == MHD_CONNECTION_NOTIFY_STARTED) {
        *socket_context = xcalloc(1, sizeof(struct conn_ctx));
    } else if (toe == MHD_CONNECTION_NOTIFY_CLOSED) {
        free(*socket_context);
        *socket_context = NULL;
    }
}

static struct conn_ctx *conn_ctx_of(struct MHD_Connection *conn)
{
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(conn, MHD_CONNECTION_INFO_SOCKET_CONTEXT);

    return ci ? ci->socket_context : NULL;
}

static void peer_verify(struct http_request *req);

/* The identity of the peer, verified once per connection. */
static void peer_load(struct http_request *req)
{
    struct conn_ctx *cc = conn_ctx_of(req->conn);

    req->peer_done = true;
    if (cc && cc->peer_done) {
        req->peer = cc->peer;
        return;
    }
    peer_verify(req);
    if (cc) {
        cc->peer = req->peer;
        cc->peer_done = true;
    }
}

/* Verifies the peer certificate chain against the trust list and reads CN and O values. */
static void peer_verify(struct http_request *req)
{
    const union MHD_ConnectionInfo *ci;
    gnutls_session_t session;
    const gnutls_datum_t *certs;
    unsigned int status = 0, n = 0, i;
    gnutls_x509_crt_t crt;
    bool ok;

    ci = MHD_get_connection_info(req->conn, MHD_CONNECTION_INFO_GNUTLS_SESSION);
    if (!ci || !ci->tls_session)
        return;
    session = (gnutls_session_t)ci->tls_session;
    certs = gnutls_certificate_get_peers(session, &n);
    if (!certs || !n)
        return;
    if (gnutls_certificate_verify_peers2(session, &status) != GNUTLS_E_SUCCESS || status) {
        log_debug("client certificate rejected (gnutls status 0x%x)", status);
        return;
    }
    if (gnutls_x509_crt_init(&crt) != GNUTLS_E_SUCCESS)
        return;
    if (gnutls_x509_crt_import(crt, &certs[0], GNUTLS_X509_FMT_DER) == GNUTLS_E_SUCCESS) {
        dn_get(crt, GNUTLS_OID_X520_COMMON_NAME, 0, req->peer.user, sizeof(req->peer.user), &ok);
        if (ok && req->peer.user[0]) {
            req->peer.verified = true;
            for (i = 0; i < HTTP_MAX_GROUPS; i++) {
                dn_get(crt, GNUTLS_OID_X520_ORGANIZATION_NAME, i, req->peer.groups[i],
                       sizeof(req->peer.groups[i]), &ok);
                if (!ok)
                    break;
                req->peer.nr_groups++;
            }
        }
    }
    gnutls_x509_crt_deinit(crt);
}

const struct http_peer *http_request_peer(const struct http_request *req)
{
    /* Lazily computed; a request is only touched by its connection's thread. */
    union {
        const struct http_request *c;
        struct http_request *m;
    } u;

    u.c = req;
    if (!req->peer_done)
        peer_load(u.m);
    return &req->peer;
}

static ssize_t stream_read(void *cls, uint64_t pos, char *buf, size_t max)
{
    struct http_stream *st = cls;
    ssize_t n;

    (void)pos;
    n = st->read(st->ctx, buf, max);
    if (n == 0)
        return MHD_CONTENT_READER_END_OF_STREAM;
    if (n < 0)
        return MHD_CONTENT_READER_END_WITH_ERROR;
    return n;
}

static void stream_free(void *cls)
{
    struct http_stream *st = cls;

    if (st->free)
        st->free(st->ctx);
    free(st);
}

static enum MHD_Result send_response(struct MHD_Connection *conn, struct http_response *resp)
{
    struct MHD_Response *r;
    enum MHD_Result ret;

    if (resp->stream.read) {
        struct http_stream *st = xmemdup(&resp->stream, sizeof(resp->stream));

        r = MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, (size_t)16 * 1024, stream_read, st,
                                              stream_free);
        memset(&resp->stream, 0, sizeof(resp->stream));
    } else {
        r = MHD_create_response_from_buffer(resp->body.len, resp->body.buf, MHD_RESPMEM_MUST_COPY);
    }
    if (!r)
        return MHD_NO;
    if (resp->content_type[0])
        MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, resp->content_type);
    MHD_add_response_header(r, "Cache-Control", "no-cache, private");
    if (resp->warning[0]) {
        struct strbuf w = STRBUF_INIT;
        const char *p;

        /* RFC 7234 warn-text is a quoted-string */
        strbuf_addstr(&w, "299 - \"");
        for (p = resp->warning; *p; p++) {
            if (*p == '"' || *p == '\\')
                strbuf_addch(&w, '\\');
            strbuf_addch(&w, (unsigned char)*p < 0x20 ? ' ' : *p);
        }
        strbuf_addch(&w, '"');
        MHD_add_response_header(r, "Warning", w.buf);
        strbuf_release(&w);
    }
    ret = MHD_queue_response(conn, resp->status ? resp->status : 500, r);
    MHD_destroy_response(r);
    return ret;
}

static void response_release(struct http_response *resp)
{
    strbuf_release(&resp->body);
    if (resp->stream.read && resp->stream.free)
        resp->stream.free(resp->stream.ctx);
}

static enum MHD_Result dispatch(struct http_server *srv, struct http_request *req)
{
    struct http_response resp;
    enum MHD_Result ret;

    memset(&resp, 0, sizeof(resp));
    strbuf_init(&resp.body, 0);
    srv->cfg.handler(srv->cfg.handler_ctx, req, &resp);
    ret = send_response(req->conn, &resp);
    response_release(&resp);
    return ret;
}

static enum MHD_Result on_access(void *cls, struct MHD_Connection *conn, const char *url,
                                 const char *method, const char *version, const char *upload_data,
                                 size_t *upload_data_size, void **con_cls)
{
    struct http_server *srv = cls;
    struct http_request *req = *con_cls;

    (void)version;
    if (!req) {
        const char *cl;

        req = xcalloc(1, sizeof(*req));
        req->conn = conn;
        req->method = method;
        req->path = url;
        strbuf_init(&req->body, 0);
        req->body.max = srv->cfg.max_body;
        *con_cls = req;
        cl = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_LENGTH);
        if (cl && srv->cfg.max_body && strtoull(cl, NULL, 10) > srv->cfg.max_body) {
            /* answer now; MHD closes the connection instead of reading the body */
            req->too_large = true;
            return dispatch(srv, req);
        }
        return MHD_YES;
    }
    if (*upload_data_size) {
        if (!req->too_large &&
            strbuf_add_checked(&req->body, upload_data, *upload_data_size, NULL)) {
            req->too_large = true;
            strbuf_release(&req->body);
        }
        *upload_data_size = 0;
        return MHD_YES;
    }
    return dispatch(srv, req);
}

static void on_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
                         enum MHD_RequestTerminationCode toe)
{
    struct http_request *req = *con_cls;

    (void)cls;
    (void)conn;
    (void)toe;
    if (!req)
        return;
    strbuf_release_wipe(&req->body);
    rkc_wipe(&req->peer, sizeof(req->peer));
    free(req);
    *con_cls = NULL;
}

static void on_log(void *cls, const char *fmt, va_list ap) __attribute__((format(printf, 2, 0)));

static void on_log(void *cls, const char *fmt, va_list ap)
{
    char buf[1024];

    (void)cls;
    vsnprintf(buf, sizeof(buf), fmt, ap);
    buf[strcspn(buf, "\n")] = '\0';
    log_debug("http: %s", buf);
}

enum rkc_err http_server_start(const struct http_config *cfg, struct http_server **ret,
                               struct rkc_error *err)
{
    struct http_server *srv = xcalloc(1, sizeof(*srv));
    struct sockaddr_in6 sa6;
    struct sockaddr_in sa4;
    const struct sockaddr *sa = NULL;
    unsigned int flags = MHD_USE_THREAD_PER_CONNECTION | MHD_USE_INTERNAL_POLLING_THREAD |
                         MHD_USE_TLS | MHD_USE_ERROR_LOG | MHD_USE_POLL;
    const char *bind = cfg->bind_address;

    srv->cfg = *cfg;
    srv->cert_pem = xstrdup(cfg->cert_pem);
    srv->key_pem = xstrdup(cfg->key_pem);
    srv->ca_pem = cfg->client_ca_pem ? xstrdup(cfg->client_ca_pem) : NULL;
    memset(&sa4, 0, sizeof(sa4));
    memset(&sa6, 0, sizeof(sa6));
    if (!bind || !*bind)
        bind = "0.0.0.0";
    if (inet_pton(AF_INET, bind, &sa4.sin_addr) == 1) {
        sa4.sin_family = AF_INET;
        sa4.sin_port = htons((uint16_t)cfg->port);
        sa = (const struct sockaddr *)&sa4;
    } else if (inet_pton(AF_INET6, bind, &sa6.sin6_addr) == 1) {
        sa6.sin6_family = AF_INET6;
        sa6.sin6_port = htons((uint16_t)cfg->port);
        sa = (const struct sockaddr *)&sa6;
        flags |= MHD_USE_IPv6;
    } else {
        http_server_stop(srv);
        return rkc_error_set(err, RKC_EINVAL, "invalid bind address '%s'", bind);
    }
    {
        struct MHD_OptionItem opts[12];
        size_t n = 0;

#define OPT(o, v, p) opts[n++] = (struct MHD_OptionItem){ (o), (intptr_t)(v), (p) }
        OPT(MHD_OPTION_SOCK_ADDR, 0, (void *)(uintptr_t)sa);
        OPT(MHD_OPTION_HTTPS_MEM_CERT, 0, srv->cert_pem);
        OPT(MHD_OPTION_HTTPS_MEM_KEY, 0, srv->key_pem);
        if (srv->ca_pem)
            OPT(MHD_OPTION_HTTPS_MEM_TRUST, 0, srv->ca_pem);
        OPT(MHD_OPTION_CONNECTION_TIMEOUT, cfg->idle_timeout_s ? cfg->idle_timeout_s : 60, NULL);
        OPT(MHD_OPTION_CONNECTION_LIMIT, cfg->max_connections ? cfg->max_connections : 1000, NULL);
        OPT(MHD_OPTION_END, 0, NULL);
#undef OPT
        srv->daemon =
            MHD_start_daemon(flags, (uint16_t)cfg->port, NULL, NULL, on_access, srv,
                             MHD_OPTION_EXTERNAL_LOGGER, on_log, srv, MHD_OPTION_NOTIFY_COMPLETED,
                             on_completed, srv, MHD_OPTION_NOTIFY_CONNECTION, on_connection, srv,
                             MHD_OPTION_ARRAY, opts, MHD_OPTION_END);
    }
    if (!srv->daemon) {
        http_server_stop(srv);
        return rkc_error_set(err, RKC_EHTTP,
                             "cannot start the HTTPS server on '%s' port %u (address in use, or "
                             "an unusable certificate or key)",
                             bind, cfg->port);
    }
    *ret = srv;
    return RKC_OK;
}

void http_server_stop(struct http_server *srv)
{
    if (!srv)
        return;
    if (srv->daemon)
        MHD_stop_daemon(srv->daemon);
    free(srv->cert_pem);
    if (srv->key_pem) {
        rkc_wipe(srv->key_pem, strlen(srv->key_pem));
        free(srv->key_pem);
    }
    free(srv->ca_pem);
    free(srv);
}
