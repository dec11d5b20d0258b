/* SPDX-License-Identifier: Apache-2.0 */
/*
 * test_fs: atomic replace (content, mode, a crash before the rename), mkdir -p, removal of
 * files and trees, dirname/join, and the advisory lock across processes.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#include <cmocka.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "util/failpoint.h"
#include "util/fs.h"
#include "util/strbuf.h"
#include "util/xalloc.h"

static int setup(void **ctx)
{
    const char *tmp = getenv("TMPDIR");
    char *dir = xasprintf("%s/rkc-test-fs.XXXXXX", tmp && tmp[0] ? tmp : "/tmp");

    if (!mkdtemp(dir))
        return -1;
    *ctx = dir;
    return 0;
}

static int teardown(void **ctx)
{
    char *dir = *ctx;

    fs_remove_tree(dir, NULL);
    free(dir);
    return 0;
}

static mode_t mode_of(const char *path)
{
    struct stat sb;

    assert_int_equal(lstat(path, &sb), 0);
    return sb.st_mode & 07777;
}

static char *slurp(const char *path, size_t *ret_len)
{
    struct strbuf sb = STRBUF_INIT;

    assert_int_equal(strbuf_read_file(&sb, path, NULL), RKC_OK);
    return strbuf_detach(&sb, ret_len);
}

static size_t count_prefixed(const char *dir, const char *prefix)
{
    DIR *d = opendir(dir);
    struct dirent *de;
    size_t n = 0;

    assert_non_null(d);
    while ((de = readdir(d)))
        n += !strncmp(de->d_name, prefix, strlen(prefix));
    closedir(d);
    return n;
}

static void test_write_atomic(void **ctx)
{
    const char *dir = *ctx;
    char *path = fs_join(dir, "file.bin");
    struct rkc_error err;
    struct stat before, after;
    char *got;
    size_t len;
    mode_t old_umask;

    /* The mode is exact, whatever the umask. */
    old_umask = umask(0077);
    assert_int_equal(fs_write_atomic(path, "a\0b", 3, 0640, &err), RKC_OK);
    umask(old_umask);
    assert_int_equal(mode_of(path), 0640);
    got = slurp(path, &len);
    assert_int_equal(len, 3);
    assert_memory_equal(got, "a\0b", 3);
    free(got);

    /* Replace: a new inode with the new content and mode; no temp file left. */
    assert_int_equal(stat(path, &before), 0);
    assert_int_equal(fs_write_atomic(path, "second", 6, 0600, &err), RKC_OK);
    assert_int_equal(stat(path, &after), 0);
    assert_true(before.st_ino != after.st_ino);
    assert_int_equal(mode_of(path), 0600);
    got = slurp(path, NULL);
    assert_string_equal(got, "second");
    free(got);
    assert_int_equal(count_prefixed(dir, ".file.bin.tmp."), 0);

    /* Empty content. */
    assert_int_equal(fs_write_atomic(path, "", 0, 0600, &err), RKC_OK);
    got = slurp(path, &len);
    assert_int_equal(len, 0);
    free(got);
    free(path);

    /* A missing directory fails and names it. */
    path = fs_join(dir, "missing/file");
    assert_int_equal(fs_write_atomic(path, "x", 1, 0600, &err), RKC_EIO);
    got = xasprintf("cannot create temporary file in '%s/missing': No such file or directory", dir);
    assert_string_equal(err.msg, got);
    free(got);
    free(path);

    /* Renaming over a directory fails and leaves no temp file. */
    path = fs_join(dir, "adir");
    assert_int_equal(mkdir(path, 0700), 0);
    assert_int_equal(fs_write_atomic(path, "x", 1, 0600, &err), RKC_EIO);
    assert_non_null(strstr(err.msg, "rename '"));
    assert_int_equal(count_prefixed(dir, ".adir.tmp."), 0);
    free(path);
}

static void test_write_atomic_crash(void **ctx)
{
    const char *dir = *ctx;
    char *path = fs_join(dir, "state");
    char *got;
    int status;
    pid_t pid;

    assert_int_equal(fs_write_atomic(path, "old contents", 12, 0600, NULL), RKC_OK);
    pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        if (!freopen("/dev/null", "w", stderr))
            _exit(2);
        setenv("RKC_FAILPOINT", "other,fs-atomic-before-rename", 1);
        fs_write_atomic(path, "new contents", 12, 0600, NULL);
        _exit(0);
    }
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), RKC_FAILPOINT_EXIT);
    got = slurp(path, NULL);
    assert_string_equal(got, "old contents");
    free(got);
    /* The complete temp file stays behind with the target's mode (it may hold secrets). */
    assert_int_equal(count_prefixed(dir, ".state.tmp."), 1);
    {
        DIR *d = opendir(dir);
        struct dirent *de;

        while ((de = readdir(d))) {
            if (!strncmp(de->d_name, ".state.tmp.", 11)) {
                char *tmp = fs_join(dir, de->d_name);

                assert_int_equal(mode_of(tmp), 0600);
                got = slurp(tmp, NULL);
                assert_string_equal(got, "new contents");
                free(got);
                free(tmp);
            }
        }
        closedir(d);
    }
    free(path);
}

