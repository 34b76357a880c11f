import * as fs from 'fs';
import * as path from 'path';
import { TEMPLATE_NIXPKGS_REF } from '../../constructs';
import { nixEval, nixPath } from '../helpers/nix';
import { nixosEvalDir, PINNED_DISKO } from '../helpers/nixos-eval';
import { clusterFixture, generate, INJECTED, PUBLIC_KEY, TEMPLATES, Tree, TreeSpec, writeTree } from './support';

// flake.nix's wiring, evaluated with stand-in inputs whose nixosSystem returns its arguments: which
// configurations exist and what each is built from. What those systems evaluate to with the real
// modules is in flake-eval.test.ts.

const fixtureTree = (fixture: string, spec: Partial<TreeSpec> = {}): Tree => writeTree({ clusterNix: fs.readFileSync(clusterFixture(fixture), 'utf8'), ...spec });

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
  injected = map (s: let f = c.specialArgs.nicoSecrets.\${s}; in if f == null then null else baseNameOf (toString f)) [ "injectedPrivateKey" "injectedJoinToken" ];
}) cs`;

interface Summary {
  system: string;
  modules: string[];
  node: string;
  role: string;
  publicKey: string | null;
  injected: (string | null)[];
}

describe('flake.nix', () => {
  const source = fs.readFileSync(path.join(TEMPLATES, 'flake.nix'), 'utf8');

  describe('inputs', () => {
    it('then nixpkgs defaults to nixos-26.05, the reference nico-cluster replaces, written exactly once', () => {
      expect(TEMPLATE_NIXPKGS_REF).toBe('github:NixOS/nixpkgs/nixos-26.05');
      expect(source.split(TEMPLATE_NIXPKGS_REF)).toHaveLength(2);
      expect(source).toMatch(new RegExp(`nixpkgs\\.url = "${TEMPLATE_NIXPKGS_REF}";`));
    });

    it('then disko is pinned to the release tag the real-evaluation tests use, and follows nixpkgs', () => {
      const inputs = nixEval({ expr: `(import ${nixPath(path.join(TEMPLATES, 'flake.nix'))}).inputs` });
      expect(inputs).toEqual({
        nixpkgs: { url: TEMPLATE_NIXPKGS_REF },
        disko: { url: `github:nix-community/disko/${PINNED_DISKO.tag}`, inputs: { nixpkgs: { follows: 'nixpkgs' } } },
      });
      // the harness's copy is that tag
      expect(fs.readFileSync(path.join(nixosEvalDir(), 'DISKO_VERSIONS'), 'utf8')).toMatch(new RegExp(`^${PINNED_DISKO.tag.replace(/\./g, '\\.')} `, 'm'));
      expect(fs.existsSync(path.join(nixosEvalDir(), PINNED_DISKO.folder, 'module.nix'))).toBe(true);
    });
  });

  describe.each(['contract-example', 'large'])('given a tree nico-cluster writes with cluster fixture %s', (fixture) => {
    const g = generate({ fixture });
    let tree: Tree;
    let configs: Record<string, Summary>;
    beforeAll(() => {
      tree = fixtureTree(fixture, { files: { 'flake.lock': '{ "nodes": { "root": {} }, "root": "root", "version": 7 }\n' } });
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
        });
      }
    });

    it('then minimal is built from disko, the disk layout, common.nix and minimal.nix', () => {
      expect(configs.minimal).toMatchObject({ node: 'minimal', role: 'minimal', modules: ['<disko stand-in>', 'disko-config.nix', 'common.nix', 'minimal.nix'] });
    });

    it('then the public key is the first line of machine-ssh-public-key, and no secret is passed as a Nix path', () => {
      for (const c of Object.values(configs)) expect(c).toMatchObject({ publicKey: PUBLIC_KEY, injected: [null, null] });
    });
  });

  describe('given a tree as NICO leaves it (secrets injected next to flake.nix, no public key)', () => {
    it('then the injected files are passed on for nico-secrets to install, and the public key is left to be derived', () => {
      const tree = fixtureTree('single-master', { nico: true });
      try {
        const c = outputs<Record<string, Summary>>(tree.dir, SUMMARY);
        for (const name of ['solo-cp', 'minimal']) expect(c[name]).toMatchObject({ publicKey: null, injected: ['machine-ssh-private-key', 'join-token'] });
        expect(INJECTED.joinToken).not.toBe('');
      } finally {
        tree.remove();
      }
    });
  });

  describe('given the hardware report the install writes next to flake.nix', () => {
    it('then minimal and every node take it, after common.nix and before their own modules', () => {
      const tree = fixtureTree('constructs-example', { files: { 'hardware-configuration.nix': '{ lib, ... }: { boot.initrd.availableKernelModules = [ "virtio_blk" ]; }\n' } });
      try {
        const c = outputs<Record<string, Summary>>(tree.dir, SUMMARY);
        const base = ['<disko stand-in>', 'disko-config.nix', 'common.nix', 'hardware-configuration.nix'];
        expect(c.minimal.modules).toEqual([...base, 'minimal.nix']);
        expect(c['cp-01'].modules).toEqual([...base, 'control-plane.nix']);
        expect(c['worker-01'].modules).toEqual([...base, 'worker.nix']);
      } finally {
        tree.remove();
      }
    });
  });

  describe('given user modules for minimal under extra-modules/minimal', () => {
    it('then minimal imports them and no node does', () => {
      const tree = fixtureTree('constructs-example', { files: { 'extra-modules/minimal/00-console.nix': '{ }' } });
      try {
        const c = outputs<Record<string, Summary>>(tree.dir, SUMMARY);
        const base = ['<disko stand-in>', 'disko-config.nix', 'common.nix'];
        expect(c.minimal.modules).toEqual([...base, 'minimal.nix', '00-console.nix']);
        expect(c['cp-01'].modules).toEqual([...base, 'control-plane.nix']);
      } finally {
        tree.remove();
      }
    });
  });

  describe('given user modules under extra-modules/', () => {
    it('then every .nix file and directory of a set is imported by the nodes of that set, nothing by minimal, other files are ignored', () => {
      const tree = fixtureTree('constructs-example', {
        files: {
          'extra-modules/all/00-a.nix': '{ }',
          'extra-modules/all/01-dir/default.nix': '{ }',
          'extra-modules/all/README.md': 'not a module',
          'extra-modules/control-plane/00-cp.nix': '{ }',
          'extra-modules/worker/00-w.nix': '{ }',
        },
      });
      try {
        const c = outputs<Record<string, Summary>>(tree.dir, SUMMARY);
        const base = ['<disko stand-in>', 'disko-config.nix', 'common.nix'];
        expect(c['cp-01'].modules).toEqual([...base, 'control-plane.nix', '00-a.nix', '01-dir', '00-cp.nix']);
        expect(c['worker-01'].modules).toEqual([...base, 'worker.nix', '00-a.nix', '01-dir', '00-w.nix']);
        expect(c.minimal.modules).toEqual([...base, 'minimal.nix']);
      } finally {
        tree.remove();
      }
    });
  });

  describe('given a tree whose minimal-node names a node (as the destroy step leaves it)', () => {
    const minimalNode = (name: string) => {
      const tree = fixtureTree('contract-example', { minimalNode: name });
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
});
