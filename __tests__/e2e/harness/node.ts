import { ChildProcess, spawn } from 'node:child_process';
import { closeSync, openSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Call, readCalls } from './calls';
import { ExecResult, run } from './run';

export interface NodeSpec {
  name: string;
  /** A 127.0.0.0/8 address: inside the lab's namespace all of it answers on lo. */
  address: string;
  /** Default 22: every node has its own address, so all can use the real SSH port. */
  port?: number;
  /** Servers get a kubeconfig when switched (default 'server'). */
  role?: 'server' | 'agent';
}

/** What the node's stand-in nixos-rebuild left in its private view of /etc/nico and /etc/rancher. */
export interface NodeState {
  /** The configuration of the last successful switch, or undefined before any. */
  activeConfig?: string;
  /** True after a successful switch to #minimal (and no switch to a real config since). */
  clean: boolean;
  /** Contents of /etc/rancher/k3s/k3s.yaml, if present. */
  kubeconfig?: string;
}

export interface NodeControl {
  /** nixos-rebuild exits 1 ("error: stand-in failure for <node>") instead of switching. */
  fail?: boolean;
  /** nixos-rebuild sleeps this long (after validating, before switching). */
  sleepSeconds?: number;
  /** The system a switch makes never gets ready (k3s inactive, Node not Ready) until rolled back. */
  failReadiness?: boolean;
  /** The system a switch makes cuts SSH off (sshd stops answering) until rolled back. */
  cutSsh?: boolean;
  /** Its k3s is down from now on (API refused, etcd member not voting, Node not Ready); SSH still answers. */
  apiDown?: boolean;
}

// Private tmpfs per node, mounted before sshd starts, so each node sees its own copy of these paths as
// separate machines would. /root is hidden too: this machine's root .bashrc (sourced by bash for SSH
// commands) prints and rewrites PATH, which would slow every command and can corrupt the scp protocol.
const PRIVATE_MOUNTS = ['0755:/etc/nico', '0755:/etc/rancher', '0755:/var/lib/rancher', '0755:/var/lib/nico', '0755:/nix/var/nix/profiles', '0700:/root'];
export const HOST_MOUNT_POINTS = PRIVATE_MOUNTS.map((spec) => spec.split(':')[1]);

const START_SCRIPT = `set -e
sshd=$1 config=$2
shift 2
for spec in "$@"; do mount -t tmpfs -o "mode=\${spec%%:*},size=64m" nico-e2e "\${spec#*:}"; done
exec "$sshd" -D -e -f "$config"`;

export interface NodeContext {
  namespace: string;
  labDir: string;
  binDir: string;
  authorizedKeysFile: string;
  callsFile: string;
  tools: Record<string, string>;
}

export class LabNode {
  readonly name: string;
  readonly address: string;
  readonly port: number;
  readonly role: 'server' | 'agent';
  /** The node's work dir: host key, sshd_config, sshd.log, control file. */
  readonly dir: string;
  /** `ssh-ed25519 AAAA...` (no comment), for pinning. */
  hostPublicKey = '';
  private child?: ChildProcess;
  private exited?: Promise<void>;

  constructor(spec: NodeSpec, private readonly ctx: NodeContext) {
    this.name = spec.name;
    this.address = spec.address;
    this.port = spec.port ?? 22;
    this.role = spec.role ?? 'server';
    this.dir = join(ctx.labDir, 'nodes', spec.name);
  }

  /** The pid of this node's sshd (ip netns exec, unshare and sh all exec into it). */
  get pid(): number | undefined {
    return this.child?.pid;
  }

  get running(): boolean {
    return this.child !== undefined && this.child.exitCode === null && this.child.signalCode === null;
  }

  /** A known_hosts line that pins this node's host key. */
  get knownHostsLine(): string {
    const host = this.port === 22 ? this.address : `[${this.address}]:${this.port}`;
    return `${host} ${this.hostPublicKey}`;
  }

  get logFile(): string {
    return join(this.dir, 'sshd.log');
  }

  get controlFile(): string {
    return join(this.dir, 'control');
  }

  /** Environment of every SSH session on this node; the stand-ins read it. */
  get sessionEnv(): Record<string, string> {
    return {
      PATH: `${this.ctx.binDir}:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin`,
      NICO_TEST_NODE: this.name,
      NICO_TEST_LAB: this.ctx.labDir,
      NICO_TEST_CONTROL: this.controlFile,
    };
  }

  async generateHostKey(): Promise<void> {
    const key = join(this.dir, 'ssh_host_ed25519_key');
    await run(this.ctx.tools['ssh-keygen'], ['-q', '-t', 'ed25519', '-N', '', '-C', this.name, '-f', key], { check: true });
    this.hostPublicKey = readFileSync(`${key}.pub`, 'utf8').trim().split(/\s+/).slice(0, 2).join(' ');
  }

