# restore.sh: restore the cluster from an etcd snapshot (`restore = { snapshot, generation }`), as
# k3s's own procedure does it (k3s pkg/cluster/managed.go, pkg/etcd/etcd.go Reset), one safe step
# at a time:
#   1. every control-plane node answers; the generation is above the last one restored here;
#      the snapshot is found (the init node's snapshot directory, another server's, or S3);
#   2. k3s stops on the init node only, its etcd data is copied aside, and it runs its own unit's
#      command line with --cluster-reset --cluster-reset-restore-path: k3s restores the snapshot,
#      resets the membership to this one server and exits. When k3s refuses (no such snapshot, a
#      token the snapshot was not taken with), its words are shown, the data copied aside is put
#      back, k3s starts again, and the step fails: no other server was touched;
#   3. only then k3s stops on the other servers; the init node starts and serves the restored data;
#   4. one at a time, each other server's etcd data is moved aside (k3s: "Backup and delete
#      ${datadir}/server/db on each peer etcd server and rejoin the nodes") and it starts, joining
#      the restored cluster as a new member; the next one waits until its Node is Ready;
#   5. each worker's agent restarts (it registers again with the restored cluster) and is waited for.
# Everything written to the cluster after the snapshot is gone: that is what a restore is.
#
# Environment: PEERS (control-plane nodes that are not gone, init first: the node restored on),
# WORKERS (the same lines for workers), CLUSTER_ID, RESTORE_SNAPSHOT (a validated file name),
# RESTORE_GENERATION, RESTORE_NEW_CLUSTER (true: this apply created the cluster), READY_TIMEOUT.

RESTORE_RECORD=/var/lib/nico/restore-generation
K3S_DB=/var/lib/rancher/k3s/server/db

# on NAME COMMAND...: a command on a node of the cluster (stdin passes through).
on() {
  on_name=$1 on_found=""
  shift
  while read -r o_name o_host o_port o_key; do
    if [ "$o_name" = "$on_name" ]; then
      on_found=1
      break
    fi
  done <"$work/restore-nodes"
  [ -n "$on_found" ] || return 255
  ssh_to "$o_host" "$o_port" "$o_key" "$@"
}

# unit_command_lines: shell lines that set $execstart to the k3s unit's own command line (what
# systemd runs: the flags of the node's configuration, its token file and S3 settings included).
# NixOS writes ExecStart continued over lines ending in " \"; the last ExecStart= of the unit wins.
unit_command_lines() {
  cat <<'EOF'
execstart=$(systemctl cat k3s 2>/dev/null | awk '
  /^ExecStart=/ { cmd = ""; open = 1; sub(/^ExecStart=/, "") }
  open { line = $0; if (sub(/[ \t]*\\$/, " ", line)) { cmd = cmd line; next } cmd = cmd line; open = 0; last = cmd }
  END { print last }')
[ -n "$execstart" ] || { echo "no k3s unit on this node (systemctl cat k3s)" >&2; exit 20; }
EOF
}

# locate_script NAME: on the node restored on: the snapshot directory and S3 setting of its unit,
# and whether the snapshot is there.
locate_script() {
  printf 'name=%s\n' "$(q "$1")"
  echo 'set -eu'
  unit_command_lines
  cat <<'EOF'
eval "set -- $execstart"
dir=/var/lib/rancher/k3s/server/db/snapshots s3=no
while [ $# -gt 0 ]; do
  case $1 in
  --etcd-snapshot-dir=*) dir=${1#*=} ;;
  --etcd-snapshot-dir) dir=${2:-}; shift ;;
  --etcd-s3 | --etcd-s3=true) s3=yes ;;
  --etcd-s3=false) s3=no ;;
  esac
  shift
done
printf 'dir=%s\ns3=%s\n' "$dir" "$s3"
if [ -f "$dir/$name" ]; then echo here=yes; else echo here=no; fi
EOF
}

