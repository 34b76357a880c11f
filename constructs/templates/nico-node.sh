# nico-node.sh: deploys one node, or removes it from the cluster, over the runner's OpenSSH client.
# Terraform runs it from a terraform_data's local-exec provisioner (`eval "$NICO_SCRIPT"`), with
# everything it needs in the environment; it reads no file left by an earlier run, so a fresh runner
# that has only the state (HCP Terraform, CI) works.
#
# Why not Terraform's built-in SSH (remote-exec, file): it retries a dead host for minutes and then
# names a line of the configuration, lands its scripts as 0777 files in the node's /tmp, uploads with
# 0644 modes, and cannot serialize nodes that Terraform runs in parallel. Here the script goes to the
# node on stdin (`sh -s`), every file is written with umask 077, a connection fails after
# NICO_CONNECT_TIMEOUT with the likely fix, and a lock on the runner lets one control-plane node
# change at a time whatever the graph's shape.
#
# Environment (all NICO_*):
#   ACTION            deploy | remove | forget | install
#   NODE ROLE         node name; init | joiner | worker
#   SSH_HOST SSH_PORT SSH_USER HOST_KEY (may be empty: not checked)  SSH_KEY (the machine key)
#   CONNECT_TIMEOUT   seconds for one SSH connection to be established
#   REMOTE_DIR        the node's flake directory
#   PEERS             lines "name host port host-key-or-empty": the other control-plane nodes, init first
#   CLUSTER_ID        names the runner-local locks (one control-plane node, MAX_UNAVAILABLE workers)
#   GONE              true: the machine is gone for good; never connect to it
#   DRAIN_TIMEOUT MAX_UNAVAILABLE
#   install only:     NIXOS_ANYWHERE (flake ref), HOST_PRIVATE_KEY HOST_PUBLIC_KEY (made by Terraform),
#                     FILE_* and SECRET_* as for deploy; HOST_KEY is then the key before the install
#   deploy only:      READY_TIMEOUT, ROLLBACK (true|false), FILE_COUNT + FILE_<i> and
#                     SECRET_COUNT + SECRET_<i> ("path\nbase64")
set -eu
umask 077

node=$NICO_NODE
say() { printf 'nico: %s: %s\n' "$node" "$*"; }
fail() {
  printf 'nico: %s: error: %s\n' "$node" "$*" >&2
  exit 1
}
# A value quoted for the remote shell.
q() { printf "'%s'" "$(printf '%s' "$1" | sed "s/'/'\\\\''/g")"; }

# The first step of a whole-cluster destroy: tells every node's removal that no drain is needed.
if [ "$NICO_ACTION" = teardown ]; then
  base="${TMPDIR:-/tmp}/nico-cluster-$(id -u)"
  mkdir -p "$base"
  : >"$base/${NICO_CLUSTER_ID}.teardown"
  exit 0
fi

command -v ssh >/dev/null 2>&1 || fail "this step needs an OpenSSH client (ssh) on the machine that runs Terraform"

work=$(mktemp -d "${TMPDIR:-/tmp}/nico-node.XXXXXX")
LOCK_HELD=""
cleanup() {
  [ -z "$LOCK_HELD" ] || rm -rf "$LOCK_HELD"
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

# pin NAME HOST PORT KEY: pins a host key for HOST:PORT (no key given: not checked).
pin() {
  [ -n "$4" ] || return 0
  if [ "$3" = 22 ]; then entry=$2; else entry="[$2]:$3"; fi
  printf '%s %s\n' "$entry" "$4" >>"$known"
}

# ssh_to HOST PORT KEY COMMAND...: one connection with the machine key; host key pinned when KEY is set.
ssh_to() {
  host=$1 port=$2 key=$3
  shift 3
  if [ -n "$key" ]; then checking=yes; else checking=no; fi
  ssh -i "$work/key" -p "$port" -o BatchMode=yes -o IdentitiesOnly=yes -o ConnectTimeout="$NICO_CONNECT_TIMEOUT" \
    -o ConnectionAttempts=1 -o ServerAliveInterval=15 -o ServerAliveCountMax=4 -o StrictHostKeyChecking="$checking" \
    -o UserKnownHostsFile="$known" -o GlobalKnownHostsFile=/dev/null -o UpdateHostKeys=no -o LogLevel=ERROR \
    "$NICO_SSH_USER@$host" "$@"
}
ssh_node() { ssh_to "$NICO_SSH_HOST" "$NICO_SSH_PORT" "$NICO_HOST_KEY" "$@"; }
[ -z "${NICO_SSH_HOST:-}" ] || pin "$node" "$NICO_SSH_HOST" "$NICO_SSH_PORT" "$NICO_HOST_KEY"

# explain WHO HOST PORT KEY SSH-OUTPUT: the likely fix for a failed connection.
explain() {
  case $5 in
  *"IDENTIFICATION HAS CHANGED"* | *"Host key verification failed"* | *"host key"*"not known"* | *"No "*" host key is known"*)
    echo "the host key it presented is not the pinned one ($4); check the node's /etc/ssh/ssh_host_ed25519_key.pub and the hostKey setting" ;;
  *"Connection refused"*) echo "nothing accepts SSH connections on port $3: is sshd running there, and is sshPort right?" ;;
  *"timed out"* | *"No route to host"* | *"Network is unreachable"* | *"Host is down"*)
    echo "no answer within ${NICO_CONNECT_TIMEOUT}s: is the machine up, and is $2 reachable from here (sshHost, firewall, bastion)?" ;;
  *"Permission denied"*) echo "the machine key is not authorised for $NICO_SSH_USER there: add the ssh_public_key output to that user's authorized_keys" ;;
  *"Could not resolve hostname"*) echo "the host name $2 does not resolve" ;;
  *) echo "see the ssh message above" ;;
  esac
}

