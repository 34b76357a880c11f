import { createHash, randomBytes } from 'crypto';
import * as fs from 'fs';
import * as path from 'path';
import { spawnSync } from 'child_process';
import { ClusterDescription } from '../../constructs';
import { tempDir } from '../helpers/terraform';
import { Call, TestLab } from './harness';
import { expectNoSecretPrintedInAnyScenario } from './harness/secrets';
import { ClusterRuns, startClusterLab, switches } from './support';

jest.setTimeout(20 * 60 * 1000);

// etcd snapshots before risky changes: the stand-in `k3s etcd-snapshot` (standins/k3s-etcd-snapshot.sh)
// records every save with what it saved, and the stand-in nixos-rebuild every switch, with times.
const MASTERS = ['cp-01', 'cp-02', 'cp-03'];
const WORKERS = ['w-01'];
const ADDRESS: Record<string, string> = { 'cp-01': '127.0.0.41', 'cp-02': '127.0.0.42', 'cp-03': '127.0.0.43', 'w-01': '127.0.0.51' };

let lab: TestLab;
let runs: ClusterRuns;
const work = tempDir('e2e-backups');
const secretFile = path.join(work, 'etcd-s3-secret');
const caFile = path.join(work, 's3-ca.pem');
const SECRET_KEY = randomBytes(30).toString('base64');

beforeAll(async () => {
  ({ lab, runs } = await startClusterLab(work, ADDRESS, (name) => MASTERS.includes(name)));
  fs.writeFileSync(secretFile, `${SECRET_KEY}\n`, { mode: 0o600 });
  const ca = spawnSync('openssl', ['req', '-x509', '-newkey', 'ed25519', '-nodes', '-subj', '/CN=nico test s3 ca', '-days', '1', '-keyout', path.join(work, 'ca.key'), '-out', caFile], { encoding: 'utf8' });
  if (ca.status !== 0) throw new Error(`openssl failed: ${ca.stderr}`);
});

// Issue 25: no scenario's plan or apply output holds a secret of the state (harness/secrets.ts).
expectNoSecretPrintedInAnyScenario(() => lab);

afterAll(async () => {
  await lab?.stop();
  fs.rmSync(work, { recursive: true, force: true });
});

const cluster = (extra: Partial<ClusterDescription> = {}, patch = {}) => runs.description('backups', MASTERS, WORKERS, patch, { readyTimeoutSeconds: 10, sshConnectTimeoutSeconds: 3, ...extra });

async function apply(d: ClusterDescription) {
  lab.clearCalls();
  const result = await runs.apply(d);
  return { ...result, calls: lab.calls() };
}

const saves = (calls: Call[]) => calls.filter((c) => c.command === 'k3s' && c.args[0] === 'etcd-snapshot' && c.args[1] === 'save');
const controlPlaneSwitches = (calls: Call[]) => switches(calls).filter((c) => MASTERS.includes(c.node));
/** The pre_change_snapshot output; Terraform keeps no output whose value is null, so "not found" is null. */
async function output(d: ClusterDescription): Promise<string | null> {
  const r = await runs.tf(d, 'output', '-json', 'pre_change_snapshot');
  if (r.code !== 0 && /not found/i.test(r.output)) return null;
  return JSON.parse(r.stdout) as string | null;
}
const failSnapshots = (node: string, fail: boolean) => {
  const marker = `${lab.node(node).controlFile}.etcd-snapshot`;
  if (fail) fs.writeFileSync(marker, 'fail\n');
  else fs.rmSync(marker, { force: true });
};

