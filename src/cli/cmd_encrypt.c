/* SPDX-License-Identifier: Apache-2.0 */
/*
 * rkc encrypt: tools for EncryptionConfiguration files and stored etcd values, for an
 * administrator in an emergency. validate-config, inspect and seal are offline: they never touch
 * a cluster; stdin/stdout carry the raw etcd value and the plaintext. rewrite (every object
 * written back through the Kubernetes API, core/rewrite) and verify (etcd scanned with a
 * provider config, core/verify) work on a running cluster.
 */
#include "cli/cli.h"

#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "adapters/etcd.h"
#include "adapters/jval.h"
#include "adapters/kmsclient.h"
#include "adapters/kube.h"
#include "core/rewrite.h"
#include "core/verify.h"
#include "crypto/encconfig.h"
#include "crypto/transformer.h"
#include "util/fs.h"
#include "util/log.h"
#include "util/strbuf.h"
#include "util/xalloc.h"

#include "util/banned.h"

/* etcd's default request limit is 1.5 MiB; leave room for anything an operator raised. */
#define MAX_VALUE (64u << 20)

extern const struct cmd cmd_encrypt_validate_config;
extern const struct cmd cmd_encrypt_inspect;
extern const struct cmd cmd_encrypt_seal;
extern const struct cmd cmd_encrypt_rewrite;
extern const struct cmd cmd_encrypt_verify;

static int run_validate_config(int argc, char **argv)
{
    static const struct option opts[] = {
        { "reload", no_argument, NULL, 'r' },
        { NULL, 0, NULL, 0 },
    };
    struct strbuf buf = STRBUF_INIT, out = STRBUF_INIT;
    struct encconfig_diag diags;
    struct encconfig *cfg = NULL;
    struct rkc_error err;
    bool reload = false;
    enum rkc_err rc;
    int c, ret;

    optind = 1;
    opterr = 0;
    while ((c = getopt_long(argc, argv, "+:", opts, NULL)) != -1) {
        if (c == 'r')
            reload = true;
        else
            return cli_usage_error(&cmd_encrypt_validate_config, "unknown option '%s'",
                                   argv[optind - 1]);
    }
    if (argc - optind != 1)
        return cli_usage_error(&cmd_encrypt_validate_config,
                               argc - optind ? "expected one FILE" : "missing FILE");
    rc = strbuf_read_file(&buf, argv[optind], &err);
    if (rc) {
        strbuf_release(&buf);
        return cli_fail(&err);
    }
    encconfig_diag_init(&diags);
    rc = encconfig_parse(argv[optind], buf.buf, buf.len, &cfg, &diags, &err);
    if (!rc)
        rc = encconfig_validate(cfg, reload, &diags, &err);
    strbuf_release_wipe(&buf);
    if (rc && !diags.nerrors) {
        ret = cli_fail(&err); /* not a config problem (too large, unreadable) */
        goto out;
    }
    encconfig_diag_format(&diags, 1u << ENCCONFIG_ERROR | 1u << ENCCONFIG_WARNING, &out);
    fputs(out.buf, stderr);
    if (rc) {
        ret = CLI_FAIL;
        goto out;
    }
    printf("valid\n");
    ret = CLI_OK;
out:
    strbuf_release(&out);
    encconfig_diag_release(&diags);
    encconfig_free(cfg);
    return ret;
}

/* ---- inspect and seal ---- */

struct value_opts {
    const char *config;
    const char *etcd_key;
    const char *prefix;
    const char *resource;
    bool decrypt;
};

static int parse_value_opts(const struct cmd *cmd, int argc, char **argv, bool allow_decrypt,
                            struct value_opts *o)
{
    static const struct option opts[] = {
        { "provider-config", required_argument, NULL, 'c' },
        { "etcd-key", required_argument, NULL, 'k' },
        { "etcd-prefix", required_argument, NULL, 'p' },
        { "resource", required_argument, NULL, 'r' },
        { "decrypt", no_argument, NULL, 'd' },
        { NULL, 0, NULL, 0 },
    };
    int c;

