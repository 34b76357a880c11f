# shellcheck shell=sh
# Stand-in for `k3s etcd-snapshot ...`, sourced by the k3s stand-in after standin_begin (so every
# call is recorded). It models `save` as k3s does it, refusals included; ls/delete/prune are recorded
# and succeed. What k3s does, and where:
#   pkg/cli/cmds/etcd_snapshot.go (EtcdSnapshotFlags): the flags, each also under its "etcd-"
#     name: --name (default "on-demand"), --dir/--etcd-snapshot-dir, --s3/--etcd-s3,
#     --s3-bucket, --s3-endpoint, --s3-endpoint-ca, --s3-region, --s3-folder; the keys from
#     AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY. urfave/cli refuses any other flag.
#   pkg/etcd/snapshot_handler.go (handleSave, withRequest): the running server saves, with the S3
#     settings of the request only; an S3 client that cannot start fails the request.
#   pkg/etcd/snapshot.go (ETCD.Snapshot): the file is "<name>-<node name>-<unix time>" in the
#     snapshot directory; the CLI prints "Snapshot <name> saved." for each copy made.
#   pkg/etcd/s3/s3.go: S3 needs a bucket, and reads the endpoint CA file.
# A node's control file `<control>.etcd-snapshot` holding "fail" makes every save fail.
shift # etcd-snapshot
sub=${1:-}
[ $# -gt 0 ] && shift
case $sub in
save) ;;
ls | list | l | delete | prune) finish 0 ;;
*) finish 1 "Incorrect Usage: no such subcommand: $sub" ;;
esac

name=on-demand dir="" s3=false bucket="" endpoint=s3.amazonaws.com region=us-east-1 folder="" ca=""
while [ $# -gt 0 ]; do
  flag=${1%%=*}
  case $1 in *=*) value=${1#*=} inline=1 ;; *) value=${2:-} inline="" ;; esac
  case $flag in
  --s3 | --etcd-s3) s3=true; shift; continue ;;
  --name | --dir | --etcd-snapshot-dir | --s3-bucket | --etcd-s3-bucket | --s3-endpoint | --etcd-s3-endpoint | --s3-region | --etcd-s3-region | --s3-folder | --etcd-s3-folder | --s3-endpoint-ca | --etcd-s3-endpoint-ca) ;;
  -*) finish 1 "Incorrect Usage: flag provided but not defined: ${flag#-}" ;;
  *) finish 1 "this command does not take any arguments" ;;
  esac
  case $flag in
  --name) name=$value ;;
  --dir | --etcd-snapshot-dir) dir=$value ;;
  *bucket) bucket=$value ;;
  *endpoint) endpoint=$value ;;
  *region) region=$value ;;
  *folder) folder=$value ;;
  *endpoint-ca) ca=$value ;;
  esac
  if [ -n "$inline" ] || [ $# -lt 2 ]; then shift; else shift 2; fi
done

grep -qx "$NICO_TEST_NODE" "$NICO_TEST_LAB/servers" || finish 1 "etcd-snapshot: etcd database not found in /var/lib/rancher/k3s/server (this node runs no server)"
# The server answers only while its k3s process runs (the lab's cluster model, k3s-model.sh).
process_alive "$NICO_TEST_NODE" || finish 1 "Error: etcd-snapshot: failed to get etcd-snapshot: Post \"https://127.0.0.1:6443/db/snapshot\": dial tcp 127.0.0.1:6443: connect: connection refused"
[ "$(cat "$NICO_TEST_CONTROL.etcd-snapshot" 2>/dev/null)" != fail ] || finish 1 "Error: etcd-snapshot error ID 4821: failed to save snapshot: stand-in failure for $NICO_TEST_NODE"
if [ "$s3" = true ]; then
  [ -n "$bucket" ] || finish 1 "Error: failed to initialize S3 client: s3 bucket name was not set"
  [ -z "$ca" ] || [ -r "$ca" ] || finish 1 "Error: failed to initialize S3 client: open $ca: no such file or directory"
fi

full="$name-$NICO_TEST_NODE-$(date +%s)"
# What a snapshot holds: the cluster's keyspace (Node objects, pods, secrets) and its bootstrap data,
# encrypted with the token (pkg/cluster/storage.go); here a tar of the model's keyspace and a hash
# of the token's password, which a cluster reset restores (k3s-cluster-reset.sh).
id=$(proc_field "$NICO_TEST_NODE" 2)
snapshot_to() {
  model_lock
  st=$(mktemp -d)
  tok=$(cat "$K3S_MODEL/$id/token")
  password_hash "${tok##*:}" >"$st/token-hash"
  for part in nodes pods secrets; do
    if [ -d "$K3S_MODEL/$id/$part" ]; then cp -R "$K3S_MODEL/$id/$part" "$st/"; fi
  done
  tar -czf "$1" -C "$st" .
  rm -rf "$st"
  model_unlock
}
# /var/lib/rancher is this node's own tmpfs; another directory is only recorded.
if [ -z "$dir" ]; then
  mkdir -p /var/lib/rancher/k3s/server/db/snapshots
  snapshot_to "/var/lib/rancher/k3s/server/db/snapshots/$full"
fi
echo "Snapshot $full saved."
secret=""
if [ "$s3" = true ]; then
  # The lab's S3: pkg/etcd/s3/s3.go uploads to <folder>/<name> in the bucket.
  mkdir -p "$NICO_TEST_LAB/s3/$bucket${folder:+/$folder}"
  snapshot_to "$NICO_TEST_LAB/s3/$bucket${folder:+/$folder}/$full"
  echo "Snapshot $full saved."
  # Only a hash of the secret key is recorded: the calls file is test output.
  [ -z "${AWS_SECRET_ACCESS_KEY:-}" ] || secret=$(printf '%s' "$AWS_SECRET_ACCESS_KEY" | sha256sum | cut -c1-64)
fi
STANDIN_EXTRA="$STANDIN_EXTRA,\"snapshot\":{\"name\":$(json_strs "$full"),\"dir\":$(json_strs "$dir"),\"s3\":$s3,\"bucket\":$(json_strs "$bucket"),\"endpoint\":$(json_strs "$endpoint"),\"region\":$(json_strs "$region"),\"folder\":$(json_strs "$folder"),\"endpointCa\":$(json_strs "$( [ -n "$ca" ] && cat "$ca" 2>/dev/null)"),\"accessKeyId\":$(json_strs "${AWS_ACCESS_KEY_ID:-}"),\"secretKeySha256\":$(json_strs "$secret")}"
finish 0
