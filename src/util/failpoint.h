/* SPDX-License-Identifier: Apache-2.0 */
/*
 * failpoint: named crash points for crash-safety tests. When the environment variable
 * RKC_FAILPOINT holds NAME (or a comma-separated list containing it), rkc_failpoint(NAME)
 * logs the hit and ends the process at once with _exit(RKC_FAILPOINT_EXIT), like a kill -9
 * would: no atexit handlers, no buffered output flushed.
 * RKC_PAUSEPOINT=NAME:SECONDS makes the same point sleep instead, so tests can act while a
 * run is at a known step (e.g. try a second rkc while the first holds the state lock).
 */
#ifndef RKC_UTIL_FAILPOINT_H
#define RKC_UTIL_FAILPOINT_H

#include <stdbool.h>

#define RKC_FAILPOINT_EXIT 86

/* Returns: true when NAME is armed (useful for tests); never returns when it fires. */
bool rkc_failpoint_armed(const char *name);
void rkc_failpoint(const char *name);

#endif
