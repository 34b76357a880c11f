# shellcheck shell=sh
# `k3s server|agent <flags>`: one start of the node's k3s service, as systemd runs its ExecStart
# after a switch (the stand-in nixos-rebuild calls it with the flags the node's configuration gives
# k3s). It decides, as k3s does, whether this start creates a cluster, restarts a member, joins, or
# is refused, and records the outcome in the cluster model (k3s-model.sh). A refused start is a
# k3s that keeps failing under Restart=always: the service "runs" but the node never gets Ready.
# Sourced by the k3s stand-in after lib/standin.sh and lib/k3s-model.sh.

K3S_DATA=/var/lib/rancher/k3s
ETCD_DIR=$K3S_DATA/server/db/etcd

k3s_service() {
  svc_role=$1
  shift
  cluster_init=false server_url="" token_file="" node_ip="" svc_labels="" svc_taints="" data_dir=$K3S_DATA
  while [ $# -gt 0 ]; do
    # Both `--flag value` and `--flag=value`, as k3s's CLI (urfave/cli) accepts.
    case $1 in
    --*=*) f=${1%%=*} v=${1#*=} ;;
    --cluster-init) f=$1 v="" ;;
    --*) f=$1 v=${2:-}; shift ;;
    *) f="" v="" ;;
    esac
    case $f in
    --cluster-init) cluster_init=true ;;
    --server | -s) server_url=$v ;;
    --token-file) token_file=$v ;;
    --node-ip | -i) node_ip=$v ;;
    --node-label) svc_labels="$svc_labels$v
" ;;
    --node-taint) svc_taints="$svc_taints$v
" ;;
    --data-dir | -d) data_dir=$v ;;
    esac
    shift
  done
  me=$NICO_TEST_NODE
  token=$(cat "$token_file" 2>/dev/null || true)
  instance=$(od -An -N6 -tx1 /dev/urandom | tr -d ' \n')
  mkdir -p "$K3S_DATA"
  printf '%s\n' "$instance" >"$K3S_DATA/standin-instance"
  model_lock
  if [ "$svc_role" = server ]; then k3s_server_start; else k3s_agent_start; fi
}

# proc_record <state> <cluster id|-> <message>: what this start came to.
proc_record() { printf '%s %s %s %s\n' "$1" "$2" "$instance" "$3" >"$K3S_MODEL/proc/$me"; }

# refuse <cluster id|-> <message>: the start fails as k3s logs it; the unit keeps restarting.
refuse() {
  proc_record failed "$1" "$2"
  model_unlock
  STANDIN_EXTRA=",\"k3s\":{\"state\":\"failed\",\"cluster\":$(json_strs "$1")}"
  echo "stand-in k3s on $me: $2" >&2
  finish 0
}

# target_cluster: the cluster behind --server (the VIP); the start waits (fails and restarts) while
# none answers. A lab may run several test clusters behind one VIP address (one per Terraform stack):
# the one made with this token is meant, else the oldest running one (which then refuses the token).
target_cluster() {
  target=""
  for c in $(live_clusters); do
    if [ "$(cat "$K3S_MODEL/$c/token")" = "$token" ]; then target=$c; break; fi
  done
  [ -n "$target" ] || target=$(live_clusters | head -n 1)
  [ -n "$target" ] || refuse - "level=error msg=\"failed to get CA certs: Get \\\"$server_url/cacerts\\\": dial tcp: connect: connection refused\""
  # pkg/cluster/bootstrap.go shouldBootstrapLoad (joining) -> pkg/clientaccess/token.go
  # ParseAndValidateTokenForUser: a token is required, its CA hash must match the cluster's CA, and
  # its password must be the cluster's (else the server answers 401).
  [ -n "$token" ] || refuse - "level=fatal msg=\"K3S_TOKEN is required to join a cluster\""
  if [ "$token" != "$(cat "$K3S_MODEL/$target/token")" ]; then
    case $token in
    K10*::*) [ "${token%%::*}" = "$(cut -d : -f 1 "$K3S_MODEL/$target/token")" ] ||
      refuse - "level=fatal msg=\"Failed to validate connection to cluster at $server_url: token CA hash does not match the Cluster CA certificate hash\"" ;;
    esac
    refuse - "level=fatal msg=\"Failed to validate connection to cluster at $server_url: failed to get CA certs: https://127.0.0.1:6443/cacerts: 401 Unauthorized\""
  fi
}

