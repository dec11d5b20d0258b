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
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "apiserver/server.h"
#include "crypto/encconfig.h"
#include "crypto/transformer.h"
#include "util/banned.h"
#include "util/log.h"
#include "util/xalloc.h"

struct enc_state {
    char *path;
    struct store *store;
    struct metrics *metrics;
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

/* Builds a set from the file's bytes. Returns: new set. */
static enum rkc_err load(const char *path, const struct strbuf *buf, struct encset **ret,
                         struct rkc_error *err)
{
    struct encconfig *cfg = NULL;
    enum rkc_err rc = encconfig_parse(path, buf->buf, buf->len, &cfg, NULL, err);

    if (!rc)
        rc = encconfig_build(cfg, NULL, ret, err);
    encconfig_free(cfg);
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
    if (load(st->path, &buf, &set, &err)) {
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

static void *reload_main(void *arg)
{
    struct enc_state *st = arg;

    while (!atomic_load(&st->stop)) {
        struct timespec ts = { 0, 100L * 1000 * 1000 };
        int i;

        for (i = 0; i < 10 && !atomic_load(&st->stop); i++)
            nanosleep(&ts, NULL);
        if (!atomic_load(&st->stop))
            poll_once(st);
    }
    return NULL;
}

enum rkc_err encryption_new(const char *path, bool reload, struct store *store,
                            struct metrics *metrics, struct enc_state **ret, struct rkc_error *err)
{
    struct enc_state *st = xcalloc(1, sizeof(*st));
    struct strbuf buf = STRBUF_INIT;
    struct encset *set = NULL;
    enum rkc_err rc;

    st->path = xstrdup(path);
    st->store = store;
    st->metrics = metrics;
    rc = strbuf_read_file(&buf, path, err);
    if (!rc)
        rc = load(path, &buf, &set, err);
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
    if (reload) {
        if (pthread_create(&st->thread, NULL, reload_main, st)) {
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
    free(st->path);
    free(st);
}
