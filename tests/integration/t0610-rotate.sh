#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# rkc encrypt rotate-key with 10,000 Secrets while a strict client keeps creating, reading,
# updating and deleting Secrets: zero failed requests, all values on the new key, the old key
# archived; rotating twice; rotate_encryption_key in cluster.yml rotates once; a custom aesgcm
# config rotates and is kept; status before and after.
set -euo pipefail
. "$(dirname "$0")/uplib.sh"
WORK=$(mktemp -d)
trap 'touch "$WORK/stop"; cleanup_cluster; rm -rf "$WORK"' EXIT
new_cluster "$WORK/c"
LOG="$WORK/up.log"
status_json() { (cd "$CLUSTER_DIR" && "$RKC" encrypt status -o json "$@"); }
writer_key() { status_json | $PY -c 'import json,sys; print(json.load(sys.stdin)["config"][0]["providers"][0]["keys"][0]["name"])'; }

rkc_up > "$LOG" 2>&1 || { cat "$LOG"; fail "rkc up"; }
KEY1=$(writer_key)
bulk create 10 ${PER_NS:-1000} 64 > /dev/null
[ "$(prefixes secrets)" = "k8s:enc:aescbc:v1:$KEY1: $((10 * ${PER_NS:-1000}))" ] || { prefixes secrets; fail "setup prefixes"; }
dump_secrets > "$WORK/before"
(cd "$CLUSTER_DIR" && "$RKC" encrypt status) > "$WORK/status" || fail "status"
grep -q "writer    aescbc key $KEY1" "$WORK/status" && grep -q "all control-plane nodes agree" "$WORK/status" \
  || { cat "$WORK/status"; fail "status before"; }
ok "$((10 * ${PER_NS:-1000})) secrets on $KEY1; status shows the writer and agreeing nodes"

# --- rotate under load
API_URL="https://$ADDR:6443" CA="$SSL/kube-ca.pem" CERT="$SSL/kube-admin.pem" KEY="$SSL/kube-admin-key.pem" \
  STOP_FILE="$WORK/stop" READ_NS=10 READ_PER=${PER_NS:-1000} WORKERS=4 $PY "$LIBDIR/churn.py" > "$WORK/churn.out" 2>&1 &
CHURN=$!
sleep 1
(cd "$CLUSTER_DIR" && "$RKC" encrypt rotate-key) > "$LOG" 2>&1 || { cat "$LOG"; fail "rotate-key"; }
sleep 1
touch "$WORK/stop"
wait $CHURN || { cat "$WORK/churn.out"; fail "client requests failed during the rotation"; }
cat "$WORK/churn.out"
KEY2=$(writer_key)
[ "$KEY2" != "$KEY1" ] || fail "key not rotated"
[ "$(prefixes secrets)" = "k8s:enc:aescbc:v1:$KEY2: $((10 * ${PER_NS:-1000}))" ] || { prefixes secrets; fail "after rotation"; }
dump_secrets > "$WORK/after"; cmp -s "$WORK/before" "$WORK/after" || fail "secrets changed by rotation"
status_json | $PY -c 'import json,sys; d=json.load(sys.stdin); assert [k["name"] for k in d["retiredKeys"]]==[sys.argv[1]], d["retiredKeys"]; assert d["operation"] is None' "$KEY1" \
  || fail "archive after rotation"
for step in "Generated a new 256-bit encryption key $KEY2" "Rewriting all secrets" "Verified in etcd" \
    "Key $KEY1 (aescbc, fingerprint" "Removing the previous keys" "Key rotation finished"; do
  grep -q "$step" "$LOG" || { cat "$LOG"; fail "rotation step missing: $step"; }
done
if grep -qi "secret: \|$(sed -n 's/.*secret: //p' "$SSL/encryption.yaml" | head -1)" "$LOG"; then fail "key material in the log"; fi
ok "rotated $KEY1 -> $KEY2 under load: zero failed client requests, $((10 * ${PER_NS:-1000})) on the new key, old key archived"

# --- twice in a row
(cd "$CLUSTER_DIR" && "$RKC" encrypt rotate-key) > "$LOG" 2>&1 || { cat "$LOG"; fail "second rotate-key"; }
KEY3=$(writer_key)
[ "$KEY3" != "$KEY2" ] && [ "$(prefixes secrets)" = "k8s:enc:aescbc:v1:$KEY3: $((10 * ${PER_NS:-1000}))" ] || fail "second rotation"
status_json | $PY -c 'import json,sys; d=json.load(sys.stdin); assert [k["name"] for k in d["retiredKeys"]]==sys.argv[1:]' "$KEY1" "$KEY2" \
  || fail "archive after two rotations"
