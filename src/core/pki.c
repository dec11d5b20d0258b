/* SPDX-License-Identifier: Apache-2.0 */
/*
 * pki: certificate bundle generation, reconciliation, JSON form, deployment, and the PEM
 * certificate parser. The only core module that includes OpenSSL headers. Extensions are
 * built as ASN.1 structures, never from "DNS:a,IP:b" strings, so a node name cannot inject
 * a subjectAltName.
 */
#include "core/pki.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/rsa.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "core/config.h"
#include "util/fs.h"
#include "util/strbuf.h"
#include "util/xalloc.h"

#include "util/banned.h"

#define PKI_SSL_DIR  "/etc/kubernetes/ssl/"
#define PKI_NAME_MAX 200
#define PKI_BACKDATE 300 /* seconds: tolerate small clock skew between nodes */
#define PKI_ETCD_CN  "kube-etcd"
#define PKI_SA_BITS  2048
#define SECS_PER_DAY 86400L

struct pki_bundle {
    struct pki_cert *certs; /* sorted by name */
    size_t n, alloc;
};

/* ---- OpenSSL errors ---------------------------------------------------------------- */

/* Drains OpenSSL's error queue into err as "what: reason[, reason...]". Returns code. */
static enum rkc_err ossl_fail(struct rkc_error *err, enum rkc_err code, const char *what)
{
    struct strbuf sb = STRBUF_INIT;
    unsigned long e;
    int shown = 0;

    while ((e = ERR_get_error()) != 0) {
        const char *reason = ERR_reason_error_string(e);

        if (shown++ >= 3)
            continue;
        strbuf_addstr(&sb, shown > 1 ? ", " : ": ");
        if (reason)
            strbuf_addstr(&sb, reason);
        else
            strbuf_addf(&sb, "error %lx", e);
    }
    if (!shown)
        strbuf_addstr(&sb, ": invalid or unsupported data");
    rkc_error_set(err, code, "%s%s", what, sb.buf);
    strbuf_release(&sb);
    return code;
}

static int no_passphrase_cb(char *buf, int size, int rwflag, void *u)
{
    (void)buf;
    (void)size;
    (void)rwflag;
    (void)u;
    return -1; /* encrypted keys are refused, never prompted for */
}

/* ---- bundle entries ---------------------------------------------------------------- */

static void cert_release(struct pki_cert *c)
{
    if (c->key_pem) {
        rkc_wipe(c->key_pem, strlen(c->key_pem));
        free(c->key_pem);
    }
    free(c->name);
    free(c->common_name);
    free(c->org);
    free(c->cert_pem);
    free(c->pub_pem);
    memset(c, 0, sizeof(*c));
}

struct pki_bundle *pki_bundle_new(void)
{
    return xcalloc(1, sizeof(struct pki_bundle));
}

void pki_bundle_free(struct pki_bundle *b)
{
    size_t i;

    if (!b)
        return;
    for (i = 0; i < b->n; i++)
        cert_release(&b->certs[i]);
    free(b->certs);
    free(b);
}

/* Index of name, or of its insertion point with *found false. */
static size_t bundle_find(const struct pki_bundle *b, const char *name, bool *found)
{
    size_t lo = 0, hi = b->n;

    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int c = strcmp(b->certs[mid].name, name);

        if (c == 0) {
            *found = true;
            return mid;
        }
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    *found = false;
    return lo;
}

/* Stores c (taking its contents) under c->name, replacing an entry of that name. */
static void bundle_put_take(struct pki_bundle *b, struct pki_cert *c)
{
    bool found;
    size_t i = bundle_find(b, c->name, &found);

    if (found) {
        cert_release(&b->certs[i]);
    } else {
        ALLOC_GROW(b->certs, b->n + 1, b->alloc);
        memmove(&b->certs[i + 1], &b->certs[i], (b->n - i) * sizeof(*b->certs));
        b->n++;
    }
    b->certs[i] = *c;
    memset(c, 0, sizeof(*c));
}

static void bundle_remove_at(struct pki_bundle *b, size_t i)
{
    cert_release(&b->certs[i]);
    memmove(&b->certs[i], &b->certs[i + 1], (b->n - i - 1) * sizeof(*b->certs));
    b->n--;
}

const struct pki_cert *pki_bundle_get(const struct pki_bundle *b, const char *name)
{
    bool found;
    size_t i;

    if (!b)
        return NULL;
    i = bundle_find(b, name, &found);
    return found ? &b->certs[i] : NULL;
}

size_t pki_bundle_size(const struct pki_bundle *b)
{
    return b ? b->n : 0;
}

const struct pki_cert *pki_bundle_at(const struct pki_bundle *b, size_t idx)
{
    return b && idx < b->n ? &b->certs[idx] : NULL;
}

void pki_changes_release(struct pki_changes *c)
{
    size_t i;

    if (!c)
        return;
    for (i = 0; i < c->nissued; i++)
        free(c->issued[i]);
    for (i = 0; i < c->nremoved; i++)
        free(c->removed[i]);
    free(c->issued);
    free(c->removed);
    memset(c, 0, sizeof(*c));
}

static void names_add(char ***names, size_t *n, const char *name)
{
    *names = xreallocarray(*names, *n + 1, sizeof(**names));
    (*names)[(*n)++] = xstrdup(name);
}

/* ---- names and addresses ----------------------------------------------------------- */

char *pki_etcd_cert_name(const char *node_name)
{
    char *s = xasprintf(PKI_ETCD_PREFIX "%s", node_name);
    char *p;

    for (p = s + strlen(PKI_ETCD_PREFIX); *p; p++) {
        unsigned char ch = (unsigned char)*p;

        if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
              ch == '-' || ch == '_'))
            *p = '-';
    }
    return s;
}

/* Entry names become file names: [A-Za-z0-9._-], not starting with '.'. */
static bool entry_name_ok(const char *name)
{
    size_t i, n = strlen(name);

    if (n == 0 || n > PKI_NAME_MAX || name[0] == '.')
        return false;
    for (i = 0; i < n; i++) {
        unsigned char ch = (unsigned char)name[i];

        if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
              ch == '-' || ch == '_' || ch == '.'))
            return false;
    }
    return true;
}

/* A DNS name as a SAN: letters, digits, '-', '_', '.', at most 253 bytes. */
static bool dns_name_ok(const char *s)
{
    size_t i, n = strlen(s);

    if (n == 0 || n > 253 || s[0] == '.' || s[0] == '-')
        return false;
    for (i = 0; i < n; i++) {
        unsigned char ch = (unsigned char)s[i];

        if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
              ch == '-' || ch == '_' || ch == '.'))
            return false;
    }
    return true;
}

