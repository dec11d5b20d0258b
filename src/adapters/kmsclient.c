/* SPDX-License-Identifier: Apache-2.0 */
/*
 * kmsclient: unary gRPC calls to a KMS plugin with gRPC's C core (one pluck completion queue
 * per call, the call's deadline = the provider timeout), protobuf-c messages generated from
 * src/adapters/proto/kms_*.proto, and the factory/registry encconfig_build and /readyz use.
 */
#include "adapters/kmsclient.h"

#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include <grpc/byte_buffer_reader.h>
#include <grpc/grpc.h>
#include <grpc/grpc_security.h>
#include <grpc/support/alloc.h>
#include <grpc/support/time.h>

#include "kms_v1beta1.pb-c.h"
#include "kms_v2.pb-c.h"

#include "adapters/kmsgrpc.h"
#include "util/xalloc.h"

#include "util/banned.h"

#define REPLY_MAX (1024 * 1024) /* a DEK/seed ciphertext is tiny; refuse anything huge */

struct kmsclient {
    char *endpoint;
    enum kmsclient_api api;
    int64_t timeout_ms;
    grpc_channel *channel;
};

/* ---- the unary call ---- */

/* Performs one unary call of method with the packed request; the packed reply goes to ret. */
static enum rkc_err unary(struct kmsclient *c, const char *method, const uint8_t *req,
                          size_t req_len, struct strbuf *ret, struct rkc_error *err)
{
    grpc_completion_queue *cq = grpc_completion_queue_create_for_pluck(NULL);
    gpr_timespec deadline = gpr_time_add(gpr_now(GPR_CLOCK_REALTIME),
                                         gpr_time_from_millis(c->timeout_ms, GPR_TIMESPAN));
    grpc_slice mslice = grpc_slice_from_copied_string(method);
    grpc_call *call;
    grpc_slice body = grpc_slice_from_copied_buffer((const char *)req, req_len);
    grpc_byte_buffer *send = grpc_raw_byte_buffer_create(&body, 1);
    grpc_byte_buffer *recv = NULL;
    grpc_metadata_array init_md, trail_md;
    grpc_status_code status = GRPC_STATUS_UNKNOWN;
    grpc_slice details = grpc_empty_slice();
    const char *error_string = NULL;
    grpc_op ops[6];
    grpc_event ev;
    enum rkc_err rc = RKC_OK;
    int tag;

    grpc_slice_unref(body);
    grpc_metadata_array_init(&init_md);
    grpc_metadata_array_init(&trail_md);
    call = grpc_channel_create_call(c->channel, NULL, GRPC_PROPAGATE_DEFAULTS, cq, mslice, NULL,
                                    deadline, NULL);
    memset(ops, 0, sizeof(ops));
    ops[0].op = GRPC_OP_SEND_INITIAL_METADATA;
    ops[1].op = GRPC_OP_SEND_MESSAGE;
    ops[1].data.send_message.send_message = send;
    ops[2].op = GRPC_OP_SEND_CLOSE_FROM_CLIENT;
    ops[3].op = GRPC_OP_RECV_INITIAL_METADATA;
    ops[3].data.recv_initial_metadata.recv_initial_metadata = &init_md;
    ops[4].op = GRPC_OP_RECV_MESSAGE;
    ops[4].data.recv_message.recv_message = &recv;
    ops[5].op = GRPC_OP_RECV_STATUS_ON_CLIENT;
    ops[5].data.recv_status_on_client.trailing_metadata = &trail_md;
    ops[5].data.recv_status_on_client.status = &status;
    ops[5].data.recv_status_on_client.status_details = &details;
    ops[5].data.recv_status_on_client.error_string = &error_string;
    if (grpc_call_start_batch(call, ops, 6, &tag, NULL) != GRPC_CALL_OK) {
        rc = rkc_error_set(err, RKC_EINTERNAL, "%s: cannot start the gRPC call", method);
        goto out_call;
    }
    ev = grpc_completion_queue_pluck(cq, &tag, gpr_inf_future(GPR_CLOCK_REALTIME), NULL);
    if (ev.type != GRPC_OP_COMPLETE || !ev.success) {
        rc = rkc_error_set(err, RKC_EIO, "%s: gRPC call did not complete", method);
        goto out_call;
    }
    if (status != GRPC_STATUS_OK) {
        char *desc = grpc_slice_to_c_string(details);

        rc =
            rkc_error_set(err, status == GRPC_STATUS_DEADLINE_EXCEEDED ? RKC_ETIMEOUT : RKC_EIO,
                          "%s: rpc error: code = %s desc = %s%s", method, kmsgrpc_code_name(status),
                          desc, status == GRPC_STATUS_DEADLINE_EXCEEDED ? " (timeout)" : "");
        gpr_free(desc);
        goto out_call;
    }
    if (!recv) {
        rc = rkc_error_set(err, RKC_ECRYPTO, "%s: the plugin sent no reply message", method);
        goto out_call;
    }
    {
        grpc_byte_buffer_reader reader;
        grpc_slice all;

        if (!grpc_byte_buffer_reader_init(&reader, recv)) {
            rc = rkc_error_set(err, RKC_ECRYPTO, "%s: unreadable reply message", method);
            goto out_call;
        }
        all = grpc_byte_buffer_reader_readall(&reader);
        grpc_byte_buffer_reader_destroy(&reader);
        if (GRPC_SLICE_LENGTH(all) > REPLY_MAX)
            rc = rkc_error_set(err, RKC_ELIMIT, "%s: reply of %zu bytes is too large", method,
                               (size_t)GRPC_SLICE_LENGTH(all));
        else
            strbuf_add(ret, GRPC_SLICE_START_PTR(all), GRPC_SLICE_LENGTH(all));
        grpc_slice_unref(all);
    }
out_call:
    if (error_string)
        gpr_free((void *)(uintptr_t)error_string);
    grpc_slice_unref(details);
    grpc_metadata_array_destroy(&init_md);
    grpc_metadata_array_destroy(&trail_md);
    if (recv)
        grpc_byte_buffer_destroy(recv);
    grpc_byte_buffer_destroy(send);
    grpc_call_unref(call);
    grpc_slice_unref(mslice);
    grpc_completion_queue_shutdown(cq);
    grpc_completion_queue_destroy(cq);
    return rc;
}

