/* SPDX-License-Identifier: Apache-2.0 */
/*
 * kproto: decodes the protobuf request bodies kubectl sends (`application/vnd.kubernetes.protobuf`)
 * for Secret, ConfigMap and Namespace into their JSON form, so the rest of the server handles
 * one representation. The envelope is the 4 magic bytes "k8s\0" and a runtime.Unknown message
 * (1: TypeMeta{1 apiVersion, 2 kind}, 2: raw object, 3: contentEncoding, 4: contentType).
 * Only the fields these three kinds carry from a client are decoded; unknown fields are
 * skipped as protobuf requires. Hand-written (see docs/internals/apiserver.md for why).
 *
 * Thread-safety: reentrant.
 */
#ifndef RKC_APISERVER_KPROTO_H
#define RKC_APISERVER_KPROTO_H

#include <stddef.h>

#include "adapters/jval.h"
#include "util/error.h"

/*
 * Decodes buf[0..len). Returns: new JSON object in *ret with kind, apiVersion, metadata and the
 * kind's fields (Secret data as base64 strings, as in JSON).
 * Errors: RKC_EINVAL with a message naming what is malformed (bad magic, truncated field,
 * invalid UTF-8 in a string, a kind other than Secret/ConfigMap/Namespace).
 */
enum rkc_err kproto_decode(const void *buf, size_t len, struct jval **ret, struct rkc_error *err);

#endif
