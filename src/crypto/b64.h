/* SPDX-License-Identifier: Apache-2.0 */
/*
 * b64: base64 exactly as Go's encoding/base64 does it, because kube-apiserver decodes key
 * secrets with base64.StdEncoding and rkc must accept and refuse the same strings.
 *
 * StdEncoding (b64_decode/b64_encode): standard alphabet, '=' padding required, CR and LF
 * anywhere are ignored, non-zero trailing bits in the last quantum are tolerated (Go's
 * non-Strict mode). URL-safe unpadded variants (b64url_*) use '-' and '_' and no padding
 * (Go's RawURLEncoding); they are for rkc's own names and tokens, not for config secrets.
 *
 * All functions are reentrant and thread-safe. Error messages never quote the input (it may be
 * a secret); they give only the byte offset of the problem, like Go's CorruptInputError.
 */
#ifndef RKC_CRYPTO_B64_H
#define RKC_CRYPTO_B64_H

#include <stdbool.h>
#include <stddef.h>

#include "util/error.h"
#include "util/strbuf.h"

/*
 * Decodes s[0..len) (StdEncoding) and appends the bytes to out. Callers holding secrets
 * should release out with strbuf_release_wipe.
 * Errors: RKC_EINVAL "illegal base64 data at input byte N"; out is left as it was.
 */
enum rkc_err b64_decode(const char *s, size_t len, struct strbuf *out, struct rkc_error *err);

/* Appends the StdEncoding (padded) form of p[0..n) to out. */
void b64_encode(const void *p, size_t n, struct strbuf *out);

/* Returns the length of the padded StdEncoding of n bytes. */
size_t b64_encoded_len(size_t n);

/* URL-safe alphabet, no padding (Go RawURLEncoding). Decode refuses '=' and CR/LF. */
enum rkc_err b64url_decode(const char *s, size_t len, struct strbuf *out, struct rkc_error *err);
void b64url_encode(const void *p, size_t n, struct strbuf *out);

#endif