/* Canonical text of an IP address into buf, or false when s is not one. */
static bool ip_canonical(const char *s, char *buf, size_t size)
{
    unsigned char raw[16];

    if (inet_pton(AF_INET, s, raw) == 1)
        return inet_ntop(AF_INET, raw, buf, (socklen_t)size) != NULL;
    if (inet_pton(AF_INET6, s, raw) == 1)
        return inet_ntop(AF_INET6, raw, buf, (socklen_t)size) != NULL;
    return false;
}

/* First host address of a CIDR ("10.43.0.0/16" -> "10.43.0.1"). */
static enum rkc_err cidr_first_ip(const char *cidr, char *buf, size_t size, struct rkc_error *err)
{
    unsigned char raw[16];
    char addr[INET6_ADDRSTRLEN];
    const char *slash = strchr(cidr, '/');
    char *end = NULL;
    long prefix;
    int af;
    size_t alen, i;

    if (!slash || (size_t)(slash - cidr) >= sizeof(addr))
        goto bad;
    memcpy(addr, cidr, (size_t)(slash - cidr));
    addr[slash - cidr] = '\0';
    if (inet_pton(AF_INET, addr, raw) == 1) {
        af = AF_INET;
        alen = 4;
    } else if (inet_pton(AF_INET6, addr, raw) == 1) {
        af = AF_INET6;
        alen = 16;
    } else {
        goto bad;
    }
    errno = 0;
    prefix = strtol(slash + 1, &end, 10);
    if (errno || end == slash + 1 || *end || prefix < 0 || prefix > (long)(alen * 8) - 2)
        goto bad;
    for (i = 0; i < alen; i++) {
        long bits = prefix - (long)i * 8;
        unsigned mask = bits >= 8 ? 0xffu : bits <= 0 ? 0u : (0xffu << (8 - bits)) & 0xffu;

        raw[i] &= (unsigned char)mask;
    }
    for (i = alen; i-- > 0;) {
        if (++raw[i] != 0)
            break;
    }
    if (!inet_ntop(af, raw, buf, (socklen_t)size))
        goto bad;
    return RKC_OK;
bad:
    return rkc_error_set(err, RKC_EINVAL, "invalid service cluster IP range '%s'", cidr);
}

void pki_request_from_config(const struct cluster_config *cfg, struct pki_request *req)
{
    struct pki_node *nodes = cfg->nnodes ? xcalloc(cfg->nnodes, sizeof(*nodes)) : NULL;
    size_t i;

    for (i = 0; i < cfg->nnodes; i++) {
        nodes[i].name = cfg->nodes[i].name;
        nodes[i].address = cfg->nodes[i].address;
        nodes[i].roles = cfg->nodes[i].roles;
    }
    memset(req, 0, sizeof(*req));
    req->cluster_name = cfg->cluster_name;
    req->nodes = nodes;
    req->nnodes = cfg->nnodes;
    req->service_cidr = cfg->kube_api.service_cluster_ip_range;
    req->key_type = PKI_KEY_ECDSA_P256;
    req->owned_nodes = nodes;
}

void pki_request_release(struct pki_request *req)
{
    if (!req)
        return;
    free(req->owned_nodes);
    memset(req, 0, sizeof(*req));
}

/* ---- certificate specs ------------------------------------------------------------- */

enum spec_usage {
    USAGE_CA,
    USAGE_SERVER,      /* serverAuth */
    USAGE_CLIENT,      /* clientAuth */
    USAGE_SERVER_PEER, /* serverAuth + clientAuth */
};

struct sans {
    char **dns;
    size_t ndns;
    char **ips; /* canonical text */
    size_t nips;
};

struct cert_spec {
    char *name;
    const char *cn;
    const char *org; /* "" for none */
    enum spec_usage usage;
    struct sans sans;
};

static void sans_release(struct sans *s)
{
    size_t i;

    for (i = 0; i < s->ndns; i++)
        free(s->dns[i]);
    for (i = 0; i < s->nips; i++)
        free(s->ips[i]);
    free(s->dns);
    free(s->ips);
    memset(s, 0, sizeof(*s));
}

static bool list_has(char **list, size_t n, const char *s, bool nocase)
{
    size_t i;

    for (i = 0; i < n; i++) {
        if (nocase ? !strcasecmp(list[i], s) : !strcmp(list[i], s))
            return true;
    }
    return false;
}

/* Adds s as an IP SAN when it is an address, else as a DNS SAN; duplicates are skipped. */
static enum rkc_err sans_add(struct sans *s, const char *value, const char *what,
                             struct rkc_error *err)
{
    char ip[INET6_ADDRSTRLEN];

    if (ip_canonical(value, ip, sizeof(ip))) {
        if (!list_has(s->ips, s->nips, ip, false))
            names_add(&s->ips, &s->nips, ip);
        return RKC_OK;
    }
    if (!dns_name_ok(value))
        return rkc_error_set(err, RKC_EINVAL, "invalid %s '%s' for a certificate name", what,
                             value);
    if (!list_has(s->dns, s->ndns, value, true))
        names_add(&s->dns, &s->ndns, value);
    return RKC_OK;
}

static void specs_free(struct cert_spec *specs, size_t n)
{
    size_t i;

    for (i = 0; i < n; i++) {
        free(specs[i].name);
        sans_release(&specs[i].sans);
    }
    free(specs);
}

static struct cert_spec *spec_add(struct cert_spec **specs, size_t *n, const char *name,
                                  const char *cn, const char *org, enum spec_usage usage)
{
    struct cert_spec *s;

    *specs = xreallocarray(*specs, *n + 1, sizeof(**specs));
    s = &(*specs)[(*n)++];
    memset(s, 0, sizeof(*s));
    s->name = xstrdup(name);
    s->cn = cn;
    s->org = org;
    s->usage = usage;
    return s;
}

