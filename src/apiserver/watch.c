/* SPDX-License-Identifier: Apache-2.0 */
/*
 * watch: `?watch=1` on a collection. A thread per watch runs an etcd watch on the collection's
 * key prefix and turns its events into kube watch events ({"type":..,"object":..} lines) in a
 * bounded queue; the connection thread drains the queue into the chunked response. Without a
 * resourceVersion (or "0") the current objects are sent first as ADDED, as kube-apiserver does.
 * A newline is sent every few seconds while idle so that a vanished client is noticed, and a
 * client that does not read is dropped when its queue exceeds the cap.
 */
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "apiserver/kobj.h"
#include "apiserver/server.h"
#include "util/log.h"
#include "util/xalloc.h"

#include "util/banned.h"

#define QUEUE_MAX       (16u << 20)
#define HEARTBEAT_S     5
#define WATCH_DEFAULT_S 1800

struct watch {
    struct apiserver *srv;
    const struct kres_info *res;
    enum kres kres;
    bool table; /* events carry Tables (kubectl get -w) */
    char *prefix;
    struct kobj_selector *lsel, *fsel;
    int64_t start_rev;
    time_t deadline;

    pthread_t thread;
    bool thread_started;
    atomic_bool cancel;
    pthread_mutex_t lock;
    pthread_cond_t cond;
    struct strbuf queue; /* guarded by lock */
    size_t sent;         /* bytes of queue already handed out */
    bool done;           /* the etcd watch ended */
};

static bool selected(struct watch *w, const struct jval *obj)
{
    return kobj_label_selector_match(w->lsel, jval_get(jval_get(obj, "metadata"), "labels")) &&
           kobj_field_selector_match(w->fsel, obj);
}

/* Appends one event line; takes obj. Returns false when the client fell too far behind. */
static bool push(struct watch *w, const char *type, struct jval *obj)
{
    struct jval *ev = jval_object();
    bool ok = true;

    jval_set_str(ev, "type", type);
    if (w->table && strcmp(jval_get_str(obj, "kind", ""), "Status") != 0) {
        struct jval *t = table_new(w->kres);

        table_add_row(t, w->kres, obj);
        jval_set_take(jval_get(t, "metadata"), "resourceVersion",
                      jval_incref(jval_get(jval_get(obj, "metadata"), "resourceVersion")));
        jval_decref(obj);
        obj = t;
    }
    jval_set_take(ev, "object", obj);
    pthread_mutex_lock(&w->lock);
    if (w->queue.len - w->sent > QUEUE_MAX) {
        ok = false;
    } else {
        jval_dump(ev, JVAL_COMPACT, &w->queue);
        strbuf_addch(&w->queue, '\n');
    }
    pthread_cond_signal(&w->cond);
    pthread_mutex_unlock(&w->lock);
    jval_decref(ev);
    return ok;
}

static void push_error(struct watch *w, unsigned code, const char *reason, const char *msg)
{
    struct jval *s = jval_object();

    jval_set_str(s, "kind", "Status");
    jval_set_str(s, "apiVersion", "v1");
    jval_set_take(s, "metadata", jval_object());
    jval_set_str(s, "status", "Failure");
    jval_set_str(s, "message", msg);
    jval_set_str(s, "reason", reason);
    jval_set_int(s, "code", code);
    push(w, "ERROR", s);
}

static bool on_event(void *ctx, const struct etcd_event *ev)
{
    struct watch *w = ctx;
    struct rkc_error err;
    struct jval *obj = NULL;
    const char *type;

    rkc_error_init(&err);
    if (atomic_load(&w->cancel))
        return false;
    if (ev->type == ETCD_EVENT_DELETE) {
        if (!ev->prev_kv.key_len)
            return true;
        if (store_decode(w->srv->store, w->res->resource, &ev->prev_kv, &obj, NULL, &err))
            goto fail;
        {
            char num[32];

            snprintf(num, sizeof(num), "%" PRId64, ev->kv.mod_revision);
            jval_set_str(jval_get(obj, "metadata"), "resourceVersion", num);
        }
        type = "DELETED";
    } else {
        if (store_decode(w->srv->store, w->res->resource, &ev->kv, &obj, NULL, &err))
            goto fail;
        type = ev->kv.create_revision == ev->kv.mod_revision ? "ADDED" : "MODIFIED";
    }
    if (!selected(w, obj)) {
        jval_decref(obj);
        return true;
    }
    return push(w, type, obj);
fail:
    push_error(w, 500, "InternalError", err.msg);
    return false;
}

static void *watch_main(void *arg)
{
    struct watch *w = arg;
    struct rkc_error err;
    size_t plen = strlen(w->prefix), elen;
    char *end = etcd_prefix_end(w->prefix, plen, &elen);
    enum rkc_err rc;

    rkc_error_init(&err);
    rc = etcd_watch(store_etcd(w->srv->store), w->prefix, plen, end, elen, w->start_rev, on_event,
                    w, &w->cancel, &err);
    if (rc == RKC_ENOTFOUND) {
        char *msg = xasprintf("too old resource version: %" PRId64, w->start_rev - 1);

        push_error(w, 410, "Expired", msg);
        free(msg);
    } else if (rc && !atomic_load(&w->cancel)) {
        log_warn("watch on '%s': %s", w->prefix, err.msg);
    }
    free(end);
    pthread_mutex_lock(&w->lock);
    w->done = true;
    pthread_cond_signal(&w->cond);
    pthread_mutex_unlock(&w->lock);
    return NULL;
}

