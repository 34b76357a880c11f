import { CloudBackend, LocalBackend, NamedCloudWorkspace, TerraformStack } from 'cdktf';
import { Construct } from 'constructs';
import { NicoCluster, NicoClusterProps } from './nico-cluster';
import { addProviders } from './providers';

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

/** A stack holding one NicoCluster and the providers it needs. */
export class NicoClusterStack extends TerraformStack {
  public readonly cluster: NicoCluster;

  constructor(scope: Construct, id: string, props: NicoClusterStackProps = {}) {
    super(scope, id);
    addProviders(this);
    if (props.backend?.type === 'local') new LocalBackend(this, { path: props.backend.path });
    if (props.backend?.type === 'cloud') {
      new CloudBackend(this, { organization: props.backend.organization, hostname: props.backend.hostname, workspaces: new NamedCloudWorkspace(props.backend.workspace) });
    }
    this.cluster = new NicoCluster(this, 'cluster', props);
  }
}
