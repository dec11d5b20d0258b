/* SPDX-License-Identifier: Apache-2.0 */
/*
 * transport_local: the `local` transport. Commands run with posix_spawnp and pipes, polled
 * so that large outputs cannot deadlock; files go through util/fs.
 */
#include "adapters/transport.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "util/fs.h"
#include "util/xalloc.h"

#include "util/banned.h"

extern char **environ;

static enum rkc_err drain(int fd, struct strbuf *sb, bool *ret_eof, struct rkc_error *err)
{
    char buf[65536];
    ssize_t n = read(fd, buf, sizeof(buf));

    if (n < 0) {
        if (errno == EINTR || errno == EAGAIN)
            return RKC_OK;
        return rkc_error_set(err, RKC_EIO, "read from child: %s", strerror(errno));
    }
    if (n == 0) {
        *ret_eof = true;
        return RKC_OK;
    }
    if (sb && sb->len + (size_t)n <= TRANSPORT_MAX_OUTPUT)
        strbuf_add(sb, buf, (size_t)n);
    return RKC_OK;
}

static enum rkc_err local_run(struct transport *t, const char *const *argv, const void *stdin_data,
                              size_t stdin_len, struct strbuf *ret_out, struct strbuf *ret_errout,
                              int *ret_status, struct rkc_error *err)
{
    int in[2] = { -1, -1 }, out[2] = { -1, -1 }, errp[2] = { -1, -1 };
    posix_spawn_file_actions_t fa;
    enum rkc_err rc = RKC_OK;
    bool out_eof = false, err_eof = false;
    size_t written = 0;
    pid_t pid;
    int status, e;

    (void)t;
    if (pipe2(in, O_CLOEXEC) < 0 || pipe2(out, O_CLOEXEC) < 0 || pipe2(errp, O_CLOEXEC) < 0) {
        rc = rkc_error_set(err, RKC_EIO, "pipe: %s", strerror(errno));
        goto out;
    }
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_adddup2(&fa, in[0], 0);
    posix_spawn_file_actions_adddup2(&fa, out[1], 1);
    posix_spawn_file_actions_adddup2(&fa, errp[1], 2);
    e = posix_spawnp(&pid, argv[0], &fa, NULL, (char *const *)(uintptr_t)argv, environ);
    posix_spawn_file_actions_destroy(&fa);
    if (e) {
        rc = rkc_error_set(err, RKC_EIO, "cannot run '%s': %s", argv[0], strerror(e));
        goto out;
    }
    close(in[0]);
    close(out[1]);
    close(errp[1]);
    in[0] = out[1] = errp[1] = -1;
    if (!stdin_data || !stdin_len) {
        close(in[1]);
        in[1] = -1;
    } else {
        fcntl(in[1], F_SETFL, O_NONBLOCK);
    }
    signal(SIGPIPE, SIG_IGN);
    while (!rc && (!out_eof || !err_eof)) {
        struct pollfd pfd[3];
        nfds_t n = 0;

        pfd[n].fd = out_eof ? -1 : out[0];
        pfd[n++].events = POLLIN;
        pfd[n].fd = err_eof ? -1 : errp[0];
        pfd[n++].events = POLLIN;
        pfd[n].fd = in[1];
        pfd[n++].events = POLLOUT;
        if (poll(pfd, n, -1) < 0) {
            if (errno == EINTR)
                continue;
            rc = rkc_error_set(err, RKC_EIO, "poll: %s", strerror(errno));
            break;
        }
        if (pfd[0].revents)
            rc = drain(out[0], ret_out, &out_eof, err);
        if (!rc && pfd[1].revents)
            rc = drain(errp[0], ret_errout, &err_eof, err);
        if (!rc && in[1] >= 0 && pfd[2].revents) {
            ssize_t w = write(in[1], (const char *)stdin_data + written, stdin_len - written);

            if (w > 0)
                written += (size_t)w;
            if ((w < 0 && errno != EAGAIN && errno != EINTR) || written == stdin_len) {
                close(in[1]);
                in[1] = -1;
            }
        }
    }
    while (waitpid(pid, &status, 0) < 0) {
        if (errno != EINTR) {
            rc = rkc_error_set(err, RKC_EIO, "waitpid: %s", strerror(errno));
            goto out;
        }
    }
    if (!rc)
        *ret_status = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
out:
    if (in[0] >= 0)
        close(in[0]);
    if (in[1] >= 0)
        close(in[1]);
    if (out[0] >= 0)
        close(out[0]);
    if (out[1] >= 0)
        close(out[1]);
    if (errp[0] >= 0)
        close(errp[0]);
    if (errp[1] >= 0)
        close(errp[1]);
    return rc;
}

static enum rkc_err local_write_file(struct transport *t, const char *path, const void *data,
                                     size_t len, mode_t mode, struct rkc_error *err)
{
    char *dir = fs_dirname(path);
    enum rkc_err rc = fs_mkdir_p(dir, 0700, err);

    (void)t;
    free(dir);
    if (rc)
        return rc;
    return fs_write_atomic(path, data, len, mode, err);
}

static enum rkc_err local_read_file(struct transport *t, const char *path, struct strbuf *ret,
                                    struct rkc_error *err)
{
    (void)t;
    return strbuf_read_file(ret, path, err);
}

static enum rkc_err local_remove_file(struct transport *t, const char *path, struct rkc_error *err)
{
    (void)t;
    return fs_remove(path, err);
}

static enum rkc_err local_mkdir_p(struct transport *t, const char *path, mode_t mode,
                                  struct rkc_error *err)
{
    (void)t;
    return fs_mkdir_p(path, mode, err);
}

static void local_free(struct transport *t)
{
    free(t->node_name);
    free(t);
}

static const struct transport_ops local_ops = {
    "local",           local_run,     local_write_file, local_read_file,
    local_remove_file, local_mkdir_p, local_free,
};

struct transport *transport_local_new(const char *node_name)
{
    struct transport *t = xcalloc(1, sizeof(*t));

    t->ops = &local_ops;
    t->node_name = xstrdup(node_name);
    return t;
}
