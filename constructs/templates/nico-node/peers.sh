# peers.sh: what is done through the other control-plane nodes (kubectl, the flake lock).

# peers_run COMMAND: runs COMMAND on the first reachable other control-plane node; prints its name
# on stderr. Returns 1 when none could be reached.
peers_run() {
  [ -n "${NICO_PEERS:-}" ] || return 1
  printf '%s\n' "$NICO_PEERS" >"$work/peers"
  while read -r p_name p_host p_port p_key; do
    [ -n "$p_name" ] || continue
    pin "$p_name" "$p_host" "$p_port" "$p_key"
    if ssh_to "$p_host" "$p_port" "$p_key" "$1" </dev/null; then
      return 0
    else
      code=$?
      [ "$code" = 255 ] || return "$code"
    fi
  done <"$work/peers"
  return 1
}

# kubectl_peer ARGS...: `k3s kubectl ARGS... <node>` on the first reachable other control-plane node.
kubectl_peer() { peers_run "k3s kubectl $* $(q "$node")"; }

# drain_and_delete drain|forget: through another control-plane node, so that it works for workers
# (which hold no admin credentials) and for a node that is already gone. Deleting the Node object
# makes k3s remove a server's etcd member.
drain_and_delete() {
  if [ "$1" = drain ]; then
    say "draining (at most ${NICO_DRAIN_TIMEOUT}s) and deleting its Node object through another control-plane node"
    drain="k3s kubectl drain $(q "$node") --ignore-daemonsets --delete-emptydir-data --timeout=${NICO_DRAIN_TIMEOUT}s || echo 'nico: $node: drain did not finish within ${NICO_DRAIN_TIMEOUT}s; deleting the node anyway' >&2;"
  else
    say "deleting its Node object through another control-plane node (the machine is gone)"
    drain=""
  fi
  if ! peers_run "$drain k3s kubectl delete node $(q "$node") --ignore-not-found"; then
    say "no other control-plane node answered: the Node object stays (delete it with kubectl if the cluster lives on)"
  fi
}
