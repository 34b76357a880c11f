import { OptionChecker, treeOf } from '../../helpers/nixos-options';
import { at, definedUnder, evalModules, generate, ModuleEval } from '../support';

// The NixOS modules, evaluated with the generator's data through fixtures/eval-modules.nix (a
// stand-in module system: no nixpkgs offline). Every option they set is checked against
// nixos-options-subset.json: the path exists, exists in nixos-24.05, and the value has its type.

const checker = new OptionChecker();

function expectValidOptions(ev: ModuleEval) {
  for (const module of new Set(ev.definitions.map((d) => d.module))) {
    const tree = treeOf(ev.definitions.filter((d) => d.module === module));
    expect({ module, problems: checker.check(tree as never) }).toEqual({ module, problems: [] });
  }
}

const FIXTURES = ['contract-example', 'constructs-example', 'single-master', 'large'];

describe.each(FIXTURES)('modules for cluster fixture %s', (fixture) => {
  const g = generate({ fixture });

  const lastNode = g.nodeNames[g.nodeNames.length - 1];

  describe.each([...g.nodeNames, 'minimal', `minimal@${lastNode}`])('given configuration %s', (name) => {
    const ev = evalModules(fixture, name);

    it('then every option path set is listed, exists in nixos-24.05 and has a value of its type', () => {
      expect(ev.definitions.length).toBeGreaterThan(20);
      expectValidOptions(ev);
    });

    it('then all assertions hold', () => {
      expect(ev.failedAssertions).toEqual([]);
    });

    it('then boot.loader.grub.devices (with what disko adds) has no duplicates', () => {
      const devices: string[] = at(ev.config, 'boot', 'loader', 'grub', 'devices');
      expect(devices).toHaveLength(1);
      expect(new Set(devices).size).toBe(devices.length);
    });

    it('then root logs in with the machine key only and swap stays off', () => {
      expect(at(ev.config, 'users', 'users', 'root', 'openssh', 'authorizedKeys', 'keys')).toEqual([expect.stringMatching(/^ssh-ed25519 /)]);
      expect(at(ev.config, 'services', 'openssh')).toMatchObject({ enable: true, settings: { PermitRootLogin: 'prohibit-password', PasswordAuthentication: false } });
      expect(at(ev.config, 'swapDevices')).toEqual([]);
      expect(at(ev.config, 'zramSwap', 'enable')).toBe(false);
    });

    it('then the interface naming matches the configured name', () => {
      expect(at(ev.config, 'networking', 'usePredictableInterfaceNames')).toBe(!/^eth\d+$/.test(g.minimal.interface));
    });
  });

  describe.each(g.nodeNames)('given node %s', (name) => {
    const node = g.nodes[name];
    const ev = evalModules(fixture, name);
    const k3s = at(ev.config, 'services', 'k3s');

    it('then k3s runs in its role, with a token file at the runtime path and flags as one string', () => {
      expect(k3s).toMatchObject({ enable: true, role: node.role, tokenFile: node.tokenPath, serverAddr: node.serverAddr });
      expect(k3s).not.toHaveProperty('token');
      expect(typeof k3s.extraFlags).toBe('string');
      expect(k3s.extraFlags).toContain(`--node-ip ${node.ip}`);
      if (node.role === 'server') expect(k3s.extraFlags).toContain(`--tls-san ${g.cluster.vip}`);
      else expect(k3s.extraFlags).not.toContain('--tls-san');
    });

    it('then only the first control-plane node sets clusterInit', () => {
      expect(k3s.clusterInit ?? false).toBe(node.role === 'server' && node.index === 0);
    });

    it('then keepalived runs on control-plane nodes only, with VRRP opened and PASS auth in extraConfig', () => {
      const keepalived = definedUnder(ev, 'services', 'keepalived');
      if (node.role === 'agent') {
        expect(keepalived).toEqual([]);
        return;
      }
      const vrrp = node.keepalived!;
      expect(at(ev.config, 'services', 'keepalived')).toMatchObject({ enable: true, openFirewall: true });
      const instance = at(ev.config, 'services', 'keepalived', 'vrrpInstances', 'k8s_vip');
      expect(instance).toMatchObject({
        interface: node.interface,
        state: node.index === 0 ? 'MASTER' : 'BACKUP',
        priority: 150 - node.index,
        virtualRouterId: vrrp.virtualRouterId,
        virtualIps: [{ addr: `${g.cluster.vip}/${node.prefixLength}` }],
      });
      expect(instance.extraConfig).toMatch(/auth_type PASS/);
      const pass = /auth_pass (\S+)/.exec(instance.extraConfig)![1];
      expect(pass).toBe(vrrp.authPass);
      expect(pass.length).toBeLessThanOrEqual(8);
    });

    it('then the firewall opens the ports of its role and trusts the flannel interface', () => {
      expect(at(ev.config, 'networking', 'firewall')).toEqual({
        allowedTCPPorts: node.firewall.tcpPorts,
        allowedTCPPortRanges: node.firewall.tcpRanges,
        allowedUDPPorts: node.firewall.udpPorts,
        trustedInterfaces: ['flannel.1'],
      });
    });

    it('then the node has its static address, gateway and nameservers on the configured interface', () => {
      expect(at(ev.config, 'networking')).toMatchObject({
        hostName: name,
        useDHCP: false,
        interfaces: { [node.interface]: { ipv4: { addresses: [{ address: node.ip, prefixLength: node.prefixLength }] } } },
        defaultGateway: { address: node.gateway, interface: node.interface },
        nameservers: node.nameservers,
      });
    });

    it('then token and private key are installed root-only (0600) at their runtime paths before k3s starts', () => {
      const secrets = at(ev.config, 'systemd', 'services', 'nico-secrets');
      expect(secrets.script).toContain(`install -m 0600 -o root -g root /nix/store/22222222222222222222222222222222-join-token ${node.tokenPath}`);
      expect(secrets.script).toContain('install -m 0600 -o root -g root /nix/store/11111111111111111111111111111111-machine-ssh-private-key /root/.ssh/id_ed25519');
      expect(secrets.script).toMatch(/umask 077\n(?:.*\n)*install -m 0600/);
      expect(secrets.before).toContain('k3s.service');
      expect(at(ev.config, 'systemd', 'services', 'k3s', 'requires')).toContain('nico-secrets.service');
      // the token's store path appears nowhere but in the install script
      const elsewhere = ev.definitions.filter((d) => JSON.stringify(d.value).includes('-join-token') && d.path.join('.') !== 'systemd.services.nico-secrets.script');
      expect(elsewhere).toEqual([]);
    });

    it('then joiners and workers wait for the VIP API before k3s starts, the first server does not', () => {
      const wait = at(ev.config, 'systemd', 'services', 'nico-wait-for-vip');
      const k3sUnit = at(ev.config, 'systemd', 'services', 'k3s');
      if (!node.waitForVip) {
        expect(wait).toBeUndefined();
        expect(k3sUnit.requires).not.toContain('nico-wait-for-vip.service');
        return;
      }
      expect(k3sUnit.requires).toContain('nico-wait-for-vip.service');
      expect(k3sUnit.after).toContain('nico-wait-for-vip.service');
      expect(wait.before).toContain('k3s.service');
      expect(wait.script).toContain(`https://${g.cluster.vip}:6443/cacerts`);
      expect(wait.script).toContain(`if [ -e ${node.joinedMarker} ]`);
      expect(wait.serviceConfig.TimeoutStartSec).toBeGreaterThan(node.vipWaitSeconds);
    });
  });

  describe('given minimal', () => {
    const ev = evalModules(fixture, 'minimal');
    const script: string = at(ev.config, 'systemd', 'services', 'nico-cleanup', 'script');

    it('then it runs neither k3s nor keepalived and has no static address or node name', () => {
      expect(definedUnder(ev, 'services', 'k3s')).toEqual([]);
      expect(definedUnder(ev, 'services', 'keepalived')).toEqual([]);
      expect(definedUnder(ev, 'networking', 'interfaces')).toEqual([]);
      expect(definedUnder(ev, 'networking', 'hostName')).toEqual([]);
      expect(at(ev.config, 'networking', 'useDHCP')).toBe(true);
    });

    it('then a cleanup unit stops k3s and keepalived, runs k3s-killall when present and removes all k3s state', () => {
      expect(at(ev.config, 'systemd', 'services', 'nico-cleanup', 'wantedBy')).toEqual(['multi-user.target']);
      expect(script).toContain('systemctl stop k3s.service keepalived.service');
      expect(script).toMatch(/if \[ -x \/nix\/store\/\S+-k3s\/bin\/k3s-killall\.sh \]/);
      expect(script).toContain('rm -rf /var/lib/rancher /etc/rancher /var/lib/cni /var/lib/kubelet /run/k3s');
      for (const link of ['cni0', 'flannel.1']) expect(script).toMatch(new RegExp(`for link in .*\\b${link.replace('.', '\\.')}\\b`));
    });

    it('then cleanup leaves SSH reachable: it never stops sshd nor touches the real interface or the whole firewall', () => {
      expect(script).not.toMatch(/sshd|iptables -F|nft flush|ip link delete (?!"\$link")/);
      expect(script).not.toContain(g.minimal.interface);
      expect(script).toMatch(/grep -viE 'KUBE-\|CNI-\|flannel'/);
    });

    it('then the disk layout is the nodes\' layout', () => {
      const layout = (ev2: ModuleEval) => JSON.stringify(definedUnder(ev2, 'disko').map((d) => [d.path.join('.'), d.path[4] === 'device' ? '' : d.value]));
      expect(layout(ev)).toBe(layout(evalModules(fixture, g.nodeNames[0])));
    });
  });

  describe(`given minimal applied to a known node (${lastNode}, named in minimal-node)`, () => {
    const node = g.nodes[lastNode];
    const ev = evalModules(fixture, `minimal@${lastNode}`);

    it('then the machine keeps the node\'s static address, gateway, nameservers and host name, without DHCP', () => {
      expect(at(ev.config, 'networking', 'interfaces', node.interface, 'ipv4', 'addresses')).toEqual([{ address: node.ip, prefixLength: node.prefixLength }]);
      expect(at(ev.config, 'networking', 'defaultGateway')).toEqual({ address: node.gateway, interface: node.interface });
      expect(at(ev.config, 'networking', 'nameservers')).toEqual(node.nameservers);
      expect(at(ev.config, 'networking', 'hostName')).toBe(lastNode);
      expect(at(ev.config, 'networking', 'useDHCP')).toBe(false);
    });

    it('then it still runs no k3s, no keepalived, opens no k3s port and cleans up', () => {
      expect(definedUnder(ev, 'services', 'k3s')).toEqual([]);
      expect(definedUnder(ev, 'services', 'keepalived')).toEqual([]);
      expect(definedUnder(ev, 'networking', 'firewall')).toEqual([]);
      expect(at(ev.config, 'systemd', 'services', 'nico-cleanup', 'script')).toContain('rm -rf /var/lib/rancher');
    });

    it('then GRUB goes to the node\'s own disk, as disko adds it', () => {
      expect(at(ev.config, 'boot', 'loader', 'grub', 'devices')).toEqual([node.disk]);
    });
  });
});

