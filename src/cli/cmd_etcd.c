/* SPDX-License-Identifier: Apache-2.0 */
/*
 * rkc etcd snapshot-save, snapshot-restore, snapshot-ls (and the passphrase prompt shared with
 * them). The work is in core/snapshot_ops.
 */
#include "cli/cli.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <termios.h>
#include <unistd.h>

#include "adapters/jval.h"
#include "core/config.h"
#include "core/snapshot_ops.h"
#include "core/state.h"
#include "core/up.h"
#include "util/log.h"
#include "util/strbuf.h"
#include "util/xalloc.h"

#include "util/banned.h"

/* Reads one line from /dev/tty with echo off. Returns: new string or NULL. */
static char *read_tty_line(int fd, const char *prompt)
{
    struct termios old, quiet;
    char buf[1024];
    size_t n = 0;
    bool restore = false;

    if (write(fd, prompt, strlen(prompt)) < 0)
        return NULL;
    if (!tcgetattr(fd, &old)) {
        quiet = old;
        quiet.c_lflag &= ~(tcflag_t)ECHO;
        restore = !tcsetattr(fd, TCSAFLUSH, &quiet);
    }
    while (n + 1 < sizeof(buf)) {
        char c;
        ssize_t r = read(fd, &c, 1);

        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0 || c == '\n')
            break;
        buf[n++] = c;
    }
    buf[n] = '\0';
    if (restore)
        tcsetattr(fd, TCSAFLUSH, &old);
    if (write(fd, "\n", 1) < 0)
        n = 0;
    {
        char *s = n ? xstrdup(buf) : NULL;

        rkc_wipe(buf, sizeof(buf));
        return s;
    }
}

static char *ask_passphrase(void *ctx, bool confirm)
{
    int fd = open("/dev/tty", O_RDWR | O_CLOEXEC);
    char *a, *b;

    (void)ctx;
    if (fd < 0)
        return NULL;
    a = read_tty_line(fd, "Snapshot key bundle passphrase: ");
    if (a && confirm) {
        b = read_tty_line(fd, "Repeat the passphrase: ");
        if (!b || strcmp(a, b)) {
            log_error("the passphrases do not match");
            rkc_wipe(a, strlen(a));
            free(a);
            a = NULL;
        }
        if (b) {
            rkc_wipe(b, strlen(b));
            free(b);
        }
    }
    close(fd);
    return a;
}

static void snapshot_options_init(struct snapshot_options *so, const struct up_options *uo)
{
    const char *kdf = getenv("RKC_SNAPSHOT_KDF");

    memset(so, 0, sizeof(*so));
    so->up = uo;
    so->passphrase = getenv("RKC_SNAPSHOT_PASSPHRASE");
    so->ask_passphrase = ask_passphrase;
    so->cost = kdf && !strcmp(kdf, "interactive") ? SEAL_COST_INTERACTIVE : SEAL_COST_MODERATE;
}

static void up_options_init(struct up_options *uo, struct cli_progress *ui, const char *apiserver)
{
    memset(uo, 0, sizeof(*uo));
    uo->apiserver_bin = apiserver;
    uo->progress = cli_on_progress;
    uo->progress_ctx = ui;
    uo->notify = cli_on_notify;
    uo->notify_ctx = ui;
}

static int run_save(int argc, char **argv)
{
    static const struct option opts[] = { { "name", required_argument, NULL, 'n' },
                                          { "include-keys", no_argument, NULL, 'k' },
                                          { NULL, 0, NULL, 0 } };
    extern const struct cmd cmd_etcd_snapshot_save;
    struct cluster_config *cfg = NULL;
    struct rkc_state *st = NULL;
    struct cli_progress ui = { isatty(STDERR_FILENO) != 0, 0, false };
    struct up_options uo;
    struct snapshot_options so;
    struct rkc_error err;
    const char *name = NULL;
    char *saved = NULL;
    bool keys = false;
    int c, rc = CLI_OK;

    optind = 1;
    opterr = 0;
    while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        if (c == 'n')
            name = optarg;
        else if (c == 'k')
            keys = true;
        else
            return cli_usage_error(&cmd_etcd_snapshot_save, "unknown option '%s'",
                                   argv[optind - 1]);
    }
    if (optind < argc)
        return cli_usage_error(&cmd_etcd_snapshot_save, "unexpected argument '%s'", argv[optind]);
    rkc_error_init(&err);
    if (cli_load_cluster(&cfg, &st, false, &err))
        return cli_fail(&err);
    up_options_init(&uo, &ui, NULL);
    snapshot_options_init(&so, &uo);
    so.include_keys = keys;
    if (snapshot_save(cfg, st, &so, name, &saved, &err)) {
        rkc_error_prefix(&err, "etcd snapshot-save: ");
        rc = cli_fail(&err);
    } else {
        log_info("Finished saving snapshot [%s] on all etcd hosts", saved);
        printf("%s\n", saved);
    }
    free(saved);
    state_close(st);
    config_free(cfg);
    return rc;
}

