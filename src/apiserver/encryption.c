/* SPDX-License-Identifier: Apache-2.0 */
/* encryption: placeholder until the encconfig and crypto branches are merged (see header). */
#include "apiserver/encryption.h"

#include "util/banned.h"

enum rkc_err encryption_new(const char *path, bool reload, struct store *store,
                            struct metrics *metrics, struct enc_state **ret, struct rkc_error *err)
{
    (void)reload;
    (void)store;
    (void)metrics;
    (void)ret;
    return rkc_error_set(err, RKC_ECONFIG,
                         "--encryption-provider-config '%s': not supported by this build yet",
                         path);
}

bool encryption_loaded(struct enc_state *st)
{
    return st != NULL;
}

void encryption_free(struct enc_state *st)
{
    (void)st;
}
