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
# A saved plan, so that what is confirmed is exactly what is applied. It holds secrets: root-only.
mkdir -p "$out"
plan="$out/.demo.tfplan"
trap 'rm -f "$plan"' EXIT
echo "demo: terraform plan in $stack_dir"
terraform -chdir="$stack_dir" plan -input=false -out="$plan"

# Deployed nodes that this plan cleans (#minimal) or redeploys: never without an explicit yes.
touched=$(terraform -chdir="$stack_dir" show -json "$plan" | node scripts/touched-nodes.js)
if [ -n "$touched" ] && [ "${NICO_CONFIRM_CHANGES:-}" != yes ]; then
  printf '\ndemo: this plan changes deployed nodes:\n%s\n' "$touched"
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
terraform -chdir="$stack_dir" apply -input=false "$plan"

cat <<TXT

demo: done. Cluster "$stack":
  flake tree (the NICO layout):   $out/nix
  machine SSH key (0600):         $out/nix/machine-ssh-private-key
  k3s join token (0600):          $out/nix/join-token
  Terraform state (every secret): $out/terraform.tfstate
  outputs:                        terraform -chdir=$stack_dir output
TXT
