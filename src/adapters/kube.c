/* SPDX-License-Identifier: Apache-2.0 */
/*
 * kube: Kubernetes REST requests with libcurl, and kubeconfig reading. PEM material given in
 * memory is handed to curl as blobs that point at the client's own copies (CURL_BLOB_NOCOPY),
 * so the only copies are the ones this module wipes.
 */
#include "adapters/kube.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "adapters/curlpool.h"
#include "adapters/ytree.h"
#include "util/fs.h"
#include "util/xalloc.h"

#include "util/banned.h"

#define POOL_KEEP      64
#define KUBECONFIG_MAX (16u << 20)
#define TOKEN_MAX      (64u << 10)

struct blob {
    char *data;
    size_t len;
};

struct kube_client {
    char *server;
    struct blob ca, cert, key;
    char *ca_file, *cert_file, *key_file;
    char *auth_header; /* "Authorization: Bearer ..." or NULL */
    bool insecure;
    long timeout_ms, connect_timeout_ms;
    struct curlpool pool;
};

static pthread_once_t curl_once = PTHREAD_ONCE_INIT;

static void curl_global(void)
{
    curl_global_init(CURL_GLOBAL_DEFAULT);
}

static void blob_set(struct blob *b, const char *p, size_t len)
{
    b->data = xmalloc(len + 1);
    memcpy(b->data, p, len);
    b->data[len] = '\0';
    b->len = len;
}

static void blob_wipe(struct blob *b)
{
    if (b->data) {
        rkc_wipe(b->data, b->len);
        free(b->data);
    }
    b->data = NULL;
    b->len = 0;
}

static void wipe_str(char *s)
{
    if (s) {
        rkc_wipe(s, strlen(s));
        free(s);
    }
}

enum rkc_err kube_client_new(const struct kube_config *cfg, struct kube_client **ret,
                             struct rkc_error *err)
{
    struct kube_client *c;
    size_t n;

    if (!cfg->server || !*cfg->server)
        return rkc_error_set(err, RKC_EINVAL, "no Kubernetes API server given");
    if (strncmp(cfg->server, "https://", 8) != 0 && strncmp(cfg->server, "http://", 7) != 0)
        return rkc_error_set(err, RKC_EINVAL, "API server '%s' is not an http(s) URL", cfg->server);
    pthread_once(&curl_once, curl_global);
    c = xcalloc(1, sizeof(*c));
    c->server = xstrdup(cfg->server);
    n = strlen(c->server);
    while (n && c->server[n - 1] == '/')
        c->server[--n] = '\0';
    if (cfg->ca_pem)
        blob_set(&c->ca, cfg->ca_pem, cfg->ca_pem_len);
    else if (cfg->ca_file)
        c->ca_file = xstrdup(cfg->ca_file);
    if (cfg->cert_pem)
        blob_set(&c->cert, cfg->cert_pem, cfg->cert_pem_len);
    else if (cfg->cert_file)
        c->cert_file = xstrdup(cfg->cert_file);
    if (cfg->key_pem)
        blob_set(&c->key, cfg->key_pem, cfg->key_pem_len);
    else if (cfg->key_file)
        c->key_file = xstrdup(cfg->key_file);
    if (cfg->token && *cfg->token)
        c->auth_header = xasprintf("Authorization: Bearer %s", cfg->token);
    c->insecure = cfg->insecure_skip_verify;
    c->timeout_ms = cfg->timeout_ms > 0 ? cfg->timeout_ms : 30000;
    c->connect_timeout_ms = cfg->connect_timeout_ms > 0 ? cfg->connect_timeout_ms : 5000;
    curlpool_init(&c->pool, POOL_KEEP);
    *ret = c;
    return RKC_OK;
}

void kube_client_free(struct kube_client *c)
{
    if (!c)
        return;
    curlpool_release(&c->pool);
    free(c->server);
    blob_wipe(&c->ca);
    blob_wipe(&c->cert);
    blob_wipe(&c->key);
    free(c->ca_file);
    free(c->cert_file);
    free(c->key_file);
    wipe_str(c->auth_header);
    free(c);
}

