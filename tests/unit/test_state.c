/* SPDX-License-Identifier: Apache-2.0 */
/*
 * test_state: cluster.rkestate on real files in a temp directory: round trips of every
 * section, modes, atomic replace across a crash (failpoint in a forked child), lock
 * contention across processes, refusal of unparseable files, archive and operation accessors.
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

#include "core/state.h"
#include "util/failpoint.h"
#include "util/fs.h"
#include "util/strbuf.h"
#include "util/xalloc.h"

#define HASH_A   "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
#define HASH_B   "fedcba9876543210fedcba9876543210fedcba9876543210fedcba9876543210"
#define SECRET_A "c2VjcmV0LWtleS1tYXRlcmlhbC0wMTIzNDU2Nzg5YWI="

struct fix {
    char *dir;
    char *path;
};

static int setup(void **ctx)
{
    const char *tmp = getenv("TMPDIR");
    struct fix *f = xcalloc(1, sizeof(*f));

    f->dir = xasprintf("%s/rkc-test-state.XXXXXX", tmp && tmp[0] ? tmp : "/tmp");
    if (!mkdtemp(f->dir))
        return -1;
    f->path = fs_join(f->dir, "cluster.rkestate");
    *ctx = f;
    return 0;
}

static int teardown(void **ctx)
{
    struct fix *f = *ctx;

    fs_remove_tree(f->dir, NULL);
    free(f->path);
    free(f->dir);
    free(f);
    return 0;
}

static void write_file(const char *path, const char *text, mode_t mode)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);

    assert_true(fd >= 0);
    assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
    assert_int_equal(fchmod(fd, mode), 0);
    close(fd);
}

static char *read_all(const char *path)
{
    struct strbuf sb = STRBUF_INIT;

    assert_int_equal(strbuf_read_file(&sb, path, NULL), RKC_OK);
    return strbuf_detach(&sb, NULL);
}

static mode_t file_mode(const char *path)
{
    struct stat sb;

    assert_int_equal(stat(path, &sb), 0);
    return sb.st_mode & 07777;
}

/* Files in the directory whose names start with prefix. */
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

static struct rkc_state *open_ok(const char *path)
{
    struct rkc_state *st = NULL;
    struct rkc_error err;

    rkc_error_init(&err);
    if (state_open(path, STATE_OPEN_DEFAULT, &st, &err))
        fail_msg("state_open: %s", err.msg);
    return st;
}

static void save_ok(struct rkc_state *st)
{
    struct rkc_error err;

    if (state_save(st, &err))
        fail_msg("state_save: %s", err.msg);
}

/* Fills every section with known values. */
static void populate(struct rkc_state *st)
{
    struct state_retired_key k = {
        "k-old01", "aescbc", SECRET_A, "sha256:aaaa", "2024-01-02T03:04:05Z", "rotate"
    };
    struct state_retired_key k2 = {
        "k-old02", "secretbox", "AAAA", "sha256:bbbb", "2024-02-02T03:04:05Z", NULL
    };
    struct state_operation done = {
        STATE_OP_ENABLE, STATE_PHASE_PREPARE, "2024-01-01T00:00:00Z", "kind: X\n", NULL, 0
    };
    struct state_operation op = { STATE_OP_ROTATE,  STATE_PHASE_PREPARE, "2024-03-01T10:00:00Z",
                                  "target: yaml\n", "previous: yaml\n",  0 };
    struct jval *cfg = jval_object(), *certs = jval_object(), *nodes = jval_array();
    struct rkc_error err;

    jval_set_str(cfg, "clusterName", "demo");
    jval_array_append_take(nodes, jval_string("10.0.0.1"));
    jval_set_take(cfg, "nodes", nodes);
    state_set_rke_config_take(st, STATE_DESIRED, jval_deep_copy(cfg));
    state_set_rke_config_take(st, STATE_CURRENT, cfg);
    jval_set_str(certs, "kube-ca", "PEM");
    state_set_certificates_take(st, STATE_DESIRED, certs);
    state_set_encryption_config(st, STATE_DESIRED, "desired: enc\n");
    state_set_encryption_config(st, STATE_CURRENT, "current: enc\n");
    state_set_enc_mode(st, STATE_ENC_MANAGED);
    assert_int_equal(state_set_active(st, "active: yaml\n", HASH_A, &err), RKC_OK);
    assert_int_equal(state_retire_key(st, &k, &err), RKC_OK);
    assert_int_equal(state_retire_key(st, &k2, &err), RKC_OK);
    assert_int_equal(state_operation_begin(st, &done, &err), RKC_OK);
    assert_int_equal(state_operation_finish(st, STATE_OUTCOME_SUCCEEDED, "2024-01-01T00:05:00Z",
                                            "enabled with k-old01", &err),
                     RKC_OK);
    assert_int_equal(state_operation_begin(st, &op, &err), RKC_OK);
    assert_int_equal(state_operation_set_phase(st, STATE_PHASE_REWRITE, &err), RKC_OK);
    assert_int_equal(state_operation_bump_attempt(st, &err), RKC_OK);
}

