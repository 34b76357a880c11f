import * as fs from 'fs';
import * as path from 'path';
import { filesHolding, maxOverlap, switches } from './support';
import { flagValue, installed, installLab, installs, PHASES } from './install-lab';

jest.setTimeout(20 * 60 * 1000);

// The install phase (install-lab.ts) for a cluster: i-01 and i-02 are installed (cluster-wide
// install); i-03 opts out, and serves the runner's pre-flight checks, which touch no machine.
const ADDRESS: Record<string, string> = { 'i-01': '127.0.0.41', 'i-02': '127.0.0.42', 'i-03': '127.0.0.43' };
const t = installLab('install', ADDRESS, (name) => name !== 'i-02' && name !== 'i-03');
const { apply, work, connectPinned } = t;

// Before the install every node is pinned to the key its current system presents (the lab's), as a
// rescue system's would be given.
const cluster = (patch = {}) => t.runs.description('installing', ['i-01'], ['i-02', 'i-03'], { 'i-03': { install: false }, ...patch }, { install: true, readyTimeoutSeconds: 10 });
const terraformHostKeys = () => t.terraformHostKeys('installing');

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
      const mine = installs(first.calls).filter((c) => c.node === n);
      return { start: Math.min(...mine.map((c) => c.start)), end: Math.max(...mine.map((c) => c.end)) };
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

  test("then the trees nixos-anywhere built #minimal from, copied whole into the Nix store as Nix copies a path: flake, hold none of the cluster's secrets: those went as extra files only", async () => {
    // The runner's stand-in nix copies each flake it locks or builds into the lab's store, as Nix does.
    const store = path.join(t.lab.dir, 'store');
    const sources = fs.readdirSync(store).filter((p) => p.endsWith('-source')).map((p) => path.join(store, p));
    // Each installed node's tree reached the store (its hardware report marks it as an install's), so the check below reads something.
    const installTrees = sources.filter((s) => fs.existsSync(path.join(s, 'hardware-configuration.nix')));
    expect(installTrees.map((s) => fs.readFileSync(path.join(s, 'minimal-node'), 'utf8').trim()).sort()).toEqual(expect.arrayContaining(['i-01', 'i-02']));
    const needles = await t.runs.secretsOnDisk(cluster());
    expect(needles.length).toBeGreaterThan(0);
    expect(filesHolding(store, needles)).toEqual([]);
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
      expect(await connectPinned(n, t.lab.node(n).hostPublicKey)).not.toBe(0);
    }
    expect(keys['i-03']).toBeUndefined();
  });

  test('when applied again, then nothing is installed and the plan is empty', async () => {
    const again = await apply(cluster());
    expect(again.code).toBe(0);
    expect(installs(again.calls)).toEqual([]);
    expect(await t.runs.planExitCode(cluster())).toBe(0);
  });

  test("when one node's installGeneration is raised, then only that node is installed again", async () => {
    const d = cluster({ 'i-02': { installGeneration: 2 } });
    const result = await apply(d);
    expect(result.code).toBe(0);
    expect(installs(result.calls).map((c) => c.node)).toEqual(['i-02', 'i-02']);
    expect(switches(result.calls).map((c) => c.node)).toEqual(['i-02']);
    expect(await t.runs.planExitCode(d)).toBe(0);
  });

  test('given an installed node that now presents another host key, when a change reaches it, then the connection fails before any command runs', async () => {
    // The machine was replaced behind our back: its sshd presents a key of its own.
    const node = t.lab.node('i-02');
    installedKeyOfI02 = fs.readFileSync(path.join(node.dir, 'ssh_host_ed25519_key'), 'utf8');
    await t.lab.exec('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', path.join(work, 'impostor'), '-C', 'impostor']);
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
    fs.writeFileSync(path.join(t.lab.node('i-02').dir, 'ssh_host_ed25519_key'), installedKeyOfI02);
    process.kill(Number(fs.readFileSync(path.join(t.lab.node('i-02').dir, 'sshd.pid'), 'utf8')), 'SIGHUP');
    // i-02 keeps the change the test above could not apply; i-03, a worker never installed, gets install.
    const d = cluster({ 'i-02': { installGeneration: 2, labels: { moved: 'yes' } }, 'i-03': { install: true } });
    t.lab.clearCalls();
    const refused = await t.runs.apply(d);
    expect(refused.code).not.toBe(0);
    expect(refused.output.replace(/\s+/g, ' ')).toMatch(
      /i-03 runs a system nico-cluster did not install \(install was off when it joined\), and install is now on for it: an install WIPES ITS DISK, so nothing is installed by turning install on\. To install it, run: terraform apply -replace='module\.cluster\.terraform_data\.install_record\["i-03"\]'/,
    );
    expect(t.lab.calls()).toEqual([]);
    expect(keys['i-03']).toBeUndefined();

    const command = refused.output.replace(/\s+/g, ' ').match(/To install it, run: terraform apply -replace='([^']+)'/)![1];
    t.lab.clearCalls();
    const installedNow = await t.runs.tf(d, 'apply', '-input=false', '-auto-approve', '-no-color', `-replace=${command}`);
    if (installedNow.code !== 0) process.stderr.write(installedNow.output.slice(-4000));
    expect(installedNow.code).toBe(0);
    const calls = t.lab.calls();
    expect(installs(calls).map((c) => c.node)).toEqual(['i-03', 'i-03']);
    expect(calls.filter((c) => c.node === 'i-03' && PHASES.includes(c.command)).map((c) => c.command)).toEqual(PHASES);
    expect(switches(calls).map((c) => c.node)).toContain('i-03');
    expect(await connectPinned('i-03', terraformHostKeys()['i-03'])).toBe(0);
    expect(await t.runs.planExitCode(d)).toBe(0);
  });
});

