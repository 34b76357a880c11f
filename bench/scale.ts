/**
 * Scale: 3 masters + W workers. Synth, `terraform plan` and `apply` (deploy off) of the app, the plan
 * with deploy on (one terraform_data per node), the HCL module's plan, and beside each the floor: the
 * same number of bare terraform_data and local_file instances and nothing else.
 */
import * as fs from 'fs';
import * as path from 'path';
import { writeModuleRoot } from '../__tests__/helpers/module-root';
import { TERRAFORM, terraformEnv } from '../__tests__/helpers/terraform';
import { scaleCluster } from './cluster';
import { countInstances, FloorStyle, InstanceCounts, writeFloor } from './floor';
import { measure, Measurement, median, run } from './measure';
import { writeModuleWithoutRules } from './module-without-rules';

export const ROOT = path.resolve(__dirname, '..');
const TS_NODE = path.join(ROOT, 'node_modules', '.bin', 'ts-node');

export type Step =
  | 'synthOff'
  | 'planOff'
  | 'applyOff'
  | 'synthOn'
  | 'planOn'
  | 'modulePlanOff'
  | 'modulePlanOn'
  | 'moduleNoRulesPlanOff'
  | 'nodeCdktfLoad'
  | 'floorPlanOff'
  | 'floorApplyOff'
  | 'floorPlanOn'
  | 'forEachFloorPlanOn';

export interface ScaleResult {
  readonly workers: number;
  readonly reps: number;
  /** Size of the synthesized cdk.tf.json, deploy off and on. */
  readonly jsonBytes: { readonly off: number; readonly on: number };
  readonly counts: { readonly off: InstanceCounts; readonly on: InstanceCounts };
  readonly steps: Readonly<Record<Step, Measurement>>;
}

const PLAN = ['plan', '-input=false', '-no-color', '-out=bench.tfplan'];
const APPLY = ['apply', '-input=false', '-no-color', '-auto-approve'];

/** The stack of one deploy mode: cluster file, synth, and where Terraform runs. */
class AppStack {
  readonly file: string;
  readonly outDir: string;
  readonly cdktfOut: string;
  readonly stackDir: string;
  constructor(
    readonly dir: string,
    workers: number,
    deploy: boolean,
  ) {
    fs.mkdirSync(dir, { recursive: true });
    this.file = path.join(dir, 'cluster.json');
    fs.writeFileSync(this.file, JSON.stringify(scaleCluster(workers, deploy)));
    this.outDir = path.join(dir, 'out');
    this.cdktfOut = path.join(dir, 'cdktf.out');
    this.stackDir = path.join(this.cdktfOut, 'stacks', 'bench');
  }
  synth(log: string): Measurement {
    // As `npm run demo` runs it: with scripts/tf-env.sh's environment.
    const env = terraformEnv({ NICO_CLUSTER_FILE: this.file, NICO_OUT_DIR: this.outDir, CDKTF_OUTDIR: this.cdktfOut });
    return measure(TS_NODE, ['--transpile-only', 'main.ts'], { cwd: ROOT, env, log });
  }
  /** Forgets what an apply created, so that the next apply starts from nothing again. */
  reset(): void {
    for (const f of fs.existsSync(this.outDir) ? fs.readdirSync(this.outDir) : []) fs.rmSync(path.join(this.outDir, f), { recursive: true, force: true });
  }
}

export interface ScaleOptions {
  readonly workers: readonly number[];
  readonly work: string;
  /** Repetitions for a given W (the median is reported). */
  readonly reps: (workers: number) => number;
  readonly say: (line: string) => void;
}

