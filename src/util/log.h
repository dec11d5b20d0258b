/* SPDX-License-Identifier: Apache-2.0 */
/*
 * log: leveled logging to stderr in RKE's familiar shape:
 *     INFO[0003] [encryption] Rewriting secrets
 * The number is whole seconds since the process started. Thread-safe (one line is written
 * with a single write(2)). Never log key material or secret values.
 */
#ifndef RKC_UTIL_LOG_H
#define RKC_UTIL_LOG_H

#include <stdbool.h>

enum log_level {
    LOG_DEBUG = 0,
    LOG_INFO = 1,
    LOG_WARN = 2,
    LOG_ERROR = 3,
    LOG_SILENT = 4,
};

/* The one global besides parsed arguments: the minimum level printed. */
void log_set_level(enum log_level level);
enum log_level log_get_level(void);
bool log_enabled(enum log_level level);

void log_msg(enum log_level level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#define log_debug(...) log_msg(LOG_DEBUG, __VA_ARGS__)
#define log_info(...)  log_msg(LOG_INFO, __VA_ARGS__)
#define log_warn(...)  log_msg(LOG_WARN, __VA_ARGS__)
#define log_error(...) log_msg(LOG_ERROR, __VA_ARGS__)

#endif
