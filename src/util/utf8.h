/* SPDX-License-Identifier: Apache-2.0 */
/*
 * utf8: strict UTF-8 (RFC 3629: no overlong forms, no surrogates, nothing above U+10FFFF),
 * as Go and JSON readers require. Pure functions, thread-safe.
 */
#ifndef RKC_UTIL_UTF8_H
#define RKC_UTIL_UTF8_H

#include <stdbool.h>
#include <stddef.h>

/*
 * Decodes the code point at s (n > 0 bytes available) into *ret.
 * Returns: its length in bytes (1-4), or 0 when s does not start with a valid sequence.
 */
size_t utf8_decode(const unsigned char *s, size_t n, unsigned long *ret);
/* True when the n bytes at s are valid UTF-8. */
bool utf8_valid(const void *s, size_t n);
/* True when the NUL-terminated s is valid UTF-8 (NULL counts as valid: nothing to check). */
bool utf8_valid_str(const char *s);

#endif
