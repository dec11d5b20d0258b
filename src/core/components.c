/* SPDX-License-Identifier: Apache-2.0 */
/* components: flag sets for etcd and the API server, derived from cluster.yml. */
#include "core/components.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/pki.h"
#include "util/fs.h"
#include "util/strbuf.h"
#include "util/xalloc.h"

#include "util/banned.h"

void argv_push(struct argv_list *a, const char *s)
{
    ALLOC_GROW(a->v, a->n + 2, a->alloc);
    a->v[a->n++] = xstrdup(s);
    a->v[a->n] = NULL;
}

void argv_pushf(struct argv_list *a, const char *fmt, ...)
{
    struct strbuf sb = STRBUF_INIT;
    va_list ap;

    va_start(ap, fmt);
    strbuf_vaddf(&sb, fmt, ap);
    va_end(ap);
    ALLOC_GROW(a->v, a->n + 2, a->alloc);
    a->v[a->n++] = strbuf_detach(&sb, NULL);
    a->v[a->n] = NULL;
}

void argv_free(struct argv_list *a)
{
    size_t i;

    for (i = 0; i < a->n; i++)
        free(a->v[i]);
    free(a->v);
    a->v = NULL;
    a->n = a->alloc = 0;
}

char *components_path(const struct config_node *n, const char *rel)
{
    return fs_join(n->prefix, rel);
}

char *components_ssl_path(const struct config_node *n, const char *file)
{
    char *dir = components_path(n, "etc/kubernetes/ssl");
    char *res = fs_join(dir, file);

    free(dir);
    return res;
}

char *components_encryption_path(const struct config_node *n)
{
    return components_ssl_path(n, "encryption.yaml");
}

/* IPv6 literals go in brackets inside URLs. */
static void add_host(struct strbuf *sb, const char *address)
{
    if (strchr(address, ':'))
        strbuf_addf(sb, "[%s]", address);
    else
        strbuf_addstr(sb, address);
}

char *components_etcd_endpoints(const struct cluster_config *cfg)
{
    struct strbuf sb = STRBUF_INIT;
    size_t i;

    for (i = 0; i < cfg->nnodes; i++) {
        if (!(cfg->nodes[i].roles & CONFIG_ROLE_ETCD))
            continue;
        if (sb.len)
            strbuf_addch(&sb, ',');
        strbuf_addstr(&sb, "https://");
        add_host(&sb, cfg->nodes[i].address);
        strbuf_addf(&sb, ":%d", COMPONENTS_ETCD_CLIENT_PORT);
    }
    return strbuf_detach(&sb, NULL);
}

char *components_apiserver_url(const struct config_node *n)
{
    struct strbuf sb = STRBUF_INIT;

    strbuf_addstr(&sb, "https://");
    add_host(&sb, n->address);
    strbuf_addf(&sb, ":%d", COMPONENTS_APISERVER_PORT);
    return strbuf_detach(&sb, NULL);
}

static bool has_extra(const struct config_kv *kv, size_t n, const char *key)
{
    size_t i;

    for (i = 0; i < n; i++) {
        if (!strcmp(kv[i].key, key))
            return true;
    }
    return false;
}

/* Adds --key=value unless extra_args overrides key; then appends all extra_args last. */
static void flag(struct argv_list *a, const struct config_kv *extra, size_t nextra, const char *key,
                 const char *value)
{
    if (!has_extra(extra, nextra, key))
        argv_pushf(a, "--%s=%s", key, value);
}

static void add_extra(struct argv_list *a, const struct config_kv *extra, size_t nextra)
{
    size_t i;

    for (i = 0; i < nextra; i++)
        argv_pushf(a, "--%s=%s", extra[i].key, extra[i].value);
}

char *components_kms_key_path(const struct config_node *n)
{
    return components_path(n, "etc/kubernetes/kms/kek.key");
}

void components_kms_plugin_argv(const struct cluster_config *cfg, const struct config_node *n,
                                const char *default_bin, struct argv_list *ret,
                                bool *ret_default_key)
{
    const struct config_kv *x = cfg->kms_plugin.extra_args;
    size_t nx = cfg->kms_plugin.nextra_args;
    bool dflt = !cfg->kms_plugin.binary && !has_extra(x, nx, "key-file");

    argv_push(ret, cfg->kms_plugin.binary ? cfg->kms_plugin.binary : default_bin);
    flag(ret, x, nx, "listen", cfg->kms_plugin.socket);
    if (dflt) {
        char *key = components_kms_key_path(n);

        flag(ret, x, nx, "key-file", key);
        free(key);
    }
    add_extra(ret, x, nx);
    if (ret_default_key)
        *ret_default_key = dflt;
}

