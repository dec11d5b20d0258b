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
#include "util/banned.h"
#include "util/fs.h"
#include "util/log.h"
#include "util/xalloc.h"

struct progress_ui {
    bool tty;
    time_t last_log;
    bool drawn;
};

static void on_notify(void *ctx, enum log_level level, const char *msg)
{
    struct progress_ui *ui = ctx;

    if (ui && ui->drawn) {
        fputs("\r\033[K", stderr);
        ui->drawn = false;
    }
    log_msg(level, "%s", msg);
}

static void on_progress(void *ctx, const struct rewrite_progress *p)
{
    struct progress_ui *ui = ctx;
    double eta = p->rate > 0 && p->total_known > p->done ? (p->total_known - p->done) / p->rate : 0;

    if (log_get_level() > LOG_INFO)
        return;
    if (ui->tty) {
        size_t width = 30, fill = p->total_known ? width * p->done / p->total_known : 0;
        char bar[64];

        memset(bar, '=', fill > width ? width : fill);
        memset(bar + (fill > width ? width : fill), ' ', width - (fill > width ? width : fill));
        bar[width] = '\0';
        fprintf(stderr, "\r\033[K[encryption] [%s] %zu/%zu%s  %.0f/s  ETA %.0fs", bar, p->done,
                p->total_known, p->total_exact ? "" : "+", p->rate, eta);
        ui->drawn = true;
        if (p->final) {
            fputc('\n', stderr);
            ui->drawn = false;
        }
        return;
    }
    if (p->final || time(NULL) - ui->last_log >= 5) {
        ui->last_log = time(NULL);
        log_info("[encryption] Rewrite progress: %zu/%zu%s objects, %.0f/s%s", p->done,
                 p->total_known, p->total_exact ? "" : "+", p->rate, p->final ? " (done)" : "");
    }
}

/* rkc-apiserver lives beside rkc. */
static char *apiserver_path(struct rkc_error *err)
{
    char self[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);
    char *dir, *path;

    if (n <= 0) {
        rkc_error_set(err, RKC_EIO, "cannot find the rkc binary's directory");
        return NULL;
    }
    self[n] = '\0';
    dir = fs_dirname(self);
    path = fs_join(dir, "rkc-apiserver");
    free(dir);
    if (access(path, X_OK) != 0) {
        rkc_error_set(err, RKC_ENOTFOUND, "'%s' not found: rkc-apiserver must sit beside rkc",
                      path);
        free(path);
        return NULL;
    }
    return path;
}

static int load(struct cluster_config **ret_cfg, struct rkc_state **ret_st, struct rkc_error *err)
{
    char *state_path;
    size_t i;

    if (config_load(arg_globals.config_path, ret_cfg, err))
        return CLI_FAIL;
    for (i = 0; i < (*ret_cfg)->nwarnings; i++)
        log_warn("%s", (*ret_cfg)->warnings[i]);
    state_path = up_state_path(arg_globals.config_path);
    if (state_open(state_path, STATE_OPEN_DEFAULT, ret_st, err)) {
        free(state_path);
        config_free(*ret_cfg);
        *ret_cfg = NULL;
        return CLI_FAIL;
    }
    free(state_path);
    if (state_warning(*ret_st))
        log_warn("%s", state_warning(*ret_st));
    return CLI_OK;
}

static int run_up(int argc, char **argv)
{
    static const struct option opts[] = { { "rewrite-workers", required_argument, NULL, 'w' },
                                          { "ssh-agent-auth", no_argument, NULL, 'a' },
                                          { "ignore-docker-version", no_argument, NULL, 'i' },
                                          { NULL, 0, NULL, 0 } };
    struct cluster_config *cfg = NULL;
    struct rkc_state *st = NULL;
    struct progress_ui ui = { isatty(STDERR_FILENO) != 0, 0, false };
    struct up_options uo;
    struct rkc_error err;
    char *apiserver = NULL;
    int c, rc = CLI_OK;
    long workers = 0;

    optind = 1;
    opterr = 0;
    while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        char *end = NULL;

        switch (c) {
        case 'w':
            workers = strtol(optarg, &end, 10);
            if (!*optarg || *end || workers < 1 || workers > 256)
                return cli_usage_error(&cmd_up, "--rewrite-workers must be 1..256, not '%s'",
                                       optarg);
            break;
        case 'a':
        case 'i':
            break;
        default:
            return cli_usage_error(&cmd_up, "unknown option '%s'", argv[optind - 1]);
        }
    }
    if (optind < argc)
        return cli_usage_error(&cmd_up, "unexpected argument '%s'", argv[optind]);
    rkc_error_init(&err);
    log_info("Running rkc up (config %s)", arg_globals.config_path);
    apiserver = apiserver_path(&err);
    if (!apiserver)
        return cli_fail(&err);
    if (load(&cfg, &st, &err)) {
        free(apiserver);
        return cli_fail(&err);
    }
    memset(&uo, 0, sizeof(uo));
    uo.apiserver_bin = apiserver;
    uo.rewrite_workers = (unsigned)workers;
    uo.progress = on_progress;
    uo.progress_ctx = &ui;
    uo.notify = on_notify;
    uo.notify_ctx = &ui;
    if (up_run(cfg, st, &uo, &err))
        rc = cli_fail(&err);
    state_close(st);
    config_free(cfg);
    free(apiserver);
    return rc;
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
    if (load(&cfg, &st, &err))
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
    uo.notify = on_notify;
    if (up_remove(cfg, &uo, &err))
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
