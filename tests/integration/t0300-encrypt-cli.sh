#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
#
# t0300-encrypt-cli: drives the real `rkc encrypt validate-config|inspect|seal` binary over the
# fixtures in tests/fixtures/encconfig, the synthetic vectors of the kube-apiserver reference
# (section 7.3), and a real etcd (values put with etcdctl and read back byte for byte).
set -euo pipefail

: "${RKC_BUILD_DIR:?}" "${RKC_SOURCE_DIR:?}"
RKC="$RKC_BUILD_DIR/rkc"
FIX="$RKC_SOURCE_DIR/tests/fixtures/encconfig"
TMP=$(mktemp -d "${TMPDIR:-/tmp}/t0300.XXXXXX")
ETCD_PID=

cleanup() {
    if [ -n "$ETCD_PID" ]; then
        kill "$ETCD_PID" 2>/dev/null || true
        wait "$ETCD_PID" 2>/dev/null || true
    fi
    rm -rf "$TMP"
}
trap cleanup EXIT

passed=0
failed=0
ok() {
    passed=$((passed + 1))
    echo "ok $passed - $*"
}
not_ok() {
    failed=$((failed + 1))
    echo "not ok - $*" >&2
}
check() { # check DESCRIPTION COMMAND...
    local d=$1
    shift
    if "$@"; then ok "$d"; else not_ok "$d"; fi
}

# run NAME EXPECTED_EXIT CMD... : runs CMD with stdout/stderr in $TMP/NAME.{out,err}
run() {
    local name=$1 want=$2 rc=0
    shift 2
    "$@" >"$TMP/$name.out" 2>"$TMP/$name.err" || rc=$?
    if [ "$rc" != "$want" ]; then
        not_ok "$name: exit $rc, expected $want"
        sed 's/^/    /' "$TMP/$name.err" >&2
        return 1
    fi
    ok "$name: exit $rc"
}
has() { grep -qF -- "$2" "$TMP/$1"; }
unhex() { /usr/bin/python3 -c 'import sys; sys.stdout.buffer.write(bytes.fromhex(sys.argv[1]))' "$1"; }

KEY=/registry/secrets/default/secret1

# ---- validate-config ----
run valid 0 "$RKC" encrypt validate-config "$FIX/aescbc.yaml" &&
    check "valid prints 'valid'" test "$(cat "$TMP/valid.out")" = valid &&
    check "valid has no diagnostics" test ! -s "$TMP/valid.err"
run valid-json 0 "$RKC" encrypt validate-config "$FIX/secretbox.json"
run valid-legacy 0 "$RKC" encrypt validate-config "$FIX/legacy.yaml"
run warn 0 "$RKC" encrypt validate-config "$FIX/aesgcm.yaml" &&
    check "aesgcm warning on stderr" has warn.err \
        "aesgcm.yaml:8:11: warning: resources[0].providers[0].aesgcm: aesgcm uses random 96-bit nonces: rotate the key before 200,000 writes"
run invalid 1 "$RKC" encrypt validate-config "$FIX/invalid.yaml" && {
    check "invalid: capital letters" has invalid.err \
        "invalid.yaml:5:9: error: resources[0].resources[0]: Invalid value: \"Secrets\": resource name should not contain capital letters"
    check "invalid: key length, secret redacted" has invalid.err \
        "invalid.yaml:10:23: error: resources[0].providers[0].aescbc.keys[0].secret: Invalid value: \"REDACTED\": secret is not of the expected length, got 7, expected one of [16 24 32]"
    check "invalid: scheme" has invalid.err \
        "invalid.yaml:14:21: error: resources[0].providers[1].kms.endpoint: Invalid value: \"tcp://127.0.0.1:9000\": unsupported scheme \"tcp\" for KMS provider, only unix is supported"
    check "invalid: cachesize v2" has invalid.err \
        "invalid.yaml:15:22: error: resources[0].providers[1].kms.cachesize: Invalid value: 100: cachesize is not supported in v2"
    check "invalid: masking" has invalid.err \
        "invalid.yaml:18:17: error: resources[2].resources[0]: resource \"configmaps\" is masked by earlier rule \"*.\""
    check "invalid: five errors" test "$(grep -c ': error: ' "$TMP/invalid.err")" = 5
    check "invalid: no secret in output" bash -c "! grep -q c2VjcmV0IQ '$TMP/invalid.err'"
    check "invalid: nothing on stdout" test ! -s "$TMP/invalid.out"
}
run unknown 1 "$RKC" encrypt validate-config "$FIX/unknown-field.yaml" &&
    check "unknown field named with its path" has unknown.err \
        "unknown-field.yaml:10:11: error: resources[0].providers[0].kms.pandas: unknown field \"pandas\""
