# shellcheck shell=sh
# The lab's cluster model: what a real k3s cluster keeps in etcd and what each k3s process is doing,
# shared by every node of the lab (the k3s stand-in reads and writes it; the tests read it through
# harness/cluster.ts). Sourced; needs only NICO_TEST_LAB.
#
#   $K3S_MODEL/ids                          one line per etcd cluster ever created: "<id> <node>"
#   $K3S_MODEL/<id>/token                   the token the cluster was created with (its server token)
#   $K3S_MODEL/<id>/members                 etcd members: "<member name> <node name> <peer address>"
#   $K3S_MODEL/<id>/secrets/<node>.node-password.k3s   the node password secret (a hash of it)
#   $K3S_MODEL/<id>/nodes/<node>/           the Node object: role, unschedulable (true|false),
#                                           labels, annotations ("key=value" lines), taints
#                                           ("key[=value]:Effect" lines)
#   $K3S_MODEL/<id>/pods/<node>             pods a test put on the node: "<ns>/<name> <owner kind|none>"
#   $K3S_MODEL/<id>/resets                  one line per cluster reset: "<id> <node> <restored snapshot>"
#   $NICO_TEST_LAB/s3/<bucket>/<folder>/<name>  the lab's S3: snapshots saved with --etcd-s3
#   $K3S_MODEL/proc/<node>                  the node's k3s process: "<state> <cluster id> <instance> <message>"
#                                           state: running (registered), failed, rejected, unregistered,
#                                           stopped (the unit is stopped, or k3s exited after a reset)
#
# On the node's own disk (its private mounts), as k3s keeps them:
#   /var/lib/rancher/k3s/server/db/etcd/name and .../member/wal   (pkg/etcd/etcd.go setName, IsInitialized)
#   /etc/rancher/node/password                                     (the agent's node password)
#   /var/lib/rancher/k3s/standin-instance   which process record belongs to this disk: a wiped or
#                                           reinstalled disk never matches, so its old process is dead.
K3S_MODEL="${NICO_TEST_LAB:?is not set}/k3s"
K3S_LOCK="$K3S_MODEL/.lock"
mkdir -p "$K3S_MODEL/proc"

# One writer at a time for the whole model (nodes deploy in parallel).
model_lock() { exec 8>>"$K3S_LOCK" && flock 8; }
model_unlock() { flock -u 8 2>/dev/null || true; }

# The readers below use shell builtins only: they run several times in every k3s and kubectl call of
# the lab (readiness polls included), where a process per read was a good part of the suite's CPU.

# node_control <node> <key>: a value from that node's control file (its last line for the key).
node_control() {
  [ -f "$NICO_TEST_LAB/nodes/$1/control" ] || return 0
  nc_value=""
  while IFS= read -r nc_line || [ -n "$nc_line" ]; do
    case $nc_line in "$2="*) nc_value=${nc_line#"$2="} ;; esac
  done <"$NICO_TEST_LAB/nodes/$1/control"
  [ -z "$nc_value" ] || printf '%s\n' "$nc_value"
}

# proc_field <node> <1-4>: a field of the node's process record (empty when it never started); 4 is
# the rest of the line (a message). proc_record writes no empty field ("-" for no cluster).
proc_field() {
  [ -f "$K3S_MODEL/proc/$1" ] || return 0
  read -r pf_1 pf_2 pf_3 pf_4 <"$K3S_MODEL/proc/$1" || [ -n "$pf_1" ] || return 0
  case $2 in 1) printf '%s\n' "$pf_1" ;; 2) printf '%s\n' "$pf_2" ;; 3) printf '%s\n' "$pf_3" ;; *) printf '%s\n' "$pf_4" ;; esac
}

# node_disk <node> <sh script>: runs a script in that node's own view of its disk (its mount namespace).
node_disk() {
  nd_pid=""
  [ -f "$NICO_TEST_LAB/nodes/$1/sshd.pid" ] || return 1
  read -r nd_pid <"$NICO_TEST_LAB/nodes/$1/sshd.pid" || [ -n "$nd_pid" ] || return 1
  nsenter -t "$nd_pid" -m /bin/sh -c "$2" </dev/null 2>/dev/null
}

# process_alive <node>: its k3s process runs: started on the disk it still has (not wiped, not
# reinstalled, not switched to #minimal), its system not broken, its API not stopped by the test.
process_alive() {
  pa_instance=$(proc_field "$1" 3)
  [ -n "$pa_instance" ] || return 1
  # Stopped (systemctl stop, or exited after a cluster reset): no process until the unit starts.
  [ "$(proc_field "$1" 1)" != stopped ] || return 1
  [ ! -e "$NICO_TEST_LAB/nodes/$1/control.broken" ] || return 1
  [ "$(node_control "$1" apiDown)" != true ] || return 1
  [ "$(node_disk "$1" 'cat /var/lib/rancher/k3s/standin-instance')" = "$pa_instance" ]
}

# registered <node>: the process runs and its Node object is registered (Ready).
registered() { [ "$(proc_field "$1" 1)" = running ] && process_alive "$1"; }

# node_ready <id> <node>: the Node object's Ready condition. The kubelet posts Ready only while it
# runs and is registered with this cluster; a Node whose kubelet stopped posting is not Ready.
node_ready() {
  [ -d "$K3S_MODEL/$1/nodes/$2" ] && [ "$(proc_field "$2" 2)" = "$1" ] && registered "$2"
}

# has_quorum <id>: more than half of the cluster's etcd members run (etcd's raft quorum).
has_quorum() {
  hq_total=0 hq_alive=0
  [ -f "$K3S_MODEL/$1/members" ] || return 1
  while read -r _m m_node _a; do
    hq_total=$((hq_total + 1))
    if [ "$(proc_field "$m_node" 2)" = "$1" ] && process_alive "$m_node"; then hq_alive=$((hq_alive + 1)); fi
  done <"$K3S_MODEL/$1/members"
  [ "$hq_total" -gt 0 ] && [ $((hq_alive * 2)) -gt "$hq_total" ]
}

# live_clusters: ids of clusters with a running server, oldest first.
live_clusters() {
  [ -f "$K3S_MODEL/ids" ] || return 0
  while read -r lc_id _n; do
    while read -r _m m_node _a; do
      if [ "$(proc_field "$m_node" 2)" = "$lc_id" ] && registered "$m_node"; then echo "$lc_id"; break; fi
    done <"$K3S_MODEL/$lc_id/members"
  done <"$K3S_MODEL/ids"
}

# password_hash <password>: what the node-password secret stores (k3s keeps an scrypt hash).
password_hash() { printf '%s' "$1" | sha256sum | cut -d ' ' -f 1; }
