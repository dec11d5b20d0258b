/* SPDX-License-Identifier: Apache-2.0 */
/* utf8: strict UTF-8 validation and decoding. */
#include "util/utf8.h"

#include <string.h>

#include "util/banned.h"

size_t utf8_decode(const unsigned char *s, size_t n, unsigned long *ret)
{
    unsigned long c;
    size_t len, i;

    if (s[0] < 0x80) {
        *ret = s[0];
        return 1;
    }
    if ((s[0] & 0xe0) == 0xc0) {
        len = 2;
        c = s[0] & 0x1f;
    } else if ((s[0] & 0xf0) == 0xe0) {
        len = 3;
        c = s[0] & 0x0f;
    } else if ((s[0] & 0xf8) == 0xf0) {
        len = 4;
        c = s[0] & 0x07;
    } else {
        return 0;
    }
    if (n < len)
        return 0;
    for (i = 1; i < len; i++) {
        if ((s[i] & 0xc0) != 0x80)
            return 0;
        c = c << 6 | (s[i] & 0x3f);
    }
    if ((len == 2 && c < 0x80) || (len == 3 && c < 0x800) || (len == 4 && c < 0x10000) ||
        c > 0x10ffff || (c >= 0xd800 && c <= 0xdfff))
        return 0;
    *ret = c;
    return len;
}

bool utf8_valid(const void *s, size_t n)
{
    const unsigned char *p = s;
    unsigned long c;
    size_t i = 0, l;

    while (i < n) {
        l = utf8_decode(p + i, n - i, &c);
        if (!l)
            return false;
        i += l;
    }
    return true;
}

bool utf8_valid_str(const char *s)
{
    return !s || utf8_valid(s, strlen(s));
}
