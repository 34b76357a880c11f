import * as fs from 'fs';
import * as path from 'path';
import { stateResources, tempDir } from '../helpers/terraform';
import { Call, TestLab } from './harness';
import { ClusterRuns, maxOverlap, startClusterLab, switches } from './support';
import { expectNoSecretPrintedInAnyScenario } from './harness/secrets';

jest.setTimeout(20 * 60 * 1000);

// The install phase: machines that run any Linux with root SSH get NixOS through the real
// nixos-anywhere 1.13.0 script, run by the runner's stand-in `nix run`. Stand-ins on the node take the
// place of kexec (the node stops answering, then answers as the installer), disko (a fresh /mnt),
// nixos-install (records what reached /mnt) and reboot (the node boots what is on /mnt).
const ADDRESS: Record<string, string> = {
  'i-01': '127.0.0.41', 'i-02': '127.0.0.42', 'i-03': '127.0.0.43',
  // Each its own one-node cluster: an impostor after the kexec, a slow reboot, a port forward,
  // install turned off after the install, an installed system that never boots.
  'i-04': '127.0.0.44', 'i-05': '127.0.0.45', 'i-06': '127.0.0.46', 'i-07': '127.0.0.47', 'i-08': '127.0.0.48', 'i-09': '127.0.0.49',
};
// i-06 is reached through "a port forward": its SSH port is 2203 before, during and after the install.
const PORTS: Record<string, number> = { 'i-06': 2203 };

let lab: TestLab;
let runs: ClusterRuns;
const work = tempDir('e2e-install');

