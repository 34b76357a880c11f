#!/usr/bin/env bash
# scripts/bootstrap.sh: install everything the nico-cluster tests need, OFFLINE.
#
# Only for machines that cannot reach GitHub or registry.terraform.io but can
# reach package registries (Debian apt, the Go module proxy, npm). With normal
# internet access you do not need this script: run `npm ci`, install terraform,
# and let `terraform init` download the providers from the public registry.
#
# Steps (idempotent; prints one summary line and takes < 2 s when warm):
#   1. Debian packages whose command is missing: nix-bin (nix-instantiate),
#      openssh-server (sshd), openssh-client (ssh, ssh-keygen), iproute2 (ip),
#      util-linux (unshare). `apt-get update` runs at most once, only if needed.
#   2. terraform: the one on PATH, else `go install github.com/hashicorp/terraform@v1.5.7`
#      into $NICO_CACHE_DIR/bin (last MPL release that installs with go install).
#   3. The four providers pinned by the @cdktf/provider-* bindings, built from
#      source with `go install <module>@<commit or its pseudo-version>` (only
#      those missing) into an unpacked filesystem mirror: $NICO_CACHE_DIR/terraform-mirror/registry.terraform.io/hashicorp/
#      <name>/<version>/<os>_<arch>/terraform-provider-<name>_v<version>.
#   4. $NICO_CACHE_DIR/terraformrc: filesystem_mirror only (no `direct`), plus a
#      plugin_cache_dir, filled once by a `terraform init` of the providers (parallel
#      test workers then only read it).
#   5. `npm ci` when node_modules is missing or older than package-lock.json.
#   Then it sources scripts/tf-env.sh, which other scripts source to use all this.
#
# Environment: NICO_CACHE_DIR (default $HOME/.cache/nico-cluster).
# Log of the noisy commands (apt, go, npm): $NICO_CACHE_DIR/bootstrap.log.
# Locally built providers do not match the registry's hashes: never commit a
# .terraform.lock.hcl produced against this mirror as if it were official.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
CACHE="${NICO_CACHE_DIR:-$HOME/.cache/nico-cluster}"
mkdir -p "$CACHE"
CACHE="$(cd "$CACHE" && pwd)"
MIRROR="$CACHE/terraform-mirror"
PLUGIN_CACHE="$CACHE/terraform-plugin-cache"
RC="$CACHE/terraformrc"
LOG="$CACHE/bootstrap.log"

TERRAFORM_GO_VERSION="v1.5.7"
# name version go-module commit go-version
# Each provider is built from the commit of one release, named by its canonical pseudo-version
# (v<base>-0.<UTC commit time>-<12 hex>): tags v2+ are not valid Go module versions for these paths,
# and the Go module proxy reachable here serves pseudo-versions it already holds, not bare hashes.
# The versions the prebuilt cdktf bindings pin (local 2.6.1, random 3.7.2, null 3.2.4) are not served
# here, so the mirror holds the nearest releases it serves, each checked to be exactly that release
# (its CHANGELOG heads with it and .changes/unreleased is empty). The stack and the module accept
# them through version ranges. No null provider: deployment uses Terraform's built-in terraform_data.
PROVIDERS=(
  "local  2.9.0 github.com/terraform-providers/terraform-provider-local  3561e410f9fe v1.4.1-0.20260513075820-3561e410f9fe"
  "tls    4.1.0 github.com/hashicorp/terraform-provider-tls              eefba144662d v1.2.1-0.20250423195406-eefba144662d"
  "random 3.6.0 github.com/terraform-providers/terraform-provider-random c6e90de46687 v1.3.2-0.20231204135814-c6e90de46687"
)
GO_MIN_MINOR=24 # local 2.6.1 declares `go 1.24.0`

say() { printf 'bootstrap: %s\n' "$*"; }
die() { printf 'bootstrap: ERROR: %s\n' "$*" >&2; exit 1; }

