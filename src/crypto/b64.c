/* SPDX-License-Identifier: Apache-2.0 */
/* b64: Go-compatible base64 (StdEncoding and RawURLEncoding). */
#include "crypto/b64.h"

#include <stdint.h>

#include "util/xalloc.h"

#include "util/banned.h"

static const char std_alphabet[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
static const char url_alphabet[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

size_t b64_encoded_len(size_t n)
{
    return (n + 2) / 3 * 4;
}

static void encode(const char *alpha, bool pad, const void *p, size_t n, struct strbuf *out)
{
    const uint8_t *s = p;
    size_t i;
    char *d;

    strbuf_grow(out, b64_encoded_len(n));
    d = out->buf + out->len;
    for (i = 0; i + 3 <= n; i += 3) {
        uint32_t v = (uint32_t)s[i] << 16 | (uint32_t)s[i + 1] << 8 | s[i + 2];

        *d++ = alpha[v >> 18 & 63];
        *d++ = alpha[v >> 12 & 63];
        *d++ = alpha[v >> 6 & 63];
        *d++ = alpha[v & 63];
    }
    if (n - i == 1) {
        uint32_t v = (uint32_t)s[i] << 16;

        *d++ = alpha[v >> 18 & 63];
        *d++ = alpha[v >> 12 & 63];
        if (pad) {
            *d++ = '=';
            *d++ = '=';
        }
    } else if (n - i == 2) {
        uint32_t v = (uint32_t)s[i] << 16 | (uint32_t)s[i + 1] << 8;

        *d++ = alpha[v >> 18 & 63];
        *d++ = alpha[v >> 12 & 63];
        *d++ = alpha[v >> 6 & 63];
        if (pad)
            *d++ = '=';
    }
    strbuf_setlen(out, (size_t)(d - out->buf));
}

void b64_encode(const void *p, size_t n, struct strbuf *out)
{
    encode(std_alphabet, true, p, n, out);
}

void b64url_encode(const void *p, size_t n, struct strbuf *out)
{
    encode(url_alphabet, false, p, n, out);
}

static int value_of(char c, bool url)
{
    if (c >= 'A' && c <= 'Z')
        return c - 'A';
    if (c >= 'a' && c <= 'z')
        return c - 'a' + 26;
    if (c >= '0' && c <= '9')
        return c - '0' + 52;
    if (c == (url ? '-' : '+'))
        return 62;
    if (c == (url ? '_' : '/'))
        return 63;
    return -1;
}

/*
 * Follows Go's decodeQuantum: newlines are skipped (StdEncoding only, as Go strips \r and \n
 * for every encoding but we only need it there); a quantum of 2 or 3 characters must be
 * followed by the right amount of '=' (padded) and nothing but newlines after the padding.
 */
static enum rkc_err decode(bool url, const char *s, size_t len, struct strbuf *out,
                           struct rkc_error *err)
{
    size_t orig = out->len, i = 0;
    uint8_t *d;

    strbuf_grow(out, len / 4 * 3 + 3);
    d = (uint8_t *)out->buf + out->len;
    while (i < len) {
        int q[4];
        size_t nq = 0, qpos = 0;

        while (nq < 4) {
            char c;
            int v;

            if (i == len) {
                if (nq == 0)
                    goto done;
                if (!url || nq == 1) /* padding required, or a lone character */
                    goto bad_at_len;
                goto partial;
            }
            c = s[i];
            if (!url && (c == '\r' || c == '\n')) {
                i++;
                continue;
            }
            if (c == '=' && !url) {
                /* '=' is legal only as the 3rd or 4th character of a quantum */
                size_t need;

                if (nq < 2) {
                    qpos = i;
                    goto bad;
                }
                need = nq == 2 ? 2 : 1;
                while (need) {
                    if (i == len) {
                        goto bad_at_len;
                    }
                    if (s[i] == '\r' || s[i] == '\n') {
                        i++;
                        continue;
                    }
                    if (s[i] != '=') {
                        qpos = i;
                        goto bad;
                    }
                    i++;
                    need--;
                }
                while (i < len && (s[i] == '\r' || s[i] == '\n'))
                    i++;
                if (i < len) {
                    qpos = i;
                    goto bad;
                }
                goto partial;
            }
            v = value_of(c, url);
            if (v < 0) {
                qpos = i;
                goto bad;
            }
            q[nq++] = v;
            i++;
        }
        *d++ = (uint8_t)(q[0] << 2 | q[1] >> 4);
        *d++ = (uint8_t)(q[1] << 4 | q[2] >> 2);
        *d++ = (uint8_t)(q[2] << 6 | q[3]);
        continue;
    partial:
        /* nq is 2 or 3; trailing bits are tolerated (non-Strict) */
        *d++ = (uint8_t)(q[0] << 2 | q[1] >> 4);
        if (nq == 3)
            *d++ = (uint8_t)(q[1] << 4 | q[2] >> 2);
        break;
    bad:
        rkc_wipe(out->buf + orig, (size_t)(d - (uint8_t *)out->buf) - orig);
        strbuf_setlen(out, orig);
        return rkc_error_set(err, RKC_EINVAL, "illegal base64 data at input byte %zu", qpos);
    bad_at_len:
        rkc_wipe(out->buf + orig, (size_t)(d - (uint8_t *)out->buf) - orig);
        strbuf_setlen(out, orig);
        return rkc_error_set(err, RKC_EINVAL, "illegal base64 data at input byte %zu", len);
    }
done:
    strbuf_setlen(out, (size_t)(d - (uint8_t *)out->buf));
    return RKC_OK;
}

enum rkc_err b64_decode(const char *s, size_t len, struct strbuf *out, struct rkc_error *err)
{
    return decode(false, s, len, out, err);
}

enum rkc_err b64url_decode(const char *s, size_t len, struct strbuf *out, struct rkc_error *err)
{
    return decode(true, s, len, out, err);
}
