#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# rkc etcd snapshot-save / snapshot-restore / snapshot-ls and rkc encrypt prune-keys on a real
# cluster (etcd, rkc-apiserver, kubectl): the seed's failure case "snapshot before the keys were
# rotated, restored after" (rotated twice) ends readable and on the current key; data written
# after the snapshot is gone and the data before it is back byte-identical; a corrupted or
# truncated snapshot and another cluster's snapshot are refused before anything is touched;
# after the archive was pruned (--force) the sealed bundle restores it with its passphrase, and
# a wrong passphrase changes nothing.
set -euo pipefail
. "$(dirname "$0")/uplib.sh"
WORK=$(mktemp -d)
trap 'cleanup_cluster; rm -rf "$WORK"' EXIT
new_cluster "$WORK/c"
LOG="$WORK/log"
export RKC_SNAPSHOT_KDF=interactive
rkc() { (cd "$CLUSTER_DIR" && "$RKC" "$@"); }
status_json() { rkc encrypt status -o json; }
writer_key() { status_json | $PY -c 'import json,sys; print(json.load(sys.stdin)["config"][0]["providers"][0]["keys"][0]["name"])'; }
state_sum() { sha256sum "$CLUSTER_DIR/cluster.rkestate" | cut -d' ' -f1; }
mk_secrets() { # mk_secrets NS N
  kubectl create ns "$1" > /dev/null
  for i in $(seq 1 "$2"); do kubectl -n "$1" create secret generic "s$i" --from-literal=v="$1-$i-$RANDOM" > /dev/null; done
}

rkc_up > "$LOG" 2>&1 || { cat "$LOG"; fail "rkc up"; }
KEY1=$(writer_key)
mk_secrets before 20
bulk create 2 100 32 > /dev/null
dump_secrets > "$WORK/before"
N=$(wc -l < "$WORK/before")

# --- save with the sealed bundle
RKC_SNAPSHOT_PASSPHRASE=correct-horse rkc etcd snapshot-save --name snap1 --include-keys > "$WORK/out" 2> "$LOG" \
  || { cat "$LOG"; fail "snapshot-save"; }
[ "$(cat "$WORK/out")" = snap1 ] || fail "save prints the name"
for f in snap1.db snap1.manifest.json snap1.keys.sealed; do
  [ "$(stat -c %a "$CLUSTER_DIR/snapshots/$f")" = 600 ] || fail "$f is not mode 0600"
done
[ -f "$CLUSTER_DIR/.rkc/node1/opt/rke/etcd-snapshots/snap1.db" ] || fail "snapshot not kept on the node"
$PY - "$CLUSTER_DIR/snapshots/snap1.manifest.json" "$KEY1" "$CLUSTER_DIR/snapshots/snap1.db" <<'PY' || fail "manifest"
import hashlib, json, sys
m = json.load(open(sys.argv[1]))
assert m["cluster"] == "it" and m["kind"] == "SnapshotManifest", m
assert m["snapshot"]["sha256"] == hashlib.sha256(open(sys.argv[3], "rb").read()).hexdigest()
assert m["etcdRevision"] > 0 and m["encryptionConfigHash"].startswith("sha256:")
sec = [r for r in m["resources"] if r["resource"] == "secrets"][0]
keys = {k["name"]: k for k in sec["keys"]}
assert list(keys) == [sys.argv[2]], keys
assert keys[sys.argv[2]]["count"] == sec["total"] and sec["plaintext"] == 0 and sec["total"] >= 220
assert len(keys[sys.argv[2]]["fingerprint"]) == 16
assert m["sealedKeys"] == "snap1.keys.sealed"
PY
SECRET1=$(sed -n 's/.*secret: //p' "$SSL/encryption.yaml" | head -1)
grep -q "$SECRET1" "$CLUSTER_DIR/snapshots/snap1.manifest.json" "$CLUSTER_DIR/snapshots/snap1.keys.sealed" && fail "key material in clear in the snapshot files"
ok "snapshot-save: db on the node and beside cluster.yml, manifest ($N secrets on $KEY1), sealed bundle, all 0600, no key in clear"

# --- rotate twice, write more data after the snapshot
rkc encrypt rotate-key > "$LOG" 2>&1 || { cat "$LOG"; fail "rotate 1"; }
rkc encrypt rotate-key > "$LOG" 2>&1 || { cat "$LOG"; fail "rotate 2"; }
KEY3=$(writer_key)
mk_secrets after 5
kubectl -n before delete secret s1 s2 > /dev/null
kubectl -n before create secret generic s3x --from-literal=v=x > /dev/null 2>&1 || true
rkc etcd snapshot-ls > "$WORK/ls" 2>"$LOG" || { cat "$LOG"; fail "snapshot-ls"; }
grep -q "^snap1 .* yes " "$WORK/ls" || { cat "$WORK/ls"; fail "ls: snap1 restorable from the archive"; }
ok "rotated twice ($KEY1 -> $KEY3), changed data after the snapshot; ls says restorable"