# check_connection: one quick connection first, so that every failure names the node and the fix.
check_connection() {
  if out=$(ssh_node true 2>&1 </dev/null); then return 0; fi
  printf '%s\n' "$out" | sed '/^$/d; s/^/  ssh: /' >&2
  fail "cannot connect to $NICO_SSH_USER@$NICO_SSH_HOST port $NICO_SSH_PORT: $(explain "$node" "$NICO_SSH_HOST" "$NICO_SSH_PORT" "$NICO_HOST_KEY" "$out")"
}

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

# emit VAR-PREFIX COUNT DEST: shell lines that write each "path\nbase64" variable below DEST.
emit() {
  i=0
  while [ "$i" -lt "$2" ]; do
    eval "entry=\${$1_$i}"
    path=${entry%%"
"*}
    data=${entry#*"
"}
    printf 'put %s/%s <<%s\n%s\n%s\n' "$3" "$(q "$path")" "'NICO_EOF'" "$data" NICO_EOF
    i=$((i + 1))
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

# kubectl_peer ARGS...: `k3s kubectl ARGS... <node>` on the first reachable other control-plane node.
kubectl_peer() { peers_run "k3s kubectl $* $(q "$node")"; }

# upload_and_switch: one connection that writes the secrets and the tree, arms the node's own
# rollback timer and switches. The script reaches the node on stdin: nothing lands in its /tmp.
upload_and_switch() {
  # The cluster's lock file, so that every node builds from the same nixpkgs revision: the one in the
  # tree (flakeLockFile) wins, else the one another control-plane node already builds from.
  cluster_lock=""
  if ! printf '%s\n' "${NICO_FILE_PATHS:-}" | grep -qx flake.lock; then
    cluster_lock=$(peers_run 'cat /var/lib/nico/flake.lock 2>/dev/null' 2>/dev/null | base64 | tr -d '\n' || true)
  fi
  {
    printf 'node=%s dir=%s rollback=%s rollback_after=%s\n' "$(q "$node")" "$(q "$NICO_REMOTE_DIR")" "$NICO_ROLLBACK" "$1"
    cat <<'EOF'
set -eu
umask 077
put() { mkdir -p "$(dirname "$1")"; base64 -d >"$1"; }
mkdir -p /var/lib/nico
chmod 0700 /var/lib/nico
rm -rf /var/lib/nico/secrets.new
mkdir -m 0700 /var/lib/nico/secrets.new
EOF
    emit NICO_SECRET "$NICO_SECRET_COUNT" /var/lib/nico/secrets.new
    cat <<'EOF'
rm -rf /var/lib/nico/secrets.old
if [ -d /var/lib/nico/secrets ]; then mv /var/lib/nico/secrets /var/lib/nico/secrets.old; fi
mv /var/lib/nico/secrets.new /var/lib/nico/secrets
rm -rf /var/lib/nico/secrets.old
rm -rf "$dir"
mkdir -p "$dir"
chmod 0700 "$dir"
EOF
    emit NICO_FILE "$NICO_FILE_COUNT" '"$dir"'
    [ -z "$cluster_lock" ] || printf 'put "$dir"/flake.lock <<%s\n%s\n%s\n' "'NICO_EOF'" "$cluster_lock" NICO_EOF
    cat <<'EOF'
if [ ! -f "$dir/flake.lock" ] && [ -f /var/lib/nico/flake.lock ]; then cp /var/lib/nico/flake.lock "$dir/flake.lock"; fi
if [ ! -f "$dir/flake.lock" ]; then
  echo "nico: $node: locking the flake inputs (the first node; every later node builds from this lock)"
  nix --extra-experimental-features 'nix-command flakes' flake lock "path:$dir"
fi
cp "$dir/flake.lock" /var/lib/nico/flake.lock
if [ "$rollback" = true ]; then
  # Back to the generation the node runs now, unless a new connection finds it ready in time.
  previous=$(readlink /nix/var/nix/profiles/system 2>/dev/null || true)
  cat >/var/lib/nico/rollback <<ROLLBACK
#!/bin/sh
# Written by nico-cluster before it switched $node: returns it to the system it ran before.
PATH=/run/current-system/sw/bin:\$PATH
[ "\$(readlink /nix/var/nix/profiles/system 2>/dev/null || true)" != "$previous" ] || exit 0
echo "nico: $node: rolling back to the previous system generation"
nixos-rebuild switch --rollback
ROLLBACK
  chmod 0700 /var/lib/nico/rollback
  systemctl stop nico-rollback.timer 2>/dev/null || true
  systemctl reset-failed nico-rollback.service 2>/dev/null || true
  systemd-run --quiet --unit=nico-rollback --on-active="${rollback_after}s" /var/lib/nico/rollback
  echo "nico: $node: armed its own rollback in ${rollback_after}s, cancelled once it is seen ready"
fi
echo "nico: $node: nixos-rebuild switch --flake path:$dir#$node"
nixos-rebuild switch --flake "path:$dir#$node"
EOF
  } | ssh_node sh -s
}

# confirm_ready: a new connection (the switch may have cut the old path off) waits until the node is
# ready, then cancels its rollback timer; a node not ready in time is rolled back now, and the
# journal of the units that make it ready is shown. Exit 3: not ready (rolled back).
confirm_ready() {
  {
    printf 'node=%s role=%s timeout=%s rollback=%s cluster=%s\n' "$(q "$node")" "$NICO_ROLE" "$NICO_READY_TIMEOUT" "$NICO_ROLLBACK" "$(q "$NICO_CLUSTER_ID")"
    cat <<'EOF'
set -eu
umask 077
case $role in
init) ready() { k3s kubectl get --raw /readyz 2>/dev/null | grep -qx ok; } ;;
joiner) ready() { [ "$(k3s kubectl get node "$node" -o 'jsonpath={.status.conditions[?(@.type=="Ready")].status}' 2>/dev/null)" = True ]; } ;;
*) ready() { systemctl is-active --quiet k3s; } ;;
esac
deadline=$(( $(date +%s) + timeout ))
until ready; do
  if [ "$(date +%s)" -ge "$deadline" ]; then
    echo "nico: $node: not ready within $timeout s; the last lines of its journal:" >&2
    journalctl -u k3s -u keepalived -u nico-secrets -u nico-wait-for-vip -n 25 --no-pager 2>&1 | sed "s/^/nico: $node: journal: /" >&2 || true
    if [ "$rollback" = true ]; then
      systemctl stop nico-rollback.timer 2>/dev/null || true
      /var/lib/nico/rollback >&2
    fi
    exit 3
  fi
  sleep 2
done
systemctl stop nico-rollback.timer 2>/dev/null || true
printf '%s\n' "$cluster" >/var/lib/nico/deployed
echo "nico: $node: ready"
EOF
  } | ssh_node sh -s
}

