import * as fs from 'fs';
import * as path from 'path';
import { stateResources, tempDir } from '../helpers/terraform';
import { Call, TestLab } from './harness';
import { ClusterRuns, startClusterLab, switches } from './support';
import { expectNoSecretPrintedInAnyScenario } from './harness/secrets';

jest.setTimeout(20 * 60 * 1000);

// The install phase: machines that run any Linux with root SSH get NixOS through nixos-anywhere (the
// runner's stand-in records it and "installs" the lab node: new host key, wiped state, extra files).
const ADDRESS: Record<string, string> = { 'i-01': '127.0.0.41', 'i-02': '127.0.0.42', 'i-03': '127.0.0.43' };

let lab: TestLab;
let runs: ClusterRuns;
const work = tempDir('e2e-install');

beforeAll(async () => {
  ({ lab, runs } = await startClusterLab(work, ADDRESS, (name) => name === 'i-01'));
  runs.runner = (env) => lab.runnerEnv(env);
});

// Issue 25: no scenario's plan or apply output holds a secret of the state (harness/secrets.ts).
expectNoSecretPrintedInAnyScenario(() => lab);

afterAll(async () => {
  await lab?.stop();
  fs.rmSync(work, { recursive: true, force: true });
});

// i-01 and i-02 are installed (cluster-wide install); i-03 opts out. Before the install every node is
// pinned to the key its current system presents (the lab's), as a rescue system's would be given.
const cluster = (patch = {}) => runs.description('installing', ['i-01'], ['i-02', 'i-03'], { 'i-03': { install: false }, ...patch }, { install: true, readyTimeoutSeconds: 10 });
const installs = (calls: Call[]) => calls.filter((c) => c.command === 'nixos-anywhere');

async function apply(d: ReturnType<typeof cluster>) {
  lab.clearCalls();
  const result = await runs.apply(d);
  if (result.code !== 0) process.stderr.write(result.output.slice(-4000));
  return { ...result, calls: lab.calls() };
}

/** The host keys Terraform made, from the state: node -> "ssh-ed25519 AAAA...". */
function terraformHostKeys(): Record<string, string> {
  const stack = path.join(work, 'installing', 'cdktf.out', 'stacks', 'installing');
  return Object.fromEntries(stateResources(stack).filter((r) => r.address.includes('tls_private_key.host_key[')).map((r) => [r.address.match(/\["(.+)"\]/)![1], r.values.public_key_openssh.trim()]));
}

/** ssh to a node pinning `hostKey`: 0 when the node presents exactly that key. */
async function connectPinned(node: string, hostKey: string): Promise<number | null> {
  const known = path.join(work, `known-${node}`);
  fs.writeFileSync(known, `${ADDRESS[node]} ${hostKey}\n`);
  return (await lab.exec('ssh', [...lab.sshArgs(node, { knownHostsFile: known }), 'true'])).code;
}

