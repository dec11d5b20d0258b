/* SPDX-License-Identifier: Apache-2.0 */
/*
 * ytree: libyaml event stream -> positioned tree, schema helpers, and the emitter.
 * Built on the event API with an explicit stack so that deep nesting cannot overflow the
 * C stack, and aliases are expanded under a node budget.
 */
#include "adapters/ytree.h"

#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <yaml.h>

#include "util/xalloc.h"

#include "util/banned.h"

#define YTREE_MAX_DEPTH     256
#define YTREE_MAX_MAP_PAIRS 65536

struct frame {
    struct ytree_node *node;
    struct ytree_node *pending_key; /* maps: key waiting for its value */
    char *anchor;                   /* anchor to register when the frame closes */
};

struct anchor {
    char *name;
    struct ytree_node *node; /* borrowed from the tree */
};

struct loader {
    const char *file;
    struct frame *stack;
    size_t depth, stack_alloc;
    struct anchor *anchors;
    size_t nanchors, anchors_alloc;
    size_t budget;
    struct ytree_node *root;
};

static struct ytree_node *node_new(enum ytree_kind kind, size_t line, size_t col)
{
    struct ytree_node *n = xcalloc(1, sizeof(*n));

    n->kind = kind;
    n->line = line;
    n->col = col;
    return n;
}

void ytree_free(struct ytree_node *node)
{
    size_t i;

    if (!node)
        return;
    free(node->str);
    for (i = 0; i < node->nitems; i++)
        ytree_free(node->items[i]);
    free(node->items);
    for (i = 0; i < node->npairs; i++) {
        ytree_free(node->pairs[i].key);
        ytree_free(node->pairs[i].value);
    }
    free(node->pairs);
    free(node);
}

static size_t count_nodes(const struct ytree_node *node)
{
    size_t i, n = 1;

    for (i = 0; i < node->nitems; i++)
        n += count_nodes(node->items[i]);
    for (i = 0; i < node->npairs; i++)
        n += 1 + count_nodes(node->pairs[i].value);
    return n;
}

struct ytree_node *ytree_dup(const struct ytree_node *node)
{
    struct ytree_node *n;
    size_t i;

    if (!node)
        return NULL;
    n = node_new(node->kind, node->line, node->col);
    n->style = node->style;
    if (node->str) {
        n->str = xmemdup(node->str, node->len + 1);
        n->len = node->len;
    }
    for (i = 0; i < node->nitems; i++)
        ytree_seq_add_take(n, ytree_dup(node->items[i]));
    for (i = 0; i < node->npairs; i++) {
        ALLOC_GROW(n->pairs, n->npairs + 1, n->pairs_alloc);
        n->pairs[n->npairs].key = ytree_dup(node->pairs[i].key);
        n->pairs[n->npairs].value = ytree_dup(node->pairs[i].value);
        n->npairs++;
    }
    return n;
}

static enum rkc_err attach(struct loader *ld, struct ytree_node *n, struct rkc_error *err)
{
    struct frame *top;
    size_t i;

    if (ld->budget == 0) {
        ytree_free(n);
        return rkc_error_set(err, RKC_ELIMIT, "%s: document has more than %d nodes", ld->file,
                             YTREE_MAX_NODES);
    }
    ld->budget--;
    if (ld->depth == 0) {
        ld->root = n;
        return RKC_OK;
    }
    top = &ld->stack[ld->depth - 1];
    if (top->node->kind == YTREE_SEQ) {
        ytree_seq_add_take(top->node, n);
        return RKC_OK;
    }
    if (!top->pending_key) {
        if (n->kind != YTREE_SCALAR) {
            enum rkc_err rc =
                rkc_error_set(err, RKC_ECONFIG, "%s:%zu:%zu: mapping keys must be plain strings",
                              ld->file, n->line, n->col);
            ytree_free(n);
            return rc;
        }
        for (i = 0; i < top->node->npairs; i++) {
            if (top->node->pairs[i].key->len == n->len &&
                !memcmp(top->node->pairs[i].key->str, n->str, n->len)) {
                enum rkc_err rc = rkc_error_set(
                    err, RKC_ECONFIG, "%s:%zu:%zu: duplicate key '%s' (first at line %zu)",
                    ld->file, n->line, n->col, n->str, top->node->pairs[i].key->line);
                ytree_free(n);
                return rc;
            }
        }
        if (top->node->npairs >= YTREE_MAX_MAP_PAIRS) {
            ytree_free(n);
            return rkc_error_set(err, RKC_ELIMIT, "%s: mapping with more than %d keys", ld->file,
                                 YTREE_MAX_MAP_PAIRS);
        }
        top->pending_key = n;
        return RKC_OK;
    }
    ALLOC_GROW(top->node->pairs, top->node->npairs + 1, top->node->pairs_alloc);
    top->node->pairs[top->node->npairs].key = top->pending_key;
    top->node->pairs[top->node->npairs].value = n;
    top->node->npairs++;
    top->pending_key = NULL;
    return RKC_OK;
}

