/* SPDX-License-Identifier: Apache-2.0 */
/*
 * bench_apiserver: create, get and update of 1 KiB Secrets through rkc-apiserver beside the
 * raw etcd operations underneath them, at the same concurrency, in the same run.
 *
 * For each concurrency C and each operation, a cell runs on C threads, each side for --seconds
 * (or --max-ops, whichever comes first) in total, as --slices rounds of one raw etcd slice and
 * one API server slice, the order alternating from round to round, so that both sides see the
 * same machine: on a shared VM the load changes from second to second.
 *
 *   create  API: POST /api/v1/namespaces/default/secrets, a new name per op (201 expected)
 *           raw: compare-and-swap put (key must not exist) of a value the size of the stored
 *                Secret under /bench-raw/LABEL/cC/N, a new key per op
 *   get     API: GET of a Secret the create cell wrote (200 expected)
 *           raw: range of one key the create cell wrote
 *   update  API: PUT of the object read back by the get cell with its data value changed,
 *                carrying the resourceVersion it was read at (200 expected)
 *           raw: compare-and-swap put of a changed value on the key's mod_revision
 *
 * Every thread has its own keep-alive connection (one kube_client and one etcd_client each,
 * warmed up before the first cell), so neither side pays for TLS handshakes in the loop.
 * Objects are split among threads by index (i % C == thread), so no two threads touch the same
 * object in the get and update cells. Latency is wall time around the request alone; ops/s is
 * ops over the side's wall time in the cell (the client's own work between requests included,
 * which is small: the update body is rebuilt with jansson outside the timed request).
 * ratio = api ops/s / raw ops/s, the median over the rounds of each round's ratio.
 *
 * Any failed operation (transport error, unexpected status, lost compare-and-swap) stops the
 * program with exit code 1 and a message: a figure is only printed for a clean cell.
 *
 * Output: one Markdown table row per (C, operation) on stdout, no header:
 *   | LABEL | C | op | api ops/s | api p50 ms | api p99 ms | raw ops/s | raw p50 ms |
 *     raw p99 ms | ratio |
 * bench/apiserver.sh prints the header and runs this for each provider configuration. Progress
 * goes to stderr.
 */
#include <getopt.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

#include "adapters/etcd.h"
#include "adapters/jval.h"
#include "adapters/kube.h"
#include "crypto/b64.h"
#include "util/strbuf.h"
#include "util/xalloc.h"

#include "util/banned.h"

#define DATA_SIZE   1024
#define MAX_THREADS 64
#define NAMESPACE   "default"

enum op { OP_CREATE, OP_GET, OP_UPDATE };
enum side { SIDE_RAW, SIDE_API };

static const char *const op_names[] = { "create", "get", "update" };

struct options {
    const char *etcd_servers, *etcd_ca, *etcd_cert, *etcd_key;
    const char *server, *ca, *cert, *key;
    const char *label;
    double seconds;
    size_t max_ops, slices;
    size_t conc[8];
    size_t nr_conc;
};

/* One object of a concurrency group: what the next op on it needs. */
struct obj {
    int64_t mod_revision; /* raw: the key's current mod_revision */
    bool alt;             /* raw: the key holds the second value */
    struct strbuf body;   /* api: the object as last answered (create, get or update) */
};

/* Shared by the threads of one concurrency group (both sides). */
struct group {
    const struct options *opt;
    size_t conc;
    struct etcd_client **etcd;
    struct kube_client **kube;
    char *data[2];              /* two base64 data values of DATA_SIZE random bytes */
    struct strbuf raw[2];       /* two raw etcd values, the size of the stored Secret */
    struct obj *objs[2];        /* per side */
    size_t cap;                 /* object slots per side (= max_ops) */
    size_t nr_objs[2];          /* how many the create slices wrote, per side */
    size_t pos[2][MAX_THREADS]; /* get, update: each thread's next object, per side */
};

struct lat {
    double *v;
    size_t nr, alloc;
};

