/* SPDX-License-Identifier: Apache-2.0 */
/* Unit tests for core/config: every key, defaults, and positioned errors for bad input. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "core/config.h"
#include "util/strbuf.h"

static struct cluster_config *parse_ok(const char *yml)
{
    struct cluster_config *cfg = NULL;
    struct rkc_error err;

    rkc_error_init(&err);
    if (config_parse("cluster.yml", "/tmp", yml, strlen(yml), &cfg, &err)) {
        print_error("unexpected error: %s\n", err.msg);
        fail();
    }
    return cfg;
}

static void test_full_config(void **state)
{
    static const char yml[] = "cluster_name: prod\n"
                              "prefix_path: /opt/rkc\n"
                              "ssh_key_path: /root/.ssh/key\n"
                              "ssh_agent_auth: true\n"
                              "rotate_encryption_key: true\n"
                              "nodes:\n"
                              "  - address: 10.0.0.1\n"
                              "    port: 2222\n"
                              "    user: admin\n"
                              "    role: [controlplane, etcd]\n"
                              "    ssh_key_path: /keys/n1\n"
                              "    hostname_override: cp1\n"
                              "  - address: 10.0.0.2\n"
                              "    port: \"22\"\n"
                              "    role:\n"
                              "      - worker\n"
                              "    transport: ssh\n"
                              "  - address: 127.0.0.1\n"
                              "    transport: local\n"
                              "    role: [etcd]\n"
                              "services:\n"
                              "  etcd:\n"
                              "    snapshot: true\n"
                              "    retention: 72h\n"
                              "    extra_args:\n"
                              "      heartbeat-interval: 500\n"
                              "      election-timeout: \"5000\"\n"
                              "  kube-api:\n"
                              "    binary: /usr/bin/kube-apiserver\n"
                              "    service_cluster_ip_range: 10.96.0.0/12\n"
                              "    extra_args: {v: 2, audit-log-path: /var/log/audit.log}\n"
                              "    extra_binds:\n"
                              "      - \"/var/run/kmsplugin/:/var/run/kmsplugin/\"\n"
                              "    secrets_encryption_config:\n"
                              "      enabled: true\n"
                              "      custom_config:\n"
                              "        apiVersion: apiserver.config.k8s.io/v1\n"
                              "        kind: EncryptionConfiguration\n"
                              "        resources:\n"
                              "        - resources: [secrets]\n"
                              "          providers:\n"
                              "          - identity: {}\n";
    struct cluster_config *cfg = parse_ok(yml);
    const struct ytree_node *cc;
    char roles[64];

    (void)state;
    assert_string_equal(cfg->cluster_name, "prod");
    assert_string_equal(cfg->prefix_path, "/opt/rkc");
    assert_string_equal(cfg->ssh_key_path, "/root/.ssh/key");
    assert_true(cfg->ssh_agent_auth);
    assert_true(cfg->rotate_encryption_key);
    assert_int_equal(cfg->nnodes, 3);
    assert_string_equal(cfg->nodes[0].address, "10.0.0.1");
    assert_int_equal(cfg->nodes[0].port, 2222);
    assert_string_equal(cfg->nodes[0].user, "admin");
    assert_int_equal(cfg->nodes[0].roles, CONFIG_ROLE_CONTROLPLANE | CONFIG_ROLE_ETCD);
    assert_string_equal(config_role_names(cfg->nodes[0].roles, roles, sizeof(roles)),
                        "controlplane,etcd");
    assert_string_equal(cfg->nodes[0].ssh_key_path, "/keys/n1");
    assert_string_equal(cfg->nodes[0].name, "cp1");
    assert_string_equal(cfg->nodes[0].prefix, "/opt/rkc");
    assert_int_equal(cfg->nodes[0].line, 7);
    assert_int_equal(cfg->nodes[0].col, 5);
    assert_int_equal(cfg->nodes[1].port, 22);
    assert_string_equal(cfg->nodes[1].user, "root");
    assert_int_equal(cfg->nodes[1].roles, CONFIG_ROLE_WORKER);
    assert_int_equal(cfg->nodes[1].transport, CONFIG_TRANSPORT_SSH);
    assert_string_equal(cfg->nodes[1].name, "10.0.0.2");
    assert_int_equal(cfg->nodes[2].transport, CONFIG_TRANSPORT_LOCAL);
    assert_string_equal(cfg->nodes[2].prefix, "/opt/rkc/127.0.0.1");
    assert_int_equal(config_count_role(cfg, CONFIG_ROLE_ETCD), 2);
    assert_true(cfg->etcd.snapshot);
    assert_string_equal(cfg->etcd.retention, "72h");
    assert_int_equal(cfg->etcd.nextra_args, 2);
    assert_string_equal(cfg->etcd.extra_args[0].key, "heartbeat-interval");
    assert_string_equal(cfg->etcd.extra_args[0].value, "500");
    assert_string_equal(cfg->etcd.extra_args[1].value, "5000");
    assert_string_equal(cfg->kube_api.binary, "/usr/bin/kube-apiserver");
    assert_string_equal(cfg->kube_api.service_cluster_ip_range, "10.96.0.0/12");
    assert_int_equal(cfg->kube_api.nextra_args, 2);
    assert_string_equal(cfg->kube_api.extra_args[1].key, "audit-log-path");
    assert_int_equal(cfg->kube_api.nextra_binds, 1);
    assert_string_equal(cfg->kube_api.extra_binds[0], "/var/run/kmsplugin/:/var/run/kmsplugin/");
    assert_true(cfg->kube_api.secrets_encryption.present);
    assert_true(cfg->kube_api.secrets_encryption.enabled);
    cc = cfg->kube_api.secrets_encryption.custom_config;
    assert_non_null(cc);
    assert_int_equal(cc->line, 37);
    assert_string_equal(ytree_map_get(cc, "kind")->str, "EncryptionConfiguration");
    assert_int_equal(cfg->nwarnings, 0);
    config_free(cfg);
}

static void test_defaults(void **state)
{
    struct cluster_config *cfg =
        parse_ok("nodes:\n- {address: 127.0.0.1, transport: local, role: [controlplane, etcd]}\n");

    (void)state;
    assert_string_equal(cfg->cluster_name, "local");
    assert_string_equal(cfg->ssh_key_path, "~/.ssh/id_rsa");
    assert_false(cfg->ssh_agent_auth);
    assert_false(cfg->rotate_encryption_key);
    assert_null(cfg->prefix_path);
    assert_string_equal(cfg->nodes[0].prefix, "/tmp/.rkc/127.0.0.1");
    assert_int_equal(cfg->nodes[0].port, 22);
    assert_false(cfg->etcd.snapshot);
    assert_string_equal(cfg->etcd.retention, "24h");
    assert_null(cfg->kube_api.binary);
    assert_string_equal(cfg->kube_api.service_cluster_ip_range, "10.43.0.0/16");
    assert_false(cfg->kube_api.secrets_encryption.present);
    assert_false(cfg->kube_api.secrets_encryption.enabled);
    config_free(cfg);
}

static void test_encryption_block_forms(void **state)
{
    struct cluster_config *cfg;

    (void)state;
    cfg = parse_ok("nodes: [{address: a, role: [controlplane, etcd]}]\n"
                   "services:\n  kube-api:\n    secrets_encryption_config:\n");
    assert_true(cfg->kube_api.secrets_encryption.present);
    assert_false(cfg->kube_api.secrets_encryption.enabled);
    config_free(cfg);
    cfg =
        parse_ok("nodes: [{address: a, role: [controlplane, etcd]}]\n"
                 "services:\n  kube-api:\n    secrets_encryption_config:\n      enabled: false\n");
    assert_false(cfg->kube_api.secrets_encryption.enabled);
    config_free(cfg);
    /* custom_config with enabled false: kept, with a warning */
    cfg = parse_ok("nodes: [{address: a, role: [controlplane, etcd]}]\n"
                   "services:\n  kube-api:\n    secrets_encryption_config:\n"
                   "      custom_config: {kind: EncryptionConfiguration}\n");
    assert_non_null(cfg->kube_api.secrets_encryption.custom_config);
    assert_int_equal(cfg->nwarnings, 1);
    assert_non_null(strstr(cfg->warnings[0], "cluster.yml:5:22: custom_config is given but"));
    config_free(cfg);
}

