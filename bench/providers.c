/* SPDX-License-Identifier: Apache-2.0 */
/*
 * bench_providers: throughput of each encryption provider (through the full transformer chain:
 * prefix, dispatch, pooled contexts, output buffer) beside the raw library primitive doing the
 * same cryptographic work in the same run: OpenSSL EVP for AES-CBC/AES-GCM with the same key
 * size and a fresh RAND_bytes IV/nonce per operation, libsodium crypto_secretbox_easy with a
 * RAND_bytes nonce, and for KMS v2 HKDF-Expand (pre-keyed EVP_MAC HMAC-SHA256) + AES-256-GCM.
 * The raw loops reuse one pre-keyed context and a pre-sized buffer: the fastest honest use of
 * the library. ratio = provider MB/s / raw MB/s.
 *
 * Usage: bench_providers [seconds-per-cell [provider-substring [size]]]   (default 0.25).
 * Time is thread CPU time, and raw/provider slices alternate with medians reported, to damp
 * noise on shared machines.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <sodium.h>

#include "crypto/kms_mock.h"
#include "crypto/transformer.h"
#include "util/strbuf.h"
#include "util/xalloc.h"

#define ETCD_KEY "/registry/secrets/default/bench-secret-0001"

enum which { B_CBC, B_GCM, B_SB, B_KMS2 };

struct cfg {
    const char *name;
    enum which which;
    size_t key_len;
};

static const struct cfg cfgs[] = {
    { "aescbc-128", B_CBC, 16 }, { "aescbc-256", B_CBC, 32 }, { "aesgcm-128", B_GCM, 16 },
    { "aesgcm-256", B_GCM, 32 }, { "secretbox", B_SB, 32 },   { "kms-v2", B_KMS2, 32 },
};
static const size_t sizes[] = { 256, 1024, 16384, 1 << 20 };

static double cell_seconds = 0.25;
static volatile uint8_t sink;

static double now(void)
{
    struct timespec ts;

    /* CPU time of this thread: time spent descheduled on a busy machine does not count */
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void die(const char *what)
{
    fprintf(stderr, "bench_providers: %s failed\n", what);
    exit(1);
}

/* ---- raw primitives ---- */

struct raw {
    enum which which;
    size_t key_len;
    uint8_t key[32];
    EVP_CIPHER_CTX *enc, *dec;
    EVP_MAC_CTX *mac;
    uint8_t *ct, *pt; /* buffers */
    size_t ct_len;    /* length of the sealed message for decrypt runs */
};

static const EVP_CIPHER *cipher(enum which w, size_t key_len)
{
    if (w == B_CBC)
        return key_len == 16 ? EVP_aes_128_cbc() : EVP_aes_256_cbc();
    return key_len == 16 ? EVP_aes_128_gcm() : EVP_aes_256_gcm();
}

static void raw_init(struct raw *r, enum which w, size_t key_len, const uint8_t *key, size_t max)
{
    memset(r, 0, sizeof(*r));
    r->which = w;
    r->key_len = key_len;
    memcpy(r->key, key, key_len);
    r->ct = xmalloc(max + 128);
    r->pt = xmalloc(max + 128);
    if (w == B_SB)
        return;
    r->enc = EVP_CIPHER_CTX_new();
    r->dec = EVP_CIPHER_CTX_new();
    if (EVP_EncryptInit_ex(r->enc, cipher(w, key_len), NULL, w == B_KMS2 ? NULL : key, NULL) != 1 ||
        EVP_DecryptInit_ex(r->dec, cipher(w, key_len), NULL, w == B_KMS2 ? NULL : key, NULL) != 1)
        die("EVP init");
    if (w == B_KMS2) {
        char digest[] = "SHA256";
        OSSL_PARAM params[] = { OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, digest, 0),
                                OSSL_PARAM_construct_end() };
        EVP_MAC *mac = EVP_MAC_fetch(NULL, "HMAC", NULL);

        r->mac = EVP_MAC_CTX_new(mac);
        EVP_MAC_free(mac);
        if (!r->mac || EVP_MAC_init(r->mac, key, 32, params) != 1) /* key = the seed */
            die("EVP_MAC init");
    }
}

