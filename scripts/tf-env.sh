# shellcheck shell=bash
# scripts/tf-env.sh: point Terraform at the offline toolchain that
# scripts/bootstrap.sh prepared. Source it, do not execute it:
#
#   . scripts/tf-env.sh
#
# It installs nothing, never exits the calling shell, does not change the
# caller's shell options, and works under `set -euo pipefail`.
#
# Exports:
#   NICO_CACHE_DIR      cache root (default: $HOME/.cache/nico-cluster)
#   TF_CLI_CONFIG_FILE  $NICO_CACHE_DIR/terraformrc (only when that file exists,
#                       so machines with internet keep using the public registry)
#   CHECKPOINT_DISABLE=1, TF_IN_AUTOMATION=1,
#   TF_PLUGIN_CACHE_MAY_BREAK_DEPENDENCY_LOCK_FILE=1 (lets `terraform init` in a
#                       fresh directory without a lock file use plugin_cache_dir)
#   TERRAFORM_BINARY_NAME  absolute path of the terraform binary in use (read by
#                       the cdktf testing matchers)
#   PATH                $NICO_CACHE_DIR/bin prepended when terraform is not on
#                       PATH but bootstrap.sh built one there

_nico_home=~
NICO_CACHE_DIR="${NICO_CACHE_DIR:-${_nico_home}/.cache/nico-cluster}"
case "$NICO_CACHE_DIR" in
  /*) ;;
  *) NICO_CACHE_DIR="$PWD/$NICO_CACHE_DIR" ;;
esac
export NICO_CACHE_DIR

if [ -f "$NICO_CACHE_DIR/terraformrc" ]; then
  export TF_CLI_CONFIG_FILE="$NICO_CACHE_DIR/terraformrc"
fi
export CHECKPOINT_DISABLE=1
export TF_IN_AUTOMATION=1
export TF_PLUGIN_CACHE_MAY_BREAK_DEPENDENCY_LOCK_FILE=1

# terraform on PATH wins; otherwise the one bootstrap.sh built into the cache.
_nico_tf="$(command -v terraform 2>/dev/null || true)"
case "$_nico_tf" in
  /*) ;;           # a real file on PATH
  *) _nico_tf="" ;; # not found, or only an alias/function/builtin
esac
if [ -z "$_nico_tf" ] && [ -x "$NICO_CACHE_DIR/bin/terraform" ]; then
  case ":$PATH:" in
    *":$NICO_CACHE_DIR/bin:"*) ;;
    *) PATH="$NICO_CACHE_DIR/bin:$PATH" ;;
  esac
  export PATH
  _nico_tf="$NICO_CACHE_DIR/bin/terraform"
fi
if [ -n "$_nico_tf" ]; then
  export TERRAFORM_BINARY_NAME="$_nico_tf"
else
  echo "tf-env: no terraform found on PATH or in $NICO_CACHE_DIR/bin; run scripts/bootstrap.sh" >&2
fi
unset _nico_home _nico_tf
