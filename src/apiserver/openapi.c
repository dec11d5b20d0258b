/* SPDX-License-Identifier: Apache-2.0 */
/*
 * openapi: the OpenAPI v3 documents kubectl needs for create -f, replace -f and apply -f
 * (/openapi/v3 and /openapi/v3/api/v1), built at start-up from the small schema tables below,
 * which also drive strict field validation (unknown fields -> 400).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "apiserver/server.h"
#include "util/xalloc.h"

#include "util/banned.h"

#define CORE "io.k8s.api.core.v1."
#define META "io.k8s.apimachinery.pkg.apis.meta.v1."

/*
 * Property types: s string, i int64, b boolean, ms map of strings, mb map of bytes,
 * as array of strings, o free-form object, r:X reference, ar:X array of references, t time.
 * X is a schema name; a leading "m." means the meta.v1 package, otherwise core.v1.
 */
struct schema {
    const char *name;         /* without package; "m." prefix for meta.v1 */
    const char *gvk;          /* kind for x-kubernetes-group-version-kind, or NULL */
    const char *const *props; /* "name=type", NULL-terminated */
    const char *scalar;       /* for non-object schemas: "string:date-time" or "object" */
};

#define P(...)                                                                                     \
    (const char *const[])                                                                          \
    {                                                                                              \
        __VA_ARGS__, NULL                                                                          \
    }

static const struct schema schemas[] = {
    { "Secret", "Secret",
      P("apiVersion=s", "data=mb", "immutable=b", "kind=s", "metadata=r:m.ObjectMeta",
        "stringData=ms", "type=s"),
      NULL },
    { "SecretList", "SecretList",
      P("apiVersion=s", "items=ar:Secret", "kind=s", "metadata=r:m.ListMeta"), NULL },
    { "ConfigMap", "ConfigMap",
      P("apiVersion=s", "binaryData=mb", "data=ms", "immutable=b", "kind=s",
        "metadata=r:m.ObjectMeta"),
      NULL },
    { "ConfigMapList", "ConfigMapList",
      P("apiVersion=s", "items=ar:ConfigMap", "kind=s", "metadata=r:m.ListMeta"), NULL },
    { "Namespace", "Namespace",
      P("apiVersion=s", "kind=s", "metadata=r:m.ObjectMeta", "spec=r:NamespaceSpec",
        "status=r:NamespaceStatus"),
      NULL },
    { "NamespaceList", "NamespaceList",
      P("apiVersion=s", "items=ar:Namespace", "kind=s", "metadata=r:m.ListMeta"), NULL },
    { "NamespaceSpec", NULL, P("finalizers=as"), NULL },
    { "NamespaceStatus", NULL, P("conditions=ar:NamespaceCondition", "phase=s"), NULL },
    { "NamespaceCondition", NULL,
      P("lastTransitionTime=r:m.Time", "message=s", "reason=s", "status=s", "type=s"), NULL },
    { "m.ObjectMeta", NULL,
      P("annotations=ms", "creationTimestamp=r:m.Time", "deletionGracePeriodSeconds=i",
        "deletionTimestamp=r:m.Time", "finalizers=as", "generateName=s", "generation=i",
        "labels=ms", "managedFields=ar:m.ManagedFieldsEntry", "name=s", "namespace=s",
        "ownerReferences=ar:m.OwnerReference", "resourceVersion=s", "selfLink=s", "uid=s"),
      NULL },
    { "m.ListMeta", NULL,
      P("continue=s", "remainingItemCount=i", "resourceVersion=s", "selfLink=s"), NULL },
    { "m.ManagedFieldsEntry", NULL,
      P("apiVersion=s", "fieldsType=s", "fieldsV1=r:m.FieldsV1", "manager=s", "operation=s",
        "subresource=s", "time=r:m.Time"),
      NULL },
    { "m.OwnerReference", NULL,
      P("apiVersion=s", "blockOwnerDeletion=b", "controller=b", "kind=s", "name=s", "uid=s"),
      NULL },
    { "m.DeleteOptions", "DeleteOptions",
      P("apiVersion=s", "dryRun=as", "gracePeriodSeconds=i", "kind=s", "orphanDependents=b",
        "preconditions=r:m.Preconditions", "propagationPolicy=s"),
      NULL },
    { "m.Preconditions", NULL, P("resourceVersion=s", "uid=s"), NULL },
    { "m.Status", "Status",
      P("apiVersion=s", "code=i", "details=r:m.StatusDetails", "kind=s", "message=s",
        "metadata=r:m.ListMeta", "reason=s", "status=s"),
      NULL },
    { "m.StatusDetails", NULL,
      P("causes=ar:m.StatusCause", "group=s", "kind=s", "name=s", "retryAfterSeconds=i", "uid=s"),
      NULL },
    { "m.StatusCause", NULL, P("field=s", "message=s", "reason=s"), NULL },
    { "m.FieldsV1", NULL, NULL, "object" },
    { "m.Time", NULL, NULL, "string:date-time" },
    { "m.Patch", NULL, NULL, "object" },
};

