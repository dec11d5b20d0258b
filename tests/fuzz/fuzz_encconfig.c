/* SPDX-License-Identifier: Apache-2.0 */
/*
 * fuzz_encconfig: EncryptionConfiguration parse -> validate -> emit -> parse again. Whatever
 * the input, nothing may crash or leak, a config that emits must read back equal to itself,
 * its canonical form must be a fixed point, and no diagnostic may quote a key's secret.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "crypto/encconfig.h"
#include "util/strbuf.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct encconfig *cfg = NULL, *back = NULL;
    struct encconfig_diag d;
    struct strbuf out = STRBUF_INIT, out2 = STRBUF_INIT, msgs = STRBUF_INIT;
    struct rkc_error err;
    size_t i;

    if (size > 65536)
        return 0;
    encconfig_diag_init(&d);
    if (encconfig_parse("fuzz.yaml", (const char *)data, size, &cfg, &d, &err) == RKC_OK) {
        encconfig_validate(cfg, size & 1, &d, &err);
        if (encconfig_emit(cfg, &out, &err) == RKC_OK) {
            if (encconfig_parse("emit.yaml", out.buf, out.len, &back, NULL, &err) != RKC_OK)
                abort();
            if (!encconfig_equal(cfg, back))
                abort();
            if (encconfig_emit(back, &out2, &err) != RKC_OK || out.len != out2.len ||
                memcmp(out.buf, out2.buf, out.len) != 0)
                abort();
        }
        /* no diagnostic quotes a decoded secret of 8 bytes or more */
        encconfig_diag_format(&d, 3, &msgs);
        for (i = 0; i < cfg->nresources; i++) {
            size_t j, k;

            for (j = 0; j < cfg->resources[i].nproviders; j++) {
                const struct encconfig_provider *p = &cfg->resources[i].providers[j];

                for (k = 0; k < p->nkeys; k++) {
                    if (p->keys[k].secret_len >= 8 &&
                        memmem(msgs.buf, msgs.len, p->keys[k].secret, p->keys[k].secret_len))
                        abort();
                }
            }
        }
    }
    encconfig_free(cfg);
    encconfig_free(back);
    encconfig_diag_release(&d);
    strbuf_release_wipe(&out);
    strbuf_release_wipe(&out2);
    strbuf_release(&msgs);
    return 0;
}
