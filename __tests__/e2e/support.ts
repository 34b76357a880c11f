import * as fs from 'fs';
import * as path from 'path';
import { ClusterDescription, NodeDescription } from '../../constructs';
import { synthApp, tempDir, TERRAFORM, terraformEnv } from '../helpers/terraform';
import { Call, generateKeyPair, KeyPair, TestLab } from './harness';
import { expectNoSecretPrintedInAnyScenario } from './harness/secrets';

/** The flake directory the deployment uses on every node (the default remoteFlakeDir). */
export const FLAKE_DIR = '/etc/nico/flake';

export interface Interval {
  start: number;
  end: number;
}

/** Builds cluster descriptions for lab nodes and runs the synthesized app's Terraform inside the lab. */
export class ClusterRuns {
  /** Changes the environment Terraform runs with (e.g. `lab.runnerEnv` for the install step). */
  runner: (env: NodeJS.ProcessEnv) => NodeJS.ProcessEnv = (env) => env;

  constructor(
    private readonly lab: TestLab,
    private readonly key: KeyPair,
    private readonly workDir: string,
    private readonly addresses: Record<string, string>,
    private readonly vip: string,
  ) {}

  /** A deployable description: every node pinned to its lab host key, short timeouts. */
  description(name: string, masters: string[], workers: string[], patch: Record<string, Partial<NodeDescription>> = {}, extra: Partial<ClusterDescription> = {}): ClusterDescription {
    const node = (n: string): NodeDescription => ({ name: n, ip: this.addresses[n], hostKey: this.lab.node(n).hostPublicKey, ...patch[n] });
    return {
      name,
      vip: this.vip,
      gateway: '127.0.0.1',
      controlPlane: masters.map(node),
      workers: workers.map(node),
      sshPrivateKeyFile: this.key.privateKeyFile,
      deploy: true,
      readyTimeoutSeconds: 30,
      sshConnectTimeoutSeconds: 5,
      drainTimeoutSeconds: 10,
      ...extra,
    };
  }

  /** Synthesizes `d` into its own directory (one state per cluster name) and runs terraform there, inside the lab. */
  async tf(d: ClusterDescription, ...args: string[]) {
    return this.tfIn(this.synth(d), ...args);
  }

  async apply(d: ClusterDescription) {
    const stackDir = this.synth(d);
    await this.initIn(stackDir);
    return this.tfIn(stackDir, 'apply', '-input=false', '-auto-approve', '-no-color');
  }

  /** `terraform init` of `d`'s stack directory when it needs one (initOnce). */
  async init(d: ClusterDescription) {
    await this.initIn(this.synth(d));
  }

  private synth(d: ClusterDescription): string {
    return synthApp(d, path.join(this.workDir, d.name)).stackDir;
  }

  private async tfIn(stackDir: string, ...args: string[]) {
    const result = await this.lab.exec(TERRAFORM, [`-chdir=${stackDir}`, ...args], { env: this.runner(terraformEnv()) });
    return { ...result, output: result.stdout + result.stderr, stackDir };
  }

  private initIn(stackDir: string) {
    return initOnce(stackDir, () => this.tfIn(stackDir, 'init', '-input=false'));
  }

  /** Resources of `d`'s state, as `terraform show -json` lists them (with their values, sensitive ones too). */
  async stateValues(d: ClusterDescription): Promise<StateValue[]> {
    const shown = await this.tf(d, 'show', '-json');
    const out: StateValue[] = [];
    const walk = (m: { resources?: StateValue[]; child_modules?: unknown[] } | undefined) => {
      for (const r of m?.resources ?? []) out.push(r);
      for (const c of (m?.child_modules ?? []) as Array<typeof m>) walk(c);
    };
    walk(JSON.parse(shown.stdout).values?.root_module);
    return out;
  }