void components_etcd_argv(const struct cluster_config *cfg, const struct config_node *n,
                          bool existing_cluster, struct argv_list *ret)
{
    const struct config_kv *x = cfg->etcd.extra_args;
    size_t nx = cfg->etcd.nextra_args, i;
    struct strbuf url = STRBUF_INIT, peers = STRBUF_INIT, peer_url = STRBUF_INIT;
    char *data = components_path(n, "var/lib/etcd");
    char *cert = NULL, *key = NULL, *ca = components_ssl_path(n, "kube-ca.pem");
    char *entry = pki_etcd_cert_name(n->name);
    char file[512];

    snprintf(file, sizeof(file), "%s.pem", entry);
    cert = components_ssl_path(n, file);
    snprintf(file, sizeof(file), "%s-key.pem", entry);
    key = components_ssl_path(n, file);
    free(entry);
    strbuf_addstr(&url, "https://");
    add_host(&url, n->address);
    strbuf_addf(&url, ":%d", COMPONENTS_ETCD_CLIENT_PORT);
    strbuf_addstr(&peer_url, "https://");
    add_host(&peer_url, n->address);
    strbuf_addf(&peer_url, ":%d", COMPONENTS_ETCD_PEER_PORT);
    for (i = 0; i < cfg->nnodes; i++) {
        const struct config_node *m = &cfg->nodes[i];

        if (!(m->roles & CONFIG_ROLE_ETCD))
            continue;
        if (peers.len)
            strbuf_addch(&peers, ',');
        strbuf_addf(&peers, "%s=https://", m->name);
        add_host(&peers, m->address);
        strbuf_addf(&peers, ":%d", COMPONENTS_ETCD_PEER_PORT);
    }
    argv_push(ret, "etcd");
    flag(ret, x, nx, "name", n->name);
    flag(ret, x, nx, "data-dir", data);
    flag(ret, x, nx, "listen-client-urls", url.buf);
    flag(ret, x, nx, "advertise-client-urls", url.buf);
    flag(ret, x, nx, "listen-peer-urls", peer_url.buf);
    flag(ret, x, nx, "initial-advertise-peer-urls", peer_url.buf);
    flag(ret, x, nx, "initial-cluster", peers.buf);
    flag(ret, x, nx, "initial-cluster-state", existing_cluster ? "existing" : "new");
    argv_pushf(ret, "--initial-cluster-token=rkc-%s", cfg->cluster_name);
    flag(ret, x, nx, "cert-file", cert);
    flag(ret, x, nx, "key-file", key);
    flag(ret, x, nx, "client-cert-auth", "true");
    flag(ret, x, nx, "trusted-ca-file", ca);
    flag(ret, x, nx, "peer-cert-file", cert);
    flag(ret, x, nx, "peer-key-file", key);
    flag(ret, x, nx, "peer-client-cert-auth", "true");
    flag(ret, x, nx, "peer-trusted-ca-file", ca);
    add_extra(ret, x, nx);
    strbuf_release(&url);
    strbuf_release(&peers);
    strbuf_release(&peer_url);
    free(data);
    free(cert);
    free(key);
    free(ca);
}

void components_apiserver_argv(const struct cluster_config *cfg, const struct config_node *n,
                               const char *apiserver_bin, const char *encryption_config,
                               struct argv_list *ret)
{
    const struct config_kv *x = cfg->kube_api.extra_args;
    size_t nx = cfg->kube_api.nextra_args;
    char *endpoints = components_etcd_endpoints(cfg);
    char *ca = components_ssl_path(n, "kube-ca.pem");
    char *ecert = components_ssl_path(n, "kube-etcd-client.pem");
    char *ekey = components_ssl_path(n, "kube-etcd-client-key.pem");
    char *cert = components_ssl_path(n, "kube-apiserver.pem");
    char *key = components_ssl_path(n, "kube-apiserver-key.pem");
    char *sa = components_ssl_path(n, "kube-service-account-token.pem");
    char *sakey = components_ssl_path(n, "kube-service-account-token-key.pem");
    char *certdir = components_path(n, "etc/kubernetes/ssl");
    char port[16];

    snprintf(port, sizeof(port), "%d", COMPONENTS_APISERVER_PORT);
    argv_push(ret, cfg->kube_api.binary ? cfg->kube_api.binary : apiserver_bin);
    flag(ret, x, nx, "etcd-servers", endpoints);
    flag(ret, x, nx, "etcd-cafile", ca);
    flag(ret, x, nx, "etcd-certfile", ecert);
    flag(ret, x, nx, "etcd-keyfile", ekey);
    flag(ret, x, nx, "bind-address", n->address);
    flag(ret, x, nx, "secure-port", port);
    flag(ret, x, nx, "tls-cert-file", cert);
    flag(ret, x, nx, "tls-private-key-file", key);
    flag(ret, x, nx, "client-ca-file", ca);
    if (encryption_config) {
        flag(ret, x, nx, "encryption-provider-config", encryption_config);
        if (components_apiserver_reloads(cfg))
            flag(ret, x, nx, "encryption-provider-config-automatic-reload", "true");
    }
    if (cfg->kube_api.binary) {
        /* A real kube-apiserver requires these; rkc-apiserver has no use for them. */
        flag(ret, x, nx, "service-cluster-ip-range", cfg->kube_api.service_cluster_ip_range);
        flag(ret, x, nx, "service-account-key-file", sa);
        flag(ret, x, nx, "service-account-signing-key-file", sakey);
        flag(ret, x, nx, "service-account-issuer", "https://kubernetes.default.svc.cluster.local");
        flag(ret, x, nx, "api-audiences", "https://kubernetes.default.svc.cluster.local");
        flag(ret, x, nx, "cert-dir", certdir);
        flag(ret, x, nx, "authorization-mode", "RBAC");
        flag(ret, x, nx, "advertise-address", n->address);
    }
    add_extra(ret, x, nx);
    free(endpoints);
    free(ca);
    free(ecert);
    free(ekey);
    free(cert);
    free(key);
    free(sa);
    free(sakey);
    free(certdir);
}

bool components_apiserver_reloads(const struct cluster_config *cfg)
{
    return cfg->kube_api.binary == NULL;
}
