/* SPDX-License-Identifier: Apache-2.0 */
/*
 * encconfig: EncryptionConfiguration model, strict parser (on ytree), kube-apiserver's
 * validator plus rkc's checks, canonical emitter, hash and resource lookup.
 * Design notes: docs/internals/encconfig.md.
 */
#include "crypto/encconfig.h"

#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>

#include "crypto/b64.h"
#include "crypto/keygen.h"
#include "crypto/transformer.h"
#include "util/utf8.h"
#include "util/xalloc.h"

#include "util/banned.h"

/* ------------------------------------------------------------------------------------------ */
/* diagnostics */

void encconfig_diag_init(struct encconfig_diag *d)
{
    memset(d, 0, sizeof(*d));
}

void encconfig_diag_release(struct encconfig_diag *d)
{
    size_t i;

    if (!d)
        return;
    for (i = 0; i < d->nr; i++) {
        free(d->items[i].file);
        free(d->items[i].field);
        free(d->items[i].message);
    }
    free(d->items);
    encconfig_diag_init(d);
}

static void diag_vadd(struct encconfig_diag *d, enum encconfig_severity sev, const char *file,
                      struct encconfig_pos pos, const char *field, const char *fmt, va_list ap)
{
    struct encconfig_diag_item *it;
    struct strbuf msg = STRBUF_INIT;

    strbuf_vaddf(&msg, fmt, ap);
    ALLOC_GROW(d->items, d->nr + 1, d->alloc);
    it = &d->items[d->nr++];
    it->severity = sev;
    it->file = xstrdup(file ? file : "<config>");
    it->line = pos.line;
    it->col = pos.col;
    it->field = xstrdup(field ? field : "");
    it->message = strbuf_detach(&msg, NULL);
    if (sev == ENCCONFIG_ERROR)
        d->nerrors++;
    else
        d->nwarnings++;
}

void encconfig_diag_add(struct encconfig_diag *d, enum encconfig_severity sev, const char *file,
                        struct encconfig_pos pos, const char *field, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    diag_vadd(d, sev, file, pos, field, fmt, ap);
    va_end(ap);
}

void encconfig_diag_format_item(const struct encconfig_diag_item *it, struct strbuf *out)
{
    strbuf_addstr(out, it->file);
    if (it->line)
        strbuf_addf(out, ":%zu:%zu", it->line, it->col);
    strbuf_addstr(out, it->severity == ENCCONFIG_ERROR ? ": error: " : ": warning: ");
    if (it->field[0])
        strbuf_addf(out, "%s: ", it->field);
    strbuf_addstr(out, it->message);
}

void encconfig_diag_format(const struct encconfig_diag *d, unsigned severities, struct strbuf *out)
{
    size_t i;

    for (i = 0; i < d->nr; i++) {
        if (!(severities & (1u << d->items[i].severity)))
            continue;
        encconfig_diag_format_item(&d->items[i], out);
        strbuf_addch(out, '\n');
    }
}

/* Sets err from the first error of d (from index start on). */
static enum rkc_err diag_to_error(const struct encconfig_diag *d, size_t start, size_t nerrors,
                                  struct rkc_error *err)
{
    struct strbuf sb = STRBUF_INIT;
    enum rkc_err rc;
    size_t i;

    for (i = start; i < d->nr; i++) {
        if (d->items[i].severity == ENCCONFIG_ERROR)
            break;
    }
    if (i == d->nr)
        return RKC_OK;
    encconfig_diag_format_item(&d->items[i], &sb);
    if (nerrors > 1)
        strbuf_addf(&sb, " (and %zu more error%s)", nerrors - 1, nerrors > 2 ? "s" : "");
    rc = rkc_error_set(err, RKC_ECONFIG, "%s", sb.buf);
    strbuf_release(&sb);
    return rc;
}

/* ------------------------------------------------------------------------------------------ */
/* model */

const char *encconfig_kind_name(enum encconfig_kind kind)
{
    switch (kind) {
    case ENCCONFIG_IDENTITY:
        return "identity";
    case ENCCONFIG_AESCBC:
        return "aescbc";
    case ENCCONFIG_AESGCM:
        return "aesgcm";
    case ENCCONFIG_SECRETBOX:
        return "secretbox";
    case ENCCONFIG_KMS:
        return "kms";
    case ENCCONFIG_NONE:
        break;
    }
    return "none";
}

struct encconfig *encconfig_new(const char *file)
{
    struct encconfig *cfg = xcalloc(1, sizeof(*cfg));

    cfg->file = xstrdup(file ? file : "<config>");
    return cfg;
}

static void key_release(struct encconfig_key *k)
{
    free(k->name);
    if (k->secret) {
        rkc_wipe(k->secret, k->secret_len);
        free(k->secret);
    }
    memset(k, 0, sizeof(*k));
}

static void kms_release(struct encconfig_kms *kms)
{
    free(kms->api_version);
    free(kms->name);
    free(kms->endpoint);
    memset(kms, 0, sizeof(*kms));
}

static void provider_release(struct encconfig_provider *p)
{
    size_t i;

    for (i = 0; i < p->nkeys; i++)
        key_release(&p->keys[i]);
    free(p->keys);
    kms_release(&p->kms);
    memset(p, 0, sizeof(*p));
}

static void resource_release(struct encconfig_resource *r)
{
    size_t i;

    for (i = 0; i < r->nnames; i++)
        free(r->names[i]);
    free(r->names);
    free(r->name_pos);
    for (i = 0; i < r->nproviders; i++)
        provider_release(&r->providers[i]);
    free(r->providers);
    memset(r, 0, sizeof(*r));
}

void encconfig_free(struct encconfig *cfg)
{
    size_t i;

    if (!cfg)
        return;
    for (i = 0; i < cfg->nresources; i++)
        resource_release(&cfg->resources[i]);
    free(cfg->resources);
    free(cfg->file);
    free(cfg);
}

struct encconfig_resource *encconfig_add_resource(struct encconfig *cfg)
{
    struct encconfig_resource *r;

    ALLOC_GROW(cfg->resources, cfg->nresources + 1, cfg->resources_alloc);
    r = &cfg->resources[cfg->nresources++];
    memset(r, 0, sizeof(*r));
    return r;
}

static void resource_add_name_at(struct encconfig_resource *res, const char *name,
                                 struct encconfig_pos pos)
{
    size_t alloc = res->names_alloc;

    ALLOC_GROW(res->names, res->nnames + 1, res->names_alloc);
    if (res->names_alloc != alloc)
        res->name_pos = xreallocarray(res->name_pos, res->names_alloc, sizeof(*res->name_pos));
    res->names[res->nnames] = xstrdup(name);
    res->name_pos[res->nnames] = pos;
    res->nnames++;
}

void encconfig_resource_add_name(struct encconfig_resource *res, const char *name)
{
    struct encconfig_pos none = { 0, 0 };

    resource_add_name_at(res, name, none);
}

static void kms_set_defaults(struct encconfig_kms *kms)
{
    if (!kms->api_version)
        kms->api_version = xstrdup("v1");
    if (!kms->name)
        kms->name = xstrdup("");
    if (!kms->endpoint)
        kms->endpoint = xstrdup("");
}

struct encconfig_provider *encconfig_resource_add_provider(struct encconfig_resource *res,
                                                           enum encconfig_kind kind)
{
    struct encconfig_provider *p;

    ALLOC_GROW(res->providers, res->nproviders + 1, res->providers_alloc);
    p = &res->providers[res->nproviders++];
    memset(p, 0, sizeof(*p));
    p->kind = kind;
    p->present = kind == ENCCONFIG_NONE ? 0 : 1u << kind;
    if (kind == ENCCONFIG_KMS) {
        kms_set_defaults(&p->kms);
        p->kms.timeout_ns = ENCCONFIG_KMS_DEFAULT_TIMEOUT_NS;
        p->kms.cachesize = ENCCONFIG_KMS_DEFAULT_CACHESIZE;
        p->kms.cachesize_set = true;
    }
    return p;
}

static struct encconfig_key *provider_new_key(struct encconfig_provider *p)
{
    struct encconfig_key *k;

    ALLOC_GROW(p->keys, p->nkeys + 1, p->keys_alloc);
    k = &p->keys[p->nkeys++];
    memset(k, 0, sizeof(*k));
    return k;
}

void encconfig_provider_add_key(struct encconfig_provider *p, const char *name,
                                const unsigned char *secret, size_t len)
{
    struct encconfig_key *k = provider_new_key(p);

    k->name = xstrdup(name);
    k->secret = xmalloc(len ? len : 1);
    if (len)
        memcpy(k->secret, secret, len);
    k->secret_len = len;
    k->state = len ? ENCCONFIG_SECRET_OK : ENCCONFIG_SECRET_EMPTY;
}

struct encconfig *encconfig_dup(const struct encconfig *cfg)
{
    struct encconfig *n = encconfig_new(cfg->file);
    size_t i, j, k;

    n->legacy = cfg->legacy;
    n->pos = cfg->pos;
    n->resources_pos = cfg->resources_pos;
    for (i = 0; i < cfg->nresources; i++) {
        const struct encconfig_resource *r = &cfg->resources[i];
        struct encconfig_resource *nr = encconfig_add_resource(n);

        nr->pos = r->pos;
        nr->names_pos = r->names_pos;
        nr->providers_pos = r->providers_pos;
        for (j = 0; j < r->nnames; j++)
            resource_add_name_at(nr, r->names[j], r->name_pos[j]);
        for (j = 0; j < r->nproviders; j++) {
            const struct encconfig_provider *p = &r->providers[j];
            struct encconfig_provider *np = encconfig_resource_add_provider(nr, ENCCONFIG_NONE);

            np->kind = p->kind;
            np->present = p->present;
            np->pos = p->pos;
            np->kind_pos = p->kind_pos;
            np->keys_pos = p->keys_pos;
            np->kms = p->kms;
            np->kms.api_version = p->kms.api_version ? xstrdup(p->kms.api_version) : NULL;
            np->kms.name = p->kms.name ? xstrdup(p->kms.name) : NULL;
            np->kms.endpoint = p->kms.endpoint ? xstrdup(p->kms.endpoint) : NULL;
            for (k = 0; k < p->nkeys; k++) {
                struct encconfig_key *nk = provider_new_key(np);

                *nk = p->keys[k];
                nk->name = xstrdup(p->keys[k].name);
                nk->secret = p->keys[k].secret
                                 ? xmemdup(p->keys[k].secret,
                                           p->keys[k].secret_len ? p->keys[k].secret_len : 1)
                                 : NULL;
            }
        }
    }
    return n;
}

/* ------------------------------------------------------------------------------------------ */
/* small helpers: Go-style quoting, base64, UTF-8, durations, numbers */

