import { DataResource, TerraformLocal } from 'cdktf';
import { Construct } from 'constructs';
import { BAD_FILE_NAME_MESSAGE } from './flake-tree';
import { CONFIGURATION_HASH, NodeDeployment } from './node-deployment';
import { INSTALL_CHECK_ENV, INSTALL_RUN, NodeInstall } from './node-install';
import { ClusterRestore } from './cluster-restore';
import { PRE_CHANGE_SNAPSHOT, PreChangeSnapshot } from './pre-change-snapshot';

export interface ClusterDeploymentProps {
  /** Resource addresses every node deployment waits for (the input checks). */
  readonly dependsOn?: readonly string[];
}

// What each role's configuration depends on besides the tree (see nodes/generator.nix): a change to
// anything else leaves the node alone. Workers join through the VIP and run no keepalived.
const COMMON_SETTINGS = 'vip = local.cluster.vip, prefix_length = local.cluster.prefix_length, gateway = local.cluster.gateway, nameservers = local.cluster.nameservers, interface = local.cluster.interface';
// Snapshot settings count for servers only, and only once set: a cluster without them keeps the hash
// it had before they existed. The S3 credentials and CA count by their hashes (a rotated key
// redeploys the servers, which then read the new environment file).
const SNAPSHOT_SETTINGS =
  'merge(anytrue([for k, v in local.cluster.etcd_snapshots : v != null if k != "before_changes"]) ? { etcd_snapshots = { for k, v in local.cluster.etcd_snapshots : k => v if k != "before_changes" } } : {}, ' +
  'nonsensitive(local.etcd_s3_env == null) ? {} : { etcd_s3_credentials = nonsensitive(sha256(local.etcd_s3_env)) }, ' +
  'local.etcd_s3_endpoint_ca == null ? {} : { etcd_s3_endpoint_ca = sha256(local.etcd_s3_endpoint_ca) })';
const SETTINGS = {
  control_plane: `\${merge({ ${COMMON_SETTINGS}, name = local.cluster.name, vrrp_router_id = local.cluster.vrrp_router_id }, ${SNAPSHOT_SETTINGS})}`,
  worker: `\${{ ${COMMON_SETTINGS} }}`,
};

/**
 * The parts of the script every node step runs (constructs/templates/nico-node/), joined in this order:
 * the first ones only define functions, main.sh runs the action.
 */
export const NODE_SCRIPT_PARTS = ['common.sh', 'ssh.sh', 'runner-state.sh', 'peers.sh', 'deploy.sh', 'remove.sh', 'install.sh', 'snapshot.sh', 'restore.sh', 'main.sh'] as const;

function local(scope: Construct, name: string, expression: unknown): void {
  new TerraformLocal(scope, `local-${name.replace(/_/g, '-')}`, expression).overrideLogicalId(name);
}

/**
 * The secret files a node of each role receives in /var/lib/nico/secrets, as `{ path, content }`:
 * the join token in k3s's secure form (joining nodes check the server CA by its hash) and the machine
 * key everywhere; the cluster's CAs and service-account key on control-plane nodes only, which hand
 * them to k3s before its first start (nodes/common.nix); with S3 snapshots, the credentials as the k3s
 * unit's environment file and the endpoint's CA (nodes/control-plane.nix).
 */
const SECRETS_OF_EVERY_NODE = '{ path = "join-token", content = local.k3s_token }, { path = "machine-ssh-private-key", content = local.ssh_private_key }';
const NODE_SECRETS = {
  worker: `[${SECRETS_OF_EVERY_NODE}]`,
  control_plane: `concat([${SECRETS_OF_EVERY_NODE}], [for p in nonsensitive(keys(local.k3s_ca_files)) : { path = "tls/\${p}", content = local.k3s_ca_files[p] }], local.etcd_s3_files)`,
};

/**
 * Environment entries `NICO_<prefix>_COUNT` and `NICO_<prefix>_<i>` = "base64(path)\nbase64(content)"
 * for a list of files: the script never reads a file name as shell text (common.sh, `emit`).
 */
const filesPayload = (prefix: string, list: string, sensitive: boolean) => {
  const value = `"\${base64encode(f.path)}\\n\${base64encode(f.content)}"`;
  return `merge({ NICO_${prefix}_COUNT = length(${list}) }, { for i, f in ${list} : "NICO_${prefix}_\${i}" => ${sensitive ? `nonsensitive(sensitive(${value}))` : value} })`;
};

