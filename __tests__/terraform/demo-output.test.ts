import * as fs from 'fs';
import * as path from 'path';
import { spawnSync } from 'child_process';
import { VALID } from '../fixtures/invalid-descriptions';
import { synthApp, tempDir, terraform, terraformEnv } from '../helpers/terraform';

jest.setTimeout(10 * 60 * 1000);
const ROOT = path.resolve(__dirname, '..', '..');
const REFERENCE_NODES = ['cp-01', 'cp-02', 'cp-03', 'worker-01', 'worker-02'];

// What a new user sees from `npm run demo` on the reference cluster (embedded example, deploy off),
// with the output captured as a pipe (no terminal), as in CI or `npm run demo | less`.
describe('npm run demo on the reference cluster, output not a terminal', () => {
  const work = tempDir('demo-output');
  afterAll(() => fs.rmSync(work, { recursive: true, force: true }));

  function demo(name: string, env: NodeJS.ProcessEnv = {}) {
    const dir = path.join(work, name);
    const vars = { NICO_OUT_DIR: path.join(dir, 'out'), CDKTF_OUTDIR: path.join(dir, 'cdktf.out'), ...env };
    const r = spawnSync('bash', ['scripts/demo.sh'], { cwd: ROOT, env: terraformEnv(vars), encoding: 'utf8' });
    if (r.status !== 0) throw new Error(`demo failed (${r.status}):\n${r.stdout.slice(-3000)}\n${r.stderr.slice(-3000)}`);
    return { ...r, out: path.join(dir, 'out'), stackDir: path.join(dir, 'cdktf.out', 'stacks', 'production-cluster') };
  }

  test('when run, then it fits a screen (at most 60 lines), names every node with what happens to it, counts the rest and says where the full plan is', () => {
    const { stdout, stderr, out, stackDir } = demo('summary');
    const lines = `${stdout}${stderr}`.trimEnd().split('\n');
    expect(lines.length).toBeLessThanOrEqual(60);
    for (const node of REFERENCE_NODES) expect(stdout).toMatch(new RegExp(`^ +\\S+ +${node}: nothing \\(deploy is off\\)$`, 'm'));
    expect(stdout).toMatch(/^ +init-master +cp-01: /m);
    expect(stdout).toMatch(/^ +worker +worker-02: /m);
    expect(stdout).toMatch(/^demo: other resources .*: \d+ to create$/m);
    // The saved plan is where the line says, and `terraform show` of it is Terraform's full plan.
    const plan = path.join(out, 'demo.tfplan');
    expect(stdout).toContain(`terraform -chdir=${stackDir} show ${plan}`);
    const shown = spawnSync('terraform', [`-chdir=${stackDir}`, 'show', '-no-color', plan], { env: terraformEnv(), encoding: 'utf8' });
    expect(shown.stdout).toMatch(/# module\.cluster\.local_file\.cluster_nix\[0\] will be created/);
    expect((fs.statSync(plan).mode & 0o777).toString(8)).toBe('600');
    // The end: where things are, and no colour codes anywhere.
    expect(stdout).toMatch(/demo: done\. Cluster "production-cluster"/);
    expect(`${stdout}${stderr}`).not.toMatch(/\x1b\[/);
  });

  test('given NICO_FULL_PLAN=1, when run, then Terraform\'s full plan is printed as before, without colour codes', () => {
    const { stdout } = demo('full', { NICO_FULL_PLAN: '1' });
    expect(stdout).toMatch(/^ {2}# module\.cluster\.local_file\.cluster_nix\[0\] will be created$/m);
    expect(stdout).toMatch(/^Plan: \d+ to add, 0 to change, 0 to destroy\.$/m);
    expect(stdout).toMatch(/name = "production-cluster";/);
    expect(stdout).not.toMatch(/\x1b\[/);
  });
});

// The summary of a plan that is never applied (no machine is contacted): the real plan of a first
// deploy where one machine is installed first, through `terraform show -json` as demo.sh reads it.
describe('the plan summary of a first deploy with an install', () => {
  const work = tempDir('demo-summary');
  afterAll(() => fs.rmSync(work, { recursive: true, force: true }));

  test('when summarised, then the installed node says its disk is wiped before it is created, every other node is created, and nothing asks for a yes', () => {
    const workers = (VALID.workers ?? []).map((w) => (w.name === 'worker-02' ? { ...w, install: true } : w));
    const { stackDir } = synthApp({ ...VALID, deploy: true, workers }, work);
    terraform(stackDir, ['init', '-input=false']);
    terraform(stackDir, ['plan', '-input=false', '-out=first.tfplan']);
    const json = terraform(stackDir, ['show', '-json', 'first.tfplan']).stdout;
    const r = spawnSync('node', [path.join(ROOT, 'scripts', 'plan-summary.js')], { input: json, encoding: 'utf8' });
    expect(r.status).toBe(0);
    expect(r.stdout).toMatch(/^ +worker +worker-02: installed with nixos-anywhere \(its disk is wiped\), then created$/m);
    for (const node of REFERENCE_NODES.filter((n) => n !== 'worker-02')) expect(r.stdout).toMatch(new RegExp(`^ +\\S+ +${node}: created$`, 'm'));
    expect(r.stdout).not.toMatch(/this plan changes deployed nodes/);
  });
});


// A restore throws away everything written after the snapshot: the summary says so and asks, as for a
// redeploy of deployed nodes; not on the apply that creates the cluster, where it restores nothing.
describe('the plan summary of a restore', () => {
  const restoreChange = (actions: string[]) => ({ type: 'terraform_data', name: 'restore', index: 0, change: { actions, after: { input: { snapshot: 'pre-apply-20261206-041502-cp-01-1796530502', generation: 2 } } } });
  const summary = (changes: object[]) => spawnSync('node', [path.join(ROOT, 'scripts', 'plan-summary.js')], { input: JSON.stringify({ resource_changes: changes }), encoding: 'utf8' });

  test('when a plan raises the restore generation of a running cluster, then it names the snapshot, says what is lost, and asks', () => {
    const r = summary([restoreChange(['delete', 'create'])]);
    expect(r.status).toBe(3);
    expect(r.stdout).toContain('demo: this plan restores the cluster from etcd snapshot pre-apply-20261206-041502-cp-01-1796530502 (generation 2, unless a generation as high was restored before): everything written to the cluster after that snapshot is lost');
  });

  test('when the plan creates the cluster, then the restore step asks nothing (it restores nothing)', () => {
    const r = summary([restoreChange(['create']), { type: 'terraform_data', name: 'cluster', index: 0, change: { actions: ['create'], after: { input: {} } } }]);
    expect(r.status).toBe(0);
    expect(r.stdout).not.toContain('restores the cluster');
  });
});
