/* SPDX-License-Identifier: Apache-2.0 */
/*
 * xalloc: allocation wrappers that abort on out-of-memory, so callers never check for NULL.
 * Caps on untrusted input are the caller's job (return RKC_ELIMIT).
 */
#ifndef RKC_UTIL_XALLOC_H
#define RKC_UTIL_XALLOC_H

#include <stddef.h>

void *xmalloc(size_t size);
void *xcalloc(size_t nmemb, size_t size);
void *xrealloc(void *ptr, size_t size);
void *xreallocarray(void *ptr, size_t nmemb, size_t size);
char *xstrdup(const char *s);
char *xstrndup(const char *s, size_t n);
void *xmemdup(const void *p, size_t n);
char *xasprintf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Wipes n bytes at p so the compiler cannot elide it (explicit_bzero). */
void rkc_wipe(void *p, size_t n);

/* Grows an array (ptr, nr, alloc) so that it holds at least nr_needed items. */
#define ALLOC_GROW(ptr, nr_needed, alloc)                                                          \
    do {                                                                                           \
        if ((nr_needed) > (alloc)) {                                                               \
            size_t alloc_new_ = (alloc) ? (alloc)*2 : 8;                                           \
            if (alloc_new_ < (nr_needed))                                                          \
                alloc_new_ = (nr_needed);                                                          \
            (ptr) = xreallocarray((ptr), alloc_new_, sizeof(*(ptr)));                              \
            (alloc) = alloc_new_;                                                                  \
        }                                                                                          \
    } while (0)

#endif
