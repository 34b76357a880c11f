import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { execFileSync } from 'child_process';
import { ClusterValidationError, assertValidClusterDescription, validateClusterDescription } from '../../constructs';
import { INVALID_CASES, invalid, VALID } from '../fixtures/invalid-descriptions';

const USER_MODULES = path.join(__dirname, '..', 'fixtures', 'user-modules');

describe('validateClusterDescription', () => {
  test('given the reference cluster, when validated, then there is no problem', () => {
    expect(validateClusterDescription(VALID)).toEqual({ problems: [], warnings: [] });
  });

  test('given every optional field set, when validated, then there is no problem', () => {
    const d = {
      ...VALID,
      controlPlane: [
        {
          name: 'cp-01',
          ip: '10.1.0.11',
          sshHost: 'bastion.example',
          sshPort: 2201,
          disk: '/dev/nvme0n1',
          hostKey: 'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIE1xZ7 host',
          labels: { 'example.com/team': 'db', tier: '', 'node.kubernetes.io/pool': 'fast', 'topology.kubernetes.io/zone': 'a-1' },
          taints: ['dedicated=db:NoSchedule', 'example.com/gpu:NoExecute', 'spot=:PreferNoSchedule'],
        },
      ],
      workers: [],
      vip: '10.1.255.254',
      prefixLength: 16,
      gateway: '10.1.0.1',
      nameservers: ['10.1.0.2', '1.1.1.1'],
      interface: 'ens18',
      vrrpRouterId: 7,
      nixpkgs: 'github:NixOS/nixpkgs/0bd7f95e4588643f2c2d403b38d8a2fe44b0fc73',
      deploy: true,
      sshUser: 'root',
      remoteFlakeDir: '/var/lib/nico/flake',
      readyTimeoutSeconds: 60,
      serverExtraFlags: ['--etcd-expose-metrics', '--cluster-cidr 10.42.0.0/16', '--kube-apiserver-arg=a="b c" ${x} \\'],
      agentExtraFlags: ['--kubelet-arg=max-pods=150'],
      disableComponents: ['traefik', 'servicelb', 'local-storage', 'metrics-server', 'coredns', 'runtimes'],
      nixosModules: [path.join(USER_MODULES, 'node-tools.nix')],
      controlPlaneModules: [path.join(USER_MODULES, 'control-plane-tools')],
      workerModules: [path.join(USER_MODULES, 'worker-tools.nix')],
    };
    expect(validateClusterDescription(d).problems).toEqual([]);
  });

  test.each(['github:NixOS/nixpkgs/nixos-24.11', 'github:NixOS/nixpkgs/nixos-25.05-small', 'github:NixOS/nixpkgs/nixos-26.05', 'github:NixOS/nixpkgs/nixos-unstable', 'github:NixOS/nixpkgs?ref=release-25.11', 'path:/srv/nixpkgs-2405-mirror'])(
    'given nixpkgs %s (a supported release or no release name), then it is accepted',
    (nixpkgs) => expect(validateClusterDescription({ ...VALID, nixpkgs }).problems).toEqual([]),
  );

  test.each(['github:NixOS/nixpkgs/nixos-24.05', 'github:NixOS/nixpkgs/nixos-23.11', 'github:NixOS/nixpkgs/release-24.05', 'github:NixOS/nixpkgs/nixpkgs-24.05-darwin', 'github:NixOS/nixpkgs?ref=nixos-22.05&shallow=1', 'https://github.com/NixOS/nixpkgs/archive/nixos-24.05.tar.gz'])(
    'given nixpkgs %s (24.05 or older), then it is refused with the reason',
    (nixpkgs) => expect(validateClusterDescription({ ...VALID, nixpkgs }).problems).toEqual([{ field: 'nixpkgs', rule: expect.stringMatching(/must not name NixOS 24\.05 or older \(the pinned disko needs the nixpkgs lib of 24\.11/), value: nixpkgs }]),
  );

  test.each(INVALID_CASES.map((c) => [c.title, c] as const))('given %s, when validated, then the problem names the field', (_title, c) => {
    const { problems } = validateClusterDescription(invalid(c));
    expect(problems.map((p) => p.field)).toContain(c.field);
    for (const p of problems) expect(p.rule).toMatch(/\w/);
  });

  test('given at least 20 distinct invalid descriptions, then the table covers them', () => {
    expect(new Set(INVALID_CASES.map((c) => c.title)).size).toBeGreaterThanOrEqual(20);
  });

  test('given several problems, when validated, then all are reported at once, each with field, rule and value', () => {
    const d = { ...VALID, name: 'Bad_Name', vrrpRouterId: 300, workers: [{ name: 'cp-01', ip: '192.168.1.101' }] };
    const { problems } = validateClusterDescription(d);
    expect(problems).toEqual(
      expect.arrayContaining([
        expect.objectContaining({ field: 'name', value: 'Bad_Name' }),
        expect.objectContaining({ field: 'vrrpRouterId', value: 300 }),
        expect.objectContaining({ field: 'workers[0].name', value: 'cp-01', rule: expect.stringContaining('controlPlane[0].name') }),
        expect.objectContaining({ field: 'workers[0].ip', value: '192.168.1.101' }),
      ]),
    );
  });

  test('given a type error in one field and a rule broken in another, then both are reported', () => {
    const { problems } = validateClusterDescription({ ...VALID, vip: 42, vrrpRouterId: 0 });
    expect(problems.map((p) => p.field).sort()).toEqual(['vip', 'vrrpRouterId']);
  });

  test('given an even number of masters, then it is valid with a warning about etcd quorum', () => {
    const d = { ...VALID, controlPlane: VALID.controlPlane.slice(0, 2) };
    const result = validateClusterDescription(d);
    expect(result.problems).toEqual([]);
    expect(result.warnings.join()).toMatch(/even count.*odd/);
  });

  test('given a description that is not an object, then the problem says so', () => {
    expect(validateClusterDescription('cluster').problems).toEqual([expect.objectContaining({ rule: expect.stringContaining('must be an object') })]);
  });

  test('when assertValidClusterDescription fails, then its message lists every problem', () => {
    expect(() => assertValidClusterDescription({ ...VALID, vip: '192.168.1.0', vrrpRouterId: 0 })).toThrow(ClusterValidationError);
    expect(() => assertValidClusterDescription({ ...VALID, vip: '192.168.1.0', vrrpRouterId: 0 })).toThrow(/2 problems[\s\S]*(vip:[\s\S]*vrrpRouterId:|vrrpRouterId:[\s\S]*vip:)/);
  });
});

describe('sshPrivateKeyFile', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'nico-keys-'));
  afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));
  const keygen = (name: string, ...args: string[]) => {
    const file = path.join(dir, name);
    execFileSync('ssh-keygen', ['-q', '-f', file, '-C', '', ...args]);
    return file;
  };

  test('given an ED25519 OpenSSH key without passphrase, then it is accepted', () => {
    expect(validateClusterDescription({ ...VALID, sshPrivateKeyFile: keygen('ed', '-t', 'ed25519', '-N', '') }).problems).toEqual([]);
  });

  test('given an RSA key, then the problem says ED25519 is needed', () => {
    const { problems } = validateClusterDescription({ ...VALID, sshPrivateKeyFile: keygen('rsa', '-t', 'rsa', '-b', '2048', '-N', '') });
    expect(problems).toEqual([expect.objectContaining({ field: 'sshPrivateKeyFile', rule: expect.stringMatching(/ED25519.*found rsa/) })]);
  });

  test('given a key with a passphrase, then the problem says so without echoing the key', () => {
    const file = keygen('pass', '-t', 'ed25519', '-N', 'secret-phrase');
    const { problems } = validateClusterDescription({ ...VALID, sshPrivateKeyFile: file });
    expect(problems).toEqual([expect.objectContaining({ field: 'sshPrivateKeyFile', rule: expect.stringContaining('passphrase') })]);
    expect(JSON.stringify(problems)).not.toContain('PRIVATE KEY');
  });

  test('given a missing file, then the problem names the file', () => {
    const { problems } = validateClusterDescription({ ...VALID, sshPrivateKeyFile: path.join(dir, 'absent') });
    expect(problems).toEqual([expect.objectContaining({ field: 'sshPrivateKeyFile', rule: expect.stringContaining('ENOENT') })]);
  });
});
