/* SPDX-License-Identifier: Apache-2.0 */
/*
 * kpatch: the PATCH body formats kube-apiserver accepts, applied to JSON objects.
 * - JSON merge patch (RFC 7386, application/merge-patch+json);
 * - strategic merge patch (application/strategic-merge-patch+json): for Secret, ConfigMap and
 *   Namespace every field is a map or a scalar list without merge keys, so it has merge-patch
 *   semantics; a "$patch": "delete"/"replace" directive in a map is honoured, other directives
 *   are dropped;
 * - JSON patch (RFC 6902, application/json-patch+json): add, remove, replace, move, copy, test.
 *
 * Thread-safety: reentrant. Inputs are not modified.
 */
#ifndef RKC_APISERVER_KPATCH_H
#define RKC_APISERVER_KPATCH_H

#include <stdbool.h>

#include "adapters/jval.h"
#include "util/error.h"

/* Returns: new, target with patch merged in (RFC 7386; strategic adds $patch handling). */
struct jval *kpatch_merge(const struct jval *target, const struct jval *patch, bool strategic);

/*
 * Applies an RFC 6902 operation list. Returns: new result in *ret.
 * Errors: RKC_EINVAL naming the failing operation (bad pointer, missing path, failed test).
 */
enum rkc_err kpatch_json(const struct jval *target, const struct jval *ops, struct jval **ret,
                         struct rkc_error *err);

#endif
