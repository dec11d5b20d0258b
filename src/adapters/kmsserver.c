/* SPDX-License-Identifier: Apache-2.0 */
/*
 * kmsserver: a single-threaded gRPC C core server for the KMS plugin APIs. Each call walks
 * three completion-queue steps: NEW (a call arrived; ask for the next one), READ (the request
 * message is in; run the op and send reply + status), DONE (the client saw the status; free).
 */
#include "adapters/kmsserver.h"

#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <grpc/byte_buffer_reader.h>
#include <grpc/grpc.h>
#include <grpc/grpc_security.h>
#include <grpc/support/alloc.h>
#include <grpc/support/time.h>

#include "kms_v1beta1.pb-c.h"
#include "kms_v2.pb-c.h"

#include "util/fs.h"
#include "util/log.h"
#include "util/xalloc.h"

#include "util/banned.h"

#define REQUEST_MAX (1024 * 1024)

enum scall_state { SC_NEW, SC_READ, SC_DONE };

struct scall {
    enum scall_state state;
    grpc_call *call;
    grpc_call_details details;
    grpc_metadata_array md;
    grpc_byte_buffer *recv;
    grpc_byte_buffer *send;
    grpc_slice status_details;
    int cancelled;
};

struct kmsserver {
    struct kmsserver_ops ops;
    grpc_server *server;
    grpc_completion_queue *cq;
    char *path; /* socket file; NULL for an abstract socket */
    uint64_t calls;
    int shutdown_tag;
};

static struct scall *scall_new(struct kmsserver *s)
{
    struct scall *sc = xcalloc(1, sizeof(*sc));

    sc->state = SC_NEW;
    grpc_call_details_init(&sc->details);
    grpc_metadata_array_init(&sc->md);
    sc->status_details = grpc_empty_slice();
    if (grpc_server_request_call(s->server, &sc->call, &sc->details, &sc->md, s->cq, s->cq, sc) !=
        GRPC_CALL_OK)
        log_error("kms server: cannot request a call");
    return sc;
}

static void scall_free(struct scall *sc)
{
    if (sc->call)
        grpc_call_unref(sc->call);
    grpc_call_details_destroy(&sc->details);
    grpc_metadata_array_destroy(&sc->md);
    if (sc->recv)
        grpc_byte_buffer_destroy(sc->recv);
    if (sc->send)
        grpc_byte_buffer_destroy(sc->send);
    grpc_slice_unref(sc->status_details);
    free(sc);
}

static grpc_status_code code_for(enum rkc_err rc)
{
    switch (rc) {
    case RKC_OK:
        return GRPC_STATUS_OK;
    case RKC_EINVAL:
        return GRPC_STATUS_INVALID_ARGUMENT;
    case RKC_ENOTFOUND:
        return GRPC_STATUS_NOT_FOUND;
    default:
        return GRPC_STATUS_INTERNAL;
    }
}

