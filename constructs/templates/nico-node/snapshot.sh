# snapshot.sh: one etcd snapshot before an apply changes a running control plane
# (etcdSnapshots.beforeChanges), taken on the first healthy control-plane node; a failure stops the
# apply before any node is touched (every control-plane deployment waits for this step).
#
# Environment: PEERS (every control-plane node, init first), CLUSTER_ID, SNAPSHOT_NAME (k3s appends
# "-<node>-<unix time>"), SNAPSHOT_ARGS (k3s etcd-snapshot flags: dir and S3, validated words),
# SNAPSHOT_S3_ENV (AWS_* lines, single-quoted; may be empty) and SNAPSHOT_S3_CA (PEM; may be empty).
#
# The S3 settings come from this apply, not from the node: `k3s etcd-snapshot save` sends them with
# its request and the server uses only those (k3s pkg/etcd/snapshot_handler.go, withRequest), so
# the credentials travel in the script on stdin, as the secrets upload does: never an argument.

# snapshot_check_script: whether a control-plane node can take the snapshot. Exit 10: not a member of
# this cluster (yet); 11: a member, but its API is not ready. It carries no secret: a node proves it
# runs this cluster before the S3 settings are sent to it (a machine that answers with the pinned key
# but runs no cluster, such as the installer of an interrupted reinstall, never receives them).
snapshot_check_script() {
  printf 'cluster=%s\n' "$(q "$NICO_CLUSTER_ID")"
  cat <<'EOF'
[ "$(cat /var/lib/nico/deployed 2>/dev/null || true)" = "$cluster" ] || exit 10
k3s kubectl get --raw /readyz 2>/dev/null | grep -qx ok || exit 11
EOF
}

# snapshot_script NAME: the script that saves the snapshot; k3s's own status.
snapshot_script() {
  printf 'name=%s\n' "$(q "$1")"
  printf 'args=%s\n' "$(q "${NICO_SNAPSHOT_ARGS:-}")"
  cat <<'EOF'
set -eu
umask 077
EOF
  if [ -n "${NICO_SNAPSHOT_S3_ENV:-}" ]; then printf 'set -a\n%s\nset +a\n' "$NICO_SNAPSHOT_S3_ENV"; fi
  if [ -n "${NICO_SNAPSHOT_S3_CA:-}" ]; then
    printf 'ca=$(mktemp /var/lib/nico/etcd-s3-ca.XXXXXX)\ntrap '"'"'rm -f "$ca"'"'"' EXIT\nbase64 -d >"$ca" <<%s\n%s\n%s\n' "'NICO_EOF'" "$(printf '%s' "$NICO_SNAPSHOT_S3_CA" | base64 | tr -d '\n')" NICO_EOF
    printf 'args="$args --etcd-s3-endpoint-ca $ca"\n'
  fi
  # $args unquoted on purpose: flags and values are words that validation keeps free of blanks and quotes.
  echo 'k3s etcd-snapshot save --name "$name" $args'
}

snapshot() {
  lock_acquire "$NICO_CLUSTER_ID.control-plane" 1 "control-plane nodes change one at a time"
  printf '%s\n' "${NICO_PEERS:-}" >"$work/peers"
  members="" unreachable=""
  while read -r p_name p_host p_port p_key; do
    [ -n "$p_name" ] || continue
    pin "$p_name" "$p_host" "$p_port" "$p_key"
    if out=$(snapshot_check_script | ssh_to "$p_host" "$p_port" "$p_key" sh -s 2>&1); then code=0; else code=$?; fi
    case $code in
    0) ;;
    10) continue ;;
    11)
      members="$members $p_name"
      say "$p_name runs this cluster but its API is not ready; trying the next control-plane node"
      continue
      ;;
    255)
      unreachable="$unreachable $p_name"
      continue
      ;;
    *)
      printf '%s\n' "$out" | sed '/^$/d' | sed "s/^/nico: $node: $p_name: /" >&2
      fail "could not check whether $p_name can take the snapshot (exit $code); no control-plane node was changed"
      ;;
    esac
    if out=$(snapshot_script "$NICO_SNAPSHOT_NAME" | ssh_to "$p_host" "$p_port" "$p_key" sh -s 2>&1); then
      printf '%s\n' "$out" | sed '/^$/d' | sed "s/^/nico: $node: $p_name: /"
      saved=$(printf '%s\n' "$out" | sed -n 's/.*Snapshot \([^ ]*\) saved.*/\1/p' | head -n 1)
      say "saved ${saved:-$NICO_SNAPSHOT_NAME-$p_name-<unix time>} on $p_name before changing the control plane (restore from it with restore = { snapshot = \"${saved:-<name>}\" })"
      return 0
    else
      code=$?
    fi
    printf '%s\n' "$out" | sed '/^$/d' | sed "s/^/nico: $node: $p_name: /" >&2
    fail "k3s etcd-snapshot save failed on $p_name (exit $code); no control-plane node was changed. Fix the cause above, or set etcdSnapshots.beforeChanges to false to change the control plane without a snapshot"
  done <"$work/peers"
  if [ -n "$members" ]; then
    fail "no control-plane node that runs this cluster could take the snapshot (API not ready:$members${unreachable:+; unreachable:$unreachable}); no control-plane node was changed. Set etcdSnapshots.beforeChanges to false to change the control plane without a snapshot"
  fi
  # None of the nodes reached runs the cluster: a node that could not be reached cannot be switched
  # by this apply either (its own step fails to connect, naming the cause), so nothing is at risk.
  if [ -n "$unreachable" ]; then
    say "could not reach$unreachable; no node reached runs this cluster: nothing to snapshot"
  else
    say "no control-plane node runs this cluster yet: nothing to snapshot"
  fi
}
