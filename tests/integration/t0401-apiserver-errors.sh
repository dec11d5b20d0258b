#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# rkc-apiserver's error answers: every bad request gets kube-apiserver's status code and a
# Status body of the right reason; plus discovery, health, tokens, flags and protobuf bodies.
. "$RKC_SOURCE_DIR/tests/integration/lib.sh"

FIX="$RKC_SOURCE_DIR/tests/fixtures/apiserver"

# flags: unknown flag named, --help lists the kube-apiserver flags
if "$RKC_BUILD_DIR/rkc-apiserver" --etcd-servers x --bogus-flag 2>"$T/err"; then
    fail "unknown flag accepted"
fi
grep -q "unknown flag: '--bogus-flag'" "$T/err" || fail "unknown flag message: $(cat "$T/err")"
"$RKC_BUILD_DIR/rkc-apiserver" --help >"$T/help"
for f in etcd-servers etcd-prefix etcd-cafile etcd-certfile etcd-keyfile bind-address \
    secure-port tls-cert-file tls-private-key-file client-ca-file token-auth-file \
    encryption-provider-config encryption-provider-config-automatic-reload; do
    grep -q -- "--$f" "$T/help" || fail "--help lacks --$f"
done
ok "flags"

cat >"$T/tokens.csv" <<'EOF'
admintoken,tokadmin,1,"system:masters,other"
usertoken,tokuser,2
EOF
start_etcd
start_apiserver --token-auth-file "$T/tokens.csv"
write_kubeconfig
NS="$API_URL/api/v1/namespaces/default"

# public endpoints without credentials; everything else 401
curl -sf --cacert "$T/pki/ca.crt" "$API_URL/version" | jq -e '.major and .gitVersion' >/dev/null ||
    fail "/version"
for p in healthz livez readyz; do
    [ "$(curl -sf --cacert "$T/pki/ca.crt" "$API_URL/$p")" = ok ] || fail "/$p"
done
curl -sf --cacert "$T/pki/ca.crt" "$API_URL/readyz?verbose" | contains '^\[+\]etcd ok' ||
    fail "/readyz?verbose"
got=$(curl -s -o "$T/resp.json" -w '%{http_code}' --cacert "$T/pki/ca.crt" "$NS/secrets")
[ "$got" = 401 ] && jq -e '.reason == "Unauthorized" and .code == 401' "$T/resp.json" >/dev/null ||
    fail "anonymous list: $got"
got=$(curl -s -o /dev/null -w '%{http_code}' --cacert "$T/pki/ca.crt" -H 'Authorization: Bearer nope' "$API_URL/api")
[ "$got" = 401 ] || fail "bad token: $got"
ok "anonymous 401, public health and version"

# bearer tokens: system:masters allowed, others 403
got=$(curl -s -o /dev/null -w '%{http_code}' --cacert "$T/pki/ca.crt" -H 'Authorization: Bearer admintoken' "$NS/secrets")
[ "$got" = 200 ] || fail "admin token: $got"
got=$(curl -s -o "$T/resp.json" -w '%{http_code}' --cacert "$T/pki/ca.crt" -H 'Authorization: Bearer usertoken' "$NS/secrets")
[ "$got" = 403 ] || fail "user token: $got"
jq -e '.reason == "Forbidden" and .details.kind == "secrets" and (.message | test("User \"tokuser\" cannot list resource \"secrets\" in API group \"\" in the namespace \"default\""))' \
    "$T/resp.json" >/dev/null || fail "403 body: $(cat "$T/resp.json")"
got=$(curl -s -o /dev/null -w '%{http_code}' --cacert "$T/pki/ca.crt" --cert "$T/pki/user.crt" --key "$T/pki/user.key" "$API_URL/api/v1/secrets")
[ "$got" = 403 ] || fail "user cert: $got"
ok "token auth, 403 for non-masters"

# discovery
acurl "$API_URL/api" | jq -e '.kind == "APIVersions" and .versions == ["v1"]' >/dev/null || fail /api
acurl "$API_URL/apis" | jq -e '.kind == "APIGroupList"' >/dev/null || fail /apis
acurl "$API_URL/api/v1" | jq -e '.kind == "APIResourceList" and ([.resources[].name] | sort) == ["configmaps","namespaces","secrets"]' \
    >/dev/null || fail /api/v1