/* Every certificate req needs, CA first. The service-account key is not a spec. */
static enum rkc_err specs_build(const struct pki_request *req, struct cert_spec **ret,
                                size_t *ret_n, struct rkc_error *err)
{
    static const char *const kube_names[] = { "kubernetes", "kubernetes.default",
                                              "kubernetes.default.svc",
                                              "kubernetes.default.svc.cluster.local" };
    struct cert_spec *specs = NULL, *api;
    size_t n = 0, i, j;
    char svc_ip[INET6_ADDRSTRLEN];
    enum rkc_err rc;

    rc = cidr_first_ip(req->service_cidr ? req->service_cidr : PKI_DEFAULT_SERVICE_CIDR, svc_ip,
                       sizeof(svc_ip), err);
    if (rc)
        return rc;

    spec_add(&specs, &n, PKI_CA, PKI_CA, "", USAGE_CA);
    spec_add(&specs, &n, PKI_ETCD_CLIENT, PKI_ETCD_CLIENT, "", USAGE_CLIENT);
    spec_add(&specs, &n, PKI_ADMIN, PKI_ADMIN, PKI_ADMIN_ORG, USAGE_CLIENT);
    api = spec_add(&specs, &n, PKI_APISERVER, PKI_APISERVER, "", USAGE_SERVER);
    for (i = 0; i < req->nnodes; i++) {
        const struct pki_node *node = &req->nodes[i];

        if (!node->name || !node->address) {
            rc = rkc_error_set(err, RKC_EINVAL, "node %zu has no name or address", i);
            goto out;
        }
        if (node->roles & CONFIG_ROLE_CONTROLPLANE) {
            if ((rc = sans_add(&api->sans, node->address, "node address", err)) ||
                (rc = sans_add(&api->sans, node->name, "node name", err)))
                goto out;
        }
    }
    if ((rc = sans_add(&api->sans, "127.0.0.1", "address", err)) ||
        (rc = sans_add(&api->sans, "localhost", "name", err)))
        goto out;
    for (j = 0; j < sizeof(kube_names) / sizeof(kube_names[0]); j++) {
        if ((rc = sans_add(&api->sans, kube_names[j], "name", err)))
            goto out;
    }
    if ((rc = sans_add(&api->sans, svc_ip, "address", err)))
        goto out;

    for (i = 0; i < req->nnodes; i++) {
        const struct pki_node *node = &req->nodes[i];
        char *name;
        struct cert_spec *s;

        if (!(node->roles & CONFIG_ROLE_ETCD))
            continue;
        name = pki_etcd_cert_name(node->name);
        for (j = 0; j < n; j++) {
            if (!strcmp(specs[j].name, name)) {
                rc = rkc_error_set(err, RKC_EINVAL,
                                   "etcd nodes '%s' and another node share the certificate "
                                   "name '%s'",
                                   node->name, name);
                free(name);
                goto out;
            }
        }
        if (!entry_name_ok(name)) {
            rc = rkc_error_set(err, RKC_EINVAL, "invalid node name '%s' for a certificate name",
                               node->name);
            free(name);
            goto out;
        }
        s = spec_add(&specs, &n, name, PKI_ETCD_CN, "", USAGE_SERVER_PEER);
        free(name);
        if ((rc = sans_add(&s->sans, node->address, "node address", err)) ||
            (rc = sans_add(&s->sans, node->name, "node name", err)) ||
            (rc = sans_add(&s->sans, "127.0.0.1", "address", err)) ||
            (rc = sans_add(&s->sans, "localhost", "name", err)))
            goto out;
    }
    *ret = specs;
    *ret_n = n;
    specs = NULL;
    n = 0;
out:
    specs_free(specs, n);
    return rc;
}

/* ---- keys and PEM ------------------------------------------------------------------ */

static EVP_PKEY *key_generate(enum pki_key_type type, struct rkc_error *err)
{
    EVP_PKEY_CTX *ctx = NULL;
    EVP_PKEY *key = NULL;
    bool rsa = type == PKI_KEY_RSA_2048;

    ctx = EVP_PKEY_CTX_new_from_name(NULL, rsa ? "RSA" : "EC", NULL);
    if (!ctx || EVP_PKEY_keygen_init(ctx) <= 0 ||
        (rsa ? EVP_PKEY_CTX_set_rsa_keygen_bits(ctx, PKI_SA_BITS)
             : EVP_PKEY_CTX_set_group_name(ctx, "P-256")) <= 0 ||
        EVP_PKEY_keygen(ctx, &key) <= 0) {
        ossl_fail(err, RKC_ECRYPTO, rsa ? "generate RSA key" : "generate ECDSA P-256 key");
        EVP_PKEY_free(key);
        key = NULL;
    }
    EVP_PKEY_CTX_free(ctx);
    return key;
}

/* Returns: new NUL-terminated copy of a memory BIO's contents. */
static char *bio_to_str(BIO *bio)
{
    char *data = NULL;
    long len = BIO_get_mem_data(bio, &data);

    return xstrndup(data ? data : "", len > 0 ? (size_t)len : 0);
}

enum pem_kind {
    PEM_CERT,
    PEM_KEY,
    PEM_PUB,
};

static enum rkc_err pem_write(enum pem_kind kind, X509 *x, EVP_PKEY *key, char **ret,
                              struct rkc_error *err)
{
    BIO *bio = BIO_new(BIO_s_mem());
    int ok;

    if (!bio)
        return ossl_fail(err, RKC_ECRYPTO, "allocate memory BIO");
    switch (kind) {
    case PEM_CERT:
        ok = PEM_write_bio_X509(bio, x);
        break;
    case PEM_KEY:
        ok = PEM_write_bio_PrivateKey(bio, key, NULL, NULL, 0, NULL, NULL);
        break;
    default:
        ok = PEM_write_bio_PUBKEY(bio, key);
        break;
    }
    if (!ok) {
        BIO_free(bio);
        return ossl_fail(err, RKC_ECRYPTO, "encode PEM");
    }
    *ret = bio_to_str(bio);
    BIO_free(bio); /* memory BIOs are cleansed on free */
    return RKC_OK;
}

static X509 *cert_load(const char *pem, size_t len)
{
    BIO *bio;
    X509 *x;

    if (!pem || len > PKI_PEM_MAX)
        return NULL;
    bio = BIO_new_mem_buf(pem, (int)len);
    if (!bio)
        return NULL;
    x = PEM_read_bio_X509(bio, NULL, no_passphrase_cb, NULL);
    BIO_free(bio);
    return x;
}

static EVP_PKEY *key_load(const char *pem, size_t len)
{
    BIO *bio;
    EVP_PKEY *key;

    if (!pem || len > PKI_PEM_MAX)
        return NULL;
    bio = BIO_new_mem_buf(pem, (int)len);
    if (!bio)
        return NULL;
    key = PEM_read_bio_PrivateKey(bio, NULL, no_passphrase_cb, NULL);
    BIO_free(bio);
    return key;
}

/* ---- issuing ----------------------------------------------------------------------- */

static int add_ext(X509 *x, int nid, void *value, int crit)
{
    return X509_add1_ext_i2d(x, nid, value, crit, X509V3_ADD_REPLACE);
}

static int set_serial(X509 *x)
{
    unsigned char raw[16];
    BIGNUM *bn;
    int ok;

    if (RAND_bytes(raw, sizeof(raw)) != 1)
        return 0;
    raw[0] &= 0x7f; /* positive */
    raw[0] |= 0x40; /* never zero, always 16 bytes */
    bn = BN_bin2bn(raw, sizeof(raw), NULL);
    ok = bn && BN_to_ASN1_INTEGER(bn, X509_get_serialNumber(x)) != NULL;
    BN_free(bn);
    return ok;
}

