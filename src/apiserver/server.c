/* SPDX-License-Identifier: Apache-2.0 */
/*
 * server: lifecycle, authentication, authorization, routing, Status bodies, discovery and
 * health endpoints of rkc-apiserver.
 */
#include "apiserver/server.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "apiserver/encryption.h"
#include "apiserver/kobj.h"
#include "util/log.h"
#include "util/xalloc.h"

#include "util/banned.h"

const struct kres_info kres_table[3] = {
    [KRES_NAMESPACES] = { "namespaces", "Namespace", "NamespaceList", false },
    [KRES_SECRETS] = { "secrets", "Secret", "SecretList", true },
    [KRES_CONFIGMAPS] = { "configmaps", "ConfigMap", "ConfigMapList", true },
};

struct token {
    char *token;
    char *user;
    char **groups;
    size_t nr_groups;
};

/* ---- responses ---- */

void resp_json(struct http_response *resp, unsigned status, const struct jval *v)
{
    resp->status = status;
    snprintf(resp->content_type, sizeof(resp->content_type), "application/json");
    strbuf_reset(&resp->body);
    jval_dump(v, JVAL_COMPACT, &resp->body);
    strbuf_addch(&resp->body, '\n');
}

struct jval *status_details(const char *name, const char *kind)
{
    struct jval *d = jval_object();

    if (name)
        jval_set_str(d, "name", name);
    if (kind)
        jval_set_str(d, "kind", kind);
    return d;
}

void resp_status(struct http_response *resp, unsigned code, const char *reason, const char *message,
                 struct jval *details)
{
    struct jval *s = jval_object();

    jval_set_str(s, "kind", "Status");
    jval_set_str(s, "apiVersion", "v1");
    jval_set_take(s, "metadata", jval_object());
    jval_set_str(s, "status", "Failure");
    jval_set_str(s, "message", message);
    jval_set_str(s, "reason", reason);
    if (details)
        jval_set_take(s, "details", details);
    jval_set_int(s, "code", code);
    resp_json(resp, code, s);
    jval_decref(s);
}

void resp_internal(struct http_response *resp, const struct rkc_error *err)
{
    char *msg = xasprintf("Internal error occurred: %s", err->msg);

    log_error("%s", err->msg);
    resp_status(resp, 500, "InternalError", msg, NULL);
    free(msg);
}

/* ---- tokens ---- */

/* Splits one CSV line into fields (quotes allowed). Returns the number of fields. */
static size_t csv_fields(const char *line, char **out, size_t max)
{
    size_t n = 0;
    const char *p = line;

    while (n < max) {
        struct strbuf f = STRBUF_INIT;

        while (*p == ' ')
            p++;
        if (*p == '"') {
            p++;
            while (*p && !(*p == '"' && p[1] != '"')) {
                if (*p == '"')
                    p++;
                strbuf_addch(&f, *p++);
            }
            if (*p == '"')
                p++;
        } else {
            while (*p && *p != ',')
                strbuf_addch(&f, *p++);
        }
        out[n++] = strbuf_detach(&f, NULL);
        if (*p != ',')
            break;
        p++;
    }
    return n;
}

static enum rkc_err tokens_load(struct apiserver *srv, const char *path, struct rkc_error *err)
{
    struct strbuf sb = STRBUF_INIT;
    size_t alloc = 0, lineno = 0;
    char *save = NULL, *line;
    enum rkc_err rc = strbuf_read_file(&sb, path, err);

