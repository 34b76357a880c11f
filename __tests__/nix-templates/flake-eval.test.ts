import { createHash } from 'crypto';
import * as fs from 'fs';
import * as path from 'path';
import { ClusterDescription, EXAMPLE_CLUSTER } from '../../constructs';
import { flakeEval, Release, RELEASE_2405, removeStandins, SUPPORTED_RELEASES } from '../helpers/nixos-eval';
import { clusterFixture, generate, Generated, INJECTED, NodeData, PUBLIC_KEY, renderClusterNix, Tree, TreeSpec, USER_MODULES, userModuleFiles, writeTree } from './support';

// Every system of a tree, evaluated through the tree's own flake.nix the way `nixos-rebuild switch
// --flake path:<tree>#<node>` evaluates it on a node: the real nixpkgs lib of each supported release,
// the real k3s/keepalived module texts and the disko release flake.nix pins (nixos-eval stand-in,
// ../helpers/nixos-eval.ts). One `nix eval` per tree and release returns a report of what the real
// modules produced (fixtures/report.nix); the assertions below read that, not the flake's own data.

jest.setTimeout(10 * 60 * 1000);
afterAll(() => removeStandins());

const REPORT = fs.readFileSync(path.join(__dirname, 'fixtures', 'report.nix'), 'utf8');
const SECRETS_DIR = '/var/lib/nico/secrets';
const TOKEN_FILE = `${SECRETS_DIR}/join-token`;

interface Unit {
  after: string[];
  before: string[];
  requires: string[];
  wantedBy: string[];
  script: string;
  serviceConfig: Record<string, unknown>;
}
interface Report {
  toplevel: string;
  k3s: { role: string; tokenFile: string; execStart: string; unit: Unit } | null;
  keepalived: { conf: string } | null;
  firewall: {
    allowedTCPPorts: number[];
    allowedTCPPortRanges: { from: number; to: number }[];
    allowedUDPPorts: number[];
    trustedInterfaces: string[];
    extraCommands: string;
    extraInputRules: string;
    nftables: boolean;
  };
  network: {
    hostName: string;
    useDHCP: boolean;
    usePredictableInterfaceNames: boolean;
    defaultGateway: { address: string; interface: string } | null;
    nameservers: string[];
    interfaces: Record<string, { address: string; prefixLength: number }[]>;
  };
  authorizedKeys: string[];
  authorizedKeyFiles: string[];
  fileSystems: Record<string, { device: string; fsType: string; options: string[] }>;
  grub: { devices: string[]; efiSupport: boolean; efiInstallAsRemovable: boolean };
  swapDevices: unknown[];
  packages: string[];
  units: Record<'nico-secrets' | 'nico-wait-for-vip' | 'nico-cleanup', Unit | null>;
}

/** Reports of every system of a tree (or of the systems `select` picks), for one release. */
function reports(tree: Tree, release: Release, opts: { select?: string; disko?: string } = {}): Record<string, Report> {
  const apply = opts.select ? `cs: (${REPORT}) ((${opts.select}) cs)` : REPORT;
  return flakeEval<Record<string, Report>>(tree.dir, 'nixosConfigurations', { release, apply, disko: opts.disko });
}

/** ExecStart of the real k3s module, as its argument groups (the module joins them with " \\\n "). */
const execArgs = (r: Report): string[] => r.k3s!.execStart.split(' \\\n ');

const authPass = (name: string) => createHash('sha256').update(name).digest('hex').slice(0, 8);

/** What k3s must be started with on a node: the flake's own flags, then the description's extensions. */
function expectedK3sArgs(node: NodeData, g: Generated, ext: { flags: string[] }): string[] {
  const vip = g.cluster.vip;
  const first = node.role === 'server' && node.index === 0;
  return [
    expect.stringMatching(new RegExp(`-k3s/bin/k3s ${node.role}$`)),
    ...(first ? [] : [`--server https://${vip}:6443`]),
    `--token-file ${TOKEN_FILE}`,
    ...(first ? ['--cluster-init'] : []),
    `--node-ip ${node.ip}`,
    ...(node.role === 'server' ? [`--tls-san ${vip}`] : []),
    ...ext.flags,
  ];
}