const char *kube_client_server(const struct kube_client *c)
{
    return c->server;
}

static void set_blob(CURL *h, CURLoption opt, const struct blob *b)
{
    struct curl_blob cb = { b->data, b->len, CURL_BLOB_NOCOPY };

    curl_easy_setopt(h, opt, &cb);
}

static void setup_tls(const struct kube_client *c, CURL *h)
{
    if (c->ca.data)
        set_blob(h, CURLOPT_CAINFO_BLOB, &c->ca);
    else if (c->ca_file)
        curl_easy_setopt(h, CURLOPT_CAINFO, c->ca_file);
    if (c->cert.data) {
        set_blob(h, CURLOPT_SSLCERT_BLOB, &c->cert);
        curl_easy_setopt(h, CURLOPT_SSLCERTTYPE, "PEM");
    } else if (c->cert_file) {
        curl_easy_setopt(h, CURLOPT_SSLCERT, c->cert_file);
    }
    if (c->key.data) {
        set_blob(h, CURLOPT_SSLKEY_BLOB, &c->key);
        curl_easy_setopt(h, CURLOPT_SSLKEYTYPE, "PEM");
    } else if (c->key_file) {
        curl_easy_setopt(h, CURLOPT_SSLKEY, c->key_file);
    }
    if (c->insecure) {
        curl_easy_setopt(h, CURLOPT_SSL_VERIFYPEER, 0L);
        curl_easy_setopt(h, CURLOPT_SSL_VERIFYHOST, 0L);
    }
}

enum rkc_err kube_request(struct kube_client *c, const char *method, const char *path,
                          const char *content_type, const void *body, size_t len, long *ret_status,
                          struct strbuf *resp, struct rkc_error *err)
{
    struct curl_slist *hdrs = NULL;
    char errbuf[CURL_ERROR_SIZE];
    char *url, *ct_header = NULL;
    enum rkc_err rc = RKC_OK;
    size_t old_max = resp->max;
    CURLcode cc;
    CURL *h;

    *ret_status = 0;
    if (!method || !path || path[0] != '/')
        return rkc_error_set(err, RKC_EINVAL, "bad Kubernetes request path '%s'",
                             path ? path : "(null)");
    url = xasprintf("%s%s", c->server, path);
    h = curlpool_get(&c->pool);
    curl_easy_reset(h);
    errbuf[0] = '\0';
    curl_easy_setopt(h, CURLOPT_URL, url);
    curl_easy_setopt(h, CURLOPT_ERRORBUFFER, errbuf);
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(h, CURLOPT_TCP_KEEPALIVE, 1L);
    curl_easy_setopt(h, CURLOPT_TCP_NODELAY, 1L);
    curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, c->connect_timeout_ms);
    curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, c->timeout_ms);
    curl_easy_setopt(h, CURLOPT_USERAGENT, "rkc/" RKC_VERSION);
    setup_tls(c, h);
    hdrs = curl_slist_append(hdrs, "Accept: application/json");
    hdrs = curl_slist_append(hdrs, "Expect:"); /* no 100-continue round trip for big PUTs */
    if (content_type) {
        ct_header = xasprintf("Content-Type: %s", content_type);
        hdrs = curl_slist_append(hdrs, ct_header);
    }
    if (c->auth_header)
        hdrs = curl_slist_append(hdrs, c->auth_header);
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, hdrs);
    if (!strcmp(method, "GET")) {
        curl_easy_setopt(h, CURLOPT_HTTPGET, 1L);
    } else {
        curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, method);
        if (body || strcmp(method, "DELETE") != 0) {
            curl_easy_setopt(h, CURLOPT_POSTFIELDS, body ? (const char *)body : "");
            curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)(body ? len : 0));
        }
    }
    strbuf_reset(resp);
    resp->max = KUBE_RESPONSE_MAX;
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, curlpool_write_strbuf);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, resp);
    cc = curl_easy_perform(h);
    resp->max = old_max;
    if (cc == CURLE_OK) {
        curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, ret_status);
    } else {
        if (cc == CURLE_WRITE_ERROR)
            rc = rkc_error_set(err, RKC_ELIMIT, "%s %s: answer larger than %u bytes", method, url,
                               KUBE_RESPONSE_MAX);
        else
            rc = rkc_error_set(err, cc == CURLE_OPERATION_TIMEDOUT ? RKC_ETIMEOUT : RKC_EHTTP,
                               "%s %s: %s", method, url,
                               errbuf[0] ? errbuf : curl_easy_strerror(cc));
        strbuf_release(resp);
        *ret_status = 0;
    }
    /* a handle that failed may hold a broken connection: do not pool it */
    if (cc == CURLE_OK)
        curlpool_put(&c->pool, h);
    else
        curl_easy_cleanup(h);
    curl_slist_free_all(hdrs);
    free(ct_header);
    free(url);
    return rc;
}