static enum rkc_err call_failed(struct kmsclient *c, enum rkc_err rc, struct rkc_error *err)
{
    rkc_error_prefix(err, "kms plugin \"%s\": ", c->endpoint);
    return rc;
}

/* A fresh request UID (v2): 16 random bytes as hex with dashes like a UUID v4. */
static void make_uid(char out[37])
{
    uint8_t b[16];
    size_t i, o = 0;

    if (getrandom(b, sizeof(b), 0) != (ssize_t)sizeof(b))
        memset(b, 0, sizeof(b));
    b[6] = (uint8_t)((b[6] & 0x0f) | 0x40);
    b[8] = (uint8_t)((b[8] & 0x3f) | 0x80);
    for (i = 0; i < 16; i++) {
        if (i == 4 || i == 6 || i == 8 || i == 10)
            out[o++] = '-';
        snprintf(out + o, 3, "%02x", b[i]);
        o += 2;
    }
    out[o] = '\0';
}

/* ---- v1beta1 ---- */

static enum rkc_err v1_encrypt(struct kmsclient *c, const uint8_t *pt, size_t len,
                               struct strbuf *ret_ct, struct rkc_error *err)
{
    V1beta1__EncryptRequest req = V1BETA1__ENCRYPT_REQUEST__INIT;
    V1beta1__EncryptResponse *resp;
    struct strbuf packed = STRBUF_INIT, reply = STRBUF_INIT;
    enum rkc_err rc;