deploy() {
  if [ "$NICO_GONE" = true ]; then
    say "marked gone: not deployed"
    return 0
  fi
  check_connection
  # A node that already runs this cluster's configuration is a member: a redeploy drains it first.
  if [ "$(ssh_node cat /var/lib/nico/deployed 2>/dev/null </dev/null)" = "$NICO_CLUSTER_ID" ]; then member=member; else member=new; fi
  take_turn "$member"
  drained=""
  if [ "$member" = member ] && [ -n "${NICO_PEERS:-}" ]; then
    say "cordoning and draining (at most ${NICO_DRAIN_TIMEOUT}s) before the switch"
    kubectl_peer cordon >/dev/null || fail "could not cordon it through another control-plane node"
    drained=1
    if ! kubectl_peer drain --ignore-daemonsets --delete-emptydir-data "--timeout=${NICO_DRAIN_TIMEOUT}s" >/dev/null; then
      kubectl_peer uncordon >/dev/null || true
      fail "draining did not finish within ${NICO_DRAIN_TIMEOUT}s (a PodDisruptionBudget?); not switched, uncordoned again"
    fi
  fi
  say "uploading the flake tree to $NICO_REMOTE_DIR and the secrets to /var/lib/nico/secrets"
  # The node's own timer fires after the deployer's whole wait, two connections and a margin.
  rollback_after=$((NICO_READY_TIMEOUT + 2 * NICO_CONNECT_TIMEOUT + 30))
  upload_and_switch "$rollback_after" || fail "the switch on $NICO_SSH_HOST failed (exit $?); see the lines above"
  say "waiting until it is ready (a new connection)"
  if out=$(ssh_node true 2>&1 </dev/null); then :; else
    printf '%s\n' "$out" | sed '/^$/d; s/^/  ssh: /' >&2
    if [ "$NICO_ROLLBACK" = true ]; then
      fail "lost SSH after the switch: the new system cut $NICO_SSH_HOST port $NICO_SSH_PORT off; the node returns to its previous system by itself within ${rollback_after}s of the switch"
    fi
    fail "lost SSH after the switch: the new system cut $NICO_SSH_HOST port $NICO_SSH_PORT off (rollback is off)"
  fi
  if confirm_ready; then :; else
    code=$?
    [ "$code" = 3 ] || fail "lost the connection while waiting until it is ready (exit $code)"
    if [ "$NICO_ROLLBACK" = true ]; then fail "not ready within ${NICO_READY_TIMEOUT}s after the switch: rolled back to its previous system; the next apply tries again"; fi
    fail "not ready within ${NICO_READY_TIMEOUT}s after the switch (rollback is off)"
  fi
  if [ -n "$drained" ]; then kubectl_peer uncordon >/dev/null || fail "ready, but could not uncordon it through another control-plane node"; fi
}

