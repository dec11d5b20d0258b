#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# KMS over gRPC against an independent implementation (Debian's python3-grpcio, messages
# compiled from src/adapters/proto at test time):
#   - rkc-kms answers a Python client (v2 and v1beta1), rotates its KEK, shuts down cleanly;
#   - `rkc encrypt inspect` decrypts the two recorded upstream KMS v2 etcd values through a
#     Python plugin that behaves like upstream's Base64 mock;
#   - rkc-apiserver writes and reads Secrets through the Python plugin (v2 and v1: one Encrypt
#     per write) and through rkc-kms;
#   - a KEK rotation in rkc-kms then `rkc encrypt rewrite`: every value carries the new key ID;
#   - rkc-kms killed and restarted during writes: failed writes are clean 500s naming the
#     plugin, nothing acknowledged is lost, cached reads keep working, /readyz reports it.
. "$RKC_SOURCE_DIR/tests/integration/lib.sh"

PY=/usr/bin/python3
KMSPY="$RKC_SOURCE_DIR/tests/integration/kmspy.py"
KMS="$RKC_BUILD_DIR/rkc-kms"
FIX="$RKC_SOURCE_DIR/tests/fixtures/kms"
[ -x "$KMS" ] || fail "rkc-kms not built"
$PY -c 'import grpc, grpc_tools' 2>/dev/null || fail "python3-grpcio and python3-grpc-tools are required"

KMS_PID=
start_kms() { # start_kms SOCKET KEYFILE
    "$KMS" --listen "unix://$1" --key-file "$2" -v 1 >>"$T/kms.log" 2>&1 &
    KMS_PID=$!
    LIB_PIDS+=($KMS_PID)
    wait_for 10 test -S "$1" || { cat "$T/kms.log" >&2; fail "rkc-kms did not listen on $1"; }
}
start_pyplugin() { # start_pyplugin SOCKET
    $PY "$KMSPY" plugin --socket "$1" >>"$T/pyplugin.log" 2>&1 &
    LIB_PIDS+=($!)
    wait_for 20 test -S "$1" || { cat "$T/pyplugin.log" >&2; fail "python plugin did not start"; }
}
kms_config() { # kms_config FILE API NAME SOCKET
    local cache=""
    [ "$2" = v1 ] && cache="      cachesize: 100"
    cat >"$1" <<EOF
apiVersion: apiserver.config.k8s.io/v1
kind: EncryptionConfiguration
resources:
- resources: [secrets]
  providers:
  - kms:
      apiVersion: $2
      name: $3
      endpoint: unix://$4
      timeout: 2s
$cache
  - identity: {}
EOF
}
keyids() { etcdctl get --prefix /registry/secrets/ -w json | $PY "$KMSPY" keyids; }

# ---- rkc-kms against the Python client ----
"$KMS" --help | contains "rkc-kms rotate --key-file FILE" || fail "rkc-kms --help"
start_kms "$T/kms/a.sock" "$T/kek-a"
[ "$(stat -c %a "$T/kek-a")" = 600 ] || fail "key file mode"
K1=$($PY "$KMSPY" client --socket "$T/kms/a.sock" --api v2) || fail "v2 client against rkc-kms"
$PY "$KMSPY" client --socket "$T/kms/a.sock" --api v1 | contains "^rkc-kms " || fail "v1 client against rkc-kms"
K2=$("$KMS" rotate --key-file "$T/kek-a" 2>/dev/null)
[ -n "$K2" ] && [ "$K2" != "$K1" ] || fail "rotate gave no new key id"
wait_for 5 $PY "$KMSPY" client --socket "$T/kms/a.sock" --api v2 --expect-key-id "$K2" ||
    fail "running rkc-kms did not pick up the rotated key"
[ "$(grep -c '^kek ' "$T/kek-a")" = 2 ] || fail "key file should keep both KEKs"
grep -q "key file '$T/kek-a' changed: current key id is now $K2" "$T/kms.log" || fail "rotation not logged"
grep -q "$(sed -n 's/^kek [0-9a-f]* //p' "$T/kek-a" | head -1)" "$T/kms.log" && fail "a KEK in the log"
kill "$KMS_PID"
wait "$KMS_PID" || fail "rkc-kms did not exit 0 on SIGTERM"
[ ! -e "$T/kms/a.sock" ] || fail "socket left after SIGTERM"
ok "rkc-kms: python v2/v1 clients round-trip, rotate $K1 -> $K2 seen live, clean SIGTERM"

