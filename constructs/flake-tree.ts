import * as fs from 'fs';
import * as path from 'path';
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

/** The tree directory of each module set; flake.nix imports what it finds there (nix-templates/README.md). */
export const USER_MODULE_DIRS = { all: 'extra-modules/all', control_plane: 'extra-modules/control-plane', worker: 'extra-modules/worker', minimal: 'extra-modules/minimal' } as const;

/**
 * The user's modules as tree files: `<set dir>/<nn>-<name>` for a `.nix` file, and every file below
 * a directory under `<set dir>/<nn>-<name>/`. The index keeps two modules of one name apart.
 */
const USER_MODULE_FILES =
  '${merge(flatten([for set, dir in ' +
  `{ ${Object.entries(USER_MODULE_DIRS).map(([set, dir]) => `${set} = "${dir}"`).join(', ')} }` +
  ' : [for i, m in local.user_modules[set] : { for f in (endswith(m.path, ".nix") ? [""] : sort(fileset(m.path, "**"))) : ' +
  '"${dir}/${format("%02d", i)}-${m.name}${f == "" ? "" : "/${f}"}" => file(f == "" ? m.path : "${m.path}/${f}") }]])...)}';

/**
 * What a file name inside a module directory may be: path components of letters, digits, ".", "_",
 * "+" and "-" (the characters of a module's own name). Nothing a shell could read as syntax: the
 * deployment sends names base64-encoded anyway (templates/nico-node/common.sh, `emit`), this rule
 * keeps newlines, quotes, `$`, spaces and control characters out of every tree in the first place.
 */
export const PLAIN_FILE_NAME = '^[A-Za-z0-9._+-]+(/[A-Za-z0-9._+-]+)*$';

/** The first file name below `dir` (relative, as Terraform's fileset lists it) that is not plain. */
export function firstUnplainFileName(dir: string): string | undefined {
  const walk = (rel: string): string | undefined => {
    for (const entry of fs.readdirSync(path.join(dir, rel), { withFileTypes: true })) {
      const child = rel ? `${rel}/${entry.name}` : entry.name;
      if (!new RegExp(PLAIN_FILE_NAME).test(child)) return child;
      const below = entry.isDirectory() ? walk(child) : undefined;
      if (below !== undefined) return below;
    }
    return undefined;
  };
  return walk('');
}

/** The description field of each module set, for messages. */
const MODULE_SET_FIELDS = { all: 'nixosModules', control_plane: 'controlPlaneModules', worker: 'workerModules' } as const;

/**
 * Files in the user's module directories whose names break PLAIN_FILE_NAME, as message lines
 * `nixosModules: "<name, JSON-escaped, at most 40 characters>" in <directory>`.
 */
const BAD_MODULE_FILE_NAMES =
  '${flatten([for set, field in ' +
  `{ ${Object.entries(MODULE_SET_FIELDS).map(([set, field]) => `${set} = "${field}"`).join(', ')} }` +
  ' : [for m in local.user_modules[set] : [for f in (endswith(m.path, ".nix") ? [] : sort(fileset(m.path, "**"))) : ' +
  `"\${field}: \${substr(jsonencode(f), 0, 42)} in \${m.path}" if !can(regex("${PLAIN_FILE_NAME}", f))]]])}`;

/** The sentence Terraform prints for the first offending file name. */
export const BAD_FILE_NAME_MESSAGE =
  'A file in a NixOS module directory must have a plain name (path components of letters, digits, ".", "_", "+" or "-"; ' +
  'no spaces, quotes, "$", backslashes or control characters: the name travels to every node). Rename it; nothing was written or deployed. Wrong: ';

/**
 * Writes the NICO flake tree to `local.flake_dir` (`<output_dir>/nix`): the static flake,
 * `cluster.nix` rendered from the description, the user's NixOS modules under `extra-modules/`, the
 * machine key pair, the join token and, when given, `flake.lock`. Directories are 0700 and secrets 0600: the tree holds the cluster's credentials.
 * Defines `local.flake_dir` and `local.flake_hash` (a hash of everything nodes build from that is not
 * per-node: the static files, the lock file, the public key and the user's modules).
 */
