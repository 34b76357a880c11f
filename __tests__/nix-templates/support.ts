import * as path from 'path';
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

export interface Definition {
  module: string;
  path: string[];
  value: unknown;
  priority: number;
}

export interface ModuleEval {
  definitions: Definition[];
  config: Record<string, any>;
  failedAssertions: string[];
}

export const ROLE_MODULES = { server: 'control-plane.nix', agent: 'worker.nix', minimal: 'minimal.nix' } as const;

/**
 * The modules a configuration is made of (as flake.nix assembles them, disko's own module stood in by
 * eval-modules.nix), evaluated for one node of a cluster fixture, for `minimal`, or for `minimal@<node>`
 * (minimal applied to a known node, as when the tree holds `minimal-node`).
 * `extraModules` are Nix expressions of further modules (e.g. a user's override).
 */
export function evalModules(
  fixture: string,
  node: string,
  opts: { extraModules?: string[]; nicoSecrets?: string } = {},
): ModuleEval {
  const generator = `import ${nixPath(path.join(NODES, 'generator.nix'))} (import ${nixPath(clusterFixture(fixture))})`;
  const expr = `
    let
      g = ${generator};
      nodeData = ${node === 'minimal' ? 'g.minimal' : node.startsWith('minimal@') ? `g.minimalOn ${JSON.stringify(node.slice('minimal@'.length))}` : `g.nodes.${JSON.stringify(node)}`};
      roles = { ${Object.entries(ROLE_MODULES).map(([k, v]) => `${k} = ${JSON.stringify(v)};`).join(' ')} };
      nodes = ${nixPath(NODES)};
    in
    import ${nixPath(path.join(FIXTURES, 'eval-modules.nix'))} ({
      inherit nodeData;
      modules = [ (nodes + "/disko-config.nix") (nodes + "/common.nix") (nodes + "/\${roles.\${nodeData.role}}") ]
        ++ [ ${(opts.extraModules ?? []).map((m) => `(${m})`).join(' ')} ];
    } // ${opts.nicoSecrets ? `{ nicoSecrets = ${opts.nicoSecrets}; }` : '{ }'})`;
  return nixEval<ModuleEval>({ expr });
}

/** The merged value at an option path, or undefined. */
export function at(config: Record<string, any>, ...p: string[]): any {
  return p.reduce<any>((v, k) => (v === undefined || v === null ? undefined : v[k]), config);
}

/** Definitions whose path starts with the given segments. */
export function definedUnder(ev: ModuleEval, ...prefix: string[]): Definition[] {
  return ev.definitions.filter((d) => prefix.every((s, i) => d.path[i] === s));
}
