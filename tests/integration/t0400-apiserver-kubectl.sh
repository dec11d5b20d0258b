#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# rkc-apiserver against real etcd (TLS) driven by the real kubectl: create (protobuf bodies),
# get, list, label, patch, replace, apply, delete, namespaces, watch, and raw values in etcd.
. "$RKC_SOURCE_DIR/tests/integration/lib.sh"

start_etcd
start_apiserver
write_kubeconfig

# default namespaces exist at start
for ns in default kube-system kube-public kube-node-lease; do
    kc get ns "$ns" >/dev/null || fail "namespace $ns missing"
done
ok "default namespaces"

# create secret generic / tls, configmap, namespace (kubectl sends protobuf)
kc create secret generic s1 --from-literal=user=admin --from-literal=pw=hunter2 >/dev/null
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -keyout "$T/tls.key" \
    -out "$T/tls.crt" -days 1 -subj /CN=tls-test 2>/dev/null
kc create secret tls t1 --cert "$T/tls.crt" --key "$T/tls.key" >/dev/null
kc create configmap c1 --from-literal=k=v >/dev/null
kc create namespace demo >/dev/null
kc create secret generic s2 -n demo --from-literal=x=y >/dev/null
ok "kubectl create secret generic/tls, configmap, namespace"

[ "$(kc get secret s1 -o jsonpath='{.data.pw}' | base64 -d)" = hunter2 ] || fail "s1 data"
[ "$(kc get secret s1 -o jsonpath='{.type}')" = Opaque ] || fail "s1 type"
[ "$(kc get secret t1 -o jsonpath='{.type}')" = kubernetes.io/tls ] || fail "t1 type"
kc get secret t1 -o jsonpath='{.data.tls\.crt}' | base64 -d | cmp - "$T/tls.crt" || fail "t1 crt"
[ "$(kc get cm c1 -o jsonpath='{.data.k}')" = v ] || fail "c1 data"
kc get secret s1 -o yaml | contains '^  uid: ' || fail "no uid in -o yaml"
rv=$(kc get secret s1 -o json | jq -r .metadata.resourceVersion)
[ "$rv" -gt 0 ] || fail "resourceVersion '$rv'"
ok "get -o yaml/json"

# stored as JSON at <prefix>/<resource>/<ns>/<name>, revision = resourceVersion
etcdctl get /registry/secrets/default/s1 --print-value-only | jq -e '.data.pw == "aHVudGVyMg=="' \
    >/dev/null || fail "raw etcd value of s1"
modrev=$(etcdctl get /registry/secrets/default/s1 -w json | jq -r '.kvs[0].mod_revision')
[ "$modrev" = "$rv" ] || fail "mod_revision $modrev != resourceVersion $rv"
etcdctl get /registry/namespaces/demo --print-value-only | jq -e '.status.phase == "Active"' \
    >/dev/null || fail "raw etcd value of namespace demo"
ok "raw values in etcd"

# list across namespaces, selectors, chunking
kc get secrets -A -o name | sort | tr '\n' ' ' | contains 'secret/s1 secret/s2 secret/t1' ||
    fail "get secrets -A: $(kc get secrets -A -o name)"
[ "$(kc get secrets -A --no-headers | wc -l)" = 3 ] || fail "get -A count"
kc label secret s1 tier=gold >/dev/null
[ "$(kc get secrets -l tier=gold -o name)" = secret/s1 ] || fail "label selector"
[ "$(kc get secrets -l 'tier notin (gold)' -o name)" = secret/t1 ] || fail "notin selector"
[ "$(kc get secrets -A --field-selector metadata.namespace=demo -o name)" = secret/s2 ] ||
    fail "field selector"
[ "$(kc get secrets -A --chunk-size=1 --no-headers | wc -l)" = 3 ] || fail "chunked list"
kc get secrets >"$T/table.txt"
head -1 "$T/table.txt" | contains '^NAME  *TYPE  *DATA  *AGE$' || fail "secret table: $(cat "$T/table.txt")"
contains '^s1  *Opaque  *2  *[0-9]' <"$T/table.txt" || fail "secret row: $(cat "$T/table.txt")"
kc get secrets -A >"$T/table-all.txt"
head -1 "$T/table-all.txt" | contains '^NAMESPACE  *NAME  *TYPE' || fail "-A table: $(cat "$T/table-all.txt")"
kc get ns demo | contains '^demo  *Active  ' || fail "namespace table"
kc get cm c1 | contains '^c1  *1  ' || fail "configmap table"
ok "list -A, label, selectors, chunking, Table form"

