#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# rkc up on a local cluster, and the seed's managed encryption lifecycle with 1,000 Secrets in
# 10 namespaces: enable, idempotent re-run, disable, re-enable (a new key), custom config,
# back to managed; the raw etcd bytes, the provider file and the flag checked at every step.
set -euo pipefail
. "$(dirname "$0")/uplib.sh"
WORK=$(mktemp -d)
trap 'cleanup_cluster; rm -rf "$WORK"' EXIT
new_cluster "$WORK/c"
LOG="$WORK/up.log"

# --- bring-up with encryption on
rkc_up > "$LOG" 2>&1 || { cat "$LOG"; fail "rkc up"; }
grep -q "Operation 'enable' finished" "$LOG" || fail "enable did not finish"
[ "$(stat -c %a "$CLUSTER_DIR/cluster.rkestate")" = 600 ] || fail "state file mode"
[ "$(stat -c %a "$SSL/encryption.yaml")" = 600 ] || fail "encryption.yaml mode"
[ "$(stat -c %a "$CLUSTER_DIR/kube_config_cluster.yml")" = 600 ] || fail "kubeconfig mode"
apiserver_flags | grep -q -- "--encryption-provider-config=$SSL/encryption.yaml" || fail "flag missing"
KEY1=$(sed -n 's/.*name: \(k-[a-z0-9]\{5\}\).*/\1/p' "$SSL/encryption.yaml" | head -1)
[ -n "$KEY1" ] || fail "no managed key name in encryption.yaml"
grep -q "aescbc" "$SSL/encryption.yaml" && grep -q "identity" "$SSL/encryption.yaml" || fail "providers"
if grep -q "$(sed -n 's/.*secret: //p' "$SSL/encryption.yaml" | head -1)" "$LOG"; then fail "key in the log"; fi
ok "rkc up: cluster with managed encryption, key $KEY1, files 0600"

# --- 1,000 Secrets in 10 namespaces, all encrypted with the key
bulk create 10 100 64 > /dev/null
[ "$(kubectl get secrets -A --no-headers | wc -l)" -eq 1000 ] || fail "expected 1000 secrets"
[ "$(prefixes secrets)" = "k8s:enc:aescbc:v1:$KEY1: 1000" ] || { prefixes secrets; fail "prefixes after create"; }
dump_secrets > "$WORK/before"
ok "1000 secrets stored as k8s:enc:aescbc:v1:$KEY1:"

# --- re-run with nothing changed restarts nothing
P1=$(apiserver_pid); E1=$(etcd_pid)
rkc_up > "$LOG" 2>&1 || { cat "$LOG"; fail "idempotent rkc up"; }
[ "$P1" = "$(apiserver_pid)" ] && [ "$E1" = "$(etcd_pid)" ] || fail "a re-run restarted something"
grep -q "Restarting\|Starting" "$LOG" && fail "re-run logged a (re)start"
ok "re-run with nothing changed restarts nothing"

# --- a second rkc during a run is refused by the state lock
set_encryption false
RKC_PAUSEPOINT=encop-rewrite-before:4 rkc_up > "$LOG" 2>&1 &
UP=$!
for _ in $(seq 100); do grep -q "Rewriting\|phase 'rewrite'\|Restarting kube-apiserver" "$LOG" && break; sleep 0.1; done
sleep 0.5
if rkc_up > "$WORK/second.log" 2>&1; then fail "second rkc up ran"; fi
HOLDER=$(sed -n 's/.*another rkc (pid \([0-9]*\)) holds .*cluster.rkestate$/\1/p' "$WORK/second.log")
[ -n "$HOLDER" ] || { cat "$WORK/second.log"; fail "lock message"; }
[ "$(cat /proc/"$HOLDER"/comm)" = rkc ] || fail "pid $HOLDER in the lock message is not the running rkc"
wait $UP || { cat "$LOG"; fail "first rkc up (disable)"; }
ok "second rkc up refused: another rkc (pid $HOLDER) holds cluster.rkestate"

# --- disable: plaintext, file and flag gone, in the seed's order
for step in "Generating a provider configuration with identity first" "Rewriting all secrets" \
    "Verified in etcd: every value is plaintext" "Removing --encryption-provider-config" \
    "Removed the encryption provider configuration file"; do
  grep -q "$step" "$LOG" || { cat "$LOG"; fail "disable step missing: $step"; }
done
[ "$(prefixes secrets)" = "plaintext 1000" ] || { prefixes secrets; fail "not all plaintext"; }
[ ! -e "$SSL/encryption.yaml" ] || fail "encryption.yaml still there"
apiserver_flags | grep -q -- "--encryption-provider-config" && fail "flag still set"
dump_secrets > "$WORK/after"; cmp -s "$WORK/before" "$WORK/after" || fail "secrets changed by disable"
$PY -c 'import json,sys; d=json.load(open(sys.argv[1])); assert [k["name"] for k in d["encryption"]["retiredKeys"]]==[sys.argv[2]]' \
  "$CLUSTER_DIR/cluster.rkestate" "$KEY1" || fail "retired key archive"
