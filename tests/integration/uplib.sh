# SPDX-License-Identifier: Apache-2.0
# Helpers for tests that drive `rkc up` on a local cluster. Source after setting:
#   RKC_BUILD_DIR  the build tree (rkc, rkc-apiserver)
# Each cluster gets its own loopback address (127.x.y.z) so tests can run in parallel with
# the default ports 2379/2380/6443.

RKC="$RKC_BUILD_DIR/rkc"
PY=/usr/bin/python3
LIBDIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)

fail() { echo "FAIL: $*" >&2; exit 1; }
ok() { echo "ok - $*"; }

# new_cluster DIR: a cluster.yml for one local node on a fresh loopback address.
new_cluster() {
  local dir=$1
  local a=$((RANDOM % 200 + 20)) b=$((RANDOM % 250 + 1)) c=$((RANDOM % 250 + 1))
  ADDR="127.$a.$b.$c"
  mkdir -p "$dir"
  CLUSTER_DIR=$(cd "$dir" && pwd)
  cat > "$CLUSTER_DIR/cluster.yml" <<YML
cluster_name: it
nodes:
  - address: $ADDR
    hostname_override: node1
    transport: local
    role: [controlplane, etcd, worker]
services:
  kube-api:
    secrets_encryption_config:
      enabled: true
YML
  SSL="$CLUSTER_DIR/.rkc/node1/etc/kubernetes/ssl"
  export KUBECONFIG="$CLUSTER_DIR/kube_config_cluster.yml"
}

set_encryption() { # set_encryption true|false
  sed -i "s/enabled: .*/enabled: $1/" "$CLUSTER_DIR/cluster.yml"
}

rkc_up() { # rkc_up [extra env assignments are taken from the caller's environment]
  (cd "$CLUSTER_DIR" && "$RKC" up "$@")
}

cleanup_cluster() {
  [ -n "${CLUSTER_DIR:-}" ] && [ -d "$CLUSTER_DIR" ] || return 0
  local sanitizer=0 f
  # sanitizer builds (RKC_BUILD_DIR=build/asan): any report in a component log fails the test
  for f in "$CLUSTER_DIR"/.rkc/*/var/log/rkc/*.log; do
    [ -f "$f" ] || continue
    if grep -qE 'ERROR: (AddressSanitizer|LeakSanitizer)|runtime error:' "$f"; then
      echo "FAIL: sanitizer report in $f:" >&2
      grep -E -A20 'ERROR: (AddressSanitizer|LeakSanitizer)|runtime error:' "$f" | head -40 >&2
      sanitizer=1
    fi
  done
  (cd "$CLUSTER_DIR" && "$RKC" remove --force >/dev/null 2>&1) || true
  # anything left (a run killed mid-way): stop by pidfile
  for pf in "$CLUSTER_DIR"/.rkc/*/var/run/rkc/*.pid; do
    [ -f "$pf" ] && kill -9 "$(cat "$pf")" 2>/dev/null || true
  done
  rm -rf "$CLUSTER_DIR"
  [ "$sanitizer" = 0 ] || exit 1
}

etcdctl_() {
  ETCDCTL_API=3 etcdctl --endpoints "https://$ADDR:2379" --cacert "$SSL/kube-ca.pem" \
    --cert "$SSL/kube-etcd-client.pem" --key "$SSL/kube-etcd-client-key.pem" "$@"
}

# prefixes RESOURCE: one line per distinct raw value prefix under /registry/RESOURCE/, with
# counts: "k8s:enc:aescbc:v1:k-abcde: 1000" or "plaintext 12".
prefixes() {
  etcdctl_ get --prefix "/registry/$1/" -w json | $PY -c '
import base64, collections, json, sys
d = json.load(sys.stdin)
c = collections.Counter()
for kv in d.get("kvs", []):
    v = base64.b64decode(kv["value"])
    if v.startswith(b"k8s:enc:"):
        parts = v.split(b":", 5)
        c[b":".join(parts[:5]).decode() + ":"] += 1
    else:
        c["plaintext"] += 1
for k, n in sorted(c.items()):
    print(k, n)
'
}

# dump_secrets: every Secret (namespace/name and data), sorted: compare before/after.
dump_secrets() {
  kubectl get secrets -A -o json | $PY -c '
import json, sys
for s in json.load(sys.stdin)["items"]:
    m = s["metadata"]
    print(m["namespace"] + "/" + m["name"], json.dumps(s.get("data", {}), sort_keys=True))
' | sort
}

bulk() { # bulk create N_NS PER_NS SIZE
  API_URL="https://$ADDR:6443" CA="$SSL/kube-ca.pem" CERT="$SSL/kube-admin.pem" \
    KEY="$SSL/kube-admin-key.pem" $PY "$LIBDIR/kbulk.py" "$@"
}

apiserver_flags() { cat "$CLUSTER_DIR/.rkc/node1/var/run/rkc/kube-apiserver.spec"; }
apiserver_pid() { cat "$CLUSTER_DIR/.rkc/node1/var/run/rkc/kube-apiserver.pid"; }
etcd_pid() { cat "$CLUSTER_DIR/.rkc/node1/var/run/rkc/etcd.pid"; }
