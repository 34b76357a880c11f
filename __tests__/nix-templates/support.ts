import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { spawnSync } from 'child_process';
import { ClusterDescription } from '../../constructs';
import { USER_MODULE_DIRS } from '../../constructs/flake-tree';
import { canonicalCluster } from '../../constructs/internal';
import { TEMPLATES_DIR } from '../../constructs/internal';
import { nixEval, nixPath } from '../helpers/nix';

/** Shared by the nix-templates tests: where things are, and the two evaluations they all use. */

export const TEMPLATES = path.join(__dirname, '..', '..', 'nix-templates');
export const NODES = path.join(TEMPLATES, 'nodes');
export const FIXTURES = path.join(__dirname, 'fixtures');
export const clusterFixture = (name: string) => path.join(FIXTURES, 'clusters', `${name}.nix`);

export interface Keepalived {
  instance: string;
  state: 'MASTER' | 'BACKUP';
  priority: number;
  virtualRouterId: number;
  authPass: string;
  address: string;
}

export interface NodeData {
  name: string;
  ip: string;
  role: 'server' | 'agent';
  index: number;
  disk: string;
  isControlPlane: boolean;
  clusterInit: boolean;
  serverAddr: string;
  waitForVip: boolean;
  vipCheckUrl: string;
  vipWaitSeconds: number;
  joinedMarker: string;
  tokenPath: string;
  secrets: { dir: string; joinToken: string; machineKey: string; tlsDir: string; k3sTlsDir: string };
  labels: Record<string, string>;
  taints: string[];
  k3sFlags: string[];
  k3sExtraFlags: string;
  firewall: { tcpPorts: number[]; tcpRanges: { from: number; to: number }[]; udpPorts: number[] };
  keepalived: Keepalived | null;
  interface: string;
  prefixLength: number;
  gateway: string;
  nameservers: string[];
  kernelInterfaceName: boolean;
}

export interface MinimalData {
  name: 'minimal';
  role: 'minimal';
  disk: string;
  grubDevices: string[] | null;
  interface: string;
  kernelInterfaceName: boolean;
  /** Only on a known node (`minimalOn`): that node's address and host name. */
  ip?: string;
  hostName?: string;
}

export interface Generated {
  nodes: Record<string, NodeData>;
  nodeNames: string[];
  minimal: MinimalData;
  system: string;
  cluster: { name: string; vip: string; apiServer: string };
}

/**
 * generator.nix applied to a cluster fixture file, or to an inline cluster.nix expression; without
 * `minimalOn` (a function, which JSON cannot carry), unless `minimalOn` names a node: then the result
 * of `minimalOn <node>` is returned as `minimal`.
 */
export function generate(cluster: { fixture: string } | { expr: string }, opts: { minimalOn?: string } = {}): Generated {
  const input = 'fixture' in cluster ? `import ${nixPath(clusterFixture(cluster.fixture))}` : cluster.expr;
  const g = `import ${nixPath(path.join(NODES, 'generator.nix'))} (${input})`;
  const minimal = opts.minimalOn === undefined ? '' : ` // { minimal = g.minimalOn ${JSON.stringify(opts.minimalOn)}; }`;
  return nixEval<Generated>({ expr: `let g = ${g}; in builtins.removeAttrs g [ "minimalOn" ]${minimal}` });
}

/** The machine key's public half as nico-cluster writes it next to the flake (a test value). */
export const PUBLIC_KEY = 'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIFlakeTestOnlyNotARealKeyxxxxxxxxxxxxxxxxxx nico-test';
/** Secret values NICO injects into the flake directory (test values). */
export const INJECTED = { joinToken: 'K10test::server:nico-test-token\n', privateKey: 'test fixture, not a key\n' };

export interface TreeSpec {
  /** cluster.nix as written into the tree. */
  readonly clusterNix: string;
  /**
   * As the NICO operator leaves a tree: join-token and machine-ssh-private-key injected next to
   * flake.nix, no machine-ssh-public-key. Otherwise as nico-cluster writes it: the public key only,
   * the secrets being delivered outside the flake.
   */
  readonly nico?: boolean;
  /** Content of `minimal-node` (the destroy step writes it before switching to minimal). */
  readonly minimalNode?: string;
  /** More files, by path relative to the tree (e.g. the user's modules under extra-modules/). */
  readonly files?: Readonly<Record<string, string>>;
}

