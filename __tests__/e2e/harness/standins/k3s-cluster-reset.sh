# shellcheck shell=sh
# `k3s server <flags> --cluster-reset [--cluster-reset-restore-path=<snapshot>]`: a foreground run of
# k3s that resets the etcd membership to this one server, restoring a snapshot first when asked,
# and exits; refusals as k3s's. Sourced by the k3s stand-in (after lib/standin.sh and
# lib/k3s-model.sh) for any `server` call that names a --cluster-reset flag. What k3s does, and where:
#
#   pkg/cli/server/server.go (run): --cluster-reset-restore-path without --cluster-reset is refused
#     ("invalid flag use; --cluster-reset required with --cluster-reset-restore-path"), also on a
#     plain start of the unit; with both, the S3 settings (--etcd-s3 ...) are read even when
#     scheduled snapshots are off, and the keys come from AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY.
#   pkg/cluster/managed.go (Cluster.start): with a restore path, reset whatever the reset-flag says;
#     without one, refuse while <data-dir>/server/db/reset-flag exists ("Managed etcd cluster
#     membership was previously reset, ...").
#   pkg/etcd/etcd.go (ETCD.Reset): with --etcd-s3 the snapshot is first downloaded from S3 (the name
#     is a key under --etcd-s3-folder: pkg/etcd/s3/s3.go Client.Download, path.Join(folder, name),
#     into the snapshot directory); "etcd: snapshot path does not exist: <path>" / "must be a file,
#     not a directory"; Restore replaces the etcd data dir (the old one moved to etcd-old-<time>);
#     setName(true) gives the member a new name; the reset-flag is written; etcd starts as a new
#     one-member cluster; once it runs alone, k3s logs "Managed etcd cluster membership has been
#     reset, restart without --cluster-reset flag now. Backup and delete ${datadir}/server/db on each
#     peer etcd server and rejoin the nodes" and exits 0.
#   pkg/cluster/storage.go (getBootstrapKeyFromStorage, via the rebootstrap of Reset): the bootstrap
#     data in the snapshot is encrypted with the token it was taken with; another token is fatal
#     ("bootstrap data already found and encrypted with different token"), after the data dir was
#     already replaced: the node then keeps failing the same way until its old data is put back.
#   The snapshot is the whole keyspace: Node objects, pods, node-password secrets, but not the etcd
#     membership (raft state, which the reset rewrites). The stand-in's snapshot file is a tar of the
#     cluster model's keyspace and a hash of the token's password (k3s-etcd-snapshot.sh).
#   A server that still has the data of before the reset is no member of the reset cluster: on its
#     next start it is refused (k3s-service.sh, "not a member of the etcd cluster", pkg/etcd/etcd.go
#     Test), which is why the others must have their db deleted before they rejoin.

K3S_DATA=/var/lib/rancher/k3s
ETCD_DIR=$K3S_DATA/server/db/etcd