static void add_anchor(struct loader *ld, const char *name, struct ytree_node *node)
{
    size_t i;

    for (i = 0; i < ld->nanchors; i++) {
        if (!strcmp(ld->anchors[i].name, name)) {
            ld->anchors[i].node = node; /* YAML allows redefinition: the latest wins */
            return;
        }
    }
    ALLOC_GROW(ld->anchors, ld->nanchors + 1, ld->anchors_alloc);
    ld->anchors[ld->nanchors].name = xstrdup(name);
    ld->anchors[ld->nanchors].node = node;
    ld->nanchors++;
}

static enum rkc_err on_event(struct loader *ld, const yaml_event_t *ev, struct rkc_error *err)
{
    size_t line = ev->start_mark.line + 1, col = ev->start_mark.column + 1;
    struct ytree_node *n;
    enum rkc_err rc;
    size_t i, cost;

    switch (ev->type) {
    case YAML_SCALAR_EVENT:
        n = node_new(YTREE_SCALAR, line, col);
        n->style = ev->data.scalar.style == YAML_PLAIN_SCALAR_STYLE ? YTREE_PLAIN : YTREE_QUOTED;
        n->str = xmemdup(ev->data.scalar.value, ev->data.scalar.length + 1);
        n->str[ev->data.scalar.length] = '\0';
        n->len = ev->data.scalar.length;
        rc = attach(ld, n, err);
        if (!rc && ev->data.scalar.anchor)
            add_anchor(ld, (const char *)ev->data.scalar.anchor, n);
        return rc;
    case YAML_SEQUENCE_START_EVENT:
    case YAML_MAPPING_START_EVENT:
        if (ld->depth >= YTREE_MAX_DEPTH)
            return rkc_error_set(err, RKC_ELIMIT, "%s:%zu:%zu: nesting deeper than %d levels",
                                 ld->file, line, col, YTREE_MAX_DEPTH);
        n = node_new(ev->type == YAML_SEQUENCE_START_EVENT ? YTREE_SEQ : YTREE_MAP, line, col);
        rc = attach(ld, n, err);
        if (rc)
            return rc;
        ALLOC_GROW(ld->stack, ld->depth + 1, ld->stack_alloc);
        ld->stack[ld->depth].node = n;
        ld->stack[ld->depth].pending_key = NULL;
        ld->stack[ld->depth].anchor = NULL;
        if (ev->type == YAML_SEQUENCE_START_EVENT && ev->data.sequence_start.anchor)
            ld->stack[ld->depth].anchor = xstrdup((const char *)ev->data.sequence_start.anchor);
        if (ev->type == YAML_MAPPING_START_EVENT && ev->data.mapping_start.anchor)
            ld->stack[ld->depth].anchor = xstrdup((const char *)ev->data.mapping_start.anchor);
        ld->depth++;
        return RKC_OK;
    case YAML_SEQUENCE_END_EVENT:
    case YAML_MAPPING_END_EVENT:
        if (!ld->depth)
            return rkc_error_set(err, RKC_EINTERNAL, "%s: unbalanced yaml events", ld->file);
        ld->depth--;
        if (ld->stack[ld->depth].anchor) {
            add_anchor(ld, ld->stack[ld->depth].anchor, ld->stack[ld->depth].node);
            free(ld->stack[ld->depth].anchor);
        }
        return RKC_OK;
    case YAML_ALIAS_EVENT:
        for (i = 0; i < ld->nanchors; i++) {
            if (!strcmp(ld->anchors[i].name, (const char *)ev->data.alias.anchor))
                break;
        }
        if (i == ld->nanchors)
            return rkc_error_set(err, RKC_ECONFIG, "%s:%zu:%zu: unknown alias '*%s'", ld->file,
                                 line, col, (const char *)ev->data.alias.anchor);
        cost = count_nodes(ld->anchors[i].node);
        if (cost > ld->budget)
            return rkc_error_set(err, RKC_ELIMIT, "%s: document has more than %d nodes", ld->file,
                                 YTREE_MAX_NODES);
        ld->budget -= cost - 1;
        n = ytree_dup(ld->anchors[i].node);
        n->line = line;
        n->col = col;
        return attach(ld, n, err);
    default:
        return RKC_OK;
    }
}

