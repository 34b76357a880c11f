# deploy.sh: upload, switch, wait until ready, roll back when not.

# upload_and_switch: one connection that writes the secrets and the tree, arms the node's own
# rollback timer and switches. The script reaches the node on stdin: nothing lands in its /tmp.
upload_and_switch() {
  # The cluster's lock file, so that every node builds from the same nixpkgs revision: the one in the
  # tree (flakeLockFile) wins, else the one another control-plane node already builds from.
  cluster_lock=""
  if ! printf '%s\n' "${NICO_FILE_PATHS:-}" | grep -qx flake.lock; then
    cluster_lock=$(peers_run 'cat /var/lib/nico/flake.lock 2>/dev/null' 2>/dev/null | base64 | tr -d '\n' || true)
  fi
  {
    printf 'node=%s dir=%s rollback=%s rollback_after=%s\n' "$(q "$node")" "$(q "$NICO_REMOTE_DIR")" "$NICO_ROLLBACK" "$1"
    cat <<'EOF'
set -eu
umask 077
put() { mkdir -p "$(dirname "$1")"; base64 -d >"$1"; }
mkdir -p /var/lib/nico
chmod 0700 /var/lib/nico
rm -rf /var/lib/nico/secrets.new
mkdir -m 0700 /var/lib/nico/secrets.new
EOF
    emit NICO_SECRET "$NICO_SECRET_COUNT" /var/lib/nico/secrets.new
    cat <<'EOF'
rm -rf /var/lib/nico/secrets.old
if [ -d /var/lib/nico/secrets ]; then mv /var/lib/nico/secrets /var/lib/nico/secrets.old; fi
mv /var/lib/nico/secrets.new /var/lib/nico/secrets
rm -rf /var/lib/nico/secrets.old
rm -rf "$dir"
mkdir -p "$dir"
chmod 0700 "$dir"
EOF
    emit NICO_FILE "$NICO_FILE_COUNT" '"$dir"'
    [ -z "$cluster_lock" ] || printf 'put "$dir"/flake.lock <<%s\n%s\n%s\n' "'NICO_EOF'" "$cluster_lock" NICO_EOF
    cat <<'EOF'
# The hardware report the install left (install.sh): the flake gives it to every configuration.
if [ -f /var/lib/nico/hardware-configuration.nix ]; then cp /var/lib/nico/hardware-configuration.nix "$dir/"; fi
if [ ! -f "$dir/flake.lock" ] && [ -f /var/lib/nico/flake.lock ]; then cp /var/lib/nico/flake.lock "$dir/flake.lock"; fi
if [ ! -f "$dir/flake.lock" ]; then
  echo "nico: $node: locking the flake inputs (the first node; every later node builds from this lock)"
  nix --extra-experimental-features 'nix-command flakes' flake lock "path:$dir"
fi
cp "$dir/flake.lock" /var/lib/nico/flake.lock
if [ "$rollback" = true ]; then
  # Back to the generation the node runs now, unless a new connection finds it ready in time.
  previous=$(readlink /nix/var/nix/profiles/system 2>/dev/null || true)
  cat >/var/lib/nico/rollback <<ROLLBACK
#!/bin/sh
# Written by nico-cluster before it switched $node: returns it to the system it ran before.
PATH=/run/current-system/sw/bin:\$PATH
[ "\$(readlink /nix/var/nix/profiles/system 2>/dev/null || true)" != "$previous" ] || exit 0
echo "nico: $node: rolling back to the previous system generation"
nixos-rebuild switch --rollback
ROLLBACK
  chmod 0700 /var/lib/nico/rollback
  systemctl stop nico-rollback.timer 2>/dev/null || true
  systemctl reset-failed nico-rollback.service 2>/dev/null || true
  systemd-run --quiet --unit=nico-rollback --on-active="${rollback_after}s" /var/lib/nico/rollback
  echo "nico: $node: armed its own rollback in ${rollback_after}s, cancelled once it is seen ready"
fi
echo "nico: $node: nixos-rebuild switch --flake path:$dir#$node"
nixos-rebuild switch --flake "path:$dir#$node"
EOF
  } | ssh_node sh -s
}

