import { ChildProcess } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { synthApp, tempDir, TERRAFORM, terraformEnv } from '../helpers/terraform';
import { Call, TestLab } from './harness';
import { expectNoSecretPrintedInAnyScenario } from './harness/secrets';
import { ClusterRuns, filesHolding, startClusterLab, switches } from './support';

jest.setTimeout(20 * 60 * 1000);

// Issue 25: terraform SIGKILLed mid-install. An install cannot keep its secrets in memory only: the
// real nixos-anywhere takes the machine key as a file (-i) and the host private key, join token and CA
// keys as --extra-files. By design (README, the machine that runs Terraform; main.sh, runner-state.sh)
// they live only in the step's 0700 directory, which a killed step cannot remove: the next step that
// starts removes it. This file checks exactly that, with the real terraform and nixos-anywhere script.
// k-01: killed while the installed system boots; k-02: a first install killed during the kexec;
// k-03: a reinstall killed during disko. Each is a one-node cluster of its own.
const ADDRESS: Record<string, string> = { 'k-01': '127.0.0.47', 'k-02': '127.0.0.48', 'k-03': '127.0.0.49' };

let lab: TestLab;
let runs: ClusterRuns;
const work = tempDir('e2e-install-kill');
// A TMPDIR of this test's own, so that what is found there is this test's runner state only.
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'nico-e2e-kill-'));
const base = path.join(tmp, `nico-cluster-${process.getuid!()}`);

beforeAll(async () => {
  ({ lab, runs } = await startClusterLab(work, ADDRESS, () => true));
  runs.runner = (env) => lab.runnerEnv({ ...env, TMPDIR: tmp });
});

// Issue 25: no scenario's plan or apply output (the killed one included) holds a secret of the state.
expectNoSecretPrintedInAnyScenario(() => lab);

afterAll(async () => {
  await lab?.stop();
  fs.rmSync(work, { recursive: true, force: true });
  fs.rmSync(tmp, { recursive: true, force: true });
});

const cluster = () => runs.description('killed', ['k-01'], [], {}, { install: true, readyTimeoutSeconds: 60 });
const stepDirs = () => fs.readdirSync(base).filter((e) => e.startsWith('step.'));