enum rkc_err ytree_parse(const char *file, const char *buf, size_t len,
                         struct ytree_node **ret_root, struct rkc_error *err)
{
    struct loader ld = { 0 };
    yaml_parser_t parser;
    yaml_event_t ev;
    enum rkc_err rc = RKC_OK;
    int docs = 0;
    bool done = false;
    size_t i;

    ld.file = file;
    ld.budget = YTREE_MAX_NODES;
    if (!yaml_parser_initialize(&parser))
        return rkc_error_set(err, RKC_EINTERNAL, "cannot initialise yaml parser");
    yaml_parser_set_input_string(&parser, (const unsigned char *)buf, len);
    while (!done && !rc) {
        if (!yaml_parser_parse(&parser, &ev)) {
            if (parser.context)
                rc =
                    rkc_error_set(err, RKC_ECONFIG, "%s:%zu:%zu: %s %s", file,
                                  parser.problem_mark.line + 1, parser.problem_mark.column + 1,
                                  parser.problem ? parser.problem : "syntax error", parser.context);
            else
                rc = rkc_error_set(err, RKC_ECONFIG, "%s:%zu:%zu: %s", file,
                                   parser.problem_mark.line + 1, parser.problem_mark.column + 1,
                                   parser.problem ? parser.problem : "syntax error");
            break;
        }
        if (ev.type == YAML_DOCUMENT_START_EVENT && ++docs > 1)
            rc = rkc_error_set(err, RKC_ECONFIG,
                               "%s:%zu:%zu: more than one yaml document in the file", file,
                               ev.start_mark.line + 1, ev.start_mark.column + 1);
        else if (ev.type == YAML_STREAM_END_EVENT)
            done = true;
        else
            rc = on_event(&ld, &ev, err);
        yaml_event_delete(&ev);
    }
    yaml_parser_delete(&parser);
    for (i = 0; i < ld.depth; i++) {
        free(ld.stack[i].anchor);
        ytree_free(ld.stack[i].pending_key);
    }
    free(ld.stack);
    for (i = 0; i < ld.nanchors; i++)
        free(ld.anchors[i].name);
    free(ld.anchors);
    if (rc) {
        ytree_free(ld.root);
        return rc;
    }
    *ret_root = ld.root;
    return RKC_OK;
}

struct ytree_node *ytree_map_get(const struct ytree_node *map, const char *key)
{
    size_t i;

    if (!map || map->kind != YTREE_MAP)
        return NULL;
    for (i = 0; i < map->npairs; i++) {
        if (!strcmp(map->pairs[i].key->str, key))
            return map->pairs[i].value;
    }
    return NULL;
}

bool ytree_is_null(const struct ytree_node *node)
{
    if (!node)
        return true;
    if (node->kind != YTREE_SCALAR || node->style != YTREE_PLAIN)
        return false;
    return !strcmp(node->str, "") || !strcmp(node->str, "~") || !strcmp(node->str, "null") ||
           !strcmp(node->str, "Null") || !strcmp(node->str, "NULL");
}

