/**
 * `npm run bench`: scale, deployment and change-scope benchmarks side by side with their floors, in
 * one run; prints the tables and writes them to bench/RESULTS.md with the machine, versions and date.
 * See bench/README.md for what is measured and how.
 *
 * Environment (for partial runs; a partial run writes bench/RESULTS.partial.md instead):
 *   NICO_BENCH_SECTIONS         comma list of scale, deploy, scope (default all)
 *   NICO_BENCH_WORKERS          comma list of W for the scale benchmark (default 10,100,1000)
 *   NICO_BENCH_REPS             repetitions per W (default 3 for W <= 100, 1 above; medians reported)
 *   NICO_BENCH_REBUILD_SECONDS  T, how long each stand-in rebuild takes (default 5)
 *   NICO_BENCH_KEEP=1           keep the work directory
 */
import { spawnSync } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { TERRAFORM, terraformEnv } from '../__tests__/helpers/terraform';
import { runChangeScope, ScopeResult } from './change-scope';
import { DeployRun, RollingRun, runDeploy, runRolling } from './deploy';
import { freshLabs } from './lab-cluster';
import { ensureGnuTime, Measurement } from './measure';
import { ROOT, runScale, ScaleResult, Step } from './scale';

const DEFAULT_WORKERS = [10, 100, 1000];
const DEFAULT_T = 5;
const RAISED_PARALLELISM = 30;
const SECTIONS = ['scale', 'deploy', 'scope'] as const;

const list = (v: string | undefined) => (v ?? '').split(',').map((s) => s.trim()).filter(Boolean);
const say = (line: string) => process.stdout.write(`${line}\n`);

const s = (x: number) => x.toFixed(2);
const mib = (x: number) => x.toFixed(0);
const ratio = (a: number, b: number) => `${(a / b).toFixed(2)}x`;

function sh(cmd: string, args: string[], opts: { cwd?: string; env?: NodeJS.ProcessEnv } = {}): string {
  const r = spawnSync(cmd, args, { encoding: 'utf8', ...opts });
  return r.status === 0 ? r.stdout.trim() : '';
}

/** Terraform and the provider versions it selects (from the offline mirror, or the registry) for our three providers. */
function terraformVersions(work: string): { terraform_version?: string; provider_selections?: Record<string, string> } {
  const dir = path.join(work, 'versions');
  fs.mkdirSync(dir, { recursive: true });
  const providers = Object.fromEntries(['local', 'tls', 'random'].map((p) => [p, { source: `hashicorp/${p}` }]));
  fs.writeFileSync(path.join(dir, 'main.tf.json'), JSON.stringify({ terraform: { required_providers: providers } }));
  sh(TERRAFORM, ['init', '-input=false', '-no-color'], { cwd: dir, env: terraformEnv() });
  return JSON.parse(sh(TERRAFORM, ['version', '-json'], { cwd: dir, env: terraformEnv() }) || '{}');
}

function machine(tf: ReturnType<typeof terraformVersions>): string[] {
  const cpus = os.cpus();
  const osRelease = fs.existsSync('/etc/os-release') ? /PRETTY_NAME="?([^"\n]*)/.exec(fs.readFileSync('/etc/os-release', 'utf8'))?.[1] : undefined;
  const providers = Object.entries((tf.provider_selections ?? {}) as Record<string, string>)
    .map(([p, v]) => `${p.replace('registry.terraform.io/', '')} ${v}`)
    .join(', ');
  const pkg = (name: string) => JSON.parse(fs.readFileSync(path.join(ROOT, 'node_modules', name, 'package.json'), 'utf8')).version;
  const commit = sh('git', ['rev-parse', '--short', 'HEAD'], { cwd: ROOT });
  const dirty = sh('git', ['status', '--porcelain'], { cwd: ROOT }) !== '';
  return [
    `- Machine: ${cpus.length} cores (${cpus[0]?.model ?? 'unknown CPU'}), ${(os.totalmem() / 2 ** 30).toFixed(1)} GiB memory, ${osRelease ?? os.type()} (kernel ${os.release()})`,
    `- Versions: Terraform ${tf.terraform_version ?? '?'} (providers ${providers || '?'}), Node.js ${process.version}, cdktf ${pkg('cdktf')}, ts-node ${pkg('ts-node')}`,
    `- Repository: ${commit || '?'}${dirty ? ' with uncommitted changes' : ''}`,
  ];
}