/* Go's %q (strconv.Quote) for the strings that can reach it (valid UTF-8). */
static void go_quote(struct strbuf *out, const char *s)
{
    const unsigned char *p;

    strbuf_addch(out, '"');
    for (p = (const unsigned char *)(s ? s : ""); *p; p++) {
        switch (*p) {
        case '"':
            strbuf_addstr(out, "\\\"");
            break;
        case '\\':
            strbuf_addstr(out, "\\\\");
            break;
        case '\a':
            strbuf_addstr(out, "\\a");
            break;
        case '\b':
            strbuf_addstr(out, "\\b");
            break;
        case '\f':
            strbuf_addstr(out, "\\f");
            break;
        case '\n':
            strbuf_addstr(out, "\\n");
            break;
        case '\r':
            strbuf_addstr(out, "\\r");
            break;
        case '\t':
            strbuf_addstr(out, "\\t");
            break;
        case '\v':
            strbuf_addstr(out, "\\v");
            break;
        default:
            if (*p < 0x20 || *p == 0x7f)
                strbuf_addf(out, "\\x%02x", *p);
            else
                strbuf_addch(out, (char)*p);
        }
    }
    strbuf_addch(out, '"');
}

static char *go_quoted(const char *s)
{
    struct strbuf sb = STRBUF_INIT;

    go_quote(&sb, s);
    return strbuf_detach(&sb, NULL);
}

/* Decodes one UTF-8 sequence at s (n bytes available); returns its length, 0 if invalid. */
static bool is_digit(char c)
{
    return c >= '0' && c <= '9';
}

bool encconfig_parse_duration(const char *s, int64_t *ret_ns)
{
    static const struct {
        const char *name;
        uint64_t ns;
    } units[] = {
        { "ns", 1ULL },           { "us", 1000ULL },
        { "\xc2\xb5s", 1000ULL }, /* U+00B5 micro sign */
        { "\xce\xbcs", 1000ULL }, /* U+03BC Greek mu */
        { "ms", 1000000ULL },     { "s", 1000000000ULL },
        { "m", 60000000000ULL },  { "h", 3600000000000ULL },
    };
    const char *p = s;
    bool neg = false;
    uint64_t total = 0;

    if (*p == '-' || *p == '+') {
        neg = *p == '-';
        p++;
    }
    if (!strcmp(p, "0")) {
        *ret_ns = 0;
        return true;
    }
    if (!*p)
        return false;
    while (*p) {
        uint64_t whole = 0, frac = 0, scale = 1, unit = 0, add;
        bool pre = false, post = false;
        size_t ulen = 0, i;

        if (!(is_digit(*p) || *p == '.'))
            return false;
        while (is_digit(*p)) {
            if (whole > (UINT64_MAX - 9) / 10)
                return false;
            whole = whole * 10 + (uint64_t)(*p - '0');
            pre = true;
            p++;
        }
        if (*p == '.') {
            p++;
            while (is_digit(*p)) {
                if (scale <= UINT64_MAX / 10 / 10) {
                    frac = frac * 10 + (uint64_t)(*p - '0');
                    scale *= 10;
                }
                post = true;
                p++;
            }
        }
        if (!pre && !post)
            return false;
        while (p[ulen] && p[ulen] != '.' && !is_digit(p[ulen]))
            ulen++;
        if (!ulen)
            return false; /* missing unit */
        for (i = 0; i < sizeof(units) / sizeof(units[0]); i++) {
            if (strlen(units[i].name) == ulen && !strncmp(p, units[i].name, ulen)) {
                unit = units[i].ns;
                break;
            }
        }
        if (!unit)
            return false;
        p += ulen;
        if (whole > (uint64_t)INT64_MAX / unit + 1)
            return false;
        add = whole * unit;
        if (frac) {
            /* frac/scale * unit, as Go computes it in floating point; exact for our units */
            add += (uint64_t)((long double)frac * (long double)unit / (long double)scale);
        }
        if (add > (uint64_t)INT64_MAX + 1 - total)
            return false;
        total += add;
    }
    if (total > (uint64_t)INT64_MAX && !(neg && total == (uint64_t)INT64_MAX + 1))
        return false;
    if (neg)
        *ret_ns = total == (uint64_t)INT64_MAX + 1 ? INT64_MIN : -(int64_t)total;
    else
        *ret_ns = (int64_t)total;
    return true;
}

/* Go's fmtFrac: the fraction of v (prec digits), trailing zeros dropped; returns v/10^prec. */
static uint64_t fmt_frac(char *buf, size_t *w, uint64_t v, int prec)
{
    bool print = false;
    int i;

    for (i = 0; i < prec; i++) {
        int digit = (int)(v % 10);

        print = print || digit != 0;
        if (print)
            buf[--*w] = (char)('0' + digit);
        v /= 10;
    }
    if (print)
        buf[--*w] = '.';
    return v;
}

static void fmt_int(char *buf, size_t *w, uint64_t v)
{
    if (v == 0) {
        buf[--*w] = '0';
        return;
    }
    while (v > 0) {
        buf[--*w] = (char)('0' + v % 10);
        v /= 10;
    }
}

/* Go's time.Duration.String ("1m30s", "1.5ms", "0s"), with "µs" as Go writes it. */
void encconfig_format_duration(int64_t ns, struct strbuf *out)
{
    char buf[40];
    size_t w = sizeof(buf);
    uint64_t u = ns < 0 ? (uint64_t)0 - (uint64_t)ns : (uint64_t)ns;

    if (u < 1000000000ULL) {
        int prec;

        buf[--w] = 's';
        if (u == 0) {
            strbuf_addstr(out, "0s");
            return;
        } else if (u < 1000ULL) {
            prec = 0;
            buf[--w] = 'n';
        } else if (u < 1000000ULL) {
            prec = 3;
            w -= 2;
            buf[w] = (char)0xc2;
            buf[w + 1] = (char)0xb5;
        } else {
            prec = 6;
            buf[--w] = 'm';
        }
        u = fmt_frac(buf, &w, u, prec);
        fmt_int(buf, &w, u);
    } else {
        buf[--w] = 's';
        u = fmt_frac(buf, &w, u, 9);
        fmt_int(buf, &w, u % 60);
        u /= 60;
        if (u > 0) {
            buf[--w] = 'm';
            fmt_int(buf, &w, u % 60);
            u /= 60;
            if (u > 0) {
                buf[--w] = 'h';
                fmt_int(buf, &w, u);
            }
        }
    }
    if (ns < 0)
        buf[--w] = '-';
    strbuf_add(out, buf + w, sizeof(buf) - w);
}

enum yaml_type {
    YT_STRING,
    YT_NULL,
    YT_BOOL,
    YT_INT,
    YT_FLOAT,
};

static bool str_in(const char *s, const char *const *list)
{
    for (; *list; list++) {
        if (!strcmp(s, *list))
            return true;
    }
    return false;
}

/* Parses digits of a base (underscores allowed); false on no digits or a bad digit. */
static bool parse_uint_base(const char *s, int base, uint64_t *ret, bool *overflow)
{
    uint64_t v = 0;
    bool any = false;

    *overflow = false;
    for (; *s; s++) {
        int d;

        if (*s == '_')
            continue;
        if (*s >= '0' && *s <= '9')
            d = *s - '0';
        else if (*s >= 'a' && *s <= 'f')
            d = *s - 'a' + 10;
        else if (*s >= 'A' && *s <= 'F')
            d = *s - 'A' + 10;
        else
            return false;
        if (d >= base)
            return false;
        if (v > (UINT64_MAX - (uint64_t)d) / (uint64_t)base)
            *overflow = true;
        else
            v = v * (uint64_t)base + (uint64_t)d;
        any = true;
    }
    *ret = v;
    return any;
}

/* An integer as the YAML 1.1 resolver of sigs.k8s.io/yaml reads one (base prefixes, '_'). */
static bool yaml_int(const char *s, int64_t *ret, bool *overflow)
{
    bool neg = false;
    uint64_t v;
    int base = 10;

    *overflow = false;
    if (*s == '-' || *s == '+') {
        neg = *s == '-';
        s++;
    }
    if (!*s || *s == '_')
        return false;
    if (s[0] == '0' && (s[1] == 'x' || s[1] == 'X')) {
        base = 16;
        s += 2;
    } else if (s[0] == '0' && (s[1] == 'b' || s[1] == 'B')) {
        base = 2;
        s += 2;
    } else if (s[0] == '0' && (s[1] == 'o' || s[1] == 'O')) {
        base = 8;
        s += 2;
    } else if (s[0] == '0' && s[1]) {
        base = 8;
        s += 1;
    }
    if (!parse_uint_base(s, base, &v, overflow))
        return false;
    if (!*overflow && v > (uint64_t)INT64_MAX + (neg ? 1 : 0))
        *overflow = true;
    if (!*overflow)
        *ret = neg ? (v == (uint64_t)INT64_MAX + 1 ? INT64_MIN : -(int64_t)v) : (int64_t)v;
    return true;
}

static bool yaml_float(const char *s)
{
    static const char *const special[] = { ".inf",  ".Inf",  ".INF",  "+.inf", "+.Inf",
                                           "+.INF", "-.inf", "-.Inf", "-.INF", ".nan",
                                           ".NaN",  ".NAN",  NULL };
    bool digits = false;

    if (str_in(s, special))
        return true;
    if (*s == '-' || *s == '+')
        s++;
    if (*s == '.') {
        s++;
        if (!is_digit(*s))
            return false;
        while (is_digit(*s))
            s++;
    } else {
        while (is_digit(*s)) {
            s++;
            digits = true;
        }
        if (!digits)
            return false;
        if (*s == '.') {
            s++;
            while (is_digit(*s))
                s++;
        }
    }
    if (*s == 'e' || *s == 'E') {
        s++;
        if (*s == '-' || *s == '+')
            s++;
        if (!is_digit(*s))
            return false;
        while (is_digit(*s))
            s++;
    }
    return *s == '\0';
}

/* What a YAML 1.1 reader (go-yaml, as used by kube-apiserver) makes of a scalar. */
static enum yaml_type scalar_type(const struct ytree_node *n)
{
    static const char *const bools[] = { "y",    "Y",     "yes",   "Yes",   "YES",  "n",
                                         "N",    "no",    "No",    "NO",    "true", "True",
                                         "TRUE", "false", "False", "FALSE", "on",   "On",
                                         "ON",   "off",   "Off",   "OFF",   NULL };
    int64_t v;
    bool ovf;

    if (n->kind != YTREE_SCALAR || n->style != YTREE_PLAIN)
        return YT_STRING;
    if (ytree_is_null(n))
        return YT_NULL;
    if (str_in(n->str, bools))
        return YT_BOOL;
    if (yaml_int(n->str, &v, &ovf))
        return ovf ? YT_FLOAT : YT_INT;
    if (yaml_float(n->str))
        return YT_FLOAT;
    return YT_STRING;
}

static const char *type_name(const struct ytree_node *n)
{
    if (!n)
        return "nothing";
    if (n->kind == YTREE_MAP)
        return "a mapping";
    if (n->kind == YTREE_SEQ)
        return "a list";
    switch (scalar_type(n)) {
    case YT_NULL:
        return "null";
    case YT_BOOL:
        return "a boolean";
    case YT_INT:
    case YT_FLOAT:
        return "a number";
    case YT_STRING:
        break;
    }
    return "a string";
}

static struct encconfig_pos node_pos(const struct ytree_node *n)
{
    struct encconfig_pos p = { 0, 0 };