static bool is_plain_bool(const struct ytree_node *node, bool *ret)
{
    static const char *const t[] = { "true", "True", "TRUE" };
    static const char *const f[] = { "false", "False", "FALSE" };
    size_t i;

    if (node->kind != YTREE_SCALAR || node->style != YTREE_PLAIN)
        return false;
    for (i = 0; i < 3; i++) {
        if (!strcmp(node->str, t[i])) {
            *ret = true;
            return true;
        }
        if (!strcmp(node->str, f[i])) {
            *ret = false;
            return true;
        }
    }
    return false;
}

const char *ytree_kind_name(const struct ytree_node *node)
{
    bool b;

    if (!node)
        return "nothing";
    switch (node->kind) {
    case YTREE_MAP:
        return "a mapping";
    case YTREE_SEQ:
        return "a list";
    case YTREE_SCALAR:
        if (ytree_is_null(node))
            return "null";
        if (is_plain_bool(node, &b))
            return "a boolean";
        return "a string";
    }
    return "unknown";
}

enum rkc_err ytree_expect(const char *file, const struct ytree_node *node, enum ytree_kind kind,
                          const char *what, struct rkc_error *err)
{
    static const char *const names[] = { "a string", "a list", "a mapping" };

    if (node && node->kind == kind)
        return RKC_OK;
    return rkc_error_set(err, RKC_ECONFIG, "%s:%zu:%zu: %s must be %s, not %s", file,
                         node ? node->line : 0, node ? node->col : 0, what, names[kind],
                         ytree_kind_name(node));
}

enum rkc_err ytree_get_string(const char *file, const struct ytree_node *node, const char *what,
                              const char **ret, struct rkc_error *err)
{
    bool b;

    if (!node || node->kind != YTREE_SCALAR || ytree_is_null(node) || is_plain_bool(node, &b))
        return rkc_error_set(err, RKC_ECONFIG, "%s:%zu:%zu: %s must be a string, not %s", file,
                             node ? node->line : 0, node ? node->col : 0, what,
                             ytree_kind_name(node));
    *ret = node->str;
    return RKC_OK;
}

enum rkc_err ytree_get_bool(const char *file, const struct ytree_node *node, const char *what,
                            bool *ret, struct rkc_error *err)
{
    if (!node || !is_plain_bool(node, ret))
        return rkc_error_set(err, RKC_ECONFIG, "%s:%zu:%zu: %s must be true or false, not %s%s%s%s",
                             file, node ? node->line : 0, node ? node->col : 0, what,
                             node && node->kind == YTREE_SCALAR ? "'" : "",
                             node && node->kind == YTREE_SCALAR ? node->str : ytree_kind_name(node),
                             node && node->kind == YTREE_SCALAR ? "'" : "",
                             node && node->kind == YTREE_SCALAR && node->style == YTREE_QUOTED
                                 ? " (a quoted string)"
                                 : "");
    return RKC_OK;
}

enum rkc_err ytree_get_int(const char *file, const struct ytree_node *node, const char *what,
                           int64_t min, int64_t max, int64_t *ret, struct rkc_error *err)
{
    char *end = NULL;
    long long v;

    if (!node || node->kind != YTREE_SCALAR || node->style != YTREE_PLAIN || !node->len)
        goto bad;
    errno = 0;
    v = strtoll(node->str, &end, 10);
    if (errno || *end || (node->str[0] != '-' && (node->str[0] < '0' || node->str[0] > '9')))
        goto bad;
    if (v < min || v > max)
        return rkc_error_set(err, RKC_ECONFIG,
                             "%s:%zu:%zu: %s must be between %lld and %lld, not %lld", file,
                             node->line, node->col, what, (long long)min, (long long)max, v);
    *ret = v;
    return RKC_OK;
bad:
    return rkc_error_set(err, RKC_ECONFIG, "%s:%zu:%zu: %s must be a whole number, not %s%s%s",
                         file, node ? node->line : 0, node ? node->col : 0, what,
                         node && node->kind == YTREE_SCALAR ? "'" : "",
                         node && node->kind == YTREE_SCALAR ? node->str : ytree_kind_name(node),
                         node && node->kind == YTREE_SCALAR ? "'" : "");
}

