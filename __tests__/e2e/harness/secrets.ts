import { ChildProcess } from 'node:child_process';
import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { stateResources, TERRAFORM, terraformEnv } from '../../helpers/terraform';
import type { TestLab } from './lab';

/**
 * "No secret in any log" (issue 25), checked the way a reader of a CI job or an HCP Terraform run
 * would find one: every terraform (and cdktf) run in a lab has its output captured, and
 * `expectNoSecretPrinted()` greps all of it for every secret any of those runs' states held.
 *
 * A secret is what Terraform itself treats as one: a value marked sensitive in `terraform show -json`
 * (`sensitive_values`: provider schemas such as tls_private_key.private_key_openssh and
 * random_password.result, and config-marked paths such as a terraform_data's key), plus any the test
 * adds (the machine key file). It counts as printed when the output holds it whole, any line of it of
 * 16 characters or more (a PEM or OpenSSH body line, a line of a certificate bundle), its base64
 * form, or the password part of a k3s token (`...::server:<password>`).
 */
export class PrintedSecrets {
  private readonly outputs: Array<{ what: string; text: string }> = [];
  private readonly stateDirs = new Set<string>();
  /** dir -> checksum of the local state file its secrets were last collected from (see snapshot). */
  private readonly collected = new Map<string, string>();
  /** Directories whose state file reading was checked against `terraform show -json` (see snapshot). */
  private readonly readerChecked = new Set<string>();
  /** secret -> where it came from (`tls_private_key.ca["server"].private_key_pem`), never the value. */
  private readonly secrets = new Map<string, string>();
  private readonly unreadable: string[] = [];
  /** Strings of the states that are not sensitive (certificates, public keys, the tree's files). */
  private readonly published = new Set<string>();

  private constructor(private readonly env: () => NodeJS.ProcessEnv) {}

  /**
   * Starts capturing every terraform and `npx cdktf` run of `lab` (exec and spawn). `env` is the
   * environment `terraform show` runs with (the provider mirror).
   */
  static watch(lab: TestLab, env: () => NodeJS.ProcessEnv): PrintedSecrets {
    const watch = new PrintedSecrets(env);
    const exec = lab.exec.bind(lab);
    const spawn = lab.spawn.bind(lab);
    lab.exec = async (cmd, args = [], opts = {}) => {
      const dir = watch.stateDirOf(cmd, args, opts.cwd);
      // Before a run that may delete resources, so that their secrets are still known afterwards.
      if (dir !== undefined && mayDestroy(args)) watch.snapshot(dir);
      const result = await exec(cmd, args, opts);
      if (dir !== undefined) watch.record(`${path.basename(cmd)} ${args.join(' ')}`, result.stdout + result.stderr, dir);
      return result;
    };
    lab.spawn = (cmd, args = [], opts = {}): ChildProcess => {
      const dir = watch.stateDirOf(cmd, args, opts.cwd);
      if (dir !== undefined && mayDestroy(args)) watch.snapshot(dir);
      const child = spawn(cmd, args, opts);
      if (dir !== undefined) {
        let text = '';
        child.stdout?.on('data', (b: Buffer) => (text += b.toString()));
        child.stderr?.on('data', (b: Buffer) => (text += b.toString()));
        child.once('exit', () => watch.record(`${path.basename(cmd)} ${args.join(' ')} (spawned)`, text, dir));
      }
      return child;
    };
    return watch;
  }

  /** A secret the states may not hold (the machine key file a description names). */
  addSecret(value: string, origin: string): void {
    this.secrets.set(value, origin);
  }

  /** Output captured some other way (e.g. a process run outside the lab). */
  record(what: string, text: string, stateDir?: string): void {
    this.outputs.push({ what, text });
    if (stateDir !== undefined) this.stateDirs.add(stateDir);
  }

  /**
   * Then: no output captured since the last call holds any secret of any state seen so far (in any
   * of the forms above). Fails naming the run, the line number and where the secret came from.
   */
  expectNoSecretPrinted(): void {
    for (const dir of this.stateDirs) this.snapshot(dir);
    // A line of a private key can also be a line of its public key (an ECDSA key's PEM ends with its
    // public point): a form that Terraform itself shows as public is no sign of a leak. A value that
    // holds a whole secret is a leak, not public (a terraform_data's `output` copy of its key).
    const wholes = [...this.secrets.keys()].map((x) => x.trim());
    const published = [...this.published].filter((v) => !wholes.some((w) => v.includes(w)));
    const needles = [...this.secrets]
      .flatMap(([secret, origin]) => forms(secret).map((needle) => ({ needle, origin })))
      .filter(({ needle }) => !published.some((v) => v.includes(needle)));
    const found: string[] = [];
    for (const { what, text } of this.outputs.splice(0)) {
      const lines = text.split('\n');
      for (const { needle, origin } of needles) {
        const at = text.indexOf(needle);
        if (at < 0) continue;
        const line = text.slice(0, at).split('\n').length;
        found.push(`${origin} is printed by \`${what}\`, line ${line} of ${lines.length}`);
        break;
      }
    }
    expect([...this.unreadable.splice(0), ...found]).toEqual([]);
  }

