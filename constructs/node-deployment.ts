import { DataResource } from 'cdktf';
import { Construct } from 'constructs';

/** How a node proves it is ready after `nixos-rebuild switch`. */
export type NodeRole = 'init' | 'joiner' | 'worker';

export interface NodeDeploymentProps {
  /** Terraform resource name, e.g. `joiner_2`. */
  readonly resourceName: string;
  /** Name of the local holding a map from node name to canonical node (`local.cluster` entry). */
  readonly nodesLocal: string;
  /**
   * Terraform expression of a map from node name to node name: the nodes this resource deploys.
   * Only names, never node objects: Terraform evaluates `for_each` again for every instance, and a
   * computed map of objects there makes a plan quadratic in the number of nodes (bench/README.md).
   */
  readonly forEach: string;
  readonly role: NodeRole;
  /** Terraform expression of the cluster-wide settings the node's configuration depends on. */
  readonly settings: string;
  /** Resource addresses that must be complete first. */
  readonly dependsOn: readonly string[];
}

/** Waits with a deadline, so a node that never comes up fails the apply with a message, not a hang. */
function waitUntil(node: string, check: string, what: string): string[] {
  return [
    'deadline=$(( $(date +%s) + ${self.input.ready_timeout_seconds} ))',
    `until ${check}; do`,
    `  if [ "$(date +%s)" -ge "$deadline" ]; then echo "nico: ${node}: ${what} within \${self.input.ready_timeout_seconds} s; see journalctl -u k3s on the node" >&2; exit 1; fi`,
    '  sleep 2',
    'done',
  ];
}

const READINESS: Record<NodeRole, (node: string) => string[]> = {
  init: (node) => waitUntil(node, 'k3s kubectl get --raw /readyz 2>/dev/null | grep -qx ok', 'the Kubernetes API did not answer /readyz'),
  joiner: (node) =>
    waitUntil(node, `[ "$(k3s kubectl get node ${node} -o 'jsonpath={.status.conditions[?(@.type=="Ready")].status}' 2>/dev/null)" = True ]`, 'the node did not become a Ready member'),
  worker: (node) => waitUntil(node, 'systemctl is-active --quiet k3s', 'the k3s agent did not become active'),
};

/**
 * Deploys the nodes of one position of the deployment order (init master, one joiner, or all workers)
 * with one `terraform_data` per node: upload the tree to a root-only directory, switch to the node's
 * configuration, wait until it is ready. Destroying it switches the node to `#minimal`.
 *
 * `terraform_data` is Terraform's built-in successor of `null_resource` (1.4+): no provider to install.
 * `triggers_replace` is a hash of exactly what the node's configuration depends on, so only changed
 * nodes are redeployed. `input` holds the connection data the destroy step needs (it may read only
 * `self`); a change there (say a new bastion) updates it in place without redeploying.
 * `create_before_destroy` keeps a redeploy from running the destroy step: Terraform skips destroy
 * provisioners of replaced instances then, and runs them only when a node leaves or the stack goes.
 */
export class NodeDeployment extends Construct {
  constructor(scope: Construct, id: string, props: NodeDeploymentProps) {
    super(scope, id);
    const node = '${each.key}';
    const entry = `local.${props.nodesLocal}[each.key]`;
    const dir = '${self.input.remote_flake_dir}';

    const resource = new DataResource(this, 'resource', {
      input: {
        ssh_host: `\${${entry}.ssh_host}`,
        ssh_port: `\${${entry}.ssh_port}`,
        ssh_user: '${local.cluster.ssh_user}',
        host_key: `\${${entry}.host_key}`,
        ssh_private_key: '${local.ssh_private_key}',
        remote_flake_dir: '${local.cluster.remote_flake_dir}',
        ready_timeout_seconds: '${local.cluster.ready_timeout_seconds}',
      },
    });
    resource.overrideLogicalId(props.resourceName);
    resource.addOverride('triggers_replace', `\${sha256(jsonencode([local.flake_hash, { settings = ${props.settings}, node = ${entry} }]))}`);
    resource.addOverride('for_each', props.forEach);
    resource.addOverride('depends_on', [...props.dependsOn]);
    resource.addOverride('lifecycle.create_before_destroy', true);
    resource.addOverride('connection', {
      type: 'ssh',
      host: '${self.input.ssh_host}',
      port: '${self.input.ssh_port}',
      user: '${self.input.ssh_user}',
      private_key: '${self.input.ssh_private_key}',
      host_key: '${self.input.host_key}',
      timeout: '2m',
    });
    resource.addOverride('provisioner', [
      {
        'remote-exec': {
          inline: ['set -eu', 'umask 077', `echo "nico: ${node}: uploading the flake tree to ${dir}"`, `rm -rf ${dir}`, `mkdir -p -m 0700 ${dir}`, `chmod 0700 ${dir}`],
        },
      },
      { file: { source: '${local.flake_dir}/', destination: dir } },
      {
        'remote-exec': {
          inline: [
            'set -eu',
            // scp lands files 0644: close the tree before anything reads it.
            `chmod -R go-rwx ${dir}`,
            `chmod 0600 ${dir}/machine-ssh-private-key ${dir}/join-token`,
            `echo "nico: ${node}: nixos-rebuild switch --flake path:${dir}#${node}"`,
            // path: (not git+file:) so untracked files such as join-token are part of the flake.
            `nixos-rebuild switch --flake path:${dir}#${node}`,
            `echo "nico: ${node}: waiting until it is ready"`,
            ...READINESS[props.role](node),
            `echo "nico: ${node}: ready"`,
          ],
        },
      },
      {
        'remote-exec': {
          when: 'destroy',
          inline: [
            'set -eu',
            `echo "nico: ${node}: cleaning with #minimal"`,
            // Names the node to the flake, so that minimal keeps its static address (nodes/generator.nix).
            `printf '%s\\n' ${node} > ${dir}/minimal-node`,
            `nixos-rebuild switch --flake path:${dir}#minimal`,
          ],
        },
      },
    ]);
  }
}
