/* SPDX-License-Identifier: Apache-2.0 */
/*
 * fuzz_state: cluster.rkestate loading. Each input is written to a state file in a private
 * temp directory and opened; a state that loads must save, and its saved form must load
 * again and save to the same bytes (the serialiser and the validator agree). A state that
 * does not load must be refused with a positioned-or-named message and left untouched.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/state.h"
#include "util/fs.h"
#include "util/strbuf.h"
#include "util/xalloc.h"

static char *fuzz_path;

static void cleanup(void)
{
    char *dir;

    if (!fuzz_path)
        return;
    dir = fs_dirname(fuzz_path);
    fs_remove_tree(dir, NULL);
    free(dir);
    free(fuzz_path);
    fuzz_path = NULL;
}

static const char *path_once(void)
{
    const char *tmp = getenv("TMPDIR");
    char *dir;

    if (fuzz_path)
        return fuzz_path;
    dir = xasprintf("%s/rkc-fuzz-state.XXXXXX", tmp && tmp[0] ? tmp : "/tmp");
    if (!mkdtemp(dir))
        abort();
    fuzz_path = fs_join(dir, "cluster.rkestate");
    free(dir);
    atexit(cleanup);
    return fuzz_path;
}

static void save_and_read(struct rkc_state *st, struct strbuf *out)
{
    struct rkc_error err;

    if (state_save(st, &err)) {
        fprintf(stderr, "save failed: %s\n", err.msg);
        abort();
    }
    if (strbuf_read_file(out, fuzz_path, NULL))
        abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *path = path_once();
    struct strbuf first = STRBUF_INIT, second = STRBUF_INIT, after = STRBUF_INIT;
    struct rkc_state *st = NULL;
    struct rkc_error err;

    if (fs_write_atomic(path, data, size, 0600, NULL))
        abort();
    if (state_open(path, STATE_OPEN_DEFAULT, &st, &err)) {
        if (err.code != RKC_ECONFIG || strncmp(err.msg, path, strlen(path)))
            abort();
        if (strbuf_read_file(&after, path, NULL) || after.len != size ||
            (size && memcmp(after.buf, data, size)))
            abort(); /* refused files are never touched */
        strbuf_release(&after);
        return 0;
    }
    save_and_read(st, &first);
    state_close(st);
    if (state_open(path, STATE_OPEN_DEFAULT, &st, &err)) {
        fprintf(stderr, "saved state does not load: %s\n", err.msg);
        abort();
    }
    save_and_read(st, &second);
    state_close(st);
    if (first.len != second.len || memcmp(first.buf, second.buf, first.len))
        abort();
    strbuf_release(&first);
    strbuf_release(&second);
    return 0;
}
