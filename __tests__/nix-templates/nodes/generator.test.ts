import { createHash } from 'crypto';
import { generate, Generated } from '../support';

// nodes/generator.nix is builtins-only Nix: these tests evaluate it for real with nix-instantiate.

const sha256Prefix = (s: string) => createHash('sha256').update(s).digest('hex').slice(0, 8);
const nodesOf = (g: Generated) => g.nodeNames.map((n) => g.nodes[n]);
const servers = (g: Generated) => nodesOf(g).filter((n) => n.role === 'server');
const agents = (g: Generated) => nodesOf(g).filter((n) => n.role === 'agent');

const CONTROL_PLANE_FIREWALL = {
  tcpPorts: [22, 6443],
  tcpRanges: [{ from: 2379, to: 2380 }, { from: 10250, to: 10259 }],
  udpPorts: [8472],
};
const WORKER_FIREWALL = { tcpPorts: [22, 10250], tcpRanges: [{ from: 30000, to: 32767 }], udpPorts: [8472] };

/** Invariants every generated cluster must keep, whatever its size. */
function expectClusterInvariants(g: Generated, vip: string) {
  const [first, ...joiners] = servers(g);

  // only the first server initialises etcd and is the VRRP MASTER at 150
  expect(first).toMatchObject({ index: 0, clusterInit: true, serverAddr: '', waitForVip: false });
  expect(first.keepalived).toMatchObject({ state: 'MASTER', priority: 150 });
  for (const [i, n] of joiners.entries()) {
    expect(n).toMatchObject({ index: i + 1, clusterInit: false, serverAddr: `https://${vip}:6443`, waitForVip: true });
    expect(n.keepalived).toMatchObject({ state: 'BACKUP', priority: 149 - i });
  }
  expect(servers(g).map((n) => n.keepalived!.priority)).toEqual(servers(g).map((_, i) => 150 - i));

  for (const n of servers(g)) {
    expect(n.k3sFlags).toEqual(expect.arrayContaining([`--tls-san ${vip}`, `--node-ip ${n.ip}`]));
    expect(n.k3sExtraFlags).toBe(n.k3sFlags.join(' '));
    expect(n.tokenPath).toBe('/var/lib/nico/secrets/join-token');
    expect(n.firewall).toEqual(CONTROL_PLANE_FIREWALL);
    expect(n.keepalived!.authPass).toBe(sha256Prefix(g.cluster.name));
    expect(n.keepalived!.authPass.length).toBeLessThanOrEqual(8);
    expect(n.keepalived!.instance).toBe('k8s_vip');
  }
  for (const n of agents(g)) {
    expect(n).toMatchObject({ isControlPlane: false, clusterInit: false, serverAddr: `https://${vip}:6443`, waitForVip: true, keepalived: null });
    expect(n.k3sFlags).toEqual([`--node-ip ${n.ip}`]);
    expect(n.tokenPath).toBe('/var/lib/nico/secrets/join-token');
    expect(n.firewall).toEqual(WORKER_FIREWALL);
  }
  for (const n of nodesOf(g)) {
    expect(n.vipCheckUrl).toBe(`https://${vip}:6443/cacerts`);
    expect(n.k3sFlags.filter((f) => f.startsWith('--cluster-init'))).toEqual([]);
  }
  expect(g.minimal.role).toBe('minimal');
  expect(g.minimal).not.toHaveProperty('ip');
}

