/* SPDX-License-Identifier: Apache-2.0 */
/*
 * fs: filesystem helpers with the durability rules rkc relies on.
 *  - fs_write_atomic(): temp file in the same directory, fchmod, write, fsync, rename over
 *    the target, fsync of the directory. A crash at any point leaves either the old or the
 *    new file, never a mix. Failpoint "fs-atomic-before-rename" fires between fsync and
 *    rename (for tests).
 *  - fs_lock_*(): an advisory exclusive lock (flock) on a lock file holding the owner's pid.
 * All fds are O_CLOEXEC.
 */
#ifndef RKC_UTIL_FS_H
#define RKC_UTIL_FS_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "util/error.h"

enum rkc_err fs_write_atomic(const char *path, const void *data, size_t len, mode_t mode,
                             struct rkc_error *err);
/* Creates path and its missing parents with mode (existing directories are left alone). */
enum rkc_err fs_mkdir_p(const char *path, mode_t mode, struct rkc_error *err);
bool fs_exists(const char *path);
bool fs_is_dir(const char *path);
/* Removes a file; a missing file is not an error. */
enum rkc_err fs_remove(const char *path, struct rkc_error *err);
/* Removes a directory tree (no symlinks followed); a missing tree is not an error. */
enum rkc_err fs_remove_tree(const char *path, struct rkc_error *err);
/* Returns: new, the directory part of path ("." when none). */
char *fs_dirname(const char *path);
/* Returns: new, dir/name, or name alone when it is absolute. */
char *fs_join(const char *dir, const char *name);

struct fs_lock {
    int fd;
    char *path;
};

/*
 * Takes an exclusive lock on lock_path without waiting. On contention returns RKC_EBUSY
 * with *ret_holder set to the pid written by the holder (0 if unknown). The lock is held
 * until fs_lock_release() or process exit.
 */
enum rkc_err fs_lock_acquire(const char *lock_path, struct fs_lock *ret_lock, pid_t *ret_holder,
                             struct rkc_error *err);
void fs_lock_release(struct fs_lock *lock);

#endif
