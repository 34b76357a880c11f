import * as fs from 'fs';
import { tempDir } from '../helpers/terraform';
import { Call, ClusterModel, placePods, TestLab } from './harness';
import { expectNoSecretPrintedInAnyScenario } from './harness/secrets';
import { ClusterRuns, startClusterLab, switches } from './support';

jest.setTimeout(20 * 60 * 1000);

// A node's life as real k3s sees it (the lab's k3s stand-in keeps the cluster model and refuses what
// k3s refuses): machines reinstalled under a running cluster rejoin it, a worker is ready only when
// its Node is, labels and taints follow the description, and a removal never wipes a node the
// cluster still knows.
const ADDRESS: Record<string, string> = {
  'cp-01': '127.0.0.61', 'cp-02': '127.0.0.62', 'cp-03': '127.0.0.63',
  'w-01': '127.0.0.71', 'w-02': '127.0.0.72', 'w-03': '127.0.0.73',
};
const MASTERS = ['cp-01', 'cp-02', 'cp-03'];
const WORKERS = ['w-01', 'w-02'];

let lab: TestLab;
let runs: ClusterRuns;
const work = tempDir('e2e-lifecycle');

beforeAll(async () => {
  ({ lab, runs } = await startClusterLab(work, ADDRESS, (name) => name.startsWith('cp-')));
  runs.runner = (env) => lab.runnerEnv(env);
});

// Issue 25: no scenario's plan or apply output holds a secret of the state (harness/secrets.ts).
expectNoSecretPrintedInAnyScenario(() => lab);

afterAll(async () => {
  await lab?.stop();
  fs.rmSync(work, { recursive: true, force: true });
});

type Patch = NonNullable<Parameters<ClusterRuns['description']>[3]>;
// What the description says so far: each test changes it further (a raised installGeneration stays raised).
const described: Patch = { 'w-02': { labels: { tier: 'web' }, taints: ['dedicated=web:NoSchedule'] } };
const cluster = (patch: Patch = {}, masters = MASTERS, workers = WORKERS) => {
  for (const [n, p] of Object.entries(patch)) described[n] = { ...described[n], ...p };
  return runs.description('lifecycle', masters, workers, described, { install: true });
};

async function apply(d: ReturnType<typeof cluster>) {
  lab.clearCalls();
  const result = await runs.apply(d);
  if (result.code !== 0) process.stderr.write(result.output.slice(-5000));
  return { ...result, calls: lab.calls() };
}

/** The one cluster of the lab: fails when the lab ever had two (a split cluster). */
async function theCluster(): Promise<ClusterModel['clusters'][string]> {
  const model = await lab.cluster();
  expect(model.ids).toHaveLength(1);
  return model.clusters[model.ids[0]];
}

const k3sStarts = (calls: Call[], node: string) => calls.filter((c) => c.node === node && c.command === 'k3s' && ['server', 'agent'].includes(c.args[0]));
const kubectlOn = (calls: Call[], verb: string, node: string) => calls.filter((c) => c.command === 'k3s' && c.args[0] === 'kubectl' && c.args[1] === verb && c.args.includes(node));

