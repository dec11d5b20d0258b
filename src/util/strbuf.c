/* SPDX-License-Identifier: Apache-2.0 */
/* strbuf: growable byte buffer. */
#include "util/strbuf.h"

#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "util/xalloc.h"

#include "util/banned.h"

char strbuf_slopbuf[1];

void strbuf_init(struct strbuf *sb, size_t hint)
{
    sb->alloc = 0;
    sb->len = 0;
    sb->max = 0;
    sb->buf = strbuf_slopbuf;
    if (hint)
        strbuf_grow(sb, hint);
}

void strbuf_release(struct strbuf *sb)
{
    size_t max = sb->max;

    if (sb->alloc)
        free(sb->buf);
    strbuf_init(sb, 0);
    sb->max = max;
}

void strbuf_release_wipe(struct strbuf *sb)
{
    if (sb->alloc)
        rkc_wipe(sb->buf, sb->alloc);
    strbuf_release(sb);
}

char *strbuf_detach(struct strbuf *sb, size_t *ret_len)
{
    char *res;

    strbuf_grow(sb, 0);
    res = sb->buf;
    if (ret_len)
        *ret_len = sb->len;
    strbuf_init(sb, 0);
    return res;
}

void strbuf_grow(struct strbuf *sb, size_t extra)
{
    int new_buf = !sb->alloc;
    size_t need;

    /* len + extra + 1 must not wrap (a wrapped sum can land on or above len). */
    if (extra > SIZE_MAX - 1 - sb->len)
        RKC_BUG("strbuf size overflow");
    need = sb->len + extra + 1;
    if (new_buf)
        sb->buf = NULL;
    ALLOC_GROW(sb->buf, need, sb->alloc);
    if (new_buf)
        sb->buf[0] = '\0';
}

void strbuf_setlen(struct strbuf *sb, size_t len)
{
    RKC_ASSERT(len <= (sb->alloc ? sb->alloc - 1 : 0));
    sb->len = len;
    if (sb->alloc)
        sb->buf[len] = '\0';
}

void strbuf_reset(struct strbuf *sb)
{
    if (sb->alloc)
        strbuf_setlen(sb, 0);
}

void strbuf_add(struct strbuf *sb, const void *data, size_t len)
{
    strbuf_grow(sb, len);
    if (len)
        memcpy(sb->buf + sb->len, data, len);
    sb->len += len;
    sb->buf[sb->len] = '\0';
}

void strbuf_addstr(struct strbuf *sb, const char *s)
{
    strbuf_add(sb, s, strlen(s));
}

void strbuf_addch(struct strbuf *sb, int c)
{
    char ch = (char)c;

    strbuf_add(sb, &ch, 1);
}

void strbuf_vaddf(struct strbuf *sb, const char *fmt, va_list ap)
{
    va_list cp;
    int n;

    va_copy(cp, ap);
    n = vsnprintf(NULL, 0, fmt, cp);
    va_end(cp);
    if (n < 0)
        RKC_BUG("vsnprintf failed");
    strbuf_grow(sb, (size_t)n);
    vsnprintf(sb->buf + sb->len, (size_t)n + 1, fmt, ap);
    sb->len += (size_t)n;
}

void strbuf_addf(struct strbuf *sb, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    strbuf_vaddf(sb, fmt, ap);
    va_end(ap);
}

enum rkc_err strbuf_add_checked(struct strbuf *sb, const void *data, size_t len,
                                struct rkc_error *err)
{
    if (sb->max && (len > sb->max || sb->len > sb->max - len))
        return rkc_error_set(err, RKC_ELIMIT, "input larger than %zu bytes", sb->max);
    strbuf_add(sb, data, len);
    return RKC_OK;
}

enum rkc_err strbuf_read_fd(struct strbuf *sb, int fd, struct rkc_error *err)
{
    char tmp[65536];
    enum rkc_err rc;

    for (;;) {
        ssize_t n = read(fd, tmp, sizeof(tmp));

        if (n < 0) {
            if (errno == EINTR)
                continue;
            return rkc_error_set(err, RKC_EIO, "read: %s", strerror(errno));
        }
        if (n == 0)
            break;
        rc = strbuf_add_checked(sb, tmp, (size_t)n, err);
        if (rc) {
            rkc_wipe(tmp, sizeof(tmp));
            return rc;
        }
    }
    rkc_wipe(tmp, sizeof(tmp));
    return RKC_OK;
}

enum rkc_err strbuf_read_file(struct strbuf *sb, const char *path, struct rkc_error *err)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    enum rkc_err rc;

    if (fd < 0)
        return rkc_error_set(err, errno == ENOENT ? RKC_ENOTFOUND : RKC_EIO, "cannot open '%s': %s",
                             path, strerror(errno));
    rc = strbuf_read_fd(sb, fd, err);
    close(fd);
    if (rc)
        rkc_error_prefix(err, "'%s': ", path);
    return rc;
}

void strbuf_trim_trailing_newline(struct strbuf *sb)
{
    while (sb->len && (sb->buf[sb->len - 1] == '\n' || sb->buf[sb->len - 1] == '\r'))
        strbuf_setlen(sb, sb->len - 1);
}
