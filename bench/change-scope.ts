/**
 * Change-scoped redeploy: how many nodes a change touches, counted from the harness's recorded
 * nixos-rebuild calls, against the ideal.
 */
import { BenchLab, checkApplied, LAB_MASTERS, LAB_WORKERS, nodesTouched, SPARE_WORKER, VIP } from './lab-cluster';

export interface ScopeResult {
  readonly change: string;
  readonly ideal: string;
  readonly expected: readonly string[];
  readonly touched: readonly string[];
  /** Terraform's "N added, N changed, N destroyed" line. */
  readonly summary: string;
  readonly wallS: number;
}

export async function runChangeScope(lab: BenchLab, say: (line: string) => void): Promise<ScopeResult[]> {
  // Counting, not timing: rebuilds are instant here.
  lab.rebuildSeconds(0);
  const name = 'bench-scope';
  const withSpare = [...LAB_WORKERS, SPARE_WORKER];
  const all = [...LAB_MASTERS, ...withSpare];
  const disk = { [LAB_WORKERS[0]]: { disk: '/dev/vdb' } };
  const base = lab.description(name, LAB_WORKERS);
  checkApplied('change scope: first deploy', await lab.apply(base, ['-parallelism=30']));

  const steps = [
    { change: '(a) no-op re-apply', ideal: '0 nodes', expected: [], d: base },
    { change: `(b) add one worker (${SPARE_WORKER})`, ideal: '1 node: the new worker', expected: [SPARE_WORKER], d: lab.description(name, withSpare) },
    { change: `(c) change one worker's own entry (${LAB_WORKERS[0]}: disk)`, ideal: 'that worker only', expected: [LAB_WORKERS[0]], d: lab.description(name, withSpare, {}, disk) },
    { change: '(d) change the VIP', ideal: 'every node', expected: all, d: lab.description(name, withSpare, { vip: '127.0.0.101' }, disk) },
    { change: '(e) change a control-plane-only setting (vrrpRouterId)', ideal: 'control-plane nodes only', expected: LAB_MASTERS, d: lab.description(name, withSpare, { vip: '127.0.0.101', vrrpRouterId: 52 }, disk) },
  ];
  if (base.vip !== VIP) throw new Error('bench: the base cluster must use the lab VIP');
  const out: ScopeResult[] = [];
  for (const s of steps) {
    const r = await lab.apply(s.d, ['-parallelism=30']);
    checkApplied(`change scope ${s.change}`, r);
    const touched = nodesTouched(r.calls);
    const summary = /(\d+) added, (\d+) changed, (\d+) destroyed/.exec(r.output)?.[0] ?? (/No changes/.test(r.output) ? 'no changes' : '?');
    out.push({ change: s.change, ideal: s.ideal, expected: s.expected, touched, summary, wallS: r.wallS });
    say(`  ${s.change}: ${touched.length} node(s) touched, ideal ${s.expected.length}; ${summary}`);
  }
  return out;
}
