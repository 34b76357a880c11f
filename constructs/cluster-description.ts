/**
 * The cluster description: the one input that drives the TypeScript app, the cluster file read by
 * main.ts and (in snake_case) the generated HCL module. Field names follow cluster.nix.
 */

/** One machine of the cluster. */
export interface NodeDescription {
  /** Host name of the node and the name of its `nixosConfigurations` output: an RFC 1123 label, unique in the cluster; `minimal` is reserved. */
  readonly name: string;
  /** The node's static IPv4 address, inside the node subnet. */
  readonly ip: string;
  /**
   * Where Terraform connects over SSH (lets bastions, port forwards and tests differ from the node IP).
   * @default - the node's `ip`
   */
  readonly sshHost?: string;
  /**
   * SSH port Terraform connects to.
   * @default 22
   */
  readonly sshPort?: number;
  /**
   * Disk that disko partitions on this node.
   * @default "/dev/sda"
   */
  readonly disk?: string;
  /**
   * The node's SSH host public key (`ssh-ed25519 AAAA...`). When set, every connection pins it and a
   * mismatch fails before any command runs.
   * @default - the host key is not checked
   */
  readonly hostKey?: string;
  /**
   * The machine is gone for good (dead, reinstalled elsewhere). The next apply deletes its Node object
   * through a surviving control-plane node and never connects to the machine again; then remove the
   * entry. A removed entry without this flag is drained and cleaned over SSH.
   * @default false
   */
  readonly gone?: boolean;
  /**
   * Install NixOS on this machine before its first deploy (nixos-anywhere: **this wipes its disk**).
   * @default - the cluster's `install`
   */
  readonly install?: boolean;
  /**
   * Raise it to install the machine again (wiping its disk); only this node is reinstalled.
   * @default 1
   */
  readonly installGeneration?: number;
  /**
   * Kubernetes labels the node registers with (`--node-label key=value`). Keys and values follow
   * Kubernetes label syntax; kubelet refuses keys in the `kubernetes.io`/`k8s.io` namespaces other
   * than its allowed ones (`node.kubernetes.io/...`, `node-role.kubernetes.io/...` is refused).
   * @default {}
   */
  readonly labels?: Readonly<Record<string, string>>;
  /**
   * Taints the node registers with (`--node-taint`), each `key=value:Effect` or `key:Effect` with
   * Effect NoSchedule, PreferNoSchedule or NoExecute.
   * @default []
   */
  readonly taints?: readonly string[];
}

/**
 * Off-site copies of the etcd snapshots in an S3-compatible bucket (k3s's `--etcd-s3*` flags). The
 * access key pair reaches the servers through the secrets channel, as the environment variables
 * k3s reads for `--etcd-s3-access-key` and `--etcd-s3-secret-key` (AWS_ACCESS_KEY_ID,
 * AWS_SECRET_ACCESS_KEY): never a flag, never the Nix store.
 */
export interface EtcdS3Description {
  /** Bucket name (S3 naming: 3-63 of a-z, 0-9, ".", "-"). It must exist. */
  readonly bucket: string;
  /**
   * Endpoint as host or host:port, without a scheme (k3s speaks HTTPS to it).
   * @default "s3.amazonaws.com" (k3s's default)
   */
  readonly endpoint?: string;
  /**
   * Region of the bucket.
   * @default "us-east-1" (k3s's default)
   */
  readonly region?: string;
  /**
   * Folder (key prefix) inside the bucket, e.g. `prod/etcd`.
   * @default - the top of the bucket (k3s's default)
   */
  readonly folder?: string;
  /**
   * Path to a PEM file of the CA that signed the endpoint's certificate (a private MinIO, say). Read
   * by Terraform; it reaches the servers as a root-only file of the secrets channel.
   * @default - the system's trusted CAs
   */
  readonly endpointCaFile?: string;
  /**
   * Access key id. Set it together with `secretAccessKeyFile`.
   * @default - none: k3s then uses the machine's own credentials (an instance role)
   */
  readonly accessKeyId?: string;
  /**
   * Path to a file holding only the secret access key, like `sshPrivateKeyFile`: Terraform reads it
   * at plan time, so the key is never in the synthesized configuration, a flag or the Nix store.
   * @default - none (see accessKeyId)
   */
  readonly secretAccessKeyFile?: string;
}