static char *full_name(const char *short_name)
{
    if (!strncmp(short_name, "m.", 2))
        return xasprintf(META "%s", short_name + 2);
    return xasprintf(CORE "%s", short_name);
}

static struct jval *ref(const char *short_name)
{
    struct jval *r = jval_object();
    char *full = full_name(short_name), *target = xasprintf("#/components/schemas/%s", full);

    jval_set_str(r, "$ref", target);
    free(full);
    free(target);
    return r;
}

static struct jval *ref_allof(const char *short_name)
{
    struct jval *p = jval_object(), *all = jval_array();

    jval_set_take(p, "default", jval_object());
    jval_array_append_take(all, ref(short_name));
    jval_set_take(p, "allOf", all);
    return p;
}

static struct jval *typed(const char *type, const char *format)
{
    struct jval *t = jval_object();

    jval_set_str(t, "type", type);
    if (format)
        jval_set_str(t, "format", format);
    return t;
}

static struct jval *prop_schema(const char *type)
{
    struct jval *p;

    if (!strcmp(type, "s"))
        return typed("string", NULL);
    if (!strcmp(type, "i"))
        return typed("integer", "int64");
    if (!strcmp(type, "b"))
        return typed("boolean", NULL);
    if (!strcmp(type, "ms") || !strcmp(type, "mb")) {
        p = typed("object", NULL);
        jval_set_take(p, "additionalProperties",
                      type[1] == 'b' ? typed("string", "byte") : typed("string", NULL));
        return p;
    }
    if (!strcmp(type, "as")) {
        p = typed("array", NULL);
        jval_set_take(p, "items", typed("string", NULL));
        return p;
    }
    if (!strncmp(type, "r:", 2))
        return ref_allof(type + 2);
    if (!strncmp(type, "ar:", 3)) {
        p = typed("array", NULL);
        jval_set_take(p, "items", ref_allof(type + 3));
        return p;
    }
    return typed("object", NULL);
}

static struct jval *gvk(const char *kind)
{
    struct jval *g = jval_object();

    jval_set_str(g, "group", "");
    jval_set_str(g, "kind", kind);
    jval_set_str(g, "version", "v1");
    return g;
}

static struct jval *build_schema(const struct schema *s)
{
    struct jval *o, *props;
    const char *const *p;

    if (s->scalar) {
        const char *colon = strchr(s->scalar, ':');

        if (colon) {
            char *t = xstrndup(s->scalar, (size_t)(colon - s->scalar));

            o = typed(t, colon + 1);
            free(t);
            return o;
        }
        return typed(s->scalar, NULL);
    }
    o = typed("object", NULL);
    props = jval_object();
    for (p = s->props; *p; p++) {
        const char *eq = strchr(*p, '=');
        char *name = xstrndup(*p, (size_t)(eq - *p));

        jval_set_take(props, name, prop_schema(eq + 1));
        free(name);
    }
    jval_set_take(o, "properties", props);
    if (s->gvk) {
        struct jval *arr = jval_array();

        jval_array_append_take(arr, gvk(s->gvk));
        jval_set_take(o, "x-kubernetes-group-version-kind", arr);
    }
    return o;
}