static int set_name(X509_NAME *name, const char *org, const char *cn)
{
    if (org && *org &&
        !X509_NAME_add_entry_by_txt(name, "O", MBSTRING_UTF8, (const unsigned char *)org, -1, -1,
                                    0))
        return 0;
    return X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_UTF8, (const unsigned char *)cn, -1, -1,
                                      0);
}

static int key_id(X509 *x, ASN1_OCTET_STRING **ret)
{
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int len = 0;
    ASN1_OCTET_STRING *oct;

    if (!X509_pubkey_digest(x, EVP_sha1(), md, &len))
        return 0;
    oct = ASN1_OCTET_STRING_new();
    if (!oct || !ASN1_OCTET_STRING_set(oct, md, (int)len)) {
        ASN1_OCTET_STRING_free(oct);
        return 0;
    }
    *ret = oct;
    return 1;
}

static int add_sans(X509 *x, const struct sans *s)
{
    GENERAL_NAMES *gens = sk_GENERAL_NAME_new_null();
    size_t i;
    int ok = 0;

    if (!gens)
        return 0;
    for (i = 0; i < s->ndns; i++) {
        GENERAL_NAME *g = GENERAL_NAME_new();
        ASN1_IA5STRING *str = ASN1_IA5STRING_new();

        if (!g || !str || !ASN1_STRING_set(str, s->dns[i], (int)strlen(s->dns[i]))) {
            GENERAL_NAME_free(g);
            ASN1_IA5STRING_free(str);
            goto out;
        }
        GENERAL_NAME_set0_value(g, GEN_DNS, str);
        if (!sk_GENERAL_NAME_push(gens, g)) {
            GENERAL_NAME_free(g);
            goto out;
        }
    }
    for (i = 0; i < s->nips; i++) {
        GENERAL_NAME *g = GENERAL_NAME_new();
        ASN1_OCTET_STRING *ip = a2i_IPADDRESS(s->ips[i]);

        if (!g || !ip) {
            GENERAL_NAME_free(g);
            ASN1_OCTET_STRING_free(ip);
            goto out;
        }
        GENERAL_NAME_set0_value(g, GEN_IPADD, ip);
        if (!sk_GENERAL_NAME_push(gens, g)) {
            GENERAL_NAME_free(g);
            goto out;
        }
    }
    ok = sk_GENERAL_NAME_num(gens) == 0 || add_ext(x, NID_subject_alt_name, gens, 0);
out:
    GENERAL_NAMES_free(gens);
    return ok;
}

static int add_extensions(X509 *x, X509 *issuer, enum spec_usage usage, const struct sans *s)
{
    BASIC_CONSTRAINTS *bc = BASIC_CONSTRAINTS_new();
    ASN1_BIT_STRING *ku = ASN1_BIT_STRING_new();
    EXTENDED_KEY_USAGE *eku = NULL;
    AUTHORITY_KEYID *akid = AUTHORITY_KEYID_new();
    ASN1_OCTET_STRING *skid = NULL;
    int ok = 0;

    if (!bc || !ku || !akid)
        goto out;
    bc->ca = usage == USAGE_CA ? 0xff : 0;
    if (!add_ext(x, NID_basic_constraints, bc, 1))
        goto out;
    /* digitalSignature(0), keyEncipherment(2), keyCertSign(5), cRLSign(6) */
    if (!ASN1_BIT_STRING_set_bit(ku, 0, 1))
        goto out;
    if (usage == USAGE_CA) {
        if (!ASN1_BIT_STRING_set_bit(ku, 5, 1) || !ASN1_BIT_STRING_set_bit(ku, 6, 1))
            goto out;
    } else if (!ASN1_BIT_STRING_set_bit(ku, 2, 1)) {
        goto out;
    }
    if (!add_ext(x, NID_key_usage, ku, 1))
        goto out;
    if (usage != USAGE_CA) {
        eku = sk_ASN1_OBJECT_new_null();
        if (!eku)
            goto out;
        if ((usage == USAGE_SERVER || usage == USAGE_SERVER_PEER) &&
            !sk_ASN1_OBJECT_push(eku, OBJ_nid2obj(NID_server_auth)))
            goto out;
        if ((usage == USAGE_CLIENT || usage == USAGE_SERVER_PEER) &&
            !sk_ASN1_OBJECT_push(eku, OBJ_nid2obj(NID_client_auth)))
            goto out;
        if (!add_ext(x, NID_ext_key_usage, eku, 0))
            goto out;
    }
    if (!key_id(x, &skid) || !add_ext(x, NID_subject_key_identifier, skid, 0))
        goto out;
    if (!key_id(issuer, &akid->keyid) || !add_ext(x, NID_authority_key_identifier, akid, 0))
        goto out;
    ok = add_sans(x, s);
out:
    BASIC_CONSTRAINTS_free(bc);
    ASN1_BIT_STRING_free(ku);
    sk_ASN1_OBJECT_pop_free(eku, ASN1_OBJECT_free);
    AUTHORITY_KEYID_free(akid);
    ASN1_OCTET_STRING_free(skid);
    return ok;
}

/*
 * Issues spec with a new key of type kt, signed by ca/ca_key (self-signed when ca is NULL).
 * Fills *ret (owned strings).
 */
static enum rkc_err cert_issue(const struct cert_spec *spec, X509 *ca, EVP_PKEY *ca_key,
                               enum pki_key_type kt, struct pki_cert *ret, struct rkc_error *err)
{
    EVP_PKEY *key = NULL;
    X509 *x = NULL;
    char *cert_pem = NULL, *key_pem = NULL;
    long days = spec->usage == USAGE_CA ? PKI_CA_VALIDITY_DAYS : PKI_LEAF_VALIDITY_DAYS;
    enum rkc_err rc;

