import { switches } from './support';
import { CONNECT_TIMEOUT, kubectl, READY_TIMEOUT, rollbacksOf, switchOf, rollingLab } from './rolling-lab';

jest.setTimeout(20 * 60 * 1000);

// A switch that breaks a node of a running cluster is rolled back (the lab: rolling-lab.ts).
const rolling = rollingLab('rolling-faults');
const { cluster, apply } = rolling;

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
    rolling.lab.node('w-01').control({ failReadiness: true });
    const d = changed('w-01');
    const failed = await apply(d);
    expect(failed.code).not.toBe(0);
    expect(failed.output).toMatch(/nico: w-01: error: not ready within 6s after the switch: rolled back to its previous system/);
    expect(failed.output).toMatch(/nico: w-01: journal: .*stand-in: the new system is not ready/);
    const rollbacks = rollbacksOf(failed.calls, 'w-01');
    expect(rollbacks.length).toBe(1);
    expect(rollbacks[0].start).toBeGreaterThanOrEqual(switchOf(failed.calls, 'w-01').end);
    expect(kubectl(failed.calls, 'uncordon', 'w-01')).toEqual([]); // left cordoned: it is not ready

    rolling.lab.node('w-01').control({});
    const again = await apply(d);
    expect(again.code).toBe(0);
    expect(Object.keys(Object.fromEntries(switches(again.calls).map((c) => [c.node, 1])))).toEqual(['w-01']);
    expect(await rolling.runs.planExitCode(d)).toBe(0);
  });

  test('given the new system cuts SSH off, when applied, then the apply fails fast and the node rolls itself back by its own timer', async () => {
    rolling.lab.node('w-02').control({ cutSsh: true });
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
    while (rollbacksOf(rolling.lab.calls(), 'w-02').length === 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 1000));
    expect(rollbacksOf(rolling.lab.calls(), 'w-02').length).toBe(1);
    const answer = await rolling.lab.exec('ssh', [...rolling.lab.sshArgs('w-02'), 'true']);
    expect(answer.code).toBe(0); // reachable again

    rolling.lab.node('w-02').control({ sleepSeconds: 2 });
    const again = await apply(d);
    expect(again.code).toBe(0);
    expect(await rolling.runs.planExitCode(d)).toBe(0);
  });
});
