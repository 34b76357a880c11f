# ssh.sh: the one way this script reaches a node: the runner's OpenSSH client, the machine key,
# host keys pinned where known, and a failed connection explained.

# pin NAME HOST PORT KEY: pins a host key for HOST:PORT (no key given: not checked).
pin() {
  [ -n "$4" ] || return 0
  if [ "$3" = 22 ]; then entry=$2; else entry="[$2]:$3"; fi
  printf '%s %s\n' "$entry" "$4" >>"$known"
}

# control_path HOST PORT KEY: the socket of the connection to HOST:PORT that expects host key KEY.
# A connection is shared only by commands that expect the same host key: after an install, the
# machine must prove the key Terraform made on a connection of its own, never through one opened to
# the system it replaced. The name is a short checksum rather than ssh's %C (40 characters): a socket
# path must fit in sun_path (107 bytes and a NUL) even with the 17 characters ssh appends while it
# binds the socket, or ssh does not run at all. A step directory too long even for that (a long
# TMPDIR) connects command by command, as without multiplexing.
control_path() {
  id=$(printf '%s\n%s\n%s\n%s\n%s\n' "$known" "$NICO_SSH_USER" "$1" "$2" "$3" | cksum | cut -d ' ' -f 1)
  path="$work/cm-$id"
  if [ $((${#path} + 17)) -gt 107 ]; then printf none; else printf '%s' "$path"; fi
}

# ssh_to HOST PORT KEY COMMAND...: a command over the machine key's connection to HOST:PORT; host key
# pinned when KEY is set. The first command opens the connection (an OpenSSH ControlMaster, its socket
# in the step's private directory) and later ones reuse it: one handshake per node and peer in a step,
# not one per command. ssh_close_all ends them with the step; ControlPersist ends a master left idle
# (a step killed before its cleanup) after 60 seconds.
ssh_to() {
  host=$1 port=$2 key=$3
  shift 3
  if [ -n "$key" ]; then checking=yes; else checking=no; fi
  ssh -i "$work/key" -p "$port" -o BatchMode=yes -o IdentitiesOnly=yes -o ConnectTimeout="$NICO_CONNECT_TIMEOUT" \
    -o ConnectionAttempts=1 -o ServerAliveInterval=15 -o ServerAliveCountMax=4 -o StrictHostKeyChecking="$checking" \
    -o UserKnownHostsFile="$known" -o GlobalKnownHostsFile=/dev/null -o UpdateHostKeys=no -o LogLevel=ERROR \
    -o ControlMaster=auto -o ControlPath="$(control_path "$host" "$port" "$key")" -o ControlPersist=60 \
    "$NICO_SSH_USER@$host" "$@"
}
ssh_node() { ssh_to "$NICO_SSH_HOST" "$NICO_SSH_PORT" "$NICO_HOST_KEY" "$@"; }

# ssh_fresh_node: closes the node's connection, so that the next ssh_node opens a new one (after the
# switch, only a new connection proves that the node can still be reached).
ssh_fresh_node() {
  ssh -o ControlPath="$(control_path "$NICO_SSH_HOST" "$NICO_SSH_PORT" "$NICO_HOST_KEY")" -p "$NICO_SSH_PORT" -O exit "$NICO_SSH_USER@$NICO_SSH_HOST" >/dev/null 2>&1 || true
}

# ssh_close_all: ends every connection this step opened (at its end, from the EXIT trap).
ssh_close_all() {
  for socket in "$work"/cm-*; do
    [ -S "$socket" ] || continue
    ssh -o ControlPath="$socket" -O exit nico-cluster >/dev/null 2>&1 || true
  done
}

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
  # Said on every step that connects unpinned (the plan warns too: check "host_keys_pinned").
  [ -n "$NICO_HOST_KEY" ] || say "trust on first use: no hostKey is set, so this step accepts whatever key answers at $NICO_SSH_HOST port $NICO_SSH_PORT"
  if out=$(ssh_node true 2>&1 </dev/null); then return 0; fi
  printf '%s\n' "$out" | sed '/^$/d; s/^/  ssh: /' >&2
  fail "cannot connect to $NICO_SSH_USER@$NICO_SSH_HOST port $NICO_SSH_PORT: $(explain "$node" "$NICO_SSH_HOST" "$NICO_SSH_PORT" "$NICO_HOST_KEY" "$out")"
}