static void check_populated(const struct rkc_state *st)
{
    const struct state_retired_key *k;
    const struct state_operation *op;
    const struct state_history_entry *h;
    const struct jval *cfg;

    cfg = state_rke_config(st, STATE_DESIRED);
    assert_non_null(cfg);
    assert_string_equal(jval_get_str(cfg, "clusterName", ""), "demo");
    assert_string_equal(jval_str(jval_array_get(jval_get(cfg, "nodes"), 0), NULL), "10.0.0.1");
    assert_true(jval_equal(cfg, state_rke_config(st, STATE_CURRENT)));
    assert_string_equal(jval_get_str(state_certificates(st, STATE_DESIRED), "kube-ca", ""), "PEM");
    assert_null(state_certificates(st, STATE_CURRENT));
    assert_string_equal(state_encryption_config(st, STATE_DESIRED), "desired: enc\n");
    assert_string_equal(state_encryption_config(st, STATE_CURRENT), "current: enc\n");
    assert_int_equal(state_enc_mode(st), STATE_ENC_MANAGED);
    assert_string_equal(state_active_config(st), "active: yaml\n");
    assert_string_equal(state_active_hash(st), HASH_A);

    assert_int_equal(state_retired_count(st), 2);
    k = state_retired_at(st, 0);
    assert_string_equal(k->name, "k-old01");
    assert_string_equal(k->provider, "aescbc");
    assert_string_equal(k->secret, SECRET_A);
    assert_string_equal(k->fingerprint, "sha256:aaaa");
    assert_string_equal(k->retired_at, "2024-01-02T03:04:05Z");
    assert_string_equal(k->reason, "rotate");
    k = state_retired_at(st, 1);
    assert_string_equal(k->name, "k-old02");
    assert_null(k->reason);
    assert_null(state_retired_at(st, 2));

    op = state_operation(st);
    assert_non_null(op);
    assert_int_equal(op->kind, STATE_OP_ROTATE);
    assert_int_equal(op->phase, STATE_PHASE_REWRITE);
    assert_string_equal(op->started_at, "2024-03-01T10:00:00Z");
    assert_string_equal(op->target_config, "target: yaml\n");
    assert_string_equal(op->previous_config, "previous: yaml\n");
    assert_int_equal(op->attempt, 2);

    assert_int_equal(state_history_count(st), 1);
    h = state_history_at(st, 0);
    assert_int_equal(h->kind, STATE_OP_ENABLE);
    assert_int_equal(h->outcome, STATE_OUTCOME_SUCCEEDED);
    assert_string_equal(h->started_at, "2024-01-01T00:00:00Z");
    assert_string_equal(h->finished_at, "2024-01-01T00:05:00Z");
    assert_int_equal(h->attempts, 1);
    assert_string_equal(h->summary, "enabled with k-old01");
    assert_null(state_history_at(st, 1));
}

static void test_new_state(void **ctx)
{
    struct fix *f = *ctx;
    struct rkc_state *st = open_ok(f->path);
    char *text;

    assert_true(state_is_new(st));
    assert_false(state_is_broken(st));
    assert_false(state_encryption_recorded(st));
    assert_null(state_warning(st));
    assert_string_equal(state_path(st), f->path);
    assert_int_equal(state_enc_mode(st), STATE_ENC_DISABLED);
    assert_null(state_active_config(st));
    assert_null(state_operation(st));
    assert_null(state_rke_config(st, STATE_DESIRED));
    assert_null(state_encryption_config(st, STATE_CURRENT));
    assert_false(fs_exists(f->path)); /* opening writes nothing */
    save_ok(st);
    assert_false(state_is_new(st));
    state_close(st);

    assert_int_equal(file_mode(f->path), 0600);
    text = read_all(f->path);
    assert_string_equal(text, "{\n"
                              "  \"encryption\": {\n"
                              "    \"version\": 1,\n"
                              "    \"mode\": \"disabled\",\n"
                              "    \"active\": null,\n"
                              "    \"retiredKeys\": [],\n"
                              "    \"operation\": null,\n"
                              "    \"history\": []\n"
                              "  }\n"
                              "}\n");
    free(text);
    st = open_ok(f->path);
    assert_false(state_is_new(st));
    assert_true(state_encryption_recorded(st));
    state_close(st);
}

static void test_must_exist(void **ctx)
{
    struct fix *f = *ctx;
    struct rkc_state *st = NULL;
    struct rkc_error err;

    assert_int_equal(state_open(f->path, STATE_OPEN_MUST_EXIST, &st, &err), RKC_ENOTFOUND);
    assert_null(st);
    assert_true(strstr(err.msg, "does not exist") != NULL);
}

static void test_round_trip(void **ctx)
{
    struct fix *f = *ctx;
    struct rkc_state *st = open_ok(f->path);
    char *first, *second;

    populate(st);
    check_populated(st);
    save_ok(st);
    state_close(st);
    assert_int_equal(file_mode(f->path), 0600);

    st = open_ok(f->path);
    check_populated(st);
    save_ok(st); /* a save of what was loaded writes the same bytes */
    state_close(st);
    first = read_all(f->path);
    st = open_ok(f->path);
    save_ok(st);
    state_close(st);
    second = read_all(f->path);
    assert_string_equal(first, second);
    /* Top-level order as RKE has it, then rkc's section. */
    assert_true(strstr(first, "\"desiredState\"") < strstr(first, "\"currentState\""));
    assert_true(strstr(first, "\"currentState\"") < strstr(first, "\"encryption\""));
    free(first);
    free(second);
}

