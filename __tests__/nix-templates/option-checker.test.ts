import * as fs from 'fs';
import { loadOptions, OptionChecker, OPTIONS_FILE, SHARED_OPTIONS_FILE, unavailableIn2405 } from '../helpers/nixos-options';

// The checker the module tests rely on: it must reject what a real nixos-24.05 evaluation rejects.

const checker = new OptionChecker();
const problems = (tree: object) => checker.check(tree as never).map((p) => `${p.path}: ${p.problem}`);

describe('nixos-options-subset.json', () => {
  it('then the fixture copy matches the reference in shared/ (when it sits beside the repo)', () => {
    if (!fs.existsSync(SHARED_OPTIONS_FILE)) return; // a clone without shared/ next to it: the fixture is the reference
    expect(fs.readFileSync(OPTIONS_FILE, 'utf8')).toBe(fs.readFileSync(SHARED_OPTIONS_FILE, 'utf8'));
  });

  it('then every type string in it parses (options that do not exist aside)', () => {
    const options = loadOptions();
    const unparsable = Object.entries(options).flatMap(([key, o]) => {
      if (/DOES NOT EXIST|REMOVED/.test(o.type)) return [];
      try {
        (checker as unknown as { validator(k: string, t: string): unknown }).validator(key, key.includes(' : ') ? o.type.split(' / ')[0] : o.type);
        return [];
      } catch (e) {
        return [`${key}: ${(e as Error).message}`];
      }
    });
    expect(unparsable).toEqual([]);
  });

  it('then options added after 24.05, removed or never existing are unavailable; older ones and disko are not', () => {
    const o = loadOptions();
    const unavailable = (k: string) => unavailableIn2405(o[k]) !== undefined;
    for (const k of ['services.k3s.manifests', 'services.keepalived.package', 'networking.firewall.backend', 'services.k3s.docker', 'services.k3s.gracefulNodeKillerScript', 'services.keepalived.vrrpInstances.<name>.authentication', 'services.k3s.autoDeployCharts']) {
      expect({ k, unavailable: unavailable(k) }).toEqual({ k, unavailable: true });
    }
    for (const k of ['services.keepalived.openFirewall', 'services.k3s.extraFlags', 'services.k3s.clusterInit', 'networking.hostName', 'disko.devices.lvm_vg.<vg>.lvs.<lv>.lvm_type']) {
      expect({ k, unavailable: unavailable(k) }).toEqual({ k, unavailable: false });
    }
  });
});

describe('OptionChecker', () => {
  it('given values of the right types, then it finds nothing', () => {
    expect(
      problems({
        services: {
          k3s: { enable: true, role: 'server', extraFlags: '--node-ip 10.0.0.1', tokenFile: '/var/lib/rancher/k3s/server/token' },
          keepalived: { vrrpInstances: { vip: { virtualRouterId: 51, state: 'BACKUP', virtualIps: [{ addr: '10.0.0.9/24' }] } } },
        },
        networking: { hostName: 'cp-01', firewall: { allowedTCPPortRanges: [{ from: 1, to: 2 }] } },
        systemd: { services: { x: { serviceConfig: { Type: 'oneshot', TimeoutStartSec: 30 }, path: [{ __derivation: 'curl' }] } } },
        users: { users: { root: { openssh: { authorizedKeys: { keyFiles: [{ __derivation: 'pub' }] } } } } },
      }),
    ).toEqual([]);
  });

  const bad: [string, object, RegExp][] = [
    ['a misspelled option', { services: { k3s: { extraFlag: '--x' } } }, /^services\.k3s\.extraFlag: is not an option listed/],
    ['extraFlags as a list (24.11+ only)', { services: { k3s: { extraFlags: ['--x'] } } }, /^services\.k3s\.extraFlags: .*expected a string/],
    ['an option that appeared in 24.11', { services: { k3s: { manifests: {} } } }, /not in 24\.05/],
    ['the non-existent keepalived authentication option', { services: { keepalived: { vrrpInstances: { v: { authentication: {} } } } } }, /does not exist/],
    ['VRID 0', { services: { keepalived: { vrrpInstances: { v: { virtualRouterId: 0 } } } } }, /integer in 1\.\.255/],
    ['a lower-case VRRP state', { services: { keepalived: { vrrpInstances: { v: { state: 'master' } } } } }, /one of MASTER, BACKUP/],
    ['a host name with a dot', { networking: { hostName: 'cp.example' } }, /matching/],
    ['a port above 65535', { networking: { firewall: { allowedUDPPorts: [70000] } } }, /\[0\]: expected an integer in 0\.\.65535/],
    ['a relative tokenFile', { services: { k3s: { tokenFile: 'join-token' } } }, /expected an absolute path/],
    ['a prefix length above 32', { networking: { interfaces: { eth0: { ipv4: { addresses: [{ address: '10.0.0.1', prefixLength: 33 }] } } } } }, /addresses\.0\.prefixLength: .*0\.\.32/],
    ['a partition size of 100%FREE', { disko: { devices: { disk: { d: { content: { type: 'gpt', partitions: { p: { size: '100%FREE' } } } } } } } }, /size: .*100%/],
    ['a thin pool typed "thinpool"', { disko: { devices: { lvm_vg: { vg0: { lvs: { t: { lvm_type: 'thinpool' } } } } } } }, /one of .*thin-pool/],
    ['an unknown filesystem field', { disko: { devices: { disk: { d: { content: { type: 'gpt', partitions: { p: { content: { type: 'filesystem', mountpoint: '/', mountpint: '/' } } } } } } } } }, /mountpint: is not a field of disko content type filesystem/],
    ['a package where a string is expected', { services: { k3s: { serverAddr: { __derivation: 'x' } } } }, /expected a string/],
  ];
  it.each(bad)('given %s, then it reports the path', (_, tree, message) => {
    expect(problems(tree)).toEqual([expect.stringMatching(message)]);
  });
});
