import * as path from 'path';
import { TerraformOutput } from 'cdktf';
import { Construct } from 'constructs';
import { ClusterDeployment } from './cluster-deployment';
import { ClusterDescription } from './cluster-description';
import { IClusterInputs } from './cluster-inputs';
import { ClusterPki, KubernetesCredentials } from './cluster-pki';
import { ClusterSecrets } from './cluster-secrets';
import { FlakeTree } from './flake-tree';
import { KnownClusterInputs } from './known-cluster-inputs';
import { VariableClusterInputs } from './variable-cluster-inputs';

export interface NicoClusterProps {
  /**
   * The cluster description, known at synth time; it is validated in the constructor and a
   * ClusterValidationError lists every problem. Omit it to take the description from Terraform
   * variables instead (this is how the HCL module is generated).
   * @default - the description comes from Terraform variables
   */
  readonly description?: ClusterDescription;
  /**
   * Directory for the flake tree (`<outputDir>/nix`) and the kubeconfig, as Terraform sees it
   * (relative paths are relative to the directory Terraform runs in). Only with `description`.
   * @default - `out/<name>` under the current working directory, as an absolute path
   */
  readonly outputDir?: string;
}

/**
 * A highly available k3s cluster on NixOS: the machine SSH key and join token, the NICO flake tree
 * and, when `deploy` is on, the ordered deployment over SSH with cleanup on destroy.
 *
 * The same graph is built from known values and from Terraform variables, so the TypeScript app and
 * the generated HCL module write identical trees and deploy identically.
 */
export class NicoCluster extends Construct {
  /** Where the inputs come from; exposes the static flake file list. */
  public readonly inputs: IClusterInputs;
  /** The admin kubeconfig (sensitive), known from state before any node exists. */
  public readonly kubeconfig: string;
  /** Admin credentials for the kubernetes and helm providers (the key is sensitive). */
  public readonly kubernetes: KubernetesCredentials;

  constructor(scope: Construct, id: string, props: NicoClusterProps = {}) {
    super(scope, id);
    if (props.outputDir !== undefined && props.description === undefined) {
      throw new Error('NicoCluster: outputDir is only valid with a description; the variables form takes var.output_dir.');
    }
    this.inputs = props.description
      ? new KnownClusterInputs(this, 'inputs', {
          description: props.description,
          outputDir: props.outputDir ?? path.resolve('out', props.description.name),
        })
      : new VariableClusterInputs(this, 'inputs');

    new ClusterSecrets(this, 'secrets');
    const pki = new ClusterPki(this, 'pki');
    this.kubeconfig = pki.kubeconfig;
    this.kubernetes = pki.kubernetes;
    // Nothing is written or deployed before every input check has passed (values unknown at plan
    // are checked at apply, by the module's input_checks).
    new FlakeTree(this, 'flake-tree', { staticFlakeFiles: this.inputs.staticFlakeFiles, dependsOn: this.inputs.checks });
    new ClusterDeployment(this, 'deployment', { dependsOn: this.inputs.checks });

    const outputs: Record<string, { value: string; description: string; sensitive?: boolean }> = {
      ssh_public_key: { value: '${local.ssh_public_key}', description: 'Public half of the machine SSH key, authorised for root on every node.' },
      flake_dir: { value: '${local.cluster.write_local_tree ? local.flake_dir : ""}', description: 'Directory holding the NICO flake tree of the cluster ("" when write_local_tree is off).' },
      nodes: {
        value:
          '${concat([for n in local.cluster.control_plane : { name = n.name, ip = n.ip, role = n.name == local.init_node ? "init-master" : "control-plane" }], [for n in local.cluster.workers : { name = n.name, ip = n.ip, role = "worker" }])}',
        description: 'Every node with its IP and role, in deployment order.',
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
    for (const [name, o] of Object.entries(outputs)) {
      new TerraformOutput(this, name, o).overrideLogicalId(name);
    }
  }
}