run empty 1 "$RKC" encrypt validate-config "$FIX/empty.yaml" &&
    check "empty file" has empty.err "encryption provider configuration file \"$FIX/empty.yaml\" is empty"
run missing-file 1 "$RKC" encrypt validate-config "$TMP/nope.yaml"
run no-arg 2 "$RKC" encrypt validate-config
run help 0 "$RKC" encrypt validate-config --help && check "help has usage" has help.out "rkc encrypt validate-config"

# ---- synthetic vectors (reference section 7.3) ----
declare -A VEC=(
    [aescbc]=6b38733a656e633a6165736362633a76313a6b6579313a404142434445464748494a4b4c4d4e4f73a635ec43678160277556dc39233658bf161c2d8b29fad4e32f084842a76a1b
    [aesgcm]=6b38733a656e633a61657367636d3a76313a6b6579313a606162636465666768696a6b82bef739d46ca30409749c591ce8b526555778bf4b280035576241c8267313325c
    [secretbox]=6b38733a656e633a736563726574626f783a76313a6b6579313a808182838485868788898a8b8c8d8e8f9091929394959697c848f22941cc31c5f233da1dda24f9ed4cf6db2c8f952967a9caeb91cff6aa784e
)
declare -A STALE=([aescbc]=false [aesgcm]=true [secretbox]=true)
for p in aescbc aesgcm secretbox; do
    unhex "${VEC[$p]}" >"$TMP/vec-$p"
    run "vec-$p-decrypt" 0 "$RKC" encrypt inspect --provider-config "$FIX/vectors.yaml" \
        --etcd-key "$KEY" --decrypt <"$TMP/vec-$p" &&
        check "vector $p decrypts to the documented plaintext" \
            test "$(cat "$TMP/vec-$p-decrypt.out")" = "hello, kubernetes"
    run "vec-$p-inspect" 0 "$RKC" encrypt inspect --provider-config "$FIX/vectors.yaml" \
        --etcd-key "$KEY" <"$TMP/vec-$p" &&
        check "vector $p inspect line" \
            test "$(cat "$TMP/vec-$p-inspect.out")" = "provider=$p key=key1 stale=${STALE[$p]}"
done
# the aesgcm vector is bound to its etcd key
run vec-aesgcm-wrong-key 1 "$RKC" encrypt inspect --provider-config "$FIX/vectors.yaml" \
    --etcd-key /registry/secrets/default/other <"$TMP/vec-aesgcm" &&
    check "aesgcm under another key: reason given" has vec-aesgcm-wrong-key.err "cipher: message authentication failed"
# AES-128 CBC vector: key1 = "secret is secure" in the legacy fixture
unhex 6b38733a656e633a6165736362633a76313a6b6579313a404142434445464748494a4b4c4d4e4f9db011eee280b71ac11b3798267186df4610e2bbfbf4bef6913693ccb192075a >"$TMP/vec-cbc128"
run vec-cbc128 0 "$RKC" encrypt inspect --provider-config "$FIX/legacy.yaml" --etcd-key "$KEY" \
    --decrypt <"$TMP/vec-cbc128" &&
    check "AES-128 CBC vector via the legacy config" test "$(cat "$TMP/vec-cbc128.out")" = "hello, kubernetes"

# ---- seal then inspect, every keyed provider ----
head -c 4096 /dev/urandom >"$TMP/plain"
printf 'with\0nul\nand newline\n' >>"$TMP/plain"
for cfg in aescbc.yaml aesgcm.yaml secretbox.json; do
    p=${cfg%%.*}
    run "seal-$p" 0 "$RKC" encrypt seal --provider-config "$FIX/$cfg" --etcd-key "$KEY" <"$TMP/plain" || continue
    cp "$TMP/seal-$p.out" "$TMP/sealed-$p"
    check "seal $p: stored prefix" test "$(head -c 23 "$TMP/sealed-$p" | tr -d '\0')" = "$(printf 'k8s:enc:%s:v1:key1:' "$p" | head -c 23)"
    check "seal $p: no plaintext in output" bash -c "! grep -qF 'and newline' '$TMP/sealed-$p'"
    run "inspect-$p" 0 "$RKC" encrypt inspect --provider-config "$FIX/$cfg" --etcd-key "$KEY" <"$TMP/sealed-$p" &&
        check "inspect $p" test "$(cat "$TMP/inspect-$p.out")" = "provider=$p key=key1 stale=false"
    run "decrypt-$p" 0 "$RKC" encrypt inspect --provider-config "$FIX/$cfg" --etcd-key "$KEY" --decrypt <"$TMP/sealed-$p" &&
        check "decrypt $p: plaintext back byte for byte" cmp -s "$TMP/plain" "$TMP/decrypt-$p.out"
