/* SPDX-License-Identifier: Apache-2.0 */
/*
 * rkc encrypt rotate-key and rkc encrypt status: the encryption commands that work on a
 * running cluster (the offline tools are in cmd_encrypt.c).
 */
#include "cli/cli.h"

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "adapters/jval.h"
#include "core/config.h"
#include "core/snapshot_ops.h"
#include "core/state.h"
#include "core/up.h"
#include "util/log.h"
#include "util/strbuf.h"

#include "util/banned.h"

static int run_rotate_key(int argc, char **argv)
{
    return cli_cluster_run(&cmd_encrypt_rotate_key, argc, argv,
                           "Rotating cluster secrets encryption key", up_rotate);
}

const struct cmd cmd_encrypt_rotate_key = {
    "rotate-key",
    run_rotate_key,
    "rkc encrypt rotate-key [command options] [arguments...]",
    "Rotate cluster encryption provider key",
    NULL,
    "OPTIONS:\n"
    "   --config value           Specify an alternate cluster YAML file (default: \"cluster.yml\")"
    " [$RKE_CONFIG, $RKC_CONFIG]\n"
    "   --ssh-agent-auth         Use SSH Agent Auth defined by SSH_AUTH_SOCK (accepted; ssh nodes\n"
    "                            are not supported in this version)\n"
    "   --ignore-docker-version  Disable Docker version check (accepted for drop-in "
    "compatibility;\n"
    "                            rkc runs no Docker, so there is nothing to check)\n"
    "   --rewrite-workers value  Parallel requests when rewriting Secrets (default: 16)\n"
    "\n"
    "Steps, each recorded in cluster.rkestate before it acts (interrupt at any time; run the\n"
    "command again to finish the same rotation, never a new one):\n"
    "  1. generate a new random 256-bit key (managed; or a new key of the same kind for a\n"
    "     custom aescbc/aesgcm/secretbox config; KMS-first configs are refused: the plugin\n"
    "     rotates its own key)\n"
    "  2. deploy a provider config with the new key first and the old key second to every\n"
    "     controlplane node, and confirm each API server writes with the new key and still\n"
    "     reads the old one\n"
    "  3. rewrite every Secret, then verify in etcd that every value carries the new key\n"
    "  4. move the old key to the retired-keys archive and remove it from the config\n"
    "A failed rewrite never goes back to a config that cannot read what was rewritten: it\n"
    "stops with both keys in place.\n",
};

