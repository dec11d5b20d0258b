/* SPDX-License-Identifier: Apache-2.0 */
/* kpatch: merge patch, strategic merge patch (merge semantics) and JSON patch. */
#include "apiserver/kpatch.h"

#include <stdlib.h>
#include <string.h>

#include "util/strbuf.h"
#include "util/xalloc.h"

#include "util/banned.h"

struct jval *kpatch_merge(const struct jval *target, const struct jval *patch, bool strategic)
{
    struct jval *out;
    size_t i, n;

    if (!jval_is_object(patch))
        return jval_deep_copy(patch);
    if (strategic && !strcmp(jval_get_str(patch, "$patch", ""), "delete"))
        return NULL;
    if (strategic && !strcmp(jval_get_str(patch, "$patch", ""), "replace"))
        out = jval_object();
    else
        out = jval_is_object(target) ? jval_deep_copy(target) : jval_object();
    n = jval_object_size(patch);
    for (i = 0; i < n; i++) {
        struct jval *pv;
        const char *k = jval_object_key_at(patch, i, &pv);

        if (strategic && k[0] == '$')
            continue; /* directives ($patch, $retainKeys, ...) */
        if (jval_is_null(pv)) {
            jval_del(out, k);
        } else {
            struct jval *merged = kpatch_merge(jval_get(out, k), pv, strategic);

            if (merged)
                jval_set_take(out, k, merged);
            else
                jval_del(out, k);
        }
    }
    return out;
}

/* ---- JSON patch ---- */

struct ptr {
    char **tok;
    size_t nr, alloc;
};

static void ptr_release(struct ptr *p)
{
    size_t i;

    for (i = 0; i < p->nr; i++)
        free(p->tok[i]);
    free(p->tok);
    memset(p, 0, sizeof(*p));
}

static enum rkc_err ptr_parse(const char *s, struct ptr *p, struct rkc_error *err)
{
    memset(p, 0, sizeof(*p));
    if (!*s)
        return RKC_OK;
    if (*s != '/')
        return rkc_error_set(err, RKC_EINVAL, "JSON pointer '%s' does not start with '/'", s);
    while (*s == '/') {
        struct strbuf t = STRBUF_INIT;

        s++;
        while (*s && *s != '/') {
            if (s[0] == '~' && s[1] == '0') {
                strbuf_addch(&t, '~');
                s += 2;
            } else if (s[0] == '~' && s[1] == '1') {
                strbuf_addch(&t, '/');
                s += 2;
            } else {
                strbuf_addch(&t, *s++);
            }
        }
        ALLOC_GROW(p->tok, p->nr + 1, p->alloc);
        p->tok[p->nr++] = strbuf_detach(&t, NULL);
    }
    return RKC_OK;
}

/* Parses an array index token; "-" gives size. Returns false when not an index. */
static bool index_of(const char *t, size_t size, bool allow_end, size_t *ret)
{
    char *end;
    unsigned long v;

    if (allow_end && !strcmp(t, "-")) {
        *ret = size;
        return true;
    }
    if (!*t || (t[0] == '0' && t[1]) || t[0] < '0' || t[0] > '9')
        return false;
    v = strtoul(t, &end, 10);
    if (*end)
        return false;
    *ret = v;
    return true;
}

/* Returns: borrowed value at tokens [0, n) or NULL. */
static struct jval *walk(struct jval *doc, const struct ptr *p, size_t n)
{
    size_t i, idx;

    for (i = 0; doc && i < n; i++) {
        if (jval_is_object(doc))
            doc = jval_get(doc, p->tok[i]);
        else if (jval_is_array(doc) && index_of(p->tok[i], 0, false, &idx) &&
                 idx < jval_array_size(doc))
            doc = jval_array_get(doc, idx);
        else
            doc = NULL;
    }
    return doc;
}

static void array_insert_take(struct jval *arr, size_t idx, struct jval *v)
{
    size_t n = jval_array_size(arr), i;
    struct jval **tail = xcalloc(n - idx + 1, sizeof(struct jval *));

    for (i = idx; i < n; i++)
        tail[i - idx] = jval_incref(jval_array_get(arr, i));
    while (jval_array_size(arr) > idx)
        jval_array_remove(arr, idx);
    jval_array_append_take(arr, v);
    for (i = 0; i < n - idx; i++)
        jval_array_append_take(arr, tail[i]);
    free(tail);
}

/* add: takes v. */
static enum rkc_err do_add(struct jval **doc, const struct ptr *p, struct jval *v,
                           struct rkc_error *err)
{
    struct jval *parent;
    size_t idx;