static void test_mkdir_p(void **ctx)
{
    const char *dir = *ctx;
    char *deep = xasprintf("%s/a/b/c", dir), *file, *want;
    struct rkc_error err;

    assert_int_equal(fs_mkdir_p(deep, 0700, &err), RKC_OK);
    assert_true(fs_is_dir(deep));
    assert_int_equal(mode_of(deep), 0700);
    assert_int_equal(fs_mkdir_p(deep, 0700, &err), RKC_OK); /* existing is fine */
    free(deep);
    deep = xasprintf("%s/a/x//y/", dir);
    assert_int_equal(fs_mkdir_p(deep, 0755, &err), RKC_OK);
    assert_true(fs_is_dir(deep));
    free(deep);

    file = xasprintf("%s/a/file", dir);
    assert_int_equal(fs_write_atomic(file, "x", 1, 0600, NULL), RKC_OK);
    assert_int_equal(fs_mkdir_p(file, 0700, &err), RKC_EIO);
    want = xasprintf("'%s' exists and is not a directory", file);
    assert_string_equal(err.msg, want);
    free(want);
    deep = xasprintf("%s/sub", file);
    assert_int_equal(fs_mkdir_p(deep, 0700, &err), RKC_EIO);
    want = xasprintf("cannot create directory '%s': Not a directory", deep);
    assert_string_equal(err.msg, want);
    free(want);
    free(deep);
    free(file);

    assert_int_equal(fs_mkdir_p("", 0700, &err), RKC_EINVAL);
    assert_string_equal(err.msg, "cannot create a directory with an empty name");
    assert_int_equal(fs_mkdir_p("/", 0700, &err), RKC_OK);
}

static void test_exists_remove(void **ctx)
{
    const char *dir = *ctx;
    char *file = fs_join(dir, "f"), *link = fs_join(dir, "dangling");
    struct rkc_error err;

    assert_false(fs_exists(file));
    assert_int_equal(fs_remove(file, &err), RKC_OK); /* missing is fine */
    assert_int_equal(fs_write_atomic(file, "x", 1, 0600, NULL), RKC_OK);
    assert_true(fs_exists(file));
    assert_false(fs_is_dir(file));
    assert_true(fs_is_dir(dir));
    assert_int_equal(fs_remove(file, &err), RKC_OK);
    assert_false(fs_exists(file));
    /* A dangling symlink exists (lstat) but is not a directory. */
    assert_int_equal(symlink("/nonexistent/target", link), 0);
    assert_true(fs_exists(link));
    assert_false(fs_is_dir(link));
    assert_int_equal(fs_remove(dir, &err), RKC_EIO);
    assert_non_null(strstr(err.msg, "cannot remove '"));
    free(file);
    free(link);
}

static void test_remove_tree(void **ctx)
{
    const char *dir = *ctx;
    char *outside = fs_join(dir, "outside"), *keep = fs_join(dir, "outside/keep");
    char *tree = fs_join(dir, "tree"), *p;
    struct rkc_error err;

    assert_int_equal(fs_mkdir_p(outside, 0700, NULL), RKC_OK);
    assert_int_equal(fs_write_atomic(keep, "k", 1, 0600, NULL), RKC_OK);
    p = xasprintf("%s/a/b/c", tree);
    assert_int_equal(fs_mkdir_p(p, 0700, NULL), RKC_OK);
    free(p);
    p = xasprintf("%s/a/b/c/file", tree);
    assert_int_equal(fs_write_atomic(p, "x", 1, 0600, NULL), RKC_OK);
    free(p);
    p = xasprintf("%s/a/.hidden", tree);
    assert_int_equal(fs_write_atomic(p, "x", 1, 0600, NULL), RKC_OK);
    free(p);
    /* A symlink to a directory outside: removed, never followed. */
    p = xasprintf("%s/a/link", tree);
    assert_int_equal(symlink(outside, p), 0);
    free(p);

    assert_int_equal(fs_remove_tree(tree, &err), RKC_OK);
    assert_false(fs_exists(tree));
    assert_true(fs_exists(keep));
    assert_int_equal(fs_remove_tree(tree, &err), RKC_OK); /* missing is fine */
    /* A plain file is removed too. */
    assert_int_equal(fs_remove_tree(keep, &err), RKC_OK);
    assert_false(fs_exists(keep));
    free(outside);
    free(keep);
    free(tree);
}

