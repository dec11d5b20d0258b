/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The PKI against the real parts: a 3-member etcd cluster (Debian's etcd, TLS with client
 * and peer certificate authentication) started from a deployed bundle on random loopback
 * ports, reached with etcdctl and the kube-etcd-client certificate; `openssl verify` on every
 * leaf; kubectl reading the rendered admin kubeconfig. Skips when etcd/etcdctl are missing.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "core/config.h"
#include "core/kubeconfig.h"
#include "core/pki.h"
#include "util/fs.h"
#include "util/strbuf.h"
#include "util/xalloc.h"

#define MEMBERS 3

struct fixture {
    char *tmp;
    pid_t etcd[MEMBERS];
    pid_t server; /* openssl s_server */
    int client_port[MEMBERS];
    int peer_port[MEMBERS];
    struct pki_bundle *bundle;
};

static bool in_path(const char *prog)
{
    const char *path = getenv("PATH");
    char *copy, *dir, *save = NULL;
    bool found = false;

    if (!path)
        return false;
    copy = xstrdup(path);
    for (dir = strtok_r(copy, ":", &save); dir && !found; dir = strtok_r(NULL, ":", &save)) {
        char *p = fs_join(dir, prog);

        found = access(p, X_OK) == 0;
        free(p);
    }
    free(copy);
    return found;
}

static int free_port(void)
{
    struct sockaddr_in sa;
    socklen_t len = sizeof(sa);
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    int port;

    assert_true(fd >= 0);
    memset(&sa, 0, sizeof(sa));
    sa.sin_family = AF_INET;
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
    assert_int_equal(getsockname(fd, (struct sockaddr *)&sa, &len), 0);
    port = ntohs(sa.sin_port);
    close(fd);
    return port;
}

/* In a child: execs a copy of argv (execvp wants non-const strings). */
static _Noreturn void exec_argv(const char *const argv[])
{
    char *v[32];
    size_t i;

    for (i = 0; i < 31 && argv[i]; i++)
        v[i] = xstrdup(argv[i]);
    v[i] = NULL;
    execvp(v[0], v);
    _exit(127);
}

/* Runs argv, collecting stdout+stderr in out (may be NULL). Returns: the exit status. */
static int run(const char *const argv[], struct strbuf *out)
{
    int pfd[2];
    pid_t pid;
    int status = 0;
    char buf[4096];
    ssize_t n;

    assert_int_equal(pipe2(pfd, O_CLOEXEC), 0);
    pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        dup2(pfd[1], 1);
        dup2(pfd[1], 2);
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        exec_argv(argv);
    }
    close(pfd[1]);
    while ((n = read(pfd[0], buf, sizeof(buf))) > 0 || (n < 0 && errno == EINTR)) {
        if (n > 0 && out)
            strbuf_add(out, buf, (size_t)n);
    }
    close(pfd[0]);
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
        ;
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

static char *member_dir(const struct fixture *f, int i)
{
    return xasprintf("%s/e%d", f->tmp, i + 1);
}

