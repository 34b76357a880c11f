import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { execFileSync } from 'child_process';
import { App, DataResource, TerraformLocal, TerraformOutput, TerraformStack, Testing } from 'cdktf';
import { ClusterDescription, ClusterValidationError, NICO_CLUSTER_MODULE_DIR, NicoCluster, NicoClusterStack, STACK_LEVEL_RESOURCES } from '../../constructs';
import { VALID } from '../fixtures/invalid-descriptions';
import { synthGraph } from '../helpers/graph';

const BLUE: ClusterDescription = { ...VALID, name: 'blue' };
const GREEN: ClusterDescription = {
  name: 'green',
  vip: '10.0.0.100',
  controlPlane: [{ name: 'g-cp-01', ip: '10.0.0.11' }],
  gateway: '10.0.0.1',
  deploy: false,
};

/** A terraform_data whose input (a string or number) is known only at apply, like another resource's attribute. */
function laterValue(stack: TerraformStack, id: string, value: string | number): DataResource {
  const r = new DataResource(stack, id, {});
  r.addOverride('input', value);
  return r;
}

function synthStack(build: (stack: TerraformStack) => void, outdir?: string) {
  const app = Testing.app(outdir ? { outdir } : undefined);
  const stack = new TerraformStack(app, 'consumer');
  build(stack);
  const json = Testing.synth(stack);
  return { json, config: JSON.parse(json) };
}

describe('NicoCluster in a stack', () => {
  const { json, config } = synthStack((stack) => {
    new NicoCluster(stack, 'blue', { description: BLUE });
    new NicoCluster(stack, 'green', { description: GREEN });
  });

  test('then it creates one module call named after its id and nothing at stack level', () => {
    expect(Object.keys(config.module).sort()).toEqual(['blue', 'green']);
    for (const key of ['resource', 'locals', 'output', 'provider', 'variable', 'data']) expect(config[key]).toBeUndefined();
  });

  test('then the description reaches the module as its snake_case variables, and only what was given', () => {
    const blue = config.module.blue;
    expect(blue).toMatchObject({ name: 'blue', vip: '192.168.1.100', control_plane: [{ name: 'cp-01', ip: '192.168.1.101' }, { name: 'cp-02', ip: '192.168.1.102' }, { name: 'cp-03', ip: '192.168.1.103' }] });
    expect(config.module.green).toMatchObject({ name: 'green', gateway: '10.0.0.1', deploy: false, control_plane: [{ name: 'g-cp-01', ip: '10.0.0.11' }] });
    expect(blue.output_dir).toBeUndefined(); // the module's own default: <root module>/out/<name>
    expect(blue.deploy).toBeUndefined(); // the module's default: off
  });

  test('then every module variable it passes is one the module declares', () => {
    const declared = Object.keys(synthGraph().config.variable);
    for (const call of Object.values(config.module as Record<string, Record<string, unknown>>)) {
      for (const key of Object.keys(call).filter((k) => k !== 'source' && k !== '//')) expect(declared).toContain(key);
    }
  });

  test('then both calls share one copy of the module, a relative directory of the stack', () => {
    expect(config.module.blue.source).toMatch(/^\.\/assets\/nico-cluster-module\/[0-9A-F]+$/);
    expect(config.module.green.source).toBe(config.module.blue.source);
    expect(fs.existsSync(path.join(NICO_CLUSTER_MODULE_DIR, 'main.tf'))).toBe(true);
  });

  test('then the synthesized JSON names no path of this machine and holds no secret', () => {
    expect(json).not.toContain(os.tmpdir());
    expect(json).not.toContain(process.cwd());
    expect(json).not.toMatch(/PRIVATE KEY/);
  });
});

describe('NicoCluster next to a consumer\'s own names', () => {
  test('given locals deploy and cluster and an output nodes of the stack, then none of them changes the clusters', () => {
    const { config } = synthStack((stack) => {
      new TerraformLocal(stack, 'deploy', true);
      new TerraformLocal(stack, 'cluster', 'mine');
      const blue = new NicoCluster(stack, 'blue', { description: BLUE });
      new TerraformOutput(stack, 'nodes', { value: blue.nodes });
    });
    expect(config.locals).toEqual({ deploy: true, cluster: 'mine' });
    expect(config.module.blue.deploy).toBeUndefined();
    expect(JSON.stringify(config.module.blue)).not.toMatch(/local\./);
    expect(config.output.nodes.value).toBe('${module.blue.nodes}');
  });
});