ok "disable: 1000 plaintext, file and flag removed, key archived, data unchanged"

# --- re-enable makes a new key
set_encryption true
rkc_up > "$LOG" 2>&1 || { cat "$LOG"; fail "re-enable"; }
KEY2=$(sed -n 's/.*name: \(k-[a-z0-9]\{5\}\).*/\1/p' "$SSL/encryption.yaml" | head -1)
[ -n "$KEY2" ] && [ "$KEY2" != "$KEY1" ] || fail "re-enable reused key $KEY1"
[ "$(prefixes secrets)" = "k8s:enc:aescbc:v1:$KEY2: 1000" ] || { prefixes secrets; fail "prefixes after re-enable"; }
dump_secrets > "$WORK/after"; cmp -s "$WORK/before" "$WORK/after" || fail "secrets changed by re-enable"
ok "re-enable: new key $KEY2, 1000 secrets on it"

# --- custom config (aesgcm for secrets and configmaps), validated first
kubectl create configmap cm1 --from-literal=a=b > /dev/null
cat >> "$CLUSTER_DIR/cluster.yml" <<'YML'
      custom_config:
        apiVersion: apiserver.config.k8s.io/v1
        kind: EncryptionConfiguration
        resources:
        - resources: [secrets, configmaps]
          providers:
          - aesgcm:
              keys:
              - name: g1
                secret: c2VjcmV0
          - identity: {}
YML
if rkc_up > "$LOG" 2>&1; then fail "invalid custom config accepted"; fi
grep -q 'cluster.yml:20:25: error: resources\[0\].providers\[0\].aesgcm.keys\[0\].secret: Invalid value: "REDACTED"' "$LOG" \
  || { cat "$LOG"; fail "positioned validation error"; }
[ "$(prefixes secrets)" = "k8s:enc:aescbc:v1:$KEY2: 1000" ] || fail "invalid config touched data"
sed -i 's/secret: c2VjcmV0$/secret: AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=/' "$CLUSTER_DIR/cluster.yml"
rkc_up > "$LOG" 2>&1 || { cat "$LOG"; fail "custom config"; }
[ "$(prefixes secrets)" = "k8s:enc:aesgcm:v1:g1: 1000" ] || { prefixes secrets; fail "custom prefixes"; }
[ "$(prefixes configmaps)" = "k8s:enc:aesgcm:v1:g1: 1" ] || { prefixes configmaps; fail "configmap prefix"; }
dump_secrets > "$WORK/after"; cmp -s "$WORK/before" "$WORK/after" || fail "secrets changed by custom"
ok "custom aesgcm config: invalid one refused with its position, valid one applied to secrets and configmaps"

# --- disabling a custom config decrypts every resources entry (RKE handled only the first)
set_encryption false
rkc_up > "$LOG" 2>&1 || { cat "$LOG"; fail "disable custom"; }
[ "$(prefixes secrets)" = "plaintext 1000" ] || { prefixes secrets; fail "custom disable: secrets"; }
[ "$(prefixes configmaps)" = "plaintext 1" ] || { prefixes configmaps; fail "custom disable: configmaps"; }
[ ! -e "$SSL/encryption.yaml" ] || fail "custom disable: file left"
set_encryption true
rkc_up > "$LOG" 2>&1 || { cat "$LOG"; fail "custom again"; }
[ "$(prefixes secrets)" = "k8s:enc:aesgcm:v1:g1: 1000" ] || fail "custom re-applied"
ok "disabling the custom config decrypted secrets and configmaps; enabling it again re-applied it"

# --- back to managed: new key, configmaps decrypted (no longer listed)
$PY - "$CLUSTER_DIR/cluster.yml" <<'PY'
import sys
p = sys.argv[1]
lines = open(p).read().split("\n")
out = []
for l in lines:
    if l.strip().startswith("custom_config:"):
        break
    out.append(l)
open(p, "w").write("\n".join(out) + "\n")
PY
rkc_up > "$LOG" 2>&1 || { cat "$LOG"; fail "custom -> managed"; }
KEY3=$(sed -n 's/.*name: \(k-[a-z0-9]\{5\}\).*/\1/p' "$SSL/encryption.yaml" | head -1)
[ "$(prefixes secrets)" = "k8s:enc:aescbc:v1:$KEY3: 1000" ] || { prefixes secrets; fail "managed again"; }
[ "$(prefixes configmaps)" = "plaintext 1" ] || { prefixes configmaps; fail "configmaps not decrypted"; }
[ "$(kubectl get cm cm1 -o jsonpath='{.data.a}')" = b ] || fail "configmap unreadable"
dump_secrets > "$WORK/after"; cmp -s "$WORK/before" "$WORK/after" || fail "secrets changed"
ok "custom -> managed: key $KEY3 for secrets, configmaps decrypted"
echo "t0600: all passed"
