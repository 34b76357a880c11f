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

echo "demo: terraform apply in $stack_dir"
terraform -chdir="$stack_dir" init -input=false >/dev/null
terraform -chdir="$stack_dir" apply -input=false -auto-approve

cat <<TXT

demo: done. Cluster "$stack":
  flake tree (the NICO layout):   $out/nix
  machine SSH key (0600):         $out/nix/machine-ssh-private-key
  k3s join token (0600):          $out/nix/join-token
  Terraform state (holds both):   $out/terraform.tfstate
  outputs:                        terraform -chdir=$stack_dir output
TXT
