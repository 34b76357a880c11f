/**
 * cdktf app entry. Reads the cluster file named by NICO_CLUSTER_FILE (YAML or JSON), or the embedded
 * example when unset, and synthesizes one stack named after the cluster. The flake tree goes to
 * $NICO_OUT_DIR/nix (default out/<name>/nix), the local state to $NICO_OUT_DIR/terraform.tfstate.
 * A bad file exits 1 with every problem, before anything is written.
 */
import * as fs from 'fs';
import * as path from 'path';
import { App } from 'cdktf';
import { parse as parseYaml } from 'yaml';
import { z } from 'zod';
import { BackendConfig, EXAMPLE_CLUSTER, formatProblem, InputFileError, NicoClusterStack, Problem, readInputFile, schemaProblems, validateClusterDescription } from './constructs';

const backendSchema = z.discriminatedUnion('type', [
  z.object({ type: z.literal('local') }).strict(),
  z.object({ type: z.literal('cloud'), organization: z.string().min(1), workspace: z.string().min(1), hostname: z.string().min(1).optional() }).strict(),
]);

export interface LoadedClusterFile {
  readonly description: unknown;
  readonly backend?: z.infer<typeof backendSchema>;
}

export class ClusterFileError extends Error {
  constructor(
    public readonly file: string,
    public readonly problems: readonly Problem[],
  ) {
    super(`${file}: invalid cluster file (${problems.length} problem${problems.length === 1 ? '' : 's'}):\n` + problems.map((p) => `  - ${formatProblem(p)}`).join('\n'));
    this.name = 'ClusterFileError';
  }
}

/** Reads and validates a cluster file; throws ClusterFileError listing every problem. */
export function loadClusterFile(file: string): LoadedClusterFile & { warnings: readonly string[] } {
  let text: string;
  try {
    text = readInputFile(file);
  } catch (e) {
    throw new ClusterFileError(file, [{ field: '', rule: e instanceof InputFileError ? e.rule : 'must be a readable file', value: undefined }]);
  }
  let data: unknown;
  try {
    // YAML 1.2 reads JSON as well. maxAliasCount stops alias bombs; cycles are found below.
    data = parseYaml(text, { maxAliasCount: 100 });
  } catch (e) {
    // Only the first line of yaml's message, cut: the following lines quote the file.
    const reason = (e as Error).message.split('\n')[0].slice(0, 120);
    throw new ClusterFileError(file, [{ field: '', rule: `must be a readable YAML or JSON file: ${reason}`, value: undefined }]);
  }
  const shapeProblem = structureProblem(data);
  if (shapeProblem) throw new ClusterFileError(file, [{ field: '', rule: shapeProblem, value: undefined }]);
  if (data === null || typeof data !== 'object' || Array.isArray(data)) {
    throw new ClusterFileError(file, [{ field: '', rule: 'must hold a mapping with name, vip and controlPlane', value: data }]);
  }
  const { backend, ...description } = data as Record<string, unknown>;
  const problems: Problem[] = [];
  let parsedBackend: LoadedClusterFile['backend'];
  if (backend !== undefined) {
    const result = backendSchema.safeParse(backend);
    if (result.success) parsedBackend = result.data;
    else problems.push(...schemaProblems(result.error, backend).map((p) => ({ ...p, field: p.field ? `backend.${p.field}` : 'backend' })));
  }
  const validation = validateClusterDescription(description);
  problems.push(...validation.problems);
  if (problems.length > 0) throw new ClusterFileError(file, problems);
  return { description, backend: parsedBackend, warnings: validation.warnings };
}

/** Deeper than any cluster description nests (the node lists are at depth 2). */
const MAX_DEPTH = 16;

