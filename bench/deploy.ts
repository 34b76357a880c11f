/**
 * Deployment: 3 masters + 20 workers on the end-to-end harness, every stand-in rebuild taking T
 * seconds. The floor is 4T: the init master, two joiners one at a time, then one wave of workers.
 */
import { Call } from '../__tests__/e2e/harness';
import { BenchLab, checkApplied, FreshLab, LAB_MASTERS, LAB_WORKERS, rebuilds } from './lab-cluster';

export interface DeployRun {
  /** `-parallelism=N` given to `terraform apply`, or undefined for Terraform's default (10). */
  readonly parallelism?: number;
  readonly wallS: number;
  readonly floorS: number;
  /** From the first rebuild's start to the last one's end. */
  readonly rebuildSpanS: number;
  /** Rebuild start times of the workers, grouped into waves (a wave starts T/2 after the previous one). */
  readonly workerWaves: number[];
  /** Seconds between one step's rebuild end and the next step's rebuild start: init->j1, j1->j2, j2->first worker. */
  readonly handoversS: number[];
  readonly rebuilds: number;
  /** The apply's critical path cut into consecutive segments that add up to its wall time. */
  readonly path: ReadonlyArray<{ readonly what: string; readonly s: number }>;
}

export interface DeployOptions {
  readonly seconds: number;
  /** Parallelism settings to compare; undefined is Terraform's default. */
  readonly parallelism: ReadonlyArray<number | undefined>;
  readonly say: (line: string) => void;
}

export async function runDeploy(freshLab: FreshLab, opts: DeployOptions): Promise<DeployRun[]> {
  const T = opts.seconds;
  const out: DeployRun[] = [];
  for (const p of opts.parallelism) {
    const name = `bench-p${p ?? 'default'}`;
    // A first deployment needs machines that never ran k3s: the stand-in keeps each node's cluster
    // state, as a real machine does, so a second cluster on the same lab would be a rejoin.
    const r = await freshLab(async (lab) => {
      lab.rebuildSeconds(T);
      return lab.apply(lab.description(name, LAB_WORKERS), p === undefined ? [] : [`-parallelism=${p}`]);
    });
    checkApplied(`deploy ${name}`, r);
    const calls = rebuilds(r.calls);
    const of = (node: string): Call => {
      const c = calls.find((x) => x.node === node);
      if (!c) throw new Error(`bench: deploy ${name}: no nixos-rebuild on ${node}`);
      return c;
    };
    const workers = LAB_WORKERS.map(of);
    const starts = workers.map((c) => c.start).sort((a, b) => a - b);
    const waves: number[] = [];
    let waveStart = -Infinity;
    for (const s of starts) {
      if (s - waveStart > (T * 1000) / 2) {
        waves.push(0);
        waveStart = s;
      }
      waves[waves.length - 1]++;
    }
    // Joiners go one at a time in the order they take the runner's lock, not the list's.
    const [init, j1, j2] = [of(LAB_MASTERS[0]), ...LAB_MASTERS.slice(1).map(of).sort((a, b) => a.start - b.start)];
    const order = [init, j1, j2].map((c) => c.node);
    const said = (node: string, what: RegExp) => {
      const l = r.lines.find((x) => new RegExp(`nico: ${node}: `).test(x.text) && what.test(x.text.replace(/.*nico: [^:]+: /, '')));
      if (!l) throw new Error(`bench: deploy ${name}: no "${what.source}" line for ${node}`);
      return l.ms;
    };
    const uploading = (n: string) => said(n, /^uploading/);
    const ready = (n: string) => said(n, /^ready$/);
    const lastWorker = workers.reduce((a, b) => (b.end > a.end ? b : a));
    const firstUpload = Math.min(...LAB_WORKERS.map(uploading));
    const lastStart = Math.max(...workers.map((c) => c.start));
    const lastReady = Math.max(...LAB_WORKERS.map(ready));
    const endMs = r.startMs + r.wallS * 1000;
    const events: Array<[string, number]> = [
      ['before the first upload: plan, key, token, tree, SSH to cp-01', uploading(init.node)],
      ...[init, j1].flatMap((c, i): Array<[string, number]> => [
        [`control-plane node ${i + 1}: upload over SSH`, c.start],
        [`control-plane node ${i + 1}: nixos-rebuild (T)`, c.end],
        [`control-plane node ${i + 1}: readiness check (new connection)`, ready(c.node)],
        [`handover to the next control-plane node: the lock, SSH`, uploading(order[i + 1])],
      ]),
      ['control-plane node 3: upload over SSH', j2.start],
      ['control-plane node 3: nixos-rebuild (T)', j2.end],
      ['control-plane node 3: readiness check (new connection)', ready(j2.node)],
      ['handover to the workers', firstUpload],
      ['workers: first upload to last rebuild start (uploads of the wave)', lastStart],
      [`workers: last rebuild to its end (T)`, lastWorker.end],
      ['workers: readiness checks to the last ready', lastReady],
      ['after the last node is ready: state', endMs],
    ];
    let prev = r.startMs;
    const path = events.map(([what, ms]) => {
      const seg = { what, s: (ms - prev) / 1000 };
      prev = ms;
      return seg;
    });
    const run: DeployRun = {
      parallelism: p,
      wallS: r.wallS,
      floorS: 4 * T,
      rebuildSpanS: (Math.max(...calls.map((c) => c.end)) - Math.min(...calls.map((c) => c.start))) / 1000,
      workerWaves: waves,
      handoversS: [j1.start - init.end, j2.start - j1.end, starts[0] - j2.end].map((ms) => ms / 1000),
      rebuilds: calls.length,
      path,
    };
    opts.say(`  deploy parallelism=${p ?? 'default'}: ${run.wallS.toFixed(1)} s (${(run.wallS / run.floorS).toFixed(2)} x 4T), worker waves ${waves.join('+')}`);
    out.push(run);
  }
  return out;
}

export interface RollingRun {
  readonly maxUnavailable: number;
  readonly wallS: number;
}

/**
 * What a rolling redeploy costs: a change that redeploys every node of the 3+20 cluster (new
 * nameservers), once rolling one worker at a time (the default maxUnavailable = 1) and once with
 * maxUnavailable = 20, which is today's parallel redeploy plus the drain around each switch.
 */
export async function runRolling(lab: BenchLab, opts: { seconds: number; say: (line: string) => void }): Promise<RollingRun[]> {
  lab.rebuildSeconds(opts.seconds);
  const out: RollingRun[] = [];
  const first = await lab.apply(lab.description('bench-rolling', LAB_WORKERS), ['-parallelism=30']);
  checkApplied('rolling: first deploy', first);
  for (const [i, maxUnavailable] of [1, LAB_WORKERS.length].entries()) {
    const r = await lab.apply(lab.description('bench-rolling', LAB_WORKERS, { maxUnavailable, nameservers: [`127.0.0.${53 + i}`] }), ['-parallelism=30']);
    checkApplied(`rolling: redeploy with maxUnavailable = ${maxUnavailable}`, r);
    if (rebuilds(r.calls).length !== LAB_MASTERS.length + LAB_WORKERS.length) throw new Error('bench: rolling: not every node was redeployed');
    opts.say(`  redeploy of every node, maxUnavailable=${maxUnavailable}: ${r.wallS.toFixed(1)} s`);
    out.push({ maxUnavailable, wallS: r.wallS });
  }
  return out;
}