    req.version = (char *)(uintptr_t) "v1beta1";
    req.plain.data = (uint8_t *)(uintptr_t)pt;
    req.plain.len = len;
    strbuf_grow(&packed, v1beta1__encrypt_request__get_packed_size(&req));
    strbuf_setlen(&packed, v1beta1__encrypt_request__pack(&req, (uint8_t *)packed.buf));
    rc = unary(c, "/v1beta1.KeyManagementService/Encrypt", (const uint8_t *)packed.buf, packed.len,
               &reply, err);
    strbuf_release_wipe(&packed);
    if (rc)
        goto out;
    resp = v1beta1__encrypt_response__unpack(NULL, reply.len, (const uint8_t *)reply.buf);
    if (!resp) {
        rc = rkc_error_set(err, RKC_ECRYPTO, "Encrypt: malformed EncryptResponse");
        goto out;
    }
    if (!resp->cipher.len)
        rc = rkc_error_set(err, RKC_ECRYPTO, "Encrypt: the plugin returned an empty cipher");
    else
        strbuf_add(ret_ct, resp->cipher.data, resp->cipher.len);
    v1beta1__encrypt_response__free_unpacked(resp, NULL);
out:
    strbuf_release(&reply);
    return rc;
}

static enum rkc_err v1_decrypt(struct kmsclient *c, const uint8_t *ct, size_t len,
                               struct strbuf *ret_pt, struct rkc_error *err)
{
    V1beta1__DecryptRequest req = V1BETA1__DECRYPT_REQUEST__INIT;
    V1beta1__DecryptResponse *resp;
    struct strbuf packed = STRBUF_INIT, reply = STRBUF_INIT;
    enum rkc_err rc;

    req.version = (char *)(uintptr_t) "v1beta1";
    req.cipher.data = (uint8_t *)(uintptr_t)ct;
    req.cipher.len = len;
    strbuf_grow(&packed, v1beta1__decrypt_request__get_packed_size(&req));
    strbuf_setlen(&packed, v1beta1__decrypt_request__pack(&req, (uint8_t *)packed.buf));
    rc = unary(c, "/v1beta1.KeyManagementService/Decrypt", (const uint8_t *)packed.buf, packed.len,
               &reply, err);
    strbuf_release(&packed);
    if (rc)
        goto out;
    resp = v1beta1__decrypt_response__unpack(NULL, reply.len, (const uint8_t *)reply.buf);
    if (!resp) {
        rc = rkc_error_set(err, RKC_ECRYPTO, "Decrypt: malformed DecryptResponse");
        goto out;
    }
    strbuf_add(ret_pt, resp->plain.data, resp->plain.len);
    if (resp->plain.data)
        rkc_wipe(resp->plain.data, resp->plain.len);
    v1beta1__decrypt_response__free_unpacked(resp, NULL);
out:
    strbuf_release_wipe(&reply);
    return rc;
}

enum rkc_err kmsclient_version(struct kmsclient *c, struct strbuf *ret_name,
                               struct strbuf *ret_version, struct rkc_error *err)
{
    V1beta1__VersionRequest req = V1BETA1__VERSION_REQUEST__INIT;
    V1beta1__VersionResponse *resp;
    struct strbuf packed = STRBUF_INIT, reply = STRBUF_INIT;
    enum rkc_err rc;

    req.version = (char *)(uintptr_t) "v1beta1";
    strbuf_grow(&packed, v1beta1__version_request__get_packed_size(&req));
    strbuf_setlen(&packed, v1beta1__version_request__pack(&req, (uint8_t *)packed.buf));
    rc = unary(c, "/v1beta1.KeyManagementService/Version", (const uint8_t *)packed.buf, packed.len,
               &reply, err);
    strbuf_release(&packed);
    if (rc)
        goto out;
    resp = v1beta1__version_response__unpack(NULL, reply.len, (const uint8_t *)reply.buf);
    if (!resp) {
        rc = rkc_error_set(err, RKC_ECRYPTO, "Version: malformed VersionResponse");
        goto out;
    }
    if (strcmp(resp->version, "v1beta1") != 0)
        rc = rkc_error_set(err, RKC_ECRYPTO,
                           "Version: KMS provider api version \"%.64s\" is not supported, only "
                           "v1beta1 is supported now",
                           resp->version);
    if (!rc && ret_name)
        strbuf_addstr(ret_name, resp->runtime_name);
    if (!rc && ret_version)
        strbuf_addstr(ret_version, resp->runtime_version);
    v1beta1__version_response__free_unpacked(resp, NULL);
out:
    strbuf_release(&reply);
    if (rc)
        return call_failed(c, rc, err);
    return RKC_OK;
}

