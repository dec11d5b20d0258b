#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# The seed's other failure case: a snapshot taken with encryption on, restored after encryption
# was disabled, ends with every Secret readable and plaintext in etcd. Also: a restore killed
# while etcd is being restored is finished by `rkc up`; one killed before it began is refused by
# `rkc up` and finished by running the restore again; once the key is truly gone (archive
# pruned, no sealed bundle) the restore is refused naming the key, before anything is touched.
set -euo pipefail
. "$(dirname "$0")/uplib.sh"
WORK=$(mktemp -d)
trap 'cleanup_cluster; rm -rf "$WORK"' EXIT
new_cluster "$WORK/c"
LOG="$WORK/log"
rkc() { (cd "$CLUSTER_DIR" && "$RKC" "$@"); }
status_json() { rkc encrypt status -o json; }
state_sum() { sha256sum "$CLUSTER_DIR/cluster.rkestate" | cut -d' ' -f1; }

rkc_up > "$LOG" 2>&1 || { cat "$LOG"; fail "rkc up"; }
KEY1=$(status_json | $PY -c 'import json,sys; print(json.load(sys.stdin)["config"][0]["providers"][0]["keys"][0]["name"])')
bulk create 2 60 32 > /dev/null
dump_secrets > "$WORK/before"
N=$(wc -l < "$WORK/before")
rkc etcd snapshot-save --name enc-on > /dev/null 2> "$LOG" || { cat "$LOG"; fail "save"; }
[ -e "$CLUSTER_DIR/snapshots/enc-on.keys.sealed" ] && fail "a bundle without --include-keys"

set_encryption false
rkc_up > "$LOG" 2>&1 || { cat "$LOG"; fail "rkc up (disable)"; }
[ "$(prefixes secrets)" = "plaintext $N" ] || fail "disable"
kubectl create ns later > /dev/null
ok "snapshot with encryption on ($N secrets on $KEY1), then encryption disabled"

# --- killed while etcd is being restored: rkc up finishes the restore
RKC_FAILPOINT=snapshot-restore-node-moved rkc etcd snapshot-restore --name enc-on > "$LOG" 2>&1 && fail "failpoint did not fire"
[ -e "$CLUSTER_DIR/snapshots/.restore-pending" ] || fail "no marker after the crash"
rkc_up > "$LOG" 2>&1 || { cat "$LOG"; fail "rkc up after the crash"; }
[ -e "$CLUSTER_DIR/snapshots/.restore-pending" ] && fail "marker left"
dump_secrets > "$WORK/restored"
cmp -s "$WORK/before" "$WORK/restored" || { diff "$WORK/before" "$WORK/restored" | head; fail "restored secrets differ"; }
[ "$(prefixes secrets)" = "plaintext $N" ] || { prefixes secrets; fail "not all plaintext after the restore"; }
kubectl get ns later > /dev/null 2>&1 && fail "data written after the snapshot survived"
[ -e "$SSL/encryption.yaml" ] && fail "provider config left with encryption disabled"
grep -q -- "--encryption-provider-config" "$CLUSTER_DIR/.rkc/node1/var/run/rkc/kube-apiserver.spec" && fail "flag left"
status_json | $PY -c 'import json,sys; d=json.load(sys.stdin); assert d["mode"]=="disabled" and d["operation"] is None, d' || fail "state"
ok "case (a): killed mid-restore, 'rkc up' finished it: $N secrets byte-identical, all plaintext, no provider config"

# --- killed before the restore began: rkc up refuses, the restore command finishes it
set +e
RKC_FAILPOINT=snapshot-restore-after-marker rkc etcd snapshot-restore --name enc-on > "$LOG" 2>&1
rc=$?
set -e
[ $rc -eq 86 ] || { cat "$LOG"; fail "failpoint 2 did not fire (exit $rc)"; }
rkc_up > "$LOG" 2>&1 && fail "rkc up ran over a restore that had not begun"
grep -q "run 'rkc etcd snapshot-restore --name enc-on'" "$LOG" || { cat "$LOG"; fail "rkc up: message"; }
rkc etcd snapshot-restore --name enc-on > "$LOG" 2>&1 || { cat "$LOG"; fail "restore again"; }
[ "$(prefixes secrets)" = "plaintext $N" ] || fail "second restore not plaintext"
[ -e "$CLUSTER_DIR/snapshots/.restore-pending" ] && fail "marker left after the second restore"
ok "killed before it began: rkc up refuses and names the command; the restore runs again"

# --- the key truly gone: refused, naming it
rkc encrypt prune-keys --force > "$LOG" 2>&1 || { cat "$LOG"; fail "prune --force"; }
SUM=$(state_sum); EPID=$(etcd_pid)
rkc etcd snapshot-restore --name enc-on > "$LOG" 2>&1 && fail "restored without the key"
grep -q "its data needs aescbc key '$KEY1', which is neither in the current configuration, the retired-keys archive nor a sealed key bundle" "$LOG" \
  || { cat "$LOG"; fail "missing key: message"; }
[ "$SUM" = "$(state_sum)" ] && [ "$EPID" = "$(etcd_pid)" ] || fail "refused restore touched the cluster"
rkc etcd snapshot-ls > "$WORK/ls"
grep -q "^enc-on .* no (keys missing) .*aescbc:$KEY1 (missing)" "$WORK/ls" || { cat "$WORK/ls"; fail "ls: missing"; }
ok "key gone: restore refused naming $KEY1, nothing touched; ls says not restorable"
