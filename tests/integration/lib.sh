# SPDX-License-Identifier: Apache-2.0
# Shared helpers for integration tests: a temp dir cleaned up on exit, free loopback ports,
# a throwaway CA with server/client certificates, etcd with TLS, rkc-apiserver, a kubeconfig.
# Source it from a test: `. "$RKC_SOURCE_DIR/tests/integration/lib.sh"`.
# Every wait is bounded; every process started here is killed by the EXIT trap.

set -euo pipefail

: "${RKC_BUILD_DIR:?RKC_BUILD_DIR must point at the build directory}"
: "${RKC_SOURCE_DIR:?RKC_SOURCE_DIR must point at the source directory}"

T=$(mktemp -d "${TMPDIR:-/tmp}/rkc-it.XXXXXX")
LIB_PIDS=()

lib_cleanup() {
    local pid
    for pid in "${LIB_PIDS[@]:-}"; do
        [ -n "$pid" ] && kill "$pid" 2>/dev/null || true
    done
    for pid in "${LIB_PIDS[@]:-}"; do
        [ -n "$pid" ] && wait "$pid" 2>/dev/null || true
    done
    # a sanitizer report from a server we started fails the test (asan builds)
    local sanitizer=0
    if [ -f "$T/apiserver.log" ] &&
        grep -E 'ERROR: (Address|Leak)Sanitizer|runtime error:' "$T/apiserver.log" >&2; then
        echo "FAIL: sanitizer report in rkc-apiserver's log" >&2
        sanitizer=1
    fi
    if [ "${RKC_KEEP_TMP:-}" = 1 ]; then
        echo "kept $T" >&2
    else
        rm -rf "$T"
    fi
    [ "$sanitizer" = 0 ] || exit 1
}
trap lib_cleanup EXIT

fail() {
    echo "FAIL: $*" >&2
    exit 1
}

# contains PATTERN: like grep -q, but reads all its input, so that under pipefail the writer
# never dies of SIGPIPE when the match comes early.
contains() {
    grep -- "$1" >/dev/null
}

ok() {
    echo "ok - $*"
}

# free_port: prints a TCP port on 127.0.0.1 that was free a moment ago.
free_port() {
    /usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'
}

# wait_for SECONDS CMD...: retries CMD every 0.2 s until it succeeds or time runs out.
wait_for() {
    local secs=$1 i
    shift
    for ((i = 0; i < secs * 5; i++)); do
        if "$@" >/dev/null 2>&1; then
            return 0
        fi
        sleep 0.2
    done
    return 1
}

