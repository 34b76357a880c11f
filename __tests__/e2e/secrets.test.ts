import * as fs from 'fs';
import * as path from 'path';
import { writeModuleRoot } from '../helpers/module-root';
import { tempDir, TERRAFORM, terraformEnv } from '../helpers/terraform';
import { TestLab } from './harness';
import { PrintedSecrets } from './harness/secrets';
import { ClusterRuns, startClusterLab, switchedTo } from './support';

jest.setTimeout(20 * 60 * 1000);

// Issue 25: no secret in any plan or apply output. A CI job or an HCP Terraform workspace keeps its
// plan and apply logs for every reader; the machine key is root on every node. Each scenario below is
// a plan or apply that replaces or destroys a node's deployment, where Terraform renders the prior
// values of the resource, and each ends by grepping all it printed for every secret in the state.
const ADDRESS: Record<string, string> = { 'cp-01': '127.0.0.11', 'w-01': '127.0.0.21', 'hcl-cp': '127.0.0.31', 'hcl-w': '127.0.0.32' };

let lab: TestLab;
let runs: ClusterRuns;
let printed: PrintedSecrets;
let machineKey: string;
const work = tempDir('e2e-secrets');

beforeAll(async () => {
  let key;
  ({ lab, runs, key } = await startClusterLab(work, ADDRESS, (name) => name.includes('cp')));
  printed = PrintedSecrets.watch(lab, () => terraformEnv());
  machineKey = fs.readFileSync(key.privateKeyFile, 'utf8');
  printed.addSecret(machineKey, 'the machine key file (sshPrivateKeyFile)');
});

afterAll(async () => {
  await lab?.stop();
  fs.rmSync(work, { recursive: true, force: true });
});

async function applied(d: Parameters<ClusterRuns['apply']>[0]) {
  lab.clearCalls();
  const result = await runs.apply(d);
  if (result.code !== 0) process.stderr.write(result.output.slice(-4000));
  expect(result.code).toBe(0);
  return { result, switched: switchedTo(lab.calls()) };
}

describe('a cluster whose machine key is given by sshPrivateKeyFile', () => {
  const cluster = (vip = '127.0.0.100', workers = ['w-01']) => ({ ...runs.description('keyfile', ['cp-01'], workers), vip });

  test('when it is created and applied again without changes, then neither output holds a secret', async () => {
    await applied(cluster());
    expect(await runs.planExitCode(cluster())).toBe(0);
    printed.expectNoSecretPrinted();
  });

  test('when the VIP changes (every node redeployed: its deployment is replaced), then the plan and the apply show no secret', async () => {
    const plan = await runs.tf(cluster('127.0.0.101'), 'plan', '-input=false', '-no-color');
    expect(plan.output).toMatch(/terraform_data\.init_node\["cp-01"\] must be replaced/);
    const { switched } = await applied(cluster('127.0.0.101'));
    expect(switched).toEqual({ 'cp-01': ['cp-01'], 'w-01': ['w-01'] });
    printed.expectNoSecretPrinted();
  });

  test('when a worker is removed (its deployment destroyed and the node cleaned), then no secret is shown', async () => {
    const { switched } = await applied(cluster('127.0.0.101', []));
    expect(switched).toEqual({ 'w-01': ['minimal'] });
    printed.expectNoSecretPrinted();
  });

  test('when the state is read with terraform show, terraform state show and terraform output, then none prints a secret', async () => {
    const d = cluster('127.0.0.101', []);
    expect((await runs.tf(d, 'show', '-no-color')).code).toBe(0);
    expect((await runs.tf(d, 'state', 'show', '-no-color', 'module.cluster.terraform_data.init_node["cp-01"]')).code).toBe(0);
    expect((await runs.tf(d, 'output', '-no-color')).code).toBe(0);
    printed.expectNoSecretPrinted();
  });

  test('given runs that print a line of a private key of the state, then the token\'s password (leaks made on purpose), then the check fails each time, naming the secret and the run', async () => {
    const d = cluster('127.0.0.101', []);
    const { stackDir } = await runs.tf(d, 'version');
    const state = await runs.stateValues(d);
    const key = state.find((r) => r.type === 'tls_private_key')!.values.private_key_pem as string;
    const token = state.find((r) => r.type === 'random_password')!.values.result as string;
    printed.record('a run made to leak a key', `Plan: 0 to add\n${key.split('\n')[2]}\n`, stackDir);
    expect(() => printed.expectNoSecretPrinted()).toThrow(/tls_private_key\.\S+\.private_key_\w+ is printed by `a run made to leak a key`, line 2 of 3/);
    printed.record('a run made to leak the token', `joining with ${token}\n`, stackDir);
    expect(() => printed.expectNoSecretPrinted()).toThrow(/random_password\.\S+ is printed by `a run made to leak the token`/);
    printed.expectNoSecretPrinted();
  });

  test('when the cluster is destroyed, then the destroy plan and its output show no secret, and every node is cleaned from the state alone', async () => {
    lab.clearCalls();
    const result = await runs.tf(cluster('127.0.0.101', []), 'destroy', '-input=false', '-auto-approve', '-no-color');
    expect(result.code).toBe(0);
    expect(switchedTo(lab.calls())).toEqual({ 'cp-01': ['minimal'] });
    printed.expectNoSecretPrinted();
  });
});

describe('the HCL module with a machine key it generates', () => {
  const root = path.join(work, 'hcl-root');
  const terraformIn = (...args: string[]) => lab.exec(TERRAFORM, [`-chdir=${root}`, ...args], { env: terraformEnv() });
  const write = (vip: string, deploy = true) => {
    const d = { ...runs.description('generated', ['hcl-cp'], ['hcl-w']), vip, deploy };
    delete (d as { sshPrivateKeyFile?: string }).sshPrivateKeyFile;
    writeModuleRoot(root, d, path.join(work, 'hcl-out'));
  };

  test('given the generated key is authorised on the nodes, when the VIP changes, then neither plan nor apply shows a secret', async () => {
    write('127.0.0.100', false);
    expect((await terraformIn('init', '-input=false')).code).toBe(0);
    expect((await terraformIn('apply', '-input=false', '-auto-approve', '-no-color')).code).toBe(0);
    const publicKey = (await terraformIn('output', '-raw', 'ssh_public_key')).stdout.trim();
    fs.appendFileSync(path.join(lab.dir, 'authorized_keys'), `${publicKey}\n`);
    write('127.0.0.100');
    const created = await terraformIn('apply', '-input=false', '-auto-approve', '-no-color');
    if (created.code !== 0) process.stderr.write((created.stdout + created.stderr).slice(-4000));
    expect(created.code).toBe(0);

    write('127.0.0.102');
    const plan = await terraformIn('plan', '-input=false', '-no-color');
    expect(plan.stdout).toMatch(/must be replaced/);
    lab.clearCalls();
    expect((await terraformIn('apply', '-input=false', '-auto-approve', '-no-color')).code).toBe(0);
    expect(switchedTo(lab.calls())).toEqual({ 'hcl-cp': ['hcl-cp'], 'hcl-w': ['hcl-w'] });
    printed.expectNoSecretPrinted();
  });

  test('when it is destroyed, then no secret is shown', async () => {
    const result = await terraformIn('destroy', '-input=false', '-auto-approve', '-no-color');
    expect(result.code).toBe(0);
    printed.expectNoSecretPrinted();
  });
});
