import * as fs from 'fs';
import * as path from 'path';

/**
 * The seam between where a description comes from and the graph built from it. An input source
 * (known values for the TypeScript app, Terraform variables for the HCL module) defines these locals,
 * and every other construct reads only them, so both build the same graph.
 *
 * - `local.cluster`: the description in canonical form: snake_case, defaults applied, `ssh_host`
 *   resolved; optional node fields (`disk`, `host_key`) may be null. Holds no secret.
 * - `local.deploy`: whether to deploy over SSH.
 * - `local.output_dir`: where the flake tree (`<output_dir>/nix`) is written.
 * - `local.module_address`: this module call's address and a dot (`module.cluster.`), for messages.
 * - `local.ssh_private_key_input`: the given machine key (sensitive), or null to generate one.
 * - `local.flake_lock`: the contents of a flake.lock to copy into the tree, or null.
 * - `local.nix_templates_dir`: a directory holding a copy of nix-templates/.
 * - `local.templates_dir`: a directory holding a copy of constructs/templates/.
 * - `local.user_modules`: the user's NixOS modules by set (`all`, `control_plane`, `worker`, `minimal`), each a
 *   list of `{ name, path }`: a `.nix` file, or a directory holding a default.nix, for Terraform to read.
 * - `local.etcd_s3_endpoint_ca`: PEM of the S3 endpoint's CA, or null.
 * - `local.etcd_s3_env`: the S3 credentials as an environment file (sensitive), or null.
 */
export interface IClusterInputs {
  /** Relative paths of the files in nix-templates/, copied verbatim into every tree. */
  readonly staticFlakeFiles: readonly string[];
  /**
   * Resource addresses that check the inputs; nothing may be written or deployed before they pass.
   * @default - none: the inputs were validated before synthesis
   */
  readonly checks?: readonly string[];
}

/** Names of the input locals, for `overrideLogicalId` and for references. */
export const INPUT_LOCALS = ['cluster', 'deploy', 'output_dir', 'module_address', 'ssh_private_key_input', 'flake_lock', 'nix_templates_dir', 'templates_dir', 'user_modules', 'etcd_s3_endpoint_ca', 'etcd_s3_env'] as const;

const REPO_ROOT = path.resolve(__dirname, '..');
/** The flake every cluster's tree is made of (see nix-templates/README.md). */
export const NIX_TEMPLATES_DIR = path.join(REPO_ROOT, 'nix-templates');
/** Templates the graph renders with Terraform: cluster.nix, the kubeconfig and the node script. */
export const TEMPLATES_DIR = path.join(REPO_ROOT, 'constructs', 'templates');

/** Files of a directory, recursively, as sorted relative POSIX paths. */
export function listFiles(dir: string): string[] {
  const walk = (rel: string): string[] =>
    fs.readdirSync(path.join(dir, rel), { withFileTypes: true }).flatMap((entry) => {
      const child = rel ? `${rel}/${entry.name}` : entry.name;
      return entry.isDirectory() ? walk(child) : [child];
    });
  return walk('').sort();
}
