#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# bench/kms.sh: Secret write and read rates through rkc-apiserver with kms v1 (a plugin call
# per write), kms v2 (one seed per server) and aescbc, at concurrency 8, in the same run.
# The KMS plugin is rkc-kms on a unix socket. Never run by ctest.
#
#   RKC_BUILD_DIR=build/release RKC_SOURCE_DIR=. bench/kms.sh [N_PER_WORKER] [CONCURRENCY]
#
# Each provider gets a fresh etcd and rkc-apiserver; a Python load generator (threads, one
# keep-alive HTTPS connection each, admin client certificate) creates N Secrets per worker
# (256-byte value), then GETs each of them once; a second GET pass shows cached reads.
set -euo pipefail
: "${RKC_BUILD_DIR:?}" "${RKC_SOURCE_DIR:?}"
RKC_BUILD_DIR=$(cd "$RKC_BUILD_DIR" && pwd)
RKC_SOURCE_DIR=$(cd "$RKC_SOURCE_DIR" && pwd)
N=${1:-150}
C=${2:-8}
. "$RKC_SOURCE_DIR/tests/integration/lib.sh"

"$RKC_BUILD_DIR/rkc-kms" --listen "unix://$T/kms.sock" --key-file "$T/kek" >"$T/kms.log" 2>&1 &
LIB_PIDS+=($!)
wait_for 10 test -S "$T/kms.sock" || fail "rkc-kms did not start"

config() { # config v1|v2|aescbc
    {
        printf 'apiVersion: apiserver.config.k8s.io/v1\nkind: EncryptionConfiguration\n'
        printf 'resources:\n- resources: [secrets]\n  providers:\n'
        case $1 in
        aescbc) printf '  - aescbc:\n      keys:\n      - name: k1\n        secret: %s\n' \
            "$(head -c 32 /dev/urandom | base64)" ;;
        *) printf '  - kms:\n      apiVersion: %s\n      name: bench\n      endpoint: unix://%s\n' "$1" "$T/kms.sock"
           if [ "$1" = v1 ]; then printf '      cachesize: 1000\n'; fi ;;
        esac
    } >"$T/enc-$1.yaml"
}

load() { # load PREFIX: prints "write_ops_s read_ops_s cached_read_ops_s errors"
    /usr/bin/python3 - "$API_PORT" "$T/pki" "$1" "$N" "$C" <<'EOF'
import base64, http.client, json, os, ssl, sys, threading, time
port, pki, prefix, n, c = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4]), int(sys.argv[5])
ctx = ssl.create_default_context(cafile=pki + "/ca.crt")
ctx.load_cert_chain(pki + "/admin.crt", pki + "/admin.key")
value = base64.b64encode(os.urandom(256)).decode()
errors = [0]
def worker(w, phase, barrier):
    conn = http.client.HTTPSConnection("127.0.0.1", int(port), context=ctx, timeout=30)
    barrier.wait()
    for i in range(n):
        name = "%s-%d-%d" % (prefix, w, i)
        if phase == "write":
            body = json.dumps({"apiVersion": "v1", "kind": "Secret",
                               "metadata": {"name": name, "namespace": "default"},
                               "data": {"v": value}})
            conn.request("POST", "/api/v1/namespaces/default/secrets", body,
                         {"Content-Type": "application/json"})
        else:
            conn.request("GET", "/api/v1/namespaces/default/secrets/" + name)
        r = conn.getresponse()
        r.read()
        if r.status >= 300:
            errors[0] += 1
    conn.close()
def run(phase):
    barrier = threading.Barrier(c + 1)
    ts = [threading.Thread(target=worker, args=(w, phase, barrier)) for w in range(c)]
    for t in ts: t.start()
    barrier.wait()
    t0 = time.monotonic()
    for t in ts: t.join()
    return n * c / (time.monotonic() - t0)
w = run("write"); r = run("read"); r2 = run("read")
print("%.0f %.0f %.0f %d" % (w, r, r2, errors[0]))
EOF
}

start_etcd
printf '| provider | writes/s | reads/s | reads/s (2nd pass) | errors |\n'
printf '|---|---:|---:|---:|---:|\n'
for p in v1 v2 aescbc; do
    config "$p"
    etcdctl del --prefix /registry/secrets/ >/dev/null
    start_apiserver --encryption-provider-config "$T/enc-$p.yaml"
    read -r w r r2 e < <(load "b$p")
    stop_apiserver
    name=$p
    [ "$p" = aescbc ] || name="kms $p"
    printf '| %s | %s | %s | %s | %s |\n' "$name" "$w" "$r" "$r2" "$e"
done
