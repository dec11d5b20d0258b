/* SPDX-License-Identifier: Apache-2.0 */
/*
 * metrics: counters for /metrics in the Prometheus text format, named after kube-apiserver's
 * where one exists (apiserver_request_total, apiserver_request_duration_seconds,
 * apiserver_storage_transformation_operations_total,
 * apiserver_encryption_config_controller_automatic_reload_*). One mutex; series are few.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "apiserver/server.h"
#include "util/xalloc.h"

#include "util/banned.h"

struct req_series {
    char verb[16];
    char resource[16];
    unsigned code;
    unsigned long long count;
    double sum;
};

struct xf_series {
    char op[8];
    char provider[64];
    bool ok;
    unsigned long long count;
};

struct metrics {
    pthread_mutex_t lock;
    struct req_series *req;
    size_t nr_req, alloc_req;
    struct xf_series *xf;
    size_t nr_xf, alloc_xf;
    char config_hash[80];
    unsigned long long reload_ok, reload_fail;
    time_t last_reload;
};

struct metrics *metrics_new(void)
{
    struct metrics *m = xcalloc(1, sizeof(*m));

    pthread_mutex_init(&m->lock, NULL);
    return m;
}

void metrics_free(struct metrics *m)
{
    if (!m)
        return;
    pthread_mutex_destroy(&m->lock);
    free(m->req);
    free(m->xf);
    free(m);
}

void metrics_request(struct metrics *m, const char *verb, const char *resource, unsigned code,
                     double seconds)
{
    size_t i;

    pthread_mutex_lock(&m->lock);
    for (i = 0; i < m->nr_req; i++)
        if (m->req[i].code == code && !strcmp(m->req[i].verb, verb) &&
            !strcmp(m->req[i].resource, resource))
            break;
    if (i == m->nr_req) {
        ALLOC_GROW(m->req, m->nr_req + 1, m->alloc_req);
        memset(&m->req[i], 0, sizeof(m->req[i]));
        snprintf(m->req[i].verb, sizeof(m->req[i].verb), "%s", verb);
        snprintf(m->req[i].resource, sizeof(m->req[i].resource), "%s", resource);
        m->req[i].code = code;
        m->nr_req++;
    }
    m->req[i].count++;
    m->req[i].sum += seconds;
    pthread_mutex_unlock(&m->lock);
}

void metrics_xf(void *ctx, const char *op, const char *provider, bool ok)
{
    struct metrics *m = ctx;
    size_t i;

    pthread_mutex_lock(&m->lock);
    for (i = 0; i < m->nr_xf; i++)
        if (m->xf[i].ok == ok && !strcmp(m->xf[i].op, op) && !strcmp(m->xf[i].provider, provider))
            break;
    if (i == m->nr_xf) {
        ALLOC_GROW(m->xf, m->nr_xf + 1, m->alloc_xf);
        memset(&m->xf[i], 0, sizeof(m->xf[i]));
        snprintf(m->xf[i].op, sizeof(m->xf[i].op), "%s", op);
        snprintf(m->xf[i].provider, sizeof(m->xf[i].provider), "%s", provider);
        m->xf[i].ok = ok;
        m->nr_xf++;
    }
    m->xf[i].count++;
    pthread_mutex_unlock(&m->lock);
}

void metrics_set_config_hash(struct metrics *m, const char *hash)
{
    pthread_mutex_lock(&m->lock);
    snprintf(m->config_hash, sizeof(m->config_hash), "%s", hash);
    pthread_mutex_unlock(&m->lock);
}

void metrics_reload(struct metrics *m, bool ok, const char *hash)
{
    pthread_mutex_lock(&m->lock);
    if (ok) {
        m->reload_ok++;
        if (hash)
            snprintf(m->config_hash, sizeof(m->config_hash), "%s", hash);
    } else {
        m->reload_fail++;
    }
    m->last_reload = time(NULL);
    pthread_mutex_unlock(&m->lock);
}

void metrics_render(struct metrics *m, struct strbuf *out)
{
    size_t i;

    pthread_mutex_lock(&m->lock);
    strbuf_addstr(&out[0], "# HELP apiserver_request_total Counter of apiserver requests broken "
                           "out by verb, resource and HTTP response code.\n"
                           "# TYPE apiserver_request_total counter\n");
    for (i = 0; i < m->nr_req; i++)
        strbuf_addf(out, "apiserver_request_total{code=\"%u\",resource=\"%s\",verb=\"%s\"} %llu\n",
                    m->req[i].code, m->req[i].resource, m->req[i].verb, m->req[i].count);
    strbuf_addstr(out, "# HELP apiserver_request_duration_seconds Response latency.\n"
                       "# TYPE apiserver_request_duration_seconds summary\n");
    for (i = 0; i < m->nr_req; i++) {
        strbuf_addf(out,
                    "apiserver_request_duration_seconds_sum{code=\"%u\",resource=\"%s\","
                    "verb=\"%s\"} %.6f\n",
                    m->req[i].code, m->req[i].resource, m->req[i].verb, m->req[i].sum);
        strbuf_addf(out,
                    "apiserver_request_duration_seconds_count{code=\"%u\",resource=\"%s\","
                    "verb=\"%s\"} %llu\n",
                    m->req[i].code, m->req[i].resource, m->req[i].verb, m->req[i].count);
    }
    strbuf_addstr(out, "# HELP apiserver_storage_transformation_operations_total Total number "
                       "of transformations.\n"
                       "# TYPE apiserver_storage_transformation_operations_total counter\n");
    for (i = 0; i < m->nr_xf; i++)
        strbuf_addf(out,
                    "apiserver_storage_transformation_operations_total{status=\"%s\","
                    "transformation_type=\"%s\",transformer_prefix=\"%s\"} %llu\n",
                    m->xf[i].ok ? "OK" : "Unknown",
                    !strcmp(m->xf[i].op, "read") ? "from_storage" : "to_storage", m->xf[i].provider,
                    m->xf[i].count);
    if (m->config_hash[0]) {
        strbuf_addstr(out, "# HELP apiserver_encryption_config_controller_automatic_reload_"
                           "last_config_info Information about the last applied encryption "
                           "configuration.\n# TYPE apiserver_encryption_config_controller_"
                           "automatic_reload_last_config_info gauge\n");
        strbuf_addf(out,
                    "apiserver_encryption_config_controller_automatic_reload_last_config_info{"
                    "apiserver_id_hash=\"rkc\",hash=\"%s\"} 1\n",
                    m->config_hash);
    }
    strbuf_addf(out,
                "# TYPE apiserver_encryption_config_controller_automatic_reloads_total counter\n"
                "apiserver_encryption_config_controller_automatic_reloads_total{status=\"success\""
                "} %llu\n"
                "apiserver_encryption_config_controller_automatic_reloads_total{status=\"failure\""
                "} %llu\n"
                "# TYPE apiserver_encryption_config_controller_automatic_reload_last_timestamp_"
                "seconds gauge\n"
                "apiserver_encryption_config_controller_automatic_reload_last_timestamp_seconds "
                "%lld\n",
                m->reload_ok, m->reload_fail, (long long)m->last_reload);
    pthread_mutex_unlock(&m->lock);
}
