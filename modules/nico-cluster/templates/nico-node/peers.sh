# peers.sh: what is done through the other control-plane nodes (kubectl, the flake lock).

# Every kubectl call is bounded: an API that hangs (etcd without quorum: a Node delete whose etcd
# member removal cannot finish, k3s#2669) must fail the step, never hang it. KUBECTL_TIMEOUT bounds one
# request; the remote `timeout` bounds a whole command (a delete waits for its finalizers).
KUBECTL_TIMEOUT=15
# kubectl_cmd VERB [SECONDS]: the bounded kubectl command line up to its verb (a drain passes its own
# whole bound).
kubectl_cmd() { printf 'timeout %s k3s kubectl %s --request-timeout=%ss' "${2:-$((KUBECTL_TIMEOUT * 4))}" "$1" "$KUBECTL_TIMEOUT"; }

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

# api_run COMMAND: runs COMMAND on the first other control-plane node that answers SSH AND whose
# Kubernetes API is ready; a peer whose k3s is down is skipped like one that does not answer. Returns
# COMMAND's status, or 254 when no peer had a working API (the reasons are printed on stderr).
api_run() {
  [ -n "${NICO_PEERS:-}" ] || { echo "  no other control-plane node to ask" >&2; return 254; }
  printf '%s\n' "$NICO_PEERS" >"$work/api-peers"
  while read -r p_name p_host p_port p_key; do
    [ -n "$p_name" ] || continue
    pin "$p_name" "$p_host" "$p_port" "$p_key"
    if ssh_to "$p_host" "$p_port" "$p_key" "$(kubectl_cmd get) --raw /readyz >/dev/null 2>&1 || exit 254; $1" </dev/null; then
      return 0
    else
      code=$?
      case $code in
      255) echo "  $p_name: no SSH connection" >&2 ;;
      254) echo "  $p_name: its Kubernetes API is not ready" >&2 ;;
      *) return "$code" ;;
      esac
    fi
  done <"$work/api-peers"
  return 254
}

# kubectl_peer ARGS...: `k3s kubectl ARGS... <node>` (bounded) through a peer with a working API.
kubectl_peer() {
  verb=$1
  shift
  api_run "$(kubectl_cmd "$verb") $* $(q "$node")"
}

# node_object_exists: 0 when the cluster has a Node object of this name, 1 when it has none, 254
# when no control-plane node could tell.
node_object_exists() {
  if out=$(api_run "$(kubectl_cmd get) node $(q "$node") --ignore-not-found -o name"); then
    [ -n "$out" ]
    return
  else
    return 254
  fi
}

# drain_and_delete drain|forget: through another control-plane node with a working API, so that it
# works for workers (which hold no admin credentials) and for a node that is already gone. Deleting
# the Node object makes k3s remove a server's etcd member and the node's password secret; the step
# returns 0 only once the Node is confirmed gone (then so is its member), 1 otherwise.
drain_and_delete() {
  if [ "$1" = drain ]; then
    say "draining (at most ${NICO_DRAIN_TIMEOUT}s) and deleting its Node object through another control-plane node"
    drain="$(kubectl_cmd drain $((NICO_DRAIN_TIMEOUT + KUBECTL_TIMEOUT * 2))) $(q "$node") --ignore-daemonsets --delete-emptydir-data --timeout=${NICO_DRAIN_TIMEOUT}s >&2 || echo 'nico: $node: the drain did not finish (kubectl said so above); deleting the node anyway' >&2;"
  else
    say "deleting its Node object through another control-plane node (the machine is gone)"
    drain=""
  fi
  # KUBECTL_TIMEOUT bounds each request; the drain's own --timeout needs its own room.
  if api_run "$drain $(kubectl_cmd delete) node $(q "$node") --ignore-not-found --timeout=$((KUBECTL_TIMEOUT * 3))s >&2 && [ -z \"\$($(kubectl_cmd get) node $(q "$node") --ignore-not-found -o name)\" ]"; then
    say "its Node object is deleted (and with it a server's etcd member)"
    return 0
  fi
  say "no other control-plane node could delete its Node object (see above)"
  return 1
}
