/* SPDX-License-Identifier: Apache-2.0 */
/*
 * h_objects: get, list, create, update, patch and delete of namespaces, secrets and
 * configmaps, with kube-apiserver's defaulting, validation and Status answers.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "apiserver/kobj.h"
#include "apiserver/kpatch.h"
#include "apiserver/kproto.h"
#include "apiserver/server.h"
#include "crypto/b64.h"
#include "util/log.h"
#include "util/xalloc.h"

#include "util/banned.h"

#define UPDATE_RETRIES 5

/* ---- small helpers ---- */

static struct jval *meta_of(struct jval *obj)
{
    struct jval *m = jval_get(obj, "metadata");

    if (!jval_is_object(m)) {
        m = jval_object();
        jval_set_take(obj, "metadata", m);
    }
    return m;
}

static const char *content_type(struct req_ctx *rc)
{
    const char *ct = http_request_header(rc->http, "Content-Type");

    return ct ? ct : "";
}

static bool ct_is(const char *ct, const char *want)
{
    size_t n = strlen(want);

    return !strncasecmp(ct, want, n) && (ct[n] == '\0' || ct[n] == ';' || ct[n] == ' ');
}

static void not_found(struct req_ctx *rc, const char *resource, const char *name)
{
    char *msg = xasprintf("%s \"%s\" not found", resource, name);

    resp_status(rc->resp, 404, "NotFound", msg, status_details(name, resource));
    free(msg);
}

static void conflict(struct req_ctx *rc, const char *name)
{
    char *msg = xasprintf("Operation cannot be fulfilled on %s \"%s\": the object has been "
                          "modified; please apply your changes to the latest version and try "
                          "again",
                          rc->res->resource, name);

    resp_status(rc->resp, 409, "Conflict", msg, status_details(name, rc->res->resource));
    free(msg);
}

static void bad_request(struct req_ctx *rc, const char *msg)
{
    resp_status(rc->resp, 400, "BadRequest", msg, NULL);
}

static void store_failed(struct req_ctx *rc, const char *name, const struct rkc_error *err)
{
    if (err->code == RKC_ENOTFOUND)
        not_found(rc, rc->res->resource, name);
    else if (err->code == RKC_ECRYPTO)
        resp_status(rc->resp, 500, "InternalError", err->msg, NULL);
    else
        resp_internal(rc->resp, err);
}

/* Returns true when the field validation mode asks for warnings about unknown fields. */
static bool warn_mode(struct req_ctx *rc)
{
    const char *fv = http_request_query(rc->http, "fieldValidation");

    return fv && !strcmp(fv, "Warn");
}

/* Returns true when the field validation mode asks for strictness. */
static bool strict_mode(struct req_ctx *rc)
{
    const char *fv = http_request_query(rc->http, "fieldValidation");

    return fv && !strcmp(fv, "Strict");
}

static bool dry_run(struct req_ctx *rc)
{
    const char *d = http_request_query(rc->http, "dryRun");

    return d && *d;
}

/* ---- causes (422) ---- */

struct causes {
    struct jval *arr;
    struct strbuf msg;
    size_t nr;
};

