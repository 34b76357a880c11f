# deploy.sh: upload, switch, wait until ready, roll back when not.

# fetch_cluster_lock: the cluster's lock file, so that every node builds from the same nixpkgs
# revision: the one in the tree (flakeLockFile) wins, else the one another control-plane node already
# builds from (written by the first node). Fetched before the node waits for its turn: not on the
# rollout's critical path.
fetch_cluster_lock() {
  cluster_lock=""
  if ! printf '%s\n' "${NICO_FILE_PATHS:-}" | grep -qx flake.lock; then
    cluster_lock=$(peers_run 'cat /var/lib/nico/flake.lock 2>/dev/null' 2>/dev/null | base64 | tr -d '\n' || true)
  fi
}

# upload_and_switch: one connection that writes the secrets and the tree, arms the node's own
# rollback timer and switches. The script reaches the node on stdin: nothing lands in its /tmp.
upload_and_switch() {
  {
    printf 'node=%s dir=%s rollback=%s rollback_after=%s cluster_exists=%s\n' "$(q "$node")" "$(q "$NICO_REMOTE_DIR")" "$NICO_ROLLBACK" "$1" "$cluster_exists"
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
# The cluster exists already: the flake then makes this node join it, init node included
# (generator.nix clusterExists: --cluster-init only while the cluster is being created).
if [ -n "$cluster_exists" ]; then printf 'yes\n' >"$dir/cluster-exists"; fi
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
# Ready: the init node creating the cluster answers /readyz; any other node's Node object is Ready,
# as a server sees it (its own API for a server; a control-plane peer for a worker, which has no
# admin credentials). An active k3s unit is not readiness: an agent refused for its token, its CA
# hash or its node password keeps running and never joins.
confirm_ready() {
  if [ "$NICO_ROLE" = worker ]; then
    deadline=$(($(date +%s) + NICO_READY_TIMEOUT))
    ready_query="$(kubectl_cmd get) node $(q "$node") -o 'jsonpath={.status.conditions[?(@.type==\"Ready\")].status}' 2>/dev/null"
    until [ "$(api_run "$ready_query" 2>/dev/null)" = True ]; do
      if [ "$(date +%s)" -ge "$deadline" ]; then
        finish_on_node not-ready
        return
      fi
      sleep 1
    done
    finish_on_node ready
    return
  fi
  if [ "$NICO_ROLE" = init ] && [ -z "$cluster_exists" ]; then ready_role=init; else ready_role=member; fi
  {
    printf 'node=%s role=%s timeout=%s rollback=%s cluster=%s\n' "$(q "$node")" "$ready_role" "$NICO_READY_TIMEOUT" "$NICO_ROLLBACK" "$(q "$NICO_CLUSTER_ID")"
    cat <<'NICO_END'
set -eu
umask 077
case $role in
init) ready() { timeout 20 k3s kubectl --request-timeout=15s get --raw /readyz 2>/dev/null | grep -qx ok; } ;;
*) ready() { [ "$(timeout 20 k3s kubectl --request-timeout=15s get node "$node" -o 'jsonpath={.status.conditions[?(@.type=="Ready")].status}' 2>/dev/null)" = True ]; } ;;
esac
deadline=$(( $(date +%s) + timeout ))
until ready; do
  if [ "$(date +%s)" -ge "$deadline" ]; then
NICO_END
    not_ready_lines
    cat <<'NICO_END'
  fi
  sleep 1
done
NICO_END
    ready_lines
  } | ssh_node sh -s
}

# The node-side end of a readiness wait: not ready (its journal, the rollback, exit 3), or ready.
not_ready_lines() {
  cat <<'NICO_END'
    echo "nico: $node: not ready within $timeout s; the last lines of its journal:" >&2
    journalctl -u k3s -u keepalived -u nico-secrets -u nico-wait-for-vip -n 25 --no-pager 2>&1 | sed "s/^/nico: $node: journal: /" >&2 || true
    if [ "$rollback" = true ]; then
      systemctl stop nico-rollback.timer 2>/dev/null || true
      /var/lib/nico/rollback >&2
    fi
    exit 3
NICO_END
}
ready_lines() {
  cat <<'NICO_END'
systemctl stop nico-rollback.timer 2>/dev/null || true
printf '%s\n' "$cluster" >/var/lib/nico/deployed
echo "nico: $node: ready"
NICO_END
}

