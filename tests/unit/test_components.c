/* SPDX-License-Identifier: Apache-2.0 */
/* Unit tests for core/components: the etcd and API server flag sets. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "core/components.h"

static struct cluster_config *parse(const char *yml)
{
    struct cluster_config *cfg = NULL;
    struct rkc_error err;

    if (config_parse("cluster.yml", "/srv", yml, strlen(yml), &cfg, &err)) {
        print_error("%s\n", err.msg);
        fail();
    }
    return cfg;
}

static bool has(const struct argv_list *a, const char *arg)
{
    size_t i;

    for (i = 0; i < a->n; i++) {
        if (!strcmp(a->v[i], arg))
            return true;
    }
    return false;
}

static bool has_prefix(const struct argv_list *a, const char *prefix)
{
    size_t i;

    for (i = 0; i < a->n; i++) {
        if (!strncmp(a->v[i], prefix, strlen(prefix)))
            return true;
    }
    return false;
}

static const char three[] = "cluster_name: c3\n"
                            "nodes:\n"
                            "- {address: 10.0.0.1, role: [controlplane, etcd]}\n"
                            "- {address: 10.0.0.2, hostname_override: n2, role: [etcd]}\n"
                            "- {address: 'fd00::3', role: [etcd, worker]}\n"
                            "services:\n"
                            "  etcd: {extra_args: {heartbeat-interval: '500', name: custom}}\n"
                            "  kube-api: {extra_args: {v: '2'}}\n";

static void test_etcd_flags(void **state)
{
    struct cluster_config *cfg = parse(three);
    struct argv_list a = { 0 };

    (void)state;
    components_etcd_argv(cfg, &cfg->nodes[0], false, &a);
    assert_string_equal(a.v[0], "etcd");
    assert_true(has(&a, "--listen-client-urls=https://10.0.0.1:2379"));
    assert_true(has(&a, "--listen-peer-urls=https://10.0.0.1:2380"));
    assert_true(has(&a, "--initial-cluster=10.0.0.1=https://10.0.0.1:2380,"
                        "n2=https://10.0.0.2:2380,fd00::3=https://[fd00::3]:2380"));
    assert_true(has(&a, "--initial-cluster-state=new"));
    assert_true(has(&a, "--initial-cluster-token=rkc-c3"));
    assert_true(has(&a, "--data-dir=/var/lib/etcd"));
    assert_true(has(&a, "--cert-file=/etc/kubernetes/ssl/kube-etcd-10-0-0-1.pem"));
    assert_true(has(&a, "--client-cert-auth=true"));
    assert_true(has(&a, "--peer-client-cert-auth=true"));
    /* extra_args win over rkc's own flag and come last */
    assert_false(has(&a, "--name=10.0.0.1"));
    assert_string_equal(a.v[a.n - 1], "--name=custom");
    assert_true(has(&a, "--heartbeat-interval=500"));
    assert_null(a.v[a.n]);
    argv_free(&a);
    components_etcd_argv(cfg, &cfg->nodes[2], true, &a);
    assert_true(has(&a, "--advertise-client-urls=https://[fd00::3]:2379"));
    assert_true(has(&a, "--initial-cluster-state=existing"));
    argv_free(&a);
    config_free(cfg);
}

static void test_apiserver_flags_embedded(void **state)
{
    struct cluster_config *cfg = parse(three);
    struct argv_list a = { 0 };
    char *enc = components_encryption_path(&cfg->nodes[0]);

    (void)state;
    assert_string_equal(enc, "/etc/kubernetes/ssl/encryption.yaml");
    components_apiserver_argv(cfg, &cfg->nodes[0], "/opt/rkc/rkc-apiserver", NULL, &a);
    assert_string_equal(a.v[0], "/opt/rkc/rkc-apiserver");
    assert_true(has(&a, "--etcd-servers=https://10.0.0.1:2379,https://10.0.0.2:2379,"
                        "https://[fd00::3]:2379"));
    assert_true(has(&a, "--bind-address=10.0.0.1"));
    assert_true(has(&a, "--secure-port=6443"));
    assert_true(has(&a, "--client-ca-file=/etc/kubernetes/ssl/kube-ca.pem"));
    assert_true(has(&a, "--etcd-certfile=/etc/kubernetes/ssl/kube-etcd-client.pem"));
    assert_false(has_prefix(&a, "--encryption-provider-config"));
    assert_false(has_prefix(&a, "--service-account"));
    assert_true(has(&a, "--v=2"));
    argv_free(&a);
    components_apiserver_argv(cfg, &cfg->nodes[0], "/opt/rkc/rkc-apiserver", enc, &a);
    assert_true(has(&a, "--encryption-provider-config=/etc/kubernetes/ssl/encryption.yaml"));
    assert_true(has(&a, "--encryption-provider-config-automatic-reload=true"));
    assert_true(components_apiserver_reloads(cfg));
    argv_free(&a);
    free(enc);
    config_free(cfg);
}

static void test_apiserver_flags_real_binary(void **state)
{
    struct cluster_config *cfg =
        parse("nodes: [{address: 10.1.1.1, role: [controlplane, etcd]}]\n"
              "prefix_path: /opt/k\n"
              "services:\n  kube-api:\n    binary: /usr/local/bin/kube-apiserver\n"
              "    service_cluster_ip_range: 10.96.0.0/12\n");
    struct argv_list a = { 0 };

    (void)state;
    assert_false(components_apiserver_reloads(cfg));
    components_apiserver_argv(cfg, &cfg->nodes[0], "/opt/rkc/rkc-apiserver",
                              "/opt/k/etc/kubernetes/ssl/encryption.yaml", &a);
    assert_string_equal(a.v[0], "/usr/local/bin/kube-apiserver");
    assert_true(has(&a, "--service-cluster-ip-range=10.96.0.0/12"));
    assert_true(has(&a, "--service-account-key-file=/opt/k/etc/kubernetes/ssl/"
                        "kube-service-account-token.pem"));
    assert_true(has(&a, "--service-account-signing-key-file=/opt/k/etc/kubernetes/ssl/"
                        "kube-service-account-token-key.pem"));
    assert_true(has_prefix(&a, "--service-account-issuer="));
    assert_true(has(&a, "--cert-dir=/opt/k/etc/kubernetes/ssl"));
    assert_true(has(&a, "--authorization-mode=RBAC"));
    assert_true(has(&a, "--advertise-address=10.1.1.1"));
    assert_true(has(&a, "--encryption-provider-config=/opt/k/etc/kubernetes/ssl/encryption.yaml"));
    /* a real kube-apiserver is restarted instead (its reload polls once a minute) */
    assert_false(has_prefix(&a, "--encryption-provider-config-automatic-reload"));
    argv_free(&a);
    config_free(cfg);
}

static void test_urls(void **state)
{
    struct cluster_config *cfg = parse(three);
    char *u = components_apiserver_url(&cfg->nodes[2]);

    (void)state;
    assert_string_equal(u, "https://[fd00::3]:6443");
    free(u);
    config_free(cfg);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_etcd_flags),
        cmocka_unit_test(test_apiserver_flags_embedded),
        cmocka_unit_test(test_apiserver_flags_real_binary),
        cmocka_unit_test(test_urls),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
