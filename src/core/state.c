/* SPDX-License-Identifier: Apache-2.0 */
/*
 * state: cluster.rkestate, locked, loaded, validated and written atomically. The RKE part
 * (desiredState/currentState and unknown top-level keys) stays a JSON tree; the `encryption`
 * section is parsed into typed structures on open and serialised again on save, so no other
 * module touches its JSON. Validation errors are positioned by re-reading the file with
 * ytree (JSON is YAML) only when there is an error to report.
 */
#include "core/state.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "adapters/ytree.h"
#include "util/fs.h"
#include "util/log.h"
#include "util/strbuf.h"
#include "util/utf8.h"
#include "util/xalloc.h"

#include "util/banned.h"

struct rkc_state {
    char *path;
    struct fs_lock lock;
    bool is_new;
    bool broken;
    bool read_only;
    bool enc_recorded;
    struct rkc_error broken_err;
    char *warning;
    /* Everything but "encryption": desiredState, currentState, unknown keys. */
    struct jval *root;

    enum state_enc_mode mode;
    char *active_config;
    char *active_hash;
    struct state_retired_key *retired;
    size_t nretired, retired_alloc;
    struct state_operation *op;
    struct state_history_entry *history;
    size_t nhistory, history_alloc;
};

/* ---- names ---- */

static const char *const mode_names[] = { "disabled", "managed", "custom", NULL };
static const char *const kind_names[] = { "enable",       "disable",       "rotate",
                                          "apply-custom", "restore-rekey", NULL };
static const char *const phase_names[] = { "prepare", "promote", "rewrite", "verify",
                                           "prune",   "done",    NULL };
static const char *const outcome_names[] = { "succeeded", "abandoned", NULL };

static bool name_lookup(const char *const *names, const char *s, int *ret)
{
    int i;

    for (i = 0; s && names[i]; i++) {
        if (!strcmp(names[i], s)) {
            *ret = i;
            return true;
        }
    }
    return false;
}

const char *state_enc_mode_name(enum state_enc_mode mode)
{
    RKC_ASSERT((unsigned)mode <= STATE_ENC_CUSTOM);
    return mode_names[mode];
}

const char *state_op_kind_name(enum state_op_kind kind)
{
    RKC_ASSERT((unsigned)kind <= STATE_OP_RESTORE_REKEY);
    return kind_names[kind];
}

const char *state_op_phase_name(enum state_op_phase phase)
{
    RKC_ASSERT((unsigned)phase <= STATE_PHASE_DONE);
    return phase_names[phase];
}

const char *state_op_outcome_name(enum state_op_outcome outcome)
{
    RKC_ASSERT((unsigned)outcome <= STATE_OUTCOME_ABANDONED);
    return outcome_names[outcome];
}

bool state_enc_mode_parse(const char *s, enum state_enc_mode *ret)
{
    int i;

    if (!name_lookup(mode_names, s, &i))
        return false;
    *ret = (enum state_enc_mode)i;
    return true;
}

bool state_op_kind_parse(const char *s, enum state_op_kind *ret)
{
    int i;

    if (!name_lookup(kind_names, s, &i))
        return false;
    *ret = (enum state_op_kind)i;
    return true;
}

bool state_op_phase_parse(const char *s, enum state_op_phase *ret)
{
    int i;

    if (!name_lookup(phase_names, s, &i))
        return false;
    *ret = (enum state_op_phase)i;
    return true;
}

bool state_op_outcome_parse(const char *s, enum state_op_outcome *ret)
{
    int i;

    if (!name_lookup(outcome_names, s, &i))
        return false;
    *ret = (enum state_op_outcome)i;
    return true;
}

/* ---- times, hashes, base64 ---- */

void state_format_time(time_t t, char out[STATE_TIME_SIZE])
{
    struct tm tm;

    if (!gmtime_r(&t, &tm) || !strftime(out, STATE_TIME_SIZE, "%Y-%m-%dT%H:%M:%SZ", &tm))
        RKC_BUG("cannot format time %lld", (long long)t);
}

bool state_time_valid(const char *s)
{
    static const char shape[] = "dddd-dd-ddTdd:dd:ddZ";
    struct tm tm;
    char back[STATE_TIME_SIZE];
    size_t i;
    time_t t;

    if (!s || strlen(s) != sizeof(shape) - 1)
        return false;
    for (i = 0; shape[i]; i++) {
        if (shape[i] == 'd' ? (s[i] < '0' || s[i] > '9') : s[i] != shape[i])
            return false;
    }
    memset(&tm, 0, sizeof(tm));
    if (!strptime(s, "%Y-%m-%dT%H:%M:%SZ", &tm))
        return false;
    t = timegm(&tm);
    if (t == (time_t)-1)
        return false;
    /* Rejects 2024-02-30 and 25:00:00, which timegm would normalise. */
    state_format_time(t, back);
    return !strcmp(back, s);
}

/*
 * True when s (NULL counts as valid) is well-formed UTF-8: jansson refuses anything else, and
 * everything here is written to JSON. Overlong forms, surrogates and > U+10FFFF are refused.
 */
static bool hash_valid(const char *s)
{
    size_t i;

    if (!s || strlen(s) != STATE_HASH_SIZE - 1)
        return false;
    for (i = 0; s[i]; i++) {
        if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
            return false;
    }
    return true;
}

/* Standard base64 with padding; never echoed in messages (it is key material). */
static bool base64_valid(const char *s)
{
    size_t i, n = s ? strlen(s) : 0, pad = 0;

    if (!n || n % 4)
        return false;
    for (i = 0; i < n; i++) {
        char c = s[i];

        if (c == '=') {
            if (i < n - 2)
                return false;
            pad++;
            continue;
        }
        if (pad)
            return false;
        if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
              c == '+' || c == '/'))
            return false;
    }
    return true;
}

/* ---- owned structures ---- */

static char *xstrdup_or_null(const char *s)
{
    return s ? xstrdup(s) : NULL;
}

/* Frees a string the state owns but hands out through a const field. */
static void free_owned(const char *s)
{
    union {
        const char *c;
        char *m;
    } u;

    u.c = s;
    free(u.m);
}

static void free_secret(const char *s)
{
    union {
        const char *c;
        char *m;
    } u;

    u.c = s;
    if (s) {
        rkc_wipe(u.m, strlen(s));
        free(u.m);
    }
}

