#!/usr/bin/env bash
# The main job (`npm run demo`): synthesizes the stack for $NICO_CLUSTER_FILE (default: the embedded
# production-cluster example) and applies it with Terraform. With deploy off (the default) this
# produces the machine key, the join token and the flake tree, and touches no machine.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

bash scripts/bootstrap.sh
# shellcheck source=scripts/tf-env.sh
. scripts/tf-env.sh

echo "demo: synthesizing ${NICO_CLUSTER_FILE:-the embedded example cluster}"
npx ts-node --transpile-only main.ts
stack=$(node -p 'Object.keys(require("./cdktf.out/manifest.json").stacks)[0]')
out=$(cd cdktf.out/stacks/"$stack" && node -p 'require("path").resolve(require("./cdk.tf.json").locals.output_dir)')

echo "demo: terraform apply in cdktf.out/stacks/$stack"
terraform -chdir=cdktf.out/stacks/"$stack" init -input=false >/dev/null
terraform -chdir=cdktf.out/stacks/"$stack" apply -input=false -auto-approve

cat <<TXT

demo: done. Cluster "$stack":
  flake tree (the NICO layout):   $out/nix
  machine SSH key (0600):         $out/nix/machine-ssh-private-key
  k3s join token (0600):          $out/nix/join-token
  Terraform state (holds both):   $out/terraform.tfstate
  outputs:                        terraform -chdir=cdktf.out/stacks/$stack output
TXT
