/* SPDX-License-Identifier: Apache-2.0 */
/*
 * test_kube: kubeconfig reading (current context, embedded data, paths, tokens, positioned
 * errors), path escaping, and transport errors of kube_request.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#include <cmocka.h>

#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "adapters/kube.h"
#include "util/strbuf.h"

static const char good[] =
    "apiVersion: v1\n"
    "kind: Config\n"
    "clusters:\n"
    "- name: other\n"
    "  cluster: {server: 'https://10.0.0.9:6443'}\n"
    "- name: local\n"
    "  cluster:\n"
    "    server: https://127.0.0.1:6443/\n"
    "    certificate-authority-data: LS0tLS1CRUdJTiBDRVJUSUZJQ0FURS0tLS0tCg==\n"
    "users:\n"
    "- name: kube-admin-local\n"
    "  user:\n"
    "    client-certificate-data: LS0tLS1CRUdJTg==\n"
    "    client-key-data: LS0tLS1CRUdJTg==\n"
    "contexts:\n"
    "- name: local\n"
    "  context: {cluster: local, user: kube-admin-local}\n"
    "current-context: local\n";

static enum rkc_err load(const char *text, struct kube_client **ret, struct rkc_error *err)
{
    return kube_client_from_kubeconfig_mem("/etc/rkc/kube.yml", text, strlen(text), 0, ret, err);
}

static void test_kubeconfig_good(void **ctx)
{
    struct kube_client *c = NULL;
    struct rkc_error err;

    (void)ctx;
    assert_int_equal(load(good, &c, &err), RKC_OK);
    assert_string_equal(kube_client_server(c), "https://127.0.0.1:6443");
    kube_client_free(c);
    kube_client_free(NULL);
}

static void test_kubeconfig_files_and_token(void **ctx)
{
    static const char text[] = "clusters:\n"
                               "- name: c\n"
                               "  cluster: {server: 'http://localhost:8080', "
                               "certificate-authority: ca.crt, insecure-skip-tls-verify: true}\n"
                               "users:\n"
                               "- name: u\n"
                               "  user: {token: abc.def, client-certificate: /abs/x.crt}\n"
                               "contexts:\n"
                               "- name: only\n"
                               "  context: {cluster: c, user: u}\n";
    struct kube_client *c = NULL;
    struct rkc_error err;

    (void)ctx;
    /* no current-context but a single context: that one */
    assert_int_equal(load(text, &c, &err), RKC_OK);
    assert_string_equal(kube_client_server(c), "http://localhost:8080");
    kube_client_free(c);
}

static void expect_error(const char *text, enum rkc_err code, const char *msg)
{
    struct kube_client *c = NULL;
    struct rkc_error err;

    rkc_error_init(&err);
    assert_int_equal(load(text, &c, &err), code);
    assert_null(c);
    if (!strstr(err.msg, msg))
        fail_msg("error '%s' does not contain '%s'", err.msg, msg);
}

static void test_kubeconfig_errors(void **ctx)
{
    (void)ctx;
    expect_error("- a\n", RKC_ECONFIG, "/etc/rkc/kube.yml: not a kubeconfig (expected a mapping)");
    expect_error("kind: Config\n", RKC_ECONFIG, "/etc/rkc/kube.yml: no current-context");
    expect_error("current-context: x\ncontexts: []\n", RKC_ECONFIG,
                 "/etc/rkc/kube.yml:2:11: no entry named 'x' in contexts");
    expect_error("current-context: x\n", RKC_ECONFIG, "/etc/rkc/kube.yml: no contexts");
    expect_error("current-context: x\ncontexts:\n- name: x\n  context: {user: u}\n", RKC_ECONFIG,
                 "/etc/rkc/kube.yml:4:12: context 'x' names no cluster");
    expect_error("current-context: x\ncontexts:\n- name: x\n  context: {cluster: c}\n"
                 "clusters:\n- name: c\n  cluster: {}\n",
                 RKC_ECONFIG, "/etc/rkc/kube.yml:7:12: cluster 'c' has no server");
    expect_error("current-context: x\ncontexts:\n- name: x\n  context: {cluster: c}\n"
                 "clusters:\n- name: c\n  cluster: {server: ftp://h, "
                 "certificate-authority-data: '***'}\n",
                 RKC_ECONFIG,
                 "/etc/rkc/kube.yml:7:58: certificate-authority-data is not valid base64");
    expect_error("current-context: x\ncontexts:\n- name: x\n  context: {cluster: c}\n"
                 "clusters:\n- name: c\n  cluster: {server: ftp://h}\n",
                 RKC_EINVAL, "/etc/rkc/kube.yml: API server 'ftp://h' is not an http(s) URL");
    expect_error("current-context: x\ncontexts:\n- name: x\n  context: {cluster: c, user: u}\n"
                 "clusters:\n- name: c\n  cluster: {server: 'https://h'}\nusers: []\n",
                 RKC_ECONFIG, "no entry named 'u' in users");
    expect_error("current-context: x\ncontexts:\n- name: x\n  context: {cluster: c, user: u}\n"
                 "clusters:\n- name: c\n  cluster: {server: 'https://h'}\n"
                 "users:\n- name: u\n  user: {tokenFile: /nonexistent/rkc-token}\n",
                 RKC_ENOTFOUND, "/nonexistent/rkc-token");
    expect_error("a: [\n", RKC_ECONFIG, "/etc/rkc/kube.yml:");
}