static void raw_free(struct raw *r)
{
    EVP_CIPHER_CTX_free(r->enc);
    EVP_CIPHER_CTX_free(r->dec);
    EVP_MAC_CTX_free(r->mac);
    free(r->ct);
    free(r->pt);
}

static void hkdf(struct raw *r, const uint8_t *info, uint8_t dek[32])
{
    static const uint8_t one = 1;
    size_t outl;

    if (EVP_MAC_init(r->mac, NULL, 0, NULL) != 1 || EVP_MAC_update(r->mac, info, 32) != 1 ||
        EVP_MAC_update(r->mac, &one, 1) != 1 || EVP_MAC_final(r->mac, dek, &outl, 32) != 1)
        die("hkdf");
}

/* One raw encryption of pt[0..n) into r->ct; returns the sealed length. */
static size_t raw_seal(struct raw *r, const uint8_t *pt, size_t n)
{
    uint8_t *p = r->ct, dek[32];
    int l1 = 0, l2 = 0;
    const uint8_t *key = NULL;

    switch (r->which) {
    case B_SB:
        if (RAND_bytes(p, 24) != 1 || crypto_secretbox_easy(p + 24, pt, n, p, r->key))
            die("secretbox");
        return 24 + 16 + n;
    case B_CBC:
        if (RAND_bytes(p, 16) != 1 || EVP_EncryptInit_ex(r->enc, NULL, NULL, NULL, p) != 1 ||
            EVP_EncryptUpdate(r->enc, p + 16, &l1, pt, (int)n) != 1 ||
            EVP_EncryptFinal_ex(r->enc, p + 16 + l1, &l2) != 1)
            die("cbc");
        return 16 + (size_t)l1 + (size_t)l2;
    case B_KMS2:
        if (RAND_bytes(p, 32) != 1)
            die("rand");
        hkdf(r, p, dek);
        key = dek;
        p += 32;
        /* fall through */
    case B_GCM:
        if (RAND_bytes(p, 12) != 1 || EVP_EncryptInit_ex(r->enc, NULL, NULL, key, p) != 1 ||
            EVP_EncryptUpdate(r->enc, NULL, &l1, (const uint8_t *)ETCD_KEY, strlen(ETCD_KEY)) !=
                1 ||
            EVP_EncryptUpdate(r->enc, p + 12, &l1, pt, (int)n) != 1 ||
            EVP_EncryptFinal_ex(r->enc, p + 12 + l1, &l2) != 1 ||
            EVP_CIPHER_CTX_ctrl(r->enc, EVP_CTRL_GCM_GET_TAG, 16, p + 12 + l1 + l2) != 1)
            die("gcm");
        return (size_t)(p - r->ct) + 12 + (size_t)l1 + (size_t)l2 + 16;
    }
    return 0;
}

static size_t raw_open(struct raw *r, const uint8_t *c, size_t n)
{
    uint8_t dek[32];
    int l1 = 0, l2 = 0;
    const uint8_t *key = NULL;

    switch (r->which) {
    case B_SB:
        if (crypto_secretbox_open_easy(r->pt, c + 24, n - 24, c, r->key))
            die("secretbox open");
        return n - 40;
    case B_CBC:
        if (EVP_DecryptInit_ex(r->dec, NULL, NULL, NULL, c) != 1 ||
            EVP_DecryptUpdate(r->dec, r->pt, &l1, c + 16, (int)(n - 16)) != 1 ||
            EVP_DecryptFinal_ex(r->dec, r->pt + l1, &l2) != 1)
            die("cbc open");
        return (size_t)l1 + (size_t)l2;
    case B_KMS2:
        hkdf(r, c, dek);
        key = dek;
        c += 32;
        n -= 32;
        /* fall through */
    case B_GCM:
        if (EVP_DecryptInit_ex(r->dec, NULL, NULL, key, c) != 1 ||
            EVP_DecryptUpdate(r->dec, NULL, &l1, (const uint8_t *)ETCD_KEY, strlen(ETCD_KEY)) !=
                1 ||
            EVP_DecryptUpdate(r->dec, r->pt, &l1, c + 12, (int)(n - 28)) != 1 ||
            EVP_CIPHER_CTX_ctrl(r->dec, EVP_CTRL_GCM_SET_TAG, 16,
                                (void *)(uintptr_t)(c + n - 16)) != 1 ||
            EVP_DecryptFinal_ex(r->dec, r->pt + l1, &l2) != 1)
            die("gcm open");
        return (size_t)l1 + (size_t)l2;
    }
    return 0;
}

