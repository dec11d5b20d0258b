/* SPDX-License-Identifier: Apache-2.0 */
/*
 * rkc up / rkc remove: the main job. Loads cluster.yml, takes the state lock, and runs
 * core/up; logs its progress in RKE's shape and draws the rewrite progress.
 */
#include "cli/cli.h"

#include <getopt.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "core/config.h"
#include "core/state.h"
#include "core/up.h"
#include "util/fs.h"
#include "util/log.h"
#include "util/xalloc.h"

#include "util/banned.h"

static int run_up(int argc, char **argv)
{
    return cli_cluster_run(&cmd_up, argc, argv, "Running rkc up", up_run);
}

const struct cmd cmd_up = {
    "up",
    run_up,
    "rkc up [--config FILE] [--rewrite-workers N] [--ssh-agent-auth] [--ignore-docker-version]",
    "Bring the cluster up, or bring it to what cluster.yml says",
    NULL,
    "Generates certificates, starts etcd on the etcd nodes and the API server on the\n"
    "controlplane nodes, writes kube_config_<cluster>.yml, and applies\n"
    "services.kube-api.secrets_encryption_config: enabling, disabling or changing encryption\n"
    "is one resumable operation (interrupt it at any time; run rkc up again to finish it).\n"
    "Re-running with nothing changed restarts nothing.\n"
    "  --rewrite-workers N      parallel requests when rewriting Secrets (default 16)\n"
    "  --ssh-agent-auth         accepted for RKE compatibility (ssh nodes are not supported yet)\n"
    "  --ignore-docker-version  accepted for RKE compatibility (rkc runs no Docker)\n",
};

static int run_remove(int argc, char **argv)
{
    static const struct option opts[] = { { "force", no_argument, NULL, 'f' },
                                          { NULL, 0, NULL, 0 } };
    struct cluster_config *cfg = NULL;
    struct rkc_state *st = NULL;
    struct up_options uo;
    struct rkc_error err;
    bool force = false;
    int c, rc = CLI_OK;

    optind = 1;
    opterr = 0;
    while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        if (c == 'f')
            force = true;
        else
            return cli_usage_error(&cmd_remove, "unknown option '%s'", argv[optind - 1]);
    }
    if (optind < argc)
        return cli_usage_error(&cmd_remove, "unexpected argument '%s'", argv[optind]);
    rkc_error_init(&err);
    if (cli_load_cluster(&cfg, &st, false, &err))
        return cli_fail(&err);
    if (!force) {
        char answer[16] = "";

        if (!isatty(STDIN_FILENO)) {
            state_close(st);
            config_free(cfg);
            rkc_error_set(&err, RKC_EINVAL,
                          "refusing to remove the cluster without confirmation: stdin is not a "
                          "terminal (use --force)");
            return cli_fail(&err);
        }
        fprintf(stderr,
                "Are you sure you want to remove Kubernetes cluster [%s]? All etcd data "
                "on its nodes is deleted [y/n]: ",
                cfg->cluster_name);
        if (!fgets(answer, sizeof(answer), stdin) || (answer[0] != 'y' && answer[0] != 'Y')) {
            state_close(st);
            config_free(cfg);
            log_info("Nothing removed");
            return CLI_OK;
        }
    }
    memset(&uo, 0, sizeof(uo));
    uo.notify = cli_on_notify;
    if (up_remove(cfg, st, &uo, &err))
        rc = cli_fail(&err);
    else
        log_info("Cluster removed. %s is kept: it holds the keys that old etcd snapshots need",
                 state_path(st));
    state_close(st);
    config_free(cfg);
    return rc;
}

const struct cmd cmd_remove = {
    "remove",
    run_remove,
    "rkc remove [--config FILE] [--force]",
    "Stop every component and remove the nodes' data",
    NULL,
    "Stops the API servers and etcd and deletes the node directories (etcd data included)\n"
    "and the admin kubeconfig. Asks first unless --force. cluster.rkestate is kept.\n"
    "  --force   do not ask\n",
};
