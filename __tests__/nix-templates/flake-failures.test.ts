import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { EXAMPLE_CLUSTER } from '../../constructs';
import { canonicalCluster } from '../../constructs/internal';
import { nixEval, nixPath } from '../helpers/nix';
import { flakeEval, nixosEvalDir, RELEASE_2405, Release, removeStandins, SUPPORTED_RELEASES } from '../helpers/nixos-eval';
import { generate, renderClusterNix, TreeSpec, writeTree } from './support';

// What must not evaluate, evaluated for real (as in flake-eval.test.ts): a user's module that breaks
// the cluster's invariants, option type errors and unknown options, and hostile text in the
// description, which must reach k3s as text and never be evaluated as Nix.

jest.setTimeout(10 * 60 * 1000);
afterAll(() => removeStandins());

const NEWEST = SUPPORTED_RELEASES.find((r) => r.name === '26.05')!;
const OLDEST = SUPPORTED_RELEASES[0];
const REFERENCE = renderClusterNix(EXAMPLE_CLUSTER);

/** Evaluates `config.<attr>` of one system of a tree with a user module added to a set. */
function withUserModule(node: string, set: 'all' | 'control-plane' | 'worker', module: string, release: Release, attr = 'system.build.toplevel', spec: Partial<TreeSpec> = {}): unknown {
  const tree = writeTree({ clusterNix: REFERENCE, ...spec, files: { [`extra-modules/${set}/00-user.nix`]: module } });
  try {
    return flakeEval(tree.dir, `nixosConfigurations.${node}.config.${attr}`, { release });
  } finally {
    tree.remove();
  }
}

