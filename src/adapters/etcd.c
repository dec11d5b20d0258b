/* SPDX-License-Identifier: Apache-2.0 */
/*
 * etcd: the v3 JSON gateway client. Each request is a POST of a JSON body to one of the
 * `/v3/...` endpoints of etcd 3.4; keys and values travel base64-encoded and 64-bit integers as
 * JSON strings (grpc-gateway's mapping), both handled here. Curl handles are pooled so that
 * connections (and TLS sessions) are kept alive between requests.
 */
#include "adapters/etcd.h"

#include <inttypes.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "adapters/curlpool.h"
#include "adapters/jval.h"
#include "util/strbuf.h"
#include "util/xalloc.h"

#include "util/banned.h"

#define POOL_KEEP      16
#define MAX_SERVERS    8
#define RESPONSE_MAX   (512u << 20) /* a range answer bigger than this is refused */
#define WATCH_LINE_MAX (64u << 20)

struct etcd_client {
    char *servers[MAX_SERVERS];
    size_t nr_servers;
    _Atomic size_t current; /* index of the server that answered last */
    char *cafile, *certfile, *keyfile;
    long timeout_ms;
    struct curlpool pool;
};

static pthread_once_t curl_once = PTHREAD_ONCE_INIT;

static void curl_global(void)
{
    curl_global_init(CURL_GLOBAL_DEFAULT);
}

/* ---- base64 (standard alphabet, padded), private to the wire format ---- */

static const char b64chars[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

static void b64_put(const unsigned char *p, size_t n, struct strbuf *out)
{
    size_t i;

    strbuf_grow(out, (n + 2) / 3 * 4);
    for (i = 0; i + 2 < n; i += 3) {
        uint32_t v = (uint32_t)p[i] << 16 | (uint32_t)p[i + 1] << 8 | p[i + 2];
        char q[4] = { b64chars[v >> 18], b64chars[(v >> 12) & 63], b64chars[(v >> 6) & 63],
                      b64chars[v & 63] };
        strbuf_add(out, q, 4);
    }
    if (n - i == 1) {
        uint32_t v = (uint32_t)p[i] << 16;
        char q[4] = { b64chars[v >> 18], b64chars[(v >> 12) & 63], '=', '=' };
        strbuf_add(out, q, 4);
    } else if (n - i == 2) {
        uint32_t v = (uint32_t)p[i] << 16 | (uint32_t)p[i + 1] << 8;
        char q[4] = { b64chars[v >> 18], b64chars[(v >> 12) & 63], b64chars[(v >> 6) & 63], '=' };
        strbuf_add(out, q, 4);
    }
}

static int b64_val(int c)
{
    if (c >= 'A' && c <= 'Z')
        return c - 'A';
    if (c >= 'a' && c <= 'z')
        return c - 'a' + 26;
    if (c >= '0' && c <= '9')
        return c - '0' + 52;
    if (c == '+')
        return 62;
    if (c == '/')
        return 63;
    return -1;
}

/* Returns: new buffer (NUL-terminated, length in *ret_len) or NULL on bad input. */
static char *b64_get(const char *s, size_t len, size_t *ret_len)
{
    char *out = xmalloc(len / 4 * 3 + 4);
    size_t o = 0, i;
    uint32_t acc = 0;
    int bits = 0;

    for (i = 0; i < len; i++) {
        int v;

        if (s[i] == '=')
            break;
        v = b64_val((unsigned char)s[i]);
        if (v < 0) {
            free(out);
            return NULL;
        }
        acc = acc << 6 | (uint32_t)v;
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            out[o++] = (char)((acc >> bits) & 0xff);
        }
    }
    out[o] = '\0';
    *ret_len = o;
    return out;
}

/* ---- JSON helpers ---- */

/* grpc-gateway writes int64 as a string; accept both. */
static int64_t get_i64(const struct jval *obj, const char *name)
{
    const struct jval *v = jval_get(obj, name);
    const char *s;

    if (!v)
        return 0;
    if (jval_is_integer(v))
        return jval_int(v);
    s = jval_str(v, NULL);
    return s ? strtoll(s, NULL, 10) : 0;
}

static void add_b64_field(struct jval *obj, const char *name, const void *p, size_t n)
{
    struct strbuf sb = STRBUF_INIT;

    b64_put(p, n, &sb);
    jval_set_str(obj, name, sb.buf);
    strbuf_release_wipe(&sb);
}

