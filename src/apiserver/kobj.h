/* SPDX-License-Identifier: Apache-2.0 */
/*
 * kobj: the pure rules of Kubernetes API objects that rkc-apiserver applies, kept free of I/O
 * so they can be unit tested: name and key validation (DNS-1123), label and field selectors,
 * list continue tokens, uids and timestamps.
 *
 * Thread-safety: all functions are reentrant; a parsed selector may be shared read-only.
 */
#ifndef RKC_APISERVER_KOBJ_H
#define RKC_APISERVER_KOBJ_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "adapters/jval.h"
#include "util/error.h"
#include "util/strbuf.h"

/* Messages kube-apiserver gives for invalid names and keys (without "Invalid value: ..."). */
#define KOBJ_MSG_SUBDOMAIN                                                                         \
    "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or "   \
    "'.', and must start and end with an alphanumeric character (e.g. 'example.com', regex used "  \
    "for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')"
#define KOBJ_MSG_LABEL                                                                             \
    "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and "   \
    "must start and end with an alphanumeric character (e.g. 'my-name',  or '123-abc', regex "     \
    "used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?')"
#define KOBJ_MSG_CONFIG_KEY                                                                        \
    "a valid config key must consist of alphanumeric characters, '-', '_' or '.' (e.g. "           \
    "'key.name',  or 'KEY_NAME',  or 'key-name', regex used for validation is '[-._a-zA-Z0-9]+')"

/* RFC 1123 subdomain: at most 253 bytes of [a-z0-9.-], labels start and end alphanumeric. */
bool kobj_is_dns1123_subdomain(const char *s);
/* RFC 1123 label: at most 63 bytes of [a-z0-9-], starts and ends alphanumeric. */
bool kobj_is_dns1123_label(const char *s);
/* ConfigMap/Secret key: [-._a-zA-Z0-9]+, at most 253 bytes, not "." or "..". */
bool kobj_is_config_key(const char *s);

/* ---- selectors ---- */

struct kobj_selector;

/*
 * Parses a label selector ("a=b,c!=d,e in (x,y),f notin (z),g,!h"; "==" means "=").
 * An empty string selects everything. Errors: RKC_EINVAL naming the problem.
 * Returns: new selector (free with kobj_selector_free).
 */
enum rkc_err kobj_label_selector_parse(const char *s, struct kobj_selector **ret,
                                       struct rkc_error *err);
/* True when the labels object (may be NULL: no labels) satisfies every requirement. */
bool kobj_label_selector_match(const struct kobj_selector *sel, const struct jval *labels);

/*
 * Parses a field selector of "field=value", "field==value", "field!=value" terms. Supported
 * fields: metadata.name, metadata.namespace, and for secrets `type`. Errors: RKC_EINVAL
 * ("field label not supported: X").
 */
enum rkc_err kobj_field_selector_parse(const char *s, bool secrets, struct kobj_selector **ret,
                                       struct rkc_error *err);
/* True when the object satisfies every term. */
bool kobj_field_selector_match(const struct kobj_selector *sel, const struct jval *obj);
void kobj_selector_free(struct kobj_selector *sel);

/* ---- continue tokens ---- */

/*
 * Appends the continue token for a list read at revision rv that resumes at start (the key
 * relative to the listed prefix, e.g. "default/s1\0"; start_len bytes): base64url (unpadded)
 * of {"v":"meta.k8s.io/v1","rv":rv,"start":start} as kube-apiserver writes it.
 */
void kobj_continue_encode(int64_t rv, const char *start, size_t start_len, struct strbuf *out);

/*
 * Decodes a continue token. Returns: *ret_rv and a new *ret_start (length *ret_start_len).
 * Errors: RKC_EINVAL "continue key is not valid: ..." for anything malformed (bad base64,
 * bad JSON, another version, a start key that escapes the prefix).
 */
enum rkc_err kobj_continue_decode(const char *tok, int64_t *ret_rv, char **ret_start,
                                  size_t *ret_start_len, struct rkc_error *err);

/* ---- identity and time ---- */

#define KOBJ_UID_SIZE  37 /* 36 + NUL */
#define KOBJ_TIME_SIZE 21 /* "2006-01-02T15:04:05Z" + NUL */

/* A random (version 4) UUID in lowercase text. */
void kobj_new_uid(char out[KOBJ_UID_SIZE]);
/* Now in RFC 3339 UTC to the second. */
void kobj_now(char out[KOBJ_TIME_SIZE]);
/* Appends n random characters from kube's generateName alphabet. */
void kobj_random_suffix(size_t n, struct strbuf *out);

#endif