/* One slice: one side, one op, conc threads. */
struct cell {
    struct group *g;
    enum side side;
    enum op op;
    size_t max_ops;
    pthread_barrier_t ready, go; /* every thread is up; t0 and deadline are set */
    atomic_size_t *next;         /* create: next object index (the group's, for this side) */
    atomic_size_t ops;           /* ops begun, against max_ops */
    atomic_bool failed;
    double t0, deadline;
    struct lat lat[MAX_THREADS];
    double end[MAX_THREADS];
};

struct worker {
    struct cell *cell;
    size_t t;
};

/* One side of a cell, summed over its slices. */
struct result {
    struct lat lat;
    double elapsed;
    double ratios[64]; /* api only: each round's ratio */
    size_t nr_ratios;
};

static double now(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void lat_add(struct lat *l, double v)
{
    ALLOC_GROW(l->v, l->nr + 1, l->alloc);
    l->v[l->nr++] = v;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;

    return (x > y) - (x < y);
}

static void fail_op(struct cell *c, const char *what, const char *detail)
{
    if (!atomic_exchange(&c->failed, true))
        fprintf(stderr, "bench_apiserver: %s %s: %s\n", c->side == SIDE_API ? "api" : "raw", what,
                detail);
}

static char *api_name(const struct group *g, size_t i)
{
    return xasprintf("b-%s-c%zu-%zu", g->opt->label, g->conc, i);
}

static char *raw_key(const struct group *g, size_t i)
{
    return xasprintf("/bench-raw/%s/c%zu/%zu", g->opt->label, g->conc, i);
}

/* The create body: a Secret with one data value. */
static void secret_body(const char *name, const char *data, struct strbuf *out)
{
    strbuf_addf(out,
                "{\"apiVersion\":\"v1\",\"kind\":\"Secret\",\"metadata\":{\"name\":\"%s\","
                "\"namespace\":\"" NAMESPACE "\"},\"type\":\"Opaque\",\"data\":{\"v\":\"%s\"}}",
                name, data);
}

/* update: the object read back, with its data value swapped for the other one */
static bool update_body(const struct group *g, const struct strbuf *read_back, struct strbuf *out)
{
    struct jval *obj = NULL, *data;
    const char *cur;

    if (jval_parse("response", read_back->buf, read_back->len, &obj, NULL))
        return false;
    data = jval_get(obj, "data");
    cur = jval_get_str(data, "v", NULL);
    if (!cur) {
        jval_decref(obj);
        return false;
    }
    jval_set_str(data, "v", strcmp(cur, g->data[0]) == 0 ? g->data[1] : g->data[0]);
    jval_dump(obj, JVAL_COMPACT, out);
    jval_decref(obj);
    return true;
}

static bool api_op(struct cell *c, size_t t, size_t i)
{
    struct group *g = c->g;
    struct obj *o = &g->objs[SIDE_API][i];
    struct kube_client *kc = g->kube[t];
    struct strbuf path = STRBUF_INIT, body = STRBUF_INIT, resp = STRBUF_INIT;
    char *name = api_name(g, i);
    const char *method;
    struct rkc_error err;
    long status = 0, want;
    double t0;
    bool ok = false;

    rkc_error_init(&err);
    strbuf_addstr(&path, "/api/v1/namespaces/" NAMESPACE "/secrets");
    switch (c->op) {
    case OP_CREATE:
        method = "POST";
        want = 201;
        secret_body(name, g->data[0], &body);
        break;
    case OP_GET:
        method = "GET";
        want = 200;
        strbuf_addf(&path, "/%s", name);
        break;
    default:
        method = "PUT";
        want = 200;
        strbuf_addf(&path, "/%s", name);
        if (!update_body(g, &o->body, &body)) {
            fail_op(c, "update", "cannot rebuild the object read back");
            goto out;
        }
        break;
    }
    t0 = now();
    if (kube_request(kc, method, path.buf, body.len ? "application/json" : NULL, body.buf, body.len,
                     &status, &resp, &err)) {
        fail_op(c, op_names[c->op], err.msg);
        goto out;
    }
    lat_add(&c->lat[t], now() - t0);
    if (status != want) {
        char msg[256];

        snprintf(msg, sizeof(msg), "%s %s answered %ld, want %ld", method, path.buf, status, want);
        fail_op(c, op_names[c->op], msg);
        goto out;
    }
    strbuf_reset(&o->body);
    strbuf_add(&o->body, resp.buf, resp.len);
    ok = true;
out:
    free(name);
    strbuf_release(&path);
    strbuf_release(&body);
    strbuf_release(&resp);
    return ok;
}

static bool raw_op(struct cell *c, size_t t, size_t i)
{
    struct group *g = c->g;
    struct obj *o = &g->objs[SIDE_RAW][i];
    struct etcd_client *ec = g->etcd[t];
    char *key = raw_key(g, i);
    struct rkc_error err;
    struct etcd_kv kv = { 0 };
    const struct strbuf *val;
    int64_t rev = 0;
    double t0;
    bool ok = false, done = false;
    enum rkc_err rc;

    rkc_error_init(&err);
    /* update alternates the two values, so every update really changes the stored bytes */
    val = &g->raw[c->op == OP_UPDATE && !o->alt];
    t0 = now();
    if (c->op == OP_GET)
        rc = etcd_get(ec, key, &kv, &ok, NULL, &err);
    else
        rc = etcd_cas_put(ec, key, val->buf, val->len, c->op == OP_CREATE ? 0 : o->mod_revision,
                          &ok, &rev, &err);
    if (rc) {
        fail_op(c, op_names[c->op], err.msg);
        goto out;
    }
    lat_add(&c->lat[t], now() - t0);
    if (!ok) {
        fail_op(c, op_names[c->op],
                c->op == OP_GET ? "key not found" : "compare-and-swap did not write");
        goto out;
    }
    o->mod_revision = c->op == OP_GET ? kv.mod_revision : rev;
    if (c->op != OP_GET)
        o->alt = c->op == OP_UPDATE && !o->alt;
    done = true;
out:
    etcd_kv_release(&kv);
    free(key);
    return done;
}

static void *worker_main(void *arg)
{
    struct worker *w = arg;
    struct cell *c = w->cell;
    struct group *g = c->g;
    size_t nr_objs = g->nr_objs[c->side];
    size_t i = g->pos[c->side][w->t], done = 0;

    pthread_barrier_wait(&c->ready);
    pthread_barrier_wait(&c->go);
    /* each thread does at least one op, even when it was scheduled after the deadline */
    while (!atomic_load(&c->failed) && (!done || now() < c->deadline) &&
           atomic_fetch_add(&c->ops, 1) < c->max_ops) {
        bool ok;

        if (c->op == OP_CREATE) {
            i = atomic_fetch_add(c->next, 1);
            if (i >= g->cap)
                break;
        } else if (i >= nr_objs) {
            if (w->t >= nr_objs)
                break; /* fewer objects than threads: this one has none */
            i = w->t;  /* wrap around to this thread's first object */
        }
        ok = c->side == SIDE_API ? api_op(c, w->t, i) : raw_op(c, w->t, i);
        if (!ok)
            break;
        if (c->op != OP_CREATE)
            i += g->conc;
        done++;
    }
    if (c->op != OP_CREATE)
        g->pos[c->side][w->t] = i;
    c->end[w->t] = now();
    return NULL;
}

/*
 * Runs one slice of seconds; appends its latencies to res and adds its wall time.
 * Returns: false when an op failed (the message is printed).
 */
static bool run_slice(struct group *g, atomic_size_t *next, enum side side, enum op op,
                      double seconds, size_t max_ops, struct result *res, double *ret_rate)
{
    struct cell *c = xcalloc(1, sizeof(*c));
    struct worker w[MAX_THREADS];
    pthread_t th[MAX_THREADS];
    double end = 0;
    size_t t, n, ops = 0;
    bool ok;

    c->g = g;
    c->side = side;
    c->op = op;
    c->max_ops = max_ops;
    c->next = next;
    atomic_init(&c->ops, 0);
    atomic_init(&c->failed, false);
    pthread_barrier_init(&c->ready, NULL, (unsigned)g->conc + 1);
    pthread_barrier_init(&c->go, NULL, (unsigned)g->conc + 1);
    for (t = 0; t < g->conc; t++) {
        w[t].cell = c;
        w[t].t = t;
        if (pthread_create(&th[t], NULL, worker_main, &w[t])) {
            fprintf(stderr, "bench_apiserver: cannot start a thread\n");
            exit(1);
        }
    }
    pthread_barrier_wait(&c->ready);
    c->t0 = now();
    c->deadline = c->t0 + seconds;
    pthread_barrier_wait(&c->go);
    for (t = 0; t < g->conc; t++)
        pthread_join(th[t], NULL);
    ok = !atomic_load(&c->failed);
    for (t = 0; t < g->conc; t++) {
        if (c->end[t] > end)
            end = c->end[t];
        for (n = 0; n < c->lat[t].nr; n++)
            lat_add(&res->lat, c->lat[t].v[n]);
        ops += c->lat[t].nr;
        free(c->lat[t].v);
    }
    if (op == OP_CREATE) {
        n = atomic_load(next);
        g->nr_objs[side] = n < g->cap ? n : g->cap;
    }
    if (ok && !ops) {
        fprintf(stderr, "bench_apiserver: %s %s: no operation completed\n",
                side == SIDE_API ? "api" : "raw", op_names[op]);
        ok = false;
    }
    res->elapsed += end - c->t0;
    *ret_rate = ops ? (double)ops / (end - c->t0) : 0;
    pthread_barrier_destroy(&c->ready);
    pthread_barrier_destroy(&c->go);
    free(c);
    return ok;
}

static double percentile_ms(struct lat *l, unsigned pct)
{
    qsort(l->v, l->nr, sizeof(*l->v), cmp_double);
    return l->v[(l->nr * pct + 99) / 100 - 1] * 1e3;
}

/* One cell: the rounds of raw and API slices of op; prints its row. */
static bool run_cell(struct group *g, enum op op)
{
    const struct options *opt = g->opt;
    struct result res[2];
    atomic_size_t next[2];
    double slice = opt->seconds / (double)opt->slices, raw_ops, api_ops;
    size_t max_ops = (opt->max_ops + opt->slices - 1) / opt->slices, k;
    bool ok = true;

    memset(res, 0, sizeof(res));
    atomic_init(&next[SIDE_RAW], g->nr_objs[SIDE_RAW]);
    atomic_init(&next[SIDE_API], g->nr_objs[SIDE_API]);
    for (k = 0; ok && k < opt->slices; k++) {
        enum side first = k % 2 ? SIDE_API : SIDE_RAW, second = k % 2 ? SIDE_RAW : SIDE_API;
        double rate[2];

        ok = run_slice(g, &next[first], first, op, slice, max_ops, &res[first], &rate[first]) &&
             run_slice(g, &next[second], second, op, slice, max_ops, &res[second], &rate[second]);
        if (ok)
            res[SIDE_API].ratios[res[SIDE_API].nr_ratios++] = rate[SIDE_API] / rate[SIDE_RAW];
    }
    if (ok) {
        struct result *a = &res[SIDE_API], *r = &res[SIDE_RAW];

        raw_ops = (double)r->lat.nr / r->elapsed;
        api_ops = (double)a->lat.nr / a->elapsed;
        qsort(a->ratios, a->nr_ratios, sizeof(*a->ratios), cmp_double);
        printf(
            "| %s | %zu | %s | %.0f | %.2f | %.2f | %.0f | %.2f | %.2f | %.2f |\n", opt->label,
            g->conc, op_names[op], api_ops, percentile_ms(&a->lat, 50), percentile_ms(&a->lat, 99),
            raw_ops, percentile_ms(&r->lat, 50), percentile_ms(&r->lat, 99),
            a->nr_ratios % 2 ? a->ratios[a->nr_ratios / 2]
                             : (a->ratios[a->nr_ratios / 2 - 1] + a->ratios[a->nr_ratios / 2]) / 2);
        fflush(stdout);
    }
    free(res[SIDE_RAW].lat.v);
    free(res[SIDE_API].lat.v);
    return ok;
}

static void random_b64(size_t n, struct strbuf *out)
{
    unsigned char *buf = xmalloc(n);
    size_t got = 0;

    while (got < n) {
        ssize_t r = getrandom(buf + got, n - got, 0);

        if (r <= 0) {
            fprintf(stderr, "bench_apiserver: getrandom failed\n");
            exit(1);
        }
        got += (size_t)r;
    }
    b64_encode(buf, n, out);
    free(buf);
}

/* The raw value: the plaintext form the API server stores for one of these Secrets. */
static void raw_value(const struct group *g, const char *data, struct strbuf *out)
{
    char *name = api_name(g, 1000);

    strbuf_addf(out,
                "{\"kind\":\"Secret\",\"apiVersion\":\"v1\",\"metadata\":{\"name\":\"%s\","
                "\"namespace\":\"" NAMESPACE "\",\"uid\":\"6f1c2b9e-58a4-4d0e-9a53-0c7f3e2d1b4a\","
                "\"creationTimestamp\":\"2025-01-01T00:00:00Z\"},\"data\":{\"v\":\"%s\"},"
                "\"type\":\"Opaque\"}",
                name, data);
    free(name);
}

static void release_objs(struct obj *objs, size_t n)
{
    size_t i;

    for (i = 0; i < n; i++)
        strbuf_release(&objs[i].body);
    free(objs);
}

static bool run_group(const struct options *opt, size_t conc, struct etcd_client **etcd,
                      struct kube_client **kube)
{
    struct group g = { 0 };
    struct strbuf d0 = STRBUF_INIT, d1 = STRBUF_INIT;
    enum op op;
    bool ok = true;
    size_t i;

    g.opt = opt;
    g.conc = conc;
    g.etcd = etcd;
    g.kube = kube;
    random_b64(DATA_SIZE, &d0);
    random_b64(DATA_SIZE, &d1);
    g.data[0] = strbuf_detach(&d0, NULL);
    g.data[1] = strbuf_detach(&d1, NULL);
    for (i = 0; i < 2; i++) {
        strbuf_init(&g.raw[i], 0);
        raw_value(&g, g.data[i], &g.raw[i]);
    }
    g.cap = opt->max_ops;
    for (i = 0; i < 2; i++) {
        size_t j;

        g.objs[i] = xcalloc(g.cap, sizeof(*g.objs[i]));
        for (j = 0; j < g.cap; j++)
            strbuf_init(&g.objs[i][j].body, 0);
    }
    for (i = 0; i < conc; i++)
        g.pos[SIDE_RAW][i] = g.pos[SIDE_API][i] = i;
    for (op = OP_CREATE; ok && op <= OP_UPDATE; op++) {
        fprintf(stderr, "bench_apiserver: %s c=%zu %s\n", opt->label, conc, op_names[op]);
        ok = run_cell(&g, op);
    }
    release_objs(g.objs[SIDE_RAW], g.cap);
    release_objs(g.objs[SIDE_API], g.cap);
    for (i = 0; i < 2; i++) {
        free(g.data[i]);
        strbuf_release(&g.raw[i]);
    }
    return ok;
}

static bool parse_conc(const char *s, struct options *opt)
{
    char *end;

    opt->nr_conc = 0;
    for (;;) {
        unsigned long v = strtoul(s, &end, 10);

        if (end == s || v < 1 || v > MAX_THREADS || opt->nr_conc == 8)
            return false;
        opt->conc[opt->nr_conc++] = v;
        if (!*end)
            return true;
        if (*end != ',')
            return false;
        s = end + 1;
    }
}

static int usage(void)
{
    fprintf(
        stderr,
        "usage: bench_apiserver --etcd URLS --etcd-cafile F --etcd-certfile F --etcd-keyfile F\n"
        "                       --server URL --cafile F --certfile F --keyfile F\n"
        "                       [--label L] [--seconds S] [--max-ops N] [--slices R]\n"
        "                       [--concurrency 1,8,32]\n");
    return 2;
}

int main(int argc, char **argv)
{
    static const struct option longopts[] = {
        { "etcd", required_argument, NULL, 'e' },
        { "etcd-cafile", required_argument, NULL, 'A' },
        { "etcd-certfile", required_argument, NULL, 'C' },
        { "etcd-keyfile", required_argument, NULL, 'K' },
        { "server", required_argument, NULL, 's' },
        { "cafile", required_argument, NULL, 'a' },
        { "certfile", required_argument, NULL, 'c' },
        { "keyfile", required_argument, NULL, 'k' },
        { "label", required_argument, NULL, 'l' },
        { "seconds", required_argument, NULL, 'S' },
        { "max-ops", required_argument, NULL, 'n' },
        { "slices", required_argument, NULL, 'r' },
        { "concurrency", required_argument, NULL, 'j' },
        { NULL, 0, NULL, 0 },
    };
    struct options opt = { 0 };
    struct etcd_client *etcd[MAX_THREADS] = { 0 };
    struct kube_client *kube[MAX_THREADS] = { 0 };
    struct rkc_error err;
    size_t i, threads = 0;
    int ch, rc = 0;
    char *end;

    opt.label = "api";
    opt.seconds = 3;
    opt.max_ops = 20000;
    opt.slices = 3;
    parse_conc("1,8,32", &opt);
    while ((ch = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
        switch (ch) {
        case 'e':
            opt.etcd_servers = optarg;
            break;
        case 'A':
            opt.etcd_ca = optarg;
            break;
        case 'C':
            opt.etcd_cert = optarg;
            break;
        case 'K':
            opt.etcd_key = optarg;
            break;
        case 's':
            opt.server = optarg;
            break;
        case 'a':
            opt.ca = optarg;
            break;
        case 'c':
            opt.cert = optarg;
            break;
        case 'k':
            opt.key = optarg;
            break;
        case 'l':
            opt.label = optarg;
            break;
        case 'S':
            opt.seconds = strtod(optarg, &end);
            if (*end || !(opt.seconds > 0))
                return usage();
            break;
        case 'n':
            opt.max_ops = strtoul(optarg, &end, 10);
            if (*end || !opt.max_ops)
                return usage();
            break;
        case 'r':
            opt.slices = strtoul(optarg, &end, 10);
            if (*end || !opt.slices || opt.slices > 64)
                return usage();
            break;
        case 'j':
            if (!parse_conc(optarg, &opt))
                return usage();
            break;
        default:
            return usage();
        }
    }
    if (optind != argc || !opt.etcd_servers || !opt.server || !opt.ca || !opt.cert || !opt.key)
        return usage();
    for (i = 0; i < opt.nr_conc; i++)
        if (opt.conc[i] > threads)
            threads = opt.conc[i];

    /* one client of each kind per thread, each with one warm keep-alive connection */
    rkc_error_init(&err);
    for (i = 0; i < threads; i++) {
        struct etcd_config ec = { 0 };
        struct kube_config kc = { 0 };
        struct strbuf resp = STRBUF_INIT;
        long status = 0;

        ec.servers = opt.etcd_servers;
        ec.cafile = opt.etcd_ca;
        ec.certfile = opt.etcd_cert;
        ec.keyfile = opt.etcd_key;
        kc.server = opt.server;
        kc.ca_file = opt.ca;
        kc.cert_file = opt.cert;
        kc.key_file = opt.key;
        if (etcd_client_new(&ec, &etcd[i], &err) || etcd_health(etcd[i], &err) ||
            kube_client_new(&kc, &kube[i], &err) ||
            kube_request(kube[i], "GET", "/api/v1/namespaces/" NAMESPACE, NULL, NULL, 0, &status,
                         &resp, &err)) {
            fprintf(stderr, "bench_apiserver: warming up: %s\n", err.msg);
            strbuf_release(&resp);
            rc = 1;
            goto out;
        }
        strbuf_release(&resp);
        if (status != 200) {
            fprintf(stderr, "bench_apiserver: warming up: GET namespace answered %ld\n", status);
            rc = 1;
            goto out;
        }
    }
    for (i = 0; i < opt.nr_conc; i++) {
        if (!run_group(&opt, opt.conc[i], etcd, kube)) {
            rc = 1;
            break;
        }
    }
out:
    for (i = 0; i < threads; i++) {
        etcd_client_free(etcd[i]);
        kube_client_free(kube[i]);
    }
    return rc;
}