export function runScale(opts: ScaleOptions): ScaleResult[] {
  const env = terraformEnv();
  const tf = (dir: string, args: string[], log: string) => measure(TERRAFORM, args, { cwd: dir, env, log });
  const init = (dir: string) => run(TERRAFORM, ['init', '-input=false', '-no-color'], { cwd: dir, env });
  const counted = (dir: string) => countInstances(run(TERRAFORM, ['show', '-json', 'bench.tfplan'], { cwd: dir, env }));
  const results: ScaleResult[] = [];

  for (const workers of opts.workers) {
    const base = path.join(opts.work, `W${workers}`);
    const logs = path.join(base, 'logs');
    const log = (name: string) => path.join(logs, `${name}.log`);
    const reps = opts.reps(workers);
    const samples = {} as Record<Step, Measurement[]>;
    const add = (step: Step, m: Measurement) => {
      (samples[step] ??= []).push(m);
      opts.say(`  W=${workers} ${step}: ${m.wallS.toFixed(2)} s, ${m.peakRssMiB.toFixed(0)} MiB`);
    };

    const off = new AppStack(path.join(base, 'app-off'), workers, false);
    const on = new AppStack(path.join(base, 'app-on'), workers, true);
    for (let r = 0; r < reps; r++) {
      // The least any cdktf app pays before it synthesizes: Node.js loading cdktf and constructs.
      add('nodeCdktfLoad', measure(process.execPath, ['-e', "require('cdktf'); require('constructs')"], { cwd: ROOT, env: terraformEnv(), log: log('node-cdktf-load') }));
      add('synthOff', off.synth(log('synth-off')));
      add('synthOn', on.synth(log('synth-on')));
    }
    init(off.stackDir);
    init(on.stackDir);

    // The HCL module, called from a root module as examples/ do.
    const moduleOff = path.join(base, 'module-off');
    const moduleOn = path.join(base, 'module-on');
    writeModuleRoot(moduleOff, scaleCluster(workers, false), path.join(base, 'module-off-out'));
    writeModuleRoot(moduleOn, scaleCluster(workers, true), path.join(base, 'module-on-out'));
    init(moduleOff);
    init(moduleOn);
    // What the input rules cost: the same module and call without its validation/precondition blocks.
    const moduleNoRules = path.join(base, 'module-no-rules-off');
    writeModuleWithoutRules(path.join(ROOT, 'modules', 'nico-cluster'), path.join(base, 'module-without-rules'));
    writeModuleRoot(moduleNoRules, scaleCluster(workers, false), path.join(base, 'module-no-rules-off-out'), path.join(base, 'module-without-rules'));
    init(moduleNoRules);

    const floor = (name: string, c: InstanceCounts, style: FloorStyle) => {
      const dir = path.join(base, name);
      writeFloor(dir, c, style);
      init(dir);
      return dir;
    };
    const resetFloor = (dir: string) => {
      for (const f of ['terraform.tfstate', 'terraform.tfstate.backup', 'out']) fs.rmSync(path.join(dir, f), { recursive: true, force: true });
    };

    // Ours and the floors side by side, repetition by repetition, so that they share the machine's mood.
    // The floors copy the instance counts of our first plan of each mode.
    let counts: { off: InstanceCounts; on: InstanceCounts } | undefined;
    let floors: { off: string; on: string; forEachOn: string } | undefined;
    for (let r = 0; r < reps; r++) {
      const planOff = tf(off.stackDir, PLAN, log('plan-off'));
      const planOn = tf(on.stackDir, PLAN, log('plan-on'));
      if (!counts || !floors) {
        counts = { off: counted(off.stackDir), on: counted(on.stackDir) };
        floors = { off: floor('floor-blocks-off', counts.off, 'blocks'), on: floor('floor-blocks-on', counts.on, 'blocks'), forEachOn: floor('floor-for_each-on', counts.on, 'for_each') };
      }
      add('planOff', planOff);
      add('floorPlanOff', tf(floors.off, PLAN, log('floor-plan-off')));
      off.reset();
      add('applyOff', tf(off.stackDir, APPLY, log('apply-off')));
      resetFloor(floors.off);
      add('floorApplyOff', tf(floors.off, APPLY, log('floor-apply-off')));
      add('planOn', planOn);
      add('floorPlanOn', tf(floors.on, PLAN, log('floor-plan-on')));
      add('forEachFloorPlanOn', tf(floors.forEachOn, PLAN, log('floor-for_each-plan-on')));
      add('modulePlanOff', tf(moduleOff, PLAN, log('module-plan-off')));
      add('moduleNoRulesPlanOff', tf(moduleNoRules, PLAN, log('module-no-rules-plan-off')));
      add('modulePlanOn', tf(moduleOn, PLAN, log('module-plan-on')));
    }
    const steps = Object.fromEntries(Object.entries(samples).map(([k, v]) => [k, median(v)])) as Record<Step, Measurement>;
    const size = (s: AppStack) => fs.statSync(path.join(s.stackDir, 'cdk.tf.json')).size;
    results.push({ workers, reps, jsonBytes: { off: size(off), on: size(on) }, counts: counts!, steps });
  }
  return results;
}