/* ---- v2 ---- */

static enum rkc_err v2_status(struct kmsclient *c, struct strbuf *ret_key_id, struct rkc_error *err)
{
    V2__StatusRequest req = V2__STATUS_REQUEST__INIT;
    V2__StatusResponse *resp;
    struct strbuf packed = STRBUF_INIT, reply = STRBUF_INIT;
    enum rkc_err rc;

    strbuf_grow(&packed, v2__status_request__get_packed_size(&req) + 1);
    strbuf_setlen(&packed, v2__status_request__pack(&req, (uint8_t *)packed.buf));
    rc = unary(c, "/v2.KeyManagementService/Status", (const uint8_t *)packed.buf, packed.len,
               &reply, err);
    strbuf_release(&packed);
    if (rc)
        goto out;
    resp = v2__status_response__unpack(NULL, reply.len, (const uint8_t *)reply.buf);
    if (!resp) {
        rc = rkc_error_set(err, RKC_ECRYPTO, "Status: malformed StatusResponse");
        goto out;
    }
    if (strcmp(resp->healthz, "ok") != 0)
        rc = rkc_error_set(err, RKC_EIO, "Status: got unexpected healthz status: %.200s",
                           resp->healthz);
    else if (strcmp(resp->version, "v2") != 0 && strcmp(resp->version, "v2beta1") != 0)
        rc = rkc_error_set(err, RKC_ECRYPTO,
                           "Status: got unexpected plugin API version %.64s, expected v2",
                           resp->version);
    else if (!resp->key_id[0])
        rc = rkc_error_set(err, RKC_ECRYPTO, "Status: the plugin returned an empty key id");
    else if (ret_key_id)
        strbuf_addstr(ret_key_id, resp->key_id);
    v2__status_response__free_unpacked(resp, NULL);
out:
    strbuf_release(&reply);
    return rc;
}

static enum rkc_err v2_encrypt(struct kmsclient *c, const uint8_t *pt, size_t len,
                               struct strbuf *ret_ct, struct strbuf *ret_key_id,
                               struct strbuf *ret_ann, struct rkc_error *err)
{
    V2__EncryptRequest req = V2__ENCRYPT_REQUEST__INIT;
    V2__EncryptResponse *resp;
    struct strbuf packed = STRBUF_INIT, reply = STRBUF_INIT;
    char uid[37];
    enum rkc_err rc;
    size_t i;

    make_uid(uid);
    req.plaintext.data = (uint8_t *)(uintptr_t)pt;
    req.plaintext.len = len;
    req.uid = uid;
    strbuf_grow(&packed, v2__encrypt_request__get_packed_size(&req));
    strbuf_setlen(&packed, v2__encrypt_request__pack(&req, (uint8_t *)packed.buf));
    rc = unary(c, "/v2.KeyManagementService/Encrypt", (const uint8_t *)packed.buf, packed.len,
               &reply, err);
    strbuf_release_wipe(&packed);
    if (rc)
        goto out;
    resp = v2__encrypt_response__unpack(NULL, reply.len, (const uint8_t *)reply.buf);
    if (!resp) {
        rc = rkc_error_set(err, RKC_ECRYPTO, "Encrypt: malformed EncryptResponse");
        goto out;
    }
    strbuf_add(ret_ct, resp->ciphertext.data, resp->ciphertext.len);
    strbuf_addstr(ret_key_id, resp->key_id);
    for (i = 0; i < resp->n_annotations; i++)
        xf_kms_annotation_add(ret_ann, resp->annotations[i]->key, resp->annotations[i]->value.data,
                              resp->annotations[i]->value.len);
    v2__encrypt_response__free_unpacked(resp, NULL);
out:
    strbuf_release(&reply);
    return rc;
}

