#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# The seed's "custom configuration with a KMS" sequence through rkc up, with rkc-kms as the
# plugin: (1) a cluster with encryption disabled and Secrets in it, (2) services.kms-plugin
# configured and running before the API server, (3) the custom config (kms v2 first, identity
# second) applied: every Secret in etcd starts with k8s:enc:kms:v2:<name>: and reads back
# unchanged through kubectl; then the same with apiVersion v1 -> k8s:enc:kms:v1:.
set -euo pipefail
. "$(dirname "$0")/uplib.sh"
WORK=$(mktemp -d "${TMPDIR:-/tmp}/t0800.XXXXXX")
trap 'cleanup_cluster; rm -rf "$WORK"' EXIT
new_cluster "$WORK/c"
LOG="$WORK/up.log"
SOCK="$CLUSTER_DIR/run/kmsplugin/socket.sock"

# --- 1. encryption disabled, 40 Secrets in 2 namespaces
set_encryption false
rkc_up > "$LOG" 2>&1 || { cat "$LOG"; fail "rkc up (disabled)"; }
bulk create 2 20 64 > /dev/null
[ "$(prefixes secrets)" = "plaintext 40" ] || { prefixes secrets; fail "expected 40 plaintext"; }
dump_secrets > "$WORK/before"
ok "cluster with encryption disabled and 40 plaintext secrets"

# --- 2. the KMS plugin on the controlplane node, before the API server
$PY - "$CLUSTER_DIR/cluster.yml" "$SOCK" "$CLUSTER_DIR/run/kmsplugin" <<'EOF'
import sys
path, sock, bind = sys.argv[1:]
text = open(path).read()
text = text.replace("services:\n  kube-api:\n",
    "services:\n  kms-plugin:\n    socket: %s\n    extra_args:\n      v: \"1\"\n"
    "  kube-api:\n    extra_binds:\n      - \"%s/:%s/\"\n"
    "    extra_args:\n      kms-status-interval: 1s\n" % (sock, bind, bind))
open(path, "w").write(text)
EOF
rkc_up > "$LOG" 2>&1 || { cat "$LOG"; fail "rkc up (kms plugin)"; }
grep -q "Successfully started kms-plugin on host \[node1\]" "$LOG" || { cat "$LOG"; fail "plugin start not logged"; }
grep -q "extra_binds: host path '$CLUSTER_DIR/run/kmsplugin/' exists on host \[node1\]" "$LOG" ||
  { cat "$LOG"; fail "extra_binds check not logged"; }
[ -S "$SOCK" ] || fail "no plugin socket"
KEYFILE="$CLUSTER_DIR/.rkc/node1/etc/kubernetes/kms/kek.key"
[ "$(stat -c %a "$KEYFILE")" = 600 ] || fail "key file mode"
# started before the API server: the plugin's log begins before the API server's (re)start
grep -n "kms-plugin\|kube-apiserver" "$LOG" | head -3 | grep -q "kms-plugin" || fail "order"
[ "$(prefixes secrets)" = "plaintext 40" ] || fail "plugin alone changed data"
ok "kms-plugin running on node1 at $SOCK, key file 0600, extra_binds host path checked"

# --- 3. custom config: kms v2 first, identity second
custom() { # custom v1|v2
  $PY - "$CLUSTER_DIR/cluster.yml" "$SOCK" "$1" <<'EOF'
import sys
path, sock, ver = sys.argv[1:]
lines = open(path).read().split("\n")
out = []
skip = False
for l in lines:
    if l.strip().startswith("custom_config:"):
        skip = True
        continue
    if skip and (l.startswith("        ") or not l.strip()):
        continue
    skip = False
    out.append(l)
text = "\n".join(out).rstrip("\n") + "\n"
text = text.replace("enabled: false", "enabled: true")
cache = "                cachesize: 1000\n" if ver == "v1" else ""
text += """      custom_config:
        apiVersion: apiserver.config.k8s.io/v1
        kind: EncryptionConfiguration
        resources:
          - resources:
            - secrets
            providers:
            - kms:
                apiVersion: %s
                name: rkc-kms-%s
                endpoint: unix://%s
%s                timeout: 3s
            - identity: {}
""" % (ver, ver, sock, cache)
open(path, "w").write(text)
EOF
}
custom v2
rkc_up > "$LOG" 2>&1 || { cat "$LOG"; fail "rkc up (custom kms v2)"; }
[ "$(prefixes secrets)" = "k8s:enc:kms:v2:rkc-kms-v2: 40" ] || { prefixes secrets; fail "v2 prefixes"; }
dump_secrets > "$WORK/after"; cmp -s "$WORK/before" "$WORK/after" || fail "secrets changed (v2)"
kubectl create secret generic fresh --from-literal=k=v > /dev/null
[ "$(kubectl get secret fresh -o jsonpath='{.data.k}')" = "$(printf v | base64)" ] || fail "fresh v2 secret"
etcdctl_ get /registry/secrets/default/fresh --print-value-only | head -c 26 | grep -q "^k8s:enc:kms:v2:rkc-kms-v2:" ||
  fail "fresh secret not kms v2"
curl -s --cacert "$SSL/kube-ca.pem" "https://$ADDR:6443/readyz?verbose" > "$WORK/readyz"
grep -q '^\[+\]kms-provider-0 ok (name "rkc-kms-v2", v2, key id "' "$WORK/readyz" || { cat "$WORK/readyz"; fail "readyz kms line"; }
ok "custom config kms v2 + identity: 41 secrets k8s:enc:kms:v2:rkc-kms-v2:, data unchanged, /readyz lists the provider"

# --- the same with apiVersion v1
kubectl delete secret fresh > /dev/null
custom v1
rkc_up > "$LOG" 2>&1 || { cat "$LOG"; fail "rkc up (custom kms v1)"; }
[ "$(prefixes secrets)" = "k8s:enc:kms:v1:rkc-kms-v1: 40" ] || { prefixes secrets; fail "v1 prefixes"; }
dump_secrets > "$WORK/after"; cmp -s "$WORK/before" "$WORK/after" || fail "secrets changed (v1)"
ok "custom config kms v1 + identity: 40 secrets k8s:enc:kms:v1:rkc-kms-v1:, data unchanged"

# --- rkc encrypt rotate-key refuses a KMS-first config and touches nothing
H1=$(sha256sum "$CLUSTER_DIR/cluster.rkestate")
if (cd "$CLUSTER_DIR" && "$RKC" encrypt rotate-key) > "$LOG" 2>&1; then fail "rotate-key accepted a kms-first config"; fi
grep -q "writes with the kms provider 'rkc-kms-v1': a KMS plugin rotates its own key-encryption key" "$LOG" \
  || { cat "$LOG"; fail "kms-first refusal message"; }
[ "$H1" = "$(sha256sum "$CLUSTER_DIR/cluster.rkestate")" ] || fail "refused rotation changed the state"
[ "$(prefixes secrets)" = "k8s:enc:kms:v1:rkc-kms-v1: 40" ] || fail "refused rotation changed etcd"
ok "rotate-key refuses the kms-first config with the reason, nothing changed"

# --- rkc remove stops the plugin and removes its socket
(cd "$CLUSTER_DIR" && "$RKC" remove --force) > "$LOG" 2>&1 || { cat "$LOG"; fail "rkc remove"; }
grep -q "Stopped kms-plugin on node \[node1\]" "$LOG" || { cat "$LOG"; fail "plugin not stopped"; }
[ ! -e "$SOCK" ] || fail "socket left behind"
ok "rkc remove stops the plugin (socket removed)"
