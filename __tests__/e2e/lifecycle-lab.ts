import { ClusterDescription } from '../../constructs';
import { Call, ClusterModel } from './harness';
import { ClusterRuns, fileLab, FileLab, withLab } from './support';

// The lab of the lifecycle files (lifecycle*.test.ts): a 3+2 cluster (and a spare worker) installed
// and deployed as k3s sees it (the lab's k3s stand-in keeps the cluster model and refuses what k3s
// refuses). Each file has a lab of its own and deploys the cluster first; they run in parallel.
const ADDRESS: Record<string, string> = {
  'cp-01': '127.0.0.61', 'cp-02': '127.0.0.62', 'cp-03': '127.0.0.63',
  'w-01': '127.0.0.71', 'w-02': '127.0.0.72', 'w-03': '127.0.0.73',
};
export const MASTERS = ['cp-01', 'cp-02', 'cp-03'];
export const WORKERS = ['w-01', 'w-02'];

export type Patch = NonNullable<Parameters<ClusterRuns['description']>[3]>;

export interface LifecycleLab extends FileLab {
  /** The description so far, changed further by `patch` (a raised installGeneration stays raised). */
  cluster(patch?: Patch, masters?: string[], workers?: string[]): ReturnType<ClusterRuns['description']>;
  /** The one cluster of the lab: fails when the lab ever had two (a split cluster). */
  theCluster(): Promise<ClusterModel['clusters'][string]>;
  /** Deploys the 3+2 cluster (installing every node); on a failure also prints the end of each node's sshd log. */
  deployFirst(): Promise<Awaited<ReturnType<LifecycleLab['apply']>>>;
}

/** The file's lab (support.ts fileLab); its nodes are installed first, so Terraform runs with the runner's stand-in nix. */
export function lifecycleLab(name: string): LifecycleLab {
  const file = fileLab(name, ADDRESS, (n) => n.startsWith('cp-'), { installs: true });
  // Labels and a taint on w-02 from the start: tests change them and check the Node follows.
  const described: Patch = { 'w-02': { labels: { tier: 'web' }, taints: ['dedicated=web:NoSchedule'] } };
  return withLab(file, {
    cluster(patch: Patch = {}, masters = MASTERS, workers = WORKERS) {
      for (const [n, p] of Object.entries(patch)) described[n] = { ...described[n], ...p };
      return file.runs.description('lifecycle', masters, workers, described, { install: true });
    },
    async apply(d: ClusterDescription) {
      const result = await file.apply(d);
      if (result.code !== 0) process.stderr.write(result.output.slice(-5000));
      return result;
    },
    async deployFirst() {
      const result = await this.apply(this.cluster());
      // A machine that never answers after its install's reboot: what its sshd did (the lab is removed after the file).
      if (result.code !== 0) for (const n of file.lab.nodes) process.stderr.write(`${n.name} sshd.log:\n${n.sshdLog().split('\n').slice(-12).join('\n')}\n`);
      return result;
    },
    async theCluster() {
      const model = await file.lab.cluster();
      expect(model.ids).toHaveLength(1);
      return model.clusters[model.ids[0]];
    },
  });
}

export const k3sStarts = (calls: Call[], node: string) => calls.filter((c) => c.node === node && c.command === 'k3s' && ['server', 'agent'].includes(c.args[0]));
export const kubectlOn = (calls: Call[], verb: string, node: string) => calls.filter((c) => c.command === 'k3s' && c.args[0] === 'kubectl' && c.args[1] === verb && c.args.includes(node));
