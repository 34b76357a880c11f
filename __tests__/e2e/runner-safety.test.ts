import { ChildProcess } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { synthApp, tempDir, TERRAFORM, terraformEnv } from '../helpers/terraform';
import { run, TestLab } from './harness';
import { expectNoSecretPrintedInAnyScenario } from './harness/secrets';
import { ClusterRuns, filesHolding, kubectlVerbsOn, startClusterLab, switchedTo } from './support';

jest.setTimeout(20 * 60 * 1000);

// Issue 25, the runner's side: the machine that runs Terraform is shared ground. A second,
// unprivileged user (created here) plants what the issue describes in the TMPDIR Terraform runs with
// (a shared, sticky directory like /tmp); every planting is refused with a clear message and nothing
// outside the project's own files is touched. A stale marker never skips a drain, and a SIGKILL of
// terraform mid-deploy leaves no secret byte on the runner's disk.
const MASTERS = ['cp-01'];
const WORKERS = ['w-01', 'w-02'];
const ADDRESS: Record<string, string> = { 'cp-01': '127.0.0.51', 'w-01': '127.0.0.61', 'w-02': '127.0.0.62' };
const OTHER = `nicoe2e${process.pid}`;

let lab: TestLab;
let runs: ClusterRuns;
let other: { uid: number; gid: number };
const work = tempDir('e2e-runner-safety');
// The TMPDIR Terraform runs with: world-writable and sticky, as /tmp is.
const shared = fs.mkdtempSync(path.join(os.tmpdir(), 'nico-e2e-shared-'));
const base = path.join(shared, `nico-cluster-${process.getuid!()}`);
// Root's files outside the project, which a planted link points at.
const victimDir = path.join(work, 'victim');
const victim = path.join(victimDir, 'precious');

beforeAll(async () => {
  fs.chmodSync(shared, 0o1777);
  fs.mkdirSync(victimDir, { mode: 0o755 });
  fs.writeFileSync(victim, 'precious\n', { mode: 0o644 });
  await run('useradd', ['--system', '--no-create-home', '--shell', '/usr/sbin/nologin', OTHER], { check: true });
  const id = (flag: string) => run('id', [flag, OTHER], { check: true }).then((r) => Number(r.stdout.trim()));
  other = { uid: await id('-u'), gid: await id('-g') };
  ({ lab, runs } = await startClusterLab(work, ADDRESS, (name) => MASTERS.includes(name)));
  runs.runner = (env) => ({ ...env, TMPDIR: shared });
});

// Issue 25: no scenario's plan or apply output holds a secret of the state (harness/secrets.ts).
expectNoSecretPrintedInAnyScenario(() => lab);

afterAll(async () => {
  await lab?.stop();
  await run('userdel', [OTHER]);
  fs.rmSync(work, { recursive: true, force: true });
  fs.rmSync(shared, { recursive: true, force: true });
});

/** Runs a shell script as the other, unprivileged user. */
async function asOther(script: string): Promise<void> {
  await run('setpriv', ['--reuid', String(other.uid), '--regid', String(other.gid), '--clear-groups', '/bin/sh', '-ec', script], { check: true });
}

const cluster = (workers = WORKERS, patch = {}) => runs.description('safety', MASTERS, workers, patch, { readyTimeoutSeconds: 10, sshConnectTimeoutSeconds: 3 });

async function tf(d: ReturnType<typeof cluster>, ...args: string[]) {
  lab.clearCalls();
  await runs.tf(d, 'init', '-input=false');
  const result = await runs.tf(d, ...args, '-input=false', '-auto-approve', '-no-color');
  return { ...result, calls: lab.calls() };
}

const clusterId = async (d: ReturnType<typeof cluster>) => (await runs.stateValues(d)).find((r) => r.type === 'terraform_data' && r.name === 'cluster')!.values.id as string;

const victimUntouched = () => {
  expect(fs.readFileSync(victim, 'utf8')).toBe('precious\n');
  expect(fs.statSync(victim).mode & 0o7777).toBe(0o644);
  expect(fs.statSync(victimDir).mode & 0o7777).toBe(0o755);
  expect(fs.readdirSync(victimDir)).toEqual(['precious']);
};

