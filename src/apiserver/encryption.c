/* SPDX-License-Identifier: Apache-2.0 */
/*
 * encryption: loads --encryption-provider-config with encconfig (crypto/encconfig.h), installs
 * the resulting transformer chains (crypto/transformer.h) as the store's transform set, and
 * polls the file for changes when automatic reload is on. A set stays alive while requests
 * use it (the store reference-counts it), so a swap never frees chains under a reader.
 */
#include "apiserver/encryption.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "adapters/kmsclient.h"
#include "apiserver/server.h"
#include "crypto/encconfig.h"
#include "crypto/transformer.h"
#include "util/log.h"
#include "util/xalloc.h"

#include "util/banned.h"

struct enc_state {
    char *path;
    struct store *store;
    struct metrics *metrics;
    struct kmsclient_factory *kms; /* KMS plugin clients of the loaded sets */
    struct encset *cur;            /* installed set; replaced only by the worker thread */
    bool reload;
    unsigned status_ms;                  /* KMS v2 Status polling interval */
    char file_hash[ENCCONFIG_HASH_SIZE]; /* of the raw bytes last seen */
    atomic_bool loaded;
    atomic_bool stop;
    pthread_t thread;
    bool thread_started;
};

static void prefix_label(enum xf_kind kind, char *out, size_t size)
{
    switch (kind) {
    case XF_IDENTITY:
        snprintf(out, size, "identity");
        break;
    case XF_KMS_V2:
        snprintf(out, size, "k8s:enc:kms:v2:");
        break;
    case XF_KMS_V1:
        snprintf(out, size, "k8s:enc:kms:v1:");
        break;
    default:
        snprintf(out, size, "k8s:enc:%s:v1:", xf_kind_name(kind));
        break;
    }
}

static enum rkc_err set_read(void *ctx, const char *resource, const char *etcd_key,
                             const void *stored, size_t len, struct strbuf *ret_pt, bool *ret_stale,
                             char *ret_provider, size_t provider_size, struct rkc_error *err)
{
    const struct xf_chain *chain = encset_chain_for(ctx, resource);
    struct strbuf pt = STRBUF_INIT;
    struct xf_read_info info;
    enum rkc_err rc;

    memset(&info, 0, sizeof(info));
    rc = xf_chain_read(chain, etcd_key, stored, len, &pt, &info, err);
    if (!rc) {
        strbuf_add(ret_pt, pt.buf, pt.len);
        *ret_stale = info.stale;
        prefix_label(info.kind, ret_provider, provider_size);
    } else {
        snprintf(ret_provider, provider_size, "unknown");
    }
    strbuf_release_wipe(&pt);
    return rc;
}

static enum rkc_err set_write(void *ctx, const char *resource, const char *etcd_key, const void *pt,
                              size_t len, struct strbuf *ret_stored, char *ret_provider,
                              size_t provider_size, struct rkc_error *err)
{
    const struct xf_chain *chain = encset_chain_for(ctx, resource);
    const struct xf_provider *p = xf_chain_provider(chain, 0);
    struct strbuf out = STRBUF_INIT;
    enum rkc_err rc;

    prefix_label(p ? xf_provider_kind(p) : XF_IDENTITY, ret_provider, provider_size);
    rc = xf_chain_write(chain, etcd_key, pt, len, &out, err);
    if (!rc)
        strbuf_add(ret_stored, out.buf, out.len);
    strbuf_release(&out);
    return rc;
}

static void set_release(void *ctx)
{
    encset_free(ctx);
}

/* Calls fn on every KMS v2 provider of the set (for the resources rkc-apiserver serves). */
static void foreach_kms_v2(struct encset *set, void (*fn)(struct xf_provider *p, void *arg),
                           void *arg)
{
    size_t r, i;

    for (r = 0; r < sizeof(kres_table) / sizeof(kres_table[0]); r++) {
        const struct xf_chain *chain = encset_chain_for(set, kres_table[r].resource);

        for (i = 0; i < xf_chain_nproviders(chain); i++) {
            const struct xf_provider *p = xf_chain_provider(chain, i);

            /* providers are thread-safe and refcounted; the chain only hands out const */
            if (xf_provider_kind(p) == XF_KMS_V2)
                fn((struct xf_provider *)(uintptr_t)p, arg);
        }
    }
}

static void set_interval(struct xf_provider *p, void *arg)
{
    xf_kms_v2_set_status_interval(p, *(const unsigned *)arg);
}

static void refresh_one(struct xf_provider *p, void *arg)
{
    struct rkc_error err;

    (void)arg;
    rkc_error_init(&err);
    if (xf_kms_refresh(p, &err))
        log_warn("kms provider \"%s\": status check failed: %s", xf_provider_key_name(p, 0),
                 err.msg);
}

/* Builds a set from the file's bytes. Returns: new set. */
static enum rkc_err load(struct enc_state *st, const struct strbuf *buf, struct encset **ret,
                         struct rkc_error *err)
{
    struct encconfig *cfg = NULL;
    enum rkc_err rc = encconfig_parse(st->path, buf->buf, buf->len, &cfg, NULL, err);

