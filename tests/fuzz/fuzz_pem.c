/* SPDX-License-Identifier: Apache-2.0 */
/*
 * libFuzzer target: PEM certificate and private key parsing (pki_cert_info, pki_key_check),
 * the untrusted-input side of core/pki (state files, user-provided certificates).
 */
#include <stddef.h>
#include <stdint.h>

#include "core/pki.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *pem = (const char *)data;
    struct pki_cert_info info;
    struct rkc_error err;

    if (pki_cert_info(pem, size, &info, &err) == RKC_OK) {
        size_t i, total = 0;

        /* touch every field so sanitizers see any bad string */
        for (i = 0; i < info.ndns; i++)
            total += info.dns_names[i][0] != '\0';
        for (i = 0; i < info.nips; i++)
            total += info.ips[i][0] != '\0';
        total += info.common_name[0] + info.org[0] + info.issuer_cn[0];
        (void)total;
        pki_cert_info_release(&info);
    }
    /* the same bytes as a key, and as a key+certificate pair */
    (void)pki_key_check(pem, size, NULL, 0, &err);
    (void)pki_key_check(pem, size, pem, size, &err);
    return 0;
}