k3s_cluster_reset() {
  shift # server
  reset=false restore="" s3=false bucket="" folder="" snapdir="" token_file="" node_ip=""
  while [ $# -gt 0 ]; do
    case $1 in
    --*=*) f=${1%%=*} v=${1#*=} ;;
    --cluster-reset | --cluster-init | --etcd-s3 | --etcd-s3-insecure | --etcd-s3-skip-ssl-verify | --disable-*) f=$1 v=true ;;
    # A flag followed by another flag (or nothing) is a boolean one.
    --*) f=$1; case ${2:-} in -* | '') v=true ;; *) v=$2; shift ;; esac ;;
    *) f="" v="" ;;
    esac
    case $f in
    --cluster-reset) reset=$v ;;
    --cluster-reset-restore-path) restore=$v ;;
    --etcd-s3) s3=$v ;;
    --etcd-s3-bucket) bucket=$v ;;
    --etcd-s3-folder) folder=$v ;;
    --etcd-snapshot-dir) snapdir=$v ;;
    --token-file) token_file=$v ;;
    --node-ip | -i) node_ip=$v ;;
    esac
    shift
  done
  me=$NICO_TEST_NODE
  # pkg/cli/server/server.go run.
  if [ -n "$restore" ] && [ "$reset" != true ]; then
    finish 1 'level=fatal msg="Error: invalid flag use; --cluster-reset required with --cluster-reset-restore-path"'
  fi
  [ "$reset" = true ] || finish 1 'level=fatal msg="Error: --cluster-reset=false is not modelled"'
  # The supervisor and etcd ports are held while the node's own k3s runs (pkg/cluster/https.go).
  if process_alive "$me"; then
    finish 1 'level=fatal msg="Error: starting kubernetes: preparing server: init cluster datastore and https: listen tcp :6443: bind: address already in use"'
  fi
  [ -f "$ETCD_DIR/standin-cluster" ] || finish 2 "error: stand-in k3s: a cluster reset of a server that never ran etcd is not modelled"
  id=$(cat "$ETCD_DIR/standin-cluster")
  token=$(cat "$token_file" 2>/dev/null || true)
  snapdir=${snapdir:-$K3S_DATA/server/db/snapshots}
  model_lock
  if [ -z "$restore" ]; then
    # pkg/cluster/managed.go Cluster.start.
    if [ -e "$K3S_DATA/server/db/reset-flag" ]; then
      model_unlock
      finish 1 "level=fatal msg=\"Error: starting kubernetes: preparing server: start managed database: Managed etcd cluster membership was previously reset, please remove the cluster-reset flag and start k3s normally. If you need to perform another cluster reset, you must first manually delete the $K3S_DATA/server/db/reset-flag file\""
    fi
  else
    if [ "$s3" = true ]; then
      # pkg/etcd/s3/s3.go Client.Download: the key is <folder>/<name>; the file lands in the snapshot dir.
      [ -n "$bucket" ] || { model_unlock; finish 1 'level=fatal msg="Error: starting kubernetes: preparing server: start managed database: failed to initialize S3 client: s3 bucket name was not set"'; }
      name=${restore##*/}
      object="$NICO_TEST_LAB/s3/$bucket/${folder:+$folder/}$name"
      echo "level=info msg=\"Retrieving etcd snapshot $restore from S3\"" >&2
      [ -f "$object" ] || { model_unlock; finish 1 "level=fatal msg=\"Error: starting kubernetes: preparing server: start managed database: The specified key does not exist.\""; }
      mkdir -p "$snapdir"
      cp "$object" "$snapdir/$name"
      restore="$snapdir/$name"
    fi
    [ -e "$restore" ] || { model_unlock; finish 1 "level=fatal msg=\"Error: starting kubernetes: preparing server: start managed database: etcd: snapshot path does not exist: $restore\""; }
    [ ! -d "$restore" ] || { model_unlock; finish 1 "level=fatal msg=\"Error: starting kubernetes: preparing server: start managed database: etcd: snapshot path must be a file, not a directory: $restore\""; }
    work=$(mktemp -d)
    tar -xzf "$restore" -C "$work" 2>/dev/null || { rm -rf "$work"; model_unlock; finish 1 "level=fatal msg=\"Error: starting kubernetes: preparing server: start managed database: snapshot restore failed: invalid database\""; }
    # ETCD.Restore: the data dir is replaced before the bootstrap data is read.
    old="$ETCD_DIR-old-$(date +%s)"
    mv "$ETCD_DIR" "$old"
    mkdir -p "$ETCD_DIR/member/wal"
    cp "$old/standin-cluster" "$old/name" "$ETCD_DIR/"
    if [ "$(cat "$work/token-hash")" != "$(password_hash "${token##*:}")" ]; then
      # pkg/cluster/storage.go: the restored bootstrap data does not open with this token.
      : >"$ETCD_DIR/standin-token-mismatch"
      rm -rf "$work"
      model_unlock
      finish 1 'level=fatal msg="bootstrap data already found and encrypted with different token"'
    fi
    # The keyspace of the cluster is now the snapshot's: whatever was written after it is gone.
    rm -rf "$K3S_MODEL/$id/nodes" "$K3S_MODEL/$id/pods" "$K3S_MODEL/$id/secrets"
    for part in nodes pods secrets; do
      if [ -d "$work/$part" ]; then cp -R "$work/$part" "$K3S_MODEL/$id/$part"; else mkdir -p "$K3S_MODEL/$id/$part"; fi
    done
    rm -rf "$work"
  fi
  # ETCD.Reset: a new member name, the reset-flag, a cluster of this member alone.
  name="$me-$(od -An -N4 -tx1 /dev/urandom | tr -d ' \n')"
  printf '%s\n' "$name" >"$ETCD_DIR/name"
  printf '%s %s %s\n' "$name" "$me" "${node_ip:-unknown}" >"$K3S_MODEL/$id/members"
  : >"$K3S_DATA/server/db/reset-flag"
  printf '%s %s %s\n' "$id" "$me" "${restore:-membership only}" >>"$K3S_MODEL/$id/resets"
  # k3s exits after the reset: no k3s process runs on this node until the unit is started again.
  printf 'stopped %s %s %s\n' "$id" "$(cat "$K3S_DATA/standin-instance" 2>/dev/null || echo none)" "exited after a cluster reset" >"$K3S_MODEL/proc/$me"
  model_unlock
  echo 'level=info msg="Managed etcd cluster membership has been reset, restart without --cluster-reset flag now. Backup and delete ${datadir}/server/db on each peer etcd server and rejoin the nodes"' >&2
  STANDIN_EXTRA=",\"reset\":{\"cluster\":$(json_strs "$id"),\"restorePath\":$(json_strs "$restore")}"
  finish 0
}
