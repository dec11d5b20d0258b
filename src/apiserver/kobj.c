/* SPDX-License-Identifier: Apache-2.0 */
/* kobj: validation, selectors, continue tokens, uids and time for API objects. */
#include "apiserver/kobj.h"

#include <ctype.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "crypto/b64.h"
#include "crypto/keygen.h"
#include "util/xalloc.h"

#include "util/banned.h"

static bool is_alnum_lower(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
}

static bool label_ok(const char *s, size_t n)
{
    size_t i;

    if (n == 0 || n > 63 || !is_alnum_lower(s[0]) || !is_alnum_lower(s[n - 1]))
        return false;
    for (i = 0; i < n; i++)
        if (!is_alnum_lower(s[i]) && s[i] != '-')
            return false;
    return true;
}

bool kobj_is_dns1123_label(const char *s)
{
    return label_ok(s, strlen(s));
}

bool kobj_is_dns1123_subdomain(const char *s)
{
    size_t n = strlen(s);
    const char *p = s;

    if (n == 0 || n > 253)
        return false;
    for (;;) {
        const char *dot = strchr(p, '.');
        size_t len = dot ? (size_t)(dot - p) : strlen(p);

        /* subdomain labels have no 63-byte limit of their own, only the charset rules */
        if (len == 0 || !is_alnum_lower(p[0]) || !is_alnum_lower(p[len - 1]))
            return false;
        for (size_t i = 0; i < len; i++)
            if (!is_alnum_lower(p[i]) && p[i] != '-')
                return false;
        if (!dot)
            return true;
        p = dot + 1;
    }
}

bool kobj_is_config_key(const char *s)
{
    size_t n = strlen(s), i;

    if (n == 0 || n > 253 || !strcmp(s, ".") || !strcmp(s, ".."))
        return false;
    for (i = 0; i < n; i++) {
        char c = s[i];

        if (!isalnum((unsigned char)c) && c != '-' && c != '_' && c != '.')
            return false;
    }
    return true;
}

/* ---- selectors ---- */

enum req_op {
    OP_EQ,
    OP_NE,
    OP_IN,
    OP_NOTIN,
    OP_EXISTS,
    OP_NOTEXISTS,
};

struct req {
    char *key;
    enum req_op op;
    char **values;
    size_t nr_values, alloc_values;
};

struct kobj_selector {
    struct req *reqs;
    size_t nr, alloc;
};

void kobj_selector_free(struct kobj_selector *sel)
{
    size_t i, j;

    if (!sel)
        return;
    for (i = 0; i < sel->nr; i++) {
        free(sel->reqs[i].key);
        for (j = 0; j < sel->reqs[i].nr_values; j++)
            free(sel->reqs[i].values[j]);
        free(sel->reqs[i].values);
    }
    free(sel->reqs);
    free(sel);
}

static void skip_ws(const char **p)
{
    while (**p == ' ')
        (*p)++;
}

static bool key_char(char c)
{
    return isalnum((unsigned char)c) || c == '-' || c == '_' || c == '.' || c == '/';
}

static char *read_token(const char **p)
{
    const char *s = *p;

    while (key_char(**p))
        (*p)++;
    return xstrndup(s, (size_t)(*p - s));
}

static void req_add_value(struct req *r, char *v)
{
    ALLOC_GROW(r->values, r->nr_values + 1, r->alloc_values);
    r->values[r->nr_values++] = v;
}

static bool word_at(const char *p, const char *w)
{
    size_t n = strlen(w);

    return !strncmp(p, w, n) && (p[n] == ' ' || p[n] == '(');
}

enum rkc_err kobj_label_selector_parse(const char *s, struct kobj_selector **ret,
                                       struct rkc_error *err)
{
    struct kobj_selector *sel = xcalloc(1, sizeof(*sel));
    const char *p = s;

