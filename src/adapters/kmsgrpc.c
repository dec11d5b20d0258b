/* SPDX-License-Identifier: Apache-2.0 */
/*
 * kmsgrpc: gRPC status names and the KMS v2 annotation conversion shared by kmsclient and
 * kmsserver.
 */
#include "adapters/kmsgrpc.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "kms_v2.pb-c.h"

#include "util/xalloc.h"

#include "util/banned.h"

const char *kmsgrpc_code_name(int code)
{
    static const char *const names[] = {
        "OK",
        "Canceled",
        "Unknown",
        "InvalidArgument",
        "DeadlineExceeded",
        "NotFound",
        "AlreadyExists",
        "PermissionDenied",
        "ResourceExhausted",
        "FailedPrecondition",
        "Aborted",
        "OutOfRange",
        "Unimplemented",
        "Internal",
        "Unavailable",
        "DataLoss",
        "Unauthenticated",
    };

    if (code < 0 || (size_t)code >= sizeof(names) / sizeof(names[0]))
        return "Unknown";
    return names[code];
}

/* Reads a varint at *p (< end). Returns false on truncation or overflow. */
static bool get_varint(const uint8_t **p, const uint8_t *end, uint64_t *ret)
{
    uint64_t v = 0;
    unsigned shift = 0;

    while (*p < end && shift < 64) {
        uint8_t b = *(*p)++;

        v |= (uint64_t)(b & 0x7f) << shift;
        if (!(b & 0x80)) {
            *ret = v;
            return true;
        }
        shift += 7;
    }
    return false;
}

/* Reads tag byte want and a length-delimited field into ret_b and ret_len. */
static bool get_field(const uint8_t **p, const uint8_t *end, uint8_t want, const uint8_t **ret_b,
                      size_t *ret_len)
{
    uint64_t n;

    if (*p >= end || **p != want)
        return false;
    (*p)++;
    if (!get_varint(p, end, &n) || n > (uint64_t)(end - *p))
        return false;
    *ret_b = *p;
    *ret_len = (size_t)n;
    *p += n;
    return true;
}

enum rkc_err kmsgrpc_annotations_parse(const uint8_t *buf, size_t len,
                                       struct kmsgrpc_annotations *ret, struct rkc_error *err)
{
    const uint8_t *p = buf, *end = buf + len;
    size_t alloc = 0;

    memset(ret, 0, sizeof(*ret));
    while (p < end) {
        const uint8_t *entry, *k, *v = NULL, *q, *qend;
        size_t entry_len, klen, vlen = 0;
        V2__DecryptRequest__AnnotationsEntry *e;

        if (!get_field(&p, end, 0x22, &entry, &entry_len))
            goto bad;
        q = entry;
        qend = entry + entry_len;
        if (!get_field(&q, qend, 0x0a, &k, &klen))
            goto bad;
        if (q < qend && !get_field(&q, qend, 0x12, &v, &vlen))
            goto bad;
        if (q != qend)
            goto bad;
        e = xcalloc(1, sizeof(*e));
        v2__decrypt_request__annotations_entry__init(e);
        e->key = xstrndup((const char *)k, klen);
        e->value.data = (uint8_t *)(uintptr_t)v;
        e->value.len = vlen;
        ALLOC_GROW(ret->entries, ret->n + 1, alloc);
        ret->entries[ret->n++] = e;
    }
    return RKC_OK;
bad:
    kmsgrpc_annotations_release(ret);
    return rkc_error_set(err, RKC_ECRYPTO, "malformed annotations");
}

void kmsgrpc_annotations_release(struct kmsgrpc_annotations *a)
{
    size_t i;

    for (i = 0; i < a->n; i++) {
        V2__DecryptRequest__AnnotationsEntry *e = a->entries[i];

        free(e->key);
        free(e);
    }
    free(a->entries);
    memset(a, 0, sizeof(*a));
}
