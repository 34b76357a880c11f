import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { execFileSync, spawnSync } from 'child_process';
import { stringify as toYaml } from 'yaml';
import { ClusterFileError, loadClusterFile, synthesize } from '../main';
import { INVALID_CASES, invalid, VALID } from './fixtures/invalid-descriptions';

const ROOT = path.resolve(__dirname, '..');
let tmp: string;
beforeEach(() => (tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'nico-main-'))));
afterEach(() => fs.rmSync(tmp, { recursive: true, force: true }));

function writeClusterFile(content: unknown, name = 'cluster.yaml'): string {
  const file = path.join(tmp, name);
  fs.writeFileSync(file, typeof content === 'string' ? content : name.endsWith('.json') ? JSON.stringify(content) : toYaml(content));
  return file;
}

function run(file?: string) {
  const env = { NICO_CLUSTER_FILE: file, NICO_OUT_DIR: path.join(tmp, 'out'), CDKTF_OUTDIR: path.join(tmp, 'cdktf.out') };
  return { env, result: () => synthesize(env) };
}

describe('main.ts given a bad cluster file', () => {
  test.each(INVALID_CASES.map((c) => [c.title, c] as const))('given %s, then it fails naming the field and writes nothing', (_t, c) => {
    const { env, result } = run(writeClusterFile(invalid(c)));
    expect(result).toThrow(ClusterFileError);
    expect(result).toThrow(new RegExp(`- ${c.field.replace(/[[\].]/g, '\\$&')}: `));
    expect(fs.existsSync(env.NICO_OUT_DIR)).toBe(false);
    expect(fs.existsSync(env.CDKTF_OUTDIR)).toBe(false);
  });

  test('given a backend without organization, then the problem names backend.organization', () => {
    const file = writeClusterFile({ ...VALID, backend: { type: 'cloud', workspace: 'prod' } });
    expect(() => loadClusterFile(file)).toThrow(/backend\.organization: is required/);
  });

  test('given a file that is not YAML, then the problem says so', () => {
    expect(() => loadClusterFile(writeClusterFile('name: [unclosed'))).toThrow(/must be a readable YAML or JSON file/);
  });

  test('when run as a program, then it exits 1 with the problems on stderr and creates nothing', () => {
    const file = writeClusterFile({ ...VALID, vip: '192.168.1.255', workers: [{ name: 'minimal', ip: '192.168.1.201' }] });
    const out = path.join(tmp, 'out');
    const child = spawnSync('npx', ['ts-node', '--transpile-only', 'main.ts'], {
      cwd: ROOT,
      env: { ...process.env, NICO_CLUSTER_FILE: file, NICO_OUT_DIR: out, CDKTF_OUTDIR: path.join(tmp, 'cdktf.out') },
      encoding: 'utf8',
    });
    expect(child.status).toBe(1);
    expect(child.stderr).toMatch(/- vip: must not be the network or broadcast address/);
    expect(child.stderr).toMatch(/- workers\[0\]\.name: must not be "minimal"/);
    expect(fs.existsSync(out)).toBe(false);
  });
});

describe('main.ts given a good cluster file', () => {
  const stackJson = (env: { CDKTF_OUTDIR: string }, name: string) => JSON.parse(fs.readFileSync(path.join(env.CDKTF_OUTDIR, 'stacks', name, 'cdk.tf.json'), 'utf8'));

  test('given JSON, then the stack is named after the cluster, with local state in the output directory', () => {
    const { env, result } = run(writeClusterFile({ ...VALID, name: 'lab' }, 'cluster.json'));
    expect(result()).toEqual({ stackName: 'lab', outDir: env.NICO_OUT_DIR });
    const config = stackJson(env, 'lab');
    expect(config.terraform.backend.local.path).toBe(path.join(env.NICO_OUT_DIR, 'terraform.tfstate'));
    expect(config.module.cluster.output_dir).toBe(env.NICO_OUT_DIR);
  });

  test('given a cloud backend, then the stack uses HCP Terraform with that organization and workspace', () => {
    const { env, result } = run(writeClusterFile({ ...VALID, backend: { type: 'cloud', organization: 'acme', workspace: 'k3s-prod' } }));
    result();
    expect(stackJson(env, VALID.name).terraform.cloud).toEqual({ organization: 'acme', workspaces: { name: 'k3s-prod' } });
  });

  test('given no cluster file, then the embedded example is built with deploy off', () => {
    const { env, result } = run(undefined);
    expect(result().stackName).toBe('production-cluster');
    const config = stackJson(env, 'production-cluster');
    expect(config.module.cluster.control_plane.map((n: { name: string }) => n.name)).toEqual(['cp-01', 'cp-02', 'cp-03']);
    expect(config.module.cluster.workers.map((n: { name: string }) => n.name)).toEqual(['worker-01', 'worker-02']);
    expect(config.module.cluster.deploy).toBeUndefined(); // the module's default: off
  });

  test('given a relative NICO_OUT_DIR, then the stack refers to it relative to the stack directory', () => {
    const env = { NICO_CLUSTER_FILE: writeClusterFile(VALID), NICO_OUT_DIR: path.relative(process.cwd(), path.join(tmp, 'rel-out')), CDKTF_OUTDIR: path.join(tmp, 'cdktf.out') };
    synthesize(env);
    const stackDir = path.join(env.CDKTF_OUTDIR, 'stacks', VALID.name);
    expect(path.resolve(stackDir, stackJson(env, VALID.name).module.cluster.output_dir)).toBe(path.resolve(env.NICO_OUT_DIR));
  });
});

