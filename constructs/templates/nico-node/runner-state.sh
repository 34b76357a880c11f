# runner-state.sh: what the runner keeps between the steps of one apply (locks, the teardown marker).

# lock_acquire NAME SLOTS WHY: takes one of SLOTS runner-local locks NAME.0 .. NAME.<SLOTS-1>, directories
# under a user-private directory. Terraform runs nodes in parallel; these locks let one
# control-plane node, or at most maxUnavailable workers, change at a time. A holder that died (an
# interrupted apply) leaves a stale lock, which the next run takes over.
lock_acquire() {
  base="${TMPDIR:-/tmp}/nico-cluster-$(id -u)"
  mkdir -p "$base"
  [ -O "$base" ] || fail "lock directory $base belongs to another user; remove it or set TMPDIR"
  chmod 0700 "$base"
  told=""
  while :; do
    slot=0
    while [ "$slot" -lt "$2" ]; do
      lock="$base/$1.$slot"
      if mkdir "$lock" 2>/dev/null; then
        LOCK_HELD=$lock
        printf '%s %s\n' "$$" "$node" >"$lock/owner"
        return 0
      fi
      holder=$(cat "$lock/owner" 2>/dev/null || true)
      pid=${holder%% *}
      if [ -n "$pid" ] && ! kill -0 "$pid" 2>/dev/null; then
        rm -rf "$lock"
        continue
      fi
      slot=$((slot + 1))
    done
    if [ -z "$told" ]; then
      say "waiting: $3"
      told=1
    fi
    sleep 1
  done
}

# take_turn member|new: control-plane nodes change one at a time; workers that are members already
# (a redeploy takes them out of service) at most NICO_MAX_UNAVAILABLE at a time; new workers together.
take_turn() {
  if [ "$NICO_ROLE" != worker ]; then
    lock_acquire "$NICO_CLUSTER_ID.control-plane" 1 "control-plane nodes change one at a time"
  elif [ "$1" = member ]; then
    lock_acquire "$NICO_CLUSTER_ID.workers" "$NICO_MAX_UNAVAILABLE" "at most $NICO_MAX_UNAVAILABLE worker(s) out of service at a time"
  fi
}

# mark_teardown: the first step of a whole-cluster destroy tells every node's removal that no drain is needed.
mark_teardown() {
  base="${TMPDIR:-/tmp}/nico-cluster-$(id -u)"
  mkdir -p "$base"
  : >"$base/${NICO_CLUSTER_ID}.teardown"
}

# teardown_in_progress: true while the whole cluster is being destroyed.
teardown_in_progress() { [ -e "${TMPDIR:-/tmp}/nico-cluster-$(id -u)/${NICO_CLUSTER_ID}.teardown" ]; }
