import * as fs from 'fs';
import * as path from 'path';
import { execFileSync } from 'child_process';
import { ClusterDescription } from '../../constructs';
import { TEMPLATE_NIXPKGS_REF } from '../../constructs';
import { listFiles, NIX_TEMPLATES_DIR } from '../../constructs/internal';
import { VALID } from '../fixtures/invalid-descriptions';
import { nixEval } from '../helpers/nix';
import { flakeEval, removeStandins, SUPPORTED_RELEASES } from '../helpers/nixos-eval';
import { stateResources, synthApp, tempDir, terraform, treeModes } from '../helpers/terraform';

jest.setTimeout(10 * 60 * 1000);

describe('the app applied with deploy off', () => {
  const work = tempDir('tf-app');
  afterAll(() => {
    fs.rmSync(work, { recursive: true, force: true });
    removeStandins();
  });
  let stackDir: string;
  let tree: string;

  beforeAll(() => {
    const synth = synthApp(VALID, work);
    stackDir = synth.stackDir;
    tree = path.join(synth.outDir, 'nix');
    terraform(stackDir, ['init', '-input=false']);
  });

  test('when validated and planned, then terraform accepts the synthesized stack', () => {
    terraform(stackDir, ['validate']);
    const plan = terraform(stackDir, ['plan', '-input=false', '-no-color']);
    expect(plan.stdout).toMatch(/Plan: \d+ to add, 0 to change, 0 to destroy/);
    // deploy is off: no node is touched (input_checks only holds the module's preconditions)
    expect(plan.stdout.replace(/module\.cluster\.terraform_data\.input_checks/g, '')).not.toMatch(/terraform_data\./);
    expect(plan.stdout).toMatch(/# module\.cluster\.random_password\.join_token will be created/);
  });

  test('when applied, then the tree has the NICO layout with root-only directories and 0600 secrets', () => {
    terraform(stackDir, ['apply', '-input=false', '-auto-approve']);
    const modes = treeModes(tree);
    const expected: Record<string, string> = { 'nodes/': '0700', 'cluster.nix': '0644', 'machine-ssh-public-key': '0644', 'machine-ssh-private-key': '0600', 'join-token': '0600' };
    for (const f of listFiles(NIX_TEMPLATES_DIR)) expected[f] = '0644';
    expect(modes).toEqual(expected);
    expect((fs.statSync(tree).mode & 0o777).toString(8)).toBe('700');
  });

  test('then ssh-keygen derives an ssh-ed25519 public key equal to the stack output', () => {
    const derived = execFileSync('ssh-keygen', ['-y', '-f', path.join(tree, 'machine-ssh-private-key')], { encoding: 'utf8' }).trim();
    const output = JSON.parse(terraform(stackDir, ['output', '-json', 'ssh_public_key']).stdout).trim();
    expect(derived).toMatch(/^ssh-ed25519 AAAA/);
    expect(derived).toBe(output);
    expect(fs.readFileSync(path.join(tree, 'machine-ssh-public-key'), 'utf8').trim()).toBe(output);
  });

  test("then the token file holds exactly the state's token", () => {
    const token = stateResources(stackDir).find((r) => r.address === 'module.cluster.random_password.join_token')!.values.result;
    expect(token).toMatch(/^[A-Za-z0-9]{48}$/);
    expect(fs.readFileSync(path.join(tree, 'join-token'), 'utf8')).toBe(token);
  });

  test("then cluster.nix evaluates to the description's name, vip, controlPlane and workers", () => {
    const cluster = nixEval<any>({ file: path.join(tree, 'cluster.nix') });
    expect({ name: cluster.name, vip: cluster.vip, controlPlane: cluster.controlPlane, workers: cluster.workers }).toEqual({
      name: VALID.name,
      vip: VALID.vip,
      controlPlane: VALID.controlPlane,
      workers: VALID.workers,
    });
    expect(cluster).toMatchObject({ prefixLength: 24, gateway: '192.168.1.1', nameservers: ['8.8.8.8'], interface: 'eth0', vrrpRouterId: 51 });
  });

  test.each(SUPPORTED_RELEASES.map((r) => [r.name, r] as const))('then the written tree, with its default inputs, evaluates through its own flake.nix on NixOS %s: every node and minimal', (_, release) => {
    const systems = flakeEval<Record<string, string>>(tree, 'nixosConfigurations', { release, apply: 'cs: builtins.mapAttrs (_: c: c.config.system.build.toplevel) cs' });
    const nodes = [...VALID.controlPlane, ...(VALID.workers ?? [])].map((n) => n.name);
    expect(Object.keys(systems).sort()).toEqual([...nodes, 'minimal'].sort());
    for (const toplevel of Object.values(systems)) expect(toplevel).toBe('nixos-system-stand-in');
  });

  test('then the static flake files are copied verbatim', () => {
    for (const f of listFiles(NIX_TEMPLATES_DIR)) {
      expect(fs.readFileSync(path.join(tree, f), 'utf8')).toBe(fs.readFileSync(path.join(NIX_TEMPLATES_DIR, f), 'utf8'));
    }
  });

  test('when applied again, then Terraform has nothing to change', () => {
    expect(terraform(stackDir, ['plan', '-input=false', '-detailed-exitcode'], { allowFailure: true }).status).toBe(0);
    expect(terraform(stackDir, ['apply', '-input=false', '-auto-approve', '-no-color']).stdout).toMatch(/0 added, 0 changed, 0 destroyed/);
  });
});

describe('the app given a key file, a nixpkgs pin, a flake.lock and non-default settings', () => {
  const work = tempDir('tf-app-given');
  afterAll(() => fs.rmSync(work, { recursive: true, force: true }));

  test('when applied, then the tree uses the given key, pin and lock, and cluster.nix carries the settings', () => {
    const key = path.join(work, 'machine-key');
    execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', '', '-f', key]);
    const lock = path.join(work, 'flake.lock');
    fs.writeFileSync(lock, JSON.stringify({ nodes: { root: {} }, root: 'root', version: 7 }));
    const pin = 'github:NixOS/nixpkgs/0bd7f95e4588643f2c2d403b38d8a2fe44b0fc73';
    const description: ClusterDescription = {
      name: 'lab',
      vip: '10.20.255.250',
      prefixLength: 16,
      gateway: '10.20.0.1',
      nameservers: ['10.20.0.2', '1.1.1.1'],
      interface: 'ens18',
      vrrpRouterId: 99,
      nixpkgs: pin,
      sshPrivateKeyFile: key,
      flakeLockFile: lock,
      controlPlane: [{ name: 'm1', ip: '10.20.1.1', disk: '/dev/vda' }],
    };
    const { stackDir, outDir } = synthApp(description, work);
    expect(fs.readFileSync(path.join(stackDir, 'cdk.tf.json'), 'utf8')).not.toContain('PRIVATE KEY');
    terraform(stackDir, ['init', '-input=false']);
    terraform(stackDir, ['apply', '-input=false', '-auto-approve']);
    const tree = path.join(outDir, 'nix');

    expect(fs.readFileSync(path.join(tree, 'machine-ssh-private-key'), 'utf8')).toBe(fs.readFileSync(key, 'utf8'));
    expect(fs.readFileSync(path.join(tree, 'machine-ssh-public-key'), 'utf8').trim()).toBe(fs.readFileSync(`${key}.pub`, 'utf8').trim());
    expect(fs.readFileSync(path.join(tree, 'flake.lock'), 'utf8')).toBe(fs.readFileSync(lock, 'utf8'));
    const flake = fs.readFileSync(path.join(tree, 'flake.nix'), 'utf8');
    expect(flake).toContain(`"${pin}"`);
    expect(flake).not.toContain(`"${TEMPLATE_NIXPKGS_REF}"`);
    expect(nixEval<any>({ file: path.join(tree, 'cluster.nix') })).toEqual({
      name: 'lab',
      vip: '10.20.255.250',
      controlPlane: [{ name: 'm1', ip: '10.20.1.1', disk: '/dev/vda' }],
      workers: [],
      prefixLength: 16,
      gateway: '10.20.0.1',
      nameservers: ['10.20.0.2', '1.1.1.1'],
      interface: 'ens18',
      vrrpRouterId: 99,
      initNode: 'm1',
    });
    expect(stateResources(stackDir).map((r) => r.address)).not.toContain('module.cluster.tls_private_key.machine[0]');
  });
});
