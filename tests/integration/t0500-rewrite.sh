#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# rkc encrypt rewrite / verify against real etcd (TLS), real rkc-apiserver and real kubectl:
# 1,000 Secrets in 10 namespaces written with aescbc k1; key rotation [k2, k1] -> verify fails,
# rewrite, verify passes, every value carries k2's prefix, kubectl reads every Secret back
# byte-identical. Then rewrites under concurrent deletes (404), concurrent updates (409), the
# API server killed for ~2 s mid-run (backoff), and a decrypting [identity, aescbc] config.
. "$RKC_SOURCE_DIR/tests/integration/lib.sh"

RKC="$RKC_BUILD_DIR/rkc"
BULK="/usr/bin/python3 $RKC_SOURCE_DIR/tests/integration/kbulk.py"

key() { head -c 32 /dev/urandom | base64; }
K1=$(key) K2=$(key) K3=$(key) K4=$(key) K5=$(key)

# enc_config FILE PROVIDER...: each PROVIDER is "identity" or "aescbc:NAME:SECRET[,NAME:SECRET]".
enc_config() {
    local f=$1 p n s spec
    shift
    {
        echo "apiVersion: apiserver.config.k8s.io/v1"
        echo "kind: EncryptionConfiguration"
        echo "resources:"
        echo "- resources: [secrets]"
        echo "  providers:"
        for p in "$@"; do
            if [ "$p" = identity ]; then
                echo "  - identity: {}"
                continue
            fi
            echo "  - aescbc:"
            echo "      keys:"
            IFS=',' read -ra specs <<<"${p#aescbc:}"
            for spec in "${specs[@]}"; do
                n=${spec%%:*}
                s=${spec#*:}
                echo "      - {name: $n, secret: \"$s\"}"
            done
        done
    } >"$f"
    chmod 600 "$f"
}

# api_start CONFIG: rkc-apiserver on the fixed API_PORT (so the kubeconfig stays valid).
api_start() {
    "$RKC_BUILD_DIR/rkc-apiserver" --etcd-servers "$ETCD_URL" \
        --etcd-cafile "$T/pki/ca.crt" --etcd-certfile "$T/pki/etcd-client.crt" \
        --etcd-keyfile "$T/pki/etcd-client.key" \
        --bind-address 127.0.0.1 --secure-port "$API_PORT" \
        --tls-cert-file "$T/pki/server.crt" --tls-private-key-file "$T/pki/server.key" \
        --client-ca-file "$T/pki/ca.crt" --encryption-provider-config "$1" \
        >>"$T/apiserver.log" 2>&1 &
    API_PID=$!
    LIB_PIDS+=($API_PID)
    wait_for 20 curl -sf --cacert "$T/pki/ca.crt" "$API_URL/readyz" || {
        tail -20 "$T/apiserver.log" >&2
        fail "rkc-apiserver did not become ready"
    }
}

api_restart() {
    stop_apiserver
    api_start "$1"
}

# prefixes: "k8s:enc:aescbc:v1:k2:=1000" (or "plaintext=N") over every /registry/secrets/ value.
prefixes() {
    etcdctl get --prefix /registry/secrets/ -w json | /usr/bin/python3 -c '
import base64, collections, json, sys
c = collections.Counter()
for kv in json.load(sys.stdin).get("kvs", []):
    v = base64.b64decode(kv["value"])
    c[b":".join(v.split(b":")[:5]).decode() + ":" if v.startswith(b"k8s:enc:") else "plaintext"] += 1
print(" ".join("%s=%d" % kn for kn in sorted(c.items())))'
}

# count_prefix P: how many /registry/secrets/ values start with P ("plaintext" for no prefix).
count_prefix() {
    prefixes | tr ' ' '\n' | sed -n "s/^$1=//p"
}

# wait_progress P N: waits (bounded) until at least N values carry P: a rewrite is under way.
wait_progress() {
    local i
    for ((i = 0; i < 300; i++)); do
        [ "$(count_prefix "$1")" -ge "$2" ] 2>/dev/null && return 0
        sleep 0.1
    done
    fail "no rewrite progress to $1"
}

# dump FILE: every Secret as "ns/name <data JSON>", sorted, read back through kubectl.
dump() {
    kc get secrets -A -o jsonpath='{range .items[*]}{.metadata.namespace}/{.metadata.name} {.data}{"\n"}{end}' |
        LC_ALL=C sort >"$1"
}

verify() {
    "$RKC" encrypt verify --provider-config "$1" --etcd-endpoints "$ETCD_URL" \
        --etcd-cafile "$T/pki/ca.crt" --etcd-certfile "$T/pki/etcd-client.crt" \
        --etcd-keyfile "$T/pki/etcd-client.key" "${@:2}"
}

# rewrite LOG [args...]: rkc encrypt rewrite with the test kubeconfig.
rewrite() {
    local log=$1
    shift
    timeout 120 "$RKC" encrypt rewrite --kubeconfig "$T/kubeconfig" "$@" 2>"$log"
}

# field LOG NAME: a number from rewrite's summary line ("1000 rewritten" -> 1000).
field() {
    sed -n "s/.*[^0-9]\([0-9][0-9]*\) $2\([,;].*\)*$/\1/p" "$1" | tail -1
}

start_etcd
API_PORT=$(free_port)
API_URL="https://127.0.0.1:$API_PORT"
enc_config "$T/enc1.yaml" "aescbc:k1:$K1" identity
api_start "$T/enc1.yaml"
write_kubeconfig
export API_URL CA="$T/pki/ca.crt" CERT="$T/pki/admin.crt" KEY="$T/pki/admin.key"

$BULK create 10 100 64 || fail "creating 1000 secrets"
[ "$(prefixes)" = "k8s:enc:aescbc:v1:k1:=1000" ] || fail "after create: $(prefixes)"
dump "$T/before"
[ "$(wc -l <"$T/before")" = 1000 ] || fail "kubectl sees $(wc -l <"$T/before") secrets"
ok "1000 secrets in 10 namespaces, all on k1"

# --- rotation: [k2, k1] ---
enc_config "$T/enc2.yaml" "aescbc:k2:$K2,k1:$K1" identity
api_restart "$T/enc2.yaml"
if verify "$T/enc2.yaml" -o json >"$T/v.json" 2>"$T/v.err"; then
    fail "verify passed before the rewrite"
fi
jq -e '.ok == false and .total == 1000 and .notOnWriter == 1000 and .unreadable == 0 and
       .writer == "aescbc key k2" and
       ([.providers[] | select(.key == "k1")][0].count == 1000) and
       (.notOnWriterKeys | length) == 100' "$T/v.json" >/dev/null || fail "verify json: $(cat "$T/v.json")"
grep -q "1000 of 1000 values under '/registry/secrets/' are not on the writer" "$T/v.err" ||
    fail "verify error: $(cat "$T/v.err")"
ok "verify names 1000 values not on the writer k2 (exit 1)"

# the kubeconfig as rkc writes it (embedded base64 data), found by default beside --config
mkdir -p "$T/c"
touch "$T/c/cluster.yml"
cat >"$T/c/kube_config_cluster.yml" <<EOF
apiVersion: v1
kind: Config
clusters:
- cluster:
    certificate-authority-data: $(base64 -w0 "$T/pki/ca.crt")
    server: "$API_URL"
  name: "local"
contexts:
- context:
    cluster: "local"
    user: "kube-admin-local"
  name: "local"
current-context: "local"
users:
- name: "kube-admin-local"
  user:
    client-certificate-data: $(base64 -w0 "$T/pki/admin.crt")
    client-key-data: $(base64 -w0 "$T/pki/admin.key")
EOF
chmod 600 "$T/c/kube_config_cluster.yml"
timeout 120 "$RKC" --config "$T/c/cluster.yml" encrypt rewrite 2>"$T/rw1.log" ||
    fail "rewrite failed: $(cat "$T/rw1.log")"
[ "$(field "$T/rw1.log" rewritten)" = 1000 ] || fail "rewrite summary: $(cat "$T/rw1.log")"
verify "$T/enc2.yaml" >"$T/v.txt" || fail "verify after rewrite: $(cat "$T/v.txt")"
grep -q "result: ok, every value is on the writer" "$T/v.txt" || fail "verify text: $(cat "$T/v.txt")"
[ "$(prefixes)" = "k8s:enc:aescbc:v1:k2:=1000" ] || fail "after rewrite: $(prefixes)"
dump "$T/after"
cmp -s "$T/before" "$T/after" || fail "secrets changed by the rewrite"
ok "rewrite (default embedded-data kubeconfig) moved all 1000 to k2; verify passes; kubectl reads them back byte-identical"

# --- concurrent deletes: [k3, k2]; 404 -> skipped ---
enc_config "$T/enc3.yaml" "aescbc:k3:$K3,k2:$K2" identity
api_restart "$T/enc3.yaml"
rewrite "$T/rw2.log" --workers 1 &
rw=$!
wait_progress k8s:enc:aescbc:v1:k3: 20
deleted=$($BULK delete 10) || fail "concurrent deletes"
wait "$rw" || fail "rewrite with concurrent deletes failed: $(cat "$T/rw2.log")"
[ "$deleted" = 100 ] || fail "deleted $deleted"
gone=$(field "$T/rw2.log" gone)
[ "${gone:-0}" -gt 0 ] || fail "no 404 was seen (gone=$gone): $(cat "$T/rw2.log")"
verify "$T/enc3.yaml" >/dev/null || fail "verify after rewrite with deletes"
[ "$(prefixes)" = "k8s:enc:aescbc:v1:k3:=900" ] || fail "after deletes: $(prefixes)"
ok "concurrent deletes: $gone objects skipped as gone, the run succeeds, 900 on k3"

# --- concurrent updates: [k4, k3]; 409 -> re-read and retried ---
enc_config "$T/enc4.yaml" "aescbc:k4:$K4,k3:$K3" identity
api_restart "$T/enc4.yaml"
WORKERS=8 $BULK update 4 >"$T/updates" &
up=$!
sleep 0.3
rewrite "$T/rw3.log" --workers 2 --page-size 100 || fail "rewrite with updates: $(cat "$T/rw3.log")"
wait "$up" || fail "concurrent updates"
conflicts=$(field "$T/rw3.log" "conflicts retried")
[ "${conflicts:-0}" -gt 0 ] || fail "no 409 was seen: $(cat "$T/rw3.log")"
verify "$T/enc4.yaml" >/dev/null || fail "verify after rewrite with updates"
[ "$(prefixes)" = "k8s:enc:aescbc:v1:k4:=900" ] || fail "after updates: $(prefixes)"
ok "concurrent updates ($(cat "$T/updates") patches): $conflicts conflicts retried, 900 on k4"

# --- the API server killed for ~2 s mid-run: backoff, then the run completes ---
enc_config "$T/enc5.yaml" "aescbc:k5:$K5,k4:$K4" identity
api_restart "$T/enc5.yaml"
rewrite "$T/rw4.log" --workers 1 &
rw=$!
wait_progress k8s:enc:aescbc:v1:k5: 50
kill -0 "$rw" 2>/dev/null || fail "the rewrite ended before the API server was killed"
kill -9 "$API_PID"
wait "$API_PID" 2>/dev/null || true
sleep 2
api_start "$T/enc5.yaml"
wait "$rw" || fail "rewrite across an API server restart failed: $(cat "$T/rw4.log")"
retries=$(field "$T/rw4.log" "transient retries")
[ "${retries:-0}" -gt 0 ] || fail "no transient retry: $(cat "$T/rw4.log")"
verify "$T/enc5.yaml" >/dev/null || fail "verify after the API server restart"
[ "$(prefixes)" = "k8s:enc:aescbc:v1:k5:=900" ] || fail "after restart: $(prefixes)"
ok "API server killed for 2 s mid-run: $retries transient retries, the run completes"

# --- decrypt: [identity, aescbc k5] ---
enc_config "$T/enc6.yaml" identity "aescbc:k5:$K5"
api_restart "$T/enc6.yaml"
# small pages and an etcd compaction mid-list: the continue token expires (410), the list
# restarts and skips what was already handed out
rewrite "$T/rw5.log" --workers 1 --page-size 50 &
rw=$!
wait_progress plaintext 30
kill -0 "$rw" 2>/dev/null || fail "the rewrite ended before the compaction"
# a token minted at exactly the compacted revision stays valid, so compact a few times, each
# at the revision of a write of our own, while the rewrite goes on
for i in 1 2 3; do
    rev=$(etcdctl put /rkc-test/bump "$i" -w json | jq '.header.revision')
    etcdctl compact "$rev" >/dev/null
    sleep 0.3
done
wait "$rw" || fail "decrypting rewrite: $(cat "$T/rw5.log")"
restarts=$(field "$T/rw5.log" "list restarts")
[ "${restarts:-0}" -gt 0 ] || fail "no list restart after the compaction: $(cat "$T/rw5.log")"
[ "$(field "$T/rw5.log" rewritten)" = 900 ] || fail "decrypting rewrite: $(cat "$T/rw5.log")"
verify "$T/enc6.yaml" -o json >"$T/v6.json" || fail "verify identity: $(cat "$T/v6.json")"
jq -e '.ok and .total == 900 and .plaintext == 900 and .writer == "identity" and
       .providers[0].count == 900' "$T/v6.json" >/dev/null || fail "identity verify: $(cat "$T/v6.json")"
[ "$(prefixes)" = "plaintext=900" ] || fail "after decrypt: $(prefixes)"
# verify with the previous config sees 900 plaintext values its chain reads with identity
verify "$T/enc5.yaml" -o json >"$T/v5.json" 2>/dev/null && fail "verify with the aescbc config passed"
jq -e '.plaintext == 900 and .notOnWriter == 900' "$T/v5.json" >/dev/null ||
    fail "old-config verify: $(cat "$T/v5.json")"
dump "$T/final"
[ "$(wc -l <"$T/final")" = 900 ] || fail "final count $(wc -l <"$T/final")"
[ -z "$(LC_ALL=C comm -13 "$T/before" "$T/final")" ] || fail "secrets changed across the rewrites"
ok "decrypting config ($restarts list restarts after a compaction): all 900 plaintext, verify reports it, data byte-identical throughout"

# --- the progress bar on a terminal ---
script -qec "$RKC encrypt rewrite --kubeconfig $T/kubeconfig --workers 2" /dev/null \
    >"$T/tty.out" 2>&1 || fail "rewrite on a tty: $(cat "$T/tty.out")"
grep -q $'\r\[#*-*\] [0-9]*/~*[0-9]* secrets  [0-9]*/s  ETA ' "$T/tty.out" ||
    fail "no progress bar: $(cat -v "$T/tty.out")"
grep -q '\[##############################\] 900/900 secrets .*ETA 0:00' "$T/tty.out" ||
    fail "no final bar: $(cat -v "$T/tty.out")"
ok "progress bar on a terminal"

# --- usage and bad input ---
set +e
"$RKC" encrypt rewrite --workers 0 2>/dev/null
[ $? = 2 ] || fail "--workers 0 is a usage error"
"$RKC" encrypt rewrite --kubeconfig "$T/nope" 2>"$T/e"
[ $? = 1 ] && grep -q "nope" "$T/e" || fail "missing kubeconfig: $(cat "$T/e")"
verify "$T/enc6.yaml" --resource "" 2>/dev/null
[ $? = 2 ] || fail "empty --resource is a usage error"
"$RKC" encrypt verify --etcd-endpoints "$ETCD_URL" 2>/dev/null
[ $? = 2 ] || fail "missing --provider-config is a usage error"
set -e
! grep -qF -e "$K1" -e "$K2" -e "$K5" "$T"/rw*.log "$T"/v*.json "$T/v.txt" || fail "key material in output"
ok "usage errors; no key material in any output"