static enum rkc_err parse_kv(const struct jval *j, struct etcd_kv *kv, struct rkc_error *err)
{
    const char *k = jval_get_str(j, "key", ""), *v = jval_get_str(j, "value", "");

    memset(kv, 0, sizeof(*kv));
    kv->key = b64_get(k, strlen(k), &kv->key_len);
    kv->value = b64_get(v, strlen(v), &kv->value_len);
    if (!kv->key || !kv->value) {
        etcd_kv_release(kv);
        rkc_error_set(err, RKC_EHTTP, "etcd answered a key-value that is not base64");
        return RKC_EHTTP;
    }
    kv->create_revision = get_i64(j, "create_revision");
    kv->mod_revision = get_i64(j, "mod_revision");
    kv->version = get_i64(j, "version");
    return RKC_OK;
}

void etcd_kv_release(struct etcd_kv *kv)
{
    if (!kv)
        return;
    free(kv->key);
    kv->key = NULL;
    if (kv->value) {
        rkc_wipe(kv->value, kv->value_len);
        free(kv->value);
        kv->value = NULL;
    }
    memset(kv, 0, sizeof(*kv));
}

void etcd_kvs_release(struct etcd_kvs *kvs)
{
    size_t i;

    if (!kvs)
        return;
    for (i = 0; i < kvs->nr; i++)
        etcd_kv_release(&kvs->v[i]);
    free(kvs->v);
    memset(kvs, 0, sizeof(*kvs));
}

char *etcd_prefix_end(const char *prefix, size_t len, size_t *ret_len)
{
    char *end = xmemdup(prefix, len + 1);
    size_t i = len;

    while (i > 0) {
        if ((unsigned char)end[i - 1] < 0xff) {
            end[i - 1]++;
            end[i] = '\0';
            *ret_len = i;
            return end;
        }
        i--;
    }
    /* all 0xff (or empty): the whole keyspace from prefix */
    end[0] = '\0';
    *ret_len = 1;
    return end;
}

/* ---- client and pool ---- */

enum rkc_err etcd_client_new(const struct etcd_config *cfg, struct etcd_client **ret,
                             struct rkc_error *err)
{
    struct etcd_client *c;
    const char *p;

    if (!cfg->servers || !*cfg->servers)
        return rkc_error_set(err, RKC_EINVAL, "no etcd servers given");
    pthread_once(&curl_once, curl_global);
    c = xcalloc(1, sizeof(*c));
    for (p = cfg->servers; *p && c->nr_servers < MAX_SERVERS;) {
        size_t n = strcspn(p, ",");

        if (n) {
            char *s = xstrndup(p, n);

            while (n && s[n - 1] == '/')
                s[--n] = '\0';
            c->servers[c->nr_servers++] = s;
        }
        p += n;
        if (*p == ',')
            p++;
    }
    if (!c->nr_servers) {
        free(c);
        return rkc_error_set(err, RKC_EINVAL, "no etcd servers given");
    }
    c->cafile = cfg->cafile ? xstrdup(cfg->cafile) : NULL;
    c->certfile = cfg->certfile ? xstrdup(cfg->certfile) : NULL;
    c->keyfile = cfg->keyfile ? xstrdup(cfg->keyfile) : NULL;
    c->timeout_ms = cfg->timeout_ms > 0 ? cfg->timeout_ms : 10000;
    curlpool_init(&c->pool, POOL_KEEP);
    *ret = c;
    return RKC_OK;
}

void etcd_client_free(struct etcd_client *c)
{
    size_t i;

    if (!c)
        return;
    curlpool_release(&c->pool);
    for (i = 0; i < c->nr_servers; i++)
        free(c->servers[i]);
    free(c->cafile);
    free(c->certfile);
    free(c->keyfile);
    free(c);
}

static void setup_handle(struct etcd_client *c, CURL *h, const char *url, char *errbuf)
{
    curl_easy_reset(h);
    curl_easy_setopt(h, CURLOPT_URL, url);
    curl_easy_setopt(h, CURLOPT_ERRORBUFFER, errbuf);
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, 5000L);
    curl_easy_setopt(h, CURLOPT_TCP_KEEPALIVE, 1L);
    curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
    if (c->cafile)
        curl_easy_setopt(h, CURLOPT_CAINFO, c->cafile);
    if (c->certfile)
        curl_easy_setopt(h, CURLOPT_SSLCERT, c->certfile);
    if (c->keyfile)
        curl_easy_setopt(h, CURLOPT_SSLKEY, c->keyfile);
}

