import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { spawnSync } from 'child_process';
import { NixError, nixEnv } from './nix';

/**
 * Real NixOS evaluation for tests, with the nixos-eval harness kept beside the repository
 * (`<repo>/../shared/nixos-eval`, or NICO_NIXOS_EVAL): the real nixpkgs `lib` of each release,
 * the real k3s/keepalived module texts and disko, and make-standin.sh, which writes a stand-in
 * `nixpkgs` flake whose `lib.nixosSystem` evaluates them (and builds nothing). A tree is then
 * evaluated through its own flake.nix, as `nixos-rebuild switch --flake path:<tree>#<node>` does.
 * Without the harness the tests fail (never skip).
 */

const REPO_ROOT = path.resolve(__dirname, '..', '..');

/** Directory of the harness; throws a message saying where it was looked for and how to point at it. */
export function nixosEvalDir(): string {
  const dir = path.resolve(process.env.NICO_NIXOS_EVAL ?? path.join(REPO_ROOT, '..', 'shared', 'nixos-eval'));
  if (!fs.existsSync(path.join(dir, 'make-standin.sh'))) {
    throw new Error(
      `The nixos-eval harness was not found at ${dir} (no make-standin.sh there). The nix tests evaluate the flake with the real ` +
        `nixpkgs lib of each release from it: put it at <repo>/../shared/nixos-eval or set NICO_NIXOS_EVAL to its directory.`,
    );
  }
  return dir;
}

/** A NixOS release as the harness stands it in: its lib, and which k3s/keepalived module texts go with it. */
export interface Release {
  /** Release name as users know it. */
  readonly name: string;
  /** Folder of the harness's libs/. */
  readonly lib: string;
  /** make-standin.sh module set: `2405` (extraFlags = str, iptables-only keepalived) or `newest`. */
  readonly modules: '2405' | 'newest';
}

/** Every release the flake supports (README "Compatibility"); 24.11 on take the newest module texts. */
export const SUPPORTED_RELEASES: readonly Release[] = [
  { name: '24.11', lib: '2411', modules: 'newest' },
  { name: '25.05', lib: '2505', modules: 'newest' },
  { name: '25.11', lib: '2511', modules: 'newest' },
  { name: '26.05', lib: '2605', modules: 'newest' },
  { name: 'unstable', lib: 'master', modules: 'newest' },
];

/** nixos-24.05: refused by validation, but a NICO tree may still be evaluated with it (string extraFlags). */
export const RELEASE_2405: Release = { name: '24.05', lib: '2405', modules: '2405' };

/** The disko release flake.nix pins, and the harness folder holding it. */
export const PINNED_DISKO = { tag: 'v1.13.0', folder: 'disko-v1.13.0' } as const;

let workDir: string | undefined;
const standins = new Map<string, string>();

/**
 * The stand-in nixpkgs flake for a release (made once per test file), with optional extra typed
 * option declarations (files) for options the harness's stubs lack.
 */
export function standin(release: Release, extraDeclarations: readonly string[] = []): string {
  const key = [release.lib, release.modules, ...extraDeclarations].join('\0');
  const known = standins.get(key);
  if (known) return known;
  workDir ??= fs.mkdtempSync(path.join(os.tmpdir(), 'nico-standins-'));
  const out = path.join(workDir, `standin-${standins.size}`);
  const r = spawnSync('bash', [path.join(nixosEvalDir(), 'make-standin.sh'), release.lib, release.modules, out, ...extraDeclarations], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`make-standin.sh ${release.lib} ${release.modules} failed:\n${r.stderr}`);
  standins.set(key, out);
  return out;
}

/** Removes the stand-ins of this test file (call in afterAll). */
export function removeStandins(): void {
  if (workDir) fs.rmSync(workDir, { recursive: true, force: true });
  workDir = undefined;
  standins.clear();
}

export interface FlakeEvalOptions {
  readonly release: Release;
  /** A harness folder with a disko source. @default the pinned release */
  readonly disko?: string;
  /** A Nix function applied to the attribute (`nix eval --apply`). */
  readonly apply?: string;
  readonly extraDeclarations?: readonly string[];
}

/**
 * `nix eval --json path:<tree>#<attr>` with nixpkgs replaced by the release's stand-in and disko by
 * the harness's copy; returns the parsed JSON or throws a NixError carrying Nix's message.
 */
export function flakeEval<T = unknown>(tree: string, attr: string, opts: FlakeEvalOptions): T {
  const args = [
    '--extra-experimental-features', 'nix-command flakes',
    // --impure only lets the report read files the stand-in's writeText made (builtins.toFile);
    // the flake's inputs are still exactly the locked overrides below.
    'eval', '--json', '--no-write-lock-file', '--impure',
    '--override-input', 'nixpkgs', `path:${standin(opts.release, opts.extraDeclarations)}`,
    '--override-input', 'disko', `path:${path.join(nixosEvalDir(), opts.disko ?? PINNED_DISKO.folder)}`,
    `path:${path.resolve(tree)}#${attr}`,
    ...(opts.apply ? ['--apply', opts.apply] : []),
  ];
  const r = spawnSync('nix', args, { env: nixEnv(), encoding: 'utf8', maxBuffer: 256 * 1024 * 1024 });
  if (r.error) {
    if ((r.error as NodeJS.ErrnoException).code === 'ENOENT') throw new Error('nix was not found on PATH. The nix tests need Nix (Debian/Ubuntu: apt-get install nix-bin); they are not skipped without it.');
    throw r.error;
  }
  if (r.status !== 0) throw new NixError(['nix', ...args.map((a) => (a.length > 120 ? `${a.slice(0, 40)}...` : a))], r.stderr, r.status);
  return JSON.parse(r.stdout) as T;
}
