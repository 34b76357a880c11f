import { expectOneAtATime, interval, maxOverlap } from './support';
import { kubectl, MASTERS, switchOf, WORKERS, rollingLab } from './rolling-lab';

jest.setTimeout(20 * 60 * 1000);

// Redeploys drain and roll through a running cluster (the lab: rolling-lab.ts).
const rolling = rollingLab('rolling');
const { cluster, apply } = rolling;

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
    expect(await rolling.runs.planExitCode(cluster({ nameservers: ['127.0.0.53'] }))).toBe(0);
  });
});
