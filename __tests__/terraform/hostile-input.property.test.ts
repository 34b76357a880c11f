import * as fs from 'fs';
import * as path from 'path';
import { spawnSync } from 'child_process';
import * as fc from 'fast-check';
import { ClusterDescription, validateClusterDescription } from '../../constructs';
import { hostileHostKey } from '../helpers/hostile';
import { asModuleVariables } from '../helpers/module-root';
import { synthApp, tempDir, terraform, terraformEnv, TERRAFORM } from '../helpers/terraform';

jest.setTimeout(10 * 60 * 1000);

/** Terraform keeps strings in Unicode NFC; "literally" means equal up to that normalisation. */
const nfc = (v: unknown): unknown =>
  typeof v === 'string' ? v.normalize('NFC') : Array.isArray(v) ? v.map(nfc) : v !== null && typeof v === 'object' ? Object.fromEntries(Object.entries(v).map(([k, x]) => [k, nfc(x)])) : v;

describe('hostile host key comments through main.ts and real terraform (property, one batch)', () => {
  const work = tempDir('tf-hostile');
  afterAll(() => fs.rmSync(work, { recursive: true, force: true }));

  test('given 30 accepted hostile comments, when Terraform evaluates the arguments of the cluster\'s module call, then every value is the given one', () => {
    const node = (name: string, ip: string, hostKey: string) => ({ name, ip, hostKey });
    const accepted = (hostKey: string) => validateClusterDescription({ name: 'x', vip: '10.30.0.10', gateway: '10.30.0.1', controlPlane: [node('a', '10.30.0.11', hostKey)] }).problems.length === 0;
    const keys = fc.sample(hostileHostKey.filter(accepted), { numRuns: 30, seed: 10 });
    expect(keys.some((k) => k.includes('${'))).toBe(true);
    const d: ClusterDescription = {
      name: 'hostile',
      vip: '10.30.255.250',
      prefixLength: 16,
      gateway: '10.30.0.1',
      controlPlane: keys.slice(0, 7).map((k, i) => node(`cp-${i}`, `10.30.0.${11 + i}`, k)),
      workers: keys.slice(7).map((k, i) => node(`w-${i}`, `10.30.1.${11 + i}`, k)),
    };
    const { stackDir } = synthApp(d, work); // through main.ts, from a YAML cluster file
    // The module call as main.ts synthesized it, pointed at a module that returns its arguments as
    // Terraform evaluated them.
    const config = JSON.parse(fs.readFileSync(path.join(stackDir, 'cdk.tf.json'), 'utf8'));
    const { source: _source, '//': _meta, output_dir: _out, module_address: _address, ...args } = config.module.cluster;
    const echo = path.join(work, 'echo');
    fs.mkdirSync(echo);
    fs.writeFileSync(path.join(echo, 'main.tf.json'), JSON.stringify({
      variable: Object.fromEntries(Object.keys(args).map((k) => [k, { type: 'any' }])),
      output: { all: { value: Object.fromEntries(Object.keys(args).map((k) => [k, `\${var.${k}}`])) } },
    }));
    const root = path.join(work, 'root');
    fs.mkdirSync(root);
    fs.writeFileSync(path.join(root, 'main.tf.json'), JSON.stringify({ module: { cluster: { ...args, source: '../echo' } } }));
    terraform(root, ['init', '-input=false']);
    const r = spawnSync(TERRAFORM, [`-chdir=${root}`, 'console'], { input: 'base64encode(jsonencode(module.cluster.all))\n', env: terraformEnv(), encoding: 'utf8' });
    expect(r.status).toBe(0);
    const evaluated = JSON.parse(Buffer.from(JSON.parse(r.stdout.trim()), 'base64').toString('utf8'));
    expect(evaluated).toEqual(nfc(asModuleVariables(d)));
  });
});

describe('the app given paths with quotes and template sequences', () => {
  const work = tempDir('tf-hostile-paths');
  afterAll(() => fs.rmSync(work, { recursive: true, force: true }));

  test('when applied, then Terraform reads the key and lock files and writes state and tree where the paths say', () => {
    const dir = path.join(work, 'in ${path.cwd} %{ if true }x%{ endif } "q\'');
    fs.mkdirSync(dir);
    const key = path.join(dir, 'machine-key');
    spawnSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', '', '-f', key]);
    const lock = path.join(dir, 'flake.lock');
    fs.writeFileSync(lock, '{"nodes":{"root":{}},"root":"root","version":7}');
    const file = path.join(work, 'cluster.yaml');
    fs.writeFileSync(file, JSON.stringify({ name: 'paths', vip: '10.40.0.10', gateway: '10.40.0.1', controlPlane: [{ name: 'a', ip: '10.40.0.11' }], sshPrivateKeyFile: key, flakeLockFile: lock }));
    const out = path.join(work, 'out ${path.root} %{x}');
    const env = { NICO_CLUSTER_FILE: file, NICO_OUT_DIR: out, CDKTF_OUTDIR: path.join(work, 'cdktf.out') };
    const { synthesize } = jest.requireActual('../../main');
    synthesize(env);
    const stackDir = path.join(env.CDKTF_OUTDIR, 'stacks', 'paths');
    terraform(stackDir, ['init', '-input=false']);
    terraform(stackDir, ['apply', '-input=false', '-auto-approve']);
    expect(fs.readFileSync(path.join(out, 'nix', 'machine-ssh-private-key'), 'utf8')).toBe(fs.readFileSync(key, 'utf8'));
    expect(fs.readFileSync(path.join(out, 'nix', 'flake.lock'), 'utf8')).toBe(fs.readFileSync(lock, 'utf8'));
    expect(fs.readFileSync(path.join(out, 'terraform.tfstate'), 'utf8')).toContain('random_password');
  });
});
