import { TerraformLocal, TerraformResource, TerraformVariable } from 'cdktf';
import { Construct } from 'constructs';
import { CLUSTER_DEFAULTS, K3S_COMPONENTS, K3S_SNAPSHOT_DEFAULTS, MAX_CONTROL_PLANE_NODES, NODE_DEFAULTS, SNAPSHOT_BEFORE_CHANGES_DEFAULT } from './cluster-description';
import { IClusterInputs, listFiles, NIX_TEMPLATES_DIR } from './cluster-inputs';
import { moduleChecks } from './cluster-rules-hcl';

/**
 * Address of the resource whose preconditions hold every rule of the description. Every file of the
 * tree depends on it, and so must anything that touches a node: with values unknown until apply,
 * rules are checked only there, and what does not depend on the checks could run before they fail.
 */
export const INPUT_CHECKS = 'terraform_data.input_checks';

/**
 * The shape of a node, for documentation: the variables take node lists as `any` so that an attribute
 * the module does not know (a misspelt `host_key`) is an error instead of being dropped by type
 * conversion; the shape rule in cluster-rules.ts checks it (HCL_NODE_ATTRIBUTES).
 */
export const NODE_TYPE = `list(object({
    name     = string
    ip       = string
    ssh_host = optional(string)
    ssh_port = optional(number, ${NODE_DEFAULTS.sshPort})
    disk     = optional(string)
    host_key = optional(string)
    gone     = optional(bool, ${NODE_DEFAULTS.gone})
    install  = optional(bool)
    install_generation = optional(number, ${NODE_DEFAULTS.installGeneration})
    labels   = optional(map(string), {})
    taints   = optional(list(string), [])
  }))`;

const NODE_FIELDS =
  'Each node: `name` (RFC 1123 label, unique, not "minimal"), `ip` (IPv4 in the node subnet), optional `ssh_host` and `ssh_port` ' +
  `(where Terraform connects; default: ip and ${NODE_DEFAULTS.sshPort}), \`disk\` (disko target; default ${NODE_DEFAULTS.disk}), \`host_key\` (pins the node's SSH host key), ` +
  '`labels` (Kubernetes labels, `--node-label`), `taints` ("key=value:Effect", `--node-taint`) `gone` (the machine is gone for good: remove it from the cluster without SSH), `install` (install NixOS on it first, wiping its disk; default: var.install) and `install_generation` (raise it to reinstall that node).';

interface VariableSpec {
  readonly type: string;
  readonly description: string;
  readonly default?: unknown;
  readonly sensitive?: boolean;
}

/** The shape `etcd_snapshots` takes (the variable itself is `any`, see its shape rule). */
export const ETCD_SNAPSHOTS_TYPE = `object({
    schedule_cron  = optional(string)
    retention      = optional(number)
    dir            = optional(string)
    before_changes = optional(bool, ${SNAPSHOT_BEFORE_CHANGES_DEFAULT})
    s3 = optional(object({
      bucket        = string
      endpoint      = optional(string)
      region        = optional(string)
      folder        = optional(string)
      endpoint_ca   = optional(string)
      access_key_id = optional(string)
    }))
  })`;

