# install.sh: NixOS onto a machine with nixos-anywhere.

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