static enum rkc_err v2_decrypt(struct kmsclient *c, const uint8_t *ct, size_t len,
                               const char *key_id, const uint8_t *ann, size_t ann_len,
                               struct strbuf *ret_pt, struct rkc_error *err)
{
    V2__DecryptRequest req = V2__DECRYPT_REQUEST__INIT;
    V2__DecryptResponse *resp;
    struct kmsgrpc_annotations a;
    struct strbuf packed = STRBUF_INIT, reply = STRBUF_INIT;
    char uid[37];
    enum rkc_err rc;

    rc = kmsgrpc_annotations_parse(ann, ann_len, &a, err);
    if (rc)
        return rc;
    make_uid(uid);
    req.ciphertext.data = (uint8_t *)(uintptr_t)ct;
    req.ciphertext.len = len;
    req.uid = uid;
    req.key_id = (char *)(uintptr_t)(key_id ? key_id : "");
    req.n_annotations = a.n;
    req.annotations = (V2__DecryptRequest__AnnotationsEntry **)a.entries;
    strbuf_grow(&packed, v2__decrypt_request__get_packed_size(&req));
    strbuf_setlen(&packed, v2__decrypt_request__pack(&req, (uint8_t *)packed.buf));
    kmsgrpc_annotations_release(&a);
    rc = unary(c, "/v2.KeyManagementService/Decrypt", (const uint8_t *)packed.buf, packed.len,
               &reply, err);
    strbuf_release(&packed);
    if (rc)
        goto out;
    resp = v2__decrypt_response__unpack(NULL, reply.len, (const uint8_t *)reply.buf);
    if (!resp) {
        rc = rkc_error_set(err, RKC_ECRYPTO, "Decrypt: malformed DecryptResponse");
        goto out;
    }
    strbuf_add(ret_pt, resp->plaintext.data, resp->plaintext.len);
    if (resp->plaintext.data)
        rkc_wipe(resp->plaintext.data, resp->plaintext.len);
    v2__decrypt_response__free_unpacked(resp, NULL);
out:
    strbuf_release_wipe(&reply);
    return rc;
}

/* ---- the struct kms_plugin vtable ---- */

static enum rkc_err plugin_encrypt(void *ctx, const uint8_t *pt, size_t len, struct strbuf *ret_ct,
                                   struct strbuf *ret_key_id, struct strbuf *ret_annotations,
                                   struct rkc_error *err)
{
    struct kmsclient *c = ctx;
    enum rkc_err rc;

    if (c->api == KMSCLIENT_V1)
        rc = v1_encrypt(c, pt, len, ret_ct, err);
    else
        rc = v2_encrypt(c, pt, len, ret_ct, ret_key_id, ret_annotations, err);
    return rc ? call_failed(c, rc, err) : RKC_OK;
}

static enum rkc_err plugin_decrypt(void *ctx, const uint8_t *ct, size_t len, const char *key_id,
                                   const uint8_t *annotations, size_t annotations_len,
                                   struct strbuf *ret_pt, struct rkc_error *err)
{
    struct kmsclient *c = ctx;
    enum rkc_err rc;

    if (c->api == KMSCLIENT_V1)
        rc = v1_decrypt(c, ct, len, ret_pt, err);
    else
        rc = v2_decrypt(c, ct, len, key_id, annotations, annotations_len, ret_pt, err);
    return rc ? call_failed(c, rc, err) : RKC_OK;
}

static enum rkc_err plugin_status(void *ctx, struct strbuf *ret_key_id, struct rkc_error *err)
{
    struct kmsclient *c = ctx;
    enum rkc_err rc;

    if (c->api == KMSCLIENT_V1)
        return kmsclient_version(c, NULL, NULL, err);
    rc = v2_status(c, ret_key_id, err);
    return rc ? call_failed(c, rc, err) : RKC_OK;
}

void kmsclient_plugin(struct kmsclient *c, struct kms_plugin *out)
{
    memset(out, 0, sizeof(*out));
    out->encrypt = plugin_encrypt;
    out->decrypt = plugin_decrypt;
    out->status = plugin_status;
    out->ctx = c;
}

enum rkc_err kmsclient_health(struct kmsclient *c, struct strbuf *ret_key_id, struct rkc_error *err)
{
    struct strbuf ct = STRBUF_INIT, pt = STRBUF_INIT;
    enum rkc_err rc;

