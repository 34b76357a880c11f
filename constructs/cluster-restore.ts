import { DataResource } from 'cdktf';
import { Construct } from 'constructs';
import { clusterStepProvisioner } from './cluster-step';

/** Address of the step that restores the cluster from an etcd snapshot (`restore`). */
export const CLUSTER_RESTORE = 'terraform_data.restore';

export interface ClusterRestoreProps {
  /** Resource addresses that must be complete first (every node deployment). */
  readonly dependsOn: readonly string[];
}

/**
 * Restore as code: `restore = { snapshot, generation }`. The step is replaced, and so run, when the
 * generation changes; its script (templates/nico-node/restore.sh) restores only a generation above
 * the last one restored on the cluster (recorded on the control-plane nodes), so lowering it or
 * removing the block restores nothing. A block present on the apply that creates the cluster
 * restores nothing either (the new cluster has nothing to lose, and a snapshot of another cluster
 * does not open with this cluster's token): the step compares the time of this plan with the one
 * the cluster record was created in (`terraform_data.cluster`, input `created`).
 *
 * It runs after every node deployment of the apply, so a restore follows any change that came with it.
 * `input` is fixed when the step is created (`ignore_changes`): changing only the snapshot name
 * restores nothing and shows no change; raising the generation does both.
 */
export class ClusterRestore extends Construct {
  constructor(scope: Construct, id: string, props: ClusterRestoreProps) {
    super(scope, id);
    const resource = new DataResource(this, 'resource', {
      input: {
        snapshot: '${try(local.restore.snapshot, "")}',
        generation: '${try(local.restore.generation, 0)}',
      },
    });
    resource.overrideLogicalId(CLUSTER_RESTORE.split('.')[1]);
    resource.addOverride('count', '${local.deploy && local.restore != null ? 1 : 0}');
    resource.addOverride('triggers_replace', '${{ generation = try(local.restore.generation, 0) }}');
    resource.addOverride('lifecycle.ignore_changes', ['input']);
    resource.addOverride('depends_on', [...props.dependsOn]);
    resource.addOverride(
      'provisioner',
      clusterStepProvisioner('restore', 'restore', {
        NICO_READY_TIMEOUT: 'local.cluster.ready_timeout_seconds',
        NICO_PEERS: 'join("\\n", [for p in local.deploy_peers : p.line])',
        NICO_WORKERS:
          'join("\\n", [for n in local.cluster.workers : join(" ", [n.name, n.ssh_host, n.ssh_port, local.node_host_keys[n.name] == null ? "" : local.node_host_keys[n.name]]) if !n.gone])',
        NICO_CLUSTER_ID: 'local.cluster_id',
        NICO_RESTORE_SNAPSHOT: 'self.input.snapshot',
        NICO_RESTORE_GENERATION: 'self.input.generation',
        NICO_RESTORE_NEW_CLUSTER: 'try(terraform_data.cluster[0].input.created, "") == plantimestamp()',
      }),
    );
  }
}
