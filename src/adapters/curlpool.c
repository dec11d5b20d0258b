/* SPDX-License-Identifier: Apache-2.0 */
/* curlpool: keep-alive libcurl handles shared by the etcd and kube clients. */
#include "adapters/curlpool.h"

#include <stdlib.h>

#include "util/error.h"
#include "util/strbuf.h"
#include "util/xalloc.h"

#include "util/banned.h"

void curlpool_init(struct curlpool *p, size_t keep)
{
    pthread_mutex_init(&p->lock, NULL);
    p->keep = keep;
    p->nr = 0;
    p->handles = xcalloc(keep ? keep : 1, sizeof(*p->handles));
}

void curlpool_release(struct curlpool *p)
{
    size_t i;

    for (i = 0; i < p->nr; i++)
        curl_easy_cleanup(p->handles[i]);
    free(p->handles);
    p->handles = NULL;
    p->nr = 0;
    pthread_mutex_destroy(&p->lock);
}

CURL *curlpool_get(struct curlpool *p)
{
    CURL *h = NULL;

    pthread_mutex_lock(&p->lock);
    if (p->nr)
        h = p->handles[--p->nr];
    pthread_mutex_unlock(&p->lock);
    if (!h) {
        h = curl_easy_init();
        if (!h)
            RKC_BUG("curl_easy_init failed");
    }
    return h;
}

void curlpool_put(struct curlpool *p, CURL *h)
{
    if (!h)
        return;
    pthread_mutex_lock(&p->lock);
    if (p->nr < p->keep) {
        p->handles[p->nr++] = h;
        h = NULL;
    }
    pthread_mutex_unlock(&p->lock);
    if (h)
        curl_easy_cleanup(h);
}

size_t curlpool_write_strbuf(char *ptr, size_t size, size_t nmemb, void *data)
{
    struct strbuf *sb = data;

    if (strbuf_add_checked(sb, ptr, size * nmemb, NULL))
        return 0;
    return size * nmemb;
}
