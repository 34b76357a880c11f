import { kubectlOn, lifecycleLab, MASTERS, WORKERS } from './lifecycle-lab';
import { switches } from './support';

jest.setTimeout(20 * 60 * 1000);

// Removing nodes of a running cluster while control-plane APIs are down: a removal never wipes a node
// the cluster still knows (lifecycle.test.ts: the same lab's reinstalls).
const l = lifecycleLab('lifecycle-removal');

describe('removing nodes when control-plane APIs are down', () => {
  test('given the 3+2 cluster is installed and deployed, then every Node is Ready', async () => {
    expect((await l.deployFirst()).code).toBe(0);
    const c = await l.theCluster();
    for (const n of [...MASTERS, ...WORKERS]) expect(c.nodes[n]).toMatchObject({ ready: true, unschedulable: false });
  });

  test('given the first peer answers SSH but its API is down, when a control-plane node is removed, then the next peer deletes it and only then is it cleaned', async () => {
    l.lab.node('cp-01').control({ apiDown: true });
    try {
      const result = await l.apply(l.cluster({}, ['cp-01', 'cp-02'], WORKERS));
      expect(result.code).toBe(0);
      const deleted = kubectlOn(result.calls, 'delete', 'cp-03');
      expect(deleted.map((c) => [c.node, c.exit])).toEqual([['cp-02', 0]]);
      const minimal = switches(result.calls).find((c) => c.node === 'cp-03')!;
      expect(minimal.flake!.config).toBe('minimal');
      expect(deleted[0].end).toBeLessThanOrEqual(minimal.start);
      expect((await l.theCluster()).members.sort()).toEqual(['cp-01', 'cp-02']);
    } finally {
      l.lab.node('cp-01').control({});
    }
  });

  test('given no control-plane API answers, when a worker is removed, then the apply fails and the worker is not cleaned; once an API is back it is', async () => {
    l.lab.node('cp-01').control({ apiDown: true });
    l.lab.node('cp-02').control({ apiDown: true });
    const d = l.cluster({}, ['cp-01', 'cp-02'], ['w-01']);
    try {
      const result = await l.apply(d);
      expect(result.code).not.toBe(0);
      expect(result.output).toMatch(/nico: w-02: error: its Node object could not be deleted .*NOT cleaned with #minimal/);
      expect(switches(result.calls).filter((c) => c.node === 'w-02')).toEqual([]);
      expect((await l.lab.node('w-02').state()).clean).toBe(false);
    } finally {
      l.lab.node('cp-01').control({});
      l.lab.node('cp-02').control({});
    }
    const again = await l.apply(d);
    expect(again.code).toBe(0);
    expect((await l.lab.node('w-02').state()).clean).toBe(true);
    expect((await l.theCluster()).nodes['w-02']).toBeUndefined();
  });
});
