/* SPDX-License-Identifier: Apache-2.0 */
/*
 * config: cluster.yml -> struct cluster_config. A small schema walker over the positioned
 * ytree: each level lists the keys it knows (and the RKE keys it accepts but ignores), and
 * every value is converted with a field path for the message.
 */
#include "core/config.h"

#include <arpa/inet.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/fs.h"
#include "util/strbuf.h"
#include "util/xalloc.h"

#include "util/banned.h"

#define MAX_NODES 1000

struct parser {
    const char *file;
    struct cluster_config *cfg;
    struct rkc_error *err;
};

static void add_warning(struct cluster_config *cfg, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void add_warning(struct cluster_config *cfg, const char *fmt, ...)
{
    struct strbuf sb = STRBUF_INIT;
    va_list ap;

    va_start(ap, fmt);
    strbuf_vaddf(&sb, fmt, ap);
    va_end(ap);
    cfg->warnings = xreallocarray(cfg->warnings, cfg->nwarnings + 1, sizeof(*cfg->warnings));
    cfg->warnings[cfg->nwarnings++] = strbuf_detach(&sb, NULL);
}

static bool in_list(const char *s, const char *const *list)
{
    for (; list && *list; list++) {
        if (!strcmp(s, *list))
            return true;
    }
    return false;
}

/*
 * Checks the keys of map against known (handled) and ignored (RKE keys rkc accepts but does
 * not act on: a warning each).
 */
static enum rkc_err check_keys(struct parser *p, const struct ytree_node *map,
                               const char *const *known, const char *const *ignored,
                               const char *what)
{
    const char *all[64];
    size_t n = 0, i;
    enum rkc_err rc;

    for (i = 0; known[i]; i++)
        all[n++] = known[i];
    for (i = 0; ignored && ignored[i]; i++)
        all[n++] = ignored[i];
    all[n] = NULL;
    rc = ytree_check_keys(p->file, map, all, what, p->err);
    if (rc)
        return rc;
    for (i = 0; i < map->npairs; i++) {
        const struct ytree_node *k = map->pairs[i].key;

        if (in_list(k->str, ignored))
            add_warning(p->cfg,
                        "%s:%zu:%zu: key '%s' in %s is accepted for RKE compatibility "
                        "and ignored: rkc does not manage it",
                        p->file, k->line, k->col, k->str, what);
    }
    return RKC_OK;
}

/* A value that may be absent or null (treated alike) or else must be a mapping. */
static enum rkc_err opt_map(struct parser *p, const struct ytree_node *node, const char *what,
                            const struct ytree_node **ret)
{
    *ret = NULL;
    if (ytree_is_null(node))
        return RKC_OK;
    if (node->kind != YTREE_MAP)
        return ytree_expect(p->file, node, YTREE_MAP, what, p->err);
    *ret = node;
    return RKC_OK;
}

static enum rkc_err opt_string(struct parser *p, const struct ytree_node *map, const char *key,
                               const char *what, char **ret)
{
    const struct ytree_node *v = ytree_map_get(map, key);
    const char *s;
    enum rkc_err rc;

    if (ytree_is_null(v))
        return RKC_OK;
    rc = ytree_get_string(p->file, v, what, &s, p->err);
    if (rc)
        return rc;
    free(*ret);
    *ret = xstrdup(s);
    return RKC_OK;
}

static enum rkc_err opt_bool(struct parser *p, const struct ytree_node *map, const char *key,
                             const char *what, bool *ret)
{
    const struct ytree_node *v = ytree_map_get(map, key);

    if (ytree_is_null(v))
        return RKC_OK;
    return ytree_get_bool(p->file, v, what, ret, p->err);
}

static enum rkc_err missing(struct parser *p, const struct ytree_node *map, const char *key,
                            const char *what)
{
    return rkc_error_set(p->err, RKC_ECONFIG, "%s:%zu:%zu: missing required key '%s' in %s",
                         p->file, map->line, map->col, key, what);
}

static enum rkc_err parse_extra_args(struct parser *p, const struct ytree_node *node,
                                     const char *what, struct config_kv **ret, size_t *ret_n)
{
    const struct ytree_node *map;
    enum rkc_err rc = opt_map(p, node, what, &map);
    size_t i;

    if (rc || !map)
        return rc;
    *ret = xcalloc(map->npairs, sizeof(**ret));
    for (i = 0; i < map->npairs; i++) {
        const struct ytree_node *k = map->pairs[i].key, *v = map->pairs[i].value;
        const char *key = k->str;

        if (v->kind != YTREE_SCALAR || ytree_is_null(v))
            return rkc_error_set(p->err, RKC_ECONFIG, "%s:%zu:%zu: %s.%s must be a string, not %s",
                                 p->file, v->line, v->col, what, key, ytree_kind_name(v));
        if (!key[0] || strchr(key, '=') || strchr(key, ' '))
            return rkc_error_set(p->err, RKC_ECONFIG, "%s:%zu:%zu: invalid flag name '%s' in %s",
                                 p->file, k->line, k->col, key, what);
        if (!strncmp(key, "--", 2)) {
            add_warning(p->cfg,
                        "%s:%zu:%zu: %s: flag names are written without leading "
                        "dashes; using '%s'",
                        p->file, k->line, k->col, what, key + 2);
            key += 2;
        }
        (*ret)[i].key = xstrdup(key);
        (*ret)[i].value = xstrdup(v->str);
        (*ret_n)++;
    }
    return RKC_OK;
}

static enum rkc_err parse_string_list(struct parser *p, const struct ytree_node *node,
                                      const char *what, char ***ret, size_t *ret_n)
{
    enum rkc_err rc;
    size_t i;

    if (ytree_is_null(node))
        return RKC_OK;
    rc = ytree_expect(p->file, node, YTREE_SEQ, what, p->err);
    if (rc)
        return rc;
    *ret = xcalloc(node->nitems, sizeof(**ret));
    for (i = 0; i < node->nitems; i++) {
        char item_what[128];
        const char *s;

        snprintf(item_what, sizeof(item_what), "%s[%zu]", what, i);
        rc = ytree_get_string(p->file, node->items[i], item_what, &s, p->err);
        if (rc)
            return rc;
        (*ret)[i] = xstrdup(s);
        (*ret_n)++;
    }
    return RKC_OK;
}

static const char *const role_names[] = { "controlplane", "etcd", "worker", NULL };

static enum rkc_err parse_roles(struct parser *p, const struct ytree_node *node, const char *what,
                                unsigned *ret)
{
    enum rkc_err rc = ytree_expect(p->file, node, YTREE_SEQ, what, p->err);
    size_t i, r;

    if (rc)
        return rc;
    if (!node->nitems)
        return rkc_error_set(p->err, RKC_ECONFIG,
                             "%s:%zu:%zu: %s must list at least one of controlplane, etcd, worker",
                             p->file, node->line, node->col, what);
    for (i = 0; i < node->nitems; i++) {
        const struct ytree_node *it = node->items[i];
        char item_what[128];
        const char *s, *hint;

        snprintf(item_what, sizeof(item_what), "%s[%zu]", what, i);
        rc = ytree_get_string(p->file, it, item_what, &s, p->err);
        if (rc)
            return rc;
        for (r = 0; role_names[r]; r++) {
            if (!strcmp(s, role_names[r]))
                break;
        }
        if (!role_names[r]) {
            hint = ytree_suggest(s, role_names);
            if (hint)
                return rkc_error_set(p->err, RKC_ECONFIG,
                                     "%s:%zu:%zu: unknown role '%s' in %s (did you mean '%s'?)",
                                     p->file, it->line, it->col, s, what, hint);
            return rkc_error_set(p->err, RKC_ECONFIG,
                                 "%s:%zu:%zu: unknown role '%s' in %s (expected controlplane, "
                                 "etcd or worker)",
                                 p->file, it->line, it->col, s, what);
        }
        if (*ret & (1u << r))
            return rkc_error_set(p->err, RKC_ECONFIG, "%s:%zu:%zu: duplicate role '%s' in %s",
                                 p->file, it->line, it->col, s, what);
        *ret |= 1u << r;
    }
    return RKC_OK;
}

static enum rkc_err parse_port(struct parser *p, const struct ytree_node *node, const char *what,
                               int *ret)
{
    struct ytree_node tmp;
    int64_t v;
    enum rkc_err rc;

    if (ytree_is_null(node))
        return RKC_OK;
    /* RKE writes ports as strings ("22"): accept a quoted number too. */
    tmp = *node;
    if (node->kind == YTREE_SCALAR && node->style == YTREE_QUOTED)
        tmp.style = YTREE_PLAIN;
    rc = ytree_get_int(p->file, &tmp, what, 1, 65535, &v, p->err);
    if (rc)
        return rc;
    *ret = (int)v;
    return RKC_OK;
}

static const char *const node_keys[] = {
    "address", "port", "user", "role", "ssh_key_path", "hostname_override", "transport", NULL
};
static const char *const node_ignored[] = { "internal_address", "docker_socket", "labels",
                                            "taints",           "ssh_key",       "ssh_cert",
                                            "ssh_cert_path",    "node_name",     NULL };

static enum rkc_err parse_node(struct parser *p, const struct ytree_node *n, size_t idx,
                               struct config_node *node)
{
    char what[64], fwhat[96];
    const struct ytree_node *v;
    enum rkc_err rc;

    snprintf(what, sizeof(what), "nodes[%zu]", idx);
    node->line = n->line;
    node->col = n->col;
    node->port = 22;
    rc = ytree_expect(p->file, n, YTREE_MAP, what, p->err);
    if (!rc)
        rc = check_keys(p, n, node_keys, node_ignored, what);
    if (rc)
        return rc;
    v = ytree_map_get(n, "address");
    if (ytree_is_null(v))
        return missing(p, n, "address", what);
    snprintf(fwhat, sizeof(fwhat), "%s.address", what);
    rc = opt_string(p, n, "address", fwhat, &node->address);
    if (rc)
        return rc;
    if (!node->address[0] || strchr(node->address, '/') || strchr(node->address, ' '))
        return rkc_error_set(p->err, RKC_ECONFIG, "%s:%zu:%zu: invalid address '%s' in %s", p->file,
                             v->line, v->col, node->address, what);
    snprintf(fwhat, sizeof(fwhat), "%s.port", what);
    rc = parse_port(p, ytree_map_get(n, "port"), fwhat, &node->port);
    if (rc)
        return rc;
    snprintf(fwhat, sizeof(fwhat), "%s.user", what);
    rc = opt_string(p, n, "user", fwhat, &node->user);
    if (rc)
        return rc;
    if (!node->user)
        node->user = xstrdup("root");
    v = ytree_map_get(n, "role");
    if (ytree_is_null(v))
        return missing(p, n, "role", what);
    snprintf(fwhat, sizeof(fwhat), "%s.role", what);
    rc = parse_roles(p, v, fwhat, &node->roles);
    if (rc)
        return rc;
    snprintf(fwhat, sizeof(fwhat), "%s.ssh_key_path", what);
    rc = opt_string(p, n, "ssh_key_path", fwhat, &node->ssh_key_path);
    if (rc)
        return rc;
    snprintf(fwhat, sizeof(fwhat), "%s.hostname_override", what);
    rc = opt_string(p, n, "hostname_override", fwhat, &node->hostname_override);
    if (rc)
        return rc;
    if (node->hostname_override &&
        (!node->hostname_override[0] || strchr(node->hostname_override, '/'))) {
        v = ytree_map_get(n, "hostname_override");
        return rkc_error_set(p->err, RKC_ECONFIG,
                             "%s:%zu:%zu: invalid hostname_override '%s' in %s", p->file, v->line,
                             v->col, node->hostname_override, what);
    }
    v = ytree_map_get(n, "transport");
    if (!ytree_is_null(v)) {
        const char *t;
        static const char *const transports[] = { "ssh", "local", NULL };

        snprintf(fwhat, sizeof(fwhat), "%s.transport", what);
        rc = ytree_get_string(p->file, v, fwhat, &t, p->err);
        if (rc)
            return rc;
        if (!strcmp(t, "local"))
            node->transport = CONFIG_TRANSPORT_LOCAL;
        else if (strcmp(t, "ssh")) {
            const char *hint = ytree_suggest(t, transports);

            return rkc_error_set(p->err, RKC_ECONFIG,
                                 "%s:%zu:%zu: unknown transport '%s' in %s (expected ssh or "
                                 "local%s%s%s)",
                                 p->file, v->line, v->col, t, what, hint ? "; did you mean '" : "",
                                 hint ? hint : "", hint ? "'?" : "");
        }
    }
    node->name = xstrdup(node->hostname_override ? node->hostname_override : node->address);
    return RKC_OK;
}

static enum rkc_err parse_nodes(struct parser *p, const struct ytree_node *root)
{
    const struct ytree_node *nodes = ytree_map_get(root, "nodes");
    struct cluster_config *cfg = p->cfg;
    const struct ytree_node *key = NULL;
    enum rkc_err rc;
    size_t i, j;

    for (i = 0; i < root->npairs; i++) {
        if (!strcmp(root->pairs[i].key->str, "nodes"))
            key = root->pairs[i].key;
    }
    if (ytree_is_null(nodes))
        return missing(p, root, "nodes", "the cluster file");
    rc = ytree_expect(p->file, nodes, YTREE_SEQ, "nodes", p->err);
    if (rc)
        return rc;
    if (!nodes->nitems)
        return rkc_error_set(p->err, RKC_ECONFIG, "%s:%zu:%zu: nodes must list at least one node",
                             p->file, key->line, key->col);
    if (nodes->nitems > MAX_NODES)
        return rkc_error_set(p->err, RKC_ELIMIT, "%s:%zu:%zu: more than %d nodes", p->file,
                             key->line, key->col, MAX_NODES);
    cfg->nodes = xcalloc(nodes->nitems, sizeof(*cfg->nodes));
    for (i = 0; i < nodes->nitems; i++) {
        cfg->nnodes++;
        rc = parse_node(p, nodes->items[i], i, &cfg->nodes[i]);
        if (rc)
            return rc;
        for (j = 0; j < i; j++) {
            const struct config_node *a = &cfg->nodes[j], *b = &cfg->nodes[i];
            const struct ytree_node *av = ytree_map_get(nodes->items[i], "address");

            if (!strcmp(a->address, b->address) && a->port == b->port &&
                a->transport == b->transport)
                return rkc_error_set(p->err, RKC_ECONFIG,
                                     "%s:%zu:%zu: duplicate address '%s' in nodes[%zu] (already "
                                     "used by nodes[%zu] at line %zu)",
                                     p->file, av->line, av->col, b->address, i, j, a->line);
            if (!strcmp(a->name, b->name))
                return rkc_error_set(p->err, RKC_ECONFIG,
                                     "%s:%zu:%zu: duplicate node name '%s' in nodes[%zu] (already "
                                     "used by nodes[%zu] at line %zu)",
                                     p->file, b->line, b->col, b->name, i, j, a->line);
        }
    }
    if (!config_count_role(cfg, CONFIG_ROLE_CONTROLPLANE))
        return rkc_error_set(p->err, RKC_ECONFIG,
                             "%s:%zu:%zu: no node has the 'controlplane' role (at least one is "
                             "needed to run the API server)",
                             p->file, key->line, key->col);
    if (!config_count_role(cfg, CONFIG_ROLE_ETCD))
        return rkc_error_set(p->err, RKC_ECONFIG,
                             "%s:%zu:%zu: no node has the 'etcd' role (at least one is needed to "
                             "run etcd)",
                             p->file, key->line, key->col);
    return RKC_OK;
}

static enum rkc_err parse_secrets_encryption(struct parser *p, const struct ytree_node *node,
                                             struct config_secrets_encryption *se)
{
    static const char *const keys[] = { "enabled", "custom_config", NULL };
    static const char *const what = "services.kube-api.secrets_encryption_config";
    const struct ytree_node *map, *cc;
    enum rkc_err rc;

    se->present = true;
    se->line = node->line;
    se->col = node->col;
    rc = opt_map(p, node, what, &map);
    if (rc || !map)
        return rc;
    rc = check_keys(p, map, keys, NULL, what);
    if (!rc)
        rc = opt_bool(p, map, "enabled", "services.kube-api.secrets_encryption_config.enabled",
                      &se->enabled);
    if (rc)
        return rc;
    cc = ytree_map_get(map, "custom_config");
    if (ytree_is_null(cc))
        return RKC_OK;
    rc = ytree_expect(p->file, cc, YTREE_MAP,
                      "services.kube-api.secrets_encryption_config.custom_config", p->err);
    if (rc)
        return rc;
    se->custom_config = ytree_dup(cc);
    if (!se->enabled)
        add_warning(p->cfg,
                    "%s:%zu:%zu: custom_config is given but enabled is false: encryption stays "
                    "disabled",
                    p->file, cc->line, cc->col);
    return RKC_OK;
}

static enum rkc_err check_cidr(struct parser *p, const struct ytree_node *map, const char *cidr)
{
    const struct ytree_node *v = ytree_map_get(map, "service_cluster_ip_range");
    char addr[64];
    const char *slash = strchr(cidr, '/');
    unsigned char buf[16];
    char *end;
    long bits;
    bool v6;

    if (!slash || (size_t)(slash - cidr) >= sizeof(addr))
        goto bad;
    memcpy(addr, cidr, (size_t)(slash - cidr));
    addr[slash - cidr] = '\0';
    v6 = strchr(addr, ':') != NULL;
    if (inet_pton(v6 ? AF_INET6 : AF_INET, addr, buf) != 1)
        goto bad;
    bits = strtol(slash + 1, &end, 10);
    if (!slash[1] || *end || bits < 1 || bits > (v6 ? 128 : 32))
        goto bad;
    return RKC_OK;
bad:
    return rkc_error_set(p->err, RKC_ECONFIG,
                         "%s:%zu:%zu: services.kube-api.service_cluster_ip_range: '%s' is not a "
                         "CIDR such as 10.43.0.0/16",
                         p->file, v->line, v->col, cidr);
}

static enum rkc_err parse_kms_plugin(struct parser *p, const struct ytree_node *node,
                                     struct config_kms_plugin *kp)
{
    static const char *const keys[] = { "socket", "binary", "extra_args", NULL };
    static const char *const what = "services.kms-plugin";
    const struct ytree_node *map, *v;
    enum rkc_err rc;

    rc = opt_map(p, node, what, &map);
    if (rc || !map)
        return rc;
    kp->present = true;
    kp->line = map->line;
    kp->col = map->col;
    rc = check_keys(p, map, keys, NULL, what);
    if (!rc)
        rc = opt_string(p, map, "socket", "services.kms-plugin.socket", &kp->socket);
    if (!rc)
        rc = opt_string(p, map, "binary", "services.kms-plugin.binary", &kp->binary);
    if (!rc)
        rc = parse_extra_args(p, ytree_map_get(map, "extra_args"), "services.kms-plugin.extra_args",
                              &kp->extra_args, &kp->nextra_args);
    if (rc)
        return rc;
    if (!kp->socket)
        return missing(p, map, "socket", what);
    v = ytree_map_get(map, "socket");
    if (!strncmp(kp->socket, "unix://", 7))
        return rkc_error_set(p->err, RKC_ECONFIG,
                             "%s:%zu:%zu: services.kms-plugin.socket: write the socket path "
                             "('%s'), not a URL",
                             p->file, v->line, v->col, kp->socket + 7);
    if (kp->socket[0] != '/')
        return rkc_error_set(p->err, RKC_ECONFIG,
                             "%s:%zu:%zu: services.kms-plugin.socket: '%s' is not an absolute "
                             "path",
                             p->file, v->line, v->col, kp->socket);
    if (kp->binary && !kp->binary[0]) {
        v = ytree_map_get(map, "binary");
        return rkc_error_set(p->err, RKC_ECONFIG, "%s:%zu:%zu: services.kms-plugin.binary is empty",
                             p->file, v->line, v->col);
    }
    return RKC_OK;
}

static enum rkc_err parse_services(struct parser *p, const struct ytree_node *root)
{
    static const char *const svc_keys[] = { "etcd", "kube-api", "kms-plugin", NULL };
    static const char *const svc_ignored[] = { "kube-controller", "scheduler", "kubelet",
                                               "kubeproxy", NULL };
    static const char *const etcd_keys[] = { "snapshot", "retention", "extra_args", NULL };
    static const char *const etcd_ignored[] = { "creation",  "backup_config", "image",
                                                "extra_env", "extra_binds",   NULL };
    static const char *const api_keys[] = { "extra_args",
                                            "extra_binds",
                                            "binary",
                                            "service_cluster_ip_range",
                                            "secrets_encryption_config",
                                            NULL };
    static const char *const api_ignored[] = { "image",
                                               "extra_env",
                                               "service_node_port_range",
                                               "pod_security_policy",
                                               "pod_security_configuration",
                                               "always_pull_images",
                                               "audit_log",
                                               "admission_configuration",
                                               "event_rate_limit",
                                               NULL };
    struct cluster_config *cfg = p->cfg;
    const struct ytree_node *svc, *etcd, *api, *se;
    enum rkc_err rc;

    rc = opt_map(p, ytree_map_get(root, "services"), "services", &svc);
    if (rc || !svc)
        return rc;
    rc = check_keys(p, svc, svc_keys, svc_ignored, "services");
    if (rc)
        return rc;
    rc = opt_map(p, ytree_map_get(svc, "etcd"), "services.etcd", &etcd);
    if (!rc && etcd)
        rc = check_keys(p, etcd, etcd_keys, etcd_ignored, "services.etcd");
    if (!rc && etcd)
        rc = opt_bool(p, etcd, "snapshot", "services.etcd.snapshot", &cfg->etcd.snapshot);
    if (!rc && etcd)
        rc = opt_string(p, etcd, "retention", "services.etcd.retention", &cfg->etcd.retention);
    if (!rc && etcd)
        rc = parse_extra_args(p, ytree_map_get(etcd, "extra_args"), "services.etcd.extra_args",
                              &cfg->etcd.extra_args, &cfg->etcd.nextra_args);
    if (!rc)
        rc = parse_kms_plugin(p, ytree_map_get(svc, "kms-plugin"), &cfg->kms_plugin);
    if (rc)
        return rc;
    rc = opt_map(p, ytree_map_get(svc, "kube-api"), "services.kube-api", &api);
    if (rc || !api)
        return rc;
    rc = check_keys(p, api, api_keys, api_ignored, "services.kube-api");
    if (!rc)
        rc = parse_extra_args(p, ytree_map_get(api, "extra_args"), "services.kube-api.extra_args",
                              &cfg->kube_api.extra_args, &cfg->kube_api.nextra_args);
    if (!rc)
        rc =
            parse_string_list(p, ytree_map_get(api, "extra_binds"), "services.kube-api.extra_binds",
                              &cfg->kube_api.extra_binds, &cfg->kube_api.nextra_binds);
    if (!rc)
        rc = opt_string(p, api, "binary", "services.kube-api.binary", &cfg->kube_api.binary);
    if (!rc)
        rc = opt_string(p, api, "service_cluster_ip_range",
                        "services.kube-api.service_cluster_ip_range",
                        &cfg->kube_api.service_cluster_ip_range);
    if (!rc && ytree_map_get(api, "service_cluster_ip_range") &&
        cfg->kube_api.service_cluster_ip_range)
        rc = check_cidr(p, api, cfg->kube_api.service_cluster_ip_range);
    if (rc)
        return rc;
    se = ytree_map_get(api, "secrets_encryption_config");
    if (se)
        rc = parse_secrets_encryption(p, se, &cfg->kube_api.secrets_encryption);
    return rc;
}

static char *abs_dir_of(const char *file, const char *dir)
{
    char *d = dir ? xstrdup(dir) : fs_dirname(file);
    char *res = realpath(d, NULL);

    if (!res)
        res = xstrdup(d);
    free(d);
    return res;
}

static void resolve_prefixes(struct cluster_config *cfg)
{
    size_t i;

    for (i = 0; i < cfg->nnodes; i++) {
        struct config_node *n = &cfg->nodes[i];

        if (n->transport == CONFIG_TRANSPORT_LOCAL) {
            /* All local nodes share this machine: each gets its own directory. */
            char *base =
                cfg->prefix_path ? fs_join(cfg->dir, cfg->prefix_path) : fs_join(cfg->dir, ".rkc");

            n->prefix = fs_join(base, n->name);
            free(base);
        } else {
            n->prefix = xstrdup(cfg->prefix_path ? cfg->prefix_path : "/");
        }
    }
}

enum rkc_err config_parse(const char *file, const char *dir, const char *buf, size_t len,
                          struct cluster_config **ret, struct rkc_error *err)
{
    static const char *const top_keys[] = { "cluster_name",          "nodes",
                                            "prefix_path",           "ssh_key_path",
                                            "ssh_agent_auth",        "services",
                                            "rotate_encryption_key", NULL };
    static const char *const top_ignored[] = { "kubernetes_version",
                                               "network",
                                               "authentication",
                                               "authorization",
                                               "addons",
                                               "addons_include",
                                               "system_images",
                                               "ingress",
                                               "dns",
                                               "monitoring",
                                               "private_registries",
                                               "bastion_host",
                                               "cloud_provider",
                                               "upgrade_strategy",
                                               "ignore_docker_version",
                                               "enable_cri_dockerd",
                                               "ssh_cert_path",
                                               "restore",
                                               NULL };
    struct cluster_config *cfg = xcalloc(1, sizeof(*cfg));
    struct ytree_node *root = NULL;
    struct parser p = { file, cfg, err };
    enum rkc_err rc;

    cfg->file = xstrdup(file);
    cfg->dir = abs_dir_of(file, dir);
    rc = ytree_parse(file, buf, len, &root, err);
    if (rc)
        goto out;
    if (!root || ytree_is_null(root)) {
        rc = rkc_error_set(err, RKC_ECONFIG,
                           "%s:1:1: the file is empty (expected a mapping with at least "
                           "'nodes')",
                           file);
        goto out;
    }
    rc = ytree_expect(file, root, YTREE_MAP, "the cluster file", err);
    if (!rc)
        rc = check_keys(&p, root, top_keys, top_ignored, "the cluster file");
    if (!rc)
        rc = opt_string(&p, root, "cluster_name", "cluster_name", &cfg->cluster_name);
    if (!rc && cfg->cluster_name && !cfg->cluster_name[0]) {
        const struct ytree_node *v = ytree_map_get(root, "cluster_name");

        rc = rkc_error_set(err, RKC_ECONFIG, "%s:%zu:%zu: cluster_name must not be empty", file,
                           v->line, v->col);
    }
    if (!rc)
        rc = opt_string(&p, root, "prefix_path", "prefix_path", &cfg->prefix_path);
    if (!rc)
        rc = opt_string(&p, root, "ssh_key_path", "ssh_key_path", &cfg->ssh_key_path);
    if (!rc)
        rc = opt_bool(&p, root, "ssh_agent_auth", "ssh_agent_auth", &cfg->ssh_agent_auth);
    if (!rc)
        rc = opt_bool(&p, root, "rotate_encryption_key", "rotate_encryption_key",
                      &cfg->rotate_encryption_key);
    if (!rc)
        rc = parse_nodes(&p, root);
    if (!rc)
        rc = parse_services(&p, root);
    if (rc)
        goto out;
    if (!cfg->cluster_name)
        cfg->cluster_name = xstrdup("local");
    if (!cfg->ssh_key_path)
        cfg->ssh_key_path = xstrdup("~/.ssh/id_rsa");
    if (!cfg->etcd.retention)
        cfg->etcd.retention = xstrdup("24h");
    if (!cfg->kube_api.service_cluster_ip_range)
        cfg->kube_api.service_cluster_ip_range = xstrdup("10.43.0.0/16");
    resolve_prefixes(cfg);
out:
    ytree_free(root);
    if (rc) {
        config_free(cfg);
        return rc;
    }
    *ret = cfg;
    return RKC_OK;
}

enum rkc_err config_load(const char *path, struct cluster_config **ret, struct rkc_error *err)
{
    struct strbuf sb = STRBUF_INIT;
    enum rkc_err rc;

    sb.max = 16 << 20;
    rc = strbuf_read_file(&sb, path, err);
    if (rc == RKC_ENOTFOUND)
        rkc_error_set(err, rc,
                      "cluster file '%s' not found (use --config FILE, or 'rkc config' to print "
                      "a sample)",
                      path);
    if (!rc)
        rc = config_parse(path, NULL, sb.buf, sb.len, ret, err);
    /* custom_config may hold keys. */
    strbuf_release_wipe(&sb);
    return rc;
}

static void free_kv(struct config_kv *kv, size_t n)
{
    size_t i;

    for (i = 0; i < n; i++) {
        free(kv[i].key);
        free(kv[i].value);
    }
    free(kv);
}

static void wipe_tree(struct ytree_node *node)
{
    size_t i;

    if (!node)
        return;
    if (node->str)
        rkc_wipe(node->str, node->len);
    for (i = 0; i < node->nitems; i++)
        wipe_tree(node->items[i]);
    for (i = 0; i < node->npairs; i++)
        wipe_tree(node->pairs[i].value);
}

void config_free(struct cluster_config *cfg)
{
    size_t i;

    if (!cfg)
        return;
    for (i = 0; i < cfg->nnodes; i++) {
        struct config_node *n = &cfg->nodes[i];

        free(n->address);
        free(n->user);
        free(n->ssh_key_path);
        free(n->hostname_override);
        free(n->name);
        free(n->prefix);
    }
    free(cfg->nodes);
    free(cfg->file);
    free(cfg->dir);
    free(cfg->cluster_name);
    free(cfg->prefix_path);
    free(cfg->ssh_key_path);
    free(cfg->etcd.retention);
    free_kv(cfg->etcd.extra_args, cfg->etcd.nextra_args);
    free_kv(cfg->kube_api.extra_args, cfg->kube_api.nextra_args);
    for (i = 0; i < cfg->kube_api.nextra_binds; i++)
        free(cfg->kube_api.extra_binds[i]);
    free(cfg->kube_api.extra_binds);
    free(cfg->kube_api.binary);
    free(cfg->kube_api.service_cluster_ip_range);
    free(cfg->kms_plugin.socket);
    free(cfg->kms_plugin.binary);
    free_kv(cfg->kms_plugin.extra_args, cfg->kms_plugin.nextra_args);
    wipe_tree(cfg->kube_api.secrets_encryption.custom_config);
    ytree_free(cfg->kube_api.secrets_encryption.custom_config);
    for (i = 0; i < cfg->nwarnings; i++)
        free(cfg->warnings[i]);
    free(cfg->warnings);
    free(cfg);
}

size_t config_count_role(const struct cluster_config *cfg, unsigned roles)
{
    size_t i, n = 0;

    for (i = 0; i < cfg->nnodes; i++) {
        if (cfg->nodes[i].roles & roles)
            n++;
    }
    return n;
}

const char *config_role_names(unsigned roles, char *buf, size_t size)
{
    size_t r, off = 0;

    buf[0] = '\0';
    for (r = 0; role_names[r]; r++) {
        if (roles & (1u << r)) {
            int n = snprintf(buf + off, size - off, "%s%s", off ? "," : "", role_names[r]);

            if (n < 0 || (size_t)n >= size - off)
                break;
            off += (size_t)n;
        }
    }
    return buf;
}

struct jval *config_ytree_to_jval(const struct ytree_node *node)
{
    struct jval *v;
    size_t i;
    int64_t iv;

    if (!node)
        return jval_null();
    switch (node->kind) {
    case YTREE_MAP:
        v = jval_object();
        for (i = 0; i < node->npairs; i++)
            jval_set_take(v, node->pairs[i].key->str, config_ytree_to_jval(node->pairs[i].value));
        return v;
    case YTREE_SEQ:
        v = jval_array();
        for (i = 0; i < node->nitems; i++)
            jval_array_append_take(v, config_ytree_to_jval(node->items[i]));
        return v;
    case YTREE_SCALAR:
        if (ytree_is_null(node))
            return jval_null();
        if (node->style == YTREE_PLAIN) {
            bool b;

            if (!ytree_get_bool("", node, "", &b, NULL))
                return jval_bool(b);
            if (!ytree_get_int("", node, "", INT64_MIN, INT64_MAX, &iv, NULL))
                return jval_integer(iv);
        }
        return jval_stringn(node->str, node->len);
    }
    return jval_null();
}

static struct jval *kv_to_jval(const struct config_kv *kv, size_t n)
{
    struct jval *o = jval_object();
    size_t i;

    for (i = 0; i < n; i++)
        jval_set_str(o, kv[i].key, kv[i].value);
    return o;
}

struct jval *config_to_jval(const struct cluster_config *cfg)
{
    struct jval *o = jval_object(), *nodes = jval_array(), *svc = jval_object();
    struct jval *etcd = jval_object(), *api = jval_object(), *binds = jval_array();
    const struct config_secrets_encryption *se = &cfg->kube_api.secrets_encryption;
    size_t i, r;

    jval_set_str(o, "clusterName", cfg->cluster_name);
    for (i = 0; i < cfg->nnodes; i++) {
        const struct config_node *n = &cfg->nodes[i];
        struct jval *jn = jval_object(), *roles = jval_array();
        char port[16];

        jval_set_str(jn, "address", n->address);
        snprintf(port, sizeof(port), "%d", n->port);
        jval_set_str(jn, "port", port);
        jval_set_str(jn, "user", n->user);
        for (r = 0; role_names[r]; r++) {
            if (n->roles & (1u << r))
                jval_array_append_take(roles, jval_string(role_names[r]));
        }
        jval_set_take(jn, "role", roles);
        if (n->hostname_override)
            jval_set_str(jn, "hostnameOverride", n->hostname_override);
        if (n->ssh_key_path)
            jval_set_str(jn, "sshKeyPath", n->ssh_key_path);
        jval_set_str(jn, "transport", n->transport == CONFIG_TRANSPORT_LOCAL ? "local" : "ssh");
        jval_array_append_take(nodes, jn);
    }
    jval_set_take(o, "nodes", nodes);
    if (cfg->prefix_path)
        jval_set_str(o, "prefixPath", cfg->prefix_path);
    jval_set_str(o, "sshKeyPath", cfg->ssh_key_path);
    jval_set_bool(o, "sshAgentAuth", cfg->ssh_agent_auth);
    jval_set_bool(o, "rotateEncryptionKey", cfg->rotate_encryption_key);
    jval_set_bool(etcd, "snapshot", cfg->etcd.snapshot);
    jval_set_str(etcd, "retention", cfg->etcd.retention);
    jval_set_take(etcd, "extraArgs", kv_to_jval(cfg->etcd.extra_args, cfg->etcd.nextra_args));
    jval_set_take(svc, "etcd", etcd);
    jval_set_take(api, "extraArgs",
                  kv_to_jval(cfg->kube_api.extra_args, cfg->kube_api.nextra_args));
    for (i = 0; i < cfg->kube_api.nextra_binds; i++)
        jval_array_append_take(binds, jval_string(cfg->kube_api.extra_binds[i]));
    jval_set_take(api, "extraBinds", binds);
    if (cfg->kube_api.binary)
        jval_set_str(api, "binary", cfg->kube_api.binary);
    jval_set_str(api, "serviceClusterIpRange", cfg->kube_api.service_cluster_ip_range);
    if (se->present) {
        struct jval *sej = jval_object();

        jval_set_bool(sej, "enabled", se->enabled);
        if (se->custom_config)
            jval_set_take(sej, "customConfig", config_ytree_to_jval(se->custom_config));
        jval_set_take(api, "secretsEncryptionConfig", sej);
    }
    jval_set_take(svc, "kubeApi", api);
    if (cfg->kms_plugin.present) {
        struct jval *kp = jval_object();

        jval_set_str(kp, "socket", cfg->kms_plugin.socket);
        if (cfg->kms_plugin.binary)
            jval_set_str(kp, "binary", cfg->kms_plugin.binary);
        jval_set_take(kp, "extraArgs",
                      kv_to_jval(cfg->kms_plugin.extra_args, cfg->kms_plugin.nextra_args));
        jval_set_take(svc, "kmsPlugin", kp);
    }
    jval_set_take(o, "services", svc);
    return o;
}