/** Every input of the module, in the order of DESIGN section 3; defaults come from CLUSTER_DEFAULTS. */
export const MODULE_VARIABLES: Record<string, VariableSpec> = {
  name: { type: 'string', description: 'Cluster name: an RFC 1123 label of 1-63 characters. Also seeds the keepalived VRRP password.' },
  vip: { type: 'string', description: 'Virtual IPv4 address of the Kubernetes API, held by one control-plane node at a time through keepalived.' },
  control_plane: { type: 'any', description: `Control-plane nodes, 1 to ${MAX_CONTROL_PLANE_NODES}; the first initialises the cluster and the others join one at a time. ${NODE_FIELDS}` },
  workers: { type: 'any', default: CLUSTER_DEFAULTS.workers, description: `Worker (agent) nodes; they join in parallel after the control plane. ${NODE_FIELDS}` },
  prefix_length: { type: 'number', default: CLUSTER_DEFAULTS.prefixLength, description: 'Prefix length of the node subnet; node IPs, the VIP and the gateway lie in it.' },
  gateway: { type: 'string', default: CLUSTER_DEFAULTS.gateway, description: 'Default gateway of the nodes, inside the node subnet.' },
  nameservers: { type: 'list(string)', default: CLUSTER_DEFAULTS.nameservers, description: 'DNS servers of the nodes.' },
  interface: { type: 'string', default: CLUSTER_DEFAULTS.interface, description: 'Network interface that carries the static address and the VIP.' },
  vrrp_router_id: { type: 'number', default: CLUSTER_DEFAULTS.vrrpRouterId, description: 'keepalived virtual router id (VRID), 1-255; unique on the L2 segment.' },
  nixpkgs: { type: 'string', default: CLUSTER_DEFAULTS.nixpkgs, description: 'nixpkgs flake reference all nodes build from; pin a revision so that nodes added later run the same system. NixOS 24.11 through 26.05 and unstable; 24.05 and older are refused.' },
  server_extra_flags: { type: 'list(string)', default: CLUSTER_DEFAULTS.serverExtraFlags, description: 'Extra k3s flags for control-plane nodes, after the flake\'s own (--node-ip, --tls-san); each starts with "--".' },
  agent_extra_flags: { type: 'list(string)', default: CLUSTER_DEFAULTS.agentExtraFlags, description: 'Extra k3s flags for workers, after the flake\'s own (--node-ip); each starts with "--".' },
  disable_components: { type: 'list(string)', default: CLUSTER_DEFAULTS.disableComponents, description: `Packaged k3s components the control-plane nodes do not deploy (--disable): any of ${K3S_COMPONENTS.join(', ')}.` },
  nixos_modules: { type: 'list(string)', default: CLUSTER_DEFAULTS.nixosModules, description: 'Paths of your own NixOS modules for every k3s node (not for minimal): .nix files or directories holding a default.nix, e.g. "nix/monitoring.nix" (relative to the directory Terraform runs in). Copied into the tree (extra-modules/all/) and imported.' },
  control_plane_modules: { type: 'list(string)', default: CLUSTER_DEFAULTS.controlPlaneModules, description: 'Like nixos_modules, for control-plane nodes only (extra-modules/control-plane/).' },
  worker_modules: { type: 'list(string)', default: CLUSTER_DEFAULTS.workerModules, description: 'Like nixos_modules, for workers only (extra-modules/worker/).' },
  minimal_modules: { type: 'list(string)', default: CLUSTER_DEFAULTS.minimalModules, description: 'Like nixos_modules, for #minimal only (extra-modules/minimal/): what a machine needs to boot and be reached; installs put #minimal on machines.' },
  ssh_private_key: { type: 'string', default: null, sensitive: true, description: 'Existing ED25519 private key (OpenSSH or PEM, no passphrase) to use as the machine key, e.g. `file("machine-key")`. Null generates one.' },
  flake_lock: { type: 'string', default: null, description: 'Contents of a flake.lock to copy into the tree, e.g. `file("flake.lock")`, so every node builds from the same inputs. Null writes none.' },
  deploy: { type: 'bool', default: CLUSTER_DEFAULTS.deploy, description: 'Deploy the nodes over SSH. When false, only keys, token and flake tree are produced.' },
  ssh_user: { type: 'string', default: CLUSTER_DEFAULTS.sshUser, description: 'User Terraform connects as over SSH; it must be able to run nixos-rebuild.' },
  remote_flake_dir: { type: 'string', default: CLUSTER_DEFAULTS.remoteFlakeDir, description: 'Root-only directory on each node that receives the flake tree.' },
  ready_timeout_seconds: { type: 'number', default: CLUSTER_DEFAULTS.readyTimeoutSeconds, description: 'Seconds a node may take to become ready after nixos-rebuild switch before the apply fails.' },
  ssh_connect_timeout_seconds: { type: 'number', default: CLUSTER_DEFAULTS.sshConnectTimeoutSeconds, description: 'Seconds one SSH connection to a node may take to be established; an unreachable node fails the apply after this.' },
  drain_timeout_seconds: { type: 'number', default: CLUSTER_DEFAULTS.drainTimeoutSeconds, description: 'Seconds draining a node that leaves the cluster may take; after it the node is deleted anyway.' },
  write_local_tree: { type: 'bool', default: CLUSTER_DEFAULTS.writeLocalTree, description: 'Write the flake tree and its secrets to `<output_dir>/nix`. Turn it off on ephemeral runners (HCP Terraform, CI): deployment does not need it, and a fresh runner then plans no change.' },
  max_unavailable: { type: 'number', default: CLUSTER_DEFAULTS.maxUnavailable, description: 'How many workers a redeploy may take out of service at once (each is cordoned, drained, switched, seen ready, uncordoned). Control-plane nodes always go one at a time; new workers all together.' },
  rollback: { type: 'bool', default: CLUSTER_DEFAULTS.rollback, description: 'Roll a node back to its previous system generation when it is not ready in time after a switch, or when the new system cuts SSH off (a timer on the node).' },
  install: { type: 'bool', default: CLUSTER_DEFAULTS.install, description: 'Install NixOS with nixos-anywhere, WIPING THE DISK, on every node before its first deploy (a node\'s own `install` overrides it). Needs Nix with flakes where Terraform runs. Each installed node gets an SSH host key made by Terraform, pinned on every later connection.' },
  etcd_snapshots: {
    // `any`, so that a misspelt attribute is refused (the shape rule in cluster-rules.ts) instead of
    // dropped by type conversion; the shape it takes is ETCD_SNAPSHOTS_TYPE.
    type: 'any',
    default: {},
    description:
      'etcd snapshots of the control plane. Unset settings keep k3s\'s defaults and add no flag: ' +
      `\`schedule_cron\` (--etcd-snapshot-schedule-cron, default "${K3S_SNAPSHOT_DEFAULTS.scheduleCron}"), \`retention\` (--etcd-snapshot-retention, default ${K3S_SNAPSHOT_DEFAULTS.retention}), ` +
      `\`dir\` (--etcd-snapshot-dir, default ${K3S_SNAPSHOT_DEFAULTS.dir}; created root-only). \`before_changes\` (default ${SNAPSHOT_BEFORE_CHANGES_DEFAULT}): one \`k3s etcd-snapshot save\` on a healthy server before an apply changes a running control-plane node; a failed snapshot stops the apply. ` +
      `\`s3\` copies every snapshot to a bucket: \`bucket\`, \`endpoint\` (host[:port], default ${K3S_SNAPSHOT_DEFAULTS.endpoint}), \`region\` (default ${K3S_SNAPSHOT_DEFAULTS.region}), \`folder\`, \`endpoint_ca\` (PEM text, e.g. file("s3-ca.pem")) and \`access_key_id\` (with etcd_s3_secret_access_key).`,
  },
  etcd_s3_secret_access_key: {
    type: 'string',
    default: null,
    sensitive: true,
    description: 'Secret access key for etcd_snapshots.s3, e.g. `file("etcd-s3-secret")`. It reaches the servers only through the secrets channel, as AWS_SECRET_ACCESS_KEY in a root-only environment file of the k3s unit: never a flag or the Nix store. Set it together with etcd_snapshots.s3.access_key_id.',
  },
  restore: {
    // `any`, so that a misspelt attribute is refused (the shape rule) instead of dropped by type conversion.
    type: 'any',
    default: null,
    description:
      'Restore the cluster from an etcd snapshot: `{ snapshot = "<name as k3s etcd-snapshot ls prints it>", generation = <whole number> }`. ' +
      'Raising the generation restores the snapshot once: k3s resets the cluster from it on the init node (from the snapshot directory of a control-plane node, else from etcd_snapshots.s3), ' +
      'then every other control-plane node rejoins with empty etcd data and the workers reconnect. EVERYTHING WRITTEN TO THE CLUSTER AFTER THE SNAPSHOT IS LOST. ' +
      'Lowering the generation, removing it, or setting it on the apply that creates the cluster restores nothing. Null: no restore.',
  },
  kexec_url: { type: 'string', default: null, description: 'Where installs get the NixOS kexec installer tarball: an http(s) URL the machine downloads (a mirror), or an absolute path on the machine that runs Terraform, uploaded over SSH (air-gapped sites); ending in .tar, .tar.gz, .tar.xz or .tar.zst. Null: nixos-anywhere\'s default (GitHub).' },
  output_dir: { type: 'string', default: null, description: 'Local directory for the flake tree (`<output_dir>/nix`) and the kubeconfig. Null means `<root module>/out/<name>`.' },
  module_address: { type: 'string', default: null, description: 'Address of this module call as Terraform names it (e.g. `module.cluster`), only for the commands error messages name (`terraform apply -replace=...`). Null: they say `module.<name>`.' },
};

