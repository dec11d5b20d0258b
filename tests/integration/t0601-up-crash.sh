#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Crash safety: rkc is killed (a failpoint exits at once, like kill -9) at every step of
# enable, disable and a custom config change; running `rkc up` again must finish the
# operation, and every Secret must read back byte-identical with the expected raw prefix.
set -euo pipefail
. "$(dirname "$0")/uplib.sh"
WORK=$(mktemp -d)
trap 'cleanup_cluster; rm -rf "$WORK"' EXIT
new_cluster "$WORK/c"
LOG="$WORK/up.log"
set_encryption false
rkc_up > "$LOG" 2>&1 || { cat "$LOG"; fail "rkc up"; }
bulk create 4 25 64 > /dev/null
dump_secrets > "$WORK/before"
[ "$(prefixes secrets)" = "plaintext 100" ] || fail "setup"

POINTS="encop-prepare-before encop-prepare-after encop-promote-before up-apply-after-deploy
encop-promote-after encop-rewrite-before encop-rewrite-after encop-verify-before
encop-verify-after encop-prune-before encop-prune-applied fs-atomic-before-rename"

check() { # check EXPECTED_PREFIX_LINE
  [ "$(prefixes secrets)" = "$1" ] || { prefixes secrets; fail "$2: prefixes"; }
  dump_secrets > "$WORK/after"
  cmp -s "$WORK/before" "$WORK/after" || fail "$2: secrets changed"
}

crash_and_resume() { # crash_and_resume POINT WHAT
  set +e
  RKC_FAILPOINT=$1 rkc_up > "$LOG" 2>&1
  local rc=$?
  set -e
  [ $rc -eq 86 ] || { cat "$LOG"; fail "$2: failpoint $1 did not fire (exit $rc)"; }
  # every Secret stays readable while the operation is interrupted
  dump_secrets > "$WORK/mid"
  cmp -s "$WORK/before" "$WORK/mid" || fail "$2: secrets unreadable or changed after a crash at $1"
  rkc_up > "$LOG" 2>&1 || { cat "$LOG"; fail "$2: resume after $1"; }
  grep -q "finished" "$LOG" || { cat "$LOG"; fail "$2: nothing finished after $1"; }
}

n=0
for p in $POINTS; do
  set_encryption true
  crash_and_resume "$p" enable
  KEY=$(sed -n 's/.*name: \(k-[a-z0-9]\{5\}\).*/\1/p' "$SSL/encryption.yaml" | head -1)
  check "k8s:enc:aescbc:v1:$KEY: 100" "enable/$p"
  set_encryption false
  crash_and_resume "$p" disable
  check "plaintext 100" "disable/$p"
  [ ! -e "$SSL/encryption.yaml" ] || fail "disable/$p: file left"
  n=$((n + 2))
done
ok "enable and disable resumed after a crash at each of $n points"

# custom config change (aescbc managed -> secretbox custom) crashed at every phase
set_encryption true
rkc_up > "$LOG" 2>&1 || { cat "$LOG"; fail "enable for custom"; }
cp "$CLUSTER_DIR/cluster.yml" "$WORK/managed.yml"
i=0
for p in encop-promote-before up-apply-after-deploy encop-rewrite-after encop-verify-before encop-prune-applied; do
  i=$((i + 1))
  cp "$WORK/managed.yml" "$CLUSTER_DIR/cluster.yml"
  cat >> "$CLUSTER_DIR/cluster.yml" <<YML
      custom_config:
        apiVersion: apiserver.config.k8s.io/v1
        kind: EncryptionConfiguration
        resources:
        - resources: [secrets]
          providers:
          - secretbox:
              keys:
              - name: sb$i
                secret: $(head -c 32 /dev/urandom | base64)
          - identity: {}
YML
  crash_and_resume "$p" custom
  check "k8s:enc:secretbox:v1:sb$i: 100" "custom/$p"
done
ok "custom config changes resumed after a crash at each of $i points"
echo "t0601: all passed"
