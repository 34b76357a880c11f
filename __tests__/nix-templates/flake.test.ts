import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { nixEval, nixPath } from '../helpers/nix';
import { clusterFixture, generate, TEMPLATES } from './support';

// flake.nix evaluated with stand-in inputs (no network, no nixpkgs): nixosSystem returns its
// arguments, so the test sees which configurations exist and what each is built from.

const NIXPKGS_REF = 'github:NixOS/nixpkgs/nixos-24.05';
const PUBLIC_KEY = 'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIFlakeTestOnlyNotARealKeyxxxxxxxxxxxxxxxxxx nico-test';

interface Tree {
  dir: string;
  remove(): void;
}

/** A cluster's flake tree as nico-cluster writes it: the templates plus the injected files. */
function flakeTree(fixture: string, opts: { publicKey?: boolean; joinToken?: boolean; minimalNode?: string } = {}): Tree {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'nico-flake-'));
  fs.cpSync(TEMPLATES, dir, { recursive: true });
  fs.copyFileSync(clusterFixture(fixture), path.join(dir, 'cluster.nix'));
  // Placeholder contents: nothing here parses them, the flake only passes the files on.
  fs.writeFileSync(path.join(dir, 'machine-ssh-private-key'), 'test fixture, not a key\n', { mode: 0o600 });
  if (opts.joinToken !== false) fs.writeFileSync(path.join(dir, 'join-token'), 'test-join-token\n', { mode: 0o600 });
  if (opts.publicKey !== false) fs.writeFileSync(path.join(dir, 'machine-ssh-public-key'), `${PUBLIC_KEY}\n`);
  // Written on the node by nico-cluster's destroy step, just before it switches to #minimal.
  if (opts.minimalNode !== undefined) fs.writeFileSync(path.join(dir, 'minimal-node'), opts.minimalNode);
  // A user-provided lock file is copied in by the constructs; it must change nothing.
  fs.writeFileSync(path.join(dir, 'flake.lock'), '{ "nodes": { "root": {} }, "root": "root", "version": 7 }\n');
  return { dir, remove: () => fs.rmSync(dir, { recursive: true, force: true }) };
}

/** flake.nix's outputs with stand-in inputs, then `select` applied to nixosConfigurations. */
function outputs<T>(dir: string, select: string): T {
  return nixEval<T>({
    expr: `
      let
        flake = import ${nixPath(path.join(dir, 'flake.nix'))};
        out = flake.outputs {
          self = { };
          nixpkgs = { lib.nixosSystem = args: args; };
          disko = { nixosModules.disko = { _file = "<disko stand-in>"; }; };
        };
        moduleName = m: if builtins.isPath m then baseNameOf (toString m) else m._file;
      in (${select}) out.nixosConfigurations`,
  });
}

const SUMMARY = `cs: builtins.mapAttrs (name: c: {
  inherit (c) system;
  modules = map moduleName c.modules;
  node = c.specialArgs.nodeData.name;
  role = c.specialArgs.nodeData.role;
  publicKey = c.specialArgs.nicoSecrets.publicKey;
  secrets = map (s: baseNameOf (toString c.specialArgs.nicoSecrets.\${s})) [ "privateKey" "joinToken" ];
}) cs`;

interface Summary {
  system: string;
  modules: string[];
  node: string;
  role: string;
  publicKey: string | null;
  secrets: string[];
}

