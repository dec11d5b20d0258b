/* SPDX-License-Identifier: Apache-2.0 */
/*
 * ytree: YAML (and JSON, its subset) parsed with libyaml's document API into an owned tree
 * in which every node keeps its 1-based line and column, so that every schema error can
 * read `file:line:col: ...`. The only module that includes <yaml.h>.
 *
 * Strictness: duplicate mapping keys, non-scalar keys, more than one document and trees
 * larger than YTREE_MAX_NODES (alias bombs) are parse errors. Tags are ignored.
 * Trees can also be built in code and emitted (block style, keys in insertion order).
 * Not thread-safe per tree; separate trees are independent.
 */
#ifndef RKC_ADAPTERS_YTREE_H
#define RKC_ADAPTERS_YTREE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "util/error.h"
#include "util/strbuf.h"

#define YTREE_MAX_NODES 200000

enum ytree_kind {
    YTREE_SCALAR,
    YTREE_SEQ,
    YTREE_MAP,
};

enum ytree_style {
    YTREE_PLAIN,  /* unquoted scalar: may be null, bool, number */
    YTREE_QUOTED, /* single/double quoted, literal or folded: always a string */
};

struct ytree_pair;

struct ytree_node {
    enum ytree_kind kind;
    enum ytree_style style;
    size_t line; /* 1-based; 0 for nodes built in code */
    size_t col;  /* 1-based */
    /* YTREE_SCALAR */
    char *str;
    size_t len;
    /* YTREE_SEQ */
    struct ytree_node **items;
    size_t nitems, items_alloc;
    /* YTREE_MAP */
    struct ytree_pair *pairs;
    size_t npairs, pairs_alloc;
};

struct ytree_pair {
    struct ytree_node *key; /* always a scalar */
    struct ytree_node *value;
};

/*
 * Parses buf (len bytes) as one YAML document. file names the source in messages.
 * An empty document gives *ret_root == NULL and RKC_OK.
 * Returns: new tree in *ret_root (free with ytree_free); RKC_ECONFIG with
 * "file:line:col: problem" on a syntax error; RKC_ELIMIT on a too-large tree.
 */
enum rkc_err ytree_parse(const char *file, const char *buf, size_t len,
                         struct ytree_node **ret_root, struct rkc_error *err);
void ytree_free(struct ytree_node *node);
/* Returns: new, a deep copy (positions kept). */
struct ytree_node *ytree_dup(const struct ytree_node *node);

/* Returns: borrowed value of key in a map, or NULL (also when node is not a map). */
struct ytree_node *ytree_map_get(const struct ytree_node *map, const char *key);
/* Returns: the human name of the node's kind ("a mapping", "a list", "a string"). */
const char *ytree_kind_name(const struct ytree_node *node);
/* True when the node is a plain null scalar (`~`, `null`, `Null`, `NULL` or empty). */
bool ytree_is_null(const struct ytree_node *node);

/*
 * Scalar conversions; each fails with RKC_ECONFIG and "file:line:col: <what> must be ..."
 * naming `what` (a field path such as "nodes[0].port").
 */
enum rkc_err ytree_get_string(const char *file, const struct ytree_node *node, const char *what,
                              const char **ret, struct rkc_error *err);
enum rkc_err ytree_get_bool(const char *file, const struct ytree_node *node, const char *what,
                            bool *ret, struct rkc_error *err);
enum rkc_err ytree_get_int(const char *file, const struct ytree_node *node, const char *what,
                           int64_t min, int64_t max, int64_t *ret, struct rkc_error *err);
enum rkc_err ytree_expect(const char *file, const struct ytree_node *node, enum ytree_kind kind,
                          const char *what, struct rkc_error *err);

/*
 * Checks that every key of map is in allowed (NULL-terminated). An unknown key fails with
 * "file:line:col: unknown key 'k' in WHAT (did you mean 'x'?)" (suggestion when close).
 */
enum rkc_err ytree_check_keys(const char *file, const struct ytree_node *map,
                              const char *const *allowed, const char *what, struct rkc_error *err);
/* Returns: borrowed closest candidate within edit distance 2 (or 1/3 of length), or NULL. */
const char *ytree_suggest(const char *word, const char *const *candidates);

/* Builders (nodes have line 0). Returns: new. */
struct ytree_node *ytree_new_scalar(const char *s, enum ytree_style style);
struct ytree_node *ytree_new_seq(void);
struct ytree_node *ytree_new_map(void);
/* Appends; takes ownership of item/value. */
void ytree_seq_add_take(struct ytree_node *seq, struct ytree_node *item);
void ytree_map_add_take(struct ytree_node *map, const char *key, struct ytree_node *value);

/*
 * Emits node as a YAML document (block style; scalars that would not read back as the
 * same string are quoted). Returns RKC_EINTERNAL on an emitter failure.
 */
enum rkc_err ytree_emit(const struct ytree_node *node, struct strbuf *out, struct rkc_error *err);

#endif