static pid_t start_etcd(const struct fixture *f, int i)
{
    char *dir = member_dir(f, i);
    char *ssl = xasprintf("%s/etc/kubernetes/ssl", dir);
    char *name = xasprintf("e%d", i + 1);
    char *data = xasprintf("--data-dir=%s/var/lib/etcd", dir);
    char *curl = xasprintf("https://127.0.0.1:%d", f->client_port[i]);
    char *purl = xasprintf("https://127.0.0.1:%d", f->peer_port[i]);
    char *lc = xasprintf("--listen-client-urls=%s", curl);
    char *ac = xasprintf("--advertise-client-urls=%s", curl);
    char *lp = xasprintf("--listen-peer-urls=%s", purl);
    char *ap = xasprintf("--initial-advertise-peer-urls=%s", purl);
    char *cluster = xasprintf("--initial-cluster=e1=https://127.0.0.1:%d,e2=https://"
                              "127.0.0.1:%d,e3=https://127.0.0.1:%d",
                              f->peer_port[0], f->peer_port[1], f->peer_port[2]);
    char *cert = xasprintf("%s/kube-etcd-e%d.pem", ssl, i + 1);
    char *key = xasprintf("%s/kube-etcd-e%d-key.pem", ssl, i + 1);
    char *ca = xasprintf("%s/kube-ca.pem", ssl);
    char *a_cert = xasprintf("--cert-file=%s", cert), *a_key = xasprintf("--key-file=%s", key);
    char *a_ca = xasprintf("--trusted-ca-file=%s", ca);
    char *p_cert = xasprintf("--peer-cert-file=%s", cert);
    char *p_key = xasprintf("--peer-key-file=%s", key);
    char *p_ca = xasprintf("--peer-trusted-ca-file=%s", ca);
    char *a_name = xasprintf("--name=%s", name);
    char *log = xasprintf("%s/etcd.log", dir);
    const char *const argv[] = { "etcd",
                                 a_name,
                                 data,
                                 lc,
                                 ac,
                                 lp,
                                 ap,
                                 cluster,
                                 "--initial-cluster-state=new",
                                 "--initial-cluster-token=rkc-pki-test",
                                 a_cert,
                                 a_key,
                                 a_ca,
                                 "--client-cert-auth",
                                 p_cert,
                                 p_key,
                                 p_ca,
                                 "--peer-client-cert-auth",
                                 NULL };
    pid_t pid = fork();

    assert_true(pid >= 0);
    if (pid == 0) {
        int fd = open(log, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);

        if (fd >= 0) {
            dup2(fd, 1);
            dup2(fd, 2);
        }
        setpgid(0, 0);
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        exec_argv(argv);
    }
    free(dir);
    free(ssl);
    free(name);
    free(data);
    free(curl);
    free(purl);
    free(lc);
    free(ac);
    free(lp);
    free(ap);
    free(cluster);
    free(cert);
    free(key);
    free(ca);
    free(a_cert);
    free(a_key);
    free(a_ca);
    free(p_cert);
    free(p_key);
    free(p_ca);
    free(a_name);
    free(log);
    return pid;
}

static int setup(void **state)
{
    const char *t = getenv("TMPDIR");
    struct fixture *f = xcalloc(1, sizeof(*f));

    f->tmp = xasprintf("%s/rkc-pki-etcd-XXXXXX", t && *t ? t : "/tmp");
    if (!mkdtemp(f->tmp))
        return -1;
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fixture *f = *state;
    int i;

    /* the data is thrown away: no graceful stop (a member may wait for lost peers) */
    for (i = 0; i < MEMBERS; i++) {
        if (f->etcd[i] > 0) {
            kill(f->etcd[i], SIGKILL);
            waitpid(f->etcd[i], NULL, 0);
        }
    }
    if (f->server > 0) {
        kill(f->server, SIGKILL);
        waitpid(f->server, NULL, 0);
    }
    fs_remove_tree(f->tmp, NULL);
    free(f->tmp);
    pki_bundle_free(f->bundle);
    free(f);
    return 0;
}

static void dump_logs(const struct fixture *f)
{
    int i;

    for (i = 0; i < MEMBERS; i++) {
        char *p = xasprintf("%s/e%d/etcd.log", f->tmp, i + 1);
        struct strbuf sb = STRBUF_INIT;

        if (strbuf_read_file(&sb, p, NULL) == RKC_OK) {
            const char *tail = sb.len > 2000 ? sb.buf + sb.len - 2000 : sb.buf;

            print_error("--- e%d etcd.log (tail)\n%s\n", i + 1, tail);
        }
        strbuf_release(&sb);
        free(p);
    }
}

/*
 * etcdctl with the given cert/key (NULL: none) against all members, or only the first with
 * short timeouts when a failure is expected. Returns: exit status.
 */