beforeAll(async () => {
  ({ lab, runs } = await startClusterLab(work, ADDRESS, (name) => name !== 'i-02' && name !== 'i-03', PORTS));
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
const PHASES = ['kexec', 'disko', 'nixos-install', 'reboot'];
/** The value after `flag` in a call's arguments. */
const flagValue = (c: Call, flag: string) => c.args[c.args.indexOf(flag) + 1];
/** What nixos-install saw on /mnt on `node`: the extra files as they arrived through nixos-anywhere's tar. */
const installed = (calls: Call[], node: string) => calls.find((c) => c.node === node && c.command === 'nixos-install')!.install!;

async function apply(d: ReturnType<typeof cluster>) {
  lab.clearCalls();
  const result = await runs.apply(d);
  if (result.code !== 0) process.stderr.write(result.output.slice(-4000));
  return { ...result, calls: lab.calls() };
}

/** The host keys Terraform made, from the state of cluster `name`: node -> "ssh-ed25519 AAAA...". */
function terraformHostKeys(name = 'installing'): Record<string, string> {
  const stack = path.join(work, name, 'cdktf.out', 'stacks', name);
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
  let installedKeyOfI02 = '';

  test('when applied, then each opted-in node is installed once, with #minimal, before its deploy; the opted-out node never', async () => {
    first = await apply(cluster());
    expect(first.code).toBe(0);
    // Two runs of nixos-anywhere per node: the kexec with the hardware report, then disk, install, reboot.
    expect(installs(first.calls).map((c) => c.node).sort()).toEqual(['i-01', 'i-01', 'i-02', 'i-02']);
    for (const c of installs(first.calls)) expect(c.exit).toBe(0);
    for (const n of ['i-01', 'i-02']) {
      const install = installs(first.calls).filter((c) => c.node === n).pop()!;
      expect(flagValue(install, '--flake')).toMatch(/^path:\/.*#minimal$/);
      // The real script's phases, in order, each on the node: kexec, disko, nixos-install, reboot.
      expect(first.calls.filter((c) => c.node === n && PHASES.includes(c.command)).map((c) => c.command)).toEqual(PHASES);
      const deploy = switches(first.calls).find((c) => c.node === n)!;
      expect(install.end).toBeLessThanOrEqual(deploy.start);
      expect(deploy.args[2]).toMatch(new RegExp(`#${n}$`));
    }
    expect(switches(first.calls).find((c) => c.node === 'i-03')!.args[2]).toMatch(/#i-03$/);
    // README: "installs run in parallel": the two nodes' installs (first nixos-anywhere run to the end of the last) overlap.
    const window = (n: string) => {
      const runs = installs(first.calls).filter((c) => c.node === n);
      return { start: Math.min(...runs.map((c) => c.start)), end: Math.max(...runs.map((c) => c.end)) };
    };
    expect(maxOverlap([window('i-01'), window('i-02')])).toBe(2);
  });

  test("then the extra files held the node's Terraform-made host key and its secrets, root-only", () => {
    const keys = terraformHostKeys();
    for (const n of ['i-01', 'i-02']) {
      const install = installed(first.calls, n);
      expect(install.hostKey.split(' ').slice(0, 2).join(' ')).toBe(keys[n].split(' ').slice(0, 2).join(' '));
      const modes = Object.fromEntries(install.extraFiles.map((e) => [e.path, e.mode]));
      expect(modes['etc/ssh/ssh_host_ed25519_key']).toBe('600');
      // tar gives the new system these directories' modes: as NixOS has them, not root-only.
      expect(modes['var']).toBe('755');
      expect(modes['var/lib']).toBe('755');
      expect(modes['var/lib/nico/secrets']).toBe('700');
      expect(modes['var/lib/nico/secrets/join-token']).toBe('600');
      expect(modes['var/lib/nico/secrets/machine-ssh-private-key']).toBe('600');
      for (const e of install.extraFiles.filter((x) => x.path.startsWith('var/lib/nico/secrets'))) expect(e.mode).toMatch(/^[67]00$/);
      expect(Object.keys(modes).some((p) => p.startsWith('var/lib/nico/secrets/tls/'))).toBe(n === 'i-01');
    }
  });

  test("then the hardware report made in the installer reached the build of #minimal, the installed system and the node's tree at its deploy", () => {
    for (const n of ['i-01', 'i-02']) {
      const mine = first.calls.filter((c) => c.node === n).map((c) => c.command);
      expect(mine.indexOf('nixos-generate-config')).toBeGreaterThan(mine.indexOf('kexec'));
      const flakeDir = flagValue(installs(first.calls).find((c) => c.node === n)!, '--flake').split('#')[0];
      const builds = first.calls.filter((c) => c.node === 'runner' && c.build?.installable.startsWith(`${flakeDir}#`));
      expect(builds.map((b) => b.build!.installable.split('.').slice(-1)[0]).sort()).toEqual(['diskoScript', 'toplevel']);
      for (const b of builds) expect(b.build!.files).toContain('hardware-configuration.nix');
      expect(installed(first.calls, n).extraFiles.map((e) => e.path)).toContain('var/lib/nico/hardware-configuration.nix');
      expect(switches(first.calls).find((c) => c.node === n)!.flake!.entries.map((e) => e.path)).toContain('hardware-configuration.nix');
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
    expect(installs(result.calls).map((c) => c.node)).toEqual(['i-02', 'i-02']);
    expect(switches(result.calls).map((c) => c.node)).toEqual(['i-02']);
    expect(await runs.planExitCode(d)).toBe(0);
  });

  test('given an installed node that now presents another host key, when a change reaches it, then the connection fails before any command runs', async () => {
    // The machine was replaced behind our back: its sshd presents a key of its own.
    const node = lab.node('i-02');
    installedKeyOfI02 = fs.readFileSync(path.join(node.dir, 'ssh_host_ed25519_key'), 'utf8');
    await lab.exec('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', path.join(work, 'impostor'), '-C', 'impostor']);
    fs.copyFileSync(path.join(work, 'impostor'), path.join(node.dir, 'ssh_host_ed25519_key'));
    process.kill(Number(fs.readFileSync(path.join(node.dir, 'sshd.pid'), 'utf8')), 'SIGHUP');
    await new Promise((r) => setTimeout(r, 1000));
    const result = await apply(cluster({ 'i-02': { installGeneration: 2, labels: { moved: 'yes' } } }));
    expect(result.code).not.toBe(0);
    expect(result.output).toMatch(/nico: i-02: error: it presents a host key other than the one Terraform made for it and other than its hostKey \(ssh-ed25519 .*\): another machine answers at 127\.0\.0\.42 port 22/);
    expect(result.calls.filter((c) => c.node === 'i-02')).toEqual([]);
  });

  test('given a running node deployed without install, when install is turned on for it, then the plan is refused naming it and the command that installs it, and nothing runs; after that command it is installed, rejoins, and the plan is empty', async () => {
    // The machine is back with the key the install gave it (the test above swapped it).
    const keys = terraformHostKeys();
    fs.writeFileSync(path.join(lab.node('i-02').dir, 'ssh_host_ed25519_key'), installedKeyOfI02);
    process.kill(Number(fs.readFileSync(path.join(lab.node('i-02').dir, 'sshd.pid'), 'utf8')), 'SIGHUP');
    // i-02 keeps the change the test above could not apply; i-03, a worker never installed, gets install.
    const d = cluster({ 'i-02': { installGeneration: 2, labels: { moved: 'yes' } }, 'i-03': { install: true } });
    lab.clearCalls();
    const refused = await runs.apply(d);
    expect(refused.code).not.toBe(0);
    expect(refused.output.replace(/\s+/g, ' ')).toMatch(
      /i-03 runs a system nico-cluster did not install \(install was off when it joined\), and install is now on for it: an install WIPES ITS DISK, so nothing is installed by turning install on\. To install it, run: terraform apply -replace='module\.cluster\.terraform_data\.install_record\["i-03"\]'/,
    );
    expect(lab.calls()).toEqual([]);
    expect(keys['i-03']).toBeUndefined();

    const command = refused.output.replace(/\s+/g, ' ').match(/To install it, run: terraform apply -replace='([^']+)'/)![1];
    lab.clearCalls();
    const installedNow = await runs.tf(d, 'apply', '-input=false', '-auto-approve', '-no-color', `-replace=${command}`);
    if (installedNow.code !== 0) process.stderr.write(installedNow.output.slice(-4000));
    expect(installedNow.code).toBe(0);
    const calls = lab.calls();
    expect(installs(calls).map((c) => c.node)).toEqual(['i-03', 'i-03']);
    expect(calls.filter((c) => c.node === 'i-03' && PHASES.includes(c.command)).map((c) => c.command)).toEqual(PHASES);
    expect(switches(calls).map((c) => c.node)).toContain('i-03');
    expect(await connectPinned('i-03', terraformHostKeys()['i-03'])).toBe(0);
    expect(await runs.planExitCode(d)).toBe(0);
  });
});

/** Adds key=value lines to a node's control file, read by the install's stand-ins on the node. */
function control(node: string, lines: Record<string, string | number>) {
  fs.appendFileSync(lab.node(node).controlFile, Object.entries(lines).map(([k, v]) => `${k}=${v}\n`).join(''));
}
const alone = (name: string, node: string, patch: Record<string, unknown> = {}, extra = {}) =>
  runs.description(name, [node], [], { [node]: patch }, { install: true, readyTimeoutSeconds: 60, ...extra });
const CONSOLE_MODULE = path.join(__dirname, '..', 'fixtures', 'user-modules', 'node-tools.nix');
const MIRROR = 'https://mirror.example/nixos-images/nixos-kexec-installer-noninteractive-x86_64-linux.tar.gz';
const commandsOn = (calls: Call[], node: string) => calls.filter((c) => c.node === node).map((c) => c.command);

describe('an install that must hold against what answers at the address', () => {
  test('given a machine without hostKey whose installer presents another host key after the kexec, when applied, then nixos-anywhere is stopped before disko and no secret leaves the runner', async () => {
    control('i-04', { installerHostKey: 'impostor' });
    const result = await apply(alone('swapped', 'i-04', { hostKey: undefined }));
    expect(result.code).not.toBe(0);
    expect(result.output).toMatch(/nico: i-04: trust on first use: no hostKey is set, so the key 127\.0\.0\.44 presents now is trusted and pinned for the rest of the install: SHA256:/);
    expect(result.output).toMatch(/nico: i-04: error: during the install 127\.0\.0\.44 port 22 presented a host key other than the pinned one/);
    // The kexec ran (the real machine answered); what came after it never reached the impostor.
    expect(commandsOn(result.calls, 'i-04')).toContain('kexec');
    expect(commandsOn(result.calls, 'i-04')).not.toContain('disko');
    expect(commandsOn(result.calls, 'i-04')).not.toContain('nixos-install');
    expect(result.output).not.toMatch(/### Copying extra files ###/);
    expect(await lab.node('i-04').shell('mountpoint -q /mnt && ls -A /mnt')).toMatchObject({ stdout: '' });
    // Stopped, not left retrying: no process of that run is left.
    const flakeDir = flagValue(installs(result.calls).find((c) => c.node === 'i-04')!, '--flake').split('#')[0].replace(/^path:/, '');
    const left = await lab.exec('sh', ['-c', `ps -eo args | grep -F -- '${flakeDir}' | grep -v grep || true`]);
    expect(left.stdout).toBe('');
  });

  test('given a reboot that takes longer than one SSH connect timeout, when applied, then the install waits for the installed system and the deploy follows', async () => {
    control('i-05', { rebootSeconds: 8 });
    const result = await apply(alone('slowboot', 'i-05', {}, { sshConnectTimeoutSeconds: 2 }));
    expect(result.code).toBe(0);
    expect(result.output).toMatch(/nico: i-05: the installed system answers \(\d+s after its reboot\)/);
    expect(commandsOn(result.calls, 'i-05')).toEqual(expect.arrayContaining(['reboot', 'nixos-rebuild']));
    expect(switches(result.calls).find((c) => c.node === 'i-05')!.args[2]).toMatch(/#i-05$/);
  });

  test('given an installed system that never answers after its reboot, when applied, then the install fails once readyTimeoutSeconds have passed, saying so, and nothing is deployed', async () => {
    // The machine reboots and stays silent far longer than readyTimeoutSeconds (a firmware that does
    // not find the disk, a wrong driver); it comes back only after the test, by itself.
    control('i-08', { rebootSeconds: 90 });
    const result = await apply(alone('neverboots', 'i-08', {}, { readyTimeoutSeconds: 10, sshConnectTimeoutSeconds: 2 }));
    expect(result.code).not.toBe(0);
    expect(result.output).toMatch(/nico: i-08: installed; waiting \(at most 10s\) for it to boot and answer with the host key Terraform made/);
    expect(result.output.replace(/\s+/g, ' ')).toMatch(
      /nico: i-08: error: the installed system did not answer within 10s \(readyTimeoutSeconds\) after its reboot: .*Check its console: does it boot \(firmware, disk\), and does 22 reach its port 22\?/,
    );
    expect(commandsOn(result.calls, 'i-08').filter((c) => PHASES.includes(c))).toEqual(PHASES);
    expect(switches(result.calls)).toEqual([]);
  });

  test('given a machine that answers with another host key after its reboot, when applied, then the install fails at once naming the key (no wait for readyTimeoutSeconds) and nothing is deployed', async () => {
    control('i-09', { installedHostKey: 'impostor' });
    const result = await apply(alone('otherkey', 'i-09', {}, { readyTimeoutSeconds: 600, sshConnectTimeoutSeconds: 2 }));
    expect(result.code).not.toBe(0);
    const said = result.output.replace(/\s+/g, ' ');
    expect(said).toMatch(/nico: i-09: error: after the install 127\.0\.0\.49 port 22 answers, but not as the installed system/);
    // Not the timeout path: a wrong key ends the wait at once, the 600 s bound is never reached.
    expect(said).not.toMatch(/did not answer within 600s/);
    expect(commandsOn(result.calls, 'i-09').filter((c) => PHASES.includes(c))).toEqual(PHASES);
    expect(switches(result.calls)).toEqual([]);
  });

  test('given sshPort 2203 forwarded to the machine and a kexec mirror, when applied, then nixos-anywhere fetches from the mirror, reaches the installer through the forward after the kexec, and the node is deployed', async () => {
    const result = await apply(alone('forward', 'i-06', { sshPort: 2203 }, { kexecUrl: MIRROR, minimalModules: [CONSOLE_MODULE] }));
    expect(result.code).toBe(0);
    const install = installs(result.calls).find((c) => c.node === 'i-06')!;
    expect(flagValue(install, '--post-kexec-ssh-port')).toBe('2203');
    // kexecUrl: the machine fetched the installer from the mirror given, not from GitHub.
    expect(flagValue(install, '--kexec')).toBe(MIRROR);
    expect(result.calls.filter((c) => c.node === 'i-06' && c.command === 'wget').map((c) => c.args[0])).toEqual([MIRROR]);
    // minimalModules: the user's module for #minimal is in the tree #minimal is built from.
    const flakeDir = flagValue(install, '--flake').split('#')[0];
    const builds = result.calls.filter((c) => c.node === 'runner' && c.build?.installable.startsWith(`${flakeDir}#`));
    expect(builds.length).toBe(2);
    for (const b of builds) expect(b.build!.files).toContain('extra-modules/minimal/00-node-tools.nix');
    expect(commandsOn(result.calls, 'i-06').filter((c) => PHASES.includes(c))).toEqual(PHASES);
    expect(switches(result.calls).map((c) => c.node)).toEqual(['i-06']);
  }, 240_000);

  test('given a node installed without hostKey, when install is turned off, then nothing changes: a change reaches it pinned to the installed key (an impostor is refused before any command), then applies once the machine is back, the plan is empty, and install on again installs nothing', async () => {
    const on = await apply(alone('offafter', 'i-07', { hostKey: undefined }));
    expect(on.code).toBe(0);
    const key = terraformHostKeys('offafter')['i-07'];
    expect(key).toMatch(/^ssh-ed25519 /);
    // Turned off: neither the key nor the record of the install goes, and the node is not redeployed.
    expect(await runs.planExitCode(alone('offafter', 'i-07', { hostKey: undefined, install: false }))).toBe(0);

    // Someone else answers at its address, with a key of its own, when a change is due.
    const node = lab.node('i-07');
    const installedKey = fs.readFileSync(path.join(node.dir, 'ssh_host_ed25519_key'), 'utf8');
    await lab.exec('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', path.join(work, 'impostor-07'), '-C', 'impostor']);
    fs.copyFileSync(path.join(work, 'impostor-07'), path.join(node.dir, 'ssh_host_ed25519_key'));
    const sighup = () => process.kill(Number(fs.readFileSync(path.join(node.dir, 'sshd.pid'), 'utf8')), 'SIGHUP');
    sighup();
    await new Promise((r) => setTimeout(r, 1000));
    const changed = alone('offafter', 'i-07', { hostKey: undefined, install: false, labels: { moved: 'yes' } });
    const refused = await apply(changed);
    expect(refused.code).not.toBe(0);
    expect(refused.output).toMatch(/nico: i-07: error: it presents a host key other than the one Terraform made for it \(ssh-ed25519 .*\): another machine answers at 127\.0\.0\.47 port 22/);
    // What the step said (the plan above it shows the script, whose text names trust on first use).
    expect(refused.output.split('\n').filter((l) => l.includes('nico: i-07:')).join('\n')).not.toMatch(/trust on first use/);
    expect(commandsOn(refused.calls, 'i-07')).toEqual([]);

    // The machine is back: the change applies, pinned to the same key.
    fs.writeFileSync(path.join(node.dir, 'ssh_host_ed25519_key'), installedKey);
    sighup();
    await new Promise((r) => setTimeout(r, 1000));
    const back = await apply(changed);
    expect(back.code).toBe(0);
    expect(switches(back.calls).map((c) => c.node)).toEqual(['i-07']);
    expect(installs(back.calls)).toEqual([]);
    expect(await runs.planExitCode(changed)).toBe(0);
    expect(terraformHostKeys('offafter')['i-07']).toBe(key);
    // Turned on again: an installed node is not installed again by that (installGeneration is what asks).
    expect(await runs.planExitCode(alone('offafter', 'i-07', { hostKey: undefined, install: true, labels: { moved: 'yes' } }))).toBe(0);

    // installGeneration raised while install is off: recorded, nothing installed, the pin kept.
    const raised = alone('offafter', 'i-07', { hostKey: undefined, install: false, installGeneration: 2, labels: { moved: 'yes' } });
    const recorded = await apply(raised);
    expect(recorded.code).toBe(0);
    expect(recorded.output).toMatch(/nico: i-07: install is off: nothing installed \(installGeneration 2 recorded\)/);
    expect(installs(recorded.calls)).toEqual([]);
    expect(commandsOn(recorded.calls, 'i-07').filter((c) => PHASES.includes(c))).toEqual([]);
    expect(await runs.planExitCode(raised)).toBe(0);
    expect(terraformHostKeys('offafter')['i-07']).toBe(key);
  });
});

describe('a node connected to without a pin', () => {
  test('given a node with neither hostKey nor install, when planned, then the plan warns that it is trusted on first use, naming it', async () => {
    const d = runs.description('unpinned', ['i-03'], [], { 'i-03': { hostKey: undefined } });
    await runs.tf(d, 'init', '-input=false');
    const plan = await runs.tf(d, 'plan', '-input=false', '-no-color');
    expect(plan.code).toBe(0);
    expect(plan.output).toMatch(/Warning: Check block assertion failed/);
    expect(plan.output.replace(/\s+/g, ' ')).toMatch(/Trust on first use: node\(s\) i-03 have no host_key and are not installed by Terraform/);
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