    memset(o, 0, sizeof(*o));
    o->prefix = "/registry";
    optind = 1;
    opterr = 0;
    while ((c = getopt_long(argc, argv, "+:", opts, NULL)) != -1) {
        switch (c) {
        case 'c':
            o->config = optarg;
            break;
        case 'k':
            o->etcd_key = optarg;
            break;
        case 'p':
            o->prefix = optarg;
            break;
        case 'r':
            o->resource = optarg;
            break;
        case 'd':
            if (!allow_decrypt)
                return cli_usage_error(cmd, "unknown option '--decrypt'");
            o->decrypt = true;
            break;
        case ':':
            return cli_usage_error(cmd, "option '%s' requires a value", argv[optind - 1]);
        default:
            return cli_usage_error(cmd, "unknown option '%s'", argv[optind - 1]);
        }
    }
    if (optind < argc)
        return cli_usage_error(cmd, "unexpected argument '%s'", argv[optind]);
    if (!o->config)
        return cli_usage_error(cmd, "missing --provider-config FILE");
    if (!o->etcd_key)
        return cli_usage_error(cmd, "missing --etcd-key KEY");
    return CLI_OK;
}

/*
 * kube-apiserver stores under path.Join("/", --etcd-prefix) + "/"; the first segment after
 * it is the resource. Returns: new resource name, or NULL (usage error printed).
 */
static char *resource_from_key(const struct cmd *cmd, const struct value_opts *o)
{
    struct strbuf prefix = STRBUF_INIT;
    const char *p = o->prefix, *rest, *slash;
    char *res = NULL;

    RKC_ASSERT(o->etcd_key && o->prefix);
    /* path.Join("/", P): leading '/', no duplicate or trailing '/' */
    strbuf_addch(&prefix, '/');
    while (*p) {
        if (*p == '/') {
            while (*p == '/')
                p++;
            if (*p && prefix.buf[prefix.len - 1] != '/')
                strbuf_addch(&prefix, '/');
            continue;
        }
        strbuf_addch(&prefix, *p++);
    }
    if (prefix.buf[prefix.len - 1] != '/')
        strbuf_addch(&prefix, '/');
    if (strncmp(o->etcd_key, prefix.buf, prefix.len) != 0) {
        cli_usage_error(cmd, "--etcd-key '%s' is not under the etcd prefix '%s'", o->etcd_key,
                        prefix.buf);
        goto out;
    }
    rest = o->etcd_key + prefix.len;
    slash = strchr(rest, '/');
    if (!*rest || slash == rest) {
        cli_usage_error(cmd, "--etcd-key '%s' names no resource after '%s'", o->etcd_key,
                        prefix.buf);
        goto out;
    }
    res = o->resource ? xstrdup(o->resource)
                      : (slash ? xstrndup(rest, (size_t)(slash - rest)) : xstrdup(rest));
out:
    strbuf_release(&prefix);
    return res;
}

/* Loads, validates and builds the provider config. */
static enum rkc_err load_set(const char *path, struct kmsclient_factory *kms, struct encset **ret,
                             struct rkc_error *err)
{
    struct strbuf buf = STRBUF_INIT;
    struct encconfig *cfg = NULL;
    enum rkc_err rc;

    rc = strbuf_read_file(&buf, path, err);
    if (!rc)
        rc = encconfig_parse(path, buf.buf, buf.len, &cfg, NULL, err);
    strbuf_release_wipe(&buf);
    if (!rc)
        rc = encconfig_build(cfg, kmsclient_factory_get(kms), ret, err);
    encconfig_free(cfg);
    return rc;
}

static enum rkc_err read_stdin(struct strbuf *sb, struct rkc_error *err)
{
    sb->max = MAX_VALUE;
    return strbuf_read_fd(sb, STDIN_FILENO, err);
}

static bool write_all(const void *buf, size_t len)
{
    return fwrite(buf, 1, len, stdout) == len && fflush(stdout) == 0;
}

