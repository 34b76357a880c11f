# runner-state.sh: what the runner keeps between the steps of one apply (turns, "this apply failed",
# "the whole cluster is being destroyed") and each step's private directory.
#
# The runner is shared ground (a CI runner, a bastion): everything lives in ONE directory of this user,
# ${TMPDIR:-/tmp}/nico-cluster-<uid> (STATE_BASE), which is created 0700 or, when it exists, used only if
# it is a real directory (not a symlink) owned by this user that nobody else may write to. Inside it
# nobody else can create anything, so no later name is ever followed to a file of someone else, and
# nothing outside it is created, truncated or chmod-ed.
#
# What one apply shares lives in apply.<cluster id>.<terraform pid>-<its start time> (APPLY_DIR): Terraform
# runs its built-in provisioners in-process, so the parent of this shell is the `terraform apply` (or
# destroy) itself, and its pid with its start time names this apply and no other; Terraform's state lock
# keeps two applies of one cluster apart. A leftover of another apply (a failed destroy's marker, a
# killed apply's turn) is in another directory, so it never changes this run; directories of applies
# and steps whose process is gone are removed by the next step that starts.

# proc_start PID: when process PID started (Linux: /proc/PID/stat field 22; elsewhere `ps -o lstart=`),
# or nothing when it does not exist: with the pid it names one process, even after the pid is reused.
proc_start() {
  if [ -d /proc/self ]; then
    stat=$(cat "/proc/$1/stat" 2>/dev/null) || return 0
    # After the command name, which may hold spaces and parentheses: field 3 (state) onwards.
    stat=${stat##*')'}
    # shellcheck disable=SC2086 # numbers and a state letter, split on purpose
    set -- $stat
    # A zombie (killed, not yet reaped by its new parent) is gone for this purpose.
    [ "$1" != Z ] || return 0
    shift 19
    printf '%s\n' "$1"
  else
    ps -o lstart= -p "$1" 2>/dev/null | tr -d ' :'
  fi
}

# alive PID-START: true while the process that token names runs.
alive() {
  [ -n "${1%%-*}" ] && [ "$(proc_start "${1%%-*}")" = "${1#*-}" ]
}

# state_open: checks (or creates) STATE_BASE, removes what dead applies and steps left there, and
# names this step's TOKEN and its apply's APPLY_DIR (created exclusively; steps of one apply share it).
state_open() {
  STATE_BASE="${TMPDIR:-/tmp}"
  STATE_BASE="${STATE_BASE%/}/nico-cluster-$(id -u)"
  fix="remove it (as its owner), or set TMPDIR to a directory only you can write to (e.g. export TMPDIR=\$HOME/.cache/nico-tmp) and run again"
  mkdir -m 0700 "$STATE_BASE" 2>/dev/null || true
  if [ -L "$STATE_BASE" ]; then
    fail "the runner state directory $STATE_BASE is a symbolic link (to $(readlink "$STATE_BASE")), which nico-cluster never follows: $fix; nothing was changed"
  fi
  [ -d "$STATE_BASE" ] || fail "the runner state directory $STATE_BASE is not a directory: $fix; nothing was changed"
  [ -O "$STATE_BASE" ] ||
    fail "the runner state directory $STATE_BASE belongs to another user ($(ls -ld "$STATE_BASE" | awk '{ print $3 }')), who could plant locks and markers there: $fix; nothing was changed"
  case $(ls -ld "$STATE_BASE") in
  d????-??-*) ;;
  *) fail "the runner state directory $STATE_BASE may be written by other users ($(ls -ld "$STATE_BASE" | cut -c1-10)): chmod 0700 it, or set TMPDIR to a directory only you can write to; nothing was changed" ;;
  esac
  case ${NICO_CLUSTER_ID:-} in
  *[!A-Za-z0-9-]* | "") fail "NICO_CLUSTER_ID \"$(printf '%.40s' "${NICO_CLUSTER_ID:-}")\" is not a cluster id (letters, digits and dashes)" ;;
  esac
  TOKEN="$$-$(proc_start $$)"
  apply_start=$(proc_start "$PPID")
  [ -n "$apply_start" ] || fail "cannot tell when the terraform process ($PPID) started, which names this apply's runner state"
  for old in "$STATE_BASE"/apply.* "$STATE_BASE"/step.*; do
    [ -d "$old" ] && [ ! -L "$old" ] || continue
    alive "${old##*.}" || rm -rf "$old"
  done
  APPLY_DIR="$STATE_BASE/apply.$NICO_CLUSTER_ID.$PPID-$apply_start"
  mkdir -m 0700 "$APPLY_DIR" 2>/dev/null || true
  [ -d "$APPLY_DIR" ] && [ ! -L "$APPLY_DIR" ] || fail "cannot create the apply's runner state directory $APPLY_DIR"
}

