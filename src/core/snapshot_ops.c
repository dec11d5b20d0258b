/* SPDX-License-Identifier: Apache-2.0 */
/* snapshot_ops: snapshot-save, snapshot-restore, snapshot-ls, prune-keys. */
#include "core/snapshot_ops.h"

#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "adapters/etcd.h"
#include "adapters/transport.h"
#include "core/components.h"
#include "core/encop.h"
#include "core/encplan.h"
#include "core/runtime.h"
#include "core/snapshot.h"
#include "util/failpoint.h"
#include "util/fs.h"
#include "util/xalloc.h"

#include "util/banned.h"

#define ETCD_PREFIX       "/registry"
#define NODE_SNAPSHOT_DIR "opt/rke/etcd-snapshots"
#define MARKER_FILE       ".restore-pending"
#define TMP_ETCD_TIMEOUT  30000
#define STOP_TIMEOUT_MS   15000
#define ETCD_HEALTH_MS    60000

static void say(const struct up_options *uo, enum log_level level, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void say(const struct up_options *uo, enum log_level level, const char *fmt, ...)
{
    char msg[2048];
    va_list ap;

    if (!uo || !uo->notify)
        return;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    uo->notify(uo->notify_ctx, level, msg);
}

char *snapshot_dir(const struct cluster_config *cfg)
{
    return fs_join(cfg->dir, "snapshots");
}

static char *snap_file(const struct cluster_config *cfg, const char *name, const char *suffix)
{
    char *dir = snapshot_dir(cfg), *base = xasprintf("%s%s", name, suffix);
    char *p = fs_join(dir, base);

    free(dir);
    free(base);
    return p;
}

static void compact_time(time_t t, char out[17])
{
    struct tm tm;

    gmtime_r(&t, &tm);
    strftime(out, 17, "%Y%m%dT%H%M%SZ", &tm);
}

/* ---- a private etcd on random loopback ports ---- */

struct tmp_etcd {
    struct transport *t;
    char *dir;
    struct etcd_client *etcd;
    bool started;
};

static enum rkc_err free_port(int *ret, struct rkc_error *err)
{
    struct sockaddr_in a;
    socklen_t len = sizeof(a);
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

    if (fd < 0)
        return rkc_error_set(err, RKC_EIO, "socket: %s", strerror(errno));
    memset(&a, 0, sizeof(a));
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (bind(fd, (struct sockaddr *)&a, sizeof(a)) < 0 ||
        getsockname(fd, (struct sockaddr *)&a, &len) < 0) {
        int e = errno;

        close(fd);
        return rkc_error_set(err, RKC_EIO, "finding a free loopback port: %s", strerror(e));
    }
    *ret = ntohs(a.sin_port);
    close(fd);
    return RKC_OK;
}

static enum rkc_err tmp_probe(void *ctx, struct rkc_error *err)
{
    return etcd_health(ctx, err);
}

static void tmp_etcd_stop(struct tmp_etcd *te)
{
    if (te->started)
        runtime_stop(te->t, te->dir, "etcd", STOP_TIMEOUT_MS, NULL);
    etcd_client_free(te->etcd);
    if (te->dir)
        fs_remove_tree(te->dir, NULL);
    free(te->dir);
    transport_free(te->t);
    memset(te, 0, sizeof(*te));
}

/* Restores db (a local file) into a temporary etcd and starts it on loopback. */
static enum rkc_err tmp_etcd_start(const char *db, struct tmp_etcd *te, struct rkc_error *err)
{
    const char *tmp = getenv("TMPDIR");
    char *tmpl = xasprintf("%s/rkc-snapshot-XXXXXX", tmp && *tmp ? tmp : "/tmp");
    char *data = NULL, *peer = NULL, *client = NULL, *a[8] = { 0 };
    struct etcd_config ec;
    int cport = 0, pport = 0;
    enum rkc_err rc = RKC_OK;
    size_t i;

    memset(te, 0, sizeof(*te));
    te->t = transport_local_new("rkc (temporary etcd)");
    if (!mkdtemp(tmpl)) {
        rc = rkc_error_set(err, RKC_EIO, "mkdtemp: %s", strerror(errno));
        free(tmpl);
        return rc;
    }
    te->dir = tmpl;
    data = fs_join(te->dir, "data");
    rc = free_port(&cport, err);
    if (!rc)
        rc = free_port(&pport, err);
    while (!rc && pport == cport)
        rc = free_port(&pport, err);
    if (rc)
        goto out;
    peer = xasprintf("http://127.0.0.1:%d", pport);
    client = xasprintf("http://127.0.0.1:%d", cport);
    a[0] = xasprintf("--data-dir=%s", data);
    a[1] = xasprintf("--initial-cluster=preflight=%s", peer);
    a[2] = xasprintf("--initial-advertise-peer-urls=%s", peer);
    {
        const char *argv[] = { "etcdctl", "snapshot", "restore", db,  "--name=preflight",
                               a[0],      a[1],       a[2],      NULL };

        rc = transport_run_ok(te->t, argv, NULL, err);
        if (rc)
            rkc_error_prefix(err, "the snapshot cannot be restored (etcdctl snapshot restore): ");
    }
    if (!rc) {
        struct runtime_component c;

        a[3] = xasprintf("--listen-client-urls=%s", client);
        a[4] = xasprintf("--advertise-client-urls=%s", client);
        a[5] = xasprintf("--listen-peer-urls=%s", peer);
        {
            const char *argv[] = { "etcd", "--name=preflight", a[0], a[1], a[2], a[3], a[4], a[5],
                                   NULL };

            c.name = "etcd";
            c.argv = argv;
            c.prefix = te->dir;
            c.extra_hash = NULL;
            memset(&ec, 0, sizeof(ec));
            ec.servers = client;
            rc = etcd_client_new(&ec, &te->etcd, err);
            if (!rc)
                rc = runtime_start(te->t, &c, err);
            if (!rc) {
                te->started = true;
                rc = runtime_wait_healthy(te->t, &c, tmp_probe, te->etcd, TMP_ETCD_TIMEOUT, err);
            }
        }
        if (rc)
            rkc_error_prefix(err, "temporary etcd: ");
    }
out:
    for (i = 0; i < 8; i++)
        free(a[i]);
    free(data);
    free(peer);
    free(client);
    if (rc)
        tmp_etcd_stop(te);
    return rc;
}

/* ---- key pools and needs ---- */

/* Candidate keys: the active config, a pending operation's configs and the archive. */
static enum rkc_err pool_from_state(const struct rkc_state *st, struct snapshot_keypool *pool,
                                    struct rkc_error *err)
{
    const struct state_operation *op = state_operation(st);
    const char *texts[3] = { state_active_config(st), op ? op->previous_config : NULL,
                             op ? op->target_config : NULL };
    enum rkc_err rc = RKC_OK;
    size_t i;

    for (i = 0; !rc && i < 3; i++) {
        struct encconfig *c = NULL;

        rc = encop_config_from_text(texts[i], &c, err);
        if (!rc)
            snapshot_keypool_add_config(pool, c, i ? SNAPSHOT_KEY_ARCHIVE : SNAPSHOT_KEY_CONFIG);
        encconfig_free(c);
    }
    if (!rc)
        rc = snapshot_keypool_add_archive(pool, st, err);
    return rc;
}

static enum rkc_err read_local(const char *path, struct strbuf *ret, struct rkc_error *err)
{
    if (!fs_exists(path))
        return rkc_error_set(err, RKC_ENOTFOUND, "'%s' does not exist", path);
    return strbuf_read_file(ret, path, err);
}

static enum rkc_err load_manifest(const struct cluster_config *cfg, const char *name,
                                  struct snapshot_manifest *ret, struct rkc_error *err)
{
    char *path = snap_file(cfg, name, ".manifest.json");
    struct strbuf buf = STRBUF_INIT;
    enum rkc_err rc = read_local(path, &buf, err);

    if (rc == RKC_ENOTFOUND)
        rc = rkc_error_set(err, RKC_ENOTFOUND, "snapshot '%s' not found (no %s)", name, path);
    if (!rc)
        rc = snapshot_manifest_parse(path, buf.buf, buf.len, ret, err);
    strbuf_release(&buf);
    free(path);
    return rc;
}

/* Scans the snapshot file db in a temporary etcd: fills m's resources and revision. */
static enum rkc_err scan_snapshot(const char *db, struct snapshot_manifest *m,
                                  struct snapshot_needs *needs, struct rkc_error *err)
{
    struct tmp_etcd te;
    enum rkc_err rc = tmp_etcd_start(db, &te, err);

    if (rc)
        return rc;
    snapshot_needs_init(needs, m);
    rc = snapshot_needs_scan(needs, te.etcd, ETCD_PREFIX, &m->revision, err);
    tmp_etcd_stop(&te);
    return rc;
}

static char *get_passphrase(const struct snapshot_options *o, bool confirm)
{
    if (o->passphrase && *o->passphrase)
        return xstrdup(o->passphrase);
    if (o->ask_passphrase)
        return o->ask_passphrase(o->ask_ctx, confirm);
    return NULL;
}

static void free_passphrase(char *p)
{
    if (p) {
        rkc_wipe(p, strlen(p));
        free(p);
    }
}

/* ---- save ---- */

static enum rkc_err etcdctl_tls(const struct cluster_config *cfg, size_t node, struct argv_list *a)
{
    const struct config_node *n = &cfg->nodes[node];
    char *ca = components_ssl_path(n, "kube-ca.pem");
    char *cert = components_ssl_path(n, "kube-etcd-client.pem");
    char *key = components_ssl_path(n, "kube-etcd-client-key.pem");
    bool v6 = strchr(n->address, ':') != NULL;

    argv_push(a, "etcdctl");
    argv_pushf(a, "--endpoints=https://%s%s%s:%d", v6 ? "[" : "", n->address, v6 ? "]" : "",
               COMPONENTS_ETCD_CLIENT_PORT);
    argv_pushf(a, "--cacert=%s", ca);
    argv_pushf(a, "--cert=%s", cert);
    argv_pushf(a, "--key=%s", key);
    argv_push(a, "--command-timeout=60s");
    free(ca);
    free(cert);
    free(key);
    return RKC_OK;
}

static size_t first_etcd(const struct cluster_config *cfg)
{
    size_t i;

    for (i = 0; i < cfg->nnodes; i++) {
        if (cfg->nodes[i].roles & CONFIG_ROLE_ETCD)
            return i;
    }
    return 0;
}

enum rkc_err snapshot_save(const struct cluster_config *cfg, struct rkc_state *st,
                           const struct snapshot_options *o, const char *name, char **ret_name,
                           struct rkc_error *err)
{
    const struct up_options *uo = o->up;
    size_t node = first_etcd(cfg);
    const struct config_node *n = &cfg->nodes[node];
    struct transport *t = NULL;
    struct snapshot_manifest m;
    struct snapshot_needs needs;
    struct snapshot_keypool pool = { 0 };
    struct snapshot_need *nv = NULL;
    struct strbuf data = STRBUF_INIT, out = STRBUF_INIT, sealed = STRBUF_INIT;
    struct argv_list argv = { 0 };
    char *dir = snapshot_dir(cfg), *db = NULL, *manifest = NULL, *remote = NULL, *rdir = NULL;
    char *nm = NULL, *pass = NULL, stamp[17], created[STATE_TIME_SIZE], sha[65];
    size_t nn = 0, missing = 0;
    time_t now = time(NULL);
    enum rkc_err rc;

    snapshot_manifest_init(&m);
    snapshot_needs_init(&needs, &m);
    compact_time(now, stamp);
    state_format_time(now, created);
    nm = name ? xstrdup(name) : xasprintf("%s-%s", cfg->cluster_name, stamp);
    if (!snapshot_name_valid(nm)) {
        rc = rkc_error_set(err, RKC_EINVAL,
                           "invalid snapshot name '%s' (letters, digits, '.', '_', '-'; not "
                           "starting with '.')",
                           nm);
        goto out;
    }
    if (!(cfg->nodes[node].roles & CONFIG_ROLE_ETCD)) {
        rc = rkc_error_set(err, RKC_ECONFIG, "%s: no node has the etcd role", cfg->file);
        goto out;
    }
    db = snap_file(cfg, nm, ".db");
    manifest = snap_file(cfg, nm, ".manifest.json");
    if (fs_exists(db) || fs_exists(manifest)) {
        rc = rkc_error_set(err, RKC_EINVAL, "snapshot '%s' already exists in %s", nm, dir);
        goto out;
    }
    rc = fs_mkdir_p(dir, 0700, err);
    if (!rc)
        rc = up_node_transport(cfg, node, &t, err);
    if (rc)
        goto out;
    rdir = components_path(n, NODE_SNAPSHOT_DIR);
    remote = xasprintf("%s/%s.db", rdir, nm);
    say(uo, LOG_INFO, "[etcd] Saving snapshot [%s] on etcd host [%s]", nm, n->name);
    rc = transport_mkdir_p(t, rdir, 0700, err);
    if (!rc) {
        etcdctl_tls(cfg, node, &argv);
        argv_push(&argv, "snapshot");
        argv_push(&argv, "save");
        argv_push(&argv, remote);
        rc = transport_run_ok(t, (const char *const *)argv.v, NULL, err);
        if (rc)
            rkc_error_prefix(err, "etcdctl snapshot save: ");
    }
    if (!rc)
        rc = transport_read_file(t, remote, &data, err);
    if (!rc)
        rc = fs_write_atomic(db, data.buf, data.len, 0600, err);
    if (rc)
        goto out;
    say(uo, LOG_INFO, "[etcd] Snapshot [%s] kept at %s on host [%s] and copied to %s", nm, remote,
        n->name, db);
    seal_sha256_hex(data.buf, data.len, sha);
    m.name = xstrdup(nm);
    m.cluster = xstrdup(cfg->cluster_name);
    m.created_at = xstrdup(created);
    m.rkc_version = xstrdup(RKC_VERSION);
    m.sha256 = xstrdup(sha);
    m.size = data.len;
    if (state_active_hash(st))
        m.config_hash = xasprintf("sha256:%s", state_active_hash(st));
    rc = scan_snapshot(db, &m, &needs, err);
    if (!rc)
        rc = pool_from_state(st, &pool, err);
    if (rc)
        goto out;
    snapshot_needs_resolve(&needs, &pool, &nv, &nn, &missing);
    if (missing) {
        struct strbuf names = STRBUF_INIT;

        snapshot_needs_format_missing(nv, nn, &names);
        say(uo, LOG_WARN,
            "[etcd] Snapshot [%s] holds values written with keys rkc does not have: %s; they "
            "cannot be restored",
            nm, names.buf);
        strbuf_release(&names);
    }
    if (o->include_keys) {
        char *path = snap_file(cfg, nm, ".keys.sealed");

        pass = get_passphrase(o, true);
        if (!pass)
            rc = rkc_error_set(err, RKC_EINVAL,
                               "--include-keys needs a passphrase: set RKC_SNAPSHOT_PASSPHRASE or "
                               "run on a terminal");
        if (!rc)
            rc = snapshot_bundle_seal(nv, nn, pass, sha, o->cost, &sealed, err);
        if (!rc)
            rc = fs_write_atomic(path, sealed.buf, sealed.len, 0600, err);
        if (!rc) {
            const char *base = strrchr(path, '/');

            m.sealed_file = xstrdup(base ? base + 1 : path);
            say(uo, LOG_INFO, "[etcd] Sealed the %zu key(s) the snapshot needs to %s", nn - missing,
                path);
        }
        free(path);
        if (rc)
            goto out;
    }
    snapshot_manifest_emit(&m, &out);
    rc = fs_write_atomic(manifest, out.buf, out.len, 0600, err);
    if (!rc) {
        say(uo, LOG_INFO,
            "[etcd] Wrote the snapshot manifest %s (revision %lld, %zu key(s) needed)", manifest,
            (long long)m.revision, nn);
        *ret_name = nm;
        nm = NULL;
    }
out:
    if (rc && db && !fs_exists(manifest))
        fs_remove(db, NULL);
    free_passphrase(pass);
    free(nv);
    snapshot_needs_release(&needs);
    snapshot_manifest_release(&m);
    snapshot_keypool_release(&pool);
    strbuf_release(&data);
    strbuf_release(&out);
    strbuf_release(&sealed);
    argv_free(&argv);
    transport_free(t);
    free(nm);
    free(dir);
    free(db);
    free(manifest);
    free(remote);
    free(rdir);
    return rc;
}

/* ---- restore ---- */

struct marker {
    char *name, *sha256;
};

static void marker_release(struct marker *mk)
{
    free(mk->name);
    free(mk->sha256);
    memset(mk, 0, sizeof(*mk));
}

/* Reads snapshots/.restore-pending; RKC_ENOTFOUND when absent. */
static enum rkc_err marker_read(const struct cluster_config *cfg, struct marker *ret,
                                struct rkc_error *err)
{
    char *path = snap_file(cfg, MARKER_FILE, "");
    struct strbuf buf = STRBUF_INIT;
    struct jval *o = NULL;
    enum rkc_err rc;

    memset(ret, 0, sizeof(*ret));
    if (!fs_exists(path)) {
        free(path);
        return RKC_ENOTFOUND;
    }
    rc = strbuf_read_file(&buf, path, err);
    if (!rc)
        rc = jval_parse(path, buf.buf, buf.len, &o, err);
    if (!rc && (!jval_get_str(o, "name", NULL) || !jval_get_str(o, "sha256", NULL)))
        rc = rkc_error_set(err, RKC_ECONFIG, "%s: malformed restore marker", path);
    if (!rc) {
        ret->name = xstrdup(jval_get_str(o, "name", ""));
        ret->sha256 = xstrdup(jval_get_str(o, "sha256", ""));
    }
    jval_decref(o);
    strbuf_release(&buf);
    free(path);
    return rc;
}

static enum rkc_err marker_write(const struct cluster_config *cfg, const char *name,
                                 const char *sha, struct rkc_error *err)
{
    char *path = snap_file(cfg, MARKER_FILE, "");
    struct jval *o = jval_object();
    struct strbuf out = STRBUF_INIT;
    enum rkc_err rc;

    jval_set_str(o, "name", name);
    jval_set_str(o, "sha256", sha);
    jval_dump(o, JVAL_PRETTY, &out);
    rc = fs_write_atomic(path, out.buf, out.len, 0600, err);
    jval_decref(o);
    strbuf_release(&out);
    free(path);
    return rc;
}

/* Checks the local snapshot file against the manifest. */
static enum rkc_err check_file(const struct cluster_config *cfg, const char *name,
                               const char *sha_want, uint64_t size_want, struct rkc_error *err)
{
    char *db = snap_file(cfg, name, ".db");
    struct strbuf data = STRBUF_INIT;
    char sha[65];
    enum rkc_err rc = read_local(db, &data, err);

    if (!rc) {
        seal_sha256_hex(data.buf, data.len, sha);
        if (strcmp(sha, sha_want) || (size_want && data.len != size_want))
            rc = rkc_error_set(err, RKC_ECRYPTO,
                               "snapshot file '%s' is corrupted or truncated: %zu bytes with "
                               "sha256 %.16s..., the manifest says %llu bytes with sha256 "
                               "%.16s... (nothing was changed)",
                               db, data.len, sha, (unsigned long long)size_want, sha_want);
    }
    strbuf_release(&data);
    free(db);
    return rc;
}

/*
 * Everything before the cluster is touched: manifest, cluster name, checksum, the scan of the
 * data in a temporary etcd, and the keys. Returns: the reader config in *ret_prev (current +
 * needed old keys) and the sha256 of the snapshot.
 */
static enum rkc_err preflight(const struct cluster_config *cfg, const struct rkc_state *st,
                              const struct snapshot_options *o, const char *name,
                              struct encconfig **ret_prev, char ret_sha[65], struct rkc_error *err)
{
    const struct up_options *uo = o->up;
    struct snapshot_manifest saved, scanned;
    struct snapshot_needs needs;
    struct snapshot_keypool pool = { 0 };
    struct snapshot_need *nv = NULL;
    struct encconfig *active = NULL, *readers = NULL;
    char *db = snap_file(cfg, name, ".db"), *pass = NULL;
    size_t nn = 0, missing = 0, i;
    enum rkc_err rc;

    snapshot_manifest_init(&saved);
    snapshot_manifest_init(&scanned);
    snapshot_needs_init(&needs, &scanned);
    rc = load_manifest(cfg, name, &saved, err);
    if (rc)
        goto out;
    if (strcmp(saved.cluster, cfg->cluster_name)) {
        if (!o->force) {
            rc = rkc_error_set(err, RKC_EINVAL,
                               "snapshot '%s' is of cluster '%s', not '%s' (use --force to "
                               "restore it anyway; nothing was changed)",
                               name, saved.cluster, cfg->cluster_name);
            goto out;
        }
        say(uo, LOG_WARN,
            "[etcd] Restoring snapshot [%s] of cluster '%s' into cluster '%s' (--force)", name,
            saved.cluster, cfg->cluster_name);
    }
    rc = check_file(cfg, name, saved.sha256, saved.size, err);
    if (rc)
        goto out;
    say(uo, LOG_INFO, "[etcd] Snapshot [%s] checksum verified (sha256 %.16s...)", name,
        saved.sha256);
    say(uo, LOG_INFO,
        "[etcd] Restoring the snapshot into a temporary etcd to find the keys its "
        "data needs");
    rc = scan_snapshot(db, &scanned, &needs, err);
    if (!rc)
        rc = pool_from_state(st, &pool, err);
    if (rc)
        goto out;
    snapshot_needs_resolve(&needs, &pool, &nv, &nn, &missing);
    if (missing && saved.sealed_file) {
        char *sealed_path = snap_file(cfg, name, ".keys.sealed");
        struct strbuf blob = STRBUF_INIT;

        say(uo, LOG_INFO,
            "[etcd] %zu key(s) the snapshot needs are neither in the configuration nor in the "
            "archive: opening the sealed key bundle %s",
            missing, sealed_path);
        rc = read_local(sealed_path, &blob, err);
        if (!rc) {
            pass = get_passphrase(o, false);
            if (!pass)
                rc = rkc_error_set(err, RKC_EINVAL,
                                   "the sealed key bundle needs its passphrase: set "
                                   "RKC_SNAPSHOT_PASSPHRASE or run on a terminal");
        }
        if (!rc)
            rc = snapshot_bundle_open(blob.buf, blob.len, pass, saved.sha256, &pool, err);
        if (rc)
            rkc_error_prefix(err, "cannot open the sealed key bundle (nothing was changed): ");
        strbuf_release(&blob);
        free(sealed_path);
        if (rc)
            goto out;
        free(nv);
        snapshot_needs_resolve(&needs, &pool, &nv, &nn, &missing);
    }
    if (missing) {
        struct strbuf names = STRBUF_INIT;

        snapshot_needs_format_missing(nv, nn, &names);
        rc = rkc_error_set(err, RKC_ENOTFOUND,
                           "snapshot '%s' cannot be restored: its data needs %s, which %s in "
                           "the current configuration, the retired-keys archive%s (nothing was "
                           "changed)",
                           name, names.buf, missing > 1 ? "are neither" : "is neither",
                           saved.sealed_file ? " or its sealed key bundle"
                                             : " nor a sealed key bundle");
        strbuf_release(&names);
        goto out;
    }
    for (i = 0; i < nn; i++)
        say(uo, LOG_INFO, "[etcd] The snapshot needs %s %s '%s'%s%s: found in the %s",
            nv[i].provider, !strcmp(nv[i].provider, "kms") ? "provider" : "key", nv[i].name,
            nv[i].key->fingerprint[0] ? " fingerprint " : "", nv[i].key->fingerprint,
            snapshot_key_source_name(nv[i].key->source));
    rc = encop_config_from_text(state_active_config(st), &active, err);
    if (rc)
        goto out;
    readers = snapshot_readers_config(&scanned, nv, nn);
    *ret_prev = encplan_merge(active, readers);
    memcpy(ret_sha, saved.sha256, 65);
out:
    free_passphrase(pass);
    free(nv);
    encconfig_free(active);
    encconfig_free(readers);
    snapshot_needs_release(&needs);
    snapshot_manifest_release(&saved);
    snapshot_manifest_release(&scanned);
    snapshot_keypool_release(&pool);
    free(db);
    return rc;
}

enum rkc_err snapshot_restore(const struct cluster_config *cfg, struct rkc_state *st,
                              const struct snapshot_options *o, const char *name,
                              struct rkc_error *err)
{
    const struct up_options *uo = o->up;
    const struct state_operation *op = state_operation(st);
    struct encconfig *prev = NULL, *target = NULL;
    struct marker mk;
    char sha[65], *backup = NULL;
    enum rkc_err rc;

    if (!snapshot_name_valid(name))
        return rkc_error_set(err, RKC_EINVAL, "invalid snapshot name '%s'", name);
    rc = marker_read(cfg, &mk, err);
    if (rc && rc != RKC_ENOTFOUND)
        return rc;
    if (!rc) {
        bool same = !strcmp(mk.name, name);

        if (!same) {
            rc = rkc_error_set(err, RKC_EBUSY,
                               "a restore of snapshot '%s' is in progress: finish it first with "
                               "'rkc etcd snapshot-restore --name %s'",
                               mk.name, mk.name);
            marker_release(&mk);
            return rc;
        }
        marker_release(&mk);
        if (op && op->kind == STATE_OP_RESTORE_REKEY) {
            say(uo, LOG_INFO, "[etcd] Resuming the interrupted restore of snapshot [%s]", name);
            return up_run(cfg, st, uo, err);
        }
    } else if (op) {
        return rkc_error_set(err, RKC_EBUSY,
                             "operation '%s' is pending in phase '%s': finish it with 'rkc up' "
                             "before restoring a snapshot (nothing was changed)",
                             state_op_kind_name(op->kind), state_op_phase_name(op->phase));
    } else if (op == NULL && state_is_new(st)) {
        return rkc_error_set(err, RKC_ENOTFOUND,
                             "no cluster state next to %s: run 'rkc up' first, then restore",
                             cfg->file);
    }
    rc = preflight(cfg, st, o, name, &prev, sha, err);
    if (rc)
        return rc;
    rc = encop_config_from_text(state_active_config(st), &target, err);
    if (!rc)
        rc = state_backup(st, NULL, &backup, err);
    if (!rc)
        say(uo, LOG_INFO, "[state] Kept the pre-restore state as %s", backup);
    rkc_failpoint("snapshot-restore-before-marker");
    if (!rc)
        rc = marker_write(cfg, name, sha, err);
    rkc_failpoint("snapshot-restore-after-marker");
    if (!rc)
        rc = encop_begin_from(st, STATE_OP_RESTORE_REKEY, prev, target, err);
    rkc_failpoint("snapshot-restore-after-begin");
    free(backup);
    encconfig_free(prev);
    encconfig_free(target);
    if (rc)
        return rc;
    return up_run(cfg, st, uo, err);
}

static const char *argv_value(const struct argv_list *a, const char *flag)
{
    size_t i, n = strlen(flag);

    for (i = 0; i < a->n; i++) {
        if (!strncmp(a->v[i], flag, n) && a->v[i][n] == '=')
            return a->v[i] + n + 1;
    }
    return NULL;
}

static enum rkc_err restore_node(const struct cluster_config *cfg, size_t i, struct transport *t,
                                 const char *name, const struct strbuf *data,
                                 const struct up_options *uo, struct rkc_error *err)
{
    const struct config_node *n = &cfg->nodes[i];
    struct argv_list ea = { 0 };
    char *rdir = components_path(n, NODE_SNAPSHOT_DIR), *remote = xasprintf("%s/%s.db", rdir, name);
    const char *data_dir, *nm, *ic, *peer, *token;
    char stamp[17];
    enum rkc_err rc;

    components_etcd_argv(cfg, n, false, &ea);
    data_dir = argv_value(&ea, "--data-dir");
    nm = argv_value(&ea, "--name");
    ic = argv_value(&ea, "--initial-cluster");
    peer = argv_value(&ea, "--initial-advertise-peer-urls");
    token = argv_value(&ea, "--initial-cluster-token");
    rc = runtime_stop(t, n->prefix, "etcd", STOP_TIMEOUT_MS, err);
    if (!rc)
        say(uo, LOG_INFO, "[etcd] Stopped etcd on host [%s]", n->name);
    if (!rc)
        rc = transport_mkdir_p(t, rdir, 0700, err);
    if (!rc)
        rc = transport_sync_file(t, remote, data->buf, data->len, 0600, NULL, err);
    if (!rc && data_dir) {
        struct strbuf moved = STRBUF_INIT;
        const char *argv[] = { "sh", "-c", NULL, NULL };
        struct strbuf script = STRBUF_INIT;

        compact_time(time(NULL), stamp);
        strbuf_addf(&moved, "%s.pre-restore-%s", data_dir, stamp);
        strbuf_addstr(&script, "if [ -e ");
        transport_shell_quote(&script, data_dir);
        strbuf_addstr(&script, " ]; then mv ");
        transport_shell_quote(&script, data_dir);
        strbuf_addch(&script, ' ');
        transport_shell_quote(&script, moved.buf);
        strbuf_addstr(&script, "; fi");
        argv[2] = script.buf;
        rc = transport_run_ok(t, argv, NULL, err);
        if (!rc)
            say(uo, LOG_INFO, "[etcd] Moved the old etcd data aside to %s on host [%s]", moved.buf,
                n->name);
        strbuf_release(&script);
        strbuf_release(&moved);
    }
    rkc_failpoint("snapshot-restore-node-moved");
    if (!rc) {
        struct argv_list a = { 0 };

        argv_push(&a, "etcdctl");
        argv_push(&a, "snapshot");
        argv_push(&a, "restore");
        argv_push(&a, remote);
        if (nm)
            argv_pushf(&a, "--name=%s", nm);
        if (data_dir)
            argv_pushf(&a, "--data-dir=%s", data_dir);
        if (ic)
            argv_pushf(&a, "--initial-cluster=%s", ic);
        if (peer)
            argv_pushf(&a, "--initial-advertise-peer-urls=%s", peer);
        if (token)
            argv_pushf(&a, "--initial-cluster-token=%s", token);
        rc = transport_run_ok(t, (const char *const *)a.v, NULL, err);
        if (rc)
            rkc_error_prefix(err, "etcdctl snapshot restore on host '%s': ", n->name);
        else
            say(uo, LOG_INFO, "[etcd] Restored snapshot [%s] into %s on host [%s]", name,
                data_dir ? data_dir : "the data dir", n->name);
        argv_free(&a);
    }
    argv_free(&ea);
    free(rdir);
    free(remote);
    return rc;
}

enum rkc_err snapshot_restore_pending(const struct cluster_config *cfg, struct rkc_state *st,
                                      const struct up_options *uo, struct rkc_error *err)
{
    const struct state_operation *op = state_operation(st);
    struct encconfig *prev = NULL, *target = NULL, *step = NULL;
    struct strbuf data = STRBUF_INIT, text = STRBUF_INIT;
    struct marker mk;
    char *db = NULL, sha[65], hex[65];
    enum rkc_err rc = marker_read(cfg, &mk, err);
    size_t i;

    if (rc == RKC_ENOTFOUND)
        return RKC_OK;
    if (rc)
        return rc;
    if (!op || op->kind != STATE_OP_RESTORE_REKEY) {
        rc = rkc_error_set(err, RKC_EBUSY,
                           "the restore of snapshot '%s' was interrupted before it began: run "
                           "'rkc etcd snapshot-restore --name %s' to check and start it again",
                           mk.name, mk.name);
        goto out;
    }
    db = snap_file(cfg, mk.name, ".db");
    rc = read_local(db, &data, err);
    if (!rc) {
        seal_sha256_hex(data.buf, data.len, sha);
        if (strcmp(sha, mk.sha256))
            rc = rkc_error_set(err, RKC_ECRYPTO,
                               "snapshot file '%s' changed since the restore began", db);
    }
    if (!rc)
        rc = encop_config_from_text(op->previous_config, &prev, err);
    if (!rc)
        rc = encop_config_from_text(op->target_config, &target, err);
    if (rc)
        goto out;
    say(uo, LOG_INFO, "[etcd] Restoring snapshot [%s] on every etcd node", mk.name);
    for (i = 0; !rc && i < cfg->nnodes; i++) {
        struct transport *t = NULL;

        if (!(cfg->nodes[i].roles & CONFIG_ROLE_CONTROLPLANE))
            continue;
        rc = up_node_transport(cfg, i, &t, err);
        if (!rc)
            rc = runtime_stop(t, cfg->nodes[i].prefix, "kube-apiserver", STOP_TIMEOUT_MS, err);
        if (!rc)
            say(uo, LOG_INFO, "[controlPlane] Stopped kube-apiserver on host [%s]",
                cfg->nodes[i].name);
        transport_free(t);
    }
    for (i = 0; !rc && i < cfg->nnodes; i++) {
        struct transport *t = NULL;

        if (!(cfg->nodes[i].roles & CONFIG_ROLE_ETCD))
            continue;
        rc = up_node_transport(cfg, i, &t, err);
        if (!rc)
            rc = restore_node(cfg, i, t, mk.name, &data, uo, err);
        transport_free(t);
    }
    rkc_failpoint("snapshot-restore-etcd-restored");
    /* The API servers come back able to read every key the restored data needs. */
    step = encplan_merge(target, prev);
    if (!rc && step)
        rc = encop_config_to_text(step, &text, hex, err);
    for (i = 0; !rc && i < cfg->nnodes; i++) {
        struct transport *t = NULL;
        char *enc;

        if (!(cfg->nodes[i].roles & CONFIG_ROLE_CONTROLPLANE))
            continue;
        enc = components_encryption_path(&cfg->nodes[i]);
        rc = up_node_transport(cfg, i, &t, err);
        if (!rc && step)
            rc = transport_sync_file(t, enc, text.buf, text.len, 0600, NULL, err);
        else if (!rc)
            rc = transport_remove_file(t, enc, err);
        if (!rc && step)
            say(uo, LOG_INFO,
                "[encryption] Deployed a provider configuration that reads every key the restored "
                "data needs to node [%s]",
                cfg->nodes[i].name);
        transport_free(t);
        free(enc);
    }
    if (!rc) {
        char *path = snap_file(cfg, MARKER_FILE, "");

        rc = fs_remove(path, err);
        free(path);
    }
    if (!rc)
        say(uo, LOG_INFO,
            "[etcd] etcd restored from snapshot [%s]; the API servers start next, then every "
            "object is rewritten with the current configuration (restore-rekey)",
            mk.name);
out:
    marker_release(&mk);
    encconfig_free(prev);
    encconfig_free(target);
    encconfig_free(step);
    strbuf_release(&data);
    strbuf_release_wipe(&text);
    free(db);
    return rc;
}

/* ---- ls and prune-keys ---- */

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Names of the snapshots that have a manifest, sorted. */
static size_t list_names(const struct cluster_config *cfg, char ***ret)
{
    char *dir = snapshot_dir(cfg);
    DIR *d = opendir(dir);
    struct dirent *e;
    char **v = NULL;
    size_t nr = 0, alloc = 0;
    static const char suffix[] = ".manifest.json";

    while (d && (e = readdir(d))) {
        size_t n = strlen(e->d_name);

        if (n > sizeof(suffix) - 1 && !strcmp(e->d_name + n - (sizeof(suffix) - 1), suffix) &&
            e->d_name[0] != '.') {
            ALLOC_GROW(v, nr + 1, alloc);
            v[nr++] = xstrndup(e->d_name, n - (sizeof(suffix) - 1));
        }
    }
    if (d)
        closedir(d);
    if (nr)
        qsort(v, nr, sizeof(*v), cmp_str);
    free(dir);
    *ret = v;
    return nr;
}

enum rkc_err snapshot_list(const struct cluster_config *cfg, const struct rkc_state *st,
                           struct jval **ret, struct rkc_error *err)
{
    struct snapshot_keypool pool = { 0 };
    struct jval *arr = jval_array();
    char **names = NULL;
    size_t n = list_names(cfg, &names), i, j;
    enum rkc_err rc = pool_from_state(st, &pool, err);

    for (i = 0; !rc && i < n; i++) {
        struct snapshot_manifest m;
        struct snapshot_needs needs;
        struct snapshot_need *nv = NULL;
        struct jval *o = jval_object(), *keys = jval_array();
        size_t nn = 0, missing = 0;
        char *db = snap_file(cfg, names[i], ".db");
        struct stat sb;

        snapshot_manifest_init(&m);
        if (load_manifest(cfg, names[i], &m, NULL)) {
            jval_set_str(o, "name", names[i]);
            jval_set_str(o, "restorable", "no (unreadable manifest)");
            jval_array_append_take(arr, o);
            jval_decref(keys);
            free(db);
            continue;
        }
        snapshot_needs_init(&needs, &m);
        snapshot_needs_resolve(&needs, &pool, &nv, &nn, &missing);
        jval_set_str(o, "name", m.name);
        jval_set_str(o, "cluster", m.cluster);
        jval_set_str(o, "createdAt", m.created_at);
        jval_set_int(o, "size", stat(db, &sb) ? -1 : (int64_t)sb.st_size);
        jval_set_int(o, "etcdRevision", m.revision);
        jval_set_bool(o, "sealedKeys", m.sealed_file != NULL);
        for (j = 0; j < nn; j++) {
            struct jval *k = jval_object();
            struct snapshot_keyuse *u = NULL;
            size_t r;

            for (r = 0; r < m.nresources && !u; r++)
                u = snapshot_manifest_keyuse(&m, m.resources[r].resource, nv[j].provider,
                                             nv[j].name, false);
            jval_set_str(k, "provider", nv[j].provider);
            jval_set_str(k, "name", nv[j].name);
            jval_set_str(k, "fingerprint", u ? u->fingerprint : "");
            jval_set_bool(k, "available", nv[j].key != NULL);
            if (nv[j].key)
                jval_set_str(k, "source", snapshot_key_source_name(nv[j].key->source));
            jval_array_append_take(keys, k);
        }
        jval_set_take(o, "keysNeeded", keys);
        jval_set_str(o, "restorable",
                     !fs_exists(db)  ? "no (snapshot file missing)"
                     : !missing      ? "yes"
                     : m.sealed_file ? "needs passphrase"
                                     : "no (keys missing)");
        jval_array_append_take(arr, o);
        free(nv);
        free(db);
        snapshot_needs_release(&needs);
        snapshot_manifest_release(&m);
    }
    for (i = 0; i < n; i++)
        free(names[i]);
    free(names);
    snapshot_keypool_release(&pool);
    if (rc) {
        jval_decref(arr);
        return rc;
    }
    *ret = arr;
    return RKC_OK;
}

enum rkc_err snapshot_prune_keys(const struct cluster_config *cfg, struct rkc_state *st, bool force,
                                 const struct up_options *uo, size_t *ret_dropped,
                                 struct rkc_error *err)
{
    struct strbuf blocked = STRBUF_INIT;
    char **names = NULL, **drop = NULL;
    size_t n = list_names(cfg, &names), ndrop = 0, i, j, r, k;
    enum rkc_err rc = RKC_OK;

    drop = xcalloc(state_retired_count(st) + 1, sizeof(*drop));
    for (i = 0; i < state_retired_count(st); i++) {
        const struct state_retired_key *key = state_retired_at(st, i);
        struct strbuf users = STRBUF_INIT;
        char fp[17];

        /* the archive stores the keygen fingerprint; manifests too */
        snprintf(fp, sizeof(fp), "%s", key->fingerprint);
        for (j = 0; j < n; j++) {
            struct snapshot_manifest m;
            bool uses = false;

            snapshot_manifest_init(&m);
            if (load_manifest(cfg, names[j], &m, NULL))
                continue;
            for (r = 0; r < m.nresources; r++) {
                for (k = 0; k < m.resources[r].nkeys; k++) {
                    const struct snapshot_keyuse *u = &m.resources[r].keys[k];

                    if (!strcmp(u->provider, key->provider) && !strcmp(u->name, key->name) &&
                        (!u->fingerprint[0] || !strcmp(u->fingerprint, fp)))
                        uses = true;
                }
            }
            if (uses)
                strbuf_addf(&users, "%s'%s'", users.len ? ", " : "", names[j]);
            snapshot_manifest_release(&m);
        }
        if (users.len && !force)
            strbuf_addf(&blocked, "%skey '%s' is needed by snapshot %s", blocked.len ? "; " : "",
                        key->name, users.buf);
        else
            drop[ndrop++] = xstrdup(key->name);
        if (users.len && force)
            say(uo, LOG_WARN,
                "[encryption] Dropping key %s although snapshot %s needs it (--force): restoring "
                "it will need its sealed key bundle",
                key->name, users.buf);
        strbuf_release(&users);
    }
    if (blocked.len) {
        rc = rkc_error_set(err, RKC_EBUSY,
                           "refusing to prune the retired-keys archive: %s (delete those "
                           "snapshots, or use --force if they have sealed key bundles; nothing "
                           "was changed)",
                           blocked.buf);
    } else if (ndrop) {
        for (i = 0; i < ndrop; i++) {
            state_retired_remove(st, drop[i]);
            say(uo, LOG_INFO, "[encryption] Dropped retired key %s from the archive", drop[i]);
        }
        rc = state_save(st, err);
    }
    if (!rc && ret_dropped)
        *ret_dropped = ndrop;
    for (i = 0; i < ndrop; i++)
        free(drop[i]);
    free(drop);
    for (i = 0; i < n; i++)
        free(names[i]);
    free(names);
    strbuf_release(&blocked);
    return rc;
}