static int etcdctl(const struct fixture *f, const char *ssl, const char *cert_name,
                   bool expect_fail, const char *const *args, struct strbuf *out)
{
    char *endpoints = expect_fail
                          ? xasprintf("--endpoints=https://127.0.0.1:%d", f->client_port[0])
                          : xasprintf("--endpoints=https://127.0.0.1:%d,https://"
                                      "127.0.0.1:%d,https://127.0.0.1:%d",
                                      f->client_port[0], f->client_port[1], f->client_port[2]);
    char *ca = xasprintf("--cacert=%s/kube-ca.pem", ssl);
    char *cert = cert_name ? xasprintf("--cert=%s/%s.pem", ssl, cert_name) : NULL;
    char *key = cert_name ? xasprintf("--key=%s/%s-key.pem", ssl, cert_name) : NULL;
    const char *argv[16];
    int n = 0, rc;

    argv[n++] = "etcdctl";
    argv[n++] = endpoints;
    argv[n++] = ca;
    if (cert) {
        argv[n++] = cert;
        argv[n++] = key;
    }
    argv[n++] = expect_fail ? "--dial-timeout=1s" : "--dial-timeout=2s";
    argv[n++] = expect_fail ? "--command-timeout=1s" : "--command-timeout=2s";
    while (*args && n < 15)
        argv[n++] = *args++;
    argv[n] = NULL;
    rc = run(argv, out);
    free(endpoints);
    free(ca);
    free(cert);
    free(key);
    return rc;
}

static void openssl_verify(const char *ssl, const char *leaf, const char *purpose)
{
    char *ca = xasprintf("%s/kube-ca.pem", ssl);
    char *pem = xasprintf("%s/%s.pem", ssl, leaf);
    const char *const argv[] = {
        "openssl", "verify", "-purpose", purpose, "-CAfile", ca, pem, NULL
    };
    struct strbuf out = STRBUF_INIT;
    int rc = run(argv, &out);

    if (rc != 0)
        print_error("openssl verify %s: %s\n", leaf, out.buf);
    assert_int_equal(rc, 0);
    assert_non_null(strstr(out.buf, ": OK"));
    strbuf_release(&out);
    free(ca);
    free(pem);
}