describe('main.ts reading a hostile cluster file', () => {
  /** Loads the file and returns the error it throws, with how long it took. */
  function refusal(file: string): { error: Error; ms: number } {
    const start = Date.now();
    try {
      loadClusterFile(file);
    } catch (e) {
      return { error: e as Error, ms: Date.now() - start };
    }
    throw new Error(`${file} was accepted`);
  }

  test.each([
    ['a FIFO', () => { const f = path.join(tmp, 'fifo'); execFileSync('mkfifo', [f]); return f; }],
    ['/dev/zero', () => '/dev/zero'],
    ['a directory', () => tmp],
    ['a symlink to /dev/zero', () => { const f = path.join(tmp, 'link'); fs.symlinkSync('/dev/zero', f); return f; }],
  ])('given %s, then it is refused at once as not a regular file', (_t, make) => {
    const { error, ms } = refusal(make());
    expect(error).toBeInstanceOf(ClusterFileError);
    expect(error.message).toMatch(/must be a regular file/);
    expect(ms).toBeLessThan(2000);
  });

  test('given a file larger than 1 MiB, then it is refused without being parsed', () => {
    const file = writeClusterFile(`name: x\n#${'a'.repeat(1024 * 1024)}\n`);
    expect(refusal(file).error.message).toMatch(/at most 1 MiB/);
  });

  test.each([
    ['a self-referencing alias', 'name: x\nvip: 192.168.1.100\ncontrolPlane: &a [*a]\n'],
    ['a mapping that contains itself', '&m\nname: x\nvip: 192.168.1.100\ncontrolPlane: []\nworkers: [*m]\n'],
    ['an alias bomb', 'a: &a [1,1,1,1,1,1,1,1,1,1]\nb: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a,*a]\nc: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b,*b]\nd: &d [*c,*c,*c,*c,*c,*c,*c,*c,*c,*c]\ne: [*d,*d,*d,*d,*d,*d,*d,*d,*d,*d]\n'],
  ])('given %s, then it is refused with a clear problem, not a crash', (_t, text) => {
    const { error, ms } = refusal(writeClusterFile(text));
    expect(error).toBeInstanceOf(ClusterFileError);
    expect(error.message).toMatch(/alias/);
    expect(ms).toBeLessThan(2000);
  });

  test('given a private key as the cluster file, then no line of the key is printed', () => {
    const key = path.join(tmp, 'id');
    execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', '', '-f', key]);
    const { error } = refusal(key);
    const secretLines = fs.readFileSync(key, 'utf8').split('\n').filter((l) => l && !l.startsWith('-----'));
    for (const line of secretLines) expect(error.message).not.toContain(line.slice(0, 12));
  });

  test('given a symlink to a shadow-like file, then its hashes are not printed', () => {
    const shadow = path.join(tmp, 'shadow');
    const hash = '$6$saltsaltsalt$' + 'h'.repeat(86);
    fs.writeFileSync(shadow, `root:${hash}:19000:0:99999:7:::\ndaemon:*:19000:0:99999:7:::\n`, { mode: 0o600 });
    const link = path.join(tmp, 'cluster.yaml');
    fs.symlinkSync(shadow, link);
    expect(refusal(link).error.message).not.toContain('$6$salt');
  });

  test('given a field holding a long secret, then at most a short cut excerpt of it is printed', () => {
    const secret = 'S3CRET'.repeat(500);
    const { error } = refusal(writeClusterFile({ ...VALID, name: secret, interface: secret, surprise: secret }));
    expect(error.message).toMatch(/- name: /);
    expect(error.message).toMatch(/- interface: /);
    const longestRun = Math.max(...(error.message.match(/(S3CRET)+/g) ?? ['']).map((s) => s.length));
    expect(longestRun).toBeLessThanOrEqual(48);
    expect(error.message.length).toBeLessThan(2000);
  });

  test.each([
    ['sshPrivateKeyFile', 'a FIFO'],
    ['flakeLockFile', 'a FIFO'],
    ['sshPrivateKeyFile', '/dev/zero'],
    ['flakeLockFile', '/dev/zero'],
  ])('given %s naming %s, then it is refused at once, naming the field', (field, kind) => {
    let file = '/dev/zero';
    if (kind === 'a FIFO') {
      file = path.join(tmp, `fifo-${field}`);
      execFileSync('mkfifo', [file]);
    }
    const { error, ms } = refusal(writeClusterFile({ ...VALID, [field]: file }));
    expect(error.message).toMatch(new RegExp(`- ${field}: must be a regular file`));
    expect(ms).toBeLessThan(2000);
  });

  test('given a flakeLockFile that is not JSON but a secret, then its content is not printed', () => {
    const lock = path.join(tmp, 'flake.lock');
    fs.writeFileSync(lock, 'TOPSECRETVALUE-not-json');
    const { error } = refusal(writeClusterFile({ ...VALID, flakeLockFile: lock }));
    expect(error.message).toMatch(/- flakeLockFile: must be a readable flake\.lock/);
    expect(error.message).not.toContain('TOPSECRET');
  });

  test('given a flakeLockFile larger than 1 MiB, then it is refused', () => {
    const lock = path.join(tmp, 'flake.lock');
    fs.writeFileSync(lock, JSON.stringify({ pad: 'x'.repeat(1024 * 1024) }));
    expect(refusal(writeClusterFile({ ...VALID, flakeLockFile: lock })).error.message).toMatch(/- flakeLockFile: .*at most 1 MiB/);
  });
});