(cd "$CLUSTER_DIR" && "$RKC" encrypt status -o json --scan) > "$WORK/status.json" || fail "status -o json --scan"
$PY - "$WORK/status.json" "$KEY3" <<'PY' || fail "status JSON schema"
import json, re, sys
d = json.load(open(sys.argv[1]))
assert set(d) == {"mode", "config", "operation", "retiredKeys", "expectedHash", "nodes", "nodesAgree", "scan"}, set(d)
assert d["mode"] in ("disabled", "managed", "custom") and d["operation"] is None
for r in d["config"]:
    assert all(isinstance(x, str) for x in r["resources"])
    for p in r["providers"]:
        assert p["provider"] in ("aescbc", "aesgcm", "secretbox", "kms", "identity")
        for k in p["keys"]:
            assert set(k) == {"name", "fingerprint", "role"} and re.fullmatch("[0-9a-f]{16}", k["fingerprint"])
            assert k["role"] in ("writer", "reader")
assert d["config"][0]["providers"][0]["keys"][0] == {**d["config"][0]["providers"][0]["keys"][0], "name": sys.argv[2], "role": "writer"}
for k in d["retiredKeys"]:
    assert set(k) == {"name", "provider", "fingerprint", "retiredAt", "reason"} and k["reason"] == "rotate"
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", k["retiredAt"])
for n in d["nodes"]:
    assert n["agrees"] is True and n["deployedHash"] == n["loadedHash"] == d["expectedHash"] and n["deployedHash"].startswith("sha256:")
assert d["nodesAgree"] is True
s = d["scan"]["secrets"]
assert s["plaintext"] == 0 and s["unreadable"] == 0 and s["notOnWriter"] == 0 and s["unreadableKeys"] == []
assert sum(c["count"] for c in s["byKey"] if c["writer"]) == s["total"]
text = open(sys.argv[1]).read()
assert "secret" not in text.replace("secrets", ""), "key material in status"
PY
ok "rotated again: $KEY3, archive holds $KEY1 and $KEY2; status -o json --scan matches its schema"

# --- rotate_encryption_key in cluster.yml: once, with the rest of cluster.yml in the same run
kubectl delete ns rw-0 rw-1 rw-2 rw-3 rw-4 rw-5 rw-6 rw-7 rw-8 --wait=false > /dev/null
ok "deleted 9 namespaces"
sed -i 's/^cluster_name: it$/cluster_name: it\nrotate_encryption_key: true/' "$CLUSTER_DIR/cluster.yml"
sed -i 's/^  kube-api:$/  kube-api:\n    extra_args: {v: "1"}/' "$CLUSTER_DIR/cluster.yml"
rkc_up > "$LOG" 2>&1 || { cat "$LOG"; fail "rkc up with rotate_encryption_key"; }
KEY4=$(writer_key)
[ "$KEY4" != "$KEY3" ] || fail "flag did not rotate"
grep -q "rotate_encryption_key may now be removed" "$LOG" || fail "no hint about the flag"
apiserver_flags | grep -qx -- "--v=1" || fail "the rest of cluster.yml was not applied (extra_args)"
[ "$(prefixes secrets)" = "k8s:enc:aescbc:v1:$KEY4: ${PER_NS:-1000}" ] || { prefixes secrets; fail "after flag rotation"; }
rkc_up > "$LOG" 2>&1 || { cat "$LOG"; fail "rkc up again with the flag"; }
[ "$(writer_key)" = "$KEY4" ] || fail "the flag rotated again"
ok "rotate_encryption_key: rotated once ($KEY4) and applied extra_args in the same run; not again"

# --- custom aesgcm config: rotated, then kept by rkc up
sed -i '/rotate_encryption_key/d' "$CLUSTER_DIR/cluster.yml"
cat >> "$CLUSTER_DIR/cluster.yml" <<'YML'
      custom_config:
        apiVersion: apiserver.config.k8s.io/v1
        kind: EncryptionConfiguration
        resources:
        - resources: [secrets]
          providers:
          - aesgcm:
              keys:
              - name: g1
                secret: AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=
          - identity: {}
YML
rkc_up > "$LOG" 2>&1 || { cat "$LOG"; fail "custom aesgcm"; }
[ "$(prefixes secrets)" = "k8s:enc:aesgcm:v1:g1: ${PER_NS:-1000}" ] || fail "custom applied"
(cd "$CLUSTER_DIR" && "$RKC" encrypt rotate-key) > "$LOG" 2>&1 || { cat "$LOG"; fail "rotate custom"; }
KEY5=$(writer_key)
[ "$(prefixes secrets)" = "k8s:enc:aesgcm:v1:$KEY5: ${PER_NS:-1000}" ] || { prefixes secrets; fail "custom rotated"; }
rkc_up > "$LOG" 2>&1 || { cat "$LOG"; fail "rkc up after custom rotation"; }
grep -q "Keeping the rotated custom configuration" "$LOG" || { cat "$LOG"; fail "rotated custom not kept"; }
[ "$(writer_key)" = "$KEY5" ] || fail "custom rotation undone by rkc up"
grep '^rw-9/' "$WORK/before" > "$WORK/before9" || true
dump_secrets > "$WORK/after"; cmp -s "$WORK/before9" "$WORK/after" || fail "secrets changed through the custom rotation"
ok "custom aesgcm config rotated to $KEY5 and kept by the next rkc up"
echo "t0610: all passed"