static int run_value_cmd(const struct cmd *cmd, int argc, char **argv, bool seal)
{
    struct strbuf in = STRBUF_INIT, out = STRBUF_INIT;
    struct encset *set = NULL;
    struct kmsclient_factory *kms = NULL;
    struct value_opts o;
    struct rkc_error err;
    const struct xf_chain *chain;
    const char *rule = NULL;
    char *resource = NULL;
    int ret;

    ret = parse_value_opts(cmd, argc, argv, !seal, &o);
    if (ret)
        return ret;
    resource = resource_from_key(cmd, &o);
    if (!resource)
        return CLI_USAGE;
    kms = kmsclient_factory_new();
    if (load_set(o.config, kms, &set, &err) || read_stdin(&in, &err)) {
        ret = cli_fail(&err);
        goto out;
    }
    chain = encset_chain_for_rule(set, resource, &rule);
    log_debug("resource '%s' uses rule '%s'", resource, rule ? rule : "(none: identity)");
    if (seal) {
        if (xf_chain_write(chain, o.etcd_key, (const uint8_t *)in.buf, in.len, &out, &err)) {
            rkc_error_prefix(&err, "cannot seal a value for '%s': ", o.etcd_key);
            ret = cli_fail(&err);
            goto out;
        }
        ret = write_all(out.buf, out.len) ? CLI_OK : CLI_FAIL;
    } else {
        struct xf_read_info info;

        if (xf_chain_read(chain, o.etcd_key, (const uint8_t *)in.buf, in.len, &out, &info, &err)) {
            rkc_error_prefix(&err, "no provider can read the value of '%s': ", o.etcd_key);
            ret = cli_fail(&err);
            goto out;
        }
        if (o.decrypt) {
            ret = write_all(out.buf, out.len) ? CLI_OK : CLI_FAIL;
        } else {
            if (info.kind == XF_IDENTITY)
                printf("provider=identity stale=%s\n", info.stale ? "true" : "false");
            else if (info.kind == XF_KMS_V1 || info.kind == XF_KMS_V2)
                printf("provider=kms name=%s stale=%s\n", info.key_name,
                       info.stale ? "true" : "false");
            else
                printf("provider=%s key=%s stale=%s\n", xf_kind_name(info.kind), info.key_name,
                       info.stale ? "true" : "false");
            ret = fflush(stdout) == 0 ? CLI_OK : CLI_FAIL;
        }
    }
    if (ret)
        log_error("cannot write to stdout");
out:
    strbuf_release_wipe(&in);
    strbuf_release_wipe(&out);
    encset_free(set);
    kmsclient_factory_free(kms);
    free(resource);
    return ret;
}

static int run_inspect(int argc, char **argv)
{
    return run_value_cmd(&cmd_encrypt_inspect, argc, argv, false);
}

static int run_seal(int argc, char **argv)
{
    return run_value_cmd(&cmd_encrypt_seal, argc, argv, true);
}

const struct cmd cmd_encrypt_validate_config = {
    "validate-config",
    run_validate_config,
    "rkc encrypt validate-config [--reload] FILE",
    "Check an EncryptionConfiguration file as kube-apiserver would, and more",
    NULL,
    "Prints 'valid' (exit 0) or one line per problem on stderr, FILE:LINE:COL: error: FIELD:\n"
    "MESSAGE (exit 1). Warnings are printed on stderr in the same form and do not fail.\n"
    "Secrets are never printed. See docs/encryption-config.md for every check.\n\n"
    "Options:\n"
    "  --reload   also apply the rules kube-apiserver adds with\n"
    "             --encryption-provider-config-automatic-reload (unique KMS v1 names)\n",
};

#define VALUE_OPTIONS_HELP                                                                         \
    "  --provider-config FILE  the EncryptionConfiguration (YAML or JSON)\n"                       \
    "  --etcd-key KEY          the full etcd key of the value, e.g.\n"                             \
    "                          /registry/secrets/default/db (authenticated data for aesgcm/kms)\n" \
    "  --etcd-prefix P         the API server's --etcd-prefix (default /registry)\n"               \
    "  --resource R            the group-resource for the provider lookup, e.g.\n"                 \
    "                          deployments.apps (default: the key's first segment, core group)\n"