static int run_restore(int argc, char **argv)
{
    static const struct option opts[] = { { "name", required_argument, NULL, 'n' },
                                          { "use-local-state", no_argument, NULL, 'l' },
                                          { "force", no_argument, NULL, 'f' },
                                          { "ssh-agent-auth", no_argument, NULL, 'a' },
                                          { "ignore-docker-version", no_argument, NULL, 'i' },
                                          { NULL, 0, NULL, 0 } };
    extern const struct cmd cmd_etcd_snapshot_restore;
    struct cluster_config *cfg = NULL;
    struct rkc_state *st = NULL;
    struct cli_progress ui = { isatty(STDERR_FILENO) != 0, 0, false };
    struct up_options uo;
    struct snapshot_options so;
    struct rkc_error err;
    const char *name = NULL;
    char *apiserver;
    bool force = false;
    int c, rc = CLI_OK;

    optind = 1;
    opterr = 0;
    while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        if (c == 'n')
            name = optarg;
        else if (c == 'f')
            force = true;
        else if (c != 'l' && c != 'a' && c != 'i')
            return cli_usage_error(&cmd_etcd_snapshot_restore, "unknown option '%s'",
                                   argv[optind - 1]);
    }
    if (optind < argc)
        return cli_usage_error(&cmd_etcd_snapshot_restore, "unexpected argument '%s'",
                               argv[optind]);
    if (!name)
        return cli_usage_error(&cmd_etcd_snapshot_restore, "--name is required");
    rkc_error_init(&err);
    apiserver = cli_apiserver_path(&err);
    if (!apiserver)
        return cli_fail(&err);
    if (cli_load_cluster(&cfg, &st, false, &err)) {
        free(apiserver);
        return cli_fail(&err);
    }
    log_info("Restoring etcd snapshot %s", name);
    up_options_init(&uo, &ui, apiserver);
    snapshot_options_init(&so, &uo);
    so.force = force;
    if (snapshot_restore(cfg, st, &so, name, &err)) {
        rkc_error_prefix(&err, "etcd snapshot-restore: ");
        rc = cli_fail(&err);
        if (state_operation(st))
            log_error("The restore is recorded in %s and resumes where it stopped when you run "
                      "'rkc etcd snapshot-restore --name %s' (or 'rkc up') again",
                      state_path(st), name);
    } else {
        log_info("Finished restoring snapshot [%s] on all etcd hosts", name);
    }
    state_close(st);
    config_free(cfg);
    free(apiserver);
    return rc;
}

