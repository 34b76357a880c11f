import { k3sStarts, kubectlOn, lifecycleLab, MASTERS, WORKERS } from './lifecycle-lab';

jest.setTimeout(20 * 60 * 1000);

// A node's life as real k3s sees it: machines reinstalled under a running cluster rejoin it. Labels,
// taints, drains and a wrong token: lifecycle-nodes.test.ts; removal with APIs down: lifecycle-removal.test.ts.
const l = lifecycleLab('lifecycle');

describe('a running 3+2 cluster whose machines are reinstalled', () => {
  test('when applied, then one cluster exists, every Node is Ready, and the description\'s labels and taints are on the Nodes', async () => {
    const result = await l.deployFirst();
    expect(result.code).toBe(0);
    const c = await l.theCluster();
    expect(c.members.sort()).toEqual(MASTERS);
    for (const n of [...MASTERS, ...WORKERS]) expect(c.nodes[n]).toMatchObject({ ready: true, unschedulable: false });
    expect(c.nodes['w-02'].labels).toMatchObject({ tier: 'web' });
    expect(c.nodes['w-02'].taints).toEqual(['dedicated=web:NoSchedule']);
    expect(k3sStarts(result.calls, 'cp-01').map((s) => s.args.includes('--cluster-init'))).toEqual([true]);
  });

  for (const node of ['cp-01', 'cp-02', 'w-01']) {
    test(`when ${node}'s installGeneration is raised, then its old Node is deleted through a peer before it starts again, it rejoins the one cluster, is Ready, and the next plan is empty`, async () => {
      const d = l.cluster({ [node]: { installGeneration: 2 } });
      const result = await l.apply(d);
      expect(result.code).toBe(0);
      expect(result.output).toMatch(new RegExp(`nico: ${node}: its k3s state is gone while its Node object exists`));
      const deleted = kubectlOn(result.calls, 'delete', node);
      expect(deleted.length).toBe(1);
      expect(deleted[0].node).not.toBe(node);
      const starts = k3sStarts(result.calls, node);
      expect(starts).toHaveLength(1);
      expect(deleted[0].end).toBeLessThanOrEqual(starts[0].start);
      // Joining, never creating: no --cluster-init for a cluster that exists, whatever the node's name.
      expect(starts[0].args).not.toContain('--cluster-init');
      expect(starts[0]).toMatchObject({ k3s: { state: 'running' } });
      const c = await l.theCluster();
      for (const n of [...MASTERS, ...WORKERS]) expect(c.nodes[n]).toMatchObject({ ready: true, unschedulable: false });
      expect(c.members.sort()).toEqual(MASTERS);
      expect(await l.runs.planExitCode(d)).toBe(0);
    });
  }
});
