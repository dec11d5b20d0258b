/* SPDX-License-Identifier: Apache-2.0 */
/*
 * rkc: global options, the command table and dispatch. Only this file and the cmd_*.c
 * handlers print for the user; everything below reports through struct rkc_error.
 */
#include "cli/cli.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/log.h"

#include "util/banned.h"

struct cli_globals arg_globals;

/* Only commands that work are listed here. */
static const struct cmd *const top_commands[] = { &cmd_config, &cmd_encrypt, &cmd_etcd, &cmd_remove,
                                                  &cmd_up,     &cmd_version, NULL };

static const struct cmd rkc_root = {
    "rkc",
    NULL,
    "rkc [--config FILE] [--debug] [--quiet] COMMAND [ARGS...]",
    "Kubernetes control plane with managed encryption at rest for Secrets",
    top_commands,
    "Global options (accepted before or after COMMAND):\n"
    "  --config FILE   cluster file (default: cluster.yml; env RKE_CONFIG, then RKC_CONFIG)\n"
    "  --debug         debug logging\n"
    "  --quiet         errors only\n"
    "  -h, --help      help for rkc or for COMMAND\n",
};

static const struct cmd *resolve(const struct cmd *const *table, const char *name)
{
    size_t i;

    for (i = 0; table && table[i]; i++) {
        if (!strcmp(table[i]->name, name))
            return table[i];
    }
    return NULL;
}

static void print_listing(const struct cmd *const *table)
{
    size_t i;

    printf("\nCommands:\n");
    for (i = 0; table[i]; i++)
        printf("  %-18s %s\n", table[i]->name, table[i]->summary);
}

void cli_print_help(const struct cmd *c, const char *path)
{
    printf("NAME:\n   %s - %s\n\nUSAGE:\n   %s\n", path, c->summary, c->usage);
    if (c->help)
        printf("\n%s", c->help);
    if (c->sub)
        print_listing(c->sub);
}

int cli_usage_error(const struct cmd *c, const char *fmt, ...)
{
    va_list ap;

    fputs("error: ", stderr);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fprintf(stderr, "\nusage: %s\n", c->usage);
    return CLI_USAGE;
}

int cli_fail(const struct rkc_error *err)
{
    log_error("%s", err->msg[0] ? err->msg : rkc_strerror(err->code));
    return CLI_FAIL;
}

bool cli_wants_help(int argc, char **argv)
{
    int i;

    for (i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--"))
            return false;
        if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help"))
            return true;
    }
    return false;
}

/* Pulls the global options out of argv wherever they stand; returns the new argc. */
static int take_globals(int argc, char **argv, const char **ret_bad)
{
    int i, out = 1;

    for (i = 1; i < argc; i++) {
        const char *a = argv[i];

        if (!strcmp(a, "--")) {
            while (i < argc)
                argv[out++] = argv[i++];
            break;
        }
        if (!strcmp(a, "--config")) {
            if (i + 1 >= argc) {
                *ret_bad = "option '--config' requires a file name";
                return -1;
            }
            arg_globals.config_path = argv[++i];
            arg_globals.config_explicit = true;
        } else if (!strncmp(a, "--config=", 9)) {
            arg_globals.config_path = a + 9;
            arg_globals.config_explicit = true;
        } else if (!strcmp(a, "--debug")) {
            arg_globals.debug = true;
        } else if (!strcmp(a, "--quiet")) {
            arg_globals.quiet = true;
        } else {
            argv[out++] = argv[i];
        }
    }
    argv[out] = NULL;
    return out;
}

int main(int argc, char **argv)
{
    const struct cmd *c = &rkc_root;
    char path[256] = "rkc";
    const char *bad = NULL;
    const char *env;
    int first = 1;

    arg_globals.config_path = "cluster.yml";
    env = getenv("RKE_CONFIG");
    if (!env || !*env)
        env = getenv("RKC_CONFIG");
    if (env && *env) {
        arg_globals.config_path = env;
        arg_globals.config_explicit = true;
    }
    argc = take_globals(argc, argv, &bad);
    if (argc < 0)
        return cli_usage_error(&rkc_root, "%s", bad);
    if (arg_globals.debug)
        log_set_level(LOG_DEBUG);
    else if (arg_globals.quiet)
        log_set_level(LOG_ERROR);

    /* Walk down the table: rkc encrypt rotate-key ... */
    while (c->sub) {
        const struct cmd *next;

        if (first >= argc || argv[first][0] == '-') {
            if (first < argc && (!strcmp(argv[first], "-h") || !strcmp(argv[first], "--help"))) {
                cli_print_help(c, path);
                return CLI_OK;
            }
            if (first < argc && !strcmp(argv[first], "--version") && c == &rkc_root) {
                printf("rkc version v%s\n", RKC_VERSION);
                return CLI_OK;
            }
            if (c->fn)
                break;
            if (first >= argc) {
                cli_print_help(c, path);
                return CLI_USAGE;
            }
            return cli_usage_error(c, "unknown option '%s'", argv[first]);
        }
        if (!strcmp(argv[first], "help")) {
            const struct cmd *h = first + 1 < argc ? resolve(c->sub, argv[first + 1]) : NULL;

            if (h)
                snprintf(path + strlen(path), sizeof(path) - strlen(path), " %s", h->name);
            cli_print_help(h ? h : c, path);
            return CLI_OK;
        }
        next = resolve(c->sub, argv[first]);
        if (!next) {
            if (c->fn)
                break;
            return cli_usage_error(c, "unknown command '%s' (see '%s --help')", argv[first], path);
        }
        snprintf(path + strlen(path), sizeof(path) - strlen(path), " %s", next->name);
        c = next;
        first++;
    }
    if (cli_wants_help(argc - first + 1, argv + first - 1)) {
        cli_print_help(c, path);
        return CLI_OK;
    }
    return c->fn(argc - first + 1, argv + first - 1);
}
