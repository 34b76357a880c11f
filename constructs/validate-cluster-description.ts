import * as sshpk from 'sshpk';
import { z } from 'zod';
import { ClusterDescription } from './cluster-description';
import { CLUSTER_RULES, clusterWarnings, isPemCertificate, isS3SecretKey, PEM_CERTIFICATE_RULE, Problem, S3_SECRET_KEY_RULE } from './cluster-rules';
import { InputFileError, readInputFile } from './read-input-file';

/** Thrown when a description breaks rules; lists every problem, each naming field, rule and value. */
export class ClusterValidationError extends Error {
  constructor(public readonly problems: readonly Problem[]) {
    super(`Invalid cluster description (${problems.length} problem${problems.length === 1 ? '' : 's'}):\n` + problems.map((p) => `  - ${formatProblem(p)}`).join('\n'));
    this.name = 'ClusterValidationError';
  }
}

/** Longest excerpt of a value a message shows: enough to recognise a typo, too little to leak a secret. */
export const MAX_EXCERPT = 40;

/**
 * One problem as a line. Values are cut to a short excerpt (a cluster file that is really a private
 * key, or a secret pasted into the wrong field, is not printed), and a whole file that is not a
 * mapping is described by its kind only.
 */
export function formatProblem(p: Problem): string {
  const got = p.field === '' ? (p.value === undefined ? '' : ` (got ${kindOf(p.value)})`) : ` (got ${excerpt(p.value)})`;
  return `${cut(JSON.stringify(p.field).slice(1, -1), 80) || '(description)'}: ${p.rule}${got}`;
}

const cut = (s: string, max: number): string => (s.length <= max ? s : `${s.slice(0, max - 1)}…`);

/** A value as JSON, cut to MAX_EXCERPT characters; safe on cyclic and huge values. */
export function excerpt(value: unknown): string {
  if (value === undefined) return 'nothing';
  let json: string;
  try {
    json = JSON.stringify(value, (_k, v: unknown) => (typeof v === 'string' && v.length > MAX_EXCERPT ? v.slice(0, MAX_EXCERPT + 1) : v)) ?? String(value);
  } catch {
    return kindOf(value);
  }
  if (json.length <= MAX_EXCERPT) return json;
  const length = typeof value === 'string' ? ` (${value.length} characters)` : '';
  return `${json.slice(0, MAX_EXCERPT - 8)}…${length}`;
}

function kindOf(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return `a list of ${value.length} entries`;
  if (typeof value === 'string') return `a string of ${value.length} characters`;
  return `a ${typeof value}`;
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
    install: z.boolean().optional(),
    installGeneration: z.number().optional(),
    labels: z.record(z.string()).optional(),
    taints: z.array(z.string()).optional(),
  })
  .strict();

const etcdSnapshots = z
  .object({
    scheduleCron: z.string().optional(),
    retention: z.number().optional(),
    dir: z.string().optional(),
    beforeChanges: z.boolean().optional(),
    s3: z
      .object({
        bucket: z.string(),
        endpoint: z.string().optional(),
        region: z.string().optional(),
        folder: z.string().optional(),
        endpointCaFile: z.string().optional(),
        accessKeyId: z.string().optional(),
        secretAccessKeyFile: z.string().optional(),
      })
      .strict()
      .optional(),
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
    maxUnavailable: z.number().optional(),
    rollback: z.boolean().optional(),
    install: z.boolean().optional(),
    kexecUrl: z.string().optional(),
    serverExtraFlags: z.array(z.string()).optional(),
    agentExtraFlags: z.array(z.string()).optional(),
    disableComponents: z.array(z.string()).optional(),
    nixosModules: z.array(z.string()).optional(),
    controlPlaneModules: z.array(z.string()).optional(),
    workerModules: z.array(z.string()).optional(),
    minimalModules: z.array(z.string()).optional(),
    etcdSnapshots: etcdSnapshots.optional(),
    restore: z.object({ snapshot: z.string(), generation: z.number() }).strict().optional(),
  })
  .strict();

/** Turns zod's issues into problems that name the field like the rules do (`controlPlane[1].ip`). */
export function schemaProblems(error: z.ZodError, input: unknown): Problem[] {
  return error.issues.flatMap((issue) => {
    const path = formatPath(issue.path);
    if (issue.code === 'unrecognized_keys') {
      // A key is shown only when it looks like a field name: a file that is not a cluster file (a
      // password database, say) parses to keys that are its content.
      return issue.keys.map((key) => {
        const shown = /^[A-Za-z_][A-Za-z0-9_-]{0,39}$/.test(key) ? key : `<a key of ${key.length} characters>`;
        return { field: path ? `${path}.${shown}` : shown, rule: 'is not a known field', value: valueAt(input, [...issue.path, key]) };
      });
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
  if (typeof d.sshPrivateKeyFile === 'string') {
    const rule = sshKeyFileProblem(d.sshPrivateKeyFile);
    if (rule) problems.push({ field: 'sshPrivateKeyFile', rule, value: d.sshPrivateKeyFile });
  }
  if (typeof d.flakeLockFile === 'string') {
    try {
      JSON.parse(readInputFile(d.flakeLockFile));
    } catch (e) {
      // JSON.parse quotes the text around an error: never show it, the file may be anything.
      const rule = e instanceof InputFileError ? e.rule : 'must be a readable flake.lock (JSON); it does not parse as JSON';
      problems.push({ field: 'flakeLockFile', rule, value: d.flakeLockFile });
    }
  }
  const s3 = d.etcdSnapshots?.s3;
  if (s3 !== null && typeof s3 === 'object') {
    // Never the contents in a message: the path is the value shown.
    const checks: [keyof typeof s3, (text: string) => boolean, string][] = [
      ['secretAccessKeyFile', isS3SecretKey, S3_SECRET_KEY_RULE],
      ['endpointCaFile', isPemCertificate, PEM_CERTIFICATE_RULE],
    ];
    for (const [key, ok, rule] of checks) {
      const file = s3[key];
      if (typeof file !== 'string') continue;
      let text: string;
      try {
        text = readInputFile(file);
      } catch (e) {
        problems.push({ field: `etcdSnapshots.s3.${key}`, rule: (e as InputFileError).rule, value: file });
        continue;
      }
      if (!ok(text)) problems.push({ field: `etcdSnapshots.s3.${key}`, rule, value: file });
    }
  }
  return problems;
}

function sshKeyFileProblem(file: string): string | undefined {
  let text: string;
  try {
    text = readInputFile(file);
  } catch (e) {
    return (e as InputFileError).rule;
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
