import { TestLab } from './harness';
import { firstFailure as firstFailureOf, MASTERS, rolloutLab, switched, WORKERS } from './rollout-failure-lab';
import { ClusterRuns } from './support';

// Issue 21, control plane: a failed switch of the second control-plane node stops the third (the
// workers: rollout-failure.test.ts).
jest.setTimeout(20 * 60 * 1000);

const r = rolloutLab('rollout-failure-cp');
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

  test("given the second control-plane node's switch fails, when a control-plane-only change (vrrpRouterId) is applied, then the third is not switched, and once fixed one apply finishes both", async () => {
    // cp-01 (the init node) goes first; whichever of cp-02 and cp-03 takes the next turn fails.
    for (const n of [...MASTERS, ...WORKERS]) lab.node(n).control({});
    lab.node('cp-02').control({ fail: true });
    lab.node('cp-03').control({ fail: true });
    const change = cluster({ nameservers: ['127.0.0.53'], vrrpRouterId: 77 });

    const failed = await apply(change);
    expect(failed.code).not.toBe(0);
    const tried = switched(failed.calls).filter((n) => n !== 'cp-01');
    expect(tried.length).toBe(1);
    const [second] = tried;
    const third = second === 'cp-02' ? 'cp-03' : 'cp-02';
    expect(failed.output).toMatch(new RegExp(`nico: ${second}: error: the switch on .* failed`));
    expect(failed.output).toMatch(new RegExp(`nico: ${third}: error: not switched: ${second} failed earlier in this apply \\(the switch on`));
    expect(firstFailure().text).toMatch(new RegExp(`^${second}: the switch on`));
    expect(switched(failed.calls).filter((n) => WORKERS.includes(n))).toEqual([]);

    lab.node('cp-02').control({});
    lab.node('cp-03').control({});
    const again = await apply(change);
    if (again.code !== 0) process.stderr.write(again.output.slice(-4000));
    expect(again.code).toBe(0);
    expect(switched(again.calls)).toEqual(expect.arrayContaining(['cp-02', 'cp-03']));
    expect(await runs.planExitCode(change)).toBe(0);
  });
});