void kube_escape(const char *s, struct strbuf *out)
{
    static const char hex[] = "0123456789ABCDEF";

    for (; *s; s++) {
        unsigned char ch = (unsigned char)*s;

        if ((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
            ch == '-' || ch == '.' || ch == '_' || ch == '~') {
            strbuf_addch(out, ch);
        } else {
            strbuf_addch(out, '%');
            strbuf_addch(out, hex[ch >> 4]);
            strbuf_addch(out, hex[ch & 15]);
        }
    }
}

/* ---- kubeconfig ---- */

static int b64_val(int ch)
{
    if (ch >= 'A' && ch <= 'Z')
        return ch - 'A';
    if (ch >= 'a' && ch <= 'z')
        return ch - 'a' + 26;
    if (ch >= '0' && ch <= '9')
        return ch - '0' + 52;
    if (ch == '+')
        return 62;
    if (ch == '/')
        return 63;
    return -1;
}

/* Standard base64 (padding optional, whitespace ignored), as kubeconfig []byte fields. */
static bool b64_decode_to(const char *s, size_t len, struct strbuf *out)
{
    unsigned acc = 0;
    int bits = 0;
    size_t i;

    for (i = 0; i < len; i++) {
        int v;

        if (s[i] == '=')
            break;
        if (s[i] == '\n' || s[i] == '\r' || s[i] == ' ' || s[i] == '\t')
            continue;
        v = b64_val((unsigned char)s[i]);
        if (v < 0)
            return false;
        acc = (acc << 6 | (unsigned)v) & 0xffffff;
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            strbuf_addch(out, (int)((acc >> bits) & 0xff));
        }
    }
    return true;
}

/* Wipes every scalar of the tree (a kubeconfig holds key material) before it is freed. */
static void wipe_tree(struct ytree_node *n)
{
    size_t i;

    if (!n)
        return;
    if (n->kind == YTREE_SCALAR && n->str)
        rkc_wipe(n->str, n->len);
    for (i = 0; i < n->nitems; i++)
        wipe_tree(n->items[i]);
    for (i = 0; i < n->npairs; i++)
        wipe_tree(n->pairs[i].value);
}

/* The entry of list `section` (a sequence of {name, <what>: {...}}) named name. */
static enum rkc_err find_named(const char *file, const struct ytree_node *root, const char *section,
                               const char *what, const char *name, const struct ytree_node **ret,
                               struct rkc_error *err)
{
    const struct ytree_node *list = ytree_map_get(root, section);
    size_t i;

