/* SPDX-License-Identifier: Apache-2.0 */
/* failpoint: environment-armed crash points. */
#include "util/failpoint.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "util/banned.h"

bool rkc_failpoint_armed(const char *name)
{
    const char *list = getenv("RKC_FAILPOINT");
    size_t n = strlen(name);

    while (list && *list) {
        const char *end = strchr(list, ',');
        size_t len = end ? (size_t)(end - list) : strlen(list);

        if (len == n && !strncmp(list, name, n))
            return true;
        list = end ? end + 1 : NULL;
    }
    return false;
}

/* RKC_PAUSEPOINT=NAME:SECONDS makes rkc_failpoint(NAME) sleep instead (lock tests). */
static void maybe_pause(const char *name)
{
    const char *p = getenv("RKC_PAUSEPOINT");
    size_t n = strlen(name);

    if (p && !strncmp(p, name, n) && p[n] == ':') {
        unsigned secs = (unsigned)strtoul(p + n + 1, NULL, 10);

        while (secs)
            secs = sleep(secs);
    }
}

void rkc_failpoint(const char *name)
{
    char msg[256];
    int n;

    maybe_pause(name);
    if (!rkc_failpoint_armed(name))
        return;
    n = snprintf(msg, sizeof(msg), "FATA[0000] failpoint '%s' hit, exiting\n", name);
    if (n > 0 && write(STDERR_FILENO, msg, (size_t)n) < 0)
        _exit(RKC_FAILPOINT_EXIT);
    _exit(RKC_FAILPOINT_EXIT);
}
