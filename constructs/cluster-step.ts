import { hclObject } from './node-deployment';

/**
 * The local-exec provisioner of a cluster-wide step (the pre-change snapshot, the restore): the node
 * script with ACTION for the pseudo-node NODE, the cluster's SSH settings and the control-plane peers
 * it works through, then `env` (the step's own variables, HCL expressions by name).
 */
export function clusterStepProvisioner(action: string, node: string, env: Record<string, string>): object[] {
  return [
    {
      'local-exec': {
        interpreter: ['/bin/sh', '-c'],
        command: 'eval "$NICO_SCRIPT"',
        environment: `\${${hclObject({
          NICO_SCRIPT: 'local.node_script',
          NICO_ACTION: `"${action}"`,
          NICO_NODE: `"${node}"`,
          NICO_SSH_USER: 'local.cluster.ssh_user',
          // Unmarked for the script only, as for the deployments (node-deployment.ts).
          NICO_SSH_KEY: 'nonsensitive(sensitive(local.ssh_private_key))',
          NICO_CONNECT_TIMEOUT: 'local.cluster.ssh_connect_timeout_seconds',
          ...env,
        })}}`,
      },
    },
  ];
}