const struct cmd cmd_encrypt_inspect = {
    "inspect",
    run_inspect,
    "rkc encrypt inspect --provider-config FILE --etcd-key KEY [--etcd-prefix P] [--resource R] "
    "[--decrypt] < VALUE",
    "Tell which provider and key can read a raw etcd value, or decrypt it",
    NULL,
    "Reads one raw etcd value on stdin (e.g. from 'etcdctl get --print-value-only KEY') and\n"
    "prints 'provider=aescbc key=NAME stale=false' (identity: 'provider=identity stale=...';\n"
    "kms: 'provider=kms name=NAME stale=...'). stale=true means kube-apiserver would rewrite the\n"
    "value with its current writer on the next update. With --decrypt the plaintext is written\n"
    "to stdout instead. A value no provider can read fails (exit 1) with the reasons.\n"
    "KMS providers call their plugin over its unix socket (the config's endpoint).\n\n"
    "Options:\n" VALUE_OPTIONS_HELP "  --decrypt               write the plaintext to stdout\n",
};

const struct cmd cmd_encrypt_seal = {
    "seal",
    run_seal,
    "rkc encrypt seal --provider-config FILE --etcd-key KEY [--etcd-prefix P] [--resource R] "
    "< PLAINTEXT",
    "Encrypt stdin with the config's writer and print the stored bytes",
    NULL,
    "Encrypts stdin with the first provider (and its first key) configured for the key's\n"
    "resource, exactly as kube-apiserver would store it, and writes the stored bytes to stdout\n"
    "(binary: redirect to a file, or to 'etcdctl put KEY').\n\n"
    "Options:\n" VALUE_OPTIONS_HELP,
};

/* ---- rewrite ---- */

/* Parses a decimal in [min, max]; false on anything else. */
static bool parse_uint(const char *s, unsigned long min, unsigned long max, unsigned long *ret)
{
    char *end;
    unsigned long v;

    if (!*s || *s == '-' || *s == '+')
        return false;
    errno = 0;
    v = strtoul(s, &end, 10);
    if (errno || *end || v < min || v > max)
        return false;
    *ret = v;
    return true;
}

struct progress_view {
    const char *resource;
    bool tty;
    double last_log;
    size_t drawn; /* width of the last line drawn */
};

static void format_eta(double s, struct strbuf *out)
{
    unsigned long t = s > 0 ? (unsigned long)(s + 0.5) : 0;

    if (t >= 3600)
        strbuf_addf(out, "%lu:%02lu:%02lu", t / 3600, t / 60 % 60, t % 60);
    else
        strbuf_addf(out, "%lu:%02lu", t / 60, t % 60);
}

static void show_progress(void *ctx, const struct rewrite_progress *p)
{
    struct progress_view *v = ctx;
    struct strbuf line = STRBUF_INIT;
    size_t total = p->total_known, left;

    left = total > p->done ? total - p->done : 0;
    if (v->tty) {
        const size_t width = 30;
        size_t fill = total ? p->done * width / total : 0, i;

        strbuf_addch(&line, '\r');
        strbuf_addch(&line, '[');
        for (i = 0; i < width; i++)
            strbuf_addch(&line, i < fill ? '#' : '-');
        strbuf_addf(&line, "] %zu/%s%zu %s  %.0f/s  ETA ", p->done, p->total_exact ? "" : "~",
                    total, v->resource, p->rate);
        if (p->rate > 0 && !p->final)
            format_eta((double)left / p->rate, &line);
        else
            strbuf_addstr(&line, p->final ? "0:00" : "-");
        /* blank out what a longer previous line left behind */
        if (line.len < v->drawn) {
            size_t pad = v->drawn - line.len;

            while (pad--)
                strbuf_addch(&line, ' ');
        }
        v->drawn = line.len;
        if (p->final)
            strbuf_addch(&line, '\n');
        fputs(line.buf, stderr);
        fflush(stderr);
    } else if (p->final || p->elapsed_s - v->last_log >= 5.0) {
        v->last_log = p->elapsed_s;
        if (!p->final)
            log_info("rewrite: %zu/%s%zu %s done (%.0f/s)", p->done, p->total_exact ? "" : "~",
                     total, v->resource, p->rate);
    }
    strbuf_release(&line);
}

