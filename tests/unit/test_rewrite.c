/* SPDX-License-Identifier: Apache-2.0 */
/*
 * test_rewrite: the pure parts of the rewrite engine (classification, backoff schedule, the
 * done set behind list restarts, result accounting, the progress estimate) and whole runs of
 * rewrite_run against an in-process fake API server that pages with continue tokens and
 * answers 409, 404, 410, 503 and 422 on cue.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#include <cmocka.h>

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "adapters/jval.h"
#include "core/rewrite.h"
#include "util/strbuf.h"
#include "util/xalloc.h"

/* ---- pure parts ---- */

static void test_classify(void **ctx)
{
    (void)ctx;
    assert_int_equal(rewrite_classify(RKC_OK, 200), REWRITE_OK);
    assert_int_equal(rewrite_classify(RKC_OK, 201), REWRITE_OK);
    assert_int_equal(rewrite_classify(RKC_OK, 404), REWRITE_GONE);
    assert_int_equal(rewrite_classify(RKC_OK, 409), REWRITE_CONFLICT);
    assert_int_equal(rewrite_classify(RKC_OK, 410), REWRITE_EXPIRED);
    assert_int_equal(rewrite_classify(RKC_OK, 429), REWRITE_TRANSIENT);
    assert_int_equal(rewrite_classify(RKC_OK, 500), REWRITE_TRANSIENT);
    assert_int_equal(rewrite_classify(RKC_OK, 503), REWRITE_TRANSIENT);
    assert_int_equal(rewrite_classify(RKC_OK, 504), REWRITE_TRANSIENT);
    assert_int_equal(rewrite_classify(RKC_OK, 400), REWRITE_FATAL);
    assert_int_equal(rewrite_classify(RKC_OK, 401), REWRITE_FATAL);
    assert_int_equal(rewrite_classify(RKC_OK, 403), REWRITE_FATAL);
    assert_int_equal(rewrite_classify(RKC_OK, 422), REWRITE_FATAL);
    assert_int_equal(rewrite_classify(RKC_OK, 302), REWRITE_FATAL);
    assert_int_equal(rewrite_classify(RKC_EHTTP, 0), REWRITE_TRANSIENT);
    assert_int_equal(rewrite_classify(RKC_ETIMEOUT, 0), REWRITE_TRANSIENT);
    assert_int_equal(rewrite_classify(RKC_ELIMIT, 0), REWRITE_FATAL);
    assert_int_equal(rewrite_classify(RKC_EINVAL, 0), REWRITE_FATAL);
}

static void test_backoff(void **ctx)
{
    unsigned a, prev = 0;

    (void)ctx;
    /* without jitter: half the doubling delay; with full jitter: the whole delay */
    assert_int_equal(rewrite_backoff_ms(0, 100, 5000, 0.0), 50);
    assert_int_equal(rewrite_backoff_ms(0, 100, 5000, 1.0), 100);
    assert_int_equal(rewrite_backoff_ms(1, 100, 5000, 1.0), 200);
    assert_int_equal(rewrite_backoff_ms(2, 100, 5000, 1.0), 400);
    assert_int_equal(rewrite_backoff_ms(5, 100, 5000, 1.0), 3200);
    assert_int_equal(rewrite_backoff_ms(6, 100, 5000, 1.0), 5000);
    assert_int_equal(rewrite_backoff_ms(6, 100, 5000, 0.0), 2500);
    assert_int_equal(rewrite_backoff_ms(3, 100, 5000, 0.5), 600);
    /* capped for any attempt, no overflow for huge ones, jitter clamped */
    assert_int_equal(rewrite_backoff_ms(1000, 100, 5000, 1.0), 5000);
    assert_int_equal(rewrite_backoff_ms(63, 1u << 31, 4000000000u, 1.0), 4000000000u);
    assert_int_equal(rewrite_backoff_ms(0, 100, 5000, 7.0), 100);
    assert_int_equal(rewrite_backoff_ms(0, 100, 5000, -3.0), 50);
    for (a = 0; a < 20; a++) {
        unsigned d = rewrite_backoff_ms(a, 100, 5000, 1.0);

        assert_true(d >= prev);
        assert_true(d <= 5000);
        prev = d;
    }
    /* the 8 default attempts wait at least ~5.6 s in all: longer than an API server restart */
    prev = 0;
    for (a = 0; a < 7; a++)
        prev += rewrite_backoff_ms(a, 100, 5000, 0.0);
    assert_true(prev >= 5000);
}