describe('a 3+1 cluster with snapshots before changes (the default)', () => {
  test('when it is first deployed, then no snapshot is taken: nothing runs the cluster yet', async () => {
    const result = await apply(cluster());
    if (result.code !== 0) process.stderr.write(result.output.slice(-4000));
    expect(result.code).toBe(0);
    expect(saves(result.calls)).toEqual([]);
    expect(result.output).toContain('nico: etcd-snapshot: no control-plane node runs this cluster yet: nothing to snapshot');
    expect(await runs.planExitCode(cluster())).toBe(0);
  });

  test('when a change reaches the control plane, then one snapshot is saved on the init node before the first control-plane switch, its name printed and kept as an output', async () => {
    const d = cluster({ nameservers: ['127.0.0.53'] });
    const result = await apply(d);
    if (result.code !== 0) process.stderr.write(result.output.slice(-4000));
    expect(result.code).toBe(0);
    const [save, ...more] = saves(result.calls);
    expect(more).toEqual([]);
    expect(save.node).toBe('cp-01');
    expect(save.exit).toBe(0);
    const name = await output(d);
    expect(name).toMatch(/^pre-apply-\d{8}-\d{6}$/);
    expect(save.args).toEqual(['etcd-snapshot', 'save', '--name', name]);
    expect(save.snapshot!.name).toMatch(new RegExp(`^${name}-cp-01-\\d+$`));
    expect(result.output).toContain(`nico: etcd-snapshot: saved ${save.snapshot!.name} on cp-01 before changing the control plane`);
    const first = Math.min(...controlPlaneSwitches(result.calls).map((c) => c.start));
    expect(controlPlaneSwitches(result.calls)).toHaveLength(3);
    expect(save.end).toBeLessThanOrEqual(first);
    expect(await runs.planExitCode(d)).toBe(0);
  });

  test('when a change reaches only a worker, then no snapshot is taken and the output keeps the last one', async () => {
    const before = await output(cluster({ nameservers: ['127.0.0.53'] }));
    const d = cluster({ nameservers: ['127.0.0.53'] }, { 'w-01': { labels: { tier: 'batch' } } });
    const result = await apply(d);
    expect(result.code).toBe(0);
    expect(saves(result.calls)).toEqual([]);
    expect(switches(result.calls).map((c) => c.node)).toEqual(['w-01']);
    expect(await output(d)).toBe(before);
  });

  test('when the snapshot fails, then the apply stops before any node is switched, and the next apply snapshots and rolls', async () => {
    failSnapshots('cp-01', true);
    const d = cluster({ nameservers: ['127.0.0.54'] }, { 'w-01': { labels: { tier: 'batch' } } });
    const failed = await apply(d);
    expect(failed.code).not.toBe(0);
    expect(failed.output).toContain('stand-in failure for cp-01');
    expect(failed.output).toMatch(/k3s etcd-snapshot save failed on cp-01 \(exit 1\); no control-plane node was changed/);
    expect(switches(failed.calls)).toEqual([]);
    expect(saves(failed.calls).map((c) => [c.node, c.exit])).toEqual([['cp-01', 1]]);

    failSnapshots('cp-01', false);
    const again = await apply(d);
    if (again.code !== 0) process.stderr.write(again.output.slice(-4000));
    expect(again.code).toBe(0);
    expect(saves(again.calls).map((c) => [c.node, c.exit])).toEqual([['cp-01', 0]]);
    expect(controlPlaneSwitches(again.calls)).toHaveLength(3);
    expect(await runs.planExitCode(d)).toBe(0);
  });

  test('when the init node cannot take it (its k3s is down), then the next healthy control-plane node does', async () => {
    // cp-01 keeps running, but its k3s API answers nothing (the stand-ins' broken marker).
    fs.writeFileSync(`${lab.node('cp-01').controlFile}.broken`, '');
    try {
      const d = cluster({ nameservers: ['127.0.0.55'] }, { 'w-01': { labels: { tier: 'batch' } } });
      lab.clearCalls();
      await runs.tf(d, 'init', '-input=false');
      const result = await runs.tf(d, 'apply', '-input=false', '-auto-approve', '-no-color', '-target=module.cluster.terraform_data.pre_change_snapshot');
      if (result.code !== 0) process.stderr.write(result.output.slice(-4000));
      expect(result.code).toBe(0);
      expect(result.output).toContain('cp-01 runs this cluster but its API is not ready; trying the next control-plane node');
      expect(saves(lab.calls()).map((c) => [c.node, c.exit])).toEqual([['cp-02', 0]]);
    } finally {
      fs.rmSync(`${lab.node('cp-01').controlFile}.broken`, { force: true });
    }
  });

  test('when S3 is configured, then the snapshot goes to the bucket with the apply\'s settings and the secret key arrives only in its environment', async () => {
    const d = cluster(
      {
        nameservers: ['127.0.0.55'],
        etcdSnapshots: { s3: { bucket: 'nico-backups', endpoint: 'minio.example.com:9000', region: 'eu-central-1', folder: 'prod/etcd', endpointCaFile: caFile, accessKeyId: 'AKIANICOTEST0001', secretAccessKeyFile: secretFile } },
      },
      { 'w-01': { labels: { tier: 'batch' } } },
    );
    const result = await apply(d);
    if (result.code !== 0) process.stderr.write(result.output.slice(-4000));
    expect(result.code).toBe(0);
    const [save, ...more] = saves(result.calls);
    expect(more).toEqual([]);
    expect(save.snapshot).toMatchObject({
      s3: true,
      bucket: 'nico-backups',
      endpoint: 'minio.example.com:9000',
      region: 'eu-central-1',
      folder: 'prod/etcd',
      endpointCa: fs.readFileSync(caFile, 'utf8').trimEnd(),
      accessKeyId: 'AKIANICOTEST0001',
      secretKeySha256: createHash('sha256').update(SECRET_KEY).digest('hex'),
    });
    for (const c of result.calls) expect(c.args.join(' ')).not.toContain(SECRET_KEY);
    expect(result.output).not.toContain(SECRET_KEY);
    // The servers got the environment file for k3s's own scheduled copies, root-only.
    const sw = controlPlaneSwitches(result.calls).find((c) => c.node === 'cp-02')!;
    expect(sw.flake!.secrets).toEqual(expect.arrayContaining([expect.objectContaining({ path: 'etcd-s3.env', mode: '600', owner: 'root' }), expect.objectContaining({ path: 'etcd-s3-endpoint-ca.pem', mode: '600' })]));
    const workerSwitch = switches(result.calls).find((c) => c.node === 'w-01');
    expect((workerSwitch?.flake?.secrets ?? []).map((e) => e.path)).not.toContain('etcd-s3.env');
    expect(await runs.planExitCode(d)).toBe(0);
  });

  test('given S3 and an init node that answers with its pinned key but runs no cluster, when a snapshot is due, then it is passed over before anything secret is sent to it, and the next server takes the snapshot', async () => {
    // What an interrupted reinstall leaves: the machine presents the pinned key, but runs no cluster (no deployed marker).
    const cp01 = lab.node('cp-01');
    const control = fs.existsSync(cp01.controlFile) ? fs.readFileSync(cp01.controlFile, 'utf8') : '';
    try {
      expect((await cp01.shell('mv /var/lib/nico/deployed /var/lib/nico/deployed.aside')).code).toBe(0);
      fs.appendFileSync(cp01.controlFile, 'recordStdin=1\n');
      const s3 = { bucket: 'nico-backups', endpoint: 'minio.example.com:9000', region: 'eu-central-1', folder: 'prod/etcd', endpointCaFile: caFile, accessKeyId: 'AKIANICOTEST0001', secretAccessKeyFile: secretFile };
      const d = cluster({ nameservers: ['127.0.0.57'], etcdSnapshots: { s3 } }, { 'w-01': { labels: { tier: 'batch' } } });
      lab.clearCalls();
      await runs.tf(d, 'init', '-input=false');
      const result = await runs.tf(d, 'apply', '-input=false', '-auto-approve', '-no-color', '-target=module.cluster.terraform_data.pre_change_snapshot');
      if (result.code !== 0) process.stderr.write(result.output.slice(-4000));
      expect(result.code).toBe(0);
      expect(saves(lab.calls()).map((c) => [c.node, c.exit])).toEqual([['cp-02', 0]]);
      // Everything the snapshot step sent to cp-01 (its scripts on stdin, kept whole by the lab's sh).
      const sent = fs.readdirSync(cp01.dir).filter((f) => f.startsWith('stdin.')).map((f) => fs.readFileSync(path.join(cp01.dir, f), 'utf8'));
      expect(sent.length).toBeGreaterThan(0);
      // Counted, not listed: a failure must not print the key.
      expect(sent.filter((script) => script.includes(SECRET_KEY) || script.includes('AKIANICOTEST0001')).length).toBe(0);
    } finally {
      fs.writeFileSync(cp01.controlFile, control);
      await cp01.shell('[ ! -e /var/lib/nico/deployed.aside ] || mv /var/lib/nico/deployed.aside /var/lib/nico/deployed');
    }
  });

  test('when beforeChanges is off, then a control-plane change takes no snapshot and the output is null', async () => {
    const d = cluster({ nameservers: ['127.0.0.56'], etcdSnapshots: { beforeChanges: false } });
    const result = await apply(d);
    if (result.code !== 0) process.stderr.write(result.output.slice(-4000));
    expect(result.code).toBe(0);
    expect(saves(result.calls)).toEqual([]);
    expect(controlPlaneSwitches(result.calls)).toHaveLength(3);
    expect(await output(d)).toBeNull();
    expect(await runs.planExitCode(d)).toBe(0);
  });
});
