/* SPDX-License-Identifier: Apache-2.0 */
/*
 * strbuf: a growable byte buffer (git's invariants). `buf` is always NUL-terminated and
 * never NULL once initialised; `len` excludes the NUL. An optional `max` caps growth for
 * untrusted input (curl's dynbuf): strbuf_add_checked() returns RKC_ELIMIT beyond it.
 * Not thread-safe; one owner at a time.
 */
#ifndef RKC_UTIL_STRBUF_H
#define RKC_UTIL_STRBUF_H

#include <stdarg.h>
#include <stddef.h>

#include "util/error.h"

struct strbuf {
    size_t alloc;
    size_t len;
    size_t max; /* 0: unlimited */
    char *buf;
};

extern char strbuf_slopbuf[];
#define STRBUF_INIT                                                                                \
    {                                                                                              \
        0, 0, 0, strbuf_slopbuf                                                                    \
    }

void strbuf_init(struct strbuf *sb, size_t hint);
/* Frees the contents and re-initialises. */
void strbuf_release(struct strbuf *sb);
/* Like strbuf_release, but wipes the bytes first (for key material and plaintext). */
void strbuf_release_wipe(struct strbuf *sb);
/* Returns: new, the buffer (caller frees); sb is re-initialised. */
char *strbuf_detach(struct strbuf *sb, size_t *ret_len);
void strbuf_grow(struct strbuf *sb, size_t extra);
void strbuf_setlen(struct strbuf *sb, size_t len);
void strbuf_reset(struct strbuf *sb);
void strbuf_add(struct strbuf *sb, const void *data, size_t len);
void strbuf_addstr(struct strbuf *sb, const char *s);
void strbuf_addch(struct strbuf *sb, int c);
void strbuf_addf(struct strbuf *sb, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void strbuf_vaddf(struct strbuf *sb, const char *fmt, va_list ap);
/* Appends unless the result would exceed sb->max: then RKC_ELIMIT, sb unchanged. */
enum rkc_err strbuf_add_checked(struct strbuf *sb, const void *data, size_t len,
                                struct rkc_error *err);
/* Appends the whole of fd (until EOF). */
enum rkc_err strbuf_read_fd(struct strbuf *sb, int fd, struct rkc_error *err);
/* Appends the whole file at path. */
enum rkc_err strbuf_read_file(struct strbuf *sb, const char *path, struct rkc_error *err);
void strbuf_trim_trailing_newline(struct strbuf *sb);

#endif
