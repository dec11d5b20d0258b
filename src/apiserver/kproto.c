/* SPDX-License-Identifier: Apache-2.0 */
/* kproto: a small protobuf wire decoder for kubectl's Secret/ConfigMap/Namespace bodies. */
#include "apiserver/kproto.h"

#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include "crypto/b64.h"
#include "util/strbuf.h"
#include "util/utf8.h"

#include "util/banned.h"

#define MAX_DEPTH 8

struct pb {
    const unsigned char *p, *end;
};

struct field {
    uint32_t num;
    unsigned wt;
    uint64_t v;              /* varint / fixed value */
    const unsigned char *bp; /* length-delimited bytes */
    size_t blen;
};

static bool varint(struct pb *b, uint64_t *ret)
{
    uint64_t v = 0;
    unsigned shift = 0;

    while (b->p < b->end && shift < 64) {
        unsigned char c = *b->p++;

        v |= (uint64_t)(c & 0x7f) << shift;
        if (!(c & 0x80)) {
            *ret = v;
            return true;
        }
        shift += 7;
    }
    return false;
}

/* Reads the next field; returns 0 at the end, 1 with a field, -1 when malformed. */
static int next(struct pb *b, struct field *f)
{
    uint64_t key, n;

    if (b->p == b->end)
        return 0;
    if (!varint(b, &key) || (key >> 3) == 0 || (key >> 3) > UINT32_MAX)
        return -1;
    f->num = (uint32_t)(key >> 3);
    f->wt = (unsigned)(key & 7);
    switch (f->wt) {
    case 0:
        return varint(b, &f->v) ? 1 : -1;
    case 1:
        if (b->end - b->p < 8)
            return -1;
        b->p += 8;
        return 1;
    case 2:
        if (!varint(b, &n) || n > (uint64_t)(b->end - b->p))
            return -1;
        f->bp = b->p;
        f->blen = (size_t)n;
        b->p += n;
        return 1;
    case 5:
        if (b->end - b->p < 4)
            return -1;
        b->p += 4;
        return 1;
    default:
        return -1;
    }
}

static enum rkc_err str_of(const struct field *f, const char *what, struct jval **ret,
                           struct rkc_error *err)
{
    if (f->wt != 2)
        return rkc_error_set(err, RKC_EINVAL, "protobuf: %s is not a string", what);
    if (!utf8_valid(f->bp, f->blen))
        return rkc_error_set(err, RKC_EINVAL, "protobuf: %s is not valid UTF-8", what);
    *ret = jval_stringn((const char *)f->bp, f->blen);
    return RKC_OK;
}

static enum rkc_err set_str(struct jval *obj, const char *key, const struct field *f,
                            struct rkc_error *err)
{
    struct jval *v = NULL;
    enum rkc_err rc = str_of(f, key, &v, err);

    if (!rc)
        jval_set_take(obj, key, v);
    return rc;
}

/* A map entry {1: key, 2: value}; value is bytes (base64 in JSON) when binary. */
static enum rkc_err map_entry(const struct field *f, const char *what, bool binary,
                              struct jval **mapp, struct rkc_error *err)
{
    struct pb b = { f->bp, f->bp + f->blen };
    struct field e;
    struct jval *k = NULL, *v = NULL;
    enum rkc_err rc = RKC_OK;
    int r;

    if (f->wt != 2)
        return rkc_error_set(err, RKC_EINVAL, "protobuf: %s is not a map", what);
    while (!rc && (r = next(&b, &e)) > 0) {
        if (e.num == 1) {
            jval_decref(k);
            k = NULL;
            rc = str_of(&e, what, &k, err);
        } else if (e.num == 2) {
            jval_decref(v);
            v = NULL;
            if (binary && e.wt == 2) {
                struct strbuf sb = STRBUF_INIT;

                b64_encode(e.bp, e.blen, &sb);
                v = jval_stringn(sb.buf, sb.len);
                strbuf_release_wipe(&sb);
            } else {
                rc = str_of(&e, what, &v, err);
            }
        }
    }
    if (!rc && r < 0)
        rc = rkc_error_set(err, RKC_EINVAL, "protobuf: truncated %s entry", what);
    if (!rc) {
        if (!*mapp)
            *mapp = jval_object();
        jval_set_take(*mapp, k ? jval_str(k, NULL) : "", v ? v : jval_string(""));
        v = NULL;
    }
    jval_decref(k);
    jval_decref(v);
    return rc;
}

