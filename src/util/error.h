/* SPDX-License-Identifier: Apache-2.0 */
/*
 * error: a code plus a message. Fallible functions return enum rkc_err and take
 * `struct rkc_error *err` (may be NULL) as their last parameter; it is written only on
 * failure. Messages follow git: lowercase, no trailing period, what failed first.
 * Messages must never contain key material or secret values.
 */
#ifndef RKC_UTIL_ERROR_H
#define RKC_UTIL_ERROR_H

#include <stddef.h>

/* Codes are retired, never renumbered. */
enum rkc_err {
    RKC_OK = 0,
    RKC_EINVAL = 1,
    RKC_ECONFIG = 2,
    RKC_EIO = 3,
    RKC_ESSH = 4,
    RKC_EHTTP = 5,
    RKC_ETLS = 6,
    RKC_ECRYPTO = 7,
    RKC_ETIMEOUT = 8,
    RKC_ENOTFOUND = 9,
    RKC_ELIMIT = 10,
    RKC_EINTERNAL = 11,
    RKC_EBUSY = 12,
};

#define RKC_ERROR_MAX 4096

struct rkc_error {
    enum rkc_err code;
    char msg[RKC_ERROR_MAX];
};

/* Returns: borrowed, static sentence for a code. */
const char *rkc_strerror(enum rkc_err code);

/* Sets err (if not NULL) to code and the formatted message. Returns code. */
enum rkc_err rkc_error_set(struct rkc_error *err, enum rkc_err code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Prepends formatted context to err's message (no-op on NULL err). */
void rkc_error_prefix(struct rkc_error *err, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* Resets err to RKC_OK with an empty message. */
void rkc_error_init(struct rkc_error *err);

/* Bugs only: print file:line and abort(). Always on. */
#define RKC_BUG(...) rkc_bug(__FILE__, __LINE__, __VA_ARGS__)
#define RKC_ASSERT(cond)                                                                           \
    do {                                                                                           \
        if (!(cond))                                                                               \
            rkc_bug(__FILE__, __LINE__, "assertion failed: %s", #cond);                            \
    } while (0)

_Noreturn void rkc_bug(const char *file, int line, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

#endif
