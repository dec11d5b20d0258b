/* SPDX-License-Identifier: Apache-2.0 */
/* log: RKE-shaped leveled logging to stderr. */
#include "util/log.h"

#include <stdarg.h>
#include <stdio.h>
#include <time.h>
#include <unistd.h>

#include "util/banned.h"

static enum log_level log_level = LOG_INFO;
static struct timespec log_start;
static int log_started;

void log_set_level(enum log_level level)
{
    log_level = level;
}

enum log_level log_get_level(void)
{
    return log_level;
}

bool log_enabled(enum log_level level)
{
    return level >= log_level;
}

static const char *level_name(enum log_level level)
{
    switch (level) {
    case LOG_DEBUG:
        return "DEBU";
    case LOG_INFO:
        return "INFO";
    case LOG_WARN:
        return "WARN";
    case LOG_ERROR:
        return "ERRO";
    case LOG_SILENT:
        break;
    }
    return "????";
}

void log_msg(enum log_level level, const char *fmt, ...)
{
    char line[2048];
    struct timespec now;
    va_list ap;
    int n, m;

    if (!__atomic_load_n(&log_started, __ATOMIC_ACQUIRE)) {
        clock_gettime(CLOCK_MONOTONIC, &log_start);
        __atomic_store_n(&log_started, 1, __ATOMIC_RELEASE);
    }
    if (level < log_level)
        return;
    clock_gettime(CLOCK_MONOTONIC, &now);
    n = snprintf(line, sizeof(line), "%s[%04ld] ", level_name(level),
                 (long)(now.tv_sec - log_start.tv_sec));
    va_start(ap, fmt);
    m = vsnprintf(line + n, sizeof(line) - (size_t)n - 1, fmt, ap);
    va_end(ap);
    if (m < 0)
        return;
    n += m;
    if ((size_t)n > sizeof(line) - 2)
        n = (int)sizeof(line) - 2;
    line[n++] = '\n';
    if (write(STDERR_FILENO, line, (size_t)n) < 0)
        return;
}

__attribute__((constructor)) static void log_init_clock(void)
{
    clock_gettime(CLOCK_MONOTONIC, &log_start);
    log_started = 1;
}