describe('flake.nix', () => {
  const source = fs.readFileSync(path.join(TEMPLATES, 'flake.nix'), 'utf8');

  describe('inputs', () => {
    it('then the nixpkgs reference nico-cluster replaces appears exactly once, as the nixpkgs input url', () => {
      expect(source.split(NIXPKGS_REF)).toHaveLength(2);
      expect(source).toMatch(new RegExp(`nixpkgs\\.url = "${NIXPKGS_REF}";`));
    });

    it('then disko comes from nix-community and follows nixpkgs', () => {
      const inputs = nixEval({ expr: `(import ${nixPath(path.join(TEMPLATES, 'flake.nix'))}).inputs` });
      expect(inputs).toEqual({
        nixpkgs: { url: NIXPKGS_REF },
        disko: { url: 'github:nix-community/disko', inputs: { nixpkgs: { follows: 'nixpkgs' } } },
      });
    });
  });

  describe.each(['contract-example', 'large'])('given a tree with cluster fixture %s', (fixture) => {
    const g = generate({ fixture });
    let tree: Tree;
    let configs: Record<string, Summary>;
    beforeAll(() => {
      tree = flakeTree(fixture);
      configs = outputs(tree.dir, SUMMARY);
    });
    afterAll(() => tree.remove());

    it('then nixosConfigurations has every node and minimal', () => {
      expect(Object.keys(configs).sort()).toEqual([...g.nodeNames, 'minimal'].sort());
    });

    it('then each node is built from disko, the disk layout, common.nix and its role module, with its own data', () => {
      for (const name of g.nodeNames) {
        const role = g.nodes[name].role;
        expect(configs[name]).toMatchObject({
          node: name,
          role,
          system: g.system,
          modules: ['<disko stand-in>', 'disko-config.nix', 'common.nix', role === 'server' ? 'control-plane.nix' : 'worker.nix'],
          secrets: ['machine-ssh-private-key', 'join-token'],
        });
      }
    });

    it('then minimal is built from disko, the disk layout, common.nix and minimal.nix', () => {
      expect(configs.minimal).toMatchObject({ node: 'minimal', role: 'minimal', modules: ['<disko stand-in>', 'disko-config.nix', 'common.nix', 'minimal.nix'] });
    });

    it('then the public key is the first line of machine-ssh-public-key, without its newline', () => {
      for (const c of Object.values(configs)) expect(c.publicKey).toBe(PUBLIC_KEY);
    });
  });

  describe('given a tree without machine-ssh-public-key', () => {
    it('then the modules get no public key and derive it from the private key', () => {
      const tree = flakeTree('single-master', { publicKey: false });
      try {
        const keys = outputs<Record<string, null>>(tree.dir, 'cs: builtins.mapAttrs (_: c: c.specialArgs.nicoSecrets.publicKey) cs');
        expect(keys).toEqual({ 'solo-cp': null, minimal: null });
      } finally {
        tree.remove();
      }
    });
  });

  describe('given a tree whose minimal-node names a node (as the destroy step leaves it)', () => {
    const minimalNode = (name: string) => {
      const tree = flakeTree('contract-example', { minimalNode: name });
      try {
        return outputs<Record<string, unknown>>(tree.dir, 'cs: cs.minimal.specialArgs.nodeData');
      } finally {
        tree.remove();
      }
    };

    it('then minimal keeps that node\'s address, host name and disk', () => {
      const g = generate({ fixture: 'contract-example' });
      const node = g.nodeNames[1];
      expect(minimalNode(`${node}\n`)).toMatchObject({ role: 'minimal', ip: g.nodes[node].ip, hostName: node, disk: g.nodes[node].disk, grubDevices: null });
    });

    it('then a name that is no node of the cluster fails, naming the file and the name', () => {
      expect(() => minimalNode('cp-99\n')).toThrow(/minimal-node names `cp-99`, which is not a node of this cluster/);
    });
  });

  describe('given a tree without join-token', () => {
    it('then minimal still evaluates and a node fails with a message naming the file', () => {
      const tree = flakeTree('single-master', { joinToken: false });
      try {
        expect(outputs(tree.dir, 'cs: cs.minimal.specialArgs.nodeData.role')).toBe('minimal');
        expect(() => outputs(tree.dir, 'cs: toString cs.solo-cp.specialArgs.nicoSecrets.joinToken')).toThrow(/join-token is missing next to flake\.nix/);
      } finally {
        tree.remove();
      }
    });
  });
});