static void test_rke_file_kept(void **ctx)
{
    struct fix *f = *ctx;
    const char *rke = "{\n"
                      "  \"currentState\": {\"rkeConfig\": {\"x\": 1}, \"extra\": [1, 2],\n"
                      "                   \"encryptionConfig\": \"apiVersion: v1\\n\"},\n"
                      "  \"desiredState\": {\"rkeConfig\": {\"x\": 2}, \"certificatesBundle\": "
                      "null},\n"
                      "  \"futureTopLevel\": {\"kept\": true}\n"
                      "}\n";
    struct rkc_state *st;
    struct jval *doc = NULL;
    char *text;

    write_file(f->path, rke, 0600);
    st = open_ok(f->path);
    assert_false(state_encryption_recorded(st));
    assert_int_equal(state_enc_mode(st), STATE_ENC_DISABLED);
    assert_string_equal(state_encryption_config(st, STATE_CURRENT), "apiVersion: v1\n");
    assert_null(state_encryption_config(st, STATE_DESIRED));
    assert_int_equal(jval_get_int(state_rke_config(st, STATE_DESIRED), "x", 0), 2);
    assert_null(state_certificates(st, STATE_DESIRED));
    /* Removing and replacing members. */
    state_set_encryption_config(st, STATE_CURRENT, NULL);
    assert_null(state_encryption_config(st, STATE_CURRENT));
    state_set_rke_config_take(st, STATE_DESIRED, NULL);
    assert_null(state_rke_config(st, STATE_DESIRED));
    save_ok(st);
    state_close(st);

    text = read_all(f->path);
    assert_int_equal(jval_parse("t", text, strlen(text), &doc, NULL), RKC_OK);
    /* Unknown keys, in the RKE sections and at the top level, survive a save. */
    assert_int_equal(jval_array_size(jval_get(jval_get(doc, "currentState"), "extra")), 2);
    assert_true(jval_get_bool(jval_get(doc, "futureTopLevel"), "kept", false));
    assert_null(jval_get(jval_get(doc, "currentState"), "encryptionConfig"));
    assert_null(jval_get(jval_get(doc, "desiredState"), "rkeConfig"));
    assert_int_equal(jval_get_int(jval_get(doc, "encryption"), "version", 0), 1);
    assert_true(strstr(text, "\"desiredState\"") < strstr(text, "\"currentState\""));
    jval_decref(doc);
    free(text);
}

static void test_mode_tightened(void **ctx)
{
    struct fix *f = *ctx;
    struct rkc_state *st;
    char *msg;

    write_file(f->path, "{}\n", 0644);
    st = open_ok(f->path);
    assert_non_null(state_warning(st));
    msg = xasprintf("'%s' has mode 0644 but holds encryption keys; the next save tightens it "
                    "to 0600",
                    f->path);
    assert_string_equal(state_warning(st), msg);
    free(msg);
    assert_int_equal(file_mode(f->path), 0644); /* opening changes nothing */
    save_ok(st);
    assert_null(state_warning(st));
    assert_int_equal(file_mode(f->path), 0600);
    state_close(st);

    st = open_ok(f->path);
    assert_null(state_warning(st));
    state_close(st);
}

/* Forks a child that opens the state, changes it and saves with RKC_FAILPOINT armed. */
static int crash_while_saving(const char *path)
{
    int status;
    pid_t pid = fork();

    assert_true(pid >= 0);
    if (pid == 0) {
        struct rkc_state *st = NULL;

        setenv("RKC_FAILPOINT", "fs-atomic-before-rename", 1);
        if (state_open(path, STATE_OPEN_DEFAULT, &st, NULL))
            _exit(10);
        state_set_enc_mode(st, STATE_ENC_CUSTOM);
        state_set_encryption_config(st, STATE_DESIRED, "changed\n");
        state_save(st, NULL);
        _exit(11); /* the failpoint should have ended us */
    }
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFEXITED(status));
    return WEXITSTATUS(status);
}

static void test_atomic_replace_crash(void **ctx)
{
    struct fix *f = *ctx;
    struct rkc_state *st = open_ok(f->path);
    char *before, *after;

    populate(st);
    save_ok(st);
    state_close(st);
    before = read_all(f->path);

    assert_int_equal(crash_while_saving(f->path), RKC_FAILPOINT_EXIT);
    after = read_all(f->path);
    assert_string_equal(before, after);
    free(after);
    /* The child's temp file (complete, fsynced, never renamed) is left behind. */
    assert_int_equal(count_prefixed(f->dir, ".cluster.rkestate.tmp."), 1);

    /* A second crash leaves a second temp file; neither bothers the next run. */
    assert_int_equal(crash_while_saving(f->path), RKC_FAILPOINT_EXIT);
    assert_int_equal(count_prefixed(f->dir, ".cluster.rkestate.tmp."), 2);
    st = open_ok(f->path);
    check_populated(st); /* the old state, intact */
    state_set_enc_mode(st, STATE_ENC_CUSTOM);
    save_ok(st);
    state_close(st);
    assert_int_equal(count_prefixed(f->dir, ".cluster.rkestate.tmp."), 0);
    assert_int_equal(file_mode(f->path), 0600);

    st = open_ok(f->path);
    assert_int_equal(state_enc_mode(st), STATE_ENC_CUSTOM);
    state_close(st);
    free(before);
}