# reset_script PATH EXTRA: stop k3s here, copy the etcd data aside, run the reset; on a refusal put
# the data back and start k3s again (exit 3), k3s's own words on stderr.
reset_script() {
  printf 'path=%s extra=%s gen=%s timeout=%s record=%s db=%s\n' "$(q "$1")" "$(q "$2")" "$NICO_RESTORE_GENERATION" "$NICO_READY_TIMEOUT" "$RESTORE_RECORD" "$K3S_DB"
  echo 'set -eu'
  echo 'umask 077'
  unit_command_lines
  cat <<'EOF'
systemctl stop k3s
backup=/var/lib/nico/restore-etcd-before
rm -rf "$backup"
mkdir -p "$backup"
if [ -d "$db/etcd" ]; then cp -a "$db/etcd" "$backup/etcd"; fi
if [ -e "$db/reset-flag" ]; then : >"$backup/reset-flag"; fi
log=/var/lib/nico/restore.log
code=0
# The unit's environment file carries the S3 keys (k3s reads them as AWS_*), never an argument.
( if [ -f /var/lib/nico/secrets/etcd-s3.env ]; then set -a; . /var/lib/nico/secrets/etcd-s3.env; set +a; fi
  eval "set -- $execstart"
  # $extra: --etcd-s3=false or nothing, a word without blanks.
  exec timeout "$timeout" "$@" $extra --cluster-reset --cluster-reset-restore-path="$path" ) >"$log" 2>&1 || code=$?
if [ "$code" = 0 ] && grep -q 'Managed etcd cluster membership has been reset' "$log"; then
  # Recorded at once: whatever happens next, this generation is never restored again.
  printf '%s\n' "$gen" >"$record"
  rm -rf "$backup"
  exit 0
fi
# k3s's own words: its fatal and error lines, else the end of its log.
said=$(grep -E 'level=(fatal|error)' "$log" | tail -n 5)
[ -n "$said" ] || said=$(tail -n 5 "$log")
printf '%s\n' "$said" | sed 's/^/k3s: /' >&2
[ "$code" != 124 ] || echo "k3s: (no result within ${timeout}s; stopped)" >&2
# Back as it was: k3s may have replaced the data before it refused (a token mismatch does).
rm -rf "$db/etcd"
if [ -d "$backup/etcd" ]; then cp -a "$backup/etcd" "$db/etcd"; fi
if [ -e "$backup/reset-flag" ]; then : >"$db/reset-flag"; else rm -f "$db/reset-flag"; fi
rm -rf "$backup"
systemctl start k3s
exit 3
EOF
}

# rejoin_script: move this server's etcd data aside (it belongs to the cluster before the reset,
# of which it is no member any more) and start k3s: it joins the restored cluster.
rejoin_script() {
  printf 'db=%s gen=%s\n' "$K3S_DB" "$NICO_RESTORE_GENERATION"
  cat <<'EOF'
set -eu
aside="$db/etcd-before-restore-$gen"
rm -rf "$aside"
if [ -d "$db/etcd" ]; then mv "$db/etcd" "$aside"; fi
rm -f "$db/reset-flag"
systemctl start k3s
EOF
}

# wait_script NODE|--readyz: on the node restored on, until NODE's Node is Ready (or its own API
# answers /readyz), at most READY_TIMEOUT seconds. Exit 3: not in time.
wait_script() {
  printf 'node=%s timeout=%s\n' "$(q "$1")" "$NICO_READY_TIMEOUT"
  cat <<'EOF'
set -eu
if [ "$node" = --readyz ]; then
  ready() { timeout 20 k3s kubectl --request-timeout=15s get --raw /readyz 2>/dev/null | grep -qx ok; }
else
  ready() { [ "$(timeout 20 k3s kubectl --request-timeout=15s get node "$node" -o 'jsonpath={.status.conditions[?(@.type=="Ready")].status}' 2>/dev/null)" = True ]; }
fi
deadline=$(( $(date +%s) + timeout ))
until ready; do
  [ "$(date +%s)" -lt "$deadline" ] || exit 3
  sleep 2
done
EOF
}

# record_everywhere: every control-plane node keeps the generation restored (or made current).
record_everywhere() {
  for s in $servers; do
    on "$s" "umask 077; mkdir -p /var/lib/nico; printf '%s\n' $NICO_RESTORE_GENERATION >$RESTORE_RECORD" </dev/null ||
      say "could not record generation $NICO_RESTORE_GENERATION on $s (it is kept on the others)"
  done
}