# finish_on_node ready|not-ready: a worker's wait ran here (through a peer); this ends it on the node.
finish_on_node() {
  {
    printf 'node=%s timeout=%s rollback=%s cluster=%s\n' "$(q "$node")" "$NICO_READY_TIMEOUT" "$NICO_ROLLBACK" "$(q "$NICO_CLUSTER_ID")"
    echo 'set -eu'
    if [ "$1" = ready ]; then ready_lines; else not_ready_lines; fi
  } | ssh_node sh -s
}

# k3s_state_dir: what k3s keeps once the node has joined (generator.nix joinedMarker); gone on a new
# or reinstalled machine.
k3s_state_dir() { if [ "$NICO_ROLE" = worker ]; then echo /var/lib/rancher/k3s/agent/kubelet.kubeconfig; else echo /var/lib/rancher/k3s/server/db/etcd; fi; }

# decide_cluster_exists (init node only): the cluster exists when another control-plane node holds
# k3s server state. Only when every other one answers and none does is the cluster being created;
# then, and only then, the init node runs --cluster-init (k3s bootstrap.go shouldBootstrapLoad: a
# server with an empty data dir and no --server creates a NEW cluster, whatever else runs).
decide_cluster_exists() {
  cluster_exists=""
  [ -n "${NICO_PEERS:-}" ] || return 0
  printf '%s\n' "$NICO_PEERS" >"$work/state-peers"
  unknown=""
  while read -r p_name p_host p_port p_key; do
    [ -n "$p_name" ] || continue
    pin "$p_name" "$p_host" "$p_port" "$p_key"
    if answer=$(ssh_to "$p_host" "$p_port" "$p_key" 'if [ -e /var/lib/rancher/k3s/server/db/etcd ]; then echo member; else echo none; fi' </dev/null 2>/dev/null); then
      if [ "$answer" = member ]; then
        cluster_exists=1
        return 0
      fi
    else
      unknown="$unknown $p_name"
    fi
  done <"$work/state-peers"
  if [ -n "$unknown" ] && [ "$has_state" != yes ]; then
    fail "cannot tell whether the cluster exists: no SSH answer from$unknown. Creating it now could start a second cluster next to a running one; not switched. Bring those nodes back (or mark them gone) and apply again"
  fi
}

# rejoin_if_known: a node whose k3s state is gone while its Node object exists (a reinstalled or
# replaced machine) would be refused by k3s (etcd.go join: duplicate node name; nodepassword.go
# verifyHash: node password rejected): its old Node (and with it its etcd member and password
# secret) is drained and deleted through a peer first, as a removal does.
rejoin_if_known() {
  if node_object_exists; then
    say "its k3s state is gone while its Node object exists (a reinstalled or replaced machine): deleting the old Node before it rejoins"
    drain_and_delete drain || fail "could not delete its old Node object through another control-plane node; not switched (k3s would refuse it to join)"
  else
    code=$?
    [ "$code" = 1 ] || fail "no control-plane node with a working Kubernetes API could tell whether its old Node object exists; not switched (k3s could refuse it, or it could split the cluster)"
  fi
}

