#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# bench/apiserver.sh: create, get and update of 1 KiB Secrets through rkc-apiserver at
# concurrency 1, 8 and 32, beside raw etcd puts and ranges of values of the same size at the
# same concurrency, in the same run (bench_apiserver does both sides, cell by cell).
# Two row sets: rkc-apiserver with an aescbc EncryptionConfiguration, then with identity only.
# Setup (tests/integration/lib.sh): a throwaway CA, Debian's etcd with TLS and rkc-apiserver on
# free loopback ports, all under a temp dir that is removed at exit with every process killed.
# After each row set the server's peak RSS (VmHWM in /proc/PID/status) is read, and one stored
# value is checked to carry the provider's prefix.
#
# Usage: bench/apiserver.sh [seconds-per-cell]     (default 3 per side, as three slices; each
#        cell also stops at 20000 ops)
# Env: RKC_BUILD_DIR (default build/release if built, else build/dev), BENCH_CONCURRENCY
#      (default 1,8,32), TMPDIR.
set -euo pipefail

SECONDS_PER_CELL=${1:-3}
CONC=${BENCH_CONCURRENCY:-1,8,32}
RKC_SOURCE_DIR=${RKC_SOURCE_DIR:-$(cd "$(dirname "$0")/.." && pwd)}
if [ -z "${RKC_BUILD_DIR:-}" ]; then
    RKC_BUILD_DIR="$RKC_SOURCE_DIR/build/dev"
    [ -x "$RKC_SOURCE_DIR/build/release/rkc-apiserver" ] &&
        RKC_BUILD_DIR="$RKC_SOURCE_DIR/build/release"
fi
export RKC_BUILD_DIR RKC_SOURCE_DIR
for b in rkc-apiserver bench_apiserver; do
    [ -x "$RKC_BUILD_DIR/$b" ] || {
        echo "bench/apiserver.sh: $RKC_BUILD_DIR/$b is missing: build first" >&2
        exit 2
    }
done
. "$RKC_SOURCE_DIR/tests/integration/lib.sh"

# write_config PROVIDER: $T/enc-PROVIDER.yaml for secrets
write_config() {
    local f="$T/enc-$1.yaml"
    {
        echo "apiVersion: apiserver.config.k8s.io/v1"
        echo "kind: EncryptionConfiguration"
        echo "resources:"
        echo "- resources: [secrets]"
        echo "  providers:"
        if [ "$1" = aescbc ]; then
            echo "  - aescbc:"
            echo "      keys:"
            echo "      - {name: k1, secret: \"$(head -c 32 /dev/urandom | base64)\"}"
        fi
        echo "  - identity: {}"
    } >"$f"
    chmod 600 "$f"
}

start_etcd
ROWS=()
RSS=()
t_start=$(date +%s)
for provider in aescbc identity; do
    write_config "$provider"
    start_apiserver --encryption-provider-config "$T/enc-$provider.yaml"
    echo "== $provider: rkc-apiserver pid $API_PID on $API_URL" >&2
    out=$("$RKC_BUILD_DIR/bench_apiserver" --etcd "$ETCD_URL" --etcd-cafile "$T/pki/ca.crt" \
        --etcd-certfile "$T/pki/etcd-client.crt" --etcd-keyfile "$T/pki/etcd-client.key" \
        --server "$API_URL" --cafile "$T/pki/ca.crt" --certfile "$T/pki/admin.crt" \
        --keyfile "$T/pki/admin.key" --label "$provider" --seconds "$SECONDS_PER_CELL" \
        --concurrency "$CONC") || fail "bench_apiserver ($provider) failed"
    while IFS= read -r line; do
        ROWS+=("$line")
    done <<<"$out"
    # the values really are what the provider writes
    want='{'
    [ "$provider" = aescbc ] && want='k8s:enc:aescbc:v1:k1:'
    got=$(etcdctl get "/registry/secrets/default/b-$provider-c${CONC%%,*}-0" --print-value-only |
        head -c ${#want})
    [ "$got" = "$want" ] || fail "$provider: stored value does not start with '$want'"
    hwm=$(awk '/^VmHWM:/ { print $2 }' "/proc/$API_PID/status")
    rss=$(awk '/^VmRSS:/ { print $2 }' "/proc/$API_PID/status")
    RSS+=("$provider;$hwm;$rss")
    stop_apiserver
done
t_end=$(date +%s)

printf '\n1 KiB Secrets (data value of 1024 random bytes); %s s or 20000 ops per side of each cell;\nbuild %s; ' \
    "$SECONDS_PER_CELL" "$(basename "$RKC_BUILD_DIR")"
printf '%s cores (%s); %s; whole run %s s\n\n' "$(nproc)" \
    "$(awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo)" \
    "$(etcd --version | head -1)" "$((t_end - t_start))"
echo "| provider | concurrency | op | api ops/s | api p50 ms | api p99 ms | raw etcd ops/s | raw p50 ms | raw p99 ms | ratio |"
echo "|---|---:|---|---:|---:|---:|---:|---:|---:|---:|"
printf '%s\n' "${ROWS[@]}"
echo
echo "raw etcd: create = compare-and-swap put of a new key, get = range of one key,"
echo "update = compare-and-swap put on the key's mod_revision; ratio = api ops/s / raw ops/s"
echo
echo "| provider | rkc-apiserver peak RSS (VmHWM) | RSS at the end |"
echo "|---|---:|---:|"
for r in "${RSS[@]}"; do
    IFS=";" read -r p hwm rss <<<"$r"
    printf '| %s | %.1f MiB | %.1f MiB |\n' "$p" "$(echo "$hwm / 1024" | bc -l)" \
        "$(echo "$rss / 1024" | bc -l)"
done