# gen_ca DIR: ca.crt/ca.key, server.crt/key (127.0.0.1, localhost), admin.crt/key
# (O=system:masters), user.crt/key (a non-master user), all with openssl.
gen_ca() {
    local d=$1
    mkdir -p "$d"
    (
        cd "$d"
        openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes \
            -keyout ca.key -out ca.crt -days 2 -subj "/CN=rkc-test-ca" 2>/dev/null
        cat >ext-server.cnf <<'EOF'
basicConstraints=CA:FALSE
keyUsage=digitalSignature,keyEncipherment
extendedKeyUsage=serverAuth,clientAuth
subjectAltName=IP:127.0.0.1,DNS:localhost
EOF
        cat >ext-client.cnf <<'EOF'
basicConstraints=CA:FALSE
keyUsage=digitalSignature,keyEncipherment
extendedKeyUsage=clientAuth
EOF
        local name subj ext
        for spec in "server|/CN=localhost|ext-server.cnf" \
            "etcd-client|/CN=apiserver-etcd-client|ext-client.cnf" \
            "admin|/O=system:masters/CN=admin|ext-client.cnf" \
            "user|/O=developers/CN=bob|ext-client.cnf"; do
            IFS='|' read -r name subj ext <<<"$spec"
            openssl req -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes \
                -keyout "$name.key" -out "$name.csr" -subj "$subj" 2>/dev/null
            openssl x509 -req -in "$name.csr" -CA ca.crt -CAkey ca.key -CAcreateserial \
                -out "$name.crt" -days 2 -extfile "$ext" 2>/dev/null
        done
        chmod 600 ./*.key
    )
}

# start_etcd: etcd with TLS on random loopback ports; sets ETCD_URL and ETCDCTL_* for etcdctl.
start_etcd() {
    local cport pport
    cport=$(free_port)
    pport=$(free_port)
    ETCD_URL="https://127.0.0.1:$cport"
    etcd --name rkc-it --data-dir "$T/etcd" \
        --listen-client-urls "$ETCD_URL" --advertise-client-urls "$ETCD_URL" \
        --listen-peer-urls "http://127.0.0.1:$pport" \
        --initial-advertise-peer-urls "http://127.0.0.1:$pport" \
        --initial-cluster "rkc-it=http://127.0.0.1:$pport" \
        --cert-file "$T/pki/server.crt" --key-file "$T/pki/server.key" \
        --trusted-ca-file "$T/pki/ca.crt" --client-cert-auth \
        >"$T/etcd.log" 2>&1 &
    LIB_PIDS+=($!)
    export ETCDCTL_API=3 ETCDCTL_ENDPOINTS="$ETCD_URL" ETCDCTL_CACERT="$T/pki/ca.crt" \
        ETCDCTL_CERT="$T/pki/etcd-client.crt" ETCDCTL_KEY="$T/pki/etcd-client.key"
    wait_for 20 etcdctl endpoint health || {
        cat "$T/etcd.log" >&2
        fail "etcd did not become healthy"
    }
}

# start_apiserver [extra flags...]: rkc-apiserver against ETCD_URL; sets API_PORT, API_URL.
start_apiserver() {
    API_PORT=$(free_port)
    API_URL="https://127.0.0.1:$API_PORT"
    "$RKC_BUILD_DIR/rkc-apiserver" --etcd-servers "$ETCD_URL" \
        --etcd-cafile "$T/pki/ca.crt" --etcd-certfile "$T/pki/etcd-client.crt" \
        --etcd-keyfile "$T/pki/etcd-client.key" \
        --bind-address 127.0.0.1 --secure-port "$API_PORT" \
        --tls-cert-file "$T/pki/server.crt" --tls-private-key-file "$T/pki/server.key" \
        --client-ca-file "$T/pki/ca.crt" "$@" >>"$T/apiserver.log" 2>&1 &
    API_PID=$!
    LIB_PIDS+=($API_PID)
    wait_for 20 curl -sf --cacert "$T/pki/ca.crt" "$API_URL/readyz" || {
        cat "$T/apiserver.log" >&2
        fail "rkc-apiserver did not become ready"
    }
}

stop_apiserver() {
    kill "$API_PID" 2>/dev/null || true
    wait "$API_PID" 2>/dev/null || true
}

# write_kubeconfig: $T/kubeconfig for the admin (system:masters) and $T/kubeconfig-user.
write_kubeconfig() {
    local who
    for who in admin user; do
        local f="$T/kubeconfig"
        [ "$who" = user ] && f="$T/kubeconfig-user"
        cat >"$f" <<EOF
apiVersion: v1
kind: Config
clusters:
- name: rkc
  cluster:
    server: $API_URL
    certificate-authority: $T/pki/ca.crt
users:
- name: $who
  user:
    client-certificate: $T/pki/$who.crt
    client-key: $T/pki/$who.key
contexts:
- name: rkc
  context: {cluster: rkc, user: $who}
current-context: rkc
EOF
    done
    export KUBECONFIG="$T/kubeconfig"
    mkdir -p "$T/kubecache"
}

kc() {
    timeout 60 kubectl --cache-dir "$T/kubecache" "$@"
}

# acurl [curl args...]: curl as the admin client certificate.
acurl() {
    curl -sS --max-time 30 --cacert "$T/pki/ca.crt" --cert "$T/pki/admin.crt" \
        --key "$T/pki/admin.key" "$@"
}

# expect_status CODE REASON CURL-ARGS...: a request answers CODE with a Status of REASON.
expect_status() {
    local code=$1 reason=$2 got body
    shift 2
    got=$(acurl -o "$T/resp.json" -w '%{http_code}' "$@") || true
    body=$(cat "$T/resp.json" 2>/dev/null || true)
    [ "$got" = "$code" ] || fail "expected HTTP $code for $*, got $got: $body"
    jq -e --arg r "$reason" --argjson c "$code" \
        '.kind == "Status" and .apiVersion == "v1" and .status == "Failure" and .reason == $r and .code == $c' \
        "$T/resp.json" >/dev/null || fail "bad Status body for $*: $body"
}

mkdir -p "$T/pki"
gen_ca "$T/pki"
