/* SPDX-License-Identifier: Apache-2.0 */
/* fs: atomic writes, directories, advisory locks. */
#include "util/fs.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "util/failpoint.h"
#include "util/strbuf.h"
#include "util/xalloc.h"

#include "util/banned.h"

char *fs_dirname(const char *path)
{
    char *tmp = xstrdup(path);
    char *res = xstrdup(dirname(tmp));

    free(tmp);
    return res;
}

char *fs_join(const char *dir, const char *name)
{
    size_t n;

    if (name[0] == '/' || !dir || !dir[0])
        return xstrdup(name);
    n = strlen(dir);
    return xasprintf("%s%s%s", dir, (n && dir[n - 1] == '/') ? "" : "/", name);
}

static enum rkc_err fsync_dir(const char *dir, struct rkc_error *err)
{
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);

    if (fd < 0)
        return rkc_error_set(err, RKC_EIO, "cannot open directory '%s': %s", dir, strerror(errno));
    if (fsync(fd) < 0 && errno != EINVAL) {
        int e = errno;

        close(fd);
        return rkc_error_set(err, RKC_EIO, "fsync '%s': %s", dir, strerror(e));
    }
    close(fd);
    return RKC_OK;
}

enum rkc_err fs_write_atomic(const char *path, const void *data, size_t len, mode_t mode,
                             struct rkc_error *err)
{
    char *dir = fs_dirname(path);
    char *base_copy = xstrdup(path);
    char *tmp = xasprintf("%s/.%s.tmp.XXXXXX", dir, basename(base_copy));
    const char *p = data;
    size_t left = len;
    enum rkc_err rc = RKC_OK;
    int fd;

    fd = mkostemp(tmp, O_CLOEXEC);
    if (fd < 0) {
        rc = rkc_error_set(err, RKC_EIO, "cannot create temporary file in '%s': %s", dir,
                           strerror(errno));
        goto out;
    }
    if (fchmod(fd, mode) < 0) {
        rc = rkc_error_set(err, RKC_EIO, "chmod '%s': %s", tmp, strerror(errno));
        goto fail;
    }
    while (left) {
        ssize_t n = write(fd, p, left);

        if (n < 0) {
            if (errno == EINTR)
                continue;
            rc = rkc_error_set(err, RKC_EIO, "write '%s': %s", tmp, strerror(errno));
            goto fail;
        }
        p += n;
        left -= (size_t)n;
    }
    if (fsync(fd) < 0) {
        rc = rkc_error_set(err, RKC_EIO, "fsync '%s': %s", tmp, strerror(errno));
        goto fail;
    }
    if (close(fd) < 0) {
        fd = -1;
        rc = rkc_error_set(err, RKC_EIO, "close '%s': %s", tmp, strerror(errno));
        goto fail;
    }
    fd = -1;
    rkc_failpoint("fs-atomic-before-rename");
    if (rename(tmp, path) < 0) {
        rc = rkc_error_set(err, RKC_EIO, "rename '%s' to '%s': %s", tmp, path, strerror(errno));
        goto fail;
    }
    rc = fsync_dir(dir, err);
    goto out;
fail:
    if (fd >= 0)
        close(fd);
    unlink(tmp);
out:
    free(tmp);
    free(base_copy);
    free(dir);
    return rc;
}

enum rkc_err fs_mkdir_p(const char *path, mode_t mode, struct rkc_error *err)
{
    enum rkc_err rc = RKC_OK;
    char *tmp, *p;

    if (!path[0])
        return rkc_error_set(err, RKC_EINVAL, "cannot create a directory with an empty name");
    tmp = xstrdup(path);
    for (p = tmp + 1;; p++) {
        char c = *p;

        if (c != '/' && c != '\0')
            continue;
        *p = '\0';
        if (mkdir(tmp, mode) < 0 && errno != EEXIST) {
            rc = rkc_error_set(err, RKC_EIO, "cannot create directory '%s': %s", tmp,
                               strerror(errno));
            break;
        }
        *p = c;
        if (!c)
            break;
    }
    if (!rc && !fs_is_dir(path))
        rc = rkc_error_set(err, RKC_EIO, "'%s' exists and is not a directory", path);
    free(tmp);
    return rc;
}