    if (c->api == KMSCLIENT_V2)
        return plugin_status(c, ret_key_id, err);
    rc = kmsclient_version(c, NULL, NULL, err);
    if (!rc)
        rc = plugin_encrypt(c, (const uint8_t *)"ping", 4, &ct, NULL, NULL, err);
    if (!rc)
        rc = plugin_decrypt(c, (const uint8_t *)ct.buf, ct.len, NULL, NULL, 0, &pt, err);
    if (!rc && (pt.len != 4 || memcmp(pt.buf, "ping", 4) != 0))
        rc = rkc_error_set(err, RKC_ECRYPTO,
                           "kms plugin \"%s\": Decrypt(Encrypt(\"ping\")) did not give \"ping\"",
                           c->endpoint);
    strbuf_release(&ct);
    strbuf_release(&pt);
    return rc;
}

/* ---- lifecycle ---- */

static pthread_once_t grpc_once = PTHREAD_ONCE_INIT;

static void grpc_start(void)
{
    /* gRPC's state lives for the process: clients come and go with config reloads. */
    grpc_init();
}

static void int_arg(grpc_arg *a, const char *key, int value)
{
    memset(a, 0, sizeof(*a));
    a->type = GRPC_ARG_INTEGER;
    a->key = (char *)(uintptr_t)key;
    a->value.integer = value;
}

enum rkc_err kmsclient_new(const char *endpoint, enum kmsclient_api api, int64_t timeout_ms,
                           struct kmsclient **ret, struct rkc_error *err)
{
    struct kmsclient *c;
    grpc_channel_credentials *creds;
    grpc_arg args[4];
    grpc_channel_args cargs;

    if (!endpoint || strncmp(endpoint, "unix://", 7) != 0 || !endpoint[7])
        return rkc_error_set(err, RKC_EINVAL,
                             "kms endpoint \"%s\": only unix:///path endpoints are supported",
                             endpoint ? endpoint : "");
    if (timeout_ms <= 0)
        return rkc_error_set(err, RKC_EINVAL, "kms endpoint \"%s\": timeout must be positive",
                             endpoint);
    pthread_once(&grpc_once, grpc_start);
    c = xcalloc(1, sizeof(*c));
    c->endpoint = xstrdup(endpoint);
    c->api = api;
    c->timeout_ms = timeout_ms;
    /* a restarted plugin is found again within a second, not after gRPC's default 2 min */
    int_arg(&args[0], GRPC_ARG_INITIAL_RECONNECT_BACKOFF_MS, 100);
    int_arg(&args[1], GRPC_ARG_MIN_RECONNECT_BACKOFF_MS, 100);
    int_arg(&args[2], GRPC_ARG_MAX_RECONNECT_BACKOFF_MS, 1000);
    int_arg(&args[3], GRPC_ARG_MAX_RECEIVE_MESSAGE_LENGTH, REPLY_MAX);
    cargs.num_args = 4;
    cargs.args = args;
    creds = grpc_insecure_credentials_create();
    c->channel = grpc_channel_create(endpoint, creds, &cargs);
    grpc_channel_credentials_release(creds);
    *ret = c;
    return RKC_OK;
}

void kmsclient_free(struct kmsclient *c)
{
    if (!c)
        return;
    grpc_channel_destroy(c->channel);
    free(c->endpoint);
    free(c);
}

/* ---- factory and registry ---- */

struct open_client {
    struct kmsclient *c;
    char *name;
    uint64_t seq;
};

struct kmsclient_factory {
    struct kms_plugin_factory vt;
    pthread_mutex_t lock;
    struct open_client *v;
    size_t nr, alloc;
    uint64_t seq;
};

static enum rkc_err factory_open(void *ctx, const struct encconfig_kms *kms, struct kms_plugin *ret,
                                 struct rkc_error *err)
{
    struct kmsclient_factory *f = ctx;
    struct kmsclient *c = NULL;
    int64_t ms = kms->timeout_ns / 1000000;
    enum rkc_err rc;