/* kube_config_cluster.yml in the directory of the --config file. Returns: new. */
static char *default_kubeconfig(void)
{
    char *dir = fs_dirname(arg_globals.config_path);
    char *path = fs_join(dir, "kube_config_cluster.yml");

    free(dir);
    return path;
}

static int run_rewrite(int argc, char **argv)
{
    static const struct option opts[] = {
        { "kubeconfig", required_argument, NULL, 'k' },
        { "resource", required_argument, NULL, 'r' },
        { "workers", required_argument, NULL, 'w' },
        { "page-size", required_argument, NULL, 'p' },
        { "request-timeout", required_argument, NULL, 't' },
        { NULL, 0, NULL, 0 },
    };
    const struct cmd *cmd = &cmd_encrypt_rewrite;
    struct rewrite_options ro = { 0 };
    struct rewrite_result res;
    struct progress_view view = { 0 };
    struct kube_client *kc = NULL;
    struct rewrite_api api;
    struct rkc_error err;
    char *kubeconfig = NULL;
    unsigned long v, timeout_s = 30;
    enum rkc_err rc;
    int c, ret;
    size_t i;

    optind = 1;
    opterr = 0;
    while ((c = getopt_long(argc, argv, "+:", opts, NULL)) != -1) {
        switch (c) {
        case 'k':
            free(kubeconfig);
            kubeconfig = xstrdup(optarg);
            break;
        case 'r':
            ro.resource = optarg;
            break;
        case 'w':
            if (!parse_uint(optarg, 1, REWRITE_MAX_WORKERS, &v)) {
                free(kubeconfig);
                return cli_usage_error(cmd, "--workers must be a number from 1 to %d, not '%s'",
                                       REWRITE_MAX_WORKERS, optarg);
            }
            ro.workers = (unsigned)v;
            break;
        case 'p':
            if (!parse_uint(optarg, 1, 10000, &v)) {
                free(kubeconfig);
                return cli_usage_error(cmd,
                                       "--page-size must be a number from 1 to 10000, not "
                                       "'%s'",
                                       optarg);
            }
            ro.page_size = (unsigned)v;
            break;
        case 't':
            if (!parse_uint(optarg, 1, 3600, &timeout_s)) {
                free(kubeconfig);
                return cli_usage_error(cmd,
                                       "--request-timeout must be seconds from 1 to 3600, "
                                       "not '%s'",
                                       optarg);
            }
            break;
        case ':':
            free(kubeconfig);
            return cli_usage_error(cmd, "option '%s' requires a value", argv[optind - 1]);
        default:
            free(kubeconfig);
            return cli_usage_error(cmd, "unknown option '%s'", argv[optind - 1]);
        }
    }
    if (optind < argc) {
        free(kubeconfig);
        return cli_usage_error(cmd, "unexpected argument '%s'", argv[optind]);
    }
    if (!kubeconfig)
        kubeconfig = default_kubeconfig();
    if (!ro.resource)
        ro.resource = "secrets";
    rewrite_result_init(&res);
    if (kube_client_from_kubeconfig(kubeconfig, (long)timeout_s * 1000, &kc, &err)) {
        ret = cli_fail(&err);
        goto out;
    }
    view.resource = ro.resource;
    view.tty = isatty(STDERR_FILENO) && log_enabled(LOG_INFO);
    ro.progress = show_progress;
    ro.progress_ctx = &view;
    rewrite_api_from_kube(kc, &api);
    log_info("rewriting every object of %s through %s with %u workers", ro.resource,
             kube_client_server(kc), ro.workers ? ro.workers : REWRITE_DEFAULT_WORKERS);
    rc = rewrite_run(&api, &ro, &res, &err);
    log_info("%s: %zu listed, %zu rewritten, %zu gone, %zu failed in %.1f s (%.0f/s); "
             "%zu conflicts retried, %zu transient retries, %zu list restarts",
             ro.resource, res.listed, res.rewritten, res.skipped_gone, res.failed, res.elapsed_s,
             res.elapsed_s > 0 ? (double)(res.rewritten + res.skipped_gone) / res.elapsed_s : 0.0,
             res.conflicts_retried, res.transient_retries, res.list_restarts);
    for (i = 0; i < res.nfailures; i++)
        log_error("cannot rewrite %s '%s': %s", ro.resource, res.failures[i].name,
                  res.failures[i].reason);
    if (res.failed > res.nfailures)
        log_error("... and %zu more failures", res.failed - res.nfailures);
    ret = rc ? cli_fail(&err) : CLI_OK;
out:
    rewrite_result_release(&res);
    kube_client_free(kc);
    free(kubeconfig);
    return ret;
}