# reconcile_labels_taints: --node-label/--node-taint apply only when a Node registers (k3s docs "Node
# Labels and Taints"), so the description's labels and taints are applied to the Node object through
# a peer: set with --overwrite, and those this project set earlier (annotations nico-cluster/labels and
# nico-cluster/taints) but no longer wants are removed. Labels and taints it never set are left alone.
# node_api_run COMMAND: a server (just seen ready) answers for itself; a worker through a peer.
node_api_run() { if [ "$NICO_ROLE" = worker ]; then api_run "$1"; else ssh_node "$1" </dev/null; fi; }
reconcile_labels_taints() {
  prev=$(node_api_run "$(kubectl_cmd get) node $(q "$node") -o 'jsonpath={.metadata.annotations.nico-cluster/labels}'; echo; $(kubectl_cmd get) node $(q "$node") -o 'jsonpath={.metadata.annotations.nico-cluster/taints}'; echo") ||
    fail "ready, but no control-plane node with a working API could read its Node's labels and taints"
  prev_labels=$(printf '%s\n' "$prev" | sed -n 1p | tr ',' ' ')
  prev_taints=$(printf '%s\n' "$prev" | sed -n 2p | tr ',' ' ')
  want_labels=$(printf '%s\n' "${NICO_LABELS:-}" | sed '/^$/d')
  want_taints=$(printf '%s\n' "${NICO_TAINTS:-}" | sed '/^$/d')
  # A taint is identified by its key and effect: key[=value]:Effect -> key:Effect.
  want_ids=$(printf '%s\n' "$want_taints" | sed 's/=[^:]*:/:/')
  cmd=""
  args=""
  for l in $want_labels; do args="$args $(q "$l")"; done
  for key in $prev_labels; do
    printf '%s\n' "$want_labels" | grep -q "^$key=" || args="$args $(q "$key-")"
  done
  [ -z "$args" ] || cmd="$(kubectl_cmd label) node $(q "$node") --overwrite$args >/dev/null && "
  for id in $prev_taints; do
    # Removing a taint someone already removed is not an error here.
    printf '%s\n' "$want_ids" | grep -qxF "$id" || cmd="$cmd { $(kubectl_cmd taint) node $(q "$node") $(q "$id-") >/dev/null 2>&1 || true; } && "
  done
  args=""
  for t in $want_taints; do args="$args $(q "$t")"; done
  [ -z "$args" ] || cmd="$cmd$(kubectl_cmd taint) node $(q "$node") --overwrite$args >/dev/null && "
  labels_note=$(printf '%s\n' "$want_labels" | sed '/^$/d; s/=.*//' | paste -sd , -)
  taints_note=$(printf '%s\n' "$want_ids" | sed '/^$/d' | paste -sd , -)
  cmd="$cmd$(kubectl_cmd annotate) node $(q "$node") --overwrite $(q "nico-cluster/labels=$labels_note") $(q "nico-cluster/taints=$taints_note") >/dev/null"
  node_api_run "$cmd" || fail "ready, but its labels and taints could not be applied to its Node object (see above)"
}

deploy() {
  if [ "$NICO_GONE" = true ]; then
    say "marked gone: not deployed"
    return 0
  fi
  check_connection
  # A node that already runs this cluster's configuration is a member: a redeploy drains it first.
  if [ "$(ssh_node cat /var/lib/nico/deployed 2>/dev/null </dev/null)" = "$NICO_CLUSTER_ID" ]; then member=member; else member=new; fi
  has_state=$(ssh_node "if [ -e $(k3s_state_dir) ]; then echo yes; else echo no; fi" </dev/null) || fail "lost the connection while looking at its k3s state"
  fetch_cluster_lock
  take_turn "$member"
  drained=""
  if [ "$member" = member ] && [ "$has_state" = yes ] && [ -n "${NICO_PEERS:-}" ]; then
    say "cordoning and draining (at most ${NICO_DRAIN_TIMEOUT}s) before the switch"
    kubectl_peer cordon >/dev/null || fail "could not cordon it through another control-plane node"
    drained=1
  fi
  # Cordoned while no failure of this apply was known (take_turn holds the apply's mutex until here).
  mutex_release
  # A node with k3s state cordons above, one without may rejoin here: never both.
  if [ "$NICO_ROLE" = init ]; then decide_cluster_exists; else cluster_exists=1; fi
  if [ "$has_state" = no ] && [ -n "$cluster_exists" ]; then rejoin_if_known; fi
  if [ -n "$drained" ]; then
    if ! said=$(api_run "$(kubectl_cmd drain $((NICO_DRAIN_TIMEOUT + KUBECTL_TIMEOUT * 2))) --ignore-daemonsets --delete-emptydir-data --timeout=${NICO_DRAIN_TIMEOUT}s $(q "$node") 2>&1"); then
      kubectl_peer uncordon >/dev/null || true
      printf '%s\n' "$said" | sed '/^$/d; s/^/  kubectl: /' >&2
      fail "the drain did not finish, kubectl said: $(printf '%s\n' "$said" | grep -m1 -i 'error' | cut -c1-300); not switched, uncordoned again"
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
  # Back in service: the next node may take this turn while the labels are set.
  turn_release
  reconcile_labels_taints
}