static void test_rke_keys_ignored_with_warning(void **state)
{
    struct cluster_config *cfg = parse_ok("kubernetes_version: v1.26.8-rancher1-1\n"
                                          "network: {plugin: canal}\n"
                                          "nodes:\n"
                                          "- address: 10.0.0.1\n"
                                          "  internal_address: 192.168.0.1\n"
                                          "  role: [controlplane, etcd, worker]\n"
                                          "services:\n"
                                          "  kubelet: {}\n"
                                          "  kube-api:\n"
                                          "    service_node_port_range: 30000-32767\n");

    (void)state;
    assert_int_equal(cfg->nwarnings, 5);
    assert_string_equal(cfg->warnings[0],
                        "cluster.yml:1:1: key 'kubernetes_version' in the cluster file is "
                        "accepted for RKE compatibility and ignored: rkc does not manage it");
    assert_non_null(
        strstr(cfg->warnings[2], "cluster.yml:5:3: key 'internal_address' in nodes[0]"));
    config_free(cfg);
}

static void test_json_form(void **state)
{
    struct cluster_config *cfg =
        parse_ok("{\"cluster_name\": \"j\", \"nodes\": [{\"address\": \"h1\", \"role\": [\"etcd\", "
                 "\"controlplane\"]}]}");
    struct jval *j;
    struct strbuf sb = STRBUF_INIT;

    (void)state;
    assert_string_equal(cfg->cluster_name, "j");
    j = config_to_jval(cfg);
    jval_dump(j, JVAL_COMPACT, &sb);
    assert_non_null(strstr(sb.buf, "\"clusterName\":\"j\""));
    assert_non_null(strstr(sb.buf, "\"role\":[\"controlplane\",\"etcd\"]"));
    assert_non_null(strstr(sb.buf, "\"port\":\"22\""));
    strbuf_release(&sb);
    jval_decref(j);
    config_free(cfg);
}