static void test_done_set(void **ctx)
{
    struct rewrite_done_set s;
    char key[64];
    int i;

    (void)ctx;
    rewrite_done_set_init(&s);
    assert_false(rewrite_done_set_contains(&s, "a/b"));
    assert_true(rewrite_done_set_add(&s, "a/b"));
    assert_false(rewrite_done_set_add(&s, "a/b"));
    assert_true(rewrite_done_set_contains(&s, "a/b"));
    assert_false(rewrite_done_set_contains(&s, "a/c"));
    /* growth keeps every key */
    for (i = 0; i < 20000; i++) {
        snprintf(key, sizeof(key), "ns-%d/s-%d", i % 10, i);
        assert_true(rewrite_done_set_add(&s, key));
    }
    assert_int_equal(s.nr, 20001);
    for (i = 0; i < 20000; i++) {
        snprintf(key, sizeof(key), "ns-%d/s-%d", i % 10, i);
        assert_true(rewrite_done_set_contains(&s, key));
        assert_false(rewrite_done_set_add(&s, key));
    }
    assert_false(rewrite_done_set_contains(&s, "ns-0/s-20000"));
    assert_true(s.nr * 4 <= s.cap * 3);
    rewrite_done_set_release(&s);
    assert_int_equal(s.nr, 0);
    rewrite_done_set_release(&s);
    rewrite_done_set_release(NULL);
}

static void test_result_accounting(void **ctx)
{
    struct rewrite_result r;
    char name[32];
    int i;

    (void)ctx;
    rewrite_result_init(&r);
    for (i = 0; i < REWRITE_MAX_FAILURES + 50; i++) {
        snprintf(name, sizeof(name), "ns/s-%d", i);
        rewrite_result_add_failure(&r, name, "HTTP 422 Invalid");
    }
    assert_int_equal(r.failed, REWRITE_MAX_FAILURES + 50);
    assert_int_equal(r.nfailures, REWRITE_MAX_FAILURES);
    assert_string_equal(r.failures[0].name, "ns/s-0");
    assert_string_equal(r.failures[REWRITE_MAX_FAILURES - 1].reason, "HTTP 422 Invalid");
    rewrite_result_release(&r);
    assert_int_equal(r.failed, 0);
    assert_null(r.failures);
    rewrite_result_release(NULL);
}

static void test_total_estimate(void **ctx)
{
    (void)ctx;
    /* first pass: seen + remaining */
    assert_int_equal(rewrite_total_estimate(0, 500, 1500), 2000);
    assert_int_equal(rewrite_total_estimate(500, 500, -1), 500);
    /* after a restart the pass restarts at 0 but the listed count never shrinks the total */
    assert_int_equal(rewrite_total_estimate(1200, 500, 100), 1200);
    assert_int_equal(rewrite_total_estimate(1200, 500, 1500), 2000);
    assert_int_equal(rewrite_total_estimate(0, 0, 0), 0);
}

/* ---- fake API server ---- */

enum { F_PLAIN, F_CONFLICT_ONCE, F_GONE, F_UNAVAILABLE_TWICE, F_INVALID, F_ALWAYS_CONFLICT };

struct fobj {
    char ns[16], name[16];
    int rv;
    int behaviour;
    int puts_ok, puts, gets;
    bool conflicted;
};

struct fake {
    pthread_mutex_t lock;
    struct fobj *objs;
    int n;
    int expire_continue;  /* answer 410 to this many continue requests */
    int list_unavailable; /* answer 503 to this many list requests */
    int lists, discovery_gets;
    bool cluster_scoped;
    bool serve_nothing;
    bool endless_empty; /* empty pages, each with a continue token */
};

static struct fobj *find(struct fake *f, const char *ns, const char *name)
{
    int i;

    for (i = 0; i < f->n; i++)
        if (!strcmp(f->objs[i].name, name) && (f->cluster_scoped || !strcmp(f->objs[i].ns, ns)))
            return &f->objs[i];
    return NULL;
}

