/* SPDX-License-Identifier: Apache-2.0 */
/* libFuzzer target: cluster.yml parsing and the JSON form of whatever parses. */
#include <stddef.h>
#include <stdint.h>

#include "core/config.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct cluster_config *cfg = NULL;
    struct rkc_error err;

    if (config_parse("cluster.yml", "/tmp", (const char *)data, size, &cfg, &err) == RKC_OK) {
        struct jval *j = config_to_jval(cfg);

        jval_decref(j);
        config_free(cfg);
    }
    return 0;
}
