/* SPDX-License-Identifier: Apache-2.0 */
/* runtime: detached processes with pidfiles and logs, over any transport. */
#include "core/runtime.h"

#include <errno.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "util/log.h"
#include "util/xalloc.h"

#include "util/banned.h"

static char *path_of(const char *prefix, const char *sub, const char *name, const char *ext)
{
    size_t n = strlen(prefix);

    return xasprintf("%s%s%s/%s%s", prefix, (n && prefix[n - 1] == '/') ? "" : "/", sub, name, ext);
}

static void sleep_ms(int ms)
{
    struct timespec ts = { ms / 1000, (long)(ms % 1000) * 1000000L };

    while (nanosleep(&ts, &ts) < 0 && errno == EINTR) {
    }
}

static long now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1000L + ts.tv_nsec / 1000000L;
}

/*
 * Reads /proc/<pid>/stat: the process start time (field 22, clock ticks since boot: with the
 * pid it names one process for the life of the machine) and whether it is a zombie.
 */
static bool proc_stat(struct transport *t, long pid, unsigned long long *ret_start,
                      bool *ret_zombie)
{
    char path[64];
    struct strbuf sb = STRBUF_INIT;
    const char *p;
    int field;
    bool ok = false;

    snprintf(path, sizeof(path), "/proc/%ld/stat", pid);
    if (transport_read_file(t, path, &sb, NULL))
        goto out;
    p = strrchr(sb.buf, ')'); /* comm may hold spaces and parentheses */
    if (!p || p[1] != ' ')
        goto out;
    p += 2;
    *ret_zombie = *p == 'Z';
    for (field = 3; field < 22 && p; field++) {
        p = strchr(p, ' ');
        if (p)
            p++;
    }
    if (p) {
        *ret_start = strtoull(p, NULL, 10);
        ok = true;
    }
out:
    strbuf_release(&sb);
    return ok;
}

/*
 * The pidfile holds "PID STARTTIME" (written by the shell that started the process, so the
 * start time is the process's own even before it has exec'ed the program). A process is ours
 * when both match: that survives pid reuse and the moment between fork and exec. Pidfiles
 * without a start time (older) fall back to comparing argv[0] with the spec.
 */
enum rkc_err runtime_status(struct transport *t, const char *prefix, const char *name,
                            bool *ret_running, pid_t *ret_pid, struct rkc_error *err)
{
    char *pidfile = path_of(prefix, "var/run/rkc/", name, ".pid");
    char *specfile = path_of(prefix, "var/run/rkc/", name, ".spec");
    struct strbuf sb = STRBUF_INIT, spec = STRBUF_INIT;
    char *end = NULL, *proc = NULL;
    unsigned long long want_start = 0, start = 0;
    bool zombie = false;
    long pid;

    (void)err;
    *ret_running = false;
    *ret_pid = 0;
    if (transport_read_file(t, pidfile, &sb, NULL))
        goto out;
    pid = strtol(sb.buf, &end, 10);
    if (pid <= 1 || end == sb.buf)
        goto out;
    want_start = strtoull(end, NULL, 10);
    if (!proc_stat(t, pid, &start, &zombie) || zombie)
        goto out;
    if (want_start) {
        if (start != want_start)
            goto out;
    } else {
        const char *arg0;
        char *nl;

        proc = xasprintf("/proc/%ld/cmdline", pid);
        strbuf_reset(&sb);
        if (transport_read_file(t, proc, &sb, NULL) || !sb.len)
            goto out;
        arg0 = sb.buf;
        if (!transport_read_file(t, specfile, &spec, NULL)) {
            nl = strchr(spec.buf, '\n');
            if (nl)
                *nl = '\0';
            if (!strcmp(arg0, "setsid") && strlen(arg0) + 1 < sb.len)
                arg0 += strlen(arg0) + 1;
            if (strcmp(arg0, spec.buf) != 0)
                goto out;
        }
    }
    *ret_running = true;
    *ret_pid = (pid_t)pid;
out:
    free(proc);
    free(pidfile);
    free(specfile);
    strbuf_release(&sb);
    strbuf_release(&spec);
    return RKC_OK;
}

static void build_spec(const struct runtime_component *c, struct strbuf *spec)
{
    size_t i;

    for (i = 0; c->argv[i]; i++)
        strbuf_addf(spec, "%s\n", c->argv[i]);
    strbuf_addf(spec, "#extra=%s\n", c->extra_hash ? c->extra_hash : "");
}