acurl "$API_URL/openapi/v3" | jq -e '.paths["api/v1"].serverRelativeURL | startswith("/openapi/v3/api/v1?hash=")' \
    >/dev/null || fail /openapi/v3
acurl "$API_URL/openapi/v3/api/v1" | jq -e '(.paths | length) == 8 and .components.schemas["io.k8s.api.core.v1.Secret"].properties.stringData' \
    >/dev/null || fail /openapi/v3/api/v1
ok "discovery and openapi"

# protobuf bodies recorded from kubectl
acurl -o "$T/resp.json" -X POST -H 'Content-Type: application/vnd.kubernetes.protobuf' \
    --data-binary @"$FIX/kubectl-create-secret-generic.pb" "$NS/secrets"
jq -e '.metadata.name == "s1" and .data.a == "Yg==" and .data.user == "YWRtaW4=" and .type == "Opaque"' \
    "$T/resp.json" >/dev/null || fail "protobuf secret: $(cat "$T/resp.json")"
ok "protobuf create"

J=(-H 'Content-Type: application/json')
secret() { echo "{\"apiVersion\":\"v1\",\"kind\":\"Secret\",\"metadata\":{\"name\":\"$1\"},\"data\":{\"k\":\"dg==\"}}"; }

expect_status 400 BadRequest -X POST "${J[@]}" --data '{"kind":' "$NS/secrets"
expect_status 400 BadRequest -X POST "${J[@]}" --data '{"kind":"Secret","apiVersion":"v1","metadata":{"name":"x"},"bogus":1}' \
    "$NS/secrets?fieldValidation=Strict"
jq -e '.message | test("strict decoding error: unknown field \"bogus\"")' "$T/resp.json" >/dev/null ||
    fail "strict message: $(cat "$T/resp.json")"
got=$(acurl -o /dev/null -w '%{http_code}' -X POST "${J[@]}" --data '{"kind":"Secret","apiVersion":"v1","metadata":{"name":"ignored"},"bogus":1}' \
    "$NS/secrets?fieldValidation=Ignore")
[ "$got" = 201 ] || fail "fieldValidation=Ignore: $got"
acurl -D "$T/headers" -o /dev/null -X POST "${J[@]}" --data '{"kind":"Secret","apiVersion":"v1","metadata":{"name":"warned","bogus2":1}}' \
    "$NS/secrets?fieldValidation=Warn"
contains '^Warning: 299 - "unknown field \\"metadata.bogus2\\""' <"$T/headers" ||
    fail "fieldValidation=Warn header: $(cat "$T/headers")"
# duplicate fields: 400 only with Strict; Ignore takes the last value, Warn says so in a header
expect_status 400 BadRequest -X POST "${J[@]}" --data '{"kind":"Secret","apiVersion":"v1","metadata":{"name":"dup"},"type":"Opaque","type":"Opaque"}' \
    "$NS/secrets?fieldValidation=Strict"
jq -e '.message | test("strict decoding error: .*duplicate")' "$T/resp.json" >/dev/null ||
    fail "strict duplicate message: $(cat "$T/resp.json")"
got=$(acurl -o "$T/dup.json" -w '%{http_code}' -X POST "${J[@]}" --data '{"kind":"Secret","apiVersion":"v1","metadata":{"name":"dup-ignored"},"data":{"k":"YQ=="},"data":{"k":"Yg=="}}' \
    "$NS/secrets?fieldValidation=Ignore")
[ "$got" = 201 ] && jq -e '.data.k == "Yg=="' "$T/dup.json" >/dev/null || fail "duplicate with Ignore: $got $(cat "$T/dup.json")"
acurl -D "$T/headers" -o /dev/null -X POST "${J[@]}" --data '{"kind":"Secret","apiVersion":"v1","metadata":{"name":"dup-warned"},"type":"Opaque","type":"Opaque"}' \
    "$NS/secrets?fieldValidation=Warn"
contains '^Warning: 299 - ".*duplicate' <"$T/headers" || fail "duplicate with Warn: $(cat "$T/headers")"
expect_status 404 NotFound "$NS/secrets/nope"
jq -e '.details.name == "nope" and .details.kind == "secrets" and .message == "secrets \"nope\" not found"' \
    "$T/resp.json" >/dev/null || fail "404 body"