static enum rkc_err decode_meta(const struct field *f, struct jval **ret, struct rkc_error *err)
{
    struct pb b = { f->bp, f->bp + f->blen };
    struct jval *m = jval_object(), *labels = NULL, *annotations = NULL, *finalizers = NULL;
    struct field e;
    enum rkc_err rc = RKC_OK;
    int r;

    if (f->wt != 2)
        rc = rkc_error_set(err, RKC_EINVAL, "protobuf: metadata is not a message");
    while (!rc && (r = next(&b, &e)) > 0) {
        struct jval *s = NULL;

        switch (e.num) {
        case 1:
        case 2:
        case 3:
        case 5:
        case 6: {
            static const char *const names[] = { "", "name", "generateName",   "namespace",
                                                 "", "uid",  "resourceVersion" };

            rc = str_of(&e, names[e.num], &s, err);
            if (!rc && jval_str(s, NULL)[0])
                jval_set_take(m, names[e.num], s);
            else
                jval_decref(s);
            break;
        }
        case 11:
            rc = map_entry(&e, "metadata.labels", false, &labels, err);
            break;
        case 12:
            rc = map_entry(&e, "metadata.annotations", false, &annotations, err);
            break;
        case 14:
            rc = str_of(&e, "metadata.finalizers", &s, err);
            if (!rc) {
                if (!finalizers)
                    finalizers = jval_array();
                jval_array_append_take(finalizers, s);
            }
            break;
        default:
            break;
        }
    }
    if (!rc && r < 0)
        rc = rkc_error_set(err, RKC_EINVAL, "protobuf: truncated metadata");
    if (labels)
        jval_set_take(m, "labels", labels);
    if (annotations)
        jval_set_take(m, "annotations", annotations);
    if (finalizers)
        jval_set_take(m, "finalizers", finalizers);
    if (rc) {
        jval_decref(m);
        return rc;
    }
    *ret = m;
    return RKC_OK;
}

enum kind {
    K_SECRET,
    K_CONFIGMAP,
    K_NAMESPACE,
};

static enum rkc_err decode_object(enum kind kind, const unsigned char *p, size_t len,
                                  struct jval *obj, struct rkc_error *err)
{
    struct pb b = { p, p + len };
    struct jval *data = NULL, *extra = NULL, *meta = NULL;
    struct field e;
    enum rkc_err rc = RKC_OK;
    int r;