describe('a node connected to without a pin', () => {
  test('given a node with neither hostKey nor install, when planned, then the plan warns that it is trusted on first use, naming it', async () => {
    const d = t.runs.description('unpinned', ['i-03'], [], { 'i-03': { hostKey: undefined } });
    await t.runs.tf(d, 'init', '-input=false');
    const plan = await t.runs.tf(d, 'plan', '-input=false', '-no-color');
    expect(plan.code).toBe(0);
    expect(plan.output).toMatch(/Warning: Check block assertion failed/);
    expect(plan.output.replace(/\s+/g, ' ')).toMatch(/Trust on first use: node\(s\) i-03 have no host_key and are not installed by Terraform/);
  });
});

describe('a runner without what the install needs', () => {
  const lone = () => t.runs.description('nonix', ['i-03'], [], {}, { install: true });

  test('given no nix on PATH, when an install is due, then the pre-flight fails with its message and no machine is touched', async () => {
    // A PATH with everything of /usr/bin and /bin but nix.
    const bin = path.join(work, 'no-nix-bin');
    fs.mkdirSync(bin, { recursive: true });
    for (const dir of ['/usr/bin', '/bin']) {
      for (const f of fs.readdirSync(dir)) {
        if (!f.startsWith('nix') && !fs.existsSync(path.join(bin, f))) fs.symlinkSync(path.join(dir, f), path.join(bin, f));
      }
    }
    t.runs.runner = (env) => ({ ...env, PATH: `${bin}:/usr/local/bin` });
    t.lab.clearCalls();
    try {
      const result = await t.runs.apply(lone());
      expect(result.code).not.toBe(0);
      expect(result.output).toMatch(/nico: i-03: error: installing NixOS needs Nix with flakes on the machine that runs Terraform .*nix is not on PATH/);
      expect(t.lab.calls()).toEqual([]);
    } finally {
      t.runs.runner = (env) => t.lab.runnerEnv(env);
    }
  });

  test('given a kexecUrl path that is not a file on the machine that runs Terraform, when an install is due, then the pre-flight fails naming kexecUrl and the path, and no machine is touched', async () => {
    // nixos-anywhere would ask the machine to download the path (runKexec: only an existing file is uploaded) and fail there.
    const missing = path.join(work, 'not-here', 'nixos-kexec-installer-noninteractive-x86_64-linux.tar.gz');
    t.lab.clearCalls();
    const result = await t.runs.apply(t.runs.description('nokexec', ['i-03'], [], {}, { install: true, kexecUrl: missing }));
    expect(result.code).not.toBe(0);
    expect(result.output).toContain(`nico: i-03: error: kexecUrl (kexec_url in the HCL module) ${missing} is not a readable file on the machine that runs Terraform`);
    expect(t.lab.calls()).toEqual([]);
  });

  test('given a nix without flakes, when an install is due, then the pre-flight fails naming it', async () => {
    t.runs.runner = (env) => t.lab.runnerEnv({ ...env, NICO_TEST_NIX_NO_FLAKES: '1' });
    t.lab.clearCalls();
    try {
      const result = await t.runs.apply(lone());
      expect(result.code).not.toBe(0);
      expect(result.output).toMatch(/nico: i-03: error: installing NixOS needs Nix with flakes .*`nix flake` does not work/);
      expect(t.lab.calls()).toEqual([]);
    } finally {
      t.runs.runner = (env) => t.lab.runnerEnv(env);
    }
  });
});