static void print_status(const struct jval *s)
{
    const struct jval *cfgs = jval_get(s, "config"), *op = jval_get(s, "operation");
    const struct jval *nodes = jval_get(s, "nodes"), *retired = jval_get(s, "retiredKeys");
    const struct jval *scan = jval_get(s, "scan");
    size_t i, j, k;

    printf("mode:       %s\n", jval_get_str(s, "mode", "?"));
    for (i = 0; i < jval_array_size(cfgs); i++) {
        const struct jval *r = jval_array_get(cfgs, i), *names = jval_get(r, "resources");
        const struct jval *provs = jval_get(r, "providers");
        struct strbuf sb = STRBUF_INIT;

        for (j = 0; j < jval_array_size(names); j++)
            strbuf_addf(&sb, "%s%s", j ? ", " : "", jval_str(jval_array_get(names, j), NULL));
        printf("resources:  %s\n", sb.buf);
        strbuf_release(&sb);
        for (j = 0; j < jval_array_size(provs); j++) {
            const struct jval *p = jval_array_get(provs, j), *keys = jval_get(p, "keys");
            const char *prov = jval_get_str(p, "provider", "?");

            if (!jval_array_size(keys))
                printf("  %-8s  %s%s%s\n", j == 0 ? "writer" : "reader", prov,
                       jval_get(p, "name") ? " " : "", jval_get_str(p, "name", ""));
            for (k = 0; k < jval_array_size(keys); k++) {
                const struct jval *key = jval_array_get(keys, k);

                printf("  %-8s  %s key %s (fingerprint %s)\n",
                       j == 0 && k == 0 ? "writer" : "reader", prov, jval_get_str(key, "name", "?"),
                       jval_get_str(key, "fingerprint", "?"));
            }
        }
    }
    if (!jval_array_size(cfgs))
        printf("providers:  none (Secrets are stored as plaintext)\n");
    if (jval_is_object(op))
        printf("pending:    %s, phase %s (attempt %lld, started %s): run 'rkc up' to finish\n",
               jval_get_str(op, "kind", "?"), jval_get_str(op, "phase", "?"),
               (long long)jval_get_int(op, "attempt", 0), jval_get_str(op, "startedAt", "?"));
    else
        printf("pending:    none\n");
    for (i = 0; i < jval_array_size(retired); i++) {
        const struct jval *r = jval_array_get(retired, i);

        printf("%s %s key %s (fingerprint %s), retired %s by %s\n",
               i ? "           " : "retired:   ", jval_get_str(r, "provider", "?"),
               jval_get_str(r, "name", "?"), jval_get_str(r, "fingerprint", "?"),
               jval_get_str(r, "retiredAt", "?"), jval_get_str(r, "reason", "?"));
    }
    for (i = 0; i < jval_array_size(nodes); i++) {
        const struct jval *n = jval_array_get(nodes, i);

        printf("node %s: deployed %s, loaded %s%s%s\n", jval_get_str(n, "name", "?"),
               jval_get_str(n, "deployedHash", "none"), jval_get_str(n, "loadedHash", "none"),
               jval_get(n, "error") ? " -- " : "", jval_get_str(n, "error", ""));
    }
    if (jval_array_size(nodes)) {
        if (jval_get_bool(s, "nodesAgree", false)) {
            printf("all control-plane nodes agree\n");
        } else {
            for (i = 0; i < jval_array_size(nodes); i++) {
                const struct jval *n = jval_array_get(nodes, i);

                if (!jval_get_bool(n, "agrees", false))
                    printf("node %s differs: its API server does not run the deployed provider "
                           "config, or its file differs from the others or from the active config "
                           "in cluster.rkestate (%s); 'rkc up' repairs it\n",
                           jval_get_str(n, "name", "?"), jval_get_str(s, "expectedHash", "none"));
            }
        }
    }
    for (i = 0; i < jval_object_size(scan); i++) {
        struct jval *r = NULL;
        const char *res = jval_object_key_at(scan, i, &r);
        const struct jval *by = jval_get(r, "byKey"), *un = jval_get(r, "unreadableKeys");

        printf("scan %s: %lld objects in etcd, %lld plaintext, %lld unreadable, %lld not on the "
               "writer\n",
               res, (long long)jval_get_int(r, "total", 0),
               (long long)jval_get_int(r, "plaintext", 0),
               (long long)jval_get_int(r, "unreadable", 0),
               (long long)jval_get_int(r, "notOnWriter", 0));
        for (j = 0; j < jval_array_size(by); j++) {
            const struct jval *c = jval_array_get(by, j);
            const char *key = jval_get_str(c, "key", "");

            if (!jval_get_int(c, "count", 0) && !jval_get_bool(c, "writer", false))
                continue;
            printf("  %-10s %s%s%-8s %lld%s\n", jval_get_str(c, "provider", "?"),
                   key[0] ? "key " : "", key, "", (long long)jval_get_int(c, "count", 0),
                   jval_get_bool(c, "writer", false) ? "  (writer)" : "");
        }
        for (j = 0; j < jval_array_size(un); j++)
            printf("  unreadable: %s\n", jval_str(jval_array_get(un, j), NULL));
    }
}