static struct jval *param(const char *name, const char *in, const char *type, bool required)
{
    struct jval *p = jval_object(), *sch = typed(type, NULL);

    jval_set_str(p, "name", name);
    jval_set_str(p, "in", in);
    if (required)
        jval_set_bool(p, "required", true);
    jval_set_bool(sch, "uniqueItems", true);
    jval_set_take(p, "schema", sch);
    return p;
}

static struct jval *content_of(const char *short_name, bool all)
{
    struct jval *c = jval_object();
    static const char *const types[] = { "application/json", "application/vnd.kubernetes.protobuf",
                                         "application/yaml" };
    size_t i;

    for (i = 0; i < (all ? 3u : 1u); i++) {
        struct jval *m = jval_object();

        jval_set_take(m, "schema", ref(short_name));
        jval_set_take(c, types[i], m);
    }
    return c;
}

static struct jval *responses(const char *short_name, const char *const *codes)
{
    struct jval *r = jval_object();

    for (; *codes; codes++) {
        struct jval *resp = jval_object();

        jval_set_take(resp, "content", content_of(short_name, true));
        jval_set_take(r, *codes, resp);
    }
    jval_set_take(r, "401", jval_object());
    return r;
}

static struct jval *operation(const char *action, const char *op_id, const char *kind,
                              const char *resp_schema, const char *const *codes,
                              struct jval *params, struct jval *body)
{
    struct jval *o = jval_object(), *tags = jval_array();

    jval_array_append_take(tags, jval_string("core_v1"));
    jval_set_take(o, "tags", tags);
    jval_set_str(o, "operationId", op_id);
    if (params)
        jval_set_take(o, "parameters", params);
    if (body)
        jval_set_take(o, "requestBody", body);
    jval_set_take(o, "responses", responses(resp_schema, codes));
    jval_set_str(o, "x-kubernetes-action", action);
    jval_set_take(o, "x-kubernetes-group-version-kind", gvk(kind));
    return o;
}

static struct jval *write_params(bool patch)
{
    struct jval *a = jval_array();

    jval_array_append_take(a, param("dryRun", "query", "string", false));
    jval_array_append_take(a, param("fieldManager", "query", "string", false));
    jval_array_append_take(a, param("fieldValidation", "query", "string", false));
    if (patch)
        jval_array_append_take(a, param("force", "query", "boolean", false));
    return a;
}

static struct jval *list_params(void)
{
    static const char *const names[] = {
        "allowWatchBookmarks",  "continue",       "fieldSelector",
        "labelSelector",        "limit",          "resourceVersion",
        "resourceVersionMatch", "timeoutSeconds", "watch"
    };
    static const char *const types[] = { "boolean", "string", "string",  "string", "integer",
                                         "string",  "string", "integer", "boolean" };
    struct jval *a = jval_array();
    size_t i;

    for (i = 0; i < sizeof(names) / sizeof(names[0]); i++)
        jval_array_append_take(a, param(names[i], "query", types[i], false));
    return a;
}

static struct jval *body_of(const char *short_name, const char *media)
{
    struct jval *b = jval_object(), *c = jval_object(), *m = jval_object();

    jval_set_take(m, "schema", ref(short_name));
    jval_set_take(c, media, m);
    jval_set_take(b, "content", c);
    return b;
}

static struct jval *patch_body(void)
{
    static const char *const media[] = { "application/apply-patch+yaml",
                                         "application/json-patch+json",
                                         "application/merge-patch+json",
                                         "application/strategic-merge-patch+json" };
    struct jval *b = jval_object(), *c = jval_object();
    size_t i;

    for (i = 0; i < 4; i++) {
        struct jval *m = jval_object();

        jval_set_take(m, "schema", ref("m.Patch"));
        jval_set_take(c, media[i], m);
    }
    jval_set_take(b, "content", c);
    return b;
}

