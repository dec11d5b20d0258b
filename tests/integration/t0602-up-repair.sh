#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Drift and re-creation: a provider file deleted by hand is noticed by `rkc encrypt status` and
# restored by `rkc up`; after `rkc remove` the keys go to the archive and the next `rkc up`
# builds a new cluster that encrypts with a new key (not one whose file is gone).
set -euo pipefail
. "$(dirname "$0")/uplib.sh"
WORK=$(mktemp -d)
trap 'cleanup_cluster; rm -rf "$WORK"' EXIT
new_cluster "$WORK/c"
LOG="$WORK/log"
status() { (cd "$CLUSTER_DIR" && "$RKC" encrypt status "$@"); }
rkc_up > "$LOG" 2>&1 || { cat "$LOG"; fail "rkc up"; }
KEY1=$(sed -n 's/.*name: \(k-[a-z0-9]\{5\}\).*/\1/p' "$SSL/encryption.yaml" | head -1)
kubectl create secret generic s1 --from-literal=a=b > /dev/null

rm "$SSL/encryption.yaml"
status > "$WORK/st" || fail "status"
grep -q "node node1 differs" "$WORK/st" || { cat "$WORK/st"; fail "status did not notice the missing file"; }
status -o json | $PY -c 'import json,sys; d=json.load(sys.stdin); assert d["nodesAgree"] is False and d["nodes"][0]["deployedHash"] is None' \
  || fail "status json"
rkc_up > "$LOG" 2>&1 || { cat "$LOG"; fail "rkc up (repair)"; }
grep -q "did not match .*restored it" "$LOG" || { cat "$LOG"; fail "no repair logged"; }
status | grep -q "all control-plane nodes agree" || fail "not repaired"
[ "$(prefixes secrets)" = "k8s:enc:aescbc:v1:$KEY1: 1" ] || fail "data"
kubectl create secret generic s2 --from-literal=a=b > /dev/null
[ "$(prefixes secrets)" = "k8s:enc:aescbc:v1:$KEY1: 2" ] || fail "new writes not encrypted after repair"
ok "a deleted provider file is reported by status and restored by rkc up"

(cd "$CLUSTER_DIR" && "$RKC" remove --force) > "$LOG" 2>&1 || { cat "$LOG"; fail "remove"; }
grep -q "moved to the retired-keys archive" "$LOG" || { cat "$LOG"; fail "remove did not archive the keys"; }
status -o json | $PY -c '
import json, sys
d = json.load(sys.stdin)
assert d["mode"] == "disabled" and d["config"] == [] and d["operation"] is None, d
assert [(k["name"], k["reason"]) for k in d["retiredKeys"]] == [(sys.argv[1], "remove")], d["retiredKeys"]' "$KEY1" \
  || fail "state after remove"
rkc_up > "$LOG" 2>&1 || { cat "$LOG"; fail "rkc up after remove"; }
KEY2=$(sed -n 's/.*name: \(k-[a-z0-9]\{5\}\).*/\1/p' "$SSL/encryption.yaml" | head -1)
[ -n "$KEY2" ] && [ "$KEY2" != "$KEY1" ] || fail "the new cluster did not get a new key"
kubectl create secret generic s3 --from-literal=a=b > /dev/null
[ "$(prefixes secrets)" = "k8s:enc:aescbc:v1:$KEY2: 1" ] || { prefixes secrets; fail "new cluster not encrypted"; }
status | grep -q "all control-plane nodes agree" || fail "status after re-creation"
ok "rkc remove archives the keys; the next rkc up encrypts with a new key ($KEY2)"
echo "t0602: all passed"