LOG_STARTED=0
# run_logged DESCRIPTION CMD...: run CMD with its output appended to $LOG; on
# failure show the end of that output and return 1 (which stops the script
# under set -e, unless the caller tests the result).
run_logged() {
  local what="$1" step="$LOG.step" rc=0
  shift
  if [ "$LOG_STARTED" = 0 ]; then
    : >"$LOG"
    LOG_STARTED=1
  fi
  printf '\n### %s\n### %s\n' "$what" "$*" >>"$LOG"
  "$@" >"$step" 2>&1 || rc=$?
  cat "$step" >>"$LOG"
  if [ "$rc" != 0 ]; then
    printf 'bootstrap: ERROR: %s failed (exit %s); its last lines (all in %s):\n' "$what" "$rc" "$LOG" >&2
    tail -n 12 "$step" | sed 's/^/  | /' >&2
  fi
  rm -f "$step"
  return "$rc"
}

TMP=""
cleanup() { if [ -n "$TMP" ]; then rm -rf "$TMP"; fi; }
trap cleanup EXIT
# Temp dir inside the cache, so `mv` into the mirror is an atomic rename.
tmpdir() {
  if [ -z "$TMP" ]; then TMP="$(mktemp -d "$CACHE/.tmp.XXXXXX")"; fi
}

# One bootstrap at a time per cache (a second one waits, then finds it warm).
if command -v flock >/dev/null 2>&1; then
  exec 9>"$CACHE/.bootstrap.lock"
  if ! flock -n 9; then
    say "waiting for another bootstrap.sh using $CACHE..."
    flock 9
  fi
fi

# ---------------------------------------------------------------- 1. apt
# sshd and ip live in /usr/sbin, which a non-root PATH may lack.
have_cmd() {
  command -v "$1" >/dev/null 2>&1 || [ -x "/usr/sbin/$1" ] || [ -x "/sbin/$1" ]
}
missing_pkgs=()
for pair in nix-instantiate:nix-bin sshd:openssh-server ssh:openssh-client \
  ssh-keygen:openssh-client ip:iproute2 unshare:util-linux; do
  cmd="${pair%%:*}" pkg="${pair#*:}"
  if ! have_cmd "$cmd"; then
    case " ${missing_pkgs[*]} " in
      *" $pkg "*) ;;
      *) missing_pkgs+=("$pkg") ;;
    esac
  fi
done
if [ "${#missing_pkgs[@]}" -gt 0 ]; then
  command -v apt-get >/dev/null 2>&1 ||
    die "missing Debian packages (${missing_pkgs[*]}) and no apt-get; install them by hand"
  if [ "$(id -u)" = 0 ]; then
    as_root=()
  elif command -v sudo >/dev/null 2>&1; then
    as_root=(sudo)
  else
    die "missing Debian packages; as root run: apt-get update && apt-get install -y ${missing_pkgs[*]}"
  fi
  say "installing Debian packages: ${missing_pkgs[*]} (apt-get update + install)..."
  run_logged "apt-get update" "${as_root[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update -q
  run_logged "apt-get install" "${as_root[@]}" env DEBIAN_FRONTEND=noninteractive \
    apt-get install -y -q "${missing_pkgs[@]}"
  for cmd in nix-instantiate sshd ssh ssh-keygen ip unshare; do
    have_cmd "$cmd" || die "'$cmd' still missing after apt-get install"
  done
fi

# ---------------------------------------------------------------- Go (only when building)
GO=""
go_env=()
need_go() {
  [ -z "$GO" ] || return 0
  GO="$(command -v go 2>/dev/null || true)"
  if [ -z "$GO" ] && [ -x /usr/local/go/bin/go ]; then GO=/usr/local/go/bin/go; fi
  [ -n "$GO" ] || die "Go >= 1.$GO_MIN_MINOR is needed to build terraform/providers from source (https://go.dev/dl); none on PATH"
  local v minor
  v="$(GOTOOLCHAIN=local "$GO" env GOVERSION)" # e.g. go1.26.8
  minor="${v#go1.}"
  minor="${minor%%[!0-9]*}"
  if [ -z "$minor" ] || [ "$minor" -lt "$GO_MIN_MINOR" ]; then
    die "Go >= 1.$GO_MIN_MINOR is needed to build the providers, found $v at $GO"
  fi
  # local toolchain only (no toolchain download); static binaries like the
  # official releases (and no C compiler needed); module mode regardless of
  # any go.mod/vendor dir around.
  go_env=(env GOTOOLCHAIN=local CGO_ENABLED=0 GOFLAGS=-mod=mod GO111MODULE=on)
}

