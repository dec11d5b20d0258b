/* SPDX-License-Identifier: Apache-2.0 */
/* jval: the jansson wrapper. struct jval is jansson's json_t under another name. */
#include "adapters/jval.h"

#include <jansson.h>
#include <string.h>

#include "util/xalloc.h"

#include "util/banned.h"

#define J(v)  ((json_t *)(v))
#define CJ(v) ((const json_t *)(v))
#define V(j)  ((struct jval *)(j))

/* Borrowed getters hand out mutable children of a const parent, as jansson itself does. */
static json_t *unconst(const struct jval *v)
{
    union {
        const struct jval *c;
        json_t *m;
    } u;

    u.c = v;
    return u.m;
}

static struct jval *checked(json_t *j)
{
    if (!j)
        RKC_BUG("jansson allocation failed");
    return V(j);
}

static enum rkc_err parse_flags(const char *file, const char *buf, size_t len, size_t flags,
                                struct jval **ret, struct rkc_error *err)
{
    json_error_t je;
    json_t *j = json_loadb(buf, len, flags, &je);

    if (!j)
        /* jansson says column 0 at the start of a line (e.g. a truncated file ending in a
         * newline); positions are 1-based everywhere else in rkc. */
        return rkc_error_set(err, RKC_ECONFIG, "%s:%d:%d: %s", file, je.line < 1 ? 1 : je.line,
                             je.column < 1 ? 1 : je.column, je.text);
    *ret = V(j);
    return RKC_OK;
}

enum rkc_err jval_parse(const char *file, const char *buf, size_t len, struct jval **ret,
                        struct rkc_error *err)
{
    return parse_flags(file, buf, len, JSON_REJECT_DUPLICATES | JSON_ALLOW_NUL, ret, err);
}

enum rkc_err jval_parse_last_wins(const char *file, const char *buf, size_t len, struct jval **ret,
                                  struct rkc_error *err)
{
    return parse_flags(file, buf, len, JSON_ALLOW_NUL, ret, err);
}

static int dump_cb(const char *buffer, size_t size, void *data)
{
    strbuf_add(data, buffer, size);
    return 0;
}

void jval_dump(const struct jval *v, enum jval_dump_flags flags, struct strbuf *out)
{
    size_t jf = JSON_ENCODE_ANY;

    if (flags & JVAL_PRETTY)
        jf |= JSON_INDENT(2);
    else
        jf |= JSON_COMPACT;
    if (flags & JVAL_SORTKEYS)
        jf |= JSON_SORT_KEYS;
    else
        jf |= JSON_PRESERVE_ORDER;
    if (!v) {
        strbuf_addstr(out, "null");
        return;
    }
    json_dump_callback(CJ(v), dump_cb, out, jf);
    if (flags & JVAL_PRETTY)
        strbuf_addch(out, '\n');
}

struct jval *jval_incref(struct jval *v)
{
    return V(json_incref(J(v)));
}

void jval_decref(struct jval *v)
{
    json_decref(J(v));
}

struct jval *jval_deep_copy(const struct jval *v)
{
    return v ? checked(json_deep_copy(CJ(v))) : NULL;
}

bool jval_equal(const struct jval *a, const struct jval *b)
{
    return json_equal(CJ(a), CJ(b));
}

struct jval *jval_object(void)
{
    return checked(json_object());
}

struct jval *jval_array(void)
{
    return checked(json_array());
}

struct jval *jval_string(const char *s)
{
    return checked(json_string(s));
}

struct jval *jval_stringn(const char *s, size_t len)
{
    return checked(json_stringn(s, len));
}

struct jval *jval_integer(int64_t v)
{
    return checked(json_integer((json_int_t)v));
}

struct jval *jval_bool(bool v)
{
    return checked(json_boolean(v));
}

struct jval *jval_null(void)
{
    return checked(json_null());
}

bool jval_is_object(const struct jval *v)
{
    return v && json_is_object(CJ(v));
}

bool jval_is_array(const struct jval *v)
{
    return v && json_is_array(CJ(v));
}

bool jval_is_string(const struct jval *v)
{
    return v && json_is_string(CJ(v));
}

bool jval_is_integer(const struct jval *v)
{
    return v && json_is_integer(CJ(v));
}