/*
 * POSTs body to path on the current server (trying the others on a transport failure) and
 * parses the JSON answer. An etcd error answer ({"error":..,"code":..}) becomes RKC_EHTTP with
 * etcd's message, or RKC_ENOTFOUND for a compacted revision.
 */
static enum rkc_err call(struct etcd_client *c, const char *path, const struct jval *body,
                         struct jval **ret, struct rkc_error *err)
{
    struct strbuf req = STRBUF_INIT, resp = STRBUF_INIT;
    struct curl_slist *hdrs = NULL;
    char errbuf[CURL_ERROR_SIZE];
    enum rkc_err rc = RKC_OK;
    size_t attempt, first = atomic_load(&c->current);
    CURL *h = curlpool_get(&c->pool);
    long status = 0;
    char *url = NULL;

    jval_dump(body, JVAL_COMPACT, &req);
    hdrs = curl_slist_append(hdrs, "Content-Type: application/json");
    resp.max = RESPONSE_MAX;
    for (attempt = 0; attempt < c->nr_servers; attempt++) {
        size_t idx = (first + attempt) % c->nr_servers;
        CURLcode cc;

        free(url);
        url = xasprintf("%s%s", c->servers[idx], path);
        errbuf[0] = '\0';
        setup_handle(c, h, url, errbuf);
        curl_easy_setopt(h, CURLOPT_HTTPHEADER, hdrs);
        curl_easy_setopt(h, CURLOPT_POSTFIELDS, req.buf);
        curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE, (long)req.len);
        curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, curlpool_write_strbuf);
        curl_easy_setopt(h, CURLOPT_WRITEDATA, &resp);
        curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, c->timeout_ms);
        strbuf_reset(&resp);
        cc = curl_easy_perform(h);
        if (cc == CURLE_OK) {
            atomic_store(&c->current, idx);
            curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);
            break;
        }
        rc = rkc_error_set(err, cc == CURLE_OPERATION_TIMEDOUT ? RKC_ETIMEOUT : RKC_EHTTP,
                           "etcd request to '%s' failed: %s", url,
                           errbuf[0] ? errbuf : curl_easy_strerror(cc));
        if (cc == CURLE_WRITE_ERROR) {
            rc = rkc_error_set(err, RKC_ELIMIT, "etcd answer from '%s' is too large", url);
            break;
        }
    }
    if (status) {
        struct jval *j = NULL;

        rc = jval_parse("etcd response", resp.buf, resp.len, &j, err);
        if (rc) {
            rc = rkc_error_set(err, RKC_EHTTP, "etcd answered '%s' with HTTP %ld and no JSON", url,
                               status);
        } else if (jval_get(j, "error") || status != 200) {
            const char *msg = jval_get_str(j, "error", jval_get_str(j, "message", "unknown"));

            rc = rkc_error_set(err, strstr(msg, "compacted") ? RKC_ENOTFOUND : RKC_EHTTP,
                               "etcd '%s': %s", path, msg);
            jval_decref(j);
        } else {
            *ret = j;
        }
    }
    curlpool_put(&c->pool, h);
    curl_slist_free_all(hdrs);
    free(url);
    strbuf_release_wipe(&req);
    strbuf_release_wipe(&resp);
    return rc;
}

enum rkc_err etcd_health(struct etcd_client *c, struct rkc_error *err)
{
    struct strbuf resp = STRBUF_INIT;
    char errbuf[CURL_ERROR_SIZE];
    enum rkc_err rc = RKC_OK;
    CURL *h = curlpool_get(&c->pool);
    size_t idx = atomic_load(&c->current);
    char *url = xasprintf("%s/health", c->servers[idx]);
    CURLcode cc;
    long status = 0;

