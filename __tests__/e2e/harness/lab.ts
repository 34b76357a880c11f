import { ChildProcess, spawn } from 'node:child_process';
import { chmodSync, copyFileSync, existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Call, readCalls } from './calls';
import { ClusterModel, readClusterModel } from './cluster';
import { createNamespace, deleteStaleNamespaces, destroyNamespaceSync } from './netns';
import { HOST_MOUNT_POINTS, LabNode, NodeSpec } from './node';
import { ExecOptions, ExecResult, run, spawnWith } from './run';
import { requireLabTools } from './tools';
import { waitForPorts } from './wait';

export interface LabOptions {
  nodes: NodeSpec[];
  /** Public key line(s) (`ssh-ed25519 AAAA... comment`) allowed to log in as root on every node. */
  authorizedKey: string | string[];
  /** Private key that sshArgs/scpArgs use unless told otherwise. */
  identityFile?: string;
  /** How long all sshds get to accept connections (default 20 s). */
  readyTimeoutMs?: number;
}

export interface SshOptions {
  identityFile?: string;
  /** Default: the lab's known_hosts, which pins every node's host key. */
  knownHostsFile?: string;
}

const STANDINS = join(__dirname, 'standins');
const NAME = /^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/;

// Last resort if the test process dies without lab.stop(): this runs outside the namespace, polls for
// the test process, then kills what runs in the namespace, deletes it and the lab dir.
const WATCHDOG = `while kill -0 "$1" 2>/dev/null; do sleep 1; done
for pid in $(ip netns pids "$2" 2>/dev/null); do kill -9 "$pid" 2>/dev/null; done
ip netns del "$2" 2>/dev/null
rm -rf "$3"`;

/**
 * A set of test "nodes": real OpenSSH servers on loopback addresses in a network namespace of the
 * lab's own, each with a private /etc/nico, /etc/rancher, /var/lib/rancher and /root, and stand-in
 * nixos-rebuild, k3s and systemctl first on PATH that record what they are asked.
 */
export class TestLab {
  readonly namespace: string;
  readonly dir: string;
  readonly binDir: string;
  readonly callsFile: string;
  readonly knownHostsFile: string;
  /**
   * The TMPDIR of this lab's runner, 0700: the product keeps its runner state in
   * `${TMPDIR}/nico-cluster-<uid>`, and labs that run at the same time must not share it (one lab's
   * stale-step cleanup, lock files or markers would be another's). Short, so that the step's SSH
   * control sockets fit in sun_path as they do under /tmp.
   */
  readonly runnerTmp: string;
  private readonly nodeList: LabNode[];
  private readonly tools: Record<string, string>;
  private readonly identityFile?: string;
  private watchdog?: ChildProcess;
  private stopping?: Promise<void>;
  private readonly onExit = () => this.stopSync();

  private constructor(opts: LabOptions, tools: Record<string, string>, namespace: string, dir: string) {
    this.tools = tools;
    this.namespace = namespace;
    this.dir = dir;
    this.binDir = join(dir, 'bin');
    this.callsFile = join(dir, 'calls.jsonl');
    this.knownHostsFile = join(dir, 'known_hosts');
    this.runnerTmp = join(dir, 'tmp');
    this.identityFile = opts.identityFile;
    const ctx = { namespace, labDir: dir, binDir: this.binDir, authorizedKeysFile: join(dir, 'authorized_keys'), callsFile: this.callsFile, tools };
    this.nodeList = opts.nodes.map((spec) => new LabNode(spec, ctx));
  }

  static async start(opts: LabOptions): Promise<TestLab> {
    const tools = requireLabTools();
    validate(opts);
    deleteStaleNamespaces();
    const dir = mkdtempSync(join(tmpdir(), 'nico-e2e-'));
    let lab: TestLab | undefined;
    try {
      lab = new TestLab(opts, tools, await createNamespace(), dir);
      lab.guard();
      lab.writeFiles(opts);
      await Promise.all(lab.nodeList.map((node) => node.generateHostKey()));
      writeFileSync(lab.knownHostsFile, lab.nodeList.map((node) => `${node.knownHostsLine}\n`).join(''));
      lab.nodeList.forEach((node) => node.start());
      await waitForPorts(lab, opts.readyTimeoutMs ?? 20_000);
      return lab;
    } catch (e) {
      if (lab) await lab.stop();
      else rmSync(dir, { recursive: true, force: true });
      throw e;
    }
  }

  private guard(): void {
    // Fires in plain node (a debugging script). Inside jest, `process` is a sandbox copy whose 'exit'
    // never fires: the watchdog covers that, and a SIGKILL-ed test run too.
    process.on('exit', this.onExit);
    this.watchdog = spawn('/bin/sh', ['-c', WATCHDOG, 'watchdog', String(process.pid), this.namespace, this.dir],
      { detached: true, stdio: 'ignore' });
    this.watchdog.unref();
  }

