/* SPDX-License-Identifier: Apache-2.0 */
/*
 * fuzz_apiserver_kproto: kubectl's protobuf request bodies (apiserver/kproto) and, for inputs
 * that decode, the JSON they turn into must round-trip through the JSON parser.
 */
#include <stddef.h>
#include <stdint.h>

#include "adapters/jval.h"
#include "apiserver/kproto.h"
#include "util/strbuf.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct jval *obj = NULL, *again = NULL;
    struct strbuf sb = STRBUF_INIT;

    if (kproto_decode(data, size, &obj, NULL) == RKC_OK) {
        jval_dump(obj, JVAL_COMPACT, &sb);
        if (jval_parse("fuzz", sb.buf, sb.len, &again, NULL) != RKC_OK || !jval_equal(obj, again))
            __builtin_trap();
        jval_decref(again);
        jval_decref(obj);
    }
    strbuf_release(&sb);
    return 0;
}