    rc = kmsclient_new(kms->endpoint, strcmp(kms->api_version, "v2") ? KMSCLIENT_V1 : KMSCLIENT_V2,
                       ms > 0 ? ms : 1, &c, err);
    if (rc)
        return rc;
    kmsclient_plugin(c, ret);
    pthread_mutex_lock(&f->lock);
    ALLOC_GROW(f->v, f->nr + 1, f->alloc);
    f->v[f->nr].c = c;
    f->v[f->nr].name = xstrdup(kms->name);
    f->v[f->nr].seq = ++f->seq;
    f->nr++;
    pthread_mutex_unlock(&f->lock);
    return RKC_OK;
}

static void factory_close(void *ctx, struct kms_plugin *plugin)
{
    struct kmsclient_factory *f = ctx;
    struct kmsclient *c = plugin->ctx;
    size_t i;

    pthread_mutex_lock(&f->lock);
    for (i = 0; i < f->nr; i++) {
        if (f->v[i].c == c) {
            free(f->v[i].name);
            memmove(&f->v[i], &f->v[i + 1], (f->nr - i - 1) * sizeof(f->v[0]));
            f->nr--;
            break;
        }
    }
    pthread_mutex_unlock(&f->lock);
    kmsclient_free(c);
}

struct kmsclient_factory *kmsclient_factory_new(void)
{
    struct kmsclient_factory *f = xcalloc(1, sizeof(*f));

    pthread_mutex_init(&f->lock, NULL);
    f->vt.open = factory_open;
    f->vt.close = factory_close;
    f->vt.ctx = f;
    return f;
}

void kmsclient_factory_free(struct kmsclient_factory *f)
{
    size_t i;

    if (!f)
        return;
    for (i = 0; i < f->nr; i++) {
        kmsclient_free(f->v[i].c);
        free(f->v[i].name);
    }
    free(f->v);
    pthread_mutex_destroy(&f->lock);
    free(f);
}

const struct kms_plugin_factory *kmsclient_factory_get(struct kmsclient_factory *f)
{
    return &f->vt;
}

/* Indexes of the newest client of each name, in order of first appearance. */
static size_t newest_per_name(const struct kmsclient_factory *f, size_t *idx)
{
    size_t i, j, n = 0;

    for (i = 0; i < f->nr; i++) {
        for (j = 0; j < n; j++)
            if (!strcmp(f->v[idx[j]].name, f->v[i].name))
                break;
        if (j == n)
            idx[n++] = i;
        else if (f->v[i].seq > f->v[idx[j]].seq)
            idx[j] = i;
    }
    return n;
}

size_t kmsclient_factory_count(struct kmsclient_factory *f)
{
    size_t n, *idx;

    pthread_mutex_lock(&f->lock);
    idx = xcalloc(f->nr + 1, sizeof(*idx));
    n = newest_per_name(f, idx);
    free(idx);
    pthread_mutex_unlock(&f->lock);
    return n;
}

size_t kmsclient_factory_health(struct kmsclient_factory *f, struct strbuf *out)
{
    size_t i, n, failed = 0, *idx;

    /* the lock is held across the calls so no client is closed under them; calls are bounded
     * by their timeouts */
    pthread_mutex_lock(&f->lock);
    idx = xcalloc(f->nr + 1, sizeof(*idx));
    n = newest_per_name(f, idx);
    for (i = 0; i < n; i++) {
        const struct open_client *oc = &f->v[idx[i]];
        struct strbuf kid = STRBUF_INIT;
        struct rkc_error err;

        rkc_error_init(&err);
        if (kmsclient_health(oc->c, &kid, &err)) {
            failed++;
            strbuf_addf(out, "[-]kms-provider-%zu failed: %s\n", i, err.msg);
        } else if (oc->c->api == KMSCLIENT_V2) {
            strbuf_addf(out, "[+]kms-provider-%zu ok (name \"%s\", v2, key id \"%.64s\")\n", i,
                        oc->name, kid.buf);
        } else {
            strbuf_addf(out, "[+]kms-provider-%zu ok (name \"%s\", v1)\n", i, oc->name);
        }
        strbuf_release(&kid);
    }
    free(idx);
    pthread_mutex_unlock(&f->lock);
    return failed;
}