# step_dir: this step's private directory (STEP_DIR), removed when the step ends or, if it was killed,
# by the next step that starts (state_open).
step_dir() {
  STEP_DIR="$STATE_BASE/step.$TOKEN"
  mkdir -m 0700 "$STEP_DIR" || fail "cannot create the step's directory $STEP_DIR"
}

# mutex_take / mutex_release: a short critical section of this apply. The mutex is a symlink whose
# target names its holder (made atomically, never followed): a holder that died is seen and replaced.
MUTEX_HELD=""
mutex_take() {
  until ln -s "$TOKEN" "$APPLY_DIR/mutex" 2>/dev/null; do
    holder=$(readlink "$APPLY_DIR/mutex" 2>/dev/null || true)
    if [ -n "$holder" ] && ! alive "$holder"; then rm -f "$APPLY_DIR/mutex"; continue; fi
    sleep 0.2 2>/dev/null || sleep 1
  done
  MUTEX_HELD=1
}
mutex_release() {
  [ -z "$MUTEX_HELD" ] || rm -f "$APPLY_DIR/mutex"
  MUTEX_HELD=""
}

# mark_failed WHAT: the first failed node of this apply and what happened (the first writer wins).
# Taken under the mutex: a node that saw no failure has made its move (cordon) before this is written.
mark_failed() {
  mutex_take
  (set -C && printf '%s: %s\n' "$node" "$1" >"$APPLY_DIR/failed") 2>/dev/null || true
  mutex_release
}

# stop_if_failed: after a node of this apply failed, no further node starts a switch. Called with the
# mutex held; gives up (releasing it) when a failure is recorded.
stop_if_failed() {
  [ -f "$APPLY_DIR/failed" ] || return 0
  first=$(head -n 1 "$APPLY_DIR/failed")
  mutex_release
  STOPPED=1
  fail "not switched: ${first%%: *} failed earlier in this apply (${first#*: }); no further node is switched in this apply, the next apply resumes with the rest once that is fixed"
}

# out_of_service_elsewhere NAME: for the workers' turns, how many other workers the cluster shows
# cordoned while they hold no turn of this apply: a worker that an earlier apply left cordoned (it
# failed) counts against maxUnavailable until it is uncordoned. The cluster, seen through a
# control-plane node, is the only record a fresh runner has. 0 when no control-plane node answers
# (the cordon that follows fails then anyway).
out_of_service_elsewhere() {
  if [ "$1" != workers ] || [ -z "${NICO_PEERS:-}" ]; then
    echo 0
    return 0
  fi
  tpl='{range .items[*]}{.metadata.name}{"\n"}{end}'
  # Bounded: this runs with the apply's mutex held, and an API without quorum never answers.
  cordoned=$(peers_run "k3s kubectl get nodes --request-timeout=30s --field-selector spec.unschedulable=true -o $(q "jsonpath=$tpl")" 2>/dev/null) || cordoned=""
  # The nodes that do not count (this one, the control-plane nodes, the holders of this apply's
  # turns), a separator line, then the cordoned ones.
  {
    printf '%s\n' "$node" "$NICO_PEERS" | awk '{ print $1 }'
    for turn in "$APPLY_DIR"/workers.*; do readlink "$turn" 2>/dev/null | awk '{ print $2 }'; done
    echo /
    printf '%s\n' "$cordoned"
  } | awk '
    $0 == "/" { counting = 1; next }
    !counting { skip[$1] = 1; next }
    $1 != "" && !($1 in skip) { count++ }
    END { print count + 0 }'
}

