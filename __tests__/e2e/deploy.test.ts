import * as fs from 'fs';
import * as path from 'path';
import { flakeEval, SUPPORTED_RELEASES } from '../helpers/nixos-eval';
import { Call, KeyPair, run, TestLab } from './harness';
import { deployLab, FLAKE_DIR, MASTERS, nodesCalled, SPARES, VIP, WORKERS } from './deploy-lab';
import { expectOneAtATime, interval, switches } from './support';

jest.setTimeout(20 * 60 * 1000);

// The app's cluster deployed, changed and destroyed over SSH. Early failures, the HCL module and
// `cdktf deploy` on a lab of their own: deploy-module.test.ts.
const d = deployLab('deploy');
const { work, description, tf, apply } = d;
let lab: TestLab;
let key: KeyPair;
beforeAll(() => ({ lab, key } = d));

describe('a 3-master, 4-worker cluster deployed over SSH', () => {
  const cluster = () => description('e2e', MASTERS, WORKERS);
  let calls: Call[];

  test('when applied, then every node is switched to its own configuration through a path: flake', async () => {
    const result = await apply(cluster());
    expect(result.code).toBe(0);
    calls = lab.calls();
    for (const node of [...MASTERS, ...WORKERS]) {
      const mine = switches(calls).filter((c) => c.node === node);
      expect(mine.map((c) => c.args)).toEqual([['switch', '--flake', `path:${FLAKE_DIR}#${node}`]]);
    }
    expect(result.output).toMatch(/nico: cp-02: waiting until it is ready/);
  });

  test('then the tree on each node is complete, root-only, and holds no secret', () => {
    const expected = ['flake.nix', 'cluster.nix', 'README.md', 'machine-ssh-public-key', 'nodes/generator.nix', 'nodes/minimal.nix'];
    for (const c of switches(calls)) {
      const flake = c.flake!;
      expect(flake.dir).toBe(FLAKE_DIR);
      expect([flake.dirMode, flake.dirOwner]).toEqual(['700', 'root']);
      expect(flake.minimalNode).toBeNull(); // a fresh upload: only the destroy step names the node
      const paths = flake.entries.map((e) => e.path);
      expect(paths).toEqual(expect.arrayContaining(expected));
      expect(paths).not.toContain('machine-ssh-private-key');
      expect(paths).not.toContain('join-token');
      for (const e of flake.entries) expect(e.mode).toMatch(/^[0-7]00$/); // nothing for group or others
    }
  });

  test('then the secrets wait at their root-only runtime paths, outside the flake', () => {
    for (const c of switches(calls)) {
      const flake = c.flake!;
      expect(flake.secretsDirMode).toBe('700');
      const modes = Object.fromEntries(flake.secrets.map((e) => [e.path, [e.mode, e.owner]]));
      expect(modes['join-token']).toEqual(['600', 'root']);
      expect(modes['machine-ssh-private-key']).toEqual(['600', 'root']);
      for (const e of flake.secrets) expect(e.mode).toMatch(/^[0-7]00$/);
    }
  });

  test('then the init master finished before any other control-plane node started, those went one at a time, and all before any worker', () => {
    const [init, ...joiners] = MASTERS.map((m) => interval(calls, m));
    const workers = WORKERS.map((w) => interval(calls, w));
    for (const j of joiners) expect(init.end).toBeLessThanOrEqual(j.start);
    expectOneAtATime(joiners);
    for (const w of workers) for (const j of [init, ...joiners]) expect(j.end).toBeLessThanOrEqual(w.start);
  });

  test("given a node's deployed flake directory, when Nix evaluates it as the node would, then no secret byte reaches the Nix store", async () => {
    // The node's tree as it is on the node; its lock names the stand-in inputs only, so it is left out.
    const tar = await lab.node('cp-02').shell(`tar -C ${FLAKE_DIR} --exclude=./flake.lock -cf - . | base64 -w0`);
    const tree = fs.mkdtempSync(path.join(work, 'node-tree-'));
    fs.writeFileSync(`${tree}.tar`, Buffer.from(tar.stdout, 'base64'));
    await run('tar', ['-C', tree, '-xf', `${tree}.tar`], { check: true });
    // A machine whose Nix has never built anything has no store yet: everything in it afterwards is new.
    const before = new Set(fs.existsSync('/nix/store') ? fs.readdirSync('/nix/store') : []);
    const toplevel = flakeEval(tree, 'nixosConfigurations.cp-02.config.system.build.toplevel', { release: SUPPORTED_RELEASES[SUPPORTED_RELEASES.length - 2] });
    expect(toplevel).toBe('nixos-system-stand-in');
    const added = fs.readdirSync('/nix/store').filter((p) => !before.has(p)).map((p) => path.join('/nix/store', p));
    expect(added.length).toBeGreaterThan(0); // the flake's source was copied into the store
    const token = (await lab.node('cp-02').readFile('/var/lib/nico/secrets/join-token'))!;
    const keyBody = fs.readFileSync(key.privateKeyFile, 'utf8').split('\n').filter((l) => l && !l.startsWith('-----'))[1];
    for (const secret of [token.split('::server:')[1], keyBody, 'PRIVATE KEY']) {
      const found = await run('grep', ['-rlF', '--', secret, ...added]);
      expect(found.stdout).toBe('');
    }
  });

  test('then the cluster CAs reached every control-plane node before its switch, and no worker', () => {
    const caFiles = ['tls/server-ca.crt', 'tls/server-ca.key', 'tls/client-ca.crt', 'tls/request-header-ca.key', 'tls/etcd/peer-ca.key', 'tls/etcd/server-ca.crt', 'tls/service.key'];
    for (const c of switches(calls)) {
      const secrets = c.flake!.secrets.map((e) => e.path);
      if (MASTERS.includes(c.node)) expect(secrets).toEqual(expect.arrayContaining(caFiles));
      else expect(secrets.filter((p) => p.startsWith('tls'))).toEqual([]);
    }
  });

  test("then a joiner's token has k3s's secure form, carrying the hash of the server CA", async () => {
    const token = (await lab.node('cp-02').readFile('/var/lib/nico/secrets/join-token'))!;
    const ca = (await lab.node('cp-01').readFile('/var/lib/nico/secrets/tls/server-ca.crt'))!;
    const hash = require('crypto').createHash('sha256').update(ca).digest('hex');
    expect(token).toMatch(new RegExp(`^K10${hash}::server:[A-Za-z0-9]{48}$`));
    expect(await lab.node('w-01').readFile('/var/lib/nico/secrets/join-token')).toBe(token);
  });

  test('then every node builds from the lock file made on the first node', () => {
    const locks = switches(calls).map((c) => c.flake!.flakeLock);
    expect(locks[0]).toContain('"lockedOn": "cp-01"');
    expect(new Set(locks)).toEqual(new Set([locks[0]]));
  });

  test('then the workers were deployed in parallel: their intervals overlap', () => {
    const workers = WORKERS.map((w) => interval(calls, w));
    expect(Math.max(...workers.map((w) => w.start))).toBeLessThan(Math.min(...workers.map((w) => w.end)));
  });

  test('when applied again without changes, then nothing changes and no command runs on any node', async () => {
    lab.clearCalls();
    expect((await tf(cluster(), 'plan', '-input=false', '-detailed-exitcode')).code).toBe(0);
    const result = await tf(cluster(), 'apply', '-input=false', '-auto-approve', '-no-color');
    expect(result.output).toMatch(/0 added, 0 changed, 0 destroyed/);
    expect(lab.calls()).toEqual([]);
  });

  test('then the kubeconfig output, made from state, points at the VIP', async () => {
    const out = await tf(cluster(), 'output', '-raw', 'kubeconfig');
    expect(out.stdout).toContain(`server: https://${VIP}:6443`);
  });

  test('given a fresh runner with only the state (local tree and synth output gone), when planned and applied, then it succeeds and no node is touched', async () => {
    fs.rmSync(path.join(work, 'e2e', 'out', 'nix'), { recursive: true, force: true });
    fs.rmSync(path.join(work, 'e2e', 'cdktf.out'), { recursive: true, force: true });
    lab.clearCalls();
    const result = await apply(cluster());
    expect(result.code).toBe(0);
    expect(result.output).not.toMatch(/terraform_data\.\w+\["[^"]+"\]: (Creating|Destroying)/);
    expect(lab.calls()).toEqual([]);
    expect((await tf(cluster(), 'plan', '-input=false', '-detailed-exitcode')).code).toBe(0);
  });

  test('given writeLocalTree is off, when applied and then planned on a fresh runner, then no local file exists and the plan is empty', async () => {
    const remote = { ...cluster(), writeLocalTree: false };
    lab.clearCalls();
    expect((await apply(remote)).code).toBe(0);
    const tree = path.join(work, 'e2e', 'out', 'nix');
    expect(fs.existsSync(tree) ? fs.readdirSync(tree, { recursive: true }).filter((f) => fs.statSync(path.join(tree, String(f))).isFile()) : []).toEqual([]);
    fs.rmSync(path.join(work, 'e2e', 'cdktf.out'), { recursive: true, force: true });
    await tf(remote, 'init', '-input=false');
    expect((await tf(remote, 'plan', '-input=false', '-detailed-exitcode')).code).toBe(0);
    expect(lab.calls()).toEqual([]);
    expect((await apply(cluster())).code).toBe(0); // and back: the local tree is written again
  });

  test('when a worker is added, then only that worker is deployed', async () => {
    lab.clearCalls();
    const result = await apply(description('e2e', MASTERS, [...WORKERS, 'w-05']));
    expect(result.code).toBe(0);
    expect(nodesCalled(lab.calls())).toEqual(['w-05']);
  });

  test("when one worker's own entry changes, then only it is redeployed, without the #minimal cleanup", async () => {
    lab.clearCalls();
    const result = await apply(description('e2e', MASTERS, [...WORKERS, 'w-05'], { 'w-05': { disk: '/dev/vdb' } }));
    expect(result.code).toBe(0);
    expect(switches(lab.calls()).map((c) => [c.node, c.args[2]])).toEqual([['w-05', `path:${FLAKE_DIR}#w-05`]]);
  });

  test('when a new worker fails to rebuild, then the apply fails naming it, and after the fault is cleared only it is deployed', async () => {
    const withFailing = description('e2e', MASTERS, [...WORKERS, 'w-05', 'w-06'], { 'w-05': { disk: '/dev/vdb' } });
    lab.node('w-06').control({ fail: true });
    lab.clearCalls();
    const failed = await apply(withFailing);
    expect(failed.code).not.toBe(0);
    expect(failed.output).toMatch(/w-06/);
    expect(failed.output).toMatch(/stand-in failure for w-06/);
    expect(nodesCalled(lab.calls())).toEqual(['w-06']);
    for (const n of [...MASTERS, ...WORKERS, 'w-05']) expect((await lab.node(n).state()).activeConfig).toBe(n);

    lab.node('w-06').control({ sleepSeconds: 2 });
    lab.clearCalls();
    expect((await apply(withFailing)).code).toBe(0);
    expect(nodesCalled(lab.calls())).toEqual(['w-06']);
    expect((await lab.node('w-06').state()).activeConfig).toBe('w-06');
  });

  test('when destroyed, then #minimal runs on every node: workers, then the other control-plane nodes one at a time, the init master last', async () => {
    lab.clearCalls();
    const result = await tf(description('e2e', MASTERS, [...WORKERS, 'w-05', 'w-06'], { 'w-05': { disk: '/dev/vdb' } }), 'destroy', '-input=false', '-auto-approve', '-no-color');
    expect(result.code).toBe(0);
    const done = switches(lab.calls());
    const all = [...MASTERS, ...WORKERS, ...SPARES];
    for (const n of all) expect(done.filter((c) => c.node === n).map((c) => c.args)).toEqual([['switch', '--flake', `path:${FLAKE_DIR}#minimal`]]);
    // Each node is named to the flake, so minimal keeps its static address.
    for (const n of all) expect(done.find((c) => c.node === n)!.flake!.minimalNode).toBe(n);
    const at = (n: string) => done.find((c) => c.node === n)!;
    const lastWorker = Math.max(...[...WORKERS, ...SPARES].map((w) => at(w).end));
    expect(lastWorker).toBeLessThanOrEqual(Math.min(at('cp-02').start, at('cp-03').start));
    expectOneAtATime([at('cp-02'), at('cp-03')]);
    expect(Math.max(at('cp-02').end, at('cp-03').end)).toBeLessThanOrEqual(at('cp-01').start);
    for (const n of all) expect((await lab.node(n).state()).clean).toBe(true);
    // A whole-cluster destroy does not drain into a dying cluster.
    expect(lab.calls().filter((c) => c.command === 'k3s' && c.args.includes('drain'))).toEqual([]);
  });
});
