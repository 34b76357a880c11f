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

/** The control-plane node at one position of the chain, as a map from its name to its name (or empty). */
const controlPlaneAt = (position: number) => `\${{ for name, n in local.deploy_control_plane : name => name if n.index == ${position} }}`;

function local(scope: Construct, name: string, expression: unknown): void {
  new TerraformLocal(scope, `local-${name.replace(/_/g, '-')}`, expression).overrideLogicalId(name);
}

/**
 * Deploys the cluster in the order etcd and k3s need: the init master, then each other master alone
 * (etcd admits one learner at a time), then every worker in parallel. Destroy runs in reverse:
 * workers, the joiners from last to first, the init master last. Reads the kubeconfig back from the
 * init master, pointed at the VIP. Nothing is created unless `local.deploy` is true.
 */
export class ClusterDeployment extends Construct {
  constructor(scope: Construct, id: string, props: ClusterDeploymentProps) {
    super(scope, id);
    local(this, 'node_settings', SETTINGS);
    // The nodes to deploy, by name, each computed once: `for_each` below selects names only and every
    // instance reads its node from here (see NodeDeploymentProps.forEach for why).
    local(this, 'deploy_control_plane', whenDeploying('{ for i, n in local.cluster.control_plane : n.name => merge(n, { index = i }) }'));
    local(this, 'deploy_workers', whenDeploying('{ for n in local.cluster.workers : n.name => n }'));
    local(this, 'deploy_worker_names', '${{ for name, n in local.deploy_workers : name => name }}');
    // The init master: the first node of the chain and the kubeconfig source.
    local(this, 'init_master', controlPlaneAt(0));

    const master = { nodesLocal: 'deploy_control_plane', settings: 'local.node_settings.control_plane' };
    new NodeDeployment(this, 'init-master', { ...master, resourceName: 'init_master', role: 'init', forEach: '${local.init_master}', dependsOn: props.flakeFiles });
    const chain = ['terraform_data.init_master'];
    for (let position = 1; position <= JOINER_POSITIONS; position++) {
      const name = `joiner_${position}`;
      new NodeDeployment(this, `joiner-${position}`, {
        ...master,
        resourceName: name,
        role: 'joiner',
        forEach: controlPlaneAt(position),
        dependsOn: [...props.flakeFiles, chain[chain.length - 1]],
      });
      chain.push(`terraform_data.${name}`);
    }
    new NodeDeployment(this, 'workers', {
      resourceName: 'workers',
      role: 'worker',
      nodesLocal: 'deploy_workers',
      forEach: '${local.deploy_worker_names}',
      settings: 'local.node_settings.worker',
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
            SSH_HOST: '${local.deploy_control_plane[each.key].ssh_host}',
            SSH_PORT: '${local.deploy_control_plane[each.key].ssh_port}',
            SSH_USER: '${local.cluster.ssh_user}',
            HOST_KEY: '${local.deploy_control_plane[each.key].host_key == null ? "" : local.deploy_control_plane[each.key].host_key}',
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
