/**
 * The cluster of the deployment and change-scope benchmarks: 3 masters, 20 workers and a spare worker,
 * as real sshd "nodes" of the end-to-end harness (TestLab) on loopback addresses in a private
 * network namespace, with the harness's stand-in nixos-rebuild, k3s and systemctl.
 */
import * as fs from 'fs';
import * as path from 'path';
import { ClusterDescription, NodeDescription } from '../constructs';
import { synthApp, TERRAFORM, terraformEnv } from '../__tests__/helpers/terraform';
import { Call, generateKeyPair, KeyPair, TestLab } from '../__tests__/e2e/harness';

export const LAB_MASTERS = ['cp-01', 'cp-02', 'cp-03'];
export const LAB_WORKERS = Array.from({ length: 20 }, (_, i) => `w-${String(i + 1).padStart(2, '0')}`);
export const SPARE_WORKER = 'w-21';
const ALL = [...LAB_MASTERS, ...LAB_WORKERS, SPARE_WORKER];
const ADDRESS: Record<string, string> = Object.fromEntries([
  ...LAB_MASTERS.map((n, i) => [n, `127.0.0.${11 + i}`]),
  ...[...LAB_WORKERS, SPARE_WORKER].map((n, i) => [n, `127.0.0.${21 + i}`]),
]);
export const VIP = '127.0.0.100';

export interface ApplyResult {
  readonly code: number | null;
  readonly wallS: number;
  readonly output: string;
  readonly calls: Call[];
  /** Epoch milliseconds when `terraform apply` started. */
  readonly startMs: number;
  /** Every output line with the epoch milliseconds it arrived at. */
  readonly lines: ReadonlyArray<{ readonly ms: number; readonly text: string }>;
}

/** Runs `use` on a lab of its own (machines that never ran k3s) and stops that lab after it. */
export type FreshLab = <T>(use: (lab: BenchLab) => Promise<T>) => Promise<T>;

export function freshLabs(work: string): FreshLab {
  let n = 0;
  return async (use) => {
    const dir = path.join(work, `lab-${++n}`);
    fs.mkdirSync(dir, { recursive: true });
    const lab = await BenchLab.start(dir);
    try {
      return await use(lab);
    } finally {
      await lab.stop();
    }
  };
}

export class BenchLab {
  private constructor(
    readonly lab: TestLab,
    readonly key: KeyPair,
    readonly work: string,
  ) {}

  static async start(work: string): Promise<BenchLab> {
    const key = await generateKeyPair(work, 'machine-key');
    const lab = await TestLab.start({
      nodes: ALL.map((name) => ({ name, address: ADDRESS[name], role: LAB_MASTERS.includes(name) ? ('server' as const) : ('agent' as const) })),
      authorizedKey: key.publicKey,
      identityFile: key.privateKeyFile,
    });
    return new BenchLab(lab, key, work);
  }

  /** Every node's stand-in nixos-rebuild takes this long. */
  rebuildSeconds(seconds: number): void {
    for (const n of ALL) this.lab.node(n).control({ sleepSeconds: seconds });
  }

  description(name: string, workers: readonly string[], patch: Partial<ClusterDescription> = {}, nodePatch: Record<string, Partial<NodeDescription>> = {}): ClusterDescription {
    const node = (n: string): NodeDescription => ({ name: n, ip: ADDRESS[n], hostKey: this.lab.node(n).hostPublicKey, ...nodePatch[n] });
    return {
      name,
      vip: VIP,
      gateway: '127.0.0.1',
      controlPlane: LAB_MASTERS.map(node),
      workers: workers.map(node),
      sshPrivateKeyFile: this.key.privateKeyFile,
      deploy: true,
      readyTimeoutSeconds: 60,
      ...patch,
    };
  }

  /** Synthesizes `d` (one directory and state per cluster name), runs `terraform init` untimed, then times `apply`. */
  async apply(d: ClusterDescription, extraArgs: string[] = []): Promise<ApplyResult> {
    const { stackDir } = synthApp(d, path.join(this.work, d.name));
    const env = terraformEnv();
    const init = await this.lab.exec(TERRAFORM, [`-chdir=${stackDir}`, 'init', '-input=false', '-no-color'], { env });
    if (init.code !== 0) throw new Error(`bench: terraform init failed in ${stackDir}:\n${init.stdout}\n${init.stderr}`);
    this.lab.clearCalls();
    const startMs = Date.now();
    const start = process.hrtime.bigint();
    const child = this.lab.spawn(TERRAFORM, [`-chdir=${stackDir}`, 'apply', '-input=false', '-auto-approve', '-no-color', ...extraArgs], { env });
    child.stdin?.end();
    const lines: Array<{ ms: number; text: string }> = [];
    const chunks: string[] = [];
    for (const stream of [child.stdout, child.stderr]) {
      let rest = '';
      stream?.setEncoding('utf8');
      stream?.on('data', (d: string) => {
        const ms = Date.now();
        chunks.push(d);
        const parts = (rest + d).split('\n');
        rest = parts.pop()!;
        for (const text of parts) lines.push({ ms, text });
      });
    }
    const code = await new Promise<number | null>((resolve, reject) => {
      child.on('error', reject);
      child.on('close', (c) => resolve(c));
    });
    const wallS = Number(process.hrtime.bigint() - start) / 1e9;
    return { code, wallS, output: chunks.join(''), calls: this.lab.calls(), startMs, lines };
  }

  stop(): Promise<void> {
    return this.lab.stop();
  }
}

export const rebuilds = (calls: readonly Call[]) => calls.filter((c) => c.command === 'nixos-rebuild');

/** Nodes that ran nixos-rebuild, in the lab's order. */
export const nodesTouched = (calls: readonly Call[]) => {
  const touched = new Set(rebuilds(calls).map((c) => c.node));
  return ALL.filter((n) => touched.has(n));
};

export function checkApplied(what: string, r: ApplyResult): void {
  if (r.code !== 0) throw new Error(`bench: ${what}: terraform apply failed (${r.code}):\n${r.output.slice(-4000)}`);
}