restore() {
  lock_acquire "$NICO_CLUSTER_ID.control-plane" 1 "control-plane nodes change one at a time"
  mutex_release
  gen=$NICO_RESTORE_GENERATION snap=$NICO_RESTORE_SNAPSHOT
  printf '%s\n' "${NICO_PEERS:-}" | sed '/^$/d' >"$work/restore-nodes"
  printf '%s\n' "${NICO_WORKERS:-}" | sed '/^$/d' >>"$work/restore-nodes"
  servers=$(printf '%s\n' "${NICO_PEERS:-}" | sed '/^$/d' | cut -d ' ' -f 1)
  workers=$(printf '%s\n' "${NICO_WORKERS:-}" | sed '/^$/d' | cut -d ' ' -f 1)
  [ -n "$servers" ] || fail "no control-plane node to restore on (all are gone)"
  while read -r p_name p_host p_port p_key; do pin "$p_name" "$p_host" "$p_port" "$p_key"; done <"$work/restore-nodes"
  first=$(printf '%s\n' "$servers" | head -n 1)
  others=$(printf '%s\n' "$servers" | sed 1d)

  # 1. Every server must answer: a server left out would keep the old data and be refused later.
  last=0
  for s in $servers; do
    if had=$(on "$s" "cat $RESTORE_RECORD 2>/dev/null || true" </dev/null 2>"$work/ssh-err"); then
      case $had in '' | *[!0-9]*) ;; *) [ "$had" -le "$last" ] || last=$had ;; esac
    else
      sed '/^$/d; s/^/  ssh: /' "$work/ssh-err" >&2
      fail "cannot reach control-plane node $s; nothing was stopped. A restore needs every control-plane node (mark a machine that is gone for good with gone = true)"
    fi
  done
  if [ "$NICO_RESTORE_NEW_CLUSTER" = true ]; then
    record_everywhere
    say "this apply created the cluster: there is nothing to restore into it, so $snap is not restored; generation $gen is recorded and a higher one restores"
    return 0
  fi
  if [ "$gen" -le "$last" ]; then
    say "generation $gen is not above the last one restored on this cluster ($last): nothing is restored. Raise restore.generation above $last to restore again"
    return 0
  fi

  # Where the snapshot is: the init node's own directory, another server's (copied over), or S3.
  found=$(locate_script "$snap" | on "$first" sh -s) || fail "could not read the k3s unit of $first (exit $?); nothing was stopped"
  dir=$(printf '%s\n' "$found" | sed -n 's/^dir=//p')
  s3=$(printf '%s\n' "$found" | sed -n 's/^s3=//p')
  extra="" path=""
  if [ "$(printf '%s\n' "$found" | sed -n 's/^here=//p')" = yes ]; then
    path="$dir/$snap"
  else
    for s in $others; do
      if [ "$(on "$s" "if [ -f $(q "$dir/$snap") ]; then echo yes; fi" </dev/null 2>/dev/null)" = yes ]; then
        say "copying $snap from $s to $first (the node the cluster is restored on)"
        on "$s" "cat $(q "$dir/$snap")" </dev/null | on "$first" "umask 077; mkdir -p $(q "$dir") && cat >$(q "$dir/.$snap.part") && mv $(q "$dir/.$snap.part") $(q "$dir/$snap")" ||
          fail "could not copy $snap from $s to $first; nothing was stopped"
        path="$dir/$snap"
        break
      fi
    done
  fi
  if [ -n "$path" ]; then
    # A local file; with S3 configured, k3s would otherwise look for it in the bucket.
    [ "$s3" != yes ] || extra=--etcd-s3=false
    where="$path on $first"
  elif [ "$s3" = yes ]; then
    # k3s downloads it from the bucket and folder of the unit's --etcd-s3 settings.
    path=$snap
    where="S3 (the bucket and folder of etcdSnapshots.s3)"
  else
    fail "no snapshot named $snap in $dir on any control-plane node, and the cluster has no S3 snapshots (etcdSnapshots.s3); nothing was stopped. k3s etcd-snapshot ls on a control-plane node lists the snapshots"
  fi

  # 2. The reset, on the init node alone.
  say "restoring $snap from $where (generation $gen): stopping k3s on $first and resetting the cluster from the snapshot; everything written after it will be gone"
  if out=$(reset_script "$path" "$extra" | on "$first" sh -s 2>&1); then :; else
    code=$?
    printf '%s\n' "$out" | sed '/^$/d' | sed "s/^/nico: $node: $first: /" >&2
    [ "$code" = 3 ] || fail "the reset on $first ended with exit $code (see above; journalctl -u k3s and /var/lib/nico/restore.log there; its etcd data of before is in /var/lib/nico/restore-etcd-before); no other server was touched"
    fail "k3s refused to restore $snap on $first (its words above); its data was put back and k3s started again; no other server was touched. Fix the cause (the snapshot's name, or a snapshot of this cluster: it must have been taken with this cluster's token) and apply again"
  fi
  say "k3s restored $snap on $first and reset the etcd membership to $first alone"

  # 3. The other servers stop: they hold the data of before the reset.
  for s in $others; do
    on "$s" systemctl stop k3s </dev/null || fail "the cluster is restored on $first, but k3s could not be stopped on $s: stop it there, move $K3S_DB/etcd aside and start k3s, then do the same on each remaining control-plane node"
  done
  on "$first" systemctl start k3s </dev/null || fail "could not start k3s on $first after the reset (journalctl -u k3s there)"
  wait_script --readyz | on "$first" sh -s || fail "$first is not ready within ${NICO_READY_TIMEOUT}s after the restore (journalctl -u k3s there); the other control-plane nodes are stopped"
  say "$first serves the restored cluster"

  # 4. One at a time, each other server joins the restored cluster with empty etcd data.
  for s in $others; do
    say "$s: moving its etcd data aside and joining the restored cluster"
    rejoin_script | on "$s" sh -s || fail "could not restart k3s on $s (see above)"
    wait_script "$s" | on "$first" sh -s || fail "$s did not become Ready within ${NICO_READY_TIMEOUT}s after rejoining (journalctl -u k3s there); the control-plane nodes after it are still stopped"
    say "$s is Ready"
  done

  # 5. The workers' agents register again with the restored cluster.
  for w in $workers; do
    on "$w" systemctl restart k3s </dev/null || say "could not restart k3s on worker $w; its agent reconnects by itself"
    wait_script "$w" | on "$first" sh -s || fail "worker $w did not become Ready within ${NICO_READY_TIMEOUT}s after the restore (journalctl -u k3s there)"
  done
  record_everywhere
  say "restored $snap (generation $gen): every node is Ready; everything written to the cluster after the snapshot is gone"
}
