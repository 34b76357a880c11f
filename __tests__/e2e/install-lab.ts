import * as fs from 'fs';
import * as path from 'path';
import { ClusterDescription } from '../../constructs';
import { stateResources, tempDir } from '../helpers/terraform';
import { Call, TestLab } from './harness';
import { expectNoSecretPrintedInAnyScenario } from './harness/secrets';
import { ClusterRuns, startClusterLab } from './support';

// The lab of the install files: machines that run any Linux with root SSH get NixOS through the real
// nixos-anywhere 1.13.0 script, run by the runner's stand-in `nix run`. Stand-ins on the node take the
// place of kexec (the node stops answering, then answers as the installer), disko (a fresh /mnt),
// nixos-install (records what reached /mnt) and reboot (the node boots what is on /mnt).
// install.test.ts: a cluster installed first, and the runner's pre-flight; install-machine.test.ts:
// what answers at a machine's address during and after its install. Each file has a lab of its own.

/** The real script's phases on the node, in order. */
export const PHASES = ['kexec', 'disko', 'nixos-install', 'reboot'];
export const installs = (calls: Call[]) => calls.filter((c) => c.command === 'nixos-anywhere');
/** The value after `flag` in a call's arguments. */
export const flagValue = (c: Call, flag: string) => c.args[c.args.indexOf(flag) + 1];
/** What nixos-install saw on /mnt on `node`: the extra files as they arrived through nixos-anywhere's tar. */
export const installed = (calls: Call[], node: string) => calls.find((c) => c.node === node && c.command === 'nixos-install')!.install!;
export const commandsOn = (calls: Call[], node: string) => calls.filter((c) => c.node === node).map((c) => c.command);

export interface InstallLab {
  readonly lab: TestLab;
  readonly runs: ClusterRuns;
  readonly work: string;
  /** Applies `d` and returns the result with the stand-ins' calls of that apply. */
  apply(d: ClusterDescription): Promise<Awaited<ReturnType<ClusterRuns['apply']>> & { calls: Call[] }>;
  /** The host keys Terraform made, from the state of cluster `name`: node -> "ssh-ed25519 AAAA...". */
  terraformHostKeys(name: string): Record<string, string>;
  /** ssh to a node pinning `hostKey`: 0 when the node presents exactly that key. */
  connectPinned(node: string, hostKey: string): Promise<number | null>;
  /** Adds key=value lines to a node's control file, read by the install's stand-ins on the node. */
  control(node: string, lines: Record<string, string | number>): void;
}

/** Starts the file's lab (beforeAll), stops it (afterAll), checks every scenario for printed secrets. */
export function installLab(name: string, address: Record<string, string>, isServer: (node: string) => boolean, ports: Record<string, number> = {}): InstallLab {
  let lab: TestLab;
  let runs: ClusterRuns;
  const work = tempDir(`e2e-${name}`);
  beforeAll(async () => {
    ({ lab, runs } = await startClusterLab(work, address, isServer, ports));
    runs.runner = (env) => lab.runnerEnv(env);
  });

  // Issue 25: no scenario's plan or apply output holds a secret of the state (harness/secrets.ts).
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
      if (result.code !== 0) process.stderr.write(result.output.slice(-4000));
      return { ...result, calls: lab.calls() };
    },
    terraformHostKeys(cluster) {
      const stack = path.join(work, cluster, 'cdktf.out', 'stacks', cluster);
      return Object.fromEntries(stateResources(stack).filter((r) => r.address.includes('tls_private_key.host_key[')).map((r) => [r.address.match(/\["(.+)"\]/)![1], r.values.public_key_openssh.trim()]));
    },
    async connectPinned(node, hostKey) {
      const known = path.join(work, `known-${node}`);
      fs.writeFileSync(known, `${address[node]} ${hostKey}\n`);
      return (await lab.exec('ssh', [...lab.sshArgs(node, { knownHostsFile: known }), 'true'])).code;
    },
    control(node, lines) {
      fs.appendFileSync(lab.node(node).controlFile, Object.entries(lines).map(([k, v]) => `${k}=${v}\n`).join(''));
    },
  };
}