# go_build MODULE@VERSION BINNAME DEST [LDFLAGS]: go install into a temp GOBIN,
# then rename into DEST atomically. Returns 1 on failure.
go_build() {
  local spec="$1" bin="$2" dest="$3" ldflags="${4:-}"
  need_go
  tmpdir
  local gobin="$TMP/gobin-$bin"
  mkdir -p "$gobin" || return 1
  run_logged "go install $spec" "${go_env[@]}" GOBIN="$gobin" \
    "$GO" install -trimpath -ldflags="-s -w $ldflags" "$spec" || return 1
  if [ ! -x "$gobin/$bin" ]; then
    printf 'bootstrap: ERROR: go install %s produced no %s\n' "$spec" "$bin" >&2
    return 1
  fi
  # created only now: an empty <version>/<os>_<arch> dir would confuse terraform
  mkdir -p "$(dirname "$dest")" && mv -f "$gobin/$bin" "$dest"
}

# ---------------------------------------------------------------- 2. terraform
TF="$(command -v terraform 2>/dev/null || true)"
case "$TF" in /*) ;; *) TF="" ;; esac
if [ -n "$TF" ] && [ "$TF" != "$CACHE/bin/terraform" ]; then
  tf_origin="from PATH"
else
  TF="$CACHE/bin/terraform"
  tf_origin="built in $CACHE/bin"
  if [ ! -x "$TF" ]; then
    say "no terraform on PATH: building terraform ${TERRAFORM_GO_VERSION#v} with go install (first run only, ~4 min)..."
    go_build "github.com/hashicorp/terraform@$TERRAFORM_GO_VERSION" terraform "$TF" ||
      die "could not build terraform; install terraform >= 1.5 on PATH instead"
  fi
fi
tf_version="$(CHECKPOINT_DISABLE=1 TF_CLI_CONFIG_FILE=/dev/null "$TF" version -json 2>/dev/null |
  sed -n 's/.*"terraform_version": *"\([^"]*\)".*/\1/p' || true)"
[ -n "$tf_version" ] || die "$TF does not run (\`$TF version -json\` failed)"

# ---------------------------------------------------------------- 3. providers
case "$(uname -s)" in Linux) os=linux ;; Darwin) os=darwin ;; *) die "unsupported OS $(uname -s)" ;; esac
case "$(uname -m)" in
  x86_64 | amd64) arch=amd64 ;;
  aarch64 | arm64) arch=arm64 ;;
  *) die "unsupported CPU $(uname -m)" ;;
esac
provider_path() { # name version
  printf '%s/registry.terraform.io/hashicorp/%s/%s/%s_%s/terraform-provider-%s_v%s' \
    "$MIRROR" "$1" "$2" "$os" "$arch" "$1" "$2"
}
provider_summary=""
failed=""
for p in "${PROVIDERS[@]}"; do
  read -r name version module commit goversion <<<"$p"
  dest="$(provider_path "$name" "$version")"
  if [ ! -x "$dest" ]; then
    say "building hashicorp/$name $version with go install (first run only, ~1-2 min)..."
    [ "$goversion" != "-" ] || goversion="$commit"
    # main.Version: as in the providers' own release builds (goreleaser).
    if ! go_build "$module@$goversion" "terraform-provider-$name" "$dest" "-X main.Version=$version"; then
      failed="${failed:+$failed, }$name $version"
      continue # build the others, fail at the end
    fi
  fi
  provider_summary="${provider_summary:+$provider_summary, }$name $version"