static void test_etcd_cluster_with_bundle(void **state)
{
    static const struct pki_node nodes[MEMBERS] = {
        { "e1", "127.0.0.1", CONFIG_ROLE_ETCD | CONFIG_ROLE_CONTROLPLANE },
        { "e2", "127.0.0.1", CONFIG_ROLE_ETCD },
        { "e3", "127.0.0.1", CONFIG_ROLE_ETCD | CONFIG_ROLE_WORKER },
    };
    struct fixture *f = *state;
    struct pki_request req;
    struct rkc_error err;
    struct strbuf out = STRBUF_INIT;
    char *ssl1;
    int i, rc = -1;
    time_t deadline;

    if (!in_path("etcd") || !in_path("etcdctl")) {
        print_message("etcd or etcdctl not installed: skipping\n");
        skip();
    }
    memset(&req, 0, sizeof(req));
    req.cluster_name = "pki-etcd";
    req.nodes = nodes;
    req.nnodes = MEMBERS;
    assert_int_equal(pki_bundle_generate(&req, &f->bundle, &err), RKC_OK);
    for (i = 0; i < MEMBERS; i++) {
        char *dir = member_dir(f, i);
        char *ssl = xasprintf("%s/etc/kubernetes/ssl", dir);

        if (pki_bundle_write_dir(f->bundle, ssl, nodes[i].roles, nodes[i].name, NULL, &err)) {
            print_error("write_dir: %s\n", err.msg);
            fail();
        }
        free(ssl);
        free(dir);
        f->client_port[i] = free_port();
        f->peer_port[i] = free_port();
    }
    for (i = 0; i < MEMBERS; i++)
        f->etcd[i] = start_etcd(f, i);

    /* bounded wait for a healthy cluster */
    ssl1 = xasprintf("%s/e1/etc/kubernetes/ssl", f->tmp);
    deadline = time(NULL) + 20;
    while (time(NULL) < deadline) {
        const char *const health[] = { "endpoint", "health", NULL };

        strbuf_reset(&out);
        rc = etcdctl(f, ssl1, PKI_ETCD_CLIENT, false, health, &out);
        if (rc == 0)
            break;
        for (i = 0; i < MEMBERS; i++) {
            if (waitpid(f->etcd[i], NULL, WNOHANG) == f->etcd[i]) {
                f->etcd[i] = 0;
                dump_logs(f);
                fail_msg("etcd e%d exited", i + 1);
            }
        }
        usleep(200 * 1000);
    }
    if (rc != 0) {
        print_error("etcdctl endpoint health: %s\n", out.buf);
        dump_logs(f);
        fail();
    }

    /* all three members joined over mutually authenticated peer TLS */
    {
        const char *const members[] = { "member", "list", NULL };

        strbuf_reset(&out);
        assert_int_equal(etcdctl(f, ssl1, PKI_ETCD_CLIENT, false, members, &out), 0);
        assert_non_null(strstr(out.buf, "started, e1,"));
        assert_non_null(strstr(out.buf, "started, e2,"));
        assert_non_null(strstr(out.buf, "started, e3,"));
    }
    /* put/get with the client certificate */
    {
        const char *const put[] = { "put", "/rkc/pki-test", "hello", NULL };
        const char *const get[] = { "get", "/rkc/pki-test", "--print-value-only", NULL };

        strbuf_reset(&out);
        assert_int_equal(etcdctl(f, ssl1, PKI_ETCD_CLIENT, false, put, &out), 0);
        strbuf_reset(&out);
        assert_int_equal(etcdctl(f, ssl1, PKI_ETCD_CLIENT, false, get, &out), 0);
        assert_string_equal(out.buf, "hello\n");
    }
    /* client-cert-auth is on: no certificate, or one from another CA, is refused */
    {
        const char *const get[] = { "get", "/rkc/pki-test", "--print-value-only", NULL };
        struct pki_bundle *other = NULL;
        char *ossl = xasprintf("%s/other/ssl", f->tmp);

        strbuf_reset(&out);
        assert_int_not_equal(etcdctl(f, ssl1, NULL, true, get, &out), 0);
        assert_null(strstr(out.buf, "hello"));
        assert_int_equal(pki_bundle_generate(&req, &other, &err), RKC_OK);
        assert_int_equal(
            pki_bundle_write_dir(other, ossl, CONFIG_ROLE_CONTROLPLANE, "x", NULL, &err), RKC_OK);
        /* trust our CA, present the foreign client cert */
        {
            char *ca_src = xasprintf("%s/kube-ca.pem", ssl1);
            char *ca_dst = xasprintf("%s/kube-ca.pem", ossl);
            struct strbuf ca = STRBUF_INIT;

            assert_int_equal(strbuf_read_file(&ca, ca_src, NULL), RKC_OK);
            assert_int_equal(fs_write_atomic(ca_dst, ca.buf, ca.len, 0644, NULL), RKC_OK);
            strbuf_release(&ca);
            free(ca_src);
            free(ca_dst);
        }
        strbuf_reset(&out);
        assert_int_not_equal(etcdctl(f, ossl, PKI_ETCD_CLIENT, true, get, &out), 0);
        assert_null(strstr(out.buf, "hello"));
        pki_bundle_free(other);
        free(ossl);
    }

    /* openssl agrees with the chains and purposes */
    openssl_verify(ssl1, "kube-etcd-e1", "sslserver");
    openssl_verify(ssl1, "kube-etcd-e1", "sslclient");
    openssl_verify(ssl1, PKI_ETCD_CLIENT, "sslclient");
    openssl_verify(ssl1, PKI_APISERVER, "sslserver");
    openssl_verify(ssl1, PKI_ADMIN, "sslclient");
    {
        char *ssl3 = xasprintf("%s/e3/etc/kubernetes/ssl", f->tmp);

        openssl_verify(ssl3, "kube-etcd-e3", "sslserver");
        free(ssl3);
    }
    strbuf_release(&out);
    free(ssl1);
}