static void obj_json(struct fake *f, const struct fobj *o, bool typed, struct strbuf *out)
{
    if (typed)
        strbuf_addstr(out, "{\"apiVersion\":\"v1\",\"kind\":\"Secret\",");
    else
        strbuf_addch(out, '{');
    if (f->cluster_scoped)
        strbuf_addf(out, "\"metadata\":{\"name\":\"%s\",\"resourceVersion\":\"%d\"},", o->name,
                    o->rv);
    else
        strbuf_addf(out,
                    "\"metadata\":{\"name\":\"%s\",\"namespace\":\"%s\","
                    "\"resourceVersion\":\"%d\"},",
                    o->name, o->ns, o->rv);
    strbuf_addstr(out, "\"data\":{\"k\":\"dg==\"}}");
}

static void status(struct strbuf *resp, int code, const char *reason)
{
    strbuf_addf(resp,
                "{\"kind\":\"Status\",\"apiVersion\":\"v1\",\"status\":\"Failure\","
                "\"reason\":\"%s\",\"message\":\"fake says %s\",\"code\":%d}",
                reason, reason, code);
}

/* Splits ".../namespaces/NS/secrets/NAME" or ".../secrets/NAME". */
static void parse_obj_path(struct fake *f, const char *path, char *ns, char *name)
{
    const char *p;

    ns[0] = name[0] = '\0';
    if (!f->cluster_scoped) {
        p = strstr(path, "/namespaces/");
        assert_non_null(p);
        sscanf(p, "/namespaces/%15[^/]/secrets/%15s", ns, name);
    } else {
        p = strstr(path, "/secrets/");
        assert_non_null(p);
        sscanf(p, "/secrets/%15s", name);
    }
}

static enum rkc_err fake_request(void *ctx, const char *method, const char *path,
                                 const char *content_type, const void *body, size_t len,
                                 long *ret_status, struct strbuf *resp, struct rkc_error *err)
{
    struct fake *f = ctx;
    char ns[16], name[16];
    struct fobj *o;
    long st = 200;

    (void)err;
    strbuf_reset(resp);
    pthread_mutex_lock(&f->lock);
    if (!strcmp(method, "GET") && !strcmp(path, "/api/v1")) {
        f->discovery_gets++;
        strbuf_addf(resp,
                    "{\"kind\":\"APIResourceList\",\"groupVersion\":\"v1\",\"resources\":["
                    "{\"name\":\"secrets/status\",\"namespaced\":true,\"kind\":\"Secret\"},"
                    "{\"name\":\"%s\",\"namespaced\":%s,\"kind\":\"Secret\"}]}",
                    f->serve_nothing ? "pods" : "secrets", f->cluster_scoped ? "false" : "true");
    } else if (!strcmp(method, "GET") && !strncmp(path, "/api/v1/secrets?", 16)) {
        const char *lim = strstr(path, "limit="), *cont = strstr(path, "continue=");
        int limit = lim ? (int)strtol(lim + 6, NULL, 10) : 0, start = 0, i, end;

        f->lists++;
        assert_true(limit > 0);
        if (f->list_unavailable > 0) {
            f->list_unavailable--;
            st = 503;
            status(resp, 503, "ServiceUnavailable");
            goto out;
        }
        if (cont) {
            assert_int_equal(sscanf(cont, "continue=tok-%d", &start), 1);
            if (f->expire_continue > 0) {
                f->expire_continue--;
                st = 410;
                status(resp, 410, "Expired");
                goto out;
            }
        }
        if (f->endless_empty) {
            strbuf_addstr(resp, "{\"metadata\":{\"continue\":\"tok-0\"},\"items\":[]}");
            goto out;
        }
        end = start + limit < f->n ? start + limit : f->n;
        strbuf_addstr(resp, "{\"kind\":\"SecretList\",\"apiVersion\":\"v1\",\"metadata\":{");
        if (end < f->n)
            strbuf_addf(resp, "\"continue\":\"tok-%d\",\"remainingItemCount\":%d", end, f->n - end);
        strbuf_addstr(resp, "},\"items\":[");
        for (i = start; i < end; i++) {
            if (i > start)
                strbuf_addch(resp, ',');
            obj_json(f, &f->objs[i], false, resp);
        }
        strbuf_addstr(resp, "]}");
    } else if (!strcmp(method, "GET")) {
        parse_obj_path(f, path, ns, name);
        o = find(f, ns, name);
        if (!o || o->behaviour == F_GONE) {
            st = 404;
            status(resp, 404, "NotFound");
            goto out;
        }
        o->gets++;
        obj_json(f, o, true, resp);
    } else if (!strcmp(method, "PUT")) {
        struct jval *j = NULL;
        const char *rv;

        assert_string_equal(content_type, "application/json");
        assert_int_equal(jval_parse("body", body, len, &j, NULL), RKC_OK);
        assert_string_equal(jval_get_str(j, "apiVersion", ""), "v1");
        assert_string_equal(jval_get_str(j, "kind", ""), "Secret");
        assert_string_equal(jval_get_str(jval_get(j, "data"), "k", ""), "dg==");
        rv = jval_get_str(jval_get(j, "metadata"), "resourceVersion", "");
        parse_obj_path(f, path, ns, name);
        o = find(f, ns, name);
        if (o)
            o->puts++;
        if (!o || o->behaviour == F_GONE) {
            st = 404;
            status(resp, 404, "NotFound");
        } else if (o->behaviour == F_INVALID) {
            st = 422;
            status(resp, 422, "Invalid");
        } else if (o->behaviour == F_UNAVAILABLE_TWICE && o->puts <= 2) {
            st = 503;
            status(resp, 503, "ServiceUnavailable");
        } else if (o->behaviour == F_ALWAYS_CONFLICT ||
                   (o->behaviour == F_CONFLICT_ONCE && !o->conflicted)) {
            o->conflicted = true;
            o->rv += 1000; /* someone else updated it */
            st = 409;
            status(resp, 409, "Conflict");
        } else if ((int)strtol(rv, NULL, 10) != o->rv) {
            st = 409;
            status(resp, 409, "Conflict");
        } else {
            o->rv++;
            o->puts_ok++;
            obj_json(f, o, true, resp);
        }
        jval_decref(j);
    } else {
        fail_msg("unexpected %s %s", method, path);
    }
out:
    pthread_mutex_unlock(&f->lock);
    *ret_status = st;
    return RKC_OK;
}