done
# two seals of the same plaintext differ (random IV/nonce)
"$RKC" encrypt seal --provider-config "$FIX/aescbc.yaml" --etcd-key "$KEY" <"$TMP/plain" >"$TMP/sealed-again"
check "random IV: two seals differ" bash -c "! cmp -s '$TMP/sealed-aescbc' '$TMP/sealed-again'"

# rotation: key1 data read through [aescbc(key2, key1)] is stale; identity fallback is stale too
run rotation 0 "$RKC" encrypt inspect --provider-config "$FIX/rotation.yaml" --etcd-key "$KEY" <"$TMP/sealed-aescbc" &&
    check "old key reads, stale" test "$(cat "$TMP/rotation.out")" = "provider=aescbc key=key1 stale=true"
printf '{"kind":"Secret"}' >"$TMP/json"
run plain 0 "$RKC" encrypt inspect --provider-config "$FIX/aescbc.yaml" --etcd-key "$KEY" <"$TMP/json" &&
    check "plaintext read by identity, stale" test "$(cat "$TMP/plain.out")" = "provider=identity stale=true"
run unreadable 1 "$RKC" encrypt inspect --provider-config "$FIX/aesgcm.yaml" --etcd-key "$KEY" <"$TMP/sealed-aescbc" &&
    check "unreadable value: reason" has unreadable.err "no matching prefix found"
# a resource the config does not cover gets the encrypt-check identity
run uncovered 1 "$RKC" encrypt inspect --provider-config "$FIX/aescbc.yaml" \
    --etcd-key /registry/configmaps/default/c <"$TMP/sealed-aescbc" &&
    check "uncovered resource refuses encrypted data" has uncovered.err "identity transformer tried to read encrypted data"

# etcd prefix handling
run outside 2 "$RKC" encrypt inspect --provider-config "$FIX/aescbc.yaml" --etcd-key /other/secrets/a <"$TMP/json" &&
    check "key outside the prefix is a usage error" has outside.err "is not under the etcd prefix '/registry/'"
run prefix 0 "$RKC" encrypt seal --provider-config "$FIX/aesgcm.yaml" --etcd-prefix /cluster-a/registry/ \
    --etcd-key /cluster-a/registry/secrets/ns/s <"$TMP/plain" && {
    cp "$TMP/prefix.out" "$TMP/sealed-prefix"
    run prefix-read 0 "$RKC" encrypt inspect --provider-config "$FIX/aesgcm.yaml" --etcd-prefix cluster-a/registry \
        --etcd-key /cluster-a/registry/secrets/ns/s --decrypt <"$TMP/sealed-prefix" &&
        check "custom prefix round trip" cmp -s "$TMP/plain" "$TMP/prefix-read.out"
}
run no-config 2 "$RKC" encrypt seal --etcd-key "$KEY" </dev/null
run bad-config 1 "$RKC" encrypt seal --provider-config "$FIX/invalid.yaml" --etcd-key "$KEY" </dev/null &&
    check "invalid config refused with position" has bad-config.err "invalid.yaml:5:9: error:"

# KMS: the upstream KMS v2 record (reference 7.2, vector A) with no plugin listening (t0801
# decrypts it through a plugin)
unhex 6b38733a656e633a6b6d733a76323a6b6d732d70726f76696465723a0a8a03b0c699dc01ca9a3b000000008c800bf01d4b6f7b300bb5d5c5831ab50ecfd75665ede982b8df45ed4d6bcf2115c00b09825768209e8f1b5c3908a480026df450147aeef78c1a846e35fd478376230ed40c83597748e11cbf12c61bba8b7208827af8db60a75d50b1e6214c628db8491a454ca0ae2bbe15528e9b0634f650b63b9fa68d96b201a18ee461df2f9075de369ac2cdbb62882b16983de903ddd74876430ae58c76057e0aab585f4e9a847770a8130f82593978ed8915b9e1eaa690c660520a3004f2a6d1a5850a6bf4cfe4756c1c2a5b4112a0d9f2b52182e400a44c2726f5706c6e22e03d0c5be1b0553937117cda4e6bc33dc2f2853c371e01b8a9f489db7ee18ce11f05424057cabc530ae8819b4c598624f601dd9dcd1de9025df469dafac20e5572c544cabd646213befe1cc5e184ccdf26936a1e4b04ba0616850e1fca089006114b9d5b0d56e845d528910c6ed4109c481cdc9d5894c881351b8cbb7af9486f7b1d11329046e7d868a8a1f68c8c76cab231f92382a3be376564d914f306ffb7dfab691201311a2c676166497677543041536f4b645a2f44314c32536c4837334c554d6a3571613368726f6c6a6653353177633d22320a1b6c6f63616c2d6b656b2e6b6d732e6b756265726e657465732e696f1213656e637279707465642d6c6f63616c2d6b656b >"$TMP/kmsv2"
run kms 1 "$RKC" encrypt inspect --provider-config "$FIX/kms-v2.yaml" \
    --etcd-prefix /43da1478-5e9c-4ef3-a92a-2b19d540c8a5/registry \
    --etcd-key /43da1478-5e9c-4ef3-a92a-2b19d540c8a5/registry/secrets/kms-v2-legacy-data/dek-source-aes-gcm-key <"$TMP/kmsv2" &&
    check "kms with no plugin listening: clear message" has kms.err 'kms plugin "unix:///var/run/kms-provider.sock": /v2.KeyManagementService/Decrypt: rpc error: code = Unavailable'

