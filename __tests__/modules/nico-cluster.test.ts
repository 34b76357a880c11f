import * as fs from 'fs';
import * as path from 'path';
import { ClusterDescription } from '../../constructs';
import { listFiles } from '../../constructs/internal';
import { generateModule, MODULE_DIR } from '../../scripts/generate-modules';
import { INVALID_CASES, invalid, VALID } from '../fixtures/invalid-descriptions';
import { writeModuleRoot } from '../helpers/module-root';
import { synthApp, tempDir, terraform, terraformEnv, treeModes } from '../helpers/terraform';

jest.setTimeout(15 * 60 * 1000);
const ROOT = path.resolve(__dirname, '..', '..');
const SECRETS = ['machine-ssh-private-key', 'machine-ssh-public-key', 'join-token'];
const USER_MODULES = path.join(__dirname, '..', 'fixtures', 'user-modules');

describe('modules/nico-cluster', () => {
  test('given the constructs, when the module is regenerated, then the committed copy is identical', () => {
    const fresh = tempDir('module-gen');
    generateModule(fresh);
    const files = listFiles(fresh);
    expect(listFiles(MODULE_DIR)).toEqual(files);
    for (const f of files) expect(`${f}:\n${fs.readFileSync(path.join(MODULE_DIR, f), 'utf8')}`).toBe(`${f}:\n${fs.readFileSync(path.join(fresh, f), 'utf8')}`);
    fs.rmSync(fresh, { recursive: true, force: true });
  });

  test('then it is terraform fmt clean, has no provider or backend block, and documents every variable and output', () => {
    terraform(ROOT, ['fmt', '-check', '-recursive', 'modules', 'examples']);
    const hcl = ['main.tf', 'variables.tf', 'outputs.tf', 'versions.tf'].map((f) => fs.readFileSync(path.join(MODULE_DIR, f), 'utf8')).join('\n');
    expect(hcl).not.toMatch(/^\s*(provider|backend|cloud)\s/m);
    const variables = fs.readFileSync(path.join(MODULE_DIR, 'variables.tf'), 'utf8').split(/^variable /m).slice(1);
    expect(variables.length).toBeGreaterThanOrEqual(16);
    for (const v of variables) expect(v).toMatch(/description\s*=\s*"\S/);
    const readme = fs.readFileSync(path.join(MODULE_DIR, 'README.md'), 'utf8');
    for (const v of variables) expect(readme).toContain(`| ${v.match(/^"([^"]+)"/)![1]} |`);
  });

  test.each(['basic', 'single-node'])('given examples/%s, when initialised, validated and planned offline, then terraform succeeds', (example) => {
    const dir = path.join(ROOT, 'examples', example);
    const env = terraformEnv({ TF_DATA_DIR: path.join(tempDir(`example-${example}`), '.terraform') });
    terraform(dir, ['init', '-input=false'], { env }); // .terraform goes to TF_DATA_DIR; the lock file is git-ignored
    terraform(dir, ['validate'], { env });
    expect(terraform(dir, ['plan', '-input=false', '-no-color', '-lock=false'], { env }).stdout).toMatch(/Plan: \d+ to add/);
  });
});

describe('the module and the TypeScript app, for the same description', () => {
  const descriptions: Record<string, ClusterDescription> = {
    reference: VALID,
    'one master, no workers': { name: 'solo', vip: '192.168.7.10', gateway: '192.168.7.1', controlPlane: [{ name: 'solo-01', ip: '192.168.7.11' }] },
    'five masters, ten workers, non-default settings': {
      name: 'big',
      vip: '10.42.255.254',
      prefixLength: 16,
      gateway: '10.42.0.1',
      nameservers: ['10.42.0.2', '10.42.0.3'],
      interface: 'ens3',
      vrrpRouterId: 200,
      nixpkgs: 'github:NixOS/nixpkgs/nixos-24.11',
      controlPlane: Array.from({ length: 5 }, (_, i) => ({ name: `m${i + 1}`, ip: `10.42.0.${11 + i}`, ...(i % 2 ? { disk: '/dev/nvme0n1' } : {}) })),
      workers: Array.from({ length: 10 }, (_, i) => ({ name: `w${i + 1}`, ip: `10.42.1.${11 + i}`, sshPort: 2200 + i })),
    },
    'every extension point: flags, components, labels, taints, user modules (a file, a directory)': {
      ...VALID,
      controlPlane: [{ ...VALID.controlPlane[0], labels: { 'example.com/team': 'db' }, taints: ['dedicated=db:NoSchedule'] }, ...VALID.controlPlane.slice(1)],
      serverExtraFlags: ['--etcd-expose-metrics', '--kube-apiserver-arg=x="${y}" \\'],
      agentExtraFlags: ['--kubelet-arg=max-pods=150'],
      disableComponents: ['traefik'],
      nixosModules: [path.join(USER_MODULES, 'node-tools.nix')],
      controlPlaneModules: [path.join(USER_MODULES, 'control-plane-tools')],
      workerModules: [path.join(USER_MODULES, 'worker-tools.nix'), path.join(USER_MODULES, 'node-tools.nix')],
    },
  };

  test.each(Object.entries(descriptions))('given %s, when both are applied with deploy off, then they write byte-identical trees, secrets aside', (_title, d) => {
    const work = tempDir('equivalence');
    // The app is given the module paths relative to where it runs, as a cluster file would; the HCL
    // module root runs elsewhere and is given them absolute.
    const relative = (list?: readonly string[]) => list?.map((p) => path.relative(process.cwd(), p));
    const app = synthApp({ ...d, nixosModules: relative(d.nixosModules), controlPlaneModules: relative(d.controlPlaneModules), workerModules: relative(d.workerModules) }, path.join(work));
    terraform(app.stackDir, ['init', '-input=false']);
    terraform(app.stackDir, ['apply', '-input=false', '-auto-approve']);

    const moduleRoot = path.join(work, 'module-root');
    writeModuleRoot(moduleRoot, d, path.join(work, 'module-out'));
    terraform(moduleRoot, ['init', '-input=false']);
    terraform(moduleRoot, ['apply', '-input=false', '-auto-approve']);

    const appTree = path.join(app.outDir, 'nix');
    const moduleTree = path.join(work, 'module-out', 'nix');
    if (d.nixosModules) {
      // the user's modules, copied under their set with their index, directories whole
      expect(listFiles(path.join(appTree, 'extra-modules'))).toEqual([
        'all/00-node-tools.nix',
        'control-plane/00-control-plane-tools/default.nix',
        'control-plane/00-control-plane-tools/etcd-metrics.nix',
        'worker/00-worker-tools.nix',
        'worker/01-node-tools.nix',
      ]);
      expect(fs.readFileSync(path.join(appTree, 'extra-modules/all/00-node-tools.nix'), 'utf8')).toBe(fs.readFileSync(path.join(USER_MODULES, 'node-tools.nix'), 'utf8'));
      // the synthesized JSON names no path of this machine: the app reads its copies (assets)
      const json = fs.readFileSync(path.join(app.stackDir, 'cdk.tf.json'), 'utf8');
      expect(json).not.toContain(USER_MODULES);
      expect(JSON.parse(json).module.cluster.control_plane_modules).toEqual([expect.stringMatching(/^assets\/.+\/control-plane-tools$/)]);
    }
    expect(treeModes(moduleTree)).toEqual(treeModes(appTree));
    for (const f of listFiles(appTree).filter((f) => !SECRETS.includes(f))) {
      expect(`${f}:\n${fs.readFileSync(path.join(moduleTree, f), 'utf8')}`).toBe(`${f}:\n${fs.readFileSync(path.join(appTree, f), 'utf8')}`);
    }
    fs.rmSync(work, { recursive: true, force: true });
  });
});

describe('the module given bad input', () => {
  const cases = INVALID_CASES.filter((c) => c.hcl);
  const work = tempDir('module-bad');
  afterAll(() => fs.rmSync(work, { recursive: true, force: true }));
  beforeAll(() => {
    writeModuleRoot(work, VALID, path.join(work, 'out'));
    terraform(work, ['init', '-input=false']);
  });

  test('then at least 10 distinct bad inputs are covered', () => expect(cases.length).toBeGreaterThanOrEqual(10));

  test.each(cases.map((c) => [c.title, c] as const))('given %s, when planned, then the plan fails with the rule message', (_t, c) => {
    writeModuleRoot(work, invalid(c), path.join(work, 'out'));
    const plan = terraform(work, ['plan', '-input=false', '-no-color'], { allowFailure: true });
    expect(plan.status).not.toBe(0);
    expect((plan.stderr + plan.stdout).replace(/\s*│\s*/g, ' ')).toContain(c.hcl);
    expect(fs.existsSync(path.join(work, 'out'))).toBe(false);
  });
});
