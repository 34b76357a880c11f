import * as fs from 'fs';
import * as path from 'path';
import { ClusterDescription, NodeDescription } from '../../constructs';
import { terraformLiteral } from '../../constructs/terraform-literal';
import { expression as hclExpression } from '../../scripts/hcl';

/** An HCL expression of a value as a user writes it: `${` and `%{` in strings escaped, so they stay text. */
const expression = (v: Parameters<typeof hclExpression>[0]) => hclExpression(terraformLiteral(v));

export const MODULE_SOURCE = path.resolve(__dirname, '..', '..', 'modules', 'nico-cluster');

const snake = (s: string) => s.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`);
const node = (n: NodeDescription) => Object.fromEntries(Object.entries(n).map(([k, v]) => [snake(k), v]));

/** The module inputs for a description, as HCL attribute lines. */
export function moduleArguments(d: ClusterDescription): string {
  const lines: string[] = [];
  for (const [k, v] of Object.entries(d)) {
    if (k === 'sshPrivateKeyFile') lines.push(`ssh_private_key = file(${JSON.stringify(v)})`);
    else if (k === 'flakeLockFile') lines.push(`flake_lock = file(${JSON.stringify(v)})`);
    else if (k === 'etcdSnapshots') lines.push(...etcdSnapshotsArguments(v as NonNullable<ClusterDescription['etcdSnapshots']>));
    else if (k === 'controlPlane' || k === 'workers') lines.push(`${snake(k)} = ${expression((v as any[]).map(node) as any)}`);
    else lines.push(`${snake(k)} = ${expression(v as any)}`);
  }
  return lines.join('\n');
}

/** `etcd_snapshots` (snake_case, the CA file through file()) and `etcd_s3_secret_access_key` = file(...). */
function etcdSnapshotsArguments(e: NonNullable<ClusterDescription['etcdSnapshots']>): string[] {
  const attrs = (o: object, skip: string[]) =>
    Object.entries(o)
      .filter(([k, v]) => v !== undefined && !skip.includes(k))
      .map(([k, v]) => `${snake(k)} = ${expression(v)}`);
  const inner = attrs(e, ['s3']);
  const lines: string[] = [];
  if (e.s3 !== undefined) {
    const s3 = attrs(e.s3, ['endpointCaFile', 'secretAccessKeyFile']);
    if (e.s3.endpointCaFile !== undefined) s3.push(`endpoint_ca = file(${JSON.stringify(e.s3.endpointCaFile)})`);
    inner.push(`s3 = {\n${s3.join('\n')}\n}`);
    if (e.s3.secretAccessKeyFile !== undefined) lines.push(`etcd_s3_secret_access_key = file(${JSON.stringify(e.s3.secretAccessKeyFile)})`);
  }
  return [`etcd_snapshots = {\n${inner.join('\n')}\n}`, ...lines];
}

/** A root module in `dir` that calls the module for `d`, writing its tree under `outputDir`. */
export function writeModuleRoot(dir: string, d: ClusterDescription, outputDir: string, source = MODULE_SOURCE): void {
  fs.mkdirSync(dir, { recursive: true });
  fs.writeFileSync(
    path.join(dir, 'main.tf'),
    `module "k3s" {\nsource = ${JSON.stringify(source)}\noutput_dir = ${JSON.stringify(outputDir)}\n${moduleArguments(d)}\n}\n` +
      ['flake_dir', 'ssh_public_key', 'nodes'].map((o) => `output "${o}" { value = module.k3s.${o} }\n`).join('') +
      ['kubeconfig', 'kubernetes'].map((o) => `output "${o}" {\n value = module.k3s.${o}\n sensitive = true\n}\n`).join(''),
  );
}

/** A Terraform expression to put as is into a JSON root module (everything else is a literal). */
export class Expression {
  constructor(public readonly text: string) {}
}

const snakeKeys = (v: unknown): unknown =>
  Array.isArray(v) ? v.map(snakeKeys) : v !== null && typeof v === 'object' && !(v instanceof Expression) ? Object.fromEntries(Object.entries(v).map(([k, x]) => [snake(k), snakeKeys(x)])) : v;

/** Module arguments in JSON syntax: strings escaped with terraformLiteral, Expression values as `${...}`. */
function jsonArguments(v: unknown): unknown {
  if (v instanceof Expression) return `\${${v.text}}`;
  if (typeof v === 'string') return terraformLiteral(v);
  if (Array.isArray(v)) return v.map(jsonArguments);
  if (v !== null && typeof v === 'object') return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, jsonArguments(x)]));
  return v;
}

/**
 * A root module in JSON syntax (`main.tf.json`) calling the module once per entry of `calls`, each with
 * camelCase description fields (turned into snake_case) or raw module arguments; values are literals
 * unless given as Expression. `extra` is merged in (resources that make values unknown until apply).
 */
export function writeJsonModuleRoot(dir: string, calls: Record<string, Record<string, unknown>>, extra: Record<string, unknown> = {}, source = MODULE_SOURCE): void {
  fs.mkdirSync(dir, { recursive: true });
  const module = Object.fromEntries(Object.entries(calls).map(([name, args]) => [name, { source, ...(jsonArguments(snakeKeys(args)) as object) }]));
  fs.writeFileSync(path.join(dir, 'main.tf.json'), JSON.stringify({ module, ...extra }, null, 1));
}

const FILE_FIELDS = ['sshPrivateKeyFile', 'flakeLockFile'];

/** A description (without file fields) as the module's variables: snake_case keys, node keys too (not label keys). */
export function asModuleVariables(d: ClusterDescription): Record<string, unknown> {
  return Object.fromEntries(
    Object.entries(d)
      .filter(([k]) => !FILE_FIELDS.includes(k))
      .map(([k, v]) => [snake(k), k === 'controlPlane' || k === 'workers' ? (v as NodeDescription[]).map(node) : v]),
  );
}

/**
 * The module's own files as a root module in `dir`, with the description as terraform.tfvars.json:
 * what nico-cluster 0.1's app synthesized at stack level, and a root whose locals `terraform console`
 * can read.
 */
export function writeGraphRoot(dir: string, d: ClusterDescription, outputDir: string): void {
  fs.mkdirSync(dir, { recursive: true });
  fs.cpSync(MODULE_SOURCE, dir, { recursive: true });
  fs.writeFileSync(path.join(dir, 'terraform.tfvars.json'), JSON.stringify({ ...asModuleVariables(d), output_dir: outputDir }, null, 1));
}