expect_status 404 NotFound -X POST "${J[@]}" --data "$(secret a)" "$API_URL/api/v1/namespaces/missing/secrets"
expect_status 405 MethodNotAllowed -X PUT "${J[@]}" --data '{}' "$NS/secrets"
expect_status 409 AlreadyExists -X POST "${J[@]}" --data "$(secret s1)" "$NS/secrets"
rv=$(acurl "$NS/secrets/s1" | jq -r .metadata.resourceVersion)
acurl -o /dev/null -X PUT "${J[@]}" --data "$(secret s1 | jq -c ".metadata.resourceVersion = \"$rv\"")" "$NS/secrets/s1"
expect_status 409 Conflict -X PUT "${J[@]}" --data "$(secret s1 | jq -c ".metadata.resourceVersion = \"$rv\" | .data.k = \"eA==\"")" \
    "$NS/secrets/s1"
expect_status 409 Conflict -X DELETE "${J[@]}" --data '{"preconditions":{"uid":"not-the-uid"}}' "$NS/secrets/s1"
head -c 3200000 /dev/zero | tr '\0' a >"$T/big"
expect_status 413 RequestEntityTooLarge -X POST "${J[@]}" --data-binary @"$T/big" "$NS/secrets"
expect_status 415 UnsupportedMediaType -X POST -H 'Content-Type: text/plain' --data x "$NS/secrets"
expect_status 415 UnsupportedMediaType -X PATCH -H 'Content-Type: text/plain' --data x "$NS/secrets/s1"
expect_status 422 Invalid -X POST "${J[@]}" --data '{"kind":"Secret","apiVersion":"v1","metadata":{"name":"Bad_Name"},"data":{"bad key!":"dg=="}}' \
    "$NS/secrets"
jq -e '.details.kind == "Secret" and .details.name == "Bad_Name" and ([.details.causes[].field] == ["metadata.name","data[bad key!]"])' \
    "$T/resp.json" >/dev/null || fail "422 causes: $(cat "$T/resp.json")"
/usr/bin/python3 -c 'import base64,json; print(json.dumps({"kind":"Secret","apiVersion":"v1","metadata":{"name":"big"},"data":{"k":base64.b64encode(b"a"*(1048577)).decode()}}))' >"$T/big.json"
expect_status 422 Invalid -X POST "${J[@]}" --data-binary @"$T/big.json" "$NS/secrets"
jq -e '.details.causes[0].reason == "FieldValueTooLong" and .details.causes[0].field == "data"' "$T/resp.json" \
    >/dev/null || fail "1 MiB body: $(cat "$T/resp.json")"
ok "400/404/405/409/413/415/422 Status bodies"

# list paging: limit, continue, expired continue -> 410 with a fresh token
for i in 1 2 3 4; do acurl -o /dev/null -X POST "${J[@]}" --data "$(secret p$i)" "$NS/secrets"; done
acurl "$NS/secrets?limit=2" >"$T/page1.json"
jq -e '(.items | length) == 2 and .metadata.continue and .metadata.remainingItemCount > 0' \
    "$T/page1.json" >/dev/null || fail "page 1: $(cat "$T/page1.json")"
tok=$(jq -r .metadata.continue "$T/page1.json")
/usr/bin/python3 -c 'import base64,json,sys; t=sys.argv[1]; d=json.loads(base64.urlsafe_b64decode(t+"="*(-len(t)%4))); assert d["v"]=="meta.k8s.io/v1" and d["start"].endswith("\u0000"), d' "$tok" ||
    fail "continue token format"
acurl -o /dev/null -X POST "${J[@]}" --data "$(secret zz-after-page1)" "$NS/secrets"
acurl "$NS/secrets?limit=100&continue=$tok" >"$T/page2.json"
jq -e --arg rv "$(jq -r .metadata.resourceVersion "$T/page1.json")" \
    '(.items | length) >= 3 and (.metadata.continue // "") == "" and .metadata.resourceVersion == $rv and ([.items[].metadata.name] | index("zz-after-page1")) == null' \
    "$T/page2.json" >/dev/null || fail "page 2 is not the snapshot of page 1: $(cat "$T/page2.json")"