/**
 * etcd snapshots of the control plane: k3s's scheduled snapshots, copies in S3, and one snapshot
 * before every apply that changes a running control-plane node. Every setting left out keeps
 * k3s's own default (and adds no flag).
 */
export interface EtcdSnapshotsDescription {
  /**
   * When k3s takes its scheduled snapshots (`--etcd-snapshot-schedule-cron`): five cron fields or a
   * descriptor such as `@daily`.
   * @default "0 *\/12 * * *" (k3s's default: every 12 hours)
   */
  readonly scheduleCron?: string;
  /**
   * How many scheduled snapshots k3s keeps, locally and in S3 each (`--etcd-snapshot-retention`).
   * @default 5 (k3s's default)
   */
  readonly retention?: number;
  /**
   * Directory of the local snapshots on each server (`--etcd-snapshot-dir`); created root-only.
   * @default "/var/lib/rancher/k3s/server/db/snapshots" (k3s's default, `${data-dir}/db/snapshots`)
   */
  readonly dir?: string;
  /**
   * Take one snapshot (`k3s etcd-snapshot save`, copied to S3 when configured) on a healthy server
   * before an apply changes a running control-plane node; a failed snapshot stops the apply before
   * any node is touched.
   * @default true
   */
  readonly beforeChanges?: boolean;
  /**
   * Copy every snapshot to an S3-compatible bucket (`--etcd-s3`).
   * @default - local snapshots only
   */
  readonly s3?: EtcdS3Description;
}

/**
 * Restore the cluster from an etcd snapshot, as code: raising `generation` restores `snapshot`
 * once. Everything written to the cluster after the snapshot is lost (workloads, secrets, Node
 * labels: the whole Kubernetes state). The snapshot is taken from the init node's snapshot
 * directory, else another control-plane node's (copied over), else from S3 when `etcdSnapshots.s3`
 * is set.
 */
export interface RestoreDescription {
  /**
   * Name of the snapshot as `k3s etcd-snapshot ls` prints it, e.g. the one an apply printed before a
   * change (`pre-apply-20261206-041502-cp-01-1796530502`); for S3, the key under `etcdSnapshots.s3.folder`.
   */
  readonly snapshot: string;
  /**
   * Raise it (1, 2, ...) to restore: the apply runs the restore once for each generation above the
   * highest one restored so far. Lowering it, or removing `restore`, restores nothing. Set on the
   * apply that creates the cluster, it restores nothing and is recorded as done.
   */
  readonly generation: number;
}