    if (!list || ytree_is_null(list))
        return rkc_error_set(err, RKC_ECONFIG, "%s: no %s", file, section);
    if (ytree_expect(file, list, YTREE_SEQ, section, err))
        return RKC_ECONFIG;
    for (i = 0; i < list->nitems; i++) {
        const struct ytree_node *it = list->items[i], *n = ytree_map_get(it, "name");

        if (n && n->kind == YTREE_SCALAR && !strcmp(n->str, name)) {
            const struct ytree_node *body = ytree_map_get(it, what);

            if (!body || body->kind != YTREE_MAP)
                return rkc_error_set(err, RKC_ECONFIG, "%s:%zu:%zu: %s '%s' has no '%s' mapping",
                                     file, it->line, it->col, section, name, what);
            *ret = body;
            return RKC_OK;
        }
    }
    return rkc_error_set(err, RKC_ECONFIG, "%s:%zu:%zu: no entry named '%s' in %s", file,
                         list->line, list->col, name, section);
}

/* Optional string field: *ret NULL when absent. */
static enum rkc_err opt_str(const char *file, const struct ytree_node *map, const char *key,
                            const char **ret, struct rkc_error *err)
{
    const struct ytree_node *n = ytree_map_get(map, key);

    *ret = NULL;
    if (!n || ytree_is_null(n))
        return RKC_OK;
    return ytree_get_string(file, n, key, ret, err);
}

/* A path from the kubeconfig, relative to its directory. Returns: new. */
static char *resolve_path(const char *dir, const char *p)
{
    if (p[0] == '/')
        return xstrdup(p);
    return fs_join(dir, p);
}

/* Decodes a *-data field into out. */
static enum rkc_err data_field(const char *file, const struct ytree_node *map, const char *key,
                               struct strbuf *out, bool *ret_set, struct rkc_error *err)
{
    const struct ytree_node *n = ytree_map_get(map, key);
    const char *s;

    *ret_set = false;
    if (!n || ytree_is_null(n))
        return RKC_OK;
    if (ytree_get_string(file, n, key, &s, err))
        return RKC_ECONFIG;
    if (!b64_decode_to(s, strlen(s), out))
        return rkc_error_set(err, RKC_ECONFIG, "%s:%zu:%zu: %s is not valid base64", file, n->line,
                             n->col, key);
    *ret_set = true;
    return RKC_OK;
}

enum rkc_err kube_client_from_kubeconfig(const char *path, long timeout_ms,
                                         struct kube_client **ret, struct rkc_error *err)
{
    struct strbuf buf = STRBUF_INIT;
    enum rkc_err rc;

    buf.max = KUBECONFIG_MAX;
    rc = strbuf_read_file(&buf, path, err);
    if (!rc)
        rc = kube_client_from_kubeconfig_mem(path, buf.buf, buf.len, timeout_ms, ret, err);
    strbuf_release_wipe(&buf);
    return rc;
}

enum rkc_err kube_client_from_kubeconfig_mem(const char *path, const char *buf, size_t len,
                                             long timeout_ms, struct kube_client **ret,
                                             struct rkc_error *err)
{
    struct strbuf ca = STRBUF_INIT, cert = STRBUF_INIT, key = STRBUF_INIT;
    struct strbuf token = STRBUF_INIT;
    const struct ytree_node *ctx = NULL, *cluster = NULL, *user = NULL;
    const char *current = NULL, *cluster_name = NULL, *user_name = NULL, *s;
    char *dir = NULL, *ca_file = NULL, *cert_file = NULL, *key_file = NULL;
    struct ytree_node *root = NULL;
    struct kube_config cfg = { 0 };
    bool ca_set = false, cert_set = false, key_set = false, b;
    enum rkc_err rc;