# lock_acquire NAME SLOTS WHY: takes one of SLOTS turns NAME.0 .. NAME.<SLOTS-1> of this apply and
# returns with the mutex held (the caller cordons, then releases it). Terraform runs nodes in
# parallel; these turns let one control-plane node, or at most maxUnavailable workers, change at a
# time. A turn is a symlink naming its holder; a holder that died leaves a turn that is taken over.
lock_acquire() {
  told=""
  while :; do
    mutex_take
    stop_if_failed
    free="" held=0 slot=0
    while [ "$slot" -lt "$2" ]; do
      lock="$APPLY_DIR/$1.$slot"
      holder=$(readlink "$lock" 2>/dev/null || true)
      if [ -n "$holder" ] && alive "${holder%% *}"; then
        held=$((held + 1))
      else
        rm -f "$lock"
        [ -n "$free" ] || free=$lock
      fi
      slot=$((slot + 1))
    done
    if [ -n "$free" ] && [ $((held + $(out_of_service_elsewhere "$1"))) -lt "$2" ]; then
      ln -s "$TOKEN $node" "$free"
      LOCK_HELD=$free
      return 0
    fi
    mutex_release
    if [ -z "$told" ]; then
      say "waiting: $3"
      told=1
    fi
    turns_change "$1" "$2"
  done
}

# turns_held NAME SLOTS: which of the turns exist, in TURNS, by shell tests alone (no process).
turns_held() {
  TURNS="" slot=0
  while [ "$slot" -lt "$2" ]; do
    if [ -L "$APPLY_DIR/$1.$slot" ]; then TURNS="${TURNS}1"; else TURNS="${TURNS}0"; fi
    slot=$((slot + 1))
  done
}

# turns_change NAME SLOTS: returns within a fifth of a second of a turn being given back or taken,
# and after a second at most, so that the full check above also sees a holder that died and the
# cluster's cordoned count. Rolling one worker at a time waits here once per worker: a fixed
# one-second poll cost half a second per hand-over on average.
turns_change() {
  turns_held "$1" "$2"
  before=$TURNS tries=0
  while [ "$tries" -lt 5 ]; do
    sleep 0.2 2>/dev/null || sleep 1
    turns_held "$1" "$2"
    [ "$TURNS" = "$before" ] || return 0
    tries=$((tries + 1))
  done
}

# turn_release: gives this node's turn back (if it holds one).
turn_release() {
  [ -z "${LOCK_HELD:-}" ] || rm -f "$LOCK_HELD"
  LOCK_HELD=""
}

# take_turn member|new: control-plane nodes change one at a time; workers that are members already
# (a redeploy takes them out of service) at most NICO_MAX_UNAVAILABLE at a time; new workers together.
# Returns with the mutex held: the caller makes its move (cordon), then calls mutex_release.
take_turn() {
  if [ "$NICO_ROLE" != worker ]; then
    lock_acquire "control-plane" 1 "control-plane nodes change one at a time"
  elif [ "$1" = member ]; then
    lock_acquire "workers" "$NICO_MAX_UNAVAILABLE" "at most $NICO_MAX_UNAVAILABLE worker(s) out of service at a time"
  else
    mutex_take
    stop_if_failed
  fi
}

# mark_teardown: the first step of a whole-cluster destroy tells every node's removal in the same
# destroy that no drain is needed. Another run (a later removal after this destroy failed) never sees it.
mark_teardown() { (set -C && : >"$APPLY_DIR/teardown") 2>/dev/null || true; }

# teardown_in_progress: true while this very destroy removes the whole cluster.
teardown_in_progress() { [ -f "$APPLY_DIR/teardown" ]; }