  private writeConfig(): string {
    const file = join(this.dir, 'sshd_config');
    const env = Object.entries(this.sessionEnv).map(([k, v]) => `${k}=${v}`).join(' ');
    writeFileSync(file, [
      `# sshd for e2e test node ${this.name}, written by __tests__/e2e/harness`,
      `ListenAddress ${this.address}:${this.port}`,
      `HostKey ${join(this.dir, 'ssh_host_ed25519_key')}`,
      `PidFile ${join(this.dir, 'sshd.pid')}`,
      `AuthorizedKeysFile ${this.ctx.authorizedKeysFile}`,
      'PermitRootLogin prohibit-password',
      'PubkeyAuthentication yes',
      'PasswordAuthentication no',
      'KbdInteractiveAuthentication no',
      'UsePAM no',
      // The work dirs live under /tmp, which StrictModes would reject.
      'StrictModes no',
      // Debian 12's scp speaks SFTP by default; Terraform's file provisioner runs `scp -t` itself.
      'Subsystem sftp internal-sftp',
      `SetEnv ${env}`,
      'PrintMotd no',
      'PrintLastLog no',
      // Terraform opens a connection per provisioner and nodes deploy in parallel.
      'MaxStartups 100',
      'MaxSessions 100',
      // VERBOSE logs each login with its key: enough to debug a refused connection from sshd.log.
      'LogLevel VERBOSE',
      '',
    ].join('\n'));
    return file;
  }

  /** Starts sshd as root in the lab's network namespace and in a private mount namespace of its own. */
  start(): void {
    const config = this.writeConfig();
    const log = openSync(this.logFile, 'a');
    const { tools, namespace } = this.ctx;
    this.child = spawn(tools.ip, ['netns', 'exec', namespace, tools.unshare, '-m', '--propagation', 'private',
      '/bin/sh', '-c', START_SCRIPT, 'sh', tools.sshd, config, ...PRIVATE_MOUNTS], { stdio: ['ignore', log, log] });
    closeSync(log);
    const child = this.child;
    // A test that forgets lab.stop() must not keep jest waiting forever: the watchdog cleans up instead.
    child.unref();
    this.exited = new Promise((resolve) => child.once('exit', () => resolve()));
  }

  /** Resolves when sshd has exited (immediately if it never started). */
  whenExited(): Promise<void> {
    return this.exited ?? Promise.resolve();
  }

  /** SIGTERM, then SIGKILL after a grace period. Connections' own sshd processes die with the namespace. */
  async kill(graceMs = 3000): Promise<void> {
    if (!this.running) return;
    this.child!.kill('SIGTERM');
    const timer = setTimeout(() => this.child!.kill('SIGKILL'), graceMs);
    await this.whenExited();
    clearTimeout(timer);
  }

  sshdLog(): string {
    try {
      return readFileSync(this.logFile, 'utf8');
    } catch {
      return '';
    }
  }

  /** Replaces the control file read by this node's stand-in nixos-rebuild; `{}` resets it. */
  control(control: NodeControl): void {
    const lines = Object.entries(control).filter(([, v]) => v !== undefined).map(([k, v]) => `${k}=${v}\n`);
    writeFileSync(this.controlFile, lines.join(''));
  }

  /** This node's stand-in calls, oldest first. */
  calls(): Call[] {
    return readCalls(this.ctx.callsFile).filter((call) => call.node === this.name);
  }

  /**
   * Runs a shell script as root in this node's own view (its mount and network namespaces, the SSH
   * session environment), without SSH: for inspecting what a deployment left on the node.
   */
  async shell(script: string): Promise<ExecResult> {
    if (!this.running) throw new Error(`node ${this.name}: sshd is not running`);
    return run(this.ctx.tools.nsenter, ['-t', String(this.pid), '-m', '-n', '/bin/sh', '-c', script], { env: this.sessionEnv });
  }

  /** A file's contents in this node's view, or undefined when it does not exist. */
  async readFile(path: string): Promise<string | undefined> {
    const result = await this.shell(`test -f '${path.replace(/'/g, `'\\''`)}' || exit 3; cat -- '${path.replace(/'/g, `'\\''`)}'`);
    if (result.code === 3) return undefined;
    if (result.code !== 0) throw new Error(`node ${this.name}: cannot read ${path}: ${result.stderr}`);
    return result.stdout;
  }

  async state(): Promise<NodeState> {
    const [active, clean, kubeconfig] = await Promise.all(
      ['/etc/nico/.active-config', '/etc/nico/.clean', '/etc/rancher/k3s/k3s.yaml'].map((p) => this.readFile(p)));
    return { activeConfig: active?.trim() || undefined, clean: clean !== undefined, kubeconfig };
  }
}
