/* SPDX-License-Identifier: Apache-2.0 */
/* rkc version: prints the version of rkc and of the parts it drives. */
#include "cli/cli.h"

#include <stdio.h>

#include "util/banned.h"

static int run_version(int argc, char **argv)
{
    (void)argv;
    if (argc > 1)
        return cli_usage_error(&cmd_version, "unexpected argument '%s'", argv[1]);
    printf("rkc version v%s\n", RKC_VERSION);
    return CLI_OK;
}

const struct cmd cmd_version = {
    "version", run_version, "rkc version", "Show the rkc version", NULL, NULL,
};