/* ---- verify ---- */

static const char *count_provider(const struct verify_count *c)
{
    return xf_kind_name(c->kind);
}

static void print_verify_text(const char *resource, const struct verify_report *r)
{
    size_t i;

    printf("resource: %s (%s at revision %lld)\n", resource, r->key_prefix, (long long)r->revision);
    printf("writer: %s\n", r->writer);
    printf("values: %zu\n", r->total);
    for (i = 0; i < r->ncounts; i++) {
        const struct verify_count *c = &r->counts[i];
        char label[XF_NAME_MAX + 64];

        if (c->kind == XF_IDENTITY)
            snprintf(label, sizeof(label), "identity");
        else if (c->kind == XF_KMS_V1 || c->kind == XF_KMS_V2)
            snprintf(label, sizeof(label), "kms name %s", c->key_name);
        else
            snprintf(label, sizeof(label), "%s key %s", count_provider(c), c->key_name);
        printf("  %-32s %8zu%s\n", label, c->count, c->writer ? "  (writer)" : "");
    }
    printf("plaintext: %zu\n", r->plaintext);
    printf("stale: %zu\n", r->stale);
    printf("unreadable: %zu\n", r->unreadable);
    for (i = 0; i < r->unreadable_keys.nr; i++)
        printf("  %s: %s\n", r->unreadable_keys.v[i].key, r->unreadable_keys.v[i].reason);
    if (r->unreadable > r->unreadable_keys.nr)
        printf("  (and %zu more)\n", r->unreadable - r->unreadable_keys.nr);
    printf("not on the writer: %zu\n", r->not_on_writer);
    for (i = 0; i < r->not_on_writer_keys.nr; i++)
        printf("  %s: %s\n", r->not_on_writer_keys.v[i].key, r->not_on_writer_keys.v[i].reason);
    if (r->not_on_writer > r->not_on_writer_keys.nr)
        printf("  (and %zu more)\n", r->not_on_writer - r->not_on_writer_keys.nr);
    printf("result: %s\n", r->ok ? "ok, every value is on the writer" : "NOT on the writer");
}

static struct jval *named_json(const struct verify_named_list *l)
{
    struct jval *arr = jval_array();
    size_t i;

    for (i = 0; i < l->nr; i++) {
        struct jval *o = jval_object();

        jval_set_str(o, "key", l->v[i].key);
        jval_set_str(o, "reason", l->v[i].reason);
        jval_array_append_take(arr, o);
    }
    return arr;
}

