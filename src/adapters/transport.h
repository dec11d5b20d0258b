/* SPDX-License-Identifier: Apache-2.0 */
/*
 * transport: how rkc reaches a node. A transport runs commands and moves files on one node;
 * everything above it (runtime, deploy, up) is written against this interface only, so the
 * `local` transport (this machine, no SSH) and the `ssh` transport (libssh, a later issue)
 * are interchangeable.
 *
 * Commands are argv vectors, never shell strings; a caller that needs a shell passes
 * {"sh", "-c", script} and quotes with transport_shell_quote(). Outputs are captured up to
 * TRANSPORT_MAX_OUTPUT bytes each. One transport is used by one thread at a time.
 */
#ifndef RKC_ADAPTERS_TRANSPORT_H
#define RKC_ADAPTERS_TRANSPORT_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "util/error.h"
#include "util/strbuf.h"

#define TRANSPORT_MAX_OUTPUT (16u << 20)

struct transport;

struct transport_ops {
    const char *name;
    /*
     * Runs argv[0] (looked up in PATH) with argv, feeding stdin_data (may be NULL) and
     * capturing stdout/stderr into ret_out/ret_errout (either may be NULL: discarded).
     * *ret_status is the exit status (128+signal when killed). A command that cannot be
     * started is an error; a non-zero exit is not.
     */
    enum rkc_err (*run)(struct transport *t, const char *const *argv, const void *stdin_data,
                        size_t stdin_len, struct strbuf *ret_out, struct strbuf *ret_errout,
                        int *ret_status, struct rkc_error *err);
    /* Atomic replace (temp file, fsync, rename) with mode; parent dirs created 0700. */
    enum rkc_err (*write_file)(struct transport *t, const char *path, const void *data, size_t len,
                               mode_t mode, struct rkc_error *err);
    /* RKC_ENOTFOUND when absent. */
    enum rkc_err (*read_file)(struct transport *t, const char *path, struct strbuf *ret,
                              struct rkc_error *err);
    /* Missing files are not an error. */
    enum rkc_err (*remove_file)(struct transport *t, const char *path, struct rkc_error *err);
    enum rkc_err (*mkdir_p)(struct transport *t, const char *path, mode_t mode,
                            struct rkc_error *err);
    void (*free)(struct transport *t);
};

struct transport {
    const struct transport_ops *ops;
    char *node_name; /* for messages */
};

/* Returns: new local transport (this machine). */
struct transport *transport_local_new(const char *node_name);
void transport_free(struct transport *t);

/* Convenience wrappers over t->ops. */
enum rkc_err transport_run(struct transport *t, const char *const *argv, const void *stdin_data,
                           size_t stdin_len, struct strbuf *ret_out, struct strbuf *ret_errout,
                           int *ret_status, struct rkc_error *err);
/* Runs argv and fails (with the command's stderr tail in the message) on a non-zero exit. */
enum rkc_err transport_run_ok(struct transport *t, const char *const *argv, struct strbuf *ret_out,
                              struct rkc_error *err);
enum rkc_err transport_write_file(struct transport *t, const char *path, const void *data,
                                  size_t len, mode_t mode, struct rkc_error *err);
enum rkc_err transport_read_file(struct transport *t, const char *path, struct strbuf *ret,
                                 struct rkc_error *err);
enum rkc_err transport_remove_file(struct transport *t, const char *path, struct rkc_error *err);
enum rkc_err transport_mkdir_p(struct transport *t, const char *path, mode_t mode,
                               struct rkc_error *err);
/* Writes only when the content differs; *ret_changed tells which (may be NULL). */
enum rkc_err transport_sync_file(struct transport *t, const char *path, const void *data,
                                 size_t len, mode_t mode, bool *ret_changed, struct rkc_error *err);

/* Appends s to sb quoted for a POSIX shell ('...' with ' escaped). */
void transport_shell_quote(struct strbuf *sb, const char *s);

#endif