bool jval_is_bool(const struct jval *v)
{
    return v && json_is_boolean(CJ(v));
}

bool jval_is_null(const struct jval *v)
{
    return !v || json_is_null(CJ(v));
}

struct jval *jval_get(const struct jval *obj, const char *key)
{
    if (!jval_is_object(obj))
        return NULL;
    return V(json_object_get(CJ(obj), key));
}

const char *jval_get_str(const struct jval *obj, const char *key, const char *def)
{
    const char *s = jval_str(jval_get(obj, key), NULL);

    return s ? s : def;
}

int64_t jval_get_int(const struct jval *obj, const char *key, int64_t def)
{
    struct jval *v = jval_get(obj, key);

    return jval_is_integer(v) ? jval_int(v) : def;
}

bool jval_get_bool(const struct jval *obj, const char *key, bool def)
{
    struct jval *v = jval_get(obj, key);

    return jval_is_bool(v) ? jval_true(v) : def;
}

const char *jval_str(const struct jval *v, size_t *ret_len)
{
    if (!jval_is_string(v))
        return NULL;
    if (ret_len)
        *ret_len = json_string_length(CJ(v));
    return json_string_value(CJ(v));
}

int64_t jval_int(const struct jval *v)
{
    return v ? (int64_t)json_integer_value(CJ(v)) : 0;
}

bool jval_true(const struct jval *v)
{
    return v && json_is_true(CJ(v));
}

void jval_set_take(struct jval *obj, const char *key, struct jval *value)
{
    RKC_ASSERT(jval_is_object(obj));
    if (json_object_set_new(J(obj), key, J(value)) < 0)
        RKC_BUG("json_object_set_new failed for key '%s'", key);
}

void jval_set_str(struct jval *obj, const char *key, const char *s)
{
    jval_set_take(obj, key, jval_string(s));
}

void jval_set_int(struct jval *obj, const char *key, int64_t v)
{
    jval_set_take(obj, key, jval_integer(v));
}

void jval_set_bool(struct jval *obj, const char *key, bool v)
{
    jval_set_take(obj, key, jval_bool(v));
}

void jval_del(struct jval *obj, const char *key)
{
    if (jval_is_object(obj))
        json_object_del(J(obj), key);
}

size_t jval_object_size(const struct jval *obj)
{
    return jval_is_object(obj) ? json_object_size(CJ(obj)) : 0;
}

const char *jval_object_key_at(const struct jval *obj, size_t idx, struct jval **ret_value)
{
    const char *key;
    json_t *value;
    size_t i = 0;

    if (!jval_is_object(obj))
        return NULL;
    json_object_foreach(unconst(obj), key, value)
    {
        if (i++ == idx) {
            if (ret_value)
                *ret_value = V(value);
            return key;
        }
    }
    return NULL;
}

size_t jval_array_size(const struct jval *arr)
{
    return jval_is_array(arr) ? json_array_size(CJ(arr)) : 0;
}

struct jval *jval_array_get(const struct jval *arr, size_t idx)
{
    return jval_is_array(arr) ? V(json_array_get(CJ(arr), idx)) : NULL;
}

void jval_array_append_take(struct jval *arr, struct jval *value)
{
    RKC_ASSERT(jval_is_array(arr));
    if (json_array_append_new(J(arr), J(value)) < 0)
        RKC_BUG("json_array_append_new failed");
}

void jval_wipe_strings(struct jval *v)
{
    const char *key;
    json_t *child;
    size_t i;

    if (!v)
        return;
    if (json_is_string(J(v))) {
        /* jansson owns a private malloc'd copy of every string value. */
        union {
            const char *c;
            char *m;
        } u;

        u.c = json_string_value(J(v));
        rkc_wipe(u.m, json_string_length(J(v)));
    } else if (json_is_object(J(v))) {
        json_object_foreach(J(v), key, child)
        {
            jval_wipe_strings(V(child));
        }
    } else if (json_is_array(J(v))) {
        json_array_foreach(J(v), i, child)
        {
            jval_wipe_strings(V(child));
        }
    }
}

void jval_array_remove(struct jval *arr, size_t idx)
{
    if (jval_is_array(arr))
        json_array_remove(J(arr), idx);
}