describe('disk layout', () => {
  const ev = evalModules('contract-example', 'cp-01');
  const partitions = at(ev.config, 'disko', 'devices', 'disk', 'main', 'content', 'partitions');

  it('then the disk is 1M BIOS boot, 512M ESP on /boot, 10G ext4 root, and the rest an LVM PV of vg0', () => {
    expect(at(ev.config, 'disko', 'devices', 'disk', 'main')).toMatchObject({ type: 'disk', device: '/dev/sda', content: { type: 'gpt' } });
    expect(partitions.boot).toEqual({ size: '1M', type: 'EF02', priority: 1 });
    expect(partitions.ESP).toMatchObject({ size: '512M', type: 'EF00', content: { type: 'filesystem', format: 'vfat', mountpoint: '/boot' } });
    expect(partitions.root).toMatchObject({ size: '10G', content: { type: 'filesystem', format: 'ext4', mountpoint: '/' } });
    expect(partitions.lvm).toMatchObject({ size: '100%', content: { type: 'lvm_pv', vg: 'vg0' } });
    const order = Object.entries(partitions as Record<string, { priority?: number }>).sort(([, a], [, b]) => (a.priority ?? 9001) - (b.priority ?? 9001));
    expect(order.map(([n]) => n)).toEqual(['boot', 'ESP', 'root', 'lvm']);
  });

  it('then vg0 has one thin pool over all free space', () => {
    expect(at(ev.config, 'disko', 'devices', 'lvm_vg', 'vg0')).toEqual({ type: 'lvm_vg', lvs: { thinpool: { size: '100%FREE', lvm_type: 'thin-pool' } } });
  });

  it('then the node modules leave boot.loader.grub.devices to disko', () => {
    expect(definedUnder(ev, 'boot', 'loader', 'grub', 'devices')).toEqual([]);
    expect(at(ev.config, 'boot', 'loader', 'grub', 'devices')).toEqual(['/dev/sda']);
  });

  it('when the nodes use different disks, then minimal replaces the per-disk GRUB entry with nodev', () => {
    const minimal = evalModules('constructs-example', 'minimal');
    expect(at(minimal.config, 'boot', 'loader', 'grub', 'devices')).toEqual(['nodev']);
    expect(minimal.failedAssertions).toEqual([]);
  });
});