static void fake_init(struct fake *f, int n)
{
    int i;

    memset(f, 0, sizeof(*f));
    pthread_mutex_init(&f->lock, NULL);
    f->n = n;
    f->objs = xcalloc((size_t)n, sizeof(*f->objs));
    for (i = 0; i < n; i++) {
        snprintf(f->objs[i].ns, sizeof(f->objs[i].ns), "ns-%d", i % 7);
        snprintf(f->objs[i].name, sizeof(f->objs[i].name), "s-%d", i);
        f->objs[i].rv = 10 + i;
    }
}

static void fake_release(struct fake *f)
{
    free(f->objs);
    pthread_mutex_destroy(&f->lock);
}

struct progress_log {
    int calls, finals;
    size_t last_done, last_total;
    bool last_exact;
};

static void on_progress(void *ctx, const struct rewrite_progress *p)
{
    struct progress_log *l = ctx;

    l->calls++;
    if (p->final)
        l->finals++;
    assert_true(p->done >= l->last_done);
    assert_true(p->total_known >= p->done);
    l->last_done = p->done;
    l->last_total = p->total_known;
    l->last_exact = p->total_exact;
}

static void fast_opts(struct rewrite_options *o, struct progress_log *pl)
{
    memset(o, 0, sizeof(*o));
    o->workers = 4;
    o->page_size = 7;
    o->backoff_base_ms = 1;
    o->backoff_max_ms = 4;
    o->progress_interval_ms = 1;
    o->progress = on_progress;
    o->progress_ctx = pl;
}