    if (!p->nr) {
        jval_decref(*doc);
        *doc = v;
        return RKC_OK;
    }
    parent = walk(*doc, p, p->nr - 1);
    if (jval_is_object(parent)) {
        jval_set_take(parent, p->tok[p->nr - 1], v);
        return RKC_OK;
    }
    if (jval_is_array(parent) && index_of(p->tok[p->nr - 1], jval_array_size(parent), true, &idx) &&
        idx <= jval_array_size(parent)) {
        array_insert_take(parent, idx, v);
        return RKC_OK;
    }
    jval_decref(v);
    return rkc_error_set(err, RKC_EINVAL, "add operation does not apply: doc is missing path");
}

static enum rkc_err do_remove(struct jval *doc, const struct ptr *p, struct rkc_error *err)
{
    struct jval *parent;
    size_t idx;

    if (!p->nr)
        return rkc_error_set(err, RKC_EINVAL, "cannot remove the whole document");
    parent = walk(doc, p, p->nr - 1);
    if (jval_is_object(parent) && jval_get(parent, p->tok[p->nr - 1])) {
        jval_del(parent, p->tok[p->nr - 1]);
        return RKC_OK;
    }
    if (jval_is_array(parent) && index_of(p->tok[p->nr - 1], 0, false, &idx) &&
        idx < jval_array_size(parent)) {
        jval_array_remove(parent, idx);
        return RKC_OK;
    }
    return rkc_error_set(err, RKC_EINVAL, "remove operation does not apply: doc is missing path");
}

static enum rkc_err apply_op(struct jval **doc, const struct jval *op, size_t i,
                             struct rkc_error *err)
{
    const char *name = jval_get_str(op, "op", ""), *path = jval_get_str(op, "path", NULL);
    const struct jval *value = jval_get(op, "value");
    struct ptr p, from;
    enum rkc_err rc = RKC_OK;

    memset(&from, 0, sizeof(from));
    if (!path)
        return rkc_error_set(err, RKC_EINVAL, "operation %zu: missing path", i);
    if (ptr_parse(path, &p, err))
        return RKC_EINVAL;
    if (!strcmp(name, "add") || !strcmp(name, "replace")) {
        if (!value) {
            rc = rkc_error_set(err, RKC_EINVAL, "operation %zu: missing value", i);
        } else if (!strcmp(name, "replace") && !walk(*doc, &p, p.nr)) {
            rc = rkc_error_set(err, RKC_EINVAL,
                               "replace operation does not apply: doc is missing key: %s", path);
        } else {
            if (!strcmp(name, "replace") && p.nr)
                rc = do_remove(*doc, &p, err);
            if (!rc)
                rc = do_add(doc, &p, jval_deep_copy(value), err);
        }
    } else if (!strcmp(name, "remove")) {
        rc = do_remove(*doc, &p, err);
    } else if (!strcmp(name, "test")) {
        if (!jval_equal(walk(*doc, &p, p.nr), value))
            rc = rkc_error_set(err, RKC_EINVAL, "testing value %s failed", path);
    } else if (!strcmp(name, "move") || !strcmp(name, "copy")) {
        const char *fs = jval_get_str(op, "from", NULL);
        struct jval *v;

        if (!fs || ptr_parse(fs, &from, err)) {
            rc = rkc_error_set(err, RKC_EINVAL, "operation %zu: missing or bad from", i);
        } else if (!(v = walk(*doc, &from, from.nr))) {
            rc = rkc_error_set(err, RKC_EINVAL,
                               "%s operation does not apply: doc is missing "
                               "from path: %s",
                               name, fs);
        } else {
            v = jval_deep_copy(v);
            if (!strcmp(name, "move"))
                rc = do_remove(*doc, &from, err);
            if (!rc)
                rc = do_add(doc, &p, v, err);
            else
                jval_decref(v);
        }
    } else {
        rc = rkc_error_set(err, RKC_EINVAL, "Unexpected kind: %s", name);
    }
    ptr_release(&p);
    ptr_release(&from);
    return rc;
}

enum rkc_err kpatch_json(const struct jval *target, const struct jval *ops, struct jval **ret,
                         struct rkc_error *err)
{
    struct jval *doc;
    size_t i;

    if (!jval_is_array(ops))
        return rkc_error_set(err, RKC_EINVAL, "a JSON patch must be an array of operations");
    doc = jval_deep_copy(target);
    for (i = 0; i < jval_array_size(ops); i++) {
        if (apply_op(&doc, jval_array_get(ops, i), i, err)) {
            jval_decref(doc);
            return RKC_EINVAL;
        }
    }
    *ret = doc;
    return RKC_OK;
}