    if (!rc)
        rc = encconfig_build(cfg, kmsclient_factory_get(st->kms), ret, err);
    encconfig_free(cfg);
    if (!rc)
        foreach_kms_v2(*ret, set_interval, &st->status_ms);
    return rc;
}

static void install(struct enc_state *st, struct encset *set)
{
    struct store_transforms xf;

    memset(&xf, 0, sizeof(xf));
    xf.read = set_read;
    xf.write = set_write;
    xf.release = set_release;
    xf.ctx = set;
    st->cur = set;
    store_set_transforms(st->store, &xf);
    atomic_store(&st->loaded, true);
}

static void poll_once(struct enc_state *st)
{
    struct strbuf buf = STRBUF_INIT;
    struct rkc_error err;
    struct encset *set = NULL;
    char hash[ENCCONFIG_HASH_SIZE];

    rkc_error_init(&err);
    if (strbuf_read_file(&buf, st->path, &err)) {
        /* a file being replaced may be missing for a moment; report only persistent errors */
        strbuf_release(&buf);
        return;
    }
    encconfig_hash_bytes(buf.buf, buf.len, hash);
    if (!strcmp(hash, st->file_hash)) {
        strbuf_release_wipe(&buf);
        return;
    }
    snprintf(st->file_hash, sizeof(st->file_hash), "%s", hash);
    if (load(st, &buf, &set, &err)) {
        log_error("reloading encryption provider config '%s' failed, keeping the previous one: "
                  "%s",
                  st->path, err.msg);
        metrics_reload(st->metrics, false, NULL);
    } else {
        install(st, set);
        metrics_reload(st->metrics, true, hash);
        log_info("reloaded encryption provider config '%s' (%s)", st->path, hash);
    }
    strbuf_release_wipe(&buf);
}

static uint64_t now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* The worker: polls the file every second (with reload) and the KMS v2 plugins' Status every
 * status_ms, so a KEK rotation marks reads stale without waiting for a write. */
static void *worker_main(void *arg)
{
    struct enc_state *st = arg;
    uint64_t next_status = now_ms() + st->status_ms;

    while (!atomic_load(&st->stop)) {
        struct timespec ts = { 0, 100L * 1000 * 1000 };
        int i;

        for (i = 0; i < 10 && !atomic_load(&st->stop); i++) {
            nanosleep(&ts, NULL);
            if (now_ms() >= next_status && !atomic_load(&st->stop)) {
                foreach_kms_v2(st->cur, refresh_one, NULL);
                next_status = now_ms() + st->status_ms;
            }
        }
        if (st->reload && !atomic_load(&st->stop))
            poll_once(st);
    }
    return NULL;
}

enum rkc_err encryption_new(const char *path, bool reload, unsigned kms_status_ms,
                            struct store *store, struct metrics *metrics, struct enc_state **ret,
                            struct rkc_error *err)
{
    struct enc_state *st = xcalloc(1, sizeof(*st));
    struct strbuf buf = STRBUF_INIT;
    struct encset *set = NULL;
    enum rkc_err rc;

    st->path = xstrdup(path);
    st->store = store;
    st->metrics = metrics;
    st->reload = reload;
    st->status_ms = kms_status_ms ? kms_status_ms : 60000;
    st->kms = kmsclient_factory_new();
    rc = strbuf_read_file(&buf, path, err);
    if (!rc)
        rc = load(st, &buf, &set, err);
    if (rc) {
        strbuf_release_wipe(&buf);
        encryption_free(st);
        return rkc_error_prefix(err, "--encryption-provider-config: "), rc;
    }
    encconfig_hash_bytes(buf.buf, buf.len, st->file_hash);
    strbuf_release_wipe(&buf);
    install(st, set);
    metrics_set_config_hash(metrics, st->file_hash);
    log_info("loaded encryption provider config '%s' (%s)", path, st->file_hash);
    if (reload || kmsclient_factory_count(st->kms)) {
        if (pthread_create(&st->thread, NULL, worker_main, st)) {
            encryption_free(st);
            return rkc_error_set(err, RKC_EINTERNAL, "cannot start the config reload thread");
        }
        st->thread_started = true;
    }
    *ret = st;
    return RKC_OK;
}

bool encryption_loaded(struct enc_state *st)
{
    return st && atomic_load(&st->loaded);
}

void encryption_free(struct enc_state *st)
{
    if (!st)
        return;
    atomic_store(&st->stop, true);
    if (st->thread_started)
        pthread_join(st->thread, NULL);
    if (st->cur)
        store_set_transforms(st->store, NULL); /* the sets go before their plugin clients */
    kmsclient_factory_free(st->kms);
    free(st->path);
    free(st);
}

size_t encryption_kms_health(struct enc_state *st, struct strbuf *out, size_t *ret_count)
{
    if (!st) {
        *ret_count = 0;
        return 0;
    }
    *ret_count = kmsclient_factory_count(st->kms);
    return kmsclient_factory_health(st->kms, out);
}