static void test_run_plain(void **ctx)
{
    struct rewrite_api api;
    struct rewrite_options o;
    struct rewrite_result r;
    struct progress_log pl = { 0 };
    struct rkc_error err;
    struct fake f;
    int i;

    (void)ctx;
    fake_init(&f, 100);
    api.request = fake_request;
    api.ctx = &f;
    fast_opts(&o, &pl);
    rewrite_result_init(&r);
    assert_int_equal(rewrite_run(&api, &o, &r, &err), RKC_OK);
    assert_int_equal(r.listed, 100);
    assert_int_equal(r.rewritten, 100);
    assert_int_equal(r.skipped_gone + r.failed + r.conflicts_retried + r.list_restarts, 0);
    for (i = 0; i < 100; i++) {
        assert_int_equal(f.objs[i].puts_ok, 1);
        assert_int_equal(f.objs[i].puts, 1);
    }
    assert_int_equal(f.lists, 15); /* ceil(100 / 7) */
    assert_int_equal(pl.finals, 1);
    assert_int_equal(pl.last_done, 100);
    assert_int_equal(pl.last_total, 100);
    assert_true(pl.last_exact);
    assert_true(r.elapsed_s >= 0);
    rewrite_result_release(&r);
    fake_release(&f);
}

static void test_run_mixed(void **ctx)
{
    struct rewrite_api api;
    struct rewrite_options o;
    struct rewrite_result r;
    struct progress_log pl = { 0 };
    struct rkc_error err;
    struct fake f;
    int i, gone = 0, conflict = 0, unavailable = 0;

    (void)ctx;
    fake_init(&f, 200);
    for (i = 0; i < 200; i++) {
        if (i % 10 == 3)
            f.objs[i].behaviour = F_CONFLICT_ONCE, conflict++;
        else if (i % 10 == 5)
            f.objs[i].behaviour = F_GONE, gone++;
        else if (i % 10 == 7)
            f.objs[i].behaviour = F_UNAVAILABLE_TWICE, unavailable++;
    }
    f.objs[42].behaviour = F_INVALID;
    f.objs[44].behaviour = F_ALWAYS_CONFLICT;
    f.expire_continue = 2;
    f.list_unavailable = 1;
    api.request = fake_request;
    api.ctx = &f;
    fast_opts(&o, &pl);
    o.max_conflicts = 3;
    rewrite_result_init(&r);
    rkc_error_init(&err);
    assert_int_equal(rewrite_run(&api, &o, &r, &err), RKC_EHTTP);
    assert_int_equal(r.listed, 200);
    assert_int_equal(r.list_restarts, 2);
    assert_int_equal(r.skipped_gone, gone);
    assert_int_equal(r.failed, 2);
    assert_int_equal(r.rewritten, 200 - gone - 2);
    assert_int_equal(r.conflicts_retried, conflict + 4); /* 44: 3 re-reads, then the 4th 409 */
    assert_int_equal(r.nfailures, 2);
    /* failures named, reasons without contents */
    for (i = 0; i < 2; i++) {
        if (!strcmp(r.failures[i].name, "ns-0/s-42"))
            assert_string_equal(r.failures[i].reason, "HTTP 422 Invalid: fake says Invalid");
        else {
            assert_string_equal(r.failures[i].name, "ns-2/s-44");
            assert_non_null(strstr(r.failures[i].reason, "HTTP 409 Conflict"));
            assert_non_null(strstr(r.failures[i].reason, "still conflicting after 3 re-reads"));
        }
    }
    assert_non_null(strstr(err.msg, "2 of 200 secrets could not be rewritten: "));
    assert_non_null(strstr(err.msg, "'ns-0/s-42' (HTTP 422 Invalid"));
    assert_null(strstr(err.msg, "dg=="));
    /* every good object written exactly once despite two list restarts */
    for (i = 0; i < 200; i++) {
        if (f.objs[i].behaviour == F_GONE || i == 42 || i == 44)
            assert_int_equal(f.objs[i].puts_ok, 0);
        else
            assert_int_equal(f.objs[i].puts_ok, 1);
        if (f.objs[i].behaviour == F_CONFLICT_ONCE)
            assert_int_equal(f.objs[i].gets, 1);
        if (f.objs[i].behaviour == F_UNAVAILABLE_TWICE)
            assert_int_equal(f.objs[i].puts, 3);
    }
    assert_true(r.transient_retries >= (size_t)unavailable * 2 + 1);
    assert_int_equal(pl.last_done, 200);
    rewrite_result_release(&r);
    fake_release(&f);
}