static void add_paths(struct jval *paths, const char *resource, const char *kind, bool namespaced)
{
    static const char *const c200[] = { "200", NULL };
    static const char *const c201[] = { "200", "201", "202", NULL };
    static const char *const c_put[] = { "200", "201", NULL };
    static const char *const c_del[] = { "200", "202", NULL };
    char *list_kind = xasprintf("%sList", kind);
    char *coll, *item, *id;
    const char *scope = namespaced ? "Namespaced" : "";
    struct jval *c = jval_object(), *it = jval_object(), *cp = jval_array(), *ip = jval_array();

    if (namespaced) {
        coll = xasprintf("/api/v1/namespaces/{namespace}/%s", resource);
        item = xasprintf("/api/v1/namespaces/{namespace}/%s/{name}", resource);
    } else {
        coll = xasprintf("/api/v1/%s", resource);
        item = xasprintf("/api/v1/%s/{name}", resource);
    }
    id = xasprintf("listCoreV1%s%s", scope, kind);
    jval_set_take(c, "get", operation("list", id, kind, list_kind, c200, list_params(), NULL));
    free(id);
    id = xasprintf("createCoreV1%s%s", scope, kind);
    jval_set_take(
        c, "post",
        operation("post", id, kind, kind, c201, write_params(false), body_of(kind, "*/*")));
    free(id);
    if (namespaced)
        jval_array_append_take(cp, param("namespace", "path", "string", true));
    jval_array_append_take(cp, param("pretty", "query", "string", false));
    jval_set_take(c, "parameters", cp);
    jval_set_take(paths, coll, c);

    id = xasprintf("readCoreV1%s%s", scope, kind);
    jval_set_take(it, "get", operation("get", id, kind, kind, c200, NULL, NULL));
    free(id);
    id = xasprintf("replaceCoreV1%s%s", scope, kind);
    jval_set_take(
        it, "put",
        operation("put", id, kind, kind, c_put, write_params(false), body_of(kind, "*/*")));
    free(id);
    id = xasprintf("deleteCoreV1%s%s", scope, kind);
    jval_set_take(
        it, "delete",
        operation("delete", id, kind, "m.Status", c_del, NULL, body_of("m.DeleteOptions", "*/*")));
    free(id);
    id = xasprintf("patchCoreV1%s%s", scope, kind);
    jval_set_take(it, "patch",
                  operation("patch", id, kind, kind, c_put, write_params(true), patch_body()));
    free(id);
    jval_array_append_take(ip, param("name", "path", "string", true));
    if (namespaced)
        jval_array_append_take(ip, param("namespace", "path", "string", true));
    jval_array_append_take(ip, param("pretty", "query", "string", false));
    jval_set_take(it, "parameters", ip);
    jval_set_take(paths, item, it);

    if (namespaced) {
        struct jval *all = jval_object(), *ap = list_params();

        id = xasprintf("list%sForAllNamespaces", kind);
        jval_set_take(all, "get", operation("list", id, kind, list_kind, c200, NULL, NULL));
        free(id);
        jval_array_append_take(ap, param("pretty", "query", "string", false));
        jval_set_take(all, "parameters", ap);
        free(coll);
        coll = xasprintf("/api/v1/%s", resource);
        jval_set_take(paths, coll, all);
    }
    free(coll);
    free(item);
    free(list_kind);
}

struct jval *openapi_build(void)
{
    struct jval *doc = jval_object(), *info = jval_object(), *paths = jval_object(),
                *comp = jval_object(), *sch = jval_object();
    size_t i;

    jval_set_str(doc, "openapi", "3.0.0");
    jval_set_str(info, "title", "Kubernetes");
    jval_set_str(info, "version", "v1.32.0");
    jval_set_take(doc, "info", info);
    add_paths(paths, "configmaps", "ConfigMap", true);
    add_paths(paths, "namespaces", "Namespace", false);
    add_paths(paths, "secrets", "Secret", true);
    jval_set_take(doc, "paths", paths);
    for (i = 0; i < sizeof(schemas) / sizeof(schemas[0]); i++) {
        char *full = full_name(schemas[i].name);

        jval_set_take(sch, full, build_schema(&schemas[i]));
        free(full);
    }
    jval_set_take(comp, "schemas", sch);
    jval_set_take(doc, "components", comp);
    return doc;
}