static size_t edit_distance(const char *a, const char *b)
{
    size_t la = strlen(a), lb = strlen(b), i, j;
    size_t *prev, *cur, res;

    if (la > 64 || lb > 64)
        return SIZE_MAX;
    prev = xcalloc(lb + 1, sizeof(*prev));
    cur = xcalloc(lb + 1, sizeof(*cur));
    for (j = 0; j <= lb; j++)
        prev[j] = j;
    for (i = 1; i <= la; i++) {
        size_t *tmp;

        cur[0] = i;
        for (j = 1; j <= lb; j++) {
            size_t del = prev[j] + 1, ins = cur[j - 1] + 1;
            size_t sub = prev[j - 1] + (a[i - 1] != b[j - 1]);

            cur[j] = del < ins ? del : ins;
            if (sub < cur[j])
                cur[j] = sub;
        }
        tmp = prev;
        prev = cur;
        cur = tmp;
    }
    res = prev[lb];
    free(prev);
    free(cur);
    return res;
}

const char *ytree_suggest(const char *word, const char *const *candidates)
{
    const char *best = NULL;
    size_t best_d = SIZE_MAX, limit = strlen(word) / 3;

    if (limit < 2)
        limit = 2;
    for (; *candidates; candidates++) {
        size_t d = edit_distance(word, *candidates);

        if (d < best_d) {
            best_d = d;
            best = *candidates;
        }
    }
    return best_d <= limit ? best : NULL;
}

enum rkc_err ytree_check_keys(const char *file, const struct ytree_node *map,
                              const char *const *allowed, const char *what, struct rkc_error *err)
{
    size_t i;
    const char *const *a;

    for (i = 0; i < map->npairs; i++) {
        const struct ytree_node *k = map->pairs[i].key;
        const char *hint;

        for (a = allowed; *a; a++) {
            if (!strcmp(*a, k->str))
                break;
        }
        if (*a)
            continue;
        hint = ytree_suggest(k->str, allowed);
        if (hint)
            return rkc_error_set(err, RKC_ECONFIG,
                                 "%s:%zu:%zu: unknown key '%s' in %s (did you mean '%s'?)", file,
                                 k->line, k->col, k->str, what, hint);
        return rkc_error_set(err, RKC_ECONFIG, "%s:%zu:%zu: unknown key '%s' in %s", file, k->line,
                             k->col, k->str, what);
    }
    return RKC_OK;
}

struct ytree_node *ytree_new_scalar(const char *s, enum ytree_style style)
{
    struct ytree_node *n = node_new(YTREE_SCALAR, 0, 0);

    n->style = style;
    n->str = xstrdup(s);
    n->len = strlen(s);
    return n;
}

struct ytree_node *ytree_new_seq(void)
{
    return node_new(YTREE_SEQ, 0, 0);
}

struct ytree_node *ytree_new_map(void)
{
    return node_new(YTREE_MAP, 0, 0);
}

void ytree_seq_add_take(struct ytree_node *seq, struct ytree_node *item)
{
    RKC_ASSERT(seq->kind == YTREE_SEQ);
    ALLOC_GROW(seq->items, seq->nitems + 1, seq->items_alloc);
    seq->items[seq->nitems++] = item;
}

void ytree_map_add_take(struct ytree_node *map, const char *key, struct ytree_node *value)
{
    RKC_ASSERT(map->kind == YTREE_MAP);
    ALLOC_GROW(map->pairs, map->npairs + 1, map->pairs_alloc);
    map->pairs[map->npairs].key = ytree_new_scalar(key, YTREE_QUOTED);
    map->pairs[map->npairs].value = value;
    map->npairs++;
}

