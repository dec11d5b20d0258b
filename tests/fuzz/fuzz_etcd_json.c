/* SPDX-License-Identifier: Apache-2.0 */
/*
 * fuzz_etcd_json: the etcd JSON-gateway answers parsed by adapters/etcd.c — range answers
 * (kvs with base64 keys and values, int64 as strings) and the line-framed watch stream fed in
 * arbitrary chunks. Includes etcd.c to reach its static parsers (allowed sparingly by STYLE).
 */
#include "../../src/adapters/etcd.c"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static bool count_event(void *ctx, const struct etcd_event *ev)
{
    size_t *n = ctx;

    (*n)++;
    return ev->kv.key_len < 4096 || ev->type == ETCD_EVENT_DELETE;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct watch_state ws;
    struct etcd_kvs kvs = { 0 };
    struct jval *j = NULL;
    enum rkc_err rc = RKC_OK;
    size_t events = 0, off = 0, chunk;

    if (size < 1)
        return 0;
    /* range answer */
    if (jval_parse("fuzz", (const char *)data + 1, size - 1, &j, NULL) == RKC_OK) {
        append_kvs(jval_get(j, "kvs"), &kvs, NULL, &rc);
        (void)header_revision(j);
        jval_decref(j);
        etcd_kvs_release(&kvs);
    }
    /* watch stream, in chunks of 1..256 bytes chosen by the first byte */
    memset(&ws, 0, sizeof(ws));
    strbuf_init(&ws.line, 0);
    ws.line.max = 1 << 20;
    ws.fn = count_event;
    ws.ctx = &events;
    chunk = (size_t)data[0] + 1;
    for (off = 1; off < size; off += chunk) {
        size_t n = size - off < chunk ? size - off : chunk;
        char *copy = xmemdup(data + off, n);

        if (watch_write(copy, 1, n, &ws) != n) {
            free(copy);
            break;
        }
        free(copy);
    }
    strbuf_release(&ws.line);
    return 0;
}
