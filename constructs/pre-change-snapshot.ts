import { DataResource } from 'cdktf';
import { Construct } from 'constructs';
import { clusterStepProvisioner } from './cluster-step';

/** Address of the snapshot every control-plane deployment waits for. */
export const PRE_CHANGE_SNAPSHOT = 'terraform_data.pre_change_snapshot';

export interface PreChangeSnapshotProps {
  /** Resource addresses that must be complete first (input checks, installs). */
  readonly dependsOn: readonly string[];
}

/**
 * `k3s etcd-snapshot save` flags for the snapshot: the directory and the S3 copy as the servers are
 * configured (the CA is added by the script, which writes it on the node). Validated words only.
 */
const SNAPSHOT_ARGS =
  'join(" ", concat(' +
  'local.cluster.etcd_snapshots.dir == null ? [] : ["--etcd-snapshot-dir", local.cluster.etcd_snapshots.dir], ' +
  'local.cluster.etcd_snapshots.s3 == null ? [] : concat(["--etcd-s3", "--etcd-s3-bucket", local.cluster.etcd_snapshots.s3.bucket], ' +
  '[for k in ["endpoint", "region", "folder"] : "--etcd-s3-${k} ${local.cluster.etcd_snapshots.s3[k]}" if local.cluster.etcd_snapshots.s3[k] != null])))';

/**
 * One etcd snapshot before an apply changes a running control plane (`etcd_snapshots.before_changes`):
 * replaced, and so run, whenever the configuration of any control-plane node changes (the same hash
 * that redeploys it), before the init node and the joiners, which wait for it. Its script
 * (templates/nico-node/snapshot.sh) saves on the first healthy control-plane node, copies to S3 when
 * configured, and fails the apply, before any node is touched, when no snapshot could be taken.
 * On a cluster's first apply nothing runs it yet: the step says so and succeeds.
 *
 * `input.name` is the snapshot's name (k3s appends "-<node>-<unix time>"), fixed when the step is
 * created (`ignore_changes`: the timestamp would otherwise change on every plan); the module's
 * `pre_change_snapshot` output keeps it.
 */
export class PreChangeSnapshot extends Construct {
  constructor(scope: Construct, id: string, props: PreChangeSnapshotProps) {
    super(scope, id);
    const resource = new DataResource(this, 'resource', {
      input: {
        name: 'pre-apply-${formatdate("YYYYMMDD-hhmmss", timestamp())}',
      },
    });
    resource.overrideLogicalId(PRE_CHANGE_SNAPSHOT.split('.')[1]);
    resource.addOverride('count', '${local.deploy && local.cluster.etcd_snapshots.before_changes ? 1 : 0}');
    resource.addOverride('triggers_replace', '${{ for name, n in local.deploy_nodes : name => local.node_config_hash[name] if n.role != "worker" }}');
    resource.addOverride('lifecycle.ignore_changes', ['input']);
    resource.addOverride('depends_on', [...props.dependsOn]);
    resource.addOverride(
      'provisioner',
      clusterStepProvisioner('snapshot', 'etcd-snapshot', {
        NICO_PEERS: 'join("\\n", [for p in local.deploy_peers : p.line])',
        NICO_CLUSTER_ID: 'local.cluster_id',
        NICO_SNAPSHOT_NAME: 'self.input.name',
        NICO_SNAPSHOT_ARGS: SNAPSHOT_ARGS,
        NICO_SNAPSHOT_S3_ENV: 'nonsensitive(sensitive(local.etcd_s3_env == null ? "" : local.etcd_s3_env))',
        NICO_SNAPSHOT_S3_CA: 'local.etcd_s3_endpoint_ca == null ? "" : local.etcd_s3_endpoint_ca',
      }),
    );
  }
}
