import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { spawnSync } from 'child_process';

/**
 * Runs Nix (Debian's nix-bin 2.8 or newer) for tests: offline, independent of NIX_PATH and of the
 * machine's nix.conf, and without writing to the Nix store (--readonly-mode computes store paths
 * without adding anything). Throws when nix-instantiate is missing: nix tests never skip.
 */

/** The binary to run; NIX_INSTANTIATE overrides it (read at each call). */
export const nixInstantiate = (): string => process.env.NIX_INSTANTIATE ?? 'nix-instantiate';

/**
 * HOME, state and config dirs for Nix: even --readonly-mode creates a few directories under its state
 * dir. One fixed directory per user, reused by every run and worker, so runs leave nothing new behind.
 */
export function nixEnv(): NodeJS.ProcessEnv {
  const sandbox = path.join(os.tmpdir(), `nico-nix-tests-${os.userInfo().uid}`);
  const dir = (name: string) => {
    const d = path.join(sandbox, name);
    fs.mkdirSync(d, { recursive: true });
    return d;
  };
  return {
    PATH: process.env.PATH,
    HOME: dir('home'),
    XDG_CACHE_HOME: dir('cache'),
    NIX_STATE_DIR: dir('state'),
    NIX_CONF_DIR: dir('conf'), // no machine-wide nix.conf: same behaviour everywhere
    NIX_PATH: '',
  };
}

export interface NixEvalOptions {
  /** `--arg name <nix expression>` for each entry. */
  readonly args?: Readonly<Record<string, string>>;
  /** `--argstr name <string>` for each entry. */
  readonly argstr?: Readonly<Record<string, string>>;
  /** Directory nix-instantiate runs in (relative paths in `expr` resolve against it). */
  readonly cwd?: string;
}

/** The failure of a nix-instantiate run, with its stderr (Nix's error message) kept for assertions. */
export class NixError extends Error {
  constructor(readonly command: string[], readonly stderr: string, readonly status: number | null) {
    super(`nix-instantiate ${command.join(' ')} failed (exit ${status}):\n${stderr.trim()}`);
  }
}

function run(args: string[], cwd?: string): string {
  const bin = nixInstantiate();
  const r = spawnSync(bin, args, { cwd, env: nixEnv(), encoding: 'utf8', maxBuffer: 64 * 1024 * 1024 });
  if (r.error) {
    if ((r.error as NodeJS.ErrnoException).code === 'ENOENT') {
      throw new Error(`${bin} was not found on PATH. The nix tests need Nix (Debian/Ubuntu: apt-get install nix-bin); they are not skipped without it.`);
    }
    throw r.error;
  }
  if (r.status !== 0) throw new NixError(args, r.stderr, r.status);
  return r.stdout;
}

/** Absolute path of a file as a Nix path expression that survives spaces and quotes. */
export function nixPath(file: string): string {
  return `(/. + ${JSON.stringify(path.resolve(file))})`;
}

/**
 * Evaluates a Nix expression (`{ expr }`) or file (`{ file }`) strictly and returns its value parsed
 * from JSON. Derivations and paths cannot be returned (convert them in the expression).
 */
export function nixEval<T = unknown>(what: { expr: string } | { file: string }, opts: NixEvalOptions = {}): T {
  const args = ['--eval', '--strict', '--json', '--readonly-mode'];
  for (const [k, v] of Object.entries(opts.args ?? {})) args.push('--arg', k, v);
  for (const [k, v] of Object.entries(opts.argstr ?? {})) args.push('--argstr', k, v);
  if ('expr' in what) args.push('--expr', what.expr);
  else args.push(path.resolve(what.file));
  return JSON.parse(run(args, opts.cwd)) as T;
}

/** Parses a Nix file without evaluating it; returns nix-instantiate's normalised form, throws a NixError on syntax errors. */
export function nixParse(file: string): string {
  return run(['--parse', '--readonly-mode', path.resolve(file)]);
}
