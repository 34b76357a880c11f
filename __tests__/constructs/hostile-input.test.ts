import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { execFileSync } from 'child_process';
import { Testing } from 'cdktf';
import { ClusterDescription, NicoClusterStack, validateClusterDescription } from '../../constructs';
import { terraformStringLiteral } from '../../constructs/terraform-literal';
import { VALID } from '../fixtures/invalid-descriptions';

const KEY = 'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIE1xZ7';

function synth(description: ClusterDescription, outputDir = '/tmp/nico-synth-test') {
  const app = Testing.app();
  const stack = new NicoClusterStack(app, 'test', { description, outputDir });
  return JSON.parse(Testing.synth(stack)).module.cluster;
}

const problemsOf = (d: unknown) => validateClusterDescription(d).problems.map((p) => `${p.field}: ${p.rule}`);

describe('NicoCluster given template sequences in values', () => {
  test('given a host key comment with ${...} and %{...}, when synthesized, then both are escaped, never evaluated', () => {
    const hostKey = `${KEY} \${join(",", fileset("/etc/ssh", "*key"))} %{ if true }x%{ endif }`;
    const config = synth({ ...VALID, controlPlane: [{ ...VALID.controlPlane[0], hostKey }, ...VALID.controlPlane.slice(1)] });
    expect(config.control_plane[0].host_key).toBe(`${KEY} $\${join(",", fileset("/etc/ssh", "*key"))} %%{ if true }x%%{ endif }`);
  });

  test('given an output directory with ${...}, when synthesized, then the module\'s output_dir is escaped', () => {
    const config = synth(VALID, '/tmp/${path.cwd}/%{x}');
    expect(config.output_dir).toBe('/tmp/$${path.cwd}/%%{x}');
  });

  test('given key and lock file paths with quotes and template sequences, then file() reads them as escaped string literals', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'nico-paths-${x}%{y}"q-'));
    const key = path.join(dir, 'key');
    execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', '', '-f', key]);
    const lock = path.join(dir, 'flake.lock');
    fs.writeFileSync(lock, '{"nodes":{"root":{}},"root":"root","version":7}');
    const config = synth({ ...VALID, sshPrivateKeyFile: key, flakeLockFile: lock });
    const escaped = (p: string) => JSON.stringify(p).split('${x}').join('$${x}').split('%{y}').join('%%{y}');
    expect(terraformStringLiteral(key)).toBe(escaped(key));
    expect(config.ssh_private_key).toBe(`\${sensitive(file(${escaped(key)}))}`);
    expect(config.flake_lock).toBe(`\${file(${escaped(lock)})}`);
    fs.rmSync(dir, { recursive: true, force: true });
  });

  test('given a description whose strings hold cdktf token markers, when synthesized, then no other value of the app is substituted', () => {
    const config = synth(VALID, '/tmp/#{TfToken[TOKEN.3]}/&{TfToken[TOKEN.4]}/${TfToken[TOKEN.5]}');
    expect(JSON.stringify(config.output_dir)).toContain('TfToken[TOKEN.3]');
    expect(JSON.stringify(config.output_dir)).toContain('TfToken[TOKEN.5]');
  });
});

describe('validation of values with no use for special characters', () => {
  test.each([
    ['a newline in a host key comment', { hostKey: `${KEY} a\nb` }],
    ['a carriage return in a host key comment', { hostKey: `${KEY} a\rb` }],
    ['a host key type that is not one', { hostKey: 'ssh-evil AAAA' }],
    ['a host key with two spaces before the key', { hostKey: 'ssh-ed25519  AAAA' }],
  ])('given %s, then controlPlane[0].hostKey is refused', (_t, patch) => {
    const d = { ...VALID, controlPlane: [{ ...VALID.controlPlane[0], ...patch }, ...VALID.controlPlane.slice(1)] };
    expect(problemsOf(d).join('\n')).toMatch(/^controlPlane\[0\]\.hostKey: /m);
  });

  test.each([
    ['sshHost starting with "-" (an ssh option)', { sshHost: '-oProxyCommand' }],
    ['sshHost of 300 characters', { sshHost: 'a'.repeat(300) }],
  ])('given %s, then controlPlane[0].sshHost is refused', (_t, patch) => {
    const d = { ...VALID, controlPlane: [{ ...VALID.controlPlane[0], ...patch }, ...VALID.controlPlane.slice(1)] };
    expect(problemsOf(d).join('\n')).toMatch(/^controlPlane\[0\]\.sshHost: /m);
  });

  test('given a nixpkgs reference with a control character, then nixpkgs is refused', () => {
    expect(problemsOf({ ...VALID, nixpkgs: 'github:NixOS/nixpkgs\u0007' }).join('\n')).toMatch(/^nixpkgs: /m);
  });
});

