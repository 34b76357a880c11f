import * as fs from 'fs';
import { tempDir } from '../helpers/terraform';
import { TestLab } from './harness';
import { ClusterRuns, startClusterLab } from './support';

jest.setTimeout(20 * 60 * 1000);

const ADDRESSES: Record<string, string> = { 'cp-01': '127.0.0.11', 'cp-02': '127.0.0.12', 'w-01': '127.0.0.21', 'w-02': '127.0.0.22' };
const MASTERS = ['cp-01', 'cp-02'];
const WORKERS = ['w-01', 'w-02'];

let lab: TestLab;
let runs: ClusterRuns;
const work = tempDir('e2e-ssh-connections');

/** SSH logins each node's sshd accepted so far (its log at LogLevel VERBOSE: one line per authenticated connection). */
const logins = (): Record<string, number> =>
  Object.fromEntries(Object.keys(ADDRESSES).map((n) => [n, (fs.readFileSync(lab.node(n).logFile, 'utf8').match(/Accepted publickey/g) ?? []).length]));
const since = (before: Record<string, number>): Record<string, number> => {
  const now = logins();
  return Object.fromEntries(Object.keys(now).map((n) => [n, now[n] - before[n]]));
};

/**
 * OpenSSH processes in this lab's network namespace (where its Terraform runs) that still hold a step's
 * connection: a ControlMaster in a step directory. Other labs running at the same time have their own.
 */
function leftoverMasters(): string[] {
  const netns = (pid: number | string) => fs.readlinkSync(`/proc/${pid}/ns/net`);
  const ours = netns(lab.node('cp-01').pid!);
  return fs
    .readdirSync('/proc')
    .filter((p) => /^\d+$/.test(p))
    .flatMap((p) => {
      try {
        const argv = fs.readFileSync(`/proc/${p}/cmdline`, 'utf8').split('\0');
        return argv[0].endsWith('ssh') && argv.some((a) => a.includes('/cm-')) && netns(p) === ours ? [`${p}: ${argv.join(' ')}`] : [];
      } catch {
        return [];
      }
    });
}

beforeAll(async () => {
  ({ lab, runs } = await startClusterLab(work, ADDRESSES, (n) => MASTERS.includes(n)));
  for (const n of Object.keys(ADDRESSES)) lab.node(n).control({ sleepSeconds: 1 });
});

afterAll(async () => {
  await lab?.stop();
  fs.rmSync(work, { recursive: true, force: true });
});

describe("a node's deployment step reuses its SSH connections", () => {
  const d = () => runs.description('reuse', MASTERS, WORKERS);

  test('given a new cluster, when applied, then each worker is logged into twice: once before the switch, once after it (a fresh connection proves it reachable)', async () => {
    const before = logins();
    const r = await runs.apply(d());
    expect(r.code).toBe(0);
    const count = since(before);
    // Before connection reuse: check, membership, upload and switch, after-switch check, readiness: 5.
    for (const w of WORKERS) expect([w, count[w]]).toEqual([w, 2]);
    // A joiner: its own two, and at most one from each later step that reads the cluster's lock file through it.
    expect(count['cp-02']).toBeLessThanOrEqual(2 + WORKERS.length);
  });

  test('then no SSH connection of a step outlives it', () => {
    expect(leftoverMasters()).toEqual([]);
  });

  test('given a change that redeploys a worker, when applied, then its cordon, drain and uncordon go over one connection to the peer', async () => {
    const before = logins();
    const changed = runs.description('reuse', MASTERS, WORKERS, { 'w-01': { labels: { tier: 'changed' } } });
    const r = await runs.apply(changed);
    expect(r.code).toBe(0);
    expect(r.output).toContain('cordoning and draining');
    const count = since(before);
    expect(count['w-01']).toBe(2);
    // The peer: the lock file, cordon, drain and uncordon (four commands before connection reuse), through the first reachable one.
    expect(count['cp-01'] + count['cp-02']).toBe(1);
    expect(leftoverMasters()).toEqual([]);
  });
});