function scaleTables(results: ScaleResult[]): string[] {
  const out: string[] = [];
  out.push('| W | step | ours s | ours MiB | floor | floor s | floor MiB | time ratio | memory ratio |', '|---:|---|---:|---:|---|---:|---:|---:|---:|');
  for (const r of results) {
    const m = r.steps;
    const sum = (a: Measurement, b: Measurement) => ({ wallS: a.wallS + b.wallS, peakRssMiB: Math.max(a.peakRssMiB, b.peakRssMiB), cpuS: a.cpuS + b.cpuS });
    const row = (step: string, ours: { wallS: number; peakRssMiB: number }, floorName: string, floor?: Measurement) =>
      out.push(
        `| ${r.workers} | ${step} | ${s(ours.wallS)} | ${mib(ours.peakRssMiB)} | ${floorName} | ${floor ? s(floor.wallS) : '-'} | ${floor ? mib(floor.peakRssMiB) : '-'} | ${
          floor ? ratio(ours.wallS, floor.wallS) : '-'
        } | ${floor ? ratio(ours.peakRssMiB, floor.peakRssMiB) : '-'} |`,
      );
    row('Node.js loading cdktf (part of every synth)', m.nodeCdktfLoad, 'nothing to synthesize');
    row('synth (deploy off)', m.synthOff, 'nothing to synthesize');
    row('synth (deploy on)', m.synthOn, 'nothing to synthesize');
    row('plan, deploy off', m.planOff, 'bare blocks', m.floorPlanOff);
    row('**synth + plan, deploy off**', sum(m.synthOff, m.planOff), 'bare blocks', m.floorPlanOff);
    row('apply, deploy off', m.applyOff, 'bare blocks', m.floorApplyOff);
    row('plan, deploy on', m.planOn, 'bare blocks', m.floorPlanOn);
    row('**synth + plan, deploy on**', sum(m.synthOn, m.planOn), 'bare blocks', m.floorPlanOn);
    row('synth + plan, deploy on', sum(m.synthOn, m.planOn), 'for_each', m.forEachFloorPlanOn);
    row('HCL module plan, deploy off', m.modulePlanOff, 'bare blocks', m.floorPlanOff);
    row('HCL module plan, deploy off, its input rules removed', m.moduleNoRulesPlanOff, 'bare blocks', m.floorPlanOff);
    row('HCL module plan, deploy on', m.modulePlanOn, 'bare blocks', m.floorPlanOn);
    row('HCL module plan, deploy on', m.modulePlanOn, 'for_each', m.forEachFloorPlanOn);
  }
  out.push('', '| W | cdk.tf.json deploy off | cdk.tf.json deploy on | our instances, deploy off | our instances, deploy on | floor deploy off | floor deploy on | repetitions |', '|---:|---:|---:|---|---|---|---|---:|');
  const inst = (c: ScaleResult['counts']['on']) => Object.entries(c.byType).map(([t, n]) => `${n} ${t}`).join(', ');
  const fl = (c: ScaleResult['counts']['on']) => `${c.terraformData} terraform_data + ${c.localFiles} local_file`;
  for (const r of results) {
    out.push(`| ${r.workers} | ${(r.jsonBytes.off / 1024).toFixed(0)} KiB | ${(r.jsonBytes.on / 1024).toFixed(0)} KiB | ${inst(r.counts.off)} | ${inst(r.counts.on)} | ${fl(r.counts.off)} | ${fl(r.counts.on)} | ${r.reps} |`);
  }
  if (results.length >= 2) {
    const steps: Array<[string, Step]> = [
      ['synth', 'synthOn'],
      ['plan, deploy off', 'planOff'],
      ['plan, deploy on', 'planOn'],
      ['HCL module plan, deploy on', 'modulePlanOn'],
      ['floor (bare blocks) plan, deploy on', 'floorPlanOn'],
      ['floor (for_each) plan, deploy on', 'forEachFloorPlanOn'],
    ];
    const ws = results.map((r) => r.workers);
    const segs = results.slice(1).map((r, i) => [results[i], r] as const);
    out.push(
      '',
      `Peak memory against W (MiB; slope in MiB per 100 workers between consecutive W; linear growth shows as similar slopes):`,
      '',
      `| step | ${ws.map((w) => `W=${w}`).join(' | ')} | ${segs.map(([a, b]) => `slope ${a.workers}->${b.workers}`).join(' | ')} |`,
      `|---|${ws.map(() => '---:').join('|')}|${segs.map(() => '---:').join('|')}|`,
    );
    for (const [label, step] of steps) {
      const slope = ([a, b]: readonly [ScaleResult, ScaleResult]) => (((b.steps[step].peakRssMiB - a.steps[step].peakRssMiB) / (b.workers - a.workers)) * 100).toFixed(1);
      out.push(`| ${label} | ${results.map((r) => mib(r.steps[step].peakRssMiB)).join(' | ')} | ${segs.map(slope).join(' | ')} |`);
    }
  }
  return out;
}