enum rkc_err runtime_start(struct transport *t, const struct runtime_component *c,
                           struct rkc_error *err)
{
    char *pidfile = path_of(c->prefix, "var/run/rkc/", c->name, ".pid");
    char *specfile = path_of(c->prefix, "var/run/rkc/", c->name, ".spec");
    char *logfile = path_of(c->prefix, "var/log/rkc/", c->name, ".log");
    char *rundir = path_of(c->prefix, "var/run/rkc", "", "");
    char *logdir = path_of(c->prefix, "var/log/rkc", "", "");
    struct strbuf script = STRBUF_INIT, spec = STRBUF_INIT;
    const char *argv[4];
    enum rkc_err rc;
    size_t i;

    rc = transport_mkdir_p(t, rundir, 0700, err);
    if (!rc)
        rc = transport_mkdir_p(t, logdir, 0700, err);
    if (rc)
        goto out;
    build_spec(c, &spec);
    rc = transport_write_file(t, specfile, spec.buf, spec.len, 0600, err);
    if (rc)
        goto out;
    /*
     * A shell detaches the process in its own session with output appended to the log;
     * the pidfile is written with a rename so a reader never sees half a number.
     */
    strbuf_addstr(&script, "umask 077; cd / || exit 1; ");
    strbuf_addstr(&script, "echo \"---- $(date -u +%Y-%m-%dT%H:%M:%SZ) starting\" >> ");
    transport_shell_quote(&script, logfile);
    strbuf_addstr(&script, "; setsid");
    for (i = 0; c->argv[i]; i++) {
        strbuf_addch(&script, ' ');
        transport_shell_quote(&script, c->argv[i]);
    }
    strbuf_addstr(&script, " >> ");
    transport_shell_quote(&script, logfile);
    strbuf_addstr(&script, " 2>&1 < /dev/null & p=$!; "
                           "s=$(sed 's/.*) //' /proc/$p/stat 2>/dev/null | cut -d' ' -f20); "
                           "echo \"$p $s\" > ");
    transport_shell_quote(&script, pidfile);
    strbuf_addstr(&script, ".tmp && mv ");
    transport_shell_quote(&script, pidfile);
    strbuf_addstr(&script, ".tmp ");
    transport_shell_quote(&script, pidfile);
    argv[0] = "sh";
    argv[1] = "-c";
    argv[2] = script.buf;
    argv[3] = NULL;
    rc = transport_run_ok(t, argv, NULL, err);
    if (rc) {
        rkc_error_prefix(err, "start %s: ", c->name);
    } else {
        log_debug("[%s] started %s on node '%s' (log %s)", c->name, c->argv[0], t->node_name,
                  logfile);
    }
out:
    strbuf_release(&script);
    strbuf_release(&spec);
    free(pidfile);
    free(specfile);
    free(logfile);
    free(rundir);
    free(logdir);
    return rc;
}

static enum rkc_err send_signal(struct transport *t, pid_t pid, const char *sig,
                                struct rkc_error *err)
{
    char pidstr[24];
    const char *argv[] = { "kill", sig, pidstr, NULL };
    int status;

    snprintf(pidstr, sizeof(pidstr), "%ld", (long)pid);
    return transport_run(t, argv, NULL, 0, NULL, NULL, &status, err);
}

static bool pid_alive(struct transport *t, pid_t pid)
{
    unsigned long long start;
    bool zombie = false;

    /* A zombie has exited; it only waits for its parent. */
    return proc_stat(t, (long)pid, &start, &zombie) && !zombie;
}

enum rkc_err runtime_stop(struct transport *t, const char *prefix, const char *name, int timeout_ms,
                          struct rkc_error *err)
{
    char *pidfile = path_of(prefix, "var/run/rkc/", name, ".pid");
    enum rkc_err rc;
    bool running;
    pid_t pid;
    long deadline;

    rc = runtime_status(t, prefix, name, &running, &pid, err);
    if (rc || !running)
        goto out;
    log_debug("[%s] stopping pid %ld on node '%s'", name, (long)pid, t->node_name);
    rc = send_signal(t, pid, "-TERM", err);
    if (rc)
        goto out;
    deadline = now_ms() + timeout_ms;
    while (pid_alive(t, pid) && now_ms() < deadline)
        sleep_ms(50);
    if (pid_alive(t, pid)) {
        log_warn("[%s] did not stop within %d ms on node '%s', sending SIGKILL", name, timeout_ms,
                 t->node_name);
        rc = send_signal(t, pid, "-KILL", err);
        if (rc)
            goto out;
        deadline = now_ms() + 5000;
        while (pid_alive(t, pid) && now_ms() < deadline)
            sleep_ms(50);
        if (pid_alive(t, pid)) {
            rc = rkc_error_set(err, RKC_ETIMEOUT, "%s (pid %ld) on node '%s' survived SIGKILL",
                               name, (long)pid, t->node_name);
            goto out;
        }
    }
out:
    if (!rc)
        rc = transport_remove_file(t, pidfile, err);
    free(pidfile);
    return rc;
}