static void test_kubeconfig_file(void **ctx)
{
    char path[] = "/tmp/rkc-test-kube-XXXXXX";
    struct kube_client *c = NULL;
    struct rkc_error err;
    int fd;

    (void)ctx;
    fd = mkstemp(path);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, good, strlen(good)), (ssize_t)strlen(good));
    close(fd);
    assert_int_equal(kube_client_from_kubeconfig(path, 1000, &c, &err), RKC_OK);
    assert_string_equal(kube_client_server(c), "https://127.0.0.1:6443");
    kube_client_free(c);
    unlink(path);
    assert_int_equal(kube_client_from_kubeconfig(path, 1000, &c, &err), RKC_ENOTFOUND);
}

static void test_escape(void **ctx)
{
    struct strbuf sb = STRBUF_INIT;

    (void)ctx;
    kube_escape("abc-DEF_0.9~", &sb);
    assert_string_equal(sb.buf, "abc-DEF_0.9~");
    strbuf_reset(&sb);
    kube_escape("a/b c?d&e=f%+", &sb);
    assert_string_equal(sb.buf, "a%2Fb%20c%3Fd%26e%3Df%25%2B");
    strbuf_reset(&sb);
    kube_escape("\xc3\xa9", &sb);
    assert_string_equal(sb.buf, "%C3%A9");
    strbuf_release(&sb);
}

/* A port nothing listens on: bind, read the port, close. */
static int closed_port(void)
{
    struct sockaddr_in sa = { 0 };
    socklen_t len = sizeof(sa);
    int fd = socket(AF_INET, SOCK_STREAM, 0), port;

    sa.sin_family = AF_INET;
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
    assert_int_equal(getsockname(fd, (struct sockaddr *)&sa, &len), 0);
    port = ntohs(sa.sin_port);
    close(fd);
    return port;
}

static void test_request_errors(void **ctx)
{
    struct kube_config cfg = { 0 };
    struct kube_client *c = NULL;
    struct strbuf resp = STRBUF_INIT;
    struct rkc_error err;
    char url[64];
    long status = 7;

    (void)ctx;
    assert_int_equal(kube_client_new(&cfg, &c, &err), RKC_EINVAL);
    snprintf(url, sizeof(url), "http://127.0.0.1:%d", closed_port());
    cfg.server = url;
    cfg.token = "secret-token-value";
    cfg.timeout_ms = 2000;
    assert_int_equal(kube_client_new(&cfg, &c, &err), RKC_OK);
    assert_int_equal(kube_request(c, "GET", "/api/v1", NULL, NULL, 0, &status, &resp, &err),
                     RKC_EHTTP);
    assert_int_equal(status, 0);
    assert_int_equal(resp.len, 0);
    assert_non_null(strstr(err.msg, "GET http://127.0.0.1:"));
    assert_null(strstr(err.msg, "secret-token-value"));
    assert_int_equal(kube_request(c, "GET", "api/v1", NULL, NULL, 0, &status, &resp, &err),
                     RKC_EINVAL);
    strbuf_release(&resp);
    kube_client_free(c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_kubeconfig_good),
        cmocka_unit_test(test_kubeconfig_files_and_token),
        cmocka_unit_test(test_kubeconfig_errors),
        cmocka_unit_test(test_kubeconfig_file),
        cmocka_unit_test(test_escape),
        cmocka_unit_test(test_request_errors),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
