import { DataResource } from 'cdktf';
import { Construct } from 'constructs';

export interface NodeDeploymentProps {
  /** Terraform resource name, e.g. `control_plane`; instances are keyed by node name. */
  readonly resourceName: string;
  /**
   * Terraform expression of a map from node name to node name: the nodes this resource deploys.
   * Only names, never node objects: Terraform evaluates `for_each` again for every instance, and a
   * computed map of objects there makes a plan quadratic in the number of nodes (bench/README.md).
   */
  readonly forEach: string;
  /** Resource addresses that must be complete first. */
  readonly dependsOn: readonly string[];
  /**
   * More environment of the deploy step (not of the destroy step), as HCL expressions.
   * @default - none
   */
  readonly deployEnv?: Record<string, string>;
}

/** The deployment input of one node, as `local.deploy_nodes[<name>]` holds it. */
export const NODE = 'local.deploy_nodes[each.key]';

/**
 * What the configuration of node `n` (an expression of a `local.deploy_nodes` entry) depends on: its
 * own entry (without the fields that only say how to reach it) and the cluster-wide settings of its
 * role. A change to anything else leaves it alone. `local.node_config_hash` holds it for every node.
 */
export const CONFIGURATION_HASH = (n: string) =>
  `sha256(jsonencode([local.flake_hash, local.node_settings[${n}.role == "worker" ? "worker" : "control_plane"], ` +
  `{ for k, v in ${n} : k => v if !contains(["ssh_host", "ssh_port", "host_key", "gone"], k) }]))`;

/**
 * The node's labels ("key=value" lines) and taints (one per line): the deploy step applies them to its
 * Node object, since k3s applies --node-label/--node-taint only when a Node registers.
 */
const LABELS_ENV: Record<string, string> = {
  NICO_LABELS: `join("\\n", [for k, v in ${NODE}.labels : "\${k}=\${v}"])`,
  NICO_TAINTS: `join("\\n", ${NODE}.taints)`,
};

/**
 * The machine key as the destroy step reads it: from `triggers_replace`, never from `input`.
 * terraform_data copies `input` into its computed `output`, and Terraform does not carry the
 * sensitive mark over to a value the provider computes: the state then lists only
 * `input.ssh_private_key` in `sensitive_attributes`, and every plan that replaces or updates the
 * instance renders the prior `output` in full, key included (seen with Terraform 1.11.4 on a VIP
 * change, a removal and a destroy; `terraform show` printed it too). `triggers_replace` is not
 * copied anywhere and keeps its mark in the state, so a fresh runner's destroy still finds the key
 * there and every plan shows `(sensitive value)`. A new key means a new public key in the tree,
 * hence a new configuration hash and a redeploy anyway: keeping it among the replace triggers
 * changes nothing else.
 */
const MACHINE_KEY = '${sensitive(local.ssh_private_key)}';

/** Environment of every run of the node script, as HCL expressions; the rest comes per action. Reads only `self`. */
export const CONNECTION_ENV: Record<string, string> = {
  NICO_SCRIPT: 'self.input.script',
  NICO_NODE: 'self.input.node',
  NICO_ROLE: 'self.input.role',
  NICO_SSH_HOST: 'self.input.ssh_host',
  NICO_SSH_PORT: 'self.input.ssh_port',
  NICO_SSH_USER: 'self.input.ssh_user',
  NICO_HOST_KEY: 'self.input.host_key == null ? "" : self.input.host_key',
  // Kept in triggers_replace, not input (see MACHINE_KEY). Unmarked for the script only: Terraform
  // hides a provisioner's whole output when its configuration holds a sensitive value, and
  // provisioner arguments are never shown in a plan.
  NICO_SSH_KEY: 'nonsensitive(sensitive(self.triggers_replace.ssh_private_key))',
  NICO_CONNECT_TIMEOUT: 'self.input.connect_timeout',
  NICO_REMOTE_DIR: 'self.input.remote_flake_dir',
  NICO_PEERS: 'self.input.peers',
  NICO_MAX_UNAVAILABLE: 'self.input.max_unavailable',
  NICO_DRAIN_TIMEOUT: 'self.input.drain_timeout',
  NICO_GONE: 'self.input.gone',
  NICO_CLUSTER_ID: 'self.input.cluster_id',
};