k3s_server_start() {
  if [ -d "$ETCD_DIR/member/wal" ]; then
    # pkg/etcd/etcd.go Start: IsInitialized (a WAL exists) -> restart the existing member, whatever
    # the flags say (--cluster-init and --server are ignored once initialized).
    id=$(cat "$ETCD_DIR/standin-cluster")
    name=$(cat "$ETCD_DIR/name")
    # pkg/etcd/etcd.go Test: a server whose member was removed is "not a member of the etcd cluster".
    # After a cluster reset elsewhere this is how a server that kept its old data ends: k3s's reset
    # says to "Backup and delete ${datadir}/server/db on each peer etcd server" (k3s-cluster-reset.sh).
    grep -q "^$name " "$K3S_MODEL/$id/members" 2>/dev/null ||
      refuse "$id" "level=fatal msg=\"etcd: this server is a not a member of the etcd cluster\""
    # pkg/cluster/storage.go: data restored from a snapshot of another token never opens (k3s-cluster-reset.sh).
    [ ! -e "$ETCD_DIR/standin-token-mismatch" ] ||
      refuse "$id" "level=fatal msg=\"bootstrap data already found and encrypted with different token\""
    # pkg/cluster/managed.go Cluster.start: the first start after a reset removes the reset-flag and
    # (deleteNodePasswdSecret) this node's password secret, which the restored snapshot may hold stale.
    if [ -e "$K3S_DATA/server/db/reset-flag" ]; then rm -f "$K3S_DATA/server/db/reset-flag" "$K3S_MODEL/$id/secrets/$me.node-password.k3s"; fi
  elif [ -z "$server_url" ]; then
    # pkg/cluster/bootstrap.go shouldBootstrapLoad: not initialized and no join URL -> "Managed etcd
    # cluster initializing": pkg/etcd/etcd.go newCluster starts a NEW etcd cluster of one member,
    # whether or not another cluster already runs with the same name and CAs. (Without
    # --cluster-init k3s would use kine/sqlite: a datastore of its own, just as separate.)
    id=$(od -An -N4 -tx1 /dev/urandom | tr -d ' \n')
    printf '%s %s\n' "$id" "$me" >>"$K3S_MODEL/ids"
    mkdir -p "$K3S_MODEL/$id/nodes" "$K3S_MODEL/$id/secrets" "$K3S_MODEL/$id/pods"
    printf '%s\n' "$token" >"$K3S_MODEL/$id/token"
    : >"$K3S_MODEL/$id/members"
    k3s_new_member
  else
    target_cluster
    id=$target
    # pkg/etcd/etcd.go setName: a new member name "<node>-<8 hex>" for an uninitialized data dir.
    # pkg/etcd/etcd.go join: refused while a member of another name has this node name.
    while read -r m_name m_node _a; do
      if [ "$m_node" = "$me" ]; then
        refuse "$id" "level=fatal msg=\"ETCD join failed: duplicate node name found, please use a unique name for this node\""
      fi
      : "$m_name"
    done <"$K3S_MODEL/$id/members"
    # MemberAddAsLearner is a raft proposal: it needs quorum.
    has_quorum "$id" || refuse "$id" "level=fatal msg=\"ETCD join failed: etcdserver: request timed out\""
    k3s_new_member
  fi
  k3s_register
}

