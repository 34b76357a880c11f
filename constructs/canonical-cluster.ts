import { ClusterDescription, CLUSTER_DEFAULTS, EtcdSnapshotsDescription, NodeDescription, NODE_DEFAULTS, SNAPSHOT_BEFORE_CHANGES_DEFAULT } from './cluster-description';

/**
 * The description in the canonical form of the module's `local.cluster` (snake_case, defaults
 * applied): what cluster.nix is rendered from. The tests render and evaluate trees from it.
 */

/** A node in the canonical form of `local.cluster`. */
export interface CanonicalNode {
  readonly name: string;
  readonly ip: string;
  readonly disk: string | null;
  readonly ssh_host: string;
  readonly ssh_port: number;
  readonly host_key: string | null;
  readonly gone: boolean;
  readonly labels: Readonly<Record<string, string>>;
  readonly taints: readonly string[];
  readonly install: boolean | null;
  readonly install_generation: number;
}

const canonicalNode = (n: NodeDescription): CanonicalNode => ({
  name: n.name,
  ip: n.ip,
  disk: n.disk ?? null,
  ssh_host: n.sshHost ?? n.ip,
  ssh_port: n.sshPort ?? NODE_DEFAULTS.sshPort,
  host_key: n.hostKey ?? null,
  gone: n.gone ?? NODE_DEFAULTS.gone,
  labels: { ...(n.labels ?? {}) },
  taints: [...(n.taints ?? [])],
  install: n.install ?? null,
  install_generation: n.installGeneration ?? NODE_DEFAULTS.installGeneration,
});

/**
 * `etcd_snapshots` as `local.cluster` holds it: unset settings are null (k3s's default applies, no
 * flag is written). Of S3 only what cluster.nix needs: whether a CA file and credentials come
 * through the secrets channel, never their contents.
 */
export function canonicalEtcdSnapshots(e: EtcdSnapshotsDescription | undefined) {
  const s3 = e?.s3;
  return {
    schedule_cron: e?.scheduleCron ?? null,
    retention: e?.retention ?? null,
    dir: e?.dir ?? null,
    before_changes: e?.beforeChanges ?? SNAPSHOT_BEFORE_CHANGES_DEFAULT,
    s3:
      s3 === undefined
        ? null
        : {
            bucket: s3.bucket,
            endpoint: s3.endpoint ?? null,
            region: s3.region ?? null,
            folder: s3.folder ?? null,
            endpoint_ca: s3.endpointCaFile !== undefined,
            credentials: s3.accessKeyId !== undefined,
          },
  };
}

/** The description as `local.cluster` holds it: snake_case, defaults applied. */
export function canonicalCluster(d: ClusterDescription) {
  return {
    name: d.name,
    vip: d.vip,
    control_plane: d.controlPlane.map(canonicalNode),
    workers: (d.workers ?? CLUSTER_DEFAULTS.workers).map(canonicalNode),
    prefix_length: d.prefixLength ?? CLUSTER_DEFAULTS.prefixLength,
    gateway: d.gateway ?? CLUSTER_DEFAULTS.gateway,
    nameservers: [...(d.nameservers ?? CLUSTER_DEFAULTS.nameservers)],
    interface: d.interface ?? CLUSTER_DEFAULTS.interface,
    vrrp_router_id: d.vrrpRouterId ?? CLUSTER_DEFAULTS.vrrpRouterId,
    nixpkgs: d.nixpkgs ?? CLUSTER_DEFAULTS.nixpkgs,
    ssh_user: d.sshUser ?? CLUSTER_DEFAULTS.sshUser,
    remote_flake_dir: d.remoteFlakeDir ?? CLUSTER_DEFAULTS.remoteFlakeDir,
    ready_timeout_seconds: d.readyTimeoutSeconds ?? CLUSTER_DEFAULTS.readyTimeoutSeconds,
    ssh_connect_timeout_seconds: d.sshConnectTimeoutSeconds ?? CLUSTER_DEFAULTS.sshConnectTimeoutSeconds,
    drain_timeout_seconds: d.drainTimeoutSeconds ?? CLUSTER_DEFAULTS.drainTimeoutSeconds,
    write_local_tree: d.writeLocalTree ?? CLUSTER_DEFAULTS.writeLocalTree,
    max_unavailable: d.maxUnavailable ?? CLUSTER_DEFAULTS.maxUnavailable,
    rollback: d.rollback ?? CLUSTER_DEFAULTS.rollback,
    install: d.install ?? CLUSTER_DEFAULTS.install,
    kexec_url: d.kexecUrl ?? null,
    server_extra_flags: [...(d.serverExtraFlags ?? CLUSTER_DEFAULTS.serverExtraFlags)],
    agent_extra_flags: [...(d.agentExtraFlags ?? CLUSTER_DEFAULTS.agentExtraFlags)],
    disable_components: [...(d.disableComponents ?? CLUSTER_DEFAULTS.disableComponents)],
    etcd_snapshots: canonicalEtcdSnapshots(d.etcdSnapshots),
  };
}