static void test_kubectl_reads_kubeconfig(void **state)
{
    static const struct pki_node nodes[] = {
        { "cp1", "127.0.0.1", CONFIG_ROLE_ETCD | CONFIG_ROLE_CONTROLPLANE },
    };
    struct fixture *f = *state;
    struct pki_request req;
    struct rkc_error err;
    struct strbuf yml = STRBUF_INIT, out = STRBUF_INIT;
    const struct pki_cert *admin;
    char *path, *arg;

    if (!in_path("kubectl")) {
        print_message("kubectl not installed: skipping\n");
        skip();
    }
    memset(&req, 0, sizeof(req));
    req.cluster_name = "pki-test";
    req.nodes = nodes;
    req.nnodes = 1;
    assert_int_equal(pki_bundle_generate(&req, &f->bundle, &err), RKC_OK);
    admin = pki_bundle_get(f->bundle, PKI_ADMIN);
    assert_int_equal(kubeconfig_render("pki-test", "https://127.0.0.1:6443",
                                       pki_bundle_get(f->bundle, PKI_CA)->cert_pem, admin->cert_pem,
                                       admin->key_pem, &yml, &err),
                     RKC_OK);
    path = xasprintf("%s/kube_config_cluster.yml", f->tmp);
    assert_int_equal(kubeconfig_write(path, &yml, NULL, &err), RKC_OK);
    strbuf_release_wipe(&yml);
    arg = xasprintf("--kubeconfig=%s", path);
    {
        const char *const argv[] = { "kubectl", arg, "config", "get-contexts", NULL };

        assert_int_equal(run(argv, &out), 0);
        assert_non_null(strstr(out.buf, "pki-test"));
        assert_non_null(strstr(out.buf, "kube-admin-pki-test"));
        assert_non_null(strstr(out.buf, "*")); /* current context */
    }
    {
        const char *const argv[] = { "kubectl",
                                     arg,
                                     "config",
                                     "view",
                                     "--raw",
                                     "-o",
                                     "jsonpath={.users[0].user.client-key-data}",
                                     NULL };
        const char *const argv2[] = { "kubectl",
                                      arg,
                                      "config",
                                      "view",
                                      "--raw",
                                      "-o",
                                      "jsonpath={.clusters[0].cluster.server}",
                                      NULL };
        const char *const argv3[] = { "kubectl",
                                      arg,
                                      "config",
                                      "view",
                                      "--minify",
                                      "-o",
                                      "jsonpath={.users[0].user.client-key-data}",
                                      NULL };

        strbuf_reset(&out);
        assert_int_equal(run(argv, &out), 0);
        assert_true(out.len > 100); /* the key is there in raw view */
        strbuf_reset(&out);
        assert_int_equal(run(argv2, &out), 0);
        assert_string_equal(out.buf, "https://127.0.0.1:6443");
        strbuf_reset(&out);
        assert_int_equal(run(argv3, &out), 0);
        assert_string_equal(out.buf, "DATA+OMITTED"); /* kubectl parsed it as key data */
    }
    free(arg);
    free(path);
    strbuf_release(&out);
}

/* curl against the API server's serving certificate, requiring the admin client cert. */
static int curl_get(const char *ssl, int port, const char *host, bool client_cert,
                    struct strbuf *out)
{
    char *ca = xasprintf("%s/kube-ca.pem", ssl);
    char *cert = xasprintf("%s/kube-admin.pem", ssl);
    char *key = xasprintf("%s/kube-admin-key.pem", ssl);
    char *resolve = xasprintf("%s:%d:127.0.0.1", host, port);
    char *url = xasprintf("https://%s:%d/", host, port);
    const char *argv[16];
    int n = 0, rc;

    argv[n++] = "curl";
    argv[n++] = "-sS";
    argv[n++] = "--max-time";
    argv[n++] = "3";
    argv[n++] = "--cacert";
    argv[n++] = ca;
    if (client_cert) {
        argv[n++] = "--cert";
        argv[n++] = cert;
        argv[n++] = "--key";
        argv[n++] = key;
    }
    argv[n++] = "--resolve";
    argv[n++] = resolve;
    argv[n++] = url;
    argv[n] = NULL;
    rc = run(argv, out);
    free(ca);
    free(cert);
    free(key);
    free(resolve);
    free(url);
    return rc;
}