static void print_verify_json(const char *resource, const struct verify_report *r)
{
    struct jval *root = jval_object(), *providers = jval_array();
    struct strbuf out = STRBUF_INIT;
    size_t i;

    jval_set_str(root, "resource", resource);
    jval_set_str(root, "keyPrefix", r->key_prefix);
    jval_set_int(root, "revision", r->revision);
    jval_set_str(root, "writer", r->writer);
    jval_set_int(root, "total", (int64_t)r->total);
    for (i = 0; i < r->ncounts; i++) {
        struct jval *o = jval_object();

        jval_set_str(o, "provider", count_provider(&r->counts[i]));
        jval_set_str(o, "key", r->counts[i].key_name);
        jval_set_int(o, "providerIndex", (int64_t)r->counts[i].provider_index);
        jval_set_int(o, "keyIndex", (int64_t)r->counts[i].key_index);
        jval_set_bool(o, "writer", r->counts[i].writer);
        jval_set_int(o, "count", (int64_t)r->counts[i].count);
        jval_array_append_take(providers, o);
    }
    jval_set_take(root, "providers", providers);
    jval_set_int(root, "plaintext", (int64_t)r->plaintext);
    jval_set_int(root, "stale", (int64_t)r->stale);
    jval_set_int(root, "unreadable", (int64_t)r->unreadable);
    jval_set_take(root, "unreadableKeys", named_json(&r->unreadable_keys));
    jval_set_int(root, "notOnWriter", (int64_t)r->not_on_writer);
    jval_set_take(root, "notOnWriterKeys", named_json(&r->not_on_writer_keys));
    jval_set_bool(root, "ok", r->ok);
    jval_dump(root, JVAL_PRETTY, &out);
    fputs(out.buf, stdout);
    strbuf_release(&out);
    jval_decref(root);
}

static int run_verify(int argc, char **argv)
{
    static const struct option opts[] = {
        { "provider-config", required_argument, NULL, 'c' },
        { "etcd-endpoints", required_argument, NULL, 'e' },
        { "etcd-cafile", required_argument, NULL, 'a' },
        { "etcd-certfile", required_argument, NULL, 'C' },
        { "etcd-keyfile", required_argument, NULL, 'K' },
        { "etcd-prefix", required_argument, NULL, 'p' },
        { "resource", required_argument, NULL, 'r' },
        { "output", required_argument, NULL, 'o' },
        { NULL, 0, NULL, 0 },
    };
    const struct cmd *cmd = &cmd_encrypt_verify;
    const char *config = NULL, *prefix = "/registry", *resource = "secrets", *output = "text";
    struct etcd_config ec = { 0 };
    struct etcd_client *etcd = NULL;
    struct verify_report report;
    struct encset *set = NULL;
    struct kmsclient_factory *kms = NULL;
    struct rkc_error err;
    int c, ret;

    optind = 1;
    opterr = 0;
    while ((c = getopt_long(argc, argv, "+:o:", opts, NULL)) != -1) {
        switch (c) {
        case 'c':
            config = optarg;
            break;
        case 'e':
            ec.servers = optarg;
            break;
        case 'a':
            ec.cafile = optarg;
            break;
        case 'C':
            ec.certfile = optarg;
            break;
        case 'K':
            ec.keyfile = optarg;
            break;
        case 'p':
            prefix = optarg;
            break;
        case 'r':
            resource = optarg;
            break;
        case 'o':
            output = optarg;
            break;
        case ':':
            return cli_usage_error(cmd, "option '%s' requires a value", argv[optind - 1]);
        default:
            return cli_usage_error(cmd, "unknown option '%s'", argv[optind - 1]);
        }
    }
    if (optind < argc)
        return cli_usage_error(cmd, "unexpected argument '%s'", argv[optind]);
    if (!config)
        return cli_usage_error(cmd, "missing --provider-config FILE");
    if (!ec.servers)
        return cli_usage_error(cmd, "missing --etcd-endpoints URL[,URL]");
    if (strcmp(output, "text") != 0 && strcmp(output, "json") != 0)
        return cli_usage_error(cmd, "-o must be 'json' or 'text', not '%s'", output);
    if (!*resource || *resource == '.')
        return cli_usage_error(cmd, "bad --resource '%s'", resource);
    verify_report_init(&report);
    kms = kmsclient_factory_new();
    if (load_set(config, kms, &set, &err) || etcd_client_new(&ec, &etcd, &err)) {
        ret = cli_fail(&err);
        goto out;
    }
    if (verify_resource(etcd, prefix, resource, encset_chain_for(set, resource), &report, &err)) {
        ret = cli_fail(&err);
        goto out;
    }
    if (!strcmp(output, "json"))
        print_verify_json(resource, &report);
    else
        print_verify_text(resource, &report);
    if (fflush(stdout)) {
        log_error("cannot write to stdout");
        ret = CLI_FAIL;
        goto out;
    }
    if (report.ok) {
        ret = CLI_OK;
    } else {
        log_error("%zu of %zu values under '%s' are not on the writer (%s): %zu unreadable, "
                  "%zu read by another provider or key",
                  report.unreadable + report.not_on_writer, report.total, report.key_prefix,
                  report.writer, report.unreadable, report.not_on_writer);
        ret = CLI_FAIL;
    }
out:
    verify_report_release(&report);
    etcd_client_free(etcd);
    encset_free(set);
    kmsclient_factory_free(kms);
    return ret;
}