    errbuf[0] = '\0';
    resp.max = 4096;
    setup_handle(c, h, url, errbuf);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, curlpool_write_strbuf);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, &resp);
    curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, 3000L);
    cc = curl_easy_perform(h);
    if (cc != CURLE_OK) {
        rc = rkc_error_set(err, RKC_EHTTP, "etcd health check of '%s' failed: %s", url,
                           errbuf[0] ? errbuf : curl_easy_strerror(cc));
    } else {
        curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);
        if (status != 200 || !strstr(resp.buf, "\"true\""))
            rc = rkc_error_set(err, RKC_EHTTP, "etcd at '%s' reports unhealthy (HTTP %ld)", url,
                               status);
    }
    curlpool_put(&c->pool, h);
    free(url);
    strbuf_release(&resp);
    return rc;
}

static void append_kvs(const struct jval *arr, struct etcd_kvs *ret, struct rkc_error *err,
                       enum rkc_err *rc)
{
    size_t i, n = jval_array_size(arr);

    for (i = 0; i < n && !*rc; i++) {
        ALLOC_GROW(ret->v, ret->nr + 1, ret->alloc);
        *rc = parse_kv(jval_array_get(arr, i), &ret->v[ret->nr], err);
        if (!*rc)
            ret->nr++;
    }
}

static int64_t header_revision(const struct jval *j)
{
    return get_i64(jval_get(j, "header"), "revision");
}

enum rkc_err etcd_range(struct etcd_client *c, const char *key, size_t key_len, const char *end,
                        size_t end_len, int64_t limit, int64_t revision, bool keys_only,
                        struct etcd_kvs *ret, struct rkc_error *err)
{
    struct jval *body = jval_object(), *resp = NULL;
    enum rkc_err rc;

    add_b64_field(body, "key", key, key_len);
    if (end)
        add_b64_field(body, "range_end", end, end_len);
    if (limit > 0)
        jval_set_int(body, "limit", limit);
    if (revision > 0)
        jval_set_int(body, "revision", revision);
    if (keys_only)
        jval_set_bool(body, "keys_only", true);
    rc = call(c, "/v3/kv/range", body, &resp, err);
    if (!rc) {
        append_kvs(jval_get(resp, "kvs"), ret, err, &rc);
        ret->revision = header_revision(resp);
        ret->more = jval_get_bool(resp, "more", false);
        ret->count = get_i64(resp, "count");
    }
    jval_decref(resp);
    jval_decref(body);
    return rc;
}

enum rkc_err etcd_get(struct etcd_client *c, const char *key, struct etcd_kv *ret, bool *ret_found,
                      int64_t *ret_revision, struct rkc_error *err)
{
    struct etcd_kvs kvs = { 0 };
    enum rkc_err rc = etcd_range(c, key, strlen(key), NULL, 0, 0, 0, false, &kvs, err);

    if (rc)
        return rc;
    *ret_found = kvs.nr > 0;
    if (kvs.nr) {
        *ret = kvs.v[0];
        memset(&kvs.v[0], 0, sizeof(kvs.v[0]));
    }
    if (ret_revision)
        *ret_revision = kvs.revision;
    etcd_kvs_release(&kvs);
    return RKC_OK;
}

static struct jval *compare_mod(const char *key, int64_t expect_mod)
{
    struct jval *cmps = jval_array(), *cmp = jval_object();

    add_b64_field(cmp, "key", key, strlen(key));
    jval_set_str(cmp, "result", "EQUAL");
    if (expect_mod == 0) {
        jval_set_str(cmp, "target", "CREATE");
        jval_set_str(cmp, "create_revision", "0");
    } else {
        char num[32];

        snprintf(num, sizeof(num), "%" PRId64, expect_mod);
        jval_set_str(cmp, "target", "MOD");
        jval_set_str(cmp, "mod_revision", num);
    }
    jval_array_append_take(cmps, cmp);
    return cmps;
}

static enum rkc_err txn(struct etcd_client *c, const char *key, int64_t expect_mod,
                        struct jval *op_take, bool *ret_ok, int64_t *ret_revision,
                        struct rkc_error *err)
{
    struct jval *body = jval_object(), *succ = jval_array(), *resp = NULL;
    enum rkc_err rc;

    if (expect_mod >= 0)
        jval_set_take(body, "compare", compare_mod(key, expect_mod));
    jval_array_append_take(succ, op_take);
    jval_set_take(body, "success", succ);
    rc = call(c, "/v3/kv/txn", body, &resp, err);
    if (!rc) {
        *ret_ok = expect_mod < 0 || jval_get_bool(resp, "succeeded", false);
        if (ret_revision)
            *ret_revision = header_revision(resp);
    }
    jval_decref(resp);
    jval_decref(body);
    return rc;
}

