/* SPDX-License-Identifier: Apache-2.0 */
/*
 * kmsgrpc: small pieces shared by the KMS plugin client (kmsclient) and server (kmsserver):
 * gRPC status code names as Go prints them, and the conversion of KMS v2 annotations between
 * transformer.h's pre-encoded form (EncryptedObject field-4 entries) and protobuf-c map
 * entries. Internal to src/adapters/.
 */
#ifndef RKC_ADAPTERS_KMSGRPC_H
#define RKC_ADAPTERS_KMSGRPC_H

#include <stddef.h>
#include <stdint.h>

#include "util/error.h"

/* Returns: borrowed, static: "OK", "Unavailable", "DeadlineExceeded", ... ("Code(N)"-less:
 * unknown codes give "Unknown"). */
const char *kmsgrpc_code_name(int code);

/* Annotations as protobuf-c V2__DecryptRequest__AnnotationsEntry pointers (void * here so
 * this header needs no generated code). */
struct kmsgrpc_annotations {
    void **entries;
    size_t n;
};

/*
 * Parses buf[0..len) (repeated `0x22 <len> { 0x0a <len> key 0x12 <len> value }`) into *ret,
 * whose entries borrow buf's bytes for values and own copies of the keys.
 * Errors: RKC_ECRYPTO "malformed annotations".
 */
enum rkc_err kmsgrpc_annotations_parse(const uint8_t *buf, size_t len,
                                       struct kmsgrpc_annotations *ret, struct rkc_error *err);
void kmsgrpc_annotations_release(struct kmsgrpc_annotations *a);

#endif