interface Case {
  readonly title: string;
  readonly spec: () => TreeSpec;
  /** Extension flags a node gets from the description after the flake's own, in order. */
  readonly extensionFlags: (n: NodeData) => string[];
  /** Flags the user's modules add (the module system orders them, so only their presence counts). */
  readonly moduleFlags?: (n: NodeData) => string[];
  /** Packages the user's modules add, by role. */
  readonly packages?: { server: string[]; agent: string[] };
}

const fixture = (name: string) => fs.readFileSync(clusterFixture(name), 'utf8');

/** A description using every extension point, with the user-module fixtures. */
export const EXTENDED: ClusterDescription = {
  ...EXAMPLE_CLUSTER,
  name: 'extended',
  controlPlane: [
    { name: 'cp-01', ip: '192.168.1.101', labels: { 'example.com/team': 'db', tier: 'gold' }, taints: ['dedicated=db:NoSchedule'] },
    { name: 'cp-02', ip: '192.168.1.102' },
    { name: 'cp-03', ip: '192.168.1.103', disk: '/dev/vda' },
  ],
  workers: [
    { name: 'worker-01', ip: '192.168.1.201', labels: { 'node.kubernetes.io/pool': 'fast' }, taints: ['spot:PreferNoSchedule', 'gpu=true:NoExecute'] },
    { name: 'worker-02', ip: '192.168.1.202' },
  ],
  serverExtraFlags: ['--etcd-snapshot-retention=10', '--cluster-cidr 10.42.0.0/16'],
  agentExtraFlags: ['--kubelet-arg=image-gc-high-threshold=80'],
  disableComponents: ['traefik', 'servicelb'],
  nixosModules: [path.join(USER_MODULES, 'node-tools.nix')],
  controlPlaneModules: [path.join(USER_MODULES, 'control-plane-tools')],
  workerModules: [path.join(USER_MODULES, 'worker-tools.nix')],
};

const labelFlags = (n: NodeData) => [...Object.keys(n.labels).sort().map((k) => `--node-label ${k}=${n.labels[k]}`), ...n.taints.map((t) => `--node-taint ${t}`)];

const CASES: Case[] = [
  {
    title: 'the NICO contract example (4-field cluster.nix, secrets injected by NICO)',
    spec: () => ({ clusterNix: fixture('contract-example'), nico: true }),
    extensionFlags: () => [],
  },
  {
    title: 'the reference cluster as npm run demo writes it (cluster.nix rendered by the real template)',
    spec: () => ({ clusterNix: renderClusterNix(EXAMPLE_CLUSTER) }),
    extensionFlags: () => [],
  },
  {
    title: '5 control-plane nodes and 10 workers on a /16, ens18, other disks',
    spec: () => ({ clusterNix: fixture('large') }),
    extensionFlags: () => [],
  },
  {
    title: 'every extension point: flags, disabled components, labels, taints, user modules',
    spec: () => ({ clusterNix: renderClusterNix(EXTENDED), files: userModuleFiles(EXTENDED) }),
    extensionFlags: (n) =>
      n.role === 'server'
        ? ['--disable traefik', '--disable servicelb', ...EXTENDED.serverExtraFlags!, ...labelFlags(n)]
        : [...EXTENDED.agentExtraFlags!, ...labelFlags(n)],
    moduleFlags: (n) => (n.role === 'server' ? ['--kubelet-arg=max-pods=150', '--etcd-expose-metrics'] : ['--kubelet-arg=max-pods=150']),
    packages: { server: ['curl'], agent: ['curl', 'iproute2'] },
  },
];

