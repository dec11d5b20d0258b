/* SPDX-License-Identifier: Apache-2.0 */
/* keygen: managed keys and key names from getrandom(2). */
#include "crypto/keygen.h"

#include <errno.h>
#include <string.h>
#include <sys/random.h>

#include <openssl/sha.h>

#include "util/xalloc.h"

#include "util/banned.h"

enum rkc_err keygen_random(void *out, size_t n, struct rkc_error *err)
{
    uint8_t *p = out;
    size_t done = 0;

    while (done < n) {
        ssize_t r = getrandom(p + done, n - done, 0);

        if (r < 0) {
            int e = errno;

            if (e == EINTR)
                continue;
            rkc_wipe(out, n);
            return rkc_error_set(err, RKC_ECRYPTO, "getrandom: %s", strerror(e));
        }
        done += (size_t)r;
    }
    return RKC_OK;
}

enum rkc_err keygen_aes_key(uint8_t out[KEYGEN_AES_KEY_LEN], struct rkc_error *err)
{
    return keygen_random(out, KEYGEN_AES_KEY_LEN, err);
}

static bool name_in_use(const char *name, const char *const *names, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (names[i] && !strcmp(names[i], name))
            return true;
    return false;
}

enum rkc_err keygen_key_name(char out[KEYGEN_KEY_NAME_SIZE], const char *const *names_in_use,
                             size_t n, struct rkc_error *err)
{
    static const char alphabet[] = "abcdefghijklmnopqrstuvwxyz0123456789";
    /* 36 * 7 = 252: bytes >= 252 are rejected so every character is uniform */
    const unsigned limit = 252;

    for (int attempt = 0; attempt < 1000; attempt++) {
        char name[KEYGEN_KEY_NAME_SIZE] = "k-";
        size_t have = 2;

        while (have < 7) {
            uint8_t rnd[16];
            enum rkc_err rc = keygen_random(rnd, sizeof(rnd), err);

            if (rc)
                return rc;
            for (size_t i = 0; i < sizeof(rnd) && have < 7; i++)
                if (rnd[i] < limit)
                    name[have++] = alphabet[rnd[i] % 36];
        }
        name[7] = '\0';
        if (!name_in_use(name, names_in_use, n)) {
            memcpy(out, name, KEYGEN_KEY_NAME_SIZE);
            return RKC_OK;
        }
    }
    return rkc_error_set(err, RKC_ELIMIT, "cannot find an unused key name");
}

void keygen_fingerprint(const void *secret, size_t len, char out[KEYGEN_FINGERPRINT_SIZE])
{
    static const char hex[] = "0123456789abcdef";
    uint8_t md[SHA256_DIGEST_LENGTH];

    SHA256(secret, len, md);
    for (size_t i = 0; i < 8; i++) {
        out[2 * i] = hex[md[i] >> 4];
        out[2 * i + 1] = hex[md[i] & 15];
    }
    out[16] = '\0';
    rkc_wipe(md, sizeof(md));
}
