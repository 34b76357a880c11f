# main.sh: sets up the step's private directory and runs the action. The parts before it only define
# functions; constructs/cluster-deployment.ts joins them in this order (NODE_SCRIPT_PARTS).

# Inside the step's agent (below): TMPDIR as Terraform gave it (a setgid ssh-agent, as Debian's, runs its
# command without TMPDIR).
[ -z "${NICO_STEP_AGENT:-}" ] || TMPDIR=$NICO_STEP_TMPDIR
# Every step, the teardown marker too, first checks this user's runner state directory (runner-state.sh).
state_open

if [ "$NICO_ACTION" = teardown ]; then
  mark_teardown
  exit 0
fi

command -v ssh >/dev/null 2>&1 || fail "this step needs an OpenSSH client (ssh) on the machine that runs Terraform"

# The machine key never lands in a file (but for an install, which hands nixos-anywhere a key file):
# it is fed on stdin to an ssh-agent that lives as long as this step. `ssh-agent COMMAND` runs the
# rest of the step as COMMAND with this very pid (still a child of terraform) and exits with it;
# were the step killed, the agent notices within 10 s and exits, and the key was only ever in memory.
if [ -z "${NICO_STEP_AGENT:-}" ]; then
  command -v ssh-agent >/dev/null 2>&1 && command -v ssh-add >/dev/null 2>&1 ||
    fail "this step needs ssh-agent and ssh-add (OpenSSH) on the machine that runs Terraform: the machine key is kept in an agent, never in a file"
  step_dir
  # A socket path longer than sun_path (104 bytes on macOS) cannot be bound: the agent then picks its own.
  agent_socket="$STEP_DIR/agent"
  [ "${#agent_socket}" -le 100 ] || agent_socket=""
  NICO_STEP_AGENT=$STEP_DIR NICO_STEP_TMPDIR=${TMPDIR:-} exec ssh-agent ${agent_socket:+-a} ${agent_socket:+"$agent_socket"} /bin/sh -c 'eval "$NICO_SCRIPT"'
fi
STEP_DIR="$STATE_BASE/step.$TOKEN"
[ "$NICO_STEP_AGENT" = "$STEP_DIR" ] || fail "the step's agent runs for $NICO_STEP_AGENT, not for $STEP_DIR"
work=$STEP_DIR

LOCK_HELD=""
STOPPED=""
FAILED_WHY=""
cleanup() {
  code=$?
  # A deploy that failed (switch failed, not ready, rolled back, cut off, drain failed) stops this
  # apply's rollout before its turn is given back; a node that merely gave up records nothing.
  if [ "$code" != 0 ] && [ "$NICO_ACTION" = deploy ] && [ -z "$STOPPED" ]; then mark_failed "${FAILED_WHY:-the step ended with exit $code}"; fi
  mutex_release
  turn_release
  ssh_close_all
  kill "$SSH_AGENT_PID" 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 129' HUP
trap 'exit 130' INT
trap 'exit 143' TERM

printf '%s\n' "$NICO_SSH_KEY" | ssh-add -q - 2>/dev/null || fail "ssh-add did not take the machine key (is it an OpenSSH private key without a passphrase?)"
# `ssh -i` names the key by its public half; the agent signs with the private one.
ssh-add -L >"$work/key" || fail "the step's ssh-agent does not list the machine key"
if [ "$NICO_ACTION" = install ]; then
  # nixos-anywhere takes a key file only; its own copies go to TMPDIR: both stay in this directory.
  printf '%s\n' "$NICO_SSH_KEY" >"$work/key"
fi
# Whatever the step's tools write to TMPDIR (nixos-anywhere, ssh control sockets) is inside it too.
mkdir -m 0700 "$work/tmp"
export TMPDIR="$work/tmp"
known="$work/known_hosts"
: >"$known"
[ -z "${NICO_SSH_HOST:-}" ] || pin "$node" "$NICO_SSH_HOST" "$NICO_SSH_PORT" "$NICO_HOST_KEY"

case $NICO_ACTION in
deploy) deploy ;;
install) install ;;
snapshot) snapshot ;;
restore) restore ;;
remove) remove ;;
forget)
  lock_acquire control-plane 1 "control-plane nodes change one at a time"
  mutex_release
  drain_and_delete forget
  ;;
*) fail "unknown NICO_ACTION $NICO_ACTION" ;;
esac
