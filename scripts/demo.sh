#!/usr/bin/env bash
# The main job (`npm run demo`): synthesizes the stack for $NICO_CLUSTER_FILE (default: the embedded
# production-cluster example) and applies it with Terraform. With deploy off (the default) this
# produces the machine key, the join token and the flake tree, and touches no machine.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
# The state, its backup, lock info and the tree hold the machine key and the join token: whatever
# this run creates is for the owner only, whatever the caller's umask (main.ts also pre-creates the
# state files 0600 in a 0700 directory, for runs through cdktf).
umask 077
# Where the stacks are synthesized (main.ts reads the same variable).
export CDKTF_OUTDIR="${CDKTF_OUTDIR:-cdktf.out}"

bash scripts/bootstrap.sh
# shellcheck source=scripts/tf-env.sh
. scripts/tf-env.sh

echo "demo: synthesizing ${NICO_CLUSTER_FILE:-the embedded example cluster}"
npx ts-node --transpile-only main.ts
stack=$(node -p 'Object.keys(require(require("path").resolve(process.argv[1], "manifest.json")).stacks)[0]' "$CDKTF_OUTDIR")
stack_dir="$CDKTF_OUTDIR/stacks/$stack"
# main.ts puts the output in $NICO_OUT_DIR, default out/<name>.
out=$(node -p 'require("path").resolve(process.argv[1])' "${NICO_OUT_DIR:-out/$stack}")

terraform -chdir="$stack_dir" init -input=false >/dev/null
# Terraform colours its output unless told not to: only for a terminal.
color=()
[ -t 1 ] || color=(-no-color)
# A saved plan, so that what is confirmed is exactly what is applied. It stays for `terraform show`;
# like the state beside it, it holds secrets: owner-only (umask above, 0700 directory).
mkdir -p "$out"
plan="$out/demo.tfplan"
# Every node, its role and what the plan does to it, for the table after the apply (no secret).
nodes="$out/.demo-nodes.json"
trap 'rm -f "$nodes"' EXIT
echo "demo: terraform plan in $stack_dir"
if [ "${NICO_FULL_PLAN:-}" = 1 ]; then
  terraform -chdir="$stack_dir" plan -input=false "${color[@]}" -out="$plan"
else
  # The plan itself is the summary below, in full in $plan. Errors go to stderr and still show;
  # warnings (stdout) show in their compact form.
  terraform -chdir="$stack_dir" plan -input=false "${color[@]}" -compact-warnings -out="$plan" |
    sed -n '/^Warnings:$/,/^To see the full warning notes/p'
fi

# What happens to each node; exit 3 when deployed nodes are cleaned, redeployed or reinstalled:
# never without an explicit yes.
status=0
terraform -chdir="$stack_dir" show -json "$plan" | node scripts/plan-summary.js --nodes-out "$nodes" --show "terraform -chdir=$stack_dir show $plan" || status=$?
[ "$status" = 0 ] || [ "$status" = 3 ] || exit "$status"
if [ "$status" = 3 ] && [ "${NICO_CONFIRM_CHANGES:-}" != yes ]; then
  if [ -t 0 ]; then
    printf 'demo: type yes to apply it: '
    read -r answer
    [ "$answer" = yes ] || { echo "demo: not applied"; exit 1; }
  else
    echo "demo: not applied: no terminal to confirm on. Review the plan above, then run again with NICO_CONFIRM_CHANGES=yes." >&2
    exit 1
  fi
fi
echo "demo: terraform apply in $stack_dir"
# Terraform's machine-readable output, turned into a line per node step and a table at the end; its
# full human output goes to demo-apply.log.
set +e
terraform -chdir="$stack_dir" apply -input=false -json "$plan" | node scripts/apply-progress.js --nodes "$nodes" --log "$out/demo-apply.log"
codes=("${PIPESTATUS[@]}")
set -e
# A failure's lines (the node, the step, the fix) are the last ones printed.
[ "${codes[0]}" = 0 ] || exit "${codes[0]}"
[ "${codes[1]}" = 0 ] || exit "${codes[1]}"

cat <<TXT

demo: done. Cluster "$stack":
  flake tree (the NICO layout):   $out/nix
  machine SSH key (0600):         $out/nix/machine-ssh-private-key
  k3s join token (0600):          $out/nix/join-token
  Terraform state (every secret): $out/terraform.tfstate
  Terraform's apply output:       $out/demo-apply.log
  outputs:                        terraform -chdir=$stack_dir output
TXT