static int run_ls(int argc, char **argv)
{
    static const struct option opts[] = { { "output", required_argument, NULL, 'o' },
                                          { NULL, 0, NULL, 0 } };
    extern const struct cmd cmd_etcd_snapshot_ls;
    struct cluster_config *cfg = NULL;
    struct rkc_state *st = NULL;
    struct rkc_error err;
    struct jval *list = NULL;
    bool json = false;
    int c;
    size_t i, j;

    optind = 1;
    opterr = 0;
    while ((c = getopt_long(argc, argv, "o:", opts, NULL)) != -1) {
        if (c == 'o' && (!strcmp(optarg, "json") || !strcmp(optarg, "text")))
            json = !strcmp(optarg, "json");
        else if (c == 'o')
            return cli_usage_error(&cmd_etcd_snapshot_ls, "-o takes json or text, not '%s'",
                                   optarg);
        else
            return cli_usage_error(&cmd_etcd_snapshot_ls, "unknown option '%s'", argv[optind - 1]);
    }
    if (optind < argc)
        return cli_usage_error(&cmd_etcd_snapshot_ls, "unexpected argument '%s'", argv[optind]);
    rkc_error_init(&err);
    if (cli_load_cluster(&cfg, &st, true, &err))
        return cli_fail(&err);
    if (snapshot_list(cfg, st, &list, &err)) {
        state_close(st);
        config_free(cfg);
        return cli_fail(&err);
    }
    if (json) {
        struct strbuf out = STRBUF_INIT;

        jval_dump(list, JVAL_PRETTY, &out);
        fputs(out.buf, stdout);
        strbuf_release(&out);
    } else {
        printf("%-36s %-20s %10s  %-18s %s\n", "NAME", "CREATED", "SIZE", "RESTORABLE",
               "KEYS NEEDED");
        for (i = 0; i < jval_array_size(list); i++) {
            const struct jval *s = jval_array_get(list, i), *keys = jval_get(s, "keysNeeded");
            struct strbuf k = STRBUF_INIT;

            for (j = 0; j < jval_array_size(keys); j++) {
                const struct jval *key = jval_array_get(keys, j);

                strbuf_addf(&k, "%s%s:%s%s", j ? ", " : "", jval_get_str(key, "provider", "?"),
                            jval_get_str(key, "name", "?"),
                            jval_get_bool(key, "available", false) ? "" : " (missing)");
            }
            printf("%-36s %-20s %10lld  %-18s %s\n", jval_get_str(s, "name", "?"),
                   jval_get_str(s, "createdAt", "?"), (long long)jval_get_int(s, "size", -1),
                   jval_get_str(s, "restorable", "?"), k.len ? k.buf : "none (plaintext)");
            strbuf_release(&k);
        }
    }
    jval_decref(list);
    state_close(st);
    config_free(cfg);
    return CLI_OK;
}

const struct cmd cmd_etcd_snapshot_save = {
    "snapshot-save",
    run_save,
    "rkc etcd snapshot-save [--name NAME] [--include-keys]",
    "Take an etcd snapshot with a manifest of the keys it needs",
    NULL,
    "OPTIONS:\n"
    "   --name value     snapshot name (default: <cluster_name>-<UTC YYYYMMDDTHHMMSSZ>)\n"
    "   --include-keys   also write snapshots/NAME.keys.sealed: the keys the snapshot needs,\n"
    "                    sealed with a passphrase ($RKC_SNAPSHOT_PASSPHRASE, else asked on the\n"
    "                    terminal; Argon2id + XChaCha20-Poly1305). RKC_SNAPSHOT_KDF=interactive\n"
    "                    selects cheaper key derivation limits (tests)\n"
    "\n"
    "The snapshot is kept on the etcd node under <prefix>/opt/rke/etcd-snapshots/NAME.db and\n"
    "copied beside cluster.yml in snapshots/ with NAME.manifest.json (no key material).\n",
};

const struct cmd cmd_etcd_snapshot_restore = {
    "snapshot-restore",
    run_restore,
    "rkc etcd snapshot-restore --name NAME [--use-local-state] [--force]",
    "Restore an etcd snapshot and re-encrypt it with the current key",
    NULL,
    "OPTIONS:\n"
    "   --name value        the snapshot (snapshots/NAME.db and NAME.manifest.json)\n"
    "   --use-local-state   accepted for RKE compatibility: rkc always uses the local\n"
    "                       cluster.rkestate (a snapshot carries no state)\n"
    "   --force             restore a snapshot taken of another cluster\n"
    "\n"
    "Before anything is touched: the checksum is verified, the snapshot is restored into a\n"
    "temporary etcd and scanned for the keys its data needs, and each must be in the current\n"
    "configuration, the retired-keys archive or the sealed bundle (passphrase). Then the API\n"
    "servers stop, etcd is restored on every etcd node, the API servers start with a\n"
    "configuration that reads every needed key, and every object is rewritten with the\n"
    "current key (or decrypted when encryption is disabled). The state before the restore is\n"
    "kept as cluster.rkestate.pre-restore-<time>. Interrupted? Run the same command again.\n",
};

const struct cmd cmd_etcd_snapshot_ls = {
    "snapshot-ls",
    run_ls,
    "rkc etcd snapshot-ls [-o json|text]",
    "List snapshots, the keys each needs and whether it is restorable now",
    NULL,
    NULL,
};

static const struct cmd *const etcd_sub[] = { &cmd_etcd_snapshot_ls, &cmd_etcd_snapshot_restore,
                                              &cmd_etcd_snapshot_save, NULL };

const struct cmd cmd_etcd = {
    "etcd", NULL, "rkc etcd COMMAND", "etcd snapshot operations", etcd_sub, NULL,
};
