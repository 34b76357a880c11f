# remove.sh: a node leaves the cluster: drained and deleted through a peer (confirmed gone), then #minimal.

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
    if [ -z "${NICO_PEERS:-}" ]; then
      # The last control-plane node: no cluster is left to remove it from.
      say "no other control-plane node: the cluster ends with it; nothing to drain or delete"
    else
      # Never wiped while the cluster still knows it: a server's etcd member would stay behind (and
      # count against quorum for ever), a worker's Node and password secret would refuse it later.
      drain_and_delete drain || fail "its Node object could not be deleted through any other control-plane node, so its etcd member may still exist: NOT cleaned with #minimal. Bring a control-plane node's API back and destroy again, or, if this machine is gone for good, mark it gone: true first"
    fi
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
