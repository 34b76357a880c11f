/** The module's README: fixed prose around input and output tables generated from the module itself. */

type JsonObject = Record<string, any>;

const cell = (s: string) => s.replace(/\|/g, '\\|').replace(/\s*\n\s*/g, ' ');
const code = (s: string) => '`' + cell(s).replace(/`/g, "'").replace(/\s+/g, ' ') + '`';

function inputsTable(variables: JsonObject): string {
  const rows = Object.entries(variables).map(([name, v]) => {
    const required = !('default' in v);
    const def = required ? 'n/a' : code(JSON.stringify(v.default));
    return `| ${name} | ${cell(v.description)} | ${code(v.type)} | ${def} | ${required ? 'yes' : 'no'} |`;
  });
  return ['| Name | Description | Type | Default | Required |', '|------|-------------|------|---------|:--------:|', ...rows].join('\n');
}

function outputsTable(outputs: JsonObject): string {
  const rows = Object.entries(outputs).map(([name, o]) => `| ${name} | ${cell(o.description)} | ${o.sensitive ? 'yes' : 'no'} |`);
  return ['| Name | Description | Sensitive |', '|------|-------------|:---------:|', ...rows].join('\n');
}

export function moduleReadme(config: JsonObject, requiredVersion: string): string {
  return `<!-- Generated from constructs/ by \`npm run modules\`. Do not edit. -->
# nico-cluster Terraform module

A highly available k3s cluster with a keepalived VIP on NixOS machines, for teams that write HCL and
for HCP Terraform. It is generated from the same constructs as the nico-cluster TypeScript app and,
for the same input, writes a byte-identical flake tree and deploys in the same order.

What it does:
- makes the machine SSH key (\`tls_private_key\`, ED25519, unless \`ssh_private_key\` is given) and the
  k3s join token (\`random_password\`, never re-created once made);
- writes the NICO flake tree to \`<output_dir>/nix\` (directories 0700, key and token 0600);
- with \`deploy = true\`, deploys every node over SSH: the first control-plane node, then each other
  control-plane node alone, then all workers in parallel; destroying the module (or removing a node)
  applies \`#minimal\` to the nodes it leaves, workers first and the first control-plane node last.

## Usage

\`\`\`hcl
module "k3s" {
  source = "git::https://example.com/org/nico-cluster.git//modules/nico-cluster"

  name = "production-cluster"
  vip  = "192.168.1.100"
  control_plane = [
    { name = "cp-01", ip = "192.168.1.101" },
    { name = "cp-02", ip = "192.168.1.102" },
    { name = "cp-03", ip = "192.168.1.103" },
  ]
  workers = [
    { name = "worker-01", ip = "192.168.1.201" },
    { name = "worker-02", ip = "192.168.1.202" },
  ]
}
\`\`\`

See \`examples/basic\` and \`examples/single-node\` in the repository. Node names must be known at plan
time (they key the deployment resources); node addresses may come from other resources.

Bad input fails at plan: rules on one variable are \`validation\` blocks, rules across variables
(unique names and IPs, VIP and IPs in the node subnet) are preconditions of \`terraform_data.input_checks\`.

## HCP Terraform / Terraform Cloud

Use a VCS-driven workspace whose working directory is a root module like \`examples/basic\`:
1. Create the workspace from the repository and set its *Terraform Working Directory* to the root module.
2. Plans need nothing beyond Terraform \`${requiredVersion}\` and three providers (hashicorp/local,
   tls and random), which HCP Terraform installs from the registry. Deployment uses the built-in
   \`terraform_data\`, so no null provider is needed.
3. Keep \`deploy = false\` while the runner cannot reach the nodes. With \`deploy = true\`, the runner (or
   an HCP Terraform agent in the nodes' network) needs SSH to every node's \`ssh_host:ssh_port\`.
4. The state holds the machine key and the join token: restrict who can read it. The flake tree is
   written on the runner's disk; read \`flake_dir\` and \`ssh_public_key\` from the outputs, or run with
   an agent whose disk you keep.

## Inputs

${inputsTable(config.variable)}

## Outputs

${outputsTable(config.output)}
`;
}
