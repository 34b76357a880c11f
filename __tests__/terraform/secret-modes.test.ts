import * as fs from 'fs';
import * as path from 'path';
import { spawnSync } from 'child_process';
import { stringify as toYaml } from 'yaml';
import { VALID } from '../fixtures/invalid-descriptions';
import { tempDir, terraformEnv } from '../helpers/terraform';

jest.setTimeout(10 * 60 * 1000);
const ROOT = path.resolve(__dirname, '..', '..');
const mode = (p: string) => (fs.statSync(p).mode & 0o777).toString(8).padStart(4, '0');

describe('npm run demo, run by a user whose umask lets everyone read new files', () => {
  const work = tempDir('demo-modes');
  const out = path.join(work, 'out');
  afterAll(() => fs.rmSync(work, { recursive: true, force: true }));

  /** scripts/demo.sh as `npm run demo` runs it, under umask 022, on a cluster file of its own. */
  function demo(description: object): void {
    const file = path.join(work, 'cluster.yaml');
    fs.writeFileSync(file, toYaml(description));
    const env = terraformEnv({ NICO_CLUSTER_FILE: file, NICO_OUT_DIR: out, CDKTF_OUTDIR: path.join(work, 'cdktf.out') });
    const r = spawnSync('sh', ['-c', 'umask 022 && exec bash scripts/demo.sh'], { cwd: ROOT, env, encoding: 'utf8' });
    if (r.status !== 0) throw new Error(`demo failed (${r.status}):\n${r.stdout.slice(-3000)}\n${r.stderr.slice(-3000)}`);
  }

  test('when applied, then the output directory is 0700 and the state 0600', () => {
    demo(VALID);
    expect(mode(out)).toBe('0700');
    expect(mode(path.join(out, 'terraform.tfstate'))).toBe('0600');
    expect(mode(path.join(out, 'nix'))).toBe('0700');
    expect(fs.readFileSync(path.join(out, 'terraform.tfstate'), 'utf8')).toContain('random_password');
  });

  test('when applied again with a change, then the state backup Terraform writes is 0600 too', () => {
    demo({ ...VALID, workers: [...(VALID.workers ?? []), { name: 'worker-03', ip: '192.168.1.203' }] });
    const backup = path.join(out, 'terraform.tfstate.backup');
    expect(fs.readFileSync(backup, 'utf8')).toContain('random_password');
    expect(mode(backup)).toBe('0600');
    expect(mode(path.join(out, 'terraform.tfstate'))).toBe('0600');
    expect(mode(out)).toBe('0700');
  });
});
