import { DataLocalSensitiveFile } from '@cdktf/provider-local/lib/data-local-sensitive-file';
import { DataResource, TerraformLocal } from 'cdktf';
import { Construct } from 'constructs';
import { MAX_CONTROL_PLANE_NODES } from './cluster-description';
import { NodeDeployment } from './node-deployment';

export interface ClusterDeploymentProps {
  /** Resource addresses of the flake tree; every node needs the whole tree. */
  readonly flakeFiles: readonly string[];
}

/** One position per joiner: `for_each` instances run in parallel, a chain of resources does not. */
export const JOINER_POSITIONS = MAX_CONTROL_PLANE_NODES - 1;

// What each role's configuration depends on besides the tree (see nodes/generator.nix): a change to
// anything else leaves the node alone. Workers join through the VIP and run no keepalived.
const COMMON_SETTINGS = 'vip = local.cluster.vip, prefix_length = local.cluster.prefix_length, gateway = local.cluster.gateway, nameservers = local.cluster.nameservers, interface = local.cluster.interface';
const SETTINGS = {
  control_plane: `\${{ ${COMMON_SETTINGS}, name = local.cluster.name, vrrp_router_id = local.cluster.vrrp_router_id }}`,
  worker: `\${{ ${COMMON_SETTINGS} }}`,
};

const whenDeploying = (map: string) => `\${local.deploy ? ${map} : {}}`;

/**
 * Deploys the cluster in the order etcd and k3s need: the init master, then each other master alone
 * (etcd admits one learner at a time), then every worker in parallel. Destroy runs in reverse:
 * workers, the joiners from last to first, the init master last. Reads the kubeconfig back from the
 * init master, pointed at the VIP. Nothing is created unless `local.deploy` is true.
 */
export class ClusterDeployment extends Construct {
  constructor(scope: Construct, id: string, props: ClusterDeploymentProps) {
    super(scope, id);
    new TerraformLocal(this, 'node-settings', SETTINGS).overrideLogicalId('node_settings');
    // The init master, by name, when deploying: the first node of the chain and the kubeconfig source.
    new TerraformLocal(this, 'init-master-node', whenDeploying('{ for i, n in local.cluster.control_plane : n.name => merge(n, { index = i }) if i == 0 }')).overrideLogicalId(
      'init_master',
    );
    const masterSettings = '{ settings = local.node_settings.control_plane, node = each.value }';

    new NodeDeployment(this, 'init-master', {
      resourceName: 'init_master',
      role: 'init',
      forEach: '${local.init_master}',
      settings: masterSettings,
      dependsOn: props.flakeFiles,
    });
    const chain = ['terraform_data.init_master'];
    for (let position = 1; position <= JOINER_POSITIONS; position++) {
      const name = `joiner_${position}`;
      new NodeDeployment(this, `joiner-${position}`, {
        resourceName: name,
        role: 'joiner',
        forEach: whenDeploying(`{ for i, n in local.cluster.control_plane : n.name => merge(n, { index = i }) if i == ${position} }`),
        settings: masterSettings,
        dependsOn: [...props.flakeFiles, chain[chain.length - 1]],
      });
      chain.push(`terraform_data.${name}`);
    }
    new NodeDeployment(this, 'workers', {
      resourceName: 'workers',
      role: 'worker',
      forEach: whenDeploying('{ for n in local.cluster.workers : n.name => n }'),
      settings: '{ settings = local.node_settings.worker, node = each.value }',
      dependsOn: [...props.flakeFiles, ...chain],
    });

    // The kubeconfig is read back after the init master is ready, over the same SSH key; it is written
    // next to the tree (0600) and read by a data source, so it can be a sensitive output.
    const fetch = new DataResource(this, 'kubeconfig-fetch', {});
    fetch.overrideLogicalId('kubeconfig');
    fetch.addOverride('triggers_replace', '${terraform_data.init_master[each.key].id}');
    fetch.addOverride('for_each', '${local.init_master}');
    fetch.addOverride('provisioner', [
      {
        'local-exec': {
          interpreter: ['/bin/sh', '-c'],
          command: '${file("${local.templates_dir}/fetch-kubeconfig.sh")}',
          environment: {
            SSH_HOST: '${each.value.ssh_host}',
            SSH_PORT: '${each.value.ssh_port}',
            SSH_USER: '${local.cluster.ssh_user}',
            HOST_KEY: '${each.value.host_key == null ? "" : each.value.host_key}',
            KEY_FILE: '${abspath(local.flake_dir)}/machine-ssh-private-key',
            VIP: '${local.cluster.vip}',
            OUT: '${abspath(local.output_dir)}/kubeconfig',
          },
        },
      },
    ]);

    const kubeconfig = new DataLocalSensitiveFile(this, 'kubeconfig', { filename: '${local.output_dir}/kubeconfig' });
    kubeconfig.overrideLogicalId('kubeconfig');
    kubeconfig.addOverride('for_each', '${local.init_master}');
    kubeconfig.addOverride('depends_on', ['terraform_data.kubeconfig']);
  }
}