static void cause_add(struct causes *c, const char *reason, const char *field, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static void cause_add(struct causes *c, const char *reason, const char *field, const char *fmt, ...)
{
    struct strbuf m = STRBUF_INIT;
    struct jval *cause = jval_object();
    va_list ap;

    va_start(ap, fmt);
    strbuf_vaddf(&m, fmt, ap);
    va_end(ap);
    jval_set_str(cause, "reason", reason);
    jval_set_str(cause, "message", m.buf);
    jval_set_str(cause, "field", field);
    jval_array_append_take(c->arr, cause);
    if (c->nr++)
        strbuf_addstr(&c->msg, ", ");
    strbuf_addf(&c->msg, "%s: %s", field, m.buf);
    strbuf_release(&m);
}

static void invalid(struct req_ctx *rc, const char *name, struct causes *c)
{
    struct jval *d = jval_object();
    char *msg;

    if (c->nr > 1)
        msg = xasprintf("%s \"%s\" is invalid: [%s]", rc->res->kind, name, c->msg.buf);
    else
        msg = xasprintf("%s \"%s\" is invalid: %s", rc->res->kind, name, c->msg.buf);
    jval_set_str(d, "name", name);
    jval_set_str(d, "kind", rc->res->kind);
    jval_set_take(d, "causes", jval_incref(c->arr));
    resp_status(rc->resp, 422, "Invalid", msg, d);
    free(msg);
}

/* ---- body decoding ---- */

/*
 * Decodes the request body into an object of the request's kind. On failure the response is
 * set and false returned.
 */
static bool read_object(struct req_ctx *rc, struct jval **ret)
{
    const struct strbuf *body = http_request_body(rc->http);
    const char *ct = content_type(rc), *kind = rc->res->kind;
    struct rkc_error err;
    struct jval *obj = NULL;

    rkc_error_init(&err);
    if (ct_is(ct, "application/vnd.kubernetes.protobuf")) {
        if (kproto_decode(body->buf, body->len, &obj, &err)) {
            char *msg = xasprintf("the object provided is unrecognized (must be of type %s): %s",
                                  kind, err.msg);

            bad_request(rc, msg);
            free(msg);
            return false;
        }
    } else if (!*ct || ct_is(ct, "application/json") || ct_is(ct, "*/*")) {
        bool parsed = !jval_parse("body", body->buf, body->len, &obj, &err);

        /* duplicate fields are an error only with fieldValidation=Strict (kube-apiserver) */
        if (!parsed && strstr(err.msg, "duplicate") && !strict_mode(rc)) {
            if (warn_mode(rc))
                snprintf(rc->resp->warning, sizeof(rc->resp->warning), "%.900s",
                         strchr(err.msg, ' ') ? strchr(err.msg, ' ') + 1 : err.msg);
            rkc_error_init(&err);
            parsed = !jval_parse_last_wins("body", body->buf, body->len, &obj, &err);
        }
        if (!parsed || !jval_is_object(obj)) {
            char *msg;

            if (obj)
                msg = xasprintf("the object provided is unrecognized (must be of type %s): "
                                "couldn't get version/kind; json parse error: not an object",
                                kind);
            else if (strstr(err.msg, "duplicate"))
                msg = xasprintf("%s in version \"v1\" cannot be handled as a %s: strict decoding "
                                "error: %s",
                                kind, kind, strchr(err.msg, ' ') + 1);
            else
                msg = xasprintf("the object provided is unrecognized (must be of type %s): "
                                "couldn't get version/kind; json parse error: %s",
                                kind, err.msg);
            jval_decref(obj);
            bad_request(rc, msg);
            free(msg);
            return false;
        }
    } else {
        resp_status(rc->resp, 415, "UnsupportedMediaType",
                    "the body of the request was in an unknown format - accepted media types "
                    "include: application/json, application/vnd.kubernetes.protobuf",
                    NULL);
        return false;
    }
    {
        const char *k = jval_get_str(obj, "kind", ""), *v = jval_get_str(obj, "apiVersion", "");

        if ((*k && strcmp(k, kind) != 0) || (*v && strcmp(v, "v1") != 0)) {
            char *msg = xasprintf("the object provided is unrecognized (must be of type %s): "
                                  "%s/%s",
                                  kind, v, k);

            bad_request(rc, msg);
            free(msg);
            jval_decref(obj);
            return false;
        }
    }
    if (strict_mode(rc)) {
        struct strbuf probs = STRBUF_INIT;

        if (openapi_unknown_fields(rc->srv->openapi, kind, obj, &probs)) {
            char *msg = xasprintf("%s in version \"v1\" cannot be handled as a %s: strict "
                                  "decoding error: %s",
                                  kind, kind, probs.buf);

            bad_request(rc, msg);
            free(msg);
            strbuf_release(&probs);
            jval_decref(obj);
            return false;
        }
        strbuf_release(&probs);
    } else if (warn_mode(rc)) {
        struct strbuf probs = STRBUF_INIT;

        if (openapi_unknown_fields(rc->srv->openapi, kind, obj, &probs))
            snprintf(rc->resp->warning, sizeof(rc->resp->warning), "%s", probs.buf);
        strbuf_release(&probs);
    }
    jval_set_str(obj, "kind", kind);
    jval_set_str(obj, "apiVersion", "v1");
    *ret = obj;
    return true;
}

/* ---- validation and defaulting ---- */

static size_t b64_size(const char *s, size_t len, bool *ok)
{
    struct strbuf out = STRBUF_INIT;
    size_t n;

    *ok = b64_decode(s, len, &out, NULL) == RKC_OK;
    n = out.len;
    strbuf_release_wipe(&out);
    return n;
}

/*
 * Secret and ConfigMap data maps: values must be strings (base64 when binary). On a type error
 * sets a 400 and returns false. Adds key causes and returns the decoded size in *size.
 */
static bool check_map(struct req_ctx *rc, struct jval *map, const char *field, bool binary,
                      struct causes *c, size_t *size)
{
    size_t i, n = jval_object_size(map);

    if (map && !jval_is_object(map) && !jval_is_null(map)) {
        char *msg = xasprintf("%s in version \"v1\" cannot be handled as a %s: %s must be an "
                              "object",
                              rc->res->kind, rc->res->kind, field);

        bad_request(rc, msg);
        free(msg);
        return false;
    }
    for (i = 0; i < n; i++) {
        struct jval *v;
        const char *k = jval_object_key_at(map, i, &v);
        size_t len;
        const char *s = jval_str(v, &len);

        if (!s && !jval_is_null(v)) {
            char *msg = xasprintf("%s in version \"v1\" cannot be handled as a %s: %s[%s] must "
                                  "be a string",
                                  rc->res->kind, rc->res->kind, field, k);

            bad_request(rc, msg);
            free(msg);
            return false;
        }
        if (binary && s) {
            bool ok;

            *size += b64_size(s, len, &ok);
            if (!ok) {
                char *msg = xasprintf("%s in version \"v1\" cannot be handled as a %s: illegal "
                                      "base64 data in %s[%s]",
                                      rc->res->kind, rc->res->kind, field, k);

                bad_request(rc, msg);
                free(msg);
                return false;
            }
        } else if (s) {
            *size += len;
        }
        if (!kobj_is_config_key(k)) {
            char *f = xasprintf("%s[%s]", field, k);

            cause_add(c, "FieldValueInvalid", f, "Invalid value: \"%s\": %s", k,
                      KOBJ_MSG_CONFIG_KEY);
            free(f);
        }
    }
    return true;
}

/*
 * Defaults and validates obj (old: the stored version on update, else NULL). Returns false with
 * the response set (400 or 422).
 */
static bool validate(struct req_ctx *rc, struct jval *obj, const struct jval *old, const char *name)
{
    struct causes c = { jval_array(), STRBUF_INIT, 0 };
    struct jval *meta = meta_of(obj);
    size_t size = 0;
    bool ok = true;

    if (rc->kres == KRES_NAMESPACES) {
        if (!kobj_is_dns1123_label(name))
            cause_add(&c, "FieldValueInvalid", "metadata.name", "Invalid value: \"%s\": %s", name,
                      KOBJ_MSG_LABEL);
    } else if (!kobj_is_dns1123_subdomain(name)) {
        cause_add(&c, "FieldValueInvalid", "metadata.name", "Invalid value: \"%s\": %s", name,
                  KOBJ_MSG_SUBDOMAIN);
    }
    if (jval_get(meta, "labels") && !jval_is_object(jval_get(meta, "labels")))
        cause_add(&c, "FieldValueInvalid", "metadata.labels", "Invalid value: must be a map");

    if (rc->kres == KRES_SECRETS) {
        struct jval *data = jval_get(obj, "data"), *sd = jval_get(obj, "stringData");
        const char *type = jval_get_str(obj, "type", "");

        if (!*type)
            jval_set_str(obj, "type", "Opaque");
        ok = check_map(rc, data, "data", true, &c, &size) &&
             check_map(rc, sd, "stringData", false, &c, &size);
        if (ok && sd && jval_object_size(sd)) {
            size_t i;

            if (!jval_is_object(data)) {
                data = jval_object();
                jval_set_take(obj, "data", data);
            }
            for (i = 0; i < jval_object_size(sd); i++) {
                struct jval *v;
                const char *k = jval_object_key_at(sd, i, &v);
                struct strbuf b = STRBUF_INIT;
                size_t len;
                const char *s = jval_str(v, &len);

                b64_encode(s ? s : "", s ? len : 0, &b);
                jval_set_take(data, k, jval_stringn(b.buf, b.len));
                strbuf_release_wipe(&b);
            }
        }
        jval_del(obj, "stringData");
        if (ok && !strcmp(jval_get_str(obj, "type", ""), "kubernetes.io/tls")) {
            if (!jval_get(data, "tls.crt"))
                cause_add(&c, "FieldValueRequired", "data[tls.crt]", "Required value");
            if (!jval_get(data, "tls.key"))
                cause_add(&c, "FieldValueRequired", "data[tls.key]", "Required value");
        }
        if (ok && old &&
            strcmp(jval_get_str(old, "type", "Opaque"), jval_get_str(obj, "type", "Opaque")) != 0)
            cause_add(&c, "FieldValueInvalid", "type", "Invalid value: \"%s\": field is immutable",
                      jval_get_str(obj, "type", ""));
    } else if (rc->kres == KRES_CONFIGMAPS) {
        struct jval *data = jval_get(obj, "data"), *bin = jval_get(obj, "binaryData");
        size_t i;

        ok = check_map(rc, data, "data", false, &c, &size) &&
             check_map(rc, bin, "binaryData", true, &c, &size);
        for (i = 0; ok && i < jval_object_size(data); i++) {
            const char *k = jval_object_key_at(data, i, NULL);

            if (jval_get(bin, k)) {
                char *f = xasprintf("data[%s]", k);

                cause_add(&c, "FieldValueInvalid", f,
                          "Invalid value: \"%s\": duplicate of key present in binaryData", k);
                free(f);
            }
        }
    } else {
        struct jval *spec = jval_get(obj, "spec"), *status;

        if (!jval_is_object(spec)) {
            spec = jval_object();
            jval_set_take(obj, "spec", spec);
        }
        if (!jval_get(spec, "finalizers")) {
            struct jval *f = jval_array();

            jval_array_append_take(f, jval_string("kubernetes"));
            jval_set_take(spec, "finalizers", f);
        }
        status = jval_object();
        jval_set_str(status, "phase", "Active");
        jval_set_take(obj, "status", status);
        if (!jval_is_object(jval_get(meta, "labels")))
            jval_set_take(meta, "labels", jval_object());
        jval_set_str(jval_get(meta, "labels"), "kubernetes.io/metadata.name", name);
    }
    if (ok && size > APISERVER_MAX_VALUE)
        cause_add(&c, "FieldValueTooLong", rc->kres == KRES_SECRETS ? "data" : "[]",
                  "Too long: must have at most %zu bytes", APISERVER_MAX_VALUE);
    if (ok && old && jval_get_bool(old, "immutable", false)) {
        if (!jval_equal(jval_get(old, "data"), jval_get(obj, "data")) ||
            !jval_equal(jval_get(old, "binaryData"), jval_get(obj, "binaryData")))
            cause_add(&c, "FieldValueForbidden", "data",
                      "Forbidden: field is immutable when `immutable` is set");
        if (!jval_get_bool(obj, "immutable", false))
            cause_add(&c, "FieldValueForbidden", "immutable",
                      "Forbidden: field is immutable when `immutable` is set");
    }
    if (ok && c.nr) {
        invalid(rc, name, &c);
        ok = false;
    }
    jval_decref(c.arr);
    strbuf_release(&c.msg);
    return ok;
}

/* Namespace in the body must match the URL; fills it in when absent. */
static bool check_namespace(struct req_ctx *rc, struct jval *obj)
{
    struct jval *meta = meta_of(obj);
    const char *ns = jval_get_str(meta, "namespace", "");

    if (!rc->res->namespaced) {
        jval_del(meta, "namespace");
        return true;
    }
    if (*ns && strcmp(ns, rc->ns) != 0) {
        bad_request(rc, "the namespace of the provided object does not match the namespace "
                        "sent on the request");
        return false;
    }
    jval_set_str(meta, "namespace", rc->ns);
    return true;
}

/* Drops the fields clients may not set. */
static void clear_system_fields(struct jval *meta)
{
    jval_del(meta, "selfLink");
    jval_del(meta, "deletionTimestamp");
    jval_del(meta, "deletionGracePeriodSeconds");
    jval_del(meta, "managedFields");
}

static bool namespace_exists(struct req_ctx *rc)
{
    struct rkc_error err;
    struct jval *ns = NULL;
    enum rkc_err r;

    rkc_error_init(&err);
    r = store_get(rc->srv->store, "namespaces", NULL, rc->ns, &ns, NULL, NULL, NULL, &err);
    jval_decref(ns);
    if (r == RKC_ENOTFOUND) {
        not_found(rc, "namespaces", rc->ns);
        return false;
    }
    if (r) {
        store_failed(rc, rc->ns, &err);
        return false;
    }
    return true;
}

/* ---- verbs ---- */

static void do_get(struct req_ctx *rc)
{
    struct rkc_error err;
    struct jval *obj = NULL;

    rkc_error_init(&err);
    if (store_get(rc->srv->store, rc->res->resource, rc->ns, rc->name, &obj, NULL, NULL, NULL,
                  &err)) {
        store_failed(rc, rc->name, &err);
        return;
    }
    if (table_wanted(http_request_header(rc->http, "Accept"))) {
        struct jval *t = table_new(rc->kres);

        table_add_row(t, rc->kres, obj);
        jval_set_take(jval_get(t, "metadata"), "resourceVersion",
                      jval_incref(jval_get(jval_get(obj, "metadata"), "resourceVersion")));
        resp_json(rc->resp, 200, t);
        jval_decref(t);
    } else {
        resp_json(rc->resp, 200, obj);
    }
    jval_decref(obj);
}

static void do_create(struct req_ctx *rc)
{
    struct jval *obj = NULL, *meta;
    struct rkc_error err;
    char uid[KOBJ_UID_SIZE], now[KOBJ_TIME_SIZE];
    const char *name;
    char *gen_name = NULL;
    int64_t rev = 0;
    int attempt;

    rkc_error_init(&err);
    if (!read_object(rc, &obj))
        return;
    meta = meta_of(obj);
    if (!check_namespace(rc, obj))
        goto out;
    name = jval_get_str(meta, "name", "");
    if (!*name && !*jval_get_str(meta, "generateName", "")) {
        struct causes c = { jval_array(), STRBUF_INIT, 0 };

        cause_add(&c, "FieldValueRequired", "metadata.name",
                  "Required value: name or generateName is required");
        invalid(rc, "", &c);
        jval_decref(c.arr);
        strbuf_release(&c.msg);
        goto out;
    }
    clear_system_fields(meta);
    jval_del(meta, "resourceVersion");
    kobj_new_uid(uid);
    kobj_now(now);
    jval_set_str(meta, "uid", uid);
    jval_set_str(meta, "creationTimestamp", now);
    if (rc->res->namespaced && !namespace_exists(rc))
        goto out;
    for (attempt = 0; attempt < 3; attempt++) {
        enum rkc_err r;

        if (!*jval_get_str(meta, "name", "")) {
            struct strbuf sb = STRBUF_INIT;
            const char *prefix = jval_get_str(meta, "generateName", "");

            strbuf_addstr(&sb, prefix);
            kobj_random_suffix(5, &sb);
            free(gen_name);
            gen_name = strbuf_detach(&sb, NULL);
            name = gen_name;
        } else {
            name = jval_get_str(meta, "name", "");
        }
        if (!validate(rc, obj, NULL, name))
            goto out;
        jval_set_str(meta, "name", name);
        name = jval_get_str(meta, "name", "");
        if (dry_run(rc)) {
            resp_json(rc->resp, 201, obj);
            goto out;
        }
        r = store_create(rc->srv->store, rc->res->resource, rc->ns, name, obj, &rev, &err);
        if (r == RKC_EBUSY && gen_name) {
            jval_del(meta, "name");
            continue;
        }
        if (r == RKC_EBUSY) {
            char *msg = xasprintf("%s \"%s\" already exists", rc->res->resource, name);

            resp_status(rc->resp, 409, "AlreadyExists", msg,
                        status_details(name, rc->res->resource));
            free(msg);
        } else if (r) {
            store_failed(rc, name, &err);
        } else {
            resp_json(rc->resp, 201, obj);
        }
        goto out;
    }
    resp_status(rc->resp, 500, "InternalError", "could not generate a unique name", NULL);
out:
    free(gen_name);
    jval_decref(obj);
}

/*
 * The common tail of update and patch: given the new object and the current stored version,
 * checks and writes. Returns RKC_EBUSY when the caller should retry (stale read, no explicit
 * resourceVersion), RKC_OK when the response is set.
 */
static enum rkc_err write_update(struct req_ctx *rc, struct jval *obj, const struct jval *cur,
                                 int64_t cur_rev, const struct strbuf *cur_plain, bool stale)
{
    struct jval *meta = meta_of(obj), *cur_meta = jval_get(cur, "metadata");
    const char *want_rv = jval_get_str(meta, "resourceVersion", "");
    struct rkc_error err;
    char num[32];
    int64_t rev;
    enum rkc_err r;

    rkc_error_init(&err);
    snprintf(num, sizeof(num), "%" PRId64, cur_rev);
    if (*want_rv && strcmp(want_rv, num) != 0) {
        conflict(rc, rc->name);
        return RKC_OK;
    }
    clear_system_fields(meta);
    jval_set_str(meta, "uid", jval_get_str(cur_meta, "uid", ""));
    jval_set_str(meta, "creationTimestamp", jval_get_str(cur_meta, "creationTimestamp", ""));
    if (!*jval_get_str(meta, "generateName", "") && *jval_get_str(cur_meta, "generateName", ""))
        jval_set_str(meta, "generateName", jval_get_str(cur_meta, "generateName", ""));
    if (!validate(rc, obj, cur, rc->name))
        return RKC_OK;
    if (dry_run(rc)) {
        resp_json(rc->resp, 200, obj);
        return RKC_OK;
    }
    r = store_update(rc->srv->store, rc->res->resource, rc->ns, rc->name, obj, cur_rev, cur_plain,
                     stale, &rev, &err);
    if (r == RKC_EBUSY) {
        if (*want_rv) {
            conflict(rc, rc->name);
            return RKC_OK;
        }
        return RKC_EBUSY;
    }
    if (r)
        store_failed(rc, rc->name, &err);
    else
        resp_json(rc->resp, 200, obj);
    return RKC_OK;
}

static bool name_matches(struct req_ctx *rc, struct jval *obj)
{
    const char *name = jval_get_str(jval_get(obj, "metadata"), "name", "");

    if (*name && strcmp(name, rc->name) != 0) {
        char *msg = xasprintf("the name of the object (%s) does not match the name on the URL "
                              "(%s)",
                              name, rc->name);

        bad_request(rc, msg);
        free(msg);
        return false;
    }
    jval_set_str(meta_of(obj), "name", rc->name);
    return true;
}

static void do_update(struct req_ctx *rc)
{
    struct jval *body = NULL;
    int attempt;

    if (!read_object(rc, &body))
        return;
    if (!check_namespace(rc, body) || !name_matches(rc, body))
        goto out;
    for (attempt = 0; attempt < UPDATE_RETRIES; attempt++) {
        struct strbuf plain = STRBUF_INIT;
        struct jval *cur = NULL, *obj;
        struct rkc_error err;
        int64_t rev = 0;
        bool stale = false;
        enum rkc_err r;

        rkc_error_init(&err);
        if (store_get(rc->srv->store, rc->res->resource, rc->ns, rc->name, &cur, &rev, &stale,
                      &plain, &err)) {
            store_failed(rc, rc->name, &err);
            strbuf_release_wipe(&plain);
            goto out;
        }
        obj = jval_deep_copy(body);
        r = write_update(rc, obj, cur, rev, &plain, stale);
        jval_decref(obj);
        jval_decref(cur);
        strbuf_release_wipe(&plain);
        if (r != RKC_EBUSY)
            goto out;
    }
    conflict(rc, rc->name);
out:
    jval_decref(body);
}

static void do_patch(struct req_ctx *rc)
{
    const struct strbuf *body = http_request_body(rc->http);
    const char *ct = content_type(rc);
    struct jval *patch = NULL;
    struct rkc_error err;
    int mode, attempt;

    rkc_error_init(&err);
    if (ct_is(ct, "application/merge-patch+json"))
        mode = 0;
    else if (ct_is(ct, "application/strategic-merge-patch+json"))
        mode = 1;
    else if (ct_is(ct, "application/json-patch+json"))
        mode = 2;
    else {
        char *msg = xasprintf("the body of the request was in an unknown format - accepted "
                              "media types include: application/json-patch+json, "
                              "application/merge-patch+json, "
                              "application/strategic-merge-patch+json");

        resp_status(rc->resp, 415, "UnsupportedMediaType", msg, NULL);
        free(msg);
        return;
    }
    if (jval_parse("patch", body->buf, body->len, &patch, &err)) {
        char *msg = xasprintf("error decoding patch: %s", err.msg);

        bad_request(rc, msg);
        free(msg);
        return;
    }
    for (attempt = 0; attempt < UPDATE_RETRIES; attempt++) {
        struct strbuf plain = STRBUF_INIT;
        struct jval *cur = NULL, *obj = NULL;
        int64_t rev = 0;
        bool stale = false;
        enum rkc_err r = RKC_OK;

        if (store_get(rc->srv->store, rc->res->resource, rc->ns, rc->name, &cur, &rev, &stale,
                      &plain, &err)) {
            store_failed(rc, rc->name, &err);
            strbuf_release_wipe(&plain);
            goto out;
        }
        if (mode == 2) {
            if (kpatch_json(cur, patch, &obj, &err)) {
                char *msg = xasprintf("the server rejected our request due to an error in our "
                                      "request: %s",
                                      err.msg);

                resp_status(rc->resp, 422, "Invalid", msg, NULL);
                free(msg);
            }
        } else {
            obj = kpatch_merge(cur, patch, mode == 1);
        }
        if (obj && !jval_is_object(obj)) {
            bad_request(rc, "the patch does not produce an object");
        } else if (obj && check_namespace(rc, obj) && name_matches(rc, obj)) {
            jval_set_str(obj, "kind", rc->res->kind);
            jval_set_str(obj, "apiVersion", "v1");
            if (strict_mode(rc)) {
                struct strbuf probs = STRBUF_INIT;

                if (openapi_unknown_fields(rc->srv->openapi, rc->res->kind, obj, &probs)) {
                    char *msg = xasprintf("%s in version \"v1\" cannot be handled as a %s: "
                                          "strict decoding error: %s",
                                          rc->res->kind, rc->res->kind, probs.buf);

                    bad_request(rc, msg);
                    free(msg);
                    strbuf_release(&probs);
                    jval_decref(obj);
                    jval_decref(cur);
                    strbuf_release_wipe(&plain);
                    goto out;
                }
                strbuf_release(&probs);
            }
            r = write_update(rc, obj, cur, rev, &plain, stale);
        }
        jval_decref(obj);
        jval_decref(cur);
        strbuf_release_wipe(&plain);
        if (r != RKC_EBUSY)
            goto out;
    }
    conflict(rc, rc->name);
out:
    jval_decref(patch);
}

static void delete_ok(struct req_ctx *rc, const char *uid)
{
    struct jval *s = jval_object(), *d = status_details(rc->name, rc->res->resource);

    jval_set_str(d, "uid", uid);
    jval_set_str(s, "kind", "Status");
    jval_set_str(s, "apiVersion", "v1");
    jval_set_take(s, "metadata", jval_object());
    jval_set_str(s, "status", "Success");
    jval_set_take(s, "details", d);
    resp_json(rc->resp, 200, s);
    jval_decref(s);
}

static void do_delete(struct req_ctx *rc)
{
    const struct strbuf *body = http_request_body(rc->http);
    struct jval *opts = NULL, *pre;
    const char *pre_uid = NULL, *pre_rv = NULL;
    struct rkc_error err;
    int attempt;

    rkc_error_init(&err);
    if (body->len &&
        (jval_parse("body", body->buf, body->len, &opts, &err) || !jval_is_object(opts))) {
        jval_decref(opts);
        bad_request(rc, "the DeleteOptions body is not a JSON object");
        return;
    }
    pre = jval_get(opts, "preconditions");
    pre_uid = jval_get_str(pre, "uid", NULL);
    pre_rv = jval_get_str(pre, "resourceVersion", NULL);
    if (rc->kres == KRES_NAMESPACES &&
        (!strcmp(rc->name, "default") || !strcmp(rc->name, "kube-system") ||
         !strcmp(rc->name, "kube-public"))) {
        char *msg = xasprintf("namespaces \"%s\" is forbidden: this namespace may not be deleted",
                              rc->name);

        resp_status(rc->resp, 403, "Forbidden", msg, status_details(rc->name, "namespaces"));
        free(msg);
        goto out;
    }
    for (attempt = 0; attempt < UPDATE_RETRIES; attempt++) {
        struct jval *cur = NULL;
        const struct jval *meta;
        int64_t rev = 0, drev = 0;
        char uid[KOBJ_UID_SIZE + 64];
        enum rkc_err r;

        if (store_get(rc->srv->store, rc->res->resource, rc->ns, rc->name, &cur, &rev, NULL, NULL,
                      &err)) {
            store_failed(rc, rc->name, &err);
            goto out;
        }
        meta = jval_get(cur, "metadata");
        snprintf(uid, sizeof(uid), "%s", jval_get_str(meta, "uid", ""));
        if (pre_uid && strcmp(pre_uid, uid) != 0) {
            char *msg = xasprintf("Precondition failed: UID in precondition: %s, UID in object "
                                  "meta: %s",
                                  pre_uid, uid);

            resp_status(rc->resp, 409, "Conflict", msg,
                        status_details(rc->name, rc->res->resource));
            free(msg);
            jval_decref(cur);
            goto out;
        }
        if (pre_rv && strcmp(pre_rv, jval_get_str(meta, "resourceVersion", "")) != 0) {
            char *msg = xasprintf("Precondition failed: ResourceVersion in precondition: %s, "
                                  "ResourceVersion in meta: %s",
                                  pre_rv, jval_get_str(meta, "resourceVersion", ""));

            resp_status(rc->resp, 409, "Conflict", msg,
                        status_details(rc->name, rc->res->resource));
            free(msg);
            jval_decref(cur);
            goto out;
        }
        jval_decref(cur);
        if (dry_run(rc)) {
            delete_ok(rc, uid);
            goto out;
        }
        if (rc->kres == KRES_NAMESPACES) {
            if (store_delete_namespace_contents(rc->srv->store, "secrets", rc->name, &err) ||
                store_delete_namespace_contents(rc->srv->store, "configmaps", rc->name, &err)) {
                resp_internal(rc->resp, &err);
                goto out;
            }
        }
        r = store_delete(rc->srv->store, rc->res->resource, rc->ns, rc->name, rev, &drev, &err);
        if (r == RKC_EBUSY && !pre_rv)
            continue;
        if (r == RKC_EBUSY)
            conflict(rc, rc->name);
        else if (r)
            store_failed(rc, rc->name, &err);
        else
            delete_ok(rc, uid);
        goto out;
    }
    conflict(rc, rc->name);
out:
    jval_decref(opts);
}

/* ---- list ---- */

static void expired(struct req_ctx *rc, const char *start, size_t start_len)
{
    struct strbuf tok = STRBUF_INIT;
    struct jval *s = jval_object(), *m = jval_object();

    kobj_continue_encode(-1, start, start_len, &tok);
    jval_set_str(s, "kind", "Status");
    jval_set_str(s, "apiVersion", "v1");
    jval_set_str(m, "continue", tok.buf);
    jval_set_take(s, "metadata", m);
    jval_set_str(s, "status", "Failure");
    jval_set_str(s, "message",
                 "The provided continue parameter is too old to display a consistent list "
                 "result. You can start a new list without the continue parameter, or use the "
                 "continue token in this response to retrieve the remainder of the results. "
                 "Continuing with the provided token results in an inconsistent list - objects "
                 "that were created, modified, or deleted between the time the first chunk was "
                 "returned and now may show up in the list.");
    jval_set_str(s, "reason", "Expired");
    jval_set_int(s, "code", 410);
    resp_json(rc->resp, 410, s);
    jval_decref(s);
    strbuf_release(&tok);
}

static void do_list(struct req_ctx *rc)
{
    const char *q_limit = http_request_query(rc->http, "limit");
    const char *q_cont = http_request_query(rc->http, "continue");
    const char *q_labels = http_request_query(rc->http, "labelSelector");
    const char *q_fields = http_request_query(rc->http, "fieldSelector");
    struct kobj_selector *lsel = NULL, *fsel = NULL;
    struct rkc_error err;
    struct jval *list = NULL, *items = jval_array(), *lmeta = jval_object();
    char *prefix = store_list_prefix(rc->srv->store, rc->res->resource, rc->ns);
    char *start = NULL, *end = NULL, *key = NULL;
    size_t prefix_len = strlen(prefix), start_len = 0, end_len = 0, key_len;
    int64_t limit = 0, rev = 0, returned = 0, remaining = -1;
    bool filtered = (q_labels && *q_labels) || (q_fields && *q_fields), more = false;
    char num[32];

    rkc_error_init(&err);
    if (q_limit && *q_limit) {
        char *e;

        limit = strtoll(q_limit, &e, 10);
        if (*e || limit < 0)
            limit = 0;
    }
    if (q_labels && kobj_label_selector_parse(q_labels, &lsel, &err)) {
        char *msg = xasprintf("unable to parse requirement: %s", err.msg);

        bad_request(rc, msg);
        free(msg);
        goto out;
    }
    if (q_fields && kobj_field_selector_parse(q_fields, rc->kres == KRES_SECRETS, &fsel, &err)) {
        bad_request(rc, err.msg);
        goto out;
    }
    if (q_cont && *q_cont) {
        if (kobj_continue_decode(q_cont, &rev, &start, &start_len, &err)) {
            bad_request(rc, err.msg);
            goto out;
        }
        if (rev < 0)
            rev = 0; /* an inconsistent continuation: read at the newest revision */
    }
    key = xasprintf("%s%s", prefix, start ? start : "");
    key_len = prefix_len + start_len;
    end = etcd_prefix_end(prefix, prefix_len, &end_len);
    for (;;) {
        struct etcd_kvs kvs = { 0 };
        size_t i;
        int64_t batch = limit ? limit - returned + (filtered ? 16 : 0) : 0;
        enum rkc_err r = etcd_range(store_etcd(rc->srv->store), key, key_len, end, end_len, batch,
                                    rev, false, &kvs, &err);

        if (r == RKC_ENOTFOUND && start) {
            expired(rc, start, start_len);
            etcd_kvs_release(&kvs);
            goto out;
        }
        if (r) {
            resp_internal(rc->resp, &err);
            etcd_kvs_release(&kvs);
            goto out;
        }
        if (!rev)
            rev = kvs.revision; /* the snapshot every later range reads at */
        for (i = 0; i < kvs.nr; i++) {
            struct jval *obj = NULL;

            if (limit && returned == limit) {
                more = true;
                break;
            }
            if (store_decode(rc->srv->store, rc->res->resource, &kvs.v[i], &obj, NULL, &err)) {
                resp_status(rc->resp, 500, "InternalError", err.msg, NULL);
                etcd_kvs_release(&kvs);
                goto out;
            }
            free(key);
            key_len = kvs.v[i].key_len + 1;
            key = xmalloc(key_len + 1);
            memcpy(key, kvs.v[i].key, kvs.v[i].key_len);
            key[key_len - 1] = '\0'; /* the next key after this one */
            key[key_len] = '\0';
            if (kobj_label_selector_match(lsel, jval_get(jval_get(obj, "metadata"), "labels")) &&
                kobj_field_selector_match(fsel, obj)) {
                jval_del(obj, "kind");
                jval_del(obj, "apiVersion");
                jval_array_append_take(items, obj);
                returned++;
            } else {
                jval_decref(obj);
            }
        }
        if (i == kvs.nr && kvs.more && !(limit && returned == limit)) {
            etcd_kvs_release(&kvs);
            continue; /* the batch ran out before the limit (filtered items) */
        }
        if (limit && returned == limit && (i < kvs.nr || kvs.more)) {
            more = true;
            if (!filtered)
                remaining = kvs.count - (int64_t)i;
        }
        etcd_kvs_release(&kvs);
        break;
    }
    snprintf(num, sizeof(num), "%" PRId64, rev);
    jval_set_str(lmeta, "resourceVersion", num);
    if (more) {
        struct strbuf tok = STRBUF_INIT;

        kobj_continue_encode(rev, key + prefix_len, key_len - prefix_len, &tok);
        jval_set_str(lmeta, "continue", tok.buf);
        if (remaining > 0)
            jval_set_int(lmeta, "remainingItemCount", remaining);
        strbuf_release(&tok);
    }
    if (table_wanted(http_request_header(rc->http, "Accept"))) {
        size_t i;

        list = table_new(rc->kres);
        for (i = 0; i < jval_array_size(items); i++)
            table_add_row(list, rc->kres, jval_array_get(items, i));
    } else {
        list = jval_object();
        jval_set_str(list, "kind", rc->res->list_kind);
        jval_set_str(list, "apiVersion", "v1");
        jval_set_take(list, "items", jval_incref(items));
    }
    jval_set_take(list, "metadata", jval_incref(lmeta));
    resp_json(rc->resp, 200, list);
out:
    jval_decref(list);
    jval_decref(items);
    jval_decref(lmeta);
    kobj_selector_free(lsel);
    kobj_selector_free(fsel);
    free(prefix);
    free(start);
    free(end);
    free(key);
}

void h_objects(struct req_ctx *rc)
{
    if (!strcmp(rc->verb, "get"))
        do_get(rc);
    else if (!strcmp(rc->verb, "list"))
        do_list(rc);
    else if (!strcmp(rc->verb, "create"))
        do_create(rc);
    else if (!strcmp(rc->verb, "update"))
        do_update(rc);
    else if (!strcmp(rc->verb, "patch"))
        do_patch(rc);
    else if (!strcmp(rc->verb, "delete"))
        do_delete(rc);
    else
        resp_status(rc->resp, 405, "MethodNotAllowed",
                    "the server does not allow this method on the requested resource", NULL);
}