  private writeFiles(opts: LabOptions): void {
    mkdirSync(this.binDir);
    mkdirSync(this.runnerTmp, { mode: 0o700 });
    mkdirSync(join(this.dir, 'lib'));
    mkdirSync(join(this.dir, 'switched'));
    for (const cmd of ['nixos-rebuild', 'k3s', 'systemctl', 'nix', 'systemd-run', 'journalctl', 'sh']) {
      copyFileSync(join(STANDINS, cmd), join(this.binDir, cmd));
      chmodSync(join(this.binDir, cmd), 0o755);
    }
    copyFileSync(join(STANDINS, 'lib.sh'), join(this.dir, 'lib', 'standin.sh'));
    // The k3s stand-in's parts (its cluster model, service start, kubectl, and any added later).
    for (const part of readdirSync(STANDINS).filter((f) => /^k3s-.*\.sh$/.test(f))) copyFileSync(join(STANDINS, part), join(this.dir, 'lib', part));
    mkdirSync(join(this.dir, 'runner-bin'));
    copyFileSync(join(STANDINS, 'runner', 'nix'), join(this.dir, 'runner-bin', 'nix'));
    chmodSync(join(this.dir, 'runner-bin', 'nix'), 0o755);
    // What the real nixos-anywhere makes a node run that touches hardware (kexec, disko, nixos-install, ...).
    for (const [from, to] of [['bin', this.binDir], ['lib', join(this.dir, 'lib')]]) {
      for (const f of readdirSync(join(STANDINS, 'installer', from))) {
        copyFileSync(join(STANDINS, 'installer', from, f), join(to, f));
        chmodSync(join(to, f), 0o755);
      }
    }
    const keys = Array.isArray(opts.authorizedKey) ? opts.authorizedKey : [opts.authorizedKey];
    writeFileSync(join(this.dir, 'authorized_keys'), keys.map((k) => `${k.trim()}\n`).join(''));
    writeFileSync(join(this.dir, 'servers'), this.nodeList.filter((n) => n.role === 'server').map((n) => `${n.name}\n`).join(''));
    writeFileSync(this.callsFile, '');
    for (const node of this.nodeList) mkdirSync(node.dir, { recursive: true });
    // Mount points for each node's private tmpfs; empty on the host. /run/sshd is sshd's privsep dir.
    for (const path of [...HOST_MOUNT_POINTS, '/run/sshd']) mkdirSync(path, { recursive: true, mode: 0o755 });
  }

  node(name: string): LabNode {
    const node = this.nodeList.find((n) => n.name === name);
    if (!node) throw new Error(`no node ${name} in this lab (nodes: ${this.nodeList.map((n) => n.name).join(', ')})`);
    return node;
  }

  get nodes(): readonly LabNode[] {
    return this.nodeList;
  }

  /**
   * Runs a command inside the namespace with the caller's environment (plus opts.env), as this lab's
   * runner: TMPDIR is the lab's own (runnerTmp) unless the caller chose another one.
   */
  exec(cmd: string, args: readonly string[] = [], opts: ExecOptions = {}): Promise<ExecResult> {
    return run(this.tools.ip, ['netns', 'exec', this.namespace, cmd, ...args], this.asRunner(opts));
  }

  /** Starts a command inside the namespace (as exec does); stop() kills it if it still runs. */
  spawn(cmd: string, args: readonly string[] = [], opts: ExecOptions = {}): ChildProcess {
    return spawnWith(this.tools.ip, ['netns', 'exec', this.namespace, cmd, ...args], this.asRunner(opts));
  }

  // A TMPDIR that differs from the test process's own was chosen by the test (runner-safety plants
  // things in one of its own); the inherited one (often none: /tmp) is shared by every lab and run.
  private asRunner(opts: ExecOptions): ExecOptions {
    const chosen = opts.env?.TMPDIR;
    if (chosen !== undefined && chosen !== process.env.TMPDIR) return opts;
    return { ...opts, env: { ...opts.env, TMPDIR: this.runnerTmp } };
  }

  /** Everything but the remote command: `lab.exec('ssh', [...lab.sshArgs('cp-01'), 'uptime'])`. */
  sshArgs(name: string, opts: SshOptions = {}): string[] {
    const node = this.node(name);
    return [...this.sshOptions(opts), '-p', String(node.port), `root@${node.address}`];
  }

  /** Full scp arguments: `lab.exec('scp', lab.scpArgs('cp-01', ['./flake'], '/etc/nico/'))`. */
  scpArgs(name: string, sources: string[], remotePath: string, opts: SshOptions = {}): string[] {
    const node = this.node(name);
    return ['-r', '-p', ...this.sshOptions(opts), '-P', String(node.port), ...sources, `root@${node.address}:${remotePath}`];
  }

  private sshOptions(opts: SshOptions): string[] {
    const identity = opts.identityFile ?? this.identityFile;
    return [
      '-F', '/dev/null', // the user's ssh config must not change what the test does
      ...(identity ? ['-i', identity, '-o', 'IdentitiesOnly=yes'] : []),
      '-o', 'BatchMode=yes',
      '-o', 'StrictHostKeyChecking=yes',
      '-o', `UserKnownHostsFile=${opts.knownHostsFile ?? this.knownHostsFile}`,
      '-o', 'GlobalKnownHostsFile=/dev/null',
      '-o', 'UpdateHostKeys=no',
      // The default post-quantum key exchange costs ~120 ms per connection here; pinning is unaffected.
      '-o', 'KexAlgorithms=curve25519-sha256',
      '-o', 'ConnectTimeout=5',
      '-o', 'LogLevel=ERROR',
    ];
  }