static void test_to_jval_custom_config_types(void **state)
{
    struct cluster_config *cfg =
        parse_ok("nodes: [{address: a, role: [controlplane, etcd]}]\n"
                 "services:\n  kube-api:\n    secrets_encryption_config:\n      enabled: true\n"
                 "      custom_config:\n        n: 1000\n        s: \"1000\"\n        b: true\n"
                 "        z: ~\n        l: [x]\n");
    struct jval *j = config_to_jval(cfg);
    struct strbuf sb = STRBUF_INIT;

    (void)state;
    jval_dump(j, JVAL_COMPACT, &sb);
    assert_non_null(strstr(sb.buf,
                           "\"secretsEncryptionConfig\":{\"enabled\":true,\"customConfig\":"
                           "{\"n\":1000,\"s\":\"1000\",\"b\":true,\"z\":null,\"l\":[\"x\"]}}"));
    strbuf_release(&sb);
    jval_decref(j);
    config_free(cfg);
}

struct bad_case {
    const char *yml;
    const char *msg;
};

#define N1 "nodes: [{address: 10.0.0.1, role: [controlplane, etcd]}]\n"

static const struct bad_case bad_cases[] = {
    /* 1 */ { "", "cluster.yml:1:1: the file is empty (expected a mapping with at least 'nodes')" },
    /* 2 */ { "- a\n- b\n", "cluster.yml:1:1: the cluster file must be a mapping, not a list" },
    /* 3 */
    { "cluster_name: x\n", "cluster.yml:1:1: missing required key 'nodes' in the cluster file" },
    /* 4 */ { "nodes: []\n", "cluster.yml:1:1: nodes must list at least one node" },
    /* 5 */ { "nodes: {a: b}\n", "cluster.yml:1:8: nodes must be a list, not a mapping" },
    /* 6 */
    { "nodes:\n  - address: 10.0.0.1\n    rolez: [etcd]\n",
      "cluster.yml:3:5: unknown key 'rolez' in nodes[0] (did you mean 'role'?)" },
    /* 7 */
    { "nodes:\n  - role: [etcd]\n", "cluster.yml:2:5: missing required key 'address' in nodes[0]" },
    /* 8 */
    { "nodes:\n  - address: 10.0.0.1\n",
      "cluster.yml:2:5: missing required key 'role' in nodes[0]" },
    /* 9 */
    { "nodes:\n  - address: 10.0.0.1\n    role: [controlplane, etcdd]\n",
      "cluster.yml:3:26: unknown role 'etcdd' in nodes[0].role (did you mean 'etcd'?)" },
    /* 10 */
    { "nodes:\n  - address: 10.0.0.1\n    role: [master]\n",
      "cluster.yml:3:12: unknown role 'master' in nodes[0].role (expected controlplane, "
      "etcd or worker)" },
    /* 11 */
    { "nodes:\n  - address: 10.0.0.1\n    role: []\n",
      "cluster.yml:3:11: nodes[0].role must list at least one of controlplane, etcd, "
      "worker" },
    /* 12 */
    { "nodes:\n  - address: 10.0.0.1\n    role: etcd\n",
      "cluster.yml:3:11: nodes[0].role must be a list, not a string" },
    /* 13 */
    { "nodes:\n  - address: 10.0.0.1\n    role: [etcd, etcd, controlplane]\n",
      "cluster.yml:3:18: duplicate role 'etcd' in nodes[0].role" },
    /* 14 */
    { "nodes:\n  - address: 10.0.0.1\n    role: [etcd]\n",
      "cluster.yml:1:1: no node has the 'controlplane' role (at least one is needed to "
      "run the API server)" },
    /* 15 */
    { "nodes:\n  - address: 10.0.0.1\n    role: [controlplane]\n",
      "cluster.yml:1:1: no node has the 'etcd' role (at least one is needed to run etcd)" },
    /* 16 */
    { "nodes:\n  - {address: 10.0.0.1, role: [etcd]}\n"
      "  - {address: 10.0.0.1, role: [controlplane]}\n",
      "cluster.yml:3:15: duplicate address '10.0.0.1' in nodes[1] (already used by "
      "nodes[0] at line 2)" },
    /* 17 */
    { "nodes:\n  - {address: 10.0.0.1, hostname_override: n, role: [etcd]}\n"
      "  - {address: 10.0.0.2, hostname_override: n, role: [controlplane]}\n",
      "cluster.yml:3:5: duplicate node name 'n' in nodes[1] (already used by nodes[0] at "
      "line 2)" },
    /* 18 */
    { "nodes:\n  - {address: 10.0.0.1, port: 70000, role: [etcd]}\n",
      "cluster.yml:2:31: nodes[0].port must be between 1 and 65535, not 70000" },
    /* 19 */
    { "nodes:\n  - {address: 10.0.0.1, port: ssh, role: [etcd]}\n",
      "cluster.yml:2:31: nodes[0].port must be a whole number, not 'ssh'" },
    /* 20 */
    { "nodes:\n  - {address: 10.0.0.1, transport: telnet, role: [etcd]}\n",
      "cluster.yml:2:36: unknown transport 'telnet' in nodes[0] (expected ssh or local)" },
    /* 21 */
    { "nodes:\n  - {address: 10.0.0.1, transport: locl, role: [etcd]}\n",
      "cluster.yml:2:36: unknown transport 'locl' in nodes[0] (expected ssh or local; "
      "did you mean 'local'?)" },
    /* 22 */
    { "nodes:\n  - {address: [a], role: [etcd]}\n",
      "cluster.yml:2:15: nodes[0].address must be a string, not a list" },
    /* 23 */
    { "nodes:\n  - {address: \"\", role: [etcd]}\n",
      "cluster.yml:2:15: invalid address '' in nodes[0]" },
    /* 24 */
    { "nodes:\n  - 10.0.0.1\n", "cluster.yml:2:5: nodes[0] must be a mapping, not a string" },
    /* 25 */
    { N1 "ssh_agent_auth: yes please\n",
      "cluster.yml:2:17: ssh_agent_auth must be true or false, not 'yes please'" },
    /* 26 */
    { N1 "rotate_encryption_key: \"true\"\n",
      "cluster.yml:2:24: rotate_encryption_key must be true or false, not 'true' (a "
      "quoted string)" },
    /* 27 */
    { N1 "cluster_name: [a]\n", "cluster.yml:2:15: cluster_name must be a string, not a list" },
    /* 28 */ { N1 "cluster_name: \"\"\n", "cluster.yml:2:15: cluster_name must not be empty" },
    /* 29 */
    { N1 "servces: {}\n",
      "cluster.yml:2:1: unknown key 'servces' in the cluster file (did you mean "
      "'services'?)" },
    /* 30 */
    { N1 "services: [etcd]\n", "cluster.yml:2:11: services must be a mapping, not a list" },
    /* 31 */
    { N1 "services:\n  kube-apiserver: {}\n",
      "cluster.yml:3:3: unknown key 'kube-apiserver' in services" },
    /* 32 */
    { N1 "services:\n  etcd:\n    snapshot: daily\n",
      "cluster.yml:4:15: services.etcd.snapshot must be true or false, not 'daily'" },
    /* 33 */
    { N1 "services:\n  etcd:\n    extra_args: [a]\n",
      "cluster.yml:4:17: services.etcd.extra_args must be a mapping, not a list" },
    /* 34 */
    { N1 "services:\n  kube-api:\n    extra_args: {v: [1]}\n",
      "cluster.yml:4:21: services.kube-api.extra_args.v must be a string, not a list" },
    /* 35 */
    { N1 "services:\n  kube-api:\n    extra_binds: /a:/b\n",
      "cluster.yml:4:18: services.kube-api.extra_binds must be a list, not a string" },
    /* 36 */
    { N1 "services:\n  kube-api:\n    extra_binds: [{a: b}]\n",
      "cluster.yml:4:19: services.kube-api.extra_binds[0] must be a string, not a "
      "mapping" },
    /* 37 */
    { N1 "services:\n  kube-api:\n    secrets_encryption_config:\n      enable: true\n",
      "cluster.yml:5:7: unknown key 'enable' in "
      "services.kube-api.secrets_encryption_config (did you mean 'enabled'?)" },
    /* 38 */
    { N1 "services:\n  kube-api:\n    secrets_encryption_config:\n      enabled: 1\n",
      "cluster.yml:5:16: services.kube-api.secrets_encryption_config.enabled must be "
      "true or false, not '1'" },
    /* 39 */
    { N1 "services:\n  kube-api:\n    secrets_encryption_config:\n      enabled: true\n"
         "      custom_config: [a]\n",
      "cluster.yml:6:22: services.kube-api.secrets_encryption_config.custom_config must "
      "be a mapping, not a list" },
    /* 40 */
    { N1 "services:\n  kube-api:\n    service_cluster_ip_range: 10.43.0.0\n",
      "cluster.yml:4:31: services.kube-api.service_cluster_ip_range: '10.43.0.0' is not "
      "a CIDR such as 10.43.0.0/16" },
    /* 41 */
    { N1 "services:\n  kube-api:\n    binary: ~\n    binary: /x\n",
      "cluster.yml:5:5: duplicate key 'binary' (first at line 4)" },
    /* 42 */
    { "nodes: [\n", "cluster.yml:2:1: did not find expected node content while parsing "
                    "a flow node" },
    /* 43 */ { "a: b\n---\nc: d\n", "cluster.yml:2:1: more than one yaml document in the file" },
    /* 44 */ { "nodes: *x\n", "cluster.yml:1:8: unknown alias '*x'" },
    /* 45 */
    { N1 "services:\n  kube-api:\n    extra_args: {\"a b\": c}\n",
      "cluster.yml:4:18: invalid flag name 'a b' in services.kube-api.extra_args" },
    /* 46 */
    { "nodes:\n  - {address: 10.0.0.1, hostname_override: a/b, role: [etcd]}\n",
      "cluster.yml:2:44: invalid hostname_override 'a/b' in nodes[0]" },
    /* 47 */
    { N1 "prefix_path: true\n", "cluster.yml:2:14: prefix_path must be a string, not a boolean" },
    /* 48 */
    { "\tnodes: []\n", "cluster.yml:1:1: found character that cannot start any token "
                       "while scanning for the next token" },
    /* services.kms-plugin */
    { N1 "services:\n  kms-plugin:\n    binary: /bin/kms\n",
      "cluster.yml:4:5: missing required key 'socket' in services.kms-plugin" },
    { N1 "services:\n  kms-plugin:\n    socket: unix:///run/k.sock\n",
      "cluster.yml:4:13: services.kms-plugin.socket: write the socket path ('/run/k.sock'), not a "
      "URL" },
    { N1 "services:\n  kms-plugin:\n    socket: run/k.sock\n",
      "cluster.yml:4:13: services.kms-plugin.socket: 'run/k.sock' is not an absolute path" },
    { N1 "services:\n  kms-plugin:\n    socket: /run/k.sock\n    sockett: x\n",
      "cluster.yml:5:5: unknown key 'sockett' in services.kms-plugin (did you mean 'socket'?)" },
    { N1 "services:\n  kms-plugin:\n    socket: /run/k.sock\n    extra_args: [a]\n",
      "cluster.yml:5:17: services.kms-plugin.extra_args must be a mapping, not a list" },
    { N1 "services:\n  kms-plugin: [x]\n",
      "cluster.yml:3:15: services.kms-plugin must be a mapping, not a list" },
    { N1 "services:\n  kms-plugin:\n    socket: /run/k.sock\n    binary: \"\"\n",
      "cluster.yml:5:13: services.kms-plugin.binary is empty" },
};