  /**
   * Every secret of `d` as a file on the runner would hold it: each line of the machine key, the
   * join-token passwords, and each line of every private key Terraform made (host keys, CA keys).
   */
  async secretsOnDisk(d: ClusterDescription): Promise<string[]> {
    const lines = (pem: string) => pem.split('\n').filter((l) => l.length >= 20 && !l.startsWith('-----'));
    const state = await this.stateValues(d);
    const tokens = state.filter((r) => r.type === 'random_password').map((r) => r.values.result as string);
    const keys = state.filter((r) => r.type === 'tls_private_key').flatMap((r) => [r.values.private_key_openssh, r.values.private_key_pem]).filter((v): v is string => typeof v === 'string');
    return [...lines(fs.readFileSync(d.sshPrivateKeyFile!, 'utf8')), ...tokens, ...keys.flatMap(lines)];
  }

  /** `terraform plan -detailed-exitcode`: 0 when the apply before it converged. */
  async planExitCode(d: ClusterDescription): Promise<number | null> {
    const plan = await this.tf(d, 'plan', '-input=false', '-detailed-exitcode', '-no-color');
    if (plan.code !== 0) process.stderr.write(plan.output.slice(-3000));
    return plan.code;
  }
}

/**
 * A lab of the given nodes (name -> 127.0.0.x address, optional SSH port; servers get a kubeconfig when switched), a
 * machine key they all authorise, and a ClusterRuns over them with the VIP 127.0.0.100.
 */
export async function startClusterLab(workDir: string, addresses: Record<string, string>, isServer: (name: string) => boolean, ports: Record<string, number> = {}) {
  const key = await generateKeyPair(workDir, 'machine-key');
  const lab = await TestLab.start({
    nodes: Object.entries(addresses).map(([name, address]) => ({ name, address, port: ports[name], role: isServer(name) ? ('server' as const) : ('agent' as const) })),
    authorizedKey: key.publicKey,
    identityFile: key.privateKeyFile,
  });
  return { key, lab, runs: new ClusterRuns(lab, key, workDir, addresses, '127.0.0.100') };
}

/** The cluster lab of one test file (see fileLab). */
export interface FileLab {
  readonly lab: TestLab;
  readonly runs: ClusterRuns;
  /** The file's work directory (cluster directories, keys), removed after its tests. */
  readonly work: string;
  /** Applies `d` and returns the result with the stand-ins' calls of that apply. */
  apply(d: ClusterDescription): Promise<Awaited<ReturnType<ClusterRuns['apply']>> & { calls: Call[] }>;
}

/**
 * A lab for the tests of one file (see startClusterLab): started before them, stopped after them, and
 * no scenario's plan or apply output may hold a secret of the state (issue 25, harness/secrets.ts).
 * `installs`: Terraform runs with the runner's stand-in nix (lab.runnerEnv), for the install step.
 * `started`: what the file sets on the lab before its tests (stand-in controls).
 */
export function fileLab(name: string, addresses: Record<string, string>, isServer: (node: string) => boolean, options: { ports?: Record<string, number>; installs?: boolean; started?: (lab: TestLab) => void } = {}): FileLab {
  let lab: TestLab;
  let runs: ClusterRuns;
  const work = tempDir(`e2e-${name}`);
  beforeAll(async () => {
    ({ lab, runs } = await startClusterLab(work, addresses, isServer, options.ports));
    if (options.installs) runs.runner = (env) => lab.runnerEnv(env);
    options.started?.(lab);
  });
  expectNoSecretPrintedInAnyScenario(() => lab);
  afterAll(async () => {
    await lab?.stop();
    fs.rmSync(work, { recursive: true, force: true });
  });
  return {
    get lab() {
      return lab;
    },
    get runs() {
      return runs;
    },
    work,
    async apply(d) {
      lab.clearCalls();
      const result = await runs.apply(d);
      return { ...result, calls: lab.calls() };
    },
  };
}

/** A file's lab with more of its own (`apply` may be wrapped): `file`'s getters stay live (its lab exists once beforeAll ran). */
export function withLab<L extends FileLab>(file: FileLab, more: Omit<L, keyof FileLab> & Partial<Pick<FileLab, 'apply'>> & ThisType<L>): L {
  return Object.assign(Object.create(file) as FileLab, more) as L;
}

