import { TestLab } from './harness';
import { cordoned, firstFailure as firstFailureOf, kubectl, MAX_UNAVAILABLE, nodeOf, rolloutLab, switched, WORKERS } from './rollout-failure-lab';
import { ClusterRuns, maxOverlap } from './support';

// Issue 21, workers: a bad change stops the rollout at its first failed worker, never more than
// maxUnavailable cordoned across applies (the control plane: rollout-failure-control-plane.test.ts).
jest.setTimeout(20 * 60 * 1000);

const r = rolloutLab('rollout-failure');
let lab: TestLab;
let runs: ClusterRuns;
beforeAll(() => ({ lab, runs } = r));
const firstFailure = () => firstFailureOf(lab);

const { cluster, apply } = r;

describe('a 3+5 cluster with maxUnavailable = 2', () => {
  test('given a first deploy, then every node comes up', async () => {
    const result = await apply(cluster());
    if (result.code !== 0) process.stderr.write(result.output.slice(-4000));
    expect(result.code).toBe(0);
  });

  test('given a change whose new system never gets ready on the workers, when it redeploys every node, then only the two workers in progress are switched, no node takes its turn once the failure is known, and once fixed one apply finishes the rest without ever having more than two workers cordoned', async () => {
    // A bad change breaks every worker the same way: the first two to take a turn fail (and roll back).
    for (const w of WORKERS) lab.node(w).control({ failReadiness: true });
    const change = cluster({ nameservers: ['127.0.0.53'] });

    const failed = await apply(change);
    expect(failed.code).not.toBe(0);
    const first = firstFailure();
    const [, firstNode] = /^(w-0\d): not ready within 4s after the switch: rolled back/.exec(first.text) ?? [];
    expect(firstNode).toBeDefined();
    // Nodes in progress when the failure became known finish; every other node gives up without a switch.
    expect(kubectl(failed.calls, 'cordon').filter((c) => c.start >= first.at)).toEqual([]);
    const moved = new Set(kubectl(failed.calls, 'cordon').map(nodeOf));
    const inProgress = switched(failed.calls).filter((n) => WORKERS.includes(n));
    expect(inProgress.length).toBe(MAX_UNAVAILABLE);
    expect(inProgress.filter((n) => !moved.has(n))).toEqual([]);
    for (const w of inProgress) {
      expect(failed.output).toMatch(new RegExp(`nico: ${w}: error: not ready within 4s after the switch: rolled back to its previous system`));
      expect(kubectl(failed.calls, 'uncordon', w)).toEqual([]); // left cordoned: it is not ready
    }
    const gaveUp = WORKERS.filter((w) => !inProgress.includes(w));
    for (const w of gaveUp) expect(failed.output).toMatch(new RegExp(`nico: ${w}: error: not switched: ${firstNode} failed earlier in this apply \\(not ready within 4s`));

    for (const w of WORKERS) lab.node(w).control({ sleepSeconds: 1 });
    const again = await apply(change);
    if (again.code !== 0) process.stderr.write(again.output.slice(-4000));
    expect(again.code).toBe(0);
    expect(switched(again.calls)).toEqual(expect.arrayContaining(WORKERS));
    for (const w of inProgress) expect(kubectl(again.calls, 'uncordon', w).length).toBe(1);
    // The failed workers stayed cordoned between the applies: they count against maxUnavailable in both.
    const all = cordoned([...failed.calls, ...again.calls]);
    expect(all.filter((i) => i.end === Infinity)).toEqual([]);
    expect(maxOverlap(all)).toBeLessThanOrEqual(MAX_UNAVAILABLE);
    expect(await runs.planExitCode(change)).toBe(0);
  });

  test('given only w-01 never gets ready after its switch (the issue as reported), when a change redeploys every node, then no worker takes its turn once that is known, never more than two workers are cordoned, and once fixed one apply finishes the rest', async () => {
    // Which workers are in progress when w-01 fails depends on the order Terraform starts them; what
    // must hold does not.
    lab.node('w-01').control({ failReadiness: true });
    for (const w of WORKERS.slice(1)) lab.node(w).control({ sleepSeconds: 2 });
    const change = cluster({ nameservers: ['127.0.0.54'] });

    const failed = await apply(change);
    expect(failed.code).not.toBe(0);
    expect(failed.output).toMatch(/nico: w-01: error: not ready within 4s after the switch: rolled back to its previous system/);
    const first = firstFailure();
    expect(first.text).toMatch(/^w-01: not ready within 4s after the switch/);
    expect(kubectl(failed.calls, 'cordon').filter((c) => c.start >= first.at)).toEqual([]);
    const moved = new Set(kubectl(failed.calls, 'cordon').map(nodeOf));
    expect(switched(failed.calls).filter((n) => !moved.has(n))).toEqual([]);
    for (const w of WORKERS.filter((n) => !moved.has(n))) expect(failed.output).toMatch(new RegExp(`nico: ${w}: error: not switched: w-01 failed earlier in this apply`));

    for (const w of WORKERS) lab.node(w).control({ sleepSeconds: 1 });
    const again = await apply(change);
    if (again.code !== 0) process.stderr.write(again.output.slice(-4000));
    expect(again.code).toBe(0);
    expect(kubectl(again.calls, 'uncordon', 'w-01').length).toBe(1);
    const all = cordoned([...failed.calls, ...again.calls]);
    expect(all.filter((i) => i.end === Infinity)).toEqual([]);
    expect(maxOverlap(all)).toBeLessThanOrEqual(MAX_UNAVAILABLE);
    expect(await runs.planExitCode(change)).toBe(0);
  });
});