/* In a child: tries state_open and writes "rc|message" to fd. */
static void child_try_open(const char *path, int fd)
{
    struct rkc_state *st = NULL;
    struct rkc_error err;
    char line[RKC_ERROR_MAX + 16];
    enum rkc_err rc;
    int n;

    rkc_error_init(&err);
    rc = state_open(path, STATE_OPEN_DEFAULT, &st, &err);
    n = snprintf(line, sizeof(line), "%d|%s", (int)rc, rc ? err.msg : "");
    if (write(fd, line, (size_t)n) != n)
        _exit(3);
    if (!rc)
        state_close(st);
    _exit(0);
}

static char *open_in_child(const char *path)
{
    struct strbuf sb = STRBUF_INIT;
    int fds[2], status;
    pid_t pid;

    assert_int_equal(pipe(fds), 0);
    pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        close(fds[0]);
        child_try_open(path, fds[1]);
    }
    close(fds[1]);
    assert_int_equal(strbuf_read_fd(&sb, fds[0], NULL), RKC_OK);
    close(fds[0]);
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), 0);
    return strbuf_detach(&sb, NULL);
}

static void test_lock_contention(void **ctx)
{
    struct fix *f = *ctx;
    struct rkc_state *st = open_ok(f->path);
    char *got, *want;
    char *lock_path = xasprintf("%s.lock", f->path);

    save_ok(st);
    got = open_in_child(f->path);
    want = xasprintf("%d|another rkc (pid %ld) holds %s", RKC_EBUSY, (long)getpid(), f->path);
    assert_string_equal(got, want);
    free(got);
    free(want);
    assert_int_equal(file_mode(lock_path), 0600);
    state_close(st);

    got = open_in_child(f->path);
    assert_string_equal(got, "0|");
    free(got);
    /* The lock file stays (unlinking it would race a new locker). */
    assert_true(fs_exists(lock_path));
    free(lock_path);
}

struct broken_case {
    const char *text;
    const char *msg; /* after "<path>" */
};

