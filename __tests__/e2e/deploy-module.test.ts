import * as fs from 'fs';
import * as path from 'path';
import { Expression, writeJsonModuleRoot, writeModuleRoot } from '../helpers/module-root';
import { TERRAFORM, terraformEnv } from '../helpers/terraform';
import { KeyPair, TestLab } from './harness';
import { ADDRESS, deployLab, FLAKE_DIR, MASTERS, nodesCalled, ROOT } from './deploy-lab';
import { expectOneAtATime, interval, switches } from './support';

jest.setTimeout(20 * 60 * 1000);

// Failures that stop a deployment early, the HCL module deployed over SSH, and the app through
// `cdktf deploy`, on a lab of their own (deploy.test.ts: the app's cluster through its life).
const d = deployLab('deploy-module');
const { work, description, tf, apply } = d;
let lab: TestLab;
let key: KeyPair;
beforeAll(() => ({ lab, key } = d));

describe('failures that must stop the deployment early', () => {
  test('given the init master fails to rebuild, when applied, then no joiner and no worker is touched', async () => {
    lab.node('cp-01').control({ fail: true });
    lab.clearCalls();
    const result = await apply(description('init-fails', MASTERS, ['w-01', 'w-02']));
    lab.node('cp-01').control({});
    expect(result.code).not.toBe(0);
    expect(result.output).toMatch(/stand-in failure for cp-01/);
    expect(nodesCalled(lab.calls())).toEqual(['cp-01']);
  });

  test('given a wrong pinned host key, when applied, then it fails fast, naming the node, the address and the fix, before any command runs there', async () => {
    await lab.node('cp-02').shell(`mkdir -p ${FLAKE_DIR} && echo untouched > ${FLAKE_DIR}/marker`);
    lab.clearCalls();
    const wrong = { 'cp-02': { hostKey: lab.node('w-01').hostPublicKey } };
    await tf(description('pinned', ['cp-02'], [], wrong), 'init', '-input=false');
    const started = Date.now();
    const result = await tf(description('pinned', ['cp-02'], [], wrong), 'apply', '-input=false', '-auto-approve', '-no-color');
    expect(Date.now() - started).toBeLessThan(60_000); // Terraform's own SSH retried for 2 minutes
    expect(result.code).not.toBe(0);
    expect(result.output).toContain(`nico: cp-02: error: cannot connect to root@${ADDRESS['cp-02']} port 22`);
    expect(result.output).toMatch(/host key it presented is not the pinned one/);
    expect(lab.calls()).toEqual([]);
    expect(await lab.node('cp-02').readFile(`${FLAKE_DIR}/marker`)).toBe('untouched\n'); // not even the upload's rm ran
  });
});

describe('the HCL module deployed over SSH', () => {
  const masters = MASTERS;
  const workers = ['w-01', 'w-02', 'w-03'];
  const root = path.join(work, 'module-root');
  const terraformIn = (...args: string[]) => lab.exec(TERRAFORM, [`-chdir=${root}`, ...args], { env: terraformEnv() });

  test('when applied, then it deploys in the same order as the app: init, joiners one at a time, workers in parallel', async () => {
    writeModuleRoot(root, description('module', masters, workers), path.join(work, 'module-out'));
    expect((await terraformIn('init', '-input=false')).code).toBe(0);
    lab.clearCalls();
    const result = await terraformIn('apply', '-input=false', '-auto-approve', '-no-color');
    expect(result.code).toBe(0);
    const calls = lab.calls();
    for (const n of [...masters, ...workers]) {
      expect(switches(calls).filter((c) => c.node === n).map((c) => c.args)).toEqual([['switch', '--flake', `path:${FLAKE_DIR}#${n}`]]);
    }
    const [init, ...joiners] = masters.map((m) => interval(calls, m));
    const w = workers.map((n) => interval(calls, n));
    for (const j of joiners) expect(init.end).toBeLessThanOrEqual(j.start);
    expectOneAtATime(joiners);
    for (const x of w) for (const j of joiners) expect(j.end).toBeLessThanOrEqual(x.start);
    expect(Math.max(...w.map((x) => x.start))).toBeLessThan(Math.min(...w.map((x) => x.end)));
  });

  test('when a middle control-plane node is removed, then only it is drained, deleted and cleaned, and the next plan is empty', async () => {
    writeModuleRoot(root, description('module', ['cp-01', 'cp-03'], workers), path.join(work, 'module-out'));
    lab.clearCalls();
    const result = await terraformIn('apply', '-input=false', '-auto-approve', '-no-color');
    expect(result.code).toBe(0);
    const calls = lab.calls();
    expect(switches(calls).filter((c) => c.args[2].endsWith('#minimal')).map((c) => c.node)).toEqual(['cp-02']);
    expect(calls.filter((c) => c.command === 'k3s' && ['drain', 'delete'].includes(c.args[1]) && c.args.includes('cp-02')).map((c) => c.args[1])).toEqual(['drain', 'delete']);
    expect((await terraformIn('plan', '-input=false', '-detailed-exitcode', '-no-color')).code).toBe(0);
    writeModuleRoot(root, description('module', masters, workers), path.join(work, 'module-out'));
    lab.clearCalls();
    expect((await terraformIn('apply', '-input=false', '-auto-approve', '-no-color')).code).toBe(0);
    expect(switches(lab.calls()).map((c) => c.node)).toContain('cp-02'); // back, as a new member
  });

  test('when destroyed, then #minimal runs on workers first, joiners last to first, the init master last', async () => {
    lab.clearCalls();
    expect((await terraformIn('destroy', '-input=false', '-auto-approve', '-no-color')).code).toBe(0);
    const done = switches(lab.calls());
    for (const n of [...masters, ...workers]) expect(done.filter((c) => c.node === n).map((c) => c.args)).toEqual([['switch', '--flake', `path:${FLAKE_DIR}#minimal`]]);
    for (const n of [...masters, ...workers]) expect(done.find((c) => c.node === n)!.flake!.minimalNode).toBe(n);
    const at = (n: string) => done.find((c) => c.node === n)!;
    expect(Math.max(...workers.map((n) => at(n).end))).toBeLessThanOrEqual(Math.min(at('cp-02').start, at('cp-03').start));
    expectOneAtATime([at('cp-02'), at('cp-03')]);
    expect(Math.max(at('cp-02').end, at('cp-03').end)).toBeLessThanOrEqual(at('cp-01').start);
  });
});

