import * as fs from 'fs';
import * as path from 'path';
import { spawnSync, SpawnSyncOptions } from 'child_process';
import { nixEval } from '../helpers/nix';
import { tempDir, terraform } from '../helpers/terraform';

jest.setTimeout(15 * 60 * 1000);

const ROOT = path.resolve(__dirname, '..', '..');
const TSC = path.join(ROOT, 'node_modules', 'typescript', 'bin', 'tsc');

function run(cmd: string, args: string[], opts: SpawnSyncOptions & { allowFailure?: boolean } = {}) {
  const r = spawnSync(cmd, args, { encoding: 'utf8', maxBuffer: 64 * 1024 * 1024, ...opts });
  const result = { status: r.status ?? -1, stdout: String(r.stdout ?? ''), stderr: String(r.stderr ?? '') };
  if (result.status !== 0 && !opts.allowFailure) throw new Error(`${cmd} ${args.join(' ')} failed (${result.status}):\n${result.stdout.slice(-4000)}\n${result.stderr.slice(-4000)}`);
  return result;
}

/** A cdktf team's app, as `cdktf init` would start it, using nico-cluster from the registry's point of view. */
const CONSUMER_MAIN = `
import { App, DataResource, TerraformLocal, TerraformOutput, TerraformStack } from 'cdktf';
import { Construct } from 'constructs';
import { File } from '@cdktf/provider-local/lib/file';
import { LocalProvider } from '@cdktf/provider-local/lib/provider';
import { ClusterDescription, NicoCluster } from 'nico-cluster';

const blue: ClusterDescription = {
  name: 'blue',
  vip: '192.168.1.100',
  controlPlane: [{ name: 'b-cp-01', ip: '192.168.1.101' }, { name: 'b-cp-02', ip: '192.168.1.102' }, { name: 'b-cp-03', ip: '192.168.1.103' }],
  workers: [{ name: 'b-w-01', ip: '192.168.1.201' }],
};
const green: ClusterDescription = {
  name: 'green',
  vip: '10.0.0.100',
  gateway: '10.0.0.1',
  controlPlane: [{ name: 'g-cp-01', ip: '10.0.0.11' }],
};

class Platform extends TerraformStack {
  constructor(scope: Construct, id: string) {
    super(scope, id);
    // Our own names, the ones nico-cluster 0.1 used at stack level.
    new LocalProvider(this, 'local');
    // Only for the offline provider mirror of the tests, which holds local 2.9.0.
    this.addOverride('terraform.required_providers.local.version', '>= 2.6.1');
    new TerraformLocal(this, 'deploy', true);
    new TerraformLocal(this, 'cluster', 'ours');
    const b = new NicoCluster(this, 'blue', { description: blue });
    const g = new NicoCluster(this, 'green', { description: green });
    new TerraformOutput(this, 'nodes', { value: 'ours' });
    new File(this, 'inventory', { filename: '\${path.root}/inventory.txt', content: \`\${b.sshPublicKey}\${g.sshPublicKey}\` });
    new TerraformOutput(this, 'blue_nodes', { value: b.nodes });
    new TerraformOutput(this, 'green_flake_dir', { value: g.flakeDir });
    new TerraformOutput(this, 'blue_api', { value: b.kubernetes.host, sensitive: true });
    new TerraformOutput(this, 'green_kubeconfig', { value: g.kubeconfig, sensitive: true });
  }
}

class References extends TerraformStack {
  constructor(scope: Construct, id: string) {
    super(scope, id);
    // A node's address known only once another resource exists.
    const address = new DataResource(this, 'address', {});
    address.addOverride('input', '192.168.7.21');
    const workerIp = process.env.BAD_IP ?? address.getStringAttribute('output');
    new NicoCluster(this, 'red', {
      description: { name: 'red', vip: '192.168.7.100', gateway: '192.168.7.1', controlPlane: [{ name: 'r-cp-01', ip: '192.168.7.11' }], workers: [{ name: 'r-w-01', ip: workerIp }] },
    });
  }
}

const app = new App();
new Platform(app, 'platform');
new References(app, 'references');
app.synth();
`;