# patch (strategic merge), merge patch via label, json patch
kc patch secret s1 -p '{"stringData":{"z":"zz"}}' >/dev/null
[ "$(kc get secret s1 -o jsonpath='{.data.z}' | base64 -d)" = zz ] || fail "strategic patch"
kc patch secret s1 --type=json -p '[{"op":"remove","path":"/data/z"}]' >/dev/null
[ -z "$(kc get secret s1 -o jsonpath='{.data.z}')" ] || fail "json patch remove"
kc patch cm c1 --type=merge -p '{"data":{"k2":"v2"}}' >/dev/null
[ "$(kc get cm c1 -o jsonpath='{.data.k2}')" = v2 ] || fail "merge patch"
ok "patch (strategic, json, merge)"

# replace and apply
kc get secret s1 -o json | jq '.data.extra = "ZQ=="' | kc replace -f - >/dev/null
[ "$(kc get secret s1 -o jsonpath='{.data.extra}')" = ZQ== ] || fail "replace -f"
cat >"$T/app.yaml" <<'EOF'
apiVersion: v1
kind: ConfigMap
metadata:
  name: applied
  namespace: demo
  labels: {app: web}
data:
  color: blue
---
apiVersion: v1
kind: Secret
metadata:
  name: applied-secret
  namespace: demo
stringData:
  token: abc
EOF
kc apply -f "$T/app.yaml" >/dev/null
sed -i 's/color: blue/color: green/' "$T/app.yaml"
kc apply -f "$T/app.yaml" >/dev/null
[ "$(kc get cm applied -n demo -o jsonpath='{.data.color}')" = green ] || fail "apply update"
[ "$(kc get secret applied-secret -n demo -o jsonpath='{.data.token}' | base64 -d)" = abc ] ||
    fail "apply stringData"
kc create -f - >/dev/null <<'EOF'
apiVersion: v1
kind: Secret
metadata: {generateName: gen-, namespace: default}
data: {a: Yg==}
EOF
kc get secrets -o name | contains '^secret/gen-.....$' || fail "generateName"
ok "replace -f, apply -f, create -f with generateName"

# strict field validation through kubectl
if kc create -f - >/dev/null 2>"$T/err" <<'EOF'; then
apiVersion: v1
kind: Secret
metadata: {name: strict1}
bogus: 1
EOF
    fail "unknown field accepted"
fi
grep -q 'unknown field "bogus"' "$T/err" || fail "strict error: $(cat "$T/err")"
ok "fieldValidation=Strict from kubectl"

# watch: events for a change made while watching
(kc get secrets -w --output-watch-events -o json | jq --unbuffered -c '[.type, .object.metadata.name]' >"$T/watch.out" 2>&1 &
    echo $! >"$T/watch.pid")
sleep 2
kc create secret generic watched --from-literal=k=v >/dev/null
kc label secret watched x=1 >/dev/null
kc delete secret watched >/dev/null
for _ in $(seq 50); do
    grep -q 'DELETED","watched' "$T/watch.out" && break
    sleep 0.2
done
kill "$(cat "$T/watch.pid")" 2>/dev/null || true
grep -q 'ADDED","watched' "$T/watch.out" || fail "watch ADDED: $(cat "$T/watch.out")"
grep -q 'MODIFIED","watched' "$T/watch.out" || fail "watch MODIFIED"
grep -q 'DELETED","watched' "$T/watch.out" || fail "watch DELETED"
ok "get -w (ADDED, MODIFIED, DELETED)"

# delete, and namespace delete removes its contents
kc delete secret t1 >/dev/null
! kc get secret t1 >/dev/null 2>&1 || fail "t1 still there"
kc delete ns demo >/dev/null
! kc get ns demo >/dev/null 2>&1 || fail "namespace demo still there"
[ -z "$(etcdctl get /registry/secrets/demo/ --prefix --keys-only)" ] || fail "demo secrets left"
[ -z "$(etcdctl get /registry/configmaps/demo/ --prefix --keys-only)" ] || fail "demo cms left"
ok "delete secret, delete namespace with contents"

# a non-master user is forbidden, anonymous is unauthorized
if KUBECONFIG="$T/kubeconfig-user" kc get secrets 2>"$T/err"; then fail "user allowed"; fi
grep -q 'forbidden: User "bob" cannot list resource "secrets"' "$T/err" ||
    fail "403 text: $(cat "$T/err")"
ok "non-master user gets 403"

echo "all passed"