static const struct broken_case broken_cases[] = {
    /* truncated JSON */
    { "{\n  \"desiredState\": {\n    \"rkeConfig\": {}\n", ":4:1: '}' expected near end of file" },
    { "", ":1:1: the file is empty" },
    { "{\"encryption\": {\"version\": 1, \"mode\": \"managed\"}} trailing\n",
      ":1:58: end of file expected" },
    { "{\"a\": 1, \"a\": 2}", ":1:12: duplicate object key" },
    /* a syntax error next to key material does not quote it */
    { "{\"encryption\": {\"retiredKeys\": [{\"secret\": \"c2VjcmV0\" \"a2V5\"}]}}",
      ":1:60: '}' expected" },
    /* wrong top-level type */
    { "[\n  {\"desiredState\": {}}\n]\n", ":1:1: the state must be a JSON object, not an array" },
    /* wrong types in sections */
    { "{\n  \"desiredState\": \"oops\"\n}\n",
      ":2:19: desiredState must be an object, not a string" },
    { "{\n  \"currentState\": {\n    \"rkeConfig\": [1]\n  }\n}\n",
      ":3:18: currentState.rkeConfig must be an object, not an array" },
    { "{\n  \"currentState\": {\"encryptionConfig\": 7}\n}\n",
      ":2:40: currentState.encryptionConfig must be a string, not an integer" },
    { "{\n  \"encryption\": []\n}\n", ":2:17: encryption must be an object, not an array" },
    { "{\n  \"encryption\": {\n    \"version\": 1,\n    \"mode\": 3\n  }\n}\n",
      ":4:13: encryption.mode must be a string, not an integer" },
    { "{\n  \"encryption\": {\n    \"version\": 1,\n    \"mode\": \"on\"\n  }\n}\n",
      ":4:13: encryption.mode has unknown value 'on' (expected disabled, managed or custom)" },
    { "{\n  \"encryption\": {\n    \"mode\": \"managed\"\n  }\n}\n",
      ":2:17: missing key 'version' in encryption" },
    { "{\"encryption\": {\"version\": \"1\", \"mode\": \"managed\"}}",
      ":1:28: encryption.version must be an integer, not a string" },
    { "{\"encryption\": {\"version\": 0, \"mode\": \"managed\"}}",
      ":1:28: encryption.version must be at least 1" },
    { "{\n  \"encryption\": {\n    \"version\": 1,\n    \"mode\": \"managed\",\n"
      "    \"retiredKey\": []\n  }\n}\n",
      ":5:5: unknown key 'retiredKey' in encryption (did you mean 'retiredKeys'?)" },
    { "{\"encryption\": {\"version\": 1, \"mode\": \"managed\", \"retiredKeys\": {}}}",
      ":1:65: encryption.retiredKeys must be a list, not an object" },
    { "{\"encryption\": {\"version\": 1, \"mode\": \"managed\", \"retiredKeys\": [\n"
      "  {\"name\": \"k-a\", \"provider\": \"aescbc\", \"fingerprint\": \"f\",\n"
      "   \"retiredAt\": \"2024-01-01T00:00:00Z\"}]}}",
      ":2:3: missing key 'secret' in encryption.retiredKeys[0]" },
    { "{\"encryption\": {\"version\": 1, \"mode\": \"managed\", \"retiredKeys\": [\n"
      "  {\"name\": \"k-a\", \"provider\": \"aescbc\", \"fingerprint\": \"f\", \"secret\": "
      "\"not base64!\",\n"
      "   \"retiredAt\": \"2024-01-01T00:00:00Z\"}]}}",
      ":2:71: encryption.retiredKeys[0].secret must be standard base64" },
    { "{\"encryption\": {\"version\": 1, \"mode\": \"managed\", \"retiredKeys\": [\n"
      "  {\"name\": \"k-a\", \"provider\": \"aescbc\", \"fingerprint\": \"f\", \"secret\": "
      "\"AAAA\",\n"
      "   \"retiredAt\": \"yesterday\"}]}}",
      ":3:17: encryption.retiredKeys[0].retiredAt must be an RFC 3339 UTC time like "
      "2024-05-01T12:00:00Z" },
    { "{\"encryption\": {\"version\": 1, \"mode\": \"managed\", \"retiredKeys\": [\n"
      "  {\"name\": \"k-a\", \"provider\": \"p\", \"fingerprint\": \"f\", \"secret\": \"AAAA\",\n"
      "   \"retiredAt\": \"2024-01-01T00:00:00Z\"},\n"
      "  {\"name\": \"k-a\", \"provider\": \"p\", \"fingerprint\": \"g\", \"secret\": \"AAAA\",\n"
      "   \"retiredAt\": \"2024-01-01T00:00:00Z\"}]}}",
      ":4:3: duplicate retired key 'k-a' in encryption.retiredKeys" },
    { "{\"encryption\": {\"version\": 1, \"mode\": \"managed\", \"active\": {\"config\": \"x\", "
      "\"sha256\": \"ABC\"}}}",
      ":1:86: encryption.active.sha256 must be 64 lowercase hex digits" },
    { "{\"encryption\": {\"version\": 1, \"mode\": \"managed\",\n \"operation\": {\"kind\": "
      "\"rotate\", \"phase\": \"rewriting\", \"startedAt\": \"2024-01-01T00:00:00Z\", "
      "\"attempt\": 1}}}",
      ":2:43: encryption.operation.phase has unknown value 'rewriting' (expected prepare, "
      "promote, rewrite, verify, prune or done)" },
    { "{\"encryption\": {\"version\": 1, \"mode\": \"managed\",\n \"operation\": {\"kind\": "
      "\"rotate\", \"phase\": \"rewrite\", \"startedAt\": \"2024-01-01T00:00:00Z\", "
      "\"attempt\": 0}}}",
      ":2:102: encryption.operation.attempt must be at least 1" },
    { "{\"encryption\": {\"version\": 1, \"mode\": \"managed\",\n \"history\": [{\"kind\": "
      "\"rotate\", \"outcome\": \"succeeded\", \"startedAt\": \"2024-01-01T00:00:00Z\", "
      "\"finishedAt\": \"2024-02-30T00:00:00Z\", \"attempts\": 1}]}}",
      ":2:108: encryption.history[0].finishedAt must be an RFC 3339 UTC time like "
      "2024-05-01T12:00:00Z" },
    /* a future schema version, even with keys we do not know */
    { "{\n  \"encryption\": {\n    \"version\": 2,\n    \"mode\": \"hsm\",\n"
      "    \"newThing\": {}\n  }\n}\n",
      ":3:16: state schema version 2 is newer than this rkc understands (1); use a newer rkc" },
    /* JSON that YAML cannot read back gives no position, but the same message */
    { "\t{\"encryption\": {\"version\": 1, \"mode\": 5}}",
      ": encryption.mode must be a string, not an integer" },
};

static void test_refuse_broken(void **ctx)
{
    struct fix *f = *ctx;
    size_t i, mismatches = 0;

    for (i = 0; i < sizeof(broken_cases) / sizeof(broken_cases[0]); i++) {
        const struct broken_case *c = &broken_cases[i];
        struct rkc_state *st = NULL;
        struct rkc_error err;
        char *want = xasprintf("%s%s", f->path, c->msg), *after, *refusal;

        write_file(f->path, c->text, 0600);
        rkc_error_init(&err);
        assert_int_equal(state_open(f->path, STATE_OPEN_DEFAULT, &st, &err), RKC_ECONFIG);
        assert_null(st);
        if (strcmp(err.msg, want)) {
            print_error("case %zu:\n got: %s\nwant: %s\n", i, err.msg, want);
            mismatches++;
            free(want);
            continue;
        }

        /* Kept open for inspection, it still cannot be saved over. */
        assert_int_equal(state_open(f->path, STATE_OPEN_KEEP_BROKEN, &st, &err), RKC_OK);
        assert_true(state_is_broken(st));
        assert_string_equal(state_broken_error(st)->msg, want);
        assert_int_equal(state_enc_mode(st), STATE_ENC_DISABLED);
        assert_int_equal(state_retired_count(st), 0);
        assert_int_equal(state_save(st, &err), RKC_ECONFIG);
        refusal =
            xasprintf("refusing to overwrite '%s': it could not be parsed (%s)", f->path, want);
        assert_string_equal(err.msg, refusal);
        free(refusal);
        state_close(st);

        after = read_all(f->path);
        assert_string_equal(after, c->text);
        assert_int_equal(count_prefixed(f->dir, ".cluster.rkestate.tmp."), 0);
        free(after);
        free(want);
    }
    assert_int_equal(mismatches, 0);
}

