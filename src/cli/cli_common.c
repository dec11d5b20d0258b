/* SPDX-License-Identifier: Apache-2.0 */
/* cli_common: what the cluster commands share: loading, progress and log rendering. */
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

void cli_on_notify(void *ctx, enum log_level level, const char *msg)
{
    struct cli_progress *ui = ctx;

    if (ui && ui->drawn) {
        fputs("\r\033[K", stderr);
        ui->drawn = false;
    }
    log_msg(level, "%s", msg);
}

void cli_on_progress(void *ctx, const struct rewrite_progress *p)
{
    struct cli_progress *ui = ctx;
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
char *cli_apiserver_path(struct rkc_error *err)
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

int cli_load_cluster(struct cluster_config **ret_cfg, struct rkc_state **ret_st, bool read_only,
                     struct rkc_error *err)
{
    char *state_path;
    size_t i;

    if (config_load(arg_globals.config_path, ret_cfg, err))
        return CLI_FAIL;
    for (i = 0; i < (*ret_cfg)->nwarnings; i++)
        log_warn("%s", (*ret_cfg)->warnings[i]);
    state_path = up_state_path(arg_globals.config_path);
    if (state_open(state_path, read_only ? STATE_OPEN_READ_ONLY : STATE_OPEN_DEFAULT, ret_st,
                   err)) {
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

int cli_cluster_options(const struct cmd *c, int argc, char **argv, long *ret_workers)
{
    static const struct option opts[] = { { "rewrite-workers", required_argument, NULL, 'w' },
                                          { "ssh-agent-auth", no_argument, NULL, 'a' },
                                          { "ignore-docker-version", no_argument, NULL, 'i' },
                                          { NULL, 0, NULL, 0 } };
    int opt;

    *ret_workers = 0;
    optind = 1;
    opterr = 0;
    while ((opt = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        char *end = NULL;

        if (opt == 'w') {
            *ret_workers = strtol(optarg, &end, 10);
            if (!*optarg || *end || *ret_workers < 1 || *ret_workers > 256)
                return cli_usage_error(c, "--rewrite-workers must be 1..256, not '%s'", optarg);
        } else if (opt != 'a' && opt != 'i') {
            return cli_usage_error(c, "unknown option '%s'", argv[optind - 1]);
        }
    }
    if (optind < argc)
        return cli_usage_error(c, "unexpected argument '%s'", argv[optind]);
    return -1;
}

int cli_cluster_open(struct cli_cluster *cc, long workers, struct rkc_error *err)
{
    memset(cc, 0, sizeof(*cc));
    cc->ui.tty = isatty(STDERR_FILENO) != 0;
    cc->apiserver = cli_apiserver_path(err);
    if (!cc->apiserver)
        return CLI_FAIL;
    if (cli_load_cluster(&cc->cfg, &cc->st, false, err)) {
        free(cc->apiserver);
        cc->apiserver = NULL;
        return CLI_FAIL;
    }
    cc->uo = xcalloc(1, sizeof(*cc->uo));
    cc->uo->apiserver_bin = cc->apiserver;
    cc->uo->rewrite_workers = (unsigned)workers;
    cc->uo->progress = cli_on_progress;
    cc->uo->progress_ctx = &cc->ui;
    cc->uo->notify = cli_on_notify;
    cc->uo->notify_ctx = &cc->ui;
    return CLI_OK;
}

void cli_cluster_close(struct cli_cluster *cc)
{
    state_close(cc->st);
    config_free(cc->cfg);
    free(cc->apiserver);
    free(cc->uo);
    memset(cc, 0, sizeof(*cc));
}

int cli_cluster_run(const struct cmd *c, int argc, char **argv, const char *banner,
                    cli_cluster_fn fn)
{
    struct cli_cluster cc;
    struct rkc_error err;
    long workers;
    int rc = cli_cluster_options(c, argc, argv, &workers);

    if (rc >= 0)
        return rc;
    rkc_error_init(&err);
    log_info("%s (config %s)", banner, arg_globals.config_path);
    if (cli_cluster_open(&cc, workers, &err))
        return cli_fail(&err);
    rc = CLI_OK;
    if (fn(cc.cfg, cc.st, cc.uo, &err)) {
        const struct state_operation *op = state_operation(cc.st);

        rc = cli_fail(&err);
        if (op)
            log_error("Every key is kept: the '%s' operation is recorded in %s at phase '%s' and "
                      "resumes where it stopped when you run 'rkc up' (or this command) again",
                      state_op_kind_name(op->kind), state_path(cc.st),
                      state_op_phase_name(op->phase));
    }
    cli_cluster_close(&cc);
    return rc;
}
