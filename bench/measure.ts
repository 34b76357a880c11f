/**
 * Wall time and peak memory of one child process, with GNU time (Debian's `time` package; installed
 * here when missing, as the bootstrap does not need it).
 */
import { spawnSync } from 'child_process';
import * as fs from 'fs';
import * as path from 'path';

export const GNU_TIME = '/usr/bin/time';

export interface Measurement {
  /** Wall-clock seconds (monotonic clock of this process around the child). */
  readonly wallS: number;
  /**
   * Peak resident set size in MiB as GNU time reports it (`%M`, ru_maxrss): the largest single
   * process of the tree (terraform itself, or one of its provider plugins), not their sum.
   */
  readonly peakRssMiB: number;
  /**
   * CPU seconds (user + system, GNU time `%U` + `%S`) of the child and the children it waited for
   * (terraform's provider plugins): less sensitive than wall time to other work on a loaded machine.
   */
  readonly cpuS: number;
  readonly code: number;
  /** File holding the child's stdout and stderr. */
  readonly log: string;
}

/** Installs Debian's `time` package when /usr/bin/time is missing (as root, or through sudo). */
export function ensureGnuTime(): void {
  if (fs.existsSync(GNU_TIME)) return;
  const root = process.getuid?.() === 0;
  const prefix = root ? [] : ['sudo'];
  process.stderr.write('bench: /usr/bin/time missing: installing Debian package "time"\n');
  for (const args of [['apt-get', 'update', '-q'], ['apt-get', 'install', '-y', '-q', 'time']]) {
    const [cmd, ...rest] = [...prefix, 'env', 'DEBIAN_FRONTEND=noninteractive', ...args];
    const r = spawnSync(cmd, rest, { stdio: 'inherit' });
    if (r.status !== 0 && args[1] === 'install') break;
  }
  if (!fs.existsSync(GNU_TIME)) throw new Error('bench: GNU time is needed: as root run `apt-get install -y time`');
}

export interface MeasureOptions {
  readonly cwd?: string;
  readonly env?: NodeJS.ProcessEnv;
  /** Where the child's output goes (appended). */
  readonly log: string;
  /** Throw when the child fails (default true). */
  readonly check?: boolean;
}

/** Runs `cmd args` under GNU time; the child's output goes to `opts.log`. */
export function measure(cmd: string, args: readonly string[], opts: MeasureOptions): Measurement {
  fs.mkdirSync(path.dirname(opts.log), { recursive: true });
  const timeFile = `${opts.log}.time`;
  const fd = fs.openSync(opts.log, 'a');
  fs.writeSync(fd, `\n$ ${cmd} ${args.join(' ')}\n`);
  const start = process.hrtime.bigint();
  const r = spawnSync(GNU_TIME, ['-f', '%e %M %x %U %S', '-o', timeFile, cmd, ...args], { cwd: opts.cwd, env: opts.env, stdio: ['ignore', fd, fd] });
  const wallS = Number(process.hrtime.bigint() - start) / 1e9;
  fs.closeSync(fd);
  const [, maxRssKiB, , userS, systemS] = fs.readFileSync(timeFile, 'utf8').trim().split('\n').pop()!.split(' ').map(Number);
  fs.rmSync(timeFile, { force: true });
  const code = r.status ?? -1;
  if (code !== 0 && opts.check !== false) {
    const tail = fs.readFileSync(opts.log, 'utf8').slice(-3000);
    throw new Error(`bench: ${cmd} ${args.join(' ')} failed (${code}) in ${opts.cwd ?? process.cwd()}; log ${opts.log}:\n${tail}`);
  }
  return { wallS, peakRssMiB: maxRssKiB / 1024, cpuS: userS + systemS, code, log: opts.log };
}

/** The median of the measurements' times and of their peak memory, taken separately. */
export function median(ms: readonly Measurement[]): Measurement {
  const mid = <T>(xs: T[], key: (x: T) => number) => {
    const s = [...xs].sort((a, b) => key(a) - key(b));
    return key(s[Math.floor((s.length - 1) / 2)]);
  };
  return { wallS: mid([...ms], (m) => m.wallS), peakRssMiB: mid([...ms], (m) => m.peakRssMiB), cpuS: mid([...ms], (m) => m.cpuS), code: 0, log: ms[0].log };
}

/** Runs a command to completion without measuring; throws with its output on failure. */
export function run(cmd: string, args: readonly string[], opts: { cwd?: string; env?: NodeJS.ProcessEnv } = {}): string {
  const r = spawnSync(cmd, [...args], { cwd: opts.cwd, env: opts.env, encoding: 'utf8', maxBuffer: 1024 * 1024 * 1024 });
  if (r.status !== 0) throw new Error(`bench: ${cmd} ${args.join(' ')} failed (${r.status}) in ${opts.cwd ?? process.cwd()}:\n${(r.stdout ?? '').slice(-2000)}\n${(r.stderr ?? '').slice(-2000)}`);
  return r.stdout;
}
