/* SPDX-License-Identifier: Apache-2.0 */
/*
 * rkc-apiserver: the embedded Kubernetes API server for namespaces, secrets and configmaps.
 * Parses kube-apiserver's flags, starts the server and runs until SIGINT or SIGTERM.
 */
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "apiserver/server.h"
#include "crypto/encconfig.h"
#include "util/log.h"

#include "util/banned.h"

enum opt_id {
    OPT_ETCD_SERVERS = 256,
    OPT_ETCD_PREFIX,
    OPT_ETCD_CAFILE,
    OPT_ETCD_CERTFILE,
    OPT_ETCD_KEYFILE,
    OPT_BIND_ADDRESS,
    OPT_SECURE_PORT,
    OPT_TLS_CERT,
    OPT_TLS_KEY,
    OPT_CLIENT_CA,
    OPT_TOKEN_FILE,
    OPT_ENC_CONFIG,
    OPT_ENC_RELOAD,
    OPT_KMS_STATUS,
    OPT_V,
    OPT_HELP,
};

static const struct option long_opts[] = {
    { "etcd-servers", required_argument, NULL, OPT_ETCD_SERVERS },
    { "etcd-prefix", required_argument, NULL, OPT_ETCD_PREFIX },
    { "etcd-cafile", required_argument, NULL, OPT_ETCD_CAFILE },
    { "etcd-certfile", required_argument, NULL, OPT_ETCD_CERTFILE },
    { "etcd-keyfile", required_argument, NULL, OPT_ETCD_KEYFILE },
    { "bind-address", required_argument, NULL, OPT_BIND_ADDRESS },
    { "secure-port", required_argument, NULL, OPT_SECURE_PORT },
    { "tls-cert-file", required_argument, NULL, OPT_TLS_CERT },
    { "tls-private-key-file", required_argument, NULL, OPT_TLS_KEY },
    { "client-ca-file", required_argument, NULL, OPT_CLIENT_CA },
    { "token-auth-file", required_argument, NULL, OPT_TOKEN_FILE },
    { "encryption-provider-config", required_argument, NULL, OPT_ENC_CONFIG },
    { "encryption-provider-config-automatic-reload", optional_argument, NULL, OPT_ENC_RELOAD },
    { "kms-status-interval", required_argument, NULL, OPT_KMS_STATUS },
    { "v", required_argument, NULL, OPT_V },
    { "help", no_argument, NULL, OPT_HELP },
    { NULL, 0, NULL, 0 },
};

static const char usage[] =
    "usage: rkc-apiserver --etcd-servers=URL[,URL...] --tls-cert-file=F --tls-private-key-file=F "
    "[flags]\n"
    "\n"
    "Serves the Kubernetes API for namespaces, secrets and configmaps from etcd, with\n"
    "kube-apiserver's flag names and encryption at rest.\n"
    "\n"
    "      --etcd-servers strings        etcd servers to connect to (scheme://ip:port, comma "
    "separated)\n"
    "      --etcd-prefix string          prefix for all keys in etcd (default \"/registry\")\n"
    "      --etcd-cafile string          SSL Certificate Authority file for etcd\n"
    "      --etcd-certfile string        SSL client certificate for etcd\n"
    "      --etcd-keyfile string         SSL client key for etcd\n"
    "      --bind-address ip             address to listen on (default 0.0.0.0)\n"
    "      --secure-port int             HTTPS port (default 6443)\n"
    "      --tls-cert-file string        x509 certificate for HTTPS (chain after the leaf)\n"
    "      --tls-private-key-file string x509 private key matching --tls-cert-file\n"
    "      --client-ca-file string       CA that signs client certificates (CN user, O groups)\n"
    "      --token-auth-file string      static bearer tokens: token,user,uid,\"group1,group2\"\n"
    "      --encryption-provider-config string\n"
    "                                    EncryptionConfiguration for storage encryption\n"
    "      --encryption-provider-config-automatic-reload\n"
    "                                    reload the encryption config when the file changes\n"
    "      --kms-status-interval duration\n"
    "                                    how often KMS v2 plugins' Status is polled (default "
    "60s)\n"
    "  -v, --v int                       log level: 0 info, >= 4 debug\n"
    "      --help                        show this help\n";

static bool parse_bool(const char *s, bool *ret)
{
    if (!s || !strcmp(s, "true") || !strcmp(s, "1")) {
        *ret = true;
        return true;
    }
    if (!strcmp(s, "false") || !strcmp(s, "0")) {
        *ret = false;
        return true;
    }
    return false;
}

