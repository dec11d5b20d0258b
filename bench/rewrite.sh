#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# bench/rewrite.sh: how fast every Secret is re-encrypted, all in one run on the same cluster:
#   (a) rkc encrypt rewrite with 1, 8 and 16 workers,
#   (b) kubectl get secrets -A -o json | kubectl replace -f -   (the documented manual way),
#   (c) raw etcd compare-and-swap writes of the same values with 1, 8, 16 threads (the floor:
#       bench_etcd_rewrite, no API server, no JSON, no encryption).
# Setup: TLS etcd + rkc-apiserver (tests/integration/lib.sh) with aescbc, N 1 KiB Secrets in 10
# namespaces. Before each API run the writer key is rotated (restart with [aescbc new, old]),
# so every object is stale and really re-encrypted; afterwards every value is checked to carry
# the new key's prefix.
#
# Usage: bench/rewrite.sh [N]     (default 2000)
# Env: RKC_BUILD_DIR (default build/release if built, else build/dev), TMPDIR.
set -euo pipefail

N=${1:-2000}
RKC_SOURCE_DIR=${RKC_SOURCE_DIR:-$(cd "$(dirname "$0")/.." && pwd)}
if [ -z "${RKC_BUILD_DIR:-}" ]; then
    RKC_BUILD_DIR="$RKC_SOURCE_DIR/build/dev"
    [ -x "$RKC_SOURCE_DIR/build/release/rkc" ] && RKC_BUILD_DIR="$RKC_SOURCE_DIR/build/release"
fi
export RKC_BUILD_DIR RKC_SOURCE_DIR
for b in rkc rkc-apiserver bench_etcd_rewrite; do
    [ -x "$RKC_BUILD_DIR/$b" ] || {
        echo "bench/rewrite.sh: $RKC_BUILD_DIR/$b is missing: build first" >&2
        exit 2
    }
done
. "$RKC_SOURCE_DIR/tests/integration/lib.sh"

RKC="$RKC_BUILD_DIR/rkc"
NS=10
keyno=0
KEYS=()

