/* SPDX-License-Identifier: Apache-2.0 */
/*
 * fuzz_stored_value: feeds arbitrary bytes, as if read from etcd, to xf_chain_read over a
 * fixed chain holding every provider kind (KMS through the Base64 mock plugin). Any crash,
 * over-read or leak is a bug; read errors are expected. A successful read is re-encrypted
 * and read back to check the round trip.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "crypto/kms_mock.h"
#include "crypto/transformer.h"

#define FUZZ_ETCD_KEY "/registry/secrets/default/secret1"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct xf_chain *chain;
static struct kms_mock *mock1, *mock2;

static struct xf_provider *keyed(enum xf_kind kind, const char *n1, const char *n2, size_t len)
{
    static const uint8_t k1[32] = "0123456789abcdef0123456789abcdef";
    static const uint8_t k2[32] = "fedcba9876543210fedcba9876543210";
    struct xf_key keys[2] = { { n1, k1, len }, { n2, k2, len } };
    struct xf_provider *p = NULL;

    if (xf_keyed_new(kind, keys, n2 ? 2 : 1, &p, NULL))
        abort();
    return p;
}

static void build(void)
{
    struct kms_plugin plug;
    struct xf_provider *p = NULL;

    chain = xf_chain_new();
    xf_chain_add_take(chain, keyed(XF_AESCBC, "k1", "k2", 32));
    xf_chain_add_take(chain, keyed(XF_AESCBC, "k16", NULL, 16));
    xf_chain_add_take(chain, keyed(XF_AESGCM, "k1", "k2", 32));
    xf_chain_add_take(chain, keyed(XF_SECRETBOX, "k1", NULL, 32));
    mock1 = kms_mock_new("1");
    kms_mock_set_ct_prefix(mock1, "1:");
    kms_mock_plugin(mock1, &plug);
    if (xf_kms_v1_new("kms1", 100, &plug, &p, NULL))
        abort();
    xf_chain_add_take(chain, p);
    mock2 = kms_mock_new("1");
    kms_mock_plugin(mock2, &plug);
    if (xf_kms_v2_new("kms2", &plug, &p, NULL))
        abort();
    xf_chain_add_take(chain, p);
    xf_chain_add_take(chain, xf_identity_new());
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct strbuf pt = STRBUF_INIT, again = STRBUF_INIT, pt2 = STRBUF_INIT;
    struct xf_read_info info;
    struct rkc_error err;

    if (!chain)
        build();
    if (xf_chain_read(chain, FUZZ_ETCD_KEY, data, size, &pt, &info, &err) == RKC_OK) {
        if (info.provider_index >= xf_chain_nproviders(chain))
            abort();
        if (xf_chain_write(chain, FUZZ_ETCD_KEY, (const uint8_t *)pt.buf, pt.len, &again, NULL) ||
            xf_chain_read(chain, FUZZ_ETCD_KEY, (const uint8_t *)again.buf, again.len, &pt2, NULL,
                          NULL) ||
            pt2.len != pt.len || memcmp(pt.buf, pt2.buf, pt.len))
            abort();
    } else if (!err.msg[0] || pt.len) {
        abort();
    }
    strbuf_release(&pt);
    strbuf_release(&again);
    strbuf_release(&pt2);
    return 0;
}
