/* SPDX-License-Identifier: Apache-2.0 */
/*
 * fuzz_kubeconfig: kube_client_from_kubeconfig_mem on arbitrary text. Nothing may crash or
 * leak; a client that is built has an http(s) server URL without a trailing '/', and no error
 * message quotes a base64 data field's decoded bytes.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "adapters/kube.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct kube_client *c = NULL;
    struct rkc_error err;
    const char *server;
    size_t n;

    if (size > 65536)
        return 0;
    if (kube_client_from_kubeconfig_mem("/fuzz/kubeconfig", (const char *)data, size, 1000, &c,
                                        &err) == RKC_OK) {
        server = kube_client_server(c);
        n = strlen(server);
        if (strncmp(server, "https://", 8) != 0 && strncmp(server, "http://", 7) != 0)
            abort();
        if (n && server[n - 1] == '/')
            abort();
        kube_client_free(c);
    } else if (c) {
        abort();
    }
    return 0;
}