#define PACK_INTO(sb, fn_prefix, msg)                                                              \
    do {                                                                                           \
        strbuf_grow((sb), fn_prefix##__get_packed_size(msg) + 1);                                  \
        strbuf_setlen((sb), fn_prefix##__pack((msg), (uint8_t *)(sb)->buf));                       \
    } while (0)

/* Runs the op for method on req[0..len); the packed reply goes to out. */
static enum rkc_err dispatch(struct kmsserver *s, const char *method, const uint8_t *req,
                             size_t len, struct strbuf *out, struct rkc_error *err)
{
    const struct kmsserver_ops *o = &s->ops;
    struct strbuf a = STRBUF_INIT, b = STRBUF_INIT;
    enum rkc_err rc = RKC_OK;

    if (!strcmp(method, "/v2.KeyManagementService/Status")) {
        V2__StatusResponse r = V2__STATUS_RESPONSE__INIT;
        struct rkc_error serr;

        rkc_error_init(&serr);
        r.version = (char *)(uintptr_t) "v2";
        if (o->status(o->ctx, &a, &serr)) {
            r.healthz = serr.msg;
        } else {
            r.healthz = (char *)(uintptr_t) "ok";
            r.key_id = a.buf;
        }
        PACK_INTO(out, v2__status_response, &r);
    } else if (!strcmp(method, "/v2.KeyManagementService/Encrypt")) {
        V2__EncryptRequest *q = v2__encrypt_request__unpack(NULL, len, req);
        V2__EncryptResponse r = V2__ENCRYPT_RESPONSE__INIT;

        if (!q)
            return rkc_error_set(err, RKC_EINVAL, "malformed EncryptRequest");
        rc = o->encrypt(o->ctx, q->plaintext.data, q->plaintext.len, &a, &b, err);
        if (q->plaintext.data)
            rkc_wipe(q->plaintext.data, q->plaintext.len);
        v2__encrypt_request__free_unpacked(q, NULL);
        if (!rc) {
            r.ciphertext.data = (uint8_t *)a.buf;
            r.ciphertext.len = a.len;
            r.key_id = b.buf;
            PACK_INTO(out, v2__encrypt_response, &r);
        }
    } else if (!strcmp(method, "/v2.KeyManagementService/Decrypt")) {
        V2__DecryptRequest *q = v2__decrypt_request__unpack(NULL, len, req);
        V2__DecryptResponse r = V2__DECRYPT_RESPONSE__INIT;

        if (!q)
            return rkc_error_set(err, RKC_EINVAL, "malformed DecryptRequest");
        rc = o->decrypt(o->ctx, q->ciphertext.data, q->ciphertext.len, q->key_id, &a, err);
        v2__decrypt_request__free_unpacked(q, NULL);
        if (!rc) {
            r.plaintext.data = (uint8_t *)a.buf;
            r.plaintext.len = a.len;
            PACK_INTO(out, v2__decrypt_response, &r);
        }
    } else if (!strcmp(method, "/v1beta1.KeyManagementService/Version")) {
        V1beta1__VersionResponse r = V1BETA1__VERSION_RESPONSE__INIT;

        r.version = (char *)(uintptr_t) "v1beta1";
        r.runtime_name = (char *)(uintptr_t)o->runtime_name;
        r.runtime_version = (char *)(uintptr_t)o->runtime_version;
        PACK_INTO(out, v1beta1__version_response, &r);
    } else if (!strcmp(method, "/v1beta1.KeyManagementService/Encrypt")) {
        V1beta1__EncryptRequest *q = v1beta1__encrypt_request__unpack(NULL, len, req);
        V1beta1__EncryptResponse r = V1BETA1__ENCRYPT_RESPONSE__INIT;

        if (!q)
            return rkc_error_set(err, RKC_EINVAL, "malformed EncryptRequest");
        rc = o->encrypt(o->ctx, q->plain.data, q->plain.len, &a, &b, err);
        if (q->plain.data)
            rkc_wipe(q->plain.data, q->plain.len);
        v1beta1__encrypt_request__free_unpacked(q, NULL);
        if (!rc) {
            r.cipher.data = (uint8_t *)a.buf;
            r.cipher.len = a.len;
            PACK_INTO(out, v1beta1__encrypt_response, &r);
        }
    } else if (!strcmp(method, "/v1beta1.KeyManagementService/Decrypt")) {
        V1beta1__DecryptRequest *q = v1beta1__decrypt_request__unpack(NULL, len, req);
        V1beta1__DecryptResponse r = V1BETA1__DECRYPT_RESPONSE__INIT;

        if (!q)
            return rkc_error_set(err, RKC_EINVAL, "malformed DecryptRequest");
        rc = o->decrypt(o->ctx, q->cipher.data, q->cipher.len, "", &a, err);
        v1beta1__decrypt_request__free_unpacked(q, NULL);
        if (!rc) {
            r.plain.data = (uint8_t *)a.buf;
            r.plain.len = a.len;
            PACK_INTO(out, v1beta1__decrypt_response, &r);
        }
    } else {
        rc = rkc_error_set(err, RKC_ENOTFOUND, "unknown method %.200s", method);
    }
    strbuf_release_wipe(&a);
    strbuf_release(&b);
    return rc;
}

/* The request message is in: run the op and send the reply and the status. */
static void respond(struct kmsserver *s, struct scall *sc, bool got)
{
    struct strbuf req = STRBUF_INIT, reply = STRBUF_INIT;
    struct rkc_error err;
    grpc_status_code code = GRPC_STATUS_OK;
    char *method = grpc_slice_to_c_string(sc->details.method);
    grpc_op ops[3];
    size_t nops = 0;

    rkc_error_init(&err);
    if (!got || !sc->recv) {
        code = GRPC_STATUS_INVALID_ARGUMENT;
        rkc_error_set(&err, RKC_EINVAL, "no request message");
    } else {
        grpc_byte_buffer_reader reader;
        grpc_slice all;

        if (grpc_byte_buffer_reader_init(&reader, sc->recv)) {
            all = grpc_byte_buffer_reader_readall(&reader);
            grpc_byte_buffer_reader_destroy(&reader);
            if (GRPC_SLICE_LENGTH(all) <= REQUEST_MAX)
                strbuf_add(&req, GRPC_SLICE_START_PTR(all), GRPC_SLICE_LENGTH(all));
            grpc_slice_unref(all);
        }
        code = code_for(dispatch(s, method, (const uint8_t *)req.buf, req.len, &reply, &err));
        if (code == GRPC_STATUS_NOT_FOUND && !strncmp(err.msg, "unknown method", 14))
            code = GRPC_STATUS_UNIMPLEMENTED;
    }
    s->calls++;
    if (code != GRPC_STATUS_OK)
        log_warn("kms server: %s: %s", method, err.msg);
    else
        log_debug("kms server: %s ok", method);
    memset(ops, 0, sizeof(ops));
    if (code == GRPC_STATUS_OK) {
        grpc_slice body = grpc_slice_from_copied_buffer(reply.buf, reply.len);

        sc->send = grpc_raw_byte_buffer_create(&body, 1);
        grpc_slice_unref(body);
        ops[nops].op = GRPC_OP_SEND_MESSAGE;
        ops[nops++].data.send_message.send_message = sc->send;
    }
    grpc_slice_unref(sc->status_details);
    sc->status_details = grpc_slice_from_copied_string(code == GRPC_STATUS_OK ? "" : err.msg);
    ops[nops].op = GRPC_OP_SEND_STATUS_FROM_SERVER;
    ops[nops].data.send_status_from_server.status = code;
    ops[nops++].data.send_status_from_server.status_details = &sc->status_details;
    ops[nops].op = GRPC_OP_RECV_CLOSE_ON_SERVER;
    ops[nops++].data.recv_close_on_server.cancelled = &sc->cancelled;
    sc->state = SC_DONE;
    if (grpc_call_start_batch(sc->call, ops, nops, sc, NULL) != GRPC_CALL_OK) {
        log_error("kms server: %s: cannot send the reply", method);
        scall_free(sc);
    }
    gpr_free(method);
    strbuf_release_wipe(&req);
    strbuf_release_wipe(&reply);
}

static void on_event(struct kmsserver *s, struct scall *sc, bool success)
{
    grpc_op ops[2];

    switch (sc->state) {
    case SC_NEW:
        if (!success) { /* shutting down */
            scall_free(sc);
            return;
        }
        scall_new(s);
        memset(ops, 0, sizeof(ops));
        ops[0].op = GRPC_OP_SEND_INITIAL_METADATA;
        ops[1].op = GRPC_OP_RECV_MESSAGE;
        ops[1].data.recv_message.recv_message = &sc->recv;
        sc->state = SC_READ;
        if (grpc_call_start_batch(sc->call, ops, 2, sc, NULL) != GRPC_CALL_OK)
            scall_free(sc);
        return;
    case SC_READ:
        respond(s, sc, success);
        return;
    case SC_DONE:
        scall_free(sc);
        return;
    }
}

void kmsserver_serve(struct kmsserver *s, unsigned wait_ms)
{
    gpr_timespec until = gpr_time_add(gpr_now(GPR_CLOCK_MONOTONIC),
                                      gpr_time_from_millis((int64_t)wait_ms, GPR_TIMESPAN));

    for (;;) {
        grpc_event ev = grpc_completion_queue_next(s->cq, until, NULL);

        if (ev.type != GRPC_OP_COMPLETE)
            return; /* timeout */
        on_event(s, ev.tag, ev.success != 0);
    }
}

uint64_t kmsserver_calls(const struct kmsserver *s)
{
    return s->calls;
}

enum rkc_err kmsserver_new(const char *listen, const struct kmsserver_ops *ops,
                           struct kmsserver **ret, struct rkc_error *err)
{
    struct kmsserver *s;
    grpc_server_credentials *creds;
    const char *path;
    struct stat st;
    int port;

    if (!listen || strncmp(listen, "unix://", 7) != 0 || !listen[7])
        return rkc_error_set(err, RKC_EINVAL,
                             "listen address \"%s\": only unix:///path addresses are supported",
                             listen ? listen : "");
    path = listen + 7;
    grpc_init();
    s = xcalloc(1, sizeof(*s));
    s->ops = *ops;
    if (path[0] != '@') {
        char *dir = fs_dirname(path);

        s->path = xstrdup(path);
        if (fs_mkdir_p(dir, 0700, NULL))
            log_warn("cannot create the socket directory '%s'", dir);
        free(dir);
        if (!lstat(path, &st) && S_ISSOCK(st.st_mode))
            unlink(path); /* left by a plugin that was killed */
    }
    s->cq = grpc_completion_queue_create_for_next(NULL);
    s->server = grpc_server_create(NULL, NULL);
    grpc_server_register_completion_queue(s->server, s->cq, NULL);
    creds = grpc_insecure_server_credentials_create();
    port = grpc_server_add_http2_port(s->server, listen, creds);
    grpc_server_credentials_release(creds);
    if (!port) {
        free(s->path);
        s->path = NULL; /* not ours to remove */
        kmsserver_free(s);
        return rkc_error_set(err, RKC_EIO, "cannot listen on \"%s\"", listen);
    }
    grpc_server_start(s->server);
    if (s->path && chmod(s->path, 0600))
        log_warn("cannot restrict the permissions of '%s': %s", s->path, strerror(errno));
    scall_new(s);
    *ret = s;
    return RKC_OK;
}

void kmsserver_free(struct kmsserver *s)
{
    if (!s)
        return;
    grpc_server_shutdown_and_notify(s->server, s->cq, &s->shutdown_tag);
    grpc_server_cancel_all_calls(s->server);
    for (;;) {
        grpc_event ev = grpc_completion_queue_next(s->cq, gpr_inf_future(GPR_CLOCK_REALTIME), NULL);

        if (ev.type != GRPC_OP_COMPLETE)
            break;
        if (ev.tag == &s->shutdown_tag)
            break;
        {
            struct scall *sc = ev.tag;

            if (sc->state == SC_READ && ev.success) {
                respond(s, sc, true); /* finishes with a DONE event */
                continue;
            }
            scall_free(sc);
        }
    }
    grpc_server_destroy(s->server);
    grpc_completion_queue_shutdown(s->cq);
    for (;;) {
        grpc_event ev = grpc_completion_queue_next(s->cq, gpr_inf_future(GPR_CLOCK_REALTIME), NULL);

        if (ev.type == GRPC_QUEUE_SHUTDOWN)
            break;
        if (ev.type == GRPC_OP_COMPLETE && ev.tag != &s->shutdown_tag)
            scall_free(ev.tag);
    }
    grpc_completion_queue_destroy(s->cq);
    if (s->path)
        unlink(s->path);
    free(s->path);
    free(s);
    grpc_shutdown();
}