static void test_not_regular(void **ctx)
{
    struct fix *f = *ctx;
    struct rkc_state *st = NULL;
    struct rkc_error err;
    char *target = fs_join(f->dir, "real.json"), *want;

    write_file(target, "{}", 0600);
    assert_int_equal(symlink(target, f->path), 0);
    assert_int_equal(state_open(f->path, STATE_OPEN_DEFAULT, &st, &err), RKC_EIO);
    want = xasprintf("'%s' is a symbolic link; rkc keeps its state in a regular file", f->path);
    assert_string_equal(err.msg, want);
    free(want);
    assert_int_equal(unlink(f->path), 0);
    assert_int_equal(mkdir(f->path, 0700), 0);
    assert_int_equal(state_open(f->path, STATE_OPEN_DEFAULT, &st, &err), RKC_EIO);
    want = xasprintf("'%s' is not a regular file", f->path);
    assert_string_equal(err.msg, want);
    free(want);
    free(target);
}

static void test_too_large(void **ctx)
{
    struct fix *f = *ctx;
    struct rkc_state *st = NULL;
    struct rkc_error err;
    char *want;
    int fd = open(f->path, O_WRONLY | O_CREAT | O_CLOEXEC, 0600);

    assert_true(fd >= 0);
    assert_int_equal(ftruncate(fd, (off_t)STATE_MAX_FILE_SIZE + 1), 0); /* sparse */
    close(fd);
    assert_int_equal(state_open(f->path, STATE_OPEN_DEFAULT, &st, &err), RKC_ELIMIT);
    want = xasprintf("'%s' is larger than %zu bytes", f->path, STATE_MAX_FILE_SIZE);
    assert_string_equal(err.msg, want);
    free(want);
    assert_null(st);
}

static void test_retired_accessors(void **ctx)
{
    struct fix *f = *ctx;
    struct rkc_state *st = open_ok(f->path);
    struct state_retired_key k = {
        "k-abc12", "aesgcm", SECRET_A, "sha256:1111", "2024-05-01T12:00:00Z", "rotate"
    };
    struct rkc_error err;

    assert_int_equal(state_retire_key(st, &k, &err), RKC_OK);
    /* Resuming an operation re-archives the same key: no duplicate. */
    assert_int_equal(state_retire_key(st, &k, &err), RKC_OK);
    assert_int_equal(state_retired_count(st), 1);
    k.fingerprint = "sha256:2222";
    assert_int_equal(state_retire_key(st, &k, &err), RKC_EINVAL);
    assert_string_equal(err.msg,
                        "retired key 'k-abc12' is already archived with another fingerprint");
    k.name = "k-bad01";
    k.secret = "%%%not-base64";
    assert_int_equal(state_retire_key(st, &k, &err), RKC_EINVAL);
    assert_string_equal(err.msg, "retired key 'k-bad01': secret must be standard base64");
    k.secret = SECRET_A;
    k.retired_at = "2024-05-01 12:00:00";
    assert_int_equal(state_retire_key(st, &k, &err), RKC_EINVAL);
    k.retired_at = "2024-05-02T00:00:00Z";
    k.provider = "";
    assert_int_equal(state_retire_key(st, &k, &err), RKC_EINVAL);
    k.provider = "bad\xff";
    assert_int_equal(state_retire_key(st, &k, &err), RKC_EINVAL);
    assert_string_equal(err.msg, "retired key fields must be valid UTF-8");
    k.provider = "secretbox";
    assert_int_equal(state_retire_key(st, &k, &err), RKC_OK);
    assert_int_equal(state_retired_count(st), 2);

    assert_string_equal(state_retired_find(st, "k-bad01")->fingerprint, "sha256:2222");
    assert_string_equal(state_retired_find_fingerprint(st, "sha256:1111")->name, "k-abc12");
    assert_null(state_retired_find(st, "k-none"));
    assert_null(state_retired_find_fingerprint(st, "sha256:none"));
    save_ok(st);
    state_close(st);

    st = open_ok(f->path);
    assert_int_equal(state_retired_count(st), 2);
    assert_true(state_retired_remove(st, "k-abc12"));
    assert_false(state_retired_remove(st, "k-abc12"));
    assert_int_equal(state_retired_count(st), 1);
    assert_string_equal(state_retired_at(st, 0)->name, "k-bad01");
    assert_string_equal(state_retired_at(st, 0)->provider, "secretbox");
    save_ok(st);
    state_close(st);
    st = open_ok(f->path);
    assert_int_equal(state_retired_count(st), 1);
    state_close(st);
}