    key = key_generate(kt, err);
    if (!key)
        return RKC_ECRYPTO;
    x = X509_new();
    if (!x || !X509_set_version(x, 2) || !set_serial(x) ||
        !X509_gmtime_adj(X509_getm_notBefore(x), -PKI_BACKDATE) ||
        !X509_time_adj_ex(X509_getm_notAfter(x), (int)days, 0, NULL) ||
        /* a leaf never outlives its CA */
        (ca && ASN1_TIME_compare(X509_get0_notAfter(x), X509_get0_notAfter(ca)) > 0 &&
         !X509_set1_notAfter(x, X509_get0_notAfter(ca))) ||
        !set_name(X509_get_subject_name(x), spec->org, spec->cn) ||
        !X509_set_issuer_name(x, ca ? X509_get_subject_name(ca) : X509_get_subject_name(x)) ||
        !X509_set_pubkey(x, key) || !add_extensions(x, ca ? ca : x, spec->usage, &spec->sans) ||
        !X509_sign(x, ca ? ca_key : key, EVP_sha256())) {
        rc = ossl_fail(err, RKC_ECRYPTO, "issue certificate");
        rkc_error_prefix(err, "'%s': ", spec->name);
        goto out;
    }
    if ((rc = pem_write(PEM_CERT, x, NULL, &cert_pem, err)) ||
        (rc = pem_write(PEM_KEY, NULL, key, &key_pem, err)))
        goto out;
    memset(ret, 0, sizeof(*ret));
    ret->name = xstrdup(spec->name);
    ret->common_name = xstrdup(spec->cn);
    ret->org = xstrdup(spec->org);
    ret->cert_pem = cert_pem;
    ret->key_pem = key_pem;
    cert_pem = key_pem = NULL;
out:
    free(cert_pem);
    if (key_pem) {
        rkc_wipe(key_pem, strlen(key_pem));
        free(key_pem);
    }
    X509_free(x);
    EVP_PKEY_free(key);
    return rc;
}

static enum rkc_err sa_issue(struct pki_cert *ret, struct rkc_error *err)
{
    EVP_PKEY *key = key_generate(PKI_KEY_RSA_2048, err);
    char *key_pem = NULL, *pub_pem = NULL;
    enum rkc_err rc;

    if (!key)
        return RKC_ECRYPTO;
    if ((rc = pem_write(PEM_KEY, NULL, key, &key_pem, err)) ||
        (rc = pem_write(PEM_PUB, NULL, key, &pub_pem, err)))
        goto out;
    memset(ret, 0, sizeof(*ret));
    ret->name = xstrdup(PKI_SERVICE_ACCOUNT);
    ret->common_name = xstrdup(PKI_SERVICE_ACCOUNT);
    ret->org = xstrdup("");
    ret->key_pem = key_pem;
    ret->pub_pem = pub_pem;
    key_pem = pub_pem = NULL;
out:
    if (key_pem) {
        rkc_wipe(key_pem, strlen(key_pem));
        free(key_pem);
    }
    free(pub_pem);
    EVP_PKEY_free(key);
    return rc;
}

/* ---- parsing ----------------------------------------------------------------------- */

static char *asn1_to_str(const ASN1_STRING *s)
{
    unsigned char *utf8 = NULL;
    int len;
    char *res;

    if (!s)
        return xstrdup("");
    len = ASN1_STRING_to_UTF8(&utf8, s);
    if (len < 0) {
        ERR_clear_error();
        return xstrdup("");
    }
    res = xstrndup((const char *)utf8, (size_t)len);
    OPENSSL_free(utf8);
    return res;
}

static char *name_entry(const X509_NAME *name, int nid)
{
    int idx = name ? X509_NAME_get_index_by_NID(name, nid, -1) : -1;

    if (idx < 0)
        return xstrdup("");
    return asn1_to_str(X509_NAME_ENTRY_get_data(X509_NAME_get_entry(name, idx)));
}

static time_t asn1_time(const ASN1_TIME *t)
{
    struct tm tm;

    memset(&tm, 0, sizeof(tm));
    if (!t || !ASN1_TIME_to_tm(t, &tm))
        return 0;
    return timegm(&tm);
}

static void info_from_x509(X509 *x, struct pki_cert_info *info)
{
    GENERAL_NAMES *gens;
    BASIC_CONSTRAINTS *bc;
    uint32_t xku;
    int i, n;

    memset(info, 0, sizeof(*info));
    info->common_name = name_entry(X509_get_subject_name(x), NID_commonName);
    info->org = name_entry(X509_get_subject_name(x), NID_organizationName);
    info->issuer_cn = name_entry(X509_get_issuer_name(x), NID_commonName);
    info->not_before = asn1_time(X509_get0_notBefore(x));
    info->not_after = asn1_time(X509_get0_notAfter(x));

    gens = X509_get_ext_d2i(x, NID_subject_alt_name, NULL, NULL);
    n = gens ? sk_GENERAL_NAME_num(gens) : 0;
    for (i = 0; i < n; i++) {
        const GENERAL_NAME *g = sk_GENERAL_NAME_value(gens, i);
        int type;
        const void *val = GENERAL_NAME_get0_value(g, &type);
        char ip[INET6_ADDRSTRLEN];

        if (type == GEN_DNS) {
            const ASN1_STRING *s = val;

            info->dns_names =
                xreallocarray(info->dns_names, info->ndns + 1, sizeof(*info->dns_names));
            info->dns_names[info->ndns++] =
                xstrndup((const char *)ASN1_STRING_get0_data(s), (size_t)ASN1_STRING_length(s));
        } else if (type == GEN_IPADD) {
            const ASN1_OCTET_STRING *o = val;
            int len = ASN1_STRING_length(o);
            int af = len == 4 ? AF_INET : len == 16 ? AF_INET6 : 0;

            if (af && inet_ntop(af, ASN1_STRING_get0_data(o), ip, sizeof(ip)))
                names_add(&info->ips, &info->nips, ip);
        }
    }
    GENERAL_NAMES_free(gens);

    bc = X509_get_ext_d2i(x, NID_basic_constraints, NULL, NULL);
    info->is_ca = bc && bc->ca;
    BASIC_CONSTRAINTS_free(bc);

    xku = X509_get_extended_key_usage(x);
    if (xku != UINT32_MAX) {
        if (xku & XKU_SSL_SERVER)
            info->eku |= PKI_EKU_SERVER;
        if (xku & XKU_SSL_CLIENT)
            info->eku |= PKI_EKU_CLIENT;
    }
    ERR_clear_error();
}

enum rkc_err pki_cert_info(const char *pem, size_t len, struct pki_cert_info *ret,
                           struct rkc_error *err)
{
    static const char begin[] = "-----BEGIN CERTIFICATE-----";
    X509 *x;

    if (len > PKI_PEM_MAX)
        return rkc_error_set(err, RKC_ELIMIT, "parse certificate: input is %zu bytes, limit %zu",
                             len, PKI_PEM_MAX);
    if (!pem || !memmem(pem, len, begin, sizeof(begin) - 1))
        return rkc_error_set(err, RKC_EINVAL, "parse certificate: no '%s' block", begin);
    ERR_clear_error();
    x = cert_load(pem, len);
    if (!x)
        return ossl_fail(err, RKC_EINVAL, "parse certificate");
    info_from_x509(x, ret);
    X509_free(x);
    return RKC_OK;
}

