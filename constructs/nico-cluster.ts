import * as crypto from 'crypto';
import * as fs from 'fs';
import * as path from 'path';
import { Annotations, App, AssetType, IResolvable, propertyAccess, TerraformAsset, TerraformHclModule, TerraformStack, Token } from 'cdktf';
import { Construct } from 'constructs';
import { ClusterDescription, NodeDescription } from './cluster-description';
import { terraformLiteral, terraformStringLiteral } from './terraform-literal';
import { ClusterValidationError, validateClusterDescription } from './validate-cluster-description';

/** The generated HCL module this construct calls; shipped in the package next to lib/. */
export const NICO_CLUSTER_MODULE_DIR = path.resolve(__dirname, '..', 'modules', 'nico-cluster');

/** The arguments of the hashicorp/kubernetes (and helm) provider that a client certificate login takes. */
export interface KubernetesCredentials {
  /** `https://<vip>:6443`. */
  readonly host: string;
  /** PEM of the server CA, which signs the API server's certificate. */
  readonly clusterCaCertificate: string;
  /** PEM of the admin client certificate (group system:masters), signed by the client CA. */
  readonly clientCertificate: string;
  /** PEM of the admin client key (sensitive). */
  readonly clientKey: string;
}

/** One entry of the `nodes` attribute (a Terraform list of these objects). */
export interface NicoClusterNode {
  readonly name: string;
  readonly ip: string;
  /** `init-master`, `control-plane` or `worker`. */
  readonly role: string;
}

export interface NicoClusterProps {
  /**
   * The cluster description. Literal values are validated in the constructor, and a
   * ClusterValidationError lists every problem before anything is synthesized.
   *
   * `vip`, `gateway`, `nameservers` entries and a node's `ip`, `sshHost`, `sshPort` and `hostKey` may
   * be references to other resources' attributes (a string or number that is wholly one cdktf token):
   * their values cannot be seen here, so the module checks them at plan, or at apply when they are
   * unknown until then, before anything is written. Every other string, and any string that merely
   * contains a token marker, is text and reaches Terraform literally. Data from outside the program
   * (a file) is text too: check it with validateClusterDescription first, which takes no value for
   * a reference, as main.ts does.
   */
  readonly description: ClusterDescription;
  /**
   * Directory for the flake tree (`<outputDir>/nix`), as Terraform sees it: a relative path is
   * relative to the directory Terraform runs in (the stack directory).
   * @default - the module's default, `<root module>/out/<name>`
   */
  readonly outputDir?: string;
  /**
   * The machine SSH key's text (ED25519, OpenSSH or PEM, no passphrase), e.g. a `tls_private_key`'s
   * `privateKeyOpenssh`; it stays out of the synthesized JSON when it is a token. Use instead of the
   * description's `sshPrivateKeyFile`.
   * @default - the description's `sshPrivateKeyFile`, or a generated key
   */
  readonly sshPrivateKey?: string;
}