/**
 * Runs `init` (a `terraform init` of `stackDir`) unless the directory was already initialised for the
 * same providers, backend and module sources: a description change alone needs no new init, as a
 * user's second apply needs none; a fresh runner (its .terraform gone) inits again. A failed init is
 * left for the command after it to report.
 */
export async function initOnce(stackDir: string, init: () => Promise<{ code: number | null }>): Promise<void> {
  const done = path.join(stackDir, '.terraform', 'nico-e2e-initialised');
  const key = initKey(stackDir);
  if (fs.existsSync(done) && fs.readFileSync(done, 'utf8') === key) return;
  if ((await init()).code === 0) fs.writeFileSync(done, key);
}

/** What `terraform init` of a synthesized stack depends on: its terraform block (providers, backend) and module sources. */
function initKey(stackDir: string): string {
  const json = JSON.parse(fs.readFileSync(path.join(stackDir, 'cdk.tf.json'), 'utf8'));
  const modules = Object.entries((json.module ?? {}) as Record<string, { source?: string; version?: string }>).map(([name, m]) => [name, m.source, m.version]);
  return JSON.stringify({ terraform: json.terraform, modules });
}

export interface StateValue {
  type: string;
  name: string;
  values: Record<string, unknown>;
}

/** Files under `dir` (recursively, symlinks not followed) that hold any of `needles`. */
export function filesHolding(dir: string, needles: string[]): string[] {
  const found: string[] = [];
  const walk = (p: string) => {
    const st = fs.lstatSync(p);
    if (st.isDirectory()) for (const e of fs.readdirSync(p)) walk(path.join(p, e));
    else if (st.isFile()) {
      const text = fs.readFileSync(p, 'latin1');
      if (needles.some((n) => text.includes(n))) found.push(p);
    }
  };
  walk(dir);
  return found;
}

export const switches = (calls: Call[]) => calls.filter((c) => c.command === 'nixos-rebuild');

/** What each node was switched to, in call order: `{ 'cp-02': ['minimal'] }`. */
export function switchedTo(calls: Call[]): Record<string, string[]> {
  const out: Record<string, string[]> = {};
  for (const c of switches(calls)) (out[c.node] ??= []).push(c.args[2].split('#')[1]);
  return out;
}

/** The kubectl calls (through any node's stand-in k3s) that name `node`, as `['drain', 'delete']`. */
export function kubectlVerbsOn(calls: Call[], node: string): string[] {
  return calls.filter((c) => c.command === 'k3s' && c.args[0] === 'kubectl' && ['drain', 'delete'].includes(c.args[1]) && c.args.includes(node)).map((c) => c.args[1]);
}

/** From a node's first call to its last: the node's deployment as the stand-ins saw it. */
export function interval(calls: Call[], node: string): Interval {
  // kubectl calls a node serves for another node's step (readiness, drain) are not its own deployment.
  const mine = calls.filter((c) => c.node === node && !(c.command === 'k3s' && c.args[0] === 'kubectl'));
  if (mine.length === 0) throw new Error(`no call on ${node}`);
  return { start: Math.min(...mine.map((c) => c.start)), end: Math.max(...mine.map((c) => c.end)) };
}

/** No two of the intervals overlap. */
export function expectOneAtATime(intervals: Interval[]): void {
  const sorted = [...intervals].sort((a, b) => a.start - b.start);
  for (let i = 1; i < sorted.length; i++) expect(sorted[i - 1].end).toBeLessThanOrEqual(sorted[i].start);
}

/** The most intervals that overlap at any moment. */
export function maxOverlap(intervals: Array<{ start: number; end: number }>): number {
  const events = intervals.flatMap((i) => [[i.start, 1], [i.end, -1]] as const).sort((a, b) => a[0] - b[0] || a[1] - b[1]);
  let open = 0;
  let most = 0;
  for (const [, delta] of events) most = Math.max(most, (open += delta));
  return most;
}