k3s_new_member() {
  name="$me-$(od -An -N4 -tx1 /dev/urandom | tr -d ' \n')"
  mkdir -p "$ETCD_DIR/member/wal"
  printf '%s\n' "$name" >"$ETCD_DIR/name"
  printf '%s\n' "$id" >"$ETCD_DIR/standin-cluster"
  printf '%s %s %s\n' "$name" "$me" "${node_ip:-unknown}" >>"$K3S_MODEL/$id/members"
}

k3s_agent_start() {
  # An agent joins through --server; pkg/cli/agent: "--server is required".
  [ -n "$server_url" ] || refuse - "level=fatal msg=\"--server is required\""
  if [ -f "$K3S_DATA/agent/standin-cluster" ]; then id=$(cat "$K3S_DATA/agent/standin-cluster"); else
    target_cluster
    id=$target
  fi
  k3s_register
}

# k3s_register: the kubelet's node registration and its node password.
k3s_register() {
  # pkg/agent/config/config.go ensureNodePassword: a random password kept in /etc/rancher/node/password.
  if [ ! -s /etc/rancher/node/password ]; then
    mkdir -p /etc/rancher/node
    (umask 077 && od -An -N16 -tx1 /dev/urandom | tr -d ' \n' >/etc/rancher/node/password)
  fi
  hash=$(password_hash "$(cat /etc/rancher/node/password)")
  secret="$K3S_MODEL/$id/secrets/$me.node-password.k3s"
  # pkg/nodepassword/nodepassword.go Ensure -> verifyHash: the secret of a live Node must match;
  # the agent is refused and retries forever (pkg/agent/config "Node password rejected").
  if [ -f "$secret" ] && [ "$(cat "$secret")" != "$hash" ]; then
    proc_record rejected "$id" "Node password rejected, duplicate hostname or contents of '/etc/rancher/node/password' may not match server node-password entry, try enabling a unique node name with the --with-node-id flag"
    model_unlock
    STANDIN_EXTRA=",\"k3s\":{\"state\":\"rejected\",\"cluster\":$(json_strs "$id")}"
    echo "stand-in k3s on $me: Node password rejected" >&2
    finish 0
  fi
  printf '%s\n' "$hash" >"$secret"
  obj="$K3S_MODEL/$id/nodes/$me"
  if [ ! -d "$obj" ]; then
    # Registration: --node-label and --node-taint apply here and only here (docs.k3s.io
    # "Node Labels and Taints": "only add labels and/or taints at registration time").
    mkdir -p "$obj"
    printf '%s\n' "$svc_role" >"$obj/role"
    echo false >"$obj/unschedulable"
    {
      printf '%s' "$svc_labels"
      # pkg/node (k3s's own role labels on servers).
      [ "$svc_role" = server ] && printf '%s\n' node-role.kubernetes.io/control-plane=true node-role.kubernetes.io/master=true node-role.kubernetes.io/etcd=true
    } | sed '/^$/d' >"$obj/labels"
    printf '%s' "$svc_taints" | sed '/^$/d' >"$obj/taints"
    : >"$obj/annotations"
  fi
  if [ "$svc_role" = server ]; then
    # pkg/etcd/metadata_controller.go: the member name and address a later delete removes.
    sed -i '/^etcd\.k3s\.cattle\.io\/node-name=/d; /^etcd\.k3s\.cattle\.io\/node-address=/d' "$obj/annotations"
    printf 'etcd.k3s.cattle.io/node-name=%s\netcd.k3s.cattle.io/node-address=%s\n' "$(cat "$ETCD_DIR/name")" "${node_ip:-unknown}" >>"$obj/annotations"
  else
    mkdir -p "$K3S_DATA/agent"
    printf '%s\n' "$id" >"$K3S_DATA/agent/standin-cluster"
    : >"$K3S_DATA/agent/kubelet.kubeconfig"
  fi
  proc_record running "$id" registered
  model_unlock
  STANDIN_EXTRA=",\"k3s\":{\"state\":\"running\",\"cluster\":$(json_strs "$id")}"
  finish 0
}