describe.each([OLDEST, NEWEST].map((r) => [r.name, r] as const))('given the reference tree on NixOS %s', (_name, release) => {
  const failing: [string, string, 'all' | 'control-plane' | 'worker', string, RegExp][] = [
    ['a value of the wrong type (a number for services.k3s.serverAddr)', 'worker-01', 'worker', '{ services.k3s.serverAddr = 6443; }', /A definition for option `services\.k3s\.serverAddr' is not of type `string'/],
    ['an option that does not exist (services.k3s.extraFlag)', 'cp-02', 'all', '{ services.k3s.extraFlag = [ "--x" ]; }', /The option `services\.k3s\.extraFlag' does not exist/],
    ['the first control-plane node without --cluster-init', 'cp-01', 'control-plane', '{ lib, ... }: { services.k3s.clusterInit = lib.mkForce false; }', /services\.k3s\.clusterInit must be true on cp-01 \(the first control-plane node creates the etcd cluster\)/],
    ['a joining server with --cluster-init', 'cp-02', 'control-plane', '{ lib, ... }: { services.k3s.clusterInit = lib.mkForce true; }', /services\.k3s\.clusterInit and services\.k3s\.serverAddr are both set on cp-02/],
    ['a worker with keepalived', 'worker-02', 'worker', '{ services.keepalived.enable = true; }', /services\.keepalived\.enable must be false on worker worker-02/],
    ['predictable interface names with eth0', 'cp-03', 'all', '{ networking.usePredictableInterfaceNames = true; }', /networking\.usePredictableInterfaceNames must be false while cluster\.nix names the interface eth0/],
  ];
  it.each(failing)('when a user module sets %s, then the system does not evaluate and Nix names the cause', (_what, node, set, module, message) => {
    expect(() => withUserModule(node, set, module, release)).toThrow(message);
  });

  it('when a user module turns nftables on, then keepalived\'s own nftables rule opens VRRP and the system evaluates', () => {
    const module = '{ networking.nftables.enable = true; }';
    expect(withUserModule('cp-01', 'all', module, release)).toBe('nixos-system-stand-in');
    expect(withUserModule('cp-01', 'all', module, release, 'networking.firewall.extraInputRules')).toMatch(/meta l4proto vrrp .*accept/);
  });
});

describe('given a keepalived module that opens VRRP with iptables only (nixos-24.05 module texts)', () => {
  // The release NICO may still name; disko v1.8.2 is the newest release that evaluates with its lib.
  const evalCp01 = (module: string) => {
    const tree = writeTree({ clusterNix: REFERENCE, nico: true, files: { 'extra-modules/all/00-user.nix': module } });
    try {
      return flakeEval(tree.dir, 'nixosConfigurations.cp-01.config.system.build.toplevel', { release: RELEASE_2405, disko: 'disko-v1.8.2' });
    } finally {
      tree.remove();
    }
  };

  it('when nftables is turned on, then an assertion says that VRRP stays closed and how to open it', () => {
    expect(() => evalCp01('{ networking.nftables.enable = true; }')).toThrow(/networking\.nftables\.enable is true on cp-01, but no rule in networking\.firewall\.extraInputRules accepts VRRP/);
  });

  it('when the user adds the VRRP rule themselves, then it evaluates', () => {
    expect(evalCp01('{ networking.nftables.enable = true; networking.firewall.extraInputRules = "meta l4proto vrrp accept"; }')).toBe('nixos-system-stand-in');
  });
});

describe('given hostile text in every field a user writes into cluster.nix', () => {
  // Values validation would refuse are fed to the template directly: the template itself must
  // write them as Nix string literals, whatever they hold.
  const hostile = ['"; evil = "x', '${builtins.abort "evaluated"}', '\\${x}', '$${y}', 'a\\', '\\"', "''${z}", 'line\nbreak'];
  const base = canonicalCluster(EXAMPLE_CLUSTER);
  const canonical = {
    ...base,
    control_plane: base.control_plane.map((n, i) => (i === 0 ? { ...n, labels: Object.fromEntries(hostile.map((h, j) => [`k${j}${h}`, h])), taints: hostile } : n)),
    server_extra_flags: hostile.map((h) => `--x=${h}`),
    agent_extra_flags: hostile,
    disable_components: hostile,
  };
  const clusterNix = renderClusterNix({ canonical });

  it('then cluster.nix evaluates to exactly the strings given', () => {
    const file = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'nico-hostile-')), 'cluster.nix');
    fs.writeFileSync(file, clusterNix);
    try {
      const c = nixEval<any>({ expr: `import ${nixPath(file)}` });
      expect(c.controlPlane[0].labels).toEqual(canonical.control_plane[0].labels);
      expect(c.controlPlane[0].taints).toEqual(hostile);
      expect(c.serverExtraFlags).toEqual(canonical.server_extra_flags);
      expect(c.agentExtraFlags).toEqual(hostile);
      expect(c.disableComponents).toEqual(hostile);
      expect(Object.keys(c).sort()).toEqual(['agentExtraFlags', 'controlPlane', 'disableComponents', 'gateway', 'initNode', 'interface', 'name', 'nameservers', 'prefixLength', 'serverExtraFlags', 'vip', 'vrrpRouterId', 'workers']);
    } finally {
      fs.rmSync(path.dirname(file), { recursive: true, force: true });
    }
  });

  it('then they reach the k3s ExecStart of a real evaluation as text', () => {
    const tree = writeTree({ clusterNix });
    try {
      const exec = flakeEval<string>(tree.dir, 'nixosConfigurations.cp-01.config.systemd.services.k3s.serviceConfig.ExecStart', { release: NEWEST });
      for (const h of hostile) {
        expect(exec).toContain(`--x=${h}`);
        expect(exec).toContain(`--disable ${h}`);
        expect(exec).toContain(`--node-taint ${h}`);
      }
      expect(generate({ expr: clusterNix }).nodes['worker-01'].k3sFlags).toEqual(['--node-ip 192.168.1.201', ...hostile]);
    } finally {
      tree.remove();
    }
  });
});

describe('given no nixos-eval harness where NICO_NIXOS_EVAL points', () => {
  it('then the tests fail with a message saying where it was looked for and how to point at it', () => {
    const saved = process.env.NICO_NIXOS_EVAL;
    process.env.NICO_NIXOS_EVAL = path.join(os.tmpdir(), 'nico-no-such-nixos-eval');
    try {
      expect(() => nixosEvalDir()).toThrow(/nixos-eval harness was not found at .*nico-no-such-nixos-eval .*set NICO_NIXOS_EVAL/);
    } finally {
      if (saved === undefined) delete process.env.NICO_NIXOS_EVAL;
      else process.env.NICO_NIXOS_EVAL = saved;
    }
  });
});
