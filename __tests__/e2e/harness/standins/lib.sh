# shellcheck shell=sh
# Shared by the stand-in commands (nixos-rebuild, k3s, systemctl) that the e2e test lab puts first on
# each node's PATH. They stand in for what cannot run here and record every call as one JSON line in
# $NICO_TEST_LAB/calls.jsonl. The test lab's sshd sets the variables below (SetEnv in sshd_config).
set -u
: "${NICO_TEST_LAB:?is not set: stand-ins only run through a test lab node (sshd SetEnv)}"
: "${NICO_TEST_NODE:?is not set: stand-ins only run through a test lab node (sshd SetEnv)}"
: "${NICO_TEST_CONTROL:?is not set: stand-ins only run through a test lab node (sshd SetEnv)}"

# Per-node state lives in the node's private mount of /etc/nico, as it would on a real machine.
ACTIVE_CONFIG_FILE=/etc/nico/.active-config
CLEAN_MARKER=/etc/nico/.clean
KUBECONFIG_FILE=/etc/rancher/k3s/k3s.yaml

# JSON string escaping in awk: sh has no string functions, and jq is not guaranteed on a node.
# Byte-wise in the C locale, so UTF-8 passes through unchanged; other control characters are dropped.
AWK_ESC='function esc(s,   out, i, c) {
  out = ""
  for (i = 1; i <= length(s); i++) {
    c = substr(s, i, 1)
    if (c == "\\") c = "\\\\"; else if (c == "\"") c = "\\\""
    else if (c == "\n") c = "\\n"; else if (c == "\t") c = "\\t"; else if (c < " ") c = ""
    out = out c
  }
  return out
}'

# Comma-separated JSON strings for all arguments (one awk for all: ARGV keeps newlines and dashes).
json_strs() {
  LC_ALL=C awk -- "$AWK_ESC"' BEGIN { for (i = 1; i < ARGC; i++) printf "%s\"%s\"", (i > 1 ? "," : ""), esc(ARGV[i]); exit }' "$@"
}

# standin_begin <command> <args...>: remember what was asked, and when.
standin_begin() {
  STANDIN_CMD=$1
  shift
  STANDIN_ARGS_JSON="[$(json_strs "$@")]"
  STANDIN_START=$(date +%s%3N)
  STANDIN_EXTRA=""
  # What is under way (calls.jsonl has what ended): a test can act while a long call runs.
  (flock 9 && printf '{"node":"%s","command":"%s","start":%s}\n' "$NICO_TEST_NODE" "$STANDIN_CMD" "$STANDIN_START" >>"$NICO_TEST_LAB/started.jsonl") 9>>"$NICO_TEST_LAB/calls.lock"
  # A dropped SSH session or a killed provisioner still leaves a record.
  trap 'finish 129' HUP
  trap 'finish 130' INT
  trap 'finish 143' TERM
}

# finish <code> [message]: print the message on stderr, append the record, exit with <code>.
finish() {
  trap - HUP INT TERM
  if [ -n "${2:-}" ]; then
    printf '%s\n' "$2" >&2
    STANDIN_EXTRA="$STANDIN_EXTRA,\"error\":$(json_strs "$2")"
  fi
  line=$(printf '{"node":"%s","command":"%s","args":%s,"start":%s,"end":%s,"exit":%s%s}' \
    "$NICO_TEST_NODE" "$STANDIN_CMD" "$STANDIN_ARGS_JSON" "$STANDIN_START" "$(date +%s%3N)" "$1" "$STANDIN_EXTRA")
  # Nodes run in parallel: one writer at a time, one whole line per call.
  (flock 9 && printf '%s\n' "$line" >>"$NICO_TEST_LAB/calls.jsonl") 9>>"$NICO_TEST_LAB/calls.lock"
  exit "$1"
}

# control <key>: a value from this node's control file (key=value lines written by the test).
control() {
  [ -f "$NICO_TEST_CONTROL" ] && sed -n "s/^$1=//p" "$NICO_TEST_CONTROL" | tail -n 1
}

# The system profile: generation N is the link system-N-link (a file naming the config it switched to).
PROFILE_DIR=/nix/var/nix/profiles
PROFILE=$PROFILE_DIR/system
generation() {
  link=$(readlink "$PROFILE" 2>/dev/null || echo system-0-link)
  link=${link#system-}
  echo "${link%-link}"
}

active_config() {
  cat "$ACTIVE_CONFIG_FILE" 2>/dev/null || true
}

# The node runs k3s when its active configuration is a real one (not unset, not #minimal).
k3s_running() {
  cfg=$(active_config)
  [ -n "$cfg" ] && [ "$cfg" != minimal ] && [ ! -e "$NICO_TEST_CONTROL.broken" ]
}