rev=$(etcdctl get /registry/secrets/default/p4 -w json | jq -r .header.revision)
etcdctl put /registry/rkc-test/bump x >/dev/null
etcdctl compaction "$((rev + 1))" >/dev/null
expect_status 410 Expired "$NS/secrets?limit=2&continue=$tok"
jq -e '.metadata.continue | length > 0' "$T/resp.json" >/dev/null || fail "410 without continue"
expect_status 400 BadRequest "$NS/secrets?limit=2&continue=garbage"
ok "limit/continue at one snapshot revision, 410 Expired"

# update of unchanged bytes is skipped (same resourceVersion), and changed bytes bump it
cur=$(acurl "$NS/secrets/p1")
rv1=$(echo "$cur" | jq -r .metadata.resourceVersion)
rv2=$(acurl -X PUT "${J[@]}" --data "$cur" "$NS/secrets/p1" | jq -r .metadata.resourceVersion)
[ "$rv1" = "$rv2" ] || fail "unchanged update wrote ($rv1 -> $rv2)"
rv3=$(acurl -X PUT "${J[@]}" --data "$(echo "$cur" | jq -c '.data.k = "eQ=="')" "$NS/secrets/p1" | jq -r .metadata.resourceVersion)
[ "$rv3" -gt "$rv1" ] || fail "changed update did not write"
ok "unchanged update skipped"

# immutable secrets
acurl -o /dev/null -X POST "${J[@]}" --data '{"kind":"Secret","apiVersion":"v1","metadata":{"name":"imm"},"immutable":true,"data":{"k":"dg=="}}' "$NS/secrets"
expect_status 422 Invalid -X PATCH -H 'Content-Type: application/merge-patch+json' --data '{"data":{"k":"eA=="}}' "$NS/secrets/imm"
ok "immutable honoured"

# watch from a resourceVersion replays later events as JSON lines
acurl -N --max-time 3 "$NS/secrets?watch=1&resourceVersion=$((rev - 1))" >"$T/watch.jsonl" || true
jq -e -s '.[0].type == "ERROR" and .[0].object.code == 410 and .[0].object.reason == "Expired"' \
    "$T/watch.jsonl" >/dev/null || fail "watch from a compacted rv: $(cat "$T/watch.jsonl")"
rv=$rv3
acurl -o /dev/null -X DELETE "$NS/secrets/p1"
acurl -N --max-time 3 "$NS/secrets?watch=1&resourceVersion=$rv" >"$T/watch.jsonl" 2>/dev/null || true
jq -e -s 'map(select(.type == "DELETED" and .object.metadata.name == "p1")) | length == 1' \
    "$T/watch.jsonl" >/dev/null || fail "watch from rv: $(cat "$T/watch.jsonl")"
ok "watch from resourceVersion, 410 ERROR event when compacted"

# idle and half-sent connections do not hold the server: 100 of them open, requests still served
/usr/bin/python3 - "$API_PORT" >"$T/idle.out" 2>&1 <<'PY' &
import socket, sys, time
socks = []
for i in range(100):
    s = socket.create_connection(("127.0.0.1", int(sys.argv[1])))
    if i % 2:
        s.sendall(b"\x16\x03\x01")  # a TLS record header and nothing more
    socks.append(s)
print("open", flush=True)
time.sleep(8)
PY
idle_pid=$!
LIB_PIDS+=($idle_pid)
wait_for 10 grep -q open "$T/idle.out" || fail "idle connections not opened: $(cat "$T/idle.out")"
for _ in 1 2 3; do
    got=$(acurl -o /dev/null -w '%{http_code}' --max-time 5 "$NS/secrets") || true
    [ "$got" = 200 ] || fail "request while 100 idle connections are open: $got"
done
kill "$idle_pid" 2>/dev/null || true
ok "idle connections do not block requests"

# metrics
acurl "$API_URL/metrics" >"$T/metrics"
grep -q '^apiserver_request_total{code="201",resource="secrets",verb="create"} ' "$T/metrics" ||
    fail "metrics request_total"
grep -q '^apiserver_storage_transformation_operations_total{.*transformer_prefix="identity"' "$T/metrics" ||
    fail "metrics transformations"
ok "metrics"

echo "all passed"
