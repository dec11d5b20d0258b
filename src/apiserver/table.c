/* SPDX-License-Identifier: Apache-2.0 */
/*
 * table: the meta.k8s.io/v1 Table form that `kubectl get` asks for
 * (Accept: application/json;as=Table;v=v1;g=meta.k8s.io), with kube-apiserver's columns for
 * secrets (Name, Type, Data, Age), configmaps (Name, Data, Age) and namespaces (Name, Status,
 * Age). Rows carry the object's metadata as PartialObjectMetadata.
 */
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "apiserver/server.h"
#include "util/banned.h"

bool table_wanted(const char *accept)
{
    const char *p;

    if (!accept)
        return false;
    /* the first media range decides; kubectl puts the Table form first */
    p = strstr(accept, "as=Table");
    return p && (!strchr(accept, ',') || p < strchr(accept, ','));
}

static struct jval *column(const char *name, const char *type, const char *format, const char *desc)
{
    struct jval *c = jval_object();

    jval_set_str(c, "name", name);
    jval_set_str(c, "type", type);
    jval_set_str(c, "format", format);
    jval_set_str(c, "description", desc);
    jval_set_int(c, "priority", 0);
    return c;
}

struct jval *table_new(enum kres kres)
{
    struct jval *t = jval_object(), *cols = jval_array();

    jval_set_str(t, "kind", "Table");
    jval_set_str(t, "apiVersion", "meta.k8s.io/v1");
    jval_set_take(t, "metadata", jval_object());
    jval_array_append_take(cols, column("Name", "string", "name", "Name of the object."));
    if (kres == KRES_SECRETS)
        jval_array_append_take(cols, column("Type", "string", "", "Type of the secret data."));
    if (kres == KRES_NAMESPACES)
        jval_array_append_take(cols, column("Status", "string", "", "Phase of the namespace."));
    else
        jval_array_append_take(cols, column("Data", "string", "", "Number of data keys."));
    jval_array_append_take(cols, column("Age", "string", "", "Time since creation."));
    jval_set_take(t, "columnDefinitions", cols);
    jval_set_take(t, "rows", jval_array());
    return t;
}

/* kube's duration.HumanDuration, to the precision kubectl shows. */
static void human_age(const char *created, char *out, size_t size)
{
    struct tm tm;
    long long s;

    memset(&tm, 0, sizeof(tm));
    if (!created || !strptime(created, "%Y-%m-%dT%H:%M:%SZ", &tm)) {
        snprintf(out, size, "<unknown>");
        return;
    }
    s = (long long)(time(NULL) - timegm(&tm));
    if (s < 0)
        s = 0;
    if (s < 120)
        snprintf(out, size, "%llds", s);
    else if (s < 600)
        snprintf(out, size, "%lldm%llds", s / 60, s % 60);
    else if (s < 3 * 3600)
        snprintf(out, size, "%lldm", s / 60);
    else if (s < 8 * 3600)
        snprintf(out, size, "%lldh%lldm", s / 3600, s / 60 % 60);
    else if (s < 48 * 3600)
        snprintf(out, size, "%lldh", s / 3600);
    else if (s < 8 * 86400)
        snprintf(out, size, "%lldd%lldh", s / 86400, s / 3600 % 24);
    else if (s < 2 * 365 * 86400LL)
        snprintf(out, size, "%lldd", s / 86400);
    else
        snprintf(out, size, "%lldy", s / (365 * 86400LL));
}

void table_add_row(struct jval *table, enum kres kres, const struct jval *obj)
{
    const struct jval *meta = jval_get(obj, "metadata");
    struct jval *row = jval_object(), *cells = jval_array(), *pom = jval_object();
    char age[32];

    jval_array_append_take(cells, jval_string(jval_get_str(meta, "name", "")));
    if (kres == KRES_SECRETS)
        jval_array_append_take(cells, jval_string(jval_get_str(obj, "type", "")));
    if (kres == KRES_NAMESPACES) {
        jval_array_append_take(cells,
                               jval_string(jval_get_str(jval_get(obj, "status"), "phase", "")));
    } else {
        size_t n = jval_object_size(jval_get(obj, "data"));

        if (kres == KRES_CONFIGMAPS)
            n += jval_object_size(jval_get(obj, "binaryData"));
        jval_array_append_take(cells, jval_integer((int64_t)n));
    }
    human_age(jval_get_str(meta, "creationTimestamp", NULL), age, sizeof(age));
    jval_array_append_take(cells, jval_string(age));
    jval_set_take(row, "cells", cells);
    jval_set_str(pom, "kind", "PartialObjectMetadata");
    jval_set_str(pom, "apiVersion", "meta.k8s.io/v1");
    jval_set_take(pom, "metadata", jval_deep_copy(meta));
    jval_set_take(row, "object", pom);
    jval_array_append_take(jval_get(table, "rows"), row);
}