  /**
   * The directory whose state a run uses: terraform's -chdir, or the stack cdktf deploys. Undefined
   * (not watched) for other commands and for the reads that print sensitive values on request, by
   * Terraform's design: `output -raw`/`-json` and `show -json` (a user asks for the kubeconfig so).
   */
  private stateDirOf(cmd: string, args: readonly string[], cwd?: string): string | undefined {
    if (['output', 'show'].some((c) => args.includes(c)) && args.some((a) => a === '-raw' || a === '-json')) return undefined;
    if (cmd === TERRAFORM || path.basename(cmd) === 'terraform') {
      const chdir = args.find((a) => a.startsWith('-chdir='));
      return chdir ? chdir.slice('-chdir='.length) : (cwd ?? process.cwd());
    }
    if (path.basename(cmd) === 'npx' && args[0] === 'cdktf') {
      const out = args[args.indexOf('--output') + 1];
      return args.includes('--output') ? path.join(out, 'stacks', args[args.length - 1]) : undefined;
    }
    return undefined;
  }

  /**
   * Adds every sensitive value of the state `dir` uses (wherever its backend keeps it), as
   * `terraform show -json` reports it; nothing before `terraform init`. Its own output is never recorded.
   */
  private snapshot(dir: string): void {
    if (!fs.existsSync(path.join(dir, '.terraform'))) return;
    // A local state whose bytes did not change since its secrets were collected holds no new one.
    const file = localStateFile(dir);
    const bytes = file !== undefined && fs.existsSync(file) ? fs.readFileSync(file) : undefined;
    const state = bytes && crypto.createHash('sha256').update(bytes).digest('hex');
    if (state !== undefined && this.collected.get(dir) === state) return;
    try {
      let resources: StateResource[];
      if (bytes !== undefined && this.readerChecked.has(dir)) {
        resources = stateFileResources(bytes);
      } else {
        // `terraform show -json` costs a Terraform and three provider starts, and this runs after every
        // scenario: a local state file is read directly, once checked against Terraform's own view
        // (the first time for each directory): the same secrets, or the check fails naming the state.
        resources = stateResources(dir, this.env()) as StateResource[];
        if (bytes !== undefined) {
          const secretsOf = (rs: StateResource[]) => {
            const found = new Set<string>();
            for (const r of rs) collect(r.values, r.sensitive_values, r.address, (value) => found.add(value));
            return [...found].sort();
          };
          const fromFile = secretsOf(stateFileResources(bytes));
          const fromTerraform = secretsOf(resources);
          if (fromFile.length !== fromTerraform.length || fromFile.some((v, i) => v !== fromTerraform[i])) {
            this.unreadable.push(`reading the state file of ${dir} finds ${fromFile.length} secrets where \`terraform show -json\` finds ${fromTerraform.length}: the reader is wrong`);
          }
          // Checked once it held a secret (before the first apply there is nothing to compare).
          if (fromTerraform.length > 0) this.readerChecked.add(dir);
        }
      }
      for (const r of resources) {
        collect(r.values, r.sensitive_values, r.address, (value, where) => this.secrets.set(value, where));
        collect(r.values, invert(r.sensitive_values), r.address, (value) => this.published.add(value));
      }
      if (state !== undefined) this.collected.set(dir, state);
    } catch (e) {
      this.unreadable.push(`the state of ${dir} could not be read: ${String(e).split('\n')[0]}`);
    }
  }
}

/** A resource instance as `terraform show -json` reports it. */
interface StateResource {
  address: string;
  values: Record<string, unknown>;
  sensitive_values?: unknown;
}

/**
 * The state file `dir`'s local backend keeps (the `path` in `.terraform/terraform.tfstate`, else
 * `terraform.tfstate` in `dir`), or undefined when it is not a local state of the default workspace.
 */
function localStateFile(dir: string): string | undefined {
  try {
    let file = path.join(dir, 'terraform.tfstate');
    const backendFile = path.join(dir, '.terraform', 'terraform.tfstate');
    if (fs.existsSync(backendFile)) {
      const backend = JSON.parse(fs.readFileSync(backendFile, 'utf8')).backend as { type?: string; config?: { path?: string | null; workspace_dir?: string | null } } | undefined;
      if (backend?.type !== 'local' || backend.config?.workspace_dir) return undefined;
      if (backend.config?.path) file = path.resolve(dir, backend.config.path);
    }
    if (fs.existsSync(path.join(dir, '.terraform', 'environment'))) return undefined; // a workspace other than default
    return file;
  } catch {
    return undefined;
  }
}

