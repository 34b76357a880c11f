import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { spawnSync } from 'child_process';
import { stringify as toYaml } from 'yaml';
import { ClusterDescription } from '../../constructs';
import { synthesize } from '../../main';

/**
 * The environment scripts/tf-env.sh sets up, for tests run without `npm test`: the offline provider
 * mirror and no checkpoint calls. Throws when the toolchain is missing instead of skipping.
 */
export function terraformEnv(extra: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv {
  const cache = process.env.NICO_CACHE_DIR ?? path.join(os.homedir(), '.cache', 'nico-cluster');
  const rc = path.join(cache, 'terraformrc');
  const env: NodeJS.ProcessEnv = { ...process.env, CHECKPOINT_DISABLE: '1', TF_IN_AUTOMATION: '1', TF_INPUT: '0', ...extra };
  // The bootstrap's config wins over a machine-wide one: it is what makes `terraform init` work offline.
  if (fs.existsSync(rc)) env.TF_CLI_CONFIG_FILE = rc;
  if (!env.TF_CLI_CONFIG_FILE || !fs.existsSync(env.TF_CLI_CONFIG_FILE)) throw new Error(`No Terraform CLI config at ${rc}: run the tests with \`npm test\`, which runs scripts/bootstrap.sh.`);
  env.TF_PLUGIN_CACHE_MAY_BREAK_DEPENDENCY_LOCK_FILE = '1';
  return env;
}

export const TERRAFORM = process.env.TERRAFORM_BINARY_NAME ?? 'terraform';

export interface RunResult {
  readonly status: number;
  readonly stdout: string;
  readonly stderr: string;
}

/** Runs terraform in `dir`; throws with its output on failure unless `allowFailure`. */
export function terraform(dir: string, args: string[], opts: { env?: NodeJS.ProcessEnv; allowFailure?: boolean; prefix?: string[] } = {}): RunResult {
  const [cmd, ...pre] = opts.prefix ?? [];
  const r = spawnSync(cmd ?? TERRAFORM, [...pre, ...(cmd ? [TERRAFORM] : []), `-chdir=${dir}`, ...args], {
    env: opts.env ?? terraformEnv(),
    encoding: 'utf8',
    maxBuffer: 256 * 1024 * 1024,
  });
  const result = { status: r.status ?? -1, stdout: r.stdout ?? '', stderr: r.stderr ?? '' };
  if (result.status !== 0 && !opts.allowFailure) {
    throw new Error(`terraform ${args.join(' ')} failed (${result.status}) in ${dir}:\n${result.stdout.slice(-4000)}\n${result.stderr.slice(-4000)}`);
  }
  return result;
}

export function tempDir(prefix: string): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), `nico-${prefix}-`));
}

/** Synthesizes the TypeScript app for a description, as `main.ts` does from a cluster file. */
export function synthApp(description: ClusterDescription, workDir: string): { stackDir: string; outDir: string } {
  fs.mkdirSync(workDir, { recursive: true });
  const file = path.join(workDir, 'cluster.yaml');
  fs.writeFileSync(file, toYaml(description));
  const env = { NICO_CLUSTER_FILE: file, NICO_OUT_DIR: path.join(workDir, 'out'), CDKTF_OUTDIR: path.join(workDir, 'cdktf.out') };
  const { stackName, outDir } = synthesize(env);
  return { stackDir: path.join(env.CDKTF_OUTDIR, 'stacks', stackName), outDir };
}

/** Resources of the state as `terraform show -json` reports them (sensitive values included). */
export function stateResources(dir: string, env?: NodeJS.ProcessEnv): Array<{ address: string; values: Record<string, any> }> {
  const show = JSON.parse(terraform(dir, ['show', '-json'], { env }).stdout);
  const collect = (m: any): any[] => [...(m?.resources ?? []), ...(m?.child_modules ?? []).flatMap(collect)];
  return collect(show.values?.root_module);
}

/** Every file below `dir`, as relative path -> octal mode string. */
export function treeModes(dir: string): Record<string, string> {
  const out: Record<string, string> = {};
  const walk = (rel: string) => {
    for (const e of fs.readdirSync(path.join(dir, rel), { withFileTypes: true })) {
      const child = rel ? `${rel}/${e.name}` : e.name;
      out[child + (e.isDirectory() ? '/' : '')] = (fs.statSync(path.join(dir, child)).mode & 0o777).toString(8).padStart(4, '0');
      if (e.isDirectory()) walk(child);
    }
  };
  walk('');
  return out;
}

/**
 * Evaluates an expression with `terraform console` against the state at `statePath` (root-module
 * locals included) and returns its value; sensitive values are unwrapped. The value travels as base64
 * JSON so that no console quoting or heredoc formatting has to be parsed. The state path is passed
 * explicitly: `terraform console` ignores a local backend's `path` and reads ./terraform.tfstate.
 */
export function terraformConsole<T = unknown>(dir: string, statePath: string, expression: string, env?: NodeJS.ProcessEnv): T {
  const r = spawnSync(TERRAFORM, [`-chdir=${dir}`, 'console', `-state=${statePath}`], {
    env: env ?? terraformEnv(),
    encoding: 'utf8',
    input: `base64encode(nonsensitive(sensitive(jsonencode(${expression}))))\n`,
  });
  const encoded = (r.stdout ?? '').trim().replace(/^"|"$/g, '');
  if (r.status !== 0 || !/^[A-Za-z0-9+/=]+$/.test(encoded)) throw new Error(`terraform console failed (${r.status}) in ${dir} for ${expression}:\n${r.stdout}\n${r.stderr}`);
  return JSON.parse(Buffer.from(encoded, 'base64').toString('utf8')) as T;
}