/** `local.cluster` from the variables: the same canonical form the TypeScript app writes literally. */
// Optional attributes through `try`: the lists are `any`, so a node may lack them.
const nodeList = (v: string) =>
  `\${[for n in var.${v} : { name = n.name, ip = n.ip, disk = try(n.disk, null), ssh_host = coalesce(try(n.ssh_host, null), n.ip), ssh_port = coalesce(try(tonumber(n.ssh_port), null), ${NODE_DEFAULTS.sshPort}), host_key = try(n.host_key, null), labels = coalesce(try(n.labels, null), {}), taints = coalesce(try(n.taints, null), []), gone = coalesce(try(n.gone, null), ${NODE_DEFAULTS.gone}), install = try(n.install, null), install_generation = coalesce(try(n.install_generation, null), ${NODE_DEFAULTS.installGeneration}) }]}`;

const CLUSTER_LOCAL = {
  name: '${var.name}',
  vip: '${var.vip}',
  control_plane: nodeList('control_plane'),
  workers: nodeList('workers'),
  prefix_length: '${var.prefix_length}',
  gateway: '${var.gateway}',
  nameservers: '${var.nameservers}',
  interface: '${var.interface}',
  vrrp_router_id: '${var.vrrp_router_id}',
  nixpkgs: '${var.nixpkgs}',
  ssh_user: '${var.ssh_user}',
  remote_flake_dir: '${var.remote_flake_dir}',
  ready_timeout_seconds: '${var.ready_timeout_seconds}',
  ssh_connect_timeout_seconds: '${var.ssh_connect_timeout_seconds}',
  drain_timeout_seconds: '${var.drain_timeout_seconds}',
  write_local_tree: '${var.write_local_tree}',
  max_unavailable: '${var.max_unavailable}',
  rollback: '${var.rollback}',
  install: '${var.install}',
  kexec_url: '${var.kexec_url}',
  server_extra_flags: '${var.server_extra_flags}',
  agent_extra_flags: '${var.agent_extra_flags}',
  disable_components: '${var.disable_components}',
  // As canonicalEtcdSnapshots: of S3 only whether a CA and credentials come through the secrets channel.
  // The variable is `any`: each setting converted to the type ETCD_SNAPSHOTS_TYPE gives it, unset ones null.
  etcd_snapshots:
    '${{ schedule_cron = try(tostring(var.etcd_snapshots.schedule_cron), null), retention = try(tonumber(var.etcd_snapshots.retention), null), dir = try(tostring(var.etcd_snapshots.dir), null), ' +
    `before_changes = try(tobool(var.etcd_snapshots.before_changes), null) == null ? ${SNAPSHOT_BEFORE_CHANGES_DEFAULT} : tobool(var.etcd_snapshots.before_changes), ` +
    's3 = try(var.etcd_snapshots.s3, null) == null ? null : { bucket = tostring(var.etcd_snapshots.s3.bucket), endpoint = try(tostring(var.etcd_snapshots.s3.endpoint), null), region = try(tostring(var.etcd_snapshots.s3.region), null), folder = try(tostring(var.etcd_snapshots.s3.folder), null), ' +
    'endpoint_ca = try(var.etcd_snapshots.s3.endpoint_ca, null) != null, credentials = try(var.etcd_snapshots.s3.access_key_id, null) != null } }}',
};

