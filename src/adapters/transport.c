/* SPDX-License-Identifier: Apache-2.0 */
/* transport: the wrappers every transport shares. */
#include "adapters/transport.h"

#include <string.h>

#include "util/xalloc.h"

#include "util/banned.h"

void transport_free(struct transport *t)
{
    if (t)
        t->ops->free(t);
}

enum rkc_err transport_run(struct transport *t, const char *const *argv, const void *stdin_data,
                           size_t stdin_len, struct strbuf *ret_out, struct strbuf *ret_errout,
                           int *ret_status, struct rkc_error *err)
{
    enum rkc_err rc =
        t->ops->run(t, argv, stdin_data, stdin_len, ret_out, ret_errout, ret_status, err);

    if (rc)
        rkc_error_prefix(err, "node '%s': ", t->node_name);
    return rc;
}

enum rkc_err transport_run_ok(struct transport *t, const char *const *argv, struct strbuf *ret_out,
                              struct rkc_error *err)
{
    struct strbuf errout = STRBUF_INIT;
    enum rkc_err rc;
    int status = 0;

    rc = transport_run(t, argv, NULL, 0, ret_out, &errout, &status, err);
    if (!rc && status) {
        const char *tail = errout.buf;

        strbuf_trim_trailing_newline(&errout);
        if (errout.len > 400)
            tail = errout.buf + errout.len - 400;
        rc = rkc_error_set(err, RKC_EIO, "node '%s': '%s' exited with status %d%s%s", t->node_name,
                           argv[0], status, errout.len ? ": " : "", tail);
    }
    strbuf_release(&errout);
    return rc;
}

enum rkc_err transport_write_file(struct transport *t, const char *path, const void *data,
                                  size_t len, mode_t mode, struct rkc_error *err)
{
    enum rkc_err rc = t->ops->write_file(t, path, data, len, mode, err);

    if (rc)
        rkc_error_prefix(err, "node '%s': ", t->node_name);
    return rc;
}

enum rkc_err transport_read_file(struct transport *t, const char *path, struct strbuf *ret,
                                 struct rkc_error *err)
{
    return t->ops->read_file(t, path, ret, err);
}

enum rkc_err transport_remove_file(struct transport *t, const char *path, struct rkc_error *err)
{
    enum rkc_err rc = t->ops->remove_file(t, path, err);

    if (rc)
        rkc_error_prefix(err, "node '%s': ", t->node_name);
    return rc;
}

enum rkc_err transport_mkdir_p(struct transport *t, const char *path, mode_t mode,
                               struct rkc_error *err)
{
    enum rkc_err rc = t->ops->mkdir_p(t, path, mode, err);

    if (rc)
        rkc_error_prefix(err, "node '%s': ", t->node_name);
    return rc;
}

enum rkc_err transport_sync_file(struct transport *t, const char *path, const void *data,
                                 size_t len, mode_t mode, bool *ret_changed, struct rkc_error *err)
{
    struct strbuf cur = STRBUF_INIT;
    enum rkc_err rc;
    bool same;

    rc = transport_read_file(t, path, &cur, NULL);
    same = !rc && cur.len == len && !memcmp(cur.buf, data, len);
    strbuf_release_wipe(&cur);
    if (ret_changed)
        *ret_changed = !same;
    if (same)
        return RKC_OK;
    return transport_write_file(t, path, data, len, mode, err);
}

void transport_shell_quote(struct strbuf *sb, const char *s)
{
    strbuf_addch(sb, '\'');
    for (; *s; s++) {
        if (*s == '\'')
            strbuf_addstr(sb, "'\\''");
        else
            strbuf_addch(sb, *s);
    }
    strbuf_addch(sb, '\'');
}