export class FlakeTree extends Construct {
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
      user_module_files: USER_MODULE_FILES,
      bad_module_file_names: BAD_MODULE_FILE_NAMES,
      flake_hash: '${sha256(jsonencode([local.static_flake_files, local.flake_lock, local.ssh_public_key, local.user_module_files]))}',
      cluster_nix: '${templatefile("${local.templates_dir}/cluster.nix.tftpl", { cluster = local.cluster, init_node = local.init_node })}',
      // Every file of the tree that holds no secret: what the deployment uploads to each node.
      flake_files:
        '${merge(local.static_flake_files, local.user_module_files, { "cluster.nix" = local.cluster_nix, "machine-ssh-public-key" = local.ssh_public_key }, local.flake_lock == null ? {} : { "flake.lock" = local.flake_lock })}',
    };
    for (const [name, value] of Object.entries(locals)) new TerraformLocal(this, name, value).overrideLogicalId(name);

    const staticFiles = new File(this, 'static', { ...common, filename: '${local.flake_dir}/${each.key}', content: '${each.value}' });
    staticFiles.addOverride('for_each', '${local.cluster.write_local_tree ? local.static_flake_files : {}}');
    staticFiles.overrideLogicalId('static');

    const userModules = new File(this, 'user-modules', { ...common, filename: '${local.flake_dir}/${each.key}', content: '${each.value}' });
    userModules.addOverride('for_each', '${local.cluster.write_local_tree ? local.user_module_files : {}}');
    userModules.overrideLogicalId('user_modules');
    // With deploy on, terraform_data.cluster refuses the names once for the whole plan (ClusterDeployment).
    userModules.addOverride('lifecycle.precondition', [
      { condition: `\${local.deploy || can(regex("${PLAIN_FILE_NAME}", each.key))}`, error_message: `${BAD_FILE_NAME_MESSAGE}\${substr(jsonencode(each.key), 0, 82)} in the tree.` },
    ]);

    const clusterNix = new File(this, 'cluster-nix', {
      ...common,
      filename: '${local.flake_dir}/cluster.nix',
      content: '${local.cluster_nix}',
    });
    clusterNix.overrideLogicalId('cluster_nix');
    // With write_local_tree off (HCP Terraform, CI), nothing is written here: the deployment uploads
    // from the state's values, so a fresh runner plans no change.
    const whenWriting = '${local.cluster.write_local_tree ? 1 : 0}';
    clusterNix.addOverride('count', whenWriting);

    const publicKey = new File(this, 'public-key', { ...common, filename: '${local.flake_dir}/machine-ssh-public-key', content: '${local.ssh_public_key}' });
    publicKey.overrideLogicalId('machine_ssh_public_key');
    publicKey.addOverride('count', whenWriting);

    const secret = { filePermission: '0600', directoryPermission: '0700' };
    const privateKey = new SensitiveFile(this, 'private-key', { ...secret, filename: '${local.flake_dir}/machine-ssh-private-key', content: '${local.ssh_private_key}' });
    privateKey.overrideLogicalId('machine_ssh_private_key');
    privateKey.addOverride('count', whenWriting);
    const token = new SensitiveFile(this, 'join-token', { ...secret, filename: '${local.flake_dir}/join-token', content: '${local.join_token}' });
    token.overrideLogicalId('join_token');
    token.addOverride('count', whenWriting);

    // content must be set even with count 0 (terraform validate checks it): "" is never written.
    const lock = new File(this, 'flake-lock', { ...common, filename: '${local.flake_dir}/flake.lock', content: '${local.flake_lock == null ? "" : local.flake_lock}' });
    lock.addOverride('count', '${local.cluster.write_local_tree && local.flake_lock != null ? 1 : 0}');
    lock.overrideLogicalId('flake_lock');

    for (const file of [staticFiles, userModules, clusterNix, publicKey, privateKey, token, lock]) {
      if (props.dependsOn?.length) file.addOverride('depends_on', [...props.dependsOn]);
    }
  }
}