    rc = ytree_parse(path, buf, len, &root, err);
    if (rc)
        goto out;
    rc = RKC_ECONFIG;
    if (!root || root->kind != YTREE_MAP) {
        rkc_error_set(err, RKC_ECONFIG, "%s: not a kubeconfig (expected a mapping)", path);
        goto out;
    }
    if (opt_str(path, root, "current-context", &current, err))
        goto out;
    if (!current || !*current) {
        const struct ytree_node *list = ytree_map_get(root, "contexts");

        if (!list || list->kind != YTREE_SEQ || list->nitems != 1) {
            rkc_error_set(err, RKC_ECONFIG, "%s: no current-context", path);
            goto out;
        }
        if (opt_str(path, list->items[0], "name", &current, err))
            goto out;
        if (!current) {
            rkc_error_set(err, RKC_ECONFIG, "%s: no current-context", path);
            goto out;
        }
    }
    if (find_named(path, root, "contexts", "context", current, &ctx, err) ||
        opt_str(path, ctx, "cluster", &cluster_name, err) ||
        opt_str(path, ctx, "user", &user_name, err))
        goto out;
    RKC_ASSERT(ctx);
    if (!cluster_name) {
        rkc_error_set(err, RKC_ECONFIG, "%s:%zu:%zu: context '%s' names no cluster", path,
                      ctx->line, ctx->col, current);
        goto out;
    }
    if (find_named(path, root, "clusters", "cluster", cluster_name, &cluster, err))
        goto out;
    if (user_name && find_named(path, root, "users", "user", user_name, &user, err))
        goto out;
    RKC_ASSERT(cluster);
    dir = fs_dirname(path);

    if (opt_str(path, cluster, "server", &cfg.server, err))
        goto out;
    if (!cfg.server) {
        rkc_error_set(err, RKC_ECONFIG, "%s:%zu:%zu: cluster '%s' has no server", path,
                      cluster->line, cluster->col, cluster_name);
        goto out;
    }
    if (data_field(path, cluster, "certificate-authority-data", &ca, &ca_set, err))
        goto out;
    if (!ca_set) {
        if (opt_str(path, cluster, "certificate-authority", &s, err))
            goto out;
        if (s)
            ca_file = resolve_path(dir, s);
    }
    if (ytree_map_get(cluster, "insecure-skip-tls-verify")) {
        if (ytree_get_bool(path, ytree_map_get(cluster, "insecure-skip-tls-verify"),
                           "insecure-skip-tls-verify", &b, err))
            goto out;
        cfg.insecure_skip_verify = b;
    }
    if (user) {
        if (data_field(path, user, "client-certificate-data", &cert, &cert_set, err) ||
            data_field(path, user, "client-key-data", &key, &key_set, err))
            goto out;
        if (!cert_set) {
            if (opt_str(path, user, "client-certificate", &s, err))
                goto out;
            if (s)
                cert_file = resolve_path(dir, s);
        }
        if (!key_set) {
            if (opt_str(path, user, "client-key", &s, err))
                goto out;
            if (s)
                key_file = resolve_path(dir, s);
        }
        if (opt_str(path, user, "token", &s, err))
            goto out;
        if (s) {
            strbuf_addstr(&token, s);
        } else {
            if (opt_str(path, user, "tokenFile", &s, err))
                goto out;
            if (s) {
                char *tf = resolve_path(dir, s);

                token.max = TOKEN_MAX;
                rc = strbuf_read_file(&token, tf, err);
                free(tf);
                if (rc)
                    goto out;
                strbuf_trim_trailing_newline(&token);
            }
        }
    }
    cfg.ca_pem = ca_set ? ca.buf : NULL;
    cfg.ca_pem_len = ca.len;
    cfg.ca_file = ca_file;
    cfg.cert_pem = cert_set ? cert.buf : NULL;
    cfg.cert_pem_len = cert.len;
    cfg.cert_file = cert_file;
    cfg.key_pem = key_set ? key.buf : NULL;
    cfg.key_pem_len = key.len;
    cfg.key_file = key_file;
    cfg.token = token.len ? token.buf : NULL;
    cfg.timeout_ms = timeout_ms;
    rc = kube_client_new(&cfg, ret, err);
    if (rc)
        rkc_error_prefix(err, "%s: ", path);
out:
    wipe_tree(root);
    ytree_free(root);
    strbuf_release_wipe(&ca);
    strbuf_release_wipe(&cert);
    strbuf_release_wipe(&key);
    strbuf_release_wipe(&token);
    free(dir);
    free(ca_file);
    free(cert_file);
    free(key_file);
    return rc;
}
