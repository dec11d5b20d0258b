/* SPDX-License-Identifier: Apache-2.0 */
/*
 * rkc config: print an annotated sample cluster.yml, and `rkc config validate` to check a
 * cluster file and say what `rkc up` will do with it.
 */
#include "cli/cli.h"

#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include "core/config.h"
#include "core/up.h"
#include "util/log.h"

#include "util/banned.h"

static void print_plan(const struct cluster_config *cfg)
{
    const struct config_secrets_encryption *se = &cfg->kube_api.secrets_encryption;
    size_t i;

    printf("  cluster:    %s\n", cfg->cluster_name);
    printf("  nodes:      %zu (controlplane %zu, etcd %zu, worker %zu)\n", cfg->nnodes,
           config_count_role(cfg, CONFIG_ROLE_CONTROLPLANE),
           config_count_role(cfg, CONFIG_ROLE_ETCD), config_count_role(cfg, CONFIG_ROLE_WORKER));
    for (i = 0; i < cfg->nnodes; i++) {
        const struct config_node *n = &cfg->nodes[i];
        char roles[64];

        printf("    - %s [%s] via %s, data under %s\n", n->name,
               config_role_names(n->roles, roles, sizeof(roles)),
               n->transport == CONFIG_TRANSPORT_LOCAL ? "local" : "ssh", n->prefix);
    }
    printf("  api server: %s\n", cfg->kube_api.binary ? cfg->kube_api.binary : "rkc-apiserver");
    if (!se->enabled)
        printf("  encryption: disabled (Secrets stored as plaintext in etcd)\n");
    else if (se->custom_config)
        printf("  encryption: custom provider config (validated, then deployed as given)\n");
    else
        printf("  encryption: managed (aescbc with a new 256-bit key, then identity)\n");
    printf("\nrkc up will: start etcd on the etcd nodes, start the API server on the "
           "controlplane nodes%s, and write kube_config_cluster.yml beside the cluster file.\n",
           se->enabled ? ", deploy encryption.yaml (mode 0600) to every controlplane node, "
                         "point --encryption-provider-config at it and rewrite every Secret"
                       : "");
}

static int run_validate(int argc, char **argv)
{
    static const struct option opts[] = { { "quiet-plan", no_argument, NULL, 'q' },
                                          { NULL, 0, NULL, 0 } };
    struct cluster_config *cfg = NULL;
    struct rkc_error err;
    bool plan = true;
    size_t i;
    int c;

    optind = 1;
    opterr = 0;
    while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        if (c == 'q')
            plan = false;
        else
            return cli_usage_error(&cmd_config, "unknown option '%s'", argv[optind - 1]);
    }
    if (optind < argc)
        return cli_usage_error(&cmd_config, "unexpected argument '%s' (use --config FILE)",
                               argv[optind]);
    rkc_error_init(&err);
    if (config_load(arg_globals.config_path, &cfg, &err))
        return cli_fail(&err);
    for (i = 0; i < cfg->nwarnings; i++)
        log_warn("%s", cfg->warnings[i]);
    {
        struct strbuf warnings = STRBUF_INIT;
        struct encconfig *custom = NULL;

        if (up_custom_config(cfg, &custom, &warnings, &err)) {
            config_free(cfg);
            strbuf_release(&warnings);
            return cli_fail(&err);
        }
        strbuf_trim_trailing_newline(&warnings);
        if (warnings.len)
            log_warn("%s", warnings.buf);
        encconfig_free(custom);
        strbuf_release(&warnings);
    }
    printf("%s is valid\n", arg_globals.config_path);
    if (plan)
        print_plan(cfg);
    config_free(cfg);
    return CLI_OK;
}

static const struct cmd cmd_config_validate = {
    "validate",
    run_validate,
    "rkc config validate [--config FILE] [--quiet-plan]",
    "Check a cluster file and show what 'rkc up' will do with it",
    NULL,
    "Reads the cluster file (--config, RKE_CONFIG, RKC_CONFIG, or cluster.yml) strictly: an\n"
    "unknown key, a wrong type, a missing field, an unknown role, no controlplane or etcd\n"
    "node, or a duplicate address is reported as FILE:LINE:COL and exits 1.\n"
    "  --quiet-plan   print only the verdict\n",
};

static const struct cmd *const config_sub[] = { &cmd_config_validate, NULL };

static int run_config(int argc, char **argv)
{
    int i;

    for (i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--print"))
            return cli_usage_error(&cmd_config, "unknown argument '%s'", argv[i]);
    }
    fputs(config_sample(), stdout);
    return CLI_OK;
}

const struct cmd cmd_config = {
    "config",
    run_config,
    "rkc config [--print] | rkc config validate [--config FILE]",
    "Print a sample cluster.yml, or validate one",
    config_sub,
    "Without a subcommand (or with --print), prints an annotated sample cluster.yml to\n"
    "stdout: rkc config > cluster.yml\n",
};
