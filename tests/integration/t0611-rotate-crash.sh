#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# rkc encrypt rotate-key killed at every step (failpoints exit like kill -9), then run again:
# the same rotation finishes (never a second one), every Secret stays readable throughout, and
# `rkc encrypt status` shows the pending rotation in between.
set -euo pipefail
. "$(dirname "$0")/uplib.sh"
WORK=$(mktemp -d)
trap 'cleanup_cluster; rm -rf "$WORK"' EXIT
new_cluster "$WORK/c"
LOG="$WORK/log"
rotate() { (cd "$CLUSTER_DIR" && "$RKC" encrypt rotate-key); }
status_json() { (cd "$CLUSTER_DIR" && "$RKC" encrypt status -o json); }
writer_key() { status_json | $PY -c 'import json,sys; print(json.load(sys.stdin)["config"][0]["providers"][0]["keys"][0]["name"])'; }

rkc_up > "$LOG" 2>&1 || { cat "$LOG"; fail "rkc up"; }
bulk create 4 25 64 > /dev/null
dump_secrets > "$WORK/before"
n=0
for p in encop-prepare-before encop-promote-before up-apply-after-deploy encop-promote-after \
    encop-rewrite-before encop-rewrite-after encop-verify-before encop-verify-after \
    encop-prune-before encop-prune-applied fs-atomic-before-rename; do
  OLD=$(writer_key)
  NRETIRED=$(status_json | $PY -c 'import json,sys; print(len(json.load(sys.stdin)["retiredKeys"]))')
  set +e
  RKC_FAILPOINT=$p rotate > "$LOG" 2>&1
  rc=$?
  set -e
  [ $rc -eq 86 ] || { cat "$LOG"; fail "failpoint $p did not fire (exit $rc)"; }
  dump_secrets > "$WORK/mid"
  cmp -s "$WORK/before" "$WORK/mid" || fail "secrets unreadable after a crash at $p"
  if [ "$p" != fs-atomic-before-rename ]; then
    status_json > "$WORK/status.json"
    $PY -c 'import json,sys; d=json.load(open(sys.argv[1])); assert d["operation"]["kind"]=="rotate", d["operation"]' \
      "$WORK/status.json" || fail "status does not show the pending rotation after $p"
    (cd "$CLUSTER_DIR" && "$RKC" encrypt status) | grep -q "^pending:    rotate, phase" || fail "text status after $p"
  fi
  rotate > "$LOG" 2>&1 || { cat "$LOG"; fail "resume after $p"; }
  NEW=$(writer_key)
  [ "$NEW" != "$OLD" ] || fail "no rotation after $p"
  if [ "$p" != fs-atomic-before-rename ]; then
    grep -q "The interrupted key rotation is complete" "$LOG" || { cat "$LOG"; fail "resume after $p started a new rotation"; }
    # exactly one more key in the archive: the interrupted rotation finished, no second one
    [ "$(status_json | $PY -c 'import json,sys; print(len(json.load(sys.stdin)["retiredKeys"]))')" -eq $((NRETIRED + 1)) ] \
      || fail "archive after resuming $p"
  fi
  [ "$(prefixes secrets)" = "k8s:enc:aescbc:v1:$NEW: 100" ] || { prefixes secrets; fail "prefixes after $p"; }
  dump_secrets > "$WORK/after"
  cmp -s "$WORK/before" "$WORK/after" || fail "secrets changed after $p"
  n=$((n + 1))
done
ok "rotation resumed to completion after a crash at each of $n points"

# a second rotation never starts over an unfinished one: rkc up finishes it first
set +e
RKC_FAILPOINT=encop-rewrite-before rotate > "$LOG" 2>&1
set -e
rkc_up > "$LOG" 2>&1 || { cat "$LOG"; fail "rkc up over a pending rotation"; }
grep -q "Resuming 'rotate' operation" "$LOG" || { cat "$LOG"; fail "rkc up did not resume the rotation"; }
status_json | $PY -c 'import json,sys; assert json.load(sys.stdin)["operation"] is None' || fail "still pending"
ok "rkc up finishes a pending rotation"
echo "t0611: all passed"
