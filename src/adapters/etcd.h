/* SPDX-License-Identifier: Apache-2.0 */
/*
 * etcd: an etcd v3 client over etcd's JSON gateway (`/v3/kv/range`, `/v3/kv/put`,
 * `/v3/kv/deleterange`, `/v3/kv/txn`, `/v3/watch`) with libcurl. This is the only module that
 * includes <curl/curl.h>; callers see keys and values as plain bytes (the base64 of the wire
 * stays inside). TLS client certificates come from files (kube-apiserver's --etcd-cafile,
 * --etcd-certfile, --etcd-keyfile).
 *
 * Thread-safety: a `struct etcd_client` is shared by all threads; it keeps a small pool of
 * keep-alive curl handles behind a mutex. Results belong to the caller.
 *
 * Errors: RKC_EHTTP (transport failure, curl's message kept; etcd error answers with etcd's
 * message), RKC_ETIMEOUT, RKC_ENOTFOUND (only where documented: a requested revision was
 * compacted), RKC_EINVAL (bad arguments). Messages never contain values.
 */
#ifndef RKC_ADAPTERS_ETCD_H
#define RKC_ADAPTERS_ETCD_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "util/error.h"

struct etcd_config {
    const char *servers;  /* comma-separated URLs: https://127.0.0.1:2379,... */
    const char *cafile;   /* may be NULL */
    const char *certfile; /* may be NULL */
    const char *keyfile;  /* may be NULL */
    long timeout_ms;      /* per request (not watches); 0: 10 s */
};

/* One key-value. value is wiped when released (it may be ciphertext or plaintext). */
struct etcd_kv {
    char *key;
    size_t key_len;
    char *value;
    size_t value_len;
    int64_t create_revision;
    int64_t mod_revision;
    int64_t version;
};

struct etcd_kvs {
    struct etcd_kv *v;
    size_t nr, alloc;
    int64_t revision; /* the store revision the answer was read at */
    bool more;        /* more keys in the range beyond the limit */
    int64_t count;    /* keys in the whole range */
};

enum etcd_event_type {
    ETCD_EVENT_PUT = 0,
    ETCD_EVENT_DELETE = 1,
};

struct etcd_event {
    enum etcd_event_type type;
    struct etcd_kv kv;      /* for DELETE: key and mod_revision only */
    struct etcd_kv prev_kv; /* key_len 0 when absent */
};

struct etcd_client;

/* Releases the contents (wiping values) and re-initialises. NULL-safe. */
void etcd_kv_release(struct etcd_kv *kv);
void etcd_kvs_release(struct etcd_kvs *kvs);

/*
 * Creates a client; nothing is connected yet. The config strings are copied.
 * Returns: new client in *ret (free with etcd_client_free); RKC_EINVAL on an empty server list.
 */
enum rkc_err etcd_client_new(const struct etcd_config *cfg, struct etcd_client **ret,
                             struct rkc_error *err);
void etcd_client_free(struct etcd_client *c);

/* GET /health on the first server that answers. RKC_OK when etcd reports itself healthy. */
enum rkc_err etcd_health(struct etcd_client *c, struct rkc_error *err);

/*
 * Range [key, end): end NULL means the single key; end "\0" (end_len 1) means "all keys >= key".
 * limit 0: no limit. revision 0: the newest. keys_only: values are left empty.
 * Returns: kvs appended to *ret (initialise it with zeros); RKC_ENOTFOUND when revision was
 * compacted.
 */
enum rkc_err etcd_range(struct etcd_client *c, const char *key, size_t key_len, const char *end,
                        size_t end_len, int64_t limit, int64_t revision, bool keys_only,
                        struct etcd_kvs *ret, struct rkc_error *err);

/* Reads one key. *ret_found false when absent (then *ret untouched). *ret_revision: store rev. */
enum rkc_err etcd_get(struct etcd_client *c, const char *key, struct etcd_kv *ret, bool *ret_found,
                      int64_t *ret_revision, struct rkc_error *err);

/*
 * Compare-and-swap put: writes only when the key's mod_revision equals expect_mod (0: the key
 * must not exist; -1: unconditional). *ret_ok tells whether it was written; on success
 * *ret_revision is the new revision (= the key's mod_revision).
 */
enum rkc_err etcd_cas_put(struct etcd_client *c, const char *key, const void *value, size_t len,
                          int64_t expect_mod, bool *ret_ok, int64_t *ret_revision,
                          struct rkc_error *err);

/* Compare-and-delete with the same expect_mod rules (0 is not allowed). */
enum rkc_err etcd_cas_delete(struct etcd_client *c, const char *key, int64_t expect_mod,
                             bool *ret_ok, int64_t *ret_revision, struct rkc_error *err);

/* Deletes every key starting with prefix. *ret_deleted (may be NULL): how many. */
enum rkc_err etcd_delete_prefix(struct etcd_client *c, const char *prefix, int64_t *ret_deleted,
                                struct rkc_error *err);

/*
 * Called for each event; return false to end the watch. The event is borrowed for the call.
 */
typedef bool (*etcd_watch_fn)(void *ctx, const struct etcd_event *ev);

/*
 * Watches [key, end) from start_revision (0: from now) with previous values, blocking in the
 * calling thread until fn returns false, *cancel becomes true (checked at least every second),
 * or the stream fails. Returns RKC_OK when ended by fn or cancel; RKC_ENOTFOUND when
 * start_revision was compacted; RKC_EHTTP when the stream broke.
 */
enum rkc_err etcd_watch(struct etcd_client *c, const char *key, size_t key_len, const char *end,
                        size_t end_len, int64_t start_revision, etcd_watch_fn fn, void *ctx,
                        const atomic_bool *cancel, struct rkc_error *err);

/* The range end that covers every key starting with prefix (prefix with its last byte + 1). */
char *etcd_prefix_end(const char *prefix, size_t len, size_t *ret_len);

#endif
