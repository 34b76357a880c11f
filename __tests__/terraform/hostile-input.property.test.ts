import * as fs from 'fs';
import * as path from 'path';
import { spawnSync } from 'child_process';
import * as fc from 'fast-check';
import { ClusterDescription, validateClusterDescription } from '../../constructs';
import { canonicalCluster } from '../../constructs/known-cluster-inputs';
import { hostileHostKey } from '../helpers/hostile';
import { synthApp, tempDir, terraform, terraformEnv, TERRAFORM } from '../helpers/terraform';

jest.setTimeout(10 * 60 * 1000);

/** Terraform keeps strings in Unicode NFC; "literally" means equal up to that normalisation. */
const nfc = (v: unknown): unknown =>
  typeof v === 'string' ? v.normalize('NFC') : Array.isArray(v) ? v.map(nfc) : v !== null && typeof v === 'object' ? Object.fromEntries(Object.entries(v).map(([k, x]) => [k, nfc(x)])) : v;

describe('hostile host key comments through main.ts and real terraform (property, one batch)', () => {
  const work = tempDir('tf-hostile');
  afterAll(() => fs.rmSync(work, { recursive: true, force: true }));

  test('given 30 accepted hostile comments, when Terraform evaluates local.cluster, then every value is the given one', () => {
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
    terraform(stackDir, ['init', '-input=false']);
    const r = spawnSync(TERRAFORM, [`-chdir=${stackDir}`, 'console'], { input: 'base64encode(jsonencode(local.cluster))\n', env: terraformEnv(), encoding: 'utf8' });
    expect(r.status).toBe(0);
    const evaluated = JSON.parse(Buffer.from(JSON.parse(r.stdout.trim()), 'base64').toString('utf8'));
    expect(evaluated).toEqual(nfc(canonicalCluster(d)));
  });
});
