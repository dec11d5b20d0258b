/* SPDX-License-Identifier: Apache-2.0 */
/*
 * bench_etcd_rewrite: the floor for bench/rewrite.sh. Reads every key under a prefix from etcd
 * (adapters/etcd.h, pages of 500), then writes each value back unchanged with a
 * compare-and-swap on its mod_revision (the transaction an API server update does) from N
 * threads, and prints "objects=N seconds=S rate=R" for the write phase. No API server, no
 * JSON, no encryption: what is left is etcd and the HTTP/TLS round trips.
 *
 * Usage: bench_etcd_rewrite ENDPOINTS CAFILE CERTFILE KEYFILE PREFIX WORKERS
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "adapters/etcd.h"
#include "util/xalloc.h"

struct job {
    struct etcd_client *c;
    struct etcd_kvs *kvs;
    atomic_size_t next;
    atomic_size_t failed;
};

static double now(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void *writer(void *arg)
{
    struct job *j = arg;
    size_t i;

    while ((i = atomic_fetch_add(&j->next, 1)) < j->kvs->nr) {
        const struct etcd_kv *kv = &j->kvs->v[i];
        struct rkc_error err;
        int64_t rev;
        bool ok = false;

        if (etcd_cas_put(j->c, kv->key, kv->value, kv->value_len, kv->mod_revision, &ok, &rev,
                         &err) ||
            !ok)
            atomic_fetch_add(&j->failed, 1);
    }
    return NULL;
}

int main(int argc, char **argv)
{
    struct etcd_config cfg = { 0 };
    struct etcd_client *c = NULL;
    struct etcd_kvs all = { 0 };
    struct rkc_error err;
    struct job j;
    pthread_t *th;
    char *start, *end;
    size_t start_len, end_len, i;
    long workers;
    double t0, t1;

    if (argc != 7) {
        fprintf(stderr, "usage: bench_etcd_rewrite ENDPOINTS CAFILE CERTFILE KEYFILE PREFIX "
                        "WORKERS\n");
        return 2;
    }
    cfg.servers = argv[1];
    cfg.cafile = argv[2];
    cfg.certfile = argv[3];
    cfg.keyfile = argv[4];
    workers = strtol(argv[6], NULL, 10);
    if (workers < 1 || workers > 256 || etcd_client_new(&cfg, &c, &err)) {
        fprintf(stderr, "bench_etcd_rewrite: bad arguments\n");
        return 2;
    }
    start = xstrdup(argv[5]);
    start_len = strlen(start);
    end = etcd_prefix_end(start, start_len, &end_len);
    for (;;) {
        struct etcd_kvs page = { 0 };

        if (etcd_range(c, start, start_len, end, end_len, 500, 0, false, &page, &err)) {
            fprintf(stderr, "bench_etcd_rewrite: %s\n", err.msg);
            return 1;
        }
        for (i = 0; i < page.nr; i++) {
            ALLOC_GROW(all.v, all.nr + 1, all.alloc);
            all.v[all.nr++] = page.v[i];
        }
        if (page.nr) {
            free(start);
            start_len = page.v[page.nr - 1].key_len + 1;
            start = xmalloc(start_len + 1);
            memcpy(start, page.v[page.nr - 1].key, start_len - 1);
            start[start_len - 1] = '\0';
            start[start_len] = '\0';
        }
        free(page.v); /* the kvs moved into all */
        if (!page.more || !page.nr)
            break;
    }
    j.c = c;
    j.kvs = &all;
    atomic_init(&j.next, 0);
    atomic_init(&j.failed, 0);
    th = xcalloc((size_t)workers, sizeof(*th));
    t0 = now();
    for (i = 0; i < (size_t)workers; i++)
        pthread_create(&th[i], NULL, writer, &j);
    for (i = 0; i < (size_t)workers; i++)
        pthread_join(th[i], NULL);
    t1 = now();
    printf("objects=%zu failed=%zu seconds=%.3f rate=%.1f\n", all.nr, atomic_load(&j.failed),
           t1 - t0, (double)all.nr / (t1 - t0));
    free(th);
    free(start);
    free(end);
    etcd_kvs_release(&all);
    etcd_client_free(c);
    return atomic_load(&j.failed) ? 1 : 0;
}