describe('NicoCluster attributes', () => {
  test('then they read the outputs of its module', () => {
    const app = Testing.app();
    const stack = new TerraformStack(app, 'consumer');
    const c = new NicoCluster(stack, 'prod', { description: VALID });
    const values = { key: c.sshPublicKey, dir: c.flakeDir, nodes: c.nodes, kubeconfig: c.kubeconfig, host: c.kubernetes.host };
    for (const [name, value] of Object.entries(values)) new TerraformOutput(stack, name, { value, sensitive: true });
    const config = JSON.parse(Testing.synth(stack));
    expect(Object.fromEntries(Object.entries(config.output as Record<string, { value: string }>).map(([k, o]) => [k, o.value]))).toEqual({
      key: '${module.prod.ssh_public_key}',
      dir: '${module.prod.flake_dir}',
      nodes: '${module.prod.nodes}',
      kubeconfig: '${module.prod.kubeconfig}',
      host: '${module.prod.kubernetes.host}',
    });
    expect(c.name).toBe(VALID.name);
  });
});

describe('NicoCluster given Terraform tokens', () => {
  test('given a node IP and SSH port from another resource, then they pass as references and the literal rules still run on the rest', () => {
    const { config } = synthStack((stack) => {
      const later = laterValue(stack, 'later', '192.168.1.150');
      const ip = later.getStringAttribute('output');
      new NicoCluster(stack, 'prod', { description: { ...VALID, workers: [{ name: 'w-token', ip, sshPort: later.getNumberAttribute('input') }] } });
    });
    expect(config.module.prod.workers).toEqual([{ name: 'w-token', ip: '${terraform_data.later.output}', ssh_port: '${terraform_data.later.input}' }]);
  });

  test('given a bad literal IP next to a token, then synth is refused naming the field', () => {
    const app = Testing.app();
    const stack = new TerraformStack(app, 'consumer');
    const ip = laterValue(stack, 'later', 'x').getStringAttribute('output');
    const build = () => new NicoCluster(stack, 'prod', { description: { ...VALID, workers: [{ name: 'w-token', ip }, { name: 'w-bad', ip: '192.168.1.999' }] } });
    expect(build).toThrow(ClusterValidationError);
    expect(build).toThrow(/workers\[1\]\.ip: must be an IPv4 address/);
  });

  test('given a string that only embeds a token, then it is text: refused where the field needs an IPv4 address', () => {
    const app = Testing.app();
    const stack = new TerraformStack(app, 'consumer');
    const last = laterValue(stack, 'later', '7').getStringAttribute('output');
    expect(() => new NicoCluster(stack, 'prod', { description: { ...VALID, workers: [{ name: 'w', ip: `192.168.1.${last}` }] } })).toThrow(/workers\[0\]\.ip/);
  });

  test('given a whole token where the field takes no reference (the disk), then it is text, escaped like any other', () => {
    const { config } = synthStack((stack) => {
      const disk = laterValue(stack, 'later', '/dev/vda').getStringAttribute('output');
      expect(() => new NicoCluster(stack, 'bad', { description: { ...VALID, workers: [{ name: 'w', ip: '192.168.1.201', disk }] } })).toThrow(/workers\[0\]\.disk/);
      new NicoCluster(stack, 'prod', { description: VALID, outputDir: `/tmp/${disk}` });
    });
    // Embedded in text, a token is text too.
    expect(config.module.prod.output_dir).toMatch(/^\/tmp\/\$\$\{.*TfToken\[/);
    expect(config.module.prod.output_dir).not.toContain('terraform_data');
  });

  test('given sshPrivateKey as a token, then it is passed to ssh_private_key; with sshPrivateKeyFile too, it is refused', () => {
    const { config } = synthStack((stack) => {
      const key = laterValue(stack, 'key', 'k').getStringAttribute('output');
      new NicoCluster(stack, 'prod', { description: VALID, sshPrivateKey: key });
    });
    expect(config.module.prod.ssh_private_key).toBe('${terraform_data.key.output}');
    const app = Testing.app();
    const stack = new TerraformStack(app, 'consumer');
    expect(() => new NicoCluster(stack, 'prod', { description: { ...VALID, sshPrivateKeyFile: __filename }, sshPrivateKey: 'x' })).toThrow(/sshPrivateKeyFile: must not be set together with the sshPrivateKey prop/);
  });
});

describe('NicoCluster given files', () => {
  test('given relative key, lock and module paths, then Terraform reads key and lock relative to the stack directory, modules from copies in the stack, and the JSON names no path of this machine', () => {
    const work = fs.mkdtempSync(path.join(os.tmpdir(), 'nico-files-'));
    const cwd = process.cwd();
    try {
      process.chdir(work);
      fs.mkdirSync('nix');
      fs.writeFileSync('nix/extra.nix', '{ ... }: { }\n');
      fs.writeFileSync('flake.lock', '{"nodes":{"root":{}},"root":"root","version":7}');
      execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', '', '-f', 'machine-key']);
      const { json, config } = synthStack((stack) => {
        new NicoCluster(stack, 'prod', { description: { ...VALID, sshPrivateKeyFile: 'machine-key', flakeLockFile: './flake.lock', nixosModules: ['nix/extra.nix'] } });
      }, path.join(work, 'cdktf.out'));
      // cdktf.out/stacks/consumer is three levels below the working directory.
      expect(config.module.prod.ssh_private_key).toBe('${sensitive(file("../../../machine-key"))}');
      expect(config.module.prod.flake_lock).toBe('${file("../../../flake.lock")}');
      expect(config.module.prod.nixos_modules).toEqual([expect.stringMatching(/^assets\/[^/]+\/[0-9A-F]+\/extra\.nix$/)]);
      expect(json).not.toContain(work);
      expect(json).not.toMatch(/PRIVATE KEY/);
    } finally {
      process.chdir(cwd);
      fs.rmSync(work, { recursive: true, force: true });
    }
  });
});

describe('NicoCluster ids', () => {
  test('given two ids that give the same module name, then the second is refused naming both', () => {
    const app = Testing.app();
    const stack = new TerraformStack(app, 'consumer');
    new NicoCluster(stack, 'a.b', { description: VALID });
    expect(() => new NicoCluster(stack, 'ab', { description: GREEN })).toThrow(/module name "ab", which consumer\/a\.b has already/);
  });

  test('given an invalid description, then it throws every problem and the app synthesizes no stack', () => {
    const outdir = fs.mkdtempSync(path.join(os.tmpdir(), 'nico-synth-'));
    const app = new App({ outdir });
    let error: unknown;
    try {
      new NicoClusterStack(app, 'bad', { description: { ...VALID, vip: '192.168.1.101', vrrpRouterId: 0 } });
      app.synth();
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(ClusterValidationError);
    expect((error as ClusterValidationError).problems.map((p) => p.field).sort()).toEqual(['vip', 'vrrpRouterId']);
    expect(fs.readdirSync(path.join(outdir, 'stacks'))).toEqual([]); // the App makes stacks/ itself
    fs.rmSync(outdir, { recursive: true, force: true });
  });
});

describe('NicoClusterStack (the app\'s stack)', () => {
  const app = Testing.app();
  const stack = new NicoClusterStack(app, 'test', { description: VALID, outputDir: 'out/x' });
  const config = JSON.parse(Testing.synth(stack));

  test('then Terraform itself refuses a version without terraform_data and optional() (app synth skips cdktf\'s check)', () => {
    expect(config.terraform.required_version).toBe('>= 1.5.0');
  });

  test('then it holds module.cluster, no provider block, and forwards the outputs, the credentials sensitive', () => {
    expect(Object.keys(config.module)).toEqual(['cluster']);
    expect(config.provider).toBeUndefined();
    expect(config.module.cluster.output_dir).toBe('out/x');
    expect(Object.keys(config.output).sort()).toEqual(['flake_dir', 'kubeconfig', 'kubernetes', 'nodes', 'pre_change_snapshot', 'ssh_public_key']);
    expect(config.output.kubeconfig).toMatchObject({ value: '${module.cluster.kubeconfig}', sensitive: true });
    expect(config.output.kubernetes).toMatchObject({ sensitive: true, value: { host: '${module.cluster.kubernetes.host}', client_key: '${module.cluster.kubernetes.client_key}' } });
    for (const name of Object.keys(config.output)) expect(config.output[name].description).toMatch(/\w/);
  });

  test('then every resource the app created at stack level moves into module.cluster', () => {
    expect(config.moved).toEqual(STACK_LEVEL_RESOURCES.map((a) => ({ from: a, to: `module.cluster.${a}` })));
  });

  test('then the moved list covers every resource of the module', () => {
    const graph = synthGraph().config.resource as Record<string, Record<string, unknown>>;
    const addresses = Object.entries(graph).flatMap(([type, byName]) => Object.keys(byName).map((name) => `${type}.${name}`));
    expect([...STACK_LEVEL_RESOURCES].sort()).toEqual(addresses.sort());
  });
});
