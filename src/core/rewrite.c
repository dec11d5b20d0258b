/* SPDX-License-Identifier: Apache-2.0 */
/*
 * rewrite: the engine behind `rkc encrypt rewrite` and the rewrite step of every encryption
 * operation. The calling thread discovers the resource, lists it page by page and feeds a
 * bounded queue; worker threads PUT each object back. See rewrite.h for the contract and
 * docs/internals/rewrite.md for the design.
 */
#include "core/rewrite.h"

#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "adapters/jval.h"
#include "adapters/kube.h"
#include "util/xalloc.h"

#include "util/banned.h"

#define REASON_MAX      300 /* bytes of a server message kept in a failure reason */
#define RATE_SAMPLES    16
#define MSG_FAILURES    5 /* failures named in the error message itself */
#define JSON_CT         "application/json"
#define MAX_EMPTY_PAGES 100 /* consecutive empty pages that still carry a continue token */

/* ---- pure parts ---- */

enum rewrite_class rewrite_classify(enum rkc_err rc, long status)
{
    if (rc == RKC_EHTTP || rc == RKC_ETIMEOUT)
        return REWRITE_TRANSIENT;
    if (rc)
        return REWRITE_FATAL;
    if (status >= 200 && status < 300)
        return REWRITE_OK;
    if (status == 404)
        return REWRITE_GONE;
    if (status == 409)
        return REWRITE_CONFLICT;
    if (status == 410)
        return REWRITE_EXPIRED;
    if (status == 429 || (status >= 500 && status < 600))
        return REWRITE_TRANSIENT;
    return REWRITE_FATAL;
}

unsigned rewrite_backoff_ms(unsigned attempt, unsigned base_ms, unsigned max_ms, double jitter)
{
    uint64_t d = base_ms, half;
    unsigned i;

    for (i = 0; i < attempt && d < max_ms; i++)
        d <<= 1;
    if (d > max_ms)
        d = max_ms;
    if (jitter < 0)
        jitter = 0;
    if (jitter > 1)
        jitter = 1;
    half = d / 2;
    return (unsigned)(half + (uint64_t)(jitter * (double)(d - half)));
}

size_t rewrite_total_estimate(size_t listed, size_t seen_in_pass, int64_t remaining)
{
    size_t pass = seen_in_pass + (remaining > 0 ? (size_t)remaining : 0);

    return pass > listed ? pass : listed;
}

static uint64_t hash_str(const char *s)
{
    uint64_t h = 1469598103934665603ull; /* FNV-1a */

    for (; *s; s++) {
        h ^= (unsigned char)*s;
        h *= 1099511628211ull;
    }
    return h;
}

void rewrite_done_set_init(struct rewrite_done_set *s)
{
    memset(s, 0, sizeof(*s));
}

void rewrite_done_set_release(struct rewrite_done_set *s)
{
    size_t i;

    if (!s)
        return;
    for (i = 0; i < s->cap; i++)
        free(s->slots[i]);
    free(s->slots);
    rewrite_done_set_init(s);
}

static size_t slot_of(char *const *slots, size_t cap, const char *key)
{
    size_t i = (size_t)hash_str(key) & (cap - 1);

    while (slots[i] && strcmp(slots[i], key) != 0)
        i = (i + 1) & (cap - 1);
    return i;
}

bool rewrite_done_set_contains(const struct rewrite_done_set *s, const char *key)
{
    return s->cap && s->slots[slot_of(s->slots, s->cap, key)];
}

bool rewrite_done_set_add(struct rewrite_done_set *s, const char *key)
{
    size_t i;

    if ((s->nr + 1) * 4 > s->cap * 3) { /* keep the load under 3/4 */
        size_t ncap = s->cap ? s->cap * 2 : 64, j;
        char **n = xcalloc(ncap, sizeof(*n));

        for (j = 0; j < s->cap; j++)
            if (s->slots[j])
                n[slot_of(n, ncap, s->slots[j])] = s->slots[j];
        free(s->slots);
        s->slots = n;
        s->cap = ncap;
    }
    i = slot_of(s->slots, s->cap, key);
    if (s->slots[i])
        return false;
    s->slots[i] = xstrdup(key);
    s->nr++;
    return true;
}

void rewrite_result_init(struct rewrite_result *r)
{
    memset(r, 0, sizeof(*r));
}