/** `local.user_modules`: each path with the name it gets in the tree. */
const modulesOf = (v: string) => `\${[for p in var.${v} : { name = basename(p), path = p }]}`;

/** Input source of the HCL module: Terraform variables, validated by Terraform with the shared rules. */
export class VariableClusterInputs extends Construct implements IClusterInputs {
  public readonly staticFlakeFiles: readonly string[] = listFiles(NIX_TEMPLATES_DIR);
  public readonly checks: readonly string[] = [INPUT_CHECKS];

  constructor(scope: Construct, id: string) {
    super(scope, id);

    const rules = moduleChecks();
    for (const [name, spec] of Object.entries(MODULE_VARIABLES)) {
      const validation = (rules.validations[name] ?? []).map((r) => ({ condition: `\${${r.condition}}`, errorMessage: r.errorMessage }));
      const variable = new TerraformVariable(this, name, {
        type: spec.type,
        description: spec.description,
        sensitive: spec.sensitive,
        nullable: spec.default === null ? true : spec.default === undefined ? undefined : false,
        validation: validation.length > 0 ? validation : undefined,
      });
      variable.overrideLogicalId(name);
      // A null default must be written out, or Terraform would make the variable required.
      if (spec.default !== undefined) variable.addOverride('default', spec.default);
    }

    // Every rule is checked once. A rule on one variable is its validation: Terraform checks it at plan,
    // or at apply when the value is unknown until then, and nothing reading the variable runs before it
    // passes. Rules across variables are preconditions of one resource that every file (and deployment)
    // depends on (validation blocks may read other variables only from Terraform 1.9 on).
    const checks = new TerraformResource(this, 'input_checks', { terraformResourceType: 'terraform_data' });
    checks.overrideLogicalId(INPUT_CHECKS.split('.')[1]);
    checks.addOverride(
      'lifecycle.precondition',
      rules.preconditions.map((r) => ({ condition: `\${${r.condition}}`, error_message: r.errorMessage })),
    );
    for (const [name, value] of Object.entries(rules.locals)) new TerraformLocal(this, `local-${name}`, `\${${value}}`).overrideLogicalId(name);

    const locals: Record<string, unknown> = {
      cluster: CLUSTER_LOCAL,
      deploy: '${var.deploy}',
      output_dir: '${coalesce(var.output_dir, "${path.root}/out/${var.name}")}',
      module_address: '${var.module_address == null ? "module.<name>." : "${var.module_address}."}',
      ssh_private_key_input: '${var.ssh_private_key}',
      flake_lock: '${var.flake_lock}',
      nix_templates_dir: '${path.module}/nix-templates',
      templates_dir: '${path.module}/templates',
      user_modules: { all: modulesOf('nixos_modules'), control_plane: modulesOf('control_plane_modules'), worker: modulesOf('worker_modules'), minimal: modulesOf('minimal_modules') },
      etcd_s3_endpoint_ca: '${try(var.etcd_snapshots.s3.endpoint_ca, null)}',
      // Checked by the restore rules (an object of exactly these two attributes).
      restore: '${var.restore == null ? null : { snapshot = tostring(var.restore.snapshot), generation = tonumber(var.restore.generation) }}',
      // Single-quoted: systemd's EnvironmentFile and sh read it alike (the rules refuse quotes in both values).
      etcd_s3_env:
        '${var.etcd_s3_secret_access_key == null ? null : sensitive("AWS_ACCESS_KEY_ID=\'${try(var.etcd_snapshots.s3.access_key_id, "")}\'\\nAWS_SECRET_ACCESS_KEY=\'${trimspace(var.etcd_s3_secret_access_key)}\'\\n")}',
    };
    for (const [name, value] of Object.entries(locals)) {
      new TerraformLocal(this, `local-${name}`, value).overrideLogicalId(name);
    }
  }
}
