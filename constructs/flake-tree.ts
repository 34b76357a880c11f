import { File } from '@cdktf/provider-local/lib/file';
import { SensitiveFile } from '@cdktf/provider-local/lib/sensitive-file';
import { TerraformLocal } from 'cdktf';
import { Construct } from 'constructs';
import { TEMPLATE_NIXPKGS_REF } from './cluster-description';

export interface FlakeTreeProps {
  /** Relative paths of the files in nix-templates/, copied verbatim (flake.nix gets the nixpkgs ref). */
  readonly staticFlakeFiles: readonly string[];
  /**
   * Resource addresses every file waits for: the input checks of the HCL module, so that no file is
   * written before every rule has passed (rules on values unknown until apply are checked only then).
   * @default []
   */
  readonly dependsOn?: readonly string[];
}

/** Files and modes of a tree, for docs and tests: the NICO layout plus the public key. */
export const SECRET_FILES = ['machine-ssh-private-key', 'join-token'] as const;

/**
 * Writes the NICO flake tree to `local.flake_dir` (`<output_dir>/nix`): the static flake,
 * `cluster.nix` rendered from the description, the machine key pair, the join token and, when given,
 * `flake.lock`. Directories are 0700 and secrets 0600: the tree holds the cluster's credentials.
 * Defines `local.flake_dir` and `local.flake_hash` (a hash of everything nodes build from that is not
 * per-node: the static files, the lock file and the public key).
 */
export class FlakeTree extends Construct {
  /** Every file resource of the tree, for `depends_on`. */
  public readonly files: readonly string[];

  constructor(scope: Construct, id: string, props: FlakeTreeProps) {
    super(scope, id);
    const common = { filePermission: '0644', directoryPermission: '0700' };

    const staticContent = Object.fromEntries(
      props.staticFlakeFiles.map((f) => [
        f,
        f === 'flake.nix'
          ? `\${replace(file("\${local.nix_templates_dir}/flake.nix"), "${TEMPLATE_NIXPKGS_REF}", local.cluster.nixpkgs)}`
          : `\${file("\${local.nix_templates_dir}/${f}")}`,
      ]),
    );
    const locals: Record<string, unknown> = {
      flake_dir: '${local.output_dir}/nix',
      static_flake_files: staticContent,
      flake_hash: '${sha256(jsonencode([local.static_flake_files, local.flake_lock, local.ssh_public_key]))}',
    };
    for (const [name, value] of Object.entries(locals)) new TerraformLocal(this, name, value).overrideLogicalId(name);

    const staticFiles = new File(this, 'static', { ...common, filename: '${local.flake_dir}/${each.key}', content: '${each.value}' });
    staticFiles.addOverride('for_each', '${local.static_flake_files}');
    staticFiles.overrideLogicalId('static');

    const clusterNix = new File(this, 'cluster-nix', {
      ...common,
      filename: '${local.flake_dir}/cluster.nix',
      content: '${templatefile("${local.templates_dir}/cluster.nix.tftpl", { cluster = local.cluster })}',
    });
    clusterNix.overrideLogicalId('cluster_nix');

    const publicKey = new File(this, 'public-key', { ...common, filename: '${local.flake_dir}/machine-ssh-public-key', content: '${local.ssh_public_key}' });
    publicKey.overrideLogicalId('machine_ssh_public_key');

    const secret = { filePermission: '0600', directoryPermission: '0700' };
    const privateKey = new SensitiveFile(this, 'private-key', { ...secret, filename: '${local.flake_dir}/machine-ssh-private-key', content: '${local.ssh_private_key}' });
    privateKey.overrideLogicalId('machine_ssh_private_key');
    const token = new SensitiveFile(this, 'join-token', { ...secret, filename: '${local.flake_dir}/join-token', content: '${local.join_token}' });
    token.overrideLogicalId('join_token');

    // content must be set even with count 0 (terraform validate checks it): "" is never written.
    const lock = new File(this, 'flake-lock', { ...common, filename: '${local.flake_dir}/flake.lock', content: '${local.flake_lock == null ? "" : local.flake_lock}' });
    lock.addOverride('count', '${local.flake_lock == null ? 0 : 1}');
    lock.overrideLogicalId('flake_lock');

    for (const file of [staticFiles, clusterNix, publicKey, privateKey, token, lock]) {
      if (props.dependsOn?.length) file.addOverride('depends_on', [...props.dependsOn]);
    }

    this.files = ['local_file.static', 'local_file.cluster_nix', 'local_file.machine_ssh_public_key', 'local_sensitive_file.machine_ssh_private_key', 'local_sensitive_file.join_token', 'local_file.flake_lock'];
  }
}