bool fs_exists(const char *path)
{
    struct stat st;

    return lstat(path, &st) == 0;
}

bool fs_is_dir(const char *path)
{
    struct stat st;

    return stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

enum rkc_err fs_remove(const char *path, struct rkc_error *err)
{
    if (unlink(path) < 0 && errno != ENOENT)
        return rkc_error_set(err, RKC_EIO, "cannot remove '%s': %s", path, strerror(errno));
    return RKC_OK;
}

enum rkc_err fs_remove_tree(const char *path, struct rkc_error *err)
{
    struct stat st;
    struct dirent *de;
    enum rkc_err rc = RKC_OK;
    DIR *d;

    if (lstat(path, &st) < 0)
        return errno == ENOENT
                   ? RKC_OK
                   : rkc_error_set(err, RKC_EIO, "cannot stat '%s': %s", path, strerror(errno));
    if (!S_ISDIR(st.st_mode))
        return fs_remove(path, err);
    d = opendir(path);
    if (!d)
        return rkc_error_set(err, RKC_EIO, "cannot open '%s': %s", path, strerror(errno));
    while (!rc && (de = readdir(d))) {
        char *child;

        if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
            continue;
        child = fs_join(path, de->d_name);
        rc = fs_remove_tree(child, err);
        free(child);
    }
    closedir(d);
    if (!rc && rmdir(path) < 0)
        rc = rkc_error_set(err, RKC_EIO, "cannot remove '%s': %s", path, strerror(errno));
    return rc;
}

enum rkc_err fs_lock_acquire(const char *lock_path, struct fs_lock *ret_lock, pid_t *ret_holder,
                             struct rkc_error *err)
{
    char pidbuf[32];
    int fd, n;

    if (ret_holder)
        *ret_holder = 0;
    fd = open(lock_path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (fd < 0)
        return rkc_error_set(err, RKC_EIO, "cannot open lock '%s': %s", lock_path, strerror(errno));
    if (flock(fd, LOCK_EX | LOCK_NB) < 0) {
        int e = errno;

        if (e == EWOULDBLOCK) {
            ssize_t got = pread(fd, pidbuf, sizeof(pidbuf) - 1, 0);
            long pid = 0;

            if (got > 0) {
                pidbuf[got] = '\0';
                pid = strtol(pidbuf, NULL, 10);
            }
            if (ret_holder)
                *ret_holder = (pid_t)pid;
            close(fd);
            return rkc_error_set(err, RKC_EBUSY, "lock '%s' is held by pid %ld", lock_path, pid);
        }
        close(fd);
        return rkc_error_set(err, RKC_EIO, "cannot lock '%s': %s", lock_path, strerror(e));
    }
    n = snprintf(pidbuf, sizeof(pidbuf), "%ld\n", (long)getpid());
    if (ftruncate(fd, 0) < 0 || pwrite(fd, pidbuf, (size_t)n, 0) != n) {
        int e = errno;

        close(fd);
        return rkc_error_set(err, RKC_EIO, "cannot write lock '%s': %s", lock_path, strerror(e));
    }
    ret_lock->fd = fd;
    ret_lock->path = xstrdup(lock_path);
    return RKC_OK;
}

void fs_lock_release(struct fs_lock *lock)
{
    if (!lock || lock->fd < 0)
        return;
    /* Leave the lock file in place: unlinking it would race a new locker. */
    if (ftruncate(lock->fd, 0) < 0) {
        /* nothing useful to do: the lock itself is released by close */
    }
    close(lock->fd);
    lock->fd = -1;
    free(lock->path);
    lock->path = NULL;
}