static void retired_release(struct state_retired_key *k)
{
    free_owned(k->name);
    free_owned(k->provider);
    free_secret(k->secret);
    free_owned(k->fingerprint);
    free_owned(k->retired_at);
    free_owned(k->reason);
    memset(k, 0, sizeof(*k));
}

static void operation_free(struct state_operation *op)
{
    if (!op)
        return;
    free_owned(op->started_at);
    free_secret(op->target_config);
    free_secret(op->previous_config);
    free(op);
}

static void history_release(struct state_history_entry *h)
{
    free_owned(h->started_at);
    free_owned(h->finished_at);
    free_owned(h->summary);
    memset(h, 0, sizeof(*h));
}

static void encryption_release(struct rkc_state *st)
{
    size_t i;

    free_secret(st->active_config);
    free(st->active_hash);
    st->active_config = st->active_hash = NULL;
    for (i = 0; i < st->nretired; i++)
        retired_release(&st->retired[i]);
    free(st->retired);
    st->retired = NULL;
    st->nretired = st->retired_alloc = 0;
    operation_free(st->op);
    st->op = NULL;
    for (i = 0; i < st->nhistory; i++)
        history_release(&st->history[i]);
    free(st->history);
    st->history = NULL;
    st->nhistory = st->history_alloc = 0;
    st->mode = STATE_ENC_DISABLED;
}

static void root_free(struct jval *root)
{
    /* desiredState/currentState carry encryptionConfig with keys in clear. */
    jval_wipe_strings(root);
    jval_decref(root);
}

/* Drops history entries beyond STATE_HISTORY_MAX, oldest first. */
static void history_trim(struct rkc_state *st)
{
    size_t drop, i;

    if (st->nhistory <= STATE_HISTORY_MAX)
        return;
    drop = st->nhistory - STATE_HISTORY_MAX;
    for (i = 0; i < drop; i++)
        history_release(&st->history[i]);
    memmove(st->history, st->history + drop, (size_t)STATE_HISTORY_MAX * sizeof(*st->history));
    st->nhistory = STATE_HISTORY_MAX;
}

/* ---- loading: positioned validation ---- */

struct load_ctx {
    const char *file;
    const char *buf;
    size_t len;
    struct ytree_node *tree;
    bool tree_tried;
    struct rkc_error *err;
};

/* Finds the node a path such as "encryption.retiredKeys[0].secret" names (its key node
 * when want_key and the last step is a key). */
static const struct ytree_node *locate(const struct ytree_node *n, const char *path, bool want_key)
{
    const struct ytree_node *keynode = NULL;
    const char *p = path;

    while (n && *p) {
        if (*p == '.')
            p++;
        if (*p == '[') {
            char *end;
            unsigned long idx = strtoul(p + 1, &end, 10);

            if (*end != ']')
                return NULL;
            p = end + 1;
            n = (n->kind == YTREE_SEQ && idx < n->nitems) ? n->items[idx] : NULL;
            keynode = NULL;
        } else {
            size_t len = strcspn(p, ".["), i;
            const struct ytree_node *next = NULL;

            for (i = 0; n->kind == YTREE_MAP && i < n->npairs; i++) {
                const struct ytree_node *k = n->pairs[i].key;

                if (k->len == len && !memcmp(k->str, p, len)) {
                    keynode = k;
                    next = n->pairs[i].value;
                    break;
                }
            }
            n = next;
            p += len;
        }
    }
    return (want_key && keynode) ? keynode : n;
}