/* ---- measurement ---- */

enum op { RAW_ENC, RAW_DEC, XF_ENC, XF_DEC };

struct ctx {
    struct raw *raw;
    struct xf_chain *chain;
    const uint8_t *pt;
    size_t n;
    struct strbuf stored, out;
    size_t raw_sealed;
};

static void one(struct ctx *c, enum op op)
{
    switch (op) {
    case RAW_ENC:
        sink ^= (uint8_t)raw_seal(c->raw, c->pt, c->n);
        break;
    case RAW_DEC:
        sink ^= (uint8_t)raw_open(c->raw, c->raw->ct, c->raw_sealed);
        break;
    case XF_ENC:
        if (xf_chain_write(c->chain, ETCD_KEY, c->pt, c->n, &c->out, NULL))
            die("xf_chain_write");
        sink ^= (uint8_t)c->out.len;
        break;
    case XF_DEC:
        if (xf_chain_read(c->chain, ETCD_KEY, (const uint8_t *)c->stored.buf, c->stored.len,
                          &c->out, NULL, NULL))
            die("xf_chain_read");
        sink ^= (uint8_t)c->out.len;
        break;
    }
}

/* Runs op for about budget seconds of CPU time; returns operations per second. */
static double measure(struct ctx *c, enum op op, double budget)
{
    double t0, t;
    unsigned long ops = 0, batch = 1;

    t0 = now();
    do {
        for (unsigned long i = 0; i < batch; i++)
            one(c, op);
        ops += batch;
        t = now() - t0;
        if (t < budget / 20)
            batch *= 2;
    } while (t < budget);
    return (double)ops / t;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;

    return x < y ? -1 : x > y;
}

#define ROUNDS 9

/*
 * Alternates short slices of the raw op and the provider op ROUNDS times and returns the
 * median of each (ops/s) and the median of the per-round ratios, so load from other processes
 * hits both sides alike.
 */
static void measure_pair(struct ctx *c, enum op raw_op, enum op xf_op, double *ret_raw,
                         double *ret_xf, double *ret_ratio)
{
    double raw[ROUNDS], xf[ROUNDS], ratio[ROUNDS], slice = cell_seconds / (2 * ROUNDS);

    one(c, raw_op); /* warm up: pools, caches */
    one(c, xf_op);
    for (int i = 0; i < ROUNDS; i++) {
        raw[i] = measure(c, raw_op, slice);
        xf[i] = measure(c, xf_op, slice);
        ratio[i] = xf[i] / raw[i];
    }
    qsort(raw, ROUNDS, sizeof(double), cmp_double);
    qsort(xf, ROUNDS, sizeof(double), cmp_double);
    qsort(ratio, ROUNDS, sizeof(double), cmp_double);
    *ret_raw = raw[ROUNDS / 2];
    *ret_xf = xf[ROUNDS / 2];
    *ret_ratio = ratio[ROUNDS / 2];
}

static struct xf_chain *make_chain(const struct cfg *cf, const uint8_t *key, struct kms_mock *mock)
{
    struct xf_chain *c = xf_chain_new();
    struct xf_provider *p = NULL;
    struct kms_plugin plug;
    struct xf_key k = { "k-bench", key, cf->key_len };