int main(int argc, char **argv)
{
    struct apiserver_options o;
    struct apiserver *srv = NULL;
    struct rkc_error err;
    sigset_t sigs;
    int c, sig = 0;

    memset(&o, 0, sizeof(o));
    o.etcd_prefix = "/registry";
    o.secure_port = 6443;
    rkc_error_init(&err);
    opterr = 0;
    while ((c = getopt_long_only(argc, argv, "", long_opts, NULL)) != -1) {
        char *end;
        long v;

        switch (c) {
        case OPT_ETCD_SERVERS:
            o.etcd_servers = optarg;
            break;
        case OPT_ETCD_PREFIX:
            o.etcd_prefix = optarg;
            break;
        case OPT_ETCD_CAFILE:
            o.etcd_cafile = optarg;
            break;
        case OPT_ETCD_CERTFILE:
            o.etcd_certfile = optarg;
            break;
        case OPT_ETCD_KEYFILE:
            o.etcd_keyfile = optarg;
            break;
        case OPT_BIND_ADDRESS:
            o.bind_address = optarg;
            break;
        case OPT_SECURE_PORT:
            v = strtol(optarg, &end, 10);
            if (*end || v <= 0 || v > 65535) {
                fprintf(stderr, "rkc-apiserver: invalid --secure-port '%s'\n", optarg);
                return 2;
            }
            o.secure_port = (unsigned)v;
            break;
        case OPT_TLS_CERT:
            o.tls_cert_file = optarg;
            break;
        case OPT_TLS_KEY:
            o.tls_private_key_file = optarg;
            break;
        case OPT_CLIENT_CA:
            o.client_ca_file = optarg;
            break;
        case OPT_TOKEN_FILE:
            o.token_auth_file = optarg;
            break;
        case OPT_ENC_CONFIG:
            o.encryption_provider_config = optarg;
            break;
        case OPT_ENC_RELOAD:
            if (!parse_bool(optarg, &o.encryption_provider_config_automatic_reload)) {
                fprintf(stderr,
                        "rkc-apiserver: invalid --encryption-provider-config-automatic-reload "
                        "'%s'\n",
                        optarg);
                return 2;
            }
            break;
        case OPT_KMS_STATUS: {
            int64_t ns;

            if (!encconfig_parse_duration(optarg, &ns) || ns < 1000000 ||
                ns > (int64_t)3600 * 1000000000) {
                fprintf(stderr, "rkc-apiserver: invalid --kms-status-interval '%s'\n", optarg);
                return 2;
            }
            o.kms_status_interval_ms = (unsigned)(ns / 1000000);
            break;
        }
        case OPT_V:
            v = strtol(optarg, &end, 10);
            if (*end || v < 0) {
                fprintf(stderr, "rkc-apiserver: invalid -v '%s'\n", optarg);
                return 2;
            }
            log_set_level(v >= 4 ? LOG_DEBUG : LOG_INFO);
            break;
        case OPT_HELP:
            fputs(usage, stdout);
            return 0;
        default:
            if (optopt)
                fprintf(stderr, "rkc-apiserver: flag needs an argument: '%s'\n", argv[optind - 1]);
            else
                fprintf(stderr, "rkc-apiserver: unknown flag: '%s'\n", argv[optind - 1]);
            fputs("run 'rkc-apiserver --help' for usage\n", stderr);
            return 2;
        }
    }
    if (optind < argc) {
        fprintf(stderr, "rkc-apiserver: unexpected argument '%s'\n", argv[optind]);
        return 2;
    }
    if (!o.etcd_servers || !o.tls_cert_file || !o.tls_private_key_file) {
        fprintf(stderr, "rkc-apiserver: --etcd-servers, --tls-cert-file and "
                        "--tls-private-key-file are required\n");
        return 2;
    }

    /* Block the stop signals before any thread starts, then wait for one. */
    signal(SIGPIPE, SIG_IGN);
    sigemptyset(&sigs);
    sigaddset(&sigs, SIGINT);
    sigaddset(&sigs, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &sigs, NULL);

    if (apiserver_new(&o, &srv, &err) || apiserver_start(srv, &err)) {
        log_error("%s", err.msg);
        apiserver_free(srv);
        return 1;
    }
    log_info("serving on https://%s:%u (etcd %s, prefix %s)",
             o.bind_address ? o.bind_address : "0.0.0.0", o.secure_port, o.etcd_servers,
             o.etcd_prefix);
    sigwait(&sigs, &sig);
    log_info("received signal %d, shutting down", sig);
    apiserver_free(srv);
    return 0;
}