describe.each(CASES.map((c) => [c.title, c] as const))('given the tree of %s', (_title, c) => {
  const spec = c.spec();
  const g = generate({ expr: spec.clusterNix });
  const nodes = g.nodeNames.map((n) => g.nodes[n]);
  const lastNode = nodes[nodes.length - 1];
  let tree: Tree;
  let onNode: Tree;
  beforeAll(() => {
    tree = writeTree(spec);
    onNode = writeTree({ ...spec, minimalNode: `${lastNode.name}\n` });
  });
  afterAll(() => {
    tree.remove();
    onNode.remove();
  });

  describe.each(SUPPORTED_RELEASES.map((r) => [r.name, r] as const))('when evaluated with NixOS %s', (_name, release) => {
    let all: Record<string, Report>;
    let minimalOnNode: Report;
    beforeAll(() => {
      all = reports(tree, release);
      minimalOnNode = reports(onNode, release, { select: 'cs: { inherit (cs) minimal; }' }).minimal;
    });

    it('then every node and minimal (plain and on a node) evaluate to config.system.build.toplevel', () => {
      expect(Object.keys(all).sort()).toEqual([...g.nodeNames, 'minimal'].sort());
      for (const [name, r] of Object.entries(all)) expect({ name, toplevel: r.toplevel }).toEqual({ name, toplevel: 'nixos-system-stand-in' });
      expect(minimalOnNode.toplevel).toBe('nixos-system-stand-in');
    });

    it('then k3s starts in each role with the token file, --cluster-init on the first server, --server elsewhere, and the flags in order', () => {
      for (const n of nodes) {
        const r = all[n.name];
        expect({ node: n.name, role: r.k3s?.role, tokenFile: r.k3s?.tokenFile }).toEqual({ node: n.name, role: n.role, tokenFile: TOKEN_FILE });
        const fromModules = c.moduleFlags?.(n) ?? [];
        const args = execArgs(r);
        expect({ node: n.name, args: args.filter((a) => !fromModules.includes(a)) }).toEqual({ node: n.name, args: expectedK3sArgs(n, g, { flags: c.extensionFlags(n) }) });
        expect({ node: n.name, fromModules: args.filter((a) => fromModules.includes(a)).sort() }).toEqual({ node: n.name, fromModules: [...fromModules].sort() });
        expect(r.k3s!.unit.requires).toContain('nico-secrets.service');
        expect(r.k3s!.unit.after).toContain('nico-secrets.service');
      }
    });

    it('then keepalived.conf holds the VIP on control-plane nodes only: MASTER 150 first, BACKUP below, VRID and PASS auth', () => {
      const vrid = /vrrpRouterId = (\d+)/.exec(spec.clusterNix)?.[1] ?? '51';
      for (const n of nodes) {
        const conf = all[n.name].keepalived?.conf;
        if (n.role === 'agent') {
          expect({ node: n.name, conf }).toEqual({ node: n.name, conf: undefined });
          continue;
        }
        expect(conf).toContain(`vrrp_instance k8s_vip {\n  interface ${n.interface}\n  state ${n.index === 0 ? 'MASTER' : 'BACKUP'}\n  virtual_router_id ${vrid}\n  priority ${150 - n.index}\n`);
        expect(conf).toMatch(new RegExp(`virtual_ipaddress \\{\\s*${g.cluster.vip.replace(/\./g, '\\.')}/${n.prefixLength}\\s*\\}`));
        expect(conf).toMatch(new RegExp(`authentication \\{\\s*auth_type PASS\\s*auth_pass ${authPass(g.cluster.name)}\\s*\\}`));
      }
    });

    it("then keepalived tracks the node's own API: a vrrp_script on /readyz whose failure costs more priority than the servers' spread", () => {
      for (const n of nodes.filter((x) => x.role === 'server')) {
        const conf = all[n.name].keepalived!.conf;
        const script = /vrrp_script k3s_api_ready \{([^}]*)\}/.exec(conf)?.[1] ?? '';
        expect({ node: n.name, script }).toEqual({ node: n.name, script: expect.stringMatching(/script ".*\/bin\/curl --silent --fail --max-time 3 --cacert \/var\/lib\/rancher\/k3s\/server\/tls\/server-ca\.crt --cert \S+client-admin\.crt --key \S+client-admin\.key https:\/\/127\.0\.0\.1:6443\/readyz"/) });
        expect(script).toMatch(/weight -100\b/);
        expect(script).toMatch(/user root\b/);
        // -100 must outweigh the spread of priorities (150 - index) for another server to take over.
        expect(nodes.filter((x) => x.role === 'server').length).toBeLessThan(100);
        expect(conf).toMatch(/vrrp_instance k8s_vip \{[\s\S]*track_script \{\s*k3s_api_ready\s*\}/);
      }
    });

    it("then k3s's start timeout is off on every release: the deployment's readyTimeoutSeconds governs", () => {
      for (const n of nodes) expect({ node: n.name, timeout: all[n.name].k3s!.unit.serviceConfig.TimeoutStartSec }).toEqual({ node: n.name, timeout: 0 });
    });

    it('then the firewall opens the ports of each role, and VRRP on control-plane nodes only', () => {
      for (const n of nodes) {
        const fw = all[n.name].firewall;
        const server = n.role === 'server';
        expect(fw.allowedTCPPorts).toEqual(expect.arrayContaining(server ? [22, 6443] : [22, 10250]));
        expect(fw.allowedTCPPortRanges).toEqual(server ? [{ from: 2379, to: 2380 }, { from: 10250, to: 10259 }] : [{ from: 30000, to: 32767 }]);
        expect(fw.allowedUDPPorts).toEqual([8472]);
        expect(fw.trustedInterfaces).toEqual(['flannel.1']);
        expect({ node: n.name, vrrp: /-p vrrp .* -j ACCEPT/.test(fw.extraCommands) }).toEqual({ node: n.name, vrrp: server });
      }
    });

    it('then disko mounts / and /boot from the node\'s disk and GRUB goes to that disk, with EFI as removable install', () => {
      for (const r of [...nodes.map((n) => all[n.name]), all.minimal, minimalOnNode]) {
        expect(r.fileSystems).toEqual({
          '/': { device: '/dev/disk/by-partlabel/disk-main-root', fsType: 'ext4', options: ['defaults'] },
          '/boot': { device: '/dev/disk/by-partlabel/disk-main-ESP', fsType: 'vfat', options: ['umask=0077'] },
        });
        expect(r.grub).toMatchObject({ efiSupport: true, efiInstallAsRemovable: true });
        expect(r.swapDevices).toEqual([]);
      }
      for (const n of nodes) expect({ node: n.name, grub: all[n.name].grub.devices }).toEqual({ node: n.name, grub: [n.disk] });
      const uniform = new Set(nodes.map((n) => n.disk)).size === 1;
      expect(all.minimal.grub.devices).toEqual(uniform ? [nodes[0].disk] : ['nodev']);
      expect(minimalOnNode.grub.devices).toEqual([lastNode.disk]);
    });

    it('then each node has its static address and name; minimal uses DHCP, or keeps the address of the node minimal-node names', () => {
      for (const n of nodes) {
        expect(all[n.name].network).toMatchObject({
          hostName: n.name,
          useDHCP: false,
          interfaces: { [n.interface]: [{ address: n.ip, prefixLength: n.prefixLength }] },
          defaultGateway: { address: n.gateway, interface: n.interface },
          nameservers: n.nameservers,
          usePredictableInterfaceNames: !n.kernelInterfaceName,
        });
      }
      expect(all.minimal.network).toMatchObject({ useDHCP: true, interfaces: {}, hostName: 'nixos' });
      expect(minimalOnNode.network).toMatchObject({ useDHCP: false, hostName: lastNode.name, interfaces: { [lastNode.interface]: [{ address: lastNode.ip, prefixLength: lastNode.prefixLength }] } });
    });

    it('then minimal runs no k3s and no keepalived, only the cleanup unit, and takes none of the user\'s modules', () => {
      for (const m of [all.minimal, minimalOnNode]) {
        expect(m).toMatchObject({ k3s: null, keepalived: null, units: { 'nico-secrets': null, 'nico-wait-for-vip': null } });
        expect(m.units['nico-cleanup']!.script).toContain('rm -rf /var/lib/rancher');
        expect(m.packages).toEqual([]);
      }
    });

    it('then joiners and workers wait for the VIP before k3s, the first server does not', () => {
      for (const n of nodes) {
        const wait = all[n.name].units['nico-wait-for-vip'];
        const first = n.role === 'server' && n.index === 0;
        expect({ node: n.name, waits: wait !== null }).toEqual({ node: n.name, waits: !first });
        if (wait) {
          expect(wait.before).toContain('k3s.service');
          expect(all[n.name].k3s!.unit.requires).toContain('nico-wait-for-vip.service');
          expect(wait.script).toContain(`https://${g.cluster.vip}:6443/cacerts`);
        }
      }
    });

    it('then nico-secrets runs before k3s, installs the machine key from the runtime path, fails without a token, and copies CA files only on servers', () => {
      for (const n of nodes) {
        const s = all[n.name].units['nico-secrets']!;
        expect(s.before).toEqual(['k3s.service']);
        expect(s.script).toContain(`install -d -m 0700 -o root -g root ${SECRETS_DIR}\n`);
        expect(s.script).toMatch(/umask 077\n/);
        expect(s.script).toContain(`if [ ! -s ${TOKEN_FILE} ]; then\n  echo "nico-secrets: ${TOKEN_FILE} is missing or empty`);
        expect(s.script).toContain(`install -m 0600 -o root -g root ${SECRETS_DIR}/machine-ssh-private-key /root/.ssh/id_ed25519`);
        const copiesCa = s.script.includes(`cd ${SECRETS_DIR}/tls`) && s.script.includes('if [ ! -e "/var/lib/rancher/k3s/server/tls/$f" ]; then');
        expect({ node: n.name, copiesCa }).toEqual({ node: n.name, copiesCa: n.role === 'server' });
      }
    });

    if (spec.nico) {
      it('then (under NICO) the injected join token and key are installed to the runtime paths, and the public key is derived from the key', () => {
        for (const n of nodes) {
          const s = all[n.name].units['nico-secrets']!.script;
          expect(s).toMatch(new RegExp(`install -m 0600 -o root -g root /nix/store/[a-z0-9]{32}-join-token ${TOKEN_FILE}\n`));
          expect(s).toMatch(new RegExp(`install -m 0600 -o root -g root /nix/store/[a-z0-9]{32}-machine-ssh-private-key ${SECRETS_DIR}/machine-ssh-private-key\n`));
          expect(all[n.name]).toMatchObject({ authorizedKeys: [], authorizedKeyFiles: ['machine-ssh-public-key'] });
        }
        expect(INJECTED.joinToken).toMatch(/^K10/);
      });
    } else {
      it('then no secret is referenced as a Nix path: the units name no store path, root logs in with the plain public key', () => {
        for (const r of Object.values(all)) {
          expect(r.units['nico-secrets']?.script ?? '').not.toContain('/nix/store/');
          expect(r).toMatchObject({ authorizedKeys: [PUBLIC_KEY], authorizedKeyFiles: [] });
        }
      });
    }

    if (c.packages) {
      it('then the user\'s modules add their packages to the nodes of their set', () => {
        for (const n of nodes) expect({ node: n.name, packages: all[n.name].packages.filter((p) => p !== 'k3s').sort() }).toEqual({ node: n.name, packages: c.packages![n.role as 'server' | 'agent'] });
      });
    }
  });
});