/* A string that a YAML 1.1/1.2 reader would take for something else must be quoted. */
static bool needs_quotes(const char *s)
{
    static const char *const special[] = { "",     "~",    "null",  "Null",  "NULL",  "true",
                                           "True", "TRUE", "false", "False", "FALSE", "yes",
                                           "Yes",  "YES",  "no",    "No",    "NO",    "on",
                                           "On",   "ON",   "off",   "Off",   "OFF",   "y",
                                           "Y",    "n",    "N",     NULL };
    const char *const *p;
    char *end;

    for (p = special; *p; p++) {
        if (!strcmp(s, *p))
            return true;
    }
    (void)strtod(s, &end);
    if (end != s && *end == '\0')
        return true;
    return s[0] == '0' || s[0] == '+' || s[0] == '.' || s[0] == '-';
}

static int emit_write(void *data, unsigned char *buffer, size_t size)
{
    strbuf_add(data, buffer, size);
    return 1;
}

static int emit_node(yaml_emitter_t *em, const struct ytree_node *node)
{
    yaml_event_t ev;
    size_t i;

    switch (node->kind) {
    case YTREE_SCALAR: {
        bool plain = node->style == YTREE_PLAIN || !needs_quotes(node->str);

        if (!yaml_scalar_event_initialize(
                &ev, NULL, NULL, (yaml_char_t *)node->str, (int)node->len, plain, !plain,
                plain ? YAML_ANY_SCALAR_STYLE : YAML_DOUBLE_QUOTED_SCALAR_STYLE))
            return 0;
        return yaml_emitter_emit(em, &ev);
    }
    case YTREE_SEQ:
        if (!yaml_sequence_start_event_initialize(&ev, NULL, NULL, 1, YAML_BLOCK_SEQUENCE_STYLE) ||
            !yaml_emitter_emit(em, &ev))
            return 0;
        for (i = 0; i < node->nitems; i++) {
            if (!emit_node(em, node->items[i]))
                return 0;
        }
        return yaml_sequence_end_event_initialize(&ev) && yaml_emitter_emit(em, &ev);
    case YTREE_MAP:
        if (!yaml_mapping_start_event_initialize(&ev, NULL, NULL, 1,
                                                 node->npairs ? YAML_BLOCK_MAPPING_STYLE
                                                              : YAML_FLOW_MAPPING_STYLE) ||
            !yaml_emitter_emit(em, &ev))
            return 0;
        for (i = 0; i < node->npairs; i++) {
            if (!emit_node(em, node->pairs[i].key) || !emit_node(em, node->pairs[i].value))
                return 0;
        }
        return yaml_mapping_end_event_initialize(&ev) && yaml_emitter_emit(em, &ev);
    }
    return 0;
}

enum rkc_err ytree_emit(const struct ytree_node *node, struct strbuf *out, struct rkc_error *err)
{
    yaml_emitter_t em;
    yaml_event_t ev;
    enum rkc_err rc = RKC_OK;

    if (!yaml_emitter_initialize(&em))
        return rkc_error_set(err, RKC_EINTERNAL, "cannot initialise yaml emitter");
    yaml_emitter_set_output(&em, emit_write, out);
    yaml_emitter_set_unicode(&em, 1);
    yaml_emitter_set_width(&em, -1);
    if (!yaml_stream_start_event_initialize(&ev, YAML_UTF8_ENCODING) ||
        !yaml_emitter_emit(&em, &ev) ||
        !yaml_document_start_event_initialize(&ev, NULL, NULL, NULL, 1) ||
        !yaml_emitter_emit(&em, &ev) || !emit_node(&em, node) ||
        !yaml_document_end_event_initialize(&ev, 1) || !yaml_emitter_emit(&em, &ev) ||
        !yaml_stream_end_event_initialize(&ev) || !yaml_emitter_emit(&em, &ev) ||
        !yaml_emitter_flush(&em))
        rc = rkc_error_set(err, RKC_EINTERNAL, "yaml emitter: %s",
                           em.problem ? em.problem : "failed");
    yaml_emitter_delete(&em);
    return rc;
}