# confirm_ready: a new connection (the switch may have cut the old path off) waits until the node is
# ready, then cancels its rollback timer; a node not ready in time is rolled back now, and the
# journal of the units that make it ready is shown. Exit 3: not ready (rolled back).
confirm_ready() {
  {
    printf 'node=%s role=%s timeout=%s rollback=%s cluster=%s\n' "$(q "$node")" "$NICO_ROLE" "$NICO_READY_TIMEOUT" "$NICO_ROLLBACK" "$(q "$NICO_CLUSTER_ID")"
    cat <<'EOF'
set -eu
umask 077
case $role in
init) ready() { k3s kubectl get --raw /readyz 2>/dev/null | grep -qx ok; } ;;
joiner) ready() { [ "$(k3s kubectl get node "$node" -o 'jsonpath={.status.conditions[?(@.type=="Ready")].status}' 2>/dev/null)" = True ]; } ;;
*) ready() { systemctl is-active --quiet k3s; } ;;
esac
deadline=$(( $(date +%s) + timeout ))
until ready; do
  if [ "$(date +%s)" -ge "$deadline" ]; then
    echo "nico: $node: not ready within $timeout s; the last lines of its journal:" >&2
    journalctl -u k3s -u keepalived -u nico-secrets -u nico-wait-for-vip -n 25 --no-pager 2>&1 | sed "s/^/nico: $node: journal: /" >&2 || true
    if [ "$rollback" = true ]; then
      systemctl stop nico-rollback.timer 2>/dev/null || true
      /var/lib/nico/rollback >&2
    fi
    exit 3
  fi
  sleep 2
done
systemctl stop nico-rollback.timer 2>/dev/null || true
printf '%s\n' "$cluster" >/var/lib/nico/deployed
echo "nico: $node: ready"
EOF
  } | ssh_node sh -s
}

deploy() {
  if [ "$NICO_GONE" = true ]; then
    say "marked gone: not deployed"
    return 0
  fi
  check_connection
  # A node that already runs this cluster's configuration is a member: a redeploy drains it first.
  if [ "$(ssh_node cat /var/lib/nico/deployed 2>/dev/null </dev/null)" = "$NICO_CLUSTER_ID" ]; then member=member; else member=new; fi
  take_turn "$member"
  drained=""
  if [ "$member" = member ] && [ -n "${NICO_PEERS:-}" ]; then
    say "cordoning and draining (at most ${NICO_DRAIN_TIMEOUT}s) before the switch"
    kubectl_peer cordon >/dev/null || fail "could not cordon it through another control-plane node"
    drained=1
  fi
  # Cordoned while no failure of this apply was known (take_turn holds the apply's mutex until here).
  mutex_release
  if [ -n "$drained" ]; then
    if ! kubectl_peer drain --ignore-daemonsets --delete-emptydir-data "--timeout=${NICO_DRAIN_TIMEOUT}s" >/dev/null; then
      kubectl_peer uncordon >/dev/null || true
      fail "draining did not finish within ${NICO_DRAIN_TIMEOUT}s (a PodDisruptionBudget?); not switched, uncordoned again"
    fi
  fi
  say "uploading the flake tree to $NICO_REMOTE_DIR and the secrets to /var/lib/nico/secrets"
  # The node's own timer fires after the deployer's whole wait, two connections and a margin.
  rollback_after=$((NICO_READY_TIMEOUT + 2 * NICO_CONNECT_TIMEOUT + 30))
  upload_and_switch "$rollback_after" || fail "the switch on $NICO_SSH_HOST failed (exit $?); see the lines above"
  say "waiting until it is ready (a new connection)"
  ssh_fresh_node
  if out=$(ssh_node true 2>&1 </dev/null); then :; else
    printf '%s\n' "$out" | sed '/^$/d; s/^/  ssh: /' >&2
    if [ "$NICO_ROLLBACK" = true ]; then
      fail "lost SSH after the switch: the new system cut $NICO_SSH_HOST port $NICO_SSH_PORT off; the node returns to its previous system by itself within ${rollback_after}s of the switch"
    fi
    fail "lost SSH after the switch: the new system cut $NICO_SSH_HOST port $NICO_SSH_PORT off (rollback is off)"
  fi
  if confirm_ready; then :; else
    code=$?
    [ "$code" = 3 ] || fail "lost the connection while waiting until it is ready (exit $code)"
    if [ "$NICO_ROLLBACK" = true ]; then fail "not ready within ${NICO_READY_TIMEOUT}s after the switch: rolled back to its previous system; the next apply tries again"; fi
    fail "not ready within ${NICO_READY_TIMEOUT}s after the switch (rollback is off)"
  fi
  if [ -n "$drained" ]; then kubectl_peer uncordon >/dev/null || fail "ready, but could not uncordon it through another control-plane node"; fi
}