/** A YAML alias can make a value contain itself; every reader after this one would loop or crash. */
function structureProblem(data: unknown): string | undefined {
  const walk = (v: unknown, ancestors: readonly unknown[]): string | undefined => {
    if (v === null || typeof v !== 'object') return undefined;
    if (ancestors.includes(v)) return 'must not hold a value that contains itself (a circular YAML alias)';
    if (ancestors.length >= MAX_DEPTH) return `must not nest deeper than ${MAX_DEPTH} levels`;
    for (const child of Object.values(v)) {
      const problem = walk(child, [...ancestors, v]);
      if (problem) return problem;
    }
    return undefined;
  };
  return walk(data, []);
}

/**
 * The output directory receives the flake tree and, with the local backend, the state: both hold the
 * machine key and the join token. It is made 0700 and the state files are created empty and 0600
 * before Terraform runs: Terraform creates them with mode 0666 minus the caller's umask (0644 under
 * the usual 022) but keeps the mode of files that exist (it rewrites them in place), and reads an
 * empty state file as no state.
 */
export function prepareOutputDir(outDir: string, statePath?: string): void {
  fs.mkdirSync(outDir, { recursive: true, mode: 0o700 });
  fs.chmodSync(outDir, 0o700);
  if (statePath === undefined) return;
  fs.mkdirSync(path.dirname(statePath), { recursive: true, mode: 0o700 });
  for (const file of [statePath, `${statePath}.backup`]) {
    const fd = fs.openSync(file, fs.constants.O_WRONLY | fs.constants.O_CREAT | fs.constants.O_APPEND | fs.constants.O_NOFOLLOW, 0o600);
    try {
      fs.fchmodSync(fd, 0o600);
    } finally {
      fs.closeSync(fd);
    }
  }
}

export interface MainEnv {
  readonly NICO_CLUSTER_FILE?: string;
  readonly NICO_OUT_DIR?: string;
  /** Where cdktf writes the synthesized stacks (cdktf sets it; default cdktf.out). */
  readonly CDKTF_OUTDIR?: string;
}

/** Synthesizes the stack; returns the stack name and the output directory. */
export function synthesize(env: MainEnv): { stackName: string; outDir: string } {
  const loaded = env.NICO_CLUSTER_FILE ? loadClusterFile(env.NICO_CLUSTER_FILE) : { description: EXAMPLE_CLUSTER, backend: undefined, warnings: [] };
  for (const warning of loaded.warnings) console.warn(`warning: ${warning}`);
  const description = loaded.description as typeof EXAMPLE_CLUSTER;
  const outDir = path.resolve(env.NICO_OUT_DIR ?? path.join('out', description.name));

  if (env.CDKTF_OUTDIR) fs.mkdirSync(env.CDKTF_OUTDIR, { recursive: true }); // cdktf makes only the last level
  // cdktf's validation runs `terraform version` once per terraform_data (a third of the synth time);
  // the stack's required_version has Terraform check its own version instead.
  const app = new App({ outdir: env.CDKTF_OUTDIR, skipValidation: true });
  const stackDir = path.resolve(app.outdir, 'stacks', description.name);
  // Relative to the stack directory, where Terraform runs: the synthesized JSON then works when the
  // directory is moved or uploaded (HCP Terraform), and holds no path of this machine.
  const outputDir = path.isAbsolute(env.NICO_OUT_DIR ?? '') ? outDir : path.relative(stackDir, outDir);
  const backend: BackendConfig = loaded.backend?.type === 'cloud' ? loaded.backend : { type: 'local', path: path.join(outDir, 'terraform.tfstate') };
  new NicoClusterStack(app, description.name, { description, outputDir, backend });
  app.synth();
  prepareOutputDir(outDir, backend.type === 'local' ? backend.path : undefined);
  return { stackName: description.name, outDir };
}

if (require.main === module) {
  try {
    synthesize(process.env);
  } catch (e) {
    console.error(e instanceof ClusterFileError || (e as Error).name === 'ClusterValidationError' ? (e as Error).message : e);
    process.exit(1);
  }
}