# --- refusals before anything is touched
cp "$CLUSTER_DIR/snapshots/snap1.db" "$WORK/good.db"
SUM=$(state_sum); EPID=$(etcd_pid); APID=$(apiserver_pid)
truncate -s -4096 "$CLUSTER_DIR/snapshots/snap1.db"
rkc etcd snapshot-restore --name snap1 > "$LOG" 2>&1 && fail "truncated snapshot restored"
grep -q "corrupted or truncated" "$LOG" || { cat "$LOG"; fail "truncated: message"; }
cp "$WORK/good.db" "$CLUSTER_DIR/snapshots/snap1.db"
printf 'X' | dd of="$CLUSTER_DIR/snapshots/snap1.db" bs=1 seek=5000 conv=notrunc 2>/dev/null
rkc etcd snapshot-restore --name snap1 > "$LOG" 2>&1 && fail "corrupted snapshot restored"
grep -q "corrupted or truncated" "$LOG" || { cat "$LOG"; fail "corrupted: message"; }
cp "$WORK/good.db" "$CLUSTER_DIR/snapshots/snap1.db"
sed -i 's/"cluster": "it"/"cluster": "other"/' "$CLUSTER_DIR/snapshots/snap1.manifest.json"
rkc etcd snapshot-restore --name snap1 > "$LOG" 2>&1 && fail "another cluster's snapshot restored"
grep -q "is of cluster 'other', not 'it' (use --force" "$LOG" || { cat "$LOG"; fail "other cluster: message"; }
sed -i 's/"cluster": "other"/"cluster": "it"/' "$CLUSTER_DIR/snapshots/snap1.manifest.json"
[ "$SUM" = "$(state_sum)" ] && [ "$EPID" = "$(etcd_pid)" ] && [ "$APID" = "$(apiserver_pid)" ] || fail "a refused restore touched the cluster"
ls "$CLUSTER_DIR"/cluster.rkestate.pre-restore-* > /dev/null 2>&1 && fail "a refused restore made a backup"
[ -e "$CLUSTER_DIR/snapshots/.restore-pending" ] && fail "a refused restore left a marker"
ok "truncated, corrupted and other-cluster snapshots refused; state, etcd and API server untouched"

# --- case (b): snapshot before two rotations, restored after
rkc etcd snapshot-restore --name snap1 > "$LOG" 2>&1 || { cat "$LOG"; fail "snapshot-restore"; }
grep -q "needs aescbc key '$KEY1'.*found in the archive" "$LOG" || { cat "$LOG"; fail "restore: key from the archive"; }
ls "$CLUSTER_DIR"/cluster.rkestate.pre-restore-* > /dev/null || fail "no pre-restore state kept"
dump_secrets > "$WORK/restored"
cmp -s "$WORK/before" "$WORK/restored" || { diff "$WORK/before" "$WORK/restored" | head; fail "restored secrets differ from the snapshot's"; }
[ "$(writer_key)" = "$KEY3" ] || fail "writer changed by the restore"
P=$(prefixes secrets)
[ "$P" = "k8s:enc:aescbc:v1:$KEY3: $N" ] || { echo "$P"; fail "not all on the current key $KEY3"; }
grep -q "$KEY1" "$SSL/encryption.yaml" && fail "old key left in the provider config"
status_json | $PY -c 'import json,sys; d=json.load(sys.stdin); assert d["operation"] is None; assert sys.argv[1] in [k["name"] for k in d["retiredKeys"]]' "$KEY1" \
  || fail "state after restore"
ok "case (b): restored after two rotations: $N secrets byte-identical to the snapshot, later data gone, all on $KEY3, $KEY1 back in the archive"

# --- prune: refused while snap1 needs KEY1; --force drops; then the sealed bundle
rkc encrypt prune-keys > "$LOG" 2>&1 && fail "prune-keys dropped a key a snapshot needs"
grep -q "key '$KEY1' is needed by snapshot 'snap1'" "$LOG" || { cat "$LOG"; fail "prune refusal message"; }
rkc encrypt prune-keys --force > "$LOG" 2>&1 || { cat "$LOG"; fail "prune-keys --force"; }
status_json | $PY -c 'import json,sys; assert json.load(sys.stdin)["retiredKeys"] == []' || fail "archive not emptied"
rkc etcd snapshot-ls > "$WORK/ls" 2>/dev/null
grep -q "^snap1 .* needs passphrase " "$WORK/ls" || { cat "$WORK/ls"; fail "ls: needs passphrase"; }
kubectl -n before delete secret s5 > /dev/null
SUM=$(state_sum); EPID=$(etcd_pid)
RKC_SNAPSHOT_PASSPHRASE=wrong rkc etcd snapshot-restore --name snap1 < /dev/null > "$LOG" 2>&1 && fail "wrong passphrase accepted"
grep -q "wrong passphrase, or the sealed bundle was modified" "$LOG" || { cat "$LOG"; fail "wrong passphrase: message"; }
[ "$SUM" = "$(state_sum)" ] && [ "$EPID" = "$(etcd_pid)" ] || fail "wrong passphrase touched the cluster"
(cd "$CLUSTER_DIR" && env -u RKC_SNAPSHOT_PASSPHRASE setsid -w "$RKC" etcd snapshot-restore --name snap1) < /dev/null > "$LOG" 2>&1 && fail "restored without the passphrase"
grep -q "needs its passphrase" "$LOG" || { cat "$LOG"; fail "no passphrase: message"; }
RKC_SNAPSHOT_PASSPHRASE=correct-horse rkc etcd snapshot-restore --name snap1 > "$LOG" 2>&1 || { cat "$LOG"; fail "restore with the bundle"; }
grep -q "needs aescbc key '$KEY1'.*found in the sealed bundle" "$LOG" || { cat "$LOG"; fail "key from the bundle"; }
dump_secrets > "$WORK/restored2"
cmp -s "$WORK/before" "$WORK/restored2" || fail "bundle restore: secrets differ"
[ "$(prefixes secrets)" = "k8s:enc:aescbc:v1:$KEY3: $N" ] || { prefixes secrets; fail "bundle restore: not on $KEY3"; }
ok "pruned archive: wrong or no passphrase refused untouched; the sealed bundle restores, all on $KEY3"
