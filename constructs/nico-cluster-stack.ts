import { CloudBackend, LocalBackend, NamedCloudWorkspace, TerraformOutput, TerraformStack } from 'cdktf';
import { Construct } from 'constructs';
import { NicoCluster, NicoClusterProps } from './nico-cluster';
import { TERRAFORM_VERSION } from './versions';

/** Where Terraform keeps the state of a cluster. */
export type BackendConfig =
  | { readonly type: 'local'; readonly path: string }
  | { readonly type: 'cloud'; readonly organization: string; readonly workspace: string; readonly hostname?: string };

export interface NicoClusterStackProps extends NicoClusterProps {
  /**
   * State backend.
   * @default - cdktf's local backend (terraform.<stack>.tfstate in the working directory)
   */
  readonly backend?: BackendConfig;
}

/**
 * The app's stack (main.ts): a backend, one NicoCluster (`module.cluster`) and the stack-level
 * outputs `ssh_public_key`, `flake_dir`, `nodes`, `pre_change_snapshot`, `kubeconfig` and `kubernetes` forwarded from it.
 * State of a cluster the app built before clusters became modules is moved into the module.
 */
export class NicoClusterStack extends TerraformStack {
  public readonly cluster: NicoCluster;

  constructor(scope: Construct, id: string, props: NicoClusterStackProps) {
    super(scope, id);
    // Terraform refuses an older binary with a clear message (the app skips cdktf's own check).
    this.addOverride('terraform.required_version', TERRAFORM_VERSION);
    if (props.backend?.type === 'local') new LocalBackend(this, { path: props.backend.path });
    if (props.backend?.type === 'cloud') {
      new CloudBackend(this, { organization: props.backend.organization, hostname: props.backend.hostname, workspaces: new NamedCloudWorkspace(props.backend.workspace) });
    }
    this.cluster = new NicoCluster(this, 'cluster', props);
    this.cluster.moveStackLevelState();

    const c = this.cluster;
    const outputs: Record<string, { value: unknown; description: string; sensitive?: boolean }> = {
      ssh_public_key: { value: c.sshPublicKey, description: 'Public half of the machine SSH key, authorised for root on every node.' },
      flake_dir: { value: c.flakeDir, description: 'Directory holding the NICO flake tree of the cluster ("" when writeLocalTree is off).' },
      nodes: { value: c.nodes, description: 'Every node with its IP and role, in deployment order.' },
      pre_change_snapshot: { value: c.preChangeSnapshot, description: 'Name of the etcd snapshot the last control-plane change took first (k3s appends "-<node>-<unix time>"); null when etcdSnapshots.beforeChanges is off.' },
      kubeconfig: {
        value: c.kubeconfig,
        description: 'Admin kubeconfig of the cluster (group system:masters), pointing at https://<vip>:6443; made by Terraform, known before any node exists.',
        sensitive: true,
      },
      kubernetes: {
        value: {
          host: c.kubernetes.host,
          cluster_ca_certificate: c.kubernetes.clusterCaCertificate,
          client_certificate: c.kubernetes.clientCertificate,
          client_key: c.kubernetes.clientKey,
        },
        description: 'Admin credentials for the kubernetes and helm providers: host (https://<vip>:6443) and PEM cluster_ca_certificate, client_certificate, client_key.',
        sensitive: true,
      },
    };
    for (const [name, o] of Object.entries(outputs)) new TerraformOutput(this, name, o).overrideLogicalId(name);
  }
}