done
# ---------------------------------------------------------------- 4. terraformrc
mkdir -p "$PLUGIN_CACHE"
hcl_quote() { # HCL string literal
  local s="${1//\\/\\\\}"
  printf '"%s"' "${s//\"/\\\"}"
}
rc_tmp="$RC.tmp.$$"
cat >"$rc_tmp" <<EOF
# Written by nico-cluster scripts/bootstrap.sh; rewritten on every run.
# Offline: providers come only from the local filesystem mirror (no "direct").
plugin_cache_dir = $(hcl_quote "$PLUGIN_CACHE")

provider_installation {
  filesystem_mirror {
    path    = $(hcl_quote "$MIRROR")
    include = ["registry.terraform.io/hashicorp/*"]
  }
}
EOF
if cmp -s "$rc_tmp" "$RC"; then
  rm -f "$rc_tmp"
else
  mv -f "$rc_tmp" "$RC"
  say "wrote $RC"
fi

# ---------------------------------------------------------------- 5. node deps
if [ -f "$ROOT/package-lock.json" ] &&
  { [ ! -f "$ROOT/node_modules/.package-lock.json" ] ||
    [ "$ROOT/node_modules/.package-lock.json" -ot "$ROOT/package-lock.json" ]; }; then
  command -v npm >/dev/null 2>&1 || die "node >= 20 and npm are needed (npm not on PATH)"
  say "npm ci (node_modules missing or older than package-lock.json)..."
  (cd "$ROOT" && run_logged "npm ci" npm ci --no-audit --no-fund)
fi

# ---------------------------------------------------------------- verify + env
if [ -n "$failed" ]; then
  die "could not build provider(s): $failed (log: $LOG). If the Go module proxy
  refused a bare commit hash, give that commit's canonical pseudo-version in PROVIDERS in $0"
fi
for p in "${PROVIDERS[@]}"; do
  read -r name version _ <<<"$p"
  dest="$(provider_path "$name" "$version")"
  if [ ! -x "$dest" ] || [ ! -s "$dest" ]; then die "provider binary missing: $dest"; fi
done
[ -f "$RC" ] || die "$RC missing"

# The plugin cache is filled once, here: Terraform does not make concurrent `terraform init`s that
# fill plugin_cache_dir safe (its CLI configuration docs), and the test workers init in parallel.
# Once the cache holds every provider, an init only links to it.
cache_missing=0
for p in "${PROVIDERS[@]}"; do
  read -r name version _ <<<"$p"
  [ -d "$PLUGIN_CACHE/registry.terraform.io/hashicorp/$name/$version/${os}_$arch" ] || cache_missing=1
done
if [ "$cache_missing" = 1 ]; then
  tmpdir
  mkdir -p "$TMP/fill-cache"
  {
    printf 'terraform {\n  required_providers {\n'
    for p in "${PROVIDERS[@]}"; do
      read -r name version _ <<<"$p"
      printf '    %s = { source = "hashicorp/%s", version = "%s" }\n' "$name" "$name" "$version"
    done
    printf '  }\n}\n'
  } >"$TMP/fill-cache/main.tf"
  run_logged "terraform init (fills the plugin cache)" env TF_CLI_CONFIG_FILE="$RC" CHECKPOINT_DISABLE=1 \
    TF_PLUGIN_CACHE_MAY_BREAK_DEPENDENCY_LOCK_FILE=1 "$TF" -chdir="$TMP/fill-cache" init -input=false -backend=false
fi

export NICO_CACHE_DIR="$CACHE"
# shellcheck source=scripts/tf-env.sh
. "$ROOT/scripts/tf-env.sh"
[ "${TERRAFORM_BINARY_NAME:-}" = "$TF" ] ||
  die "tf-env.sh picked terraform '${TERRAFORM_BINARY_NAME:-}', expected '$TF'"

say "ok in ${SECONDS}s: terraform $tf_version ($tf_origin: $TF); providers $provider_summary in $MIRROR"