describe('the runner as shared ground', () => {
  test('given a clean TMPDIR, when the cluster is deployed, then its runner state is one directory of this user, 0700, with no secret in it', async () => {
    const result = await tf(cluster(), 'apply');
    if (result.code !== 0) process.stderr.write(result.output.slice(-4000));
    expect(result.code).toBe(0);
    const st = fs.lstatSync(base);
    expect(st.isDirectory()).toBe(true);
    expect([st.uid, st.mode & 0o7777]).toEqual([process.getuid!(), 0o700]);
    expect(fs.readdirSync(shared)).toEqual([path.basename(base)]);
    expect(filesHolding(shared, await runs.secretsOnDisk(cluster()))).toEqual([]);
  });

  test('given another user created the state directory first and linked the teardown marker to a file of root, when the cluster is destroyed, then the destroy is refused naming the directory and the fix, and nothing is written or removed', async () => {
    const id = await clusterId(cluster());
    fs.rmSync(base, { recursive: true });
    await asOther(`mkdir -m 0777 '${base}' && ln -s '${victim}' '${base}/${id}.teardown' && : >'${base}/${id}.workers.0'`);
    const before = fs.readdirSync(base).sort();

    const refused = await tf(cluster(), 'destroy');
    expect(refused.code).not.toBe(0);
    expect(refused.output).toMatch(new RegExp(`the runner state directory ${base} belongs to another user \\(${OTHER}\\)`));
    expect(refused.output).toMatch(/set TMPDIR to a directory only you can write to/);
    victimUntouched();
    expect(fs.readdirSync(base).sort()).toEqual(before);
    expect(fs.statSync(base).mode & 0o7777).toBe(0o777);
    expect(switchedTo(refused.calls)).toEqual({}); // no node was cleaned
    expect(refused.calls.filter((c) => c.command === 'k3s')).toEqual([]);
    await asOther(`rm -rf '${base}'`);
  });

  test('given another user planted the state directory as a symlink to a directory of root, when a change is applied, then it is refused naming the link, the directory keeps its mode and contents, and once the link is gone the same apply succeeds', async () => {
    await asOther(`ln -s '${victimDir}' '${base}'`);
    const change = cluster(WORKERS, { 'w-01': { labels: { rev: '2' } } });

    const refused = await tf(change, 'apply');
    expect(refused.code).not.toBe(0);
    expect(refused.output).toMatch(new RegExp(`the runner state directory ${base} is a symbolic link \\(to ${victimDir}\\), which nico-cluster never follows`));
    victimUntouched();
    expect(switchedTo(refused.calls)).toEqual({});

    fs.unlinkSync(base);
    const again = await tf(change, 'apply');
    if (again.code !== 0) process.stderr.write(again.output.slice(-4000));
    expect(again.code).toBe(0);
    expect(switchedTo(again.calls)).toEqual({ 'w-01': ['w-01'] });
    victimUntouched();
  });

  test('given the state directory is this user\'s but others may write to it, when a change is applied, then it is refused, naming the fix, and its mode is left as it is', async () => {
    fs.chmodSync(base, 0o777);
    const refused = await tf(cluster(WORKERS, { 'w-01': { labels: { rev: '5' } } }), 'apply');
    expect(refused.code).not.toBe(0);
    expect(refused.output).toMatch(new RegExp(`the runner state directory ${base} may be written by other users \\(drwxrwxrwx\\): chmod 0700 it`));
    expect(fs.statSync(base).mode & 0o7777).toBe(0o777);
    expect(switchedTo(refused.calls)).toEqual({});
    fs.chmodSync(base, 0o700);
  });

  test('given a whole-cluster destroy failed half way (and an older marker is lying about), when a later apply removes a worker, then that worker is drained and its Node deleted', async () => {
    lab.node('w-02').control({ fail: true });
    const id = await clusterId(cluster());
    const failed = await tf(cluster(), 'destroy');
    expect(failed.code).not.toBe(0);
    expect(failed.output).toMatch(/nico: w-02: the whole cluster is being destroyed: no drain/);
    // What the earlier layout left after such a destroy: a plain marker named after the cluster.
    fs.writeFileSync(path.join(base, `${id}.teardown`), '');

    lab.node('w-02').control({});
    const removal = await tf(cluster([]), 'apply');
    if (removal.code !== 0) process.stderr.write(removal.output.slice(-4000));
    expect(removal.code).toBe(0);
    expect(removal.output).not.toMatch(/nico: w-02: the whole cluster is being destroyed/);
    expect(kubectlVerbsOn(removal.calls, 'w-02')).toEqual(['drain', 'delete']);
    expect(switchedTo(removal.calls)['w-02']).toEqual(['minimal']);
  });

  test('given terraform is killed (SIGKILL, with its steps) while a node switches, then no secret byte is on the runner, while it ran or after, and the next step removes what the killed apply left', async () => {
    // w-02 back (its Node was deleted: it joins as new), then a change whose switch on it takes long.
    const restored = await tf(cluster(['w-02']), 'apply');
    if (restored.code !== 0) process.stderr.write(restored.output.slice(-4000));
    expect(restored.code).toBe(0);
    lab.node('w-02').control({ sleepSeconds: 60 });
    const change = cluster(['w-02'], { 'w-02': { labels: { rev: '3' } } });
    const { stackDir } = synthApp(change, path.join(work, change.name));
    await runs.tf(change, 'init', '-input=false');
    const needles = await runs.secretsOnDisk(change);

    // setsid: terraform leads its own process group, which holds its steps and their ssh clients.
    const child: ChildProcess = lab.spawn('setsid', [TERRAFORM, `-chdir=${stackDir}`, 'apply', '-input=false', '-auto-approve', '-no-color'], { env: runs.runner(terraformEnv()) });
    let output = '';
    child.stdout!.on('data', (d: Buffer) => (output += d.toString()));
    child.stderr!.on('data', (d: Buffer) => (output += d.toString()));
    const exited = new Promise((resolve) => child.once('exit', resolve));
    const deadline = Date.now() + 180_000;
    while (!/nico: w-02: nixos-rebuild switch --flake/.test(output) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 500));
    expect(output).toMatch(/nico: w-02: nixos-rebuild switch --flake/);
    expect(filesHolding(shared, needles)).toEqual([]);
    expect(fs.readdirSync(base).filter((e) => e.startsWith('step.')).length).toBe(1); // the step runs

    process.kill(-child.pid!, 'SIGKILL');
    await exited;
    expect(needles.filter((n) => output.includes(n))).toEqual([]); // nor in what it printed
    expect(filesHolding(shared, needles)).toEqual([]);
    const left = fs.readdirSync(base).filter((e) => e.startsWith('step.') || e.startsWith('apply.'));
    expect(left.length).toBeGreaterThan(0);

    // The next step that starts (here: a further change of w-02) removes them.
    lab.node('w-02').control({});
    const again = await tf(cluster(['w-02'], { 'w-02': { labels: { rev: '4' } } }), 'apply');
    if (again.code !== 0) process.stderr.write(again.output.slice(-4000));
    expect(again.code).toBe(0);
    expect(fs.readdirSync(base).filter((e) => left.includes(e))).toEqual([]);
    expect(filesHolding(shared, needles)).toEqual([]);
  });
});
