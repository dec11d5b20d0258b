/* SPDX-License-Identifier: Apache-2.0 */
/* encplan: merged provider configs for the steps of an encryption change. */
#include "core/encplan.h"

#include <stdlib.h>
#include <string.h>

#include "util/xalloc.h"

#include "util/banned.h"

/* Resources rkc-apiserver stores; what a wildcard stands for when rewriting. */
static const char *const known_resources[] = { "secrets", "configmaps", NULL };

static bool is_wildcard(const char *name)
{
    return name[0] == '*';
}

/* Explicit names first, then "*.group", then "*.*": the order masking rules allow. */
static int name_rank(const char *name)
{
    if (!strcmp(name, "*.*"))
        return 2;
    return is_wildcard(name) ? 1 : 0;
}

bool encplan_provider_equal(const struct encconfig_provider *a, const struct encconfig_provider *b)
{
    size_t i;

    if (a->kind != b->kind)
        return false;
    if (a->kind == ENCCONFIG_KMS)
        return !strcmp(a->kms.name, b->kms.name);
    if (a->nkeys != b->nkeys)
        return false;
    for (i = 0; i < a->nkeys; i++) {
        if (strcmp(a->keys[i].name, b->keys[i].name) ||
            a->keys[i].secret_len != b->keys[i].secret_len ||
            memcmp(a->keys[i].secret, b->keys[i].secret, a->keys[i].secret_len))
            return false;
    }
    return true;
}

static void copy_provider(struct encconfig_resource *res, const struct encconfig_provider *p)
{
    struct encconfig_provider *n = encconfig_resource_add_provider(res, p->kind);
    size_t i;

    for (i = 0; i < p->nkeys; i++)
        encconfig_provider_add_key(n, p->keys[i].name, p->keys[i].secret, p->keys[i].secret_len);
    if (p->kind == ENCCONFIG_KMS) {
        free(n->kms.api_version);
        free(n->kms.name);
        free(n->kms.endpoint);
        n->kms.api_version = xstrdup(p->kms.api_version ? p->kms.api_version : "v1");
        n->kms.name = xstrdup(p->kms.name);
        n->kms.endpoint = xstrdup(p->kms.endpoint);
        n->kms.cachesize = p->kms.cachesize;
        n->kms.cachesize_set = p->kms.cachesize_set;
        n->kms.timeout_ns = p->kms.timeout_ns;
    }
}

/*
 * The providers cfg uses for name: kube-apiserver's lookup for a concrete resource, the
 * lists naming the wildcard itself for a wildcard. Returns the count; *ret new (free()).
 */
static size_t providers_for(const struct encconfig *cfg, const char *name,
                            const struct encconfig_provider ***ret)
{
    const struct encconfig_provider **list = NULL;
    size_t n = 0, alloc = 0, i, j, k;

    *ret = NULL;
    if (!cfg)
        return 0;
    if (!is_wildcard(name))
        return encconfig_lookup(cfg, name, ret, NULL);
    for (i = 0; i < cfg->nresources; i++) {
        const struct encconfig_resource *r = &cfg->resources[i];

        for (j = 0; j < r->nnames; j++) {
            if (strcmp(r->names[j], name))
                continue;
            for (k = 0; k < r->nproviders; k++) {
                ALLOC_GROW(list, n + 1, alloc);
                list[n++] = &r->providers[k];
            }
            break;
        }
    }
    *ret = list;
    return n;
}

static void add_name(char ***names, size_t *n, size_t *alloc, const char *name)
{
    size_t i;

    for (i = 0; i < *n; i++) {
        if (!strcmp((*names)[i], name))
            return;
    }
    ALLOC_GROW(*names, *n + 2, *alloc);
    (*names)[(*n)++] = xstrdup(name);
    (*names)[*n] = NULL;
}

static void collect_names(const struct encconfig *cfg, char ***names, size_t *n, size_t *alloc)
{
    size_t i, j;

    for (i = 0; cfg && i < cfg->nresources; i++) {
        for (j = 0; j < cfg->resources[i].nnames; j++)
            add_name(names, n, alloc, cfg->resources[i].names[j]);
    }
}

static int cmp_rank(const void *a, const void *b)
{
    return name_rank(*(const char *const *)a) - name_rank(*(const char *const *)b);
}

void encplan_resources_free(char **names)
{
    size_t i;

    for (i = 0; names && names[i]; i++)
        free(names[i]);
    free(names);
}

struct encconfig *encplan_merge(const struct encconfig *w, const struct encconfig *r)
{
    struct encconfig *out;
    char **names = NULL;
    size_t n = 0, alloc = 0, i, j, k;