const struct cmd cmd_encrypt_rewrite = {
    "rewrite",
    run_rewrite,
    "rkc encrypt rewrite [--kubeconfig FILE] [--resource R] [--workers N] [--page-size N] "
    "[--request-timeout S]",
    "Rewrite every object of a resource through the API so it is stored with the writer",
    NULL,
    "Lists every object of the resource across all namespaces and writes each one back\n"
    "unchanged (PUT), which makes the API server store it again with its current writer\n"
    "provider and key. Conflicts are re-read and retried, deleted objects are skipped, transient\n"
    "errors are retried with backoff. Shows a progress bar on a terminal, a log line every 5 s\n"
    "otherwise. Exits 1 naming every object that could not be rewritten.\n\n"
    "Options:\n"
    "  --kubeconfig FILE      admin kubeconfig (default: kube_config_cluster.yml beside the\n"
    "                         --config file)\n"
    "  --resource R           resource to rewrite: secrets (default), configmaps,\n"
    "                         deployments.apps, ...\n"
    "  --workers N            parallel writes (default 16, at most 256)\n"
    "  --page-size N          objects per list page (default 500)\n"
    "  --request-timeout S    seconds per API request (default 30)\n",
};

const struct cmd cmd_encrypt_verify = {
    "verify",
    run_verify,
    "rkc encrypt verify --provider-config FILE --etcd-endpoints URL[,URL] [--etcd-cafile F] "
    "[--etcd-certfile F] [--etcd-keyfile F] [--etcd-prefix P] [--resource R] [-o json]",
    "Scan etcd and check every stored value is written by the config's writer",
    NULL,
    "Reads every key under <prefix>/<resource>/ straight from etcd and reads each value with the\n"
    "providers the EncryptionConfiguration gives that resource. Prints how many values each\n"
    "provider/key reads, how many are plaintext, and names (never shows) the keys that no\n"
    "provider can read or that are not written by the first provider's first key. Exits 0 only\n"
    "when every value is on the writer.\n\n"
    "Options:\n"
    "  --provider-config FILE  the EncryptionConfiguration the API server uses\n"
    "  --etcd-endpoints URLS   comma-separated etcd client URLs\n"
    "  --etcd-cafile F, --etcd-certfile F, --etcd-keyfile F\n"
    "                          TLS files for etcd (as kube-apiserver's flags)\n"
    "  --etcd-prefix P         the API server's --etcd-prefix (default /registry)\n"
    "  --resource R            resource to scan (default secrets)\n"
    "  -o json                 machine-readable output\n",
};

static const struct cmd *const encrypt_sub[] = {
    &cmd_encrypt_validate_config, &cmd_encrypt_inspect, &cmd_encrypt_seal,
    &cmd_encrypt_rewrite,         &cmd_encrypt_verify,  &cmd_encrypt_prune_keys,
    &cmd_encrypt_rotate_key,      &cmd_encrypt_status,  NULL,
};

const struct cmd cmd_encrypt = {
    "encrypt",
    NULL,
    "rkc encrypt COMMAND [ARGS...]",
    "Tools for encryption at rest: configs, stored values, rewrite and verify",
    encrypt_sub,
    NULL,
};