static void test_bad_inputs(void **state)
{
    size_t i, bad = 0;

    (void)state;
    for (i = 0; i < sizeof(bad_cases) / sizeof(bad_cases[0]); i++) {
        struct cluster_config *cfg = NULL;
        struct rkc_error err;
        enum rkc_err rc;

        rkc_error_init(&err);
        rc = config_parse("cluster.yml", "/tmp", bad_cases[i].yml, strlen(bad_cases[i].yml), &cfg,
                          &err);
        if (rc == RKC_OK || strcmp(err.msg, bad_cases[i].msg)) {
            print_error("case %zu:\n  input: %s\n  want: %s\n  got:  %s\n", i + 1, bad_cases[i].yml,
                        bad_cases[i].msg, rc ? err.msg : "(accepted)");
            config_free(cfg);
            bad++;
            continue;
        }
        assert_null(cfg);
    }
    assert_int_equal(bad, 0);
}

static void test_kms_plugin(void **state)
{
    static const char yml[] = "nodes:\n"
                              "  - address: 127.0.0.1\n"
                              "    role: [controlplane, etcd]\n"
                              "services:\n"
                              "  kms-plugin:\n"
                              "    socket: /var/run/kmsplugin/socket.sock\n"
                              "    binary: /usr/local/bin/aws-encryption-provider\n"
                              "    extra_args:\n"
                              "      key: arn:aws:kms:us-west-2:000000000000:key/k\n"
                              "      --region: us-west-2\n"
                              "  kube-api:\n"
                              "    extra_binds: [\"/var/run/kmsplugin/:/var/run/kmsplugin/\"]\n";
    struct cluster_config *cfg = parse_ok(yml), *plain;
    struct jval *j;
    struct strbuf dump = STRBUF_INIT;

    (void)state;
    assert_true(cfg->kms_plugin.present);
    assert_string_equal(cfg->kms_plugin.socket, "/var/run/kmsplugin/socket.sock");
    assert_string_equal(cfg->kms_plugin.binary, "/usr/local/bin/aws-encryption-provider");
    assert_int_equal(cfg->kms_plugin.nextra_args, 2);
    assert_string_equal(cfg->kms_plugin.extra_args[0].key, "key");
    assert_string_equal(cfg->kms_plugin.extra_args[1].key, "region"); /* dashes dropped */
    assert_string_equal(cfg->kms_plugin.extra_args[1].value, "us-west-2");
    assert_int_equal(cfg->kms_plugin.line, 6);
    assert_int_equal(cfg->nwarnings, 1); /* the dashes */
    assert_int_equal(cfg->kube_api.nextra_binds, 1);
    j = config_to_jval(cfg);
    jval_dump(j, 0, &dump);
    assert_non_null(strstr(dump.buf, "\"kmsPlugin\""));
    assert_non_null(strstr(dump.buf, "/var/run/kmsplugin/socket.sock"));
    strbuf_release(&dump);
    jval_decref(j);
    config_free(cfg);

    /* absent block, and a block with only the socket: binary defaults to NULL (rkc-kms) */
    plain = parse_ok("nodes:\n  - address: 127.0.0.1\n    role: [controlplane, etcd]\n");
    assert_false(plain->kms_plugin.present);
    assert_null(plain->kms_plugin.socket);
    config_free(plain);
    plain = parse_ok("nodes:\n  - address: 127.0.0.1\n    role: [controlplane, etcd]\n"
                     "services:\n  kms-plugin:\n    socket: /run/k.sock\n");
    assert_true(plain->kms_plugin.present);
    assert_null(plain->kms_plugin.binary);
    assert_int_equal(plain->kms_plugin.nextra_args, 0);
    config_free(plain);
}