static int run_status(int argc, char **argv)
{
    static const struct option opts[] = { { "output", required_argument, NULL, 'o' },
                                          { "scan", no_argument, NULL, 's' },
                                          { NULL, 0, NULL, 0 } };
    struct cluster_config *cfg = NULL;
    struct rkc_state *st = NULL;
    struct up_options uo;
    struct rkc_error err;
    struct jval *out = NULL;
    bool json = false, scan = false;
    int c, rc = CLI_OK;

    optind = 1;
    opterr = 0;
    while ((c = getopt_long(argc, argv, "o:", opts, NULL)) != -1) {
        if (c == 'o') {
            if (strcmp(optarg, "json") && strcmp(optarg, "text"))
                return cli_usage_error(&cmd_encrypt_status, "-o takes json or text, not '%s'",
                                       optarg);
            json = !strcmp(optarg, "json");
        } else if (c == 's') {
            scan = true;
        } else {
            return cli_usage_error(&cmd_encrypt_status, "unknown option '%s'", argv[optind - 1]);
        }
    }
    if (optind < argc)
        return cli_usage_error(&cmd_encrypt_status, "unexpected argument '%s'", argv[optind]);
    rkc_error_init(&err);
    if (cli_load_cluster(&cfg, &st, true, &err))
        return cli_fail(&err);
    memset(&uo, 0, sizeof(uo));
    uo.notify = cli_on_notify;
    if (up_status(cfg, st, &uo, scan, &out, &err)) {
        rc = cli_fail(&err);
    } else if (json) {
        struct strbuf sb = STRBUF_INIT;

        jval_dump(out, JVAL_PRETTY, &sb);
        fputs(sb.buf, stdout);
        strbuf_release(&sb);
    } else {
        print_status(out);
    }
    jval_decref(out);
    state_close(st);
    config_free(cfg);
    return rc;
}

const struct cmd cmd_encrypt_status = {
    "status",
    run_status,
    "rkc encrypt status [--config FILE] [-o json] [--scan]",
    "Show the encryption mode, keys, pending operation and what each API server runs",
    NULL,
    "Reads cluster.rkestate without locking it (works while another rkc runs), the provider\n"
    "file on every controlplane node and the config hash each API server reports loaded.\n"
    "Keys are shown by name and a short sha256 fingerprint, never their value.\n"
    "  -o json   machine-readable output (schema in docs/commands.md)\n"
    "  --scan    also count the etcd values of each encrypted resource by provider and key,\n"
    "            plaintext, and name any value no configured key can read\n",
};

static int run_prune_keys(int argc, char **argv)
{
    static const struct option opts[] = { { "force", no_argument, NULL, 'f' },
                                          { NULL, 0, NULL, 0 } };
    struct cluster_config *cfg = NULL;
    struct rkc_state *st = NULL;
    struct cli_progress ui = { isatty(STDERR_FILENO) != 0, 0, false };
    struct up_options uo;
    struct rkc_error err;
    size_t dropped = 0;
    bool force = false;
    int c, rc = CLI_OK;

    optind = 1;
    opterr = 0;
    while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        if (c == 'f')
            force = true;
        else
            return cli_usage_error(&cmd_encrypt_prune_keys, "unknown option '%s'",
                                   argv[optind - 1]);
    }
    if (optind < argc)
        return cli_usage_error(&cmd_encrypt_prune_keys, "unexpected argument '%s'", argv[optind]);
    rkc_error_init(&err);
    if (cli_load_cluster(&cfg, &st, false, &err))
        return cli_fail(&err);
    memset(&uo, 0, sizeof(uo));
    uo.notify = cli_on_notify;
    uo.notify_ctx = &ui;
    if (snapshot_prune_keys(cfg, st, force, &uo, &dropped, &err)) {
        rkc_error_prefix(&err, "encrypt prune-keys: ");
        rc = cli_fail(&err);
    } else {
        log_info("Dropped %zu retired key(s); %zu left in the archive", dropped,
                 state_retired_count(st));
    }
    state_close(st);
    config_free(cfg);
    return rc;
}

const struct cmd cmd_encrypt_prune_keys = {
    "prune-keys",
    run_prune_keys,
    "rkc encrypt prune-keys [--force]",
    "Drop retired keys that no retained snapshot needs",
    NULL,
    "OPTIONS:\n"
    "   --force   also drop keys that snapshots in snapshots/ still need (those snapshots\n"
    "             can then only be restored with their sealed key bundle)\n"
    "\n"
    "A retired key is needed by a snapshot when its manifest (snapshots/*.manifest.json) lists\n"
    "the key's name and fingerprint. Without --force nothing is dropped while any snapshot\n"
    "needs an archived key: the command names the keys and the snapshots.\n",
};