    skip_ws(&p);
    while (*p) {
        struct req r;

        memset(&r, 0, sizeof(r));
        skip_ws(&p);
        if (*p == '!') {
            p++;
            skip_ws(&p);
            r.op = OP_NOTEXISTS;
        } else {
            r.op = OP_EXISTS;
        }
        r.key = read_token(&p);
        if (!*r.key) {
            free(r.key);
            kobj_selector_free(sel);
            return rkc_error_set(err, RKC_EINVAL,
                                 "unable to parse requirement: found '%c', expected: identifier",
                                 *p ? *p : ' ');
        }
        skip_ws(&p);
        if (r.op == OP_EXISTS) {
            if (p[0] == '=' && p[1] == '=') {
                r.op = OP_EQ;
                p += 2;
            } else if (p[0] == '=') {
                r.op = OP_EQ;
                p++;
            } else if (p[0] == '!' && p[1] == '=') {
                r.op = OP_NE;
                p += 2;
            } else if (word_at(p, "in")) {
                r.op = OP_IN;
                p += 2;
            } else if (word_at(p, "notin")) {
                r.op = OP_NOTIN;
                p += 5;
            }
        }
        skip_ws(&p);
        if (r.op == OP_EQ || r.op == OP_NE) {
            req_add_value(&r, read_token(&p));
        } else if (r.op == OP_IN || r.op == OP_NOTIN) {
            if (*p != '(')
                goto bad;
            p++;
            for (;;) {
                skip_ws(&p);
                req_add_value(&r, read_token(&p));
                skip_ws(&p);
                if (*p == ',') {
                    p++;
                    continue;
                }
                if (*p == ')') {
                    p++;
                    break;
                }
                goto bad;
            }
        }
        skip_ws(&p);
        if (*p && *p != ',')
            goto bad;
        if (*p == ',')
            p++;
        ALLOC_GROW(sel->reqs, sel->nr + 1, sel->alloc);
        sel->reqs[sel->nr++] = r;
        continue;
    bad:
        free(r.key);
        for (size_t i = 0; i < r.nr_values; i++)
            free(r.values[i]);
        free(r.values);
        kobj_selector_free(sel);
        return rkc_error_set(err, RKC_EINVAL, "unable to parse requirement in selector '%s'", s);
    }
    *ret = sel;
    return RKC_OK;
}

static bool req_match(const struct req *r, const char *have)
{
    size_t i;

    switch (r->op) {
    case OP_EXISTS:
        return have != NULL;
    case OP_NOTEXISTS:
        return have == NULL;
    case OP_EQ:
        return have && !strcmp(have, r->values[0]);
    case OP_NE:
        return !have || strcmp(have, r->values[0]) != 0;
    case OP_IN:
        for (i = 0; have && i < r->nr_values; i++)
            if (!strcmp(have, r->values[i]))
                return true;
        return false;
    case OP_NOTIN:
        for (i = 0; have && i < r->nr_values; i++)
            if (!strcmp(have, r->values[i]))
                return false;
        return true;
    }
    return false;
}

bool kobj_label_selector_match(const struct kobj_selector *sel, const struct jval *labels)
{
    size_t i;

    for (i = 0; sel && i < sel->nr; i++)
        if (!req_match(&sel->reqs[i], jval_get_str(labels, sel->reqs[i].key, NULL)))
            return false;
    return true;
}

enum rkc_err kobj_field_selector_parse(const char *s, bool secrets, struct kobj_selector **ret,
                                       struct rkc_error *err)
{
    struct kobj_selector *sel = xcalloc(1, sizeof(*sel));
    const char *p = s;

    while (*p) {
        size_t n = strcspn(p, ","), klen;
        char *term = xstrndup(p, n), *op, *val;
        struct req r;

        memset(&r, 0, sizeof(r));
        p += n;
        if (*p == ',')
            p++;
        if (!*term) {
            free(term);
            continue;
        }
        if ((op = strstr(term, "!=")) != NULL) {
            r.op = OP_NE;
            val = op + 2;
        } else if ((op = strstr(term, "==")) != NULL) {
            r.op = OP_EQ;
            val = op + 2;
        } else if ((op = strchr(term, '=')) != NULL) {
            r.op = OP_EQ;
            val = op + 1;
        } else {
            kobj_selector_free(sel);
            rkc_error_set(err, RKC_EINVAL, "invalid selector: '%s'; can't understand '%s'", s,
                          term);
            free(term);
            return RKC_EINVAL;
        }
        klen = (size_t)(op - term);
        while (klen && term[klen - 1] == ' ')
            klen--;
        r.key = xstrndup(term, klen);
        while (*val == ' ')
            val++;
        req_add_value(&r, xstrdup(val));
        free(term);
        if (strcmp(r.key, "metadata.name") != 0 && strcmp(r.key, "metadata.namespace") != 0 &&
            !(secrets && !strcmp(r.key, "type"))) {
            rkc_error_set(err, RKC_EINVAL, "field label not supported: %s", r.key);
            free(r.key);
            free(r.values[0]);
            free(r.values);
            kobj_selector_free(sel);
            return RKC_EINVAL;
        }
        ALLOC_GROW(sel->reqs, sel->nr + 1, sel->alloc);
        sel->reqs[sel->nr++] = r;
    }
    *ret = sel;
    return RKC_OK;
}

