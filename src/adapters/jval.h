/* SPDX-License-Identifier: Apache-2.0 */
/*
 * jval: JSON values (jansson underneath; the only module that includes <jansson.h>).
 * A `struct jval` is reference counted: functions named _take steal the caller's reference,
 * getters return borrowed references valid while the parent lives. All functions accept
 * NULL where a value is read and then act as if the value were absent.
 * Not thread-safe per value.
 */
#ifndef RKC_ADAPTERS_JVAL_H
#define RKC_ADAPTERS_JVAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "util/error.h"
#include "util/strbuf.h"

struct jval;

enum jval_dump_flags {
    JVAL_COMPACT = 0,
    JVAL_PRETTY = 1 << 0, /* indent 2 */
    JVAL_SORTKEYS = 1 << 1,
};

/*
 * Parses a JSON document; file names it in messages ("file:line:col: message").
 * Returns: new value in *ret; RKC_ECONFIG on a syntax error.
 */
enum rkc_err jval_parse(const char *file, const char *buf, size_t len, struct jval **ret,
                        struct rkc_error *err);
/*
 * Like jval_parse, but a key repeated in an object keeps its last value (Go's encoding/json,
 * which kube-apiserver uses when field validation is Ignore or Warn) instead of failing.
 */
enum rkc_err jval_parse_last_wins(const char *file, const char *buf, size_t len, struct jval **ret,
                                  struct rkc_error *err);
/* Appends the serialisation (plus a newline when pretty). */
void jval_dump(const struct jval *v, enum jval_dump_flags flags, struct strbuf *out);

struct jval *jval_incref(struct jval *v);
void jval_decref(struct jval *v);
/* Returns: new deep copy. */
struct jval *jval_deep_copy(const struct jval *v);
bool jval_equal(const struct jval *a, const struct jval *b);

struct jval *jval_object(void);
struct jval *jval_array(void);
struct jval *jval_string(const char *s);
struct jval *jval_stringn(const char *s, size_t len);
struct jval *jval_integer(int64_t v);
struct jval *jval_bool(bool v);
struct jval *jval_null(void);

bool jval_is_object(const struct jval *v);
bool jval_is_array(const struct jval *v);
bool jval_is_string(const struct jval *v);
bool jval_is_integer(const struct jval *v);
bool jval_is_bool(const struct jval *v);
bool jval_is_null(const struct jval *v);

/* Returns: borrowed; NULL when v is not an object or key is absent. */
struct jval *jval_get(const struct jval *obj, const char *key);
/* Returns: borrowed string of obj[key], or def when absent or not a string. */
const char *jval_get_str(const struct jval *obj, const char *key, const char *def);
int64_t jval_get_int(const struct jval *obj, const char *key, int64_t def);
bool jval_get_bool(const struct jval *obj, const char *key, bool def);
/* Returns: borrowed string value (NULL if not a string); len in *ret_len if not NULL. */
const char *jval_str(const struct jval *v, size_t *ret_len);
int64_t jval_int(const struct jval *v);
bool jval_true(const struct jval *v);

/* Sets obj[key], stealing value's reference. */
void jval_set_take(struct jval *obj, const char *key, struct jval *value);
void jval_set_str(struct jval *obj, const char *key, const char *s);
void jval_set_int(struct jval *obj, const char *key, int64_t v);
void jval_set_bool(struct jval *obj, const char *key, bool v);
void jval_del(struct jval *obj, const char *key);
size_t jval_object_size(const struct jval *obj);
/* Iteration over object keys in insertion order: idx from 0 to size-1. */
const char *jval_object_key_at(const struct jval *obj, size_t idx, struct jval **ret_value);

size_t jval_array_size(const struct jval *arr);
/* Returns: borrowed. */
struct jval *jval_array_get(const struct jval *arr, size_t idx);
void jval_array_append_take(struct jval *arr, struct jval *value);
void jval_array_remove(struct jval *arr, size_t idx);

/*
 * Overwrites the bytes of every string value inside v with zeros (object keys are kept), for
 * values that held key material and are about to be released. Only for a caller that holds
 * the last reference: every holder sees the wiped strings.
 */
void jval_wipe_strings(struct jval *v);

#endif