static void test_alias_bomb_limited(void **state)
{
    struct strbuf sb = STRBUF_INIT;
    struct cluster_config *cfg = NULL;
    struct rkc_error err;
    int i;

    (void)state;
    strbuf_addstr(&sb, "a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n");
    for (i = 1; i < 12; i++)
        strbuf_addf(&sb, "a%d: &a%d [*a%d, *a%d, *a%d, *a%d, *a%d, *a%d, *a%d, *a%d]\n", i, i,
                    i - 1, i - 1, i - 1, i - 1, i - 1, i - 1, i - 1, i - 1);
    rkc_error_init(&err);
    assert_int_equal(config_parse("cluster.yml", "/tmp", sb.buf, sb.len, &cfg, &err), RKC_ELIMIT);
    assert_non_null(strstr(err.msg, "more than"));
    strbuf_release(&sb);
}

static void test_deep_nesting_limited(void **state)
{
    struct strbuf sb = STRBUF_INIT;
    struct cluster_config *cfg = NULL;
    struct rkc_error err;
    int i;

    (void)state;
    for (i = 0; i < 10000; i++)
        strbuf_addch(&sb, '[');
    rkc_error_init(&err);
    assert_int_not_equal(config_parse("cluster.yml", "/tmp", sb.buf, sb.len, &cfg, &err), RKC_OK);
    strbuf_release(&sb);
}

