import { TerraformOutput } from 'cdktf';
import { Construct } from 'constructs';
import { ClusterDeployment } from './cluster-deployment';
import { ClusterPki } from './cluster-pki';
import { ClusterSecrets } from './cluster-secrets';
import { FlakeTree } from './flake-tree';
import { VariableClusterInputs } from './variable-cluster-inputs';

/** The module's outputs; NicoCluster exposes each as a typed attribute. */
export const MODULE_OUTPUTS: Record<string, { value: string; description: string; sensitive?: boolean }> = {
  ssh_public_key: { value: '${local.ssh_public_key}', description: 'Public half of the machine SSH key, authorised for root on every node.' },
  flake_dir: { value: '${local.cluster.write_local_tree ? local.flake_dir : ""}', description: 'Directory holding the NICO flake tree of the cluster ("" when write_local_tree is off).' },
  nodes: {
    value:
      '${concat([for n in local.cluster.control_plane : { name = n.name, ip = n.ip, role = n.name == local.init_node ? "init-master" : "control-plane" }], [for n in local.cluster.workers : { name = n.name, ip = n.ip, role = "worker" }])}',
    description: 'Every node with its IP and role, in deployment order.',
  },
  pre_change_snapshot: {
    value: '${one(terraform_data.pre_change_snapshot[*].input.name)}',
    description:
      'Name of the etcd snapshot the last control-plane change took first (k3s appends "-<node>-<unix time>"; the apply prints the full name, `k3s etcd-snapshot ls` lists it). Null when etcd_snapshots.before_changes is off or deploy is false.',
  },
  kubeconfig: {
    // From state, not from a node: known with deploy off, on a fresh runner and before any node exists.
    value: '${local.kubeconfig}',
    description: 'Admin kubeconfig of the cluster (group system:masters), pointing at https://<vip>:6443; made by Terraform, known before any node exists.',
    sensitive: true,
  },
  kubernetes: {
    value: '${local.kubernetes_credentials}',
    description: 'Admin credentials for the kubernetes and helm providers: host (https://<vip>:6443) and PEM cluster_ca_certificate, client_certificate, client_key.',
    sensitive: true,
  },
};

/**
 * Internal: the whole graph of one cluster in its Terraform-variables form, the source of the
 * generated HCL module (`npm run modules`). Every name in it is fixed (`local.cluster`,
 * `tls_private_key.machine`, outputs `nodes`, ...): it is isolated by being a module. Use the public
 * NicoCluster, which calls that module, in a stack.
 */
export class NicoClusterGraph extends Construct {
  constructor(scope: Construct, id: string) {
    super(scope, id);
    const inputs = new VariableClusterInputs(this, 'inputs');
    new ClusterSecrets(this, 'secrets');
    new ClusterPki(this, 'pki');
    // Nothing is written or deployed before every input check has passed (values unknown at plan
    // are checked at apply, by input_checks).
    new FlakeTree(this, 'flake-tree', { staticFlakeFiles: inputs.staticFlakeFiles, dependsOn: inputs.checks });
    new ClusterDeployment(this, 'deployment', { dependsOn: inputs.checks });
    for (const [name, o] of Object.entries(MODULE_OUTPUTS)) {
      new TerraformOutput(this, name, o).overrideLogicalId(name);
    }
  }
}
