/* SPDX-License-Identifier: Apache-2.0 */
/*
 * rkc-kms: a KMS plugin for kube-apiserver-style KMS providers (v1beta1 and v2 APIs) on a unix
 * socket, with its key-encryption keys in a local 0600 key file (crypto/kek.h). `rotate`
 * appends a new KEK (new key id) to the file; a running plugin notices the change within a
 * second and reports the new key id in Status while the old KEKs keep unwrapping.
 */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "adapters/kmsserver.h"
#include "crypto/kek.h"
#include "util/log.h"
#include "util/xalloc.h"

#include "util/banned.h"

#define DEFAULT_LISTEN "unix:///var/run/kmsplugin/socket.sock"

static const char usage[] =
    "usage: rkc-kms [--listen unix:///path/socket.sock] --key-file FILE [-v LEVEL]\n"
    "       rkc-kms rotate --key-file FILE\n"
    "\n"
    "Serves the Kubernetes KMS plugin gRPC APIs v1beta1 (Version, Encrypt, Decrypt) and v2\n"
    "(Status, Encrypt, Decrypt) on a unix socket. DEKs and seeds are wrapped with AES-256-GCM\n"
    "under a key-encryption key (KEK) kept in FILE (mode 0600; created with a new random KEK\n"
    "when missing). The key id is a fingerprint of the KEK. The file is re-read when it\n"
    "changes, so `rkc-kms rotate` takes effect on a running plugin within a second.\n"
    "\n"
    "Commands:\n"
    "  (none)    serve until SIGTERM or SIGINT (the socket file is removed on exit)\n"
    "  rotate    add a new KEK to FILE as the current one; older KEKs still decrypt\n"
    "\n"
    "Flags:\n"
    "      --listen URL      unix socket to serve on, unix:///path or /path (default\n"
    "                        " DEFAULT_LISTEN ")\n"
    "      --key-file FILE   the KEK file (required)\n"
    "  -v, --v LEVEL         log verbosity: 0 info (default), 1+ debug (one line per call)\n"
    "  -h, --help            show this help\n"
    "      --version         print the version\n";

static volatile sig_atomic_t stop_signal;

static void on_signal(int sig)
{
    stop_signal = sig;
}

struct plugin {
    struct kek_ring *ring;
    const char *key_file;
    struct stat seen;
};

static enum rkc_err op_encrypt(void *ctx, const uint8_t *pt, size_t len, struct strbuf *ret_ct,
                               struct strbuf *ret_key_id, struct rkc_error *err)
{
    struct plugin *p = ctx;

    return kek_wrap(p->ring, pt, len, ret_ct, ret_key_id, err);
}

static enum rkc_err op_decrypt(void *ctx, const uint8_t *ct, size_t len, const char *key_id,
                               struct strbuf *ret_pt, struct rkc_error *err)
{
    struct plugin *p = ctx;

    (void)key_id; /* the wrapped form names its KEK, which v1 requests need anyway */
    return kek_unwrap(p->ring, ct, len, ret_pt, err);
}

static enum rkc_err op_status(void *ctx, struct strbuf *ret_key_id, struct rkc_error *err)
{
    struct plugin *p = ctx;

    (void)err;
    strbuf_addstr(ret_key_id, kek_ring_current_id(p->ring));
    return RKC_OK;
}

static bool same_file(const struct stat *a, const struct stat *b)
{
    return a->st_ino == b->st_ino && a->st_dev == b->st_dev && a->st_size == b->st_size &&
           a->st_mtim.tv_sec == b->st_mtim.tv_sec && a->st_mtim.tv_nsec == b->st_mtim.tv_nsec;
}

/* Re-reads the key file when it changed; a bad file is reported and the old ring kept. */
static void poll_key_file(struct plugin *p)
{
    struct kek_ring *ring = NULL;
    struct rkc_error err;
    struct stat st;

    if (stat(p->key_file, &st) || same_file(&st, &p->seen))
        return;
    p->seen = st;
    rkc_error_init(&err);
    if (kek_ring_load(p->key_file, false, &ring, &err)) {
        log_error("reloading key file '%s' failed, keeping the loaded keys: %s", p->key_file,
                  err.msg);
        return;
    }
    if (strcmp(kek_ring_current_id(ring), kek_ring_current_id(p->ring)) != 0)
        log_info("key file '%s' changed: current key id is now %s (%zu keys)", p->key_file,
                 kek_ring_current_id(ring), kek_ring_count(ring));
    kek_ring_free(p->ring);
    p->ring = ring;
}

