/* SPDX-License-Identifier: Apache-2.0 */
/*
 * curlpool: a small, mutex-protected pool of libcurl easy handles, so the clients built on
 * libcurl (etcd, kube) reuse keep-alive connections across calls and threads. Only adapters
 * include it. A handle is used by one thread between curlpool_get and curlpool_put.
 */
#ifndef RKC_ADAPTERS_CURLPOOL_H
#define RKC_ADAPTERS_CURLPOOL_H

#include <curl/curl.h>
#include <pthread.h>
#include <stddef.h>

struct curlpool {
    pthread_mutex_t lock;
    CURL **handles;
    size_t nr, keep;
};

/* keep: how many idle handles are kept (the rest are cleaned up when put back). */
void curlpool_init(struct curlpool *p, size_t keep);
/* Cleans up every idle handle. */
void curlpool_release(struct curlpool *p);
/* Returns: an idle handle, or a new one (aborts if libcurl cannot make one). */
CURL *curlpool_get(struct curlpool *p);
/* Gives h back (NULL is ignored); a handle whose request failed should be cleaned up instead. */
void curlpool_put(struct curlpool *p, CURL *h);
/* CURLOPT_WRITEFUNCTION appending to the struct strbuf in CURLOPT_WRITEDATA (its max applies). */
size_t curlpool_write_strbuf(char *ptr, size_t size, size_t nmemb, void *data);

#endif