# drain_and_delete drain|forget: through another control-plane node, so that it works for workers
# (which hold no admin credentials) and for a node that is already gone. Deleting the Node object
# makes k3s remove a server's etcd member.
drain_and_delete() {
  if [ "$1" = drain ]; then
    say "draining (at most ${NICO_DRAIN_TIMEOUT}s) and deleting its Node object through another control-plane node"
    drain="k3s kubectl drain $(q "$node") --ignore-daemonsets --delete-emptydir-data --timeout=${NICO_DRAIN_TIMEOUT}s || echo 'nico: $node: drain did not finish within ${NICO_DRAIN_TIMEOUT}s; deleting the node anyway' >&2;"
  else
    say "deleting its Node object through another control-plane node (the machine is gone)"
    drain=""
  fi
  if ! peers_run "$drain k3s kubectl delete node $(q "$node") --ignore-not-found"; then
    say "no other control-plane node answered: the Node object stays (delete it with kubectl if the cluster lives on)"
  fi
}

remove() {
  if [ "$NICO_GONE" = true ]; then
    say "marked gone: removed from the cluster earlier; nothing to clean"
    return 0
  fi
  check_connection
  # A whole-cluster destroy removes every node: draining into a dying cluster only costs time.
  if [ -e "${TMPDIR:-/tmp}/nico-cluster-$(id -u)/${NICO_CLUSTER_ID}.teardown" ]; then
    [ "$NICO_ROLE" = worker ] || take_turn member
    say "the whole cluster is being destroyed: no drain"
  else
    take_turn member
    drain_and_delete drain
  fi
  say "cleaning with #minimal"
  {
    printf 'node=%s dir=%s\n' "$(q "$node")" "$(q "$NICO_REMOTE_DIR")"
    cat <<'EOF'
set -eu
umask 077
if [ ! -f "$dir/flake.nix" ]; then echo "nico: $node: no flake in $dir to switch to #minimal from" >&2; exit 1; fi
systemctl stop nico-rollback.timer 2>/dev/null || true
# Names the node to the flake, so that minimal keeps its static address (nodes/generator.nix).
printf '%s\n' "$node" >"$dir/minimal-node"
nixos-rebuild switch --flake "path:$dir#minimal"
rm -rf /var/lib/nico/secrets /var/lib/nico/flake.lock /var/lib/nico/deployed /var/lib/nico/rollback
EOF
  } | ssh_node sh -s || fail "cleaning $NICO_SSH_HOST with #minimal stopped (exit $?); run the destroy again once fixed"
}