bool kobj_field_selector_match(const struct kobj_selector *sel, const struct jval *obj)
{
    const struct jval *meta = jval_get(obj, "metadata");
    size_t i;

    for (i = 0; sel && i < sel->nr; i++) {
        const struct req *r = &sel->reqs[i];
        const char *have;

        if (!strcmp(r->key, "metadata.name"))
            have = jval_get_str(meta, "name", "");
        else if (!strcmp(r->key, "metadata.namespace"))
            have = jval_get_str(meta, "namespace", "");
        else
            have = jval_get_str(obj, "type", "");
        if (!req_match(r, have))
            return false;
    }
    return true;
}

/* ---- continue tokens ---- */

void kobj_continue_encode(int64_t rv, const char *start, size_t start_len, struct strbuf *out)
{
    struct jval *j = jval_object();
    struct strbuf js = STRBUF_INIT;

    jval_set_str(j, "v", "meta.k8s.io/v1");
    jval_set_int(j, "rv", rv);
    jval_set_take(j, "start", jval_stringn(start, start_len));
    jval_dump(j, JVAL_COMPACT, &js);
    b64url_encode(js.buf, js.len, out);
    strbuf_release(&js);
    jval_decref(j);
}

enum rkc_err kobj_continue_decode(const char *tok, int64_t *ret_rv, char **ret_start,
                                  size_t *ret_start_len, struct rkc_error *err)
{
    struct strbuf raw = STRBUF_INIT;
    struct jval *j = NULL;
    const struct jval *start;
    const char *s;
    size_t len;
    enum rkc_err rc = RKC_EINVAL;

    /* kube-apiserver accepts padded and unpadded URL base64 */
    len = strlen(tok);
    while (len && tok[len - 1] == '=')
        len--;
    if (b64url_decode(tok, len, &raw, NULL)) {
        rkc_error_set(err, RKC_EINVAL, "continue key is not valid: illegal base64 data");
        goto out;
    }
    if (jval_parse("continue", raw.buf, raw.len, &j, NULL) || !jval_is_object(j)) {
        rkc_error_set(err, RKC_EINVAL, "continue key is not valid: invalid JSON");
        goto out;
    }
    if (strcmp(jval_get_str(j, "v", ""), "meta.k8s.io/v1") != 0) {
        rkc_error_set(err, RKC_EINVAL,
                      "continue key is not valid: server does not recognize this encoding");
        goto out;
    }
    start = jval_get(j, "start");
    s = jval_str(start, &len);
    if (!s || !len || s[0] == '/' || memmem(s, len, "..", 2)) {
        rkc_error_set(err, RKC_EINVAL, "continue key is not valid: invalid start key");
        goto out;
    }
    if (!jval_is_integer(jval_get(j, "rv"))) {
        rkc_error_set(err, RKC_EINVAL, "continue key is not valid: missing resource version");
        goto out;
    }
    *ret_rv = jval_get_int(j, "rv", 0);
    *ret_start = xmemdup(s, len + 1);
    *ret_start_len = len;
    rc = RKC_OK;
out:
    jval_decref(j);
    strbuf_release(&raw);
    return rc;
}

/* ---- identity and time ---- */

void kobj_new_uid(char out[KOBJ_UID_SIZE])
{
    unsigned char b[16];

    if (keygen_random(b, sizeof(b), NULL))
        RKC_BUG("getrandom failed");
    b[6] = (unsigned char)((b[6] & 0x0f) | 0x40);
    b[8] = (unsigned char)((b[8] & 0x3f) | 0x80);
    snprintf(out, KOBJ_UID_SIZE,
             "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x", b[0], b[1],
             b[2], b[3], b[4], b[5], b[6], b[7], b[8], b[9], b[10], b[11], b[12], b[13], b[14],
             b[15]);
}

void kobj_now(char out[KOBJ_TIME_SIZE])
{
    time_t t = time(NULL);
    struct tm tm;

    gmtime_r(&t, &tm);
    strftime(out, KOBJ_TIME_SIZE, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

void kobj_random_suffix(size_t n, struct strbuf *out)
{
    static const char alphabet[] = "bcdfghjklmnpqrstvwxz2456789";
    unsigned char b[64];
    size_t i;

    if (n > sizeof(b))
        n = sizeof(b);
    if (keygen_random(b, n, NULL))
        RKC_BUG("getrandom failed");
    for (i = 0; i < n; i++)
        strbuf_addch(out, alphabet[b[i] % (sizeof(alphabet) - 1)]);
}