run kms-seal 1 "$RKC" encrypt seal --provider-config "$FIX/kms-v2.yaml" --etcd-key "$KEY" <"$TMP/json" &&
    check "kms seal with no plugin listening" has kms-seal.err 'kms provider "kms-provider": kms plugin "unix:///var/run/kms-provider.sock": /v2.KeyManagementService/Status: rpc error: code = Unavailable'

# identity-read values still work with a kms config
run kms-identity 0 "$RKC" encrypt inspect --provider-config "$FIX/kms-v2.yaml" --etcd-key "$KEY" <"$TMP/json"

# ---- real etcd ----
if ! command -v etcd >/dev/null || ! command -v etcdctl >/dev/null; then
    not_ok "etcd and etcdctl are required"
else
    free_port() { /usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
    CPORT=$(free_port)
    PPORT=$(free_port)
    while [ "$PPORT" = "$CPORT" ]; do PPORT=$(free_port); done
    EP="http://127.0.0.1:$CPORT"
    etcd --name t0300 --data-dir "$TMP/etcd" \
        --listen-client-urls "$EP" --advertise-client-urls "$EP" \
        --listen-peer-urls "http://127.0.0.1:$PPORT" --initial-advertise-peer-urls "http://127.0.0.1:$PPORT" \
        --initial-cluster "t0300=http://127.0.0.1:$PPORT" >"$TMP/etcd.log" 2>&1 &
    ETCD_PID=$!
    export ETCDCTL_API=3
    healthy=
    for _ in $(seq 1 100); do
        if etcdctl --endpoints "$EP" --dial-timeout=1s endpoint health >/dev/null 2>&1; then
            healthy=1
            break
        fi
        kill -0 "$ETCD_PID" 2>/dev/null || break
        sleep 0.2
    done
    if [ -z "$healthy" ]; then
        not_ok "etcd did not become healthy within 20 s"
        sed 's/^/    /' "$TMP/etcd.log" | tail -20 >&2
    else
        ok "etcd healthy on $EP"
        for cfg in aescbc.yaml aesgcm.yaml secretbox.json; do
            p=${cfg%%.*}
            ekey=/registry/secrets/etcd-test/$p
            "$RKC" encrypt seal --provider-config "$FIX/$cfg" --etcd-key "$ekey" <"$TMP/plain" >"$TMP/etcd-in-$p"
            etcdctl --endpoints "$EP" put "$ekey" <"$TMP/etcd-in-$p" >/dev/null
            etcdctl --endpoints "$EP" get --print-value-only "$ekey" >"$TMP/etcd-raw-$p"
            head -c -1 "$TMP/etcd-raw-$p" >"$TMP/etcd-out-$p" # etcdctl appends a newline
            check "etcd $p: stored bytes unchanged" cmp -s "$TMP/etcd-in-$p" "$TMP/etcd-out-$p"
            run "etcd-inspect-$p" 0 "$RKC" encrypt inspect --provider-config "$FIX/$cfg" --etcd-key "$ekey" <"$TMP/etcd-out-$p" &&
                check "etcd $p: inspect" test "$(cat "$TMP/etcd-inspect-$p.out")" = "provider=$p key=key1 stale=false"
            run "etcd-decrypt-$p" 0 "$RKC" encrypt inspect --provider-config "$FIX/$cfg" --etcd-key "$ekey" --decrypt <"$TMP/etcd-out-$p" &&
                check "etcd $p: plaintext back" cmp -s "$TMP/plain" "$TMP/etcd-decrypt-$p.out"
        done
        # the reference's vector stored in etcd reads back too
        etcdctl --endpoints "$EP" put "$KEY" <"$TMP/vec-aesgcm" >/dev/null
        etcdctl --endpoints "$EP" get --print-value-only "$KEY" | head -c -1 >"$TMP/etcd-vec"
        run etcd-vector 0 "$RKC" encrypt inspect --provider-config "$FIX/vectors.yaml" --etcd-key "$KEY" --decrypt <"$TMP/etcd-vec" &&
            check "etcd: aesgcm vector decrypts" test "$(cat "$TMP/etcd-vector.out")" = "hello, kubernetes"
    fi
fi

echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
