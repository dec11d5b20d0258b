#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# rkc-apiserver with --encryption-provider-config: values in etcd carry the aescbc prefix of the
# first key; after a config change (automatic reload) `kubectl get secrets -A -o json |
# kubectl replace -f -` moves every value to the new key; a bad new file is rejected and the
# old config stays; an unreadable value answers 500 naming the etcd key; /metrics shows it.
. "$RKC_SOURCE_DIR/tests/integration/lib.sh"

key1=$(head -c 32 /dev/urandom | base64)
key2=$(head -c 32 /dev/urandom | base64)
enc_config() { # enc_config FIRST-NAME FIRST-SECRET [SECOND-NAME SECOND-SECRET]
    {
        cat <<EOF
apiVersion: apiserver.config.k8s.io/v1
kind: EncryptionConfiguration
resources:
- resources: [secrets]
  providers:
  - aescbc:
      keys:
      - name: $1
        secret: $2
EOF
        [ $# -gt 2 ] && printf '      - name: %s\n        secret: %s\n' "$3" "$4"
        echo "  - identity: {}"
    } >"$T/enc.yaml.tmp"
    chmod 600 "$T/enc.yaml.tmp"
    mv "$T/enc.yaml.tmp" "$T/enc.yaml"
}
prefix_of() { etcdctl get "$1" --print-value-only | head -c "${#2}"; }

enc_config key1 "$key1"
start_etcd
start_apiserver --encryption-provider-config "$T/enc.yaml" \
    --encryption-provider-config-automatic-reload
write_kubeconfig

kc create secret generic s1 --from-literal=pw=hunter2 >/dev/null
kc create secret generic s2 -n kube-system --from-literal=k=v >/dev/null
kc create configmap c1 --from-literal=k=plain >/dev/null
[ "$(prefix_of /registry/secrets/default/s1 k8s:enc:aescbc:v1:key1:)" = k8s:enc:aescbc:v1:key1: ] ||
    fail "s1 not encrypted with key1"
etcdctl get /registry/secrets/default/s1 --print-value-only | contains hunter2 && fail "plaintext in etcd"
etcdctl get /registry/configmaps/default/c1 --print-value-only | jq -e '.data.k == "plain"' >/dev/null ||
    fail "configmaps should stay identity"
[ "$(kc get secret s1 -o jsonpath='{.data.pw}' | base64 -d)" = hunter2 ] || fail "read back"
ok "secrets stored with k8s:enc:aescbc:v1:key1:"

# a value written before encryption (identity, the second provider) is read and is stale
etcdctl put /registry/secrets/default/legacy \
    '{"kind":"Secret","apiVersion":"v1","metadata":{"name":"legacy","namespace":"default","uid":"u1","creationTimestamp":"2026-01-01T00:00:00Z"},"data":{"a":"Yg=="},"type":"Opaque"}' >/dev/null
[ "$(kc get secret legacy -o jsonpath='{.data.a}')" = Yg== ] || fail "identity fallback read"

# rotate: key2 first, key1 second; the reload is picked up within 2 s
old_hash=$(acurl "$API_URL/metrics" | sed -n 's/.*last_config_info{.*hash="\([^"]*\)".*/\1/p')
enc_config key2 "$key2" key1 "$key1"
for _ in $(seq 30); do
    new_hash=$(acurl "$API_URL/metrics" | sed -n 's/.*last_config_info{.*hash="\([^"]*\)".*/\1/p')
    [ "$new_hash" != "$old_hash" ] && break
    sleep 0.1
done
[ "$new_hash" != "$old_hash" ] || fail "config not reloaded within 3 s"
[ "$new_hash" = "sha256:$(sha256sum "$T/enc.yaml" | cut -d' ' -f1)" ] || fail "metrics hash $new_hash"
ok "automatic reload picked up the new config"

kc get secrets -A -o json | kc replace -f - >/dev/null
for k in /registry/secrets/default/s1 /registry/secrets/kube-system/s2 /registry/secrets/default/legacy; do
    [ "$(prefix_of "$k" k8s:enc:aescbc:v1:key2:)" = k8s:enc:aescbc:v1:key2: ] ||
        fail "$k not moved to key2"
done
[ "$(kc get secret s1 -o jsonpath='{.data.pw}' | base64 -d)" = hunter2 ] || fail "read after rotate"
ok "get -A -o json | replace -f - re-encrypted every secret with key2"

# a second rewrite is a no-op: values are current, resourceVersions do not move
rv_before=$(kc get secret s1 -o jsonpath='{.metadata.resourceVersion}')
kc get secrets -A -o json | kc replace -f - >/dev/null
[ "$(kc get secret s1 -o jsonpath='{.metadata.resourceVersion}')" = "$rv_before" ] ||
    fail "unchanged, current value was rewritten"
ok "repeated rewrite skips current values"

# an invalid new file is rejected, logged, and the old config stays
echo "this: [is not valid" >"$T/enc.yaml"
sleep 2.5
grep -q "reloading encryption provider config .* failed, keeping the previous one" "$T/apiserver.log" ||
    fail "invalid config not logged"
acurl "$API_URL/metrics" | contains 'automatic_reloads_total{status="failure"} 1' || fail "failure metric"
kc create secret generic s3 --from-literal=a=b >/dev/null
[ "$(prefix_of /registry/secrets/default/s3 k8s:enc:aescbc:v1:key2:)" = k8s:enc:aescbc:v1:key2: ] ||
    fail "old config not kept"
ok "invalid config rejected, old one kept"

# a value no provider can read -> 500 naming the etcd key
etcdctl put /registry/secrets/default/broken "k8s:enc:aescbc:v1:nokey:garbagegarbagegarbage" >/dev/null
expect_status 500 InternalError "$API_URL/api/v1/namespaces/default/secrets/broken"
jq -e '.message | contains("/registry/secrets/default/broken")' "$T/resp.json" >/dev/null ||
    fail "500 does not name the key: $(cat "$T/resp.json")"
ok "unreadable value -> 500 naming the etcd key"

acurl "$API_URL/metrics" | contains 'transformation_operations_total{status="OK",transformation_type="to_storage",transformer_prefix="k8s:enc:aescbc:v1:"}' ||
    fail "transformer metrics"
ok "metrics"
echo "all passed"
