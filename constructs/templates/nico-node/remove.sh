# remove.sh: a node leaves the cluster: drained and deleted through a peer, then #minimal.

remove() {
  if [ "$NICO_GONE" = true ]; then
    say "marked gone: removed from the cluster earlier; nothing to clean"
    return 0
  fi
  check_connection
  # A whole-cluster destroy removes every node: draining into a dying cluster only costs time.
  if teardown_in_progress; then
    [ "$NICO_ROLE" = worker ] || take_turn member
    mutex_release
    say "the whole cluster is being destroyed: no drain"
  else
    take_turn member
    mutex_release
    drain_and_delete drain
  fi
  say "cleaning with #minimal"
  {
    printf 'node=%s dir=%s\n' "$(q "$node")" "$(q "$NICO_REMOTE_DIR")"
    cat <<'EOF'
set -eu
umask 077
if [ ! -f "$dir/flake.nix" ]; then echo "nico: $node: no flake in $dir to switch to #minimal from" >&2; exit 1; fi
systemctl stop nico-rollback.timer 2>/dev/null || true
# Names the node to the flake, so that minimal keeps its static address (nodes/generator.nix).
printf '%s\n' "$node" >"$dir/minimal-node"
nixos-rebuild switch --flake "path:$dir#minimal"
rm -rf /var/lib/nico/secrets /var/lib/nico/flake.lock /var/lib/nico/deployed /var/lib/nico/rollback
EOF
  } | ssh_node sh -s || fail "cleaning $NICO_SSH_HOST with #minimal stopped (exit $?); run the destroy again once fixed"
}