    while (!rc && (r = next(&b, &e)) > 0) {
        if (e.num == 1) {
            jval_decref(meta);
            meta = NULL;
            rc = decode_meta(&e, &meta, err);
            continue;
        }
        switch (kind) {
        case K_SECRET:
            if (e.num == 2)
                rc = map_entry(&e, "data", true, &data, err);
            else if (e.num == 3)
                rc = set_str(obj, "type", &e, err);
            else if (e.num == 4)
                rc = map_entry(&e, "stringData", false, &extra, err);
            else if (e.num == 5 && e.wt == 0)
                jval_set_bool(obj, "immutable", e.v != 0);
            break;
        case K_CONFIGMAP:
            if (e.num == 2)
                rc = map_entry(&e, "data", false, &data, err);
            else if (e.num == 3)
                rc = map_entry(&e, "binaryData", true, &extra, err);
            else if (e.num == 4 && e.wt == 0)
                jval_set_bool(obj, "immutable", e.v != 0);
            break;
        case K_NAMESPACE:
            if (e.num == 2 && e.wt == 2) {
                /* NamespaceSpec{1: finalizers} */
                struct pb sb = { e.bp, e.bp + e.blen };
                struct field s;
                struct jval *fins = jval_array(), *spec = jval_object();
                int rr;

                while (!rc && (rr = next(&sb, &s)) > 0) {
                    struct jval *v = NULL;

                    if (s.num == 1 && !(rc = str_of(&s, "spec.finalizers", &v, err)))
                        jval_array_append_take(fins, v);
                }
                if (!rc && rr < 0)
                    rc = rkc_error_set(err, RKC_EINVAL, "protobuf: truncated namespace spec");
                if (jval_array_size(fins))
                    jval_set_take(spec, "finalizers", jval_incref(fins));
                jval_decref(fins);
                jval_set_take(obj, "spec", spec);
            }
            break;
        }
    }
    if (!rc && r < 0)
        rc = rkc_error_set(err, RKC_EINVAL, "protobuf: truncated object");
    jval_set_take(obj, "metadata", meta ? meta : jval_object());
    if (data)
        jval_set_take(obj, "data", data);
    if (extra)
        jval_set_take(obj, kind == K_SECRET ? "stringData" : "binaryData", extra);
    if (kind == K_SECRET && !strcmp(jval_get_str(obj, "type", "x"), ""))
        jval_del(obj, "type"); /* kubectl sends "" and means the default */
    return rc;
}

enum rkc_err kproto_decode(const void *buf, size_t len, struct jval **ret, struct rkc_error *err)
{
    struct pb b;
    struct field f;
    const unsigned char *raw = NULL;
    size_t raw_len = 0;
    struct jval *api = NULL, *kind = NULL, *obj = NULL;
    enum rkc_err rc = RKC_OK;
    enum kind k;
    const char *ks;
    int r;

    if (len < 4 || memcmp(buf, "k8s\0", 4) != 0)
        return rkc_error_set(err, RKC_EINVAL, "protobuf: missing the k8s magic prefix");
    b.p = (const unsigned char *)buf + 4;
    b.end = (const unsigned char *)buf + len;
    while (!rc && (r = next(&b, &f)) > 0) {
        if (f.num == 1 && f.wt == 2) {
            struct pb tb = { f.bp, f.bp + f.blen };
            struct field t;
            int rr;

            while (!rc && (rr = next(&tb, &t)) > 0) {
                if (t.num == 1) {
                    jval_decref(api);
                    api = NULL;
                    rc = str_of(&t, "apiVersion", &api, err);
                } else if (t.num == 2) {
                    jval_decref(kind);
                    kind = NULL;
                    rc = str_of(&t, "kind", &kind, err);
                }
            }
            if (!rc && rr < 0)
                rc = rkc_error_set(err, RKC_EINVAL, "protobuf: truncated type meta");
        } else if (f.num == 2 && f.wt == 2) {
            raw = f.bp;
            raw_len = f.blen;
        } else if (f.num == 3 && f.wt == 2 && f.blen) {
            rc = rkc_error_set(err, RKC_EINVAL, "protobuf: content encodings are not supported");
        }
    }
    if (!rc && r < 0)
        rc = rkc_error_set(err, RKC_EINVAL, "protobuf: truncated envelope");
    if (rc)
        goto out;
    ks = kind ? jval_str(kind, NULL) : "";
    if (!strcmp(ks, "Secret")) {
        k = K_SECRET;
    } else if (!strcmp(ks, "ConfigMap")) {
        k = K_CONFIGMAP;
    } else if (!strcmp(ks, "Namespace")) {
        k = K_NAMESPACE;
    } else {
        rc = rkc_error_set(err, RKC_EINVAL, "protobuf: unsupported kind '%s'", ks);
        goto out;
    }
    obj = jval_object();
    jval_set_str(obj, "kind", ks);
    jval_set_str(obj, "apiVersion", api ? jval_str(api, NULL) : "v1");
    rc = decode_object(k, raw, raw_len, obj, err);
    if (!rc) {
        *ret = obj;
        obj = NULL;
    }
out:
    jval_decref(obj);
    jval_decref(api);
    jval_decref(kind);
    return rc;
}
