# main.sh: sets up the step's private directory and runs the action. The parts before it only define
# functions; constructs/cluster-deployment.ts joins them in this order (NODE_SCRIPT_PARTS).

if [ "$NICO_ACTION" = teardown ]; then
  mark_teardown
  exit 0
fi

command -v ssh >/dev/null 2>&1 || fail "this step needs an OpenSSH client (ssh) on the machine that runs Terraform"

work=$(mktemp -d "${TMPDIR:-/tmp}/nico-node.XXXXXX")
LOCK_HELD=""
cleanup() {
  [ -z "$LOCK_HELD" ] || rm -rf "$LOCK_HELD"
  ssh_close_all
  rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 129' HUP
trap 'exit 130' INT
trap 'exit 143' TERM

# The machine key, only for the lifetime of this script, in a 0700 directory of its own.
printf '%s\n' "$NICO_SSH_KEY" >"$work/key"
known="$work/known_hosts"
: >"$known"
[ -z "${NICO_SSH_HOST:-}" ] || pin "$node" "$NICO_SSH_HOST" "$NICO_SSH_PORT" "$NICO_HOST_KEY"

case $NICO_ACTION in
deploy) deploy ;;
install) install ;;
snapshot) snapshot ;;
remove) remove ;;
forget)
  lock_acquire "$NICO_CLUSTER_ID.control-plane" 1 "control-plane nodes change one at a time"
  drain_and_delete forget
  ;;
*) fail "unknown NICO_ACTION $NICO_ACTION" ;;
esac