describe('the HCL module given values unknown until apply that break a rule', () => {
  test('when applied with deploy on, then it fails before any file is written and before any node is touched', async () => {
    const root = path.join(work, 'module-unknown');
    const out = path.join(work, 'module-unknown-out');
    // The VIP comes from another resource and equals cp-01's address: only apply can see it.
    const d = { ...description('unknown', ['cp-01'], ['w-01']), vip: new Expression('terraform_data.vip.output') } as unknown as Record<string, unknown>;
    writeJsonModuleRoot(root, { k3s: { ...d, outputDir: out, sshPrivateKey: new Expression(`file(${JSON.stringify(key.privateKeyFile)})`), sshPrivateKeyFile: undefined } },
      { resource: { terraform_data: { vip: { input: ADDRESS['cp-01'] } } } });
    const tfIn = (...args: string[]) => lab.exec(TERRAFORM, [`-chdir=${root}`, ...args], { env: terraformEnv() });
    expect((await tfIn('init', '-input=false')).code).toBe(0);
    lab.clearCalls();
    const result = await tfIn('apply', '-input=false', '-auto-approve', '-no-color');
    expect(result.code).not.toBe(0);
    expect(result.stdout + result.stderr).toMatch(/vip must not be the ip of any node/);
    expect(lab.calls()).toEqual([]);
    expect(fs.existsSync(path.join(out, 'nix'))).toBe(false);
  });
});

describe('the app deployed with cdktf deploy', () => {
  test('when deployed and destroyed with the cdktf CLI (offline: --skip-provider-lock), then the node is switched and then cleaned', async () => {
    const dir = path.join(work, 'via-cdktf');
    fs.mkdirSync(dir, { recursive: true });
    const file = path.join(dir, 'cluster.json');
    fs.writeFileSync(file, JSON.stringify(description('via-cdktf', ['cp-02'], [])));
    const env = terraformEnv({ NICO_CLUSTER_FILE: file, NICO_OUT_DIR: path.join(dir, 'out'), CI: 'true' });
    const cdktf = (command: string) =>
      lab.exec('npx', ['cdktf', command, '--skip-provider-lock', '--auto-approve', '--output', path.join(dir, 'cdktf.out'), 'via-cdktf'], { env, cwd: ROOT });

    lab.clearCalls();
    const deployed = await cdktf('deploy');
    expect(deployed.code).toBe(0);
    expect(switches(lab.calls()).map((c) => [c.node, c.args[2]])).toEqual([['cp-02', `path:${FLAKE_DIR}#cp-02`]]);

    lab.clearCalls();
    expect((await cdktf('destroy')).code).toBe(0);
    expect(switches(lab.calls()).map((c) => [c.node, c.args[2]])).toEqual([['cp-02', `path:${FLAKE_DIR}#minimal`]]);
  });
});