    switch (cf->which) {
    case B_CBC:
        if (xf_keyed_new(XF_AESCBC, &k, 1, &p, NULL))
            die("aescbc");
        break;
    case B_GCM:
        if (xf_keyed_new(XF_AESGCM, &k, 1, &p, NULL))
            die("aesgcm");
        break;
    case B_SB:
        if (xf_keyed_new(XF_SECRETBOX, &k, 1, &p, NULL))
            die("secretbox");
        break;
    case B_KMS2:
        kms_mock_plugin(mock, &plug);
        if (xf_kms_v2_new("bench-kms", &plug, &p, NULL))
            die("kms v2");
        break;
    }
    xf_chain_add_take(c, p);
    return c;
}

static void machine(void)
{
    FILE *f = fopen("/proc/cpuinfo", "r");
    char line[256];

    if (f) {
        while (fgets(line, sizeof(line), f)) {
            if (!strncmp(line, "model name", 10)) {
                char *v = strchr(line, ':');

                printf("cpu:%s", v ? v + 1 : line);
                break;
            }
        }
        fclose(f);
    }
    printf("openssl: %s; libsodium: %s\n", OpenSSL_version(OPENSSL_VERSION),
           sodium_version_string());
    printf("CPU seconds per cell and direction: %.2f, as %d alternating raw/provider slices; "
           "figures are medians, ratio is the median of per-slice ratios\n\n",
           cell_seconds, ROUNDS);
}

int main(int argc, char **argv)
{
    uint8_t key[32];
    uint8_t *pt = xmalloc(1 << 20);
    struct kms_mock *mock = kms_mock_new("bench-key-1");

    if (argc > 1)
        cell_seconds = strtod(argv[1], NULL);
    if (sodium_init() < 0)
        die("sodium_init");
    RAND_bytes(key, sizeof(key));
    RAND_bytes(pt, 1 << 20);
    machine();
    printf("| provider | size | enc ops/s | enc MB/s | raw enc MB/s | enc ratio | dec ops/s | "
           "dec MB/s | raw dec MB/s | dec ratio |\n");
    printf("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n");
    for (size_t i = 0; i < sizeof(cfgs) / sizeof(cfgs[0]); i++) {
        const struct cfg *cf = &cfgs[i];
        struct raw raw;
        struct ctx c = { 0 };

        if (argc > 2 && !strstr(cf->name, argv[2]))
            continue;

        /* KMS v2: the raw HKDF is keyed with the same kind of 32-byte seed */
        raw_init(&raw, cf->which, cf->key_len, key, 1 << 20);
        c.raw = &raw;
        c.chain = make_chain(cf, key, mock);
        strbuf_init(&c.stored, 0);
        strbuf_init(&c.out, 0);
        for (size_t s = 0; s < sizeof(sizes) / sizeof(sizes[0]); s++) {
            double r[4] = { 0 }, ratio[2];
            double mb;

            if (argc > 3 && strtoul(argv[3], NULL, 10) != sizes[s])
                continue;
            c.pt = pt;
            c.n = sizes[s];
            if (xf_chain_write(c.chain, ETCD_KEY, pt, c.n, &c.stored, NULL))
                die("seed write");
            c.raw_sealed = raw_seal(&raw, pt, c.n);
            measure_pair(&c, RAW_ENC, XF_ENC, &r[RAW_ENC], &r[XF_ENC], &ratio[0]);
            c.raw_sealed = raw_seal(&raw, pt, c.n);
            measure_pair(&c, RAW_DEC, XF_DEC, &r[RAW_DEC], &r[XF_DEC], &ratio[1]);
            mb = (double)c.n / 1e6;
            printf("| %s | %zu | %.0f | %.1f | %.1f | %.2f | %.0f | %.1f | %.1f | %.2f |\n",
                   cf->name, c.n, r[XF_ENC], r[XF_ENC] * mb, r[RAW_ENC] * mb, ratio[0], r[XF_DEC],
                   r[XF_DEC] * mb, r[RAW_DEC] * mb, ratio[1]);
            fflush(stdout);
        }
        strbuf_release(&c.stored);
        strbuf_release(&c.out);
        xf_chain_free(c.chain);
        raw_free(&raw);
    }
    kms_mock_free(mock);
    free(pt);
    return 0;
}