static ssize_t watch_read(void *ctx, char *buf, size_t max)
{
    struct watch *w = ctx;
    ssize_t n = 0;

    pthread_mutex_lock(&w->lock);
    for (;;) {
        struct timespec ts;
        size_t avail = w->queue.len - w->sent;

        if (avail) {
            n = (ssize_t)(avail < max ? avail : max);
            memcpy(buf, w->queue.buf + w->sent, (size_t)n);
            w->sent += (size_t)n;
            if (w->sent == w->queue.len) {
                strbuf_reset(&w->queue);
                w->sent = 0;
            }
            break;
        }
        if (w->done || atomic_load(&w->srv->stopping) || time(NULL) >= w->deadline)
            break; /* n = 0: end of stream */
        clock_gettime(CLOCK_REALTIME, &ts);
        ts.tv_sec += HEARTBEAT_S;
        if (pthread_cond_timedwait(&w->cond, &w->lock, &ts) != 0 && w->queue.len == w->sent &&
            !w->done) {
            buf[0] = '\n'; /* heartbeat: JSON decoders skip whitespace between objects */
            n = 1;
            break;
        }
    }
    pthread_mutex_unlock(&w->lock);
    return n;
}

static void watch_free(void *ctx)
{
    struct watch *w = ctx;

    atomic_store(&w->cancel, true);
    if (w->thread_started)
        pthread_join(w->thread, NULL);
    kobj_selector_free(w->lsel);
    kobj_selector_free(w->fsel);
    strbuf_release_wipe(&w->queue);
    pthread_mutex_destroy(&w->lock);
    pthread_cond_destroy(&w->cond);
    free(w->prefix);
    free(w);
}

/* Sends the current objects as ADDED; returns the revision they were read at, or -1. */
static int64_t initial_state(struct watch *w, struct rkc_error *err)
{
    struct etcd_kvs kvs = { 0 };
    size_t plen = strlen(w->prefix), elen, i;
    char *end = etcd_prefix_end(w->prefix, plen, &elen);
    int64_t rev = -1;

    if (!etcd_range(store_etcd(w->srv->store), w->prefix, plen, end, elen, 0, 0, false, &kvs,
                    err)) {
        rev = kvs.revision;
        for (i = 0; i < kvs.nr; i++) {
            struct jval *obj = NULL;

            if (store_decode(w->srv->store, w->res->resource, &kvs.v[i], &obj, NULL, err)) {
                rev = -1;
                break;
            }
            if (selected(w, obj))
                push(w, "ADDED", obj);
            else
                jval_decref(obj);
        }
    }
    etcd_kvs_release(&kvs);
    free(end);
    return rev;
}

void h_watch(struct req_ctx *rc)
{
    const char *q_rv = http_request_query(rc->http, "resourceVersion");
    const char *q_labels = http_request_query(rc->http, "labelSelector");
    const char *q_fields = http_request_query(rc->http, "fieldSelector");
    const char *q_timeout = http_request_query(rc->http, "timeoutSeconds");
    struct watch *w = xcalloc(1, sizeof(*w));
    struct rkc_error err;
    long timeout = WATCH_DEFAULT_S;

    rkc_error_init(&err);
    w->srv = rc->srv;
    w->res = rc->res;
    w->kres = rc->kres;
    w->table = table_wanted(http_request_header(rc->http, "Accept"));
    w->prefix = store_list_prefix(rc->srv->store, rc->res->resource, rc->ns);
    pthread_mutex_init(&w->lock, NULL);
    pthread_cond_init(&w->cond, NULL);
    strbuf_init(&w->queue, 0);
    atomic_init(&w->cancel, false);
    if (q_timeout && *q_timeout) {
        char *e;
        long t = strtol(q_timeout, &e, 10);

        if (!*e && t > 0 && t < timeout)
            timeout = t;
    }
    w->deadline = time(NULL) + timeout;
    if ((q_labels && kobj_label_selector_parse(q_labels, &w->lsel, &err)) ||
        (q_fields &&
         kobj_field_selector_parse(q_fields, rc->kres == KRES_SECRETS, &w->fsel, &err))) {
        resp_status(rc->resp, 400, "BadRequest", err.msg, NULL);
        watch_free(w);
        return;
    }
    if (q_rv && *q_rv && strcmp(q_rv, "0") != 0) {
        char *e;
        long long v = strtoll(q_rv, &e, 10);

        if (*e || v < 0) {
            resp_status(rc->resp, 400, "BadRequest", "invalid resourceVersion", NULL);
            watch_free(w);
            return;
        }
        w->start_rev = v + 1;
    } else {
        int64_t rev = initial_state(w, &err);

        if (rev < 0) {
            resp_status(rc->resp, 500, "InternalError", err.msg, NULL);
            watch_free(w);
            return;
        }
        w->start_rev = rev + 1;
    }
    if (pthread_create(&w->thread, NULL, watch_main, w)) {
        resp_status(rc->resp, 500, "InternalError", "cannot start a watch thread", NULL);
        watch_free(w);
        return;
    }
    w->thread_started = true;
    rc->resp->status = 200;
    snprintf(rc->resp->content_type, sizeof(rc->resp->content_type), "application/json");
    rc->resp->stream.read = watch_read;
    rc->resp->stream.free = watch_free;
    rc->resp->stream.ctx = w;
}