/** Everything nico-cluster needs to know about one cluster. */
export interface ClusterDescription {
  /** Cluster name: an RFC 1123 label of 1-63 characters. Also seeds keepalived's VRRP password. */
  readonly name: string;
  /** The keepalived virtual IPv4 address of the API server, inside the node subnet. */
  readonly vip: string;
  /** Control-plane nodes; the first one initialises the cluster. 1 to 7 (etcd quorum); odd counts advised. */
  readonly controlPlane: readonly NodeDescription[];
  /**
   * Worker (agent) nodes.
   * @default []
   */
  readonly workers?: readonly NodeDescription[];
  /**
   * Prefix length of the node subnet; every node IP, the VIP and the gateway lie in it.
   * @default 24
   */
  readonly prefixLength?: number;
  /**
   * Default gateway of the nodes, inside the node subnet.
   * @default "192.168.1.1"
   */
  readonly gateway?: string;
  /**
   * DNS servers of the nodes.
   * @default ["8.8.8.8"]
   */
  readonly nameservers?: readonly string[];
  /**
   * Network interface that carries the static address and the VIP.
   * @default "eth0"
   */
  readonly interface?: string;
  /**
   * keepalived virtual router id (VRID), 1-255; must be unique on the L2 segment.
   * @default 51
   */
  readonly vrrpRouterId?: number;
  /**
   * nixpkgs flake reference every node builds from. Pin a revision (or give a flake.lock) so that a node
   * added later runs the same system.
   * Supported: nixos-24.11 through nixos-26.05 and nixos-unstable; a reference naming 24.05 or
   * older is refused (disko and the flake need a newer nixpkgs lib).
   * @default "github:NixOS/nixpkgs/nixos-26.05"
   */
  readonly nixpkgs?: string;
  /**
   * Extra k3s flags for every control-plane node, after the flake's own (`--node-ip`, `--tls-san`),
   * e.g. `["--etcd-expose-metrics", "--cluster-cidr=10.42.0.0/16"]`. Each starts with `--`.
   * @default []
   */
  readonly serverExtraFlags?: readonly string[];
  /**
   * Extra k3s flags for every worker, after the flake's own (`--node-ip`). Each starts with `--`.
   * @default []
   */
  readonly agentExtraFlags?: readonly string[];
  /**
   * Packaged k3s components the control-plane nodes do not deploy (`--disable <component>`): any of
   * coredns, servicelb, traefik, local-storage, metrics-server, runtimes.
   * @default []
   */
  readonly disableComponents?: readonly string[];
  /**
   * Your own NixOS modules for every k3s node (not for the cleanup configuration `minimal`): paths of
   * `.nix` files or of directories holding a `default.nix`. They are copied into the tree under
   * `extra-modules/all/` and imported; Terraform reads them (relative paths from where the app runs).
   * @default []
   */
  readonly nixosModules?: readonly string[];
  /**
   * NixOS modules for control-plane nodes only (copied to `extra-modules/control-plane/`).
   * @default []
   */
  readonly controlPlaneModules?: readonly string[];
  /**
   * NixOS modules for workers only (copied to `extra-modules/worker/`).
   * @default []
   */
  readonly workerModules?: readonly string[];
  /**
   * NixOS modules for `#minimal` only (copied to `extra-modules/minimal/`): what a machine needs to
   * boot and be reached (drivers, a serial console). `#minimal` is what the install puts on a machine
   * and what every node returns to when the cluster is deleted; it takes none of the other sets.
   * @default []
   */
  readonly minimalModules?: readonly string[];
  /**
   * Path to an existing ED25519 private key (OpenSSH or PKCS#8 PEM, no passphrase) to use as the machine
   * key. It is read by Terraform at plan time, so the key never lands in the synthesized configuration.
   * @default - a new ED25519 key is generated with `tls_private_key`
   */
  readonly sshPrivateKeyFile?: string;
  /**
   * Path to a `flake.lock` to copy into the tree, so every node builds from the same inputs.
   * @default - no lock file; each node locks its inputs when it first builds
   */
  readonly flakeLockFile?: string;
  /**
   * Deploy the nodes over SSH. When false, only keys, token and flake tree are produced.
   * @default false
   */
  readonly deploy?: boolean;
  /**
   * User Terraform connects as; it needs to run nixos-rebuild (root, or passwordless sudo is not supported).
   * @default "root"
   */
  readonly sshUser?: string;
  /**
   * Root-only directory on each node that receives the flake tree.
   * @default "/etc/nico/flake"
   */
  readonly remoteFlakeDir?: string;
  /**
   * How long a node may take to become ready after `nixos-rebuild switch`, in seconds.
   * @default 900
   */
  readonly readyTimeoutSeconds?: number;
  /**
   * How long one SSH connection from the runner to a node may take to be established, in seconds; an
   * unreachable node or a wrong host key fails the apply after this, naming the node and the fix.
   * @default 20
   */
  readonly sshConnectTimeoutSeconds?: number;
  /**
   * How long draining a node that leaves the cluster may take, in seconds; after it the node is
   * deleted anyway.
   * @default 300
   */
  readonly drainTimeoutSeconds?: number;
  /**
   * Write the flake tree (and its secrets) to `<outputDir>/nix` on the machine that runs Terraform.
   * Turn it off where the runner is ephemeral (HCP Terraform, CI): the deployment does not need the
   * local tree, and a fresh runner then plans no change.
   * @default true
   */
  readonly writeLocalTree?: boolean;
  /**
   * How many workers a redeploy (a new nixpkgs, a changed setting) may take out of service at once:
   * each is cordoned and drained, switched, seen ready and uncordoned. Control-plane nodes always go
   * one at a time, and new workers all together.
   * @default 1
   */
  readonly maxUnavailable?: number;
  /**
   * Roll a node back to its previous system generation when it is not ready within
   * `readyTimeoutSeconds` after a switch, or when the new system cuts SSH off (a timer on the node
   * fires unless the deployer reconnects and sees it ready).
   * @default true
   */
  readonly rollback?: boolean;
  /**
   * Install NixOS, **wiping the disk**, on every node before its first deploy: from any Linux that
   * root can reach over SSH (a rescue system, another distribution), nixos-anywhere kexecs into an
   * installer, partitions the disk with the flake's disko layout and installs. Each node gets an SSH
   * host key made by Terraform, pinned on every later connection. Needs Nix with flakes on the
   * machine that runs Terraform. A node's own `install` overrides this.
   * @default false
   */
  readonly install?: boolean;
  /**
   * etcd snapshots: schedule, retention, directory, copies in S3, a snapshot before risky changes.
   * @default - k3s's own defaults, and a snapshot before every change of a running control plane
   */
  readonly etcdSnapshots?: EtcdSnapshotsDescription;
  /**
   * Restore the cluster from an etcd snapshot: raising `generation` restores `snapshot` once, on the
   * init node, then every other server rejoins with empty etcd data and the workers reconnect.
   * **Everything written to the cluster after the snapshot is lost.** Lowering the generation,
   * removing this, or setting it on the apply that creates the cluster restores nothing.
   * @default - no restore
   */
  readonly restore?: RestoreDescription;
  /**
   * Where the install's machines get the NixOS kexec installer tarball (`--kexec` of nixos-anywhere):
   * an `https://` or `http://` URL the machine downloads itself (a mirror), or an absolute path on
   * the machine that runs Terraform, uploaded from there over SSH (air-gapped sites). Must end in
   * `.tar`, `.tar.gz`, `.tar.xz` or `.tar.zst` (nixos-anywhere unpacks by the suffix).
   * @default - nixos-anywhere's: nixos-images' nixos-25.05 release on GitHub, for the machine's architecture
   */
  readonly kexecUrl?: string;
}

