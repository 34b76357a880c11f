/**
 * Generates modules/nico-cluster from the constructs (`npm run modules`): NicoClusterGraph (the
 * variables form of a cluster) is synthesized to JSON, rendered as HCL, formatted by `terraform fmt`, and given the
 * templates it reads through `path.module` and a README whose tables come from the same JSON.
 *
 *   npx ts-node scripts/generate-modules.ts [target-dir]   (default: modules/nico-cluster)
 */
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { execFileSync } from 'child_process';
import { App, TerraformStack } from 'cdktf';
import { TERRAFORM_VERSION } from '../constructs';
import { addProviders, NicoClusterGraph, NIX_TEMPLATES_DIR, TEMPLATES_DIR } from '../constructs/internal';
import { block, expression } from './hcl';
import { moduleReadme } from './module-readme';

const ROOT = path.resolve(__dirname, '..');
export const MODULE_DIR = path.join(ROOT, 'modules', 'nico-cluster');
const HEADER = '# Generated from constructs/ by `npm run modules`. Do not edit: change the constructs and regenerate.\n\n';
/** Resource types in the order a reader meets them: checks, secrets, files, deployment. */
const RESOURCE_ORDER = ['tls_private_key', 'tls_self_signed_cert', 'tls_cert_request', 'tls_locally_signed_cert', 'random_password', 'local_file', 'local_sensitive_file', 'terraform_data'];

type JsonObject = Record<string, any>;

/** NicoClusterGraph as Terraform JSON, without provider or backend blocks. */
export function synthesizeModuleJson(): JsonObject {
  const outdir = fs.mkdtempSync(path.join(os.tmpdir(), 'nico-module-'));
  try {
    const app = new App({ outdir });
    const stack = new TerraformStack(app, 'module');
    // Providers only to get required_providers; a reusable module must not configure them.
    addProviders(stack);
    new NicoClusterGraph(stack, 'cluster');
    app.synth();
    const config = JSON.parse(fs.readFileSync(path.join(outdir, 'stacks', 'module', 'cdk.tf.json'), 'utf8'));
    delete config.provider;
    delete config['//'];
    delete config.terraform.backend;
    return config;
  } finally {
    fs.rmSync(outdir, { recursive: true, force: true });
  }
}

function versionsTf(config: JsonObject): string {
  const providers = Object.fromEntries(
    Object.entries(config.terraform.required_providers as Record<string, { source: string; version: string }>).map(([name, p]) => [
      name,
      { source: p.source.includes('/') ? p.source : `hashicorp/${p.source}`, version: p.version },
    ]),
  );
  return `terraform {\n  required_version = ${expression(TERRAFORM_VERSION)}\n\n  required_providers ${expression(providers, '  ')}\n}\n`;
}

const blocks = (kind: string, entries: JsonObject) => Object.entries(entries).map(([name, body]) => block(`${kind} "${name}"`, body)).join('\n\n');

/** Variable attributes in the order terraform-aws-modules write them. */
const VARIABLE_KEYS = ['description', 'type', 'default', 'nullable', 'sensitive', 'validation'];
const orderVariables = (variables: JsonObject): JsonObject =>
  Object.fromEntries(Object.entries(variables).map(([name, v]) => [name, Object.fromEntries(VARIABLE_KEYS.filter((k) => k in v).map((k) => [k, v[k]]))]));

function mainTf(config: JsonObject): string {
  const resources = Object.entries(config.resource as JsonObject).sort(([a], [b]) => RESOURCE_ORDER.indexOf(a) - RESOURCE_ORDER.indexOf(b));
  const parts = [
    block('locals', config.locals),
    ...resources.map(([type, byName]) => blocks(`resource "${type}"`, byName)),
    ...Object.entries((config.data ?? {}) as JsonObject).map(([type, byName]) => blocks(`data "${type}"`, byName)),
  ...(config.check ? [blocks('check', config.check as JsonObject)] : []),
  ];
  return HEADER + parts.join('\n\n') + '\n';
}

function copyDir(from: string, to: string): void {
  fs.cpSync(from, to, { recursive: true });
}

/** Writes the module into `target` (replacing it) and formats it. */
export function generateModule(target = MODULE_DIR): void {
  const config = synthesizeModuleJson();
  fs.rmSync(target, { recursive: true, force: true });
  fs.mkdirSync(target, { recursive: true });
  fs.writeFileSync(path.join(target, 'versions.tf'), HEADER + versionsTf(config));
  fs.writeFileSync(path.join(target, 'variables.tf'), HEADER + blocks('variable', orderVariables(config.variable)) + '\n');
  fs.writeFileSync(path.join(target, 'main.tf'), mainTf(config));
  fs.writeFileSync(path.join(target, 'outputs.tf'), HEADER + blocks('output', config.output) + '\n');
  copyDir(NIX_TEMPLATES_DIR, path.join(target, 'nix-templates'));
  copyDir(TEMPLATES_DIR, path.join(target, 'templates'));
  fs.writeFileSync(path.join(target, 'README.md'), moduleReadme(config, TERRAFORM_VERSION));
  execFileSync(process.env.TERRAFORM_BINARY_NAME ?? 'terraform', ['fmt', '-list=false', target], { stdio: 'inherit' });
}

if (require.main === module) {
  const target = path.resolve(process.argv[2] ?? MODULE_DIR);
  generateModule(target);
  console.log(`modules: wrote ${path.relative(process.cwd(), target) || '.'}`);
}
