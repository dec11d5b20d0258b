/* SPDX-License-Identifier: Apache-2.0 */
/* kubeconfig: admin kubeconfig rendering through ytree, and its 0600 file. */
#include "core/kubeconfig.h"

#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "adapters/ytree.h"
#include "util/fs.h"
#include "util/xalloc.h"

#include "util/banned.h"

/* Returns: new, standard base64 (with padding) of data. */
static char *base64_encode(const char *data, size_t len)
{
    static const char tab[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    const unsigned char *in = (const unsigned char *)data;
    char *out = xmalloc((len + 2) / 3 * 4 + 1);
    size_t i, o = 0;

    for (i = 0; i + 2 < len; i += 3) {
        unsigned v = (unsigned)in[i] << 16 | (unsigned)in[i + 1] << 8 | in[i + 2];

        out[o++] = tab[v >> 18 & 63];
        out[o++] = tab[v >> 12 & 63];
        out[o++] = tab[v >> 6 & 63];
        out[o++] = tab[v & 63];
    }
    if (i < len) {
        unsigned v = (unsigned)in[i] << 16 | (i + 1 < len ? (unsigned)in[i + 1] << 8 : 0);

        out[o++] = tab[v >> 18 & 63];
        out[o++] = tab[v >> 12 & 63];
        out[o++] = (char)(i + 1 < len ? tab[v >> 6 & 63] : '=');
        out[o++] = '=';
    }
    out[o] = '\0';
    return out;
}

/* Adds key: base64(data) to map; the temporary is wiped. */
static void add_b64(struct ytree_node *map, const char *key, const char *data)
{
    char *b64 = base64_encode(data, strlen(data));

    ytree_map_add_take(map, key, ytree_new_scalar(b64, YTREE_QUOTED));
    rkc_wipe(b64, strlen(b64));
    free(b64);
}

static void add_str(struct ytree_node *map, const char *key, const char *value)
{
    ytree_map_add_take(map, key, ytree_new_scalar(value, YTREE_QUOTED));
}

/* Wipes every scalar of a tree (it holds the client key) and frees it. */
static void tree_free_wipe(struct ytree_node *node)
{
    size_t i;

    if (!node)
        return;
    if (node->str)
        rkc_wipe(node->str, node->len);
    for (i = 0; i < node->nitems; i++) {
        tree_free_wipe(node->items[i]);
        node->items[i] = NULL;
    }
    for (i = 0; i < node->npairs; i++) {
        tree_free_wipe(node->pairs[i].value);
        node->pairs[i].value = NULL;
    }
    ytree_free(node);
}

enum rkc_err kubeconfig_render(const char *cluster_name, const char *server_url, const char *ca_pem,
                               const char *client_cert_pem, const char *client_key_pem,
                               struct strbuf *out, struct rkc_error *err)
{
    struct ytree_node *root, *clusters, *cluster, *contexts, *context, *users, *user, *item;
    char *user_name;
    enum rkc_err rc;

    if (!cluster_name || !*cluster_name || !server_url || !*server_url || !ca_pem || !*ca_pem ||
        !client_cert_pem || !*client_cert_pem || !client_key_pem || !*client_key_pem)
        return rkc_error_set(err, RKC_EINVAL,
                             "render kubeconfig: missing cluster name, server "
                             "or certificate");
    user_name = xasprintf("kube-admin-%s", cluster_name);
    root = ytree_new_map();
    add_str(root, "apiVersion", "v1");
    add_str(root, "kind", "Config");

    clusters = ytree_new_seq();
    item = ytree_new_map();
    cluster = ytree_new_map();
    add_str(cluster, "server", server_url);
    add_b64(cluster, "certificate-authority-data", ca_pem);
    ytree_map_add_take(item, "cluster", cluster);
    add_str(item, "name", cluster_name);
    ytree_seq_add_take(clusters, item);
    ytree_map_add_take(root, "clusters", clusters);

    contexts = ytree_new_seq();
    item = ytree_new_map();
    context = ytree_new_map();
    add_str(context, "cluster", cluster_name);
    add_str(context, "user", user_name);
    ytree_map_add_take(item, "context", context);
    add_str(item, "name", cluster_name);
    ytree_seq_add_take(contexts, item);
    ytree_map_add_take(root, "contexts", contexts);
    add_str(root, "current-context", cluster_name);

    users = ytree_new_seq();
    item = ytree_new_map();
    add_str(item, "name", user_name);
    user = ytree_new_map();
    add_b64(user, "client-certificate-data", client_cert_pem);
    add_b64(user, "client-key-data", client_key_pem);
    ytree_map_add_take(item, "user", user);
    ytree_seq_add_take(users, item);
    ytree_map_add_take(root, "users", users);

    rc = ytree_emit(root, out, err);
    if (rc)
        rkc_error_prefix(err, "render kubeconfig: ");
    tree_free_wipe(root);
    free(user_name);
    return rc;
}

enum rkc_err kubeconfig_write(const char *path, const struct strbuf *content, bool *ret_changed,
                              struct rkc_error *err)
{
    struct strbuf cur = STRBUF_INIT;
    struct stat st;
    bool same = false;
    enum rkc_err rc = RKC_OK;
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);

    if (fd >= 0) {
        same = fstat(fd, &st) == 0 && S_ISREG(st.st_mode) && (st.st_mode & 07777) == 0600 &&
               (size_t)st.st_size == content->len && strbuf_read_fd(&cur, fd, NULL) == RKC_OK &&
               cur.len == content->len && !memcmp(cur.buf, content->buf, cur.len);
        close(fd);
        strbuf_release_wipe(&cur);
    }
    if (!same)
        rc = fs_write_atomic(path, content->buf, content->len, 0600, err);
    if (rc == RKC_OK && ret_changed)
        *ret_changed = !same;
    return rc;
}