/** Defaults of the optional fields: the single source for TypeScript, the HCL module and its docs. */
export const CLUSTER_DEFAULTS = {
  workers: [] as readonly NodeDescription[],
  prefixLength: 24,
  gateway: '192.168.1.1',
  nameservers: ['8.8.8.8'] as readonly string[],
  interface: 'eth0',
  vrrpRouterId: 51,
  nixpkgs: 'github:NixOS/nixpkgs/nixos-26.05',
  serverExtraFlags: [] as readonly string[],
  agentExtraFlags: [] as readonly string[],
  disableComponents: [] as readonly string[],
  nixosModules: [] as readonly string[],
  controlPlaneModules: [] as readonly string[],
  workerModules: [] as readonly string[],
  minimalModules: [] as readonly string[],
  deploy: false,
  sshUser: 'root',
  remoteFlakeDir: '/etc/nico/flake',
  readyTimeoutSeconds: 900,
  sshConnectTimeoutSeconds: 20,
  drainTimeoutSeconds: 300,
  writeLocalTree: true,
  maxUnavailable: 1,
  rollback: true,
  install: false,
} as const;

/** What k3s does when a snapshot setting is left out (k3s pkg/cli/cmds/server.go); for the docs. */
export const K3S_SNAPSHOT_DEFAULTS = {
  scheduleCron: '0 */12 * * *',
  retention: 5,
  dir: '/var/lib/rancher/k3s/server/db/snapshots',
  endpoint: 's3.amazonaws.com',
  region: 'us-east-1',
} as const;

/** Whether an apply takes a snapshot before it changes a running control-plane node. */
export const SNAPSHOT_BEFORE_CHANGES_DEFAULT = true;

export const NODE_DEFAULTS = {
  sshPort: 22,
  disk: '/dev/sda',
  gone: false,
  installGeneration: 1,
} as const;

/** The nixos-anywhere release the install step runs (`nix run`), pinned so installs are repeatable. */
export const NIXOS_ANYWHERE = 'github:nix-community/nixos-anywhere/1.13.0';

/** Components k3s can leave out with `--disable` (k3s server --help). */
export const K3S_COMPONENTS = ['coredns', 'servicelb', 'traefik', 'local-storage', 'metrics-server', 'runtimes'] as const;

/** The nixpkgs reference written in nix-templates/flake.nix; the tree replaces it with the description's. */
export const TEMPLATE_NIXPKGS_REF = CLUSTER_DEFAULTS.nixpkgs;

/** etcd advises at most 7 members; the deployment chain has one position per joiner. */
export const MAX_CONTROL_PLANE_NODES = 7;

/** Reserved for the cleanup configuration `nixosConfigurations.minimal`. */
export const RESERVED_NODE_NAMES = ['minimal'] as const;
