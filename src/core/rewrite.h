/* SPDX-License-Identifier: Apache-2.0 */
/*
 * rewrite: re-encrypts every stored object of one resource by writing it back, unchanged,
 * through the Kubernetes API (DESIGN.md §4 step 3, docs/internals/rewrite.md). An API server
 * writes an update even when nothing changed if the value it read was stale (not written by
 * the current writer provider/key), so a PUT of each object exactly as listed moves it to the
 * writer.
 *
 * One run: discovery (is the resource namespaced, its kind), then a paginated list across all
 * namespaces (limit page_size, continue tokens) on the calling thread, feeding a bounded queue
 * that `workers` threads drain with PUTs. 409 Conflict: GET the object again and PUT that
 * (bounded); 404: skipped (deleted meanwhile); 410 Gone on a continue token: the list restarts
 * and names already handed out in this run are skipped; 429, 5xx, timeouts and connection
 * errors: exponential backoff with jitter, bounded attempts. Every object that still fails is
 * reported with its name and the reason; the run then fails. Memory: one list page plus the
 * queue (2 x workers objects), plus the set of names already handed out.
 *
 * The core never prints: progress goes to a callback, called from the calling thread only.
 * The HTTP transport is a seam (struct rewrite_api) so tests can put a fake API server in.
 * Object bodies are wiped after use; failure reasons never contain object contents.
 */
#ifndef RKC_CORE_REWRITE_H
#define RKC_CORE_REWRITE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "util/error.h"
#include "util/strbuf.h"

struct kube_client;

/*
 * One HTTP request to the API server, with kube_request's contract: RKC_OK with any HTTP
 * status in *ret_status and the answer body in resp; an error for transport failures
 * (RKC_EHTTP, RKC_ETIMEOUT are retried; others are not). Must be thread-safe.
 */
struct rewrite_api {
    enum rkc_err (*request)(void *ctx, const char *method, const char *path,
                            const char *content_type, const void *body, size_t len,
                            long *ret_status, struct strbuf *resp, struct rkc_error *err);
    void *ctx;
};

/* Fills ret with kube_request on c (borrowed: c must outlive every use of ret). */
void rewrite_api_from_kube(struct kube_client *c, struct rewrite_api *ret);

struct rewrite_progress {
    size_t done;        /* objects finished: rewritten, skipped or failed */
    size_t total_known; /* best estimate of the total so far (list + remainingItemCount) */
    bool total_exact;   /* the list is complete: total_known is the real total */
    double rate;        /* objects per second over the last few seconds */
    double elapsed_s;
    bool final; /* the last call of the run */
};

typedef void (*rewrite_progress_fn)(void *ctx, const struct rewrite_progress *p);

/* Zero fields take the defaults given. */
struct rewrite_options {
    const char *resource;          /* "secrets", "configmaps", "deployments.apps"; NULL: secrets */
    unsigned workers;              /* parallel PUTs; 0: 16 (max REWRITE_MAX_WORKERS) */
    unsigned page_size;            /* list limit; 0: 500 */
    unsigned max_attempts;         /* per request on transient errors; 0: 8 */
    unsigned max_conflicts;        /* re-reads after 409 per object; 0: 10 */
    unsigned max_list_restarts;    /* restarts after expired continue tokens; 0: 20 */
    unsigned backoff_base_ms;      /* first backoff; 0: 100 */
    unsigned backoff_max_ms;       /* backoff cap; 0: 5000 */
    unsigned progress_interval_ms; /* minimum time between progress calls; 0: 200 */
    rewrite_progress_fn progress;  /* may be NULL */
    void *progress_ctx;
};

#define REWRITE_DEFAULT_WORKERS 16
#define REWRITE_MAX_WORKERS     256
#define REWRITE_MAX_FAILURES    100 /* failures kept by name; the count goes on */

struct rewrite_failure {
    char *name;   /* "namespace/name", or "name" for cluster-scoped resources */
    char *reason; /* e.g. "HTTP 422 Invalid: ...", "timed out after 8 attempts: ..." */
};

struct rewrite_result {
    size_t listed;            /* distinct objects handed to the workers */
    size_t rewritten;         /* PUT answered 2xx */
    size_t skipped_gone;      /* 404: deleted while the run went on */
    size_t conflicts_retried; /* 409 answers followed by a re-read */
    size_t transient_retries; /* requests repeated after a transient error (PUT, GET, list) */
    size_t list_restarts;     /* lists restarted after 410 Gone on a continue token */
    size_t failed;            /* objects that could not be rewritten */
    struct rewrite_failure *failures; /* the first REWRITE_MAX_FAILURES of them */
    size_t nfailures, failures_alloc;
    double elapsed_s;
};

void rewrite_result_init(struct rewrite_result *r);
/* Frees the failure list and re-initialises. NULL-safe. */
void rewrite_result_release(struct rewrite_result *r);

/*
 * Rewrites every object of opts->resource through api. result (initialised by the caller) is
 * filled in whether the run succeeds or not.
 * Returns: RKC_OK when every listed object was rewritten or had gone; RKC_EHTTP (or the
 * transport's code) "N of M secrets could not be rewritten: ns/a (reason), ..." when objects
 * failed; the discovery or list error (prefixed "listing secrets: ") when the list could not
 * be completed (objects already handed out are still finished first); RKC_ENOTFOUND when the
 * server does not serve the resource; RKC_EINVAL for bad options.
 */
enum rkc_err rewrite_run(const struct rewrite_api *api, const struct rewrite_options *opts,
                         struct rewrite_result *result, struct rkc_error *err);

/* ---- the pure parts, exposed for tests ---- */

/* What an answer means to the engine. */
enum rewrite_class {
    REWRITE_OK,        /* 2xx */
    REWRITE_GONE,      /* 404 */
    REWRITE_CONFLICT,  /* 409 */
    REWRITE_EXPIRED,   /* 410 */
    REWRITE_TRANSIENT, /* 429, 5xx, RKC_EHTTP, RKC_ETIMEOUT: back off and retry */
    REWRITE_FATAL,     /* anything else: report */
};

/* Classifies a request's outcome: rc from the transport, status when rc is RKC_OK. */
enum rewrite_class rewrite_classify(enum rkc_err rc, long status);

/*
 * Backoff before retry number attempt (0 for the first retry): d = min(max_ms, base_ms << attempt),
 * then "equal jitter": d/2 + jitter * d/2 with jitter in [0, 1]. Never more than max_ms.
 */
unsigned rewrite_backoff_ms(unsigned attempt, unsigned base_ms, unsigned max_ms, double jitter);

/* A set of object names ("ns/name"), the names already handed out in a run. Not thread-safe. */
struct rewrite_done_set {
    char **slots;
    size_t cap, nr;
};

void rewrite_done_set_init(struct rewrite_done_set *s);
void rewrite_done_set_release(struct rewrite_done_set *s);
/* Adds a copy of key. Returns true when it was new, false when already present. */
bool rewrite_done_set_add(struct rewrite_done_set *s, const char *key);
bool rewrite_done_set_contains(const struct rewrite_done_set *s, const char *key);

/* Counts a failure; keeps name and reason (copied) while fewer than REWRITE_MAX_FAILURES. */
void rewrite_result_add_failure(struct rewrite_result *r, const char *name, const char *reason);

/*
 * The estimate given to progress callbacks: the larger of listed (distinct objects handed out
 * so far) and seen_in_pass + remaining (objects seen in the current list pass, including
 * skipped ones, plus the server's remainingItemCount; remaining < 0: unknown).
 */
size_t rewrite_total_estimate(size_t listed, size_t seen_in_pass, int64_t remaining);

#endif