describe('machine public key', () => {
  it('when no machine-ssh-public-key file exists, then it is derived from the private key at build time', () => {
    const ev = evalModules('contract-example', 'worker-01', {
      nicoSecrets: '{ privateKey = "/nix/store/11111111111111111111111111111111-machine-ssh-private-key"; joinToken = "/nix/store/2-join-token"; publicKey = null; }',
    });
    expect(definedUnder(ev, 'users', 'users', 'root', 'openssh', 'authorizedKeys', 'keys')).toEqual([]);
    const [keyFile] = at(ev.config, 'users', 'users', 'root', 'openssh', 'authorizedKeys', 'keyFiles');
    expect(keyFile.__derivation).toBe('machine-ssh-public-key');
    // a 0600 copy: ssh-keygen ignores private keys others can read, and store files are 0444
    expect(keyFile.script).toContain('install -m 0600 /nix/store/11111111111111111111111111111111-machine-ssh-private-key key\n');
    expect(keyFile.script).toMatch(/\/bin\/ssh-keygen -y -f key > \$out/);
    expectValidOptions(ev);
  });
});

describe('assertions against user overrides', () => {
  const cases: [string, string, string, RegExp][] = [
    ['cp-01', 'listing the disk in boot.loader.grub.devices again', '{ boot.loader.grub.devices = [ "/dev/sda" ]; }', /^boot\.loader\.grub\.devices lists a device twice/],
    ['worker-01', 'enabling keepalived on a worker', '{ services.keepalived.enable = true; }', /^services\.keepalived\.enable must be false on worker worker-01/],
    ['cp-02', 'setting clusterInit on a joining server', '{ lib, ... }: { services.k3s.clusterInit = lib.mkForce true; }', /^services\.k3s\.clusterInit and services\.k3s\.serverAddr are both set on cp-02/],
    ['cp-01', 'switching the firewall to nftables', '{ networking.nftables.enable = true; }', /^networking\.nftables\.enable must be false on cp-01/],
    ['cp-01', 'turning predictable interface names back on with eth0', '{ networking.usePredictableInterfaceNames = true; }', /^networking\.usePredictableInterfaceNames must be false/],
  ];
  it.each(cases)('given %s, when a user module is %s, then an assertion names the option path', (node, _, override, message) => {
    const ev = evalModules('contract-example', node, { extraModules: [override] });
    expect(ev.failedAssertions).toEqual([expect.stringMatching(message)]);
  });
});