void h_openapi_root(struct apiserver *srv, struct http_response *resp)
{
    struct jval *doc = jval_object(), *paths = jval_object(), *v1 = jval_object();
    char *url = xasprintf("/openapi/v3/api/v1?hash=%s", srv->openapi_hash);

    jval_set_str(v1, "serverRelativeURL", url);
    jval_set_take(paths, "api/v1", v1);
    jval_set_take(doc, "paths", paths);
    resp_json(resp, 200, doc);
    jval_decref(doc);
    free(url);
}

void h_openapi_v1(struct apiserver *srv, struct http_response *resp)
{
    resp_json(resp, 200, srv->openapi);
}

/*
 * /openapi/v2: kubectl falls back to it for client-side validation of what the v3 document
 * cannot answer for (a `kind: List` from `get -o json`, piped into replace -f). It asks for
 * gnostic protobuf. The document has no definitions, so kubectl skips client-side checks of
 * every type and the server validates each object (strict) as usual.
 */
void h_openapi_v2(const char *accept, struct http_response *resp)
{
    static const char pb[] = "\x0a\x03"
                             "2.0"
                             "\x12\x15\x0a\x0a"
                             "Kubernetes"
                             "\x12\x07"
                             "v1.32.0";

    if (accept && strstr(accept, "protobuf")) {
        resp->status = 200;
        snprintf(resp->content_type, sizeof(resp->content_type), "application/octet-stream");
        strbuf_reset(&resp->body);
        strbuf_add(&resp->body, pb, sizeof(pb) - 1);
    } else {
        struct jval *doc = jval_object(), *info = jval_object();

        jval_set_str(doc, "swagger", "2.0");
        jval_set_str(info, "title", "Kubernetes");
        jval_set_str(info, "version", "v1.32.0");
        jval_set_take(doc, "info", info);
        jval_set_take(doc, "paths", jval_object());
        jval_set_take(doc, "definitions", jval_object());
        resp_json(resp, 200, doc);
        jval_decref(doc);
    }
}

/* ---- strict field validation ---- */

static const struct schema *schema_by_name(const char *short_name)
{
    size_t i;

    for (i = 0; i < sizeof(schemas) / sizeof(schemas[0]); i++)
        if (!strcmp(schemas[i].name, short_name))
            return &schemas[i];
    return NULL;
}

static void check(const struct schema *s, const struct jval *obj, const char *path,
                  struct strbuf *out, size_t *nr)
{
    size_t i, n;

    if (!s || !s->props || !jval_is_object(obj))
        return;
    n = jval_object_size(obj);
    for (i = 0; i < n; i++) {
        struct jval *v;
        const char *k = jval_object_key_at(obj, i, &v);
        const char *const *p;
        const char *type = NULL;
        char *sub = *path ? xasprintf("%s.%s", path, k) : xstrdup(k);

        for (p = s->props; *p; p++) {
            const char *eq = strchr(*p, '=');

            if ((size_t)(eq - *p) == strlen(k) && !strncmp(*p, k, strlen(k))) {
                type = eq + 1;
                break;
            }
        }
        if (!type) {
            strbuf_addf(out, "%sunknown field \"%s\"", (*nr)++ ? ", " : "", sub);
        } else if (!strncmp(type, "r:", 2)) {
            check(schema_by_name(type + 2), v, sub, out, nr);
        } else if (!strncmp(type, "ar:", 3) && jval_is_array(v)) {
            size_t j;

            for (j = 0; j < jval_array_size(v); j++) {
                char *el = xasprintf("%s[%zu]", sub, j);

                check(schema_by_name(type + 3), jval_array_get(v, j), el, out, nr);
                free(el);
            }
        }
        free(sub);
    }
}

size_t openapi_unknown_fields(const struct jval *openapi, const char *kind, const struct jval *obj,
                              struct strbuf *out)
{
    size_t nr = 0;

    (void)openapi;
    check(schema_by_name(kind), obj, "", out, &nr);
    return nr;
}