function deployTable(runs: DeployRun[], T: number): string[] {
  return [
    `| parallelism | apply s | floor 4T s | apply / 4T | worker waves | rebuild span s | handovers init->j1, j1->j2, j2->workers (s) |`,
    '|---|---:|---:|---:|---|---:|---|',
    ...runs.map(
      (r) =>
        `| ${r.parallelism === undefined ? "Terraform's default (10)" : `\`-parallelism=${r.parallelism}\``} | ${r.wallS.toFixed(1)} | ${r.floorS} | **${ratio(r.wallS, r.floorS)}** | ${r.workerWaves.join(' + ')} | ${r.rebuildSpanS.toFixed(1)} | ${r.handoversS.map((h) => h.toFixed(1)).join(', ')} |`,
    ),
    '',
    `T = ${T} s; 23 nodes (3 masters, 20 workers); ${runs[0]?.rebuilds ?? 0} nixos-rebuild calls per run.`,
    '',
    'Where the time goes: the critical path of each apply, cut at the `nico: <node>: ...` lines Terraform prints (timestamped',
    'as they arrive) and the stand-ins\' call records; the segments add up to the apply time. With the default parallelism the',
    'workers segment holds the first wave of 10 as well.',
    '',
    `| segment | ${runs.map((r) => (r.parallelism === undefined ? 'default s' : `-parallelism=${r.parallelism} s`)).join(' | ')} |`,
    `|---|${runs.map(() => '---:').join('|')}|`,
    ...(runs[0]?.path ?? []).map((seg, i) => `| ${seg.what} | ${runs.map((r) => r.path[i].s.toFixed(2)).join(' | ')} |`),
    `| **total (apply)** | ${runs.map((r) => r.path.reduce((a, x) => a + x.s, 0).toFixed(2)).join(' | ')} |`,
    `| of which overhead (total - 4T) | ${runs.map((r) => (r.wallS - 4 * T).toFixed(2)).join(' | ')} |`,
  ];
}

function scopeTable(rows: ScopeResult[]): string[] {
  return [
    '| change | nodes touched | which | ideal | equal to ideal | terraform |',
    '|---|---:|---|---|---|---|',
    ...rows.map((r) => {
      const same = r.touched.length === r.expected.length && r.touched.every((n) => r.expected.includes(n));
      const which = r.touched.length === 0 ? '-' : r.touched.length > 6 ? `${r.touched.length} nodes: all` : r.touched.join(', ');
      return `| ${r.change} | ${r.touched.length} | ${which} | ${r.ideal} (${r.expected.length}) | ${same ? 'yes' : '**no**'} | ${r.summary} |`;
    }),
  ];
}

/** One target row: what, against what, the target ratio, the measured ratio, and what is left when not met. */
function targetRow(what: string, target: number, measured: number, detail: string, remaining: string): string {
  const met = measured <= target;
  return `| ${what} | within ${target}x | ${measured.toFixed(2)}x (${detail}) | ${met ? 'met' : `**not met**: ${remaining}`} |`;
}

/**
 * The targets of issue 22, each measured side by side with its floor in this run. A target that is not
 * met names what remains from this run's own figures: the part of the time the floor does not have.
 */
function targets(scale: ScaleResult[], deploy: DeployRun[], rolling: RollingRun[], scope: ScopeResult[], T: number): string[] {
  const out = ['| target | goal | measured | met |', '|---|---|---|---|'];
  const big = scale.find((r) => r.workers === 1000);
  if (big) {
    const m = big.steps;
    const off = m.synthOff.wallS + m.planOff.wallS;
    out.push(
      targetRow(
        'synth + plan, 3+1000, deploy off, against bare blocks',
        3,
        off / m.floorPlanOff.wallS,
        `${s(off)} s against ${s(m.floorPlanOff.wallS)} s; CPU ${ratio(m.synthOff.cpuS + m.planOff.cpuS, m.floorPlanOff.cpuS)}, plan alone ${ratio(m.planOff.cpuS, m.floorPlanOff.cpuS)}`,
        `synth alone is ${s(m.synthOff.wallS)} s (${ratio(m.synthOff.wallS, m.floorPlanOff.wallS)} of the floor), of which ${s(m.nodeCdktfLoad.wallS)} s is Node.js loading cdktf and constructs, which every cdktf app pays before it synthesizes anything; the plan is ${ratio(m.planOff.wallS, m.floorPlanOff.wallS)}: the HCL module it runs plans in ${s(m.modulePlanOff.wallS)} s with its input rules and ${s(m.moduleNoRulesPlanOff.wallS)} s without them (${ratio(m.moduleNoRulesPlanOff.wallS, m.floorPlanOff.wallS)} of the floor: reading and rendering the 1003-node description, which the floor does not have, and three providers started against the floor's one); the rest is the rules that refuse bad input with a clear error, each node checked once (README finding 9)`,
      ),
    );
    const on = m.synthOn.wallS + m.planOn.wallS;
    out.push(
      targetRow(
        'synth + plan, 3+1000, deploy on, against for_each',
        3,
        on / m.forEachFloorPlanOn.wallS,
        `${s(on)} s against ${s(m.forEachFloorPlanOn.wallS)} s; ${ratio(on, m.floorPlanOn.wallS)} of bare blocks; CPU ${ratio(m.synthOn.cpuS + m.planOn.cpuS, m.forEachFloorPlanOn.cpuS)}`,
        `synth ${s(m.synthOn.wallS)} s; the plan is ${ratio(m.planOn.wallS, m.forEachFloorPlanOn.wallS)} of the for_each floor: each deployment instance's larger body (triggers, provisioner) planned 1003 times (README finding 1)`,
      ),
    );
    out.push(
      targetRow(
        'apply, 3+1000, deploy off, against bare blocks',
        4,
        m.applyOff.wallS / m.floorApplyOff.wallS,
        `${s(m.applyOff.wallS)} s against ${s(m.floorApplyOff.wallS)} s; CPU ${s(m.applyOff.cpuS)} s against ${s(m.floorApplyOff.cpuS)} s, ${ratio(m.applyOff.cpuS, m.floorApplyOff.cpuS)}`,
        `the apply plans first (the plan row above), evaluates the configuration again (the rules included) and creates the keys, CAs and files the floor does not have`,
      ),
    );
  }
  const raised = deploy.find((d) => d.parallelism !== undefined);
  if (raised) {
    out.push(
      targetRow(
        `deployment 3+20, T = ${T} s, -parallelism=${raised.parallelism}, against 4T`,
        1.25,
        raised.wallS / raised.floorS,
        `${raised.wallS.toFixed(1)} s against ${raised.floorS} s`,
        `${(raised.wallS - raised.floorS).toFixed(1)} s of overhead, cut into segments in the table above: the plan, the first connections, and 20 workers' handshakes and uploads sharing this machine's 2 cores with their 20 sshds`,
      ),
    );
  }
  const one = rolling.find((r) => r.maxUnavailable === 1);
  if (one) {
    const floor = (3 + 20) * T;
    out.push(
      targetRow(
        'rolling redeploy 3+20, maxUnavailable = 1, against (3 + 20) x T',
        1.25,
        one.wallS / floor,
        `${one.wallS.toFixed(1)} s against ${floor} s`,
        `${((one.wallS - floor) / 23).toFixed(2)} s per node beyond T: its step's plan share, the lock hand-over (seen within 0.2 s), the connection before and the fresh one after the switch, the readiness check, and for a worker the cordon, drain and uncordon through a peer`,
      ),
    );
  }
  if (scale.length >= 3) {
    const [a, b, c] = scale;
    const slope = (x: ScaleResult, y: ScaleResult, st: Step) => (y.steps[st].peakRssMiB - x.steps[st].peakRssMiB) / (y.workers - x.workers);
    const desc = (st: Step) => `${(slope(a, b, st) * 100).toFixed(1)} then ${(slope(b, c, st) * 100).toFixed(1)} MiB per 100 workers`;
    // Linear: the slope does not grow with W (allowing for noise at small W, where the constant dominates).
    const linear = (st: Step) => slope(b, c, st) <= Math.max(2 * slope(a, b, st), 2 / 100);
    out.push(`| memory grows linearly in W (plan, deploy on) | linear | ${desc('planOn')} | ${linear('planOn') ? 'met' : '**not met**'} |`);
    out.push(`| memory grows linearly in W (synth) | linear | ${desc('synthOn')} | ${linear('synthOn') ? 'met' : '**not met**'} |`);
  }
  for (const r of scope) {
    const same = r.touched.length === r.expected.length && r.touched.every((n) => r.expected.includes(n));
    out.push(`| ${r.change} | ${r.ideal} | ${r.touched.length} node(s) | ${same ? 'met' : '**not met**'} |`);
  }
  return out;
}

