/* SPDX-License-Identifier: Apache-2.0 */
/*
 * verify: proves from etcd itself which provider and key wrote every stored value of a
 * resource (DESIGN.md §4 step 4). Every key under `<prefix>/<resource>/` is read (paginated
 * by key, at one store revision) and its value is read with the expected configuration's
 * transformer chain; each value is classified by the provider/key that read it, plaintext
 * (no "k8s:enc:" prefix), unreadable (no provider of the chain can read it), and "not on the
 * writer" (read, but not by provider 0 with its key 0, or stale). A resource is on the writer
 * when every value is read by the writer and none is stale.
 *
 * Used after a rewrite, and by `rkc encrypt verify` / `rkc encrypt status --scan`.
 * Values and plaintexts are wiped after use; the report holds key names only.
 */
#ifndef RKC_CORE_VERIFY_H
#define RKC_CORE_VERIFY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "crypto/transformer.h"
#include "util/error.h"

struct etcd_client;

#define VERIFY_MAX_NAMED 100 /* keys named per list; the counts go on */
#define VERIFY_PAGE_SIZE 500 /* keys per etcd range request */

/* Values read by one provider/key of the chain. */
struct verify_count {
    enum xf_kind kind;
    char key_name[XF_NAME_MAX + 1]; /* "" for identity */
    size_t provider_index, key_index;
    size_t count;
    bool writer; /* provider 0, key 0 */
};

/* A named etcd key with why it is listed ("no matching prefix found", "read by aescbc k1"). */
struct verify_named {
    char *key;
    char *reason;
};

struct verify_named_list {
    struct verify_named *v;
    size_t nr, alloc;
};

struct verify_report {
    char *key_prefix;            /* "/registry/secrets/" */
    char *writer;                /* "aescbc key k2", "identity", "kms name p1" */
    int64_t revision;            /* the store revision the scan read */
    size_t total;                /* values scanned */
    struct verify_count *counts; /* in chain order */
    size_t ncounts, counts_alloc;
    size_t plaintext;     /* values without the "k8s:enc:" prefix */
    size_t unreadable;    /* values no provider could read */
    size_t not_on_writer; /* read, but not by the writer, or stale (unreadable not included) */
    size_t stale;         /* read with stale set */
    struct verify_named_list unreadable_keys;    /* the first VERIFY_MAX_NAMED */
    struct verify_named_list not_on_writer_keys; /* the first VERIFY_MAX_NAMED */
    bool ok;                                     /* unreadable == 0 && not_on_writer == 0 */
};

void verify_report_init(struct verify_report *r);
/* Frees the contents and re-initialises. NULL-safe. */
void verify_report_release(struct verify_report *r);

/*
 * Scans every key under `<prefix>/<resource>/` (prefix normalised as kube-apiserver's
 * --etcd-prefix: a leading '/', no trailing '/'; resource without its group: "secrets",
 * "deployments" for "deployments.apps"), reading with chain, VERIFY_PAGE_SIZE keys per etcd
 * range request. report (initialised by the caller) is filled in.
 * Returns: RKC_OK when the scan completed (report.ok tells the verdict); etcd errors as they
 * come; RKC_EINVAL for an empty resource or a chain without providers.
 * Thread-safety: chain may be shared; the etcd client is thread-safe.
 */
enum rkc_err verify_resource(struct etcd_client *etcd, const char *prefix, const char *resource,
                             const struct xf_chain *chain, struct verify_report *report,
                             struct rkc_error *err);

/* Appends the etcd key prefix for resource: "/registry" + "secrets" -> "/registry/secrets/". */
void verify_key_prefix(const char *prefix, const char *resource, struct strbuf *out);

/* Records one value read (or not) into report: used by verify_resource, exposed for tests. */
void verify_classify(struct verify_report *report, const struct xf_chain *chain, const char *key,
                     const uint8_t *value, size_t len);

/* Finishes the verdict (report->ok) after classification. */
void verify_finish(struct verify_report *report);

#endif