void pki_cert_info_release(struct pki_cert_info *info)
{
    size_t i;

    if (!info)
        return;
    for (i = 0; i < info->ndns; i++)
        free(info->dns_names[i]);
    for (i = 0; i < info->nips; i++)
        free(info->ips[i]);
    free(info->dns_names);
    free(info->ips);
    free(info->common_name);
    free(info->org);
    free(info->issuer_cn);
    memset(info, 0, sizeof(*info));
}

enum rkc_err pki_key_check(const char *key_pem, size_t key_len, const char *cert_pem,
                           size_t cert_len, struct rkc_error *err)
{
    EVP_PKEY *key;
    X509 *x = NULL;
    enum rkc_err rc = RKC_OK;

    if (key_len > PKI_PEM_MAX || cert_len > PKI_PEM_MAX)
        return rkc_error_set(err, RKC_ELIMIT, "parse private key: input too large");
    if (!key_pem || !memmem(key_pem, key_len, "PRIVATE KEY-----", 16))
        return rkc_error_set(err, RKC_EINVAL, "parse private key: no PEM private key block");
    ERR_clear_error();
    key = key_load(key_pem, key_len);
    if (!key)
        return ossl_fail(err, RKC_EINVAL, "parse private key");
    if (cert_pem) {
        x = cert_load(cert_pem, cert_len);
        if (!x)
            rc = ossl_fail(err, RKC_EINVAL, "parse certificate");
        else if (X509_check_private_key(x, key) != 1)
            rc = rkc_error_set(err, RKC_EINVAL, "private key does not match the certificate");
    }
    ERR_clear_error();
    X509_free(x);
    EVP_PKEY_free(key);
    return rc;
}

/* ---- reconcile --------------------------------------------------------------------- */

static int strcmp_p(const void *a, const void *b)
{
    return strcasecmp(*(char *const *)a, *(char *const *)b);
}

static bool same_set(char **a, size_t na, char **b, size_t nb)
{
    char **sa, **sb;
    bool same = true;
    size_t i;

    if (na != nb)
        return false;
    if (na == 0)
        return true;
    sa = xmemdup(a, na * sizeof(*a));
    sb = xmemdup(b, nb * sizeof(*b));
    qsort(sa, na, sizeof(*sa), strcmp_p);
    qsort(sb, nb, sizeof(*sb), strcmp_p);
    for (i = 0; i < na && same; i++)
        same = !strcasecmp(sa[i], sb[i]);
    free(sa);
    free(sb);
    return same;
}

static unsigned spec_eku(enum spec_usage u)
{
    switch (u) {
    case USAGE_SERVER:
        return PKI_EKU_SERVER;
    case USAGE_CLIENT:
        return PKI_EKU_CLIENT;
    case USAGE_SERVER_PEER:
        return PKI_EKU_SERVER | PKI_EKU_CLIENT;
    default:
        return 0;
    }
}

/* True when an existing leaf still satisfies spec and chains to ca. */
static bool leaf_ok(const struct pki_cert *c, const struct cert_spec *spec, X509 *ca, time_t now)
{
    X509 *x = NULL;
    EVP_PKEY *key = NULL, *ca_pub;
    struct pki_cert_info info;
    bool ok = false;

    memset(&info, 0, sizeof(info));
    if (!c->cert_pem || !c->key_pem)
        return false;
    x = cert_load(c->cert_pem, strlen(c->cert_pem));
    key = key_load(c->key_pem, strlen(c->key_pem));
    ca_pub = X509_get0_pubkey(ca);
    if (!x || !key || !ca_pub || X509_verify(x, ca_pub) != 1 || X509_check_private_key(x, key) != 1)
        goto out;
    info_from_x509(x, &info);
    ok = !info.is_ca && !strcmp(info.common_name, spec->cn) && !strcmp(info.org, spec->org) &&
         info.eku == spec_eku(spec->usage) &&
         same_set(info.dns_names, info.ndns, spec->sans.dns, spec->sans.ndns) &&
         same_set(info.ips, info.nips, spec->sans.ips, spec->sans.nips) &&
         (info.not_after - now > (time_t)PKI_RENEW_BEFORE_DAYS * SECS_PER_DAY ||
          info.not_after >= asn1_time(X509_get0_notAfter(ca)));
out:
    pki_cert_info_release(&info);
    X509_free(x);
    EVP_PKEY_free(key);
    ERR_clear_error();
    return ok;
}

static bool sa_ok(const struct pki_cert *c)
{
    EVP_PKEY *key;
    bool ok;

    if (!c->key_pem || !c->pub_pem)
        return false;
    key = key_load(c->key_pem, strlen(c->key_pem));
    ok = key && EVP_PKEY_is_a(key, "RSA");
    if (ok) {
        char *pub = NULL;

        ok = pem_write(PEM_PUB, NULL, key, &pub, NULL) == RKC_OK && pub &&
             strcmp(pub, c->pub_pem) == 0;
        free(pub);
    }
    EVP_PKEY_free(key);
    ERR_clear_error();
    return ok;
}

static bool spec_has(const struct cert_spec *specs, size_t n, const char *name)
{
    size_t i;

    for (i = 0; i < n; i++) {
        if (!strcmp(specs[i].name, name))
            return true;
    }
    return false;
}

enum rkc_err pki_bundle_reconcile(struct pki_bundle *b, const struct pki_request *req,
                                  struct pki_changes *ret_changes, struct rkc_error *err)
{
    struct cert_spec *specs = NULL;
    struct pki_changes changes = { 0 };
    size_t nspecs = 0, i;
    const struct pki_cert *ca_entry;
    X509 *ca = NULL;
    EVP_PKEY *ca_key = NULL;
    time_t now = time(NULL);
    enum rkc_err rc;

    ERR_clear_error();
    rc = specs_build(req, &specs, &nspecs, err);
    if (rc)
        return rc;

    ca_entry = pki_bundle_get(b, PKI_CA);
    if (!ca_entry) {
        struct pki_cert c;

        if (b->n > 0) {
            rc = rkc_error_set(err, RKC_ECRYPTO,
                               "certificate bundle has no '%s': refusing to make a new CA for "
                               "existing certificates",
                               PKI_CA);
            goto out;
        }
        if ((rc = cert_issue(&specs[0], NULL, NULL, req->key_type, &c, err)))
            goto out;
        bundle_put_take(b, &c);
        names_add(&changes.issued, &changes.nissued, PKI_CA);
        ca_entry = pki_bundle_get(b, PKI_CA);
    }
    ca = ca_entry->cert_pem ? cert_load(ca_entry->cert_pem, strlen(ca_entry->cert_pem)) : NULL;
    ca_key = ca_entry->key_pem ? key_load(ca_entry->key_pem, strlen(ca_entry->key_pem)) : NULL;
    if (!ca || !ca_key || X509_check_private_key(ca, ca_key) != 1) {
        rc = ossl_fail(err, RKC_ECRYPTO, "certificate bundle: 'kube-ca' is unusable");
        goto out;
    }