describe('a running 3+2 cluster whose machines are reinstalled', () => {
  test('when applied, then one cluster exists, every Node is Ready, and the description\'s labels and taints are on the Nodes', async () => {
    const result = await apply(cluster());
    expect(result.code).toBe(0);
    const c = await theCluster();
    expect(c.members.sort()).toEqual(MASTERS);
    for (const n of [...MASTERS, ...WORKERS]) expect(c.nodes[n]).toMatchObject({ ready: true, unschedulable: false });
    expect(c.nodes['w-02'].labels).toMatchObject({ tier: 'web' });
    expect(c.nodes['w-02'].taints).toEqual(['dedicated=web:NoSchedule']);
    expect(k3sStarts(result.calls, 'cp-01').map((s) => s.args.includes('--cluster-init'))).toEqual([true]);
  });

  for (const node of ['cp-01', 'cp-02', 'w-01']) {
    test(`when ${node}'s installGeneration is raised, then its old Node is deleted through a peer before it starts again, it rejoins the one cluster, is Ready, and the next plan is empty`, async () => {
      const d = cluster({ [node]: { installGeneration: 2 } });
      const result = await apply(d);
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
      const c = await theCluster();
      for (const n of [...MASTERS, ...WORKERS]) expect(c.nodes[n]).toMatchObject({ ready: true, unschedulable: false });
      expect(c.members.sort()).toEqual(MASTERS);
      expect(await runs.planExitCode(d)).toBe(0);
    });
  }

  test('when a label changes and a taint is removed in the description, then the Node shows it, and a label the project never set stays', async () => {
    // Someone else's label on the Node: not the project's to remove.
    expect((await lab.node('cp-03').shell('k3s kubectl label node w-02 team=ops')).code).toBe(0);
    const result = await apply(cluster({ 'w-02': { labels: { tier: 'api', zone: 'b' }, taints: [] } }));
    expect(result.code).toBe(0);
    const w2 = (await theCluster()).nodes['w-02'];
    expect(w2.labels).toMatchObject({ tier: 'api', zone: 'b', team: 'ops' });
    expect(w2.taints).toEqual([]);
    expect(w2.annotations).toMatchObject({ 'nico-cluster/labels': 'tier,zone', 'nico-cluster/taints': '' });
    // Only w-02 was redeployed.
    expect(switches(result.calls).map((c) => c.node)).toEqual(['w-02']);
  });

  test('given a bare pod on a worker, when the worker is redeployed, then the drain fails saying what kubectl said, and the worker is not switched', async () => {
    const id = (await lab.cluster()).ids[0];
    placePods(lab.dir, id, 'w-01', [{ name: 'default/debug', owner: 'none' }]);
    const result = await apply(cluster({ 'w-01': { labels: { disk: 'ssd' } } }));
    expect(result.code).not.toBe(0);
    expect(result.output).toMatch(/nico: w-01: error: the drain did not finish, kubectl said: .*cannot delete Pods that declare no controller \(use --force to override\): default\/debug/);
    expect(switches(result.calls).filter((c) => c.node === 'w-01')).toEqual([]);
    expect((await theCluster()).nodes['w-01'].unschedulable).toBe(false);
    placePods(lab.dir, id, 'w-01', []);
    expect((await apply(cluster())).code).toBe(0);
  });

  test("given a cluster whose token is not the one a new worker gets, when the worker is added, then the apply fails naming it and saying what k3s said", async () => {
    const model = await lab.cluster();
    const tokenFile = `${lab.dir}/k3s/${model.ids[0]}/token`;
    const token = fs.readFileSync(tokenFile, 'utf8');
    // As if the cluster had been made with another token (and CA): the worker's never matches.
    fs.writeFileSync(tokenFile, 'K10feedbeef::server:another-cluster\n');
    try {
      const result = await apply(cluster({}, MASTERS, [...WORKERS, 'w-03']));
      expect(result.code).not.toBe(0);
      expect(result.output).toMatch(/nico: w-03: error: not ready within 30s/);
      expect(result.output).toMatch(/nico: w-03: journal: .*token CA hash does not match/);
      expect((await theCluster()).nodes['w-03']).toBeUndefined();
    } finally {
      fs.writeFileSync(tokenFile, token);
    }
  });
});

describe('removing nodes when control-plane APIs are down', () => {
  test('given the first peer answers SSH but its API is down, when a control-plane node is removed, then the next peer deletes it and only then is it cleaned', async () => {
    lab.node('cp-01').control({ apiDown: true });
    try {
      const result = await apply(cluster({}, ['cp-01', 'cp-02'], WORKERS));
      expect(result.code).toBe(0);
      const deleted = kubectlOn(result.calls, 'delete', 'cp-03');
      expect(deleted.map((c) => [c.node, c.exit])).toEqual([['cp-02', 0]]);
      const minimal = switches(result.calls).find((c) => c.node === 'cp-03')!;
      expect(minimal.flake!.config).toBe('minimal');
      expect(deleted[0].end).toBeLessThanOrEqual(minimal.start);
      expect((await theCluster()).members.sort()).toEqual(['cp-01', 'cp-02']);
    } finally {
      lab.node('cp-01').control({});
    }
  });

  test('given no control-plane API answers, when a worker is removed, then the apply fails and the worker is not cleaned; once an API is back it is', async () => {
    lab.node('cp-01').control({ apiDown: true });
    lab.node('cp-02').control({ apiDown: true });
    const d = cluster({}, ['cp-01', 'cp-02'], ['w-01']);
    try {
      const result = await apply(d);
      expect(result.code).not.toBe(0);
      expect(result.output).toMatch(/nico: w-02: error: its Node object could not be deleted .*NOT cleaned with #minimal/);
      expect(switches(result.calls).filter((c) => c.node === 'w-02')).toEqual([]);
      expect((await lab.node('w-02').state()).clean).toBe(false);
    } finally {
      lab.node('cp-01').control({});
      lab.node('cp-02').control({});
    }
    const again = await apply(d);
    expect(again.code).toBe(0);
    expect((await lab.node('w-02').state()).clean).toBe(true);
    expect((await theCluster()).nodes['w-02']).toBeUndefined();
  });
});
