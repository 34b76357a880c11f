import { createHash } from 'crypto';
import * as fs from 'fs';
import * as path from 'path';
import { switches } from './support';
import { commandsOn, flagValue, installLab, installs, PHASES } from './install-lab';

jest.setTimeout(20 * 60 * 1000);

// The install phase (install-lab.ts) against what answers at a machine's address. Each node is a
// one-node cluster of its own: an impostor after the kexec, a slow reboot, an installed system that
// never boots, another key after the reboot, a port forward, a kexec tarball uploaded from the
// runner, install turned off after the install.
const ADDRESS: Record<string, string> = {
  'i-04': '127.0.0.44', 'i-05': '127.0.0.45', 'i-06': '127.0.0.46', 'i-07': '127.0.0.47', 'i-08': '127.0.0.48', 'i-09': '127.0.0.49',
  'i-10': '127.0.0.50',
};
// i-06 is reached through "a port forward": its SSH port is 2203 before, during and after the install.
const PORTS: Record<string, number> = { 'i-06': 2203 };
const t = installLab('install-machine', ADDRESS, () => true, PORTS);
const { apply, work, control, terraformHostKeys } = t;

const alone = (name: string, node: string, patch: Record<string, unknown> = {}, extra = {}) =>
  t.runs.description(name, [node], [], { [node]: patch }, { install: true, readyTimeoutSeconds: 60, ...extra });
const CONSOLE_MODULE = path.join(__dirname, '..', 'fixtures', 'user-modules', 'node-tools.nix');
const MIRROR = 'https://mirror.example/nixos-images/nixos-kexec-installer-noninteractive-x86_64-linux.tar.gz';

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
    expect(await t.lab.node('i-04').shell('mountpoint -q /mnt && ls -A /mnt')).toMatchObject({ stdout: '' });
    // Stopped, not left retrying: no process of that run is left.
    const flakeDir = flagValue(installs(result.calls).find((c) => c.node === 'i-04')!, '--flake').split('#')[0].replace(/^path:/, '');
    const left = await t.lab.exec('sh', ['-c', `ps -eo args | grep -F -- '${flakeDir}' | grep -v grep || true`]);
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

  test('given a kexecUrl that is a tarball on the machine that runs Terraform, when applied, then nixos-anywhere uploads it over SSH, the machine downloads nothing, and the node is deployed', async () => {
    // An air-gapped site's copy of the installer tarball: here one whose kexec/run is the lab's kexec stand-in.
    const unpacked = fs.mkdtempSync(path.join(work, 'kexec-'));
    fs.mkdirSync(path.join(unpacked, 'kexec'));
    fs.copyFileSync(path.join(__dirname, 'harness', 'standins', 'installer', 'lib', 'kexec-run'), path.join(unpacked, 'kexec', 'run'));
    fs.chmodSync(path.join(unpacked, 'kexec', 'run'), 0o755);
    const tarball = path.join(work, 'nixos-kexec-installer-noninteractive-x86_64-linux.tar.gz');
    expect((await t.lab.exec('tar', ['-C', unpacked, '-czf', tarball, 'kexec'])).code).toBe(0);
    const result = await apply(alone('uploaded', 'i-10', {}, { kexecUrl: tarball }));
    expect(result.code).toBe(0);
    expect(flagValue(installs(result.calls).find((c) => c.node === 'i-10')!, '--kexec')).toBe(tarball);
    // The machine ran the kexec from the very tarball uploaded, and fetched nothing itself.
    const kexec = result.calls.find((c) => c.node === 'i-10' && c.command === 'kexec')!;
    expect(kexec.uploaded).toBe(createHash('sha256').update(fs.readFileSync(tarball)).digest('hex'));
    expect(commandsOn(result.calls, 'i-10')).not.toContain('wget');
    expect(commandsOn(result.calls, 'i-10').filter((c) => PHASES.includes(c))).toEqual(PHASES);
    expect(switches(result.calls).map((c) => c.node)).toEqual(['i-10']);
  });

  test('given a node installed without hostKey, when install is turned off, then nothing changes: a change reaches it pinned to the installed key (an impostor is refused before any command), then applies once the machine is back, the plan is empty, and install on again installs nothing', async () => {
    const on = await apply(alone('offafter', 'i-07', { hostKey: undefined }));
    expect(on.code).toBe(0);
    const key = terraformHostKeys('offafter')['i-07'];
    expect(key).toMatch(/^ssh-ed25519 /);
    // Turned off: neither the key nor the record of the install goes, and the node is not redeployed.
    expect(await t.runs.planExitCode(alone('offafter', 'i-07', { hostKey: undefined, install: false }))).toBe(0);

    // Someone else answers at its address, with a key of its own, when a change is due.
    const node = t.lab.node('i-07');
    const installedKey = fs.readFileSync(path.join(node.dir, 'ssh_host_ed25519_key'), 'utf8');
    await t.lab.exec('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', path.join(work, 'impostor-07'), '-C', 'impostor']);
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
    expect(await t.runs.planExitCode(changed)).toBe(0);
    expect(terraformHostKeys('offafter')['i-07']).toBe(key);
    // Turned on again: an installed node is not installed again by that (installGeneration is what asks).
    expect(await t.runs.planExitCode(alone('offafter', 'i-07', { hostKey: undefined, install: true, labels: { moved: 'yes' } }))).toBe(0);

    // installGeneration raised while install is off: recorded, nothing installed, the pin kept.
    const raised = alone('offafter', 'i-07', { hostKey: undefined, install: false, installGeneration: 2, labels: { moved: 'yes' } });
    const recorded = await apply(raised);
    expect(recorded.code).toBe(0);
    expect(recorded.output).toMatch(/nico: i-07: install is off: nothing installed \(installGeneration 2 recorded\)/);
    expect(installs(recorded.calls)).toEqual([]);
    expect(commandsOn(recorded.calls, 'i-07').filter((c) => PHASES.includes(c))).toEqual([]);
    expect(await t.runs.planExitCode(raised)).toBe(0);
    expect(terraformHostKeys('offafter')['i-07']).toBe(key);
  });
});