    for (i = 1; i < nspecs; i++) {
        const struct pki_cert *cur = pki_bundle_get(b, specs[i].name);
        struct pki_cert c;

        if (cur && leaf_ok(cur, &specs[i], ca, now))
            continue;
        if ((rc = cert_issue(&specs[i], ca, ca_key, req->key_type, &c, err)))
            goto out;
        bundle_put_take(b, &c);
        names_add(&changes.issued, &changes.nissued, specs[i].name);
    }
    {
        const struct pki_cert *sa = pki_bundle_get(b, PKI_SERVICE_ACCOUNT);

        if (!sa || !sa_ok(sa)) {
            struct pki_cert c;

            if ((rc = sa_issue(&c, err)))
                goto out;
            bundle_put_take(b, &c);
            names_add(&changes.issued, &changes.nissued, PKI_SERVICE_ACCOUNT);
        }
    }
    for (i = b->n; i-- > 0;) {
        const char *name = b->certs[i].name;

        if (!strncmp(name, PKI_ETCD_PREFIX, strlen(PKI_ETCD_PREFIX)) &&
            strcmp(name, PKI_ETCD_CLIENT) != 0 && !spec_has(specs, nspecs, name)) {
            names_add(&changes.removed, &changes.nremoved, name);
            bundle_remove_at(b, i);
        }
    }
    if (ret_changes) {
        *ret_changes = changes;
        memset(&changes, 0, sizeof(changes));
    }
out:
    pki_changes_release(&changes);
    X509_free(ca);
    EVP_PKEY_free(ca_key);
    specs_free(specs, nspecs);
    ERR_clear_error();
    return rc;
}

enum rkc_err pki_bundle_generate(const struct pki_request *req, struct pki_bundle **ret,
                                 struct rkc_error *err)
{
    struct pki_bundle *b = pki_bundle_new();
    enum rkc_err rc = pki_bundle_reconcile(b, req, NULL, err);

    if (rc) {
        pki_bundle_free(b);
        return rc;
    }
    *ret = b;
    return RKC_OK;
}

/* ---- JSON -------------------------------------------------------------------------- */

struct jval *pki_bundle_to_jval(const struct pki_bundle *b)
{
    struct jval *obj = jval_object();
    size_t i;

    for (i = 0; b && i < b->n; i++) {
        const struct pki_cert *c = &b->certs[i];
        struct jval *e = jval_object();
        char *path = xasprintf(PKI_SSL_DIR "%s.pem", c->name);
        char *key_path = xasprintf(PKI_SSL_DIR "%s-key.pem", c->name);

        jval_set_str(e, "name", c->name);
        jval_set_str(e, "commonName", c->common_name ? c->common_name : "");
        jval_set_str(e, "ouName", c->org ? c->org : "");
        jval_set_str(e, "certificatePEM", c->cert_pem ? c->cert_pem : "");
        jval_set_str(e, "keyPEM", c->key_pem ? c->key_pem : "");
        if (c->pub_pem)
            jval_set_str(e, "publicKeyPEM", c->pub_pem);
        jval_set_str(e, "path", path);
        jval_set_str(e, "keyPath", key_path);
        jval_set_take(obj, c->name, e);
        free(path);
        free(key_path);
    }
    return obj;
}

/* Reads an optional string field; "" and absent give NULL when empty_is_null. */
static enum rkc_err entry_str(const struct jval *e, const char *entry, const char *field,
                              bool empty_is_null, char **ret, struct rkc_error *err)
{
    const struct jval *v = jval_get(e, field);
    const char *s;
    size_t len = 0;

    *ret = NULL;
    if (!v || jval_is_null(v)) {
        if (!empty_is_null)
            *ret = xstrdup("");
        return RKC_OK;
    }
    s = jval_str(v, &len);
    if (!s)
        return rkc_error_set(err, RKC_EINVAL, "certificate bundle entry '%s': %s must be a string",
                             entry, field);
    if (len > PKI_PEM_MAX)
        return rkc_error_set(err, RKC_ELIMIT,
                             "certificate bundle entry '%s': %s is %zu bytes, limit %zu", entry,
                             field, len, PKI_PEM_MAX);
    if (memchr(s, '\0', len))
        return rkc_error_set(err, RKC_EINVAL,
                             "certificate bundle entry '%s': %s contains a NUL byte", entry, field);
    if (len || !empty_is_null)
        *ret = xstrndup(s, len);
    return RKC_OK;
}

enum rkc_err pki_bundle_from_jval(const struct jval *v, struct pki_bundle **ret,
                                  struct rkc_error *err)
{
    struct pki_bundle *b = pki_bundle_new();
    size_t i, n;
    enum rkc_err rc = RKC_OK;

    if (v && !jval_is_null(v) && !jval_is_object(v)) {
        rc = rkc_error_set(err, RKC_EINVAL, "certificate bundle must be a JSON object");
        goto out;
    }
    n = v ? jval_object_size(v) : 0;
    for (i = 0; i < n; i++) {
        struct jval *e = NULL;
        const char *key = jval_object_key_at(v, i, &e);
        const char *name;
        struct pki_cert c;

        memset(&c, 0, sizeof(c));
        if (!entry_name_ok(key)) {
            rc = rkc_error_set(err, RKC_EINVAL, "certificate bundle: invalid entry name '%.64s'",
                               key);
            goto out;
        }
        if (!jval_is_object(e)) {
            rc = rkc_error_set(err, RKC_EINVAL, "certificate bundle entry '%s' must be an object",
                               key);
            goto out;
        }
        name = jval_get_str(e, "name", key);
        if (strcmp(name, key) != 0) {
            rc = rkc_error_set(err, RKC_EINVAL,
                               "certificate bundle entry '%s': name '%.64s' does not match", key,
                               name);
            goto out;
        }
        c.name = xstrdup(key);
        if ((rc = entry_str(e, key, "commonName", false, &c.common_name, err)) ||
            (rc = entry_str(e, key, "ouName", false, &c.org, err)) ||
            (rc = entry_str(e, key, "certificatePEM", true, &c.cert_pem, err)) ||
            (rc = entry_str(e, key, "keyPEM", true, &c.key_pem, err)) ||
            (rc = entry_str(e, key, "publicKeyPEM", true, &c.pub_pem, err))) {
            cert_release(&c);
            goto out;
        }
        if (!c.key_pem) {
            cert_release(&c);
            rc = rkc_error_set(err, RKC_EINVAL, "certificate bundle entry '%s' has no keyPEM", key);
            goto out;
        }
        bundle_put_take(b, &c);
    }
    *ret = b;
    b = NULL;
out:
    pki_bundle_free(b);
    return rc;
}

