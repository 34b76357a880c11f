import { SensitiveFile } from '@cdktf/provider-local/lib/sensitive-file';
import { Password } from '@cdktf/provider-random/lib/password';
import { PrivateKey } from '@cdktf/provider-tls/lib/private-key';
import { Testing } from 'cdktf';
import 'cdktf/lib/testing/adapters/jest'; // types of the Testing matchers
import { TEMPLATE_NIXPKGS_REF } from '../../constructs';
import { listFiles, NIX_TEMPLATES_DIR } from '../../constructs/internal';
import { synthGraph } from '../helpers/graph';

Testing.setupJest();

describe('NicoClusterGraph (the content of the HCL module)', () => {
  const { json, config } = synthGraph();

  test('then the machine key is an ED25519 tls_private_key that ignores later changes', () => {
    expect(json).toHaveResourceWithProperties(PrivateKey, { algorithm: 'ED25519' });
    expect(config.resource.tls_private_key.machine.lifecycle).toEqual({ ignore_changes: 'all' });
  });

  test('then the join token is at least 32 letters and digits and is never re-created', () => {
    const token = config.resource.random_password.join_token;
    expect(json).toHaveResourceWithProperties(Password, { special: false });
    expect(token.length).toBeGreaterThanOrEqual(32);
    expect(token.lifecycle).toEqual({ ignore_changes: 'all' });
  });

  test('then the private key and the token are written 0600 as sensitive files in a 0700 tree', () => {
    expect(json).toHaveResourceWithProperties(SensitiveFile, { filename: '${local.flake_dir}/machine-ssh-private-key', file_permission: '0600', directory_permission: '0700' });
    expect(json).toHaveResourceWithProperties(SensitiveFile, { filename: '${local.flake_dir}/join-token', file_permission: '0600', directory_permission: '0700' });
  });

  test('then there is one local_file per static flake file, plus cluster.nix and the public key', () => {
    const templates = listFiles(NIX_TEMPLATES_DIR);
    expect(templates).toEqual(expect.arrayContaining(['flake.nix', 'README.md', 'nodes/generator.nix']));
    expect(Object.keys(config.locals.static_flake_files).sort()).toEqual(templates);
    expect(config.resource.local_file.static.for_each).toBe('${local.cluster.write_local_tree ? local.static_flake_files : {}}');
    expect(config.resource.local_file.cluster_nix.filename).toBe('${local.flake_dir}/cluster.nix');
    expect(config.resource.local_file.machine_ssh_public_key.filename).toBe('${local.flake_dir}/machine-ssh-public-key');
  });

  test('then flake.nix gets the nixpkgs reference of the description', () => {
    expect(config.locals.static_flake_files['flake.nix']).toContain(`"${TEMPLATE_NIXPKGS_REF}", local.cluster.nixpkgs`);
  });

  test('then the kubeconfig and kubernetes outputs are sensitive and every output describes itself', () => {
    expect(config.output.kubeconfig.sensitive).toBe(true);
    expect(config.output.kubernetes.sensitive).toBe(true);
    for (const name of ['ssh_public_key', 'flake_dir', 'nodes', 'kubeconfig', 'kubernetes']) expect(config.output[name].description).toMatch(/\w/);
  });

  test('then deployment is off by default, and nodes are deployed by name: the init node, the other control-plane nodes, then the workers', () => {
    expect(config.variable.deploy.default).toBe(false);
    expect(config.locals.deploy).toBe('${var.deploy}');
    const nodes = config.resource.terraform_data;
    expect(Object.keys(nodes).sort()).toEqual(['cluster', 'control_plane', 'forget', 'init_node', 'input_checks', 'install', 'install_guard', 'install_record', 'pre_change_snapshot', 'restore', 'teardown', 'worker']);
    expect(nodes.init_node.for_each).toBe('${local.deploy_names.init}');
    expect(nodes.control_plane.for_each).toBe('${local.deploy_names.joiner}');
    expect(nodes.worker.for_each).toBe('${local.deploy_names.worker}');
    expect(config.locals.deploy_nodes).toMatch(/^\$\{local\.deploy \? /);
    expect(nodes.control_plane.depends_on).toContain('terraform_data.init_node');
    expect(nodes.worker.depends_on).toEqual(expect.arrayContaining(['terraform_data.init_node', 'terraform_data.control_plane']));
    // A control-plane change snapshots etcd first: both control-plane resources wait for it.
    expect(nodes.init_node.depends_on).toContain('terraform_data.pre_change_snapshot');
    expect(nodes.control_plane.depends_on).toContain('terraform_data.pre_change_snapshot');
    expect(nodes.pre_change_snapshot.count).toBe('${local.deploy && local.cluster.etcd_snapshots.before_changes ? 1 : 0}');
  });

  test('then the init node is recorded once, when the cluster is created, and never follows the list', () => {
    const record = config.resource.terraform_data.cluster;
    expect(record.input).toEqual({ init_node: '${local.cluster.control_plane[0].name}', created: '${plantimestamp()}' });
    expect(record.lifecycle.ignore_changes).toEqual(['input']);
    expect(config.locals.init_node).toBe('${try(terraform_data.cluster[0].input.init_node, local.cluster.control_plane[0].name)}');
  });

  test('then every node deployment iterates over names only and reads its node from a local', () => {
    // Terraform evaluates for_each once per instance: a computed map of nodes there is quadratic.
    const nodes = config.resource.terraform_data;
    for (const name of ['init_node', 'control_plane', 'worker']) {
      expect(nodes[name].for_each).toMatch(/^\$\{local\.deploy_names\.\w+\}$/);
      expect(JSON.stringify(nodes[name])).not.toMatch(/each\.value/);
    }
  });

  test('then every step on a node runs from the runner (local-exec): no remote-exec or file provisioner lands a script in the node\'s /tmp', () => {
    const provisioners = Object.values(config.resource.terraform_data as Record<string, { provisioner?: object[] }>).flatMap((r) => r.provisioner ?? []);
    expect(provisioners.length).toBeGreaterThan(0);
    for (const p of provisioners) expect(Object.keys(p)).toEqual(['local-exec']);
  });

  test('then no node deployment depends on a local file, so a change never deletes a file of the local tree', () => {
    // create_before_destroy spreads to dependencies: a local_file among them is written anew, then
    // deleted by the destroy of its deposed self.
    const nodes = config.resource.terraform_data;
    for (const name of ['init_node', 'control_plane', 'worker']) {
      expect(nodes[name].lifecycle.create_before_destroy).toBe(true);
      expect(JSON.stringify(nodes[name])).not.toMatch(/local_(sensitive_)?file\./);
    }
  });
});