    if (rc)
        return rkc_error_prefix(err, "--token-auth-file: "), rc;
    for (line = strtok_r(sb.buf, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
        char *f[4] = { NULL, NULL, NULL, NULL };
        size_t n, i;
        struct token *t;

        lineno++;
        line[strcspn(line, "\r")] = '\0';
        if (!*line || *line == '#')
            continue;
        n = csv_fields(line, f, 4);
        if (n < 3 || !*f[0] || !*f[1]) {
            for (i = 0; i < n; i++)
                free(f[i]);
            rc = rkc_error_set(err, RKC_ECONFIG,
                               "%s:%zu: token file lines need token,user,uid[,\"groups\"]", path,
                               lineno);
            break;
        }
        ALLOC_GROW(srv->tokens, srv->nr_tokens + 1, alloc);
        t = &srv->tokens[srv->nr_tokens++];
        memset(t, 0, sizeof(*t));
        t->token = f[0];
        t->user = f[1];
        free(f[2]);
        if (n == 4) {
            char *gs = NULL, *g;
            size_t galloc = 0;

            for (g = strtok_r(f[3], ",", &gs); g; g = strtok_r(NULL, ",", &gs)) {
                ALLOC_GROW(t->groups, t->nr_groups + 1, galloc);
                t->groups[t->nr_groups++] = xstrdup(g);
            }
            free(f[3]);
        }
    }
    strbuf_release_wipe(&sb);
    return rc;
}

static bool ct_equal(const char *a, const char *b)
{
    size_t la = strlen(a), lb = strlen(b), i;
    unsigned char d = (unsigned char)(la != lb);

    for (i = 0; i < la && i < lb; i++)
        d |= (unsigned char)(a[i] ^ b[i]);
    return d == 0;
}

/* ---- authentication and authorization ---- */

enum auth_result {
    AUTH_ANONYMOUS,
    AUTH_OK,
    AUTH_BAD, /* credentials presented but invalid */
};

static enum auth_result authenticate(struct apiserver *srv, struct http_request *req, char *user,
                                     size_t user_size, bool *ret_master)
{
    const char *authz = http_request_header(req, "Authorization");
    const struct http_peer *peer;
    size_t i, j;

    *ret_master = false;
    if (authz && !strncasecmp(authz, "Bearer ", 7)) {
        const char *tok = authz + 7;

        while (*tok == ' ')
            tok++;
        for (i = 0; i < srv->nr_tokens; i++) {
            if (!ct_equal(srv->tokens[i].token, tok))
                continue;
            snprintf(user, user_size, "%s", srv->tokens[i].user);
            for (j = 0; j < srv->tokens[i].nr_groups; j++)
                if (!strcmp(srv->tokens[i].groups[j], "system:masters"))
                    *ret_master = true;
            return AUTH_OK;
        }
        return AUTH_BAD;
    }
    peer = http_request_peer(req);
    if (peer->verified) {
        snprintf(user, user_size, "%s", peer->user);
        for (i = 0; i < peer->nr_groups; i++)
            if (!strcmp(peer->groups[i], "system:masters"))
                *ret_master = true;
        return AUTH_OK;
    }
    return AUTH_ANONYMOUS;
}

static bool public_path(const char *path)
{
    static const char *const pub[] = { "/healthz", "/livez", "/readyz", "/version" };
    size_t i;

    for (i = 0; i < sizeof(pub) / sizeof(pub[0]); i++) {
        size_t n = strlen(pub[i]);

        if (!strncmp(path, pub[i], n) && (path[n] == '\0' || path[n] == '/'))
            return true;
    }
    return false;
}

/* ---- discovery and health ---- */

static void h_version(struct http_response *resp)
{
    struct jval *v = jval_object();

    jval_set_str(v, "major", "1");
    jval_set_str(v, "minor", "32");
    jval_set_str(v, "gitVersion", "v1.32.0-rkc." RKC_VERSION);
    jval_set_str(v, "gitCommit", "");
    jval_set_str(v, "gitTreeState", "clean");
    jval_set_str(v, "buildDate", "1970-01-01T00:00:00Z");
    jval_set_str(v, "goVersion", "none (C11)");
    jval_set_str(v, "compiler", "rkc");
    jval_set_str(v, "platform", "linux/amd64");
    resp_json(resp, 200, v);
    jval_decref(v);
}

static void h_api(struct apiserver *srv, struct http_response *resp)
{
    struct jval *v = jval_object(), *vers = jval_array(), *cidrs = jval_array(), *c = jval_object();
    char addr[300];

    jval_set_str(v, "kind", "APIVersions");
    jval_array_append_take(vers, jval_string("v1"));
    jval_set_take(v, "versions", vers);
    jval_set_str(c, "clientCIDR", "0.0.0.0/0");
    snprintf(addr, sizeof(addr), "%s:%u",
             srv->opt.bind_address && *srv->opt.bind_address ? srv->opt.bind_address : "127.0.0.1",
             srv->opt.secure_port);
    jval_set_str(c, "serverAddress", addr);
    jval_array_append_take(cidrs, c);
    jval_set_take(v, "serverAddressByClientCIDRs", cidrs);
    resp_json(resp, 200, v);
    jval_decref(v);
}

static void h_apis(struct http_response *resp)
{
    struct jval *v = jval_object();

    jval_set_str(v, "kind", "APIGroupList");
    jval_set_str(v, "apiVersion", "v1");
    jval_set_take(v, "groups", jval_array());
    resp_json(resp, 200, v);
    jval_decref(v);
}

static struct jval *api_resource(const char *name, bool namespaced, const char *kind,
                                 const char *shortname, const char *const *verbs)
{
    struct jval *r = jval_object(), *vs = jval_array();

    jval_set_str(r, "name", name);
    jval_set_str(r, "singularName", "");
    jval_set_bool(r, "namespaced", namespaced);
    jval_set_str(r, "kind", kind);
    for (; *verbs; verbs++)
        jval_array_append_take(vs, jval_string(*verbs));
    jval_set_take(r, "verbs", vs);
    if (shortname) {
        struct jval *sn = jval_array();

        jval_array_append_take(sn, jval_string(shortname));
        jval_set_take(r, "shortNames", sn);
    }
    return r;
}

static void h_api_v1(struct http_response *resp)
{
    static const char *const verbs[] = { "create", "delete", "get",   "list",
                                         "patch",  "update", "watch", NULL };
    struct jval *v = jval_object(), *rs = jval_array();

    jval_set_str(v, "kind", "APIResourceList");
    jval_set_str(v, "groupVersion", "v1");
    jval_array_append_take(rs, api_resource("configmaps", true, "ConfigMap", "cm", verbs));
    jval_array_append_take(rs, api_resource("namespaces", false, "Namespace", "ns", verbs));
    jval_array_append_take(rs, api_resource("secrets", true, "Secret", NULL, verbs));
    jval_set_take(v, "resources", rs);
    resp_json(resp, 200, v);
    jval_decref(v);
}

/*
 * /healthz, /livez, /readyz (and /healthz/kms-providers, /readyz/kms-providers): etcd, the
 * encryption config, and every KMS provider's plugin (v2: Status; v1: Version + an
 * Encrypt/Decrypt round trip), one "kms-provider-<i>" line each in ?verbose.
 */
static void h_health(struct apiserver *srv, struct http_request *req, const char *path,
                     struct http_response *resp)
{
    struct strbuf out = STRBUF_INIT, kms = STRBUF_INIT;
    struct rkc_error err;
    bool verbose = http_request_has_query(req, "verbose");
    bool kms_only = strstr(path, "/kms-providers") != NULL;
    bool etcd_ok = true, enc_ok = true, kms_ok;
    size_t nkms = 0;
    const char *what = path + 1;