describe('a cdktf app of its own that installs the packed package', () => {
  const work = tempDir('consumer');
  const app = path.join(work, 'app');
  afterAll(() => fs.rmSync(work, { recursive: true, force: true }));
  const platform = path.join(app, 'cdktf.out', 'stacks', 'platform');

  beforeAll(() => {
    // `npm pack` runs the build (prepack) and packs what `files` lists.
    const packed = JSON.parse(run('npm', ['pack', '--json', '--pack-destination', work], { cwd: ROOT }).stdout.replace(/^[^[]*/, ''));
    const tarball = path.join(work, packed[0].filename);
    fs.mkdirSync(app);
    fs.writeFileSync(
      path.join(app, 'package.json'),
      JSON.stringify({
        name: 'platform',
        private: true,
        dependencies: { 'nico-cluster': `file:${tarball}`, cdktf: '^0.21.0', constructs: '^10.4.2', '@cdktf/provider-local': '^11.1.0' },
        devDependencies: { '@types/node': '^20.17.0' },
      }),
    );
    // The registry: npm's cache makes the second run fast.
    run('npm', ['install', '--prefer-offline', '--no-audit', '--no-fund', '--ignore-scripts'], { cwd: app });
    fs.writeFileSync(
      path.join(app, 'tsconfig.json'),
      JSON.stringify({ compilerOptions: { target: 'ES2022', module: 'commonjs', strict: true, noUncheckedIndexedAccess: true, skipLibCheck: false, types: ['node'], outDir: 'dist' }, files: ['main.ts'] }),
    );
    fs.writeFileSync(path.join(app, 'main.ts'), CONSUMER_MAIN);
  });

  test('then the package holds the compiled library, the module, README and LICENSE, and no test, source or bench file', () => {
    const pkg = path.join(app, 'node_modules', 'nico-cluster');
    const files = run('find', ['.', '-type', 'f'], { cwd: pkg }).stdout.split('\n').filter(Boolean).map((f) => f.slice(2)).sort();
    expect(files).toEqual(expect.arrayContaining(['LICENSE', 'README.md', 'package.json', 'lib/index.js', 'lib/index.d.ts', 'modules/nico-cluster/main.tf', 'modules/nico-cluster/nix-templates/flake.nix', 'modules/nico-cluster/templates/nico-node/main.sh']));
    expect(files.filter((f) => !/^(LICENSE|README\.md|package\.json|lib\/[\w-]+\.(js|d\.ts)|modules\/nico-cluster\/.+)$/.test(f))).toEqual([]);
    const manifest = JSON.parse(fs.readFileSync(path.join(pkg, 'package.json'), 'utf8'));
    expect(manifest.peerDependencies).toEqual({ cdktf: '^0.21.0', constructs: '^10.4.2' });
    expect(Object.keys(manifest.dependencies).sort()).toEqual(['ipaddr.js', 'sshpk', 'zod']);
    expect(fs.readFileSync(path.join(pkg, 'LICENSE'), 'utf8')).toMatch(/^Mozilla Public License, version 2\.0/);
    // One copy of the constructs library: the app's.
    expect(fs.existsSync(path.join(pkg, 'node_modules', 'constructs'))).toBe(false);
    expect(fs.existsSync(path.join(pkg, 'node_modules', 'cdktf'))).toBe(false);
  });

  test('when compiled with strict and noUncheckedIndexedAccess and run as plain JavaScript, then it synthesizes', () => {
    run(process.execPath, [TSC, '-p', app], { cwd: app });
    run(process.execPath, ['dist/main.js'], { cwd: app });
    expect(fs.existsSync(path.join(platform, 'cdk.tf.json'))).toBe(true);
    const json = fs.readFileSync(path.join(platform, 'cdk.tf.json'), 'utf8');
    // No path of the synthesizing machine from nico-cluster (cdktf's own default local backend, which
    // the app did not configure, names one).
    const config = JSON.parse(json);
    delete config.terraform.backend;
    expect(JSON.stringify(config)).not.toContain(work);
    expect(Object.keys(config.module).sort()).toEqual(['blue', 'green']);
    expect(config.locals).toEqual({ deploy: true, cluster: 'ours' });
  });

  test('when validated and planned, then there are two independent clusters: two keys, two tokens, two trees, no deployment', () => {
    terraform(platform, ['init', '-input=false']);
    terraform(platform, ['validate']);
    terraform(platform, ['plan', '-input=false', '-out=plan.tfplan']);
    const plan = JSON.parse(terraform(platform, ['show', '-json', 'plan.tfplan']).stdout);
    const created = (plan.resource_changes as Array<{ address: string; change: { actions: string[] } }>).filter((c) => c.change.actions.includes('create')).map((c) => c.address);
    for (const cluster of ['blue', 'green']) {
      expect(created).toContain(`module.${cluster}.tls_private_key.machine[0]`);
      expect(created).toContain(`module.${cluster}.random_password.join_token`);
      expect(created).toContain(`module.${cluster}.local_file.cluster_nix[0]`);
      expect(created).toContain(`module.${cluster}.local_sensitive_file.join_token[0]`);
    }
    // The stack's own local "deploy" = true switches nothing on: deployment is off for both.
    expect(created.filter((a) => /terraform_data\.(cluster|init_node|control_plane|worker|teardown)\b/.test(a))).toEqual([]);
    expect(created).toContain('local_file.inventory');
    expect(created.filter((a) => !a.startsWith('module.') && a !== 'local_file.inventory')).toEqual([]);
  });

  test('when applied, then both trees are written, each with its own nodes, key and token', () => {
    terraform(platform, ['apply', '-input=false', 'plan.tfplan']);
    const tree = (c: string) => path.join(platform, 'out', c, 'nix');
    const blue = nixEval<any>({ file: path.join(tree('blue'), 'cluster.nix') });
    const green = nixEval<any>({ file: path.join(tree('green'), 'cluster.nix') });
    expect(blue).toMatchObject({ name: 'blue', vip: '192.168.1.100', initNode: 'b-cp-01' });
    expect(blue.controlPlane.map((n: any) => n.name)).toEqual(['b-cp-01', 'b-cp-02', 'b-cp-03']);
    expect(green).toMatchObject({ name: 'green', vip: '10.0.0.100', initNode: 'g-cp-01', workers: [] });
    const read = (c: string, f: string) => fs.readFileSync(path.join(tree(c), f), 'utf8');
    expect(read('blue', 'machine-ssh-private-key')).not.toBe(read('green', 'machine-ssh-private-key'));
    expect(read('blue', 'join-token')).not.toBe(read('green', 'join-token'));
    expect(fs.readFileSync(path.join(platform, 'inventory.txt'), 'utf8')).toBe(read('blue', 'machine-ssh-public-key') + read('green', 'machine-ssh-public-key'));
    const outputs = JSON.parse(terraform(platform, ['output', '-json']).stdout);
    expect(outputs.nodes.value).toBe('ours');
    expect(outputs.blue_nodes.value.map((n: any) => `${n.name}:${n.role}`)).toEqual(['b-cp-01:init-master', 'b-cp-02:control-plane', 'b-cp-03:control-plane', 'b-w-01:worker']);
    expect(outputs.green_flake_dir.value).toBe('./out/green/nix');
    expect(outputs.blue_api).toMatchObject({ sensitive: true, value: 'https://192.168.1.100:6443' });
  });

  test('given a node IP from another resource\'s attribute, when planned and applied, then the module checks it and writes it', () => {
    const stack = path.join(app, 'cdktf.out', 'stacks', 'references');
    terraform(stack, ['init', '-input=false']);
    const plan = terraform(stack, ['plan', '-input=false', '-no-color']).stdout;
    expect(plan).toMatch(/module\.red\.local_file\.cluster_nix\[0\] will be created/);
    terraform(stack, ['apply', '-input=false', '-auto-approve']);
    const red = nixEval<any>({ file: path.join(stack, 'out', 'red', 'nix', 'cluster.nix') });
    expect(red.workers).toEqual([{ name: 'r-w-01', ip: '192.168.7.21' }]);
  });

  test('given a bad literal IP where the reference was, when synthesized, then it is refused naming the field and nothing is written', () => {
    fs.rmSync(path.join(app, 'cdktf.out'), { recursive: true, force: true });
    const r = run(process.execPath, ['dist/main.js'], { cwd: app, env: { ...process.env, BAD_IP: '192.168.7.300' }, allowFailure: true });
    expect(r.status).not.toBe(0);
    expect(r.stderr).toMatch(/workers\[0\]\.ip: must be an IPv4 address/);
    expect(fs.existsSync(path.join(app, 'cdktf.out', 'stacks', 'references', 'cdk.tf.json'))).toBe(false);
  });
});