/** An HCL object expression from attribute expressions. */
export const hclObject = (attributes: Record<string, string>): string => `{ ${Object.entries(attributes).map(([k, v]) => `${k} = ${v}`).join(', ')} }`;

/**
 * What every run of the node script (templates/nico-node/) for a node needs, kept in `input` because destroy steps may read only
 * `self`. `hostKey` is the expression of the host key to pin: Terraform's own for an installed node.
 */
export function nodeInput(hostKey: string): Record<string, string> {
  return {
    node: '${each.key}',
    role: `\${${NODE}.role}`,
    ssh_host: `\${${NODE}.ssh_host}`,
    ssh_port: `\${${NODE}.ssh_port}`,
    host_key: `\${${hostKey}}`,
    gone: `\${${NODE}.gone}`,
    ssh_user: '${local.cluster.ssh_user}',
    connect_timeout: '${local.cluster.ssh_connect_timeout_seconds}',
    drain_timeout: '${local.cluster.drain_timeout_seconds}',
    remote_flake_dir: '${local.cluster.remote_flake_dir}',
    peers: '${join("\\n", [for p in local.deploy_peers : p.line if p.name != each.key])}',
    cluster_id: '${local.cluster_id}',
    max_unavailable: '${local.cluster.max_unavailable}',
    script: '${local.node_script}',
  };
}

/**
 * Deploys a set of nodes, one `terraform_data` instance per node NAME: adding, removing or reordering
 * nodes never moves a surviving node to another instance, so it is never cleaned by mistake.
 *
 * Creating an instance runs constructs/templates/nico-node/ on the runner: it uploads the tree and
 * the secrets over SSH, switches the node to its configuration and waits until it is ready.
 * Destroying it drains the node and deletes its Node object through another control-plane node, then
 * switches it to `#minimal`. `input` holds everything the destroy step needs (it may read only
 * `self`); a change there (a new bastion, other peers) updates it in place without redeploying.
 * `triggers_replace` holds a hash of exactly what the node's configuration depends on, and the
 * machine key (see MACHINE_KEY for why there and not in `input`).
 * `create_before_destroy` keeps a redeploy from running the destroy step: Terraform runs destroy
 * provisioners only when a node leaves or the stack goes, never for a replaced or tainted instance.
 */
export class NodeDeployment extends Construct {
  constructor(scope: Construct, id: string, props: NodeDeploymentProps) {
    super(scope, id);
    const resource = new DataResource(this, 'resource', { input: nodeInput(`local.node_host_keys[each.key]`) });
    resource.overrideLogicalId(props.resourceName);
    resource.addOverride('triggers_replace', { configuration: '${local.node_config_hash[each.key]}', ssh_private_key: MACHINE_KEY });
    resource.addOverride('for_each', props.forEach);
    resource.addOverride('depends_on', [...props.dependsOn]);
    resource.addOverride('lifecycle.create_before_destroy', true);
    resource.addOverride('provisioner', [
      {
        'local-exec': {
          interpreter: ['/bin/sh', '-c'],
          command: 'eval "$NICO_SCRIPT"',
          environment:
            `\${merge(${hclObject({ ...CONNECTION_ENV, NICO_ACTION: '"deploy"', NICO_READY_TIMEOUT: 'local.cluster.ready_timeout_seconds', NICO_ROLLBACK: 'local.cluster.rollback', ...LABELS_ENV, ...props.deployEnv })}, ` +
            `local.flake_payload, local.secrets_payload[${NODE}.role == "worker" ? "worker" : "control_plane"])}`,
        },
      },
      {
        'local-exec': {
          when: 'destroy',
          interpreter: ['/bin/sh', '-c'],
          command: 'eval "$NICO_SCRIPT"',
          environment: `\${${hclObject({ ...CONNECTION_ENV, NICO_ACTION: '"remove"' })}}`,
        },
      },
    ]);
  }
}