static void test_dirname_join(void **ctx)
{
    static const char *const cases[][2] = {
        { "/a/b/c", "/a/b" }, { "a/b", "a" },  { "file", "." }, { "/file", "/" },
        { "/", "/" },         { "a/b/", "a" }, { "", "." },
    };
    size_t i;
    char *s;

    (void)ctx;
    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        s = fs_dirname(cases[i][0]);
        if (strcmp(s, cases[i][1]))
            fail_msg("fs_dirname(\"%s\") = \"%s\", want \"%s\"", cases[i][0], s, cases[i][1]);
        free(s);
    }
    s = fs_join("/a/b", "c");
    assert_string_equal(s, "/a/b/c");
    free(s);
    s = fs_join("/a/b/", "c");
    assert_string_equal(s, "/a/b/c");
    free(s);
    s = fs_join("/a", "/abs");
    assert_string_equal(s, "/abs");
    free(s);
    s = fs_join("", "rel");
    assert_string_equal(s, "rel");
    free(s);
    s = fs_join(NULL, "rel");
    assert_string_equal(s, "rel");
    free(s);
}

/* In a child: tries the lock and reports "rc holder" through fd. */
static char *lock_in_child(const char *path)
{
    struct strbuf sb = STRBUF_INIT;
    int fds[2], status;
    pid_t pid;

    assert_int_equal(pipe(fds), 0);
    pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        struct fs_lock lock;
        struct rkc_error err;
        pid_t holder = -1;
        char line[RKC_ERROR_MAX + 64];
        enum rkc_err rc;
        int n;

        close(fds[0]);
        rc = fs_lock_acquire(path, &lock, &holder, &err);
        n = snprintf(line, sizeof(line), "%d %ld %s", (int)rc, (long)holder, rc ? err.msg : "ok");
        if (write(fds[1], line, (size_t)n) != n)
            _exit(3);
        if (!rc)
            fs_lock_release(&lock);
        _exit(0);
    }
    close(fds[1]);
    assert_int_equal(strbuf_read_fd(&sb, fds[0], NULL), RKC_OK);
    close(fds[0]);
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), 0);
    return strbuf_detach(&sb, NULL);
}

static void test_lock(void **ctx)
{
    const char *dir = *ctx;
    char *path = fs_join(dir, "x.lock"), *got, *want, *content;
    struct fs_lock lock, second;
    struct rkc_error err;
    pid_t holder = -1;

    assert_int_equal(fs_lock_acquire(path, &lock, &holder, &err), RKC_OK);
    assert_int_equal(holder, 0);
    assert_int_equal(mode_of(path), 0600);
    content = slurp(path, NULL);
    want = xasprintf("%ld\n", (long)getpid());
    assert_string_equal(content, want);
    free(content);
    free(want);

    /* Another process is refused and told who holds it. */
    got = lock_in_child(path);
    want = xasprintf("%d %ld lock '%s' is held by pid %ld", RKC_EBUSY, (long)getpid(), path,
                     (long)getpid());
    assert_string_equal(got, want);
    free(got);
    free(want);
    /* So is a second open in this same process (flock is per open file). */
    assert_int_equal(fs_lock_acquire(path, &second, &holder, &err), RKC_EBUSY);
    assert_int_equal(holder, getpid());

    fs_lock_release(&lock);
    assert_int_equal(lock.fd, -1);
    fs_lock_release(&lock); /* twice is harmless */
    fs_lock_release(NULL);
    content = slurp(path, NULL);
    assert_string_equal(content, ""); /* the pid is cleared on release */
    free(content);

    got = lock_in_child(path);
    assert_string_equal(got, "0 0 ok");
    free(got);
    /* A lock that cannot be created. */
    free(path);
    path = fs_join(dir, "no/such/dir.lock");
    assert_int_equal(fs_lock_acquire(path, &lock, &holder, &err), RKC_EIO);
    want = xasprintf("cannot open lock '%s': No such file or directory", path);
    assert_string_equal(err.msg, want);
    free(want);
    free(path);
}

/* A holder that died leaves its pid in the file, but the kernel dropped its lock. */
static void test_lock_after_holder_died(void **ctx)
{
    const char *dir = *ctx;
    char *path = fs_join(dir, "dead.lock"), *got;
    struct fs_lock lock;
    int status;
    pid_t pid;

    pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        if (fs_lock_acquire(path, &lock, NULL, NULL))
            _exit(1);
        _exit(0); /* no release: like a crash */
    }
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_int_equal(WEXITSTATUS(status), 0);
    got = lock_in_child(path);
    assert_string_equal(got, "0 0 ok");
    free(got);
    free(path);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_write_atomic, setup, teardown),
        cmocka_unit_test_setup_teardown(test_write_atomic_crash, setup, teardown),
        cmocka_unit_test_setup_teardown(test_mkdir_p, setup, teardown),
        cmocka_unit_test_setup_teardown(test_exists_remove, setup, teardown),
        cmocka_unit_test_setup_teardown(test_remove_tree, setup, teardown),
        cmocka_unit_test(test_dirname_join),
        cmocka_unit_test_setup_teardown(test_lock, setup, teardown),
        cmocka_unit_test_setup_teardown(test_lock_after_holder_died, setup, teardown),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
