import * as fs from 'fs';
import * as path from 'path';
import { ClusterDescription } from '../../constructs';
import { tempDir, terraformEnv } from '../helpers/terraform';
import { TestLab } from './harness';
import { PrintedSecrets } from './harness/secrets';
import { ClusterRuns, startClusterLab, switchedTo } from './support';

jest.setTimeout(20 * 60 * 1000);

// `npm run demo` with deploy on, as a user reads it: the plan node by node before anything is applied,
// a line per node step while it runs, a table at the end, and a failure's node, step and fix last.
const MASTERS = ['dm-01', 'dm-02'];
const WORKERS = ['dw-01', 'dw-02'];
const ADDRESS: Record<string, string> = { 'dm-01': '127.0.0.41', 'dm-02': '127.0.0.42', 'dw-01': '127.0.0.51', 'dw-02': '127.0.0.52' };
const ROLE: Record<string, string> = { 'dm-01': 'init-master', 'dm-02': 'control-plane', 'dw-01': 'worker', 'dw-02': 'worker' };
const ROOT = path.resolve(__dirname, '..', '..');

let lab: TestLab;
let runs: ClusterRuns;
let printed: PrintedSecrets;
const work = tempDir('e2e-demo');
const DIR = path.join(work, 'demo');
const STACK_DIR = path.join(DIR, 'cdktf.out', 'stacks', 'demo');

beforeAll(async () => {
  let key;
  ({ lab, runs, key } = await startClusterLab(work, ADDRESS, (name) => name.startsWith('dm-')));
  printed = PrintedSecrets.watch(lab, () => terraformEnv());
  printed.addSecret(fs.readFileSync(key.privateKeyFile, 'utf8'), 'the machine key file (sshPrivateKeyFile)');
});

// Issue 25: what the demo prints, and the apply log it keeps, hold no secret of the state.
afterEach(() => printed?.expectNoSecretPrinted());

/** The demo's output and its apply log, for the secrets check (demo.sh is not a terraform run the watch sees). */
function recordForSecrets(what: string, text: string) {
  const log = path.join(DIR, 'out', 'demo-apply.log');
  printed.record(what, text, STACK_DIR);
  if (fs.existsSync(log)) printed.record(`${what}: demo-apply.log`, fs.readFileSync(log, 'utf8'), STACK_DIR);
}

afterAll(async () => {
  await lab?.stop();
  fs.rmSync(work, { recursive: true, force: true });
});

/** scripts/demo.sh on `d`, in the lab, without a terminal (stdin empty, output captured). */
async function demo(d: ClusterDescription, env: NodeJS.ProcessEnv = {}) {
  const dir = path.join(work, 'demo');
  fs.mkdirSync(dir, { recursive: true });
  const file = path.join(dir, 'cluster.json');
  fs.writeFileSync(file, JSON.stringify(d));
  const vars = { NICO_CLUSTER_FILE: file, NICO_OUT_DIR: path.join(dir, 'out'), CDKTF_OUTDIR: path.join(dir, 'cdktf.out'), ...env };
  lab.clearCalls();
  const r = await lab.exec('bash', ['scripts/demo.sh'], { env: terraformEnv(vars), cwd: ROOT });
  recordForSecrets(`demo.sh ${JSON.stringify(env)}`, r.stdout + r.stderr);
  return { ...r, output: r.stdout + r.stderr, calls: lab.calls() };
}

const cluster = (workers = WORKERS, extra: Partial<ClusterDescription> = {}, patch = {}) => runs.description('demo', MASTERS, workers, patch, extra);

/** The summary's line for `node`: its role, then `node: what happens`. */
const planLine = (node: string, what: string) => new RegExp(`^ +${ROLE[node]} +${node}: ${what.replace(/[()#]/g, '\\$&')}$`, 'm');
/** The end-of-apply table's row for `node`. */
const tableRow = (node: string, action: string, result: string) => new RegExp(`^ +${node} +${ROLE[node]} +${action.replace(/[()#]/g, '\\$&')} +(\\d+|-) +${result.replace(/[()]/g, '\\$&')}$`, 'm');