enum rkc_err etcd_cas_put(struct etcd_client *c, const char *key, const void *value, size_t len,
                          int64_t expect_mod, bool *ret_ok, int64_t *ret_revision,
                          struct rkc_error *err)
{
    struct jval *op = jval_object(), *put = jval_object();

    add_b64_field(put, "key", key, strlen(key));
    add_b64_field(put, "value", value, len);
    jval_set_take(op, "request_put", put);
    return txn(c, key, expect_mod, op, ret_ok, ret_revision, err);
}

enum rkc_err etcd_cas_delete(struct etcd_client *c, const char *key, int64_t expect_mod,
                             bool *ret_ok, int64_t *ret_revision, struct rkc_error *err)
{
    struct jval *op = jval_object(), *del = jval_object();

    if (expect_mod == 0) {
        jval_decref(op);
        jval_decref(del);
        return rkc_error_set(err, RKC_EINVAL, "etcd delete needs a revision to compare");
    }
    add_b64_field(del, "key", key, strlen(key));
    jval_set_take(op, "request_delete_range", del);
    return txn(c, key, expect_mod, op, ret_ok, ret_revision, err);
}

enum rkc_err etcd_delete_prefix(struct etcd_client *c, const char *prefix, int64_t *ret_deleted,
                                struct rkc_error *err)
{
    struct jval *body = jval_object(), *resp = NULL;
    size_t plen = strlen(prefix), end_len;
    char *end = etcd_prefix_end(prefix, plen, &end_len);
    enum rkc_err rc;

    add_b64_field(body, "key", prefix, plen);
    add_b64_field(body, "range_end", end, end_len);
    rc = call(c, "/v3/kv/deleterange", body, &resp, err);
    if (!rc && ret_deleted)
        *ret_deleted = get_i64(resp, "deleted");
    free(end);
    jval_decref(resp);
    jval_decref(body);
    return rc;
}

/* ---- watch ---- */

struct watch_state {
    struct strbuf line; /* bytes of the current (incomplete) JSON message */
    etcd_watch_fn fn;
    void *ctx;
    const atomic_bool *cancel;
    bool stop;
    bool compacted;
    bool canceled_by_server;
    struct rkc_error *err;
};

static void event_release(struct etcd_event *ev)
{
    etcd_kv_release(&ev->kv);
    etcd_kv_release(&ev->prev_kv);
}

/* Handles one complete JSON message of the stream. Returns false to stop. */
static bool watch_message(struct watch_state *ws, const char *p, size_t n)
{
    struct jval *j = NULL, *res;
    const struct jval *events;
    size_t i;
    bool go = true;

    if (jval_parse("etcd watch", p, n, &j, NULL))
        return true; /* not a whole message (the gateway may split lines); keep reading */
    res = jval_get(j, "result");
    if (!res) {
        rkc_error_set(ws->err, RKC_EHTTP, "etcd watch: %s",
                      jval_get_str(jval_get(j, "error"), "message", "stream error"));
        jval_decref(j);
        ws->canceled_by_server = true;
        return false;
    }
    if (get_i64(res, "compact_revision") > 0) {
        ws->compacted = true;
        jval_decref(j);
        return false;
    }
    if (jval_get_bool(res, "canceled", false)) {
        ws->canceled_by_server = true;
        rkc_error_set(ws->err, RKC_EHTTP, "etcd canceled the watch: %s",
                      jval_get_str(res, "cancel_reason", "no reason given"));
        jval_decref(j);
        return false;
    }
    events = jval_get(res, "events");
    for (i = 0; go && i < jval_array_size(events); i++) {
        const struct jval *e = jval_array_get(events, i);
        struct etcd_event ev;

        memset(&ev, 0, sizeof(ev));
        ev.type =
            !strcmp(jval_get_str(e, "type", "PUT"), "DELETE") ? ETCD_EVENT_DELETE : ETCD_EVENT_PUT;
        if (parse_kv(jval_get(e, "kv"), &ev.kv, NULL))
            continue;
        if (jval_get(e, "prev_kv") && parse_kv(jval_get(e, "prev_kv"), &ev.prev_kv, NULL)) {
            event_release(&ev);
            continue;
        }
        go = ws->fn(ws->ctx, &ev);
        event_release(&ev);
    }
    jval_decref(j);
    return go;
}