static void test_run_gives_up(void **ctx)
{
    struct rewrite_api api;
    struct rewrite_options o;
    struct rewrite_result r;
    struct progress_log pl = { 0 };
    struct rkc_error err;
    struct fake f;

    (void)ctx;
    /* the list stays unavailable: bounded attempts, then the list error */
    fake_init(&f, 10);
    f.list_unavailable = 1000;
    api.request = fake_request;
    api.ctx = &f;
    fast_opts(&o, &pl);
    o.max_attempts = 3;
    rewrite_result_init(&r);
    assert_int_equal(rewrite_run(&api, &o, &r, &err), RKC_EHTTP);
    assert_int_equal(f.lists, 3);
    assert_string_equal(err.msg, "listing secrets: HTTP 503 ServiceUnavailable: fake says "
                                 "ServiceUnavailable (gave up after 3 attempts)");
    assert_int_equal(r.listed, 0);
    rewrite_result_release(&r);

    /* continue tokens that always expire: bounded restarts */
    f.list_unavailable = 0;
    f.lists = 0;
    f.expire_continue = 1000;
    o.max_list_restarts = 4;
    rewrite_result_init(&r);
    assert_int_equal(rewrite_run(&api, &o, &r, &err), RKC_EHTTP);
    assert_string_equal(err.msg, "listing secrets: the list's continue token expired 5 times; "
                                 "giving up");
    /* what was handed out is still finished: the first page, once */
    assert_int_equal(r.listed, 7);
    assert_int_equal(r.rewritten, 7);
    rewrite_result_release(&r);

    /* a server that keeps answering empty pages with a continue token */
    f.expire_continue = 0;
    f.endless_empty = true;
    f.lists = 0;
    memset(&pl, 0, sizeof(pl));
    rewrite_result_init(&r);
    assert_int_equal(rewrite_run(&api, &o, &r, &err), RKC_EHTTP);
    assert_string_equal(err.msg, "listing secrets: the list does not end (100 empty pages with a "
                                 "continue token)");
    assert_int_equal(f.lists, 101);
    rewrite_result_release(&r);
    f.endless_empty = false;

    /* a resource the server does not serve */
    f.serve_nothing = true;
    rewrite_result_init(&r);
    assert_int_equal(rewrite_run(&api, &o, &r, &err), RKC_ENOTFOUND);
    assert_string_equal(err.msg, "rewriting secrets: the server does not serve 'secrets' in 'v1'");
    rewrite_result_release(&r);

    o.workers = REWRITE_MAX_WORKERS + 1;
    rewrite_result_init(&r);
    assert_int_equal(rewrite_run(&api, &o, &r, &err), RKC_EINVAL);
    rewrite_result_release(&r);
    fake_release(&f);
}

static void test_run_cluster_scoped(void **ctx)
{
    struct rewrite_api api;
    struct rewrite_options o;
    struct rewrite_result r;
    struct progress_log pl = { 0 };
    struct rkc_error err;
    struct fake f;
    int i;

    (void)ctx;
    fake_init(&f, 30);
    f.cluster_scoped = true;
    f.objs[4].behaviour = F_INVALID;
    api.request = fake_request;
    api.ctx = &f;
    fast_opts(&o, &pl);
    o.workers = 1;
    o.page_size = 500;
    rewrite_result_init(&r);
    assert_int_equal(rewrite_run(&api, &o, &r, &err), RKC_EHTTP);
    assert_int_equal(r.rewritten, 29);
    assert_string_equal(r.failures[0].name, "s-4");
    for (i = 0; i < 30; i++)
        assert_int_equal(f.objs[i].puts, 1);
    rewrite_result_release(&r);
    fake_release(&f);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_classify),           cmocka_unit_test(test_backoff),
        cmocka_unit_test(test_done_set),           cmocka_unit_test(test_result_accounting),
        cmocka_unit_test(test_total_estimate),     cmocka_unit_test(test_run_plain),
        cmocka_unit_test(test_run_mixed),          cmocka_unit_test(test_run_gives_up),
        cmocka_unit_test(test_run_cluster_scoped),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