    if (!w && !r)
        return NULL;
    out = encconfig_new("<merged>");
    collect_names(w, &names, &n, &alloc);
    collect_names(r, &names, &n, &alloc);
    /* stable: qsort is not, so insertion-sort by rank keeps the original order per rank */
    for (i = 1; i < n; i++) {
        for (j = i; j > 0 && cmp_rank(&names[j - 1], &names[j]) > 0; j--) {
            char *t = names[j - 1];

            names[j - 1] = names[j];
            names[j] = t;
        }
    }
    for (i = 0; i < n; i++) {
        const struct encconfig_provider **wp = NULL, **rp = NULL;
        size_t nw = providers_for(w, names[i], &wp);
        size_t nr = providers_for(r, names[i], &rp);
        struct encconfig_resource *res = encconfig_add_resource(out);
        struct encconfig_provider identity;

        memset(&identity, 0, sizeof(identity));
        identity.kind = ENCCONFIG_IDENTITY;
        encconfig_resource_add_name(res, names[i]);
        if (!nw)
            copy_provider(res, &identity);
        for (k = 0; k < nw; k++)
            copy_provider(res, wp[k]);
        if (!nr) {
            rp = xreallocarray(rp, 1, sizeof(*rp));
            rp[0] = &identity;
            nr = 1;
        }
        for (k = 0; k < nr; k++) {
            bool dup = false;

            for (j = 0; j < res->nproviders && !dup; j++)
                dup = encplan_provider_equal(&res->providers[j], rp[k]);
            if (!dup)
                copy_provider(res, rp[k]);
        }
        free(wp);
        free(rp);
    }
    encplan_resources_free(names);
    return out;
}

size_t encplan_resources(const struct encconfig *a, const struct encconfig *b, char ***ret)
{
    char **all = NULL, **out = NULL;
    size_t nall = 0, aall = 0, n = 0, alloc = 0, i, k;

    collect_names(a, &all, &nall, &aall);
    collect_names(b, &all, &nall, &aall);
    for (i = 0; i < nall; i++) {
        if (!is_wildcard(all[i])) {
            add_name(&out, &n, &alloc, all[i]);
            continue;
        }
        /* "*.*" and "*." cover the core group; "*.apps" covers nothing rkc stores. */
        if (!strcmp(all[i], "*.*") || !strcmp(all[i], "*."))
            for (k = 0; known_resources[k]; k++)
                add_name(&out, &n, &alloc, known_resources[k]);
    }
    encplan_resources_free(all);
    if (!out) {
        out = xcalloc(1, sizeof(*out));
    }
    *ret = out;
    return n;
}

bool encplan_writes_plaintext(const struct encconfig *cfg, const char *resource)
{
    const struct encconfig_provider **p = NULL;
    size_t n = cfg ? encconfig_lookup(cfg, resource, &p, NULL) : 0;
    bool plain = !n || p[0]->kind == ENCCONFIG_IDENTITY;

    free(p);
    return plain;
}

enum rkc_err encplan_rotate(const struct encconfig *cfg, const char *name,
                            const unsigned char *secret, size_t len, struct encconfig **ret,
                            struct rkc_error *err)
{
    struct encconfig *out = encconfig_new("<rotated>");
    size_t i, j;

    for (i = 0; i < cfg->nresources; i++) {
        const struct encconfig_resource *r = &cfg->resources[i];
        const struct encconfig_provider *first = r->nproviders ? &r->providers[0] : NULL;
        struct encconfig_resource *res;

        if (!first || first->kind == ENCCONFIG_KMS || first->kind == ENCCONFIG_IDENTITY) {
            encconfig_free(out);
            if (first && first->kind == ENCCONFIG_KMS)
                return rkc_error_set(
                    err, RKC_EINVAL,
                    "resources[%zu] writes with the kms provider '%s': a KMS plugin rotates its "
                    "own key-encryption key (for rkc-kms: 'rkc-kms rotate'); afterwards "
                    "'rkc encrypt rewrite' re-encrypts every Secret under the new key",
                    i, first->kms.name);
            return rkc_error_set(err, RKC_EINVAL,
                                 "resources[%zu] writes plaintext (identity comes first): there "
                                 "is no key to rotate",
                                 i);
        }
        res = encconfig_add_resource(out);
        for (j = 0; j < r->nnames; j++)
            encconfig_resource_add_name(res, r->names[j]);
        encconfig_provider_add_key(encconfig_resource_add_provider(res, first->kind), name, secret,
                                   len);
        for (j = 1; j < r->nproviders; j++)
            copy_provider(res, &r->providers[j]);
    }
    *ret = out;
    return RKC_OK;
}