describe('validation of dangerous values', () => {
  test.each(['/', '/nix', '/nix/', '/etc', '/etc/', '/root', '/usr', '/usr/local', '/nix/store', '/nix/var/nix', '/etc/nico/..', '/etc/./nico', '/etc/nico/../..', '//etc', '/etc//', '/var', '/boot/nico', '/proc/x', '/sys/x', '/dev/x', '/tmp/nico', '/var/tmp/nico', '/etc/ssh', '/etc/nixos', '/var/lib', '/home', '/run/nico', '/bin/x'])(
    'given remoteFlakeDir %j, then it is refused',
    (dir) => {
      expect(problemsOf({ ...VALID, remoteFlakeDir: dir }).join('\n')).toMatch(/^remoteFlakeDir: /m);
    },
  );

  test.each(['/etc/nico/flake', '/var/lib/nico/flake', '/srv/cluster', '/opt/nico', '/etc/nico/.flake', '/etc/nico/..flake'])('given remoteFlakeDir %j, then it is accepted', (dir) => {
    expect(problemsOf({ ...VALID, remoteFlakeDir: dir })).toEqual([]);
  });

  test.each(['.', '..'])('given interface %j, then it is refused', (name) => {
    expect(problemsOf({ ...VALID, interface: name }).join('\n')).toMatch(/^interface: /m);
  });

  test.each([
    ['the VIP', '192.168.1.100', /must not be the vip/],
    ['a node IP', '192.168.1.202', /must not be the ip of a node \(it is workers\[1\]\.ip\)/],
    ['the network address', '192.168.1.0', /network or broadcast/],
    ['the broadcast address', '192.168.1.255', /network or broadcast/],
  ])('given a gateway equal to %s, then gateway is refused', (_t, gateway, rule) => {
    const problems = problemsOf({ ...VALID, gateway });
    expect(problems.filter((p) => p.startsWith('gateway: '))).toEqual([expect.stringMatching(rule)]);
  });

  test('given a default gateway equal to a node IP, then gateway is refused and says it is the default', () => {
    const d = { ...VALID, controlPlane: [{ name: 'cp-01', ip: '192.168.1.1' }], workers: [] };
    expect(problemsOf(d).join('\n')).toMatch(/^gateway: must not be the ip of a node.*default/m);
  });

  test('given two nodes with the same sshHost:sshPort, then the second is refused naming the first', () => {
    const d = {
      ...VALID,
      controlPlane: [
        { name: 'cp-01', ip: '192.168.1.101', sshHost: '127.0.0.1', sshPort: 2201 },
        { name: 'cp-02', ip: '192.168.1.102', sshHost: '127.0.0.1', sshPort: 2202 },
      ],
      workers: [{ name: 'w-01', ip: '192.168.1.201', sshHost: '127.0.0.1', sshPort: 2201 }],
    };
    expect(problemsOf(d)).toEqual([expect.stringMatching(/^workers\[0\]\.sshHost: .*unique.*controlPlane\[0\]/)]);
  });

  test('given a node whose sshHost and port default to those of another node, then it is refused', () => {
    const d = { ...VALID, workers: [{ name: 'w-01', ip: '192.168.1.201', sshHost: '192.168.1.101', sshPort: 22 }] };
    expect(problemsOf(d)).toEqual([expect.stringMatching(/^workers\[0\]\.sshHost: .*controlPlane\[0\]/)]);
  });
});

describe('the node attributes the HCL module accepts', () => {
  test('then they are the documented node type and the fields of a node description, so a new field cannot be forgotten in the shape rule', () => {
    const { HCL_NODE_ATTRIBUTES } = jest.requireActual('../../constructs/cluster-rules');
    const { NODE_TYPE } = jest.requireActual('../../constructs/variable-cluster-inputs');
    const { clusterDescriptionSchema } = jest.requireActual('../../constructs/validate-cluster-description');
    const documented = [...(NODE_TYPE as string).matchAll(/^\s*(\w+)\s*=/gm)].map((m) => m[1]);
    const described = Object.keys(clusterDescriptionSchema.shape.controlPlane.element.shape).map((k) => k.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`));
    expect([...HCL_NODE_ATTRIBUTES].sort()).toEqual(documented.sort());
    expect([...HCL_NODE_ATTRIBUTES].sort()).toEqual(described.sort());
  });
});