/**
 * Deploys the cluster over SSH, one resource instance per node name: the init node first, then the
 * other control-plane nodes one at a time (a lock on the runner: etcd admits one learner at a time),
 * then every worker in parallel. Destroy runs in reverse: workers, the other control-plane nodes one at
 * a time, the init node last. Nothing is created unless `local.deploy` is true.
 *
 * The init node is decided once, when the cluster is created (the first control-plane node then), and
 * recorded in `terraform_data.cluster`: reordering or removing nodes later never makes another node
 * run `--cluster-init`. `cluster.nix` names it (`initNode`), so the flake agrees.
 */
export class ClusterDeployment extends Construct {
  constructor(scope: Construct, id: string, props: ClusterDeploymentProps = {}) {
    super(scope, id);
    // `created`: the time of the plan that created the cluster, which the restore step compares with its own
    // (a restore set on the apply that creates the cluster restores nothing: cluster-restore.ts).
    const record = new DataResource(this, 'cluster', { input: { init_node: '${local.cluster.control_plane[0].name}', created: '${plantimestamp()}' } });
    record.overrideLogicalId('cluster');
    record.addOverride('count', '${local.deploy ? 1 : 0}');
    record.addOverride('lifecycle.ignore_changes', ['input']);
    // File names of the user's modules reach every node (and the runner, for installs): refused here,
    // once for the whole plan, before anything is deployed.
    record.addOverride('lifecycle.precondition', [
      { condition: '${length(local.bad_module_file_names) == 0}', error_message: `${BAD_FILE_NAME_MESSAGE}\${join("; ", local.bad_module_file_names)}.` },
    ]);

    local(this, 'init_node', '${try(terraform_data.cluster[0].input.init_node, local.cluster.control_plane[0].name)}');
    local(this, 'cluster_id', '${one(terraform_data.cluster[*].id)}');
    local(this, 'node_settings', SETTINGS);
    local(this, 'node_script', `\${join("", [for part in ${JSON.stringify(NODE_SCRIPT_PARTS)} : file("\${local.templates_dir}/nico-node/\${part}")])}`);
    // Every node to deploy, by name, computed once: `for_each` below selects names only and every
    // instance reads its node from here (see NodeDeploymentProps.forEach for why).
    local(
      this,
      'deploy_nodes',
      '${local.deploy ? merge(' +
        '{ for i, n in local.cluster.control_plane : n.name => merge(n, { role = n.name == local.init_node ? "init" : "joiner", index = i, install = coalesce(n.install, local.cluster.install) }) }, ' +
        '{ for n in local.cluster.workers : n.name => merge(n, { role = "worker", index = null, install = coalesce(n.install, local.cluster.install) }) }) : {}}',
    );
    local(this, 'deploy_names', '${{ for role in ["init", "joiner", "worker"] : role => { for name, n in local.deploy_nodes : name => name if n.role == role } }}');
    // The host key every connection pins: Terraform's own for a node it installed (no trust on first
    // use after the install, whether `install` is still on or not: node-install.ts), the description's
    // hostKey for the others.
    local(
      this,
      'node_host_keys',
      '${{ for n in concat(local.cluster.control_plane, local.cluster.workers) : n.name => lookup(local.installed_names, n.name, null) != null ? trimspace(tls_private_key.host_key[n.name].public_key_openssh) : n.host_key }}',
    );
    local(this, 'gone_names', '${{ for name, n in local.deploy_nodes : name => name if n.gone }}');
    // The control-plane nodes other nodes reach through (drain, Node deletion, the flake lock), init first.
    local(
      this,
      'deploy_peers',
      '${[for n in concat([for n in local.cluster.control_plane : n if n.name == local.init_node], [for n in local.cluster.control_plane : n if n.name != local.init_node]) : ' +
        '{ name = n.name, line = join(" ", [n.name, n.ssh_host, n.ssh_port, local.node_host_keys[n.name] == null ? "" : local.node_host_keys[n.name]]) } if !n.gone]}',
    );
    local(
      this,
      'etcd_s3_files',
      '${concat(local.etcd_s3_endpoint_ca == null ? [] : [{ path = "etcd-s3-endpoint-ca.pem", content = local.etcd_s3_endpoint_ca }], ' +
        'nonsensitive(local.etcd_s3_env == null) ? [] : [{ path = "etcd-s3.env", content = local.etcd_s3_env }])}',
    );
    local(this, 'flake_payload', `\${merge({ NICO_FILE_PATHS = join("\\n", keys(local.flake_files)) }, ${filesPayload('FILE', '[for p, c in local.flake_files : { path = p, content = c }]', false)})}`);
    local(this, 'secrets_payload', {
      worker: `\${${filesPayload('SECRET', NODE_SECRETS.worker, true)}}`,
      control_plane: `\${${filesPayload('SECRET', NODE_SECRETS.control_plane, true)}}`,
    });

    // What each node's configuration depends on (its triggers_replace), computed once for all nodes.
    // `install` counts as recorded (node-install.ts), not as set: turning it off after an install
    // changes nothing on the node, and the value hashed stays the one it had before records existed.
    local(
      this,
      'node_config_hash',
      `\${{ for name, n in local.deploy_nodes : name => ${CONFIGURATION_HASH('merge(n, { install = n.gone ? n.install : lookup(local.installed_names, name, null) != null })')} }}`,
    );

    const checks = props.dependsOn ?? [];
    // Installs run in parallel; every deploy waits for them, so joins keep their order.
    new NodeInstall(this, 'install', { dependsOn: checks });
    const first = [...checks, INSTALL_RUN];
    new PreChangeSnapshot(this, 'pre-change-snapshot', { dependsOn: first });
    const controlPlaneFirst = [...first, PRE_CHANGE_SNAPSHOT];
    new NodeDeployment(this, 'init-node', { resourceName: 'init_node', forEach: '${local.deploy_names.init}', dependsOn: controlPlaneFirst, deployEnv: INSTALL_CHECK_ENV });
    new NodeDeployment(this, 'control-plane', { resourceName: 'control_plane', forEach: '${local.deploy_names.joiner}', dependsOn: [...controlPlaneFirst, 'terraform_data.init_node'], deployEnv: INSTALL_CHECK_ENV });
    new NodeDeployment(this, 'worker', { resourceName: 'worker', forEach: '${local.deploy_names.worker}', dependsOn: [...first, 'terraform_data.init_node', 'terraform_data.control_plane'], deployEnv: INSTALL_CHECK_ENV });

    // Restore as code runs last: after every deployment of the apply (and every forgotten node).
    new ClusterRestore(this, 'restore', { dependsOn: ['terraform_data.init_node', 'terraform_data.control_plane', 'terraform_data.worker', 'terraform_data.forget'] });

    // A node marked `gone`: its Node object is deleted through a surviving control-plane node, and its
    // machine is never contacted again (its deployment's destroy step then does nothing).
    const forget = new DataResource(this, 'forget', { input: { node: '${each.key}' } });
    forget.overrideLogicalId('forget');
    forget.addOverride('for_each', '${local.gone_names}');
    forget.addOverride('depends_on', ['terraform_data.init_node', 'terraform_data.control_plane']);
    forget.addOverride('provisioner', [
      {
        'local-exec': {
          interpreter: ['/bin/sh', '-c'],
          command: 'eval "$NICO_SCRIPT"',
          environment: {
            NICO_SCRIPT: '${local.node_script}',
            NICO_ACTION: 'forget',
            NICO_NODE: '${each.key}',
            NICO_SSH_USER: '${local.cluster.ssh_user}',
            NICO_SSH_KEY: '${nonsensitive(sensitive(local.ssh_private_key))}',
            NICO_CONNECT_TIMEOUT: '${local.cluster.ssh_connect_timeout_seconds}',
            NICO_PEERS: '${join("\\n", [for p in local.deploy_peers : p.line if p.name != each.key])}',
            NICO_CLUSTER_ID: '${local.cluster_id}',
          },
        },
      },
    ]);

    // Destroyed first in a whole-cluster destroy (it depends on every node): tells each node's
    // removal that draining into a dying cluster is not needed.
    const teardown = new DataResource(this, 'teardown', { input: { cluster_id: '${local.cluster_id}', script: '${local.node_script}' } });
    teardown.overrideLogicalId('teardown');
    teardown.addOverride('count', '${local.deploy ? 1 : 0}');
    teardown.addOverride('depends_on', ['terraform_data.init_node', 'terraform_data.control_plane', 'terraform_data.worker']);
    teardown.addOverride('provisioner', [
      {
        'local-exec': {
          when: 'destroy',
          interpreter: ['/bin/sh', '-c'],
          command: 'eval "$NICO_SCRIPT"',
          environment: { NICO_SCRIPT: '${self.input.script}', NICO_ACTION: 'teardown', NICO_NODE: 'cluster', NICO_CLUSTER_ID: '${self.input.cluster_id}' },
        },
      },
    ]);
  }
}
