/* SPDX-License-Identifier: Apache-2.0 */
/*
 * rkc encrypt: offline tools for EncryptionConfiguration files and stored etcd values,
 * for an administrator in an emergency: validate-config, inspect, seal. They never touch a
 * cluster; stdin/stdout carry the raw etcd value and the plaintext.
 */
#include "cli/cli.h"

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "crypto/encconfig.h"
#include "crypto/transformer.h"
#include "util/log.h"
#include "util/strbuf.h"
#include "util/xalloc.h"

#include "util/banned.h"

/* etcd's default request limit is 1.5 MiB; leave room for anything an operator raised. */
#define MAX_VALUE (64u << 20)

extern const struct cmd cmd_encrypt_validate_config;
extern const struct cmd cmd_encrypt_inspect;
extern const struct cmd cmd_encrypt_seal;

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

static enum rkc_err no_plugin_encrypt(void *ctx, const uint8_t *pt, size_t len,
                                      struct strbuf *ret_ct, struct strbuf *ret_key_id,
                                      struct strbuf *ret_annotations, struct rkc_error *err)
{
    (void)pt;
    (void)len;
    (void)ret_ct;
    (void)ret_key_id;
    (void)ret_annotations;
    return rkc_error_set(err, RKC_EINVAL, "kms provider '%s': no plugin client available yet",
                         (const char *)ctx);
}

static enum rkc_err no_plugin_decrypt(void *ctx, const uint8_t *ct, size_t len, const char *key_id,
                                      const uint8_t *annotations, size_t annotations_len,
                                      struct strbuf *ret_pt, struct rkc_error *err)
{
    (void)ct;
    (void)len;
    (void)key_id;
    (void)annotations;
    (void)annotations_len;
    (void)ret_pt;
    return rkc_error_set(err, RKC_EINVAL, "kms provider '%s': no plugin client available yet",
                         (const char *)ctx);
}

static enum rkc_err no_plugin_status(void *ctx, struct strbuf *ret_key_id, struct rkc_error *err)
{
    (void)ret_key_id;
    return rkc_error_set(err, RKC_EINVAL, "kms provider '%s': no plugin client available yet",
                         (const char *)ctx);
}

/*
 * There is no KMS gRPC client yet: every kms provider gets a plugin that fails each call
 * with a clear message, so values of other providers stay readable with such a config.
 */
static enum rkc_err no_plugin_open(void *ctx, const struct encconfig_kms *kms,
                                   struct kms_plugin *ret, struct rkc_error *err)
{
    (void)ctx;
    (void)err;
    ret->encrypt = no_plugin_encrypt;
    ret->decrypt = no_plugin_decrypt;
    ret->status = no_plugin_status;
    ret->ctx = xstrdup(kms->name);
    return RKC_OK;
}

static void no_plugin_close(void *ctx, struct kms_plugin *plugin)
{
    (void)ctx;
    free(plugin->ctx);
}

static const struct kms_plugin_factory no_plugin_factory = {
    no_plugin_open,
    no_plugin_close,
    NULL,
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
static enum rkc_err load_set(const char *path, struct encset **ret, struct rkc_error *err)
{
    struct strbuf buf = STRBUF_INIT;
    struct encconfig *cfg = NULL;
    enum rkc_err rc;

    rc = strbuf_read_file(&buf, path, err);
    if (!rc)
        rc = encconfig_parse(path, buf.buf, buf.len, &cfg, NULL, err);
    strbuf_release_wipe(&buf);
    if (!rc)
        rc = encconfig_build(cfg, &no_plugin_factory, ret, err);
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
    if (load_set(o.config, &set, &err) || read_stdin(&in, &err)) {
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
    "KMS providers need a plugin client, which this version does not have yet.\n\n"
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

static const struct cmd *const encrypt_sub[] = {
    &cmd_encrypt_validate_config,
    &cmd_encrypt_inspect,
    &cmd_encrypt_seal,
    NULL,
};

const struct cmd cmd_encrypt = {
    "encrypt",
    NULL,
    "rkc encrypt COMMAND [ARGS...]",
    "Offline tools for encryption at rest (configs and stored values)",
    encrypt_sub,
    NULL,
};