static enum rkc_err fail(struct load_ctx *c, const char *path, bool at_key, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static enum rkc_err fail(struct load_ctx *c, const char *path, bool at_key, const char *fmt, ...)
{
    const struct ytree_node *n = NULL;
    char msg[1024];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    if (!c->tree_tried) {
        c->tree_tried = true;
        if (ytree_parse(c->file, c->buf, c->len, &c->tree, NULL))
            c->tree = NULL;
    }
    if (c->tree)
        n = locate(c->tree, path, at_key);
    if (n && n->line)
        return rkc_error_set(c->err, RKC_ECONFIG, "%s:%zu:%zu: %s", c->file, n->line, n->col, msg);
    return rkc_error_set(c->err, RKC_ECONFIG, "%s: %s", c->file, msg);
}

static const char *jkind(const struct jval *v)
{
    if (jval_is_object(v))
        return "an object";
    if (jval_is_array(v))
        return "an array";
    if (jval_is_string(v))
        return "a string";
    if (jval_is_integer(v))
        return "an integer";
    if (jval_is_bool(v))
        return "a boolean";
    if (jval_is_null(v))
        return "null";
    return "a number";
}

static char *subpath(const char *path, const char *key)
{
    return path[0] ? xasprintf("%s.%s", path, key) : xstrdup(key);
}

static enum rkc_err check_keys(struct load_ctx *c, const struct jval *obj, const char *path,
                               const char *const *allowed)
{
    size_t i, j;

    for (i = 0; i < jval_object_size(obj); i++) {
        const char *key = jval_object_key_at(obj, i, NULL);
        const char *hint;
        char *sub;
        enum rkc_err rc;

        for (j = 0; allowed[j] && strcmp(allowed[j], key) != 0; j++)
            ;
        if (allowed[j])
            continue;
        hint = ytree_suggest(key, allowed);
        sub = subpath(path, key);
        if (hint)
            rc = fail(c, sub, true, "unknown key '%.64s' in %s (did you mean '%s'?)", key, path,
                      hint);
        else
            rc = fail(c, sub, true, "unknown key '%.64s' in %s", key, path);
        free(sub);
        return rc;
    }
    return RKC_OK;
}

enum field_flags {
    F_REQUIRED = 1 << 0,
    F_NULLABLE = 1 << 1, /* null reads as absent */
};

/* Reads obj[key] as a string into *ret (borrowed, NULL when absent). */
static enum rkc_err get_str(struct load_ctx *c, const struct jval *obj, const char *path,
                            const char *key, enum field_flags flags, const char **ret)
{
    struct jval *v = jval_get(obj, key);
    enum rkc_err rc = RKC_OK;
    char *sub = subpath(path, key);
    size_t len = 0;

    *ret = NULL;
    if (!v || ((flags & F_NULLABLE) && jval_is_null(v))) {
        if (flags & F_REQUIRED)
            rc = fail(c, path, false, "missing key '%s' in %s", key, path);
    } else if (!jval_is_string(v)) {
        rc = fail(c, sub, false, "%s must be a string, not %s", sub, jkind(v));
    } else {
        *ret = jval_str(v, &len);
        if (strlen(*ret) != len)
            rc = fail(c, sub, false, "%s must not contain NUL characters", sub);
    }
    free(sub);
    return rc;
}

static enum rkc_err get_int(struct load_ctx *c, const struct jval *obj, const char *path,
                            const char *key, int64_t min, int64_t *ret)
{
    struct jval *v = jval_get(obj, key);
    enum rkc_err rc = RKC_OK;
    char *sub = subpath(path, key);

    if (!v)
        rc = fail(c, path, false, "missing key '%s' in %s", key, path);
    else if (!jval_is_integer(v))
        rc = fail(c, sub, false, "%s must be an integer, not %s", sub, jkind(v));
    else if (jval_int(v) < min)
        rc = fail(c, sub, false, "%s must be at least %lld", sub, (long long)min);
    else
        *ret = jval_int(v);
    free(sub);
    return rc;
}

static enum rkc_err get_time(struct load_ctx *c, const struct jval *obj, const char *path,
                             const char *key, const char **ret)
{
    const char *s;
    enum rkc_err rc = get_str(c, obj, path, key, F_REQUIRED, &s);
    char *sub;

    if (rc)
        return rc;
    if (!state_time_valid(s)) {
        sub = subpath(path, key);
        rc = fail(c, sub, false, "%s must be an RFC 3339 UTC time like 2024-05-01T12:00:00Z", sub);
        free(sub);
        return rc;
    }
    *ret = xstrdup(s);
    return RKC_OK;
}

/* Reads a required enum name; names is the NULL-terminated list of accepted values. */
static enum rkc_err get_enum(struct load_ctx *c, const struct jval *obj, const char *path,
                             const char *key, const char *const *names, int *ret)
{
    const char *s;
    enum rkc_err rc = get_str(c, obj, path, key, F_REQUIRED, &s);
    struct strbuf list = STRBUF_INIT;
    char *sub;
    size_t i, n;

    if (rc)
        return rc;
    if (name_lookup(names, s, ret))
        return RKC_OK;
    for (n = 0; names[n]; n++)
        ;
    for (i = 0; i < n; i++)
        strbuf_addf(&list, "%s%s", i == 0 ? "" : (i + 1 == n ? " or " : ", "), names[i]);
    sub = subpath(path, key);
    rc = fail(c, sub, false, "%s has unknown value '%.64s' (expected %s)", sub, s, list.buf);
    free(sub);
    strbuf_release(&list);
    return rc;
}

/* obj[key] must be an object (or a list) or absent/null; *ret borrowed, NULL when absent. */
static enum rkc_err get_container(struct load_ctx *c, const struct jval *obj, const char *path,
                                  const char *key, bool list, struct jval **ret)
{
    struct jval *v = jval_get(obj, key);
    enum rkc_err rc;
    char *sub;

    *ret = NULL;
    if (!v || jval_is_null(v))
        return RKC_OK;
    if (list ? jval_is_array(v) : jval_is_object(v)) {
        *ret = v;
        return RKC_OK;
    }
    sub = subpath(path, key);
    rc = fail(c, sub, false, "%s must be %s, not %s", sub, list ? "a list" : "an object", jkind(v));
    free(sub);
    return rc;
}

static enum rkc_err get_obj(struct load_ctx *c, const struct jval *obj, const char *path,
                            const char *key, struct jval **ret)
{
    return get_container(c, obj, path, key, false, ret);
}

static enum rkc_err get_arr(struct load_ctx *c, const struct jval *obj, const char *path,
                            const char *key, struct jval **ret)
{
    return get_container(c, obj, path, key, true, ret);
}

static enum rkc_err load_rke_state(struct load_ctx *c, const struct jval *root, const char *key)
{
    static const char *const known[] = { "rkeConfig", "certificatesBundle", NULL };
    struct jval *st, *sub;
    const char *s;
    enum rkc_err rc;
    size_t i;

    rc = get_obj(c, root, "", key, &st);
    if (rc || !st)
        return rc;
    for (i = 0; known[i]; i++) {
        rc = get_obj(c, st, key, known[i], &sub);
        if (rc)
            return rc;
    }
    return get_str(c, st, key, "encryptionConfig", F_NULLABLE, &s);
}

static enum rkc_err load_active(struct load_ctx *c, struct rkc_state *st, const struct jval *enc)
{
    static const char *const keys[] = { "config", "sha256", NULL };
    const char *path = "encryption.active";
    struct jval *a;
    const char *config, *hash;
    enum rkc_err rc;

    rc = get_obj(c, enc, "encryption", "active", &a);
    if (rc || !a)
        return rc;
    if ((rc = check_keys(c, a, path, keys)) ||
        (rc = get_str(c, a, path, "config", F_REQUIRED, &config)) ||
        (rc = get_str(c, a, path, "sha256", F_REQUIRED, &hash)))
        return rc;
    if (!hash_valid(hash))
        return fail(c, "encryption.active.sha256", false,
                    "encryption.active.sha256 must be 64 lowercase hex digits");
    st->active_config = xstrdup(config);
    st->active_hash = xstrdup(hash);
    return RKC_OK;
}

static enum rkc_err load_retired(struct load_ctx *c, struct rkc_state *st, const struct jval *enc)
{
    static const char *const keys[] = { "name",      "provider", "secret", "fingerprint",
                                        "retiredAt", "reason",   NULL };
    struct jval *arr;
    enum rkc_err rc;
    size_t i, j;

    rc = get_arr(c, enc, "encryption", "retiredKeys", &arr);
    if (rc || !arr)
        return rc;
    for (i = 0; i < jval_array_size(arr); i++) {
        struct jval *e = jval_array_get(arr, i);
        char *path = xasprintf("encryption.retiredKeys[%zu]", i);
        const char *name, *provider, *secret, *fp, *reason;
        struct state_retired_key *k;

        if (!jval_is_object(e)) {
            rc = fail(c, path, false, "%s must be an object, not %s", path, jkind(e));
        } else if (!(rc = check_keys(c, e, path, keys)) &&
                   !(rc = get_str(c, e, path, "name", F_REQUIRED, &name)) &&
                   !(rc = get_str(c, e, path, "provider", F_REQUIRED, &provider)) &&
                   !(rc = get_str(c, e, path, "secret", F_REQUIRED, &secret)) &&
                   !(rc = get_str(c, e, path, "fingerprint", F_REQUIRED, &fp)) &&
                   !(rc = get_str(c, e, path, "reason", F_NULLABLE, &reason))) {
            char *sub = subpath(path, "secret");

            if (!name[0])
                rc = fail(c, path, false, "%s.name must not be empty", path);
            else if (!base64_valid(secret))
                rc = fail(c, sub, false, "%s must be standard base64", sub);
            for (j = 0; !rc && j < st->nretired; j++) {
                if (!strcmp(st->retired[j].name, name))
                    rc = fail(c, path, false, "duplicate retired key '%.64s' in %s", name,
                              "encryption.retiredKeys");
            }
            free(sub);
            if (!rc) {
                ALLOC_GROW(st->retired, st->nretired + 1, st->retired_alloc);
                k = &st->retired[st->nretired];
                memset(k, 0, sizeof(*k));
                rc = get_time(c, e, path, "retiredAt", &k->retired_at);
                if (rc) {
                    retired_release(k);
                } else {
                    k->name = xstrdup(name);
                    k->provider = xstrdup(provider);
                    k->secret = xstrdup(secret);
                    k->fingerprint = xstrdup(fp);
                    k->reason = xstrdup_or_null(reason);
                    st->nretired++;
                }
            }
        }
        free(path);
        if (rc)
            return rc;
    }
    return RKC_OK;
}

static enum rkc_err load_operation(struct load_ctx *c, struct rkc_state *st, const struct jval *enc)
{
    static const char *const keys[] = { "kind",           "phase",   "startedAt", "targetConfig",
                                        "previousConfig", "attempt", NULL };
    const char *path = "encryption.operation";
    struct state_operation *op = NULL;
    const char *target, *previous;
    struct jval *o;
    int kind = 0, phase = 0;
    enum rkc_err rc;

    rc = get_obj(c, enc, "encryption", "operation", &o);
    if (rc || !o)
        return rc;
    op = xcalloc(1, sizeof(*op));
    if ((rc = check_keys(c, o, path, keys)) ||
        (rc = get_enum(c, o, path, "kind", kind_names, &kind)) ||
        (rc = get_enum(c, o, path, "phase", phase_names, &phase)) ||
        (rc = get_time(c, o, path, "startedAt", &op->started_at)) ||
        (rc = get_str(c, o, path, "targetConfig", F_NULLABLE, &target)) ||
        (rc = get_str(c, o, path, "previousConfig", F_NULLABLE, &previous)) ||
        (rc = get_int(c, o, path, "attempt", 1, &op->attempt))) {
        operation_free(op);
        return rc;
    }
    op->kind = (enum state_op_kind)kind;
    op->phase = (enum state_op_phase)phase;
    op->target_config = xstrdup_or_null(target);
    op->previous_config = xstrdup_or_null(previous);
    st->op = op;
    return RKC_OK;
}

static enum rkc_err load_history(struct load_ctx *c, struct rkc_state *st, const struct jval *enc)
{
    static const char *const keys[] = { "kind",     "outcome", "startedAt", "finishedAt",
                                        "attempts", "summary", NULL };
    struct jval *arr;
    enum rkc_err rc;
    size_t i;

    rc = get_arr(c, enc, "encryption", "history", &arr);
    if (rc || !arr)
        return rc;
    for (i = 0; i < jval_array_size(arr); i++) {
        struct jval *e = jval_array_get(arr, i);
        char *path = xasprintf("encryption.history[%zu]", i);
        struct state_history_entry h;
        const char *summary;
        int kind = 0, outcome = 0;

        memset(&h, 0, sizeof(h));
        if (!jval_is_object(e))
            rc = fail(c, path, false, "%s must be an object, not %s", path, jkind(e));
        else if (!(rc = check_keys(c, e, path, keys)) &&
                 !(rc = get_enum(c, e, path, "kind", kind_names, &kind)) &&
                 !(rc = get_enum(c, e, path, "outcome", outcome_names, &outcome)) &&
                 !(rc = get_time(c, e, path, "startedAt", &h.started_at)) &&
                 !(rc = get_time(c, e, path, "finishedAt", &h.finished_at)) &&
                 !(rc = get_int(c, e, path, "attempts", 1, &h.attempts)) &&
                 !(rc = get_str(c, e, path, "summary", F_NULLABLE, &summary))) {
            h.kind = (enum state_op_kind)kind;
            h.outcome = (enum state_op_outcome)outcome;
            h.summary = xstrdup_or_null(summary);
            ALLOC_GROW(st->history, st->nhistory + 1, st->history_alloc);
            st->history[st->nhistory++] = h;
        }
        free(path);
        if (rc) {
            history_release(&h);
            return rc;
        }
    }
    history_trim(st);
    return RKC_OK;
}

static enum rkc_err load_encryption(struct load_ctx *c, struct rkc_state *st,
                                    const struct jval *root)
{
    static const char *const keys[] = { "version",   "mode",    "active", "retiredKeys",
                                        "operation", "history", NULL };
    struct jval *enc, *ver;
    int64_t version;
    enum rkc_err rc;
    int mode = 0;

    rc = get_obj(c, root, "", "encryption", &enc);
    if (rc || !enc)
        return rc;
    st->enc_recorded = true;
    /* The version decides how to read the rest, so it is checked first. */
    ver = jval_get(enc, "version");
    if (jval_is_integer(ver) && jval_int(ver) > STATE_SCHEMA_VERSION)
        return fail(c, "encryption.version", false,
                    "state schema version %lld is newer than this rkc understands (%d); "
                    "use a newer rkc",
                    (long long)jval_int(ver), STATE_SCHEMA_VERSION);
    rc = get_int(c, enc, "encryption", "version", 1, &version);
    if (rc)
        return rc;
    if ((rc = check_keys(c, enc, "encryption", keys)) ||
        (rc = get_enum(c, enc, "encryption", "mode", mode_names, &mode)))
        return rc;
    st->mode = (enum state_enc_mode)mode;
    if ((rc = load_active(c, st, enc)) || (rc = load_retired(c, st, enc)) ||
        (rc = load_operation(c, st, enc)) || (rc = load_history(c, st, enc)))
        return rc;
    return RKC_OK;
}

/*
 * jansson quotes the token it stopped at ("... near '\"c2Vj...\"'"); in this file that token
 * can be key material, so the quote is dropped. Positions stay.
 */
static void redact_near(struct rkc_error *err)
{
    char *near;

    if (!err)
        return;
    near = strstr(err->msg, " near '");
    if (near)
        *near = '\0';
}

/* The position tree holds copies of the file's strings, keys included. */
static void wipe_tree(struct ytree_node *n)
{
    size_t i;

    if (!n)
        return;
    if (n->str)
        rkc_wipe(n->str, n->len);
    for (i = 0; i < n->nitems; i++)
        wipe_tree(n->items[i]);
    for (i = 0; i < n->npairs; i++) {
        wipe_tree(n->pairs[i].key);
        wipe_tree(n->pairs[i].value);
    }
}

/* Parses and validates buf into st (root and encryption). On failure st is left empty. */
static enum rkc_err load(struct rkc_state *st, const char *buf, size_t len, struct rkc_error *err)
{
    struct load_ctx c = { st->path, buf, len, NULL, false, err };
    struct jval *root = NULL, *enc;
    enum rkc_err rc;

    if (len == 0)
        return rkc_error_set(err, RKC_ECONFIG, "%s:1:1: the file is empty", st->path);
    rc = jval_parse(st->path, buf, len, &root, err);
    if (rc) {
        redact_near(err);
        return rc;
    }
    if (!jval_is_object(root)) {
        rc = fail(&c, "", false, "the state must be a JSON object, not %s", jkind(root));
        goto out;
    }
    if ((rc = load_rke_state(&c, root, "desiredState")) ||
        (rc = load_rke_state(&c, root, "currentState")) || (rc = load_encryption(&c, st, root)))
        goto out;
    enc = jval_get(root, "encryption");
    jval_wipe_strings(enc);
    jval_del(root, "encryption");
    st->root = root;
    root = NULL;
out:
    if (rc) {
        encryption_release(st);
        st->enc_recorded = false;
    }
    root_free(root);
    wipe_tree(c.tree);
    ytree_free(c.tree);
    return rc;
}

/* ---- open / close ---- */

static enum rkc_err read_state_file(struct rkc_state *st, struct strbuf *buf, bool *ret_absent,
                                    struct rkc_error *err)
{
    struct stat sb;
    enum rkc_err rc;
    int fd;

    *ret_absent = false;
    fd = open(st->path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NOCTTY);
    if (fd < 0) {
        if (errno == ENOENT) {
            *ret_absent = true;
            return RKC_OK;
        }
        if (errno == ELOOP)
            return rkc_error_set(err, RKC_EIO,
                                 "'%s' is a symbolic link; rkc keeps its state "
                                 "in a regular file",
                                 st->path);
        return rkc_error_set(err, RKC_EIO, "cannot open '%s': %s", st->path, strerror(errno));
    }
    if (fstat(fd, &sb) < 0) {
        rc = rkc_error_set(err, RKC_EIO, "cannot stat '%s': %s", st->path, strerror(errno));
        goto out;
    }
    if (!S_ISREG(sb.st_mode)) {
        rc = rkc_error_set(err, RKC_EIO, "'%s' is not a regular file", st->path);
        goto out;
    }
    if (sb.st_mode & 077)
        st->warning = xasprintf("'%s' has mode %04o but holds encryption keys; the next save "
                                "tightens it to 0600",
                                st->path, (unsigned)(sb.st_mode & 07777));
    buf->max = STATE_MAX_FILE_SIZE;
    rc = strbuf_read_fd(buf, fd, err);
    if (rc == RKC_ELIMIT)
        rc = rkc_error_set(err, RKC_ELIMIT, "'%s' is larger than %zu bytes", st->path,
                           STATE_MAX_FILE_SIZE);
    else if (rc)
        rkc_error_prefix(err, "'%s': ", st->path);
out:
    close(fd);
    return rc;
}

enum rkc_err state_open(const char *path, enum state_open_flags flags, struct rkc_state **ret,
                        struct rkc_error *err)
{
    struct rkc_state *st = xcalloc(1, sizeof(*st));
    struct strbuf buf = STRBUF_INIT;
    char *lock_path = xasprintf("%s.lock", path);
    bool absent = false;
    pid_t holder = 0;
    enum rkc_err rc;

    st->path = xstrdup(path);
    st->lock.fd = -1;
    st->read_only = (flags & STATE_OPEN_READ_ONLY) != 0;
    rc = st->read_only ? RKC_OK : fs_lock_acquire(lock_path, &st->lock, &holder, err);
    if (rc == RKC_EBUSY) {
        if (holder > 0)
            rkc_error_set(err, RKC_EBUSY, "another rkc (pid %ld) holds %s", (long)holder, path);
        else
            rkc_error_set(err, RKC_EBUSY, "another rkc holds %s", path);
        goto out;
    }
    if (rc)
        goto out;
    rc = read_state_file(st, &buf, &absent, err);
    if (rc)
        goto out;
    if (absent) {
        if (flags & STATE_OPEN_MUST_EXIST) {
            rc = rkc_error_set(err, RKC_ENOTFOUND, "state file '%s' does not exist", path);
            goto out;
        }
        st->is_new = true;
    } else {
        rc = load(st, buf.buf, buf.len, &st->broken_err);
        if (rc) {
            if (!(flags & STATE_OPEN_KEEP_BROKEN)) {
                if (err)
                    *err = st->broken_err;
                goto out;
            }
            st->broken = true;
            rc = RKC_OK;
        }
    }
    if (!st->root)
        st->root = jval_object();
    log_debug("[state] opened %s%s", path,
              st->is_new ? " (new)" : (st->broken ? " (unparseable)" : ""));
out:
    strbuf_release_wipe(&buf);
    free(lock_path);
    if (rc) {
        state_close(st);
        return rc;
    }
    *ret = st;
    return RKC_OK;
}

void state_close(struct rkc_state *st)
{
    if (!st)
        return;
    encryption_release(st);
    root_free(st->root);
    fs_lock_release(&st->lock);
    free(st->warning);
    free(st->path);
    rkc_wipe(st, sizeof(*st));
    free(st);
}

/* ---- saving ---- */

static void add_str_or_null(struct jval *obj, const char *key, const char *s)
{
    jval_set_take(obj, key, s ? jval_string(s) : jval_null());
}

static struct jval *encryption_to_json(const struct rkc_state *st)
{
    struct jval *enc = jval_object(), *arr, *o;
    size_t i;

    jval_set_int(enc, "version", STATE_SCHEMA_VERSION);
    jval_set_str(enc, "mode", state_enc_mode_name(st->mode));
    if (st->active_config) {
        o = jval_object();
        jval_set_str(o, "config", st->active_config);
        jval_set_str(o, "sha256", st->active_hash);
        jval_set_take(enc, "active", o);
    } else {
        jval_set_take(enc, "active", jval_null());
    }
    arr = jval_array();
    for (i = 0; i < st->nretired; i++) {
        const struct state_retired_key *k = &st->retired[i];

        o = jval_object();
        jval_set_str(o, "name", k->name);
        jval_set_str(o, "provider", k->provider);
        jval_set_str(o, "secret", k->secret);
        jval_set_str(o, "fingerprint", k->fingerprint);
        jval_set_str(o, "retiredAt", k->retired_at);
        add_str_or_null(o, "reason", k->reason);
        jval_array_append_take(arr, o);
    }
    jval_set_take(enc, "retiredKeys", arr);
    if (st->op) {
        o = jval_object();
        jval_set_str(o, "kind", state_op_kind_name(st->op->kind));
        jval_set_str(o, "phase", state_op_phase_name(st->op->phase));
        jval_set_str(o, "startedAt", st->op->started_at);
        add_str_or_null(o, "targetConfig", st->op->target_config);
        add_str_or_null(o, "previousConfig", st->op->previous_config);
        jval_set_int(o, "attempt", st->op->attempt);
        jval_set_take(enc, "operation", o);
    } else {
        jval_set_take(enc, "operation", jval_null());
    }
    arr = jval_array();
    for (i = 0; i < st->nhistory; i++) {
        const struct state_history_entry *h = &st->history[i];

        o = jval_object();
        jval_set_str(o, "kind", state_op_kind_name(h->kind));
        jval_set_str(o, "outcome", state_op_outcome_name(h->outcome));
        jval_set_str(o, "startedAt", h->started_at);
        jval_set_str(o, "finishedAt", h->finished_at);
        jval_set_int(o, "attempts", h->attempts);
        add_str_or_null(o, "summary", h->summary);
        jval_array_append_take(arr, o);
    }
    jval_set_take(enc, "history", arr);
    return enc;
}

/* The document: desiredState, currentState, other top-level keys, then encryption. */
static void state_dump(const struct rkc_state *st, struct strbuf *out)
{
    static const char *const first[] = { "desiredState", "currentState", NULL };
    struct jval *doc = jval_object(), *v, *enc;
    size_t i;

    for (i = 0; first[i]; i++) {
        v = jval_get(st->root, first[i]);
        if (v)
            jval_set_take(doc, first[i], jval_incref(v));
    }
    for (i = 0; i < jval_object_size(st->root); i++) {
        const char *key = jval_object_key_at(st->root, i, &v);

        if (strcmp(key, "desiredState") != 0 && strcmp(key, "currentState") != 0)
            jval_set_take(doc, key, jval_incref(v));
    }
    enc = encryption_to_json(st);
    jval_set_take(doc, "encryption", enc);
    jval_dump(doc, JVAL_PRETTY, out);
    /* Only enc's strings are ours to wipe; the rest is shared with st->root. */
    jval_wipe_strings(enc);
    jval_decref(doc);
}

/* Removes ".<base>.tmp.XXXXXX" files an interrupted fs_write_atomic left (we hold the lock,
 * so none of them is being written). Best effort. */
static void remove_stray_temps(const char *path)
{
    char *dir = fs_dirname(path);
    const char *slash = strrchr(path, '/');
    char *prefix = xasprintf(".%s.tmp.", slash ? slash + 1 : path);
    size_t plen = strlen(prefix);
    struct dirent *de;
    DIR *d = opendir(dir);

    while (d && (de = readdir(d))) {
        char *victim;

        if (strncmp(de->d_name, prefix, plen) != 0 || strlen(de->d_name) != plen + 6)
            continue;
        victim = fs_join(dir, de->d_name);
        if (unlink(victim) == 0)
            log_debug("[state] removed '%s' left by an interrupted write", victim);
        free(victim);
    }
    if (d)
        closedir(d);
    free(prefix);
    free(dir);
}

enum rkc_err state_save(struct rkc_state *st, struct rkc_error *err)
{
    struct strbuf out = STRBUF_INIT;
    enum rkc_err rc;

    if (st->broken)
        return rkc_error_set(err, RKC_ECONFIG,
                             "refusing to overwrite '%s': it could not be parsed (%s)", st->path,
                             st->broken_err.msg);
    if (st->read_only)
        return rkc_error_set(err, RKC_EINTERNAL, "'%s' was opened read-only", st->path);
    state_dump(st, &out);
    rc = fs_write_atomic(st->path, out.buf, out.len, 0600, err);
    strbuf_release_wipe(&out);
    if (rc) {
        rkc_error_prefix(err, "cannot save state: ");
        return rc;
    }
    remove_stray_temps(st->path);
    st->is_new = false;
    free(st->warning);
    st->warning = NULL;
    log_debug("[state] saved %s", st->path);
    return RKC_OK;
}

enum rkc_err state_backup(const struct rkc_state *st, const char *suffix, char **ret_path,
                          struct rkc_error *err)
{
    struct strbuf buf = STRBUF_INIT;
    char stamp[STATE_TIME_SIZE], compact[32];
    char *dest = NULL;
    size_t i, j;
    enum rkc_err rc;
    int fd;

    if (!suffix) {
        state_format_time(time(NULL), stamp);
        for (i = j = 0; stamp[i]; i++) {
            if (stamp[i] != '-' && stamp[i] != ':')
                compact[j++] = stamp[i];
        }
        compact[j] = '\0';
        dest = xasprintf("%s.pre-restore-%s", st->path, compact);
    } else {
        if (!suffix[0] || strchr(suffix, '/'))
            return rkc_error_set(err, RKC_EINVAL, "invalid backup suffix '%s'", suffix);
        dest = xasprintf("%s.%s", st->path, suffix);
    }
    fd = open(st->path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NOCTTY);
    if (fd < 0) {
        rc = rkc_error_set(err, errno == ENOENT ? RKC_ENOTFOUND : RKC_EIO,
                           "cannot back up '%s': %s", st->path, strerror(errno));
        goto out;
    }
    rc = strbuf_read_fd(&buf, fd, err);
    close(fd);
    if (rc) {
        rkc_error_prefix(err, "cannot back up '%s': ", st->path);
        goto out;
    }
    rc = fs_write_atomic(dest, buf.buf, buf.len, 0600, err);
    if (rc)
        goto out;
    log_debug("[state] backed up %s to %s", st->path, dest);
    if (ret_path) {
        *ret_path = dest;
        dest = NULL;
    }
out:
    strbuf_release_wipe(&buf);
    free(dest);
    return rc;
}

/* ---- simple accessors ---- */

const char *state_path(const struct rkc_state *st)
{
    return st->path;
}

bool state_is_new(const struct rkc_state *st)
{
    return st->is_new;
}

bool state_is_broken(const struct rkc_state *st)
{
    return st->broken;
}

const struct rkc_error *state_broken_error(const struct rkc_state *st)
{
    return st->broken ? &st->broken_err : NULL;
}

const char *state_warning(const struct rkc_state *st)
{
    return st->warning;
}

bool state_encryption_recorded(const struct rkc_state *st)
{
    return st->enc_recorded;
}

/* ---- desiredState / currentState ---- */

static const char *which_key(enum state_which which)
{
    return which == STATE_DESIRED ? "desiredState" : "currentState";
}

static struct jval *rke_state(const struct rkc_state *st, enum state_which which, bool create)
{
    struct jval *v = jval_get(st->root, which_key(which));

    if (!jval_is_object(v) && create) {
        v = jval_object();
        jval_set_take(st->root, which_key(which), v);
    }
    return jval_is_object(v) ? v : NULL;
}

static const struct jval *rke_member(const struct rkc_state *st, enum state_which which,
                                     const char *key)
{
    struct jval *v = jval_get(rke_state(st, which, false), key);

    return jval_is_object(v) ? v : NULL;
}

static void rke_member_set_take(struct rkc_state *st, enum state_which which, const char *key,
                                struct jval *v)
{
    struct jval *parent = rke_state(st, which, v != NULL);

    if (v) {
        RKC_ASSERT(jval_is_object(v));
        jval_set_take(parent, key, v);
    } else if (parent) {
        jval_del(parent, key);
    }
}

const struct jval *state_rke_config(const struct rkc_state *st, enum state_which which)
{
    return rke_member(st, which, "rkeConfig");
}

void state_set_rke_config_take(struct rkc_state *st, enum state_which which, struct jval *config)
{
    rke_member_set_take(st, which, "rkeConfig", config);
}

const struct jval *state_certificates(const struct rkc_state *st, enum state_which which)
{
    return rke_member(st, which, "certificatesBundle");
}

void state_set_certificates_take(struct rkc_state *st, enum state_which which, struct jval *bundle)
{
    rke_member_set_take(st, which, "certificatesBundle", bundle);
}

const char *state_encryption_config(const struct rkc_state *st, enum state_which which)
{
    return jval_get_str(rke_state(st, which, false), "encryptionConfig", NULL);
}

void state_set_encryption_config(struct rkc_state *st, enum state_which which, const char *yaml)
{
    struct jval *parent = rke_state(st, which, yaml != NULL);
    struct jval *old = jval_get(parent, "encryptionConfig");
    struct jval *repl = yaml ? jval_string(yaml) : NULL; /* yaml may be old's own text */

    /* The old text holds keys: wipe it before jansson frees it. */
    if (old)
        jval_wipe_strings(old);
    if (repl)
        jval_set_take(parent, "encryptionConfig", repl);
    else if (parent)
        jval_del(parent, "encryptionConfig");
}

/* ---- encryption: mode and active ---- */

enum state_enc_mode state_enc_mode(const struct rkc_state *st)
{
    return st->mode;
}

void state_set_enc_mode(struct rkc_state *st, enum state_enc_mode mode)
{
    RKC_ASSERT((unsigned)mode <= STATE_ENC_CUSTOM);
    st->mode = mode;
}

const char *state_active_config(const struct rkc_state *st)
{
    return st->active_config;
}

const char *state_active_hash(const struct rkc_state *st)
{
    return st->active_hash;
}

enum rkc_err state_set_active(struct rkc_state *st, const char *yaml, const char *sha256_hex,
                              struct rkc_error *err)
{
    if (yaml && !hash_valid(sha256_hex))
        return rkc_error_set(err, RKC_EINVAL, "active config hash must be 64 lowercase hex digits");
    if (!utf8_valid_str(yaml))
        return rkc_error_set(err, RKC_EINVAL, "active config is not valid UTF-8");
    char *config = xstrdup_or_null(yaml); /* yaml may be st->active_config itself */
    char *hash = yaml ? xstrdup(sha256_hex) : NULL;

    free_secret(st->active_config);
    free(st->active_hash);
    st->active_config = config;
    st->active_hash = hash;
    return RKC_OK;
}

/* ---- encryption: retired keys ---- */

size_t state_retired_count(const struct rkc_state *st)
{
    return st->nretired;
}

const struct state_retired_key *state_retired_at(const struct rkc_state *st, size_t idx)
{
    return idx < st->nretired ? &st->retired[idx] : NULL;
}

const struct state_retired_key *state_retired_find(const struct rkc_state *st, const char *name)
{
    size_t i;

    for (i = 0; name && i < st->nretired; i++) {
        if (!strcmp(st->retired[i].name, name))
            return &st->retired[i];
    }
    return NULL;
}

const struct state_retired_key *state_retired_find_fingerprint(const struct rkc_state *st,
                                                               const char *fingerprint)
{
    size_t i;

    for (i = 0; fingerprint && i < st->nretired; i++) {
        if (!strcmp(st->retired[i].fingerprint, fingerprint))
            return &st->retired[i];
    }
    return NULL;
}

enum rkc_err state_retire_key(struct rkc_state *st, const struct state_retired_key *key,
                              struct rkc_error *err)
{
    const struct state_retired_key *old;
    struct state_retired_key *k;

    if (!key->name || !key->name[0] || !key->provider || !key->provider[0] || !key->fingerprint ||
        !key->fingerprint[0])
        return rkc_error_set(err, RKC_EINVAL, "retired key needs a name, provider and fingerprint");
    if (!base64_valid(key->secret))
        return rkc_error_set(err, RKC_EINVAL, "retired key '%s': secret must be standard base64",
                             key->name);
    if (!state_time_valid(key->retired_at))
        return rkc_error_set(err, RKC_EINVAL,
                             "retired key '%s': retirement time must be RFC 3339 UTC", key->name);
    if (!utf8_valid_str(key->name) || !utf8_valid_str(key->provider) ||
        !utf8_valid_str(key->fingerprint) || !utf8_valid_str(key->reason))
        return rkc_error_set(err, RKC_EINVAL, "retired key fields must be valid UTF-8");
    old = state_retired_find(st, key->name);
    if (old) {
        if (!strcmp(old->fingerprint, key->fingerprint))
            return RKC_OK;
        return rkc_error_set(err, RKC_EINVAL,
                             "retired key '%s' is already archived with another fingerprint",
                             key->name);
    }
    ALLOC_GROW(st->retired, st->nretired + 1, st->retired_alloc);
    k = &st->retired[st->nretired++];
    k->name = xstrdup(key->name);
    k->provider = xstrdup(key->provider);
    k->secret = xstrdup(key->secret);
    k->fingerprint = xstrdup(key->fingerprint);
    k->retired_at = xstrdup(key->retired_at);
    k->reason = xstrdup_or_null(key->reason);
    return RKC_OK;
}

bool state_retired_remove(struct rkc_state *st, const char *name)
{
    size_t i;

    for (i = 0; name && i < st->nretired; i++) {
        if (!strcmp(st->retired[i].name, name)) {
            retired_release(&st->retired[i]);
            memmove(&st->retired[i], &st->retired[i + 1],
                    (st->nretired - i - 1) * sizeof(*st->retired));
            st->nretired--;
            return true;
        }
    }
    return false;
}

/* ---- encryption: operation and history ---- */

const struct state_operation *state_operation(const struct rkc_state *st)
{
    return st->op;
}

enum rkc_err state_operation_begin(struct rkc_state *st, const struct state_operation *op,
                                   struct rkc_error *err)
{
    struct state_operation *o;

    if (st->op)
        return rkc_error_set(err, RKC_EBUSY, "operation '%s' is already pending in phase '%s'",
                             state_op_kind_name(st->op->kind), state_op_phase_name(st->op->phase));
    if ((unsigned)op->kind > STATE_OP_RESTORE_REKEY || (unsigned)op->phase > STATE_PHASE_DONE)
        return rkc_error_set(err, RKC_EINVAL, "invalid operation kind or phase");
    if (!state_time_valid(op->started_at))
        return rkc_error_set(err, RKC_EINVAL, "operation start time must be RFC 3339 UTC");
    if (op->attempt < 0)
        return rkc_error_set(err, RKC_EINVAL, "operation attempt must not be negative");
    if (!utf8_valid_str(op->target_config) || !utf8_valid_str(op->previous_config))
        return rkc_error_set(err, RKC_EINVAL, "operation configs must be valid UTF-8");
    o = xcalloc(1, sizeof(*o));
    o->kind = op->kind;
    o->phase = op->phase;
    o->started_at = xstrdup(op->started_at);
    o->target_config = xstrdup_or_null(op->target_config);
    o->previous_config = xstrdup_or_null(op->previous_config);
    o->attempt = op->attempt ? op->attempt : 1;
    st->op = o;
    return RKC_OK;
}

enum rkc_err state_operation_set_phase(struct rkc_state *st, enum state_op_phase phase,
                                       struct rkc_error *err)
{
    if (!st->op)
        return rkc_error_set(err, RKC_EINVAL, "no encryption operation is pending");
    RKC_ASSERT((unsigned)phase <= STATE_PHASE_DONE);
    st->op->phase = phase;
    return RKC_OK;
}

enum rkc_err state_operation_bump_attempt(struct rkc_state *st, struct rkc_error *err)
{
    if (!st->op)
        return rkc_error_set(err, RKC_EINVAL, "no encryption operation is pending");
    if (st->op->attempt == INT64_MAX)
        return rkc_error_set(err, RKC_ELIMIT, "too many attempts of operation '%s'",
                             state_op_kind_name(st->op->kind));
    st->op->attempt++;
    return RKC_OK;
}

enum rkc_err state_operation_finish(struct rkc_state *st, enum state_op_outcome outcome,
                                    const char *finished_at, const char *summary,
                                    struct rkc_error *err)
{
    struct state_history_entry *h;

    if (!st->op)
        return rkc_error_set(err, RKC_EINVAL, "no encryption operation is pending");
    if (!state_time_valid(finished_at))
        return rkc_error_set(err, RKC_EINVAL, "operation finish time must be RFC 3339 UTC");
    if (!utf8_valid_str(summary))
        return rkc_error_set(err, RKC_EINVAL, "operation summary is not valid UTF-8");
    RKC_ASSERT((unsigned)outcome <= STATE_OUTCOME_ABANDONED);
    ALLOC_GROW(st->history, st->nhistory + 1, st->history_alloc);
    h = &st->history[st->nhistory++];
    h->kind = st->op->kind;
    h->outcome = outcome;
    h->started_at = xstrdup(st->op->started_at);
    h->finished_at = xstrdup(finished_at);
    h->attempts = st->op->attempt;
    h->summary = xstrdup_or_null(summary);
    history_trim(st);
    operation_free(st->op);
    st->op = NULL;
    return RKC_OK;
}

size_t state_history_count(const struct rkc_state *st)
{
    return st->nhistory;
}

const struct state_history_entry *state_history_at(const struct rkc_state *st, size_t idx)
{
    return idx < st->nhistory ? &st->history[idx] : NULL;
}