    if (n) {
        p.line = n->line;
        p.col = n->col;
    }
    return p;
}

/* ------------------------------------------------------------------------------------------ */
/* parser */

struct pctx {
    const char *file;
    struct encconfig_diag *d;
};

static void perr(struct pctx *c, const struct ytree_node *n, const char *path, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static void perr(struct pctx *c, const struct ytree_node *n, const char *path, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    diag_vadd(c->d, ENCCONFIG_ERROR, c->file, node_pos(n), path, fmt, ap);
    va_end(ap);
}

static char *path_key(const char *path, const char *key)
{
    return *path ? xasprintf("%s.%s", path, key) : xstrdup(key);
}

static char *path_idx(const char *path, size_t i)
{
    return xasprintf("%s[%zu]", path, i);
}

/* Reports every key of map not in allowed (NULL-terminated) as an unknown field. */
static void check_fields(struct pctx *c, const struct ytree_node *map, const char *path,
                         const char *const *allowed)
{
    size_t i;

    for (i = 0; i < map->npairs; i++) {
        const struct ytree_node *k = map->pairs[i].key;
        const char *hint;
        char *p, *q;

        if (strlen(k->str) == k->len && str_in(k->str, allowed))
            continue;
        p = path_key(path, k->str);
        q = go_quoted(k->str);
        hint = allowed[0] ? ytree_suggest(k->str, allowed) : NULL;
        if (hint)
            perr(c, k, p, "unknown field %s (did you mean \"%s\"?)", q, hint);
        else
            perr(c, k, p, "unknown field %s", q);
        free(p);
        free(q);
    }
}

/* True for a mapping; false (no error) for null; false with an error otherwise. */
static bool want_map(struct pctx *c, const struct ytree_node *n, const char *path)
{
    if (n->kind == YTREE_MAP)
        return true;
    if (n->kind == YTREE_SCALAR && scalar_type(n) == YT_NULL)
        return false;
    perr(c, n, path, "must be a mapping, not %s", type_name(n));
    return false;
}

static bool want_seq(struct pctx *c, const struct ytree_node *n, const char *path)
{
    if (n->kind == YTREE_SEQ)
        return true;
    if (n->kind == YTREE_SCALAR && scalar_type(n) == YT_NULL)
        return false;
    perr(c, n, path, "must be a list, not %s", type_name(n));
    return false;
}

/*
 * A string field: null reads as "" (as Go's JSON decoding leaves the zero value); numbers and
 * booleans are errors (kube-apiserver converts YAML to JSON before decoding). *ret is always
 * set to a new string. secret: never echo the value.
 */
static bool get_string(struct pctx *c, const struct ytree_node *n, const char *path, char **ret)
{
    *ret = NULL;
    if (n->kind == YTREE_SCALAR) {
        enum yaml_type t = scalar_type(n);

        if (t == YT_NULL) {
            *ret = xstrdup("");
            return true;
        }
        if (t == YT_STRING) {
            if (memchr(n->str, '\0', n->len)) {
                perr(c, n, path, "must not contain a NUL character");
            } else if (!utf8_valid(n->str, n->len)) {
                perr(c, n, path, "must be valid UTF-8");
            } else {
                *ret = xmemdup(n->str, n->len + 1);
                return true;
            }
            *ret = xstrdup("");
            return false;
        }
    }
    perr(c, n, path, "must be a string, not %s", type_name(n));
    *ret = xstrdup("");
    return false;
}

/* Pairs of a mapping in order; returns the value for key, recording its key node. */
static const struct ytree_node *map_get(const struct ytree_node *map, const char *key,
                                        const struct ytree_node **ret_key)
{
    size_t i;

    for (i = 0; i < map->npairs; i++) {
        if (!strcmp(map->pairs[i].key->str, key)) {
            if (ret_key)
                *ret_key = map->pairs[i].key;
            return map->pairs[i].value;
        }
    }
    return NULL;
}

static void parse_key(struct pctx *c, const struct ytree_node *n, const char *path,
                      struct encconfig_key *k)
{
    static const char *const fields[] = { "name", "secret", NULL };
    const struct ytree_node *v;
    char *p;

    k->pos = k->name_pos = k->secret_pos = node_pos(n);
    k->state = ENCCONFIG_SECRET_EMPTY;
    if (!want_map(c, n, path)) {
        k->name = xstrdup("");
        return;
    }
    check_fields(c, n, path, fields);
    v = map_get(n, "name", NULL);
    if (v) {
        p = path_key(path, "name");
        k->name_pos = node_pos(v);
        get_string(c, v, p, &k->name);
        free(p);
    } else {
        k->name = xstrdup("");
    }
    v = map_get(n, "secret", NULL);
    if (v) {
        p = path_key(path, "secret");
        k->secret_pos = node_pos(v);
        if (v->kind == YTREE_SCALAR && scalar_type(v) == YT_STRING && !memchr(v->str, 0, v->len)) {
            if (v->len == 0) {
                k->state = ENCCONFIG_SECRET_EMPTY;
            } else {
                struct strbuf dec = STRBUF_INIT;

                if (b64_decode(v->str, v->len, &dec, NULL) == RKC_OK) {
                    k->state = ENCCONFIG_SECRET_OK;
                    k->secret_len = dec.len;
                    k->secret = xmemdup(dec.buf, dec.len + 1);
                } else {
                    k->state = ENCCONFIG_SECRET_BADB64;
                }
                strbuf_release_wipe(&dec);
            }
        } else if (!(v->kind == YTREE_SCALAR && scalar_type(v) == YT_NULL)) {
            perr(c, v, p, "must be a string, not %s",
                 v->kind == YTREE_SCALAR && scalar_type(v) == YT_STRING ? "a string with a NUL"
                                                                        : type_name(v));
        }
        free(p);
    }
}

static void parse_keys_provider(struct pctx *c, const struct ytree_node *n, const char *path,
                                struct encconfig_provider *p)
{
    static const char *const fields[] = { "keys", NULL };
    const struct ytree_node *keys;
    char *kp;
    size_t i;

    p->keys_pos = node_pos(n);
    if (n->kind != YTREE_MAP)
        return;
    check_fields(c, n, path, fields);
    keys = map_get(n, "keys", NULL);
    if (!keys)
        return;
    kp = path_key(path, "keys");
    p->keys_pos = node_pos(keys);
    if (want_seq(c, keys, kp)) {
        for (i = 0; i < keys->nitems; i++) {
            char *ip = path_idx(kp, i);

            parse_key(c, keys->items[i], ip, provider_new_key(p));
            free(ip);
        }
    }
    free(kp);
}

static void parse_kms(struct pctx *c, const struct ytree_node *n, const char *path,
                      struct encconfig_kms *kms)
{
    static const char *const fields[] = { "apiVersion", "name",    "endpoint",
                                          "cachesize",  "timeout", NULL };
    const struct ytree_node *v;
    bool timeout_set = false;
    char *p;

    kms->pos = kms->api_version_pos = kms->name_pos = kms->endpoint_pos = kms->cachesize_pos =
        kms->timeout_pos = node_pos(n);
    if (n->kind == YTREE_MAP) {
        check_fields(c, n, path, fields);
        if ((v = map_get(n, "apiVersion", NULL))) {
            p = path_key(path, "apiVersion");
            kms->api_version_pos = node_pos(v);
            get_string(c, v, p, &kms->api_version);
            free(p);
            if (!kms->api_version[0]) {
                free(kms->api_version);
                kms->api_version = NULL; /* "" is defaulted like an absent field */
            }
        }
        if ((v = map_get(n, "name", NULL))) {
            p = path_key(path, "name");
            kms->name_pos = node_pos(v);
            get_string(c, v, p, &kms->name);
            free(p);
        }
        if ((v = map_get(n, "endpoint", NULL))) {
            p = path_key(path, "endpoint");
            kms->endpoint_pos = node_pos(v);
            get_string(c, v, p, &kms->endpoint);
            free(p);
        }
        if ((v = map_get(n, "cachesize", NULL))) {
            enum yaml_type t = scalar_type(v);
            int64_t num;
            bool ovf;

            p = path_key(path, "cachesize");
            kms->cachesize_pos = node_pos(v);
            if (v->kind == YTREE_SCALAR && t == YT_INT && yaml_int(v->str, &num, &ovf) &&
                num >= INT32_MIN && num <= INT32_MAX) {
                kms->cachesize = (int32_t)num;
                kms->cachesize_set = true;
            } else if (v->kind == YTREE_SCALAR && t == YT_INT) {
                perr(c, v, p, "must be between %d and %d, not %s", INT32_MIN, INT32_MAX, v->str);
            } else if (!(v->kind == YTREE_SCALAR && t == YT_NULL)) {
                perr(c, v, p, "must be a whole number, not %s", type_name(v));
            }
            free(p);
        }
        if ((v = map_get(n, "timeout", NULL))) {
            p = path_key(path, "timeout");
            kms->timeout_pos = node_pos(v);
            if (v->kind == YTREE_SCALAR && scalar_type(v) == YT_STRING) {
                if (memchr(v->str, 0, v->len) ||
                    !encconfig_parse_duration(v->str, &kms->timeout_ns)) {
                    char *q = go_quoted(v->str);

                    perr(c, v, p, "time: invalid duration %s", q);
                    free(q);
                } else {
                    timeout_set = true;
                }
            } else if (!(v->kind == YTREE_SCALAR && scalar_type(v) == YT_NULL)) {
                perr(c, v, p, "must be a duration string such as \"3s\", not %s", type_name(v));
            }
            free(p);
        }
    }
    /* SetDefaults_KMSConfiguration */
    if (!timeout_set)
        kms->timeout_ns = ENCCONFIG_KMS_DEFAULT_TIMEOUT_NS;
    kms_set_defaults(kms);
    if (!kms->cachesize_set && !strcmp(kms->api_version, "v1")) {
        kms->cachesize = ENCCONFIG_KMS_DEFAULT_CACHESIZE;
        kms->cachesize_set = true;
    }
}

static void parse_provider(struct pctx *c, const struct ytree_node *n, const char *path,
                           struct encconfig_provider *p)
{
    /* kube-apiserver's order: the first one present is the one validated and used */
    static const struct {
        const char *name;
        enum encconfig_kind kind;
    } order[] = {
        { "kms", ENCCONFIG_KMS },           { "aesgcm", ENCCONFIG_AESGCM },
        { "aescbc", ENCCONFIG_AESCBC },     { "secretbox", ENCCONFIG_SECRETBOX },
        { "identity", ENCCONFIG_IDENTITY },
    };
    static const char *const fields[] = {
        "kms", "aesgcm", "aescbc", "secretbox", "identity", NULL
    };
    static const char *const none[] = { NULL };
    size_t i;

    p->pos = p->kind_pos = p->keys_pos = node_pos(n);
    p->kind = ENCCONFIG_NONE;
    if (!want_map(c, n, path))
        return;
    check_fields(c, n, path, fields);
    for (i = 0; i < sizeof(order) / sizeof(order[0]); i++) {
        const struct ytree_node *v = map_get(n, order[i].name, NULL);
        struct encconfig_provider scratch;
        struct encconfig_provider *into = p;
        char *kp;

        if (!v)
            continue;
        kp = path_key(path, order[i].name);
        if (!want_map(c, v, kp)) {
            free(kp);
            continue; /* null: not set, as a nil pointer in Go */
        }
        p->present |= 1u << order[i].kind;
        if (p->kind != ENCCONFIG_NONE) {
            memset(&scratch, 0, sizeof(scratch));
            into = &scratch;
        } else {
            p->kind = order[i].kind;
            p->kind_pos = p->keys_pos = node_pos(v);
        }
        switch (order[i].kind) {
        case ENCCONFIG_KMS:
            parse_kms(c, v, kp, &into->kms);
            break;
        case ENCCONFIG_IDENTITY:
            check_fields(c, v, kp, none);
            break;
        default:
            parse_keys_provider(c, v, kp, into);
            break;
        }
        if (into == &scratch)
            provider_release(&scratch);
        free(kp);
    }
}

static void parse_resource(struct pctx *c, const struct ytree_node *n, const char *path,
                           struct encconfig_resource *r)
{
    static const char *const fields[] = { "resources", "providers", NULL };
    const struct ytree_node *v;
    size_t i;
    char *p;

    r->pos = r->names_pos = r->providers_pos = node_pos(n);
    if (!want_map(c, n, path))
        return;
    check_fields(c, n, path, fields);
    if ((v = map_get(n, "resources", NULL))) {
        p = path_key(path, "resources");
        r->names_pos = node_pos(v);
        if (want_seq(c, v, p)) {
            for (i = 0; i < v->nitems; i++) {
                char *ip = path_idx(p, i);
                char *s;

                get_string(c, v->items[i], ip, &s);
                resource_add_name_at(r, s, node_pos(v->items[i]));
                free(s);
                free(ip);
            }
        }
        free(p);
    }
    if ((v = map_get(n, "providers", NULL))) {
        p = path_key(path, "providers");
        r->providers_pos = node_pos(v);
        if (want_seq(c, v, p)) {
            for (i = 0; i < v->nitems; i++) {
                char *ip = path_idx(p, i);

                parse_provider(c, v->items[i], ip,
                               encconfig_resource_add_provider(r, ENCCONFIG_NONE));
                free(ip);
            }
        }
        free(p);
    }
}

static void parse_top(struct pctx *c, const struct ytree_node *n, bool embedded,
                      struct encconfig *cfg)
{
    static const char *const fields[] = { "apiVersion", "kind", "resources", NULL };
    const struct ytree_node *av, *kd, *res;
    char *api = NULL, *kind = NULL;
    size_t i;

    cfg->pos = cfg->resources_pos = node_pos(n);
    if (n->kind != YTREE_MAP) {
        perr(c, n, "", "an EncryptionConfiguration must be a mapping, not %s", type_name(n));
        return;
    }
    check_fields(c, n, "", fields);
    av = map_get(n, "apiVersion", NULL);
    kd = map_get(n, "kind", NULL);
    if (av)
        get_string(c, av, "apiVersion", &api);
    if (kd)
        get_string(c, kd, "kind", &kind);
    if (!embedded || av || kd) {
        bool v1 =
            api && kind && !strcmp(api, ENCCONFIG_API_VERSION) && !strcmp(kind, ENCCONFIG_KIND);
        bool legacy = api && kind && !strcmp(api, ENCCONFIG_LEGACY_API_VERSION) &&
                      !strcmp(kind, ENCCONFIG_LEGACY_KIND);

        if (!kind || !kind[0]) {
            perr(c, kd ? kd : n, "kind",
                 "Required value: kind must be " ENCCONFIG_KIND
                 " (with apiVersion " ENCCONFIG_API_VERSION ")");
        } else if (!api || !api[0]) {
            perr(c, av ? av : n, "apiVersion",
                 "Required value: apiVersion must be " ENCCONFIG_API_VERSION
                 " (with kind " ENCCONFIG_KIND ")");
        } else if (!v1 && !legacy) {
            char *qk = go_quoted(kind), *qa = go_quoted(api);

            perr(c, kd, "kind",
                 "Invalid value: %s: no kind %s is registered for version %s; use "
                 "apiVersion " ENCCONFIG_API_VERSION " with kind " ENCCONFIG_KIND " (or the legacy "
                 "apiVersion " ENCCONFIG_LEGACY_API_VERSION " with kind " ENCCONFIG_LEGACY_KIND ")",
                 qk, qk, qa);
            free(qk);
            free(qa);
        }
        cfg->legacy = legacy;
    }
    free(api);
    free(kind);
    res = map_get(n, "resources", NULL);
    if (!res)
        return;
    cfg->resources_pos = node_pos(res);
    if (!want_seq(c, res, "resources"))
        return;
    for (i = 0; i < res->nitems; i++) {
        char *ip = path_idx("resources", i);

        parse_resource(c, res->items[i], ip, encconfig_add_resource(cfg));
        free(ip);
    }
}

static enum rkc_err finish_parse(struct pctx *c, size_t start, struct encconfig *cfg,
                                 struct encconfig **ret, struct rkc_error *err)
{
    size_t nerr = 0, i;

    for (i = start; i < c->d->nr; i++)
        nerr += c->d->items[i].severity == ENCCONFIG_ERROR;
    if (nerr) {
        encconfig_free(cfg);
        return diag_to_error(c->d, start, nerr, err);
    }
    *ret = cfg;
    return RKC_OK;
}

enum rkc_err encconfig_from_node(const char *file, const struct ytree_node *node,
                                 struct encconfig **ret, struct encconfig_diag *diags,
                                 struct rkc_error *err)
{
    struct encconfig_diag local;
    struct pctx c;
    struct encconfig *cfg;
    enum rkc_err rc;
    size_t start;

    encconfig_diag_init(&local);
    c.file = file ? file : "<config>";
    c.d = diags ? diags : &local;
    start = c.d->nr;
    cfg = encconfig_new(c.file);
    if (!node) {
        perr(&c, NULL, "", "encryption provider configuration is empty");
    } else {
        parse_top(&c, node, true, cfg);
    }
    rc = finish_parse(&c, start, cfg, ret, err);
    encconfig_diag_release(&local);
    return rc;
}

/* Wipes every scalar of a tree (secrets were in it) before it is freed. */
static void wipe_tree(struct ytree_node *n)
{
    size_t i;

    if (!n)
        return;
    if (n->str)
        rkc_wipe(n->str, n->len);
    for (i = 0; i < n->nitems; i++)
        wipe_tree(n->items[i]);
    for (i = 0; i < n->npairs; i++) {
        wipe_tree(n->pairs[i].key);
        wipe_tree(n->pairs[i].value);
    }
}

/* Finds the path of the mapping key at line:col; appends it to path. */
static bool find_key_path(const struct ytree_node *n, size_t line, size_t col, struct strbuf *path)
{
    size_t i, len = path->len;

    if (!n)
        return false;
    for (i = 0; i < n->nitems; i++) {
        strbuf_addf(path, "[%zu]", i);
        if (find_key_path(n->items[i], line, col, path))
            return true;
        strbuf_setlen(path, len);
    }
    for (i = 0; i < n->npairs; i++) {
        if (len)
            strbuf_addch(path, '.');
        strbuf_addstr(path, n->pairs[i].key->str);
        if (n->pairs[i].key->line == line && n->pairs[i].key->col == col)
            return true;
        if (find_key_path(n->pairs[i].value, line, col, path))
            return true;
        strbuf_setlen(path, len);
    }
    return false;
}

/* Parses "FILE:L:C: rest" as ytree writes it. */
static bool split_position(const char *file, const char *msg, size_t *line, size_t *col,
                           const char **rest)
{
    size_t fl = strlen(file);
    char *end;

    if (strncmp(msg, file, fl) != 0 || msg[fl] != ':')
        return false;
    msg += fl + 1;
    *line = strtoul(msg, &end, 10);
    if (end == msg || *end != ':')
        return false;
    msg = end + 1;
    *col = strtoul(msg, &end, 10);
    if (end == msg || strncmp(end, ": ", 2) != 0)
        return false;
    *rest = end + 2;
    return true;
}

/* Byte offset of 1-based line:col (col counted in characters, as libyaml does). */
static bool offset_of(const char *buf, size_t len, size_t line, size_t col, size_t *ret)
{
    size_t i = 0, l = 1, c = 1;

    while (i < len && l < line) {
        if (buf[i] == '\n') {
            l++;
        } else if (buf[i] == '\r') {
            if (i + 1 < len && buf[i + 1] == '\n')
                i++;
            l++;
        }
        i++;
    }
    while (i < len && c < col) {
        unsigned long cp;
        size_t n = utf8_decode((const unsigned char *)buf + i, len - i, &cp);

        if (!n || buf[i] == '\n' || buf[i] == '\r')
            return false;
        i += n;
        c++;
    }
    if (l != line || c != col || i >= len)
        return false;
    *ret = i;
    return true;
}

/*
 * ytree refuses a duplicate mapping key without telling where in the document it is. To
 * name the field path, rename the duplicate (insert a marker into a copy of the text),
 * parse again and find the key at the same position.
 */
static char *duplicate_path(const char *file, const char *buf, size_t len, size_t line, size_t col)
{
    struct strbuf copy = STRBUF_INIT, path = STRBUF_INIT;
    struct ytree_node *root = NULL;
    struct rkc_error e;
    size_t l = line, c = col, off, round;
    char *res = NULL;

    strbuf_add(&copy, buf, len);
    for (round = 0; round < 16; round++) {
        const char *rest;
        char marker[32];

        if (!offset_of(copy.buf, copy.len, l, c, &off))
            break;
        if (copy.buf[off] == '"' || copy.buf[off] == '\'')
            off++;
        snprintf(marker, sizeof(marker), "rkc~dup%zu~", round);
        strbuf_grow(&copy, strlen(marker));
        memmove(copy.buf + off + strlen(marker), copy.buf + off, copy.len - off);
        memcpy(copy.buf + off, marker, strlen(marker));
        strbuf_setlen(&copy, copy.len + strlen(marker));
        if (ytree_parse(file, copy.buf, copy.len, &root, &e) == RKC_OK) {
            if (find_key_path(root, line, col, &path)) {
                /* the path holds the marker: replace the renamed key by its name */
                char *m = strstr(path.buf, "rkc~dup0~");

                if (m)
                    memmove(m, m + 9, strlen(m + 9) + 1);
                res = xstrdup(path.buf);
            }
            break;
        }
        if (!split_position(file, e.msg, &l, &c, &rest) || !strstr(rest, "duplicate key '"))
            break;
    }
    wipe_tree(root);
    ytree_free(root);
    strbuf_release_wipe(&copy);
    strbuf_release(&path);
    return res;
}

enum rkc_err encconfig_parse(const char *file, const char *buf, size_t len, struct encconfig **ret,
                             struct encconfig_diag *diags, struct rkc_error *err)
{
    struct encconfig_diag local;
    struct ytree_node *root = NULL;
    struct rkc_error yerr;
    struct pctx c;
    enum rkc_err rc;
    size_t start;

    if (len > ENCCONFIG_MAX_INPUT)
        return rkc_error_set(err, RKC_ELIMIT,
                             "encryption provider configuration file \"%s\" is larger than %u "
                             "bytes",
                             file, ENCCONFIG_MAX_INPUT);
    encconfig_diag_init(&local);
    c.file = file ? file : "<config>";
    c.d = diags ? diags : &local;
    start = c.d->nr;
    rc = len ? ytree_parse(c.file, buf, len, &root, &yerr) : RKC_OK;
    if (rc == RKC_ELIMIT) {
        rkc_error_set(err, rc, "%s", yerr.msg);
        goto out;
    }
    if (rc) {
        struct encconfig_pos pos = { 0, 0 };
        const char *rest = yerr.msg;
        char *field = NULL;

        if (split_position(c.file, yerr.msg, &pos.line, &pos.col, &rest) &&
            !strncmp(rest, "duplicate key '", 15)) {
            field = duplicate_path(c.file, buf, len, pos.line, pos.col);
            if (field) {
                const char *dot = strrchr(field, '.');
                char *q = go_quoted(dot ? dot + 1 : field);

                encconfig_diag_add(c.d, ENCCONFIG_ERROR, c.file, pos, field, "duplicate field %s%s",
                                   q, strstr(rest, " (first at") ? strstr(rest, " (first at") : "");
                free(q);
            }
        }
        if (!field)
            encconfig_diag_add(c.d, ENCCONFIG_ERROR, c.file, pos, "", "%s", rest);
        free(field);
        rc = diag_to_error(c.d, start, 1, err);
        goto out;
    }
    if (!root) {
        struct encconfig_pos none = { 0, 0 };

        encconfig_diag_add(c.d, ENCCONFIG_ERROR, c.file, none, "",
                           "encryption provider configuration file \"%s\" is empty", c.file);
        rc = diag_to_error(c.d, start, 1, err);
        goto out;
    }
    {
        struct encconfig *cfg = encconfig_new(c.file);

        parse_top(&c, root, false, cfg);
        rc = finish_parse(&c, start, cfg, ret, err);
    }
out:
    wipe_tree(root);
    ytree_free(root);
    encconfig_diag_release(&local);
    return rc;
}

/* ------------------------------------------------------------------------------------------ */
/* validation */

struct vctx {
    const struct encconfig *cfg;
    struct encconfig_diag *d;
    bool reload;
};

static void vadd(struct vctx *v, enum encconfig_severity sev, struct encconfig_pos pos,
                 const char *field, const char *fmt, ...) __attribute__((format(printf, 5, 6)));

static void vadd(struct vctx *v, enum encconfig_severity sev, struct encconfig_pos pos,
                 const char *field, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    diag_vadd(v->d, sev, v->cfg->file, pos, field, fmt, ap);
    va_end(ap);
}

void encconfig_parse_group_resource(const char *s, char **ret_resource, char **ret_group)
{
    const char *dot = strchr(s, '.');

    if (dot) {
        *ret_resource = xstrndup(s, (size_t)(dot - s));
        *ret_group = xstrdup(dot + 1);
    } else {
        *ret_resource = xstrdup(s);
        *ret_group = xstrdup("");
    }
}

struct gr {
    char *resource;
    char *group;
};

static void gr_parse(const char *s, struct gr *g)
{
    encconfig_parse_group_resource(s, &g->resource, &g->group);
}

static void gr_release(struct gr *g)
{
    free(g->resource);
    free(g->group);
}

static bool gr_eq(const struct gr *a, const char *resource, const char *group)
{
    return !strcmp(a->resource, resource) && !strcmp(a->group, group);
}

/* How kube-apiserver prints a group-resource in the masking message. */
static char *gr_yaml_string(const char *resource, const char *group)
{
    if (!*group && !strcmp(resource, "*"))
        return xstrdup("*.");
    if (!*group)
        return xstrdup(resource);
    return xasprintf("%s.%s", resource, group);
}

static bool has_capital(const char *s)
{
    for (; *s; s++) {
        if (*s >= 'A' && *s <= 'Z')
            return true;
    }
    return false;
}

/* Go's %#v of a []string. */
static char *go_string_slice(char *const *v, size_t n)
{
    struct strbuf sb = STRBUF_INIT;
    size_t i;

    strbuf_addstr(&sb, "[]string{");
    for (i = 0; i < n; i++) {
        if (i)
            strbuf_addstr(&sb, ", ");
        go_quote(&sb, v[i]);
    }
    strbuf_addch(&sb, '}');
    return strbuf_detach(&sb, NULL);
}

/* kube-apiserver's resource-overlap rule for one list (its quirks kept). */
static void validate_overlap(struct vctx *v, const struct encconfig_resource *r, const char *fp)
{
    struct gr *g;
    bool dup = false, overlap = false;
    size_t i, j;
    char *val;

    if (r->nnames < 2)
        return;
    g = xcalloc(r->nnames, sizeof(*g));
    for (i = 0; i < r->nnames; i++)
        gr_parse(r->names[i], &g[i]);
    for (i = 0; i < r->nnames; i++) {
        for (j = 0; j < r->nnames; j++) {
            if (i == j)
                continue;
            if (gr_eq(&g[i], g[j].resource, g[j].group) && !dup) {
                dup = true;
                continue;
            }
            if (overlap)
                continue;
            if (gr_eq(&g[i], "*", "*")) {
                overlap = true;
                continue;
            }
            if (strcmp(g[i].group, g[j].group) != 0)
                continue;
            if (!strcmp(g[i].resource, "*") || !strcmp(g[j].resource, "*"))
                overlap = true;
        }
    }
    val = go_string_slice(r->names, r->nnames);
    if (dup)
        vadd(v, ENCCONFIG_ERROR, r->names_pos, fp,
             "Invalid value: %s: the same resource cannot be specified multiple times", val);
    if (overlap)
        vadd(v, ENCCONFIG_ERROR, r->names_pos, fp,
             "Invalid value: %s: using overlapping resources such as 'secrets' and '*.' in the "
             "same resource list is not allowed as they will be masked",
             val);
    free(val);
    for (i = 0; i < r->nnames; i++)
        gr_release(&g[i]);
    free(g);
}

/* kube-apiserver's per-name rules; returns false when the name was refused. */
static bool validate_name(struct vctx *v, const char *name, struct encconfig_pos pos,
                          const char *fp)
{
    const char *msg = NULL;
    struct gr g;
    char *q;

    gr_parse(name, &g);
    if (has_capital(name))
        msg = "resource name should not contain capital letters";
    else if (!strcmp(name, "*"))
        msg = "use '*.' to encrypt all the resources from core API group or *.* to encrypt all "
              "resources";
    else if (!strcmp(name, "apiserveripinfo") || !strcmp(name, "serviceipallocations") ||
             !strcmp(name, "servicenodeportallocations"))
        msg = "resources which do not have REST API/s cannot be encrypted";
    else if (!strcmp(g.group, "events.k8s.io"))
        msg = "'*.events.k8s.io' objects are stored using the 'events' API group in etcd. Use "
              "'events' instead in the config file";
    else if (!strcmp(g.group, "extensions"))
        msg = "'extensions' group has been removed and cannot be used for encryption";
    else if (!strcmp(g.group, "*") && strcmp(g.resource, "*") != 0)
        msg = "encrypting the same resource across groups is not supported";
    gr_release(&g);
    if (!msg)
        return true;
    q = go_quoted(name);
    vadd(v, ENCCONFIG_ERROR, pos, fp, "Invalid value: %s: %s", q, msg);
    free(q);
    return false;
}

static void validate_keys(struct vctx *v, const struct encconfig_provider *p, const char *fp,
                          bool secretbox)
{
    size_t i, j;

    if (p->nkeys == 0) {
        vadd(v, ENCCONFIG_ERROR, p->keys_pos, fp, "Required value: at least one keys is required");
        return;
    }
    for (i = 0; i < p->nkeys; i++) {
        const struct encconfig_key *k = &p->keys[i];
        char *kp = path_idx(fp, i);
        char *np = path_key(kp, "name"), *sp = path_key(kp, "secret");

        if (!k->name[0])
            vadd(v, ENCCONFIG_ERROR, k->name_pos, np,
                 "Required value: name is a mandatory field for a key");
        if (k->state == ENCCONFIG_SECRET_EMPTY) {
            vadd(v, ENCCONFIG_ERROR, k->secret_pos, sp,
                 "Required value: secret is a mandatory field for a key");
        } else if (k->state == ENCCONFIG_SECRET_BADB64) {
            vadd(v, ENCCONFIG_ERROR, k->secret_pos, sp,
                 "Invalid value: \"REDACTED\": secrets must be base64 encoded");
        } else if (secretbox
                       ? k->secret_len != 32
                       : !(k->secret_len == 16 || k->secret_len == 24 || k->secret_len == 32)) {
            vadd(v, ENCCONFIG_ERROR, k->secret_pos, sp,
                 "Invalid value: \"REDACTED\": secret is not of the expected length, got %zu, "
                 "expected one of %s",
                 k->secret_len, secretbox ? "[32]" : "[16 24 32]");
        }
        /* rkc's own checks */
        if (strchr(k->name, ':')) {
            char *q = go_quoted(k->name);

            vadd(v, ENCCONFIG_ERROR, k->name_pos, np,
                 "Invalid value: %s: key name must not contain ':' (rkc check: the stored "
                 "prefix \"k8s:enc:%s:v1:<name>:\" would be ambiguous)",
                 q, encconfig_kind_name(p->kind));
            free(q);
        }
        for (j = 0; k->name[0] && j < i; j++) {
            if (!strcmp(p->keys[j].name, k->name)) {
                char *q = go_quoted(k->name);

                vadd(v, ENCCONFIG_ERROR, k->name_pos, np,
                     "Duplicate value: %s: key name already used by %s[%zu] (rkc check: key "
                     "names must be unique within a provider)",
                     q, fp, j);
                free(q);
                break;
            }
        }
        free(np);
        free(sp);
        free(kp);
    }
}

static bool hexval(char c)
{
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

/* The %-escapes of s must be well formed (Go's unescape); returns the bad escape or NULL. */
static char *bad_escape(const char *s, size_t n)
{
    size_t i;

    for (i = 0; i < n; i++) {
        if (s[i] != '%')
            continue;
        if (i + 2 >= n + 0 || !hexval(s[i + 1]) || !hexval(s[i + 2])) {
            size_t l = n - i < 3 ? n - i : 3;
            char *esc = xstrndup(s + i, l), *q = go_quoted(esc);

            free(esc);
            return q;
        }
        i += 2;
    }
    return NULL;
}

/*
 * Go's url.Parse, as far as it can fail on an endpoint: sets *ret_scheme (new, lowercased)
 * or returns the error text (new), "parse \"URL\": problem".
 */
static char *go_url_parse(const char *url, char **ret_scheme)
{
    size_t n = strlen(url), i, ulen;
    const char *frag = strchr(url, '#');
    const char *rest = NULL, *q;
    char *scheme = NULL, *problem = NULL, *res = NULL, *esc;

    *ret_scheme = NULL;
    ulen = frag ? (size_t)(frag - url) : n;
    for (i = 0; i < n; i++) {
        if ((unsigned char)url[i] < 0x20 || url[i] == 0x7f) {
            problem = xstrdup("net/url: invalid control character in URL");
            goto out;
        }
    }
    for (i = 0; i < ulen; i++) {
        char c = url[i];

        if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'))
            continue;
        if ((c >= '0' && c <= '9') || c == '+' || c == '-' || c == '.') {
            if (i == 0)
                break;
            continue;
        }
        if (c == ':') {
            if (i == 0) {
                problem = xstrdup("missing protocol scheme");
                goto out;
            }
            scheme = xstrndup(url, i);
            rest = url + i + 1;
        }
        break;
    }
    if (!scheme) {
        scheme = xstrdup("");
        rest = url;
    }
    for (i = 0; scheme[i]; i++) {
        if (scheme[i] >= 'A' && scheme[i] <= 'Z')
            scheme[i] = (char)(scheme[i] - 'A' + 'a');
    }
    ulen -= (size_t)(rest - url);
    q = memchr(rest, '?', ulen);
    if (q)
        ulen = (size_t)(q - rest);
    if (!(ulen && rest[0] == '/') && *scheme) {
        /* opaque URL: no further checks */
    } else {
        const char *path = rest;
        size_t plen = ulen;

        if (!*scheme) {
            const char *slash = memchr(rest, '/', ulen);
            const char *colon = memchr(rest, ':', slash ? (size_t)(slash - rest) : ulen);

            if (colon) {
                problem = xstrdup("first path segment in URL cannot contain colon");
                goto out;
            }
        }
        if (*scheme && ulen >= 2 && rest[0] == '/' && rest[1] == '/') {
            const char *auth = rest + 2;
            const char *end = memchr(auth, '/', ulen - 2);
            size_t alen = end ? (size_t)(end - auth) : ulen - 2;
            const char *at = NULL, *host, *colon;
            size_t hlen, k;

            for (k = 0; k < alen; k++) {
                if (auth[k] == '@')
                    at = auth + k;
            }
            host = at ? at + 1 : auth;
            hlen = alen - (size_t)(host - auth);
            if (hlen && host[0] == '[') {
                const char *rb = memchr(host, ']', hlen);

                if (!rb) {
                    problem = xstrdup("missing ']' in host");
                    goto out;
                }
                colon = rb + 1 < host + hlen ? rb + 1 : NULL;
                if (colon && *colon != ':') {
                    char *port = xstrndup(colon, hlen - (size_t)(colon - host));

                    esc = go_quoted(port);
                    problem = xasprintf("invalid port %s after host", esc);
                    free(esc);
                    free(port);
                    goto out;
                }
            } else {
                colon = NULL;
                for (k = 0; k < hlen; k++) {
                    if (host[k] == ':')
                        colon = host + k;
                }
            }
            if (colon) {
                size_t plen2 = hlen - (size_t)(colon - host);

                for (k = 1; k < plen2; k++) {
                    if (!is_digit(colon[k])) {
                        char *port = xstrndup(colon, plen2);

                        esc = go_quoted(port);
                        problem = xasprintf("invalid port %s after host", esc);
                        free(esc);
                        free(port);
                        goto out;
                    }
                }
            }
            if ((esc = bad_escape(host, hlen))) {
                problem = xasprintf("invalid URL escape %s", esc);
                free(esc);
                goto out;
            }
            path = auth + alen;
            plen = ulen - 2 - alen;
        }
        if ((esc = bad_escape(path, plen))) {
            problem = xasprintf("invalid URL escape %s", esc);
            free(esc);
            goto out;
        }
    }
    if (frag && (esc = bad_escape(frag + 1, strlen(frag + 1)))) {
        problem = xasprintf("invalid URL escape %s", esc);
        free(esc);
        goto out;
    }
out:
    if (problem) {
        char *qu = go_quoted(url);

        res = xasprintf("parse %s: %s", qu, problem);
        free(qu);
        free(problem);
        free(scheme);
        return res;
    }
    *ret_scheme = scheme;
    return NULL;
}

struct namelist {
    char **v;
    size_t nr, alloc;
};

static bool namelist_has(const struct namelist *l, const char *s)
{
    size_t i;

    for (i = 0; i < l->nr; i++) {
        if (!strcmp(l->v[i], s))
            return true;
    }
    return false;
}

static void validate_kms(struct vctx *v, const struct encconfig_kms *k, const char *fp,
                         struct namelist *names)
{
    char *p = path_key(fp, "name"), *q, *scheme = NULL, *perr_text;
    bool v1 = !strcmp(k->api_version, "v1");

    if (!k->name[0])
        vadd(v, ENCCONFIG_ERROR, k->name_pos, p,
             "Required value: name is a mandatory field for a provider");
    q = go_quoted(k->name);
    if (!v1 && strchr(k->name, ':'))
        vadd(v, ENCCONFIG_ERROR, k->name_pos, p,
             "Invalid value: %s: invalid KMS provider name %s, must not contain ':'", q, k->name);
    if ((v->reload || !v1) && namelist_has(names, k->name))
        vadd(v, ENCCONFIG_ERROR, k->name_pos, p,
             "Invalid value: %s: duplicate KMS provider name %s, names must be unique", q, k->name);
    free(q);
    free(p);

    if (k->timeout_ns <= 0) {
        struct strbuf d = STRBUF_INIT;

        encconfig_format_duration(k->timeout_ns, &d);
        p = path_key(fp, "timeout");
        vadd(v, ENCCONFIG_ERROR, k->timeout_pos, p,
             "Invalid value: %s: timeout should be a positive value", d.buf);
        free(p);
        strbuf_release(&d);
    }

    p = path_key(fp, "endpoint");
    if (!k->endpoint[0]) {
        vadd(v, ENCCONFIG_ERROR, k->endpoint_pos, p,
             "Invalid value: \"\": endpoint is a mandatory field for a kms");
    } else if ((perr_text = go_url_parse(k->endpoint, &scheme))) {
        q = go_quoted(k->endpoint);
        vadd(v, ENCCONFIG_ERROR, k->endpoint_pos, p,
             "Invalid value: %s: invalid endpoint for kms provider, error: %s", q, perr_text);
        free(q);
        free(perr_text);
    } else if (!scheme || strcmp(scheme, "unix") != 0) {
        char *qs = go_quoted(scheme);

        q = go_quoted(k->endpoint);
        vadd(v, ENCCONFIG_ERROR, k->endpoint_pos, p,
             "Invalid value: %s: unsupported scheme %s for KMS provider, only unix is supported", q,
             qs);
        free(q);
        free(qs);
    }
    free(scheme);
    free(p);

    p = path_key(fp, "cachesize");
    if (!v1 && k->cachesize_set)
        vadd(v, ENCCONFIG_ERROR, k->cachesize_pos, p,
             "Invalid value: %d: cachesize is not supported in v2", (int)k->cachesize);
    if (v1 && k->cachesize_set && k->cachesize == 0)
        vadd(v, ENCCONFIG_ERROR, k->cachesize_pos, p,
             "Invalid value: 0: cachesize should be a positive value, or negative to disable");
    free(p);

    p = path_key(fp, "apiVersion");
    if (!v1 && strcmp(k->api_version, "v2") != 0) {
        q = go_quoted(k->api_version);
        vadd(v, ENCCONFIG_ERROR, k->api_version_pos, p,
             "Invalid value: %s: unsupported apiVersion apiVersion for KMS provider, only v1 and "
             "v2 are supported",
             q);
        free(q);
    }
    if (v1)
        vadd(v, ENCCONFIG_WARNING, k->api_version_pos, p,
             "KMSv1 is deprecated and will only receive security updates going forward. Use "
             "KMSv2 instead.  Set --feature-gates=KMSv1=true to use the deprecated KMSv1 "
             "feature. (kube-apiserver 1.29 and later refuse it without that gate)");
    free(p);
}

static unsigned popcount(unsigned x)
{
    unsigned n = 0;

    for (; x; x &= x - 1)
        n++;
    return n;
}

/* "{aescbc, kms}": the provider names an element holds (never their contents). */
static char *present_string(unsigned present)
{
    static const enum encconfig_kind order[] = { ENCCONFIG_KMS, ENCCONFIG_AESGCM, ENCCONFIG_AESCBC,
                                                 ENCCONFIG_SECRETBOX, ENCCONFIG_IDENTITY };
    struct strbuf sb = STRBUF_INIT;
    size_t i;
    bool first = true;

    strbuf_addch(&sb, '{');
    for (i = 0; i < sizeof(order) / sizeof(order[0]); i++) {
        if (!(present & (1u << order[i])))
            continue;
        strbuf_addf(&sb, "%s%s", first ? "" : ", ", encconfig_kind_name(order[i]));
        first = false;
    }
    strbuf_addch(&sb, '}');
    return strbuf_detach(&sb, NULL);
}

enum rkc_err encconfig_validate(const struct encconfig *cfg, bool reload,
                                struct encconfig_diag *diags, struct rkc_error *err)
{
    struct encconfig_diag local;
    struct namelist kms_names = { NULL, 0, 0 };
    struct gr *seen = NULL; /* group-resources of earlier lists, for the masking rule */
    size_t nseen = 0, seen_alloc = 0;
    struct vctx v;
    size_t start, nerr = 0, i, j;
    enum rkc_err rc;

    encconfig_diag_init(&local);
    v.cfg = cfg;
    v.d = diags ? diags : &local;
    v.reload = reload;
    start = v.d->nr;

    if (cfg->nresources == 0)
        vadd(&v, ENCCONFIG_ERROR, cfg->resources_pos, "resources",
             "Required value: at least one resources is required");
    for (i = 0; i < cfg->nresources; i++) {
        const struct encconfig_resource *r = &cfg->resources[i];
        char *rp = xasprintf("resources[%zu].resources", i);
        char *pp = xasprintf("resources[%zu].providers", i);
        bool *name_ok = xcalloc(r->nnames + 1, sizeof(*name_ok));

        if (r->nnames == 0)
            vadd(&v, ENCCONFIG_ERROR, r->names_pos, rp,
                 "Required value: at least one %s is required", rp);
        validate_overlap(&v, r, rp);
        for (j = 0; j < r->nnames; j++) {
            char *np = path_idx(rp, j);

            name_ok[j] = validate_name(&v, r->names[j], r->name_pos[j], np);
            free(np);
        }
        if (r->nproviders == 0)
            vadd(&v, ENCCONFIG_ERROR, r->providers_pos, pp,
                 "Required value: at least one %s is required", pp);
        for (j = 0; j < r->nproviders; j++) {
            const struct encconfig_provider *p = &r->providers[j];
            char *ep = path_idx(pp, j);
            char *kp = path_key(ep, encconfig_kind_name(p->kind));
            char *keysp = path_key(kp, "keys");

            if (popcount(p->present) != 1) {
                char *val = present_string(p->present);

                vadd(&v, ENCCONFIG_ERROR, p->pos, ep, "Invalid value: %s: %s", val,
                     p->present ? "more than one provider specified in a single element, "
                                  "should split into different list elements"
                                : "provider does not contain any of the expected providers: "
                                  "KMS, AESGCM, AESCBC, Secretbox, Identity");
                free(val);
            }
            switch (p->kind) {
            case ENCCONFIG_KMS:
                validate_kms(&v, &p->kms, kp, &kms_names);
                ALLOC_GROW(kms_names.v, kms_names.nr + 1, kms_names.alloc);
                kms_names.v[kms_names.nr++] = p->kms.name;
                break;
            case ENCCONFIG_AESGCM:
                validate_keys(&v, p, keysp, false);
                vadd(&v, ENCCONFIG_WARNING, p->kind_pos, kp,
                     "aesgcm uses random 96-bit nonces: rotate the key before 200,000 writes");
                break;
            case ENCCONFIG_AESCBC:
                validate_keys(&v, p, keysp, false);
                break;
            case ENCCONFIG_SECRETBOX:
                validate_keys(&v, p, keysp, true);
                break;
            case ENCCONFIG_IDENTITY:
                if (j == 0 && r->nproviders > 1)
                    vadd(&v, ENCCONFIG_WARNING, p->kind_pos, kp,
                         "identity is the first provider, so the API server writes plaintext "
                         "for these resources; the providers after it only read");
                break;
            case ENCCONFIG_NONE:
                break;
            }
            free(keysp);
            free(kp);
            free(ep);
        }
        /* kube-apiserver's build-time rule: an earlier *.group or *.* masks later lists */
        for (j = 0; j < r->nnames; j++) {
            struct gr g;
            const char *rule = NULL;
            size_t s;

            if (!name_ok[j])
                continue;
            gr_parse(r->names[j], &g);
            for (s = 0; s < nseen && !rule; s++) {
                if (gr_eq(&seen[s], "*", g.group))
                    rule = "group";
            }
            for (s = 0; s < nseen && !rule; s++) {
                if (gr_eq(&seen[s], "*", "*"))
                    rule = "any";
            }
            if (rule) {
                char *np = path_idx(rp, j);
                char *a = gr_yaml_string(g.resource, g.group);
                char *b = !strcmp(rule, "group") ? gr_yaml_string("*", g.group)
                                                 : gr_yaml_string("*", "*");
                char *qa = go_quoted(a), *qb = go_quoted(b);

                vadd(&v, ENCCONFIG_ERROR, r->name_pos[j], np,
                     "resource %s is masked by earlier rule %s", qa, qb);
                free(qa);
                free(qb);
                free(a);
                free(b);
                free(np);
                name_ok[j] = false;
            }
            gr_release(&g);
        }
        for (j = 0; j < r->nnames; j++) {
            if (!name_ok[j])
                continue;
            ALLOC_GROW(seen, nseen + 1, seen_alloc);
            gr_parse(r->names[j], &seen[nseen++]);
        }
        free(name_ok);
        free(rp);
        free(pp);
    }
    for (i = 0; i < nseen; i++)
        gr_release(&seen[i]);
    free(seen);
    free(kms_names.v);

    for (i = start; i < v.d->nr; i++)
        nerr += v.d->items[i].severity == ENCCONFIG_ERROR;
    rc = nerr ? diag_to_error(v.d, start, nerr, err) : RKC_OK;
    encconfig_diag_release(&local);
    return rc;
}

/* ------------------------------------------------------------------------------------------ */
/* emitter */

/* A scalar that YAML readers take back as this very string without quotes. */
static bool plain_safe(const char *s)
{
    const char *p;
    struct ytree_node n;

    if (!*s)
        return false;
    if (!((s[0] >= 'a' && s[0] <= 'z') || (s[0] >= 'A' && s[0] <= 'Z') || is_digit(s[0]) ||
          s[0] == '/' || s[0] == '_'))
        return false;
    for (p = s; *p; p++) {
        char c = *p;

        if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || is_digit(c) || c == '_' ||
            c == '.' || c == '/' || c == '-' || c == '+' || c == '=')
            continue;
        if (c == ':' && p[1] && p[1] != ' ')
            continue;
        return false;
    }
    memset(&n, 0, sizeof(n));
    n.kind = YTREE_SCALAR;
    n.style = YTREE_PLAIN;
    n.str = (char *)(uintptr_t)s;
    n.len = strlen(s);
    return scalar_type(&n) == YT_STRING;
}

static void emit_scalar(struct strbuf *out, const char *s)
{
    const unsigned char *p = (const unsigned char *)s;
    size_t n = strlen(s), i = 0;

    if (plain_safe(s)) {
        strbuf_addstr(out, s);
        return;
    }
    strbuf_addch(out, '"');
    while (i < n) {
        unsigned long cp;
        size_t l = utf8_decode(p + i, n - i, &cp);

        if (!l) { /* cannot happen for parsed strings; keep the byte visible */
            strbuf_addf(out, "\\x%02x", p[i]);
            i++;
            continue;
        }
        i += l;
        if (cp == '"')
            strbuf_addstr(out, "\\\"");
        else if (cp == '\\')
            strbuf_addstr(out, "\\\\");
        else if (cp < 0x20 || cp == 0x7f)
            strbuf_addf(out, "\\x%02lx", cp);
        else if (cp < 0x80)
            strbuf_addch(out, (char)cp);
        else if (cp <= 0xffff)
            strbuf_addf(out, "\\u%04lx", cp);
        else
            strbuf_addf(out, "\\U%08lx", cp);
    }
    strbuf_addch(out, '"');
}

static void emit_line(struct strbuf *out, int indent, const char *dash_key, const char *value)
{
    strbuf_addf(out, "%*s%s", indent, "", dash_key);
    if (value) {
        strbuf_addch(out, ' ');
        emit_scalar(out, value);
    }
    strbuf_addch(out, '\n');
}

enum rkc_err encconfig_emit(const struct encconfig *cfg, struct strbuf *out, struct rkc_error *err)
{
    size_t i, j, k;

    /* refuse first, so that out is untouched on failure */
    for (i = 0; i < cfg->nresources; i++) {
        for (j = 0; j < cfg->resources[i].nproviders; j++) {
            const struct encconfig_provider *p = &cfg->resources[i].providers[j];

            if (popcount(p->present) != 1 || p->kind == ENCCONFIG_NONE)
                return rkc_error_set(err, RKC_EINVAL,
                                     "cannot write resources[%zu].providers[%zu]: it must name "
                                     "exactly one provider",
                                     i, j);
            for (k = 0; k < p->nkeys; k++) {
                if (p->keys[k].state != ENCCONFIG_SECRET_OK || !p->keys[k].secret_len)
                    return rkc_error_set(err, RKC_EINVAL,
                                         "cannot write resources[%zu].providers[%zu].%s.keys[%zu]"
                                         ": its secret is missing or not base64",
                                         i, j, encconfig_kind_name(p->kind), k);
            }
        }
    }
    strbuf_addstr(out, "apiVersion: " ENCCONFIG_API_VERSION "\nkind: " ENCCONFIG_KIND "\n");
    strbuf_addstr(out, cfg->nresources ? "resources:\n" : "resources: []\n");
    for (i = 0; i < cfg->nresources; i++) {
        const struct encconfig_resource *r = &cfg->resources[i];

        strbuf_addstr(out, r->nnames ? "  - resources:\n" : "  - resources: []\n");
        for (j = 0; j < r->nnames; j++)
            emit_line(out, 6, "-", r->names[j]);
        strbuf_addstr(out, r->nproviders ? "    providers:\n" : "    providers: []\n");
        for (j = 0; j < r->nproviders; j++) {
            const struct encconfig_provider *p = &r->providers[j];
            struct strbuf d = STRBUF_INIT;

            switch (p->kind) {
            case ENCCONFIG_IDENTITY:
                strbuf_addstr(out, "      - identity: {}\n");
                break;
            case ENCCONFIG_KMS:
                strbuf_addstr(out, "      - kms:\n");
                emit_line(out, 10, "apiVersion:", p->kms.api_version);
                emit_line(out, 10, "name:", p->kms.name);
                emit_line(out, 10, "endpoint:", p->kms.endpoint);
                if (p->kms.cachesize_set)
                    strbuf_addf(out, "%10s%s %d\n", "", "cachesize:", (int)p->kms.cachesize);
                encconfig_format_duration(p->kms.timeout_ns, &d);
                emit_line(out, 10, "timeout:", d.buf);
                strbuf_release(&d);
                break;
            default:
                strbuf_addf(out, "      - %s:\n", encconfig_kind_name(p->kind));
                strbuf_addstr(out, p->nkeys ? "          keys:\n" : "          keys: []\n");
                for (k = 0; k < p->nkeys; k++) {
                    const struct encconfig_key *key = &p->keys[k];

                    emit_line(out, 12, "- name:", key->name);
                    strbuf_addf(out, "%14ssecret: ", "");
                    b64_encode(key->secret, key->secret_len, out);
                    strbuf_addch(out, '\n');
                }
                break;
            }
        }
    }
    return RKC_OK;
}

void encconfig_hash_bytes(const void *buf, size_t len, char *ret)
{
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int mdlen = 0, i;

    if (!EVP_Digest(buf, len, md, &mdlen, EVP_sha256(), NULL) || mdlen != 32)
        RKC_BUG("sha256 failed");
    snprintf(ret, 8, "sha256:");
    for (i = 0; i < mdlen; i++)
        snprintf(ret + 7 + 2 * (size_t)i, 3, "%02x", md[i]);
}

enum rkc_err encconfig_hash(const struct encconfig *cfg, char *ret, struct rkc_error *err)
{
    struct strbuf sb = STRBUF_INIT;
    enum rkc_err rc = encconfig_emit(cfg, &sb, err);

    if (!rc)
        encconfig_hash_bytes(sb.buf, sb.len, ret);
    strbuf_release_wipe(&sb);
    return rc;
}

/* ------------------------------------------------------------------------------------------ */
/* equality and lookup */

static bool str_eq(const char *a, const char *b)
{
    return !strcmp(a ? a : "", b ? b : "");
}

static bool provider_equal(const struct encconfig_provider *a, const struct encconfig_provider *b)
{
    size_t k;

    if (a->kind != b->kind || a->present != b->present || a->nkeys != b->nkeys)
        return false;
    for (k = 0; k < a->nkeys; k++) {
        const struct encconfig_key *x = &a->keys[k], *y = &b->keys[k];

        if (!str_eq(x->name, y->name) || x->state != y->state)
            return false;
        if (x->state == ENCCONFIG_SECRET_OK &&
            (x->secret_len != y->secret_len || memcmp(x->secret, y->secret, x->secret_len) != 0))
            return false;
    }
    if (a->kind == ENCCONFIG_KMS) {
        const struct encconfig_kms *x = &a->kms, *y = &b->kms;

        if (!str_eq(x->api_version, y->api_version) || !str_eq(x->name, y->name) ||
            !str_eq(x->endpoint, y->endpoint) || x->cachesize_set != y->cachesize_set ||
            (x->cachesize_set && x->cachesize != y->cachesize) || x->timeout_ns != y->timeout_ns)
            return false;
    }
    return true;
}

bool encconfig_equal(const struct encconfig *a, const struct encconfig *b)
{
    size_t i, j;

    if (a->nresources != b->nresources)
        return false;
    for (i = 0; i < a->nresources; i++) {
        const struct encconfig_resource *x = &a->resources[i], *y = &b->resources[i];

        if (x->nnames != y->nnames || x->nproviders != y->nproviders)
            return false;
        for (j = 0; j < x->nnames; j++) {
            if (strcmp(x->names[j], y->names[j]) != 0)
                return false;
        }
        for (j = 0; j < x->nproviders; j++) {
            if (!provider_equal(&x->providers[j], &y->providers[j]))
                return false;
        }
    }
    return true;
}

/* Collects the providers of every list naming exactly resource.group. */
static size_t collect(const struct encconfig *cfg, const char *resource, const char *group,
                      const struct encconfig_provider ***ret, const char **ret_rule)
{
    const struct encconfig_provider **v = NULL;
    size_t n = 0, alloc = 0, i, j, k;

    for (i = 0; i < cfg->nresources; i++) {
        const struct encconfig_resource *r = &cfg->resources[i];

        for (j = 0; j < r->nnames; j++) {
            struct gr g;
            bool match;

            gr_parse(r->names[j], &g);
            match = gr_eq(&g, resource, group);
            gr_release(&g);
            if (!match)
                continue;
            if (ret_rule && !n)
                *ret_rule = r->names[j];
            for (k = 0; k < r->nproviders; k++) {
                if (n == alloc) {
                    alloc = alloc ? 2 * alloc : 8;
                    v = xreallocarray(v, alloc, sizeof(const struct encconfig_provider *));
                }
                v[n++] = &r->providers[k];
            }
            break; /* a name appears once per list (validation) */
        }
    }
    *ret = v;
    return n;
}

size_t encconfig_lookup(const struct encconfig *cfg, const char *resource,
                        const struct encconfig_provider ***ret, const char **ret_rule)
{
    struct gr g;
    size_t n;

    gr_parse(resource, &g);
    *ret = NULL;
    if (ret_rule)
        *ret_rule = NULL;
    n = collect(cfg, g.resource, g.group, ret, ret_rule);
    if (!n) {
        free(*ret);
        n = collect(cfg, "*", g.group, ret, ret_rule);
    }
    if (!n) {
        free(*ret);
        n = collect(cfg, "*", "*", ret, ret_rule);
    }
    if (!n) {
        free(*ret);
        *ret = NULL;
    }
    gr_release(&g);
    return n;
}

/* ------------------------------------------------------------------------------------------ */
/* transformers */

struct encset_entry {
    char *resource;
    char *group;
    char *rule; /* the name as written in the config */
    struct xf_chain *chain;
};

struct encset {
    struct encset_entry *v;
    size_t nr, alloc;
    struct xf_chain *check_identity;
    struct kms_plugin *plugins;
    size_t nplugins, plugins_alloc;
    struct kms_plugin_factory factory;
    char hash[ENCCONFIG_HASH_SIZE];
};

void encset_free(struct encset *set)
{
    size_t i;

    if (!set)
        return;
    for (i = 0; i < set->nr; i++) {
        free(set->v[i].resource);
        free(set->v[i].group);
        free(set->v[i].rule);
        xf_chain_free(set->v[i].chain);
    }
    free(set->v);
    xf_chain_free(set->check_identity);
    for (i = 0; i < set->nplugins; i++) {
        if (set->factory.close)
            set->factory.close(set->factory.ctx, &set->plugins[i]);
    }
    free(set->plugins);
    free(set);
}

static struct encset_entry *encset_find(const struct encset *set, const char *resource,
                                        const char *group)
{
    size_t i;

    for (i = 0; i < set->nr; i++) {
        if (!strcmp(set->v[i].resource, resource) && !strcmp(set->v[i].group, group))
            return &set->v[i];
    }
    return NULL;
}

static enum xf_kind xf_kind_of(const struct encconfig_provider *p)
{
    switch (p->kind) {
    case ENCCONFIG_AESCBC:
        return XF_AESCBC;
    case ENCCONFIG_AESGCM:
        return XF_AESGCM;
    case ENCCONFIG_SECRETBOX:
        return XF_SECRETBOX;
    case ENCCONFIG_KMS:
        return strcmp(p->kms.api_version, "v2") ? XF_KMS_V1 : XF_KMS_V2;
    case ENCCONFIG_IDENTITY:
    case ENCCONFIG_NONE:
        break;
    }
    return XF_IDENTITY;
}

static enum rkc_err build_provider(struct encset *set, const struct encconfig_provider *p,
                                   const struct kms_plugin_factory *kms, struct xf_provider **ret,
                                   struct rkc_error *err)
{
    enum rkc_err rc;
    size_t i;

    switch (p->kind) {
    case ENCCONFIG_IDENTITY:
        *ret = xf_identity_new();
        return RKC_OK;
    case ENCCONFIG_AESCBC:
    case ENCCONFIG_AESGCM:
    case ENCCONFIG_SECRETBOX: {
        struct xf_key *keys = xcalloc(p->nkeys + 1, sizeof(*keys));

        for (i = 0; i < p->nkeys; i++) {
            keys[i].name = p->keys[i].name;
            keys[i].secret = p->keys[i].secret;
            keys[i].secret_len = p->keys[i].secret_len;
        }
        rc = xf_keyed_new(xf_kind_of(p), keys, p->nkeys, ret, err);
        free(keys);
        return rc;
    }
    case ENCCONFIG_KMS: {
        struct kms_plugin plugin;

        if (!kms || !kms->open)
            return rkc_error_set(err, RKC_EINVAL,
                                 "kms provider '%s': no plugin client available yet", p->kms.name);
        memset(&plugin, 0, sizeof(plugin));
        rc = kms->open(kms->ctx, &p->kms, &plugin, err);
        if (rc) {
            rkc_error_prefix(err, "kms provider '%s': ", p->kms.name);
            return rc;
        }
        ALLOC_GROW(set->plugins, set->nplugins + 1, set->plugins_alloc);
        set->plugins[set->nplugins++] = plugin;
        if (xf_kind_of(p) == XF_KMS_V2)
            return xf_kms_v2_new(p->kms.name, &plugin, ret, err);
        return xf_kms_v1_new(p->kms.name, p->kms.cachesize, &plugin, ret, err);
    }
    case ENCCONFIG_NONE:
        break;
    }
    return rkc_error_set(err, RKC_EINTERNAL, "provider element names no provider");
}

enum rkc_err encconfig_build(const struct encconfig *cfg, const struct kms_plugin_factory *kms,
                             struct encset **ret, struct rkc_error *err)
{
    struct encset *set;
    enum rkc_err rc;
    size_t i, j, k;

    rc = encconfig_validate(cfg, false, NULL, err);
    if (rc)
        return rc;
    set = xcalloc(1, sizeof(*set));
    if (kms)
        set->factory = *kms;
    set->check_identity = xf_chain_encrypt_check_identity();
    rc = encconfig_hash(cfg, set->hash, err);
    for (i = 0; !rc && i < cfg->nresources; i++) {
        const struct encconfig_resource *r = &cfg->resources[i];
        struct xf_provider **provs = xcalloc(r->nproviders + 1, sizeof(struct xf_provider *));

        for (j = 0; !rc && j < r->nproviders; j++) {
            rc = build_provider(set, &r->providers[j], kms, &provs[j], err);
            if (rc)
                rkc_error_prefix(err, "resources[%zu].providers[%zu]: ", i, j);
        }
        for (j = 0; !rc && j < r->nnames; j++) {
            char *res, *grp;
            struct encset_entry *e;

            encconfig_parse_group_resource(r->names[j], &res, &grp);
            e = encset_find(set, res, grp);
            if (!e) {
                ALLOC_GROW(set->v, set->nr + 1, set->alloc);
                e = &set->v[set->nr++];
                e->resource = res;
                e->group = grp;
                e->rule = xstrdup(r->names[j]);
                e->chain = xf_chain_new();
            } else {
                free(res);
                free(grp);
            }
            for (k = 0; k < r->nproviders; k++)
                xf_chain_add_take(e->chain, xf_provider_ref(provs[k]));
        }
        for (j = 0; j < r->nproviders; j++)
            xf_provider_free(provs[j]);
        free(provs);
    }
    if (rc) {
        encset_free(set);
        return rc;
    }
    *ret = set;
    return RKC_OK;
}

const struct xf_chain *encset_chain_for_rule(const struct encset *set, const char *resource,
                                             const char **ret_rule)
{
    const struct encset_entry *e;
    char *res, *grp;

    encconfig_parse_group_resource(resource, &res, &grp);
    e = encset_find(set, res, grp);
    if (!e)
        e = encset_find(set, "*", grp);
    if (!e)
        e = encset_find(set, "*", "*");
    free(res);
    free(grp);
    if (ret_rule)
        *ret_rule = e ? e->rule : NULL;
    return e ? e->chain : set->check_identity;
}

const struct xf_chain *encset_chain_for(const struct encset *set, const char *resource)
{
    return encset_chain_for_rule(set, resource, NULL);
}

const char *encset_hash(const struct encset *set)
{
    return set->hash;
}

/* ------------------------------------------------------------------------------------------ */
/* managed configs */

struct encconfig *encconfig_new_managed(const struct encconfig_managed_key *writer,
                                        const struct encconfig_managed_key *readers,
                                        size_t nreaders, bool identity_first)
{
    struct encconfig *cfg = encconfig_new(NULL);
    struct encconfig_resource *r = encconfig_add_resource(cfg);
    struct encconfig_provider *p;
    size_t i;

    encconfig_resource_add_name(r, "secrets");
    if (identity_first)
        encconfig_resource_add_provider(r, ENCCONFIG_IDENTITY);
    p = encconfig_resource_add_provider(r, ENCCONFIG_AESCBC);
    encconfig_provider_add_key(p, writer->name, writer->secret, writer->secret_len);
    for (i = 0; i < nreaders; i++)
        encconfig_provider_add_key(p, readers[i].name, readers[i].secret, readers[i].secret_len);
    if (!identity_first)
        encconfig_resource_add_provider(r, ENCCONFIG_IDENTITY);
    return cfg;
}

enum rkc_err encconfig_new_key(const struct encconfig *cfg, char ret_name[8],
                               unsigned char ret_secret[32], struct rkc_error *err)
{
    const char **names = NULL;
    size_t n = 0, alloc = 0, i, j, k;
    enum rkc_err rc;

    for (i = 0; cfg && i < cfg->nresources; i++) {
        for (j = 0; j < cfg->resources[i].nproviders; j++) {
            const struct encconfig_provider *p = &cfg->resources[i].providers[j];

            for (k = 0; k < p->nkeys; k++) {
                ALLOC_GROW(names, n + 1, alloc);
                names[n++] = p->keys[k].name;
            }
        }
    }
    rc = keygen_key_name(ret_name, names, n, err);
    free(names);
    if (rc)
        return rc;
    return keygen_aes_key(ret_secret, err);
}