static void test_operation_accessors(void **ctx)
{
    struct fix *f = *ctx;
    struct rkc_state *st = open_ok(f->path);
    struct state_operation op = { STATE_OP_DISABLE,       STATE_PHASE_PREPARE,
                                  "2024-05-01T12:00:00Z", NULL,
                                  "old: yaml\n",          0 };
    struct rkc_error err;
    size_t i;

    assert_null(state_operation(st));
    assert_int_equal(state_operation_set_phase(st, STATE_PHASE_PROMOTE, &err), RKC_EINVAL);
    assert_string_equal(err.msg, "no encryption operation is pending");
    assert_int_equal(state_operation_bump_attempt(st, &err), RKC_EINVAL);
    assert_int_equal(
        state_operation_finish(st, STATE_OUTCOME_SUCCEEDED, "2024-05-01T12:00:00Z", NULL, &err),
        RKC_EINVAL);

    op.started_at = "now";
    assert_int_equal(state_operation_begin(st, &op, &err), RKC_EINVAL);
    op.started_at = "2024-05-01T12:00:00Z";
    assert_int_equal(state_operation_begin(st, &op, &err), RKC_OK);
    assert_int_equal(state_operation(st)->attempt, 1);
    assert_null(state_operation(st)->target_config);
    op.kind = STATE_OP_ROTATE;
    assert_int_equal(state_operation_begin(st, &op, &err), RKC_EBUSY);
    assert_string_equal(err.msg, "operation 'disable' is already pending in phase 'prepare'");

    /* The phase is saved before the engine acts on it; a reopen sees it. */
    assert_int_equal(state_operation_set_phase(st, STATE_PHASE_VERIFY, &err), RKC_OK);
    save_ok(st);
    state_close(st);
    st = open_ok(f->path);
    assert_int_equal(state_operation(st)->kind, STATE_OP_DISABLE);
    assert_int_equal(state_operation(st)->phase, STATE_PHASE_VERIFY);
    assert_null(state_operation(st)->target_config);
    assert_string_equal(state_operation(st)->previous_config, "old: yaml\n");
    assert_int_equal(state_operation_bump_attempt(st, &err), RKC_OK);
    assert_int_equal(state_operation_finish(st, STATE_OUTCOME_ABANDONED, "bad time", NULL, &err),
                     RKC_EINVAL);
    assert_int_equal(
        state_operation_finish(st, STATE_OUTCOME_ABANDONED, "2024-05-01T13:00:00Z", NULL, &err),
        RKC_OK);
    assert_null(state_operation(st));
    assert_int_equal(state_history_count(st), 1);
    assert_int_equal(state_history_at(st, 0)->outcome, STATE_OUTCOME_ABANDONED);
    assert_int_equal(state_history_at(st, 0)->attempts, 2);
    assert_null(state_history_at(st, 0)->summary);

    /* History keeps the last STATE_HISTORY_MAX operations. */
    for (i = 0; i < STATE_HISTORY_MAX + 5; i++) {
        char summary[32];

        snprintf(summary, sizeof(summary), "op %zu", i);
        op.kind = STATE_OP_ROTATE;
        assert_int_equal(state_operation_begin(st, &op, &err), RKC_OK);
        assert_int_equal(state_operation_finish(st, STATE_OUTCOME_SUCCEEDED, "2024-05-01T14:00:00Z",
                                                summary, &err),
                         RKC_OK);
    }
    assert_int_equal(state_history_count(st), STATE_HISTORY_MAX);
    assert_string_equal(state_history_at(st, 0)->summary, "op 5");
    assert_string_equal(state_history_at(st, STATE_HISTORY_MAX - 1)->summary, "op 54");
    save_ok(st);
    state_close(st);
    st = open_ok(f->path);
    assert_int_equal(state_history_count(st), STATE_HISTORY_MAX);
    assert_string_equal(state_history_at(st, 0)->summary, "op 5");
    state_close(st);
}

static void test_active(void **ctx)
{
    struct fix *f = *ctx;
    struct rkc_state *st = open_ok(f->path);
    struct rkc_error err;

    assert_int_equal(state_set_active(st, "a: b\n", "abc", &err), RKC_EINVAL);
    assert_string_equal(err.msg, "active config hash must be 64 lowercase hex digits");
    assert_int_equal(state_set_active(st, "a: \xc3\x28\n", HASH_B, &err), RKC_EINVAL);
    assert_string_equal(err.msg, "active config is not valid UTF-8");
    assert_int_equal(state_set_active(st, "a: \xed\xa0\x80\n", HASH_B, &err), RKC_EINVAL);
    assert_int_equal(state_set_active(st, "a: \xc0\xaf\n", HASH_B, &err), RKC_EINVAL);
    assert_int_equal(state_set_active(st, "a: \xf0\x9f\x94\x91 \xc3\xa9\n", HASH_B, &err), RKC_OK);
    assert_string_equal(state_active_config(st), "a: \xf0\x9f\x94\x91 \xc3\xa9\n");
    assert_int_equal(state_set_active(st, "a: b\n", HASH_B, &err), RKC_OK);
    /* Setting from its own borrowed value is safe. */
    assert_int_equal(state_set_active(st, state_active_config(st), state_active_hash(st), &err),
                     RKC_OK);
    assert_string_equal(state_active_config(st), "a: b\n");
    state_set_encryption_config(st, STATE_DESIRED, "x\n");
    state_set_encryption_config(st, STATE_DESIRED, state_encryption_config(st, STATE_DESIRED));
    assert_string_equal(state_encryption_config(st, STATE_DESIRED), "x\n");
    state_set_enc_mode(st, STATE_ENC_CUSTOM);
    save_ok(st);
    state_close(st);
    st = open_ok(f->path);
    assert_string_equal(state_active_hash(st), HASH_B);
    assert_int_equal(state_enc_mode(st), STATE_ENC_CUSTOM);
    assert_int_equal(state_set_active(st, NULL, NULL, &err), RKC_OK);
    assert_null(state_active_config(st));
    assert_null(state_active_hash(st));
    save_ok(st);
    state_close(st);
    st = open_ok(f->path);
    assert_null(state_active_config(st));
    state_close(st);
}