/* ---- node files -------------------------------------------------------------------- */

static void file_add(struct pki_file **files, size_t *n, const char *file_name, const char *data,
                     mode_t mode, unsigned roles)
{
    size_t i;

    for (i = 0; i < *n; i++) {
        if (!strcmp((*files)[i].file_name, file_name)) {
            (*files)[i].roles |= roles;
            return;
        }
    }
    *files = xreallocarray(*files, *n + 1, sizeof(**files));
    (*files)[*n].file_name = xstrdup(file_name);
    (*files)[*n].data = data;
    (*files)[*n].len = strlen(data);
    (*files)[*n].mode = mode;
    (*files)[*n].roles = roles;
    (*n)++;
}

void pki_files_free(struct pki_file *files, size_t n)
{
    size_t i;

    for (i = 0; files && i < n; i++)
        free(files[i].file_name);
    free(files);
}

/* Adds name.pem (cert, or public key when there is no cert) and name-key.pem. */
static enum rkc_err files_add_pair(const struct pki_bundle *b, const char *name, bool with_key,
                                   unsigned roles, struct pki_file **files, size_t *n,
                                   struct rkc_error *err)
{
    const struct pki_cert *c = pki_bundle_get(b, name);
    const char *pub;
    char *fname;

    if (!c)
        return rkc_error_set(err, RKC_ENOTFOUND, "certificate bundle has no '%s'", name);
    pub = c->cert_pem ? c->cert_pem : c->pub_pem;
    if (!pub || (with_key && !c->key_pem))
        return rkc_error_set(err, RKC_ENOTFOUND, "certificate bundle entry '%s' is incomplete",
                             name);
    fname = xasprintf("%s.pem", name);
    file_add(files, n, fname, pub, 0644, roles);
    free(fname);
    if (with_key) {
        fname = xasprintf("%s-key.pem", name);
        file_add(files, n, fname, c->key_pem, 0600, roles);
        free(fname);
    }
    return RKC_OK;
}

enum rkc_err pki_bundle_node_files(const struct pki_bundle *b, unsigned roles,
                                   const char *node_name, struct pki_file **ret_files,
                                   size_t *ret_nfiles, struct rkc_error *err)
{
    struct pki_file *files = NULL;
    size_t n = 0;
    unsigned cp = roles & CONFIG_ROLE_CONTROLPLANE, etcd = roles & CONFIG_ROLE_ETCD;
    enum rkc_err rc;

    if ((rc = files_add_pair(b, PKI_CA, false, cp | etcd, &files, &n, err)))
        goto out;
    if (etcd) {
        char *name = pki_etcd_cert_name(node_name);

        rc = files_add_pair(b, name, true, CONFIG_ROLE_ETCD, &files, &n, err);
        free(name);
        if (rc || (rc = files_add_pair(b, PKI_ETCD_CLIENT, true, 0, &files, &n, err)))
            goto out;
    }
    if (cp) {
        if ((rc = files_add_pair(b, PKI_ETCD_CLIENT, true, cp, &files, &n, err)) ||
            (rc = files_add_pair(b, PKI_APISERVER, true, cp, &files, &n, err)) ||
            (rc = files_add_pair(b, PKI_SERVICE_ACCOUNT, true, cp, &files, &n, err)) ||
            (rc = files_add_pair(b, PKI_ADMIN, true, 0, &files, &n, err)))
            goto out;
    }
    *ret_files = files;
    *ret_nfiles = n;
    files = NULL;
out:
    pki_files_free(files, n);
    return rc;
}

/* True when path is a regular file holding exactly data; *ret_mode gets its mode. */
static bool file_same(const char *path, const char *data, size_t len, mode_t *ret_mode)
{
    struct strbuf sb = STRBUF_INIT;
    struct stat st;
    bool same = false;
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);

    if (fd < 0)
        return false;
    if (fstat(fd, &st) == 0 && S_ISREG(st.st_mode) && (size_t)st.st_size == len &&
        strbuf_read_fd(&sb, fd, NULL) == RKC_OK && sb.len == len && !memcmp(sb.buf, data, len)) {
        same = true;
        *ret_mode = st.st_mode & 07777;
    }
    close(fd);
    strbuf_release_wipe(&sb);
    return same;
}

static enum rkc_err ssl_dir_prepare(const char *dir, struct rkc_error *err)
{
    char *clean = xstrdup(dir);
    size_t n = strlen(clean);
    char *parent = NULL;
    struct stat st;
    enum rkc_err rc = RKC_OK;

    while (n > 1 && clean[n - 1] == '/')
        clean[--n] = '\0';
    parent = fs_dirname(clean);
    if ((rc = fs_mkdir_p(parent, 0755, err)))
        goto out;
    if (mkdir(clean, 0700) < 0 && errno != EEXIST) {
        rc =
            rkc_error_set(err, RKC_EIO, "cannot create directory '%s': %s", clean, strerror(errno));
        goto out;
    }
    if (lstat(clean, &st) < 0 || !S_ISDIR(st.st_mode)) {
        rc = rkc_error_set(err, RKC_EIO, "'%s' is not a directory", clean);
        goto out;
    }
    if ((st.st_mode & 07777) != 0700 && chmod(clean, 0700) < 0)
        rc = rkc_error_set(err, RKC_EIO, "chmod '%s': %s", clean, strerror(errno));
out:
    free(parent);
    free(clean);
    return rc;
}

enum rkc_err pki_bundle_write_dir(const struct pki_bundle *b, const char *dir, unsigned roles,
                                  const char *node_name, unsigned *ret_changed_roles,
                                  struct rkc_error *err)
{
    struct pki_file *files = NULL;
    size_t n = 0, i;
    unsigned changed = 0;
    enum rkc_err rc;

    if ((rc = pki_bundle_node_files(b, roles, node_name, &files, &n, err)) ||
        (rc = ssl_dir_prepare(dir, err)))
        goto out;
    for (i = 0; i < n; i++) {
        char *path = fs_join(dir, files[i].file_name);
        mode_t mode = 0;

        if (file_same(path, files[i].data, files[i].len, &mode)) {
            if (mode != files[i].mode && chmod(path, files[i].mode) < 0)
                rc = rkc_error_set(err, RKC_EIO, "chmod '%s': %s", path, strerror(errno));
        } else {
            rc = fs_write_atomic(path, files[i].data, files[i].len, files[i].mode, err);
            changed |= files[i].roles;
        }
        free(path);
        if (rc)
            goto out;
    }
    if (ret_changed_roles)
        *ret_changed_roles = changed;
out:
    pki_files_free(files, n);
    return rc;
}