# ---- the recorded upstream KMS v2 values, through a Base64-mock Python plugin ----
start_pyplugin "$T/py.sock"
kms_config "$T/upstream.yaml" v2 kms-provider "$T/py.sock"
UP=/43da1478-5e9c-4ef3-a92a-2b19d540c8a5/registry
for v in a:dek-source-aes-gcm-key b:dek-source-hkdf-sha256-xnonce-aes-gcm-seed; do
    f=${v%%:*} name=${v#*:}
    $PY -c 'import sys; sys.stdout.buffer.write(bytes.fromhex(open(sys.argv[1]).read()))' \
        "$FIX/upstream-kmsv2-$f.hex" >"$T/$f.bin"
    "$RKC_BUILD_DIR/rkc" encrypt inspect --decrypt --provider-config "$T/upstream.yaml" \
        --etcd-prefix "$UP" --etcd-key "$UP/secrets/kms-v2-legacy-data/$name" <"$T/$f.bin" \
        >"$T/$f.plain" 2>"$T/$f.err" || { cat "$T/$f.err" >&2; fail "vector $f not decrypted"; }
    head -c 4 "$T/$f.plain" | od -An -tx1 | contains "6b 38 73 00" || fail "vector $f: not k8s protobuf"
    contains "$name" <"$T/$f.plain" || fail "vector $f: secret name missing"
done
$PY -c 'import sys; sys.stdout.buffer.write(bytes.fromhex(open(sys.argv[1]).read()))' \
    "$FIX/upstream-kmsv2-a.plain.hex" | cmp -s - "$T/a.plain" || fail "vector A plaintext differs"
[ "$(stat -c %s "$T/b.plain")" = 405 ] || fail "vector B plaintext length"
grep -q "v2.Decrypt" "$T/py.sock.calls" || fail "plugin saw no Decrypt"
ok "upstream KMS v2 records A (AES_GCM_KEY) and B (HKDF seed) decrypted via the python Base64 plugin"

# ---- rkc-apiserver with the Python plugin: v2 ----
start_etcd
kms_config "$T/enc.yaml" v2 py "$T/py.sock"
start_apiserver --encryption-provider-config "$T/enc.yaml" --encryption-provider-config-automatic-reload
write_kubeconfig
kc create secret generic s1 --from-literal=pw=hunter2 >/dev/null
[ "$(keyids)" = "k8s:enc:kms:v2:py: keyID=1 1" ] || { keyids; fail "v2 via python plugin"; }
etcdctl get /registry/secrets/default/s1 --print-value-only | contains "local-kek.kms.kubernetes.io" ||
    fail "plugin annotation not stored"
[ "$(kc get secret s1 -o jsonpath='{.data.pw}' | base64 -d)" = hunter2 ] || fail "read back (python v2)"
acurl "$API_URL/readyz/kms-providers?verbose" | contains '\[+\]kms-provider-0 ok (name "py", v2, key id "1")' ||
    fail "readyz/kms-providers"
ok "rkc-apiserver + python plugin (v2): k8s:enc:kms:v2:py: keyID=1, annotation stored, read back"

# ---- v1: one Encrypt per write, DEKs cached ----
kms_config "$T/enc.yaml" v1 py1 "$T/py.sock"
wait_for 10 sh -c "grep -q 'reloaded encryption provider config' '$T/apiserver.log'" || fail "no reload (v1)"
before=$(grep -c v1beta1.Encrypt "$T/py.sock.calls" || true)
for i in 1 2 3 4 5; do kc create secret generic v1s$i --from-literal=k=v$i >/dev/null; done
after=$(grep -c v1beta1.Encrypt "$T/py.sock.calls")
[ $((after - before)) -eq 5 ] || fail "expected 5 v1 Encrypt calls for 5 writes, got $((after - before))"
for i in 1 2 3 4 5; do
    [ "$(kc get secret v1s$i -o jsonpath='{.data.k}' | base64 -d)" = v$i ] || fail "v1 read $i"
done
[ "$(keyids | grep -c 'k8s:enc:kms:v1:py1: 5')" = 1 ] || { keyids; fail "v1 prefixes"; }
ok "rkc-apiserver + python plugin (v1): one Encrypt per write, values k8s:enc:kms:v1:py1:"
stop_apiserver
etcdctl del --prefix /registry/secrets/ >/dev/null

# ---- rkc-kms: KEK rotation then rkc encrypt rewrite ----
start_kms "$T/kms/b.sock" "$T/kek-b"
kms_config "$T/enc.yaml" v2 rkms "$T/kms/b.sock"
start_apiserver --encryption-provider-config "$T/enc.yaml" --kms-status-interval 500ms
write_kubeconfig
for i in $(seq 1 20); do kc create secret generic r$i --from-literal=k=v$i >/dev/null; done
KA=$(grep -o 'current key id [0-9a-f]*' "$T/kms.log" | tail -1 | awk '{print $4}')
[ "$(keyids)" = "k8s:enc:kms:v2:rkms: keyID=$KA 20" ] || { keyids; fail "before rotation"; }
KB=$("$KMS" rotate --key-file "$T/kek-b" 2>/dev/null)
wait_for 10 sh -c "curl -s --cacert '$T/pki/ca.crt' '$API_URL/readyz/kms-providers?verbose' | grep -q 'key id \"$KB\"'" ||
    fail "apiserver did not see key id $KB"
sleep 1 # the Status poll (500 ms) marks old values stale
"$RKC_BUILD_DIR/rkc" encrypt rewrite --kubeconfig "$T/kubeconfig" --resource secrets >"$T/rewrite.log" 2>&1 ||
    { cat "$T/rewrite.log"; fail "rkc encrypt rewrite"; }
[ "$(keyids)" = "k8s:enc:kms:v2:rkms: keyID=$KB 20" ] || { keyids; fail "after rotation + rewrite"; }
for i in 1 7 20; do [ "$(kc get secret r$i -o jsonpath='{.data.k}' | base64 -d)" = v$i ] || fail "read r$i"; done
ok "rkc-kms rotation $KA -> $KB, rkc encrypt rewrite: all 20 values carry keyID=$KB"

# ---- plugin killed and restarted during writes (KMS v1: a plugin call per write; a v2
# writer keeps its cached seed while the plugin is away, as kube-apiserver does) ----
stop_apiserver
cat >"$T/enc.yaml" <<EOF
apiVersion: apiserver.config.k8s.io/v1
kind: EncryptionConfiguration
resources:
- resources: [secrets]
  providers:
  - kms:
      apiVersion: v1
      name: rkms1
      endpoint: unix://$T/kms/b.sock
      cachesize: 100
      timeout: 2s
  - kms:
      apiVersion: v2
      name: rkms
      endpoint: unix://$T/kms/b.sock
      timeout: 2s
EOF
start_apiserver --encryption-provider-config "$T/enc.yaml"
write_kubeconfig
kc create secret generic v1warm --from-literal=k=warm >/dev/null
[ "$(kc get secret v1warm -o jsonpath='{.data.k}' | base64 -d)" = warm ] || fail "v1 read"
[ "$(kc get secret r3 -o jsonpath='{.data.k}' | base64 -d)" = v3 ] || fail "v2 read under v1 writer"
$PY "$KMSPY" writes --server "127.0.0.1:$API_PORT" --ca "$T/pki/ca.crt" --cert "$T/pki/admin.crt" \
    --key "$T/pki/admin.key" --prefix w --count 120 --interval 0.05 >"$T/writes.out" &
WPID=$!
sleep 0.8
kill -9 "$KMS_PID"
wait "$KMS_PID" 2>/dev/null || true
sleep 0.3
# with the plugin dead: cached reads work, readyz says which provider failed
[ "$(kc get secret r3 -o jsonpath='{.data.k}' | base64 -d)" = v3 ] || fail "cached v2 read with plugin down"
[ "$(kc get secret v1warm -o jsonpath='{.data.k}' | base64 -d)" = warm ] || fail "cached v1 read with plugin down"
code=$(curl -s -o "$T/readyz.out" -w '%{http_code}' --cacert "$T/pki/ca.crt" "$API_URL/readyz?verbose")
[ "$code" = 500 ] && grep -q '^\[-\]kms-provider-0 failed: .*Unavailable' "$T/readyz.out" ||
    { cat "$T/readyz.out"; fail "readyz with the plugin down ($code)"; }
sleep 0.5
start_kms "$T/kms/b.sock" "$T/kek-b"
wait "$WPID"
failed=$(awk '$2 != 201' "$T/writes.out" | wc -l)
[ "$failed" -gt 0 ] || fail "no write failed while the plugin was down (test did not bite)"
[ "$(tail -1 "$T/writes.out" | awk '{print $2}')" = 201 ] ||
    { cat "$T/writes.out"; fail "writes did not recover after the plugin restarted"; }
awk '$2 != 201 && $2 != 500' "$T/writes.out" | contains . && { cat "$T/writes.out"; fail "unexpected status"; }
awk '$2 == 500' "$T/writes.out" | grep -v 'unable to transform key "/registry/secrets/default/w-[0-9]*": kms plugin "unix://.*b.sock": /v1beta1.KeyManagementService/Encrypt: rpc error: code = Unavailable' | contains . &&
    { cat "$T/writes.out"; fail "500 without a clear plugin message"; }
for name in $(awk '$2 == 201 {print $1}' "$T/writes.out"); do
    [ "$(kc get secret "$name" -o jsonpath='{.data.v}' | base64 -d)" = "$name" ] || fail "acknowledged $name lost"
done
for name in $(awk '$2 != 201 {print $1}' "$T/writes.out"); do
    kc get secret "$name" >/dev/null 2>&1 && fail "failed write $name was stored anyway"
done
kc create secret generic after-restart --from-literal=k=v >/dev/null || fail "write after restart"
wait_for 10 curl -sf --cacert "$T/pki/ca.crt" "$API_URL/readyz" || fail "readyz after restart"
ok "plugin killed during 120 writes: $failed clean 500s naming the plugin, $((120 - failed)) stored and readable, cached reads and recovery ok"