# install: NixOS onto the machine with nixos-anywhere (kexec into an installer, disko partitions the
# disk from the tree's layout, the node's own configuration is installed). Its SSH host key, made by
# Terraform, and its secrets go in as extra files, root-only, never through a Nix store: every
# connection after this pins that key. Runs on the runner, which needs Nix with flakes for it.
install() {
  command -v nix >/dev/null 2>&1 ||
    fail "installing NixOS needs Nix with flakes on the machine that runs Terraform (nixos-anywhere runs through \`nix run\`); nix is not on PATH"
  nix --extra-experimental-features 'nix-command flakes' flake --help >/dev/null 2>&1 ||
    fail "installing NixOS needs Nix with flakes on the machine that runs Terraform; \`nix flake\` does not work with this nix ($(nix --version 2>&1 | head -n 1))"
  # Before the install the machine presents the key given as hostKey (a rescue system's, the old
  # distribution's), or, when it is installed again, the one Terraform made: either is accepted.
  # Without hostKey the first connection is not checked (trust on first use, said in the README).
  [ -z "$NICO_HOST_KEY" ] || pin "$node" "$NICO_SSH_HOST" "$NICO_SSH_PORT" "$NICO_HOST_PUBLIC_KEY"
  check_connection
  say "installing NixOS with nixos-anywhere $NICO_NIXOS_ANYWHERE: this wipes the disk of $NICO_SSH_HOST"
  # The tree and the extra files, from the state's values (a fresh runner needs nothing local).
  mkdir -p "$work/flake" "$work/extra/etc/ssh" "$work/extra/var/lib/nico/secrets"
  chmod 0755 "$work/extra" "$work/extra/etc" "$work/extra/etc/ssh"
  chmod 0700 "$work/extra/var/lib/nico" "$work/extra/var/lib/nico/secrets"
  {
    emit NICO_FILE "$NICO_FILE_COUNT" flake
    emit NICO_SECRET "$NICO_SECRET_COUNT" extra/var/lib/nico/secrets
  } >"$work/write.sh"
  (
    cd "$work"
    put() { mkdir -p "$(dirname "$1")"; base64 -d >"$1"; }
    . ./write.sh
  )
  # Installed as #minimal on its own address and disk: k3s starts only when the deployment switches
  # the node, in the cluster's order.
  printf '%s\n' "$node" >"$work/flake/minimal-node"
  printf '%s\n' "$NICO_HOST_PRIVATE_KEY" >"$work/extra/etc/ssh/ssh_host_ed25519_key"
  printf '%s\n' "$NICO_HOST_PUBLIC_KEY" >"$work/extra/etc/ssh/ssh_host_ed25519_key.pub"
  chmod 0600 "$work/extra/etc/ssh/ssh_host_ed25519_key"
  chmod 0644 "$work/extra/etc/ssh/ssh_host_ed25519_key.pub"
  if [ ! -f "$work/flake/flake.lock" ]; then
    nix --extra-experimental-features 'nix-command flakes' flake lock "path:$work/flake" || fail "could not lock the flake's inputs on this machine"
  fi
  # The node then builds every later change from the same lock (see deploy).
  cp "$work/flake/flake.lock" "$work/extra/var/lib/nico/flake.lock"
  if [ -n "$NICO_HOST_KEY" ]; then checking=yes; else checking=no; fi
  nix --extra-experimental-features 'nix-command flakes' run "$NICO_NIXOS_ANYWHERE" -- \
    --flake "$work/flake#minimal" --extra-files "$work/extra" -i "$work/key" -p "$NICO_SSH_PORT" \
    --ssh-option "UserKnownHostsFile=$known" --ssh-option "StrictHostKeyChecking=$checking" \
    --target-host "$NICO_SSH_USER@$NICO_SSH_HOST" ||
    fail "nixos-anywhere did not install $NICO_SSH_HOST (exit $?); see its lines above. A half-done install is repeated by the next apply"
  say "installed; from now on its host key is the one Terraform made"
}

case $NICO_ACTION in
deploy) deploy ;;
install) install ;;
remove) remove ;;
forget)
  lock_acquire "$NICO_CLUSTER_ID.control-plane" 1 "control-plane nodes change one at a time"
  drain_and_delete forget
  ;;
*) fail "unknown NICO_ACTION $NICO_ACTION" ;;
esac
