/* SPDX-License-Identifier: Apache-2.0 */
/*
 * up: rkc up / rkc remove. The order is RKE's: certificates, etcd plane, control plane,
 * then the encryption state cluster.yml asks for (DESIGN.md §4 via encop), then the
 * kubeconfig. The encop environment (apply, rewrite, verify) is implemented here on top of
 * the transports, the runtime, the kube client and the etcd client.
 */
#include "core/up.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "adapters/etcd.h"
#include "adapters/kmsclient.h"
#include "adapters/kube.h"
#include "adapters/transport.h"
#include "core/components.h"
#include "core/encop.h"
#include "core/encplan.h"
#include "core/kubeconfig.h"
#include "core/pki.h"
#include "core/runtime.h"
#include "core/snapshot_ops.h"
#include "core/verify.h"
#include "crypto/b64.h"
#include "crypto/keygen.h"
#include "crypto/transformer.h"
#include "util/failpoint.h"
#include "util/fs.h"
#include "util/strbuf.h"
#include "util/xalloc.h"

#include "util/banned.h"

#define ETCD_HEALTH_TIMEOUT_MS      60000
#define APISERVER_HEALTH_TIMEOUT_MS 60000
#define STOP_TIMEOUT_MS             15000
#define PROBE_NAMESPACE             "kube-system"
#define PROBE_WRITE_NAME            "rkc-encryption-probe"
#define PROBE_READ_NAME             "rkc-encryption-probe-read"
#define ETCD_PREFIX                 "/registry"

struct up {
    const struct cluster_config *cfg;
    struct rkc_state *st;
    const struct up_options *o;
    struct transport **t;    /* per node */
    unsigned *changed_roles; /* per node: roles whose certificate files changed */
    struct pki_bundle *pki;
    char *tmpdir; /* private copies of the etcd client certificate */
    struct etcd_client *etcd;
    struct kube_client **kube;     /* per node, controlplane only, made on first use */
    struct kmsclient_factory *kms; /* KMS: plugin clients for kms providers, made on first use */
};

