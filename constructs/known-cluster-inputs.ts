import * as fs from 'fs';
import * as path from 'path';
import { AssetType, TerraformAsset, TerraformLocal } from 'cdktf';
import { Construct } from 'constructs';
import { ClusterDescription, CLUSTER_DEFAULTS, NodeDescription, NODE_DEFAULTS } from './cluster-description';
import { IClusterInputs, listFiles, NIX_TEMPLATES_DIR, TEMPLATES_DIR } from './cluster-inputs';
import { terraformLiteral } from './terraform-literal';
import { assertValidClusterDescription } from './validate-cluster-description';

export interface KnownClusterInputsProps {
  /** The cluster description; validated here, before anything else is built. */
  readonly description: ClusterDescription;
  /** Directory for the flake tree (`<outputDir>/nix`) and kubeconfig, as Terraform should see it. */
  readonly outputDir: string;
}

/** A node in the canonical form of `local.cluster`. */
export interface CanonicalNode {
  readonly name: string;
  readonly ip: string;
  readonly disk: string | null;
  readonly ssh_host: string;
  readonly ssh_port: number;
  readonly host_key: string | null;
  readonly gone: boolean;
  readonly install: boolean | null;
  readonly install_generation: number;
  readonly labels: Readonly<Record<string, string>>;
  readonly taints: readonly string[];
}

const canonicalNode = (n: NodeDescription): CanonicalNode => ({
  name: n.name,
  ip: n.ip,
  disk: n.disk ?? null,
  ssh_host: n.sshHost ?? n.ip,
  ssh_port: n.sshPort ?? NODE_DEFAULTS.sshPort,
  host_key: n.hostKey ?? null,
  gone: n.gone ?? NODE_DEFAULTS.gone,
  install: n.install ?? null,
  install_generation: n.installGeneration ?? NODE_DEFAULTS.installGeneration,
  labels: { ...(n.labels ?? {}) },
  taints: [...(n.taints ?? [])],
});

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
    server_extra_flags: [...(d.serverExtraFlags ?? CLUSTER_DEFAULTS.serverExtraFlags)],
    agent_extra_flags: [...(d.agentExtraFlags ?? CLUSTER_DEFAULTS.agentExtraFlags)],
    disable_components: [...(d.disableComponents ?? CLUSTER_DEFAULTS.disableComponents)],
  };
}

/** The description's module lists by the set they are copied to (`local.user_modules`). */
const MODULE_SETS = { all: 'nixosModules', control_plane: 'controlPlaneModules', worker: 'workerModules' } as const;

/**
 * Input source of the TypeScript app: a validated description whose values are known at synth time.
 * Secrets stay out of the synthesized JSON: a given key or lock file is read by Terraform (`file()`).
 */
export class KnownClusterInputs extends Construct implements IClusterInputs {
  public readonly staticFlakeFiles: readonly string[];
  /** The validated description. */
  public readonly description: ClusterDescription;

  constructor(scope: Construct, id: string, props: KnownClusterInputsProps) {
    super(scope, id);
    this.description = assertValidClusterDescription(props.description);
    const d = this.description;
    this.staticFlakeFiles = listFiles(NIX_TEMPLATES_DIR);

    // Assets are copied next to the synthesized stack, so `terraform plan` there (or in HCP Terraform)
    // finds the templates without this repository.
    const nixTemplates = new TerraformAsset(this, 'nix-templates', { path: NIX_TEMPLATES_DIR, type: AssetType.DIRECTORY });
    const templates = new TerraformAsset(this, 'templates', { path: TEMPLATES_DIR, type: AssetType.DIRECTORY });

    // Every value from the description or the caller goes through terraformLiteral: Terraform reads
    // strings of the synthesized JSON as templates, and cdktf looks for its tokens in them. File paths
    // are literals in their own locals rather than arguments of Fn.file, which escapes `${` but not `%{`.
    const locals: Record<string, unknown> = {
      cluster: terraformLiteral(canonicalCluster(d)),
      deploy: d.deploy ?? CLUSTER_DEFAULTS.deploy,
      output_dir: terraformLiteral(props.outputDir),
      ssh_private_key_file: d.sshPrivateKeyFile ? terraformLiteral(path.resolve(d.sshPrivateKeyFile)) : null,
      flake_lock_file: d.flakeLockFile ? terraformLiteral(path.resolve(d.flakeLockFile)) : null,
      ssh_private_key_input: d.sshPrivateKeyFile ? '${sensitive(file(local.ssh_private_key_file))}' : null,
      flake_lock: d.flakeLockFile ? '${file(local.flake_lock_file)}' : null,
      nix_templates_dir: nixTemplates.path,
      templates_dir: templates.path,
      user_modules: Object.fromEntries(
        Object.entries(MODULE_SETS).map(([set, key]) => [
          set,
          (d[key] ?? []).map((p, i) => {
            // Copied next to the stack like the templates: Terraform reads the copy, and the JSON
            // names no path of this machine.
            const type = fs.statSync(p).isDirectory() ? AssetType.DIRECTORY : AssetType.FILE;
            return { name: path.basename(p), path: new TerraformAsset(this, `module-${set}-${i}`, { path: path.resolve(p), type }).path };
          }),
        ]),
      ),
    };
    for (const [name, value] of Object.entries(locals)) {
      new TerraformLocal(this, name, value).overrideLogicalId(name);
    }
  }
}
