import * as fs from 'fs';
import { tempDir } from '../helpers/terraform';
import { Call, TestLab } from './harness';
import { ClusterRuns, startClusterLab, switches } from './support';
import { expectNoSecretPrintedInAnyScenario } from './harness/secrets';

jest.setTimeout(20 * 60 * 1000);

// Day-2 changes of a running cluster: a switch that breaks a node is rolled back (rolling.test.ts:
// redeploys drain and roll through the cluster). The stand-ins record every switch, rollback, cordon,
// drain, uncordon and timer with timestamps.
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
const work = tempDir('e2e-rolling-faults');

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
const rollbacksOf = (calls: Call[], node: string) => switches(calls).filter((c) => c.node === node && c.args[1] === '--rollback');

describe('a deployed 3+6 cluster with maxUnavailable = 2', () => {
  test('given it is deployed, then the apply succeeds', async () => {
    const result = await apply(cluster({ nameservers: ['127.0.0.53'] }));
    if (result.code !== 0) process.stderr.write(result.output.slice(-4000));
    expect(result.code).toBe(0);
  });
});

describe('a switch that breaks a node', () => {
  const changed = (n: string, extra = {}) => cluster({ nameservers: ['127.0.0.53'], ...extra }, { [n]: { labels: { rev: String(Date.now()) } } });

  test('given the new system never gets ready, when applied, then the node is rolled back, the apply fails naming it with its journal, and the next apply succeeds once the fault is cleared', async () => {
    lab.node('w-01').control({ failReadiness: true });
    const d = changed('w-01');
    const failed = await apply(d);
    expect(failed.code).not.toBe(0);
    expect(failed.output).toMatch(/nico: w-01: error: not ready within 6s after the switch: rolled back to its previous system/);
    expect(failed.output).toMatch(/nico: w-01: journal: .*stand-in: the new system is not ready/);
    const rollbacks = rollbacksOf(failed.calls, 'w-01');
    expect(rollbacks.length).toBe(1);
    expect(rollbacks[0].start).toBeGreaterThanOrEqual(switchOf(failed.calls, 'w-01').end);
    expect(kubectl(failed.calls, 'uncordon', 'w-01')).toEqual([]); // left cordoned: it is not ready

    lab.node('w-01').control({});
    const again = await apply(d);
    expect(again.code).toBe(0);
    expect(Object.keys(Object.fromEntries(switches(again.calls).map((c) => [c.node, 1])))).toEqual(['w-01']);
    expect(await runs.planExitCode(d)).toBe(0);
  });

  test('given the new system cuts SSH off, when applied, then the apply fails fast and the node rolls itself back by its own timer', async () => {
    lab.node('w-02').control({ cutSsh: true });
    const d = changed('w-02');
    const started = Date.now();
    const failed = await apply(d);
    expect(failed.code).not.toBe(0);
    expect(failed.output).toMatch(/nico: w-02: error: lost SSH after the switch: .*returns to its previous system by itself within \d+s/);
    const armed = failed.calls.filter((c) => c.node === 'w-02' && c.command === 'systemd-run');
    expect(armed.length).toBe(1);
    expect(armed[0].end).toBeLessThanOrEqual(switchOf(failed.calls, 'w-02').start);

    // The deployer is gone; the node's own timer (ready + 2 connects + 30 s) rolls it back.
    const deadline = started + (READY_TIMEOUT + 2 * CONNECT_TIMEOUT + 30 + 30) * 1000;
    while (rollbacksOf(lab.calls(), 'w-02').length === 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 1000));
    expect(rollbacksOf(lab.calls(), 'w-02').length).toBe(1);
    const answer = await lab.exec('ssh', [...lab.sshArgs('w-02'), 'true']);
    expect(answer.code).toBe(0); // reachable again

    lab.node('w-02').control({ sleepSeconds: 2 });
    const again = await apply(d);
    expect(again.code).toBe(0);
    expect(await runs.planExitCode(d)).toBe(0);
  });
});