/**
 * The resource instances of a state file (format version 4) with the mask `terraform show -json` would
 * give them: Terraform records in each instance's `sensitive_attributes` the paths it treats as
 * sensitive, those of the provider's schema as well as those marked by the configuration.
 */
function stateFileResources(bytes: Buffer): StateResource[] {
  // Terraform creates the file empty before the first apply writes it: no state yet.
  if (bytes.length === 0) return [];
  type Step = { type: 'get_attr'; value: string } | { type: 'index'; value: { value: string | number } };
  const state = JSON.parse(bytes.toString('utf8')) as {
    version: number;
    resources?: Array<{ module?: string; mode: string; type: string; name: string; instances: Array<{ index_key?: string | number; attributes?: Record<string, unknown>; sensitive_attributes?: Step[][] }> }>;
  };
  if (state.version !== 4) throw new Error(`state format version ${state.version}, not 4`);
  const out: StateResource[] = [];
  for (const r of state.resources ?? []) {
    for (const i of r.instances) {
      const key = i.index_key === undefined ? '' : typeof i.index_key === 'number' ? `[${i.index_key}]` : `[${JSON.stringify(i.index_key)}]`;
      const address = [r.module, r.mode === 'data' ? 'data' : undefined, `${r.type}.${r.name}${key}`].filter((x) => x !== undefined).join('.');
      const mask: Record<string, unknown> = {};
      for (const steps of i.sensitive_attributes ?? []) {
        let at: Record<string, unknown> = mask;
        for (const [n, step] of steps.entries()) {
          const k = String(step.type === 'get_attr' ? step.value : step.value.value);
          if (n === steps.length - 1) at[k] = true;
          else if (at[k] === true) break; // all of it is sensitive already
          else at = (at[k] ??= {}) as Record<string, unknown>;
        }
      }
      out.push({ address, values: i.attributes ?? {}, sensitive_values: mask });
    }
  }
  return out;
}

/** The `sensitive_values` mask turned around: true where a value is not sensitive. */
function invert(mask: unknown): unknown {
  if (mask === true) return false;
  if (mask === undefined || mask === false || mask === null) return true;
  if (Array.isArray(mask)) return new Proxy(mask, { get: (t, k) => invert((t as unknown as Record<string | symbol, unknown>)[k]) });
  return new Proxy(mask as object, { get: (t, k) => invert((t as Record<string | symbol, unknown>)[k]) });
}

const mayDestroy = (args: readonly string[]) => args.some((a) => a === 'apply' || a === 'destroy' || a === 'deploy');

/** Walks `values` along the `sensitive_values` mask (true: sensitive) and reports every string below a true. */
function collect(values: unknown, mask: unknown, where: string, add: (value: string, where: string) => void): void {
  if (typeof values === 'string') {
    if (mask === true && values.trim().length >= 8) add(values, where);
    return;
  }
  if (values === null || typeof values !== 'object') return;
  for (const [k, v] of Object.entries(values as Record<string, unknown>)) {
    const below = mask === true ? true : (mask as Record<string, unknown> | undefined)?.[k];
    collect(v, below, Array.isArray(values) ? `${where}[${k}]` : `${where}.${k}`, add);
  }
}

/** The forms in which a printed secret would be recognised (see the class comment). */
export function forms(secret: string): string[] {
  const out = new Set<string>([secret.trim()]);
  for (const line of secret.split(/\r?\n/)) {
    const l = line.trim();
    if (l.length >= 16 && !/^-----(BEGIN|END) /.test(l)) out.add(l);
  }
  // base64 of the secret, up to its last whole 3-byte group: the same whatever follows it.
  const bytes = Buffer.from(secret, 'utf8');
  const whole = bytes.subarray(0, bytes.length - (bytes.length % 3));
  if (whole.length >= 12) out.add(whole.toString('base64'));
  const password = /::server:([A-Za-z0-9]+)/.exec(secret)?.[1];
  if (password !== undefined && password.length >= 8) out.add(password);
  return [...out];
}

/**
 * For a whole test file: watches the lab its own `beforeAll` started (call this after that
 * `beforeAll`) and, after every scenario, expects that nothing the scenario's terraform runs printed
 * holds a secret of their states. One line per e2e file, so that a scenario added later is covered too.
 */
export function expectNoSecretPrintedInAnyScenario(lab: () => TestLab | undefined): void {
  let watch: PrintedSecrets | undefined;
  beforeAll(() => {
    const started = lab();
    if (started !== undefined) watch = PrintedSecrets.watch(started, () => terraformEnv());
  });
  afterEach(() => watch?.expectNoSecretPrinted());
}
