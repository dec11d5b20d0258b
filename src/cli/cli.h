/* SPDX-License-Identifier: Apache-2.0 */
/*
 * cli: the rkc command table and what every command handler shares. Handlers report
 * errors once (log_error) and return an exit code: 0 success, 1 failure, 2 usage error.
 */
#ifndef RKC_CLI_CLI_H
#define RKC_CLI_CLI_H

#include <stdbool.h>

#include "util/error.h"
#include "util/log.h"

enum cli_exit {
    CLI_OK = 0,
    CLI_FAIL = 1,
    CLI_USAGE = 2,
};

/* Parsed global options: the only mutable globals (arg_*). */
struct cli_globals {
    const char *config_path; /* --config, RKE_CONFIG, RKC_CONFIG, "cluster.yml" */
    bool config_explicit;    /* given by flag or environment */
    bool debug;
    bool quiet;
};

extern struct cli_globals arg_globals;

struct cmd {
    const char *name;
    /* argv[0] is the command name; getopt_long starts at 1. */
    int (*fn)(int argc, char **argv);
    const char *usage;            /* "rkc config validate [--config FILE]" */
    const char *summary;          /* one line for --help listings */
    const struct cmd *const *sub; /* NULL-terminated subcommands, or NULL for a leaf */
    const char *help;             /* extra paragraph printed by --help, or NULL */
};

/* Command tables defined by cmd_*.c. */
extern const struct cmd cmd_encrypt;
extern const struct cmd cmd_encrypt_rotate_key;
extern const struct cmd cmd_encrypt_status;
extern const struct cmd cmd_encrypt_prune_keys;
extern const struct cmd cmd_etcd;
extern const struct cmd cmd_version;
extern const struct cmd cmd_config;
extern const struct cmd cmd_up;
extern const struct cmd cmd_remove;

/* Prints usage of c (and its subcommands) to stdout. */
void cli_print_help(const struct cmd *c, const char *path);
/* Prints "error: msg" and "usage: ..." to stderr; returns CLI_USAGE. */
int cli_usage_error(const struct cmd *c, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/* Logs err's message at error level; returns CLI_FAIL. */
int cli_fail(const struct rkc_error *err);
/* True when argv holds -h/--help (before a "--"). */
bool cli_wants_help(int argc, char **argv);

struct cluster_config;
struct rkc_state;
struct rewrite_progress;
struct up_options;

/* Progress rendering for long work: a redrawn bar on a terminal, a log line every 5 s else. */
struct cli_progress {
    bool tty;
    long last_log;
    bool drawn;
};

/* up_options.notify: logs msg at level, clearing a drawn progress bar first. ctx: cli_progress. */
void cli_on_notify(void *ctx, enum log_level level, const char *msg);
/* up_options.progress: ctx is a struct cli_progress. */
void cli_on_progress(void *ctx, const struct rewrite_progress *p);
/* Returns: new path of rkc-apiserver beside this rkc binary, or NULL with err set. */
char *cli_apiserver_path(struct rkc_error *err);
/*
 * Loads the cluster file (--config) and opens its state (locked unless read_only), logging
 * warnings. Returns CLI_OK, or CLI_FAIL with err set (nothing left open).
 */
int cli_load_cluster(struct cluster_config **ret_cfg, struct rkc_state **ret_st, bool read_only,
                     struct rkc_error *err);

/* What the commands that act on a running cluster (up, rotate-key) share. */
struct cli_cluster {
    struct cluster_config *cfg;
    struct rkc_state *st;
    char *apiserver;
    struct cli_progress ui;
    struct up_options *uo;
};

/*
 * Parses the options every cluster-changing command takes (--rewrite-workers N,
 * --ssh-agent-auth, --ignore-docker-version). Returns -1 when argv is fine (*ret_workers set,
 * 0 for the default), else the exit code after a usage error for c.
 */
int cli_cluster_options(const struct cmd *c, int argc, char **argv, long *ret_workers);
/* Loads cluster.yml, locks the state, finds rkc-apiserver. CLI_OK or CLI_FAIL (err set). */
int cli_cluster_open(struct cli_cluster *cc, long workers, struct rkc_error *err);
void cli_cluster_close(struct cli_cluster *cc);

typedef enum rkc_err (*cli_cluster_fn)(const struct cluster_config *cfg, struct rkc_state *st,
                                       const struct up_options *uo, struct rkc_error *err);
/*
 * The whole of a cluster-changing command: options, banner (logged), open, fn, close. On a
 * failure that leaves an operation pending, says that every key is kept and how to resume.
 */
int cli_cluster_run(const struct cmd *c, int argc, char **argv, const char *banner,
                    cli_cluster_fn fn);

#endif