  /**
   * Environment for Terraform as the machine that runs it: the runner's stand-in `nix` first on PATH,
   * whose `nix run` runs the real nixos-anywhere 1.13.0 script against this lab's nodes.
   */
  runnerEnv(env: NodeJS.ProcessEnv): NodeJS.ProcessEnv {
    return { ...env, PATH: `${join(this.dir, 'runner-bin')}:${env.PATH ?? process.env.PATH}`, NICO_TEST_LAB: this.dir, NICO_TEST_NIXOS_ANYWHERE_SRC: nixosAnywhereSource() };
  }

  /** The cluster model the k3s stand-ins keep (Node objects, etcd members, cluster ids, node passwords). */
  cluster(): Promise<ClusterModel> {
    return readClusterModel(this.dir);
  }

  /** All stand-in calls of all nodes, in the order they finished. */
  calls(): Call[] {
    return readCalls(this.callsFile);
  }

  /** The stand-in calls that began (ended or not), oldest first: `calls()` has only those that ended. */
  started(): Pick<Call, 'node' | 'command' | 'start'>[] {
    return readCalls(join(this.dir, 'started.jsonl'));
  }

  clearCalls(): void {
    writeFileSync(this.callsFile, '');
    writeFileSync(join(this.dir, 'started.jsonl'), '');
  }

  /** Kills our sshds and anything else in the namespace, deletes it and the lab dir. Safe to call twice. */
  stop(): Promise<void> {
    this.stopping ??= (async () => {
      await Promise.all(this.nodeList.map((node) => node.kill()));
      this.stopSync();
    })();
    return this.stopping;
  }

  // Synchronous so that it can also run from a process 'exit' handler.
  private stopSync(): void {
    for (const node of this.nodeList) if (node.running && node.pid) tryKill(node.pid);
    destroyNamespaceSync(this.namespace);
    if (this.watchdog?.pid) tryKill(this.watchdog.pid, 'SIGTERM');
    if (process.env.NICO_E2E_KEEP) process.stderr.write(`e2e lab kept in ${this.dir} (NICO_E2E_KEEP)\n`);
    else rmSync(this.dir, { recursive: true, force: true });
    process.off('exit', this.onExit);
  }
}

/**
 * The reference copy of nixos-anywhere 1.13.0 (upstream's unchanged script): NICO_TEST_NIXOS_ANYWHERE_SRC,
 * else `shared/reference/nixos-anywhere-1.13.0` beside the repository (or beside its worktree's parent).
 */
export function nixosAnywhereSource(): string {
  const repo = join(__dirname, '..', '..', '..');
  const candidates = [process.env.NICO_TEST_NIXOS_ANYWHERE_SRC, join(repo, '..', 'shared', 'reference', 'nixos-anywhere-1.13.0'), join(repo, '..', '..', 'shared', 'reference', 'nixos-anywhere-1.13.0')];
  const found = candidates.find((c) => c && existsSync(join(c, 'src', 'nixos-anywhere.sh')));
  if (!found) throw new Error(`the e2e install lab runs the real nixos-anywhere 1.13.0 script: not found in ${candidates.filter(Boolean).join(', ')} (set NICO_TEST_NIXOS_ANYWHERE_SRC)`);
  return found;
}

function tryKill(pid: number, signal: NodeJS.Signals = 'SIGKILL'): void {
  try {
    process.kill(pid, signal);
  } catch {
    // already gone
  }
}

function validate(opts: LabOptions): void {
  const problems: string[] = [];
  const seen = new Set<string>();
  for (const node of opts.nodes) {
    if (!NAME.test(node.name) || node.name === 'minimal') problems.push(`node name "${node.name}" must be an RFC 1123 label other than "minimal"`);
    if (!/^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(node.address) || node.address.split('.').some((o) => Number(o) > 255)) {
      problems.push(`node ${node.name}: address "${node.address}" must be in 127.0.0.0/8 (only lo exists in the lab)`);
    }
    for (const key of [node.name, `${node.address}:${node.port ?? 22}`]) {
      if (seen.has(key)) problems.push(`node ${node.name}: "${key}" is used twice`);
      seen.add(key);
    }
  }
  if (opts.nodes.length === 0) problems.push('a lab needs at least one node');
  const keys = Array.isArray(opts.authorizedKey) ? opts.authorizedKey : [opts.authorizedKey];
  if (keys.length === 0 || keys.some((k) => !/^(ssh-|ecdsa-)\S+ \S+/.test(k.trim()))) problems.push('authorizedKey must be OpenSSH public key line(s)');
  if (problems.length > 0) throw new Error(`TestLab.start: ${problems.join('; ')}`);
}