static size_t watch_write(char *p, size_t size, size_t n, void *data)
{
    struct watch_state *ws = data;
    size_t total = size * n, start = 0, i;

    if (ws->stop)
        return 0;
    if (strbuf_add_checked(&ws->line, p, total, NULL))
        return 0;
    /* grpc-gateway writes one JSON message per line */
    for (i = 0; i < ws->line.len; i++) {
        if (ws->line.buf[i] != '\n')
            continue;
        if (i > start && !watch_message(ws, ws->line.buf + start, i - start)) {
            ws->stop = true;
            return 0;
        }
        start = i + 1;
    }
    if (start) {
        memmove(ws->line.buf, ws->line.buf + start, ws->line.len - start);
        strbuf_setlen(&ws->line, ws->line.len - start);
    }
    return total;
}

static int watch_progress(void *data, curl_off_t a, curl_off_t b, curl_off_t c_, curl_off_t d)
{
    struct watch_state *ws = data;

    (void)a;
    (void)b;
    (void)c_;
    (void)d;
    if (ws->cancel && atomic_load(ws->cancel)) {
        ws->stop = true;
        return 1;
    }
    return 0;
}

enum rkc_err etcd_watch(struct etcd_client *c, const char *key, size_t key_len, const char *end,
                        size_t end_len, int64_t start_revision, etcd_watch_fn fn, void *ctx,
                        const atomic_bool *cancel, struct rkc_error *err)
{
    struct jval *body = jval_object(), *cr = jval_object();
    struct strbuf req = STRBUF_INIT;
    struct curl_slist *hdrs = NULL;
    struct watch_state ws;
    char errbuf[CURL_ERROR_SIZE];
    enum rkc_err rc = RKC_OK;
    CURL *h = curl_easy_init();
    char *url = xasprintf("%s/v3/watch", c->servers[atomic_load(&c->current)]);
    CURLcode cc;

    if (!h)
        RKC_BUG("curl_easy_init failed");
    memset(&ws, 0, sizeof(ws));
    strbuf_init(&ws.line, 0);
    ws.line.max = WATCH_LINE_MAX;
    ws.fn = fn;
    ws.ctx = ctx;
    ws.cancel = cancel;
    ws.err = err;
    add_b64_field(cr, "key", key, key_len);
    if (end)
        add_b64_field(cr, "range_end", end, end_len);
    if (start_revision > 0)
        jval_set_int(cr, "start_revision", start_revision);
    jval_set_bool(cr, "prev_kv", true);
    jval_set_take(body, "create_request", cr);
    jval_dump(body, JVAL_COMPACT, &req);
    hdrs = curl_slist_append(hdrs, "Content-Type: application/json");
    errbuf[0] = '\0';
    setup_handle(c, h, url, errbuf);
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, hdrs);
    curl_easy_setopt(h, CURLOPT_POSTFIELDS, req.buf);
    curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE, (long)req.len);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, watch_write);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, &ws);
    curl_easy_setopt(h, CURLOPT_NOPROGRESS, 0L);
    curl_easy_setopt(h, CURLOPT_XFERINFOFUNCTION, watch_progress);
    curl_easy_setopt(h, CURLOPT_XFERINFODATA, &ws);
    cc = curl_easy_perform(h);
    if (ws.compacted)
        rc = rkc_error_set(err, RKC_ENOTFOUND, "etcd watch: revision %" PRId64 " was compacted",
                           start_revision);
    else if (ws.canceled_by_server)
        rc = err ? err->code : RKC_EHTTP;
    else if (!ws.stop && cc != CURLE_OK)
        rc = rkc_error_set(err, RKC_EHTTP, "etcd watch on '%s' failed: %s", url,
                           errbuf[0] ? errbuf : curl_easy_strerror(cc));
    else if (!ws.stop)
        rc = rkc_error_set(err, RKC_EHTTP, "etcd watch on '%s' ended", url);
    curl_easy_cleanup(h);
    curl_slist_free_all(hdrs);
    strbuf_release_wipe(&ws.line);
    strbuf_release(&req);
    free(url);
    jval_decref(body);
    return rc;
}
