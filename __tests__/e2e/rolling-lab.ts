import { ClusterDescription, NodeDescription } from '../../constructs';
import { Call } from './harness';
import { fileLab, FileLab, switches, withLab } from './support';

// The lab of the rolling files: day-2 changes of a running 3+6 cluster (rolling.test.ts: redeploys
// drain and roll through the cluster; rolling-faults.test.ts: a switch that breaks a node is rolled
// back). The stand-ins record every switch, rollback, cordon, drain, uncordon and timer with
// timestamps. Each file has a lab of its own.
export const MASTERS = ['cp-01', 'cp-02', 'cp-03'];
export const WORKERS = ['w-01', 'w-02', 'w-03', 'w-04', 'w-05', 'w-06'];
const ADDRESS: Record<string, string> = Object.fromEntries([...MASTERS.map((n, i) => [n, `127.0.0.${11 + i}`]), ...WORKERS.map((n, i) => [n, `127.0.0.${21 + i}`])]);
export const READY_TIMEOUT = 6;
export const CONNECT_TIMEOUT = 3;

export interface RollingLab extends FileLab {
  /** The cluster with maxUnavailable 2 and short timeouts, `extra` settings and `patch` on every node. */
  cluster(extra?: Partial<ClusterDescription>, patch?: Record<string, Partial<NodeDescription>>): ClusterDescription;
}

/** The file's lab (support.ts fileLab); workers' switches take 2 s. */
export function rollingLab(name: string): RollingLab {
  const file = fileLab(name, ADDRESS, (n) => MASTERS.includes(n), { started: (lab) => WORKERS.forEach((w) => lab.node(w).control({ sleepSeconds: 2 })) });
  return withLab(file, {
    cluster: (extra: Partial<ClusterDescription> = {}, patch: Record<string, Partial<NodeDescription>> = {}) =>
      file.runs.description('rolling', MASTERS, WORKERS, patch, {
        maxUnavailable: 2,
        readyTimeoutSeconds: READY_TIMEOUT,
        sshConnectTimeoutSeconds: CONNECT_TIMEOUT,
        ...extra,
      }),
  });
}

/** `k3s kubectl <verb> ... <node>` calls, wherever they ran. */
export const kubectl = (calls: Call[], verb: string, node: string) => calls.filter((c) => c.command === 'k3s' && c.args[1] === verb && c.args.includes(node));
export const switchOf = (calls: Call[], node: string) => switches(calls).find((c) => c.node === node && c.args[1] === '--flake')!;
export const rollbacksOf = (calls: Call[], node: string) => switches(calls).filter((c) => c.node === node && c.args[1] === '--rollback');