describe('a cluster whose machines are installed first', () => {
  let first: Awaited<ReturnType<typeof apply>>;

  test('when applied, then each opted-in node is installed once, with #minimal, before its deploy; the opted-out node never', async () => {
    first = await apply(cluster());
    expect(first.code).toBe(0);
    expect(installs(first.calls).map((c) => c.node).sort()).toEqual(['i-01', 'i-02']);
    for (const n of ['i-01', 'i-02']) {
      const install = installs(first.calls).find((c) => c.node === n)!;
      expect(install.install!.flake).toMatch(/#minimal$/);
      const deploy = switches(first.calls).find((c) => c.node === n)!;
      expect(install.end).toBeLessThanOrEqual(deploy.start);
      expect(deploy.args[2]).toMatch(new RegExp(`#${n}$`));
    }
    expect(switches(first.calls).find((c) => c.node === 'i-03')!.args[2]).toMatch(/#i-03$/);
  });

  test("then the extra files held the node's Terraform-made host key and its secrets, root-only", () => {
    const keys = terraformHostKeys();
    for (const n of ['i-01', 'i-02']) {
      const install = installs(first.calls).find((c) => c.node === n)!.install!;
      expect(install.hostKey.split(' ').slice(0, 2).join(' ')).toBe(keys[n].split(' ').slice(0, 2).join(' '));
      const modes = Object.fromEntries(install.extraFiles.map((e) => [e.path, e.mode]));
      expect(modes['etc/ssh/ssh_host_ed25519_key']).toBe('600');
      expect(modes['var/lib/nico/secrets']).toBe('700');
      expect(modes['var/lib/nico/secrets/join-token']).toBe('600');
      expect(modes['var/lib/nico/secrets/machine-ssh-private-key']).toBe('600');
      for (const e of install.extraFiles.filter((x) => x.path.startsWith('var/lib/nico/secrets'))) expect(e.mode).toMatch(/^[67]00$/);
      expect(Object.keys(modes).some((p) => p.startsWith('var/lib/nico/secrets/tls/'))).toBe(n === 'i-01');
    }
  });

  test('then each installed node presents the Terraform-made host key, and only that key', async () => {
    const keys = terraformHostKeys();
    for (const n of ['i-01', 'i-02']) {
      expect(await connectPinned(n, keys[n])).toBe(0);
      expect(await connectPinned(n, lab.node(n).hostPublicKey)).not.toBe(0);
    }
    expect(keys['i-03']).toBeUndefined();
  });

  test('when applied again, then nothing is installed and the plan is empty', async () => {
    const again = await apply(cluster());
    expect(again.code).toBe(0);
    expect(installs(again.calls)).toEqual([]);
    expect(await runs.planExitCode(cluster())).toBe(0);
  });

  test("when one node's installGeneration is raised, then only that node is installed again", async () => {
    const d = cluster({ 'i-02': { installGeneration: 2 } });
    const result = await apply(d);
    expect(result.code).toBe(0);
    expect(installs(result.calls).map((c) => c.node)).toEqual(['i-02']);
    expect(switches(result.calls).map((c) => c.node)).toEqual(['i-02']);
    expect(await runs.planExitCode(d)).toBe(0);
  });

  test('given an installed node that now presents another host key, when a change reaches it, then the connection fails before any command runs', async () => {
    // The machine was replaced behind our back: its sshd presents the lab's original key again.
    const node = lab.node('i-02');
    await lab.exec('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', path.join(work, 'impostor'), '-C', 'impostor']);
    fs.copyFileSync(path.join(work, 'impostor'), path.join(node.dir, 'ssh_host_ed25519_key'));
    process.kill(Number(fs.readFileSync(path.join(node.dir, 'sshd.pid'), 'utf8')), 'SIGHUP');
    await new Promise((r) => setTimeout(r, 1000));
    const result = await apply(cluster({ 'i-02': { installGeneration: 2, labels: { moved: 'yes' } } }));
    expect(result.code).not.toBe(0);
    expect(result.output).toMatch(/nico: i-02: error: cannot connect to root@127\.0\.0\.42 port 22: the host key it presented is not the pinned one/);
    expect(result.calls.filter((c) => c.node === 'i-02')).toEqual([]);
  });
});

describe('a runner without Nix', () => {
  const lone = () => runs.description('nonix', ['i-03'], [], {}, { install: true });

  test('given no nix on PATH, when an install is due, then the pre-flight fails with its message and no machine is touched', async () => {
    // A PATH with everything of /usr/bin and /bin but nix.
    const bin = path.join(work, 'no-nix-bin');
    fs.mkdirSync(bin, { recursive: true });
    for (const dir of ['/usr/bin', '/bin']) {
      for (const f of fs.readdirSync(dir)) {
        if (!f.startsWith('nix') && !fs.existsSync(path.join(bin, f))) fs.symlinkSync(path.join(dir, f), path.join(bin, f));
      }
    }
    runs.runner = (env) => ({ ...env, PATH: `${bin}:/usr/local/bin` });
    lab.clearCalls();
    try {
      const result = await runs.apply(lone());
      expect(result.code).not.toBe(0);
      expect(result.output).toMatch(/nico: i-03: error: installing NixOS needs Nix with flakes on the machine that runs Terraform .*nix is not on PATH/);
      expect(lab.calls()).toEqual([]);
    } finally {
      runs.runner = (env) => lab.runnerEnv(env);
    }
  });

  test('given a nix without flakes, when an install is due, then the pre-flight fails naming it', async () => {
    runs.runner = (env) => lab.runnerEnv({ ...env, NICO_TEST_NIX_NO_FLAKES: '1' });
    lab.clearCalls();
    try {
      const result = await runs.apply(lone());
      expect(result.code).not.toBe(0);
      expect(result.output).toMatch(/nico: i-03: error: installing NixOS needs Nix with flakes .*`nix flake` does not work/);
      expect(lab.calls()).toEqual([]);
    } finally {
      runs.runner = (env) => lab.runnerEnv(env);
    }
  });
});