static void test_backup(void **ctx)
{
    struct fix *f = *ctx;
    struct rkc_state *st = open_ok(f->path);
    struct rkc_error err;
    char *path = NULL, *want, *orig, *copy;

    assert_int_equal(state_backup(st, "x", &path, &err), RKC_ENOTFOUND);
    populate(st);
    save_ok(st);
    assert_int_equal(state_backup(st, "", &path, &err), RKC_EINVAL);
    assert_int_equal(state_backup(st, "../escape", &path, &err), RKC_EINVAL);
    assert_string_equal(err.msg, "invalid backup suffix '../escape'");
    assert_int_equal(state_backup(st, "manual", &path, &err), RKC_OK);
    want = xasprintf("%s.manual", f->path);
    assert_string_equal(path, want);
    assert_int_equal(file_mode(path), 0600);
    orig = read_all(f->path);
    copy = read_all(path);
    assert_string_equal(orig, copy);
    free(copy);
    free(path);
    free(want);

    assert_int_equal(state_backup(st, NULL, &path, &err), RKC_OK);
    want = xasprintf("%s.pre-restore-", f->path);
    assert_memory_equal(path, want, strlen(want));
    /* pre-restore-YYYYMMDDTHHMMSSZ */
    assert_int_equal(strlen(path), strlen(want) + 16);
    assert_int_equal(path[strlen(want) + 8], 'T');
    copy = read_all(path);
    assert_string_equal(orig, copy);
    assert_int_equal(file_mode(path), 0600);
    free(copy);
    free(path);
    free(want);
    free(orig);
    state_close(st);
}

static void test_names_and_times(void **ctx)
{
    enum state_op_kind kind;
    enum state_op_phase phase;
    enum state_enc_mode mode;
    enum state_op_outcome outcome;
    char buf[STATE_TIME_SIZE];

    (void)ctx;
    assert_string_equal(state_op_kind_name(STATE_OP_APPLY_CUSTOM), "apply-custom");
    assert_string_equal(state_op_kind_name(STATE_OP_RESTORE_REKEY), "restore-rekey");
    assert_true(state_op_kind_parse("restore-rekey", &kind));
    assert_int_equal(kind, STATE_OP_RESTORE_REKEY);
    assert_false(state_op_kind_parse("Rotate", &kind));
    assert_true(state_op_phase_parse("prune", &phase));
    assert_int_equal(phase, STATE_PHASE_PRUNE);
    assert_string_equal(state_op_phase_name(STATE_PHASE_DONE), "done");
    assert_true(state_enc_mode_parse("custom", &mode));
    assert_int_equal(mode, STATE_ENC_CUSTOM);
    assert_false(state_enc_mode_parse(NULL, &mode));
    assert_true(state_op_outcome_parse("abandoned", &outcome));
    assert_string_equal(state_enc_mode_name(STATE_ENC_DISABLED), "disabled");

    state_format_time(0, buf);
    assert_string_equal(buf, "1970-01-01T00:00:00Z");
    state_format_time(1714564800, buf);
    assert_string_equal(buf, "2024-05-01T12:00:00Z");
    assert_true(state_time_valid("2024-02-29T23:59:59Z"));
    assert_false(state_time_valid("2023-02-29T23:59:59Z"));
    assert_false(state_time_valid("2024-05-01T24:00:00Z"));
    assert_false(state_time_valid("2024-05-01T12:00:00+00:00"));
    assert_false(state_time_valid("2024-05-01T12:00:00.5Z"));
    assert_false(state_time_valid("2024-5-01T12:00:00Z"));
    assert_false(state_time_valid(""));
    assert_false(state_time_valid(NULL));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_new_state, setup, teardown),
        cmocka_unit_test_setup_teardown(test_must_exist, setup, teardown),
        cmocka_unit_test_setup_teardown(test_round_trip, setup, teardown),
        cmocka_unit_test_setup_teardown(test_rke_file_kept, setup, teardown),
        cmocka_unit_test_setup_teardown(test_mode_tightened, setup, teardown),
        cmocka_unit_test_setup_teardown(test_atomic_replace_crash, setup, teardown),
        cmocka_unit_test_setup_teardown(test_lock_contention, setup, teardown),
        cmocka_unit_test_setup_teardown(test_refuse_broken, setup, teardown),
        cmocka_unit_test_setup_teardown(test_not_regular, setup, teardown),
        cmocka_unit_test_setup_teardown(test_too_large, setup, teardown),
        cmocka_unit_test_setup_teardown(test_retired_accessors, setup, teardown),
        cmocka_unit_test_setup_teardown(test_operation_accessors, setup, teardown),
        cmocka_unit_test_setup_teardown(test_active, setup, teardown),
        cmocka_unit_test_setup_teardown(test_backup, setup, teardown),
        cmocka_unit_test(test_names_and_times),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