static void test_apiserver_cert_serves_tls(void **state)
{
    static const struct pki_node nodes[] = {
        { "cp1.example.com", "127.0.0.1", CONFIG_ROLE_ETCD | CONFIG_ROLE_CONTROLPLANE },
    };
    struct fixture *f = *state;
    struct pki_request req;
    struct rkc_error err;
    struct strbuf out = STRBUF_INIT;
    char *ssl, *accept, *cert, *key, *ca;
    int port, rc = -1;
    time_t deadline;

    if (!in_path("openssl") || !in_path("curl")) {
        print_message("openssl or curl not installed: skipping\n");
        skip();
    }
    memset(&req, 0, sizeof(req));
    req.cluster_name = "pki-tls";
    req.nodes = nodes;
    req.nnodes = 1;
    assert_int_equal(pki_bundle_generate(&req, &f->bundle, &err), RKC_OK);
    ssl = xasprintf("%s/etc/kubernetes/ssl", f->tmp);
    assert_int_equal(
        pki_bundle_write_dir(f->bundle, ssl, nodes[0].roles, nodes[0].name, NULL, &err), RKC_OK);
    port = free_port();
    accept = xasprintf("127.0.0.1:%d", port);
    cert = xasprintf("%s/kube-apiserver.pem", ssl);
    key = xasprintf("%s/kube-apiserver-key.pem", ssl);
    ca = xasprintf("%s/kube-ca.pem", ssl);
    f->server = fork();
    assert_true(f->server >= 0);
    if (f->server == 0) {
        const char *const argv[] = { "openssl", "s_server", "-quiet", "-accept", accept,
                                     "-cert",   cert,       "-key",   key,       "-CAfile",
                                     ca,        "-Verify",  "1",      "-www",    NULL };
        int fd = open("/dev/null", O_RDWR | O_CLOEXEC);

        dup2(fd, 0);
        dup2(fd, 1);
        dup2(fd, 2);
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        exec_argv(argv);
    }
    deadline = time(NULL) + 10;
    while (time(NULL) < deadline) {
        strbuf_reset(&out);
        rc = curl_get(ssl, port, "127.0.0.1", true, &out);
        if (rc != 7) /* 7: connection refused, not listening yet */
            break;
        usleep(100 * 1000);
    }
    if (rc != 0)
        print_error("curl https://127.0.0.1: %d %s\n", rc, out.buf);
    assert_int_equal(rc, 0);
    /* every name a client uses for the API server verifies */
    strbuf_reset(&out);
    assert_int_equal(curl_get(ssl, port, "localhost", true, &out), 0);
    strbuf_reset(&out);
    assert_int_equal(curl_get(ssl, port, "kubernetes.default.svc", true, &out), 0);
    strbuf_reset(&out);
    assert_int_equal(curl_get(ssl, port, "cp1.example.com", true, &out), 0);
    /* a name outside the SANs is refused by hostname verification (60: peer cert) */
    strbuf_reset(&out);
    assert_int_equal(curl_get(ssl, port, "evil.example.com", true, &out), 60);
    /* the server demands a client certificate from our CA */
    strbuf_reset(&out);
    assert_int_not_equal(curl_get(ssl, port, "localhost", false, &out), 0);

    strbuf_release(&out);
    free(ssl);
    free(accept);
    free(cert);
    free(key);
    free(ca);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_etcd_cluster_with_bundle, setup, teardown),
        cmocka_unit_test_setup_teardown(test_kubectl_reads_kubeconfig, setup, teardown),
        cmocka_unit_test_setup_teardown(test_apiserver_cert_serves_tls, setup, teardown),
    };

    signal(SIGPIPE, SIG_IGN);
    return cmocka_run_group_tests(tests, NULL, NULL);
}
