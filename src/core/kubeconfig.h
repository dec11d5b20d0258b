/* SPDX-License-Identifier: Apache-2.0 */
/*
 * kubeconfig: the admin kubeconfig (`kube_config_<cluster.yml name>`), RKE's shape: one
 * cluster and one context named after the cluster, one user `kube-admin-<cluster>`, all
 * certificates embedded as base64 data. Emitted through ytree (never string-built YAML).
 * The output holds a private key: intermediate copies are wiped, the file is written 0600.
 * Thread-compatible.
 */
#ifndef RKC_CORE_KUBECONFIG_H
#define RKC_CORE_KUBECONFIG_H

#include <stdbool.h>

#include "util/error.h"
#include "util/strbuf.h"

/*
 * Appends the kubeconfig YAML to out (the caller releases it with strbuf_release_wipe).
 * server_url: "https://127.0.0.1:6443". All PEM arguments are NUL-terminated text.
 * Returns: RKC_EINVAL on an empty argument; RKC_EINTERNAL on an emitter failure.
 */
enum rkc_err kubeconfig_render(const char *cluster_name, const char *server_url, const char *ca_pem,
                               const char *client_cert_pem, const char *client_key_pem,
                               struct strbuf *out, struct rkc_error *err);

/*
 * Writes content to path with mode 0600 (fs_write_atomic) unless path already holds exactly
 * content with mode 0600. ret_changed (may be NULL) tells whether the file was written.
 */
enum rkc_err kubeconfig_write(const char *path, const struct strbuf *content, bool *ret_changed,
                              struct rkc_error *err);

#endif