static void test_load_missing_file(void **state)
{
    struct cluster_config *cfg = NULL;
    struct rkc_error err;

    (void)state;
    rkc_error_init(&err);
    assert_int_equal(config_load("/nonexistent/cluster.yml", &cfg, &err), RKC_ENOTFOUND);
    assert_string_equal(err.msg, "cluster file '/nonexistent/cluster.yml' not found (use --config "
                                 "FILE, or 'rkc config' to print a sample)");
}

static void test_sample_parses(void **state)
{
    struct cluster_config *cfg = parse_ok(config_sample());

    (void)state;
    assert_true(cfg->kube_api.secrets_encryption.enabled);
    assert_int_equal(cfg->nwarnings, 0);
    config_free(cfg);
}

static void test_example_file(void **state)
{
    const char *src = getenv("RKC_FIXTURES");
    struct cluster_config *cfg = NULL;
    struct rkc_error err;
    char path[4096];

    (void)state;
    assert_non_null(src);
    snprintf(path, sizeof(path), "%s/../../examples/local/cluster.yml", src);
    rkc_error_init(&err);
    if (config_load(path, &cfg, &err)) {
        print_error("%s\n", err.msg);
        fail();
    }
    assert_int_equal(cfg->nnodes, 1);
    assert_int_equal(cfg->nodes[0].transport, CONFIG_TRANSPORT_LOCAL);
    assert_non_null(strstr(cfg->nodes[0].prefix, "/examples/local/.rkc/node1"));
    config_free(cfg);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_full_config),
        cmocka_unit_test(test_defaults),
        cmocka_unit_test(test_encryption_block_forms),
        cmocka_unit_test(test_rke_keys_ignored_with_warning),
        cmocka_unit_test(test_json_form),
        cmocka_unit_test(test_to_jval_custom_config_types),
        cmocka_unit_test(test_bad_inputs),
        cmocka_unit_test(test_kms_plugin),
        cmocka_unit_test(test_alias_bomb_limited),
        cmocka_unit_test(test_deep_nesting_limited),
        cmocka_unit_test(test_load_missing_file),
        cmocka_unit_test(test_sample_parses),
        cmocka_unit_test(test_example_file),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