async function main(): Promise<void> {
  const started = Date.now();
  const sections = new Set(list(process.env.NICO_BENCH_SECTIONS).length ? list(process.env.NICO_BENCH_SECTIONS) : SECTIONS);
  for (const x of sections) if (!(SECTIONS as readonly string[]).includes(x)) throw new Error(`bench: unknown section ${x} (known: ${SECTIONS.join(', ')})`);
  const workers = list(process.env.NICO_BENCH_WORKERS).map(Number);
  const W = workers.length ? workers : DEFAULT_WORKERS;
  const T = Number(process.env.NICO_BENCH_REBUILD_SECONDS ?? DEFAULT_T);
  const reps = (w: number) => Number(process.env.NICO_BENCH_REPS ?? (w <= 100 ? 3 : 1));
  const full = SECTIONS.every((x) => sections.has(x)) && !workers.length && T === DEFAULT_T && !process.env.NICO_BENCH_REPS;

  ensureGnuTime();
  const work = fs.mkdtempSync(path.join(os.tmpdir(), 'nico-bench-'));
  const loadBefore = os.loadavg();
  say(`bench: work directory ${work}`);
  const versions = terraformVersions(work);

  let scale: ScaleResult[] = [];
  let deploy: DeployRun[] = [];
  let rolling: RollingRun[] = [];
  let scope: ScopeResult[] = [];
  try {
    if (sections.has('scale')) {
      say(`bench: scale, W = ${W.join(', ')}`);
      scale = runScale({ workers: W, work: path.join(work, 'scale'), reps, say });
    }
    // Each measured cluster gets machines that never ran k3s (see freshLabs).
    const freshLab = freshLabs(path.join(work, 'lab'));
    if (sections.has('deploy')) {
      say(`bench: deployment, 3 masters + 20 workers, T = ${T} s`);
      deploy = await runDeploy(freshLab, { seconds: T, parallelism: [undefined, RAISED_PARALLELISM], say });
      say('bench: rolling redeploy against a parallel one');
      rolling = await freshLab((lab) => runRolling(lab, { seconds: T, say }));
    }
    if (sections.has('scope')) {
      say('bench: change scope');
      scope = await freshLab((lab) => runChangeScope(lab, say));
    }
  } finally {
    if (!process.env.NICO_BENCH_KEEP) fs.rmSync(work, { recursive: true, force: true });
    else say(`bench: kept ${work}`);
  }

  const totalS = (Date.now() - started) / 1000;
  const loadAfter = os.loadavg();
  const lines = [
    '# nico-cluster benchmark results',
    '',
    `Written by \`npm run bench\` (bench/run.ts) on ${new Date().toISOString()}; the whole run took ${(totalS / 60).toFixed(1)} min.`,
    'Figures are one run on a shared, noisy machine: compare the ratios (ours against the floor, measured side by side),',
    'not absolute times. What is measured and why, and the findings: [README.md](README.md).',
    '',
    ...machine(versions),
    `- Load average (1, 5, 15 min): ${loadBefore.map((x) => x.toFixed(2)).join(', ')} before, ${loadAfter.map((x) => x.toFixed(2)).join(', ')} after`,
    '',
  ];
  if (scale.length) {
    lines.push(
      '## Scale: 3 masters + W workers',
      '',
      'Wall time (median of the repetitions) and peak RSS (largest single process, GNU time `%M`). Floor: the same number of',
      '**bare `terraform_data`** (not `null_resource`: our deployment uses the built-in `terraform_data`, and no null provider',
      'is available offline) and **bare `local_file`** instances as our plan creates (our `local_sensitive_file`s counted as',
      '`local_file`s; our one `tls_private_key` and one `random_password` have no counterpart), and nothing else. "bare blocks":',
      'one resource block per instance; "for_each": one resource per type keyed by name, `for_each = local.<map of names>`.',
      'Synth has no floor (Terraform has nothing to synthesize; the floor JSON is written by the bench), so the target compares',
      'our synth + plan with the floor\'s plan. With deploy off the deployment resources have no instances; "deploy on" plans',
      'the same cluster with `deploy: true` (one `terraform_data` per node; planning needs no SSH).',
      '',
      ...scaleTables(scale),
      '',
    );
  }
  if (deploy.length) {
    lines.push(
      '## Deployment: 3 masters + 20 workers on the end-to-end harness',
      '',
      'Every stand-in `nixos-rebuild` sleeps T. Floor 4T: the init master, two joiners one at a time, then all workers in one',
      'wave. "apply s" is the wall time of `terraform apply` (after an untimed `terraform init`), including its plan, the',
      'key and token, the tree, the uploads over SSH and the readiness checks.',
      '',
      ...deployTable(deploy, T),
      '',
    );
  }
  if (rolling.length === 2) {
    const [one, all] = rolling;
    lines.push(
      '## Rolling redeploy',
      '',
      `A change that redeploys all 23 nodes, T = ${T} s: rolling with maxUnavailable = 1 (each worker cordoned, drained, switched,`,
      `seen ready, uncordoned, one at a time) took **${one.wallS.toFixed(1)} s**, against **${all.wallS.toFixed(1)} s** with maxUnavailable = 20`,
      `(the parallel redeploy of before, plus the drain around each switch): **${ratio(one.wallS, all.wallS)}**. Control-plane nodes go`,
      `one at a time in both. Its floor is (3 + 20) x T = ${(23 * T).toFixed(0)} s (every node switched one after another): ${ratio(one.wallS, 23 * T)}.`,
      'Rolling costs about one T per worker: the price of never having more than one worker out.',
      '',
    );
  }
  if (scope.length) {
    lines.push(
      '## Change-scoped redeploy',
      '',
      'Nodes touched = nodes on which the stand-in `nixos-rebuild` ran during the apply (harness call records), starting from',
      'a deployed 3 + 20 cluster; each change is applied on top of the previous one.',
      '',
      ...scopeTable(scope),
      '',
    );
  }
  lines.push('## Targets (recorded, not asserted)', '', ...targets(scale, deploy, rolling, scope, T), '');
  const text = lines.join('\n');
  const file = path.join(__dirname, full ? 'RESULTS.md' : 'RESULTS.partial.md');
  fs.writeFileSync(file, text);
  say('');
  say(text);
  say(`bench: wrote ${path.relative(ROOT, file)} in ${(totalS / 60).toFixed(1)} min${full ? '' : ' (partial run: RESULTS.md is written only by a full default run)'}`);
}

main().catch((e) => {
  console.error(e instanceof Error ? e.message : e);
  process.exit(1);
});