describe('npm run demo with deploy on, through a cluster\'s life', () => {
  test('given nothing is deployed, when run, then every node is named as created, each deploy gets a progress line, and the table shows every node ok', async () => {
    const r = await demo(cluster());
    if (r.code !== 0) process.stderr.write(r.output.slice(-4000));
    expect(r.code).toBe(0);
    for (const n of [...MASTERS, ...WORKERS]) {
      expect(r.stdout).toMatch(planLine(n, 'created'));
      expect(r.stdout).toMatch(new RegExp(`^demo: \\[\\d+:\\d\\d\\] ${n} \\(${ROLE[n]}\\): deployed in \\d+s$`, 'm'));
      expect(r.stdout).toMatch(tableRow(n, 'created', 'ok'));
    }
    expect(r.stdout).not.toMatch(/this plan changes deployed nodes/);
    expect(r.stdout).toMatch(/^ +node +role +action +seconds +result$/m);
    expect(Object.keys(switchedTo(r.calls)).sort()).toEqual([...MASTERS, ...WORKERS].sort());
    expect(r.output).not.toMatch(/\x1b\[/);
  });

  test('when run again unchanged, then every node is named with nothing to do and no machine is contacted', async () => {
    const r = await demo(cluster());
    expect(r.code).toBe(0);
    for (const n of [...MASTERS, ...WORKERS]) expect(r.stdout).toMatch(planLine(n, 'nothing'));
    expect(r.stdout).not.toMatch(/^demo: \[/m);
    expect(r.calls).toEqual([]);
  });

  test('when the VIP changes, then every node is named as drained and redeployed, applied only once confirmed', async () => {
    const moved = cluster(WORKERS, { vip: '127.0.0.101' });
    const refused = await demo(moved);
    expect(refused.code).not.toBe(0);
    expect(refused.stdout).toMatch(/^demo: this plan changes deployed nodes:$/m);
    for (const n of [...MASTERS, ...WORKERS]) expect(refused.stdout).toMatch(planLine(n, 'drained and redeployed (its configuration changed)'));
    expect(refused.stderr).toMatch(/NICO_CONFIRM_CHANGES=yes/);
    expect(refused.calls).toEqual([]);

    const r = await demo(moved, { NICO_CONFIRM_CHANGES: 'yes' });
    if (r.code !== 0) process.stderr.write(r.output.slice(-4000));
    expect(r.code).toBe(0);
    for (const n of [...MASTERS, ...WORKERS]) expect(r.stdout).toMatch(tableRow(n, 'drained and redeployed', 'ok'));
    expect(switchedTo(r.calls)).toEqual(Object.fromEntries([...MASTERS, ...WORKERS].map((n) => [n, [n]])));
  });

  test('when a worker is removed, then it alone is named as cleaned with #minimal, the others as nothing, and the table says so', async () => {
    const fewer = cluster(['dw-01'], { vip: '127.0.0.101' });
    const refused = await demo(fewer);
    expect(refused.code).not.toBe(0);
    expect(refused.stdout).toMatch(planLine('dw-02', 'drained, removed from the cluster and cleaned with #minimal'));
    for (const n of [...MASTERS, 'dw-01']) expect(refused.stdout).toMatch(planLine(n, 'nothing'));

    const r = await demo(fewer, { NICO_CONFIRM_CHANGES: 'yes' });
    if (r.code !== 0) process.stderr.write(r.output.slice(-4000));
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^demo: \[\d+:\d\d\] dw-02 \(worker\): drained and cleaned with #minimal in \d+s$/m);
    expect(r.stdout).toMatch(tableRow('dw-02', 'cleaned with #minimal', 'ok'));
    for (const n of [...MASTERS, 'dw-01']) expect(r.stdout).toMatch(tableRow(n, 'nothing', '-'));
    expect(switchedTo(r.calls)).toEqual({ 'dw-02': ['minimal'] });
  });

  test('given a node whose pinned host key is wrong, when it is added, then the last lines name the node, the step and the fix', async () => {
    const wrong = { 'dw-02': { hostKey: lab.node('dm-01').hostPublicKey } };
    const r = await demo(cluster(WORKERS, { vip: '127.0.0.101' }, wrong));
    expect(r.code).not.toBe(0);
    const last = r.stdout.trimEnd().split('\n').pop();
    expect(last).toMatch(/^demo: FAILED: dw-02 \(worker\), step deploy: cannot connect to root@127\.0\.0\.52 port 22: the host key it presented is not the pinned one .*check the node's \/etc\/ssh\/ssh_host_ed25519_key\.pub and the hostKey setting$/);
    expect(r.stdout).toMatch(tableRow('dw-02', 'created', 'FAILED (deploy)'));
    expect(switchedTo(r.calls)).toEqual({});
  });

  test('given a node switching, when the user presses Ctrl-C, then Terraform still stops cleanly (the progress filter does not die first) and the next run converges', async () => {
    const d = cluster(WORKERS, { vip: '127.0.0.101' });
    const dir = path.join(work, 'demo');
    fs.writeFileSync(path.join(dir, 'cluster.json'), JSON.stringify(d));
    const vars = { NICO_CLUSTER_FILE: path.join(dir, 'cluster.json'), NICO_OUT_DIR: path.join(dir, 'out'), CDKTF_OUTDIR: path.join(dir, 'cdktf.out') };
    lab.node('dw-02').control({ sleepSeconds: 40 });
    lab.clearCalls();
    // setsid: a process group of its own, which a terminal's Ctrl-C signals as a whole; its id is
    // the pid of the shell that setsid starts (setsid may fork), which the shell writes down.
    const group = path.join(dir, 'group');
    fs.rmSync(group, { force: true });
    const child = lab.spawn('setsid', ['sh', '-c', 'echo $$ >"$0" && exec bash scripts/demo.sh', group], { env: terraformEnv(vars), cwd: ROOT });
    let stdout = '';
    child.stdout!.on('data', (b: Buffer) => (stdout += b.toString()));
    child.stderr!.on('data', (b: Buffer) => (stdout += b.toString()));
    child.stdin!.end();
    let done = false;
    const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => ((done = true), resolve(code))));
    // dw-02 is the only step: it starts with the apply, connects, uploads, then switches for 40 s.
    // (The stand-ins record a call when it ends, so the apply's own line is the sign to wait for.)
    for (let i = 0; i < 240 && !done && !stdout.includes('demo: terraform apply in'); i++) await new Promise((r) => setTimeout(r, 500));
    await new Promise((r) => setTimeout(r, 8000));
    if (done) throw new Error(`demo ended before it was interrupted:\n${stdout.slice(-3000)}`);
    process.kill(-Number(fs.readFileSync(group, 'utf8')), 'SIGINT');
    expect(await exited).not.toBe(0);
    recordForSecrets('demo.sh interrupted', stdout);
    // Its failed deploy of the test before is run again, without asking: it never was deployed.
    expect(stdout).toMatch(planLine('dw-02', 'deployed again (its last deploy failed)'));
    expect(stdout).toMatch(/^demo: FAILED: dw-02 \(worker\), step deploy: /m);
    // Terraform was not killed mid-write: no state lock is left behind and the state is whole.
    expect(fs.existsSync(path.join(dir, 'out', '.terraform.tfstate.lock.info'))).toBe(false);

    lab.node('dw-02').control({});
    const again = await demo(d);
    if (again.code !== 0) process.stderr.write(again.output.slice(-4000));
    expect(again.code).toBe(0);
    // The record the interrupted run replaced is only dropped: dw-02 is not cleaned, and no yes is asked.
    expect(again.stdout).toMatch(planLine('dw-02', 'deployed again (its last deploy failed)'));
    expect(again.stdout).toMatch(tableRow('dw-02', 'deployed again', 'ok'));
    expect(switchedTo(again.calls)).toEqual({ 'dw-02': ['dw-02'] });
    expect((await lab.node('dw-02').state()).activeConfig).toBe('dw-02');
  });
});
