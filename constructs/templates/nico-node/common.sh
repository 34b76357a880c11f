# nico-node: deploys one node, or removes it from the cluster, over the runner's OpenSSH client.
# Terraform runs it from a terraform_data's local-exec provisioner (`eval "$NICO_SCRIPT"`), with
# everything it needs in the environment; it reads no file left by an earlier run, so a fresh runner
# that has only the state (HCP Terraform, CI) works.
#
# Why not Terraform's built-in SSH (remote-exec, file): it retries a dead host for minutes and then
# names a line of the configuration, lands its scripts as 0777 files in the node's /tmp, uploads with
# 0644 modes, and cannot serialize nodes that Terraform runs in parallel. Here the script goes to the
# node on stdin (`sh -s`), every file is written with umask 077, a connection fails after
# NICO_CONNECT_TIMEOUT with the likely fix, and turns kept on the runner let one control-plane node
# change at a time whatever the graph's shape (runner-state.sh).
#
# Environment (all NICO_*):
#   ACTION            deploy | remove | forget | install | snapshot | restore
#   NODE ROLE         node name; init | joiner | worker
#   SSH_HOST SSH_PORT SSH_USER HOST_KEY (may be empty: not checked)  SSH_KEY (the machine key)
#   CONNECT_TIMEOUT   seconds for one SSH connection to be established
#   REMOTE_DIR        the node's flake directory
#   PEERS             lines "name host port host-key-or-empty": the other control-plane nodes, init first
#   CLUSTER_ID        with the terraform process, names this apply's runner state (runner-state.sh)
#   GONE              true: the machine is gone for good; never connect to it
#   DRAIN_TIMEOUT MAX_UNAVAILABLE
#   install only:     NIXOS_ANYWHERE (flake ref), HOST_PRIVATE_KEY HOST_PUBLIC_KEY (made by Terraform),
#                     FILE_* and SECRET_* as for deploy; HOST_KEY is then the key before the install
#   deploy only:      READY_TIMEOUT, ROLLBACK (true|false), FILE_COUNT + FILE_<i> and
#                     SECRET_COUNT + SECRET_<i> ("base64-path\nbase64-content")
set -eu
umask 077

node=$NICO_NODE
say() { printf 'nico: %s: %s\n' "$node" "$*"; }
fail() {
  printf 'nico: %s: error: %s\n' "$node" "$*" >&2
  FAILED_WHY=$* # what main.sh records as this apply's failure (runner-state.sh)
  exit 1
}
# A value quoted for the remote shell.
q() { printf "'%s'" "$(printf '%s' "$1" | sed "s/'/'\\\\''/g")"; }

# emit VAR-PREFIX COUNT DEST: shell lines that write each "base64-name\nbase64-content" variable below
# DEST (a path the receiving shell expands, such as '"$dir"'). Neither name nor content ever reaches a
# shell as text: both travel base64-encoded and are checked here to be base64 and nothing else. A file
# name may hold anything a file system allows (Terraform refuses names that are not plain; this is the
# second line of defence), so it is decoded into a variable, never through `dirname` or a command
# substitution that would drop a trailing newline (the "." guards it).
emit() {
  i=0
  while [ "$i" -lt "$2" ]; do
    eval "entry=\${$1_$i}"
    name=${entry%%"
"*}
    data=${entry#*"
"}
    case $name$data in
    *[!A-Za-z0-9+/=]*) fail "$1_$i is not a base64 name and content (a bug in the graph that made it)" ;;
    esac
    printf 'nico_f=$(printf %%s %s | base64 -d; printf .); nico_f=%s/${nico_f%%.}; mkdir -p "${nico_f%%/*}"; base64 -d >"$nico_f" <<%s\n%s\n%s\n' \
      "$name" "$3" "'NICO_EOF'" "$data" NICO_EOF
    i=$((i + 1))
  done
}
