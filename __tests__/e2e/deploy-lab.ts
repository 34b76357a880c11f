import * as fs from 'fs';
import * as path from 'path';
import { ClusterDescription, NodeDescription } from '../../constructs';
import { synthApp, tempDir, TERRAFORM, terraformEnv } from '../helpers/terraform';
import { Call, generateKeyPair, KeyPair, TestLab } from './harness';
import { expectNoSecretPrintedInAnyScenario } from './harness/secrets';
import { initOnce } from './support';

// The lab of the deploy files (deploy*.test.ts): three masters, four workers, and spare workers added
// later; all on loopback inside the lab's namespace. Each file has a lab of its own; they run in parallel.
export const MASTERS = ['cp-01', 'cp-02', 'cp-03'];
export const WORKERS = ['w-01', 'w-02', 'w-03', 'w-04'];
export const SPARES = ['w-05', 'w-06'];
export const ADDRESS: Record<string, string> = Object.fromEntries([
  ...MASTERS.map((n, i) => [n, `127.0.0.${11 + i}`]),
  ...[...WORKERS, ...SPARES].map((n, i) => [n, `127.0.0.${21 + i}`]),
]);
export const VIP = '127.0.0.100';
export const FLAKE_DIR = '/etc/nico/flake';
export const ROOT = path.resolve(__dirname, '..', '..');

// Nodes a step ran commands on; kubectl calls a control-plane node serves for another node's step
// (its readiness, whether its old Node exists) are not that node's deployment.
export const nodesCalled = (calls: Call[]) => [...new Set(calls.filter((c) => !(c.command === 'k3s' && c.args[0] === 'kubectl')).map((c) => c.node))].sort();

export interface DeployLab {
  readonly lab: TestLab;
  readonly key: KeyPair;
  readonly work: string;
  description(name: string, masters: string[], workers: string[], patch?: Record<string, Partial<NodeDescription>>): ClusterDescription;
  /** Synthesizes `d` into its own directory (one state per cluster name) and runs terraform there, inside the lab. */
  tf(d: ClusterDescription, ...args: string[]): Promise<{ code: number | null; stdout: string; stderr: string; output: string }>;
  apply(d: ClusterDescription): ReturnType<DeployLab['tf']>;
}

/** Starts the file's lab (beforeAll: switches take 1 s on masters, 2 s on workers), stops it (afterAll), checks every scenario for printed secrets. */
export function deployLab(name: string): DeployLab {
  let lab: TestLab;
  let key: KeyPair;
  const work = tempDir(`e2e-${name}`);

  beforeAll(async () => {
    key = await generateKeyPair(work, 'machine-key');
    lab = await TestLab.start({
      nodes: Object.entries(ADDRESS).map(([name, address]) => ({ name, address, role: MASTERS.includes(name) ? 'server' : 'agent' })),
      authorizedKey: key.publicKey,
      identityFile: key.privateKeyFile,
    });
    for (const m of MASTERS) lab.node(m).control({ sleepSeconds: 1 });
    for (const w of [...WORKERS, ...SPARES]) lab.node(w).control({ sleepSeconds: 2 });
  });

  // Issue 25: no scenario's plan or apply output holds a secret of the state (harness/secrets.ts).
  expectNoSecretPrintedInAnyScenario(() => lab);

  afterAll(async () => {
    await lab?.stop();
    fs.rmSync(work, { recursive: true, force: true });
  });

  const tfIn = async (stackDir: string, ...args: string[]) => {
    const result = await lab.exec(TERRAFORM, [`-chdir=${stackDir}`, ...args], { env: terraformEnv() });
    return { ...result, output: result.stdout + result.stderr };
  };
  const tf: DeployLab['tf'] = (d, ...args) => tfIn(synthApp(d, path.join(work, d.name)).stackDir, ...args);

  return {
    get lab() {
      return lab;
    },
    get key() {
      return key;
    },
    work,
    description(name, masters, workers, patch = {}) {
      const node = (n: string): NodeDescription => ({ name: n, ip: ADDRESS[n], hostKey: lab.node(n).hostPublicKey, ...patch[n] });
      return {
        name,
        vip: VIP,
        gateway: '127.0.0.1',
        controlPlane: masters.map(node),
        workers: workers.map(node),
        sshPrivateKeyFile: key.privateKeyFile,
        deploy: true,
        readyTimeoutSeconds: 30,
      };
    },
    tf,
    async apply(d) {
      const { stackDir } = synthApp(d, path.join(work, d.name));
      await initOnce(stackDir, () => tfIn(stackDir, 'init', '-input=false'));
      return tfIn(stackDir, 'apply', '-input=false', '-auto-approve', '-no-color');
    },
  };
}