static int cmd_rotate(const char *key_file)
{
    struct strbuf id = STRBUF_INIT;
    struct rkc_error err;

    rkc_error_init(&err);
    if (kek_ring_rotate(key_file, &id, &err)) {
        fprintf(stderr, "rkc-kms: rotate: %s\n", err.msg);
        return 1;
    }
    log_info("rotated the KEK in '%s': new key id %s", key_file, id.buf);
    printf("%s\n", id.buf);
    strbuf_release(&id);
    return 0;
}

static int serve(const char *listen, const char *key_file)
{
    struct plugin p;
    struct kmsserver_ops ops;
    struct kmsserver *srv = NULL;
    struct rkc_error err;
    struct sigaction sa;
    int ret = 1;

    memset(&p, 0, sizeof(p));
    p.key_file = key_file;
    rkc_error_init(&err);
    if (kek_ring_load(key_file, true, &p.ring, &err)) {
        fprintf(stderr, "rkc-kms: %s\n", err.msg);
        return 1;
    }
    if (stat(key_file, &p.seen))
        memset(&p.seen, 0, sizeof(p.seen));
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);

    memset(&ops, 0, sizeof(ops));
    ops.encrypt = op_encrypt;
    ops.decrypt = op_decrypt;
    ops.status = op_status;
    ops.runtime_name = "rkc-kms";
    ops.runtime_version = RKC_VERSION;
    ops.ctx = &p;
    if (kmsserver_new(listen, &ops, &srv, &err)) {
        fprintf(stderr, "rkc-kms: %s\n", err.msg);
        goto out;
    }
    log_info("rkc-kms listening on %s (key file '%s', current key id %s, %zu keys)", listen,
             key_file, kek_ring_current_id(p.ring), kek_ring_count(p.ring));
    while (!stop_signal) {
        kmsserver_serve(srv, 250);
        poll_key_file(&p);
    }
    log_info("received signal %d, shutting down after %llu calls", (int)stop_signal,
             (unsigned long long)kmsserver_calls(srv));
    ret = 0;
out:
    kmsserver_free(srv);
    kek_ring_free(p.ring);
    return ret;
}

int main(int argc, char **argv)
{
    static const struct option opts[] = {
        { "listen", required_argument, NULL, 'l' }, { "key-file", required_argument, NULL, 'k' },
        { "v", required_argument, NULL, 'v' },      { "help", no_argument, NULL, 'h' },
        { "version", no_argument, NULL, 'V' },      { NULL, 0, NULL, 0 },
    };
    const char *listen = DEFAULT_LISTEN, *key_file = NULL, *cmd = NULL;
    char *end;
    long level;
    int c;

    while ((c = getopt_long(argc, argv, "+hv:", opts, NULL)) != -1) {
        switch (c) {
        case 'l':
            listen = optarg;
            break;
        case 'k':
            key_file = optarg;
            break;
        case 'v':
            errno = 0;
            level = strtol(optarg, &end, 10);
            if (errno || *end || level < 0) {
                fprintf(stderr, "rkc-kms: invalid -v level '%s'\n", optarg);
                return 2;
            }
            log_set_level(level > 0 ? LOG_DEBUG : LOG_INFO);
            break;
        case 'h':
            fputs(usage, stdout);
            return 0;
        case 'V':
            printf("rkc-kms %s\n", RKC_VERSION);
            return 0;
        default:
            fputs(usage, stderr);
            return 2;
        }
    }
    if (optind < argc) {
        cmd = argv[optind++];
        if (strcmp(cmd, "rotate") != 0) {
            fprintf(stderr, "rkc-kms: unknown command '%s' (see rkc-kms --help)\n", cmd);
            return 2;
        }
        /* flags may follow the command */
        while ((c = getopt_long(argc, argv, "+h", opts, NULL)) != -1) {
            if (c == 'k') {
                key_file = optarg;
            } else if (c == 'h') {
                fputs(usage, stdout);
                return 0;
            } else {
                fprintf(stderr, "rkc-kms: rotate takes only --key-file\n");
                return 2;
            }
        }
        if (optind < argc) {
            fprintf(stderr, "rkc-kms: unexpected argument '%s'\n", argv[optind]);
            return 2;
        }
    }
    if (!key_file) {
        fprintf(stderr, "rkc-kms: --key-file is required\n");
        return 2;
    }
    if (cmd)
        return cmd_rotate(key_file);
    if (listen[0] == '/') { /* a bare socket path, as other plugins take it */
        char *url = xasprintf("unix://%s", listen);
        int ret = serve(url, key_file);

        free(url);
        return ret;
    }
    return serve(listen, key_file);
}