    rkc_error_init(&err);
    if (!kms_only)
        etcd_ok = etcd_health(srv->etcd, &err) == RKC_OK;
    if (srv->enc)
        enc_ok = encryption_loaded(srv->enc);
    /* liveness does not depend on the plugins, as in kube-apiserver */
    kms_ok = !strcmp(path, "/livez") || encryption_kms_health(srv->enc, &kms, &nkms) == 0;
    if (kms_only) {
        if (!nkms)
            strbuf_addstr(&out, "no kms providers configured\n");
        else if (verbose || !kms_ok)
            strbuf_add(&out, kms.buf, kms.len);
        else
            strbuf_addstr(&out, "ok");
        if (verbose)
            strbuf_addf(&out, "%s check %s\n", what, kms_ok ? "passed" : "failed");
    } else if (verbose) {
        strbuf_addstr(&out, "[+]ping ok\n[+]log ok\n");
        strbuf_addf(&out, "[%c]etcd %s\n", etcd_ok ? '+' : '-',
                    etcd_ok ? "ok" : "failed: reason withheld");
        if (srv->enc)
            strbuf_addf(&out, "[%c]encryption-config %s\n", enc_ok ? '+' : '-',
                        enc_ok ? "ok" : "failed: reason withheld");
        strbuf_add(&out, kms.buf, kms.len);
        strbuf_addf(&out, "[+]poststarthook/start-apiserver ok\n");
        if (etcd_ok && enc_ok && kms_ok)
            strbuf_addf(&out, "%s check passed\n", what);
        else
            strbuf_addf(&out, "%s check failed\n", what);
    } else if (etcd_ok && enc_ok && kms_ok) {
        strbuf_addstr(&out, "ok");
    } else {
        if (!etcd_ok)
            strbuf_addstr(&out, "[-]etcd failed: reason withheld\n");
        if (!enc_ok)
            strbuf_addstr(&out, "[-]encryption-config failed: reason withheld\n");
        if (!kms_ok)
            strbuf_add(&out, kms.buf, kms.len);
        strbuf_addf(&out, "%s check failed\n", what);
    }
    if (!etcd_ok)
        log_warn("%s: %s", what, err.msg);
    if (!kms_ok)
        log_warn("%s: a kms provider failed its health check", what);
    resp->status = etcd_ok && enc_ok && kms_ok ? 200 : 500;
    snprintf(resp->content_type, sizeof(resp->content_type), "text/plain; charset=utf-8");
    strbuf_reset(&resp->body);
    strbuf_add(&resp->body, out.buf, out.len);
    strbuf_release(&out);
    strbuf_release(&kms);
}

/* ---- routing ---- */

static const char *method_verb(const char *method, bool collection, bool watch)
{
    if (!strcmp(method, "GET"))
        return collection ? (watch ? "watch" : "list") : "get";
    if (!strcmp(method, "POST"))
        return collection ? "create" : NULL;
    if (!strcmp(method, "PUT"))
        return collection ? NULL : "update";
    if (!strcmp(method, "PATCH"))
        return collection ? NULL : "patch";
    if (!strcmp(method, "DELETE"))
        return collection ? NULL : "delete";
    return NULL;
}

static bool is_true(const char *s)
{
    return s && (!strcmp(s, "1") || !strcmp(s, "true"));
}

static int kres_lookup(const char *s)
{
    if (!strcmp(s, "namespaces"))
        return KRES_NAMESPACES;
    if (!strcmp(s, "secrets"))
        return KRES_SECRETS;
    if (!strcmp(s, "configmaps"))
        return KRES_CONFIGMAPS;
    return -1;
}

/*
 * Parses /api/v1/... into rc. Returns false when the path names nothing served (404).
 * Forms: namespaces[/N], namespaces/NS/R[/N], R (all namespaces).
 */
static bool parse_resource_path(const char *path, struct req_ctx *rc)
{
    char *parts[6];
    size_t n = 0, i;
    char *copy = xstrdup(path + strlen("/api/v1/")), *save = NULL, *p;
    bool ok = false;
    int k;

    for (p = strtok_r(copy, "/", &save); p && n < 6; p = strtok_r(NULL, "/", &save))
        parts[n++] = p;
    if (p || n == 0)
        goto out;
    if (n == 1 || (n == 2 && !strcmp(parts[0], "namespaces"))) {
        k = kres_lookup(parts[0]);
        if (k < 0)
            goto out;
        rc->kres = (enum kres)k;
        if (n == 2)
            rc->name = xstrdup(parts[1]);
        ok = true;
    } else if ((n == 3 || n == 4) && !strcmp(parts[0], "namespaces")) {
        k = kres_lookup(parts[2]);
        if (k <= KRES_NAMESPACES)
            goto out;
        rc->kres = (enum kres)k;
        rc->ns = xstrdup(parts[1]);
        if (n == 4)
            rc->name = xstrdup(parts[3]);
        ok = true;
    }
    for (i = 0; ok && i < n; i++)
        if (!*parts[i])
            ok = false;
out:
    free(copy);
    if (ok)
        rc->res = &kres_table[rc->kres];
    return ok;
}

static void forbidden(struct req_ctx *rc, const char *path)
{
    char *msg;

    if (rc->res) {
        struct strbuf sb = STRBUF_INIT;

        strbuf_addstr(&sb, rc->res->resource);
        if (rc->name)
            strbuf_addf(&sb, " \"%s\"", rc->name);
        strbuf_addf(&sb, " is forbidden: User \"%s\" cannot %s resource \"%s\" in API group \"\"",
                    rc->user, rc->verb, rc->res->resource);
        if (rc->ns)
            strbuf_addf(&sb, " in the namespace \"%s\"", rc->ns);
        else
            strbuf_addstr(&sb, " at the cluster scope");
        msg = strbuf_detach(&sb, NULL);
        resp_status(rc->resp, 403, "Forbidden", msg, status_details(rc->name, rc->res->resource));
    } else {
        msg = xasprintf("forbidden: User \"%s\" cannot get path \"%s\"", rc->user, path);
        resp_status(rc->resp, 403, "Forbidden", msg, jval_object());
    }
    free(msg);
}

static double now_seconds(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void handle(void *ctx, struct http_request *req, struct http_response *resp)
{
    struct apiserver *srv = ctx;
    const char *path = http_request_path(req), *method = http_request_method(req);
    struct req_ctx rc;
    bool master = false, is_resource;
    enum auth_result auth;
    double t0 = now_seconds();

    memset(&rc, 0, sizeof(rc));
    rc.srv = srv;
    rc.http = req;
    rc.resp = resp;
    is_resource = !strncmp(path, "/api/v1/", 8) && parse_resource_path(path, &rc);
    if (is_resource)
        rc.verb = method_verb(method, rc.name == NULL, is_true(http_request_query(req, "watch")));
    auth = authenticate(srv, req, rc.user, sizeof(rc.user), &master);

    if (http_request_body_too_large(req)) {
        char *msg = xasprintf("Request entity too large: limit is %zu", APISERVER_MAX_BODY);

        resp_status(resp, 413, "RequestEntityTooLarge", msg, NULL);
        free(msg);
    } else if (auth == AUTH_BAD || (auth == AUTH_ANONYMOUS && !public_path(path))) {
        resp_status(resp, 401, "Unauthorized", "Unauthorized", NULL);
    } else if (!public_path(path) && !master) {
        if (is_resource && !rc.verb)
            rc.verb = "get";
        forbidden(&rc, path);
    } else if (is_resource) {
        if (!rc.verb) {
            char *msg = xasprintf("the server does not allow this method on the requested "
                                  "resource");

            resp_status(resp, 405, "MethodNotAllowed", msg, status_details(NULL, NULL));
            free(msg);
        } else if (!strcmp(rc.verb, "watch")) {
            h_watch(&rc);
        } else {
            h_objects(&rc);
        }
    } else if (!strcmp(method, "GET") || !strcmp(method, "HEAD")) {
        if (!strcmp(path, "/version") || !strcmp(path, "/version/"))
            h_version(resp);
        else if (!strcmp(path, "/api") || !strcmp(path, "/api/"))
            h_api(srv, resp);
        else if (!strcmp(path, "/apis") || !strcmp(path, "/apis/"))
            h_apis(resp);
        else if (!strcmp(path, "/api/v1") || !strcmp(path, "/api/v1/"))
            h_api_v1(resp);
        else if (!strcmp(path, "/healthz") || !strcmp(path, "/livez") || !strcmp(path, "/readyz") ||
                 !strcmp(path, "/healthz/kms-providers") || !strcmp(path, "/readyz/kms-providers"))
            h_health(srv, req, path, resp);
        else if (!strcmp(path, "/openapi/v3") || !strcmp(path, "/openapi/v3/"))
            h_openapi_root(srv, resp);
        else if (!strcmp(path, "/openapi/v3/api/v1"))
            h_openapi_v1(srv, resp);
        else if (!strcmp(path, "/openapi/v2"))
            h_openapi_v2(http_request_header(req, "Accept"), resp);
        else if (!strcmp(path, "/metrics")) {
            resp->status = 200;
            snprintf(resp->content_type, sizeof(resp->content_type),
                     "text/plain; version=0.0.4; charset=utf-8");
            metrics_render(srv->metrics, &resp->body);
        } else
            resp_status(resp, 404, "NotFound", "the server could not find the requested resource",
                        status_details(NULL, NULL));
    } else {
        resp_status(resp, 404, "NotFound", "the server could not find the requested resource",
                    status_details(NULL, NULL));
    }
    metrics_request(srv->metrics, rc.verb ? rc.verb : method, is_resource ? rc.res->resource : "",
                    resp->status, now_seconds() - t0);
    log_debug("%s %s %u user=%s", method, path, resp->status, rc.user[0] ? rc.user : "-");
    free(rc.ns);
    free(rc.name);
}

/* ---- lifecycle ---- */

enum rkc_err apiserver_new(const struct apiserver_options *opt, struct apiserver **ret,
                           struct rkc_error *err)
{
    struct apiserver *srv = xcalloc(1, sizeof(*srv));
    struct etcd_config ec;
    enum rkc_err rc;

    srv->opt = *opt;
    if (!srv->opt.etcd_prefix || !*srv->opt.etcd_prefix)
        srv->opt.etcd_prefix = "/registry";
    memset(&ec, 0, sizeof(ec));
    ec.servers = opt->etcd_servers;
    ec.cafile = opt->etcd_cafile;
    ec.certfile = opt->etcd_certfile;
    ec.keyfile = opt->etcd_keyfile;
    rc = etcd_client_new(&ec, &srv->etcd, err);
    if (rc)
        goto fail;
    srv->store = store_new(srv->etcd, srv->opt.etcd_prefix);
    srv->metrics = metrics_new();
    store_set_metric_hook(srv->store, metrics_xf, srv->metrics);
    if (opt->token_auth_file && (rc = tokens_load(srv, opt->token_auth_file, err)))
        goto fail;
    if (opt->encryption_provider_config) {
        rc = encryption_new(opt->encryption_provider_config,
                            opt->encryption_provider_config_automatic_reload,
                            opt->kms_status_interval_ms, srv->store, srv->metrics, &srv->enc, err);
        if (rc)
            goto fail;
    }
    srv->openapi = openapi_build();
    {
        struct strbuf doc = STRBUF_INIT;
        uint64_t h = 1469598103934665603ULL;
        size_t i;

        jval_dump(srv->openapi, JVAL_COMPACT, &doc);
        for (i = 0; i < doc.len; i++)
            h = (h ^ (unsigned char)doc.buf[i]) * 1099511628211ULL;
        snprintf(srv->openapi_hash, sizeof(srv->openapi_hash), "%016llX", (unsigned long long)h);
        strbuf_release(&doc);
    }
    *ret = srv;
    return RKC_OK;
fail:
    apiserver_free(srv);
    return rc;
}

static enum rkc_err ensure_namespace(struct apiserver *srv, const char *name, struct rkc_error *err)
{
    struct jval *ns = jval_object(), *meta = jval_object(), *labels = jval_object(),
                *spec = jval_object(), *fins = jval_array(), *status = jval_object();
    char uid[KOBJ_UID_SIZE], now[KOBJ_TIME_SIZE];
    int64_t rev;
    enum rkc_err rc;

    kobj_new_uid(uid);
    kobj_now(now);
    jval_set_str(ns, "kind", "Namespace");
    jval_set_str(ns, "apiVersion", "v1");
    jval_set_str(meta, "name", name);
    jval_set_str(meta, "uid", uid);
    jval_set_str(meta, "creationTimestamp", now);
    jval_set_str(labels, "kubernetes.io/metadata.name", name);
    jval_set_take(meta, "labels", labels);
    jval_set_take(ns, "metadata", meta);
    jval_array_append_take(fins, jval_string("kubernetes"));
    jval_set_take(spec, "finalizers", fins);
    jval_set_take(ns, "spec", spec);
    jval_set_str(status, "phase", "Active");
    jval_set_take(ns, "status", status);
    rc = store_create(srv->store, "namespaces", NULL, name, ns, &rev, err);
    if (rc == RKC_EBUSY)
        rc = RKC_OK;
    else if (!rc)
        log_info("created namespace \"%s\"", name);
    jval_decref(ns);
    return rc;
}

enum rkc_err apiserver_start(struct apiserver *srv, struct rkc_error *err)
{
    static const char *const defaults[] = { "default", "kube-system", "kube-public",
                                            "kube-node-lease" };
    struct strbuf cert = STRBUF_INIT, key = STRBUF_INIT, ca = STRBUF_INIT;
    struct http_config hc;
    enum rkc_err rc = RKC_OK;
    size_t i;

    for (i = 0; !rc && i < sizeof(defaults) / sizeof(defaults[0]); i++)
        rc = ensure_namespace(srv, defaults[i], err);
    if (rc)
        return rkc_error_prefix(err, "creating default namespaces: "), rc;
    if ((rc = strbuf_read_file(&cert, srv->opt.tls_cert_file, err)) ||
        (rc = strbuf_read_file(&key, srv->opt.tls_private_key_file, err)) ||
        (srv->opt.client_ca_file && (rc = strbuf_read_file(&ca, srv->opt.client_ca_file, err))))
        goto out;
    memset(&hc, 0, sizeof(hc));
    hc.bind_address = srv->opt.bind_address;
    hc.port = srv->opt.secure_port;
    hc.cert_pem = cert.buf;
    hc.key_pem = key.buf;
    hc.client_ca_pem = srv->opt.client_ca_file ? ca.buf : NULL;
    hc.max_body = APISERVER_MAX_BODY;
    hc.idle_timeout_s = 60;
    hc.handler = handle;
    hc.handler_ctx = srv;
    rc = http_server_start(&hc, &srv->http, err);
out:
    strbuf_release(&cert);
    strbuf_release_wipe(&key);
    strbuf_release(&ca);
    return rc;
}

void apiserver_free(struct apiserver *srv)
{
    size_t i, j;

    if (!srv)
        return;
    atomic_store(&srv->stopping, true);
    http_server_stop(srv->http);
    encryption_free(srv->enc);
    store_free(srv->store);
    etcd_client_free(srv->etcd);
    metrics_free(srv->metrics);
    jval_decref(srv->openapi);
    for (i = 0; i < srv->nr_tokens; i++) {
        rkc_wipe(srv->tokens[i].token, strlen(srv->tokens[i].token));
        free(srv->tokens[i].token);
        free(srv->tokens[i].user);
        for (j = 0; j < srv->tokens[i].nr_groups; j++)
            free(srv->tokens[i].groups[j]);
        free(srv->tokens[i].groups);
    }
    free(srv->tokens);
    free(srv);
}