describe('generator.nix', () => {
  describe('given the contract example cluster.nix (only the four NICO fields)', () => {
    const g = generate({ fixture: 'contract-example' });

    it('then it lists every node, control plane first, in the order of cluster.nix', () => {
      expect(g.nodeNames).toEqual(['cp-01', 'cp-02', 'cp-03', 'worker-01', 'worker-02']);
      expect(nodesOf(g).map((n) => n.role)).toEqual(['server', 'server', 'server', 'agent', 'agent']);
      expect(servers(g).map((n) => [n.name, n.ip])).toEqual([
        ['cp-01', '192.168.1.101'],
        ['cp-02', '192.168.1.102'],
        ['cp-03', '192.168.1.103'],
      ]);
      expect(agents(g).map((n) => [n.name, n.ip, n.index])).toEqual([
        ['worker-01', '192.168.1.201', 0],
        ['worker-02', '192.168.1.202', 1],
      ]);
    });

    it('then cp-01 initialises the cluster as keepalived MASTER 150 and the others join through the VIP as BACKUP 149, 148', () => {
      expect(g.nodes['cp-01']).toMatchObject({ clusterInit: true, serverAddr: '', keepalived: { state: 'MASTER', priority: 150 } });
      expect(g.nodes['cp-02']).toMatchObject({ clusterInit: false, serverAddr: 'https://192.168.1.100:6443', keepalived: { state: 'BACKUP', priority: 149 } });
      expect(g.nodes['cp-03']).toMatchObject({ clusterInit: false, serverAddr: 'https://192.168.1.100:6443', keepalived: { state: 'BACKUP', priority: 148 } });
      expectClusterInvariants(g, '192.168.1.100');
    });

    it('then servers get --tls-san for the VIP and --node-ip, agents --node-ip only', () => {
      expect(g.nodes['cp-02'].k3sExtraFlags).toBe('--node-ip 192.168.1.102 --tls-san 192.168.1.100');
      expect(g.nodes['worker-02'].k3sExtraFlags).toBe('--node-ip 192.168.1.202');
    });

    it('then the VRRP password is the first 8 hex digits of sha256("production-cluster")', () => {
      expect(g.nodes['cp-01'].keepalived!.authPass).toBe(sha256Prefix('production-cluster'));
    });

    it('then every optional setting takes its default', () => {
      for (const n of nodesOf(g)) {
        expect(n).toMatchObject({ prefixLength: 24, gateway: '192.168.1.1', nameservers: ['8.8.8.8'], interface: 'eth0', disk: '/dev/sda', kernelInterfaceName: true });
        if (n.keepalived) expect(n.keepalived).toMatchObject({ virtualRouterId: 51, address: '192.168.1.100/24' });
      }
      expect(g.system).toBe('x86_64-linux');
    });

    it('then minimal keeps the shared disk as GRUB target (no override) and carries no node address', () => {
      expect(g.minimal).toMatchObject({ disk: '/dev/sda', grubDevices: null, interface: 'eth0', kernelInterfaceName: true });
    });
  });

  describe('given the cluster.nix nico-cluster writes (optional fields set, one disk overridden)', () => {
    const g = generate({ fixture: 'constructs-example' });

    it('then the per-node disk applies to that node only and minimal stops naming a GRUB disk', () => {
      expect(g.nodeNames).toEqual(['cp-01', 'cp-02', 'worker-01']);
      expect(nodesOf(g).map((n) => n.disk)).toEqual(['/dev/sda', '/dev/vda', '/dev/sda']);
      expect(g.minimal.grubDevices).toEqual(['nodev']);
      expectClusterInvariants(g, '192.168.1.100');
    });

    it('then minimal on a known node takes that node\'s address, host name and own disk, and leaves GRUB to disko', () => {
      const name = g.nodeNames.find((n) => g.nodes[n].disk !== g.minimal.disk)!;
      const on = generate({ fixture: 'constructs-example' }, { minimalOn: name }).minimal;
      expect(on).toEqual({ ...g.minimal, ip: g.nodes[name].ip, hostName: name, disk: g.nodes[name].disk, grubDevices: null });
    });

    it('then minimal on a name that is no node fails, naming the name and the nodes', () => {
      expect(() => generate({ fixture: 'constructs-example' }, { minimalOn: 'nope' })).toThrow(/minimal-node names `nope`, which is not a node of this cluster \(cp-01, /);
    });
  });

  describe('given one control-plane node and no workers field', () => {
    const g = generate({ fixture: 'single-master' });

    it('then the only node initialises the cluster as MASTER and waits for nothing', () => {
      expect(g.nodeNames).toEqual(['solo-cp']);
      expect(g.nodes['solo-cp']).toMatchObject({ clusterInit: true, serverAddr: '', waitForVip: false, keepalived: { state: 'MASTER', priority: 150 } });
      expect(agents(g)).toEqual([]);
      expectClusterInvariants(g, '10.0.0.10');
    });
  });

  describe('given 5 control-plane nodes and 10 workers on a /16 with non-default settings', () => {
    const g = generate({ fixture: 'large' });

    it('then priorities run 150 down to 146 and exactly one node is MASTER with cluster-init', () => {
      expect(servers(g).map((n) => n.keepalived!.priority)).toEqual([150, 149, 148, 147, 146]);
      expect(servers(g).map((n) => n.keepalived!.state)).toEqual(['MASTER', 'BACKUP', 'BACKUP', 'BACKUP', 'BACKUP']);
      expect(nodesOf(g).filter((n) => n.clusterInit).map((n) => n.name)).toEqual(['m1']);
      expect(nodesOf(g).map((n) => n.role)).toEqual([...Array(5).fill('server'), ...Array(10).fill('agent')]);
      expectClusterInvariants(g, '10.20.0.100');
    });

    it('then the settings of cluster.nix reach every node', () => {
      for (const n of nodesOf(g)) {
        expect(n).toMatchObject({ prefixLength: 16, gateway: '10.20.0.1', nameservers: ['10.20.0.53', '1.1.1.1'], interface: 'ens18', kernelInterfaceName: false });
      }
      for (const n of servers(g)) expect(n.keepalived).toMatchObject({ virtualRouterId: 42, address: '10.20.0.100/16', authPass: sha256Prefix('edge-lab-west') });
      expect(servers(g).every((n) => n.disk === '/dev/nvme0n1')).toBe(true);
      expect(g.nodes.w06.disk).toBe('/dev/vdb');
      expect(g.nodes.w05.disk).toBe('/dev/sda');
      expect(g.system).toBe('aarch64-linux');
      expect(g.minimal).toMatchObject({ interface: 'ens18', kernelInterfaceName: false, grubDevices: ['nodev'] });
    });
  });

  describe('given the optional extension fields (flags, disabled components, labels, taints)', () => {
    const g = generate({
      expr: `{
        name = "x"; vip = "10.0.0.10";
        controlPlane = [ { name = "c1"; ip = "10.0.0.11"; labels = { "example.com/team" = "db"; tier = "a"; }; taints = [ "dedicated=db:NoSchedule" ]; } ];
        workers = [ { name = "w1"; ip = "10.0.0.21"; taints = [ "spot:PreferNoSchedule" ]; } ];
        serverExtraFlags = [ "--etcd-expose-metrics" ]; agentExtraFlags = [ "--kubelet-arg=max-pods=150" ];
        disableComponents = [ "traefik" "servicelb" ];
      }`,
    });

    it('then servers get the flake\'s flags, then --disable per component, their extra flags, labels and taints', () => {
      expect(g.nodes.c1.k3sFlags).toEqual([
        '--node-ip 10.0.0.11', '--tls-san 10.0.0.10', '--disable traefik', '--disable servicelb', '--etcd-expose-metrics',
        '--node-label example.com/team=db', '--node-label tier=a', '--node-taint dedicated=db:NoSchedule',
      ]);
      expect(g.nodes.c1.k3sExtraFlags).toBe(g.nodes.c1.k3sFlags.join(' '));
    });

    it('then agents get the agent flags and their own taints, never the servers\' flags or --disable', () => {
      expect(g.nodes.w1.k3sFlags).toEqual(['--node-ip 10.0.0.21', '--kubelet-arg=max-pods=150', '--node-taint spot:PreferNoSchedule']);
    });
  });

  describe('given an invalid cluster.nix', () => {
    const base = `name = "c"; vip = "10.0.0.1"; controlPlane = [ { name = "a"; ip = "10.0.0.2"; } ];`;
    const cases: [string, string, RegExp][] = [
      ['no vip', `{ name = "c"; controlPlane = [ { name = "a"; ip = "10.0.0.2"; } ]; }`, /`vip` is required/],
      ['no control-plane node', `{ name = "c"; vip = "10.0.0.1"; controlPlane = [ ]; }`, /`controlPlane` needs at least one node/],
      ['a duplicate node name', `{ ${base} workers = [ { name = "a"; ip = "10.0.0.3"; } ]; }`, /node names must be unique/],
      ['a node named minimal', `{ ${base} workers = [ { name = "minimal"; ip = "10.0.0.3"; } ]; }`, /`minimal` is reserved/],
      ['a node without ip', `{ ${base} workers = [ { name = "b"; } ]; }`, /workers\[0\] needs `name` and `ip`/],
      ['VRID 0', `{ ${base} vrrpRouterId = 0; }`, /`vrrpRouterId` must be an integer from 1 to 255/],
      ['serverExtraFlags as a string', `{ ${base} serverExtraFlags = "--etcd-expose-metrics"; }`, /`serverExtraFlags` must be a list of strings/],
      ['disableComponents holding a number', `{ ${base} disableComponents = [ 1 ]; }`, /`disableComponents` must be a list of strings/],
      ['labels as a list', `{ ${base} workers = [ { name = "b"; ip = "10.0.0.3"; labels = [ "a=b" ]; } ]; }`, /workers\[0\]\.labels must be an attrset of strings/],
      ['a taint that is no string', `{ ${base} workers = [ { name = "b"; ip = "10.0.0.3"; taints = [ { key = "a"; } ]; } ]; }`, /workers\[0\]\.taints must be a list of strings/],
    ];
    it.each(cases)('when it has %s, then evaluation fails naming the field', (_, expr, message) => {
      expect(() => generate({ expr })).toThrow(message);
    });
  });
});
