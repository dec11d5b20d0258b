/* SPDX-License-Identifier: Apache-2.0 */
/* error: error codes, their sentences, and message formatting. */
#include "util/error.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/banned.h"

const char *rkc_strerror(enum rkc_err code)
{
    switch (code) {
    case RKC_OK:
        return "success";
    case RKC_EINVAL:
        return "invalid argument";
    case RKC_ECONFIG:
        return "invalid configuration";
    case RKC_EIO:
        return "input/output error";
    case RKC_ESSH:
        return "ssh error";
    case RKC_EHTTP:
        return "http error";
    case RKC_ETLS:
        return "tls error";
    case RKC_ECRYPTO:
        return "cryptographic error";
    case RKC_ETIMEOUT:
        return "timed out";
    case RKC_ENOTFOUND:
        return "not found";
    case RKC_ELIMIT:
        return "size limit exceeded";
    case RKC_EINTERNAL:
        return "internal error";
    case RKC_EBUSY:
        return "resource busy";
    }
    return "unknown error";
}

void rkc_error_init(struct rkc_error *err)
{
    if (!err)
        return;
    err->code = RKC_OK;
    err->msg[0] = '\0';
}

enum rkc_err rkc_error_set(struct rkc_error *err, enum rkc_err code, const char *fmt, ...)
{
    char msg[RKC_ERROR_MAX];
    va_list ap;

    if (!err)
        return code;
    /* Format aside first: callers may pass err->msg itself as an argument. */
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    err->code = code;
    memcpy(err->msg, msg, sizeof(msg));
    return code;
}

void rkc_error_prefix(struct rkc_error *err, const char *fmt, ...)
{
    char pre[RKC_ERROR_MAX];
    char old[RKC_ERROR_MAX];
    size_t plen, olen;
    va_list ap;

    if (!err)
        return;
    /* Format aside first: callers may pass err->msg itself as an argument. */
    va_start(ap, fmt);
    vsnprintf(pre, sizeof(pre), fmt, ap);
    va_end(ap);
    memcpy(old, err->msg, sizeof(old));
    old[sizeof(old) - 1] = '\0';
    plen = strlen(pre);
    olen = strlen(old);
    if (olen > sizeof(err->msg) - 1 - plen)
        olen = sizeof(err->msg) - 1 - plen;
    memcpy(err->msg, pre, plen);
    memcpy(err->msg + plen, old, olen);
    err->msg[plen + olen] = '\0';
}

void rkc_bug(const char *file, int line, const char *fmt, ...)
{
    va_list ap;

    fprintf(stderr, "BUG: %s:%d: ", file, line);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    abort();
}
