import * as fs from 'fs';
import { tempDir } from '../helpers/terraform';
import { Call, TestLab } from './harness';
import { ClusterRuns, startClusterLab, expectOneAtATime, interval, switches, maxOverlap } from './support';
import { expectNoSecretPrintedInAnyScenario } from './harness/secrets';

jest.setTimeout(20 * 60 * 1000);

// Day-2 changes of a running cluster: redeploys drain and roll through the cluster (a switch that
// breaks a node is rolled back: rolling-faults.test.ts). The stand-ins record every switch, rollback, cordon, drain, uncordon
// and timer with timestamps.
const MASTERS = ['cp-01', 'cp-02', 'cp-03'];
const WORKERS = ['w-01', 'w-02', 'w-03', 'w-04', 'w-05', 'w-06'];
const ADDRESS: Record<string, string> = Object.fromEntries([
  ...MASTERS.map((n, i) => [n, `127.0.0.${11 + i}`]),
  ...WORKERS.map((n, i) => [n, `127.0.0.${21 + i}`]),
]);
const READY_TIMEOUT = 6;
const CONNECT_TIMEOUT = 3;

let lab: TestLab;
let runs: ClusterRuns;
const work = tempDir('e2e-rolling');

beforeAll(async () => {
  ({ lab, runs } = await startClusterLab(work, ADDRESS, (name) => MASTERS.includes(name)));
  for (const w of WORKERS) lab.node(w).control({ sleepSeconds: 2 });
});

// Issue 25: no scenario's plan or apply output holds a secret of the state (harness/secrets.ts).
expectNoSecretPrintedInAnyScenario(() => lab);

afterAll(async () => {
  await lab?.stop();
  fs.rmSync(work, { recursive: true, force: true });
});

const cluster = (extra = {}, patch = {}) =>
  runs.description('rolling', MASTERS, WORKERS, patch, { maxUnavailable: 2, readyTimeoutSeconds: READY_TIMEOUT, sshConnectTimeoutSeconds: CONNECT_TIMEOUT, ...extra });

async function apply(d: ReturnType<typeof cluster>) {
  lab.clearCalls();
  const result = await runs.apply(d);
  return { ...result, calls: lab.calls() };
}

/** `k3s kubectl <verb> ... <node>` calls, wherever they ran. */
const kubectl = (calls: Call[], verb: string, node: string) => calls.filter((c) => c.command === 'k3s' && c.args[1] === verb && c.args.includes(node));
const switchOf = (calls: Call[], node: string) => switches(calls).find((c) => c.node === node && c.args[1] === '--flake')!;

describe('a 3+6 cluster with maxUnavailable = 2', () => {
  test('when first deployed, then the six workers go up together: no drain, no waiting for a turn', async () => {
    const result = await apply(cluster());
    if (result.code !== 0) process.stderr.write(result.output.slice(-4000));
    expect(result.code).toBe(0);
    expect(result.calls.filter((c) => c.command === 'k3s' && ['cordon', 'drain'].includes(c.args[1]))).toEqual([]);
    expect(result.output).not.toMatch(/waiting: at most/);
    const workers = WORKERS.map((w) => interval(result.calls, w));
    expect(maxOverlap(workers)).toBe(WORKERS.length);
  });

  test('when a change redeploys every node, then each is drained before its switch and uncordoned after, control-plane nodes one at a time, never more than two workers out at once', async () => {
    const result = await apply(cluster({ nameservers: ['127.0.0.53'] }));
    if (result.code !== 0) process.stderr.write(result.output.slice(-4000));
    expect(result.code).toBe(0);
    const calls = result.calls;
    const outOfService = [...MASTERS, ...WORKERS].map((n) => {
      const [cordon, drain, uncordon] = ['cordon', 'drain', 'uncordon'].map((v) => kubectl(calls, v, n));
      expect([cordon.length, drain.length, uncordon.length]).toEqual([1, 1, 1]);
      const sw = switchOf(calls, n);
      expect(drain[0].end).toBeLessThanOrEqual(sw.start);
      expect(sw.end).toBeLessThanOrEqual(uncordon[0].start);
      return { node: n, start: cordon[0].start, end: uncordon[0].end };
    });
    const workers = outOfService.filter((o) => WORKERS.includes(o.node));
    expect(maxOverlap(workers)).toBe(2);
    expectOneAtATime(outOfService.filter((o) => MASTERS.includes(o.node)));
    expect(await runs.planExitCode(cluster({ nameservers: ['127.0.0.53'] }))).toBe(0);
  });
});
