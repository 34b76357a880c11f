# install.sh: NixOS onto a machine with nixos-anywhere.

# install: NixOS onto the machine with nixos-anywhere (kexec into an installer, disko partitions the
# disk from the tree's layout, #minimal is installed), then waits until the installed system answers.
# Its SSH host key, made by Terraform, and its secrets go in as extra files, root-only, never through a
# Nix store: every connection after this pins that key. Runs on the runner, which needs Nix with flakes.
install() {
  # Created again for a raised installGeneration while install is off: nothing is installed (install
  # on is what asks for a wipe); the node keeps its install and its pin (node-install.ts).
  if [ "${NICO_INSTALLS:-true}" != true ]; then
    say "install is off: nothing installed (installGeneration ${NICO_INSTALL_GENERATION:-?} recorded); the node keeps the system and the host key of its last install"
    return 0
  fi
  command -v nix >/dev/null 2>&1 ||
    fail "installing NixOS needs Nix with flakes on the machine that runs Terraform (nixos-anywhere runs through \`nix run\`); nix is not on PATH"
  nix --extra-experimental-features 'nix-command flakes' flake --help >/dev/null 2>&1 ||
    fail "installing NixOS needs Nix with flakes on the machine that runs Terraform; \`nix flake\` does not work with this nix ($(nix --version 2>&1 | head -n 1))"
  # A kexecUrl path is uploaded from here, and only when it is a file here (nixos-anywhere.sh runKexec,
  # `[[ -f $kexecUrl ]]`): otherwise it would ask the machine to download the path, and fail there.
  case ${NICO_KEXEC_URL:-} in
  /*) [ -f "$NICO_KEXEC_URL" ] && [ -r "$NICO_KEXEC_URL" ] ||
    fail "kexecUrl (kexec_url in the HCL module) $NICO_KEXEC_URL is not a readable file on the machine that runs Terraform: a path is uploaded from this machine (an http(s) URL is downloaded by the machine being installed)" ;;
  esac
  # Before the install the machine presents the key given as hostKey (a rescue system's, the old
  # distribution's; main.sh pinned it). Without hostKey, the key of this first connection is pinned
  # for the whole install.
  # The key Terraform made is accepted too: only a system it installed holds it (it arrives with the
  # extra files): the machine when installed again, and nixos-anywhere may reach it after the reboot.
  if [ -n "$NICO_HOST_KEY" ]; then
    pin "$node" "$NICO_SSH_HOST" "$NICO_SSH_PORT" "$NICO_HOST_PUBLIC_KEY"
    check_connection
  else
    trust_on_first_use
    pin "$node" "$NICO_SSH_HOST" "$NICO_SSH_PORT" "$NICO_HOST_PUBLIC_KEY"
  fi
  say "installing NixOS with nixos-anywhere $NICO_NIXOS_ANYWHERE: this wipes the disk of $NICO_SSH_HOST"
  # The tree and the extra files, from the state's values (a fresh runner needs nothing local).
  mkdir -p "$work/flake" "$work/extra/etc/ssh" "$work/extra/var/lib/nico/secrets" "$work/tmp" "$work/bin"
  # tar carries the modes of every directory to the new system: /var and /var/lib as NixOS has them.
  chmod 0755 "$work/extra" "$work/extra/etc" "$work/extra/etc/ssh" "$work/extra/var" "$work/extra/var/lib"
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
  # This install's marker: extra files reach the disk only after disko and the closure, and the
  # running system has them only once it booted from that disk, i.e. after nixos-install and the
  # reboot. The deploy checks it (check_install_finished): a killed apply may have recorded the install.
  printf '%s\n' "$NICO_INSTALL_ID" >"$work/extra/var/lib/nico/install-id"
  chmod 0600 "$work/extra/etc/ssh/ssh_host_ed25519_key"
  chmod 0644 "$work/extra/etc/ssh/ssh_host_ed25519_key.pub"
  if [ ! -f "$work/flake/flake.lock" ]; then
    nix --extra-experimental-features 'nix-command flakes' flake lock "path:$work/flake" || fail "could not lock the flake's inputs on this machine"
  fi
  # The node then builds every later change from the same lock (see deploy).
  cp "$work/flake/flake.lock" "$work/extra/var/lib/nico/flake.lock"
  run_nixos_anywhere
  wait_for_installed_system
}

# trust_on_first_use: no hostKey: the first connection accepts the key the machine presents and pins
# it (in this step's known_hosts) for every later connection of the install, and says so.
trust_on_first_use() {
  if ! out=$(ssh -i "$work/key" -p "$NICO_SSH_PORT" -o BatchMode=yes -o IdentitiesOnly=yes -o ConnectTimeout="$NICO_CONNECT_TIMEOUT" \
    -o ConnectionAttempts=1 -o StrictHostKeyChecking=accept-new -o UserKnownHostsFile="$known" -o GlobalKnownHostsFile=/dev/null \
    -o UpdateHostKeys=no -o LogLevel=ERROR "$NICO_SSH_USER@$NICO_SSH_HOST" true 2>&1 </dev/null); then
    printf '%s\n' "$out" | sed '/^$/d; s/^/  ssh: /' >&2
    fail "cannot connect to $NICO_SSH_USER@$NICO_SSH_HOST port $NICO_SSH_PORT: $(explain "$node" "$NICO_SSH_HOST" "$NICO_SSH_PORT" "" "$out")"
  fi
  say "trust on first use: no hostKey is set, so the key $NICO_SSH_HOST presents now is trusted and pinned for the rest of the install: $(ssh-keygen -l -f "$known" | awk '{ print $2 " " $NF }' | head -n 1)"
}

# run_nixos_anywhere: the pinned release, through an `ssh` first on its PATH that puts the pin first.
# nixos-anywhere.sh starts every ssh command line with `-o UserKnownHostsFile=/dev/null -o
# StrictHostKeyChecking=no` (line 69) and OpenSSH keeps the first value given for an option, so the
# `--ssh-option`s of the same names would change nothing (upstream issue #552). Its package puts its
# own openssh last on PATH (src/default.nix: the system's ssh wins), and ssh-copy-id and `nix copy`
# (NIX_SSHOPTS) run `ssh` from PATH too: every connection it makes goes through this wrapper.
run_nixos_anywhere() {
  real_ssh=$(command -v ssh)
  {
    printf '#!/bin/sh\n# nico: pins the host key for every connection of nixos-anywhere (see install.sh).\n'
    printf 'known=%s real=%s log=%s\n' "$(q "$known")" "$(q "$real_ssh")" "$(q "$work/tmp/ssh-log")"
    cat <<'EOF_WRAPPER'
log="$log.$$"
"$real" -o UserKnownHostsFile="$known" -o GlobalKnownHostsFile=/dev/null -o StrictHostKeyChecking=yes \
  -o UpdateHostKeys=no -o CheckHostIP=no -E "$log" "$@"
rc=$?
if [ -s "$log" ]; then cat "$log" >&2; fi
if [ "$rc" = 255 ] && grep -q -e 'IDENTIFICATION HAS CHANGED' -e 'Host key verification failed' "$log" 2>/dev/null; then
  cp "$log" "${known%/*}/host-key-refused"
fi
rm -f "$log"
exit "$rc"
EOF_WRAPPER
  } >"$work/bin/ssh"
  chmod 0700 "$work/bin/ssh"
  set -- --flake "path:$work/flake#minimal" --extra-files "$work/extra" -i "$work/key" -p "$NICO_SSH_PORT" \
    --post-kexec-ssh-port "$NICO_SSH_PORT" --target-host "$NICO_SSH_USER@$NICO_SSH_HOST"
  [ -z "${NICO_KEXEC_URL:-}" ] || set -- "$@" --kexec "$NICO_KEXEC_URL"
  # Twice: into the installer, with the machine's hardware report (initrd modules for its disk), which
  # then goes into the tree that #minimal is built from and, as an extra file, to the installed
  # system, where every later deploy adds it to the node's tree (deploy.sh); then the disk and NixOS.
  anywhere "$@" --phases kexec --generate-hardware-config nixos-generate-config "$work/hardware-configuration.nix"
  [ -s "$work/hardware-configuration.nix" ] || fail "nixos-anywhere wrote no hardware report (nixos-generate-config in the installer); see its lines above"
  cp "$work/hardware-configuration.nix" "$work/flake/hardware-configuration.nix"
  cp "$work/hardware-configuration.nix" "$work/extra/var/lib/nico/hardware-configuration.nix"
  anywhere "$@" --phases disko,install,reboot
}

# The watcher of a nixos-anywhere session (see anywhere): $1 the step's pid, $2 the session's. A
# zombie counts as gone (runner-state.sh proc_start says why). TERM first, as the step's own traps
# send; KILL whatever is left after 5 s. It ignores TERM itself and dies with the KILL.
ANYWHERE_WATCH='trap "" TERM HUP INT
alive() { if [ -d /proc/self ]; then s=$(cat "/proc/$1/stat" 2>/dev/null) || return 1; s=${s##*")"}; set -- $s; [ "$1" != Z ]; else kill -0 "$1" 2>/dev/null; fi; }
while alive "$1"; do sleep 1; done
kill -TERM -"$2" 2>/dev/null
sleep 5
kill -KILL -"$2" 2>/dev/null'

# anywhere ARGS...: one run of nixos-anywhere, stopped as soon as a connection met another host key.
anywhere() {
  # Its temporary directory (a copy of the machine key) inside this step's: removed whatever happens.
  # In a session of its own when setsid exists, so that a refused host key or an interrupted apply
  # ends it with every ssh it started (its first process writes the session's id; `setsid -w` waits
  # for it and returns its status, whether or not it had to fork).
  # The session ends with this step even when the step cannot end it (terraform and its steps
  # SIGKILLed: no trap runs): a watcher in the session, started before nix, ends the session within
  # seconds of the step's death. Left running, nixos-anywhere would go on working on the machine (and
  # from files of a step directory the next step removes) while the next apply meets it half done.
  rm -f "$work/anywhere.pgid"
  if command -v setsid >/dev/null 2>&1; then
    TMPDIR="$work/tmp" PATH="$work/bin:$PATH" setsid -w sh -c 'echo "$$" >"$0"; sh -c "$1" nico-anywhere-watch "$2" "$$" </dev/null >/dev/null 2>&1 & shift 2; exec "$@"' \
      "$work/anywhere.pgid" "$ANYWHERE_WATCH" "$$" \
      nix --extra-experimental-features 'nix-command flakes' run "$NICO_NIXOS_ANYWHERE" -- "$@" </dev/null &
  else
    TMPDIR="$work/tmp" PATH="$work/bin:$PATH" nix --extra-experimental-features 'nix-command flakes' run "$NICO_NIXOS_ANYWHERE" -- "$@" </dev/null &
  fi
  anywhere=$!
  stop_anywhere() {
    if [ -s "$work/anywhere.pgid" ]; then kill -TERM -"$(cat "$work/anywhere.pgid")" 2>/dev/null; else kill -TERM "$anywhere" 2>/dev/null; fi
  }
  trap 'stop_anywhere; exit 129' HUP
  trap 'stop_anywhere; exit 130' INT
  trap 'stop_anywhere; exit 143' TERM
  # Upstream waits for the installer without a bound (`until runSsh ...; do sleep 5; done`): a
  # refused host key would keep it trying forever, so it is ended here.
  while kill -0 "$anywhere" 2>/dev/null; do
    if [ -f "$work/host-key-refused" ]; then stop_anywhere; break; fi
    sleep 1
  done
  if wait "$anywhere"; then rc=0; else rc=$?; fi
  trap 'exit 129' HUP
  trap 'exit 130' INT
  trap 'exit 143' TERM
  if [ -f "$work/host-key-refused" ]; then
    fail "during the install $NICO_SSH_HOST port $NICO_SSH_PORT presented a host key other than the pinned one ($(ssh-keygen -l -f "$known" | awk '{ print $2 }' | head -n 1)); nixos-anywhere was stopped: nothing more was sent to it, the extra files (host key, secrets) not at all unless its lines above say \"Copying extra files\". Find out who answers at that address before applying again"
  fi
  [ "$rc" = 0 ] || fail "nixos-anywhere did not install $NICO_SSH_HOST (exit $rc); see its lines above. A half-done install is repeated by the next apply"
}

# wait_for_installed_system: nixos-anywhere returns once the machine stops answering for its reboot.
# Waits (readyTimeoutSeconds at most) until the installed system answers with the host key Terraform
# made, as upstream's Terraform module retries after the reboot (terraform/nixos-rebuild/deploy.sh).
wait_for_installed_system() {
  known="$work/known_hosts.installed"
  : >"$known"
  pin "$node" "$NICO_SSH_HOST" "$NICO_SSH_PORT" "$NICO_HOST_PUBLIC_KEY"
  say "installed; waiting (at most ${NICO_READY_TIMEOUT}s) for it to boot and answer with the host key Terraform made"
  start=$(date +%s)
  while :; do
    if out=$(ssh_to "$NICO_SSH_HOST" "$NICO_SSH_PORT" "$NICO_HOST_PUBLIC_KEY" true 2>&1 </dev/null); then
      say "the installed system answers ($(($(date +%s) - start))s after its reboot)"
      return 0
    fi
    case $out in
    *"IDENTIFICATION HAS CHANGED"* | *"Host key verification failed"* | *"Permission denied"*)
      printf '%s\n' "$out" | sed '/^$/d; s/^/  ssh: /' >&2
      fail "after the install $NICO_SSH_HOST port $NICO_SSH_PORT answers, but not as the installed system: $(explain "$node" "$NICO_SSH_HOST" "$NICO_SSH_PORT" "$NICO_HOST_PUBLIC_KEY" "$out")" ;;
    esac
    if [ $(($(date +%s) - start)) -ge "$NICO_READY_TIMEOUT" ]; then
      printf '%s\n' "$out" | sed '/^$/d; s/^/  ssh: /' >&2
      fail "the installed system did not answer within ${NICO_READY_TIMEOUT}s (readyTimeoutSeconds) after its reboot: $(explain "$node" "$NICO_SSH_HOST" "$NICO_SSH_PORT" "$NICO_HOST_PUBLIC_KEY" "$out"). Check its console: does it boot (firmware, disk), and does $NICO_SSH_PORT reach its port 22?"
    fi
    sleep 2
  done
}

# check_install_finished (deploy): a node nico-cluster installed must run the system of its last
# install before anything is sent to it. Terraform records a created install before its provisioner
# ends, so an apply killed during the install (kexec, disko, the closure) leaves it recorded and the
# next apply would deploy onto the installer or a half-written disk. The machine says which: the
# installed system holds the install's id (/var/lib/nico/install-id, from the extra files, which only
# a system that booted from the installed disk has); the installer and the old system do not.
check_install_finished() {
  [ -n "${NICO_INSTALL_ID:-}" ] || return 0
  redo="Install it again (this wipes its disk): raise its installGeneration to $((NICO_INSTALL_GENERATION + 1)) (install_generation in the HCL module) and apply, or run: terraform apply -replace='${NICO_MODULE_ADDRESS:-}terraform_data.install[\"$node\"]'"
  if out=$(ssh_node 'cat /var/lib/nico/install-id 2>/dev/null || true; if grep -Eq "^VARIANT_ID=\"?installer" /etc/os-release 2>/dev/null; then echo "nico-installer"; fi' 2>&1 </dev/null); then
    case $out in
    *nico-installer*) fail "its install did not finish: it runs the NixOS installer (the apply that installed it was interrupted). Nothing was sent to it. $redo" ;;
    esac
    [ "$out" = "$NICO_INSTALL_ID" ] ||
      fail "its install did not finish: it presents the host key Terraform made but does not run the system its last install put on the disk (/var/lib/nico/install-id is $(if [ -n "$out" ]; then printf '%.40s' "$out"; else echo missing; fi), not $NICO_INSTALL_ID): the apply that installed it was interrupted. Nothing was sent to it. $redo"
    return 0
  fi
  case $out in
  *"IDENTIFICATION HAS CHANGED"* | *"Host key verification failed"* | *"host key"*"not known"* | *"No "*" host key is known"*) ;;
  *) return 0 ;; # not a question of keys: check_connection explains it
  esac
  printf '%s\n' "$out" | sed '/^$/d; s/^/  ssh: /' >&2
  if [ -n "${NICO_PRE_INSTALL_KEY:-}" ]; then
    pinned=$known
    known="$work/known_hosts.pre-install"
    : >"$known"
    pin "$node" "$NICO_SSH_HOST" "$NICO_SSH_PORT" "$NICO_PRE_INSTALL_KEY"
    if ssh_to "$NICO_SSH_HOST" "$NICO_SSH_PORT" "$NICO_PRE_INSTALL_KEY" true >/dev/null 2>&1 </dev/null; then
      known=$pinned
      fail "its install did not finish: it still presents its host key from before the install (its hostKey), not the one Terraform made for it: the apply that installed it was interrupted before the installed system booted. Nothing was sent to it. $redo"
    fi
    known=$pinned
  fi
  fail "it presents a host key other than the one Terraform made for it$(if [ -n "${NICO_PRE_INSTALL_KEY:-}" ]; then echo " and other than its hostKey"; fi) ($(printf '%s' "$NICO_HOST_KEY" | cut -c1-40)...): another machine answers at $NICO_SSH_HOST port $NICO_SSH_PORT, or its install never finished (an interrupted apply left the installer or its old system there). Nothing was sent to it. Find out which from its console; if it is this machine and its install did not finish: $redo"
}