void rewrite_result_release(struct rewrite_result *r)
{
    size_t i;

    if (!r)
        return;
    for (i = 0; i < r->nfailures; i++) {
        free(r->failures[i].name);
        free(r->failures[i].reason);
    }
    free(r->failures);
    rewrite_result_init(r);
}

void rewrite_result_add_failure(struct rewrite_result *r, const char *name, const char *reason)
{
    r->failed++;
    if (r->nfailures >= REWRITE_MAX_FAILURES)
        return;
    ALLOC_GROW(r->failures, r->nfailures + 1, r->failures_alloc);
    r->failures[r->nfailures].name = xstrdup(name);
    r->failures[r->nfailures].reason = xstrdup(reason);
    r->nfailures++;
}

/* ---- the kube_request seam ---- */

static enum rkc_err kube_api_request(void *ctx, const char *method, const char *path,
                                     const char *content_type, const void *body, size_t len,
                                     long *ret_status, struct strbuf *resp, struct rkc_error *err)
{
    return kube_request(ctx, method, path, content_type, body, len, ret_status, resp, err);
}

void rewrite_api_from_kube(struct kube_client *c, struct rewrite_api *ret)
{
    ret->request = kube_api_request;
    ret->ctx = c;
}

/* ---- engine ---- */

struct item {
    char *name; /* "ns/name" or "name", for reports */
    char *path; /* PUT/GET path */
    struct strbuf body;
};

struct sample {
    double t;
    size_t done;
};

struct engine {
    const struct rewrite_api *api;
    struct rewrite_options o;
    struct rewrite_result *res;
    char *resource;    /* plural name without the group */
    char *base;        /* "/api/v1" or "/apis/GROUP/VERSION" */
    char *api_version; /* "v1", "apps/v1" */
    char *kind;        /* "Secret" */
    bool namespaced;

    pthread_mutex_t lock;
    pthread_cond_t not_full, not_empty, progressed;
    struct item **queue;
    size_t qcap, qhead, qcount;
    bool closing;
    size_t done; /* items finished by workers (and failed at list time) */
    size_t total_known;
    bool total_exact;

    struct timespec start;
    double last_tick;
    struct sample samples[RATE_SAMPLES];
    size_t nsamples, sample_pos;
};