export interface Tree {
  readonly dir: string;
  remove(): void;
}

/** Writes a flake tree: the templates plus what nico-cluster or NICO put next to them. */
export function writeTree(spec: TreeSpec): Tree {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'nico-flake-'));
  fs.cpSync(TEMPLATES, dir, { recursive: true });
  fs.writeFileSync(path.join(dir, 'cluster.nix'), spec.clusterNix);
  if (spec.nico) {
    fs.writeFileSync(path.join(dir, 'join-token'), INJECTED.joinToken, { mode: 0o600 });
    fs.writeFileSync(path.join(dir, 'machine-ssh-private-key'), INJECTED.privateKey, { mode: 0o600 });
  } else {
    fs.writeFileSync(path.join(dir, 'machine-ssh-public-key'), `${PUBLIC_KEY}\n`);
  }
  if (spec.minimalNode !== undefined) fs.writeFileSync(path.join(dir, 'minimal-node'), spec.minimalNode);
  for (const [rel, content] of Object.entries(spec.files ?? {})) {
    fs.mkdirSync(path.dirname(path.join(dir, rel)), { recursive: true });
    fs.writeFileSync(path.join(dir, rel), content);
  }
  return { dir, remove: () => fs.rmSync(dir, { recursive: true, force: true }) };
}

/**
 * cluster.nix for a description, rendered by the real template with Terraform's own templatefile
 * (terraform console, no providers) from canonicalCluster, as the app's graph renders it; the init
 * node is the first control-plane node, as when a cluster is created.
 * `cluster` replaces the canonical form, to feed the template values validation would refuse.
 */
export function renderClusterNix(d: ClusterDescription | { canonical: object }): string {
  const work = fs.mkdtempSync(path.join(os.tmpdir(), 'nico-render-'));
  try {
    const canonical = 'canonical' in d ? d.canonical : canonicalCluster(d);
    fs.writeFileSync(path.join(work, 'cluster.json'), JSON.stringify(canonical));
    const expr = `base64encode(templatefile(${JSON.stringify(path.join(TEMPLATES_DIR, 'cluster.nix.tftpl'))}, { cluster = jsondecode(file("cluster.json")), init_node = try(jsondecode(file("cluster.json")).control_plane[0].name, "") }))\n`;
    const r = spawnSync(process.env.TERRAFORM_BINARY_NAME ?? 'terraform', ['console'], {
      cwd: work,
      input: expr,
      encoding: 'utf8',
      env: { ...process.env, CHECKPOINT_DISABLE: '1', TF_IN_AUTOMATION: '1' },
    });
    if (r.error) throw new Error(`terraform was not found (${r.error.message}): run the tests with \`npm test\`, which sets up the toolchain.`);
    const out = /"([A-Za-z0-9+/=]*)"/.exec(r.stdout);
    if (r.status !== 0 || !out) throw new Error(`terraform console failed to render cluster.nix:\n${r.stdout}\n${r.stderr}`);
    return Buffer.from(out[1], 'base64').toString('utf8');
  } finally {
    fs.rmSync(work, { recursive: true, force: true });
  }
}

/**
 * The user's modules of a description as tree files, named as FlakeTree names them
 * (`extra-modules/<set>/<nn>-<name>`, a directory's files below it).
 */
export function userModuleFiles(d: ClusterDescription): Record<string, string> {
  const sets = { [USER_MODULE_DIRS.all]: d.nixosModules, [USER_MODULE_DIRS.control_plane]: d.controlPlaneModules, [USER_MODULE_DIRS.worker]: d.workerModules };
  const files: Record<string, string> = {};
  for (const [dir, modules] of Object.entries(sets)) {
    for (const [i, m] of (modules ?? []).entries()) {
      const target = `${dir}/${String(i).padStart(2, '0')}-${path.basename(m)}`;
      if (m.endsWith('.nix')) files[target] = fs.readFileSync(m, 'utf8');
      else for (const f of fs.readdirSync(m, { recursive: true }) as string[]) if (fs.statSync(path.join(m, f)).isFile()) files[`${target}/${f}`] = fs.readFileSync(path.join(m, f), 'utf8');
    }
  }
  return files;
}

/** The user-module fixtures (a file for all nodes, a directory for control-plane nodes, a file for workers). */
export const USER_MODULES = path.join(__dirname, '..', 'fixtures', 'user-modules');