describe('given a NICO tree with the nixpkgs NICO may still default to (24.05: extraFlags is a string)', () => {
  // 24.05 is refused by validation, but a NICO tree builds from whatever nixpkgs NICO's flake input
  // names; disko v1.8.2 is the last release whose lib calls 24.05 has (the pin needs 24.11 or newer).
  it('then the flake passes its flags as one string and the node evaluates', () => {
    const tree = writeTree({ clusterNix: renderClusterNix({ ...EXTENDED, nixosModules: [], controlPlaneModules: [], workerModules: [] }), nico: true });
    try {
      const r = reports(tree, RELEASE_2405, { disko: 'disko-v1.8.2', select: 'cs: { inherit (cs) cp-02 worker-01; }' });
      expect(r['cp-02'].toplevel).toBe('nixos-system-stand-in');
      expect(r['cp-02'].k3s!.execStart).toMatch(/ \\\n --node-ip 192\.168\.1\.102 --tls-san 192\.168\.1\.100 --disable traefik --disable servicelb --etcd-snapshot-retention=10 --cluster-cidr 10\.42\.0\.0\/16$/);
      expect(r['worker-01'].k3s!.execStart).toMatch(/--node-ip 192\.168\.1\.201 --kubelet-arg=image-gc-high-threshold=80 --node-label node\.kubernetes\.io\/pool=fast --node-taint spot:PreferNoSchedule --node-taint gpu=true:NoExecute$/);
    } finally {
      tree.remove();
    }
  });
});
