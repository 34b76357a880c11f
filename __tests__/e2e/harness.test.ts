// Self-test of the e2e harness: the lab must really isolate, pin, separate and record, or the
// deployment tests built on it prove nothing.
import { execFileSync } from 'node:child_process';
import { chmodSync, copyFileSync, existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { generateKeyPair, KeyPair, run, TestLab } from './harness';

jest.setTimeout(30_000);

const NODES = [
  { name: 'cp-01', address: '127.0.0.11' },
  { name: 'cp-02', address: '127.0.0.12' },
  { name: 'w-01', address: '127.0.0.21', role: 'agent' as const },
];

describe('e2e harness (TestLab)', () => {
  let work: string;
  let key: KeyPair;
  let lab: TestLab;
  let flake: string;

  beforeAll(async () => {
    work = mkdtempSync(join(tmpdir(), 'nico-e2e-selftest-'));
    key = await generateKeyPair(work, 'client');
    // A flake tree as the deployment uploads it: the secret must arrive 0600 in a 0700 directory.
    flake = join(work, 'flake');
    mkdirSync(join(flake, 'nodes'), { recursive: true });
    writeFileSync(join(flake, 'flake.nix'), '{ outputs = _: { }; }\n');
    writeFileSync(join(flake, 'nodes', 'common.nix'), '{ }\n');
    // What the stand-in nixos-rebuild reads to start k3s as the node's configuration would: the
    // tree's own generator and a cluster.nix naming the lab's nodes (cp-02 creates the cluster).
    copyFileSync(join(__dirname, '..', '..', 'nix-templates', 'nodes', 'generator.nix'), join(flake, 'nodes', 'generator.nix'));
    writeFileSync(join(flake, 'cluster.nix'), `{ name = "lab"; vip = "127.0.0.100"; initNode = "cp-02";
  controlPlane = [ { name = "cp-01"; ip = "127.0.0.11"; } { name = "cp-02"; ip = "127.0.0.12"; } ];
  workers = [ { name = "w-01"; ip = "127.0.0.21"; } ]; }\n`);
    writeFileSync(join(flake, 'join-token'), 'secret-token-123\n');
    chmodSync(join(flake, 'join-token'), 0o600);
    chmodSync(flake, 0o700);
    lab = await TestLab.start({ nodes: NODES, authorizedKey: key.publicKey, identityFile: key.privateKeyFile });
  }, 60_000);

  afterAll(async () => {
    await lab?.stop();
    if (work) rmSync(work, { recursive: true, force: true });
  });

  const ssh = (name: string, command: string, knownHostsFile?: string) =>
    lab.exec('ssh', [...lab.sshArgs(name, { knownHostsFile }), command], { timeoutMs: 20_000 });
  const upload = async (name: string) => {
    const result = await lab.exec('scp', lab.scpArgs(name, [flake], '/etc/nico/'), { timeoutMs: 20_000 });
    expect(result).toMatchObject({ code: 0 });
  };
  const rebuild = (name: string, config: string) => ssh(name, `nixos-rebuild switch --flake path:/etc/nico/flake#${config}`);

  test('given known_hosts built from hostPublicKey, when ssh runs `echo $NICO_TEST_NODE` on each node, then it names that node', async () => {
    const knownHosts = join(work, 'known_hosts_pinned');
    writeFileSync(knownHosts, NODES.map((n) => `${n.address} ${lab.node(n.name).hostPublicKey}\n`).join(''));
    for (const { name } of NODES) {
      expect(lab.node(name).hostPublicKey).toMatch(/^ssh-ed25519 AAAA\S+$/);
      const result = await ssh(name, 'echo $NICO_TEST_NODE; command -v nixos-rebuild', knownHosts);
      expect(result).toMatchObject({ code: 0, stdout: `${name}\n${lab.binDir}/nixos-rebuild\n` });
    }
  });

  test('given a known_hosts that pins another node\'s key, when ssh connects, then it is refused', async () => {
    const wrong = join(work, 'known_hosts_wrong');
    writeFileSync(wrong, `127.0.0.11 ${lab.node('cp-02').hostPublicKey}\n`);
    const result = await ssh('cp-01', 'echo reached', wrong);
    expect(result.code).toBe(255);
    expect(result.stdout).not.toContain('reached');
    expect(result.stderr).toMatch(/Host key verification failed/);
  });

  test('given a tree with a secret scp-ed to node A, then A has it with its modes and B and the host see nothing', async () => {
    await upload('cp-01');
    expect(await ssh('cp-01', 'cat /etc/nico/flake/join-token; stat -c %a /etc/nico/flake/join-token'))
      .toMatchObject({ code: 0, stdout: 'secret-token-123\n600\n' });
    expect(await lab.node('cp-01').readFile('/etc/nico/flake/join-token')).toBe('secret-token-123\n');
    expect(await ssh('cp-02', 'ls -A /etc/nico')).toMatchObject({ code: 0, stdout: '' });
    expect(existsSync('/etc/nico/flake')).toBe(false);
  });

  test('when nixos-rebuild switch runs, then the call is recorded with the listing and modes of the tree', async () => {
    await upload('cp-01');
    lab.clearCalls();
    const result = await rebuild('cp-01', 'cp-01');
    expect(result.code).toBe(0);
    const calls = lab.node('cp-01').calls();
    expect(calls).toHaveLength(1);
    expect(calls[0]).toMatchObject({
      node: 'cp-01', command: 'nixos-rebuild', args: ['switch', '--flake', 'path:/etc/nico/flake#cp-01'], exit: 0,
      flake: { dir: '/etc/nico/flake', config: 'cp-01', dirMode: '700', dirOwner: 'root', parentMode: '755', parentOwner: 'root' },
    });
    expect(calls[0].flake!.entries).toEqual([
      { path: 'flake.nix', type: 'f', mode: '644', owner: 'root' },
      { path: 'join-token', type: 'f', mode: '600', owner: 'root' },
      { path: 'nodes', type: 'd', mode: '755', owner: 'root' },
      { path: 'nodes/common.nix', type: 'f', mode: '644', owner: 'root' },
    ]);
    expect(await lab.node('cp-01').state()).toMatchObject({ activeConfig: 'cp-01', clean: false });
    expect(await ssh('cp-01', 'stat -c %a /etc/rancher/k3s/k3s.yaml; grep server: /etc/rancher/k3s/k3s.yaml'))
      .toMatchObject({ code: 0, stdout: '600\n    server: https://127.0.0.1:6443\n' });
    expect(lab.calls()).toEqual(calls);
  });

  test('given sleepSeconds 1, when nixos-rebuild runs, then the recorded interval is at least 1 s', async () => {
    await upload('cp-01');
    lab.clearCalls();
    lab.node('cp-01').control({ sleepSeconds: 1 });
    try {
      expect((await rebuild('cp-01', 'cp-01')).code).toBe(0);
    } finally {
      lab.node('cp-01').control({});
    }
    const [call] = lab.node('cp-01').calls();
    expect(call.end - call.start).toBeGreaterThanOrEqual(1000);
  });

  test('given fail: true, when nixos-rebuild runs, then it exits 1 with a message and records the failure', async () => {
    await upload('cp-01');
    lab.clearCalls();
    lab.node('cp-01').control({ fail: true });
    try {
      const result = await rebuild('cp-01', 'cp-01');
      expect(result.code).toBe(1);
      expect(result.stderr).toContain('error: stand-in failure for cp-01');
    } finally {
      lab.node('cp-01').control({});
    }
    expect(lab.calls()).toMatchObject([{ node: 'cp-01', exit: 1, error: 'error: stand-in failure for cp-01' }]);
  });

  test('when nixos-rebuild gets other arguments or a directory without flake.nix, then it exits 2 and records it', async () => {
    lab.clearCalls();
    expect((await ssh('cp-02', 'nixos-rebuild switch --flake /etc/nico/flake#cp-02')).code).toBe(2);
    expect((await ssh('cp-02', 'nixos-rebuild switch --flake path:/etc/nico/flake#cp-02')).code).toBe(2);
    expect(lab.calls().map((c) => c.exit)).toEqual([2, 2]);
  });

  test('given a node not yet switched, then /readyz fails; after a switch it answers ok; #minimal cleans it', async () => {
    const readyz = 'k3s kubectl get --raw /readyz';
    await upload('cp-02');
    expect(await ssh('cp-02', readyz)).toMatchObject({ code: 1 });
    expect((await rebuild('cp-02', 'cp-02')).code).toBe(0);
    expect(await ssh('cp-02', readyz)).toMatchObject({ code: 0, stdout: 'ok\n' });
    expect(await ssh('cp-02', `k3s kubectl get node cp-02 -o 'jsonpath={.status.conditions[?(@.type=="Ready")].status}'`)).toMatchObject({ code: 0, stdout: 'True' });
    // The k3s service started as the configuration says: the init node creates the cluster.
    expect(lab.calls().filter((c) => c.node === 'cp-02' && c.command === 'k3s' && c.args[0] === 'server').map((c) => c.args.slice(0, 2))).toEqual([['server', '--cluster-init']]);
    // An agent holds no admin kubeconfig: kubectl there has no API to ask.
    expect(await ssh('w-01', 'k3s kubectl get node cp-02')).toMatchObject({ code: 1, stderr: expect.stringContaining('localhost:8080 was refused') });
    expect(await ssh('cp-02', 'systemctl is-active --quiet k3s')).toMatchObject({ code: 0 });
    expect((await rebuild('cp-02', 'minimal')).code).toBe(0);
    expect(await ssh('cp-02', readyz)).toMatchObject({ code: 1 });
    expect(await ssh('cp-02', 'systemctl is-active k3s')).toMatchObject({ code: 3, stdout: 'inactive\n' });
    expect(await lab.node('cp-02').state()).toEqual({ activeConfig: 'minimal', clean: true, kubeconfig: undefined });
  });

  test('given an agent, when switched, then it gets no kubeconfig but its k3s service is active', async () => {
    await upload('w-01');
    expect(await ssh('w-01', 'systemctl is-active --quiet k3s')).toMatchObject({ code: 3 });
    expect((await rebuild('w-01', 'w-01')).code).toBe(0);
    expect(await ssh('w-01', 'systemctl is-active --quiet k3s')).toMatchObject({ code: 0 });
    expect((await lab.node('w-01').state()).kubeconfig).toBeUndefined();
  });

  test('the namespace is isolated: from outside it, 127.0.0.11:22 does not reach the node', async () => {
    const outside = await new Promise<string>((resolve) => {
      const socket = connect({ host: '127.0.0.11', port: 22 });
      socket.setTimeout(3000, () => { socket.destroy(); resolve('timeout'); });
      socket.once('connect', () => { socket.destroy(); resolve('connected'); });
      socket.once('error', (e: NodeJS.ErrnoException) => resolve(e.code ?? 'error'));
    });
    expect(outside).toBe('ECONNREFUSED');
    const direct = await run('ssh', [...lab.sshArgs('cp-01'), 'echo reached'], { timeoutMs: 20_000 });
    expect(direct.code).toBe(255);
    expect(direct.stdout).not.toContain('reached');
  });

  test('when stopped (twice), then no sshd of ours is alive and the namespace and lab dir are gone', async () => {
    const pids = lab.nodes.map((node) => node.pid!);
    expect(pids.every((pid) => pid > 0 && alive(pid))).toBe(true);
    expect(namespaces()).toContain(lab.namespace);
    await lab.stop();
    await lab.stop();
    expect(pids.filter(alive)).toEqual([]);
    expect(namespaces()).not.toContain(lab.namespace);
    expect(existsSync(lab.dir)).toBe(false);
  });
});

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

function namespaces(): string[] {
  return execFileSync('ip', ['netns', 'list'], { encoding: 'utf8' }).split('\n').map((l) => l.split(' ')[0]).filter(Boolean);
}