static void notify(struct up *u, enum log_level level, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void notify(struct up *u, enum log_level level, const char *fmt, ...)
{
    char msg[2048];
    va_list ap;

    if (!u->o->notify)
        return;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    u->o->notify(u->o->notify_ctx, level, msg);
}

static void encop_notify(void *ctx, enum log_level level, const char *msg)
{
    notify(ctx, level, "%s", msg);
}

static char *beside_cluster_file(const char *cluster_file, const char *prefix, const char *suffix)
{
    char *dir = fs_dirname(cluster_file);
    const char *base = strrchr(cluster_file, '/');
    char *name, *res;
    size_t n;

    base = base ? base + 1 : cluster_file;
    n = strlen(base);
    if (n > 4 && !strcmp(base + n - 4, ".yml"))
        n -= 4;
    else if (n > 5 && !strcmp(base + n - 5, ".yaml"))
        n -= 5;
    name = xasprintf("%s%.*s%s", prefix, (int)n, base, suffix);
    res = fs_join(dir, name);
    free(name);
    free(dir);
    return res;
}

char *up_kubeconfig_path(const struct cluster_config *cfg)
{
    return beside_cluster_file(cfg->file, "kube_config_", ".yml");
}

char *up_state_path(const char *cluster_file)
{
    return beside_cluster_file(cluster_file, "", ".rkestate");
}

/* ---- nodes ---- */

static enum rkc_err open_transports(struct up *u, struct rkc_error *err)
{
    size_t i;

    u->t = xcalloc(u->cfg->nnodes, sizeof(*u->t));
    u->changed_roles = xcalloc(u->cfg->nnodes, sizeof(*u->changed_roles));
    u->kube = xcalloc(u->cfg->nnodes, sizeof(*u->kube));
    for (i = 0; i < u->cfg->nnodes; i++) {
        const struct config_node *n = &u->cfg->nodes[i];

        if (n->transport != CONFIG_TRANSPORT_LOCAL)
            return rkc_error_set(err, RKC_ESSH,
                                 "%s:%zu:%zu: node '%s' uses the ssh transport, which this "
                                 "version of rkc does not have yet (use 'transport: local' for "
                                 "nodes on this machine)",
                                 u->cfg->file, n->line, n->col, n->name);
        u->t[i] = transport_local_new(n->name);
    }
    return RKC_OK;
}

/* ---- certificates ---- */

static enum rkc_err certificates_step(struct up *u, struct rkc_error *err)
{
    const struct jval *stored = state_certificates(u->st, STATE_CURRENT);
    struct pki_request req;
    struct pki_changes changes;
    enum rkc_err rc;
    size_t i, j;

    memset(&changes, 0, sizeof(changes));
    pki_request_from_config(u->cfg, &req);
    if (stored && jval_object_size(stored)) {
        rc = pki_bundle_from_jval(stored, &u->pki, err);
        if (!rc)
            rc = pki_bundle_reconcile(u->pki, &req, &changes, err);
        for (i = 0; !rc && i < changes.nissued; i++)
            notify(u, LOG_INFO, "[certificates] Issued certificate %s", changes.issued[i]);
    } else {
        notify(u, LOG_INFO, "[certificates] Generating CA kubernetes certificates");
        rc = pki_bundle_generate(&req, &u->pki, err);
    }
    pki_request_release(&req);
    pki_changes_release(&changes);
    if (rc)
        return rc;
    state_set_certificates_take(u->st, STATE_CURRENT, pki_bundle_to_jval(u->pki));
    state_set_certificates_take(u->st, STATE_DESIRED, pki_bundle_to_jval(u->pki));
    rc = state_save(u->st, err);
    if (rc)
        return rc;
    for (i = 0; i < u->cfg->nnodes; i++) {
        const struct config_node *n = &u->cfg->nodes[i];
        struct pki_file *files = NULL;
        size_t nfiles = 0;

        rc = pki_bundle_node_files(u->pki, n->roles, n->name, &files, &nfiles, err);
        for (j = 0; !rc && j < nfiles; j++) {
            char *path = components_ssl_path(n, files[j].file_name);
            bool changed = false;

            rc = transport_sync_file(u->t[i], path, files[j].data, files[j].len, files[j].mode,
                                     &changed, err);
            if (changed)
                u->changed_roles[i] |= files[j].roles;
            free(path);
        }
        pki_files_free(files, nfiles);
        if (rc)
            return rc;
        if (u->changed_roles[i])
            notify(u, LOG_INFO, "[certificates] Deployed certificates to node [%s]", n->name);
    }
    return RKC_OK;
}

/* ---- etcd ---- */

struct etcd_probe {
    struct up *u;
    size_t node;
};

static enum rkc_err etcd_probe_fn(void *ctx, struct rkc_error *err)
{
    struct etcd_probe *p = ctx;
    const struct config_node *n = &p->u->cfg->nodes[p->node];
    char *ca = components_ssl_path(n, "kube-ca.pem");
    char *cert = components_ssl_path(n, "kube-etcd-client.pem");
    char *key = components_ssl_path(n, "kube-etcd-client-key.pem");
    char *ep = NULL, *a_ca, *a_cert, *a_key, *a_ep;
    struct strbuf url = STRBUF_INIT;
    enum rkc_err rc;

    strbuf_addf(&url, "https://%s%s%s:%d", strchr(n->address, ':') ? "[" : "", n->address,
                strchr(n->address, ':') ? "]" : "", COMPONENTS_ETCD_CLIENT_PORT);
    ep = strbuf_detach(&url, NULL);
    a_ca = xasprintf("--cacert=%s", ca);
    a_cert = xasprintf("--cert=%s", cert);
    a_key = xasprintf("--key=%s", key);
    a_ep = xasprintf("--endpoints=%s", ep);
    {
        const char *argv[] = { "etcdctl",  a_ep,     a_ca, a_cert, a_key, "--command-timeout=3s",
                               "endpoint", "health", NULL };

        rc = transport_run_ok(p->u->t[p->node], argv, NULL, err);
    }
    free(a_ca);
    free(a_cert);
    free(a_key);
    free(a_ep);
    free(ep);
    free(ca);
    free(cert);
    free(key);
    return rc;
}

static enum rkc_err etcd_step(struct up *u, struct rkc_error *err)
{
    struct argv_list *argvs = xcalloc(u->cfg->nnodes, sizeof(*argvs));
    enum rkc_err rc = RKC_OK;
    size_t i;

    notify(u, LOG_INFO, "[etcd] Building up etcd plane..");
    for (i = 0; !rc && i < u->cfg->nnodes; i++) {
        const struct config_node *n = &u->cfg->nodes[i];
        struct runtime_component c;

        if (!(n->roles & CONFIG_ROLE_ETCD))
            continue;
        /*
         * Always "new": etcd ignores it once its data directory exists, and a flag that
         * flipped on the second run would restart etcd for nothing.
         */
        components_etcd_argv(u->cfg, n, false, &argvs[i]);
        c.name = "etcd";
        c.argv = (const char *const *)argvs[i].v;
        c.prefix = n->prefix;
        c.extra_hash = NULL;
        rc = runtime_ensure(u->t[i], &c, (u->changed_roles[i] & CONFIG_ROLE_ETCD) != 0, NULL, err);
    }
    /* All members first, then health: a multi-member cluster needs its quorum up. */
    for (i = 0; !rc && i < u->cfg->nnodes; i++) {
        struct etcd_probe probe = { u, i };
        struct runtime_component c = { "etcd", (const char *const *)argvs[i].v,
                                       u->cfg->nodes[i].prefix, NULL };

        if (!(u->cfg->nodes[i].roles & CONFIG_ROLE_ETCD))
            continue;
        rc = runtime_wait_healthy(u->t[i], &c, etcd_probe_fn, &probe, ETCD_HEALTH_TIMEOUT_MS, err);
        if (!rc)
            notify(u, LOG_INFO, "[etcd] Successfully started etcd plane on host [%s]",
                   u->cfg->nodes[i].name);
    }
    for (i = 0; i < u->cfg->nnodes; i++)
        argv_free(&argvs[i]);
    free(argvs);
    return rc;
}

/* The etcd client rkc itself uses (verify, probes): certificate files in a private dir. */
static enum rkc_err etcd_client_step(struct up *u, struct rkc_error *err)
{
    const struct pki_cert *ca = pki_bundle_get(u->pki, PKI_CA);
    const struct pki_cert *cl = pki_bundle_get(u->pki, PKI_ETCD_CLIENT);
    char tmpl[] = "/tmp/rkc-client-XXXXXX";
    char *ca_path, *cert_path, *key_path, *servers;
    struct etcd_config ec;
    enum rkc_err rc;

    if (!ca || !cl)
        return rkc_error_set(err, RKC_EINTERNAL, "certificate bundle lacks %s or %s", PKI_CA,
                             PKI_ETCD_CLIENT);
    if (!mkdtemp(tmpl))
        return rkc_error_set(err, RKC_EIO, "mkdtemp: %s", strerror(errno));
    u->tmpdir = xstrdup(tmpl);
    ca_path = fs_join(u->tmpdir, "ca.pem");
    cert_path = fs_join(u->tmpdir, "client.pem");
    key_path = fs_join(u->tmpdir, "client-key.pem");
    rc = fs_write_atomic(ca_path, ca->cert_pem, strlen(ca->cert_pem), 0600, err);
    if (!rc)
        rc = fs_write_atomic(cert_path, cl->cert_pem, strlen(cl->cert_pem), 0600, err);
    if (!rc)
        rc = fs_write_atomic(key_path, cl->key_pem, strlen(cl->key_pem), 0600, err);
    servers = components_etcd_endpoints(u->cfg);
    memset(&ec, 0, sizeof(ec));
    ec.servers = servers;
    ec.cafile = ca_path;
    ec.certfile = cert_path;
    ec.keyfile = key_path;
    if (!rc)
        rc = etcd_client_new(&ec, &u->etcd, err);
    free(servers);
    free(ca_path);
    free(cert_path);
    free(key_path);
    return rc;
}

/* ---- API servers ---- */

static enum rkc_err kube_for(struct up *u, size_t node, struct kube_client **ret,
                             struct rkc_error *err)
{
    const struct pki_cert *ca = pki_bundle_get(u->pki, PKI_CA);
    const struct pki_cert *admin = pki_bundle_get(u->pki, PKI_ADMIN);
    struct kube_config kc;
    char *url;
    enum rkc_err rc;

    if (u->kube[node]) {
        *ret = u->kube[node];
        return RKC_OK;
    }
    url = components_apiserver_url(&u->cfg->nodes[node]);
    memset(&kc, 0, sizeof(kc));
    kc.server = url;
    kc.ca_pem = ca->cert_pem;
    kc.ca_pem_len = strlen(ca->cert_pem);
    kc.cert_pem = admin->cert_pem;
    kc.cert_pem_len = strlen(admin->cert_pem);
    kc.key_pem = admin->key_pem;
    kc.key_pem_len = strlen(admin->key_pem);
    rc = kube_client_new(&kc, &u->kube[node], err);
    free(url);
    if (!rc)
        *ret = u->kube[node];
    return rc;
}

struct api_probe {
    struct up *u;
    size_t node;
};

static enum rkc_err api_probe_fn(void *ctx, struct rkc_error *err)
{
    struct api_probe *p = ctx;
    struct kube_client *kc;
    struct strbuf resp = STRBUF_INIT;
    long status = 0;
    enum rkc_err rc = kube_for(p->u, p->node, &kc, err);

    if (!rc)
        rc = kube_request(kc, "GET", "/readyz", NULL, NULL, 0, &status, &resp, err);
    if (!rc && status != 200)
        rc = rkc_error_set(err, RKC_EHTTP, "/readyz answered %ld", status);
    strbuf_release(&resp);
    return rc;
}

/*
 * The provider config hash the running API server reports as loaded (rkc-apiserver's
 * apiserver_encryption_config_controller_automatic_reload_last_config_info metric), into ret
 * ("" when it reports none).
 */
static enum rkc_err loaded_hash(struct up *u, size_t node, char ret[ENCCONFIG_HASH_SIZE],
                                struct rkc_error *err)
{
    static const char metric[] =
        "apiserver_encryption_config_controller_automatic_reload_last_config_info{";
    struct strbuf resp = STRBUF_INIT;
    struct kube_client *kc;
    long status = 0;
    const char *p, *h, *q;
    enum rkc_err rc = kube_for(u, node, &kc, err);

    ret[0] = '\0';
    if (!rc)
        rc = kube_request(kc, "GET", "/metrics", NULL, NULL, 0, &status, &resp, err);
    if (!rc && status != 200)
        rc = rkc_error_set(err, RKC_EHTTP, "/metrics answered %ld", status);
    if (!rc && (p = strstr(resp.buf, metric)) && (h = strstr(p, ",hash=\"")) &&
        (q = strchr(h + 7, '"')) && (size_t)(q - h - 7) < ENCCONFIG_HASH_SIZE) {
        memcpy(ret, h + 7, (size_t)(q - h - 7));
        ret[q - h - 7] = '\0';
    }
    strbuf_release(&resp);
    return rc;
}

/* Waits until node's API server reports hash as its loaded provider config. */
static enum rkc_err wait_loaded(struct up *u, size_t node, const char *hash, struct rkc_error *err)
{
    char have[ENCCONFIG_HASH_SIZE] = "";
    struct timespec ts = { 0, 100L * 1000 * 1000 };
    int i;

    for (i = 0; i < 150; i++) {
        if (!loaded_hash(u, node, have, NULL) && !strcmp(have, hash))
            return RKC_OK;
        nanosleep(&ts, NULL);
    }
    return rkc_error_set(err, RKC_ETIMEOUT,
                         "kube-apiserver on node '%s' did not load the new provider config "
                         "within 15 s (it reports %s, expected %s); its log says why",
                         u->cfg->nodes[node].name, have[0] ? have : "none", hash);
}

/*
 * Ensures the API server of node runs with whatever provider config file the node has now
 * (absent: no flag). Restarts it when its flags changed, or the file changed and it cannot
 * reload it by itself; a reloading server is waited for until it reports the file loaded.
 */
static enum rkc_err apiserver_ensure(struct up *u, size_t node, bool force, bool *ret_started,
                                     struct rkc_error *err)
{
    const struct config_node *n = &u->cfg->nodes[node];
    char *enc = components_encryption_path(n);
    struct strbuf cur = STRBUF_INIT;
    struct argv_list argv = { 0 };
    struct runtime_component c;
    struct api_probe probe = { u, node };
    char hash[ENCCONFIG_HASH_SIZE] = "";
    bool has_file, started = false;
    enum rkc_err rc;

    has_file = !transport_read_file(u->t[node], enc, &cur, NULL);
    if (has_file)
        encconfig_hash_bytes(cur.buf, cur.len, hash);
    strbuf_release_wipe(&cur);
    components_apiserver_argv(u->cfg, n, u->o->apiserver_bin, has_file ? enc : NULL, &argv);
    c.name = "kube-apiserver";
    c.argv = (const char *const *)argv.v;
    c.prefix = n->prefix;
    c.extra_hash = components_apiserver_reloads(u->cfg) ? NULL : hash;
    rc = runtime_ensure(u->t[node], &c, force, &started, err);
    if (!rc)
        rc = runtime_wait_healthy(u->t[node], &c, api_probe_fn, &probe, APISERVER_HEALTH_TIMEOUT_MS,
                                  err);
    if (rc == RKC_EIO && started) {
        /*
         * Exited right after a (re)start: one more try after a pause (a port still held by
         * the process just stopped, a slow disk). A second exit fails with its log lines.
         */
        struct timespec pause = { 1, 0 };

        notify(u, LOG_WARN,
               "[controlPlane] kube-apiserver on node [%s] exited at start, "
               "retrying once",
               n->name);
        nanosleep(&pause, NULL);
        rc = runtime_stop(u->t[node], n->prefix, c.name, STOP_TIMEOUT_MS, err);
        if (!rc)
            rc = runtime_start(u->t[node], &c, err);
        if (!rc)
            rc = runtime_wait_healthy(u->t[node], &c, api_probe_fn, &probe,
                                      APISERVER_HEALTH_TIMEOUT_MS, err);
    }
    if (!rc && has_file && components_apiserver_reloads(u->cfg))
        rc = wait_loaded(u, node, hash, err);
    if (!rc && started)
        notify(u, LOG_INFO, "[controlPlane] Successfully started kube-apiserver on host [%s]",
               n->name);
    if (ret_started)
        *ret_started = started;
    argv_free(&argv);
    free(enc);
    return rc;
}

/* ---- KMS (services.kms-plugin, kms providers) ---- */

static size_t first_controlplane(const struct cluster_config *cfg);

#define KMS_HEALTH_TIMEOUT_MS 30000

/* Returns: borrowed factory giving kms providers real plugin clients (adapters/kmsclient.h). */
static const struct kms_plugin_factory *kms_factory(struct up *u)
{
    if (!u->kms)
        u->kms = kmsclient_factory_new();
    return kmsclient_factory_get(u->kms);
}

/* Health of a KMS plugin: the socket answers v2 Status, or (v1-only plugins) v1 Version. */
static enum rkc_err kms_probe_fn(void *ctx, struct rkc_error *err)
{
    const char *endpoint = ctx;
    struct kmsclient *c = NULL;
    enum rkc_err rc = kmsclient_new(endpoint, KMSCLIENT_V2, 2000, &c, err);

    if (!rc && kmsclient_health(c, NULL, err)) {
        kmsclient_free(c);
        c = NULL;
        rc = kmsclient_new(endpoint, KMSCLIENT_V1, 2000, &c, err);
        if (!rc)
            rc = kmsclient_version(c, NULL, NULL, err);
    }
    kmsclient_free(c);
    return rc;
}

/*
 * services.kms-plugin: runs the plugin on controlplane node `node` and waits until its socket
 * answers. The default rkc-kms gets the same key file on every node (the first controlplane
 * node's, which rkc-kms creates on its first start).
 */
static enum rkc_err kms_plugin_ensure(struct up *u, size_t node, size_t first,
                                      struct rkc_error *err)
{
    const struct config_node *n = &u->cfg->nodes[node];
    char *dir = fs_dirname(u->o->apiserver_bin);
    char *bin = fs_join(dir, "rkc-kms");
    char *endpoint = xasprintf("unix://%s", u->cfg->kms_plugin.socket);
    char *key = components_kms_key_path(n);
    char *sockdir = fs_dirname(u->cfg->kms_plugin.socket);
    char *keydir = fs_dirname(key);
    struct argv_list argv = { 0 };
    struct runtime_component c;
    struct strbuf kek = STRBUF_INIT;
    bool dflt = false, started = false;
    enum rkc_err rc;

    components_kms_plugin_argv(u->cfg, n, bin, &argv, &dflt);
    rc = transport_mkdir_p(u->t[node], sockdir, 0700, err);
    if (!rc && dflt)
        rc = transport_mkdir_p(u->t[node], keydir, 0700, err);
    if (!rc && dflt && node != first) {
        char *first_key = components_kms_key_path(&u->cfg->nodes[first]);

        if (!transport_read_file(u->t[first], first_key, &kek, NULL))
            rc = transport_sync_file(u->t[node], key, kek.buf, kek.len, 0600, NULL, err);
        free(first_key);
    }
    c.name = "kms-plugin";
    c.argv = (const char *const *)argv.v;
    c.prefix = n->prefix;
    c.extra_hash = NULL;
    if (!rc)
        rc = runtime_ensure(u->t[node], &c, false, &started, err);
    if (!rc)
        rc = runtime_wait_healthy(u->t[node], &c, kms_probe_fn, endpoint, KMS_HEALTH_TIMEOUT_MS,
                                  err);
    if (!rc && started)
        notify(u, LOG_INFO, "[controlPlane] Successfully started kms-plugin on host [%s] (%s)",
               n->name, endpoint);
    if (rc)
        rkc_error_prefix(err, "kms-plugin on node '%s': ", n->name);
    strbuf_release_wipe(&kek);
    argv_free(&argv);
    free(dir);
    free(bin);
    free(endpoint);
    free(key);
    free(sockdir);
    free(keydir);
    return rc;
}

/*
 * services.kube-api.extra_binds with the process runtime: the API server sees the host's
 * paths as they are, so only the host side of "host:container[:opts]" is checked and logged.
 */
static void check_extra_binds(struct up *u, size_t node)
{
    const struct config_node *n = &u->cfg->nodes[node];
    size_t i;

    for (i = 0; i < u->cfg->kube_api.nextra_binds; i++) {
        const char *b = u->cfg->kube_api.extra_binds[i];
        const char *colon = strchr(b, ':');
        char *host = colon ? xstrndup(b, (size_t)(colon - b)) : xstrdup(b);
        const char *const test[] = { "test", "-e", host, NULL };
        int status = 1;

        if (!transport_run(u->t[node], test, NULL, 0, NULL, NULL, &status, NULL) && !status)
            notify(u, LOG_INFO,
                   "[controlPlane] extra_binds: host path '%s' exists on host [%s]; the process "
                   "runtime uses host paths as they are, no bind is needed",
                   host, n->name);
        else
            notify(u, LOG_WARN,
                   "[controlPlane] extra_binds: host path '%s' does not exist on host [%s]", host,
                   n->name);
        free(host);
    }
}

/*
 * With no operation pending, a node's provider file must be the state's active config (or
 * absent when there is none): a file deleted or edited by hand, or a node rebuilt after
 * `rkc remove`, is put back before its API server starts, so it never starts with a config that
 * cannot read what is stored. A pending operation owns the file (encop's apply).
 */
static enum rkc_err repair_provider_file(struct up *u, size_t node, struct rkc_error *err)
{
    const struct config_node *n = &u->cfg->nodes[node];
    const char *active = state_active_config(u->st);
    char *enc;
    bool changed = false;
    enum rkc_err rc = RKC_OK;

    if (state_operation(u->st))
        return RKC_OK;
    enc = components_encryption_path(n);
    if (active) {
        rc = transport_sync_file(u->t[node], enc, active, strlen(active), 0600, &changed, err);
    } else {
        struct strbuf cur = STRBUF_INIT;

        changed = !transport_read_file(u->t[node], enc, &cur, NULL);
        strbuf_release_wipe(&cur);
        if (changed)
            rc = transport_remove_file(u->t[node], enc, err);
    }
    if (!rc && changed)
        notify(u, LOG_WARN,
               "[encryption] The provider configuration on node [%s] did not match %s: %s", n->name,
               state_path(u->st), active ? "restored it" : "removed it (encryption is disabled)");
    free(enc);
    return rc;
}

static enum rkc_err controlplane_step(struct up *u, struct rkc_error *err)
{
    enum rkc_err rc = RKC_OK;
    size_t i, first = first_controlplane(u->cfg);

    notify(u, LOG_INFO, "[controlPlane] Building up Controller Plane..");
    for (i = 0; !rc && i < u->cfg->nnodes; i++) {
        if (!(u->cfg->nodes[i].roles & CONFIG_ROLE_CONTROLPLANE))
            continue;
        /* KMS: the plugin runs before the API server that calls it */
        if (u->cfg->kms_plugin.present)
            rc = kms_plugin_ensure(u, i, first, err);
        if (!rc)
            check_extra_binds(u, i);
        if (!rc)
            rc = repair_provider_file(u, i, err);
        if (!rc)
            rc = apiserver_ensure(u, i, (u->changed_roles[i] & CONFIG_ROLE_CONTROLPLANE) != 0, NULL,
                                  err);
    }
    return rc;
}

/* ---- probes: prove the running servers use the intended config ---- */

static enum rkc_err chain_of(struct up *u, const struct encconfig *cfg, struct encset **ret_set,
                             const struct xf_chain **ret_chain, struct rkc_error *err)
{
    enum rkc_err rc;

    *ret_set = NULL;
    if (!cfg) {
        *ret_chain = NULL;
        return RKC_OK;
    }
    rc = encconfig_build(cfg, kms_factory(u), ret_set, err); /* KMS: real plugin clients */
    if (!rc)
        *ret_chain = encset_chain_for(*ret_set, "secrets");
    return rc;
}

static void probe_object(const char *name, const char *value_b64, struct strbuf *out)
{
    strbuf_addf(out,
                "{\"apiVersion\":\"v1\",\"kind\":\"Secret\",\"metadata\":{\"name\":\"%s\","
                "\"namespace\":\"%s\",\"labels\":{\"app.kubernetes.io/managed-by\":\"rkc\"}},"
                "\"type\":\"Opaque\",\"data\":{\"probe\":\"%s\"}}",
                name, PROBE_NAMESPACE, value_b64);
}

/* Writes a probe Secret through node's API server and checks its raw etcd prefix. */
static enum rkc_err probe_writer(struct up *u, size_t node, const struct xf_chain *chain,
                                 struct rkc_error *err)
{
    const char *key = ETCD_PREFIX "/secrets/" PROBE_NAMESPACE "/" PROBE_WRITE_NAME;
    struct strbuf body = STRBUF_INIT, resp = STRBUF_INIT, want = STRBUF_INIT, b64 = STRBUF_INIT;
    unsigned char rnd[16];
    struct kube_client *kc;
    struct etcd_kv kv;
    bool found = false;
    long status = 0;
    enum rkc_err rc;

    memset(&kv, 0, sizeof(kv));
    rc = kube_for(u, node, &kc, err);
    if (!rc)
        rc = keygen_random(rnd, sizeof(rnd), err);
    if (rc)
        goto out;
    b64_encode(rnd, sizeof(rnd), &b64);
    probe_object(PROBE_WRITE_NAME, b64.buf, &body);
    rc = kube_request(kc, "PUT", "/api/v1/namespaces/" PROBE_NAMESPACE "/secrets/" PROBE_WRITE_NAME,
                      "application/json", body.buf, body.len, &status, &resp, err);
    if (!rc && status == 404) {
        strbuf_reset(&resp);
        rc = kube_request(kc, "POST", "/api/v1/namespaces/" PROBE_NAMESPACE "/secrets",
                          "application/json", body.buf, body.len, &status, &resp, err);
    }
    if (!rc && (status < 200 || status > 299))
        rc = rkc_error_set(err, RKC_EHTTP, "writing the probe secret answered HTTP %ld", status);
    if (!rc)
        rc = etcd_get(u->etcd, key, &kv, &found, NULL, err);
    if (!rc && !found)
        rc = rkc_error_set(err, RKC_ENOTFOUND, "probe secret '%s' not found in etcd", key);
    if (rc)
        goto out;
    if (chain) {
        rc = xf_chain_writer_prefix(chain, &want, err);
        if (rc)
            goto out;
    }
    if (want.len ? (kv.value_len < want.len || memcmp(kv.value, want.buf, want.len))
                 : (kv.value_len >= 8 && !memcmp(kv.value, "k8s:enc:", 8))) {
        size_t show = 0;

        while (show < kv.value_len && show < 64 && kv.value[show] >= 0x20 && kv.value[show] < 0x7f)
            show++;
        rc = rkc_error_set(err, RKC_EIO,
                           "API server on node '%s' does not write with the intended provider: "
                           "probe stored as '%.*s...', expected '%s'",
                           u->cfg->nodes[node].name, (int)(show < 40 ? show : 40), kv.value,
                           want.len ? want.buf : "plaintext");
    }
    if (!rc) {
        /* The probe has served: leave no object behind in the user's cluster. */
        strbuf_reset(&resp);
        rc = kube_request(kc, "DELETE",
                          "/api/v1/namespaces/" PROBE_NAMESPACE "/secrets/" PROBE_WRITE_NAME, NULL,
                          NULL, 0, &status, &resp, err);
        if (!rc && status != 200 && status != 202 && status != 404)
            rc = rkc_error_set(err, RKC_EHTTP, "deleting the probe secret answered HTTP %ld",
                               status);
    }
out:
    etcd_kv_release(&kv);
    strbuf_release(&body);
    strbuf_release(&resp);
    strbuf_release(&want);
    strbuf_release(&b64);
    return rc;
}

/*
 * For every keyed reader provider of `readable` that the running config is not writing
 * with: seal a probe with that provider alone, put it in etcd, read it through the server.
 */
static enum rkc_err probe_readers(struct up *u, size_t node, const struct encconfig *readable,
                                  struct rkc_error *err)
{
    const char *key = ETCD_PREFIX "/secrets/" PROBE_NAMESPACE "/" PROBE_READ_NAME;
    const struct encconfig_provider **providers = NULL;
    size_t np = readable ? encconfig_lookup(readable, "secrets", &providers, NULL) : 0, i;
    enum rkc_err rc = RKC_OK;

    for (i = 0; !rc && i < np; i++) {
        const struct encconfig_provider *p = providers[i];
        struct encconfig *one;
        struct encconfig_resource *res;
        struct encset *set = NULL;
        struct strbuf body = STRBUF_INIT, sealed = STRBUF_INIT, resp = STRBUF_INIT;
        struct strbuf b64 = STRBUF_INIT;
        unsigned char rnd[16];
        struct kube_client *kc;
        long status = 0;
        bool ok = false;

        if (p->kind == ENCCONFIG_IDENTITY || p->kind == ENCCONFIG_KMS || !p->nkeys)
            continue;
        one = encconfig_new("<probe>");
        res = encconfig_add_resource(one);
        encconfig_resource_add_name(res, "secrets");
        {
            struct encconfig_provider *q = encconfig_resource_add_provider(res, p->kind);

            encconfig_provider_add_key(q, p->keys[p->nkeys - 1].name, p->keys[p->nkeys - 1].secret,
                                       p->keys[p->nkeys - 1].secret_len);
        }
        rc = encconfig_build(one, NULL, &set, err);
        if (!rc)
            rc = keygen_random(rnd, sizeof(rnd), err);
        if (!rc) {
            b64_encode(rnd, sizeof(rnd), &b64);
            strbuf_addf(&body,
                        "{\"apiVersion\":\"v1\",\"kind\":\"Secret\",\"metadata\":{\"name\":\"%s\","
                        "\"namespace\":\"%s\",\"uid\":\"00000000-0000-4000-8000-000000000001\","
                        "\"creationTimestamp\":\"2024-01-01T00:00:00Z\"},\"type\":\"Opaque\","
                        "\"data\":{\"probe\":\"%s\"}}",
                        PROBE_READ_NAME, PROBE_NAMESPACE, b64.buf);
            rc = xf_chain_write(encset_chain_for(set, "secrets"), key, (const uint8_t *)body.buf,
                                body.len, &sealed, err);
        }
        if (!rc)
            rc = etcd_cas_put(u->etcd, key, sealed.buf, sealed.len, -1, &ok, NULL, err);
        if (!rc)
            rc = kube_for(u, node, &kc, err);
        if (!rc)
            rc = kube_request(kc, "GET",
                              "/api/v1/namespaces/" PROBE_NAMESPACE "/secrets/" PROBE_READ_NAME,
                              NULL, NULL, 0, &status, &resp, err);
        if (!rc && (status != 200 || !strstr(resp.buf, b64.buf)))
            rc = rkc_error_set(err, RKC_EIO,
                               "API server on node '%s' cannot read values written with key "
                               "'%s' (HTTP %ld)",
                               u->cfg->nodes[node].name, p->keys[p->nkeys - 1].name, status);
        encset_free(set);
        encconfig_free(one);
        strbuf_release(&body);
        strbuf_release_wipe(&sealed);
        strbuf_release(&resp);
        strbuf_release(&b64);
    }
    free(providers);
    if (np) {
        int64_t deleted = 0;

        if (!rc)
            rc = etcd_delete_prefix(u->etcd, key, &deleted, err);
    }
    return rc;
}

/* ---- the encop environment ---- */

static enum rkc_err env_apply(void *ctx, const struct encconfig *cfg,
                              const struct encconfig *readable, struct rkc_error *err)
{
    struct up *u = ctx;
    struct strbuf text = STRBUF_INIT;
    struct encset *set = NULL;
    const struct xf_chain *chain = NULL;
    char hex[65];
    enum rkc_err rc = RKC_OK;
    size_t i;

    if (cfg)
        rc = encop_config_to_text(cfg, &text, hex, err);
    if (!rc)
        rc = chain_of(u, cfg, &set, &chain, err);
    /* One node at a time, each healthy and confirmed before the next. */
    for (i = 0; !rc && i < u->cfg->nnodes; i++) {
        const struct config_node *n = &u->cfg->nodes[i];
        char *enc;
        bool changed = false, started = false, had_file = false;

        if (!(n->roles & CONFIG_ROLE_CONTROLPLANE))
            continue;
        enc = components_encryption_path(n);
        if (cfg) {
            struct strbuf cur = STRBUF_INIT;

            /* a first file adds the flag: that is a restart even for a reloading server */
            had_file = !transport_read_file(u->t[i], enc, &cur, NULL);
            strbuf_release_wipe(&cur);
            rc = transport_sync_file(u->t[i], enc, text.buf, text.len, 0600, &changed, err);
            if (!rc && changed)
                notify(u, LOG_INFO,
                       "[encryption] Deployed encryption provider configuration (%s) to node "
                       "[%s]",
                       enc, n->name);
        } else {
            struct strbuf cur = STRBUF_INIT;

            changed = !transport_read_file(u->t[i], enc, &cur, NULL);
            strbuf_release_wipe(&cur);
        }
        free(enc);
        if (rc)
            break;
        rkc_failpoint("up-apply-after-deploy");
        if (!cfg && changed) {
            /* Drop the flag first (restart), then the file. */
            char *path = components_encryption_path(n);
            char *moved = xasprintf("%s.removed", path);
            struct strbuf cur = STRBUF_INIT;

            rc = transport_read_file(u->t[i], path, &cur, err);
            if (!rc)
                rc = transport_write_file(u->t[i], moved, cur.buf, cur.len, 0600, err);
            if (!rc)
                rc = transport_remove_file(u->t[i], path, err);
            strbuf_release_wipe(&cur);
            if (!rc)
                notify(u, LOG_INFO,
                       "[encryption] Removing --encryption-provider-config from kube-apiserver "
                       "on node [%s]",
                       n->name);
            if (!rc)
                rc = apiserver_ensure(u, i, false, &started, err);
            if (!rc) {
                rc = transport_remove_file(u->t[i], moved, err);
                if (!rc)
                    notify(u, LOG_INFO,
                           "[encryption] Removed the encryption provider configuration file "
                           "from node [%s]",
                           n->name);
            }
            free(moved);
            free(path);
        } else {
            if (changed)
                notify(u, LOG_INFO, "[encryption] %s kube-apiserver on node [%s]",
                       components_apiserver_reloads(u->cfg) && had_file
                           ? "Reloading the provider config in"
                           : "Restarting",
                       n->name);
            rc = apiserver_ensure(u, i, false, &started, err);
        }
        if (!rc)
            rc = probe_writer(u, i, chain, err);
        if (!rc)
            rc = probe_readers(u, i, readable, err);
        if (!rc && (changed || started))
            notify(u, LOG_INFO,
                   "[encryption] Confirmed: kube-apiserver on node [%s] writes with %s%s", n->name,
                   cfg && !encplan_writes_plaintext(cfg, "secrets") ? "the intended provider"
                                                                    : "identity (plaintext)",
                   readable ? " and reads the other keys" : "");
    }
    encset_free(set);
    strbuf_release_wipe(&text);
    return rc;
}

static size_t first_controlplane(const struct cluster_config *cfg)
{
    size_t i;

    for (i = 0; i < cfg->nnodes; i++) {
        if (cfg->nodes[i].roles & CONFIG_ROLE_CONTROLPLANE)
            return i;
    }
    return 0;
}

static enum rkc_err env_rewrite(void *ctx, const char *resource, struct rkc_error *err)
{
    struct up *u = ctx;
    struct rewrite_options ro;
    struct rewrite_result res;
    struct rewrite_api api;
    struct kube_client *kc;
    enum rkc_err rc;
    size_t i;

    rc = kube_for(u, first_controlplane(u->cfg), &kc, err);
    if (rc)
        return rc;
    rewrite_api_from_kube(kc, &api);
    memset(&ro, 0, sizeof(ro));
    ro.resource = resource;
    ro.workers = u->o->rewrite_workers;
    ro.progress = u->o->progress;
    ro.progress_ctx = u->o->progress_ctx;
    rewrite_result_init(&res);
    rc = rewrite_run(&api, &ro, &res, err);
    if (!rc && res.failed) {
        struct strbuf names = STRBUF_INIT;

        for (i = 0; i < res.nfailures && i < 5; i++)
            strbuf_addf(&names, "%s%s (%s)", i ? ", " : "", res.failures[i].name,
                        res.failures[i].reason);
        rc = rkc_error_set(err, RKC_EIO, "%zu %s could not be rewritten: %s%s", res.failed,
                           resource, names.buf, res.failed > 5 ? ", ..." : "");
        strbuf_release(&names);
    }
    if (!rc)
        notify(u, LOG_INFO,
               "[encryption] Rewrote %zu %s in %.1fs (%zu deleted meanwhile, %zu "
               "conflicts retried)",
               res.rewritten, resource, res.elapsed_s, res.skipped_gone, res.conflicts_retried);
    rewrite_result_release(&res);
    return rc;
}

static enum rkc_err env_verify(void *ctx, const char *resource, const struct encconfig *cfg,
                               bool *ret_ok, struct rkc_error *err)
{
    struct up *u = ctx;
    struct encset *set = NULL;
    struct xf_chain *identity = NULL;
    const struct xf_chain *chain;
    struct verify_report report;
    enum rkc_err rc;

    rc = encconfig_build(cfg, kms_factory(u), &set, err); /* KMS: decrypt through the plugin */
    if (rc)
        return rc;
    chain = encset_chain_for(set, resource);
    verify_report_init(&report);
    rc = verify_resource(u->etcd, ETCD_PREFIX, resource, chain, &report, err);
    if (!rc) {
        *ret_ok = report.ok;
        notify(u, report.ok ? LOG_INFO : LOG_WARN,
               "[encryption] etcd scan of %s: %zu values, %zu on the writer (%s), %zu not on it, "
               "%zu unreadable",
               resource, report.total, report.total - report.not_on_writer - report.unreadable,
               report.writer ? report.writer : "?", report.not_on_writer, report.unreadable);
    }
    verify_report_release(&report);
    xf_chain_free(identity);
    encset_free(set);
    return rc;
}

/* ---- what cluster.yml asks for ---- */

enum rkc_err up_custom_config(const struct cluster_config *cfg, struct encconfig **ret,
                              struct strbuf *warnings, struct rkc_error *err)
{
    const struct config_secrets_encryption *se = &cfg->kube_api.secrets_encryption;
    struct encconfig *b = NULL;
    struct encconfig_diag d;
    enum rkc_err rc;

    *ret = NULL;
    if (!se->custom_config)
        return RKC_OK;
    encconfig_diag_init(&d);
    rc = encconfig_from_node(cfg->file, se->custom_config, &b, &d, err);
    if (!rc && encconfig_validate(b, false, &d, err)) {
        struct strbuf sb = STRBUF_INIT;

        encconfig_diag_format(&d, 1u << ENCCONFIG_ERROR, &sb);
        strbuf_trim_trailing_newline(&sb);
        rc = rkc_error_set(err, RKC_ECONFIG,
                           "invalid services.kube-api.secrets_encryption_config.custom_config "
                           "(nothing was changed):\n%s",
                           sb.buf);
        strbuf_release(&sb);
    }
    if (!rc && warnings)
        encconfig_diag_format(&d, 1u << ENCCONFIG_WARNING, warnings);
    encconfig_diag_release(&d);
    if (rc) {
        encconfig_free(b);
        return rc;
    }
    *ret = b;
    return RKC_OK;
}

/*
 * A new 256-bit key whose name no key of cfg and no archived key uses (so names stay
 * unique in the retired-keys archive).
 */
static enum rkc_err new_key(struct up *u, const struct encconfig *cfg, char name[8],
                            unsigned char secret[32], struct rkc_error *err)
{
    enum rkc_err rc;
    int tries = 0;

    do {
        rc = encconfig_new_key(cfg, name, secret, err);
    } while (!rc && state_retired_find(u->st, name) && ++tries < 100);
    return rc;
}

/* True when cluster.yml's custom_config is what the last successful `rkc up` applied. */
static bool custom_config_unchanged(struct up *u)
{
    const struct jval *cur = state_rke_config(u->st, STATE_CURRENT);
    const struct jval *applied = jval_get(
        jval_get(jval_get(jval_get(cur, "services"), "kubeApi"), "secretsEncryptionConfig"),
        "customConfig");
    struct jval *now;
    bool same;

    if (!applied || !u->cfg->kube_api.secrets_encryption.custom_config)
        return false;
    now = config_ytree_to_jval(u->cfg->kube_api.secrets_encryption.custom_config);
    same = jval_equal(applied, now);
    jval_wipe_strings(now);
    jval_decref(now);
    return same;
}

static enum rkc_err desired(struct up *u, struct encconfig **ret_target,
                            enum state_op_kind *ret_kind, bool *ret_change, struct rkc_error *err)
{
    const struct config_secrets_encryption *se = &u->cfg->kube_api.secrets_encryption;
    struct encconfig *active = NULL, *b = NULL;
    enum state_enc_mode mode = state_enc_mode(u->st);
    enum rkc_err rc;

    *ret_target = NULL;
    *ret_change = false;
    rc = encop_config_from_text(state_active_config(u->st), &active, err);
    if (rc)
        return rc;
    if (!se->enabled) {
        if (active) {
            *ret_kind = STATE_OP_DISABLE;
            *ret_change = true;
        }
    } else if (se->custom_config) {
        struct strbuf warnings = STRBUF_INIT;

        rc = up_custom_config(u->cfg, &b, &warnings, err);
        if (!rc && warnings.len) {
            char *line = warnings.buf, *nl;

            for (; line && *line; line = nl ? nl + 1 : NULL) {
                nl = strchr(line, '\n');
                if (nl)
                    *nl = '\0';
                notify(u, LOG_WARN, "[encryption] %s", line);
            }
        }
        strbuf_release(&warnings);
        /*
         * A custom config rotated by `rkc encrypt rotate-key` differs from cluster.yml's on
         * purpose: it is kept until the user changes custom_config itself.
         */
        if (!rc && active && mode == STATE_ENC_CUSTOM && !encconfig_equal(active, b) &&
            custom_config_unchanged(u))
            notify(u, LOG_INFO,
                   "[encryption] Keeping the rotated custom configuration (custom_config in %s "
                   "is unchanged since it was applied)",
                   u->cfg->file);
        else if (!rc && !(active && mode == STATE_ENC_CUSTOM && encconfig_equal(active, b))) {
            *ret_kind = STATE_OP_APPLY_CUSTOM;
            *ret_change = true;
            *ret_target = b;
            b = NULL;
        }
    } else if (!(active && mode == STATE_ENC_MANAGED)) {
        unsigned char secret[32];
        char name[8];
        struct encconfig_managed_key k = { name, secret, sizeof(secret) };

        rc = new_key(u, active, name, secret, err);
        if (!rc) {
            notify(u, LOG_INFO, "[encryption] Generated a new 256-bit encryption key %s", name);
            *ret_target = encconfig_new_managed(&k, NULL, 0, false);
            *ret_kind = STATE_OP_ENABLE;
            *ret_change = true;
        }
        rkc_wipe(secret, sizeof(secret));
    }
    encconfig_free(b);
    encconfig_free(active);
    return rc;
}

static void make_env(struct up *u, struct encop_env *env)
{
    memset(env, 0, sizeof(*env));
    env->ctx = u;
    env->ncontrolplane = config_count_role(u->cfg, CONFIG_ROLE_CONTROLPLANE);
    env->apply = env_apply;
    env->rewrite = env_rewrite;
    env->verify = env_verify;
    env->notify = encop_notify;
}

/* Starts and runs a rotation of the active config (managed or custom). */
static enum rkc_err rotate_now(struct up *u, const struct encop_env *env, struct rkc_error *err)
{
    struct encconfig *active = NULL, *target = NULL;
    unsigned char secret[32];
    char name[8];
    enum rkc_err rc;

    rc = encop_config_from_text(state_active_config(u->st), &active, err);
    if (!rc && !active)
        rc = rkc_error_set(err, RKC_EINVAL,
                           "secrets encryption is not enabled: there is no key to rotate (set "
                           "services.kube-api.secrets_encryption_config.enabled: true and run "
                           "rkc up)");
    if (!rc)
        rc = new_key(u, active, name, secret, err);
    if (!rc && state_enc_mode(u->st) == STATE_ENC_MANAGED) {
        struct encconfig_managed_key k = { name, secret, sizeof(secret) };

        target = encconfig_new_managed(&k, NULL, 0, false);
    } else if (!rc) {
        rc = encplan_rotate(active, name, secret, sizeof(secret), &target, err);
        if (rc)
            rkc_error_prefix(err, "cannot rotate the custom encryption configuration: ");
    }
    rkc_wipe(secret, sizeof(secret));
    if (!rc) {
        notify(u, LOG_INFO, "[encryption] Generated a new 256-bit encryption key %s", name);
        notify(u, LOG_INFO,
               "[encryption] Rotating the encryption key: the new key is added as a reader, "
               "then becomes the writer with the old key kept for reading");
        rc = encop_begin(u->st, STATE_OP_ROTATE, target, err);
    }
    if (!rc)
        rc = encop_run(u->st, env, err);
    encconfig_free(target);
    encconfig_free(active);
    return rc;
}

/* True when rotate_encryption_key was already true in the last applied cluster.yml. */
static bool rotation_flag_applied(struct up *u)
{
    return jval_get_bool(state_rke_config(u->st, STATE_CURRENT), "rotateEncryptionKey", false);
}

static enum rkc_err encryption_step(struct up *u, struct rkc_error *err)
{
    struct encop_env env;
    struct encconfig *target = NULL;
    enum state_op_kind kind = STATE_OP_ENABLE;
    bool change = false, ran = false;
    enum rkc_err rc;

    make_env(u, &env);
    if (state_operation(u->st)) {
        ran = true;
        rc = encop_run(u->st, &env, err);
        if (rc)
            return rc;
    }
    rc = desired(u, &target, &kind, &change, err);
    if (!rc && change) {
        ran = true;
        notify(u, LOG_INFO, "[encryption] %s",
               kind == STATE_OP_DISABLE        ? "Disabling secrets encryption"
               : kind == STATE_OP_APPLY_CUSTOM ? "Applying the custom encryption configuration"
                                               : "Enabling managed secrets encryption (aescbc)");
        rc = encop_begin(u->st, kind, target, err);
        if (!rc)
            rc = encop_run(u->st, &env, err);
    }
    encconfig_free(target);
    if (rc || !u->cfg->rotate_encryption_key || rotation_flag_applied(u))
        return rc;
    if (ran || !state_active_config(u->st)) {
        notify(u, LOG_INFO,
               "[encryption] rotate_encryption_key: %s, no rotation needed in this run",
               ran ? "the key was just changed" : "encryption is disabled");
    } else {
        notify(u, LOG_INFO, "[encryption] rotate_encryption_key is set: rotating the key once");
        rc = rotate_now(u, &env, err);
    }
    if (!rc)
        notify(u, LOG_INFO,
               "[encryption] rotate_encryption_key may now be removed from %s: it does not "
               "rotate again while it stays true",
               u->cfg->file);
    return rc;
}

static enum rkc_err kubeconfig_step(struct up *u, struct rkc_error *err)
{
    const struct pki_cert *ca = pki_bundle_get(u->pki, PKI_CA);
    const struct pki_cert *admin = pki_bundle_get(u->pki, PKI_ADMIN);
    char *url = components_apiserver_url(&u->cfg->nodes[first_controlplane(u->cfg)]);
    char *path = up_kubeconfig_path(u->cfg);
    struct strbuf out = STRBUF_INIT;
    bool changed = false;
    enum rkc_err rc;

    rc = kubeconfig_render(u->cfg->cluster_name, url, ca->cert_pem, admin->cert_pem, admin->key_pem,
                           &out, err);
    if (!rc)
        rc = kubeconfig_write(path, &out, &changed, err);
    if (!rc && changed)
        notify(u, LOG_INFO, "Wrote the admin kubeconfig to %s", path);
    strbuf_release_wipe(&out);
    free(url);
    free(path);
    return rc;
}

static void up_release(struct up *u)
{
    size_t i;

    for (i = 0; u->t && i < u->cfg->nnodes; i++) {
        transport_free(u->t[i]);
        kube_client_free(u->kube[i]);
    }
    free(u->t);
    free(u->kube);
    free(u->changed_roles);
    etcd_client_free(u->etcd);
    kmsclient_factory_free(u->kms); /* after every set built with it (all freed by now) */
    if (u->tmpdir)
        fs_remove_tree(u->tmpdir, NULL);
    free(u->tmpdir);
    pki_bundle_free(u->pki);
}

/* Certificates, etcd, the control plane and the kubeconfig: what every command needs up. */
static enum rkc_err bring_up(struct up *u, struct rkc_error *err)
{
    enum rkc_err rc = open_transports(u, err);

    if (!rc)
        rc = certificates_step(u, err);
    if (!rc)
        rc = etcd_step(u, err);
    if (!rc)
        rc = etcd_client_step(u, err);
    if (!rc)
        rc = controlplane_step(u, err);
    if (!rc)
        rc = kubeconfig_step(u, err);
    return rc;
}

enum rkc_err up_rotate(const struct cluster_config *cfg, struct rkc_state *st,
                       const struct up_options *opts, struct rkc_error *err)
{
    const struct state_operation *op;
    struct encop_env env;
    struct up u;
    enum rkc_err rc = RKC_OK;

    memset(&u, 0, sizeof(u));
    u.cfg = cfg;
    u.st = st;
    u.o = opts;
    op = state_operation(st);
    if (op) {
        rc = state_operation_bump_attempt(st, err);
        if (!rc)
            rc = state_save(st, err);
    }
    if (!rc)
        rc = bring_up(&u, err);
    make_env(&u, &env);
    op = state_operation(st);
    if (!rc && op) {
        bool was_rotate = op->kind == STATE_OP_ROTATE;

        notify(&u, LOG_INFO, "[encryption] Finishing the interrupted '%s' operation first",
               state_op_kind_name(op->kind));
        rc = encop_run(st, &env, err);
        if (!rc && was_rotate) {
            notify(&u, LOG_INFO, "[encryption] The interrupted key rotation is complete");
            up_release(&u);
            return RKC_OK;
        }
    }
    if (!rc)
        rc = rotate_now(&u, &env, err);
    if (!rc)
        notify(&u, LOG_INFO, "[encryption] Key rotation finished");
    up_release(&u);
    return rc;
}

enum rkc_err up_run(const struct cluster_config *cfg, struct rkc_state *st,
                    const struct up_options *opts, struct rkc_error *err)
{
    struct up u;
    enum rkc_err rc;

    memset(&u, 0, sizeof(u));
    u.cfg = cfg;
    u.st = st;
    u.o = opts;
    /* A custom config is checked before anything is touched. */
    {
        struct encconfig *custom = NULL;

        rc = up_custom_config(cfg, &custom, NULL, err);
        encconfig_free(custom);
        if (rc)
            return rc;
    }
    if (state_operation(st)) {
        rc = state_operation_bump_attempt(st, err);
        if (!rc)
            rc = state_save(st, err);
        if (rc)
            return rc;
    }
    state_set_rke_config_take(st, STATE_DESIRED, config_to_jval(cfg));
    /* An interrupted `rkc etcd snapshot-restore` finishes its etcd restore first. */
    rc = snapshot_restore_pending(cfg, st, opts, err);
    if (!rc)
        rc = bring_up(&u, err);
    if (!rc)
        rc = encryption_step(&u, err);
    if (!rc) {
        state_set_rke_config_take(st, STATE_CURRENT, config_to_jval(cfg));
        rc = state_save(st, err);
    }
    if (!rc)
        notify(&u, LOG_INFO, "Finished building Kubernetes cluster successfully");
    up_release(&u);
    return rc;
}

enum rkc_err up_remove(const struct cluster_config *cfg, struct rkc_state *st,
                       const struct up_options *opts, struct rkc_error *err)
{
    struct up u;
    enum rkc_err rc;
    size_t i;

    memset(&u, 0, sizeof(u));
    u.cfg = cfg;
    u.o = opts;
    rc = open_transports(&u, err);
    for (i = 0; !rc && i < cfg->nnodes; i++) {
        const struct config_node *n = &cfg->nodes[i];
        const char *const comps[] = { "kube-apiserver", "kms-plugin", "etcd" };
        size_t c;

        for (c = 0; !rc && c < 3; c++) {
            rc = runtime_stop(u.t[i], n->prefix, comps[c], STOP_TIMEOUT_MS, err);
            if (!rc)
                notify(&u, LOG_INFO, "[remove] Stopped %s on node [%s]", comps[c], n->name);
        }
        if (!rc && n->transport == CONFIG_TRANSPORT_LOCAL) {
            char *parent = fs_dirname(n->prefix);

            rc = fs_remove_tree(n->prefix, err);
            if (!rc)
                notify(&u, LOG_INFO, "[remove] Removed node data %s", n->prefix);
            /* the default ./.rkc/ holder goes too once it is empty */
            if (!rc && rmdir(parent) < 0 && errno != ENOTEMPTY && errno != ENOENT &&
                errno != EEXIST)
                notify(&u, LOG_DEBUG, "could not remove %s: %s", parent, strerror(errno));
            free(parent);
        }
    }
    if (!rc) {
        char *kc = up_kubeconfig_path(cfg);

        rc = fs_remove(kc, err);
        free(kc);
    }
    if (!rc && st) {
        bool had_keys = state_active_config(st) != NULL;

        rc = encop_forget_cluster(st, err);
        if (!rc && had_keys)
            notify(&u, LOG_INFO,
                   "[remove] The cluster's encryption keys moved to the retired-keys archive in "
                   "%s (snapshots may need them); the next 'rkc up' starts with new keys",
                   state_path(st));
    }
    up_release(&u);
    return rc;
}

/* ---- status ---- */

static struct jval *provider_json(const struct encconfig_provider *p, bool writer_first_key)
{
    struct jval *o = jval_object(), *keys = jval_array();
    size_t k;

    jval_set_str(o, "provider", encconfig_kind_name(p->kind));
    if (p->kind == ENCCONFIG_KMS) {
        jval_set_str(o, "name", p->kms.name);
        jval_set_str(o, "apiVersion", p->kms.api_version ? p->kms.api_version : "v1");
    }
    for (k = 0; k < p->nkeys; k++) {
        struct jval *kj = jval_object();
        char fp[KEYGEN_FINGERPRINT_SIZE];

        keygen_fingerprint(p->keys[k].secret, p->keys[k].secret_len, fp);
        jval_set_str(kj, "name", p->keys[k].name);
        jval_set_str(kj, "fingerprint", fp);
        jval_set_str(kj, "role", writer_first_key && k == 0 ? "writer" : "reader");
        jval_array_append_take(keys, kj);
    }
    jval_set_take(o, "keys", keys);
    return o;
}

/* resources: [{names, providers: [...]}] of the active config. */
static struct jval *config_json(const struct encconfig *cfg)
{
    struct jval *arr = jval_array();
    size_t i, j;

    for (i = 0; cfg && i < cfg->nresources; i++) {
        const struct encconfig_resource *r = &cfg->resources[i];
        struct jval *o = jval_object(), *names = jval_array(), *provs = jval_array();

        for (j = 0; j < r->nnames; j++)
            jval_array_append_take(names, jval_string(r->names[j]));
        for (j = 0; j < r->nproviders; j++)
            jval_array_append_take(provs, provider_json(&r->providers[j], j == 0));
        jval_set_take(o, "resources", names);
        jval_set_take(o, "providers", provs);
        jval_array_append_take(arr, o);
    }
    return arr;
}

static struct jval *scan_json(struct up *u, const struct encconfig *cfg, struct rkc_error *err)
{
    struct jval *out = jval_object();
    char **resources = NULL;
    size_t i, j;

    encplan_resources(cfg, NULL, &resources);
    if (!resources[0]) {
        encplan_resources_free(resources);
        resources = xcalloc(2, sizeof(*resources));
        resources[0] = xstrdup("secrets");
    }
    for (i = 0; resources[i]; i++) {
        struct encset *set = NULL;
        struct verify_report rep;
        struct jval *o, *by, *unread;
        const struct xf_chain *chain = NULL;
        struct xf_chain *plain = NULL;
        enum rkc_err rc = RKC_OK;

        if (cfg)
            rc = encconfig_build(cfg, kms_factory(u), &set, err); /* KMS */
        if (rc)
            break;
        if (set)
            chain = encset_chain_for(set, resources[i]);
        else
            chain = plain = xf_chain_encrypt_check_identity();
        verify_report_init(&rep);
        rc = verify_resource(u->etcd, ETCD_PREFIX, resources[i], chain, &rep, err);
        if (!rc) {
            o = jval_object();
            by = jval_array();
            unread = jval_array();
            jval_set_int(o, "total", (int64_t)rep.total);
            jval_set_int(o, "plaintext", (int64_t)rep.plaintext);
            jval_set_int(o, "unreadable", (int64_t)rep.unreadable);
            jval_set_int(o, "notOnWriter", (int64_t)rep.not_on_writer);
            jval_set_str(o, "writer", rep.writer ? rep.writer : "");
            for (j = 0; j < rep.ncounts; j++) {
                struct jval *c = jval_object();

                jval_set_str(c, "provider", xf_kind_name(rep.counts[j].kind));
                jval_set_str(c, "key", rep.counts[j].key_name);
                jval_set_int(c, "count", (int64_t)rep.counts[j].count);
                jval_set_bool(c, "writer", rep.counts[j].writer);
                jval_array_append_take(by, c);
            }
            for (j = 0; j < rep.unreadable_keys.nr; j++)
                jval_array_append_take(unread, jval_string(rep.unreadable_keys.v[j].key));
            jval_set_take(o, "byKey", by);
            jval_set_take(o, "unreadableKeys", unread);
            jval_set_take(out, resources[i], o);
        }
        verify_report_release(&rep);
        xf_chain_free(plain);
        encset_free(set);
        if (rc)
            break;
    }
    encplan_resources_free(resources);
    return out;
}

enum rkc_err up_status(const struct cluster_config *cfg, struct rkc_state *st,
                       const struct up_options *opts, bool scan, struct jval **ret,
                       struct rkc_error *err)
{
    struct jval *o = jval_object(), *nodes = jval_array(), *retired = jval_array();
    const struct state_operation *op = state_operation(st);
    struct encconfig *active = NULL;
    const struct jval *certs;
    char first_deployed[ENCCONFIG_HASH_SIZE] = "", expected[ENCCONFIG_HASH_SIZE] = "";
    bool agree = true, have_first = false;
    struct up u;
    enum rkc_err rc;
    size_t i;

    memset(&u, 0, sizeof(u));
    u.cfg = cfg;
    u.st = st;
    u.o = opts;
    rc = encop_config_from_text(state_active_config(st), &active, err);
    if (rc)
        goto out;
    jval_set_str(o, "mode", state_enc_mode_name(state_enc_mode(st)));
    jval_set_take(o, "config", config_json(active));
    if (op) {
        struct jval *oj = jval_object();

        jval_set_str(oj, "kind", state_op_kind_name(op->kind));
        jval_set_str(oj, "phase", state_op_phase_name(op->phase));
        jval_set_int(oj, "attempt", op->attempt);
        jval_set_str(oj, "startedAt", op->started_at);
        jval_set_take(o, "operation", oj);
    } else {
        jval_set_take(o, "operation", jval_null());
    }
    for (i = 0; i < state_retired_count(st); i++) {
        const struct state_retired_key *k = state_retired_at(st, i);
        struct jval *kj = jval_object();

        jval_set_str(kj, "name", k->name);
        jval_set_str(kj, "provider", k->provider);
        jval_set_str(kj, "fingerprint", k->fingerprint);
        jval_set_str(kj, "retiredAt", k->retired_at);
        jval_set_str(kj, "reason", k->reason ? k->reason : "");
        jval_array_append_take(retired, kj);
    }
    jval_set_take(o, "retiredKeys", retired);
    if (!op && state_active_config(st))
        encconfig_hash_bytes(state_active_config(st), strlen(state_active_config(st)), expected);
    jval_set_take(o, "expectedHash",
                  op ? jval_null() : (expected[0] ? jval_string(expected) : jval_null()));
    certs = state_certificates(st, STATE_CURRENT);
    if (!certs || !jval_object_size(certs)) {
        jval_set_take(o, "nodes", nodes);
        jval_set_bool(o, "nodesAgree", true);
        *ret = o;
        o = NULL;
        goto out;
    }
    rc = pki_bundle_from_jval(certs, &u.pki, err);
    if (!rc)
        rc = open_transports(&u, err);
    for (i = 0; !rc && i < cfg->nnodes; i++) {
        const struct config_node *n = &cfg->nodes[i];
        struct jval *nj;
        char *enc;
        struct strbuf cur = STRBUF_INIT;
        char deployed[ENCCONFIG_HASH_SIZE] = "", loaded[ENCCONFIG_HASH_SIZE] = "";
        struct rkc_error lerr;
        bool node_ok;

        if (!(n->roles & CONFIG_ROLE_CONTROLPLANE))
            continue;
        nj = jval_object();
        enc = components_encryption_path(n);
        if (!transport_read_file(u.t[i], enc, &cur, NULL))
            encconfig_hash_bytes(cur.buf, cur.len, deployed);
        strbuf_release_wipe(&cur);
        free(enc);
        rkc_error_init(&lerr);
        jval_set_str(nj, "name", n->name);
        jval_set_take(nj, "deployedHash", deployed[0] ? jval_string(deployed) : jval_null());
        if (loaded_hash(&u, i, loaded, &lerr)) {
            jval_set_take(nj, "loadedHash", jval_null());
            jval_set_str(nj, "error", lerr.msg);
            node_ok = false;
        } else {
            jval_set_take(nj, "loadedHash", loaded[0] ? jval_string(loaded) : jval_null());
            /* without a file the server must report no config */
            node_ok = !strcmp(deployed, loaded);
        }
        if (!have_first) {
            memcpy(first_deployed, deployed, sizeof(deployed));
            have_first = true;
        } else if (strcmp(first_deployed, deployed)) {
            node_ok = false;
        }
        /* with nothing pending, every node must run exactly what the state says is active */
        if (!op && strcmp(deployed, expected))
            node_ok = false;
        jval_set_bool(nj, "agrees", node_ok);
        agree = agree && node_ok;
        jval_array_append_take(nodes, nj);
    }
    jval_set_take(o, "nodes", nodes);
    nodes = NULL;
    jval_set_bool(o, "nodesAgree", agree);
    if (!rc && scan) {
        rc = etcd_client_step(&u, err);
        if (!rc) {
            struct jval *sj = scan_json(&u, active, err);

            jval_set_take(o, "scan", sj);
        }
    }
    if (!rc) {
        *ret = o;
        o = NULL;
    }
out:
    jval_decref(nodes);
    jval_decref(o);
    encconfig_free(active);
    up_release(&u);
    return rc;
}

/* ---- for other commands (snapshot) ---- */

enum rkc_err up_node_transport(const struct cluster_config *cfg, size_t node,
                               struct transport **ret, struct rkc_error *err)
{
    const struct config_node *n = &cfg->nodes[node];

    if (n->transport != CONFIG_TRANSPORT_LOCAL)
        return rkc_error_set(err, RKC_ESSH,
                             "%s:%zu:%zu: node '%s' uses the ssh transport, which this version "
                             "of rkc does not have yet (use 'transport: local' for nodes on this "
                             "machine)",
                             cfg->file, n->line, n->col, n->name);
    *ret = transport_local_new(n->name);
    return RKC_OK;
}