static double now_s(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static double elapsed(const struct engine *e)
{
    return now_s() - ((double)e->start.tv_sec + (double)e->start.tv_nsec / 1e9);
}

static void sleep_ms(unsigned ms)
{
    struct timespec ts = { ms / 1000, (long)(ms % 1000) * 1000000L };

    while (nanosleep(&ts, &ts) && errno == EINTR)
        ;
}

/* xorshift64*: jitter only, not security. */
static double next_jitter(uint64_t *state)
{
    uint64_t x = *state;

    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    *state = x;
    return (double)((x * 2685821657736338717ull) >> 11) / 9007199254740992.0;
}

static void free_item(struct item *it)
{
    if (!it)
        return;
    free(it->name);
    free(it->path);
    strbuf_release_wipe(&it->body);
    free(it);
}

/* "HTTP 403 Forbidden: message" from a Status answer, else "HTTP 403". */
static void describe_status(long status, const struct strbuf *resp, struct strbuf *out)
{
    struct jval *j = NULL;

    strbuf_addf(out, "HTTP %ld", status);
    if (resp->len && !jval_parse("answer", resp->buf, resp->len, &j, NULL) &&
        !strcmp(jval_get_str(j, "kind", ""), "Status")) {
        const char *reason = jval_get_str(j, "reason", ""), *msg = jval_get_str(j, "message", "");
        size_t n = strlen(msg);

        if (*reason)
            strbuf_addf(out, " %s", reason);
        if (*msg) {
            strbuf_addstr(out, ": ");
            strbuf_add(out, msg, n > REASON_MAX ? REASON_MAX : n);
            if (n > REASON_MAX)
                strbuf_addstr(out, "...");
        }
    }
    if (j)
        jval_wipe_strings(j);
    jval_decref(j);
}

/*
 * One request with backoff on transient outcomes. Returns the class of the last outcome;
 * for anything but REWRITE_OK, why holds a description.
 */
static enum rewrite_class call(struct engine *e, uint64_t *rng, const char *method,
                               const char *path, const struct strbuf *body, long *ret_status,
                               struct strbuf *resp, struct strbuf *why)
{
    unsigned attempt;
    enum rewrite_class cls = REWRITE_FATAL;

    for (attempt = 0;; attempt++) {
        struct rkc_error err;
        enum rkc_err rc;
        long status = 0;

        rkc_error_init(&err);
        rc = e->api->request(e->api->ctx, method, path, body ? JSON_CT : NULL,
                             body ? body->buf : NULL, body ? body->len : 0, &status, resp, &err);
        cls = rewrite_classify(rc, status);
        *ret_status = status;
        strbuf_reset(why);
        if (cls == REWRITE_OK)
            return cls;
        if (rc)
            strbuf_addstr(why, err.msg);
        else
            describe_status(status, resp, why);
        if (cls != REWRITE_TRANSIENT)
            return cls;
        if (attempt + 1 >= e->o.max_attempts) {
            strbuf_addf(why, " (gave up after %u attempts)", e->o.max_attempts);
            return cls;
        }
        pthread_mutex_lock(&e->lock);
        e->res->transient_retries++;
        pthread_mutex_unlock(&e->lock);
        sleep_ms(rewrite_backoff_ms(attempt, e->o.backoff_base_ms, e->o.backoff_max_ms,
                                    next_jitter(rng)));
    }
}

/* Replaces body with the current object at path (apiVersion and kind filled in). */
static enum rewrite_class reread(struct engine *e, uint64_t *rng, const char *path,
                                 struct strbuf *body, struct strbuf *why)
{
    struct strbuf resp = STRBUF_INIT;
    struct jval *j = NULL;
    enum rewrite_class cls;
    long status;

    cls = call(e, rng, "GET", path, NULL, &status, &resp, why);
    if (cls == REWRITE_OK) {
        if (jval_parse("object", resp.buf, resp.len, &j, NULL) || !jval_is_object(j)) {
            strbuf_reset(why);
            strbuf_addstr(why, "the re-read object is not JSON");
            cls = REWRITE_FATAL;
        } else {
            if (!*jval_get_str(j, "apiVersion", ""))
                jval_set_str(j, "apiVersion", e->api_version);
            if (!*jval_get_str(j, "kind", ""))
                jval_set_str(j, "kind", e->kind);
            strbuf_release_wipe(body);
            jval_dump(j, JVAL_COMPACT, body);
        }
    }
    if (j)
        jval_wipe_strings(j);
    jval_decref(j);
    strbuf_release_wipe(&resp);
    return cls;
}

enum outcome { OUT_REWRITTEN, OUT_GONE, OUT_FAILED };

static enum outcome process(struct engine *e, uint64_t *rng, struct item *it, struct strbuf *why)
{
    struct strbuf resp = STRBUF_INIT;
    unsigned conflicts = 0;
    enum outcome out;

    for (;;) {
        enum rewrite_class cls;
        long status;

        cls = call(e, rng, "PUT", it->path, &it->body, &status, &resp, why);
        if (cls == REWRITE_OK) {
            out = OUT_REWRITTEN;
            break;
        }
        if (cls == REWRITE_GONE) {
            out = OUT_GONE;
            break;
        }
        if (cls != REWRITE_CONFLICT) {
            out = OUT_FAILED;
            break;
        }
        pthread_mutex_lock(&e->lock);
        e->res->conflicts_retried++;
        pthread_mutex_unlock(&e->lock);
        if (++conflicts > e->o.max_conflicts) {
            strbuf_addf(why, " (still conflicting after %u re-reads)", e->o.max_conflicts);
            out = OUT_FAILED;
            break;
        }
        cls = reread(e, rng, it->path, &it->body, why);
        if (cls == REWRITE_GONE) {
            out = OUT_GONE;
            break;
        }
        if (cls != REWRITE_OK) {
            struct strbuf tmp = STRBUF_INIT;

            strbuf_addf(&tmp, "re-read after a conflict: %s", why->buf);
            strbuf_reset(why);
            strbuf_add(why, tmp.buf, tmp.len);
            strbuf_release(&tmp);
            out = OUT_FAILED;
            break;
        }
    }
    strbuf_release_wipe(&resp);
    return out;
}

struct worker {
    struct engine *e;
    pthread_t thread;
    uint64_t rng;
};

static void *worker_main(void *arg)
{
    struct worker *w = arg;
    struct engine *e = w->e;
    struct strbuf why = STRBUF_INIT;

    for (;;) {
        struct item *it;
        enum outcome out;

        pthread_mutex_lock(&e->lock);
        while (!e->qcount && !e->closing)
            pthread_cond_wait(&e->not_empty, &e->lock);
        if (!e->qcount) {
            pthread_mutex_unlock(&e->lock);
            break;
        }
        it = e->queue[e->qhead];
        e->qhead = (e->qhead + 1) % e->qcap;
        e->qcount--;
        pthread_cond_signal(&e->not_full);
        pthread_mutex_unlock(&e->lock);

        strbuf_reset(&why);
        out = process(e, &w->rng, it, &why);

        pthread_mutex_lock(&e->lock);
        if (out == OUT_REWRITTEN)
            e->res->rewritten++;
        else if (out == OUT_GONE)
            e->res->skipped_gone++;
        else
            rewrite_result_add_failure(e->res, it->name, why.buf);
        e->done++;
        pthread_cond_signal(&e->progressed);
        pthread_mutex_unlock(&e->lock);
        free_item(it);
    }
    strbuf_release(&why);
    return NULL;
}

/* Calls the progress callback when due (or always when final). Calling thread only. */
static void tick(struct engine *e, bool final)
{
    struct rewrite_progress p;
    double t = elapsed(e);
    const struct sample *oldest;

    if (!e->o.progress)
        return;
    if (!final && t - e->last_tick < (double)e->o.progress_interval_ms / 1000.0)
        return;
    e->last_tick = t;
    pthread_mutex_lock(&e->lock);
    p.done = e->done;
    p.total_known = e->total_known > e->done ? e->total_known : e->done;
    p.total_exact = e->total_exact;
    pthread_mutex_unlock(&e->lock);
    p.elapsed_s = t;
    p.final = final;
    e->samples[e->sample_pos] = (struct sample){ t, p.done };
    e->sample_pos = (e->sample_pos + 1) % RATE_SAMPLES;
    if (e->nsamples < RATE_SAMPLES)
        e->nsamples++;
    oldest = &e->samples[e->nsamples < RATE_SAMPLES ? 0 : e->sample_pos];
    if (!final && t - oldest->t >= 0.5)
        p.rate = (double)(p.done - oldest->done) / (t - oldest->t);
    else
        p.rate = t > 0 ? (double)p.done / t : 0;
    e->o.progress(e->o.progress_ctx, &p);
}

/* Waits on cv (lock held) until signalled or the next progress tick is due. */
static void wait_tick(struct engine *e, pthread_cond_t *cv)
{
    double wait_s = (double)e->o.progress_interval_ms / 1000.0;
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    ts.tv_sec += (time_t)wait_s;
    ts.tv_nsec += (long)((wait_s - (double)(time_t)wait_s) * 1e9);
    if (ts.tv_nsec >= 1000000000L) {
        ts.tv_sec++;
        ts.tv_nsec -= 1000000000L;
    }
    pthread_cond_timedwait(cv, &e->lock, &ts);
}

static void push(struct engine *e, struct item *it)
{
    pthread_mutex_lock(&e->lock);
    while (e->qcount == e->qcap) {
        wait_tick(e, &e->not_full);
        pthread_mutex_unlock(&e->lock);
        tick(e, false);
        pthread_mutex_lock(&e->lock);
    }
    e->queue[(e->qhead + e->qcount) % e->qcap] = it;
    e->qcount++;
    pthread_cond_signal(&e->not_empty);
    pthread_mutex_unlock(&e->lock);
    tick(e, false);
}

/* Splits "deployments.apps" and finds the served version, kind and scope. */
static enum rkc_err discover(struct engine *e, uint64_t *rng, struct rkc_error *err)
{
    struct strbuf resp = STRBUF_INIT, why = STRBUF_INIT;
    struct jval *j = NULL;
    const char *dot = strchr(e->o.resource, '.');
    const struct jval *list;
    enum rkc_err rc = RKC_OK;
    long status;
    size_t i;

    e->resource =
        dot ? xstrndup(e->o.resource, (size_t)(dot - e->o.resource)) : xstrdup(e->o.resource);
    if (!*e->resource || (dot && !dot[1]))
        return rkc_error_set(err, RKC_EINVAL, "bad resource name '%s'", e->o.resource);
    if (!dot) {
        e->api_version = xstrdup("v1");
        e->base = xstrdup("/api/v1");
    } else {
        char *path = xasprintf("/apis/%s", dot + 1);
        enum rewrite_class cls = call(e, rng, "GET", path, NULL, &status, &resp, &why);
        const char *gv;

        free(path);
        if (cls == REWRITE_GONE) {
            rc = rkc_error_set(err, RKC_ENOTFOUND, "the server does not serve API group '%s'",
                               dot + 1);
            goto out;
        }
        if (cls != REWRITE_OK) {
            rc = rkc_error_set(err, RKC_EHTTP, "discovery of API group '%s': %s", dot + 1, why.buf);
            goto out;
        }
        if (jval_parse("discovery", resp.buf, resp.len, &j, err)) {
            rc = RKC_EHTTP;
            goto out;
        }
        gv = jval_get_str(jval_get(j, "preferredVersion"), "groupVersion", "");
        if (!*gv) {
            rc =
                rkc_error_set(err, RKC_EHTTP, "API group '%s' names no preferred version", dot + 1);
            goto out;
        }
        e->api_version = xstrdup(gv);
        e->base = xasprintf("/apis/%s", gv);
        jval_decref(j);
        j = NULL;
    }
    if (call(e, rng, "GET", e->base, NULL, &status, &resp, &why) != REWRITE_OK) {
        rc = rkc_error_set(err, RKC_EHTTP, "discovery of '%s': %s", e->base, why.buf);
        goto out;
    }
    if (jval_parse("discovery", resp.buf, resp.len, &j, err)) {
        rc = RKC_EHTTP;
        goto out;
    }
    list = jval_get(j, "resources");
    for (i = 0; i < jval_array_size(list); i++) {
        const struct jval *r = jval_array_get(list, i);

        if (!strcmp(jval_get_str(r, "name", ""), e->resource)) {
            e->namespaced = jval_get_bool(r, "namespaced", false);
            e->kind = xstrdup(jval_get_str(r, "kind", ""));
            break;
        }
    }
    if (!e->kind || !*e->kind)
        rc = rkc_error_set(err, RKC_ENOTFOUND, "the server does not serve '%s' in '%s'",
                           e->resource, e->api_version);
out:
    jval_decref(j);
    strbuf_release(&resp);
    strbuf_release(&why);
    return rc;
}

/* Builds the work item for one list entry; NULL (failure recorded by the caller) if nameless. */
static struct item *make_item(struct engine *e, struct jval *obj, const char *ns, const char *name)
{
    struct item *it = xcalloc(1, sizeof(*it));
    struct strbuf p = STRBUF_INIT;

    strbuf_addstr(&p, e->base);
    if (e->namespaced) {
        strbuf_addstr(&p, "/namespaces/");
        kube_escape(ns, &p);
    }
    strbuf_addf(&p, "/%s/", e->resource);
    kube_escape(name, &p);
    it->path = strbuf_detach(&p, NULL);
    it->name = e->namespaced ? xasprintf("%s/%s", ns, name) : xstrdup(name);
    jval_set_str(obj, "apiVersion", e->api_version);
    jval_set_str(obj, "kind", e->kind);
    strbuf_init(&it->body, 0);
    jval_dump(obj, JVAL_COMPACT, &it->body);
    return it;
}

static void record_list_failure(struct engine *e, const char *name, const char *reason)
{
    pthread_mutex_lock(&e->lock);
    rewrite_result_add_failure(e->res, name, reason);
    e->done++;
    pthread_mutex_unlock(&e->lock);
}

/* Lists every object and hands each new one to the workers. */
static enum rkc_err list_all(struct engine *e, uint64_t *rng, struct rewrite_done_set *done,
                             struct rkc_error *err)
{
    struct strbuf resp = STRBUF_INIT, why = STRBUF_INIT, path = STRBUF_INIT;
    char *cont = NULL;
    size_t seen = 0;
    int empty_pages = 0;
    enum rkc_err rc = RKC_OK;

    for (;;) {
        enum rewrite_class cls;
        struct jval *page = NULL;
        const struct jval *items, *meta;
        const char *next;
        int64_t remaining;
        long status;
        size_t i, n;

        strbuf_reset(&path);
        strbuf_addf(&path, "%s/%s?limit=%u", e->base, e->resource, e->o.page_size);
        if (cont) {
            strbuf_addstr(&path, "&continue=");
            kube_escape(cont, &path);
        }
        cls = call(e, rng, "GET", path.buf, NULL, &status, &resp, &why);
        if (cls == REWRITE_EXPIRED && cont) {
            pthread_mutex_lock(&e->lock);
            e->res->list_restarts++;
            pthread_mutex_unlock(&e->lock);
            if (e->res->list_restarts > e->o.max_list_restarts) {
                rc = rkc_error_set(err, RKC_EHTTP,
                                   "the list's continue token expired %zu times; giving up",
                                   e->res->list_restarts);
                break;
            }
            free(cont);
            cont = NULL;
            seen = 0;
            continue;
        }
        if (cls != REWRITE_OK) {
            rc = rkc_error_set(err, RKC_EHTTP, "%s", why.buf);
            break;
        }
        if (jval_parse("list", resp.buf, resp.len, &page, err) || !jval_is_object(page)) {
            rc = rkc_error_set(err, RKC_EHTTP, "the list answer is not a JSON object");
            jval_decref(page);
            break;
        }
        strbuf_release_wipe(&resp);
        items = jval_get(page, "items");
        meta = jval_get(page, "metadata");
        n = jval_array_size(items);
        remaining = jval_get(meta, "remainingItemCount")
                        ? jval_get_int(meta, "remainingItemCount", -1)
                        : -1;
        pthread_mutex_lock(&e->lock);
        e->total_known = rewrite_total_estimate(e->res->listed, seen + n, remaining);
        pthread_mutex_unlock(&e->lock);
        for (i = 0; i < n; i++) {
            struct jval *obj = jval_array_get(items, i);
            const struct jval *om = jval_get(obj, "metadata");
            const char *name = jval_get_str(om, "name", ""),
                       *ns = jval_get_str(om, "namespace", "");
            char *key;

            seen++;
            key = xasprintf("%s/%s", ns, name);
            if (rewrite_done_set_add(done, key)) {
                pthread_mutex_lock(&e->lock);
                e->res->listed++;
                pthread_mutex_unlock(&e->lock);
                if (!*name || (e->namespaced && !*ns))
                    record_list_failure(e, *name ? name : "(unnamed)",
                                        "list item without metadata.name or namespace");
                else
                    push(e, make_item(e, obj, ns, name));
            }
            free(key);
        }
        next = jval_get_str(meta, "continue", "");
        free(cont);
        cont = *next ? xstrdup(next) : NULL;
        jval_wipe_strings(page);
        jval_decref(page);
        if (!cont)
            break;
        empty_pages = n ? 0 : empty_pages + 1;
        if (empty_pages > MAX_EMPTY_PAGES) {
            rc = rkc_error_set(err, RKC_EHTTP,
                               "the list does not end (%d empty pages with a continue token)",
                               MAX_EMPTY_PAGES);
            break;
        }
    }
    free(cont);
    strbuf_release_wipe(&resp);
    strbuf_release(&why);
    strbuf_release(&path);
    return rc;
}

static void set_defaults(const struct rewrite_options *in, struct rewrite_options *o)
{
    *o = *in;
    if (!o->resource || !*o->resource)
        o->resource = "secrets";
    if (!o->workers)
        o->workers = REWRITE_DEFAULT_WORKERS;
    if (!o->page_size)
        o->page_size = 500;
    if (!o->max_attempts)
        o->max_attempts = 8;
    if (!o->max_conflicts)
        o->max_conflicts = 10;
    if (!o->max_list_restarts)
        o->max_list_restarts = 20;
    if (!o->backoff_base_ms)
        o->backoff_base_ms = 100;
    if (!o->backoff_max_ms)
        o->backoff_max_ms = 5000;
    if (o->backoff_max_ms < o->backoff_base_ms)
        o->backoff_max_ms = o->backoff_base_ms;
    if (!o->progress_interval_ms)
        o->progress_interval_ms = 200;
}

enum rkc_err rewrite_run(const struct rewrite_api *api, const struct rewrite_options *opts,
                         struct rewrite_result *result, struct rkc_error *err)
{
    struct rewrite_done_set done;
    struct worker *workers = NULL;
    struct engine e;
    pthread_condattr_t ca;
    struct rkc_error list_err;
    enum rkc_err rc = RKC_OK, list_rc = RKC_OK;
    uint64_t rng;
    size_t i, started = 0;

    memset(&e, 0, sizeof(e));
    set_defaults(opts, &e.o);
    if (e.o.workers > REWRITE_MAX_WORKERS)
        return rkc_error_set(err, RKC_EINVAL, "too many workers: %u (at most %d)", e.o.workers,
                             REWRITE_MAX_WORKERS);
    e.api = api;
    e.res = result;
    clock_gettime(CLOCK_MONOTONIC, &e.start);
    rng = (((uint64_t)e.start.tv_nsec * 0x9e3779b97f4a7c15ull) ^ (uint64_t)e.start.tv_sec) | 1;
    pthread_mutex_init(&e.lock, NULL);
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&e.not_full, &ca);
    pthread_cond_init(&e.not_empty, &ca);
    pthread_cond_init(&e.progressed, &ca);
    pthread_condattr_destroy(&ca);
    rewrite_done_set_init(&done);
    rkc_error_init(&list_err);

    rc = discover(&e, &rng, err);
    if (rc) {
        rkc_error_prefix(err, "rewriting %s: ", e.o.resource);
        goto out;
    }
    e.qcap = 2 * (size_t)e.o.workers;
    e.queue = xcalloc(e.qcap, sizeof(struct item *));
    workers = xcalloc(e.o.workers, sizeof(*workers));
    for (i = 0; i < e.o.workers; i++) {
        workers[i].e = &e;
        workers[i].rng = rng ^ ((uint64_t)(i + 1) * 0xbf58476d1ce4e5b9ull);
        if (pthread_create(&workers[i].thread, NULL, worker_main, &workers[i])) {
            rc = rkc_error_set(err, RKC_EINTERNAL, "cannot start rewrite worker threads");
            break;
        }
        started++;
    }
    if (!rc)
        list_rc = list_all(&e, &rng, &done, &list_err);

    pthread_mutex_lock(&e.lock);
    e.closing = true;
    e.total_exact = !list_rc && !rc;
    if (e.total_exact)
        e.total_known = e.res->listed;
    pthread_cond_broadcast(&e.not_empty);
    while (e.done < e.res->listed && started) {
        wait_tick(&e, &e.progressed);
        pthread_mutex_unlock(&e.lock);
        tick(&e, false);
        pthread_mutex_lock(&e.lock);
    }
    pthread_mutex_unlock(&e.lock);
    for (i = 0; i < started; i++)
        pthread_join(workers[i].thread, NULL);
    result->elapsed_s = elapsed(&e);
    tick(&e, true);
    if (rc)
        goto out;

    if (list_rc) {
        rc = rkc_error_set(err, list_rc, "listing %s: %s", e.o.resource, list_err.msg);
    } else if (result->failed) {
        struct strbuf msg = STRBUF_INIT;

        strbuf_addf(&msg, "%zu of %zu %s could not be rewritten: ", result->failed, result->listed,
                    e.o.resource);
        for (i = 0; i < result->nfailures && i < MSG_FAILURES; i++)
            strbuf_addf(&msg, "%s'%s' (%s)", i ? ", " : "", result->failures[i].name,
                        result->failures[i].reason);
        if (result->failed > i)
            strbuf_addf(&msg, " and %zu more", result->failed - i);
        rc = rkc_error_set(err, RKC_EHTTP, "%s", msg.buf);
        strbuf_release(&msg);
    }
out:
    for (i = 0; e.queue && i < e.qcount; i++)
        free_item(e.queue[(e.qhead + i) % e.qcap]);
    free(e.queue);
    free(workers);
    rewrite_done_set_release(&done);
    free(e.resource);
    free(e.base);
    free(e.api_version);
    free(e.kind);
    pthread_cond_destroy(&e.not_full);
    pthread_cond_destroy(&e.not_empty);
    pthread_cond_destroy(&e.progressed);
    pthread_mutex_destroy(&e.lock);
    return rc;
}