describe('an install whose terraform is killed', () => {
  test('given nixos-anywhere waits for the installed system to boot, when terraform\'s process group is SIGKILLed, then its secrets are only in the 0700 step directory and not in its output, and the next apply removes them and converges (installing again unless the state recorded the install)', async () => {
    // A slow reboot: nixos-anywhere has sent the extra files and polls for the installed system.
    fs.appendFileSync(lab.node('k-01').controlFile, 'rebootSeconds=20\n');
    const d = cluster();
    const { stackDir } = synthApp(d, path.join(work, d.name));
    await runs.tf(d, 'init', '-input=false');
    lab.clearCalls();

    // setsid: terraform leads its own process group, which holds its steps and their ssh. nixos-anywhere
    // runs in a session of its own (install.sh `anywhere`), which its watcher ends once the step is
    // gone: by now it only waits for the machine to go down, and what it holds is in the step
    // directory as well.
    const child: ChildProcess = lab.spawn('setsid', [TERRAFORM, `-chdir=${stackDir}`, 'apply', '-input=false', '-auto-approve', '-no-color'], { env: runs.runner(terraformEnv()) });
    let output = '';
    child.stdout!.on('data', (b: Buffer) => (output += b.toString()));
    child.stderr!.on('data', (b: Buffer) => (output += b.toString()));
    const exited = new Promise((resolve) => child.once('exit', resolve));
    const rebooted = (calls: Call[]) => calls.some((c) => c.node === 'k-01' && c.command === 'reboot');
    const deadline = Date.now() + 300_000;
    while (!rebooted(lab.calls()) && child.exitCode === null && Date.now() < deadline) await new Promise((r) => setTimeout(r, 500));
    if (!rebooted(lab.calls())) process.stderr.write(output.slice(-4000));
    expect(rebooted(lab.calls())).toBe(true);
    expect(output).toMatch(/### Copying extra files ###/);

    process.kill(-child.pid!, 'SIGKILL');
    await exited;
    // The state Terraform wrote before the kill holds the secrets the install was given.
    const needles = await runs.secretsOnDisk(d);
    const hostKey = (await runs.stateValues(d)).find((r) => r.type === 'tls_private_key' && /host/.test(r.name))!;
    expect(hostKey).toBeDefined();
    expect(needles.filter((n) => (hostKey.values.private_key_openssh as string).includes(n)).length).toBeGreaterThan(0);

    // Then: nothing printed holds a secret.
    expect(needles.filter((n) => output.includes(n))).toEqual([]);
    // Then: every file that holds one is inside the one step directory left, 0700 and root's (this user's).
    const holding = filesHolding(tmp, needles);
    expect(holding.length).toBeGreaterThan(0); // the design: the extra files and key file stay there
    const left = stepDirs();
    expect(left.length).toBe(1);
    const step = path.join(base, left[0]);
    const st = fs.lstatSync(step);
    expect([st.isDirectory(), st.uid, st.mode & 0o7777]).toEqual([true, process.getuid!(), 0o700]);
    expect(holding.filter((f) => !f.startsWith(step + path.sep))).toEqual([]);
    expect(holding.map((f) => path.relative(step, f))).toEqual(expect.arrayContaining(['key', 'extra/etc/ssh/ssh_host_ed25519_key']));

    // When the next apply runs, its first step (state_open) removes the dead step's directory. What it
    // then does depends on what Terraform had written to its state before the kill (observed, both
    // happen here): Terraform saves a created terraform_data before running its create-time
    // provisioner and persists the state now and then during a long apply, so the killed install may
    // be recorded, untainted. Not recorded: the install is created again and the node installed again
    // (it now runs what the killed install put on its disk and presents the Terraform-made host key,
    // which the install's pin accepts). Recorded: the apply goes on to the deploy, whose check finds
    // the marker of this install on the installed system (the kill came after nixos-install): the
    // install did finish. Kills before that are the next describe's.
    const recorded = (await runs.stateValues(d)).some((r) => r.type === 'terraform_data' && r.name === 'install');
    // The machine reboots on its own, killed terraform or not: the next apply is run once it answers
    // with the key the killed install gave it (were it still down, the install would fail to connect).
    const known = path.join(work, 'known-k-01');
    fs.writeFileSync(known, `${ADDRESS['k-01']} ${(hostKey.values.public_key_openssh as string).trim()}\n`);
    const answers = async () => (await lab.exec('ssh', [...lab.sshArgs('k-01', { knownHostsFile: known }), 'true'])).code === 0;
    const bootDeadline = Date.now() + 120_000;
    while (!(await answers()) && Date.now() < bootDeadline) await new Promise((r) => setTimeout(r, 1000));
    expect(await answers()).toBe(true);
    lab.clearCalls();
    const again = await runs.apply(d);
    if (again.code !== 0) process.stderr.write(again.output.slice(-4000));
    expect(again.code).toBe(0);
    expect(fs.existsSync(step)).toBe(false);
    expect(filesHolding(tmp, needles)).toEqual([]);
    const calls = lab.calls();
    // Listed whole, so that a failure shows what the node was asked.
    const asked = calls.filter((c) => c.node === 'k-01').map((c) => c.command);
    if (recorded) expect(asked).not.toContain('nixos-install');
    else expect(asked).toEqual(expect.arrayContaining(['kexec', 'disko', 'nixos-install', 'reboot']));
    expect(switches(calls).filter((c) => c.node === 'k-01').map((c) => c.args[2])).toEqual([expect.stringMatching(/#k-01$/)]);
    expect(await runs.planExitCode(d)).toBe(0);
  });
});

// Issue 20: an install killed before the installed system booted. Terraform records a created
// terraform_data before its provisioner ends, and writes its state to disk whenever another resource
// is applied: the lab makes that happen mid-install on purpose (TICK: a resource applied 12 s into the
// apply), so that every run meets the case real applies meet now and then: the killed install is
// recorded as done. The next apply must find out from the machine, send it nothing, and say how to
// install it again; after that command the cluster converges.
const TICK = `# Test only (install-kill.test.ts): a resource applied 12 s into each apply whose round file changed,
# so that Terraform writes its state to disk while the install runs.
resource "terraform_data" "nico_test_tick" {
  triggers_replace = file("\${path.module}/nico-test-tick-round")
  provisioner "local-exec" {
    command = "sleep 12"
  }
}
resource "terraform_data" "nico_test_tock" {
  triggers_replace = terraform_data.nico_test_tick.id
}
`;

/** The id of `node`'s install run as the state file on disk has it now (undefined: not recorded). */
function recordedInstallId(d: ReturnType<typeof cluster>, node: string): string | undefined {
  try {
    const state = JSON.parse(fs.readFileSync(path.join(work, d.name, 'out', 'terraform.tfstate'), 'utf8'));
    const install = (state.resources ?? []).find((r: { type: string; name: string }) => r.type === 'terraform_data' && r.name === 'install');
    const instance = install?.instances?.find((i: { index_key: string }) => i.index_key === node);
    return instance?.status === 'tainted' ? undefined : instance?.attributes?.id;
  } catch {
    return undefined; // not written yet, or being written
  }
}

/** Processes of nixos-anywhere (the real script) that work for a step of this test's runner. */
async function anywhereLeft(): Promise<string> {
  return (await lab.exec('sh', ['-c', `ps -eo args | grep -F nixos-anywhere.sh | grep -F -- '${tmp}/' | grep -v grep || true`])).stdout;
}

/** Files on `node` (its own view: the installer's or the installed system's) that hold any of `needles`. */
async function secretsOnNode(node: string, needles: string[]): Promise<string> {
  const file = path.join(work, `needles-${node}`);
  fs.writeFileSync(file, needles.join('\n') + '\n', { mode: 0o600 });
  try {
    return (await lab.node(node).shell(`grep -rlF -f '${file}' /var/lib/nico /etc/nico /etc/rancher /mnt /root 2>/dev/null || true`)).stdout;
  } finally {
    fs.rmSync(file, { force: true });
  }
}

/**
 * Runs `terraform apply` of `d` (with TICK) in a process group of its own and SIGKILLs the group once
 * `due(output)` holds and the state on disk records an install run of `node` other than `before`.
 */
async function applyKilled(d: ReturnType<typeof cluster>, node: string, before: string | undefined, due: (output: string) => boolean) {
  const { stackDir } = synthApp(d, path.join(work, d.name));
  fs.writeFileSync(path.join(stackDir, 'nico-test-tick.tf'), TICK);
  fs.writeFileSync(path.join(stackDir, 'nico-test-tick-round'), `${Date.now()}\n`);
  await runs.tf(d, 'init', '-input=false');
  lab.clearCalls();
  const child: ChildProcess = lab.spawn('setsid', [TERRAFORM, `-chdir=${stackDir}`, 'apply', '-input=false', '-auto-approve', '-no-color'], { env: runs.runner(terraformEnv()) });
  let output = '';
  child.stdout!.on('data', (b: Buffer) => (output += b.toString()));
  child.stderr!.on('data', (b: Buffer) => (output += b.toString()));
  const exited = new Promise((resolve) => child.once('exit', resolve));
  const ready = () => due(output) && recordedInstallId(d, node) !== undefined && recordedInstallId(d, node) !== before;
  const deadline = Date.now() + 300_000;
  while (!ready() && child.exitCode === null && Date.now() < deadline) await new Promise((r) => setTimeout(r, 250));
  if (!ready()) process.stderr.write(output.slice(-4000));
  expect(ready()).toBe(true);
  process.kill(-child.pid!, 'SIGKILL');
  await exited;
  return { output, installId: recordedInstallId(d, node)! };
}

/**
 * The next apply of `d` stops on `node` with `refusal` and sends it nothing (only the check's own
 * connection: no upload, no switch, no secret of `needles` on the machine); the command the refusal
 * names then installs the node again and deploys it.
 */
async function expectRefusedThenReinstalled(d: ReturnType<typeof cluster>, node: string, refusal: RegExp, needles: string[]): Promise<void> {
  lab.clearCalls();
  const next = await runs.apply(d);
  expect(next.code).not.toBe(0);
  expect(errorsOf(next.output, node)).toMatch(refusal);
  expect(lab.calls().filter((c) => c.node === node).map((c) => c.command)).toEqual([]);
  expect(await secretsOnNode(node, needles)).toBe('');

  lab.clearCalls();
  const again = await runs.tf(d, ...namedCommand(next.output, node));
  if (again.code !== 0) process.stderr.write(again.output.slice(-4000));
  expect(again.code).toBe(0);
  expect(lab.calls().filter((c) => c.node === node).map((c) => c.command)).toEqual(expect.arrayContaining(['disko', 'nixos-install', 'reboot', 'nixos-rebuild']));
}

/** Waits (at most `seconds`) until `node` answers SSH with `hostKey`. */
async function answersWith(node: string, hostKey: string, seconds: number): Promise<boolean> {
  const known = path.join(work, `known-${node}`);
  fs.writeFileSync(known, `${ADDRESS[node]} ${hostKey}\n`);
  const answers = async () => (await lab.exec('ssh', [...lab.sshArgs(node, { knownHostsFile: known }), 'true'])).code === 0;
  const deadline = Date.now() + seconds * 1000;
  while (!(await answers()) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 1000));
  return answers();
}

/** Waits (at most `seconds`) until `node` runs the NixOS installer and answers SSH with `hostKey`. */
async function installerAnswersWith(node: string, hostKey: string, seconds: number): Promise<boolean> {
  const deadline = Date.now() + seconds * 1000;
  const inInstaller = async () => (await lab.node(node).shell('grep -q VARIANT_ID=installer /etc/os-release')).code === 0;
  while (!(await inInstaller()) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 1000));
  return (await inInstaller()) && answersWith(node, hostKey, Math.max(1, (deadline - Date.now()) / 1000));
}

/** Waits (at most 30 s) until no nixos-anywhere of this test's runner is left. */
async function expectNoAnywhereLeft() {
  const deadline = Date.now() + 30_000;
  while ((await anywhereLeft()) !== '' && Date.now() < deadline) await new Promise((r) => setTimeout(r, 1000));
  expect(await anywhereLeft()).toBe('');
}

/** The lines of `output` where the step of `node` says why it failed. */
const errorsOf = (output: string, node: string) => output.split('\n').filter((l) => l.includes(`nico: ${node}: error:`) && !l.includes('Output:')).join('\n');

/** The command the refusal names, as the user would paste it. */
function namedCommand(output: string, node: string): string[] {
  const m = errorsOf(output, node).match(/run: terraform apply -replace='([^']+)'/);
  expect(m).not.toBeNull();
  return ['apply', '-input=false', '-auto-approve', '-no-color', `-replace=${m![1]}`];
}

const hostKeyOf = async (d: ReturnType<typeof cluster>, node: string) =>
  ((await runs.stateValues(d)).find((r) => r.type === 'tls_private_key' && r.name === 'host_key' && (r as unknown as { index: string }).index === node)?.values.public_key_openssh as string | undefined)?.trim();

describe('an install killed before the installed system booted', () => {
  const alone = (name: string, node: string, patch = {}) =>
    runs.description(name, [node], [], { [node]: patch }, { install: true, readyTimeoutSeconds: 60 });

  test('given a first install SIGKILLed during the kexec and recorded as done, when applied again, then nothing is sent to the installer, the apply stops naming the command that installs it again, and after that command the node converges with an empty plan', async () => {
    // A long kexec: the machine is down for 40 s, then answers as the installer with its own host key.
    fs.appendFileSync(lab.node('k-02').controlFile, 'kexecSeconds=40\n');
    const d = alone('killedkexec', 'k-02');
    const killed = await applyKilled(d, 'k-02', undefined, () => lab.calls().some((c) => c.node === 'k-02' && c.command === 'kexec'));
    expect(killed.output).not.toMatch(/### Formatting hard drive with disko ###/);
    // Then nothing of that install goes on working on the machine behind the next apply's back.
    await expectNoAnywhereLeft();
    // The kexec goes on without it: the machine comes back as the installer, with its own host key.
    expect(await installerAnswersWith('k-02', lab.node('k-02').hostPublicKey, 120)).toBe(true);
    const needles = await runs.secretsOnDisk(d);

    await expectRefusedThenReinstalled(
      d,
      'k-02',
      /nico: k-02: error: its install did not finish: it still presents its host key from before the install \(its hostKey\), not the one Terraform made for it: .* Nothing was sent to it\. Install it again \(this wipes its disk\): raise its installGeneration to 2 \(install_generation in the HCL module\) and apply, or run: terraform apply -replace='module\.cluster\.terraform_data\.install\["k-02"\]'/,
      needles,
    );
    expect(await runs.planExitCode(d)).toBe(0);
  });

  test('given a reinstall SIGKILLed during disko and recorded as done, when applied again, then the installer that presents the Terraform-made key gets nothing, the apply stops naming the command, and after it the node converges with an empty plan', async () => {
    const d1 = alone('killeddisko', 'k-03');
    const first = await runs.apply(d1);
    if (first.code !== 0) process.stderr.write(first.output.slice(-4000));
    expect(first.code).toBe(0);
    const before = recordedInstallId(d1, 'k-03');
    const key = (await hostKeyOf(d1, 'k-03'))!;
    expect(key).toMatch(/^ssh-ed25519 /);

    // A slow disk: disko takes 40 s. The kexec installer keeps the machine's host keys: the one
    // Terraform made, which every later connection pins.
    fs.appendFileSync(lab.node('k-03').controlFile, 'diskoSeconds=40\n');
    const d = alone('killeddisko', 'k-03', { installGeneration: 2 });
    // Killed once disko runs on the machine: nixos-anywhere prints its banner before its ssh reaches the machine.
    const diskoRuns = () => lab.started().some((c) => c.node === 'k-03' && c.command === 'disko');
    const killed = await applyKilled(d, 'k-03', before, (out) => /### Formatting hard drive with disko ###/.test(out) && diskoRuns());
    expect(killed.output).not.toMatch(/### Copying extra files ###/);
    await expectNoAnywhereLeft();
    // The disk wipe already under way on the machine ends by itself (its ssh client is gone, not it).
    const wiped = Date.now() + 90_000;
    while (!lab.calls().some((c) => c.node === 'k-03' && c.command === 'disko') && Date.now() < wiped) await new Promise((r) => setTimeout(r, 1000));
    expect(lab.calls().some((c) => c.node === 'k-03' && c.command === 'disko')).toBe(true);
    fs.appendFileSync(lab.node('k-03').controlFile, 'diskoSeconds=0\n');
    expect(await installerAnswersWith('k-03', key, 60)).toBe(true);
    const needles = await runs.secretsOnDisk(d);

    await expectRefusedThenReinstalled(
      d,
      'k-03',
      /nico: k-03: error: its install did not finish: it runs the NixOS installer \(the apply that installed it was interrupted\)\. Nothing was sent to it\. Install it again \(this wipes its disk\): raise its installGeneration to 3 .* terraform apply -replace='module\.cluster\.terraform_data\.install\["k-03"\]'/,
      needles,
    );
    expect(await answersWith('k-03', key, 5)).toBe(true);
    expect(await runs.planExitCode(d)).toBe(0);
  });
});
