import * as fs from 'fs';
import * as path from 'path';
import { ClusterDescription } from '../../constructs';
import { stateResources } from '../helpers/terraform';
import { Call } from './harness';
import { fileLab, FileLab, withLab } from './support';

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

export interface InstallLab extends FileLab {
  /** The host keys Terraform made, from the state of cluster `name`: node -> "ssh-ed25519 AAAA...". */
  terraformHostKeys(name: string): Record<string, string>;
  /** ssh to a node pinning `hostKey`: 0 when the node presents exactly that key. */
  connectPinned(node: string, hostKey: string): Promise<number | null>;
  /** Adds key=value lines to a node's control file, read by the install's stand-ins on the node. */
  control(node: string, lines: Record<string, string | number>): void;
}

/** The file's lab (support.ts fileLab), Terraform running with the runner's stand-in nix. */
export function installLab(name: string, address: Record<string, string>, isServer: (node: string) => boolean, ports: Record<string, number> = {}): InstallLab {
  const file = fileLab(name, address, isServer, { ports, installs: true });
  return withLab(file, {
    async apply(d: ClusterDescription) {
      const result = await file.apply(d);
      if (result.code !== 0) process.stderr.write(result.output.slice(-4000));
      return result;
    },
    terraformHostKeys(cluster: string) {
      const stack = path.join(file.work, cluster, 'cdktf.out', 'stacks', cluster);
      return Object.fromEntries(stateResources(stack).filter((r) => r.address.includes('tls_private_key.host_key[')).map((r) => [r.address.match(/\["(.+)"\]/)![1], r.values.public_key_openssh.trim()]));
    },
    async connectPinned(node: string, hostKey: string) {
      const known = path.join(file.work, `known-${node}`);
      fs.writeFileSync(known, `${address[node]} ${hostKey}\n`);
      return (await file.lab.exec('ssh', [...file.lab.sshArgs(node, { knownHostsFile: known }), 'true'])).code;
    },
    control(node: string, lines: Record<string, string | number>) {
      fs.appendFileSync(file.lab.node(node).controlFile, Object.entries(lines).map(([k, v]) => `${k}=${v}\n`).join(''));
    },
  });
}
