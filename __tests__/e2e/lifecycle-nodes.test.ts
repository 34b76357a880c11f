import * as fs from 'fs';
import { placePods } from './harness';
import { lifecycleLab, MASTERS, WORKERS } from './lifecycle-lab';
import { switches } from './support';

jest.setTimeout(20 * 60 * 1000);

// A running cluster's Nodes follow the description: labels and taints, a drain a bare pod blocks, a
// worker whose token the cluster does not take (lifecycle.test.ts: the same lab's reinstalls).
const l = lifecycleLab('lifecycle-nodes');

describe('a running 3+2 cluster whose Nodes change', () => {
  test('given the cluster is installed and deployed, then every Node is Ready', async () => {
    expect((await l.deployFirst()).code).toBe(0);
    const c = await l.theCluster();
    for (const n of [...MASTERS, ...WORKERS]) expect(c.nodes[n]).toMatchObject({ ready: true, unschedulable: false });
  });

  test('when a label changes and a taint is removed in the description, then the Node shows it, and a label the project never set stays', async () => {
    // Someone else's label on the Node: not the project's to remove.
    expect((await l.lab.node('cp-03').shell('k3s kubectl label node w-02 team=ops')).code).toBe(0);
    const result = await l.apply(l.cluster({ 'w-02': { labels: { tier: 'api', zone: 'b' }, taints: [] } }));
    expect(result.code).toBe(0);
    const w2 = (await l.theCluster()).nodes['w-02'];
    expect(w2.labels).toMatchObject({ tier: 'api', zone: 'b', team: 'ops' });
    expect(w2.taints).toEqual([]);
    expect(w2.annotations).toMatchObject({ 'nico-cluster/labels': 'tier,zone', 'nico-cluster/taints': '' });
    // Only w-02 was redeployed.
    expect(switches(result.calls).map((c) => c.node)).toEqual(['w-02']);
  });

  test('given a bare pod on a worker, when the worker is redeployed, then the drain fails saying what kubectl said, and the worker is not switched', async () => {
    const id = (await l.lab.cluster()).ids[0];
    placePods(l.lab.dir, id, 'w-01', [{ name: 'default/debug', owner: 'none' }]);
    const result = await l.apply(l.cluster({ 'w-01': { labels: { disk: 'ssd' } } }));
    expect(result.code).not.toBe(0);
    expect(result.output).toMatch(/nico: w-01: error: the drain did not finish, kubectl said: .*cannot delete Pods that declare no controller \(use --force to override\): default\/debug/);
    expect(switches(result.calls).filter((c) => c.node === 'w-01')).toEqual([]);
    expect((await l.theCluster()).nodes['w-01'].unschedulable).toBe(false);
    placePods(l.lab.dir, id, 'w-01', []);
    expect((await l.apply(l.cluster())).code).toBe(0);
  });

  test("given a cluster whose token is not the one a new worker gets, when the worker is added, then the apply fails naming it and saying what k3s said", async () => {
    const model = await l.lab.cluster();
    const tokenFile = `${l.lab.dir}/k3s/${model.ids[0]}/token`;
    const token = fs.readFileSync(tokenFile, 'utf8');
    // As if the cluster had been made with another token (and CA): the worker's never matches.
    fs.writeFileSync(tokenFile, 'K10feedbeef::server:another-cluster\n');
    try {
      const result = await l.apply(l.cluster({}, MASTERS, [...WORKERS, 'w-03']));
      expect(result.code).not.toBe(0);
      expect(result.output).toMatch(/nico: w-03: error: not ready within 30s/);
      expect(result.output).toMatch(/nico: w-03: journal: .*token CA hash does not match/);
      expect((await l.theCluster()).nodes['w-03']).toBeUndefined();
    } finally {
      fs.writeFileSync(tokenFile, token);
    }
  });
});