enum rkc_err runtime_ensure(struct transport *t, const struct runtime_component *c,
                            bool force_restart, bool *ret_started, struct rkc_error *err)
{
    char *specfile = path_of(c->prefix, "var/run/rkc/", c->name, ".spec");
    struct strbuf want = STRBUF_INIT, have = STRBUF_INIT;
    enum rkc_err rc;
    bool running;
    pid_t pid;

    if (ret_started)
        *ret_started = false;
    build_spec(c, &want);
    rc = runtime_status(t, c->prefix, c->name, &running, &pid, err);
    if (rc)
        goto out;
    if (running && !force_restart && !transport_read_file(t, specfile, &have, NULL) &&
        have.len == want.len && !memcmp(have.buf, want.buf, want.len))
        goto out;
    if (running) {
        log_info("[%s] Restarting %s on node [%s]", c->name, c->name, t->node_name);
        rc = runtime_stop(t, c->prefix, c->name, 15000, err);
        if (rc)
            goto out;
    } else {
        log_info("[%s] Starting %s on node [%s]", c->name, c->name, t->node_name);
    }
    rc = runtime_start(t, c, err);
    if (!rc && ret_started)
        *ret_started = true;
out:
    strbuf_release(&want);
    strbuf_release(&have);
    free(specfile);
    return rc;
}

enum rkc_err runtime_log_tail(struct transport *t, const char *prefix, const char *name,
                              size_t nlines, struct strbuf *ret, struct rkc_error *err)
{
    char *logfile = path_of(prefix, "var/log/rkc/", name, ".log");
    struct strbuf sb = STRBUF_INIT;
    enum rkc_err rc = transport_read_file(t, logfile, &sb, err);
    size_t i, seen = 0;

    if (!rc) {
        strbuf_trim_trailing_newline(&sb);
        for (i = sb.len; i > 0; i--) {
            if (sb.buf[i - 1] == '\n' && ++seen == nlines)
                break;
        }
        strbuf_add(ret, sb.buf + i, sb.len - i);
    }
    strbuf_release(&sb);
    free(logfile);
    return rc;
}

static enum rkc_err fail_with_log(struct transport *t, const struct runtime_component *c,
                                  enum rkc_err code, const char *what, const char *last,
                                  struct rkc_error *err)
{
    struct strbuf tail = STRBUF_INIT;

    runtime_log_tail(t, c->prefix, c->name, 8, &tail, NULL);
    rkc_error_set(err, code, "%s on node '%s' %s%s%s; last log lines:\n%s", c->name, t->node_name,
                  what, last && *last ? ": " : "", last ? last : "",
                  tail.len ? tail.buf : "(empty log)");
    strbuf_release(&tail);
    return code;
}

enum rkc_err runtime_wait_healthy(struct transport *t, const struct runtime_component *c,
                                  runtime_probe_fn probe, void *ctx, int timeout_ms,
                                  struct rkc_error *err)
{
    long deadline = now_ms() + timeout_ms;
    struct rkc_error last;
    int delay = 100;

    rkc_error_init(&last);
    for (;;) {
        bool running;
        pid_t pid;

        /*
         * Ours must be running before its answer counts: a probe that reached some other
         * process listening on the same port would otherwise pass.
         */
        if (runtime_status(t, c->prefix, c->name, &running, &pid, err))
            return err ? err->code : RKC_EIO;
        if (!running)
            return fail_with_log(t, c, RKC_EIO, "exited before becoming healthy", last.msg, err);
        if (!probe(ctx, &last)) {
            /* and still running after answering */
            if (!runtime_status(t, c->prefix, c->name, &running, &pid, NULL) && running)
                return RKC_OK;
            return fail_with_log(t, c, RKC_EIO, "exited before becoming healthy",
                                 "another process answers on its port", err);
        }
        if (now_ms() >= deadline)
            return fail_with_log(t, c, RKC_ETIMEOUT, "did not become healthy in time", last.msg,
                                 err);
        sleep_ms(delay);
        delay = delay * 2 > 1000 ? 1000 : delay * 2;
    }
}
