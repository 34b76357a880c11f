import * as fs from 'fs';
import * as path from 'path';
import { ClusterDescription } from '../../constructs';
import { Call, TestLab } from './harness';
import { fileLab, FileLab, switches, withLab } from './support';

// The lab of the rollout-failure files (issue 21: a rollout stops at its first failure and never has
// more than maxUnavailable out). The stand-ins record every switch, cordon and uncordon with
// timestamps; the runner records the first failure of an apply in its own state directory (under the
// lab's TMPDIR), whose file time says when the failure was known. Each file has a lab of its own.
export const MASTERS = ['cp-01', 'cp-02', 'cp-03'];
export const WORKERS = ['w-01', 'w-02', 'w-03', 'w-04', 'w-05'];
const ADDRESS: Record<string, string> = Object.fromEntries([
  ...MASTERS.map((n, i) => [n, `127.0.0.${31 + i}`]),
  ...WORKERS.map((n, i) => [n, `127.0.0.${41 + i}`]),
]);
export const MAX_UNAVAILABLE = 2;

export interface RolloutLab extends FileLab {
  /** The cluster with maxUnavailable 2 and short timeouts, plus `extra` settings. */
  cluster(extra?: Partial<ClusterDescription>): ClusterDescription;
}

/** The file's lab (support.ts fileLab). */
export function rolloutLab(name: string): RolloutLab {
  const file = fileLab(name, ADDRESS, (n) => MASTERS.includes(n));
  return withLab(file, {
    cluster: (extra: Partial<ClusterDescription> = {}) =>
      file.runs.description('rollout', MASTERS, WORKERS, {}, { maxUnavailable: MAX_UNAVAILABLE, readyTimeoutSeconds: 4, sshConnectTimeoutSeconds: 3, ...extra }),
  });
}

/** `k3s kubectl <verb> <node>` calls, wherever they ran. */
export const kubectl = (calls: Call[], verb: string, node?: string) =>
  calls.filter((c) => c.command === 'k3s' && c.args[0] === 'kubectl' && c.args[1] === verb && (node === undefined || c.args.includes(node)));
export const nodeOf = (c: Call) => c.args[c.args.length - 1];
/** Nodes given `nixos-rebuild switch --flake` (a configuration, not a rollback) in these calls. */
export const switched = (calls: Call[]) => [...new Set(switches(calls).filter((c) => c.args[1] === '--flake').map((c) => c.node))].sort();

/** What the runner recorded as the apply's first failure, and when (the record's modification time). */
export function firstFailure(lab: TestLab): { text: string; at: number } {
  const base = path.join(lab.runnerTmp, `nico-cluster-${process.getuid!()}`);
  const records = fs.readdirSync(base).filter((d) => d.startsWith('apply.')).map((d) => path.join(base, d, 'failed')).filter((f) => fs.existsSync(f));
  expect(records.length).toBe(1);
  return { text: fs.readFileSync(records[0], 'utf8'), at: fs.statSync(records[0]).mtimeMs };
}

/**
 * Cordoned intervals of workers over one or more applies' calls: from a cordon to the next uncordon
 * of that node, or to the end of time when it stays cordoned.
 */
export function cordoned(calls: Call[]): Array<{ node: string; start: number; end: number }> {
  const events = [...kubectl(calls, 'cordon'), ...kubectl(calls, 'uncordon')].filter((c) => WORKERS.includes(nodeOf(c))).sort((a, b) => a.start - b.start);
  const open = new Map<string, number>();
  const out: Array<{ node: string; start: number; end: number }> = [];
  for (const e of events) {
    const n = nodeOf(e);
    if (e.args[1] === 'cordon' && !open.has(n)) open.set(n, e.start);
    if (e.args[1] === 'uncordon' && open.has(n)) {
      out.push({ node: n, start: open.get(n)!, end: e.end });
      open.delete(n);
    }
  }
  for (const [n, start] of open) out.push({ node: n, start, end: Infinity });
  return out;
}
