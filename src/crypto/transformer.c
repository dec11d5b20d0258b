/* SPDX-License-Identifier: Apache-2.0 */
/* transformer: placeholder so the API links; the providers land in the next commit. */
#include "crypto/transformer.h"

#include "util/banned.h"
#include "util/xalloc.h"

#define STUB(...) return rkc_error_set(err, RKC_EINTERNAL, "transformer: not implemented yet")

const char *xf_kind_name(enum xf_kind kind)
{
    static const char *const names[] = {
        "identity", "aescbc", "aesgcm", "secretbox", "kms", "kms"
    };
    return (unsigned)kind < 6 ? names[kind] : "unknown";
}
struct xf_provider *xf_identity_new(void)
{
    return NULL;
}
enum rkc_err xf_keyed_new(enum xf_kind kind, const struct xf_key *keys, size_t nkeys,
                          struct xf_provider **ret, struct rkc_error *err)
{
    (void)kind;
    (void)keys;
    (void)nkeys;
    (void)ret;
    STUB();
}
void xf_kms_annotation_add(struct strbuf *sb, const char *key, const void *value, size_t len)
{
    (void)sb;
    (void)key;
    (void)value;
    (void)len;
}
enum rkc_err xf_kms_v1_new(const char *name, int cachesize, const struct kms_plugin *plugin,
                           struct xf_provider **ret, struct rkc_error *err)
{
    (void)name;
    (void)cachesize;
    (void)plugin;
    (void)ret;
    STUB();
}
enum rkc_err xf_kms_v2_new(const char *name, const struct kms_plugin *plugin,
                           struct xf_provider **ret, struct rkc_error *err)
{
    (void)name;
    (void)plugin;
    (void)ret;
    STUB();
}
enum rkc_err xf_kms_refresh(struct xf_provider *p, struct rkc_error *err)
{
    (void)p;
    STUB();
}
void xf_kms_v2_set_status_interval(struct xf_provider *p, unsigned ms)
{
    (void)p;
    (void)ms;
}
struct xf_provider *xf_provider_ref(struct xf_provider *p)
{
    return p;
}
void xf_provider_free(struct xf_provider *p)
{
    (void)p;
}
enum xf_kind xf_provider_kind(const struct xf_provider *p)
{
    (void)p;
    return XF_IDENTITY;
}
const char *xf_provider_key_name(const struct xf_provider *p, size_t i)
{
    (void)p;
    (void)i;
    return "";
}
size_t xf_provider_nkeys(const struct xf_provider *p)
{
    (void)p;
    return 0;
}
void xf_provider_writer_prefix(const struct xf_provider *p, struct strbuf *out)
{
    (void)p;
    (void)out;
}
struct xf_chain *xf_chain_new(void)
{
    return NULL;
}
void xf_chain_add_take(struct xf_chain *c, struct xf_provider *p)
{
    (void)c;
    (void)p;
}
struct xf_chain *xf_chain_encrypt_check_identity(void)
{
    return NULL;
}
void xf_chain_free(struct xf_chain *c)
{
    (void)c;
}
size_t xf_chain_nproviders(const struct xf_chain *c)
{
    (void)c;
    return 0;
}
const struct xf_provider *xf_chain_provider(const struct xf_chain *c, size_t i)
{
    (void)c;
    (void)i;
    return NULL;
}
enum rkc_err xf_chain_write(const struct xf_chain *c, const char *etcd_key, const uint8_t *pt,
                            size_t len, struct strbuf *ret_stored, struct rkc_error *err)
{
    (void)c;
    (void)etcd_key;
    (void)pt;
    (void)len;
    (void)ret_stored;
    STUB();
}
enum rkc_err xf_chain_read(const struct xf_chain *c, const char *etcd_key, const uint8_t *stored,
                           size_t len, struct strbuf *ret_pt, struct xf_read_info *ret_info,
                           struct rkc_error *err)
{
    (void)c;
    (void)etcd_key;
    (void)stored;
    (void)len;
    (void)ret_pt;
    (void)ret_info;
    STUB();
}
enum rkc_err xf_chain_writer_prefix(const struct xf_chain *c, struct strbuf *ret_prefix,
                                    struct rkc_error *err)
{
    (void)c;
    (void)ret_prefix;
    STUB();
}
void xf_set_random_source_for_testing(xf_random_fn fn)
{
    (void)fn;
}
