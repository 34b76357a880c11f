import * as fs from 'fs';
import * as path from 'path';
import { INPUT_CHECKS } from '../../constructs/variable-cluster-inputs';
import { VALID } from '../fixtures/invalid-descriptions';
import { Expression, writeJsonModuleRoot } from '../helpers/module-root';
import { tempDir, terraform } from '../helpers/terraform';

jest.setTimeout(10 * 60 * 1000);

/** Terraform's output on one line, without its box drawing. */
const flat = (r: { stdout: string; stderr: string }) => (r.stderr + r.stdout).replace(/\s*│\s*/g, ' ').replace(/\s+/g, ' ');
const errorCount = (r: { stdout: string; stderr: string }) => (r.stderr.match(/Error: /g) ?? []).length;

describe('the module given input it must refuse', () => {
  const work = tempDir('module-hostile');
  const out = path.join(work, 'out');
  afterAll(() => fs.rmSync(work, { recursive: true, force: true }));
  beforeAll(() => {
    writeJsonModuleRoot(work, { k3s: { ...VALID, outputDir: out } });
    terraform(work, ['init', '-input=false']);
  });

  function plan(args: Record<string, unknown>) {
    writeJsonModuleRoot(work, { k3s: { ...VALID, outputDir: out, ...args } });
    return terraform(work, ['plan', '-input=false', '-no-color'], { allowFailure: true });
  }

  test('given a node with a misspelt host_key, then the plan fails naming the node and the attribute', () => {
    const r = plan({ controlPlane: [VALID.controlPlane[0], { ...VALID.controlPlane[1], hostkey: 'ssh-ed25519 AAAA' }, VALID.controlPlane[2]] });
    expect(r.status).not.toBe(0);
    expect(flat(r)).toContain('Wrong: control_plane[1] (unknown: hostkey).');
    expect(errorCount(r)).toBe(1);
  });

  test('given a null node, then the plan fails with one message naming it', () => {
    const r = plan({ workers: [VALID.workers![0], null] });
    expect(r.status).not.toBe(0);
    expect(flat(r)).toContain('The workers list must hold node objects');
    expect(flat(r)).toContain('Wrong: workers[1].');
    expect(errorCount(r)).toBe(1);
  });

  test('given a node without an ip, then the plan fails with one message naming it', () => {
    const r = plan({ controlPlane: [{ name: 'cp-01' }] });
    expect(flat(r)).toContain('Wrong: control_plane[0].');
    expect(errorCount(r)).toBe(1);
  });

  test('given workers that are not a list, then the plan fails saying so', () => {
    const r = plan({ workers: { 'worker-01': { name: 'worker-01', ip: '192.168.1.201' } } });
    expect(flat(r)).toContain('Wrong: workers is not a list.');
  });

  test('given two bad workers, then the message names both', () => {
    const r = plan({ workers: [{ name: 'w1', ip: '192.168.1.300' }, { name: 'w2', ip: '192.168.1.201' }, { name: 'w3', ip: 'x' }] });
    expect(flat(r)).toContain('Every workers node ip must be an IPv4 address in dotted-quad form, such as 192.168.1.101. Wrong: workers[0], workers[2].');
    expect(errorCount(r)).toBe(1);
  });

  test('given two nodes reached at the same ssh_host:ssh_port, then the message names the endpoint', () => {
    const r = plan({ workers: [{ name: 'w1', ip: '192.168.1.201', sshHost: '10.0.0.1', sshPort: 2200 }, { name: 'w2', ip: '192.168.1.202', sshHost: '10.0.0.1', sshPort: 2200 }] });
    expect(flat(r)).toContain('Shared: 10.0.0.1:2200.');
  });

  test('given valid input, then the plan succeeds (the checks are not always false)', () => {
    const r = plan({ controlPlane: [{ ...VALID.controlPlane[0], sshPort: '2222', disk: '/dev/vda' }, ...VALID.controlPlane.slice(1)] });
    expect(flat(r)).toMatch(/Plan: \d+ to add/);
  });
});

describe('the module given values unknown until apply that break a rule', () => {
  const work = tempDir('module-unknown');
  afterAll(() => fs.rmSync(work, { recursive: true, force: true }));
  beforeAll(() => {
    writeJsonModuleRoot(work, { k3s: { ...VALID, outputDir: path.join(work, 'out') } });
    terraform(work, ['init', '-input=false']);
  });

  /** `value` comes out of a terraform_data, so the module sees it only at apply. */
  const later = (value: unknown) => ({ resource: { terraform_data: { later: { input: value } } } });
  const unknown = new Expression('terraform_data.later.output');

  test.each([
    ['a vip equal to a node ip (a rule across variables)', { vip: unknown }, '192.168.1.101', 'The vip must not be the ip of any node'],
    ['an interface of ".." (a rule on one variable)', { interface: unknown }, '..', 'The interface must be a Linux interface name'],
    ['a remote_flake_dir of /nix (a rule on one variable)', { remoteFlakeDir: unknown }, '/nix', 'The remote_flake_dir must be a dedicated directory'],
    ['a node ip outside the subnet (a rule on a list)', { workers: [{ name: 'w1', ip: unknown }] }, '10.9.9.9', 'Every node ip must lie in the subnet'],
    ['a gateway equal to the vip', { gateway: unknown }, '192.168.1.100', 'The gateway must not be the vip'],
  ])('given %s, when applied, then apply fails before any file is written', (_t, args, value, message) => {
    const out = path.join(work, 'out');
    fs.rmSync(out, { recursive: true, force: true });
    writeJsonModuleRoot(work, { k3s: { ...VALID, outputDir: out, ...args } }, later(value));
    const plan = terraform(work, ['plan', '-input=false', '-no-color'], { allowFailure: true });
    expect(plan.status).toBe(0); // unknown at plan: the checks can only run at apply
    const apply = terraform(work, ['apply', '-input=false', '-auto-approve', '-no-color'], { allowFailure: true });
    expect(apply.status).not.toBe(0);
    expect(flat(apply)).toContain(message);
    expect(fs.existsSync(out)).toBe(false);
    expect(apply.stdout).not.toMatch(/local_(sensitive_)?file\.[\w[\]".-]+: Creat/);
    // The bad value is in the state now and would fail a destroy too: start the next case afresh.
    for (const f of ['terraform.tfstate', 'terraform.tfstate.backup']) fs.rmSync(path.join(work, f), { force: true });
  });
});

describe('INPUT_CHECKS', () => {
  test('then it is the address of the resource holding the preconditions, for deployment resources to depend on', () => {
    expect(INPUT_CHECKS).toBe('terraform_data.input_checks');
  });
});