/** `controlPlane` -> `control_plane`: the module's variables are the description's fields in snake_case. */
const snake = (s: string): string => s.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`);

/** Description fields that name files: Terraform reads them, they are not variables of the module. */
const FILE_FIELDS = new Set<keyof ClusterDescription>(['sshPrivateKeyFile', 'flakeLockFile']);
const MODULE_PATH_FIELDS = new Set<keyof ClusterDescription>(['nixosModules', 'controlPlaneModules', 'workerModules', 'minimalModules']);
const NODE_LISTS = new Set<keyof ClusterDescription>(['controlPlane', 'workers']);

const TOKEN_STRING = /^\$\{TfToken\[[A-Za-z0-9_.]+\]\}$/;
/** A value that is wholly one cdktf token (`${TfToken[TOKEN.n]}`, or a number token). */
function isToken(value: unknown): boolean {
  if (typeof value === 'string') return TOKEN_STRING.test(value);
  return typeof value === 'number' && Token.isUnresolved(value);
}

/**
 * The fields that may be references to other resources' attributes (addresses, hosts, ports, host
 * keys), by the field name the rules report. Everywhere else a token marker is text like any other.
 */
const TOKEN_FIELDS = /^(vip|gateway|nameservers\[\d+\]|(controlPlane|workers)\[\d+\]\.(ip|sshHost|sshPort|hostKey))$/;
const NODE_TOKEN_FIELDS = new Set(['ip', 'sshHost', 'sshPort', 'hostKey']);
const TOKEN_FIELDS_TOP = new Set(['vip', 'gateway']);

/** Every string as a Terraform literal (`${` and `%{` escaped), except a token where `mayBeToken`. */
function moduleValue(value: unknown, mayBeToken = false): unknown {
  if (mayBeToken && isToken(value)) return value;
  return terraformLiteral(value);
}

/**
 * Addresses of every resource the app created at stack level before clusters became modules
 * (nico-cluster 0.1): NicoClusterStack moves them into the module, so nothing is re-created.
 */
export const STACK_LEVEL_RESOURCES = [
  'tls_private_key.machine',
  'tls_private_key.k3s_ca',
  'tls_private_key.k3s_service_account',
  'tls_private_key.k3s_admin',
  'tls_self_signed_cert.k3s_ca',
  'tls_cert_request.k3s_admin',
  'tls_locally_signed_cert.k3s_admin',
  'random_password.join_token',
  'local_file.static',
  'local_file.user_modules',
  'local_file.cluster_nix',
  'local_file.machine_ssh_public_key',
  'local_file.flake_lock',
  'local_sensitive_file.machine_ssh_private_key',
  'local_sensitive_file.join_token',
  'terraform_data.cluster',
  'terraform_data.init_node',
  'terraform_data.control_plane',
  'terraform_data.worker',
  'terraform_data.forget',
  'terraform_data.teardown',
  'tls_private_key.host_key',
  'terraform_data.install',
  // Not made by 0.1's app, but by a root module holding the module's files (the same graph): moving
  // it too lets such a root become a module call without a change.
  'terraform_data.input_checks',
  // Newer than 0.1, listed for the same reason.
  'terraform_data.pre_change_snapshot',
  'terraform_data.install_record',
  'terraform_data.install_guard',
  'terraform_data.restore',
] as const;

const MODULE_ASSET_ID = 'nico-cluster-module';
const MODULE_IDS = Symbol.for('nico-cluster.moduleIds');

/**
 * A highly available k3s cluster on NixOS: the machine SSH key and join token, the cluster's PKI, the
 * NICO flake tree and, when `deploy` is on, the ordered deployment over SSH with cleanup on destroy.
 *
 * It is one call of the generated HCL module (`modules/nico-cluster`, copied into the stack as an
 * asset), so every Terraform name it creates lives under `module.<id>`: any number of clusters fit in
 * one stack, next to any locals, outputs and providers of the stack's own. The stack needs no
 * provider configuration for it (Terraform configures tls, random and local for the module).
 */
export class NicoCluster extends Construct {
  /** The module call; use it in `dependsOn` of what must wait for the cluster. */
  public readonly module: TerraformHclModule;
  /** The cluster's name. */
  public readonly name: string;
  /** Public half of the machine SSH key (an OpenSSH line), authorised for root on every node. */
  public readonly sshPublicKey: string;
  /** Directory of the flake tree as Terraform sees it ("" when `writeLocalTree` is off). */
  public readonly flakeDir: string;
  /** Every node with its IP and role, in deployment order: a list of NicoClusterNode. */
  public readonly nodes: IResolvable;
  /**
   * Name of the etcd snapshot the last control-plane change took first (k3s appends
   * "-<node>-<unix time>"); null when `etcdSnapshots.beforeChanges` is off.
   */
  public readonly preChangeSnapshot: string;
  /** The admin kubeconfig (sensitive), known from state before any node exists. */
  public readonly kubeconfig: string;
  /** Admin credentials for the kubernetes and helm providers (sensitive). */
  public readonly kubernetes: KubernetesCredentials;

  constructor(scope: Construct, id: string, props: NicoClusterProps) {
    // Validated before the construct joins the tree: a refused cluster leaves nothing behind.
    const d = props.description;
    const validation = validateClusterDescription(d);
    // A token's value is unknown here: its rules are the module's, at plan (or at apply).
    const problems = validation.problems.filter((p) => !(TOKEN_FIELDS.test(p.field) && isToken(p.value)));
    if (props.sshPrivateKey !== undefined && d?.sshPrivateKeyFile !== undefined) {
      problems.push({ field: 'sshPrivateKeyFile', rule: 'must not be set together with the sshPrivateKey prop of NicoCluster', value: d.sshPrivateKeyFile });
    }
    if (problems.length > 0) throw new ClusterValidationError(problems);
    super(scope, id);
    this.name = d.name;

    const stack = TerraformStack.of(this);
    // Relative paths of the description are relative to where the app runs; Terraform runs in the
    // stack directory, so they are rewritten relative to it (the JSON then names no path of this
    // machine, unless the user gave an absolute one).
    const stackDir = path.resolve(App.of(this).outdir, 'stacks', stack.node.id);
    const fromStack = (p: string): string => (path.isAbsolute(p) ? p : path.relative(stackDir, path.resolve(p)) || '.');

    const variables: Record<string, unknown> = {};
    for (const [key, value] of Object.entries(d) as [keyof ClusterDescription, unknown][]) {
      if (value === undefined || FILE_FIELDS.has(key)) continue;
      if (NODE_LISTS.has(key)) {
        variables[snake(key)] = (value as NodeDescription[]).map((n) =>
          Object.fromEntries(Object.entries(n).filter(([, v]) => v !== undefined).map(([k, v]) => [snake(k), moduleValue(v, NODE_TOKEN_FIELDS.has(k))])),
        );
      } else if (MODULE_PATH_FIELDS.has(key)) {
        variables[snake(key)] = (value as string[]).map((p, i) => userModuleAsset(this, `${snake(key)}-${i}`, p));
      } else if (key === 'etcdSnapshots') {
        variables.etcd_snapshots = etcdSnapshotsVariable(value as NonNullable<ClusterDescription['etcdSnapshots']>, fromStack);
      } else if (key === 'nameservers') {
        variables[snake(key)] = (value as string[]).map((v) => moduleValue(v, true));
      } else {
        variables[snake(key)] = moduleValue(value, TOKEN_FIELDS_TOP.has(key));
      }
    }
    // Files are read by Terraform (file()), never by the synthesizer: a key never lands in the JSON.
    if (d.sshPrivateKeyFile !== undefined) variables.ssh_private_key = `\${sensitive(file(${terraformStringLiteral(fromStack(d.sshPrivateKeyFile))}))}`;
    const secretKeyFile = d.etcdSnapshots?.s3?.secretAccessKeyFile;
    if (secretKeyFile !== undefined) variables.etcd_s3_secret_access_key = `\${sensitive(file(${terraformStringLiteral(fromStack(secretKeyFile))}))}`;
    if (d.flakeLockFile !== undefined) variables.flake_lock = `\${file(${terraformStringLiteral(fromStack(d.flakeLockFile))})}`;
    if (props.sshPrivateKey !== undefined) variables.ssh_private_key = moduleValue(props.sshPrivateKey, true);
    if (props.outputDir !== undefined) variables.output_dir = moduleValue(props.outputDir, true);

    // The module call is named after this construct, as a resource would be (`module.prod`).
    const moduleId = stack.getLogicalId(this.node);
    variables.module_address = `module.${moduleId}`;
    this.module = new TerraformHclModule(this, 'module', {
      source: `./${moduleAsset(stack).path}`,
      skipAssetCreationFromLocalModules: true,
      variables,
    });
    claimModuleId(stack, moduleId, this.node.path);
    this.module.overrideLogicalId(moduleId);

    for (const warning of validation.warnings) Annotations.of(this).addWarning(warning);

    this.sshPublicKey = this.module.getString('ssh_public_key');
    this.flakeDir = this.module.getString('flake_dir');
    this.nodes = this.module.interpolationForOutput('nodes');
    this.preChangeSnapshot = this.module.getString('pre_change_snapshot');
    this.kubeconfig = this.module.getString('kubeconfig');
    const credential = (name: string) => Token.asString(propertyAccess(this.module.interpolationForOutput('kubernetes'), [name]));
    this.kubernetes = {
      host: credential('host'),
      clusterCaCertificate: credential('cluster_ca_certificate'),
      clientCertificate: credential('client_certificate'),
      clientKey: credential('client_key'),
    };
  }

  /**
   * For a stack whose cluster was built by nico-cluster 0.1, where the cluster's resources lived at
   * stack level: adds `moved` blocks from each of those addresses (STACK_LEVEL_RESOURCES) into this
   * cluster's module, so that Terraform moves them in the state instead of re-creating the join
   * token, the keys and the CAs. Addresses absent from the state are skipped by Terraform. A stack
   * held one such cluster, so call it on at most one NicoCluster of a stack.
   */
  public moveStackLevelState(): void {
    const moduleId = TerraformStack.of(this).getLogicalId(this.node);
    TerraformStack.of(this).addOverride(
      'moved',
      STACK_LEVEL_RESOURCES.map((address) => ({ from: address, to: `module.${moduleId}.${address}` })),
    );
  }
}

/**
 * `etcd_snapshots` of the module: settings in snake_case as literals; the CA file read by Terraform
 * (`file()`); the secret key file is not part of it (see `etcd_s3_secret_access_key`).
 */
function etcdSnapshotsVariable(e: NonNullable<ClusterDescription['etcdSnapshots']>, fromStack: (p: string) => string): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(e)) {
    if (v === undefined || k === 's3') continue;
    out[snake(k)] = moduleValue(v);
  }
  if (e.s3 !== undefined) {
    const s3: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(e.s3)) {
      if (v === undefined || k === 'secretAccessKeyFile') continue;
      if (k === 'endpointCaFile') s3.endpoint_ca = `\${file(${terraformStringLiteral(fromStack(v as string))})}`;
      else s3[snake(k)] = moduleValue(v);
    }
    out.s3 = s3;
  }
  return out;
}

/**
 * A user's NixOS module copied next to the stack, so that Terraform reads the copy (a stack directory
 * moved or uploaded to HCP Terraform has it) and the JSON names no path of this machine. The tree
 * names a module after its last path component, which a directory asset does not keep: a directory
 * is staged under its own name in the app's output directory first.
 */
function userModuleAsset(scope: Construct, id: string, p: string): string {
  const source = path.resolve(p);
  if (!fs.statSync(source).isDirectory()) return new TerraformAsset(scope, id, { path: source, type: AssetType.FILE }).path;
  const hash = crypto.createHash('sha256').update(source).digest('hex').slice(0, 16);
  const staged = path.resolve(App.of(scope).outdir, '.nico-staging', hash);
  fs.rmSync(staged, { recursive: true, force: true });
  fs.cpSync(source, path.join(staged, path.basename(source)), { recursive: true });
  return `${new TerraformAsset(scope, id, { path: staged, type: AssetType.DIRECTORY }).path}/${path.basename(source)}`;
}

/** One copy of the module per stack, however many clusters it holds. */
function moduleAsset(stack: TerraformStack): TerraformAsset {
  const existing = stack.node.tryFindChild(MODULE_ASSET_ID);
  if (existing instanceof TerraformAsset) return existing;
  return new TerraformAsset(stack, MODULE_ASSET_ID, { path: NICO_CLUSTER_MODULE_DIR, type: AssetType.DIRECTORY });
}

/** Top-level ids lose characters Terraform names cannot hold ("a.b" and "ab" both become `ab`). */
function claimModuleId(stack: TerraformStack, moduleId: string, constructPath: string): void {
  const claimed: Map<string, string> = ((stack as unknown as Record<symbol, Map<string, string>>)[MODULE_IDS] ??= new Map());
  const other = claimed.get(moduleId);
  if (other !== undefined) {
    throw new Error(`NicoCluster ${constructPath}: its id gives the module name "${moduleId}", which ${other} has already; ids differing only in characters other than letters, digits, "_" and "-" collide.`);
  }
  claimed.set(moduleId, constructPath);
}