newkey() {
    KEYS+=("$(head -c 32 /dev/urandom | base64)")
    keyno=$((${#KEYS[@]} - 1))
}

# config with the newest key writing and the one before reading
write_config() {
    local f="$T/enc.yaml"
    {
        echo "apiVersion: apiserver.config.k8s.io/v1"
        echo "kind: EncryptionConfiguration"
        echo "resources:"
        echo "- resources: [secrets]"
        echo "  providers:"
        echo "  - aescbc:"
        echo "      keys:"
        echo "      - {name: k$keyno, secret: \"${KEYS[$keyno]}\"}"
        if [ "$keyno" -gt 0 ]; then
            echo "      - {name: k$((keyno - 1)), secret: \"${KEYS[$((keyno - 1))]}\"}"
        fi
        echo "  - identity: {}"
    } >"$f"
    chmod 600 "$f"
}

api_start() {
    "$RKC_BUILD_DIR/rkc-apiserver" --etcd-servers "$ETCD_URL" \
        --etcd-cafile "$T/pki/ca.crt" --etcd-certfile "$T/pki/etcd-client.crt" \
        --etcd-keyfile "$T/pki/etcd-client.key" \
        --bind-address 127.0.0.1 --secure-port "$API_PORT" \
        --tls-cert-file "$T/pki/server.crt" --tls-private-key-file "$T/pki/server.key" \
        --client-ca-file "$T/pki/ca.crt" --encryption-provider-config "$T/enc.yaml" \
        >>"$T/apiserver.log" 2>&1 &
    API_PID=$!
    LIB_PIDS+=($API_PID)
    wait_for 20 curl -sf --cacert "$T/pki/ca.crt" "$API_URL/readyz" || fail "rkc-apiserver not ready"
}

rotate() {
    newkey
    write_config
    stop_apiserver
    api_start
}

# every value must carry the current writer's prefix
check_writer() {
    local want="k8s:enc:aescbc:v1:k$keyno:" got
    got=$(etcdctl get --prefix /registry/secrets/ -w json | /usr/bin/python3 -c '
import base64, json, sys
want = sys.argv[1].encode()
kvs = json.load(sys.stdin).get("kvs", [])
print(sum(1 for kv in kvs if base64.b64decode(kv["value"]).startswith(want)))' "$want")
    [ "$got" = "$N" ] || fail "$1: only $got of $N values carry $want"
}

now() { date +%s.%N; }
calc() { awk "BEGIN { printf \"%.6f\", $1 }"; }
RESULTS=()
# record NAME WORKERS SECONDS
record() {
    RESULTS+=("$1;$2;$3")
}

start_etcd
API_PORT=$(free_port)
API_URL="https://127.0.0.1:$API_PORT"
newkey
write_config
api_start
write_kubeconfig
export API_URL CA="$T/pki/ca.crt" CERT="$T/pki/admin.crt" KEY="$T/pki/admin.key"
echo "creating $N Secrets of 1 KiB in $NS namespaces..." >&2
/usr/bin/python3 "$RKC_SOURCE_DIR/tests/integration/kbulk.py" create $NS $((N / NS)) 1024
check_writer create

for w in 1 8 16; do
    rotate
    t0=$(now)
    "$RKC" --quiet encrypt rewrite --kubeconfig "$T/kubeconfig" --workers "$w" ||
        fail "rkc encrypt rewrite --workers $w"
    t1=$(now)
    check_writer "rkc rewrite --workers $w"
    record "rkc encrypt rewrite" "$w" "$(calc "$t1 - $t0")"
done

rotate
t0=$(now)
kc get secrets -A -o json | kc replace -f - >/dev/null || fail "kubectl replace pipeline"
t1=$(now)
check_writer "kubectl replace"
record "kubectl get -o json | kubectl replace -f -" 1 "$(calc "$t1 - $t0")"

for w in 1 8 16; do
    out=$("$RKC_BUILD_DIR/bench_etcd_rewrite" "$ETCD_URL" "$T/pki/ca.crt" \
        "$T/pki/etcd-client.crt" "$T/pki/etcd-client.key" /registry/secrets/ "$w") ||
        fail "bench_etcd_rewrite $w: $out"
    record "raw etcd CAS writes (floor)" "$w" "$(sed 's/.*seconds=\([0-9.]*\).*/\1/' <<<"$out")"
done

floor() { # seconds of the floor at the same concurrency
    local r name w s
    for r in "${RESULTS[@]}"; do
        IFS=";" read -r name w s <<<"$r"
        [ "$name" = "raw etcd CAS writes (floor)" ] && [ "$w" = "$1" ] && echo "$s" && return
    done
}
kubectl_s=""
for r in "${RESULTS[@]}"; do
    IFS=";" read -r name w s <<<"$r"
    [ "$name" = "kubectl get -o json | kubectl replace -f -" ] && kubectl_s=$s
done

printf '\nN=%s Secrets of 1 KiB, aescbc, %s namespaces; build %s; %s cores\n' "$N" "$NS" \
    "$(basename "$RKC_BUILD_DIR")" "$(nproc)"
printf '| %-44s | %7s | %8s | %9s | %14s | %13s |\n' method workers seconds "objects/s" \
    "vs etcd floor" "vs kubectl"
printf '|%s|%s|%s|%s|%s|%s|\n' "$(printf -- '-%.0s' {1..46})" "---------" "----------" \
    "-----------" "----------------" "---------------"
for r in "${RESULTS[@]}"; do
    IFS=";" read -r name w s <<<"$r"
    f=$(floor "$w")
    rate=$(calc "$N / $s")
    printf '| %-44s | %7s | %8.2f | %9.0f | %13.2fx | %12.2fx |\n' "$name" "$w" "$s" "$rate" \
        "$(calc "$f / $s")" "$(calc "$kubectl_s / $s")"
done
echo "(vs etcd floor: floor time / this time at the same concurrency, 1.00x = as fast as raw etcd;"
echo " vs kubectl: kubectl pipeline time / this time, >1 = faster than the kubectl pipeline)"
