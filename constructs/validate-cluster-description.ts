import * as fs from 'fs';
import * as sshpk from 'sshpk';
import { z } from 'zod';
import { ClusterDescription } from './cluster-description';
import { CLUSTER_RULES, clusterWarnings, Problem } from './cluster-rules';

/** Thrown when a description breaks rules; lists every problem, each naming field, rule and value. */
export class ClusterValidationError extends Error {
  constructor(public readonly problems: readonly Problem[]) {
    super(`Invalid cluster description (${problems.length} problem${problems.length === 1 ? '' : 's'}):\n` + problems.map((p) => `  - ${formatProblem(p)}`).join('\n'));
    this.name = 'ClusterValidationError';
  }
}

export function formatProblem(p: Problem): string {
  return `${p.field || '(description)'}: ${p.rule} (got ${JSON.stringify(p.value)})`;
}

const node = z
  .object({
    name: z.string(),
    ip: z.string(),
    sshHost: z.string().optional(),
    sshPort: z.number().optional(),
    disk: z.string().optional(),
    hostKey: z.string().optional(),
    gone: z.boolean().optional(),
    labels: z.record(z.string()).optional(),
    taints: z.array(z.string()).optional(),
  })
  .strict();

/** Shape and types only; every rule on values lives in cluster-rules.ts so the HCL module shares it. */
export const clusterDescriptionSchema = z
  .object({
    name: z.string(),
    vip: z.string(),
    controlPlane: z.array(node),
    workers: z.array(node).optional(),
    prefixLength: z.number().optional(),
    gateway: z.string().optional(),
    nameservers: z.array(z.string()).optional(),
    interface: z.string().optional(),
    vrrpRouterId: z.number().optional(),
    nixpkgs: z.string().optional(),
    sshPrivateKeyFile: z.string().optional(),
    flakeLockFile: z.string().optional(),
    deploy: z.boolean().optional(),
    sshUser: z.string().optional(),
    remoteFlakeDir: z.string().optional(),
    readyTimeoutSeconds: z.number().optional(),
    sshConnectTimeoutSeconds: z.number().optional(),
    drainTimeoutSeconds: z.number().optional(),
    writeLocalTree: z.boolean().optional(),
    serverExtraFlags: z.array(z.string()).optional(),
    agentExtraFlags: z.array(z.string()).optional(),
    disableComponents: z.array(z.string()).optional(),
    nixosModules: z.array(z.string()).optional(),
    controlPlaneModules: z.array(z.string()).optional(),
    workerModules: z.array(z.string()).optional(),
  })
  .strict();

/** Turns zod's issues into problems that name the field like the rules do (`controlPlane[1].ip`). */
export function schemaProblems(error: z.ZodError, input: unknown): Problem[] {
  return error.issues.flatMap((issue) => {
    const path = formatPath(issue.path);
    if (issue.code === 'unrecognized_keys') {
      return issue.keys.map((key) => ({ field: path ? `${path}.${key}` : key, rule: 'is not a known field', value: valueAt(input, [...issue.path, key]) }));
    }
    const value = valueAt(input, issue.path);
    const rule = value === undefined ? 'is required' : `must be ${expectedOf(issue)}`;
    return [{ field: path, rule, value }];
  });
}

function expectedOf(issue: z.ZodIssue): string {
  if (issue.code === 'invalid_type') return issue.expected === 'array' ? 'a list' : `a ${issue.expected}`;
  return issue.message.toLowerCase();
}

function formatPath(path: (string | number)[]): string {
  return path.map((p, i) => (typeof p === 'number' ? `[${p}]` : i === 0 ? p : `.${p}`)).join('');
}

function valueAt(input: unknown, path: (string | number)[]): unknown {
  return path.reduce<unknown>((v, key) => (v !== null && typeof v === 'object' ? (v as Record<string, unknown>)[key] : undefined), input);
}

/** Checks of the files a description points at (TypeScript only: the module takes their contents). */
function fileProblems(d: ClusterDescription): Problem[] {
  const problems: Problem[] = [];
  if (d.sshPrivateKeyFile !== undefined) {
    const rule = sshKeyFileProblem(d.sshPrivateKeyFile);
    if (rule) problems.push({ field: 'sshPrivateKeyFile', rule, value: d.sshPrivateKeyFile });
  }
  if (d.flakeLockFile !== undefined) {
    try {
      JSON.parse(fs.readFileSync(d.flakeLockFile, 'utf8'));
    } catch (e) {
      problems.push({ field: 'flakeLockFile', rule: `must be a readable flake.lock (JSON): ${(e as Error).message}`, value: d.flakeLockFile });
    }
  }
  return problems;
}

function sshKeyFileProblem(file: string): string | undefined {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (e) {
    return `must be a readable file: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`;
  }
  try {
    const key = sshpk.parsePrivateKey(text, 'auto');
    return key.type === 'ed25519' ? undefined : `must hold an ED25519 private key (found ${key.type})`;
  } catch (e) {
    // Never echo the file's contents: it may be a secret in the wrong format.
    return e instanceof sshpk.KeyEncryptedError ? 'must hold a private key without a passphrase' : 'must hold an ED25519 private key in OpenSSH or PEM form';
  }
}

export interface ValidationResult {
  readonly problems: readonly Problem[];
  readonly warnings: readonly string[];
}

/** Every problem of a description at once: shape first, then (on a well-shaped one) all rules. */
export function validateClusterDescription(input: unknown): ValidationResult {
  if (input === null || typeof input !== 'object' || Array.isArray(input)) {
    return { problems: [{ field: '', rule: 'must be an object with name, vip and controlPlane', value: input }], warnings: [] };
  }
  const parsed = clusterDescriptionSchema.safeParse(input);
  const shape = parsed.success ? [] : schemaProblems(parsed.error, input);
  // The rules check types themselves, so they run on an ill-shaped description too; a field with a
  // type error is reported once, by the schema.
  const d = input as ClusterDescription;
  const rules = [...CLUSTER_RULES.flatMap((rule) => rule.check(d)), ...fileProblems(d)].filter((r) => !shape.some((s) => s.field === r.field));
  const problems = [...shape, ...rules];
  return { problems, warnings: problems.length === 0 ? clusterWarnings(d) : [] };
}

/** Validates and returns the description, or throws a ClusterValidationError listing every problem. */
export function assertValidClusterDescription(input: unknown): ClusterDescription {
  const { problems } = validateClusterDescription(input);
  if (problems.length > 0) throw new ClusterValidationError(problems);
  return input as ClusterDescription;
}
